/* libFuzzer driver: the redis:// URL of --store (lib/store_redis.c's parser),
 * arbitrary text. A URL it accepts is put back together and must parse to
 * the same parts (host, port, db, user, password, prefix). */
#include "store_int.h"
#include "uc/uc.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

/* user and password percent-encoded, as a URL must hold them. */
static size_t escape(const char *s, char *out, size_t size) {
  size_t n = 0;
  for (; *s && n + 4 < size; s++)
    n += (size_t)snprintf(out + n, size - n, "%%%02X", (unsigned char)*s);
  out[n] = 0;
  return n;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  char text[2048], err[256], user[1024], pass[1024], again[4096];
  struct uc__redis_url u, v;
  if (size >= sizeof text)
    return 0;
  memcpy(text, data, size);
  text[size] = 0; /* a C string: NUL bytes end it early, as they would in argv */
  err[0] = 0;
  if (uc__redis_url_parse(text, 0, &u, err, sizeof err) != UC_OK) {
    assert(err[0]); /* a refusal always says why */
    return 0;
  }
  assert(u.host[0] && u.port >= 1 && u.port <= 65535 && u.db >= 0 && u.prefix[0]);
  escape(u.user, user, sizeof user);
  escape(u.password, pass, sizeof pass);
  int v6 = strchr(u.host, ':') != NULL;
  int auth = u.user[0] || u.password[0];
  snprintf(again, sizeof again, "%s%s%s%s%s%s%s:%d/%d?prefix=%s", user, auth ? ":" : "", pass,
           auth ? "@" : "", v6 ? "[" : "", u.host, v6 ? "]" : "", u.port, u.db, u.prefix);
  int rc = uc__redis_url_parse(again, 0, &v, err, sizeof err);
  assert(rc == UC_OK);
  assert(strcmp(u.host, v.host) == 0 && u.port == v.port && u.db == v.db);
  assert(strcmp(u.user, v.user) == 0 && strcmp(u.password, v.password) == 0);
  assert(strcmp(u.prefix, v.prefix) == 0);
  return 0;
}
