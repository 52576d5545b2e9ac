/* Fingerprints of mail infrastructure: MX hosts (and their parents) and MX
 * addresses (and CIDR ranges) known to serve disposable mail, relay (alias)
 * services, or shared hosting that must never count as either. Loaded from
 * text files: the curated lists/infrastructure.txt and the file that
 * `usercleaning lists learn-infrastructure` writes. Format: docs/categories.md
 * and docs/internals/dns.md. Refcounted; read-only once loaded, so any
 * number of threads may use one. */
#ifndef UC_INFRA_H
#define UC_INFRA_H

#include <stddef.h>

#include "uc/dns.h"
#include "uc/engine.h"

enum uc_infra_kind {
  UC_INFRA_DISPOSABLE = 1, /* serves disposable-mail domains: "masked legitimate" */
  UC_INFRA_RELAY = 2,      /* a relay (alias) service: "multi-alias services" */
  UC_INFRA_SHARED = 3,     /* shared hosting (Google Workspace, ...): never a fingerprint */
};

typedef struct uc_infra uc_infra;

/* Reads each file of paths[0..n) (a path that does not exist is skipped when
 * optional[i]); later files add to earlier ones. UC_OK, or UC_EFORMAT/UC_EIO
 * with err naming the file and line. An empty set (n == 0) is valid. */
int uc_infra_load(const char *const *paths, const int *optional, size_t n, uc_infra **out,
                  char *err, size_t err_size);
/* The server's and the CLI's fingerprints: curated (NULL or "": the file
 * infrastructure.txt beside the executable, if any) then learned (skipped
 * when it is the default path and does not exist yet; "": none). */
#define UC_INFRA_LEARNED_DEFAULT "./data/infrastructure.learned"
int uc_infra_open(const char *curated, const char *learned, uc_infra **out, char *err,
                  size_t err_size);
uc_infra *uc_infra_ref(uc_infra *f);
void uc_infra_unref(uc_infra *f);         /* NULL is fine */
size_t uc_infra_count(const uc_infra *f); /* fingerprints (host and address) */

/* What the fingerprints say about one domain's DNS facts: fills out->known,
 * no_website, masked (the first MX host or address that is a disposable
 * fingerprint, with its evidence) and relay. Shared hosting outweighs both:
 * an MX on Google Workspace is never masked. out's strings live as long as f. */
void uc_infra_facts(const uc_infra *f, const struct uc_dns_facts *d, struct uc_facts *out);

/* The kind a host (or its parent) has, 0 for none; *pattern and *evidence
 * (may be NULL) get the matching line's pattern and evidence text. */
int uc_infra_host(const uc_infra *f, const char *host, const char **pattern, const char **evidence);

#endif
