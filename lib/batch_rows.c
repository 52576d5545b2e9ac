/* The rows file: a list's rows written once while they are parsed and
 * counted, then read back in order to be checked and written, so that a CSV
 * goes through libcsv (or an XLSX through libzip and expat) once.
 *
 * Record of one row (host byte order: the file never leaves the process),
 * as cells (an XLSX result), or as CSV/TSV writes them (batch_int.h):
 *
 *   u32 cells | u32 bytes | cells x u32 (length << 2 | kind) | the cells' bytes
 *   cells | written bytes | address at | address bytes | the row written [| the address]
 *
 * The second's four numbers are LEB128 varints (a usual row's take 4 bytes:
 * the file is written and read once more than the list, so its size counts).
 * The address (trimmed) is where it lies in the row written, or, when its
 * cell had to be quoted there, right after it ("address at" = written bytes).
 *
 * A record is at most RECORD_MAX bytes (the bounds of a row, its cells
 * quoted: each at most doubled, plus its quotes, delimiter and "TRUE" for a
 * boolean's "1"), so a buffer of UC__ROWS_CHUNK + RECORD_MAX always holds a
 * whole one. */
#include "batch_int.h"
#include "uc/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HEAD 8u
#define HEAD_ENC 20u /* at most: four varints of 5 bytes */
#define WRITTEN_MAX (2u * UC_BATCH_ROW_MAX + 8u * UC_BATCH_COLUMNS_MAX)
#define RECORD_MAX (HEAD_ENC + WRITTEN_MAX + UC_BATCH_CELL_MAX)
#define BUF_SIZE (UC__ROWS_CHUNK + RECORD_MAX)

void uc__rows_init(struct uc__rows *r) {
  memset(r, 0, sizeof *r);
  r->fd = -1;
  uc_buf_init(&r->view, UC_BATCH_COLUMNS_MAX * sizeof(struct uc_batch_cell));
}

void uc__rows_release(struct uc__rows *r) {
  if (r->fd >= 0)
    close(r->fd);
  free(r->buf);
  uc_buf_release(&r->view);
  uc__rows_init(r);
}

static int sys_error(const char *what, char *err, size_t es) {
  return uc_errorf(err, es, UC_EIO, "%s the temporary rows file: %s", what, strerror(errno));
}

int uc__rows_open(struct uc__rows *r, const char *dir, char *err, size_t es) {
  char path[4096];
  uc__rows_release(r);
  if (snprintf(path, sizeof path, "%s/.uc-rows-XXXXXX", dir) >= (int)sizeof path)
    return uc_errorf(err, es, UC_EIO, "%s: the directory name is too long", dir);
  if (!(r->buf = malloc(BUF_SIZE)))
    return uc_errorf(err, es, UC_ENOMEM, "out of memory");
  if ((r->fd = mkostemp(path, O_CLOEXEC)) < 0)
    return uc_errorf(err, es, UC_EIO, "%s: cannot create a temporary file: %s", dir,
                     strerror(errno));
  unlink(path); /* it lives as long as the descriptor */
  return UC_OK;
}

static int flush(struct uc__rows *r, char *err, size_t es) {
  for (size_t done = 0; done < r->len;) {
    ssize_t n = write(r->fd, r->buf + done, r->len - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return sys_error("writing", err, es);
    done += (size_t)n;
  }
  r->len = 0;
  return UC_OK;
}

int uc__rows_add(struct uc__rows *r, const struct uc_batch_row *row, char *err, size_t es) {
  unsigned char *p = r->buf + r->len + HEAD;
  size_t bytes = 0, apart = 0; /* cells not right after the one before */
  if (row->n > UC_BATCH_COLUMNS_MAX)
    return uc_errorf(err, es, UC_ETOOBIG, "row %llu has more than %d columns",
                     (unsigned long long)row->index + 1, UC_BATCH_COLUMNS_MAX);
  for (size_t i = 0; i < row->n; i++, p += 4) {
    uint32_t word = (uint32_t)row->cells[i].n << 2 | (row->cells[i].kind & 3u);
    memcpy(p, &word, 4);
    bytes += row->cells[i].n;
    apart += i && row->cells[i].p != row->cells[i - 1].p + row->cells[i - 1].n;
  }
  if (bytes > UC_BATCH_ROW_MAX)
    return uc_errorf(err, es, UC_ETOOBIG, "row %llu is longer than %u bytes",
                     (unsigned long long)row->index + 1, UC_BATCH_ROW_MAX);
  if (!apart && bytes) /* the row builder's cells lie back to back: one copy */
    memcpy(p, row->cells[0].p, bytes);
  for (size_t i = 0, off = 0; apart && i < row->n; off += row->cells[i++].n)
    memcpy(p + off, row->cells[i].p, row->cells[i].n);
  uint32_t head[2] = {(uint32_t)row->n, (uint32_t)bytes};
  memcpy(r->buf + r->len, head, HEAD);
  r->len = (size_t)(p - r->buf) + bytes;
  return r->len >= UC__ROWS_CHUNK ? flush(r, err, es) : UC_OK;
}

/* v as a LEB128 varint at p (at most 5 bytes for 32 bits); the bytes put. */
static size_t put_varint(unsigned char *p, size_t v) {
  size_t k = 0;
  for (; v >= 0x80; v >>= 7)
    p[k++] = (unsigned char)(v | 0x80);
  p[k++] = (unsigned char)v;
  return k;
}

/* A varint from p[*at..n) into *v; 0 when it runs past n or 32 bits. */
static int get_varint(const unsigned char *p, size_t n, size_t *at, uint32_t *v) {
  uint64_t x = 0;
  for (unsigned shift = 0; *at < n && shift < 35; shift += 7) {
    unsigned char b = p[(*at)++];
    x |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *v = (uint32_t)x;
      return x <= UINT32_MAX;
    }
  }
  return 0;
}

