/* Mail-infrastructure fingerprints (include/uc/infra.h): host patterns in a
 * uc_table matched with their parents, address ranges in a list. */
#include "uc/infra.h"
#include "uc/buf.h"
#include "uc/error.h"
#include "uc/ip.h"
#include "uc/lists.h"
#include "uc/table.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_LEN 1024

struct rec {
  int kind;  /* enum uc_infra_kind */
  int is_ip; /* an address or range (cidr) rather than a host */
  struct uc_cidr cidr;
  char *pattern;    /* as written (hosts lower-cased) */
  char *evidence;   /* for people: why this is a fingerprint */
  const char *list; /* the file's name */
};

struct hslot {
  uint32_t tag;
  uint32_t rec;
};

struct uc_infra {
  atomic_int refs;
  struct uc_buf recs;    /* struct rec */
  struct uc_table hosts; /* struct hslot */
  char *lists[8];        /* file names, owned */
  size_t nlists;
};

struct hkey {
  const struct uc_infra *f;
  const char *s;
  size_t n;
};

static int host_eq(const void *slot, const void *k) {
  const struct hkey *key = k;
  const struct rec *r = &UC_BUF_AT(&key->f->recs, struct rec, ((const struct hslot *)slot)->rec);
  return strlen(r->pattern) == key->n && memcmp(r->pattern, key->s, key->n) == 0;
}

static int kind_of(const char *s) {
  return strcmp(s, "disposable") == 0 ? UC_INFRA_DISPOSABLE
         : strcmp(s, "relay") == 0    ? UC_INFRA_RELAY
         : strcmp(s, "shared") == 0   ? UC_INFRA_SHARED
                                      : 0;
}

static const char *what(int kind) {
  return kind == UC_INFRA_DISPOSABLE ? "disposable-mail service"
         : kind == UC_INFRA_RELAY    ? "relay (alias) service"
                                     : "shared mail host";
}

/* "KIND TYPE PATTERN [COUNT] [# where it comes from]" into r. */
static int parse_line(char *line, const char *list, struct rec *r, char *why, size_t ws) {
  char *hash = strchr(line, '#'), *save = NULL, evidence[300];
  const char *comment = "";
  if (hash) {
    *hash = 0;
    for (comment = hash + 1; *comment == ' ' || *comment == '\t'; comment++)
      ;
    ((char *)comment)[strcspn(comment, "\r\n")] = 0;
  }
  char *kind = strtok_r(line, " \t\r\n", &save), *type = strtok_r(NULL, " \t\r\n", &save);
  char *pattern = strtok_r(NULL, " \t\r\n", &save), *count = strtok_r(NULL, " \t\r\n", &save);
  if (!kind)
    return 1; /* blank or comment only */
  memset(r, 0, sizeof *r);
  r->kind = kind_of(kind);
  if (!r->kind || !type || (strcmp(type, "mx") && strcmp(type, "ip")) || !pattern ||
      strtok_r(NULL, " \t\r\n", &save))
    return uc_errorf(why, ws, UC_EFORMAT,
                     "expected KIND mx|ip PATTERN [COUNT], KIND one of "
                     "disposable, relay, shared");
  r->is_ip = strcmp(type, "ip") == 0;
  char *end = NULL;
  long n = count ? strtol(count, &end, 10) : 0;
  if (count && (*end || n < 0))
    return uc_errorf(why, ws, UC_EFORMAT, "COUNT '%s' is not a whole number", count);
  if (r->is_ip && uc_cidr_parse(pattern, &r->cidr, NULL) != UC_OK)
    return uc_errorf(why, ws, UC_EFORMAT, "'%s' is not an IP address or range", pattern);
  for (char *p = pattern; !r->is_ip && *p; p++)
    *p = (char)(*p >= 'A' && *p <= 'Z' ? *p | 0x20 : *p);
  if (!r->is_ip && (!strchr(pattern, '.') || strlen(pattern) > 253))
    return uc_errorf(why, ws, UC_EFORMAT, "'%s' is not a host name", pattern);
  if (count)
    snprintf(evidence, sizeof evidence, "MX %s shared by %ld listed %s domains",
             r->is_ip ? "address" : "host", n, r->kind == UC_INFRA_RELAY ? "relay" : "disposable");
  else
    snprintf(evidence, sizeof evidence, "MX %s of a %s%s%s", r->is_ip ? "address" : "host",
             what(r->kind), *comment ? ": " : "", comment);
  r->pattern = strdup(pattern);
  r->evidence = strdup(evidence);
  r->list = list;
  return r->pattern && r->evidence ? UC_OK : UC_ENOMEM;
}

