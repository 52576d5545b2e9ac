/* The mail facts of a domain from DNS (c-ares): its MX hosts, whether it
 * exists, has an address, publishes a null MX; and the addresses of its MX
 * hosts. Lookups run on the resolver's own thread; callers never block on
 * the network: they get a cached answer at once, or register a wait that is
 * called back when the answer arrives or at its deadline, whichever comes
 * first. Identical lookups in flight are coalesced; answers (negative ones
 * too) are cached for their TTL, clamped. Design and invariants:
 * docs/internals/dns.md. Every call is thread-safe. */
#ifndef UC_DNS_H
#define UC_DNS_H

#include <stddef.h>
#include <stdint.h>

#define UC_DNS_MX_MAX 8   /* MX hosts kept per domain (lowest preference first) */
#define UC_DNS_ADDR_MAX 8 /* addresses of MX hosts kept per domain */
#define UC_DNS_NAMES 512  /* bytes for the MX host names of one domain */
#define UC_DNS_SERVERS_MAX 8

enum uc_dns_status {
  UC_DNS_UNKNOWN = 0, /* not looked up, timed out, SERVFAIL, refused: nothing known */
  UC_DNS_ANSWERED,    /* the domain exists; the fields say what it publishes */
  UC_DNS_NXDOMAIN,    /* the domain does not exist */
};

struct uc_dns_addr {
  uint8_t family; /* 4 or 6 */
  uint8_t mx;     /* index of the MX host it belongs to */
  uint8_t addr[16];
};

/* A fixed-size value, copied freely. */
struct uc_dns_facts {
  uint8_t status;      /* enum uc_dns_status */
  uint8_t null_mx;     /* RFC 7505: "MX 0 ." */
  uint8_t has_address; /* the domain itself has A or AAAA */
  uint8_t nmx, naddr;
  uint16_t mx_pref[UC_DNS_MX_MAX];
  uint16_t mx_off[UC_DNS_MX_MAX]; /* each host name, NUL-terminated, at names + mx_off[i] */
  struct uc_dns_addr addr[UC_DNS_ADDR_MAX];
  char names[UC_DNS_NAMES];
};

/* The i-th MX host (i < f->nmx), lower case, no trailing dot. */
static inline const char *uc_dns_mx_host(const struct uc_dns_facts *f, size_t i) {
  return f->names + f->mx_off[i];
}

struct uc_dns_config {
  char servers[UC_DNS_SERVERS_MAX][64]; /* "HOST[:PORT]"; none: /etc/resolv.conf */
  size_t nservers;
  unsigned ttl_min, ttl_max; /* seconds an answer is kept, whatever its TTL says */
  unsigned fail_ttl;         /* seconds a failure (timeout, SERVFAIL) is kept */
  unsigned query_timeout_ms; /* per try, per server (c-ares); the caller's deadline is apart */
  size_t cache_max;          /* domains kept */
};
void uc_dns_config_init(struct uc_dns_config *c);
/* Adds a --dns-server value: "127.0.0.1", "127.0.0.1:5353", "[::1]:53". UC_EINVAL. */
int uc_dns_config_server(struct uc_dns_config *c, const char *spec);

typedef struct uc_dns uc_dns;

/* Starts the resolver thread. UC_OK, or an error with err saying why. */
int uc_dns_open(const struct uc_dns_config *c, uc_dns **out, char *err, size_t err_size);
/* Stops the thread; waits still registered are called with UC_DNS_UNKNOWN first. */
void uc_dns_free(uc_dns *d);

/* A caller's wait, kept in caller memory (e.g. a suspended request) until
 * done is called, exactly once, from the resolver thread, with facts set.
 * After done returns the resolver never touches it again. */
struct uc_dns_wait {
  void (*done)(struct uc_dns_wait *w);
  void *arg;
  uint64_t deadline_ms; /* uc_dns_now_ms() clock */
  struct uc_dns_facts facts;
  /* private */
  struct uc_dns_wait *prev, *next;
  void *entry;
};

enum uc_dns_lookup_result {
  UC_DNS_HIT,  /* *out holds the cached facts */
  UC_DNS_WAIT, /* w will be called (w was given) */
  UC_DNS_MISS, /* not cached; the lookup runs in the background (w was NULL) */
};

/* The facts of domain (lower-case A-label): cached, or looked up. */
enum uc_dns_lookup_result uc_dns_lookup(uc_dns *d, const char *domain, struct uc_dns_wait *w,
                                        struct uc_dns_facts *out);

/* From now on every wait fires at once with nothing known, and lookups
 * with a wait answer UC_DNS_HIT with nothing known (a server stopping). */
void uc_dns_stop_waiting(uc_dns *d);

/* The facts of domain, waiting for them on the calling thread at most
 * timeout_ms (then UC_DNS_UNKNOWN): for threads that may block, never for
 * one that answers checks (the CLI, batch workers). */
void uc_dns_lookup_sync(uc_dns *d, const char *domain, unsigned timeout_ms,
                        struct uc_dns_facts *out);

/* Monotonic milliseconds, the clock of deadlines. */
uint64_t uc_dns_now_ms(void);

struct uc_dns_stats {
  uint64_t lookups;  /* calls of uc_dns_lookup */
  uint64_t hits;     /* answered from the cache */
  uint64_t started;  /* lookups sent (one per domain, however many asked meanwhile) */
  uint64_t waits;    /* waits registered */
  uint64_t timeouts; /* waits whose deadline came first */
  uint64_t queries;  /* DNS queries sent (MX, A, AAAA) */
  uint64_t failures; /* lookups that failed (timeout, SERVFAIL, refused) */
  uint64_t shed;     /* lookups not started: too many in flight, or stopping */
  /* The resolver said the root zone does not exist (asked at start and every
   * minute): it denies every name, so its NXDOMAIN answers count as nothing
   * known (disbelieved counts them) instead of "no website". */
  int denying;
  uint64_t disbelieved;
  size_t cached, in_flight;
};
void uc_dns_stats(uc_dns *d, struct uc_dns_stats *out);

#endif
