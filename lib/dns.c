/* The resolver (include/uc/dns.h, docs/internals/dns.md): a c-ares channel
 * driven by one thread with epoll, a sharded cache of mail facts per domain,
 * and callers' waits fired on the answer or at their deadline.
 *
 * Locks: a shard's lock guards its table and its entries' state and facts;
 * wait_lock guards the list of waits and the queue of entries to start. The
 * only nesting is shard -> wait_lock (a lookup that joins a lookup in flight
 * links its wait before the answer can be published). Entries in flight are
 * never evicted; the resolver thread stops touching an entry once it has
 * published its answer. */
#include "uc/dns.h"
#include "uc/error.h"
#include "uc/table.h"

#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define SHARDS 16
#define MX_LOOKED_UP 4 /* MX hosts whose addresses are asked for */
#define C_IN 1
#define T_A 1
#define T_NS 2
#define T_SOA 6
#define T_MX 15
#define T_AAAA 28
#define PROBE_MS 60000 /* how often the resolver is asked whether the root exists */

enum state { NEW, QUEUED, RUNNING, DONE };

struct entry {
  char domain[256];
  uint8_t state;
  uint64_t expires_ms;
  struct uc_dns_facts facts;
  /* while RUNNING, the resolver thread's alone: */
  struct uc_dns_facts building;
  int outstanding, failed;
  int addr_failed; /* an A or AAAA of the domain itself went unanswered */
  uint32_t ttl;    /* the smallest TTL seen, seconds */
  size_t names_len;
  struct entry *next_start; /* in the start queue, then among the held (probe) */
};

struct slot {
  uint32_t tag;
  struct entry *e;
};

struct shard {
  pthread_mutex_t lock;
  struct uc_table t; /* struct slot, tag inside */
  uint32_t hand;
};

struct uc_dns {
  struct uc_dns_config cfg;
  ares_channel ch;
  int epfd, evfd;
  pthread_t thread;
  atomic_int stop;
  atomic_int stop_waiting;       /* uc_dns_stop_waiting: every wait fires now */
  _Atomic uint64_t next_wake_ms; /* when the loop wakes on its own */
  struct shard shards[SHARDS];
  size_t max_per_shard;
  pthread_mutex_t wait_lock;
  struct uc_dns_wait *waits; /* every wait not fired yet */
  struct entry *start_head, *start_tail;
  atomic_size_t in_flight; /* lookups queued or running */
  size_t max_in_flight;
  _Atomic uint64_t lookups, hits, started, nwaits, timeouts, queries, failures, shed;
  /* Whether the resolver's "does not exist" is believed (see probe). */
  atomic_int verdict; /* enum verdict */
  atomic_uint_fast64_t disbelieved;
  /* the resolver thread's alone: */
  uint64_t probe_next_ms;
  int probe_pending;
  struct entry *held; /* NXDOMAIN answers waiting for the first verdict */
};

enum verdict { UNTESTED, HONEST, DENYING };

/* One c-ares query's context. */
enum kind { Q_MX, Q_A, Q_AAAA, Q_MX_A, Q_MX_AAAA };
struct query {
  uc_dns *d;
  struct entry *e;
  uint8_t kind, mx;
};

uint64_t uc_dns_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void uc_dns_config_init(struct uc_dns_config *c) {
  memset(c, 0, sizeof *c);
  c->ttl_min = 60;
  c->ttl_max = 86400;
  c->fail_ttl = 30;
  c->query_timeout_ms = 1000;
  c->cache_max = 16384;
}