static int add_rec(uc_infra *f, struct rec *r) {
  uint32_t i = (uint32_t)UC_BUF_COUNT(&f->recs, struct rec);
  int rc = uc_buf_add(&f->recs, r, sizeof *r);
  if (rc) {
    free(r->pattern), free(r->evidence);
    return rc;
  }
  if (r->is_ip)
    return UC_OK;
  struct hkey k = {f, r->pattern, strlen(r->pattern)};
  int created;
  struct hslot *s = uc_table_insert(&f->hosts, uc_hash(k.s, k.n, 0), host_eq, &k, &created);
  if (!s)
    return UC_ENOMEM;
  s->rec = i; /* a later line for the same host wins */
  return UC_OK;
}

static int load_file(uc_infra *f, const char *path, int optional, char *err, size_t es) {
  char line[LINE_MAX_LEN], why[200];
  FILE *in = fopen(path, "r");
  if (!in)
    return optional && errno == ENOENT
               ? UC_OK
               : uc_errorf(err, es, UC_EIO, "%s: %s", path, strerror(errno));
  if (f->nlists == sizeof f->lists / sizeof f->lists[0]) {
    fclose(in);
    return uc_errorf(err, es, UC_EINVAL, "%s: too many fingerprint files", path);
  }
  const char *base = strrchr(path, '/');
  char *list = f->lists[f->nlists++] = strdup(base ? base + 1 : path);
  int rc = list ? UC_OK : UC_ENOMEM;
  for (unsigned no = 1; rc == UC_OK && fgets(line, sizeof line, in); no++) {
    struct rec r;
    if (!strchr(line, '\n') && !feof(in)) {
      rc = uc_errorf(err, es, UC_EFORMAT, "%s:%u: line too long", path, no);
      break;
    }
    int p = parse_line(line, list, &r, why, sizeof why);
    if (p == 1)
      continue;
    rc = p ? uc_errorf(err, es, p, "%s:%u: %s", path, no, why) : add_rec(f, &r);
  }
  fclose(in);
  return rc;
}

int uc_infra_load(const char *const *paths, const int *optional, size_t n, uc_infra **out,
                  char *err, size_t es) {
  uc_infra *f = calloc(1, sizeof *f);
  int rc = UC_OK;
  *out = NULL;
  if (!f)
    return uc_errorf(err, es, UC_ENOMEM, "out of memory");
  atomic_init(&f->refs, 1);
  uc_buf_init(&f->recs, (size_t)1 << 30);
  uc_table_init(&f->hosts, sizeof(struct hslot), offsetof(struct hslot, tag));
  for (size_t i = 0; rc == UC_OK && i < n; i++)
    rc = load_file(f, paths[i], optional && optional[i], err, es);
  if (rc) {
    uc_infra_unref(f);
    return rc == UC_ENOMEM ? uc_errorf(err, es, rc, "out of memory") : rc;
  }
  *out = f;
  return UC_OK;
}

uc_infra *uc_infra_ref(uc_infra *f) {
  atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
  return f;
}

