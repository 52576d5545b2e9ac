/* Reading a list: CSV and TSV with libcsv, TXT line by line, XLSX in
 * batch_xlsx.c; every reader hands rows to one row builder that applies the
 * bounds (cell and row size, column count, UTF-8). */
#include "batch_int.h"
#include "uc/email.h"
#include "uc/error.h"

#include <csv.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define CHUNK 1024u /* the harnesses' inputs cross many chunk boundaries */
#else
#define CHUNK (1u << 16)
#endif

ssize_t uc__src_read(struct uc__src *s, void *buf, size_t cap) {
  if (s->fd < 0) {
    size_t n = s->len - s->off < cap ? s->len - s->off : cap;
    memcpy(buf, s->mem + s->off, n);
    s->off += n;
    return (ssize_t)n;
  }
  for (;;) {
    ssize_t n = read(s->fd, buf, cap);
    if (n >= 0 || errno != EINTR)
      return n;
  }
}

/* ---- the row builder ---- */

void uc__rowb_init(struct uc__rowb *b, uc_batch_row_fn fn, void *arg, char *err, size_t es) {
  memset(b, 0, sizeof *b);
  uc_buf_init(&b->bytes, UC_BATCH_ROW_MAX + UC_BATCH_COLUMNS_MAX); /* cells, and seps */
  uc_buf_init(&b->cells, UC_BATCH_COLUMNS_MAX * sizeof(struct uc_batch_cell));
  b->sep = -1;
  b->plain = 1;
  b->fn = fn, b->arg = arg, b->err = err, b->es = es;
}

void uc__rowb_set_sep(struct uc__rowb *b, int sep) {
  b->sep = sep;
  memset(b->odd, 0, sizeof b->odd);
  if (sep >= 0)
    b->odd[(unsigned char)sep] = b->odd['"'] = b->odd['\r'] = b->odd['\n'] = 1;
}

void uc__rowb_release(struct uc__rowb *b) {
  uc_buf_release(&b->bytes);
  uc_buf_release(&b->cells);
}

int uc__rowb_fail(struct uc__rowb *b, int rc, const char *fmt, ...) {
  if (b->rc)
    return b->rc;
  va_list ap;
  va_start(ap, fmt);
  if (b->es)
    vsnprintf(b->err, b->es, fmt, ap);
  va_end(ap);
  return b->rc = rc;
}

/* 16 bytes at once (GCC's vector extensions: SSE2 on x86-64, NEON on arm64). */
typedef signed char s16 __attribute__((vector_size(16)));

/* Whether p[0..n) is UTF-8 without NUL, as uc_utf8_valid says. Most cells
 * are plain ASCII: that is seen 16 bytes at a time (the last 16 overlapping;
 * no byte with its high bit set, none zero) and uc_utf8_valid looks at the
 * others. */
static int text_ok(const char *p, size_t n) {
  if (n < 16) {
    unsigned char odd = 0;
    for (size_t i = 0; i < n; i++)
      odd |= (unsigned char)(p[i] - 1) >= 0x7f; /* 0, or 0x80 and above */
    return !odd || uc_utf8_valid(p, n);
  }
  s16 v, odd = {0};
  for (size_t i = 0;; i += 16) {
    memcpy(&v, p + (i + 16 <= n ? i : n - 16), 16);
    odd |= (v <= 0); /* a zero, or a byte of 0x80 and above */
    if (i + 16 >= n)
      break;
  }
  uint64_t half[2];
  memcpy(half, &odd, sizeof half);
  return !(half[0] | half[1]) || uc_utf8_valid(p, n);
}

/* Whether p[0..n) holds a byte b->odd names (sep mode only). */
static int has_odd(const struct uc__rowb *b, const char *p, size_t n) {
  return uc__quote_bytes(b->odd, (char)b->sep, p, n);
}

/* Whether the word v holds the byte c (the zero-byte test on v ^ c's). */
static inline uint64_t has_byte(uint64_t v, unsigned char c) {
  const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
  uint64_t x = v ^ (ones * c);
  return (x - ones) & ~x & highs;
}

/* A cell of a row whose buffers have their room, the usual case: a short
 * plain-ASCII one is copied while it is looked at, a byte at a time (libcsv
 * has just stored it a byte at a time: a wider load would wait for those
 * stores to land), one of 8 to 15 bytes as two words, a longer one looked at
 * 16 bytes at a time, then copied. In sep mode the row's plain flag learns
 * of it too. 1 when done; 0 leaves the buffers as they were, for the general
 * way. */
