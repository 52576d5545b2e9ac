/* The check API's JSON body, {"email": "...", "ip": "..."}, read on the fast
 * path (see docs/internals/server.md). */
#ifndef UC_REQUEST_H
#define UC_REQUEST_H

#include <stddef.h>

struct uc_check_body {
  const char *email; /* into the body; never NULL when the read succeeds */
  size_t email_len;
  const char *ip; /* into the body, or NULL for absent or null */
  size_t ip_len;
};

/* Reads body[0..len) with yajl when it is the common case: printable ASCII
 * without escapes, one object whose members are strings or null, with "email"
 * a string and "ip" a string, null or absent (the last of duplicates wins).
 * 1: *out holds exactly what jansson would read from the same body. 0: not
 * the common case (or not JSON): read it with jansson, which decides and
 * words any error. */
int uc_check_body_read(const char *body, size_t len, struct uc_check_body *out);

#endif