int uc_dns_config_server(struct uc_dns_config *c, const char *spec) {
  char host[64];
  const char *port = NULL;
  size_t n = strlen(spec);
  if (n == 0 || n >= sizeof host || c->nservers == UC_DNS_SERVERS_MAX)
    return UC_EINVAL;
  if (spec[0] == '[') { /* [v6]:port */
    const char *close = strchr(spec, ']');
    if (!close || (close[1] && close[1] != ':'))
      return UC_EINVAL;
    snprintf(host, sizeof host, "%.*s", (int)(close - spec - 1), spec + 1);
    port = close[1] ? close + 2 : NULL;
  } else {
    const char *colon = strchr(spec, ':');
    int v6 = colon && strchr(colon + 1, ':');
    snprintf(host, sizeof host, "%.*s", (int)(colon && !v6 ? (size_t)(colon - spec) : n), spec);
    port = colon && !v6 ? colon + 1 : NULL;
  }
  unsigned char buf[16];
  int v6 = inet_pton(AF_INET6, host, buf) == 1;
  if (!v6 && inet_pton(AF_INET, host, buf) != 1)
    return UC_EINVAL;
  char *end;
  long p = port ? strtol(port, &end, 10) : 53;
  if (port && (!*port || *end || p < 1 || p > 65535))
    return UC_EINVAL;
  snprintf(c->servers[c->nservers++], sizeof c->servers[0], v6 ? "[%s]:%ld" : "%s:%ld", host, p);
  return UC_OK;
}

/* ---- the cache ---- */

static int slot_eq(const void *slot, const void *domain) {
  return strcmp(((const struct slot *)slot)->e->domain, domain) == 0;
}

static struct shard *shard_of(uc_dns *d, uint32_t h) {
  return &d->shards[h >> 28];
}

/* With s locked: drops the entry that expired first (or the oldest answer)
 * among 64 slots from the hand. Entries in flight stay. 0 when none went. */
static int evict_one(struct shard *s) {
  uint32_t cap = uc_table_capacity(&s->t), best = UINT32_MAX;
  uint64_t soonest = UINT64_MAX;
  for (uint32_t n = 0; n < 64 && n < cap; n++) {
    uint32_t i = (s->hand + n) & s->t.mask;
    const struct slot *sl = uc_table_slot(&s->t, i);
    if (uc_table_used(&s->t, i) && sl->e->state == DONE && sl->e->expires_ms < soonest)
      soonest = sl->e->expires_ms, best = i;
  }
  s->hand += 64;
  if (best == UINT32_MAX)
    return 0; /* in flight: the table grows past its bound for as long */
  struct slot *victim = uc_table_slot(&s->t, best);
  free(victim->e);
  uc_table_remove(&s->t, victim);
  return 1;
}

static void wake(uc_dns *d) {
  uint64_t one = 1;
  ssize_t n = write(d->evfd, &one, sizeof one);
  (void)n; /* a full eventfd is already awake */
}

static void link_wait(uc_dns *d, struct uc_dns_wait *w, struct entry *e) {
  w->entry = e;
  w->prev = NULL;
  w->next = d->waits;
  if (d->waits)
    d->waits->prev = w;
  d->waits = w;
}

static void unlink_wait(uc_dns *d, struct uc_dns_wait *w) {
  if (w->prev)
    w->prev->next = w->next;
  else
    d->waits = w->next;
  if (w->next)
    w->next->prev = w->prev;
  w->prev = w->next = NULL;
}