static inline __attribute__((always_inline)) int fast_cell(struct uc__rowb *b, const char *p,
                                                           size_t n, uint8_t kind) {
  struct uc_buf *bytes = &b->bytes, *cells = &b->cells;
  int sep = b->sep >= 0 && cells->len;
  if (!bytes->data || !cells->data || b->raw + n > UC_BATCH_ROW_MAX || n > UC_BATCH_CELL_MAX ||
      (size_t)sep + n > bytes->cap - bytes->len ||
      sizeof(struct uc_batch_cell) > cells->cap - cells->len)
    return 0; /* room to make, or a bound passed */
  char *d = bytes->data + bytes->len + sep;
  int odd = 0;
  if (n >= 16) {
    if (!text_ok(p, n))
      return 0;
    memcpy(d, p, n);
    odd = b->sep >= 0 && has_odd(b, p, n);
  } else if (n >= 8) { /* two words, overlapping: a byte 0 or >= 0x80 in either is odd */
    uint64_t a, z;
    memcpy(&a, p, 8), memcpy(&z, p + n - 8, 8);
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    if (((a | z) & highs) || (((a - ones) & ~a & highs) | ((z - ones) & ~z & highs)))
      return 0;
    memcpy(d, &a, 8), memcpy(d + n - 8, &z, 8);
    if (b->sep >= 0) {
      unsigned char s = (unsigned char)b->sep;
      odd = (has_byte(a, s) | has_byte(a, '"') | has_byte(a, '\r') | has_byte(a, '\n') |
             has_byte(z, s) | has_byte(z, '"') | has_byte(z, '\r') | has_byte(z, '\n')) != 0;
    }
  } else {
    unsigned char bad = 0, hit = 0;
    for (size_t i = 0; i < n; i++) {
      unsigned char c = (unsigned char)p[i];
      d[i] = (char)c, bad |= (unsigned char)(c - 1) >= 0x7f; /* 0, or 0x80 and above */
      hit |= b->odd[c];
    }
    if (bad) {
      d[-sep] = 0; /* the buffer's NUL, as it was */
      return 0;
    }
    odd = hit;
  }
  if (sep)
    d[-1] = (char)b->sep;
  b->plain &= !odd && kind != UC_CELL_BOOL;
  struct uc_batch_cell *c = (struct uc_batch_cell *)(void *)(cells->data + cells->len);
  *c = (struct uc_batch_cell){d, n, kind};
  cells->len += sizeof *c, cells->data[cells->len] = 0;
  bytes->len += (size_t)sep + n, bytes->data[bytes->len] = 0;
  b->raw += n;
  return 1;
}

/* uc__rowb_cell when fast_cell cannot: the buffers' room to make (once), a
 * cell that is not plain ASCII, or a fault. */
static __attribute__((noinline)) int slow_cell(struct uc__rowb *b, const char *p, size_t n,
                                               uint8_t kind) {
  size_t count = UC_BUF_COUNT(&b->cells, struct uc_batch_cell);
  int apart = b->sep >= 0 && count;
  if (n > UC_BATCH_CELL_MAX)
    return uc__rowb_fail(b, UC_ETOOBIG, "row %llu, column %zu: a cell is longer than %u bytes",
                         (unsigned long long)b->index + 1, count + 1, UC_BATCH_CELL_MAX);
  if (!text_ok(p, n))
    return uc__rowb_fail(b, UC_EFORMAT,
                         "row %llu, column %zu is not valid UTF-8 text (save the file as UTF-8)",
                         (unsigned long long)b->index + 1, count + 1);
  if (count == UC_BATCH_COLUMNS_MAX)
    return uc__rowb_fail(b, UC_ETOOBIG, "row %llu has more than %d columns",
                         (unsigned long long)b->index + 1, UC_BATCH_COLUMNS_MAX);
  if (b->raw + n > UC_BATCH_ROW_MAX)
    return uc__rowb_fail(b, UC_ETOOBIG, "row %llu is longer than %u bytes",
                         (unsigned long long)b->index + 1, UC_BATCH_ROW_MAX);
  /* room: when the bytes move, the row's cells move with them */
  struct uc_batch_cell *cs = (struct uc_batch_cell *)(void *)b->cells.data;
  if (b->bytes.len + (size_t)apart + n > b->bytes.cap || !b->bytes.data) {
    for (size_t i = 0; i < count; i++) /* as offsets while the buffer moves */
      cs[i].p = (const char *)(uintptr_t)(cs[i].p - b->bytes.data);
    int rc = uc_buf_reserve(&b->bytes, (size_t)apart + n);
    for (size_t i = 0; i < count; i++)
      cs[i].p = b->bytes.data + (uintptr_t)cs[i].p;
    if (rc)
      return uc__rowb_fail(b, UC_ENOMEM, "out of memory");
  }
  if (uc_buf_reserve(&b->cells, sizeof(struct uc_batch_cell)))
    return uc__rowb_fail(b, UC_ENOMEM, "out of memory");
  char *d = b->bytes.data + b->bytes.len + apart;
  if (apart)
    d[-1] = (char)b->sep;
  memcpy(d, p, n);
  b->bytes.len += (size_t)apart + n, b->bytes.data[b->bytes.len] = 0;
  b->raw += n;
  b->plain &= !(b->sep >= 0 && has_odd(b, p, n)) && kind != UC_CELL_BOOL;
  struct uc_batch_cell c = {d, n, kind};
  return uc_buf_add(&b->cells, &c, sizeof c) ? uc__rowb_fail(b, UC_ENOMEM, "out of memory") : UC_OK;
}

