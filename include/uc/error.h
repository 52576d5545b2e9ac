/* One error enum for all of libuc: UC_OK or a negative code. */
#ifndef UC_ERROR_H
#define UC_ERROR_H

#include <stddef.h>

/* X(name, code, message): the only list of error codes. */
#define UC_ERRNO_MAP(X)                                                                            \
  X(NOMEM, -1, "out of memory")                                                                    \
  X(INVAL, -2, "invalid argument")                                                                 \
  X(IO, -3, "input/output error")                                                                  \
  X(FORMAT, -4, "malformed data")                                                                  \
  X(NOTFOUND, -5, "not found")                                                                     \
  X(TOOBIG, -6, "too large")                                                                       \
  X(SYNTAX, -7, "invalid email address")                                                           \
  X(EXISTS, -8, "already exists")                                                                  \
  X(RANGE, -9, "value out of range")                                                               \
  X(STORE, -10, "storage error")                                                                   \
  X(AUTH, -11, "authentication failed")                                                            \
  X(BUSY, -12, "busy: try again")                                                                  \
  X(UNAVAILABLE, -13, "service unavailable")                                                       \
  X(DENIED, -14, "not allowed")                                                                    \
  X(CANCELED, -15, "canceled")

typedef enum uc_err {
  UC_OK = 0,
#define UC__ERR_ENUM(name, code, msg) UC_E##name = (code),
  UC_ERRNO_MAP(UC__ERR_ENUM)
#undef UC__ERR_ENUM
} uc_err;

/* Static, never NULL; "unknown error" for codes outside the map. */
const char *uc_strerror(int err);

/* The one way libuc words an error for people: formats into the caller's
 * err[0..err_size) (nothing when err_size is 0; always NUL-terminated
 * otherwise) and returns rc, so that `return uc_errorf(err, es, UC_EIO, ...)`
 * both says and reports. */
int uc_errorf(char *err, size_t err_size, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
