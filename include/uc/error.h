/* One error enum for all of libuc: UC_OK or a negative code. */
#ifndef UC_ERROR_H
#define UC_ERROR_H

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
  X(AUTH, -11, "authentication failed")

typedef enum uc_err {
  UC_OK = 0,
#define UC__ERR_ENUM(name, code, msg) UC_E##name = (code),
  UC_ERRNO_MAP(UC__ERR_ENUM)
#undef UC__ERR_ENUM
} uc_err;

/* Static, never NULL; "unknown error" for codes outside the map. */
const char *uc_strerror(int err);

#endif
