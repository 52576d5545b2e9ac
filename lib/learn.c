/* Learning fingerprints of disposable mail infrastructure (include/uc/learn.h).
 * The calling thread feeds domains to the resolver, at most `concurrency` in
 * flight; each answer is counted into the tallies under the learner's lock
 * (on the resolver thread, or the calling thread for a cached answer). */
#include "uc/learn.h"
#include "uc/buf.h"
#include "uc/date.h"
#include "uc/error.h"
#include "uc/table.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void uc_learn_opts_init(struct uc_learn_opts *o) {
  memset(o, 0, sizeof *o);
  o->min_domains = 3;
  o->concurrency = 256;
  o->timeout_ms = 3000;
}

/* A tally: an MX host or address, how many disposable domains use it, and
 * whether a good (free-provider or guard) domain does. */
struct tally {
  uint32_t tag;
  uint32_t disposable;
  uint8_t good;
  uint8_t curated; /* an address of a curated shared-hosting or relay MX host */
  char key[256];   /* a host name, or "4:" / "6:" and 16 address bytes as text */
};

struct job {
  struct uc_dns_wait w;
  struct learner *L;
  int good;
};

struct learner {
  uc_dns *d;
  const uc_infra *curated;
  struct uc_table tallies; /* struct tally; the resolver thread's while running */
  struct uc_learn_report *rep;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  size_t in_flight, done;
  int failed; /* out of memory in a tally */
};

static int tally_eq(const void *slot, const void *key) {
  return strcmp(((const struct tally *)slot)->key, key) == 0;
}

static void count(struct learner *L, const char *key, int good, int curated) {
  struct tally *t = uc_table_insert(&L->tallies, uc_hash(key, strlen(key), 0), tally_eq, key, NULL);
  if (!t) {
    L->failed = 1;
    return;
  }
  if (!t->key[0])
    snprintf(t->key, sizeof t->key, "%s", key);
  t->curated |= (uint8_t)curated;
  if (good)
    t->good = 1;
  else
    t->disposable++;
}

/* Whether a host is curated shared hosting or a relay's MX. */
static int curated_out(const uc_infra *curated, const char *host) {
  int kind = curated ? uc_infra_host(curated, host, NULL, NULL) : 0;
  return kind == UC_INFRA_SHARED || kind == UC_INFRA_RELAY;
}

static void addr_key(const struct uc_dns_addr *a, char out[64]) {
  char text[INET6_ADDRSTRLEN];
  inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->addr, text, sizeof text);
  snprintf(out, 64, "ip %s", text);
}

/* On the resolver thread: one domain's answer into the tallies. Each host and
 * address counts once per domain. */
static void answered(struct uc_dns_wait *w) {
  struct job *j = (struct job *)w;
  struct learner *L = j->L;
  const struct uc_dns_facts *f = &w->facts;
  pthread_mutex_lock(&L->lock);
  if (f->status == UC_DNS_ANSWERED)
    L->rep->answered++;
  else if (f->status == UC_DNS_NXDOMAIN)
    L->rep->nxdomain++;
  else
    L->rep->failed++;
  for (size_t i = 0; f->status == UC_DNS_ANSWERED && i < f->nmx; i++) {
    char key[300];
    snprintf(key, sizeof key, "mx %s", uc_dns_mx_host(f, i));
    count(L, key, j->good, curated_out(L->curated, uc_dns_mx_host(f, i)));
  }
  for (size_t i = 0; f->status == UC_DNS_ANSWERED && i < f->naddr; i++) {
    char key[64];
    int dup = 0;
    for (size_t k = 0; k < i; k++) /* two MX hosts on one address: one domain */
      dup |= f->addr[k].family == f->addr[i].family &&
             memcmp(f->addr[k].addr, f->addr[i].addr, 16) == 0;
    addr_key(&f->addr[i], key);
    if (!dup)
      count(L, key, j->good, curated_out(L->curated, uc_dns_mx_host(f, f->addr[i].mx)));
  }
  free(j);
  L->in_flight--, L->done++;
  pthread_cond_signal(&L->cond);
  pthread_mutex_unlock(&L->lock);
}

struct feed {
  struct learner *L;
  const struct uc_learn_opts *o;
  size_t total;
  uint64_t next_progress;
};

/* Waits for room, then asks about domain. */
static void submit(struct feed *fd, const char *domain, int good) {
  struct learner *L = fd->L;
  struct job *j = calloc(1, sizeof *j);
  if (!j) {
    L->failed = 1;
    return;
  }
  j->L = L, j->good = good;
  j->w.done = answered, j->w.arg = j;
  j->w.deadline_ms = uc_dns_now_ms() + fd->o->timeout_ms;
  pthread_mutex_lock(&L->lock);
  while (L->in_flight >= fd->o->concurrency)
    pthread_cond_wait(&L->cond, &L->lock);
  L->in_flight++;
  size_t done = L->done;
  pthread_mutex_unlock(&L->lock);
  if (fd->o->progress && uc_dns_now_ms() >= fd->next_progress) {
    fd->o->progress(fd->o->progress_arg, done, fd->total);
    fd->next_progress = uc_dns_now_ms() + 200;
  }
  if (uc_dns_lookup(L->d, domain, &j->w, &j->w.facts) == UC_DNS_HIT)
    answered(&j->w); /* a cached answer: counted here, under the same rules */
}

struct pick {
  struct feed *fd;
  int pass; /* 0: count, 1: submit */
};

