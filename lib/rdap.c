/* Domain age from RDAP (include/uc/rdap.h, docs/internals/rdap.md): a
 * memory cache read on the check path, a bounded queue, and one worker
 * thread that drives libcurl's multi interface: the store first, then the
 * registry the IANA bootstrap names, paced per RDAP server.
 *
 * Locks: `lock` guards the memory cache, the queue and `pending`. The
 * worker alone touches the bootstrap, the servers, the waiting list and the
 * multi handle (curl_multi_wakeup is the one multi call other threads make). */
#include "uc/rdap.h"
#include "fetch_int.h"
#include "rdap_int.h"
#include "uc/date.h"
#include "uc/error.h"
#include "uc/table.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <libpsl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the bootstrap ---- */

#define LABEL_MAX 64

struct bslot {
  uint32_t tag;
  uint32_t url; /* offset of the base URL in urls */
  char suffix[LABEL_MAX];
};

struct uc__rdap_bootstrap {
  struct uc_table t; /* struct bslot by suffix */
  struct uc_buf urls;
};

static int bslot_eq(const void *slot, const void *key) {
  return strcmp(((const struct bslot *)slot)->suffix, key) == 0;
}

/* The first https URL of urls, else the first http one, or NULL. */
static const char *pick_url(const json_t *urls) {
  size_t i;
  json_t *u;
  const char *http = NULL;
  json_array_foreach(urls, i, u) {
    const char *s = json_string_value(u);
    if (s && strncmp(s, "https://", 8) == 0)
      return s;
    if (s && !http && strncmp(s, "http://", 7) == 0)
      http = s;
  }
  return http;
}

/* One service: its URL once into the pool, a slot per suffix. */
static int add_service(struct uc__rdap_bootstrap *b, const json_t *labels, const char *url) {
  size_t i, n = strlen(url);
  json_t *l;
  uint32_t off = (uint32_t)b->urls.len;
  if (b->urls.len > UINT32_MAX - n - 2 || uc_buf_add(&b->urls, url, n) ||
      (url[n - 1] != '/' && uc_buf_add(&b->urls, "/", 1)) || uc_buf_add(&b->urls, "", 1))
    return UC_ENOMEM;
  json_array_foreach(labels, i, l) {
    char suffix[LABEL_MAX];
    const char *s = json_string_value(l);
    size_t sn = s ? strlen(s) : 0;
    if (sn == 0 || sn >= sizeof suffix)
      continue;
    for (size_t k = 0; k <= sn; k++)
      suffix[k] = (char)(s[k] >= 'A' && s[k] <= 'Z' ? s[k] | 0x20 : s[k]);
    int created;
    struct bslot *slot = uc_table_insert(&b->t, uc_hash(suffix, sn, 0), bslot_eq, suffix, &created);
    if (!slot)
      return UC_ENOMEM;
    if (created) /* the first service that names a suffix keeps it */
      slot->url = off, memcpy(slot->suffix, suffix, sn + 1);
  }
  return UC_OK;
}

int uc__rdap_bootstrap_parse(const char *json, size_t len, struct uc__rdap_bootstrap **out,
                             char *err, size_t es) {
  json_error_t je;
  size_t i;
  json_t *svc, *doc = json_loadb(json, len, 0, &je);
  const json_t *services = json_object_get(doc, "services");
  int rc = UC_OK;
  *out = NULL;
  if (!json_is_array(services)) {
    json_decref(doc);
    return uc_errorf(err, es, UC_EFORMAT, "not an RDAP bootstrap (no \"services\" array)%s%s",
                     doc ? "" : ": ", doc ? "" : je.text);
  }
  struct uc__rdap_bootstrap *b = calloc(1, sizeof *b);
  if (!b) {
    json_decref(doc);
    return uc_errorf(err, es, UC_ENOMEM, "out of memory");
  }
  uc_table_init(&b->t, sizeof(struct bslot), offsetof(struct bslot, tag));
  uc_buf_init(&b->urls, 1u << 24);
  json_array_foreach(services, i, svc) {
    const json_t *labels = json_array_get(svc, 0), *urls = json_array_get(svc, 1);
    const char *url = json_is_array(labels) && json_is_array(urls) ? pick_url(urls) : NULL;
    if (url && (rc = add_service(b, labels, url)) != UC_OK)
      break;
  }
  json_decref(doc);
  if (rc) {
    uc__rdap_bootstrap_free(b);
    return uc_errorf(err, es, rc, "out of memory");
  }
  *out = b;
  return UC_OK;
}

