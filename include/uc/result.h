/* The API's 200 body (SPEC §2) for a uc_result, and its human explanation. */
#ifndef UC_RESULT_H
#define UC_RESULT_H

#include <stdio.h>

#include "uc/dns.h"
#include "uc/engine.h"

/* Context the engine does not know: what the caller received and decided. */
struct uc_result_ctx {
  const char *raw; /* the address as received */
  size_t raw_len;
  long remaining;                 /* remaining_attempts_before_ban; < 0: null */
  const struct uc_dns_facts *dns; /* NULL: not looked up (mx_record "unknown") */
  const char *ip_warning;         /* why the given ip was not usable or not counted; NULL */
};

/* A buffer of this size always holds the body of an address of up to
 * UC_RESULT_INPUT_MAX bytes (each byte escapes to at most 6). */
#define UC_RESULT_INPUT_MAX 4096
#define UC_RESULT_BODY_MAX (4096 + 12 * UC_RESULT_INPUT_MAX)

/* Writes the body (every field of the 200 body plus "details") as compact JSON
 * (date_added as the hosted DD.MM.YYYY, its ISO form in details.date_added;
 * domain_age from r's facts, "unknown" when not known)
 * into buf, NUL-terminated. Returns its length, or 0 when it did not fit.
 * l must be the lists r was computed with. */
size_t uc_result_write(const struct uc_result *r, const uc_lists *l,
                       const struct uc_result_ctx *ctx, char *buf, size_t cap);

/* The API's mx_record for DNS facts: the primary MX host, "" when the domain
 * publishes none (or a null MX, or does not exist), "unknown" when d is NULL
 * or nothing is known. */
const char *uc_result_mx_record(const struct uc_dns_facts *d);

/* Writes a human-readable account of r (for --explain) to f. */
void uc_result_explain(const struct uc_result *r, const uc_lists *l, FILE *f);

#endif
