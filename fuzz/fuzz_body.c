/* libFuzzer driver, differential: whenever the check body's fast path
 * (uc_check_body_read, yajl) answers, jansson -- which the server uses for
 * every other body -- must read the same email and ip from the same bytes.
 * Inputs starting with '{' are bodies as they are; any other input is a
 * recipe for a body close to the common case (random members, values,
 * spacing and tails), so that most runs reach the comparison. */
#include "uc/request.h"

#include <assert.h>
#include <jansson.h>
#include <string.h>

struct recipe {
  const unsigned char *p;
  size_t n;
};

static unsigned next(struct recipe *r) {
  if (!r->n)
    return 0;
  r->n--;
  return *r->p++;
}

static void add(char *out, size_t *len, size_t cap, const char *s, size_t n) {
  if (*len + n < cap)
    memcpy(out + *len, s, n), *len += n;
}

/* A piece of text from the recipe: up to 24 bytes, mostly printable ASCII
 * (quotes and backslashes included), now and then any byte at all. */
static void raw(struct recipe *r, char *out, size_t *len, size_t cap) {
  unsigned n = next(r) % 24;
  for (unsigned i = 0; i < n && r->n; i++) {
    unsigned b = next(r);
    char c = (char)(b < 240 ? 0x20 + b % 95 : b);
    add(out, len, cap, &c, 1);
  }
}

static void spaces(struct recipe *r, char *out, size_t *len, size_t cap) {
  static const char *const ws[] = {"", "", " ", "\t", "\n ", "\r\n"};
  const char *w = ws[next(r) % 6];
  add(out, len, cap, w, strlen(w));
}

static size_t build(struct recipe *r, char *out, size_t cap) {
  static const char *const keys[] = {"\"email\"", "\"email\"", "\"ip\"",    "\"ip\"",
                                     "\"x\"",     "\"emai\"",  "\"EMAIL\"", "\"ip \""};
  static const char *const values[] = {
      "null", "1", "-0.5e3", "1e999", "true", "{}", "[]", "{\"email\":\"n@x.io\"}", "nul", "\"\""};
  size_t len = 0;
  spaces(r, out, &len, cap);
  add(out, &len, cap, "{", 1);
  unsigned members = next(r) % 5;
  for (unsigned m = 0; m < members; m++) {
    if (m)
      add(out, &len, cap, next(r) % 16 ? "," : ",,", next(r) % 16 ? 1 : 2);
    spaces(r, out, &len, cap);
    unsigned k = next(r) % 10;
    if (k < 8) {
      add(out, &len, cap, keys[k], strlen(keys[k]));
    } else {
      add(out, &len, cap, "\"", 1), raw(r, out, &len, cap), add(out, &len, cap, "\"", 1);
    }
    spaces(r, out, &len, cap);
    add(out, &len, cap, ":", next(r) % 32 ? 1 : 0);
    spaces(r, out, &len, cap);
    unsigned v = next(r) % 20;
    if (v < 10) {
      add(out, &len, cap, values[v], strlen(values[v]));
    } else {
      add(out, &len, cap, "\"", 1), raw(r, out, &len, cap), add(out, &len, cap, "\"", 1);
    }
    spaces(r, out, &len, cap);
  }
  add(out, &len, cap, "}", next(r) % 32 ? 1 : 0);
  spaces(r, out, &len, cap);
  if (next(r) % 8 == 0)
    raw(r, out, &len, cap); /* a tail after the object */
  return len;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  char built[2048];
  const char *body = (const char *)data;
  if (size && data[0] != '{') {
    struct recipe r = {data, size};
    size = build(&r, built, sizeof built);
    body = built;
  }
  struct uc_check_body b;
  if (!uc_check_body_read(body, size, &b))
    return 0;
  json_error_t err;
  json_t *doc = json_loadb(body, size, JSON_ALLOW_NUL, &err);
  assert(doc && json_is_object(doc)); /* the fast path took something jansson refuses */
  json_t *email = json_object_get(doc, "email"), *ip = json_object_get(doc, "ip");
  assert(json_is_string(email));
  assert(json_string_length(email) == b.email_len);
  assert(memcmp(json_string_value(email), b.email, b.email_len) == 0);
  if (json_is_string(ip)) {
    assert(b.ip && json_string_length(ip) == b.ip_len);
    assert(memcmp(json_string_value(ip), b.ip, b.ip_len) == 0);
  } else {
    assert(!ip || json_is_null(ip)); /* anything else must have gone to jansson */
    assert(!b.ip);
  }
  json_decref(doc);
  return 0;
}