enum uc_dns_lookup_result uc_dns_lookup(uc_dns *d, const char *domain, struct uc_dns_wait *w,
                                        struct uc_dns_facts *out) {
  uint32_t h = uc_hash(domain, strlen(domain), 0);
  struct shard *s = shard_of(d, h);
  uint64_t now = uc_dns_now_ms();
  int start = 0;
  atomic_fetch_add(&d->lookups, 1);
  pthread_mutex_lock(&s->lock);
  struct slot *sl = uc_table_find(&s->t, h, slot_eq, domain);
  if (sl && sl->e->state == DONE && sl->e->expires_ms > now) {
    *out = sl->e->facts;
    pthread_mutex_unlock(&s->lock);
    atomic_fetch_add(&d->hits, 1);
    return UC_DNS_HIT;
  }
  int full = atomic_load(&d->in_flight) >= d->max_in_flight;
  if (!sl && *domain && strlen(domain) < sizeof sl->e->domain && !full) {
    /* back under the bound once the lookups that held it past are answered */
    while (s->t.count >= d->max_per_shard && evict_one(s)) {
    }
    struct entry *e = calloc(1, sizeof *e);
    if (e && (sl = uc_table_insert(&s->t, h, slot_eq, domain, NULL)) != NULL) {
      snprintf(e->domain, sizeof e->domain, "%s", domain);
      sl->e = e;
    } else {
      free(e);
      sl = NULL;
    }
  }
  struct entry *e = sl ? sl->e : NULL;
  int stale = e && (e->state == NEW || e->state == DONE);
  if (!e || (stale && full) || (w && atomic_load(&d->stop_waiting))) {
    /* no such name, out of memory, too many lookups at once (the caller
     * answers from what it knows rather than queue without bound), or the
     * server is stopping: nothing known */
    if (e && e->state == DONE)
      *out = e->facts; /* expired, yet better than nothing */
    else
      memset(out, 0, sizeof *out);
    pthread_mutex_unlock(&s->lock);
    if (e || full)
      atomic_fetch_add(&d->shed, 1);
    return UC_DNS_HIT;
  }
  if (stale) {
    e->state = QUEUED, start = 1;
    atomic_fetch_add(&d->started, 1);
    atomic_fetch_add(&d->in_flight, 1);
  }
  pthread_mutex_lock(&d->wait_lock);
  if (start) {
    e->next_start = NULL;
    if (d->start_tail)
      d->start_tail->next_start = e;
    else
      d->start_head = e;
    d->start_tail = e;
  }
  if (w) {
    link_wait(d, w, e);
    atomic_fetch_add(&d->nwaits, 1);
  }
  pthread_mutex_unlock(&d->wait_lock);
  pthread_mutex_unlock(&s->lock);
  /* the loop sleeps until its next deadline: a sooner one must wake it */
  if (start || (w && w->deadline_ms < atomic_load(&d->next_wake_ms)))
    wake(d);
  return w ? UC_DNS_WAIT : UC_DNS_MISS;
}

/* ---- answers ---- */

/* The smallest TTL of the answer section, or for a negative answer the
 * SOA's (RFC 2308: min of its TTL and MINIMUM). 0 when none is found. */
static uint32_t answer_ttl(const unsigned char *abuf, int alen, int negative) {
  if (!abuf || alen < 12)
    return 0;
  unsigned qd = (unsigned)(abuf[4] << 8 | abuf[5]), an = (unsigned)(abuf[6] << 8 | abuf[7]);
  unsigned ns = (unsigned)(abuf[8] << 8 | abuf[9]);
  const unsigned char *p = abuf + 12, *end = abuf + alen;
  long enclen;
  char *name;
  for (unsigned i = 0; i < qd; i++) {
    if (ares_expand_name(p, abuf, alen, &name, &enclen) != ARES_SUCCESS)
      return 0;
    ares_free_string(name);
    p += enclen + 4;
    if (p > end)
      return 0;
  }
  uint32_t best = 0;
  for (unsigned i = 0; i < an + (negative ? ns : 0); i++) {
    if (p >= end || ares_expand_name(p, abuf, alen, &name, &enclen) != ARES_SUCCESS)
      return best;
    ares_free_string(name);
    p += enclen;
    if (end - p < 10)
      return best;
    unsigned type = (unsigned)(p[0] << 8 | p[1]), rdlen = (unsigned)(p[8] << 8 | p[9]);
    uint32_t ttl = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
    if ((size_t)(end - p) < 10 + (size_t)rdlen)
      return best;
    if (negative && i >= an && type == T_SOA && rdlen >= 20) {
      const unsigned char *m = p + 10 + rdlen - 4;
      uint32_t minimum = (uint32_t)m[0] << 24 | (uint32_t)m[1] << 16 | (uint32_t)m[2] << 8 | m[3];
      return ttl < minimum ? ttl : minimum;
    }
    if (!negative && (!best || ttl < best))
      best = ttl;
    p += 10 + rdlen;
  }
  return best;
}

static void note_ttl(struct entry *e, uint32_t ttl) {
  if (ttl && (!e->ttl || ttl < e->ttl))
    e->ttl = ttl;
}

static void ask(uc_dns *d, struct entry *e, const char *name, int type, enum kind kind, uint8_t mx);

/* Lower case, no trailing dot; "" for the root (a null MX). */
static void host_of(const char *in, char *out, size_t size) {
  size_t n = strlen(in);
  while (n && in[n - 1] == '.')
    n--;
  if (n >= size)
    n = 0;
  for (size_t i = 0; i < n; i++)
    out[i] = (char)(in[i] >= 'A' && in[i] <= 'Z' ? in[i] | 0x20 : in[i]);
  out[n] = 0;
}

