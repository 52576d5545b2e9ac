/* The capped dynamic buffer (include/uc/buf.h). */
#include "uc/buf.h"
#include "uc/error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void uc_buf_init(struct uc_buf *b, size_t max) {
  memset(b, 0, sizeof *b);
  b->max = max;
}

void uc_buf_init_fixed(struct uc_buf *b, size_t max, char *storage, size_t size) {
  uc_buf_init(b, max);
  if (storage && size > 1) {
    b->fixed = storage, b->fixed_size = size;
    b->data = storage, b->cap = size - 1 < max ? size - 1 : max, storage[0] = 0;
  }
}

void uc_buf_release(struct uc_buf *b) {
  if (b->data != b->fixed)
    free(b->data);
  uc_buf_init_fixed(b, b->max, b->fixed, b->fixed_size);
}

void uc_buf_reset(struct uc_buf *b) {
  b->len = 0;
  if (b->data)
    b->data[0] = 0;
}

int uc_buf_reserve(struct uc_buf *b, size_t n) {
  if (n > b->max - b->len)
    return UC_ETOOBIG;
  if (b->data && b->len + n <= b->cap)
    return UC_OK;
  size_t cap = b->cap ? b->cap : 64 < b->max ? 64 : b->max;
  while (cap < b->len + n)
    cap = cap > b->max / 2 ? b->max : cap * 2;
  char *p;
  if (b->data && b->data != b->fixed) {
    p = realloc(b->data, cap + 1);
  } else if ((p = malloc(cap + 1)) != NULL && b->data) {
    memcpy(p, b->data, b->len + 1); /* out of the fixed storage */
  }
  if (!p)
    return UC_ENOMEM;
  if (!b->data)
    p[0] = 0;
  b->data = p, b->cap = cap;
  return UC_OK;
}

int uc__buf_add(struct uc_buf *b, const void *p, size_t n) {
  int rc = uc_buf_reserve(b, n);
  if (rc)
    return rc;
  if (n)
    memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = 0;
  return UC_OK;
}

int uc_buf_addstr(struct uc_buf *b, const char *s) {
  return uc_buf_add(b, s, strlen(s));
}

int uc_buf_addf(struct uc_buf *b, const char *fmt, ...) {
  va_list ap, again;
  va_start(ap, fmt);
  va_copy(again, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  int rc = n < 0 ? UC_EINVAL : uc_buf_reserve(b, (size_t)n);
  if (rc == UC_OK) {
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, again);
    b->len += (size_t)n;
  }
  va_end(again);
  return rc;
}

char *uc_buf_detach(struct uc_buf *b, size_t *len) {
  char *p = b->data;
  if (len)
    *len = b->len;
  if (p && p == b->fixed) {
    p = malloc(b->len + 1);
    if (p)
      memcpy(p, b->fixed, b->len + 1);
  }
  b->data = NULL; /* ownership moved: release must not free it */
  uc_buf_release(b);
  return p;
}

int uc_buf_read_file(struct uc_buf *b, const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT ? UC_ENOTFOUND : UC_EIO;
  int rc = UC_OK;
  for (;;) {
    char chunk[65536];
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      rc = n < 0 ? UC_EIO : UC_OK;
      break;
    }
    if ((rc = uc_buf_add(b, chunk, (size_t)n)) != UC_OK)
      break;
  }
  close(fd);
  return rc;
}

int uc_file_replace(const char *path, const void *data, size_t len) {
  char tmp[PATH_MAX];
  if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
    return errno = ENAMETOOLONG, UC_EIO;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return UC_EIO;
  const char *p = data;
  for (size_t done = 0; done < len;) {
    ssize_t n = write(fd, p + done, len - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      goto fail;
    done += (size_t)n;
  }
  int bad = fsync(fd) != 0; /* durable before it replaces anything */
  bad |= close(fd) != 0;
  if (bad)
    goto fail_closed;
  if (rename(tmp, path) != 0)
    goto fail_closed;
  return UC_OK;
fail:
  close(fd);
fail_closed : {
  int e = errno;
  unlink(tmp);
  errno = e;
  return UC_EIO;
}
}
