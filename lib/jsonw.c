/* JSON text writer: separators, escaping, UTF-8 repair (see include/uc/jsonw.h). */
#include "uc/jsonw.h"

#include <stdio.h>
#include <string.h>

void uc_jsonw_init(struct uc_jsonw *w, char *buf, size_t cap) {
  w->buf = buf;
  w->cap = cap;
  w->len = 0;
  w->depth = 0;
  w->overflow = cap == 0;
  w->first[0] = 1;
}

static void put(struct uc_jsonw *w, const char *s, size_t n) {
  if (w->overflow || n >= w->cap - w->len) { /* keep one byte for the NUL */
    w->overflow = 1;
    return;
  }
  memcpy(w->buf + w->len, s, n);
  w->len += n;
}

/* Writes the comma before a value unless it follows a key or opens a container. */
static void separate(struct uc_jsonw *w) {
  if (!w->first[w->depth])
    put(w, ",", 1);
  w->first[w->depth] = 0;
}

static void open_(struct uc_jsonw *w, const char *c) {
  separate(w);
  put(w, c, 1);
  if (w->depth + 1 >= UC_JSONW_DEPTH) {
    w->overflow = 1;
    return;
  }
  w->first[++w->depth] = 1;
}

static void close_(struct uc_jsonw *w, const char *c) {
  if (w->depth == 0) {
    w->overflow = 1;
    return;
  }
  w->depth--;
  put(w, c, 1);
}

void uc_jsonw_raw(struct uc_jsonw *w, const char *json, size_t n) {
  separate(w);
  put(w, json, n);
}

void uc_jsonw_begin_object(struct uc_jsonw *w) {
  open_(w, "{");
}
void uc_jsonw_end_object(struct uc_jsonw *w) {
  close_(w, "}");
}
void uc_jsonw_begin_array(struct uc_jsonw *w) {
  open_(w, "[");
}
void uc_jsonw_end_array(struct uc_jsonw *w) {
  close_(w, "]");
}

/* Length of the well-formed UTF-8 sequence at s, or 0 (RFC 3629 table 3-7). */
static size_t utf8_len(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  if (c >= 0xC2 && c <= 0xDF)
    return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    return n >= 3 && s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    return n >= 4 && s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80 ? 4
                                                                                                : 0;
  }
  return 0;
}

/* 1: printable ASCII that goes out as it is. */
static const unsigned char verbatim[256] = {
#define R4(x) x, x, x, x
#define R16(x) R4(x), R4(x), R4(x), R4(x)
    R16(0), R16(0),                                                 /* 0x00-0x1f: controls */
    1,      1,      0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,       /* 0x22 '"' */
    R16(1), R16(1), 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 0x5c '\\' */
    R16(1), R16(1),
#undef R16
#undef R4
};

/* Writes the escaped form of the special byte (or sequence) at s[0]; returns
 * how many input bytes it consumed. */
static size_t escape_one(struct uc_jsonw *w, const unsigned char *s, size_t n) {
  static const char short_[] = "btnvfr"; /* \b \t \n (no \v) \f \r */
  char u[8];
  unsigned char c = s[0];
  if (c >= 0x80) {
    size_t k = utf8_len(s, n);
    if (k)
      put(w, (const char *)s, k);
    else
      put(w, "\\ufffd", 6);
    return k ? k : 1;
  }
  if (c == '"' || c == '\\') {
    u[0] = '\\', u[1] = (char)c;
    put(w, u, 2);
  } else if (c >= 8 && c <= 13 && c != 11) {
    u[0] = '\\', u[1] = short_[c - 8];
    put(w, u, 2);
  } else {
    snprintf(u, sizeof u, "\\u%04x", c);
    put(w, u, 6);
  }
  return 1;
}

static void escape(struct uc_jsonw *w, const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    size_t start = i;
    while (i < n && verbatim[s[i]])
      i++;
    put(w, (const char *)s + start, i - start);
    if (i < n)
      i += escape_one(w, s + i, n - i);
  }
}

void uc_jsonw_key(struct uc_jsonw *w, const char *key) {
  char buf[64];
  size_t n = strlen(key), i = 0;
  while (i < n && verbatim[(unsigned char)key[i]])
    i++;
  separate(w);
  if (i == n && n + 3 <= sizeof buf) { /* the usual case: a plain name, one put */
    buf[0] = '"';
    memcpy(buf + 1, key, n);
    memcpy(buf + 1 + n, "\":", 2);
    put(w, buf, n + 3);
  } else {
    put(w, "\"", 1);
    escape(w, (const unsigned char *)key, n);
    put(w, "\":", 2);
  }
  w->first[w->depth] = 1; /* the value follows without a comma */
}

void uc_jsonw_key_quoted(struct uc_jsonw *w, const char *quoted, size_t n) {
  separate(w);
  put(w, quoted, n);
  w->first[w->depth] = 1;
}

void uc_jsonw_string(struct uc_jsonw *w, const char *s, size_t n) {
  separate(w);
  put(w, "\"", 1);
  escape(w, (const unsigned char *)s, n);
  put(w, "\"", 1);
  w->first[w->depth] = 0;
}

void uc_jsonw_cstring(struct uc_jsonw *w, const char *s) {
  if (s)
    uc_jsonw_string(w, s, strlen(s));
  else
    uc_jsonw_null(w);
}

static void literal(struct uc_jsonw *w, const char *s) {
  separate(w);
  put(w, s, strlen(s));
  w->first[w->depth] = 0;
}

void uc_jsonw_int(struct uc_jsonw *w, long v) {
  char num[24], *p = num + sizeof num;
  unsigned long u = v < 0 ? 0ul - (unsigned long)v : (unsigned long)v;
  *--p = 0;
  do
    *--p = (char)('0' + u % 10);
  while (u /= 10);
  if (v < 0)
    *--p = '-';
  literal(w, p);
}

void uc_jsonw_bool(struct uc_jsonw *w, int v) {
  literal(w, v ? "true" : "false");
}
void uc_jsonw_null(struct uc_jsonw *w) {
  literal(w, "null");
}

size_t uc_jsonw_finish(struct uc_jsonw *w) {
  if (w->overflow || w->depth != 0)
    return 0;
  w->buf[w->len] = 0;
  return w->len;
}