static int by_pref(const void *a, const void *b) {
  const struct ares_mx_reply *x = *(const struct ares_mx_reply *const *)a;
  const struct ares_mx_reply *y = *(const struct ares_mx_reply *const *)b;
  if (x->priority != y->priority)
    return x->priority < y->priority ? -1 : 1;
  return strcasecmp(x->host, y->host);
}

static void ask_addresses(uc_dns *d, struct entry *e) {
  ask(d, e, e->domain, T_A, Q_A, 0);
  ask(d, e, e->domain, T_AAAA, Q_AAAA, 0);
}

static int has_mx(const struct uc_dns_facts *f, const char *host) {
  for (uint8_t i = 0; i < f->nmx; i++)
    if (strcmp(uc_dns_mx_host(f, i), host) == 0)
      return 1;
  return 0;
}

/* The MX answer: hosts in preference order (ties by name), then their addresses. */
static void take_mx(uc_dns *d, struct entry *e, const unsigned char *abuf, int alen) {
  struct ares_mx_reply *mx = NULL, *sorted[64];
  size_t n = 0;
  struct uc_dns_facts *f = &e->building;
  if (ares_parse_mx_reply(abuf, alen, &mx) != ARES_SUCCESS || !mx) {
    /* an answer without MX (a CNAME to a name that has none): as NODATA */
    ask_addresses(d, e);
    return;
  }
  for (struct ares_mx_reply *m = mx; m && n < 64; m = m->next)
    sorted[n++] = m;
  qsort(sorted, n, sizeof *sorted, by_pref);
  for (size_t i = 0; i < n && f->nmx < UC_DNS_MX_MAX; i++) {
    char host[256];
    host_of(sorted[i]->host, host, sizeof host);
    if (!host[0]) { /* "MX 0 .": this domain takes no mail (RFC 7505) */
      f->null_mx = n == 1;
      continue;
    }
    if (has_mx(f, host))
      continue; /* one host named twice (at two preferences) */
    size_t len = strlen(host) + 1;
    if (e->names_len + len > sizeof f->names)
      break;
    memcpy(f->names + e->names_len, host, len);
    f->mx_off[f->nmx] = (uint16_t)e->names_len;
    f->mx_pref[f->nmx++] = sorted[i]->priority;
    e->names_len += len;
  }
  ares_free_data(mx);
  for (uint8_t i = 0; i < f->nmx && i < MX_LOOKED_UP; i++) {
    ask(d, e, uc_dns_mx_host(f, i), T_A, Q_MX_A, i);
    ask(d, e, uc_dns_mx_host(f, i), T_AAAA, Q_MX_AAAA, i);
  }
}

/* Addresses of an A or AAAA answer: the domain has one, or an MX host's. */
static void take_addresses(struct entry *e, const unsigned char *abuf, int alen, int v6, int of_mx,
                           uint8_t mx) {
  struct ares_addrttl a4[UC_DNS_ADDR_MAX];
  struct ares_addr6ttl a6[UC_DNS_ADDR_MAX];
  int n = UC_DNS_ADDR_MAX;
  struct uc_dns_facts *f = &e->building;
  int rc = v6 ? ares_parse_aaaa_reply(abuf, alen, NULL, a6, &n)
              : ares_parse_a_reply(abuf, alen, NULL, a4, &n);
  if (rc != ARES_SUCCESS || n <= 0)
    return;
  if (!of_mx) {
    f->has_address = 1;
    note_ttl(e, (uint32_t)(v6 ? a6[0].ttl : a4[0].ttl));
    return;
  }
  for (int i = 0; i < n && f->naddr < UC_DNS_ADDR_MAX; i++) {
    struct uc_dns_addr *a = &f->addr[f->naddr++];
    memset(a, 0, sizeof *a);
    a->family = v6 ? 6 : 4, a->mx = mx;
    memcpy(a->addr, v6 ? (const void *)&a6[i].ip6addr : (const void *)&a4[i].ipaddr, v6 ? 16 : 4);
  }
}