void uc__rdap_bootstrap_free(struct uc__rdap_bootstrap *b) {
  if (!b)
    return;
  uc_table_release(&b->t);
  uc_buf_release(&b->urls);
  free(b);
}

size_t uc__rdap_bootstrap_count(const struct uc__rdap_bootstrap *b) {
  return b ? b->t.count : 0;
}

const char *uc__rdap_bootstrap_find(const struct uc__rdap_bootstrap *b, const char *domain) {
  for (const char *s = strchr(domain, '.'); s; s = strchr(s, '.')) {
    s++; /* each proper suffix, the longest first */
    size_t n = strlen(s);
    const struct bslot *slot =
        n < LABEL_MAX ? uc_table_find(&b->t, uc_hash(s, n, 0), bslot_eq, s) : NULL;
    if (slot)
      return b->urls.data + slot->url;
  }
  return NULL;
}

/* ---- an answer ---- */

int uc__rdap_parse(const char *json, size_t len, unsigned *created) {
  json_t *doc = json_loadb(json, len, 0, NULL), *ev;
  size_t i;
  int rc = UC_ENOTFOUND;
  if (!json_is_object(doc)) {
    json_decref(doc);
    return UC_EFORMAT;
  }
  json_array_foreach(json_object_get(doc, "events"), i, ev) {
    const char *action = json_string_value(json_object_get(ev, "eventAction"));
    const char *date = json_string_value(json_object_get(ev, "eventDate"));
    unsigned d = date && strlen(date) >= 10 ? uc_date_parse(date, 10) : 0;
    if (action && strcmp(action, "registration") == 0 && d) {
      *created = d;
      rc = UC_OK;
      break;
    }
  }
  json_decref(doc);
  return rc;
}

/* ---- the registrable domain ---- */

static const psl_ctx_t *psl;
static pthread_once_t psl_once = PTHREAD_ONCE_INIT;
static void psl_load(void) {
  psl = psl_latest(NULL); /* the system's list, newer than the built-in one */
  if (!psl)
    psl = psl_builtin();
}

const char *uc_rdap_registrable(const char *domain) {
  pthread_once(&psl_once, psl_load);
  const char *prev = NULL;
  for (const char *s = domain; s; prev = s, s = strchr(s, '.') ? strchr(s, '.') + 1 : NULL)
    if (!psl || psl_is_public_suffix2(psl, s, PSL_TYPE_ICANN))
      return prev; /* registries hold ICANN suffixes: github.io's users are not theirs */
  return prev;
}

/* ---- the client ---- */

struct centry { /* a memory cache slot */
  uint32_t tag;
  uint8_t pending; /* queued or in flight */
  uint8_t status;  /* enum uc_rdap_status; 0: nothing known yet */
  unsigned created;
  int64_t expires;
  char *domain;
};

struct qitem {
  struct qitem *next;
  char domain[UC_DOMAIN_MAX + 1];
};

struct job {
  struct job *next;
  char domain[UC_DOMAIN_MAX + 1];
  int server; /* index in servers; -1 before the bootstrap */
  char *url;  /* base URL + "domain/" + domain, once resolved */
  CURL *easy; /* while in flight (then the job is on the inflight list) */
  struct uc__fetch *f;
};

struct server {
  char host[256];
  uint64_t next_ms; /* no request before this (monotonic ms) */
};

struct uc_rdap {
  struct uc_rdap_config cfg;
  uc_store *st;
  pthread_mutex_t lock;
  struct uc_table cache; /* struct centry */
  uint32_t hand;
  struct qitem *head, *tail; /* queued, not taken by the worker yet */
  size_t pending;            /* entries marked pending */
  CURLM *multi;
  pthread_t thread;
  atomic_int stop;
  /* the worker's alone */
  struct uc__rdap_bootstrap *boot;
  int64_t boot_next;     /* unix seconds of the next bootstrap fetch */
  int boot_file;         /* a file: read once, by open */
  struct uc_buf servers; /* struct server */
  struct job *waiting;   /* resolved or not, not started */
  struct job *inflight;  /* started: their easy handles are in the multi */
  unsigned running;
  int64_t trim_next;
  /* stats */
  _Atomic uint64_t queued, dropped, store_hits, requests, found, not_found, no_service, failed;
  atomic_size_t services;
  _Atomic int64_t boot_at;
  pthread_mutex_t err_lock;
  char boot_error[256];
};

