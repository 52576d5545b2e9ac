/* The check body on the fast path: yajl's event parser, no allocation per
 * value, and a narrow notion of "the common case" so that its answers are
 * jansson's answers (fuzz/fuzz_body.c checks that on arbitrary input). */
#include "uc/request.h"

#include <string.h>
#include <yajl/yajl_parse.h>

enum which { OTHER, EMAIL, IP };
enum kind { ABSENT, STRING, JNULL };

struct reader {
  const char *body;
  size_t len;
  int depth;
  enum which key;
  enum kind email, ip;
  struct uc_check_body *out;
  yajl_handle h;
  size_t end; /* just past the object's closing brace */
};

static int json_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int cancel(void *ctx) {
  (void)ctx;
  return 0; /* not the common case: jansson decides */
}
static int cancel_bool(void *ctx, int v) {
  (void)v;
  return cancel(ctx);
}
static int cancel_number(void *ctx, const char *s, size_t n) {
  (void)s, (void)n;
  return cancel(ctx);
}

static int on_null(void *ctx) {
  struct reader *r = ctx;
  if (r->key == EMAIL)
    r->email = JNULL;
  else if (r->key == IP)
    r->ip = JNULL, r->out->ip = NULL, r->out->ip_len = 0;
  return 1;
}

/* Whether s has a byte JSON forbids raw inside a string (the tabs and line
 * ends the precheck lets through as whitespace). */
static int has_control(const unsigned char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] < 0x20)
      return 1;
  return 0;
}

static int on_string(void *ctx, const unsigned char *s, size_t n) {
  struct reader *r = ctx;
  const char *p = (const char *)s;
  if (has_control(s, n))
    return 0;
  if (p < r->body || n > r->len || p - r->body > (ptrdiff_t)(r->len - n))
    return 0; /* not a span of the body (yajl copied it): let jansson read it */
  if (r->key == EMAIL)
    r->email = STRING, r->out->email = p, r->out->email_len = n;
  else if (r->key == IP)
    r->ip = STRING, r->out->ip = p, r->out->ip_len = n;
  return 1;
}

static int on_key(void *ctx, const unsigned char *s, size_t n) {
  struct reader *r = ctx;
  if (has_control(s, n))
    return 0;
  r->key = n == 5 && memcmp(s, "email", 5) == 0 ? EMAIL
           : n == 2 && memcmp(s, "ip", 2) == 0  ? IP
                                                : OTHER;
  return 1;
}

static int on_start_map(void *ctx) {
  struct reader *r = ctx;
  return ++r->depth == 1; /* members that are objects: jansson */
}

static int on_end_map(void *ctx) {
  struct reader *r = ctx;
  if (--r->depth == 0)
    r->end = yajl_get_bytes_consumed(r->h);
  return 1;
}

static const yajl_callbacks events = {
    .yajl_null = on_null,
    .yajl_boolean = cancel_bool,
    .yajl_number = cancel_number, /* set, so yajl never converts (or range-checks) a number */
    .yajl_string = on_string,
    .yajl_start_map = on_start_map,
    .yajl_map_key = on_key,
    .yajl_end_map = on_end_map,
    .yajl_start_array = cancel,
    .yajl_end_array = cancel,
};

int uc_check_body_read(const char *body, size_t len, struct uc_check_body *out) {
  /* Printable ASCII and JSON's whitespace only: no escapes, no UTF-8, no
   * control characters, where the two parsers' rules could differ. */
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)body[i];
    if (c == '\\' || c >= 0x7F || (c < 0x20 && !json_space(c)))
      return 0;
  }
  struct reader r = {body, len, 0, OTHER, ABSENT, ABSENT, out, NULL, 0};
  memset(out, 0, sizeof *out);
  if (!(r.h = yajl_alloc(&events, NULL, &r)))
    return 0;
  int ok = yajl_parse(r.h, (const unsigned char *)body, len) == yajl_status_ok &&
           yajl_complete_parse(r.h) == yajl_status_ok && r.end;
  yajl_free(r.h);
  /* yajl takes a lone '"' after the value as the start of a string still to
   * come: anything but whitespace after the object is jansson's to refuse */
  for (size_t i = ok ? r.end : len; i < len; i++)
    if (!json_space((unsigned char)body[i]))
      ok = 0;
  return ok && r.depth == 0 && r.email == STRING;
}