/* Disposable: listed disposable and nothing that outweighs it; good: a free
 * provider or a guarded major provider. */
static int classify_entry(const struct uc_list_hit *h) {
  if ((h->flags & UC_LF_DISPOSABLE) && !(h->flags & (UC_LF_RELAY | UC_LF_GUARD | UC_LF_FREE)))
    return 1;
  if (h->flags & (UC_LF_FREE | UC_LF_GUARD))
    return 2;
  return 0;
}

static int each_domain(void *arg, const struct uc_list_hit *h) {
  struct pick *p = arg;
  int kind = classify_entry(h);
  if (!kind)
    return 0;
  if (p->pass == 0) {
    p->fd->total++;
    return 0;
  }
  p->fd->L->rep->disposable += kind == 1;
  p->fd->L->rep->good += kind == 2;
  submit(p->fd, h->entry, kind == 2);
  return p->fd->L->failed;
}

static int by_count(const void *a, const void *b) {
  const struct tally *x = *(const struct tally *const *)a, *y = *(const struct tally *const *)b;
  if (x->disposable != y->disposable)
    return x->disposable > y->disposable ? -1 : 1;
  return strcmp(x->key, y->key);
}

static int write_file(struct learner *L, const uc_lists *l, const struct uc_learn_opts *o,
                      const char *path, char *err, size_t es) {
  struct uc_learn_report *rep = L->rep;
  struct uc_buf keep;
  char tmp[4200], when[UC_TIME_ISO_MAX];
  uc_buf_init(&keep, (size_t)1 << 30);
  for (uint32_t i = 0; i < uc_table_capacity(&L->tallies); i++) {
    struct tally *t = uc_table_slot(&L->tallies, i);
    if (!uc_table_used(&L->tallies, i) || !t->disposable)
      continue;
    int host = strncmp(t->key, "mx ", 3) == 0;
    host ? rep->hosts_seen++ : rep->addrs_seen++;
    if (t->disposable < o->min_domains)
      continue;
    if (t->good) {
      rep->dropped_good++;
      continue;
    }
    if (t->curated) {
      rep->dropped_curated++;
      continue;
    }
    if (uc_buf_add(&keep, &t, sizeof t)) {
      uc_buf_release(&keep);
      return uc_errorf(err, es, UC_ENOMEM, "out of memory");
    }
    host ? rep->hosts_kept++ : rep->addrs_kept++;
  }
  size_t n = UC_BUF_COUNT(&keep, struct tally *);
  if (n)
    qsort(keep.data, n, sizeof(struct tally *), by_count);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  int rc = UC_OK;
  if (!f) {
    uc_buf_release(&keep);
    return uc_errorf(err, es, UC_EIO, "%s: %s", tmp, strerror(errno));
  }
  uc_time_format((int64_t)time(NULL), UC_TIME_ISO, when, sizeof when);
  fprintf(f,
          "# usercleaning learned fingerprints (usercleaning lists learn-infrastructure)\n"
          "# %s, lists %s: %zu disposable and %zu free/guard domains resolved; kept MX hosts\n"
          "# and addresses used by at least %u listed disposable domains and by no free or\n"
          "# guard domain, not shared hosting or a relay. KIND TYPE PATTERN COUNT.\n",
          when, uc_lists_version(l), rep->disposable, rep->good, o->min_domains);
  for (size_t i = 0; i < n; i++) {
    const struct tally *t = UC_BUF_AT(&keep, struct tally *, i);
    fprintf(f, "disposable %s %u\n", t->key, t->disposable);
  }
  if (ferror(f) | (fclose(f) != 0) || rename(tmp, path) != 0)
    rc = uc_errorf(err, es, UC_EIO, "%s: %s", path, strerror(errno));
  uc_buf_release(&keep);
  return rc;
}

int uc_learn_infrastructure(const uc_lists *l, uc_dns *d, const uc_infra *curated,
                            const struct uc_learn_opts *o, const char *out_path,
                            struct uc_learn_report *rep, char *err, size_t es) {
  struct learner L = {.d = d, .curated = curated, .rep = rep};
  struct feed fd = {&L, o, 0, 0};
  struct pick p = {&fd, 0};
  uint64_t t0 = uc_dns_now_ms();
  memset(rep, 0, sizeof *rep);
  if (!o->concurrency)
    return uc_errorf(err, es, UC_EINVAL, "concurrency must be at least 1");
  pthread_mutex_init(&L.lock, NULL);
  pthread_cond_init(&L.cond, NULL);
  uc_table_init(&L.tallies, sizeof(struct tally), offsetof(struct tally, tag));
  uc_lists_each_domain(l, each_domain, &p); /* pass 0: how many, for the progress */
  p.pass = 1;
  uc_lists_each_domain(l, each_domain, &p);
  pthread_mutex_lock(&L.lock);
  while (L.in_flight)
    pthread_cond_wait(&L.cond, &L.lock);
  pthread_mutex_unlock(&L.lock);
  if (o->progress)
    o->progress(o->progress_arg, L.done, fd.total);
  int rc = L.failed ? uc_errorf(err, es, UC_ENOMEM, "out of memory")
                    : write_file(&L, l, o, out_path, err, es);
  rep->seconds = (double)(uc_dns_now_ms() - t0) / 1000.0;
  uc_table_release(&L.tallies);
  pthread_mutex_destroy(&L.lock);
  pthread_cond_destroy(&L.cond);
  return rc;
}
