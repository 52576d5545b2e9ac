/* Settings table: one row per setting drives defaults, INI, environment and docs. */
#include "uc/config.h"
#include "uc/error.h"
#include "uc/infra.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

enum kind { STR, UINT, ULONG, BOOL, LIST };

struct setting {
  const char *name;
  enum kind kind;
  size_t off, size;
  unsigned long min, max;
  const char *def, *help;
};

#define S(field, help, def)                                                                        \
  {                                                                                                \
#field, STR, offsetof(struct uc_config, field), sizeof(((struct uc_config *)0)->field), 0, 0,  \
        def, help                                                                                  \
  }
#define U(field, lo, hi, help, def)                                                                \
  { #field, UINT, offsetof(struct uc_config, field), 0, lo, hi, def, help }
#define L(field, lo, hi, help, def)                                                                \
  { #field, ULONG, offsetof(struct uc_config, field), 0, lo, hi, def, help }
#define B(field, help, def)                                                                        \
  { #field, BOOL, offsetof(struct uc_config, field), 0, 0, 1, def, help }
/* A comma-separated string; each flag or variable adds to it (a repeatable flag). */
#define A(name, field, help)                                                                       \
  {                                                                                                \
    name, LIST, offsetof(struct uc_config, field), sizeof(((struct uc_config *)0)->field), 0, 0,   \
        "", help                                                                                   \
  }

static const struct setting settings[] = {
    S(listen, "address and port to listen on (IPv6 as [::1]:8080)", "127.0.0.1:8080"),
    S(store,
      "the store: sqlite:///abs/path.db, sqlite:rel/path.db, a plain SQLite path, or "
      "redis://[:PASSWORD@]HOST:PORT/DB[?prefix=NAME] shared by several servers",
      "./data/usercleaning.db"),
    /* An alias: the same field under its older name (no default of its own). */
    {"db", STR, offsetof(struct uc_config, store), sizeof(((struct uc_config *)0)->store), 0, 0,
     NULL, "shorthand for --store: a SQLite file path"},
    S(lists, "list snapshot; empty: lists.snap beside the binary", ""),
    U(threads, 0, 256, "HTTP worker threads; 0: one per core", "0"),
    U(max_connections, 1, 100000, "open connections at once; more wait in the listen backlog",
      "1024"),
    U(idle_timeout, 1, 3600, "seconds a connection may stay silent before it is closed", "30"),
    U(request_timeout, 0, 3600,
      "seconds a client has to send a whole request (head and body), counted from the "
      "connection's start or its previous answer; 0: no deadline",
      "10"),
    U(per_ip_connections, 0, 100000,
      "open connections per client address, IPv6 per /64 (trusted_proxies exempt); 0: no limit",
      "128"),
    A("trusted_proxies", trusted_proxies,
      "IP or CIDR range of a reverse proxy (or application server) exempt from "
      "per_ip_connections (repeatable); none by default, loopback included"),
    L(body_limit, 64, 16UL << 20, "largest request body in bytes (413 above)", "65536"),
    L(header_limit, 1024, 1UL << 20, "largest request line + headers in bytes (431 above)",
      "16384"),
    S(access_log, "access log: '-' for stdout, 'off', or a file path", "-"),
    B(log_emails, "write full email addresses in the access log (else the domain only)", "false"),
    B(forwarded_for,
      "behind a proxy (nginx): log the client address the proxy put last in X-Forwarded-For",
      "false"),
    U(flush_interval, 1, 3600, "seconds between writes of usage counters to the store", "5"),
    U(drain_timeout, 0, 3600, "seconds SIGTERM waits for requests in flight", "10"),
    B(dns, "look up MX records for the DNS-backed types (--no-dns: off)", "true"),
    A("dns_server", dns_servers,
      "DNS server HOST[:PORT] to ask instead of /etc/resolv.conf (repeatable)"),
    U(dns_timeout, 10, 60000, "milliseconds a check waits for DNS at most (then: unknown)", "400"),
    U(dns_ttl_min, 0, 604800, "seconds a DNS answer is kept at least, whatever its TTL", "60"),
    U(dns_ttl_max, 1, 604800, "seconds a DNS answer is kept at most", "86400"),
    U(dns_cache, 16, 4194304, "domains whose DNS answers are kept in memory", "16384"),
    S(infrastructure, "learned mail-infrastructure fingerprints (read when present)",
      UC_INFRA_LEARNED_DEFAULT),
    S(infrastructure_curated, "curated fingerprints; empty: infrastructure.txt beside the binary",
      ""),
    S(lists_sources, "the list manifest `lists update` and the scheduled update read",
      "lists/sources.ini"),
    U(lists_update_interval, 0, 2592000,
      "seconds between updates of the URL sources by serve itself; 0: off", "0"),
    U(lists_max_removed, 0, 100,
      "percent of a source's entries an update may remove (more is refused unless --force)", "20"),
    L(lists_max_added, 0, 100000000, "entries an update may add to a source (more is refused)",
      "20000"),
    U(lists_fetch_timeout, 1, 3600, "seconds a list fetch may take", "60"),
    L(lists_max_bytes, 1024, 1UL << 30, "largest list a fetch accepts, in bytes", "33554432"),
    B(domain_age, "look up domain registration dates in RDAP (--no-domain-age: off)", "true"),
    S(rdap_bootstrap, "the IANA RDAP bootstrap (RFC 9224): an http(s) URL or a file",
      UC_RDAP_BOOTSTRAP_DEFAULT),
    U(rdap_ttl, 60, 31536000, "seconds a registration date is kept", "2592000"),
    U(rdap_fail_ttl, 10, 31536000, "seconds a failed or unanswered lookup is kept", "3600"),
    U(rdap_timeout, 100, 120000, "milliseconds an RDAP lookup may take", "5000"),
    U(rdap_server_interval, 0, 600000, "milliseconds between two requests to one RDAP server",
      "1000"),
    U(rdap_queue, 1, 1000000, "domains waiting for an RDAP lookup at most (more are skipped)",
      "4096"),
    U(rdap_cache, 16, 16777216, "domains whose registration dates are kept in memory", "65536"),
    S(batch_dir, "where batch uploads and results are kept (one directory per account)",
      "./data/batch"),
    L(batch_upload_limit, 1024, 1UL << 40, "largest batch upload in bytes (413 above)",
      "104857600"),
    L(batch_quota, 0, 1UL << 50,
      "bytes of uploads and results each account may keep; 0: no limit (413 above)", "1073741824"),
    U(batch_workers, 1, 64, "threads running batch tasks (at low priority)", "1"),
    B(batch_dns, "batch tasks look up MX records when dns is on (--no-batch-dns: off)", "true"),
    U(batch_lease, 1, 3600,
      "seconds a task stays with a server that stopped renewing its claim (a shared store): "
      "then another server takes it over",
      "30"),
    U(activity_accounts, 0, 100000,
      "accounts whose last 200 checks the server keeps in memory for the Activity page (about "
      "120 KB per account and thread; past it the least recently active account's feed is "
      "reused); 0: off",
      "256"),
    L(ban_memory, 1024, 1UL << 26,
      "IPs with attempts counted (not banned) kept in memory; the oldest written-back ones "
      "leave first (bans always stay)",
      "262144"),
    U(ban_write_timeout, 100, 60000,
      "milliseconds an answer that announces a ban (remaining 0, or 403) waits for the ban to be "
      "stored; then it answers without announcing it (details.ip_warning) and the ban is retried",
      "2000"),
};
#define NSETTINGS (sizeof settings / sizeof settings[0])

static int set_one(struct uc_config *c, const struct setting *s, const char *v, char *err,
                   size_t es) {
  char *p = (char *)c + s->off;
  if (s->kind == LIST) { /* appended: "a,b" */
    size_t have = strlen(p), n = strlen(v);
    if (have + (have ? 1 : 0) + n >= s->size)
      return uc_errorf(err, es, UC_EINVAL, "%s: too many values", s->name);
    if (have)
      p[have++] = ',';
    memcpy(p + have, v, n + 1);
    return UC_OK;
  }
  if (s->kind == STR) {
    if (strlen(v) >= s->size)
      return uc_errorf(err, es, UC_EINVAL, "%s: value too long", s->name);
    memcpy(p, v, strlen(v) + 1);
    return UC_OK;
  }
  if (s->kind == BOOL) {
    int b = strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 ||
            strcasecmp(v, "on") == 0;
    if (!b && strcmp(v, "0") != 0 && strcasecmp(v, "false") != 0 && strcasecmp(v, "no") != 0 &&
        strcasecmp(v, "off") != 0)
      return uc_errorf(err, es, UC_EINVAL, "%s: '%s' is not a boolean", s->name, v);
    *(int *)p = b;
    return UC_OK;
  }
  char *end;
  errno = 0;
  unsigned long n = strtoul(v, &end, 10);
  if (!isdigit((unsigned char)v[0]) || *end || errno || n < s->min || n > s->max)
    return uc_errorf(err, es, UC_EINVAL, "%s: '%s' is not a number from %lu to %lu", s->name, v,
                     s->min, s->max);
  if (s->kind == UINT)
    *(unsigned *)p = (unsigned)n;
  else
    *(unsigned long *)p = n;
  return UC_OK;
}

void uc_config_defaults(struct uc_config *c) {
  char err[128];
  memset(c, 0, sizeof *c);
  for (size_t i = 0; i < NSETTINGS; i++)
    if (settings[i].def)
      set_one(c, &settings[i], settings[i].def, err, sizeof err);
}

int uc_config_set(struct uc_config *c, const char *name, const char *value, char *err, size_t es) {
  for (size_t i = 0; i < NSETTINGS; i++)
    if (strcmp(settings[i].name, name) == 0)
      return set_one(c, &settings[i], value, err, es);
  return uc_errorf(err, es, UC_EINVAL, "unknown setting '%s'", name);
}

struct ini_ctx {
  struct uc_config *c;
  char *err;
  size_t es;
  int rc;
};

static int on_ini(void *user, const char *section, const char *name, const char *value) {
  struct ini_ctx *x = user;
  if (x->rc)
    return 0;
  if (section[0] && strcmp(section, "server") != 0) {
    snprintf(x->err, x->es, "unknown section [%s]", section);
    x->rc = UC_EINVAL;
    return 0;
  }
  x->rc = uc_config_set(x->c, name, value, x->err, x->es);
  return x->rc == UC_OK;
}

int uc_config_load_file(struct uc_config *c, const char *path, char *err, size_t es) {
  char why[256] = "";
  struct ini_ctx x = {c, why, sizeof why, UC_OK};
  int line = ini_parse(path, on_ini, &x);
  if (line < 0)
    return uc_errorf(err, es, UC_EIO, "%s: cannot read: %s", path, strerror(errno));
  if (line > 0 || x.rc)
    return uc_errorf(err, es, UC_EINVAL, "%s:%d: %s", path, line, why[0] ? why : "syntax error");
  return UC_OK;
}

int uc_config_load_env(struct uc_config *c, char **envp, char *err, size_t es) {
  static const char prefix[] = "USER_CLEANING_";
  for (char **e = envp ? envp : environ; e && *e; e++) {
    if (strncmp(*e, prefix, sizeof prefix - 1) != 0)
      continue;
    const char *eq = strchr(*e, '=');
    char name[64];
    size_t n = eq ? (size_t)(eq - *e) - (sizeof prefix - 1) : 0;
    if (!eq || n == 0 || n >= sizeof name)
      continue;
    for (size_t i = 0; i < n; i++)
      name[i] = (char)tolower((unsigned char)(*e)[sizeof prefix - 1 + i]);
    name[n] = 0;
    int known = 0;
    for (size_t i = 0; i < NSETTINGS; i++)
      known |= strcmp(settings[i].name, name) == 0;
    if (!known) /* USER_CLEANING_LISTS etc. that are not settings belong to other tools */
      continue;
    int rc = uc_config_set(c, name, eq + 1, err, es);
    if (rc)
      return rc;
  }
  return UC_OK;
}

const struct uc_config_doc *uc_config_docs(size_t *count) {
  static struct uc_config_doc docs[NSETTINGS];
  for (size_t i = 0; i < NSETTINGS; i++)
    docs[i] = (struct uc_config_doc){settings[i].name, settings[i].help,
                                     settings[i].def ? settings[i].def : "(see --store)",
                                     settings[i].kind == BOOL};
  *count = NSETTINGS;
  return docs;
}

void uc_config_rdap(const struct uc_config *c, struct uc_rdap_config *out) {
  uc_rdap_config_init(out);
  snprintf(out->bootstrap, sizeof out->bootstrap, "%s", c->rdap_bootstrap);
  out->ttl = c->rdap_ttl, out->fail_ttl = c->rdap_fail_ttl;
  out->timeout_ms = c->rdap_timeout, out->server_interval_ms = c->rdap_server_interval;
  out->queue_max = c->rdap_queue, out->cache_max = c->rdap_cache;
}

void uc_config_sync(const struct uc_config *c, struct uc_sync_opts *out) {
  uc_sync_opts_init(out);
  out->max_removed_percent = c->lists_max_removed, out->max_added = c->lists_max_added;
  out->timeout_s = c->lists_fetch_timeout, out->max_bytes = c->lists_max_bytes;
}

int uc_config_dns(const struct uc_config *c, struct uc_dns_config *out, char *err, size_t es) {
  char list[sizeof c->dns_servers], *save = NULL;
  uc_dns_config_init(out);
  out->ttl_min = c->dns_ttl_min, out->ttl_max = c->dns_ttl_max;
  out->cache_max = c->dns_cache;
  if (out->ttl_max < out->ttl_min)
    return uc_errorf(err, es, UC_EINVAL, "dns_ttl_max (%u) is below dns_ttl_min (%u)",
                     c->dns_ttl_max, c->dns_ttl_min);
  snprintf(list, sizeof list, "%s", c->dns_servers);
  for (char *s = strtok_r(list, ", ", &save); s; s = strtok_r(NULL, ", ", &save))
    if (uc_dns_config_server(out, s) != UC_OK)
      return uc_errorf(err, es, UC_EINVAL,
                       "dns_server '%s': expected an IP address with an optional port "
                       "(127.0.0.1:5353, [::1]:53), at most %d of them",
                       s, UC_DNS_SERVERS_MAX);
  return UC_OK;
}
