/* Domain age: the registration date of a domain from RDAP (RFC 9083), asked
 * of the registry the IANA bootstrap (RFC 9224) names for its TLD. The
 * registrable domain (ICANN public suffix + one label, libpsl) is what is
 * looked up and cached: mail.example.co.uk asks about example.co.uk.
 *
 * Nothing here ever waits on a check's thread: uc_rdap_facts reads a
 * memory cache and, when the date is not known, queues the lookup (a
 * bounded queue) for the client's own worker thread, which asks the store
 * first (the cache every process shares) and then the registry, at most one
 * request per server_interval_ms per RDAP server. Answers and failures are
 * kept in memory and in the store for ttl / fail_ttl seconds. Design and
 * invariants: docs/internals/rdap.md. Every call is thread-safe. */
#ifndef UC_RDAP_H
#define UC_RDAP_H

#include <stddef.h>
#include <stdint.h>

#include "uc/engine.h"
#include "uc/store.h"

#define UC_RDAP_BOOTSTRAP_DEFAULT "https://data.iana.org/rdap/dns.json"

struct uc_rdap_config {
  char bootstrap[1024];        /* an http(s) URL (fetched by the worker) or a file */
  unsigned ttl;                /* seconds a registration date is kept (30 days) */
  unsigned fail_ttl;           /* seconds a 404, a failure or a TLD without RDAP is kept */
  unsigned timeout_ms;         /* one request, connection included */
  unsigned server_interval_ms; /* between two requests to one RDAP server (host) */
  unsigned queue_max;          /* domains waiting or in flight; more are not queued */
  unsigned cache_max;          /* domains kept in memory */
  unsigned concurrency;        /* requests in flight at once */
  size_t max_bytes;            /* of one answer, and of the bootstrap */
  unsigned bootstrap_retry;    /* seconds before a failed bootstrap fetch is tried again */
  unsigned bootstrap_refresh;  /* seconds between fetches of a bootstrap URL */
};
void uc_rdap_config_init(struct uc_rdap_config *c);

typedef struct uc_rdap uc_rdap;

/* Starts the client and its worker. A bootstrap file is read now (a missing
 * or malformed one is an error); a URL is fetched by the worker (until it
 * comes, lookups wait in the queue). st (may be NULL: memory only) is the
 * shared cache: its rows still valid are loaded into memory before this
 * returns (at most cache_max). UC_OK, or an error with err saying why. */
int uc_rdap_open(const struct uc_rdap_config *c, uc_store *st, uc_rdap **out, char *err,
                 size_t err_size);
/* Stops the worker (requests in flight are abandoned). NULL is fine. */
void uc_rdap_free(uc_rdap *r);

/* The age of domain (lower-case A-label) at unix time now, from memory:
 * sets f->age_known, f->domain_age (whole days) and f->domain_created and
 * returns 1 when the registration date is known; otherwise returns 0, leaves
 * f alone and queues the lookup (unless it is queued already, the queue is
 * full, or the last lookup failed less than fail_ttl ago). A date past its
 * ttl is still answered while it is looked up again. */
int uc_rdap_facts(uc_rdap *r, const char *domain, int64_t now, struct uc_facts *f);

/* The registrable domain of domain (a suffix of it: ICANN public suffix and
 * one more label), or NULL when domain is a public suffix itself. */
const char *uc_rdap_registrable(const char *domain);

/* What the worker did. How many checks knew an age is the caller's to count
 * (the server's threads count it apart, with no shared write per check). */
struct uc_rdap_stats {
  uint64_t queued;     /* lookups queued */
  uint64_t dropped;    /* not queued: the queue was full */
  uint64_t store_hits; /* answered by the store (another process, or before a restart) */
  uint64_t requests;   /* RDAP requests sent */
  uint64_t found, not_found, no_service, failed; /* outcomes of lookups */
  size_t cached, pending;                        /* domains in memory; queued or in flight */
  size_t services;                               /* TLDs the bootstrap knows; 0: not loaded */
  int64_t bootstrap_at;                          /* unix seconds it was loaded; 0: never */
  char bootstrap_error[256];                     /* why the last load failed; "" */
};
void uc_rdap_stats(uc_rdap *r, struct uc_rdap_stats *out);

#endif
