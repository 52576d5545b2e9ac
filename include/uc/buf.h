/* A growing byte buffer with a hard maximum (after curl's dynbuf): the one
 * way libuc and its programs grow memory for data of outside origin.
 *
 * Invariants: len <= cap <= max; when data is not NULL, data[len] is a NUL
 * (so text can be used as a C string); a call that would pass max fails with
 * UC_ETOOBIG and leaves the buffer as it was. See docs/internals/buf.md. */
#ifndef UC_BUF_H
#define UC_BUF_H

#include <stddef.h>

struct uc_buf {
  char *data;  /* NULL until the first byte */
  size_t len;  /* bytes in use */
  size_t cap;  /* bytes usable without growing (one more is kept for the NUL) */
  size_t max;  /* hard limit of len */
  char *fixed; /* caller's storage used first, never freed (may be NULL) */
  size_t fixed_size;
};

/* An empty buffer that refuses to hold more than max bytes. */
void uc_buf_init(struct uc_buf *b, size_t max);
/* Same, starting in the caller's storage[0..size) (which must outlive b);
 * it moves to the heap only when it outgrows it. */
void uc_buf_init_fixed(struct uc_buf *b, size_t max, char *storage, size_t size);
/* Frees what b allocated; b is empty again (same max) and can be reused. */
void uc_buf_release(struct uc_buf *b);
/* Forgets the content, keeps the memory. */
void uc_buf_reset(struct uc_buf *b);

/* Makes room for n more bytes. UC_OK, UC_ETOOBIG (len + n > max) or UC_ENOMEM. */
int uc_buf_reserve(struct uc_buf *b, size_t n);
/* Appends p[0..n). Same results as uc_buf_reserve. Inline when it fits
 * (a batch list appends every cell it reads); uc__buf_add otherwise. */
int uc__buf_add(struct uc_buf *b, const void *p, size_t n);
static inline int uc_buf_add(struct uc_buf *b, const void *p, size_t n) {
  if (!b->data || n > b->cap - b->len)
    return uc__buf_add(b, p, n);
  if (n)
    __builtin_memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = 0;
  return 0; /* UC_OK */
}
int uc_buf_addstr(struct uc_buf *b, const char *s);
int uc_buf_addf(struct uc_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Hands the bytes to the caller (free() them; NUL-terminated; NULL when b
 * holds nothing), copying them out of fixed storage if need be; b is empty
 * afterwards. *len (may be NULL) gets their length. NULL also on ENOMEM. */
char *uc_buf_detach(struct uc_buf *b, size_t *len);

/* Appends the whole file at path. UC_OK; UC_ETOOBIG when it passes max (b
 * keeps what fitted before); UC_ENOTFOUND when there is no such file; UC_EIO. */
int uc_buf_read_file(struct uc_buf *b, const char *path);

/* Replaces the file at path with data[0..len) so that readers see the old
 * file or the new one, never half: written to "path.tmp", flushed, renamed.
 * UC_OK, or UC_EIO (errno says why; the temporary file is removed). */
int uc_file_replace(const char *path, const void *data, size_t len);

/* Arrays of fixed-size records kept in a buffer. */
#define UC_BUF_COUNT(b, type) ((b)->len / sizeof(type))
#define UC_BUF_AT(b, type, i) (((type *)(void *)(b)->data)[i])

#endif