void uc_rdap_config_init(struct uc_rdap_config *c) {
  memset(c, 0, sizeof *c);
  snprintf(c->bootstrap, sizeof c->bootstrap, "%s", UC_RDAP_BOOTSTRAP_DEFAULT);
  c->ttl = 30u * 86400, c->fail_ttl = 3600;
  c->timeout_ms = 5000, c->server_interval_ms = 1000;
  c->queue_max = 4096, c->cache_max = 65536, c->concurrency = 8;
  c->max_bytes = 1u << 20;
  c->bootstrap_retry = 300, c->bootstrap_refresh = 86400;
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int centry_eq(const void *slot, const void *domain) {
  return strcmp(((const struct centry *)slot)->domain, domain) == 0;
}

/* Pending entries stay (there are at most queue_max of them); of the others
 * the one that expires first goes. */
static int64_t evict_score(const void *slot, void *ctx) {
  const struct centry *e = slot;
  (void)ctx;
  return e->pending ? -1 : e->expires < 0 ? 0 : e->expires;
}

/* With the lock held: drops one entry among 64 slots from the hand (uc_table_pick). */
static void evict_one(uc_rdap *r) {
  uint32_t best = uc_table_pick(&r->cache, &r->hand, 64, evict_score, NULL);
  if (best == UINT32_MAX)
    return;
  struct centry *victim = uc_table_slot(&r->cache, best);
  free(victim->domain);
  uc_table_remove(&r->cache, victim);
}

/* With the lock held: the entry of domain, created (status 0) if absent. */
static struct centry *entry(uc_rdap *r, const char *domain, uint32_t h) {
  int created;
  if (r->cache.count >= r->cfg.cache_max && !uc_table_find(&r->cache, h, centry_eq, domain))
    evict_one(r);
  char *copy = strdup(domain);
  struct centry *e = copy ? uc_table_insert(&r->cache, h, centry_eq, copy, &created) : NULL;
  if (!e || !created)
    free(copy);
  if (e && created)
    e->domain = copy;
  return e;
}

/* With the lock held: marks e pending and queues it; 0 when the queue is full. */
static int enqueue(uc_rdap *r, struct centry *e) {
  struct qitem *q = r->pending < r->cfg.queue_max ? malloc(sizeof *q) : NULL;
  if (!q)
    return 0;
  snprintf(q->domain, sizeof q->domain, "%s", e->domain);
  q->next = NULL;
  if (r->tail)
    r->tail->next = q;
  else
    r->head = q;
  r->tail = q;
  e->pending = 1;
  r->pending++;
  return 1;
}

/* With the lock held: fills f from e when it has a date; 1 then. */
static int fill(const struct centry *e, int64_t now, struct uc_facts *f) {
  if (!e || e->status != UC_RDAP_FOUND)
    return 0;
  unsigned today = uc_date_of(now);
  f->age_known = 1, f->domain_created = e->created;
  f->domain_age = today > e->created ? today - e->created : 0;
  return 1;
}

int uc_rdap_facts(uc_rdap *r, const char *domain, int64_t now, struct uc_facts *f) {
  int known = 0, queued = 0, dropped = 0;
  if (!r)
    return 0;
  /* Entries are keyed by registrable domains, whose parents are public
   * suffixes: the first of the domain and its parents that is an entry is its
   * registrable domain. libpsl is only asked about a domain seen first. */
  const char *reg = domain;
  uint32_t h = 0;
  struct centry *e = NULL;
  pthread_mutex_lock(&r->lock);
  for (const char *d = domain; !e && d && strchr(d, '.'); d = strchr(d, '.') + 1)
    if ((e = uc_table_find(&r->cache, h = uc_hash(d, strlen(d), 0), centry_eq, d)) != NULL)
      reg = d;
  if (!e) {
    pthread_mutex_unlock(&r->lock);
    if (!(reg = uc_rdap_registrable(domain)))
      return 0; /* a public suffix */
    h = uc_hash(reg, strlen(reg), 0);
    pthread_mutex_lock(&r->lock);
    e = uc_table_find(&r->cache, h, centry_eq, reg);
  }
  known = fill(e, now, f);
  if (!e || (!e->pending && e->expires <= now)) { /* never asked, or due again */
    if (!e && r->pending < r->cfg.queue_max)
      e = entry(r, reg, h);
    queued = e && enqueue(r, e);
    dropped = !queued;
  }
  pthread_mutex_unlock(&r->lock);
  if (dropped) /* rare: the per-check counts are the caller's (the server's threads keep them) */
    atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
  if (queued) {
    atomic_fetch_add_explicit(&r->queued, 1, memory_order_relaxed);
    curl_multi_wakeup(r->multi);
  }
  return known;
}

/* ---- the worker ---- */

static void set_boot_error(uc_rdap *r, const char *msg) {
  pthread_mutex_lock(&r->err_lock);
  snprintf(r->boot_error, sizeof r->boot_error, "%.255s", msg);
  pthread_mutex_unlock(&r->err_lock);
}

static void use_bootstrap(uc_rdap *r, struct uc__rdap_bootstrap *b) {
  uc__rdap_bootstrap_free(r->boot);
  r->boot = b;
  atomic_store(&r->services, uc__rdap_bootstrap_count(b));
  atomic_store(&r->boot_at, (int64_t)time(NULL));
  set_boot_error(r, "");
}

/* The bootstrap URL, fetched on the worker; a failure keeps the one in use. */
static void fetch_bootstrap(uc_rdap *r) {
  struct uc__fetch f;
  struct uc__rdap_bootstrap *b = NULL;
  char err[sizeof f.error];
  int64_t now = (int64_t)time(NULL);
  uc__fetch_init(&f, r->cfg.bootstrap, r->cfg.max_bytes, (long)r->cfg.timeout_ms);
  f.accept = "application/json";
  int rc = uc__fetch_run(&f);
  if (rc == UC_OK && f.status != 200)
    rc = uc_errorf(err, sizeof err, UC_EIO, "%s: HTTP %ld", f.url, f.status);
  else if (rc)
    snprintf(err, sizeof err, "%s", f.error);
  else if ((rc = uc__rdap_bootstrap_parse(f.body.data ? f.body.data : "", f.body.len, &b, err,
                                          sizeof err)) == UC_OK)
    use_bootstrap(r, b);
  if (rc)
    set_boot_error(r, err);
  r->boot_next = now + (rc ? r->cfg.bootstrap_retry : r->cfg.bootstrap_refresh);
  uc__fetch_release(&f);
}

/* What a lookup found: into memory, and into the store unless it came from
 * there. A failed refresh keeps a date already known (registrations do not
 * move), for fail_ttl. */
static void publish(uc_rdap *r, const struct uc_rdap_rec *rec, int to_store) {
  int keep = 0;
  pthread_mutex_lock(&r->lock);
  struct centry *e = uc_table_find(&r->cache, uc_hash(rec->domain, strlen(rec->domain), 0),
                                   centry_eq, rec->domain);
  if (e) {
    keep = rec->status == UC_RDAP_FAILED && e->status == UC_RDAP_FOUND;
    if (!keep)
      e->status = (uint8_t)rec->status, e->created = rec->created;
    e->expires = rec->expires_at;
    if (e->pending)
      e->pending = 0, r->pending--;
  }
  pthread_mutex_unlock(&r->lock);
  if (to_store && !keep && r->st)
    uc_store_rdap_put(r->st, rec); /* a failed write only costs another lookup later */
}

static void outcome(uc_rdap *r, const char *domain, enum uc_rdap_status status, unsigned created) {
  static const size_t counter[] = {0, offsetof(uc_rdap, found), offsetof(uc_rdap, not_found),
                                   offsetof(uc_rdap, no_service), offsetof(uc_rdap, failed)};
  int64_t now = (int64_t)time(NULL);
  struct uc_rdap_rec rec = {.status = status, .created = created, .checked_at = now};
  snprintf(rec.domain, sizeof rec.domain, "%s", domain);
  rec.expires_at = now + (status == UC_RDAP_FOUND ? r->cfg.ttl : r->cfg.fail_ttl);
  atomic_fetch_add((_Atomic uint64_t *)((char *)r + counter[status]), 1);
  publish(r, &rec, 1);
}

static void free_job(struct job *j) {
  if (j->f)
    uc__fetch_release(j->f);
  free(j->f);
  free(j->url);
  free(j);
}

/* Moves the queue to the end of the waiting list; domains the store knows
 * (another process looked them up, or this one before a restart) are done. */
static void take_queue(uc_rdap *r) {
  pthread_mutex_lock(&r->lock);
  struct qitem *q = r->head;
  r->head = r->tail = NULL;
  pthread_mutex_unlock(&r->lock);
  struct job **end = &r->waiting;
  while (*end)
    end = &(*end)->next;
  int64_t now = (int64_t)time(NULL);
  while (q) {
    struct qitem *next = q->next;
    struct uc_rdap_rec rec;
    struct job *j;
    if (r->st && uc_store_rdap_get(r->st, q->domain, &rec) == UC_OK && rec.expires_at > now) {
      atomic_fetch_add(&r->store_hits, 1);
      publish(r, &rec, 0);
    } else if ((j = calloc(1, sizeof *j)) != NULL) {
      snprintf(j->domain, sizeof j->domain, "%s", q->domain);
      j->server = -1;
      *end = j, end = &j->next;
    } else {
      outcome(r, q->domain, UC_RDAP_FAILED, 0);
    }
    free(q);
    q = next;
  }
}

/* The index of base's host in servers (added when new), or -1 on ENOMEM. */
static int server_of(uc_rdap *r, const char *base) {
  char host[256];
  char *h = NULL;
  CURLU *u = curl_url();
  if (u && curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK)
    snprintf(host, sizeof host, "%s", h);
  else
    snprintf(host, sizeof host, "%s", base);
  curl_free(h);
  curl_url_cleanup(u);
  size_t n = UC_BUF_COUNT(&r->servers, struct server);
  for (size_t i = 0; i < n; i++)
    if (strcmp(UC_BUF_AT(&r->servers, struct server, i).host, host) == 0)
      return (int)i;
  struct server s = {.next_ms = 0};
  snprintf(s.host, sizeof s.host, "%s", host);
  return uc_buf_add(&r->servers, &s, sizeof s) == UC_OK ? (int)n : -1;
}

/* Finds the RDAP server of a waiting job: 1 when it waits for a request, 0
 * when it is done (no service for its TLD, or no memory). */
static int resolve(uc_rdap *r, struct job *j) {
  const char *base = uc__rdap_bootstrap_find(r->boot, j->domain);
  if (!base) {
    outcome(r, j->domain, UC_RDAP_NO_SERVICE, 0);
    return 0;
  }
  size_t n = strlen(base) + strlen(j->domain) + 8;
  j->server = server_of(r, base);
  if (j->server < 0 || !(j->url = malloc(n))) {
    outcome(r, j->domain, UC_RDAP_FAILED, 0);
    return 0;
  }
  snprintf(j->url, n, "%sdomain/%s", base, j->domain);
  return 1;
}

static void start(uc_rdap *r, struct job *j) {
  j->f = malloc(sizeof *j->f);
  j->easy = j->f ? curl_easy_init() : NULL;
  if (j->easy) {
    uc__fetch_init(j->f, j->url, r->cfg.max_bytes, (long)r->cfg.timeout_ms);
    j->f->accept = "application/rdap+json";
  }
  if (!j->easy || uc__fetch_prepare(j->easy, j->f) != UC_OK ||
      (curl_easy_setopt(j->easy, CURLOPT_PRIVATE, j),
       curl_multi_add_handle(r->multi, j->easy) != CURLM_OK)) {
    curl_easy_cleanup(j->easy);
    j->easy = NULL;
    outcome(r, j->domain, UC_RDAP_FAILED, 0);
    free_job(j);
    return;
  }
  j->next = r->inflight, r->inflight = j;
  r->running++;
  atomic_fetch_add(&r->requests, 1);
}

/* Starts what may start (concurrency, each server's pace); the milliseconds
 * until the next waiting job may (at most 1000). */
static long pump(uc_rdap *r) {
  uint64_t now = now_ms();
  long wait = 1000;
  struct job **pp = &r->waiting;
  while (*pp) {
    struct job *j = *pp;
    if (j->server < 0 && !r->boot) { /* waits for the bootstrap */
      pp = &j->next;
      continue;
    }
    if (j->server < 0 && !resolve(r, j)) {
      *pp = j->next;
      free_job(j);
      continue;
    }
    struct server *sv = &UC_BUF_AT(&r->servers, struct server, j->server);
    if (r->running < r->cfg.concurrency && sv->next_ms <= now) {
      *pp = j->next;
      sv->next_ms = now + r->cfg.server_interval_ms;
      start(r, j);
      continue;
    }
    if (sv->next_ms > now && (long)(sv->next_ms - now) < wait)
      wait = (long)(sv->next_ms - now);
    pp = &j->next;
  }
  return wait;
}

/* The outcome of a finished request. A server that says 429 or 503 is left
 * alone for 30 s. */
static void judge(uc_rdap *r, struct job *j, int rc) {
  unsigned created = 0;
  long status = j->f->status;
  if (rc == UC_OK && status == 200 && j->f->body.data &&
      uc__rdap_parse(j->f->body.data, j->f->body.len, &created) == UC_OK)
    outcome(r, j->domain, UC_RDAP_FOUND, created);
  else if (rc == UC_OK && status == 404)
    outcome(r, j->domain, UC_RDAP_NOT_FOUND, 0);
  else
    outcome(r, j->domain, UC_RDAP_FAILED, 0);
  if (rc == UC_OK && (status == 429 || status == 503)) {
    struct server *sv = &UC_BUF_AT(&r->servers, struct server, j->server);
    sv->next_ms = now_ms() + 30000;
  }
}

/* Finished transfers; how many. */
static int reap(uc_rdap *r) {
  CURLMsg *m;
  int left, n = 0;
  while ((m = curl_multi_info_read(r->multi, &left)) != NULL) {
    if (m->msg != CURLMSG_DONE)
      continue;
    CURL *easy = m->easy_handle;
    CURLcode result = m->data.result;
    struct job *j = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&j);
    int rc = uc__fetch_finish(easy, j->f, result);
    curl_multi_remove_handle(r->multi, easy);
    curl_easy_cleanup(easy);
    j->easy = NULL;
    for (struct job **pp = &r->inflight; *pp; pp = &(*pp)->next)
      if (*pp == j) {
        *pp = j->next;
        break;
      }
    r->running--, n++;
    judge(r, j, rc);
    free_job(j);
  }
  return n;
}