static void settle(uc_dns *d, struct entry *e);

static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen) {
  struct query *q = arg;
  uc_dns *d = q->d;
  struct entry *e = q->e;
  (void)timeouts;
  if (q->kind == Q_MX) {
    if (status == ARES_SUCCESS) {
      e->building.status = UC_DNS_ANSWERED;
      note_ttl(e, answer_ttl(abuf, alen, 0));
      take_mx(d, e, abuf, alen);
    } else if (status == ARES_ENODATA) { /* exists, publishes no MX: an A is an implicit MX */
      e->building.status = UC_DNS_ANSWERED;
      note_ttl(e, answer_ttl(abuf, alen, 1));
      ask_addresses(d, e);
    } else if (status == ARES_ENOTFOUND) {
      e->building.status = UC_DNS_NXDOMAIN;
      note_ttl(e, answer_ttl(abuf, alen, 1));
    } else { /* timeout, SERVFAIL, refused...: nothing is known */
      e->failed = 1;
    }
  } else if (status == ARES_SUCCESS) {
    take_addresses(e, abuf, alen, q->kind == Q_AAAA || q->kind == Q_MX_AAAA,
                   q->kind == Q_MX_A || q->kind == Q_MX_AAAA, q->mx);
  } else if ((q->kind == Q_A || q->kind == Q_AAAA) && status != ARES_ENODATA &&
             status != ARES_ENOTFOUND) {
    e->addr_failed = 1; /* "no address" would be a guess: see finish */
  }
  free(q);
  if (--e->outstanding == 0)
    settle(d, e);
}

static void ask(uc_dns *d, struct entry *e, const char *name, int type, enum kind kind,
                uint8_t mx) {
  struct query *q = d->ch ? malloc(sizeof *q) : NULL;
  if (!q) { /* out of memory, or the channel is gone (shutting down) */
    e->failed = 1;
    return;
  }
  *q = (struct query){d, e, (uint8_t)kind, mx};
  e->outstanding++; /* before: c-ares may answer at once */
  atomic_fetch_add(&d->queries, 1);
  ares_query(d->ch, name, C_IN, type, on_answer, q);
}

static uint32_t clamp(uint32_t v, uint32_t lo, uint32_t hi) {
  return v < lo ? lo : v > hi ? hi : v;
}

/* Publishes e's answer and fires the waits that wanted it. */
static void finish(uc_dns *d, struct entry *e) {
  uint32_t h = uc_hash(e->domain, strlen(e->domain), 0);
  struct shard *s = shard_of(d, h);
  struct uc_dns_wait *fired = NULL;
  struct uc_dns_facts f;
  /* exists without MX, and whether it has an address went unanswered */
  if (e->addr_failed && !e->building.nmx && !e->building.has_address)
    e->failed = 1;
  if (e->failed) {
    memset(&e->building, 0, sizeof e->building); /* UC_DNS_UNKNOWN */
    atomic_fetch_add(&d->failures, 1);
  }
  uint32_t ttl = e->failed ? d->cfg.fail_ttl : clamp(e->ttl, d->cfg.ttl_min, d->cfg.ttl_max);
  pthread_mutex_lock(&s->lock);
  e->facts = f = e->building;
  e->expires_ms = uc_dns_now_ms() + (uint64_t)ttl * 1000u;
  /* The waits are taken before the shard unlocks: once DONE, e may be
   * evicted and its memory reused by a new entry with waits of its own. */
  pthread_mutex_lock(&d->wait_lock);
  for (struct uc_dns_wait *w = d->waits, *next; w; w = next) {
    next = w->next;
    if (w->entry == e) {
      unlink_wait(d, w);
      w->next = fired, fired = w;
    }
  }
  pthread_mutex_unlock(&d->wait_lock);
  e->state = DONE; /* from here on, e is the cache's (and may be evicted) */
  pthread_mutex_unlock(&s->lock);
  atomic_fetch_sub(&d->in_flight, 1);
  for (struct uc_dns_wait *w = fired, *next; w; w = next) {
    next = w->next;
    w->facts = f;
    w->done(w); /* the last touch: w may be gone after this */
  }
}

