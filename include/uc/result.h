/* The API's 200 body (SPEC §2) for a uc_result, as a jansson object. */
#ifndef UC_RESULT_H
#define UC_RESULT_H

#include <jansson.h>

#include "uc/engine.h"

/* Context the engine does not know: what the caller received and decided. */
struct uc_result_ctx {
  const char *raw;        /* the address as received */
  size_t raw_len;
  long remaining;         /* remaining_attempts_before_ban; < 0: null */
  const char *mx_record;  /* NULL: "unknown" */
  const char *domain_age; /* NULL: "unknown" */
};

/* A new object with every field of the 200 body plus "details"; NULL on ENOMEM.
 * Caller json_decref()s it. l must be the lists r was computed with. */
json_t *uc_result_json(const struct uc_result *r, const uc_lists *l,
                       const struct uc_result_ctx *ctx);

/* Writes a human-readable account of r (for --explain) to f. */
void uc_result_explain(const struct uc_result *r, const uc_lists *l, FILE *f);

#endif