/* An encoded record's head at p; its bytes. */
static size_t put_head(unsigned char *p, size_t cells, size_t len, size_t at, size_t addr_len) {
  size_t k = put_varint(p, cells);
  k += put_varint(p + k, len);
  k += put_varint(p + k, at);
  return k + put_varint(p + k, addr_len);
}

int uc__rows_add_encoded(struct uc__rows *r, const uc_batch_writer *w,
                         const struct uc_batch_row *row, int plain, size_t col, const char *addr,
                         size_t addr_len, char *err, size_t es) {
  unsigned char *p = r->buf + r->len, head[HEAD_ENC];
  size_t at = SIZE_MAX, k, len;
  if (row->n > UC_BATCH_COLUMNS_MAX)
    return uc_errorf(err, es, UC_ETOOBIG, "row %llu has more than %d columns",
                     (unsigned long long)row->index + 1, UC_BATCH_COLUMNS_MAX);
  if (plain && addr_len <= UC_BATCH_CELL_MAX) { /* the usual row: one copy */
    len = row->n ? (size_t)(row->cells[row->n - 1].p + row->cells[row->n - 1].n - row->cells[0].p)
                 : 0;
    at = addr_len ? (size_t)(addr - row->cells[0].p) : 0;
    k = put_head(p, row->n, len, at, addr_len);
    memcpy(p + k, row->cells[0].p, len);
    r->len += k + len;
    return r->len >= UC__ROWS_CHUNK ? flush(r, err, es) : UC_OK;
  }
  /* else it goes after the most room its head can take, which then moves up to it */
  if (uc__writer_encode_room(row->cells, row->n) > WRITTEN_MAX || addr_len > UC_BATCH_CELL_MAX)
    return uc_errorf(err, es, UC_ETOOBIG, "row %llu is longer than %u bytes",
                     (unsigned long long)row->index + 1, UC_BATCH_ROW_MAX);
  len = uc__writer_encode(w, row->cells, row->n, (char *)p + HEAD_ENC, col, &at);
  size_t extra = 0;
  if (addr_len && col < row->n && at != SIZE_MAX)
    at += (size_t)(addr - row->cells[col].p);
  else if (addr_len)
    memcpy(p + HEAD_ENC + len, addr, addr_len), at = len, extra = addr_len;
  else
    at = 0;
  k = put_head(head, row->n, len, at, addr_len);
  memcpy(p, head, k);
  memmove(p + k, p + HEAD_ENC, len + extra);
  r->len += k + len + extra;
  return r->len >= UC__ROWS_CHUNK ? flush(r, err, es) : UC_OK;
}

/* Makes at least want bytes readable from r->off: the rest moves to the
 * front and more is read. UC_OK; UC_ENOTFOUND at the end of the file. */