int uc__rowb_cell(struct uc__rowb *b, const char *p, size_t n, uint8_t kind) {
  if (b->rc)
    return b->rc;
  return fast_cell(b, p, n, kind) ? UC_OK : slow_cell(b, p, n, kind);
}

int uc__rowb_emit(struct uc__rowb *b) {
  if (b->rc)
    return b->rc;
  size_t n = UC_BUF_COUNT(&b->cells, struct uc_batch_cell);
  struct uc__row row = {{(const struct uc_batch_cell *)(void *)b->cells.data, n, b->index++},
                        b->sep >= 0 && b->plain};
  int stop = b->fn(b->arg, &row.row);
  uc_buf_reset(&b->cells); /* after the callback: a reset writes the NUL at data[0] */
  uc_buf_reset(&b->bytes);
  b->raw = 0, b->plain = 1;
  if (stop)
    b->rc = stop;
  return b->rc;
}

/* ---- CSV and TSV (libcsv) ---- */

/* libcsv grows a cell's buffer by reallocating: refused past the cell bound,
 * which libcsv reports as CSV_ENOMEM (an unclosed quote swallows the file). */
static void *bounded_realloc(void *p, size_t n) {
  return n > UC_BATCH_CELL_MAX + 2 * 128 ? NULL : realloc(p, n);
}

/* Cells keep their spaces: " a" stays " a" (the address parser trims). */
static int no_space(unsigned char c) {
  (void)c;
  return 0;
}

/* A byte after which, and before which, a space is kept by libcsv's own
 * space test as by no_space: not a space or TAB, the delimiter, the quote or
 * a line end (-1: no byte, the start of the file). */
static int plain_byte(int c, unsigned char delim) {
  return c >= 0 && c != ' ' && c != '\t' && c != delim && c != '"' && c != '\r' && c != '\n';
}

/* Whether libcsv's own space test (' ' and TAB) reads p[0..n) into the same
 * cells as no_space, which costs a call per byte. They part only at a space
 * or TAB (other than the delimiter) in certain places: at the start of a
 * cell, at the end of one (before a delimiter, a line end or the end of the
 * file), after a closing quote. Between two plain bytes, or a plain byte and
 * a quote after it, a space is just a byte of its cell either way, and both
 * tests leave libcsv's state as no_space would at the end of such a chunk (no
 * spaces counted), so the test can change from one chunk to the next. The
 * last byte of a chunk being a space (what follows is not known) counts as a
 * place where they part. prev: the byte before p (-1: none). */
static int spaces_harmless(const unsigned char *p, size_t n, int prev, unsigned char delim) {
  static const unsigned char spaces[2] = {' ', '\t'};
  for (int k = 0; k < 2; k++) {
    if (spaces[k] == delim) /* libcsv looks for the delimiter first */
      continue;
    for (const unsigned char *s = p; (s = memchr(s, spaces[k], (size_t)(p + n - s))) != NULL; s++)
      if (s + 1 == p + n || !plain_byte(s > p ? s[-1] : prev, delim) ||
          !(plain_byte(s[1], delim) || s[1] == '"'))
        return 0;
  }
  return 1;
}

struct csv_ctx {
  struct uc__rowb *b;
  int last_end; /* the character that ended the last row */
};

