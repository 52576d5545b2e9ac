/* A JSON text writer into a caller's buffer, for hot-path response bodies.
 * jansson stays the parser and the general-purpose encoder; this writer exists
 * because jansson's dumper costs ~49k instructions per check body (callgrind,
 * docs/internals/engine.md) and the check path writes one per request. */
#ifndef UC_JSONW_H
#define UC_JSONW_H

#include <stddef.h>

#define UC_JSONW_DEPTH 16

/* Caller-owned. Keys and values are separated automatically; once the buffer
 * is full every call is a no-op and uc_jsonw_finish reports it. */
struct uc_jsonw {
  char *buf;
  size_t cap, len;
  int depth, overflow;
  unsigned char first[UC_JSONW_DEPTH]; /* no member written yet at this depth */
};

void uc_jsonw_init(struct uc_jsonw *w, char *buf, size_t cap);
void uc_jsonw_begin_object(struct uc_jsonw *w);
void uc_jsonw_end_object(struct uc_jsonw *w);
void uc_jsonw_begin_array(struct uc_jsonw *w);
void uc_jsonw_end_array(struct uc_jsonw *w);
/* An object key (a member name); the next call writes its value. */
void uc_jsonw_key(struct uc_jsonw *w, const char *key);
/* A member name given already quoted with its colon ("\"name\":"), for names
 * fixed in our code: no escaping, one copy. UC_JSONW_KEY(w, "name") makes it. */
void uc_jsonw_key_quoted(struct uc_jsonw *w, const char *quoted, size_t n);
#define UC_JSONW_KEY(w, name) uc_jsonw_key_quoted((w), "\"" name "\":", sizeof("\"" name "\":") - 1)
/* A string value from s[0..n): escaped per RFC 8259; bytes that are not
 * well-formed UTF-8 become U+FFFD, so the output is always valid JSON. */
void uc_jsonw_string(struct uc_jsonw *w, const char *s, size_t n);
void uc_jsonw_cstring(struct uc_jsonw *w, const char *s); /* NULL writes null */
void uc_jsonw_int(struct uc_jsonw *w, long v);
void uc_jsonw_bool(struct uc_jsonw *w, int v);
void uc_jsonw_null(struct uc_jsonw *w);
/* A value given as JSON text already (well-formed, ours: never outside
 * input), written as it is. */
void uc_jsonw_raw(struct uc_jsonw *w, const char *json, size_t n);
/* The text length (NUL-terminated in buf), or 0 when it did not fit or the
 * nesting was unbalanced. */
size_t uc_jsonw_finish(struct uc_jsonw *w);

#endif