/* ---- the resolver thread ---- */

static void sock_state(void *data, ares_socket_t fd, int readable, int writable) {
  uc_dns *d = data;
  struct epoll_event ev = {0};
  ev.events = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0);
  ev.data.fd = fd;
  if (!readable && !writable)
    epoll_ctl(d->epfd, EPOLL_CTL_DEL, fd, NULL);
  else if (epoll_ctl(d->epfd, EPOLL_CTL_MOD, fd, &ev) != 0)
    epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void start_queued(uc_dns *d) {
  pthread_mutex_lock(&d->wait_lock);
  struct entry *e = d->start_head;
  d->start_head = d->start_tail = NULL;
  pthread_mutex_unlock(&d->wait_lock);
  while (e) {
    struct entry *next = e->next_start;
    uint32_t h = uc_hash(e->domain, strlen(e->domain), 0);
    struct shard *s = shard_of(d, h);
    pthread_mutex_lock(&s->lock);
    e->state = RUNNING;
    pthread_mutex_unlock(&s->lock);
    memset(&e->building, 0, sizeof e->building);
    e->outstanding = 0, e->failed = 0, e->addr_failed = 0, e->ttl = 0, e->names_len = 0;
    e->outstanding++; /* held while asking, so that an at-once answer cannot finish it early */
    ask(d, e, e->domain, T_MX, Q_MX, 0);
    if (--e->outstanding == 0)
      settle(d, e);
    e = next;
  }
}

/* Some resolvers (sandboxes, locked-down networks, captive portals) answer
 * "does not exist" for every name. Believed, that would make every unlisted
 * domain "no website": every real person blocked. So the resolver is asked,
 * at start and every PROBE_MS, for the root zone's NS, which always exists:
 * NXDOMAIN for it means denying; an answer means honest; anything else
 * (timeout, REFUSED, SERVFAIL) says nothing and the last verdict stands. */
static void on_probe(void *arg, int status, int timeouts, unsigned char *abuf, int alen) {
  uc_dns *d = arg;
  (void)timeouts, (void)abuf, (void)alen;
  d->probe_pending = 0;
  if (status == ARES_ENOTFOUND)
    atomic_store(&d->verdict, DENYING);
  else if (status == ARES_SUCCESS || status == ARES_ENODATA ||
           atomic_load(&d->verdict) == UNTESTED) /* nothing said at first: believed, as ever */
    atomic_store(&d->verdict, HONEST);
  struct entry *e = d->held;
  d->held = NULL;
  while (e) {
    struct entry *next = e->next_start;
    settle(d, e);
    e = next;
  }
}

/* An answer is complete: a "does not exist" waits for the first verdict and
 * is taken as nothing known from a denying resolver; then it is published. */
static void settle(uc_dns *d, struct entry *e) {
  if (!e->failed && e->building.status == UC_DNS_NXDOMAIN) {
    int v = atomic_load(&d->verdict);
    if (v == UNTESTED) {
      e->next_start = d->held, d->held = e;
      return;
    }
    if (v == DENYING) {
      e->failed = 1;
      atomic_fetch_add(&d->disbelieved, 1);
    }
  }
  finish(d, e);
}

static void probe(uc_dns *d, uint64_t now) {
  if (d->probe_pending || now < d->probe_next_ms || !d->ch)
    return;
  d->probe_pending = 1;
  d->probe_next_ms = now + PROBE_MS;
  ares_query(d->ch, ".", C_IN, T_NS, on_probe, d);
}

/* Fires the waits whose deadline has passed (nothing known); returns the
 * milliseconds to the next deadline (or max_wait). */
static int expire_waits(uc_dns *d, uint64_t now, int max_wait) {
  struct uc_dns_wait *fired = NULL;
  uint64_t next_deadline = UINT64_MAX;
  pthread_mutex_lock(&d->wait_lock);
  for (struct uc_dns_wait *w = d->waits, *next; w; w = next) {
    next = w->next;
    if (w->deadline_ms <= now) {
      unlink_wait(d, w);
      w->next = fired, fired = w;
    } else if (w->deadline_ms < next_deadline) {
      next_deadline = w->deadline_ms;
    }
  }
  pthread_mutex_unlock(&d->wait_lock);
  for (struct uc_dns_wait *w = fired, *next; w; w = next) {
    next = w->next;
    memset(&w->facts, 0, sizeof w->facts); /* UC_DNS_UNKNOWN: the deadline came first */
    atomic_fetch_add(&d->timeouts, 1);
    w->done(w);
  }
  if (next_deadline == UINT64_MAX || next_deadline - now > (uint64_t)max_wait)
    return max_wait;
  return (int)(next_deadline - now);
}

