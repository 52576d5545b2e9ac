/* API key format, generation, checksum and hashing (libsodium), and finding
 * the key of a request in its headers. */
#include "uc/keys.h"
#include "uc/error.h"

#include <sodium.h>
#include <string.h>
#include <strings.h>

static const char *const prefixes[] = {"ucl_live_", "ucl_test_", "ucl_admin_"};
static const char *const names[] = {"active", "sandbox", "admin"};
static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

const char *uc_key_type_name(uc_key_type t) {
  return (unsigned)t < 3 ? names[t] : "unknown";
}

int uc_key_type_parse(const char *s, uc_key_type *out) {
  for (int i = 0; i < 3; i++)
    if (strcmp(s, names[i]) == 0)
      return *out = (uc_key_type)i, UC_OK;
  return UC_EINVAL;
}

/* Six base62 digits of BLAKE2b of prefix + random part: keyed by the
 * installation's secret (v2), or by a fixed public string (v1, legacy). */
static void checksum(const char *k, size_t n, const uint8_t *secret, char out[UC_KEY_CHECK_LEN]) {
  static const unsigned char ctx[] = "usercleaning key checksum v1";
  unsigned char h[16];
  if (secret) {
    crypto_generichash_state st;
    crypto_generichash_init(&st, secret, UC_KEY_SECRET_LEN, sizeof h);
    crypto_generichash_update(&st, (const unsigned char *)"usercleaning key checksum v2:", 29);
    crypto_generichash_update(&st, (const unsigned char *)k, n);
    crypto_generichash_final(&st, h, sizeof h);
  } else {
    crypto_generichash(h, sizeof h, (const unsigned char *)k, n, ctx, sizeof ctx - 1);
  }
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | h[i];
  for (int i = 0; i < UC_KEY_CHECK_LEN; i++, v /= 62)
    out[i] = b62[v % 62];
}

size_t uc_key_generate(uc_key_type t, const uint8_t *secret, char out[UC_KEY_MAX + 1]) {
  if (sodium_init() < 0)
    return 0;
  size_t p = strlen(prefixes[t]);
  memcpy(out, prefixes[t], p);
  for (int i = 0; i < UC_KEY_RANDOM_LEN; i++) /* uniform: rejection sampling inside */
    out[p + i] = b62[randombytes_uniform(62)];
  checksum(out, p + UC_KEY_RANDOM_LEN, secret, out + p + UC_KEY_RANDOM_LEN);
  size_t n = p + UC_KEY_RANDOM_LEN + UC_KEY_CHECK_LEN;
  out[n] = 0;
  return n;
}

int uc_key_parse(const char *k, size_t n, const uint8_t *secret, uc_key_type *t, int *check) {
  for (int i = 0; i < 3; i++) {
    size_t p = strlen(prefixes[i]);
    if (n != p + UC_KEY_RANDOM_LEN + UC_KEY_CHECK_LEN || memcmp(k, prefixes[i], p) != 0)
      continue;
    unsigned bad = 0;
    for (size_t j = p; j < n; j++)
      bad |= strchr(b62, k[j]) == NULL || k[j] == 0;
    char legacy[UC_KEY_CHECK_LEN], keyed[UC_KEY_CHECK_LEN];
    static const uint8_t none[UC_KEY_SECRET_LEN];
    checksum(k, p + UC_KEY_RANDOM_LEN, NULL, legacy);
    checksum(k, p + UC_KEY_RANDOM_LEN, secret ? secret : none, keyed); /* both, always */
    int is_legacy = sodium_memcmp(legacy, k + p + UC_KEY_RANDOM_LEN, UC_KEY_CHECK_LEN) == 0;
    int is_keyed = secret && sodium_memcmp(keyed, k + p + UC_KEY_RANDOM_LEN, UC_KEY_CHECK_LEN) == 0;
    if (bad || (!is_legacy && !is_keyed))
      return UC_EAUTH;
    *t = (uc_key_type)i;
    if (check)
      *check = is_keyed ? UC_KEY_KEYED : UC_KEY_LEGACY;
    return UC_OK;
  }
  return UC_EAUTH;
}

void uc_key_hash(const char *k, size_t n, uint8_t out[UC_KEY_HASH_LEN]) {
  crypto_generichash(out, UC_KEY_HASH_LEN, (const unsigned char *)k, n, NULL, 0);
}

static const char *skip_blank(const char *s) {
  while (*s == ' ' || *s == '\t')
    s++;
  return s;
}

int uc_auth_header_parse(const char *authorization, const char *x_api_key, const char **key,
                         size_t *key_len) {
  const char *h = authorization ? skip_blank(authorization) : "", *k = x_api_key;
  *key = NULL, *key_len = 0;
  if (*h) {
    if (strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t'))
      return UC_AUTH_MALFORMED; /* Basic, Token, a bare key...: not ours */
    k = h + 7;
  }
  if (!k)
    return UC_AUTH_NONE;
  k = skip_blank(k);
  size_t n = strlen(k);
  while (n && (k[n - 1] == ' ' || k[n - 1] == '\t'))
    n--;
  if (!n)
    return UC_AUTH_NONE;
  *key = k, *key_len = n;
  return UC_AUTH_KEY;
}
