/* Writing a cleaned list: CSV and TSV with libcsv's quoting (a cell is
 * quoted only when it must be), XLSX with libxlsxwriter in constant memory.
 * Files are written beside their final name (NAME.part) and renamed into
 * place once complete and synced: a reader never sees half a result. */
#include "batch_int.h"
#include "uc/error.h"

#include <csv.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xlsxwriter.h>

/* CSV/TSV rows are put together in one buffer of OUT_SIZE bytes, written
 * when full: no stdio call per cell. */
#define OUT_SIZE (1u << 20)

struct uc_batch_writer {
  enum uc_batch_format f;
  char *path, *part; /* NULL path: standard output */
  FILE *fp;
  char delim;
  const char *eol;
  size_t eol_len;
  char *out; /* CSV/TSV: OUT_SIZE bytes waiting to be written */
  size_t out_len;
  unsigned char quoted[256]; /* bytes that make a cell quoted: the delimiter, '"', CR, LF */
  lxw_workbook *wb;
  lxw_worksheet *ws;
  uint32_t row;
  char *scratch; /* a cell as a C string, for libxlsxwriter */
  size_t scratch_size;
  unsigned flags;
};

static char *dup_cat(const char *a, const char *b) {
  size_t n = strlen(a), m = strlen(b);
  char *s = malloc(n + m + 1);
  if (s)
    memcpy(s, a, n), memcpy(s + n, b, m + 1);
  return s;
}

static int open_text(uc_batch_writer *w, const struct uc_batch_layout *layout, char *err,
                     size_t es) {
  w->fp = w->path ? fopen(w->part, "we") : stdout;
  if (!w->fp)
    return uc_errorf(err, es, UC_EIO, "%s: %s", w->part, strerror(errno));
  if (w->path)
    setvbuf(w->fp, NULL, _IOFBF, 1 << 20);
  w->delim = w->f == UC_BATCH_TSV ? '\t' : layout && layout->delim ? layout->delim : ',';
  if (w->f == UC_BATCH_CSV && w->delim == '\t')
    w->delim = ','; /* a TSV written as CSV */
  w->eol = !layout || layout->crlf ? "\r\n" : "\n";
  w->eol_len = strlen(w->eol);
  if (!(w->out = malloc(OUT_SIZE)))
    return uc_errorf(err, es, UC_ENOMEM, "out of memory");
  w->quoted[(unsigned char)w->delim] = w->quoted['"'] = w->quoted['\r'] = w->quoted['\n'] = 1;
  if (layout && layout->bom)
    fputs("\xEF\xBB\xBF", w->fp);
  return UC_OK;
}

static int open_xlsx(uc_batch_writer *w, const char *tmpdir, char *err, size_t es) {
  lxw_workbook_options o = {.constant_memory = LXW_TRUE, .tmpdir = (char *)tmpdir};
  if (!w->path)
    return uc_errorf(err, es, UC_EINVAL, "XLSX cannot be written to standard output");
  w->wb = workbook_new_opt(w->part, &o);
  w->ws = w->wb ? workbook_add_worksheet(w->wb, NULL) : NULL;
  if (!w->ws)
    return uc_errorf(err, es, UC_EIO, "%s: cannot start the workbook", w->part);
  return UC_OK;
}

int uc_batch_writer_open(const char *path, enum uc_batch_format f,
                         const struct uc_batch_layout *layout, const char *tmpdir, unsigned flags,
                         uc_batch_writer **out, char *err, size_t es) {
  uc_batch_writer *w = calloc(1, sizeof *w);
  int rc = UC_ENOMEM;
  *out = NULL;
  if (!w)
    return uc_errorf(err, es, rc, "out of memory");
  w->f = f == UC_BATCH_TXT ? UC_BATCH_CSV : f;
  w->flags = flags;
  if (strcmp(path, "-") != 0 && (!(w->path = strdup(path)) || !(w->part = dup_cat(path, ".part"))))
    goto out;
  rc = w->f == UC_BATCH_XLSX ? open_xlsx(w, tmpdir, err, es) : open_text(w, layout, err, es);
out:
  if (rc) {
    if (rc == UC_ENOMEM)
      uc_errorf(err, es, rc, "out of memory");
    uc_batch_writer_abort(w);
    return rc;
  }
  *out = w;
  return UC_OK;
}