void uc_infra_unref(uc_infra *f) {
  if (!f || atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
    return;
  for (size_t i = 0; i < UC_BUF_COUNT(&f->recs, struct rec); i++) {
    free(UC_BUF_AT(&f->recs, struct rec, i).pattern);
    free(UC_BUF_AT(&f->recs, struct rec, i).evidence);
  }
  for (size_t i = 0; i < f->nlists; i++)
    free(f->lists[i]);
  uc_buf_release(&f->recs);
  uc_table_release(&f->hosts);
  free(f);
}

size_t uc_infra_count(const uc_infra *f) {
  return UC_BUF_COUNT(&f->recs, struct rec);
}

/* The record for host or its nearest listed parent, or NULL. */
static const struct rec *find_host(const uc_infra *f, const char *host) {
  size_t n = strlen(host);
  while (n) {
    struct hkey k = {f, host, n};
    const struct hslot *s = uc_table_find(&f->hosts, uc_hash(host, n, 0), host_eq, &k);
    if (s)
      return &UC_BUF_AT(&f->recs, struct rec, s->rec);
    const char *dot = memchr(host, '.', n);
    if (!dot)
      break;
    n -= (size_t)(dot + 1 - host);
    host = dot + 1;
  }
  return NULL;
}

/* The last record (later files win) whose range holds a, or NULL. */
static const struct rec *find_addr(const uc_infra *f, const struct uc_dns_addr *a) {
  struct uc_ip ip;
  const struct rec *found = NULL;
  memset(&ip, 0, sizeof ip);
  ip.family = a->family;
  memcpy(ip.addr, a->addr, a->family == 4 ? 4 : 16);
  for (size_t i = 0; i < UC_BUF_COUNT(&f->recs, struct rec); i++) {
    const struct rec *r = &UC_BUF_AT(&f->recs, struct rec, i);
    if (r->is_ip && uc_cidr_contains(&r->cidr, &ip))
      found = r;
  }
  return found;
}

int uc_infra_host(const uc_infra *f, const char *host, const char **pattern,
                  const char **evidence) {
  const struct rec *r = find_host(f, host);
  if (pattern)
    *pattern = r ? r->pattern : NULL;
  if (evidence)
    *evidence = r ? r->evidence : NULL;
  return r ? r->kind : 0;
}

static void set(struct uc_match *m, const struct rec *r) {
  if (!m->entry)
    *m = (struct uc_match){r->pattern, r->list, 0, 0, r->evidence};
}

void uc_infra_facts(const uc_infra *f, const struct uc_dns_facts *d, struct uc_facts *out) {
  int shared = 0;
  memset(out, 0, sizeof *out);
  if (d->status == UC_DNS_UNKNOWN)
    return;
  out->known = 1;
  out->no_website = d->status == UC_DNS_NXDOMAIN || d->null_mx || (!d->nmx && !d->has_address);
  for (size_t i = 0; f && i < d->nmx; i++) {
    const struct rec *r = find_host(f, uc_dns_mx_host(d, i));
    shared |= r && r->kind == UC_INFRA_SHARED;
    if (r && r->kind == UC_INFRA_DISPOSABLE)
      set(&out->masked, r);
    if (r && r->kind == UC_INFRA_RELAY)
      set(&out->relay, r);
  }
  for (size_t i = 0; f && i < d->naddr; i++) {
    const struct rec *r = find_addr(f, &d->addr[i]);
    if (r && r->kind == UC_INFRA_DISPOSABLE)
      set(&out->masked, r);
    if (r && r->kind == UC_INFRA_RELAY)
      set(&out->relay, r);
  }
  if (shared) /* shared hosting serves real people too: never a fingerprint */
    memset(&out->masked, 0, sizeof out->masked);
}

int uc_infra_open(const char *curated, const char *learned, uc_infra **out, char *err, size_t es) {
  char beside[4096];
  const char *paths[2];
  int optional[2];
  size_t n = 0;
  if (curated && *curated) {
    paths[n] = curated, optional[n++] = 0;
  } else if (uc_path_beside_exe("infrastructure.txt", beside, sizeof beside) == UC_OK) {
    paths[n] = beside, optional[n++] = 1;
  }
  if (learned && *learned)
    paths[n] = learned, optional[n++] = strcmp(learned, UC_INFRA_LEARNED_DEFAULT) == 0;
  return uc_infra_load(paths, optional, n, out, err, es);
}
