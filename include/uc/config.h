/* Server and CLI settings: defaults < config file (INI) < USER_CLEANING_* < flags. */
#ifndef UC_CONFIG_H
#define UC_CONFIG_H

#include <stddef.h>

#include "uc/dns.h"
#include "uc/rdap.h"
#include "uc/sync.h"

struct uc_config {
  char listen[128];                  /* ADDR:PORT; [v6]:PORT */
  char store[1024];                  /* the store's URL (uc_store_open); --db PATH sets it too */
  char lists[1024];                  /* snapshot path; "" = lists.snap beside the binary */
  unsigned threads;                  /* HTTP worker threads; 0 = one per core */
  unsigned max_connections;          /* open connections at once */
  unsigned idle_timeout;             /* seconds a connection may stay silent */
  unsigned per_ip_connections;       /* per client address; 0 = no limit */
  char trusted_proxies[1100];        /* "IP|CIDR,...": peers exempt from per_ip_connections */
  unsigned request_timeout;          /* seconds to receive a request's head and body */
  unsigned long body_limit;          /* bytes of request body */
  unsigned long header_limit;        /* bytes of request line + headers */
  char access_log[1024];             /* "-" stdout, "off", or a file path */
  int log_emails;                    /* put full addresses in the access log */
  int forwarded_for;                 /* log the last X-Forwarded-For address (behind a proxy) */
  unsigned flush_interval;           /* seconds between usage flushes */
  unsigned drain_timeout;            /* seconds SIGTERM waits for in-flight requests */
  unsigned long ban_memory;          /* counting IPs kept in memory (bans always are) */
  unsigned activity_accounts;        /* accounts with a recent-checks feed; 0: none */
  unsigned ban_write_timeout;        /* ms an answer waits for its ban to be stored */
  int dns;                           /* MX lookups on (serve's default) */
  char dns_servers[600];             /* "HOST[:PORT],..."; "": /etc/resolv.conf */
  unsigned dns_timeout;              /* ms a check waits for DNS at most */
  unsigned dns_ttl_min, dns_ttl_max; /* clamp of answers' TTLs, seconds */
  unsigned dns_cache;                /* domains kept */
  char infrastructure[1024];         /* learned fingerprints, read when present */
  char infrastructure_curated[1024]; /* "": infrastructure.txt beside the binary */
  /* List sync (include/uc/sync.h) */
  char lists_sources[1024];       /* the manifest `lists update` and the schedule read */
  unsigned lists_update_interval; /* seconds between scheduled updates; 0: off */
  unsigned lists_max_removed;     /* percent of a source an update may remove */
  unsigned long lists_max_added;  /* entries an update may add to a source */
  unsigned lists_fetch_timeout;   /* seconds a fetch may take */
  unsigned long lists_max_bytes;  /* bytes a fetched list may have */
  /* Domain age (include/uc/rdap.h) */
  int domain_age;                   /* RDAP lookups on (serve's default) */
  char rdap_bootstrap[1024];        /* the IANA bootstrap: an http(s) URL or a file */
  unsigned rdap_ttl, rdap_fail_ttl; /* seconds an answer, a failure is kept */
  unsigned rdap_timeout;            /* ms a lookup may take */
  unsigned rdap_server_interval;    /* ms between two requests to one RDAP server */
  unsigned rdap_queue;              /* domains waiting for a lookup at most */
  unsigned rdap_cache;              /* domains kept in memory */
  char batch_dir[1024];             /* batch uploads and results */
  unsigned long batch_upload_limit; /* bytes of one uploaded file */
  unsigned long batch_quota;        /* bytes each account may keep in batch_dir; 0: no limit */
  unsigned batch_workers;           /* threads running batch tasks */
  int batch_dns;                    /* batch tasks look up MX records (when dns is on) */
  unsigned batch_lease;             /* seconds a claim lasts unrenewed (shared stores) */
};

void uc_config_defaults(struct uc_config *c);

/* Sets one setting by its name (the INI key, e.g. "body_limit"). UC_OK, or
 * UC_EINVAL with err saying which name or value is wrong. */
int uc_config_set(struct uc_config *c, const char *name, const char *value, char *err,
                  size_t err_size);

/* Reads an INI file ([server] section, or no section). */
int uc_config_load_file(struct uc_config *c, const char *path, char *err, size_t err_size);

/* Applies USER_CLEANING_<NAME> variables from envp (NULL: the environment). */
int uc_config_load_env(struct uc_config *c, char **envp, char *err, size_t err_size);

/* The resolver's settings from c (dns_server, dns_ttl_*, dns_cache). UC_OK,
 * or UC_EINVAL with err naming a server that does not parse. */
int uc_config_dns(const struct uc_config *c, struct uc_dns_config *out, char *err, size_t err_size);

/* The RDAP client's settings from c. */
void uc_config_rdap(const struct uc_config *c, struct uc_rdap_config *out);
/* The list sync's limits from c (force off). */
void uc_config_sync(const struct uc_config *c, struct uc_sync_opts *out);

/* Every setting's name, help and default (for --help and docs). */
struct uc_config_doc {
  const char *name, *help, *def;
  int is_bool; /* a flag alone means true; --no-NAME means false */
};
const struct uc_config_doc *uc_config_docs(size_t *count);

#endif