static void *loop(void *arg) {
  uc_dns *d = arg;
  struct epoll_event evs[32];
  while (!atomic_load(&d->stop)) {
    atomic_store(&d->next_wake_ms, 0); /* any wait linked meanwhile wakes us */
    probe(d, uc_dns_now_ms());         /* before the lookups: its answer comes first */
    start_queued(d);
    struct timeval tv, *tvp, max = {1, 0};
    tvp = ares_timeout(d->ch, &max, &tv);
    uint64_t now = atomic_load(&d->stop_waiting) ? UINT64_MAX : uc_dns_now_ms();
    int wait = expire_waits(d, now, (int)(tvp->tv_sec * 1000 + tvp->tv_usec / 1000) + 1);
    /* published before sleeping: a wait due sooner wakes the loop (lookup) */
    atomic_store(&d->next_wake_ms, uc_dns_now_ms() + (uint64_t)wait);
    int n = epoll_wait(d->epfd, evs, 32, wait);
    for (int i = 0; i < n; i++) {
      if (evs[i].data.fd == d->evfd) {
        uint64_t v;
        ssize_t r = read(d->evfd, &v, sizeof v);
        (void)r;
        continue;
      }
      ares_socket_t fd = evs[i].data.fd;
      int rd = (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0;
      int wr = (evs[i].events & EPOLLOUT) != 0;
      ares_process_fd(d->ch, rd ? fd : ARES_SOCKET_BAD, wr ? fd : ARES_SOCKET_BAD);
    }
    ares_process_fd(d->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD); /* timeouts and retries */
  }
  return NULL;
}

/* ---- lifecycle ---- */

static int set_servers(uc_dns *d, char *err, size_t es) {
  char csv[UC_DNS_SERVERS_MAX * 66] = "";
  for (size_t i = 0; i < d->cfg.nservers; i++)
    snprintf(csv + strlen(csv), sizeof csv - strlen(csv), "%s%s", i ? "," : "", d->cfg.servers[i]);
  int rc = d->cfg.nservers ? ares_set_servers_ports_csv(d->ch, csv) : ARES_SUCCESS;
  if (rc != ARES_SUCCESS)
    return uc_errorf(err, es, UC_EINVAL, "DNS servers '%s': %s", csv, ares_strerror(rc));
  return UC_OK;
}

int uc_dns_open(const struct uc_dns_config *c, uc_dns **out, char *err, size_t es) {
  struct ares_options opt;
  int rc;
  *out = NULL;
  if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS)
    return uc_errorf(err, es, UC_EIO, "c-ares: %s", ares_strerror(rc));
  uc_dns *d = calloc(1, sizeof *d);
  if (!d)
    return uc_errorf(err, es, UC_ENOMEM, "out of memory");
  d->cfg = *c;
  d->max_per_shard = c->cache_max / SHARDS ? c->cache_max / SHARDS : 1;
  d->max_in_flight = c->cache_max / 2 > 64 ? c->cache_max / 2 : 64;
  d->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  d->epfd = epoll_create1(EPOLL_CLOEXEC);
  pthread_mutex_init(&d->wait_lock, NULL);
  for (int i = 0; i < SHARDS; i++) {
    pthread_mutex_init(&d->shards[i].lock, NULL);
    uc_table_init(&d->shards[i].t, sizeof(struct slot), offsetof(struct slot, tag));
  }
  memset(&opt, 0, sizeof opt);
  opt.sock_state_cb = sock_state;
  opt.sock_state_cb_data = d;
  opt.timeout = (int)c->query_timeout_ms;
  opt.tries = 2;
  opt.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = d->evfd};
  if (d->evfd < 0 || d->epfd < 0 || epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->evfd, &ev) != 0) {
    rc = uc_errorf(err, es, UC_EIO, "resolver: %s", strerror(errno));
  } else if ((rc = ares_init_options(&d->ch, &opt,
                                     ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
                                         ARES_OPT_FLAGS)) != ARES_SUCCESS) {
    d->ch = NULL;
    rc = uc_errorf(err, es, UC_EIO, "c-ares: %s", ares_strerror(rc));
  } else if ((rc = set_servers(d, err, es)) == UC_OK &&
             pthread_create(&d->thread, NULL, loop, d) != 0) {
    rc = uc_errorf(err, es, UC_EIO, "resolver thread: %s", strerror(errno));
  } else if (rc == UC_OK) {
    *out = d;
    return UC_OK;
  }
  if (d->ch)
    ares_destroy(d->ch);
  d->ch = NULL;
  d->thread = 0;
  uc_dns_free(d);
  return rc;
}