static int write_error(char *err, size_t es) {
  return uc_errorf(err, es, UC_EIO, "writing the result: %s", strerror(errno));
}

static int flush_text(uc_batch_writer *w, char *err, size_t es) {
  size_t n = w->out_len;
  w->out_len = 0;
  return n && fwrite_unlocked(w->out, 1, n, w->fp) != n ? write_error(err, es) : UC_OK;
}

/* 16 bytes at once (GCC's vector extensions: SSE2 on x86-64, NEON on arm64). */
typedef unsigned char v16 __attribute__((vector_size(16)));
typedef signed char m16 __attribute__((vector_size(16)));

int uc__quote_bytes(const unsigned char quoted[256], char delim, const char *p, size_t n) {
  if (n < 16) {
    unsigned char hit = 0;
    for (size_t i = 0; i < n; i++)
      hit |= quoted[(unsigned char)p[i]];
    return hit;
  }
  v16 d = (v16){0} + (unsigned char)delim, v;
  m16 hit = {0};
  for (size_t i = 0;; i += 16) {
    memcpy(&v, p + (i + 16 <= n ? i : n - 16), 16);
    hit |= (v == d) | (v == '"') | (v == '\r') | (v == '\n');
    if (i + 16 >= n)
      break;
  }
  uint64_t half[2];
  memcpy(half, &hit, sizeof half);
  return (half[0] | half[1]) != 0;
}

/* Whether p[0..n) holds a byte that makes a cell quoted. */
static int needs_quotes(const uc_batch_writer *w, const char *p, size_t n) {
  return uc__quote_bytes(w->quoted, w->delim, p, n);
}

/* A cell's text: an XLSX boolean as spreadsheets show it. */
static void cell_text(const struct uc_batch_cell *c, const char **p, size_t *n) {
  *p = c->p, *n = c->n;
  if (c->kind == UC_CELL_BOOL)
    *p = c->n == 1 && c->p[0] == '0' ? "FALSE" : "TRUE", *n = strlen(*p);
}

/* Puts p[0..n) at d, where there is room for 2n + 2 bytes: as it is, or
 * quoted by libcsv; the bytes put. A short cell is copied while it is looked at. */
static size_t cell_at(const uc_batch_writer *w, char *d, const char *p, size_t n) {
  if (n < 16) {
    unsigned char hit = 0;
    for (size_t i = 0; i < n; i++)
      d[i] = p[i], hit |= w->quoted[(unsigned char)p[i]];
    return hit ? csv_write(d, 2 * n + 2, p, n) : n;
  }
  if (needs_quotes(w, p, n))
    return csv_write(d, 2 * n + 2, p, n);
  memcpy(d, p, n);
  return n;
}

/* Appends p[0..n) where there is room for 2n + 2 bytes. */
static void put_cell(uc_batch_writer *w, const char *p, size_t n) {
  w->out_len += cell_at(w, w->out + w->out_len, p, n);
}

/* Appends a cell, after a delimiter unless it is the row's first; one too
 * big for the buffer goes straight to the file. */
static int text_cell(uc_batch_writer *w, const struct uc_batch_cell *c, int first, char *err,
                     size_t es) {
  const char *p;
  size_t n;
  cell_text(c, &p, &n);
  if (n > (OUT_SIZE - 3) / 2) {
    if (flush_text(w, err, es))
      return UC_EIO;
    if (!first)
      putc_unlocked(w->delim, w->fp);
    csv_fwrite(w->fp, p, n);
    return ferror(w->fp) ? write_error(err, es) : UC_OK;
  }
  if (2 * n + 3 > OUT_SIZE - w->out_len && flush_text(w, err, es))
    return UC_EIO;
  if (!first)
    w->out[w->out_len++] = w->delim;
  put_cell(w, p, n);
  return UC_OK;
}

