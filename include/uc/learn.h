/* Learning disposable-mail fingerprints from the lists: resolve the MX of
 * every listed disposable domain and of every free-provider and guard domain,
 * and keep each MX host and MX address that at least min_domains listed
 * disposable domains use and no free-provider or guard domain uses, and that
 * is not shared hosting or a relay's (curated). The result is a fingerprint
 * file (format: docs/categories.md) that serve and check --dns read. */
#ifndef UC_LEARN_H
#define UC_LEARN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "uc/dns.h"
#include "uc/infra.h"
#include "uc/lists.h"

struct uc_learn_opts {
  unsigned min_domains; /* K: listed disposable domains that must share a host (3) */
  unsigned concurrency; /* lookups in flight at once (256) */
  unsigned timeout_ms;  /* each domain's deadline (3000) */
  /* Called from time to time (from the calling thread) with domains done of total. */
  void (*progress)(void *arg, size_t done, size_t total);
  void *progress_arg;
};
void uc_learn_opts_init(struct uc_learn_opts *o);

struct uc_learn_report {
  size_t disposable, good; /* domains resolved: listed disposable; free-provider or guard */
  size_t answered, nxdomain, failed;
  size_t hosts_seen, addrs_seen;        /* distinct MX hosts / addresses of disposable domains */
  size_t hosts_kept, addrs_kept;        /* fingerprints written */
  size_t dropped_good, dropped_curated; /* left out: used by a good domain / shared or relay */
  double seconds;
};

/* Resolves through d (its cache may be small: answers are counted as they
 * come), writes the fingerprints to out_path (a new file, renamed into place)
 * and fills *rep. curated (may be NULL) names shared hosting and relays never
 * to keep. UC_OK, or an error with err saying why. */
int uc_learn_infrastructure(const uc_lists *l, uc_dns *d, const uc_infra *curated,
                            const struct uc_learn_opts *o, const char *out_path,
                            struct uc_learn_report *rep, char *err, size_t err_size);

#endif