void uc_dns_free(uc_dns *d) {
  if (!d)
    return;
  if (d->thread) {
    atomic_store(&d->stop, 1);
    wake(d);
    pthread_join(d->thread, NULL);
  }
  if (d->ch)
    ares_destroy(d->ch); /* answers every query in flight (ARES_EDESTRUCTION) */
  d->ch = NULL;
  start_queued(d); /* entries queued but never started: c-ares is gone, they fail */
  expire_waits(d, UINT64_MAX, 0);
  for (int i = 0; i < SHARDS; i++) {
    struct shard *s = &d->shards[i];
    for (uint32_t j = 0; j < uc_table_capacity(&s->t); j++)
      if (uc_table_used(&s->t, j))
        free(((struct slot *)uc_table_slot(&s->t, j))->e);
    uc_table_release(&s->t);
    pthread_mutex_destroy(&s->lock);
  }
  pthread_mutex_destroy(&d->wait_lock);
  if (d->evfd >= 0)
    close(d->evfd);
  if (d->epfd >= 0)
    close(d->epfd);
  free(d);
}

void uc_dns_stop_waiting(uc_dns *d) {
  atomic_store(&d->stop_waiting, 1);
  wake(d);
}

void uc_dns_stats(uc_dns *d, struct uc_dns_stats *out) {
  memset(out, 0, sizeof *out);
  out->lookups = atomic_load(&d->lookups), out->hits = atomic_load(&d->hits);
  out->waits = atomic_load(&d->nwaits), out->started = atomic_load(&d->started);
  out->timeouts = atomic_load(&d->timeouts), out->queries = atomic_load(&d->queries);
  out->failures = atomic_load(&d->failures), out->shed = atomic_load(&d->shed);
  out->in_flight = atomic_load(&d->in_flight);
  out->denying = atomic_load(&d->verdict) == DENYING,
  out->disbelieved = atomic_load(&d->disbelieved);
  for (int i = 0; i < SHARDS; i++) {
    pthread_mutex_lock(&d->shards[i].lock);
    out->cached += d->shards[i].t.count;
    pthread_mutex_unlock(&d->shards[i].lock);
  }
}

/* ---- waiting on the calling thread (the CLI, batch workers) ---- */

struct sync_wait {
  struct uc_dns_wait w;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int done;
};

static void sync_woke(struct uc_dns_wait *w) {
  struct sync_wait *s = w->arg;
  pthread_mutex_lock(&s->lock);
  s->done = 1;
  pthread_cond_signal(&s->cond);
  pthread_mutex_unlock(&s->lock);
}

void uc_dns_lookup_sync(uc_dns *d, const char *domain, unsigned timeout_ms,
                        struct uc_dns_facts *out) {
  struct sync_wait s = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
  s.w.done = sync_woke, s.w.arg = &s;
  s.w.deadline_ms = uc_dns_now_ms() + timeout_ms;
  if (uc_dns_lookup(d, domain, &s.w, out) != UC_DNS_WAIT)
    return;
  pthread_mutex_lock(&s.lock);
  while (!s.done)
    pthread_cond_wait(&s.cond, &s.lock);
  pthread_mutex_unlock(&s.lock);
  *out = s.w.facts;
}