/* The most bytes cells[0..n) can take: each doubled and quoted, a delimiter
 * after; *plain says whether they lie back to back and none is a boolean
 * (as the rows file hands a row over). */
static size_t row_room(const struct uc_batch_cell *cells, size_t n, int *plain) {
  size_t room = 0;
  *plain = n > 0;
  for (size_t i = 0; i < n; i++) {
    room += 2 * cells[i].n + 3 + 5 * (cells[i].kind == UC_CELL_BOOL);
    *plain &=
        cells[i].kind != UC_CELL_BOOL && (!i || cells[i].p == cells[i - 1].p + cells[i - 1].n);
  }
  return room;
}

/* Puts cells[0..n) at d as a row's cells, each after a delimiter but the
 * first (room made by row_room); the bytes put. When they lie back to back
 * and hold nothing to quote (one scan of them all), each is copied as it is;
 * else cell by cell. *col_at (col < n): where cell col's own bytes went, or
 * SIZE_MAX when they were changed (quoted, or a boolean's text). */
static size_t cells_at(const uc_batch_writer *w, char *d, const struct uc_batch_cell *cells,
                       size_t n, int plain, size_t col, size_t *col_at) {
  const char *p;
  size_t bytes = 0, k, at = 0;
  for (size_t i = 0; plain && i < n; i++)
    bytes += cells[i].n;
  plain = plain && !needs_quotes(w, cells[0].p, bytes);
  for (size_t i = 0; i < n; i++) {
    if (i)
      d[at++] = w->delim;
    cell_text(&cells[i], &p, &k);
    size_t put = plain ? (memcpy(d + at, p, k), k) : cell_at(w, d + at, p, k);
    if (i == col)
      *col_at = put == k && p == cells[i].p ? at : SIZE_MAX;
    at += put;
  }
  return at;
}

/* After `before` cells of a row, in a buffer with room: extra, each after a
 * delimiter but the row's first, then the line end. */
static void put_extra(uc_batch_writer *w, size_t before, const struct uc_batch_cell *extra,
                      size_t nextra) {
  const char *p;
  size_t k;
  for (size_t i = 0; i < nextra; i++) {
    if (before + i)
      w->out[w->out_len++] = w->delim;
    cell_text(&extra[i], &p, &k);
    put_cell(w, p, k);
  }
  memcpy(w->out + w->out_len, w->eol, w->eol_len);
  w->out_len += w->eol_len;
}

/* A row that fits in the buffer (room was made). */
static void put_row(uc_batch_writer *w, const struct uc_batch_cell *cells, size_t n, int plain,
                    const struct uc_batch_cell *extra, size_t nextra) {
  w->out_len += cells_at(w, w->out + w->out_len, cells, n, plain, SIZE_MAX, NULL);
  put_extra(w, n, extra, nextra);
}

static int text_row(uc_batch_writer *w, const struct uc_batch_cell *cells, size_t n,
                    const struct uc_batch_cell *extra, size_t nextra, char *err, size_t es) {
  int plain, ignored;
  size_t room = row_room(cells, n, &plain) + row_room(extra, nextra, &ignored) + w->eol_len;
  if (room <= OUT_SIZE / 2) { /* the usual row: room made once */
    if (room > OUT_SIZE - w->out_len && flush_text(w, err, es))
      return UC_EIO;
    put_row(w, cells, n, plain, extra, nextra);
    return UC_OK;
  }
  for (size_t i = 0; i < n + nextra; i++)
    if (text_cell(w, i < n ? &cells[i] : &extra[i - n], i == 0, err, es))
      return UC_EIO;
  if (w->eol_len > OUT_SIZE - w->out_len && flush_text(w, err, es))
    return UC_EIO;
  memcpy(w->out + w->out_len, w->eol, w->eol_len);
  w->out_len += w->eol_len;
  return UC_OK;
}

