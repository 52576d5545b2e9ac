/* Internal: the two JSON documents lib/rdap.c reads, parsed from memory so
 * that the unit tests and fuzz/fuzz_rdap.c reach them without a network. */
#ifndef UC_LIB_RDAP_INT_H
#define UC_LIB_RDAP_INT_H

#include <stddef.h>

/* ---- the IANA bootstrap for DNS (RFC 9224 §4) ----
 *
 *   {"version": "1.0", "publication": "...",
 *    "services": [ [["com", "net"], ["https://rdap.verisign.com/com/v1/"]], ... ]}
 *
 * Each service: an array of labels (TLDs, or longer suffixes) and an array of
 * base URLs, of which the first https one is kept (else the first http one).
 * Entries that are not of this shape are skipped; a document without a
 * "services" array is malformed. */
struct uc__rdap_bootstrap;

/* UC_OK and *out (free with uc__rdap_bootstrap_free); UC_EFORMAT with err
 * saying what is wrong; UC_ENOMEM. */
int uc__rdap_bootstrap_parse(const char *json, size_t len, struct uc__rdap_bootstrap **out,
                             char *err, size_t es);
void uc__rdap_bootstrap_free(struct uc__rdap_bootstrap *b);
size_t uc__rdap_bootstrap_count(const struct uc__rdap_bootstrap *b);
/* The base URL for domain (the longest matching suffix of its labels, the
 * domain itself excluded), ending in '/'; NULL when no service covers it.
 * Valid while b lives. */
const char *uc__rdap_bootstrap_find(const struct uc__rdap_bootstrap *b, const char *domain);

/* ---- an RDAP domain answer (RFC 9083 §5.3, §4.5) ----
 *
 * The registration date is the eventDate (RFC 3339) of the event whose
 * eventAction is "registration" in the top-level "events" array.
 * UC_OK and *created (days since 1970-01-01); UC_ENOTFOUND when there is no
 * such event (or its date does not read); UC_EFORMAT when the text is not a
 * JSON object. */
int uc__rdap_parse(const char *json, size_t len, unsigned *created);

#endif
