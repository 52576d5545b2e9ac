/* Internal to the batch readers: where bytes come from (a file or memory) and
 * the row being built, with the bounds of include/uc/batch.h applied once. */
#ifndef UC_LIB_BATCH_INT_H
#define UC_LIB_BATCH_INT_H

#include "uc/batch.h"
#include "uc/buf.h"

#include <sys/types.h>

/* Bytes to read: a file descriptor or a memory range. */
struct uc__src {
  int fd; /* -1: memory */
  const unsigned char *mem;
  size_t len, off;
};
/* Up to cap bytes into buf: the count, 0 at the end, -1 on a read error. */
ssize_t uc__src_read(struct uc__src *s, void *buf, size_t cap);

/* One row being built from cells, then handed to the caller's callback.
 * The cells point into bytes (when bytes grows, the row's cells are moved
 * with it), so that the row is handed over as it is. */
struct uc__rowb {
  struct uc_buf bytes;    /* the cells' bytes, back to back or sep apart */
  int sep;                /* -1, or a byte put between cells (uc__batch_read) */
  size_t raw;             /* the cells' own bytes in the row (UC_BATCH_ROW_MAX) */
  struct uc_buf cells;    /* struct uc_batch_cell, pointing into bytes */
  int plain;              /* sep: no cell of the row holds sep, '"', CR or LF, or is a boolean */
  unsigned char odd[256]; /* sep: those bytes */
  uint64_t index;         /* of the next row */
  uc_batch_row_fn fn;
  void *arg;
  int rc; /* first error, or the callback's non-zero answer: stop */
  char *err;
  size_t es;
};
/* A row as a reader given a separator hands it over (uc__batch_read): the
 * callback's row is the first member, so that one that asked for it can
 * find plain (then the cells lie sep apart in one buffer and hold nothing
 * a CSV writer with sep as its delimiter quotes). */
struct uc__row {
  struct uc_batch_row row;
  int plain;
};