static const char *c_string(uc_batch_writer *w, const struct uc_batch_cell *c) {
  if (c->n + 1 > w->scratch_size) {
    char *p = realloc(w->scratch, c->n + 1);
    if (!p)
      return NULL;
    w->scratch = p, w->scratch_size = c->n + 1;
  }
  memcpy(w->scratch, c->p, c->n);
  w->scratch[c->n] = 0;
  return w->scratch;
}

static lxw_error xlsx_cell(uc_batch_writer *w, lxw_col_t col, const struct uc_batch_cell *c) {
  const char *s = c->n ? c_string(w, c) : NULL;
  if (!c->n)
    return LXW_NO_ERROR; /* an empty cell stays empty */
  if (!s)
    return LXW_ERROR_MEMORY_MALLOC_FAILED;
  if (c->kind == UC_CELL_BOOL)
    return worksheet_write_boolean(w->ws, w->row, col, strcmp(s, "0") != 0, NULL);
  if (c->kind == UC_CELL_NUMBER) {
    char *end;
    double d = strtod(s, &end);
    if (!*end)
      return worksheet_write_number(w->ws, w->row, col, d, NULL);
  }
  return worksheet_write_string(w->ws, w->row, col, s, NULL);
}

static int xlsx_row(uc_batch_writer *w, const struct uc_batch_cell *cells, size_t n,
                    const struct uc_batch_cell *extra, size_t nextra, char *err, size_t es) {
  if (w->row >= UC_BATCH_XLSX_ROWS)
    return uc_errorf(err, es, UC_ETOOBIG, "more than %d rows cannot go into XLSX: choose CSV",
                     UC_BATCH_XLSX_ROWS);
  for (size_t i = 0; i < n + nextra; i++) {
    if (i >= LXW_COL_MAX)
      return uc_errorf(err, es, UC_ETOOBIG, "more than %d columns cannot go into XLSX",
                       LXW_COL_MAX);
    lxw_error e = xlsx_cell(w, (lxw_col_t)i, i < n ? &cells[i] : &extra[i - n]);
    if (e)
      return uc_errorf(err, es, e == LXW_ERROR_MAX_STRING_LENGTH_EXCEEDED ? UC_ETOOBIG : UC_EIO,
                       "row %u, column %zu: %s", w->row + 1, i + 1, lxw_strerror(e));
  }
  w->row++;
  return UC_OK;
}

int uc_batch_writer_row(uc_batch_writer *w, const struct uc_batch_cell *cells, size_t n,
                        const struct uc_batch_cell *extra, size_t nextra, char *err, size_t es) {
  return w->f == UC_BATCH_XLSX ? xlsx_row(w, cells, n, extra, nextra, err, es)
                               : text_row(w, cells, n, extra, nextra, err, es);
}

/* ---- rows kept written (CSV/TSV): batch_int.h ---- */

char uc__writer_delim(const uc_batch_writer *w) {
  return w->delim;
}

size_t uc__writer_encode_room(const struct uc_batch_cell *cells, size_t n) {
  int plain;
  return row_room(cells, n, &plain);
}

size_t uc__writer_encode(const uc_batch_writer *w, const struct uc_batch_cell *cells, size_t n,
                         char *d, size_t col, size_t *col_at) {
  int plain = n > 0;
  for (size_t i = 1; plain && i < n; i++)
    plain = cells[i].p == cells[i - 1].p + cells[i - 1].n;
  for (size_t i = 0; plain && i < n; i++)
    plain = cells[i].kind != UC_CELL_BOOL;
  return cells_at(w, d, cells, n, plain, col, col_at);
}

/* Appends p[0..n) to what is waiting, or (too large for it) to the file. */
static int put_bytes(uc_batch_writer *w, const char *p, size_t n, char *err, size_t es) {
  if (n > OUT_SIZE - w->out_len && flush_text(w, err, es))
    return UC_EIO;
  if (n > OUT_SIZE)
    return fwrite_unlocked(p, 1, n, w->fp) != n ? write_error(err, es) : UC_OK;
  memcpy(w->out + w->out_len, p, n);
  w->out_len += n;
  return UC_OK;
}

