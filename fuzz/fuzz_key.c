/* libFuzzer driver: API key parsing (format + checksum) never accepts what it
 * did not generate, and accepts all it did. */
#include "uc/keys.h"
#include "uc/uc.h"

#include <assert.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  static const uint8_t secret[UC_KEY_SECRET_LEN] = "the fuzzer's installation secret";
  uc_key_type t;
  int check = 0;
  char key[UC_KEY_MAX + 1];
  int rc = uc_key_parse((const char *)data, size, secret, &t, &check);
  assert(rc == UC_OK || rc == UC_EAUTH);
  if (rc == UC_OK) /* a legacy checksum can be forged (it is no MAC), but the shape holds */
    assert(size >= 9 + UC_KEY_RANDOM_LEN + UC_KEY_CHECK_LEN && memcmp(data, "ucl_", 4) == 0 &&
           (check == UC_KEY_KEYED || check == UC_KEY_LEGACY));
  if (rc == UC_OK && check == UC_KEY_KEYED) { /* without the secret: at most a legacy match */
    int legacy = 0;
    int r2 = uc_key_parse((const char *)data, size, NULL, &t, &legacy);
    assert(r2 == UC_EAUTH || legacy == UC_KEY_LEGACY);
  }
  size_t n = uc_key_generate((uc_key_type)(size % 3), size % 2 ? secret : NULL, key);
  assert(uc_key_parse(key, n, secret, &t, &check) == UC_OK && t == (uc_key_type)(size % 3) &&
         check == (size % 2 ? UC_KEY_KEYED : UC_KEY_LEGACY));
  return 0;
}
