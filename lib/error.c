/* uc_strerror: messages for the error codes of include/uc/error.h. */
#include "uc/error.h"

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