static void *worker(void *arg) {
  uc_rdap *r = arg;
  while (!atomic_load(&r->stop)) {
    int64_t now = (int64_t)time(NULL);
    if (!r->boot_file && now >= r->boot_next)
      fetch_bootstrap(r);
    take_queue(r);
    long wait = pump(r);
    int still = 0;
    curl_multi_perform(r->multi, &still);
    if (reap(r))
      wait = 0; /* a slot came free */
    if (r->st && now >= r->trim_next) {
      uc_store_rdap_trim(r->st, now - 86400, NULL);
      r->trim_next = now + 86400;
    }
    curl_multi_poll(r->multi, NULL, 0, (int)wait, NULL);
  }
  return NULL;
}

/* ---- opening ---- */

static int preload(void *arg, const struct uc_rdap_rec *rec) {
  uc_rdap *r = arg;
  struct centry *e = entry(r, rec->domain, uc_hash(rec->domain, strlen(rec->domain), 0));
  if (e)
    e->status = (uint8_t)rec->status, e->created = rec->created, e->expires = rec->expires_at;
  return r->cache.count >= r->cfg.cache_max;
}

static int read_bootstrap_file(uc_rdap *r, char *err, size_t es) {
  struct uc_buf b;
  struct uc__rdap_bootstrap *boot = NULL;
  char why[256];
  uc_buf_init(&b, r->cfg.max_bytes);
  int rc = uc_buf_read_file(&b, r->cfg.bootstrap);
  if (rc)
    uc_errorf(err, es, rc, "rdap bootstrap %s: %s", r->cfg.bootstrap,
              rc == UC_EIO ? strerror(errno) : uc_strerror(rc));
  else if ((rc = uc__rdap_bootstrap_parse(b.data ? b.data : "", b.len, &boot, why, sizeof why)))
    uc_errorf(err, es, rc, "rdap bootstrap %s: %s", r->cfg.bootstrap, why);
  else
    use_bootstrap(r, boot);
  uc_buf_release(&b);
  r->boot_file = 1;
  return rc;
}