static int fill(struct uc__rows *r, size_t want, char *err, size_t es) {
  if (r->len - r->off >= want)
    return UC_OK;
  memmove(r->buf, r->buf + r->off, r->len - r->off);
  r->len -= r->off, r->off = 0;
  while (r->len < want) {
    /* a chunk at a time, unless a record is larger: the buffer's pages past
     * a chunk are touched only for records that need them */
    size_t upto = want > UC__ROWS_CHUNK ? BUF_SIZE : UC__ROWS_CHUNK;
    ssize_t n = read(r->fd, r->buf + r->len, upto - r->len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return sys_error("reading", err, es);
    if (n == 0)
      return UC_ENOTFOUND;
    r->len += (size_t)n;
  }
  return UC_OK;
}

static int damaged(char *err, size_t es) {
  return uc_errorf(err, es, UC_EIO, "the temporary rows file is damaged (was it truncated?)");
}

/* The row of the record at r->off, its size in *size. */
static int next_row(struct uc__rows *r, struct uc_batch_row *row, size_t *size, char *err,
                    size_t es) {
  uint32_t head[2];
  memcpy(head, r->buf + r->off, HEAD);
  if (head[0] > UC_BATCH_COLUMNS_MAX || head[1] > UC_BATCH_ROW_MAX)
    return damaged(err, es);
  *size = HEAD + 4u * head[0] + head[1];
  int rc = fill(r, *size, err, es);
  if (rc)
    return rc == UC_ENOTFOUND ? damaged(err, es) : rc;
  if (head[0] * sizeof(struct uc_batch_cell) > r->view.cap) {
    uc_buf_reset(&r->view);
    if (uc_buf_reserve(&r->view, head[0] * sizeof(struct uc_batch_cell)))
      return uc_errorf(err, es, UC_ENOMEM, "out of memory");
  }
  struct uc_batch_cell *cells = (struct uc_batch_cell *)(void *)r->view.data;
  const unsigned char *w = r->buf + r->off + HEAD;
  const char *p = (const char *)w + 4u * head[0], *end = p + head[1];
  for (uint32_t i = 0; i < head[0]; i++, w += 4) {
    uint32_t word;
    memcpy(&word, w, 4);
    if ((size_t)(end - p) < word >> 2)
      return damaged(err, es);
    cells[i] = (struct uc_batch_cell){p, word >> 2, (uint8_t)(word & 3u)};
    p += word >> 2;
  }
  if (p != end)
    return damaged(err, es);
  row->cells = cells, row->n = head[0];
  return UC_OK;
}

/* Back to the first record, everything added written out first. */
static int rewind_rows(struct uc__rows *r, char *err, size_t es) {
  int rc = flush(r, err, es);
  if (rc)
    return rc;
  if (lseek(r->fd, 0, SEEK_SET) < 0)
    return sys_error("rewinding", err, es);
  r->off = 0;
  return UC_OK;
}

/* Whether a record starts at r->off (UC_OK), or the file ended (UC_ENOTFOUND):
 * only between records. */
static int next_head(struct uc__rows *r, size_t head, char *err, size_t es) {
  int rc = fill(r, head, err, es);
  return rc != UC_ENOTFOUND ? rc : r->len == r->off ? UC_ENOTFOUND : damaged(err, es);
}

int uc__rows_replay(struct uc__rows *r, uc_batch_row_fn fn, void *arg, char *err, size_t es) {
  int rc = rewind_rows(r, err, es);
  for (uint64_t index = 0; !rc; index++) {
    struct uc_batch_row row = {NULL, 0, index};
    size_t size = 0;
    if ((rc = next_head(r, HEAD, err, es)) != UC_OK)
      return rc == UC_ENOTFOUND ? UC_OK : rc;
    if ((rc = next_row(r, &row, &size, err, es)) != UC_OK)
      return rc;
    if ((rc = fn(arg, &row)) != 0)
      return rc;
    r->off += size;
  }
  return rc;
}

int uc__rows_replay_encoded(struct uc__rows *r, uc__enc_row_fn fn, void *arg, char *err,
                            size_t es) {
  int rc = rewind_rows(r, err, es);
  for (uint64_t index = 0; !rc; index++) {
    uint32_t cells, len, at, addr_len;
    size_t k = 0;
    /* the head: up to HEAD_ENC bytes, fewer at the end of the file */
    if ((rc = fill(r, HEAD_ENC, err, es)) != UC_OK && rc != UC_ENOTFOUND)
      return rc;
    if (rc == UC_ENOTFOUND && r->len == r->off)
      return UC_OK;
    const unsigned char *h = r->buf + r->off;
    size_t have = r->len - r->off;
    if (have >= 4 && !((h[0] | h[1] | h[2] | h[3]) & 0x80)) /* a row under 128 bytes */
      cells = h[0], len = h[1], at = h[2], addr_len = h[3], k = 4;
    else if (!get_varint(h, have, &k, &cells) || !get_varint(h, have, &k, &len) ||
             !get_varint(h, have, &k, &at) || !get_varint(h, have, &k, &addr_len))
      return damaged(err, es);
    if (cells > UC_BATCH_COLUMNS_MAX || len > WRITTEN_MAX || addr_len > UC_BATCH_CELL_MAX ||
        (addr_len && at > len) || (at < len && addr_len > len - at))
      return damaged(err, es);
    size_t extra = addr_len && at == len ? addr_len : 0, size = k + (size_t)len + extra;
    if ((rc = fill(r, size, err, es)) != UC_OK)
      return rc == UC_ENOTFOUND ? damaged(err, es) : rc;
    const char *p = (const char *)r->buf + r->off + k;
    struct uc__enc_row row = {p, len, cells, addr_len ? p + at : NULL, addr_len, index};
    if ((rc = fn(arg, &row)) != 0)
      return rc;
    r->off += size;
  }
  return rc;
}
