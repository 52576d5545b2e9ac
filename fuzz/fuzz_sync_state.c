/* libFuzzer driver: the sync state beside a snapshot (S.d/sync.json), which
 * serve and `lists update` read. A bad file is refused with a reason; a good
 * one gives bounded, NUL-terminated fields, and writing it out and reading it
 * back gives the same state. */
#include "sync_int.h"
#include "uc/uc.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define TERMINATED(a) assert(memchr((a), 0, sizeof(a)) != NULL)

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  uc_sync_state *s = NULL, *again = NULL;
  struct uc_sync_source_state x, y;
  char err[256] = "";
  int rc = uc__sync_state_parse((const char *)data, size, &s, err, sizeof err);
  assert(rc == UC_OK || rc == UC_EFORMAT || rc == UC_ENOMEM);
  if (rc != UC_OK) {
    assert(s == NULL && err[0]);
    return 0;
  }
  size_t n = uc_sync_state_count(s);
  assert(n <= UC__SYNC_STATE_MAX);
  for (size_t i = 0; i < n; i++) {
    uc_sync_state_source(s, i, &x);
    TERMINATED(x.name), TERMINATED(x.url), TERMINATED(x.etag), TERMINATED(x.modified);
    TERMINATED(x.version), TERMINATED(x.outcome), TERMINATED(x.last_error);
    assert(x.name[0] && x.last_attempt >= 0 && x.last_success >= 0 && x.last_error_at >= 0);
    assert(uc__sync_state_find(s, x.name, &y) && !strcmp(y.name, x.name));
  }
  char *text = uc__sync_state_dump(s);
  if (text) {
    assert(uc__sync_state_parse(text, strlen(text), &again, err, sizeof err) == UC_OK);
    assert(uc_sync_state_count(again) == n);
    for (size_t i = 0; i < n; i++) {
      uc_sync_state_source(s, i, &x);
      uc_sync_state_source(again, i, &y);
      assert(!strcmp(x.name, y.name) && !strcmp(x.url, y.url) && !strcmp(x.etag, y.etag));
      assert(x.date == y.date && x.entries == y.entries && x.last_success == y.last_success);
    }
    uc_sync_state_free(again);
    free(text);
  }
  uc_sync_state_free(s);
  return 0;
}