int uc_rdap_open(const struct uc_rdap_config *c, uc_store *st, uc_rdap **out, char *err,
                 size_t es) {
  *out = NULL;
  if (uc__fetch_global() != UC_OK)
    return uc_errorf(err, es, UC_EIO, "libcurl failed to initialise");
  uc_rdap *r = calloc(1, sizeof *r);
  if (!r)
    return uc_errorf(err, es, UC_ENOMEM, "out of memory");
  r->cfg = *c, r->st = st;
  if (!r->cfg.concurrency)
    r->cfg.concurrency = 1;
  pthread_mutex_init(&r->lock, NULL);
  pthread_mutex_init(&r->err_lock, NULL);
  uc_table_init(&r->cache, sizeof(struct centry), offsetof(struct centry, tag));
  uc_buf_init(&r->servers, 1u << 20);
  int rc = (r->multi = curl_multi_init()) ? UC_OK : uc_errorf(err, es, UC_ENOMEM, "out of memory");
  if (!rc && !uc__fetch_is_url(c->bootstrap))
    rc = read_bootstrap_file(r, err, es);
  if (!rc && st &&
      uc_store_rdap_each(st, (int64_t)time(NULL), r->cfg.cache_max, preload, r) == UC_EUNAVAILABLE)
    r->st = NULL; /* a store without the RDAP ops: memory only */
  r->trim_next = (int64_t)time(NULL) + 3600;
  if (!rc && pthread_create(&r->thread, NULL, worker, r) != 0)
    rc = uc_errorf(err, es, UC_EIO, "cannot start the RDAP worker: %s", strerror(errno));
  if (rc) {
    curl_multi_cleanup(r->multi);
    r->multi = NULL;
    uc_rdap_free(r);
    return rc;
  }
  *out = r;
  return UC_OK;
}