void uc__rowb_init(struct uc__rowb *b, uc_batch_row_fn fn, void *arg, char *err, size_t es);
/* Puts sep (-1: nothing) between the cells of the rows built from now on. */
void uc__rowb_set_sep(struct uc__rowb *b, int sep);
void uc__rowb_release(struct uc__rowb *b);
/* Adds a cell (checked: size, count, UTF-8). Returns b->rc. */
int uc__rowb_cell(struct uc__rowb *b, const char *p, size_t n, uint8_t kind);
/* Hands the row over (cells 0: a blank row) and starts the next. Returns b->rc. */
int uc__rowb_emit(struct uc__rowb *b);
/* Records the first error (err says it) and returns it. */
int uc__rowb_fail(struct uc__rowb *b, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The rows of a list kept between uc_batch_clean's two passes, so that the
 * file is read and parsed once (batch_rows.c; docs/internals/batch.md has the
 * record layout). An unlinked temporary file: nothing is left behind, even
 * by a crash. Rows are added in order, then replayed in the same order with
 * the same cells, kinds and indexes. Bounded by the bounds of a row. */
struct uc__rows {
  int fd;             /* -1: not open */
  unsigned char *buf; /* UC__ROWS_CHUNK + one record */
  size_t len, off;    /* bytes in buf, and (replaying) bytes of them used */
  struct uc_buf view; /* struct uc_batch_cell: the row being replayed */
};
#define UC__ROWS_CHUNK (1u << 20)

void uc__rows_init(struct uc__rows *r);
/* Creates the file in dir. UC_OK, or UC_EIO/UC_ENOMEM with err saying why. */
int uc__rows_open(struct uc__rows *r, const char *dir, char *err, size_t es);
/* Appends a row (within the bounds of include/uc/batch.h). UC_OK, or UC_EIO
 * (err says why). */
int uc__rows_add(struct uc__rows *r, const struct uc_batch_row *row, char *err, size_t es);
/* Calls fn for every row added, in order, from the first; fn's non-zero
 * answer stops it and is returned. UC_OK or UC_EIO (err says why). */
int uc__rows_replay(struct uc__rows *r, uc_batch_row_fn fn, void *arg, char *err, size_t es);
/* Closes the file (which goes with it) and frees the buffers; r can be opened again. */
void uc__rows_release(struct uc__rows *r);

/* Rows kept as CSV/TSV writes them (batch_rows.c, batch_write.c): when the
 * result is CSV or TSV, uc_batch_clean's first pass writes each row's own
 * cells into the rows file the way the writer puts them (joined by its
 * delimiter, quoted where they must be), and the second pass copies them
 * out, so that nothing is measured, scanned or quoted twice. The address
 * (trimmed) is kept after them as it was read. */
struct uc__enc_row {
  const char *enc; /* the row's own cells, written */
  size_t len;
  size_t cells;     /* how many: the result pads the row to the widest after them */
  const char *addr; /* NULL: the row has no address (a blank row) */
  size_t addr_len;
  uint64_t index;
};
typedef int (*uc__enc_row_fn)(void *arg, const struct uc__enc_row *row);

/* The most bytes uc__writer_encode puts for cells[0..n). */
size_t uc__writer_encode_room(const struct uc_batch_cell *cells, size_t n);
/* Puts cells[0..n) at d as w writes a row's own cells (no line end); the
 * bytes put. *col_at (when col < n): where cell col's bytes are, as they
 * were, in what was put; SIZE_MAX when they were quoted. */
size_t uc__writer_encode(const uc_batch_writer *w, const struct uc_batch_cell *cells, size_t n,
                         char *d, size_t col, size_t *col_at);
/* Appends a row from uc__writer_encode's n cells enc[0..len), padded with
 * empty cells to width, then the added cells tail[0..tail_len) (also from
 * uc__writer_encode): what uc_batch_writer_row writes for the same cells so
 * padded. CSV/TSV writers only. */
int uc__writer_encoded_row(uc_batch_writer *w, const char *enc, size_t len, size_t n, size_t width,
                           const char *tail, size_t tail_len, char *err, size_t es);

/* Appends a row as w writes it, with its address addr[0..addr_len) (NULL:
 * none), which lies in the row's cell col. plain: the row is a struct
 * uc__row read with w's delimiter as its separator, with plain set (it is
 * copied as it lies). */
int uc__rows_add_encoded(struct uc__rows *r, const uc_batch_writer *w,
                         const struct uc_batch_row *row, int plain, size_t col, const char *addr,
                         size_t addr_len, char *err, size_t es);
/* uc__rows_replay for rows added by uc__rows_add_encoded. */
int uc__rows_replay_encoded(struct uc__rows *r, uc__enc_row_fn fn, void *arg, char *err, size_t es);

/* uc_batch_read with the bytes of each row's cells sep apart (-1: back to
 * back), so that a row to be written with sep as its delimiter often is
 * already (struct uc__row's plain). */
int uc__batch_read(const char *path, enum uc_batch_format f, struct uc_batch_layout *layout,
                   int sep, uc_batch_row_fn fn, void *arg, char *err, size_t es);
int uc__batch_read_mem(const void *data, size_t len, enum uc_batch_format f,
                       struct uc_batch_layout *layout, int sep, uc_batch_row_fn fn, void *arg,
                       char *err, size_t es);
/* Whether p[0..n) holds a byte that makes a CSV cell quoted: one that
 * quoted[] names, which must be delim, '"', CR and LF (16 bytes at a time
 * from 16 on; the table for shorter ones). */
int uc__quote_bytes(const unsigned char quoted[256], char delim, const char *p, size_t n);
/* The delimiter a CSV/TSV writer puts between cells. */
char uc__writer_delim(const uc_batch_writer *w);

/* The readers, one per file kind. */
int uc__read_csv(struct uc__src *s, enum uc_batch_format f, struct uc_batch_layout *layout,
                 struct uc__rowb *b);
int uc__read_txt(struct uc__src *s, struct uc_batch_layout *layout, struct uc__rowb *b);
/* XLSX: from the file at path, or from mem[0..len) when path is NULL. */
int uc__read_xlsx(const char *path, const void *mem, size_t len, struct uc__rowb *b);

#endif
