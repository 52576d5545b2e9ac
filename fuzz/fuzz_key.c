/* libFuzzer driver: API key parsing (format + checksum) never accepts what it
 * did not generate, and accepts all it did. */
#include "uc/keys.h"
#include "uc/uc.h"

#include <assert.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  uc_key_type t;
  char key[UC_KEY_MAX + 1];
  int rc = uc_key_parse((const char *)data, size, &t);
  assert(rc == UC_OK || rc == UC_EAUTH);
  if (rc == UC_OK) /* a forged checksum is possible (it is not a MAC), but the shape holds */
    assert(size >= 9 + UC_KEY_RANDOM_LEN + UC_KEY_CHECK_LEN && memcmp(data, "ucl_", 4) == 0);
  size_t n = uc_key_generate((uc_key_type)(size % 3), key);
  assert(uc_key_parse(key, n, &t) == UC_OK && t == (uc_key_type)(size % 3));
  return 0;
}
