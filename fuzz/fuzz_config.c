/* libFuzzer driver: the INI config reader and the settings table on arbitrary
 * files: a bad file is refused with a reason, a good one gives bounded values. */
#include "uc/config.h"
#include "uc/uc.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  char path[64], err[512];
  snprintf(path, sizeof path, "/tmp/uc-fuzz-config-%d", (int)getpid());
  FILE *f = fopen(path, "wb");
  if (!f)
    return 0;
  fwrite(data, 1, size, f);
  fclose(f);
  struct uc_config c;
  uc_config_defaults(&c);
  err[0] = 0;
  int rc = uc_config_load_file(&c, path, err, sizeof err);
  assert(rc == UC_OK || err[0]);
  assert(memchr(c.listen, 0, sizeof c.listen) && memchr(c.store, 0, sizeof c.store));
  assert(memchr(c.lists, 0, sizeof c.lists) && memchr(c.access_log, 0, sizeof c.access_log));
  assert(c.max_connections >= 1 && c.body_limit >= 64 && c.flush_interval >= 1);
  unlink(path);
  return 0;
}