static void on_field(void *p, size_t n, void *arg) {
  struct csv_ctx *x = arg;
  uc__rowb_cell(x->b, p ? p : "", p ? n : 0, UC_CELL_TEXT);
}

static void on_row(int c, void *arg) {
  struct csv_ctx *x = arg;
  int blank = UC_BUF_COUNT(&x->b->cells, struct uc_batch_cell) == 0;
  int lf_of_crlf = blank && c == '\n' && x->last_end == '\r';
  x->last_end = c;
  if (!lf_of_crlf) /* libcsv reports the LF of CR LF as a row of its own */
    uc__rowb_emit(x->b);
}

/* The delimiter of a .csv: the most frequent of , ; TAB in its first line, outside quotes. */
static char sniff_delim(const unsigned char *p, size_t n) {
  size_t comma = 0, semi = 0, tab = 0;
  int quoted = 0;
  for (size_t i = 0; i < n && (quoted || (p[i] != '\n' && p[i] != '\r')); i++) {
    if (p[i] == '"')
      quoted = !quoted;
    else if (!quoted)
      comma += p[i] == ',', semi += p[i] == ';', tab += p[i] == '\t';
  }
  if (semi > comma && semi >= tab)
    return ';';
  return tab > comma ? '\t' : ',';
}

static void sniff(const unsigned char *p, size_t n, enum uc_batch_format f,
                  struct uc_batch_layout *layout) {
  const unsigned char *nl = memchr(p, '\n', n);
  layout->crlf = nl && nl > p && nl[-1] == '\r';
  layout->delim = f == UC_BATCH_TSV ? '\t' : f == UC_BATCH_CSV ? sniff_delim(p, n) : ',';
}

/* Reads the first chunk, skipping a BOM and describing the layout. */
static ssize_t first_chunk(struct uc__src *s, unsigned char *buf, size_t cap,
                           enum uc_batch_format f, struct uc_batch_layout *layout, size_t *start) {
  size_t have = 0;
  ssize_t got;
  while (have < cap && (got = uc__src_read(s, buf + have, cap - have)) > 0)
    have += (size_t)got;
  if (have < cap && got < 0)
    return -1;
  memset(layout, 0, sizeof *layout);
  layout->bom = have >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0;
  *start = layout->bom ? 3 : 0;
  sniff(buf + *start, have - *start, f, layout);
  return (ssize_t)have;
}

static int read_error(struct uc__rowb *b) {
  return uc__rowb_fail(b, UC_EIO, "reading the file: %s", strerror(errno));
}

static int csv_fail(struct uc__rowb *b, struct csv_parser *p) {
  int e = csv_error(p);
  if (e == CSV_ENOMEM)
    return uc__rowb_fail(b, UC_ETOOBIG,
                         "row %llu: a cell is longer than %u bytes (is a quote left open?)",
                         (unsigned long long)b->index + 1, UC_BATCH_CELL_MAX);
  return uc__rowb_fail(b, UC_EFORMAT, "row %llu: %s", (unsigned long long)b->index + 1,
                       csv_strerror(e));
}

int uc__read_csv(struct uc__src *s, enum uc_batch_format f, struct uc_batch_layout *layout,
                 struct uc__rowb *b) {
  struct csv_parser p;
  struct csv_ctx x = {b, 0};
  unsigned char *buf = malloc(CHUNK);
  size_t start = 0;
  if (!buf || csv_init(&p, CSV_REPALL_NL) != 0) {
    free(buf);
    return uc__rowb_fail(b, UC_ENOMEM, "out of memory");
  }
  csv_set_realloc_func(&p, bounded_realloc);
  ssize_t got = first_chunk(s, buf, CHUNK, f, layout, &start);
  unsigned char delim = (unsigned char)layout->delim;
  int prev = -1; /* the last byte of the chunk before */
  csv_set_delim(&p, delim);
  for (; got > 0 && !b->rc; start = 0, got = uc__src_read(s, buf, CHUNK)) {
    size_t n = (size_t)got - start;
    csv_set_space_func(&p, spaces_harmless(buf + start, n, prev, delim) ? NULL : no_space);
    if (csv_parse(&p, buf + start, n, on_field, on_row, &x) != n)
      csv_fail(b, &p);
    prev = buf[start + n - 1];
  }
  if (got < 0)
    read_error(b);
  if (!b->rc && csv_fini(&p, on_field, on_row, &x) != 0)
    csv_fail(b, &p);
  csv_free(&p);
  free(buf);
  return b->rc;
}

/* ---- TXT: one address per line ---- */

