/* uc_strerror and uc_errorf: the error codes of include/uc/error.h for people. */
#include "uc/error.h"

#include <stdarg.h>
#include <stdio.h>

const char *uc_strerror(int err) {
  switch (err) {
  case UC_OK:
    return "success";
#define UC__ERR_CASE(name, code, msg)                                                              \
  case (code):                                                                                     \
    return (msg);
    UC_ERRNO_MAP(UC__ERR_CASE)
#undef UC__ERR_CASE
  }
  return "unknown error";
}

int uc_errorf(char *err, size_t err_size, int rc, const char *fmt, ...) {
  if (err && err_size) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
  }
  return rc;
}
