/* libFuzzer driver: the address parser, the normaliser and the whole check on
 * arbitrary bytes. Invariants are asserted, not just "does not crash". */
#include "uc/uc.h"

#include <assert.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static uc_lists *lists;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  char err[256];
  const char *path = getenv("UC_FUZZ_SNAPSHOT");
  if (uc_lists_open(path ? path : "build/lists.snap", &lists, err, sizeof err) != UC_OK)
    abort();
  return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  struct uc_email e;
  char reason[UC_REASON_MAX], norm[UC_NORMALIZED_MAX + 1];
  for (unsigned opts = 0; opts <= UC_PARSE_QUOTED; opts += UC_PARSE_QUOTED) {
    int rc = uc_email_parse((const char *)data, size, opts, &e, reason, sizeof reason);
    assert(rc == UC_OK || rc == UC_ESYNTAX);
    if (rc != UC_OK) {
      assert(reason[0] != 0);
      continue;
    }
    assert(e.local_len <= UC_LOCAL_MAX && e.domain_len <= UC_DOMAIN_MAX);
    assert(e.local_len + 1 + e.domain_len <= UC_ADDRESS_MAX);
    assert(strlen(e.domain) == e.domain_len && strchr(e.domain, '.'));
    size_t n = uc_email_normalize(&e, norm);
    assert(n == strlen(norm) && n <= UC_NORMALIZED_MAX);
  }
  struct uc_policy p;
  struct uc_result r;
  uc_policy_init(&p);
  uc_check(lists, &p, (const char *)data, size, &r);
  assert((unsigned)r.category <= UC_BLACK && (unsigned)r.type < UC_TYPE_COUNT);
  struct uc_result_ctx ctx = {(const char *)data, size, -1, NULL, NULL};
  static char body[UC_RESULT_BODY_MAX];
  size_t n = uc_result_write(&r, lists, &ctx, body, sizeof body);
  assert(n > 0 || size > UC_RESULT_INPUT_MAX);
  if (n > 0) { /* the body is always JSON that jansson accepts */
    json_t *o = json_loadb(body, n, JSON_ALLOW_NUL, NULL);
    assert(o != NULL);
    json_decref(o);
  }
  return 0;
}
