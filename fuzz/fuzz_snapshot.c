/* libFuzzer driver: the snapshot loader must refuse any malformed file and
 * answer lookups safely on any file it accepts. */
#include "uc/uc.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  char path[64], err[256];
  snprintf(path, sizeof path, "/tmp/uc-fuzz-snap-%d", (int)getpid());
  FILE *f = fopen(path, "wb");
  if (!f)
    return 0;
  fwrite(data, 1, size, f);
  fclose(f);
  uc_lists *l = NULL;
  int rc = uc_lists_open(path, &l, err, sizeof err);
  if (rc == UC_OK) {
    struct uc_list_hit hit;
    const struct uc_typo_target *t;
    uc_lists_find_domain(l, "mailinator.com", 14, &hit);
    uc_lists_find_local(l, "admin", 5, &hit);
    size_t n = uc_lists_typo_targets(l, &t);
    for (size_t i = 0; i < n; i++)
      assert(strlen(t[i].name) == t[i].len && t[i].len < size);
    struct uc_policy p;
    struct uc_result r;
    uc_policy_init(&p);
    uc_check(l, &p, "x@gmial.com", 11, &r);
    uc_lists_unref(l);
  } else {
    assert(l == NULL && err[0]);
  }
  unlink(path);
  return 0;
}