int uc__writer_encoded_row(uc_batch_writer *w, const char *enc, size_t len, size_t n, size_t width,
                           const char *tail, size_t tail_len, char *err, size_t es) {
  size_t pad = width > n ? width - n : 0;
  size_t room = len + pad + 1 + tail_len + w->eol_len;
  if (room > OUT_SIZE - w->out_len && flush_text(w, err, es))
    return UC_EIO;
  if (room > OUT_SIZE) { /* a row of megabytes: piece by piece */
    char delim = w->delim;
    if (put_bytes(w, enc, len, err, es))
      return UC_EIO;
    for (size_t i = n; i < n + pad; i++)
      if (i && put_bytes(w, &delim, 1, err, es))
        return UC_EIO;
    if (n + pad && put_bytes(w, &delim, 1, err, es))
      return UC_EIO;
    return put_bytes(w, tail, tail_len, err, es) || put_bytes(w, w->eol, w->eol_len, err, es)
               ? UC_EIO
               : UC_OK;
  }
  char *d = w->out + w->out_len;
  memcpy(d, enc, len);
  d += len;
  for (size_t i = n; i < n + pad; i++)
    if (i)
      *d++ = w->delim;
  if (n + pad) /* the added cells' first comes after a delimiter unless it is the row's first */
    *d++ = w->delim;
  memcpy(d, tail, tail_len);
  d += tail_len;
  *d++ = w->eol[0];
  if (w->eol_len == 2)
    *d++ = w->eol[1];
  w->out_len = (size_t)(d - w->out);
  return UC_OK;
}

/* Gives the finished part its final name, durable first when asked. */
static int publish(uc_batch_writer *w, char *err, size_t es) {
  int rc = UC_OK;
  if (w->flags & UC_BATCH_WRITE_SYNC) {
    int fd = open(w->part, O_RDONLY | O_CLOEXEC);
    rc = fd >= 0 && fsync(fd) == 0 ? UC_OK : UC_EIO;
    if (fd >= 0)
      close(fd);
  }
  if (rc == UC_OK && rename(w->part, w->path) != 0)
    rc = UC_EIO;
  return rc ? uc_errorf(err, es, rc, "%s: %s", w->path, strerror(errno)) : UC_OK;
}

int uc_batch_writer_close(uc_batch_writer *w, char *err, size_t es) {
  int rc = UC_OK;
  if (w->wb) {
    lxw_error e = workbook_close(w->wb);
    w->wb = NULL;
    if (e)
      rc = uc_errorf(err, es, UC_EIO, "writing the workbook: %s", lxw_strerror(e));
  } else if (w->fp) {
    int bad = flush_text(w, err, es) != UC_OK || fflush(w->fp) != 0 || ferror(w->fp);
    if (w->fp != stdout && fclose(w->fp) != 0)
      bad = 1;
    w->fp = NULL;
    if (bad)
      rc = uc_errorf(err, es, UC_EIO, "writing the result: %s", strerror(errno));
  }
  if (rc == UC_OK && w->path)
    rc = publish(w, err, es);
  if (rc && w->part)
    unlink(w->part);
  free(w->path);
  free(w->part);
  free(w->scratch);
  free(w->out);
  free(w);
  return rc;
}

void uc_batch_writer_abort(uc_batch_writer *w) {
  if (!w)
    return;
  if (w->wb) /* libxlsxwriter has no way to drop a workbook but writing it */
    workbook_close(w->wb);
  if (w->fp == stdout) /* what was written stays written, as a pipe would have it */
    flush_text(w, NULL, 0);
  else if (w->fp)
    fclose(w->fp);
  if (w->part)
    unlink(w->part);
  free(w->path);
  free(w->part);
  free(w->scratch);
  free(w->out);
  free(w);
}
