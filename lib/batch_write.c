/* Writing a cleaned list: CSV and TSV with libcsv's quoting (a cell is
 * quoted only when it must be), XLSX with libxlsxwriter in constant memory.
 * Files are written beside their final name (NAME.part) and renamed into
 * place once complete and synced: a reader never sees half a result. */
#include "uc/batch.h"
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
#define ONES 0x0101010101010101u

struct uc_batch_writer {
  enum uc_batch_format f;
  char *path, *part; /* NULL path: standard output */
  FILE *fp;
  char delim;
  const char *eol;
  size_t eol_len;
  uint64_t delims; /* the delimiter in every byte */
  char *out;       /* CSV/TSV: OUT_SIZE bytes waiting to be written */
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
  w->delims = ONES * (unsigned char)w->delim;
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

/* Bytes of v that are zero: their high bit set, the others clear. */
static inline uint64_t zero_bytes(uint64_t v) {
  return (v - ONES) & ~v & (ONES << 7);
}

/* Puts p[0..n) at d (room for 2n + 2 bytes): as it is, or quoted by libcsv
 * when it holds the delimiter, a quote or a line end. Its length there.
 * Copied while looked at, 8 bytes at a time: most cells need no quotes. */
static size_t encode(const uc_batch_writer *w, char *d, const char *p, size_t n) {
  uint64_t hit = 0;
  size_t i = 0;
  for (uint64_t v; i + 8 <= n; i += 8) {
    memcpy(&v, p + i, 8);
    memcpy(d + i, &v, 8);
    hit |= zero_bytes(v ^ w->delims) | zero_bytes(v ^ (ONES * '"')) |
           zero_bytes(v ^ (ONES * '\r')) | zero_bytes(v ^ (ONES * '\n'));
  }
  for (; i < n; i++)
    d[i] = p[i], hit |= w->quoted[(unsigned char)p[i]];
  return hit ? csv_write(d, 2 * n + 2, p, n) : n;
}

/* Appends a cell, after a delimiter unless it is the row's first. An XLSX
 * boolean is written as spreadsheets show it. */
static int text_cell(uc_batch_writer *w, const struct uc_batch_cell *c, int first, char *err,
                     size_t es) {
  const char *p = c->p;
  size_t n = c->n;
  if (c->kind == UC_CELL_BOOL)
    p = n == 1 && p[0] == '0' ? "FALSE" : "TRUE", n = strlen(p);
  if (n > (OUT_SIZE - 3) / 2) { /* too big for the buffer: straight to the file */
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
  w->out_len += encode(w, w->out + w->out_len, p, n);
  return UC_OK;
}

static int text_row(uc_batch_writer *w, const struct uc_batch_cell *cells, size_t n,
                    const struct uc_batch_cell *extra, size_t nextra, char *err, size_t es) {
  size_t eol = w->eol_len;
  for (size_t i = 0; i < n + nextra; i++)
    if (text_cell(w, i < n ? &cells[i] : &extra[i - n], i == 0, err, es))
      return UC_EIO;
  if (eol > OUT_SIZE - w->out_len && flush_text(w, err, es))
    return UC_EIO;
  memcpy(w->out + w->out_len, w->eol, eol);
  w->out_len += eol;
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
