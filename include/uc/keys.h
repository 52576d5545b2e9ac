/* API keys: format (prefix, random body, checksum), generation and hashing.
 *
 *   ucl_live_<32 base62 random><6 base62 checksum>   active (check) keys
 *   ucl_test_<...>                                    sandbox keys
 *   ucl_admin_<...>                                   admin keys
 *
 * The checksum of a key made now is keyed by the installation's secret (the
 * store's secret UC_KEY_SECRET_NAME): nobody else can make one that passes,
 * so a forged key is refused from memory. Keys made before carry an unkeyed
 * checksum (anyone can compute it) and are still accepted: a server knows
 * every one of them (they are all in the store), so an unknown one is
 * refused from memory as well. Only uc_key_hash() of a key is ever stored. */
#ifndef UC_KEYS_H
#define UC_KEYS_H

#include <stddef.h>
#include <stdint.h>

typedef enum uc_key_type { UC_KEY_ACTIVE = 0, UC_KEY_SANDBOX = 1, UC_KEY_ADMIN = 2 } uc_key_type;

#define UC_KEY_RANDOM_LEN 32
#define UC_KEY_CHECK_LEN 6
#define UC_KEY_MAX 48 /* longest key text, without the NUL */
#define UC_KEY_HASH_LEN 32
#define UC_KEY_PREFIX_SHOWN 14 /* "ucl_live_" + 5 chars: enough to recognise, useless to attack */
#define UC_KEY_SECRET_LEN 32
#define UC_KEY_SECRET_NAME "key-checksum" /* uc_store_secret's name for it */

/* Which checksum a key carries (uc_key_parse). */
enum uc_key_check {
  UC_KEY_KEYED = 1,  /* keyed by the installation's secret: made by this installation */
  UC_KEY_LEGACY = 2, /* the unkeyed checksum of keys made before keyed checksums */
};

const char *uc_key_type_name(uc_key_type t); /* "active", "sandbox", "admin" */
int uc_key_type_parse(const char *s, uc_key_type *out);

/* Writes a new random key of type t into out (NUL-terminated), its checksum
 * keyed by secret (UC_KEY_SECRET_LEN bytes; NULL: the legacy unkeyed
 * checksum, for tests of old keys); returns its length (0 on failure). */
size_t uc_key_generate(uc_key_type t, const uint8_t *secret, char out[UC_KEY_MAX + 1]);

/* Checks the format and checksum of k[0..n) without any lookup: UC_OK with
 * *t and *check (may be NULL) set, or UC_EAUTH. secret (may be NULL: legacy
 * checksums only) is the installation's. Runs in time independent of where
 * a mismatch is and of which checksum matched. */
int uc_key_parse(const char *k, size_t n, const uint8_t *secret, uc_key_type *t, int *check);

/* BLAKE2b-256 of the key text: what the store keeps and looks up. */
void uc_key_hash(const char *k, size_t n, uint8_t out[UC_KEY_HASH_LEN]);

/* What uc_auth_header_parse() found. */
enum uc_auth_header {
  UC_AUTH_NONE = 0,      /* no key: no header, blank ones, or "Bearer" and nothing after it */
  UC_AUTH_KEY = 1,       /* *key and *key_len are set */
  UC_AUTH_MALFORMED = 2, /* an Authorization that is not "Bearer KEY": Basic, Token, a bare key */
};

/* Finds the API key of a request in its Authorization and X-API-Key header
 * values (NUL-terminated; NULL when absent). Authorization counts as soon as
 * it holds more than spaces and tabs, and must then be "Bearer" in any case,
 * a space or a tab, and the key; X-API-Key is looked at only when
 * Authorization is absent or blank. Returns an enum uc_auth_header. On
 * UC_AUTH_KEY, *key points into the header value it came from and *key_len
 * (> 0) excludes the spaces and tabs around it; the key's format is not
 * checked (uc_key_parse does that). Otherwise *key is NULL and *key_len 0.
 * Pure: no allocation, any thread. */
int uc_auth_header_parse(const char *authorization, const char *x_api_key, const char **key,
                         size_t *key_len);

#endif