static void drop_jobs(uc_rdap *r, struct job *j) {
  while (j) {
    struct job *next = j->next;
    if (j->easy) { /* in flight: its handle belongs to the multi */
      curl_multi_remove_handle(r->multi, j->easy);
      curl_easy_cleanup(j->easy);
    }
    free_job(j);
    j = next;
  }
}

void uc_rdap_free(uc_rdap *r) {
  if (!r)
    return;
  if (r->multi) {
    atomic_store(&r->stop, 1);
    curl_multi_wakeup(r->multi);
    pthread_join(r->thread, NULL);
  }
  drop_jobs(r, r->inflight);
  drop_jobs(r, r->waiting);
  curl_multi_cleanup(r->multi);
  for (struct qitem *q = r->head, *next; q; q = next)
    next = q->next, free(q);
  for (uint32_t i = 0; i < uc_table_capacity(&r->cache); i++)
    if (uc_table_used(&r->cache, i))
      free(((struct centry *)uc_table_slot(&r->cache, i))->domain);
  uc_table_release(&r->cache);
  uc_buf_release(&r->servers);
  uc__rdap_bootstrap_free(r->boot);
  pthread_mutex_destroy(&r->lock);
  pthread_mutex_destroy(&r->err_lock);
  free(r);
}

void uc_rdap_stats(uc_rdap *r, struct uc_rdap_stats *out) {
  memset(out, 0, sizeof *out);
  out->queued = atomic_load(&r->queued), out->dropped = atomic_load(&r->dropped);
  out->store_hits = atomic_load(&r->store_hits), out->requests = atomic_load(&r->requests);
  out->found = atomic_load(&r->found), out->not_found = atomic_load(&r->not_found);
  out->no_service = atomic_load(&r->no_service), out->failed = atomic_load(&r->failed);
  out->services = atomic_load(&r->services), out->bootstrap_at = atomic_load(&r->boot_at);
  pthread_mutex_lock(&r->lock);
  out->cached = r->cache.count, out->pending = r->pending;
  pthread_mutex_unlock(&r->lock);
  pthread_mutex_lock(&r->err_lock);
  snprintf(out->bootstrap_error, sizeof out->bootstrap_error, "%s", r->boot_error);
  pthread_mutex_unlock(&r->err_lock);
}