static int txt_line(struct uc__rowb *b, const char *p, size_t n) {
  if (n && p[n - 1] == '\r')
    n--;
  if (n && uc__rowb_cell(b, p, n, UC_CELL_TEXT))
    return b->rc;
  return uc__rowb_emit(b);
}

static int too_long(struct uc__rowb *b) {
  return uc__rowb_fail(b, UC_ETOOBIG, "line %llu is longer than %u bytes",
                       (unsigned long long)b->index + 1, UC_BATCH_CELL_MAX);
}

/* Splits the chunk into lines; a line's start left over is kept in line. */
static int txt_chunk(struct uc__rowb *b, struct uc_buf *line, const char *p, size_t n) {
  for (const char *nl; !b->rc && (nl = memchr(p, '\n', n)) != NULL;) {
    size_t k = (size_t)(nl - p);
    if (!line->len)
      txt_line(b, p, k);
    else if (uc_buf_add(line, p, k) != UC_OK)
      return too_long(b);
    else
      txt_line(b, line->data, line->len), uc_buf_reset(line);
    p += k + 1, n -= k + 1;
  }
  if (!b->rc && n && uc_buf_add(line, p, n) != UC_OK)
    too_long(b);
  return b->rc;
}

int uc__read_txt(struct uc__src *s, struct uc_batch_layout *layout, struct uc__rowb *b) {
  struct uc_buf line;
  unsigned char *buf = malloc(CHUNK);
  size_t start = 0;
  if (!buf)
    return uc__rowb_fail(b, UC_ENOMEM, "out of memory");
  uc_buf_init(&line, UC_BATCH_CELL_MAX + 1);
  ssize_t got = first_chunk(s, buf, CHUNK, UC_BATCH_TXT, layout, &start);
  for (; got > 0 && !b->rc; start = 0, got = uc__src_read(s, buf, CHUNK))
    txt_chunk(b, &line, (const char *)buf + start, (size_t)got - start);
  if (got < 0)
    read_error(b);
  if (!b->rc && line.len)
    txt_line(b, line.data, line.len);
  uc_buf_release(&line);
  free(buf);
  return b->rc;
}

/* ---- the entry points ---- */

static int read_src(struct uc__src *s, const char *path, enum uc_batch_format f,
                    struct uc_batch_layout *layout, int sep, uc_batch_row_fn fn, void *arg,
                    char *err, size_t es) {
  struct uc__rowb b;
  struct uc_batch_layout ignored;
  if (!layout)
    layout = &ignored;
  memset(layout, 0, sizeof *layout);
  layout->delim = ',';
  uc__rowb_init(&b, fn, arg, err, es);
  uc__rowb_set_sep(&b, sep);
  int rc = f == UC_BATCH_XLSX  ? uc__read_xlsx(path, s->mem, s->len, &b)
           : f == UC_BATCH_TXT ? uc__read_txt(s, layout, &b)
                               : uc__read_csv(s, f, layout, &b);
  uc__rowb_release(&b);
  return rc;
}

int uc__batch_read(const char *path, enum uc_batch_format f, struct uc_batch_layout *layout,
                   int sep, uc_batch_row_fn fn, void *arg, char *err, size_t es) {
  struct uc__src s = {-1, NULL, 0, 0};
  if (f != UC_BATCH_XLSX && (s.fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
    return uc_errorf(err, es, UC_EIO, "%s: %s", path, strerror(errno));
  int rc = read_src(&s, path, f, layout, sep, fn, arg, err, es);
  if (s.fd >= 0)
    close(s.fd);
  return rc;
}

int uc_batch_read(const char *path, enum uc_batch_format f, struct uc_batch_layout *layout,
                  uc_batch_row_fn fn, void *arg, char *err, size_t es) {
  return uc__batch_read(path, f, layout, -1, fn, arg, err, es);
}

int uc_batch_read_mem(const void *data, size_t len, enum uc_batch_format f,
                      struct uc_batch_layout *layout, uc_batch_row_fn fn, void *arg, char *err,
                      size_t es) {
  return uc__batch_read_mem(data, len, f, layout, -1, fn, arg, err, es);
}

int uc__batch_read_mem(const void *data, size_t len, enum uc_batch_format f,
                       struct uc_batch_layout *layout, int sep, uc_batch_row_fn fn, void *arg,
                       char *err, size_t es) {
  struct uc__src s = {-1, data, len, 0};
  return read_src(&s, NULL, f, layout, sep, fn, arg, err, es);
}
