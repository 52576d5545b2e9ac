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

/* One row being built from cells, then handed to the caller's callback. */
struct uc__rowb {
  struct uc_buf bytes; /* the cells' bytes, back to back (UC_BATCH_ROW_MAX) */
  struct uc_buf cells; /* struct uc__cellref */
  struct uc_buf view;  /* struct uc_batch_cell, built when the row is handed over */
  uint64_t index;      /* of the next row */
  uc_batch_row_fn fn;
  void *arg;
  int rc; /* first error, or the callback's non-zero answer: stop */
  char *err;
  size_t es;
};
struct uc__cellref {
  size_t off, n;
  uint8_t kind;
};

void uc__rowb_init(struct uc__rowb *b, uc_batch_row_fn fn, void *arg, char *err, size_t es);
void uc__rowb_release(struct uc__rowb *b);
/* Adds a cell (checked: size, count, UTF-8). Returns b->rc. */
int uc__rowb_cell(struct uc__rowb *b, const char *p, size_t n, uint8_t kind);
/* Hands the row over (cells 0: a blank row) and starts the next. Returns b->rc. */
int uc__rowb_emit(struct uc__rowb *b);
/* Records the first error (err says it) and returns it. */
int uc__rowb_fail(struct uc__rowb *b, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The readers, one per file kind. */
int uc__read_csv(struct uc__src *s, enum uc_batch_format f, struct uc_batch_layout *layout,
                 struct uc__rowb *b);
int uc__read_txt(struct uc__src *s, struct uc_batch_layout *layout, struct uc__rowb *b);
/* XLSX: from the file at path, or from mem[0..len) when path is NULL. */
int uc__read_xlsx(const char *path, const void *mem, size_t len, struct uc__rowb *b);

#endif
