/* libFuzzer driver: the key of a request from its Authorization and X-API-Key
 * headers (uc_auth_header_parse), checked against the parsing srv_authenticate
 * did before it moved to libuc, then through uc_key_parse as the server does.
 * Input: flags byte (bit 0: no Authorization, bit 1: no X-API-Key), then the
 * Authorization value, a NUL, the X-API-Key value. */
#include "uc/keys.h"
#include "uc/uc.h"

#include <assert.h>
#include <string.h>
#include <strings.h>

static int blank(char c) {
  return c == ' ' || c == '\t';
}

static const char *skip_space(const char *s) {
  while (blank(*s))
    s++;
  return s;
}

static size_t trimmed_len(const char *s) {
  size_t n = strlen(s);
  while (n && blank(s[n - 1]))
    n--;
  return n;
}

/* src/server/http.c before the move, verbatim but for the result. */
static int reference(const char *h, const char *x, const char **key, size_t *n) {
  *key = NULL, *n = 0;
  if (h && *(h = skip_space(h))) {
    if (strncasecmp(h, "Bearer", 6) == 0 && (h[6] == ' ' || h[6] == '\t'))
      *key = skip_space(h + 7), *n = trimmed_len(*key);
    else
      return UC_AUTH_MALFORMED;
  } else if ((h = x) != NULL) {
    *key = skip_space(h), *n = trimmed_len(*key);
  }
  return *n ? UC_AUTH_KEY : UC_AUTH_NONE;
}

static int inside(const char *p, size_t n, const char *s) {
  return s && p >= s && p + n <= s + strlen(s);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  static char buf[1024];
  if (size == 0 || size >= sizeof buf)
    return 0;
  memcpy(buf, data + 1, size - 1);
  buf[size - 1] = 0;
  size_t alen = strlen(buf);
  const char *auth = data[0] & 1 ? NULL : buf;
  const char *xkey = data[0] & 2 ? NULL : alen < size - 1 ? buf + alen + 1 : "";
  const char *key = "unset", *want;
  size_t n = 99, want_n;
  int rc = uc_auth_header_parse(auth, xkey, &key, &n);
  assert(rc == UC_AUTH_NONE || rc == UC_AUTH_KEY || rc == UC_AUTH_MALFORMED);
  assert(rc == reference(auth, xkey, &want, &want_n));
  int given = auth && *skip_space(auth); /* Authorization holds something */
  if (rc != UC_AUTH_KEY) {
    assert(key == NULL && n == 0);
    assert(rc != UC_AUTH_MALFORMED || given);
    return 0;
  }
  assert(key == want && n == want_n);
  assert(n > 0 && !blank(key[0]) && !blank(key[n - 1]) && !memchr(key, 0, n));
  assert(given ? inside(key, n, auth) : inside(key, n, xkey));
  if (given) { /* then X-API-Key plays no part */
    const char *k2;
    size_t n2;
    assert(uc_auth_header_parse(auth, NULL, &k2, &n2) == rc && k2 == key && n2 == n);
  }
  uc_key_type t;
  int kr = uc_key_parse(key, n, NULL, &t, NULL);
  assert(kr == UC_OK || kr == UC_EAUTH);
  if (kr == UC_OK) /* "ucl_live_", "ucl_test_" or "ucl_admin_", the body, the checksum */
    assert((unsigned)t <= UC_KEY_ADMIN && memcmp(key, "ucl_", 4) == 0 &&
           n == (t == UC_KEY_ADMIN ? 10u : 9u) + UC_KEY_RANDOM_LEN + UC_KEY_CHECK_LEN);
  return 0;
}
