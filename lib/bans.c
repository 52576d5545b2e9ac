/* IP attempt accounting and bans over a store, with a bounded cache
 * (include/uc/bans.h, docs/internals/bans.md).
 *
 * Memory: 64 shards, each a lock and a uc_table of entries. On a store that
 * one server owns (SQLite) memory is the authority for counts: a black answer
 * counts in memory, the count is written back at the next flush, and a new
 * ban is queued for uc_bans_store (a thread that may wait for the store),
 * which wakes the answers waiting to announce it. On a shared store every
 * black answer is one atomic uc_store_ban_hit and memory only caches.
 *
 * Locks, in the order they may be taken: flush_lock, then one shard's lock,
 * then q_lock or agg_lock (leaves: nothing is taken while holding them). */
#include "uc/bans.h"
#include "store_int.h"
#include "uc/buf.h"
#include "uc/error.h"
#include "uc/table.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SHARDS 64
#define EVICT_SCAN 256 /* slots looked at for the oldest written-back entry */

struct entry {
  struct uc_ban_rec rec;
  uint8_t dirty;    /* counted in memory, not written back yet */
  uint8_t writing;  /* copied by a flush whose write has not committed: must stay */
  uint8_t lifted;   /* an expired ban lifted in memory; the store still holds it */
  uint8_t unstored; /* banned in memory, the ban queued for uc_bans_store */
};

struct shard {
  pthread_mutex_t lock;
  struct uc_table t;   /* struct entry; tags apart: probing reads 4-byte tags */
  size_t counting;     /* entries without a ban */
  uint32_t hand;       /* where the next eviction search starts */
  struct uc_gone gone; /* IPs that hash here and left memory (their counts are stored) */
};

/* A ban waiting for uc_bans_store. */
struct queued {
  int64_t account;
  char ip[UC_IP_KEY_MAX];
};

/* Banned IPv6 prefixes longer than /48 inside one /48 of an account. */
struct agg {
  uint32_t tag;
  int64_t account;
  uint8_t net[6];
  unsigned banned;
};

struct uc_bans {
  uc_store *st;
  int shared;
  size_t max_counting, max_per_shard;
  pthread_mutex_t
      flush_lock;  /* one flush, store, sync or unban at a time: no older copy lands late */
  uint64_t cursor; /* of the store's change feed; under flush_lock */
  _Atomic uint64_t evicted, store_reads, write_errors, wait_timeouts, aggregated;
  _Atomic uint64_t v6_prefixes[2]; /* bit p - 1: some IPv6 ban is a /p (never cleared) */
  atomic_int want_flush;
  _Atomic size_t unstored;
  pthread_mutex_t q_lock;    /* queue and waits */
  struct uc_buf queue;       /* struct queued */
  struct uc_ban_wait *waits; /* registered, newest first */
  void (*notify)(void *);
  void *notify_arg;
  pthread_mutex_t agg_lock;
  struct uc_table agg; /* struct agg */
  struct shard shards[SHARDS];
};

struct key {
  int64_t account;
  const char *ip;
};

static int eq(const void *slot, const void *k) {
  const struct entry *e = slot;
  const struct key *key = k;
  return e->rec.account_id == key->account && strcmp(e->rec.ip, key->ip) == 0;
}

static uint32_t hash_of(int64_t account, const char *ip) {
  return uc_hash(ip, strlen(ip), (uint32_t)((uint64_t)account * 0x9E3779B97F4A7C15ull >> 32));
}

/* The top bits choose the shard; the table uses the low ones. */
static struct shard *shard_of(uc_bans *b, uint32_t h) {
  return &b->shards[h >> 26];
}

static long remaining_of(const struct uc_ban_rec *r, const struct uc_settings *set) {
  unsigned used = r ? r->attempts : 0;
  if (r && r->banned_at)
    return 0;
  return used >= set->ban_threshold ? 0 : (long)(set->ban_threshold - used);
}

int64_t uc_bans_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- /48 aggregation ---- */

/* The /48 holding key, when key is an IPv6 prefix longer than /48. */
static int net48_of(const char *key, uint8_t net[6]) {
  struct uc_cidr c;
  if (!strchr(key, ':') || uc_cidr_parse(key, &c, NULL) != UC_OK || c.family != 6 || c.prefix <= 48)
    return 0;
  memcpy(net, c.addr, 6);
  return 1;
}

static int agg_eq(const void *slot, const void *key) {
  const struct agg *a = slot, *k = key;
  return a->account == k->account && memcmp(a->net, k->net, 6) == 0;
}

/* With any shard lock or none: counts a ban of r's key in or out of its /48;
 * the /48's banned count afterwards (0 when r is no such key). */
static unsigned agg_note(uc_bans *b, const struct uc_ban_rec *r, int delta) {
  struct agg k = {0};
  unsigned n = 0;
  if (!net48_of(r->ip, k.net))
    return 0;
  k.account = r->account_id;
  uint32_t h = uc_hash(k.net, 6, (uint32_t)r->account_id);
  pthread_mutex_lock(&b->agg_lock);
  struct agg *a = delta > 0 ? uc_table_insert(&b->agg, h, agg_eq, &k, NULL)
                            : uc_table_find(&b->agg, h, agg_eq, &k);
  if (a) {
    a->account = k.account;
    memcpy(a->net, k.net, 6);
    a->banned = delta > 0 ? a->banned + 1 : a->banned ? a->banned - 1 : 0;
    n = a->banned;
    if (!n)
      uc_table_remove(&b->agg, a);
  }
  pthread_mutex_unlock(&b->agg_lock);
  return n;
}

static void prefix_seen(uc_bans *b, const char *key) {
  const char *slash = strchr(key, '/');
  long p = slash && strchr(key, ':') ? strtol(slash + 1, NULL, 10) : 0;
  if (p >= 1 && p <= 128)
    atomic_fetch_or(&b->v6_prefixes[(p - 1) / 64], 1ull << ((p - 1) % 64));
}

/* ---- entries ---- */

/* With s locked: e's ban is gone from memory (dropped, lifted, reset). */
static void unbanned(uc_bans *b, struct entry *e) {
  agg_note(b, &e->rec, -1);
  if (e->unstored)
    atomic_fetch_sub(&b->unstored, 1);
  e->unstored = 0;
}

/* With s locked: drops entry e from memory. */
static void drop(uc_bans *b, struct shard *s, struct entry *e) {
  if (!e->rec.banned_at)
    s->counting--;
  else
    unbanned(b, e);
  uc_table_remove(&s->t, e);
}

/* Who may leave memory: written back, not being written, no ban; the least
 * recently counted first. */
static int64_t evict_score(const void *slot, void *ctx) {
  const struct entry *e = slot;
  (void)ctx;
  if (e->dirty || e->writing || e->lifted || e->rec.banned_at)
    return -1;
  return e->rec.updated_at;
}

/* With s locked: makes room for one more counting entry by dropping the
 * oldest written-back one among EVICT_SCAN slots. 0 when there was none
 * (every candidate has counts not yet written): a flush is asked for. */
static int evict_one(uc_bans *b, struct shard *s) {
  uint32_t best = uc_table_pick(&s->t, &s->hand, EVICT_SCAN, evict_score, NULL);
  if (best == UINT32_MAX) {
    atomic_store(&b->want_flush, 1);
    return 0;
  }
  struct entry *victim = uc_table_slot(&s->t, best);
  uc_gone_add(&s->gone, hash_of(victim->rec.account_id, victim->rec.ip));
  drop(b, s, victim);
  atomic_fetch_add(&b->evicted, 1);
  return 1;
}

/* With s locked: the entry of (account, ip). When absent it is read back from
 * the store if it may have left memory; created (zero) when create. NULL when
 * absent and not created, or on ENOMEM (*rc says). */
static struct entry *lookup(uc_bans *b, struct shard *s, uint32_t h, int64_t account,
                            const char *ip, int create, int *rc) {
  struct key k = {account, ip};
  struct uc_ban_rec stored;
  int have = 0;
  *rc = UC_OK;
  struct entry *e = uc_table_find(&s->t, h, eq, &k);
  if (e)
    return e;
  if (!b->shared && uc_gone_maybe(&s->gone, h)) {
    atomic_fetch_add(&b->store_reads, 1);
    have = uc_store_ban_get(b->st, account, ip, &stored) == UC_OK;
  }
  if (!create && !have)
    return NULL;
  while (s->counting >= b->max_per_shard && evict_one(b, s))
    ;
  int created;
  e = uc_table_insert(&s->t, h, eq, &k, &created);
  if (!e) {
    *rc = UC_ENOMEM;
    return NULL;
  }
  if (have) {
    e->rec = stored;
  } else {
    e->rec.account_id = account;
    snprintf(e->rec.ip, sizeof e->rec.ip, "%s", ip);
  }
  if (!e->rec.banned_at)
    s->counting++;
  else
    agg_note(b, &e->rec, +1);
  return e;
}

/* With s locked: a ban older than the account's lift time ends by itself
 * (written back by the next flush). */
static void maybe_lift(uc_bans *b, struct shard *s, struct entry *e, const struct uc_settings *set,
                       int64_t now) {
  if (!uc__ban_expired(&e->rec, set->ban_lift_seconds, now))
    return;
  unbanned(b, e);
  e->rec.banned_at = 0, e->rec.attempts = 0, e->rec.updated_at = now;
  e->lifted = 1;
  s->counting++;
}

/* With s locked: bans e now and queues the ban for uc_bans_store. */
static void ban_now(uc_bans *b, struct shard *s, struct entry *e, int64_t now) {
  struct queued q = {e->rec.account_id, ""};
  e->rec.banned_at = now, e->rec.updated_at = now;
  e->dirty = 1, e->unstored = 1;
  s->counting--;
  atomic_fetch_add(&b->unstored, 1);
  prefix_seen(b, e->rec.ip);
  snprintf(q.ip, sizeof q.ip, "%s", e->rec.ip);
  pthread_mutex_lock(&b->q_lock);
  if (uc_buf_add(&b->queue, &q, sizeof q) != UC_OK) /* ENOMEM: the flush writes it instead */
    e->unstored = 0, atomic_fetch_sub(&b->unstored, 1);
  pthread_mutex_unlock(&b->q_lock);
}

static void notify(uc_bans *b) {
  if (b->notify)
    b->notify(b->notify_arg);
}

static int load_one(void *arg, const struct uc_ban_rec *r) {
  uc_bans *b = arg;
  uint32_t h = hash_of(r->account_id, r->ip);
  struct shard *s = shard_of(b, h);
  struct key k = {r->account_id, r->ip};
  if (!r->banned_at && s->counting >= b->max_per_shard) {
    uc_gone_add(&s->gone, h); /* stays in the store; read back when it is counted again */
    return 0;
  }
  struct entry *e = uc_table_insert(&s->t, h, eq, &k, NULL);
  if (!e)
    return 1;
  e->rec = *r;
  s->counting += !r->banned_at;
  if (r->banned_at) {
    prefix_seen(b, r->ip);
    agg_note(b, r, +1);
  }
  return 0;
}

int uc_bans_open(uc_store *st, size_t max_counting, uc_bans **out, char *err, size_t es) {
  uc_bans *b = calloc(1, sizeof *b);
  int rc;
  *out = NULL;
  if (!b)
    return uc_errorf(err, es, UC_ENOMEM, "out of memory");
  b->st = st;
  b->shared = uc_store_shared(st);
  if (!max_counting)
    max_counting = UC_BANS_MAX_COUNTING_DEFAULT;
  if (max_counting < UC_BANS_MAX_COUNTING_MIN)
    max_counting = UC_BANS_MAX_COUNTING_MIN;
  b->max_counting = max_counting;
  b->max_per_shard = (max_counting + SHARDS - 1) / SHARDS;
  pthread_mutex_init(&b->flush_lock, NULL);
  pthread_mutex_init(&b->q_lock, NULL);
  pthread_mutex_init(&b->agg_lock, NULL);
  uc_buf_init(&b->queue, (size_t)1 << 30);
  uc_table_init(&b->agg, sizeof(struct agg), offsetof(struct agg, tag));
  for (int i = 0; i < SHARDS; i++) {
    pthread_mutex_init(&b->shards[i].lock, NULL);
    uc_table_init(&b->shards[i].t, sizeof(struct entry), UC_TABLE_TAGS_APART);
  }
  /* The feed first: an unban made while we read is then applied, not lost. */
  if ((rc = uc_store_changes(st, &b->cursor, NULL, NULL)) != UC_OK ||
      (rc = uc_store_ban_each(st, 0, load_one, b)) != UC_OK) {
    char why[256];
    uc_store_error(st, rc, why, sizeof why);
    uc_bans_free(b);
    return uc_errorf(err, es, rc, "cannot load the bans: %s", why);
  }
  *out = b;
  return UC_OK;
}

void uc_bans_notify(uc_bans *b, void (*fn)(void *arg), void *arg) {
  b->notify = fn, b->notify_arg = arg;
}

void uc_bans_free(uc_bans *b) {
  if (!b)
    return;
  for (int i = 0; i < SHARDS; i++) {
    uc_table_release(&b->shards[i].t);
    pthread_mutex_destroy(&b->shards[i].lock);
  }
  uc_table_release(&b->agg);
  uc_buf_release(&b->queue);
  pthread_mutex_destroy(&b->agg_lock);
  pthread_mutex_destroy(&b->q_lock);
  pthread_mutex_destroy(&b->flush_lock);
  free(b);
}

static void look_init(struct uc_ban_look *out, const struct uc_settings *set, const char *key) {
  out->state = UC_BAN_CLEAR;
  out->remaining = set->ban_threshold;
  out->unstored = 0;
  snprintf(out->key, sizeof out->key, "%s", key);
}

/* key of ip's address masked to prefix p ("2001:db8::/48"). */
static void key_at(const struct uc_ip *ip, unsigned p, char key[UC_IP_KEY_MAX]) {
  uint8_t a[16];
  char text[INET6_ADDRSTRLEN];
  memcpy(a, ip->addr, 16);
  for (unsigned i = 0; i < 16; i++) {
    unsigned keep = p >= (i + 1) * 8 ? 8 : p > i * 8 ? p - i * 8 : 0;
    a[i] &= (uint8_t)(0xFF00u >> keep);
  }
  inet_ntop(AF_INET6, a, text, sizeof text);
  snprintf(key, UC_IP_KEY_MAX, "%s/%u", text, p);
}

/* Whether an IPv6 ban of another prefix length (an older ipv6_prefix, a /48
 * aggregate) holds ip; out says which. Such bans never leave memory: no
 * store read. */
static int covered(uc_bans *b, int64_t account, const struct uc_settings *set,
                   const struct uc_ip *ip, int64_t now, struct uc_ban_look *out) {
  if (ip->family != 6)
    return 0;
  for (unsigned w = 0; w < 2; w++)
    for (uint64_t bits = atomic_load(&b->v6_prefixes[w]); bits; bits &= bits - 1) {
      unsigned p = w * 64 + (unsigned)__builtin_ctzll(bits) + 1;
      char key[UC_IP_KEY_MAX];
      if (p == set->ipv6_prefix)
        continue;
      key_at(ip, p, key);
      uint32_t h = hash_of(account, key);
      struct shard *s = shard_of(b, h);
      struct key k = {account, key};
      pthread_mutex_lock(&s->lock);
      struct entry *e = uc_table_find(&s->t, h, eq, &k);
      if (e)
        maybe_lift(b, s, e, set, now);
      int banned = e && e->rec.banned_at;
      if (banned) {
        out->state = UC_BAN_BANNED, out->remaining = 0, out->unstored = e->unstored;
        snprintf(out->key, sizeof out->key, "%s", key);
      }
      pthread_mutex_unlock(&s->lock);
      if (banned)
        return 1;
    }
  return 0;
}

enum uc_ban_state uc_bans_state(uc_bans *b, int64_t account, const struct uc_settings *set,
                                const struct uc_ip *ip, int64_t now, struct uc_ban_look *out) {
  uint32_t h = hash_of(account, ip->key);
  struct shard *s = shard_of(b, h);
  int rc;
  look_init(out, set, ip->key);
  if (covered(b, account, set, ip, now, out))
    return out->state;
  pthread_mutex_lock(&s->lock);
  struct entry *e = lookup(b, s, h, account, ip->key, 0, &rc);
  if (e)
    maybe_lift(b, s, e, set, now);
  out->remaining = remaining_of(e ? &e->rec : NULL, set);
  if (e && e->rec.banned_at)
    out->state = UC_BAN_BANNED, out->unstored = e->unstored;
  pthread_mutex_unlock(&s->lock);
  return out->state;
}

/* A shared store counts; memory keeps what it answered. */
static int hit_shared(uc_bans *b, int64_t account, const struct uc_settings *set, const char *ip,
                      int64_t now, struct uc_ban_look *out) {
  struct uc_ban_rec rec;
  int counted, rc;
  rc = uc_store_ban_hit(b->st, account, ip, set->ban_threshold, set->ban_lift_seconds, now, &rec,
                        &counted);
  if (rc)
    return rc;
  out->remaining = remaining_of(&rec, set);
  /* counted past the threshold: a lowered threshold, this answer is refused too */
  out->state = !rec.banned_at                                  ? UC_BAN_CLEAR
               : counted && rec.attempts <= set->ban_threshold ? UC_BAN_JUST_BANNED
                                                               : UC_BAN_BANNED;
  uint32_t h = hash_of(account, ip);
  struct shard *s = shard_of(b, h);
  pthread_mutex_lock(&s->lock);
  struct entry *e = lookup(b, s, h, account, ip, 1, &rc);
  if (e) {
    if (!e->rec.banned_at && rec.banned_at)
      prefix_seen(b, ip), agg_note(b, &rec, +1);
    else if (e->rec.banned_at && !rec.banned_at)
      agg_note(b, &e->rec, -1);
    s->counting += (rec.banned_at == 0) - (e->rec.banned_at == 0);
    e->rec = rec;
  }
  pthread_mutex_unlock(&s->lock);
  return UC_OK;
}

/* The /48 of net, banned as one entry once members of its prefixes are. */
static void ban_net48(uc_bans *b, int64_t account, const uint8_t net[6], unsigned members,
                      int64_t now) {
  struct uc_ip ip = {.family = 6};
  char key[UC_IP_KEY_MAX];
  int rc;
  memcpy(ip.addr, net, 6);
  key_at(&ip, 48, key);
  uint32_t h = hash_of(account, key);
  struct shard *s = shard_of(b, h);
  pthread_mutex_lock(&s->lock);
  struct entry *e = lookup(b, s, h, account, key, 1, &rc);
  if (e && !e->rec.banned_at) {
    e->rec.attempts = members;
    ban_now(b, s, e, now);
    atomic_fetch_add(&b->aggregated, 1);
  }
  pthread_mutex_unlock(&s->lock);
}

int uc_bans_hit(uc_bans *b, int64_t account, const struct uc_settings *set, const struct uc_ip *ip,
                int64_t now, struct uc_ban_look *out) {
  uint32_t h = hash_of(account, ip->key);
  struct shard *s = shard_of(b, h);
  struct uc_ban_rec banned = {0};
  int rc = UC_OK;
  look_init(out, set, ip->key);
  if (covered(b, account, set, ip, now, out))
    return UC_OK;
  if (b->shared)
    return hit_shared(b, account, set, ip->key, now, out);
  pthread_mutex_lock(&s->lock);
  struct entry *e = lookup(b, s, h, account, ip->key, 1, &rc);
  if (!e) /* out of memory: answered without counting rather than failing the check */
    goto out;
  maybe_lift(b, s, e, set, now);
  if (e->rec.banned_at) { /* banned by a concurrent answer since our first look */
    out->state = UC_BAN_BANNED, out->remaining = 0, out->unstored = e->unstored;
    goto out;
  }
  if (e->rec.attempts >= set->ban_threshold) {
    /* A lowered threshold left this IP past it: its next black answer bans
     * it and is itself refused (no extra black answer let through). */
    out->state = UC_BAN_BANNED;
  } else {
    e->rec.attempts++;
    e->rec.updated_at = now;
    e->dirty = 1;
    out->remaining = remaining_of(&e->rec, set);
    if (out->remaining)
      goto out;
    out->state = UC_BAN_JUST_BANNED;
  }
  out->remaining = 0;
  ban_now(b, s, e, now);
  out->unstored = e->unstored;
  banned = e->rec;
out:
  pthread_mutex_unlock(&s->lock);
  if (banned.banned_at) {
    unsigned members = agg_note(b, &banned, +1);
    uint8_t net[6];
    if (set->ipv6_aggregate && members >= set->ipv6_aggregate && net48_of(banned.ip, net))
      ban_net48(b, account, net, members, now);
    notify(b);
  }
  return rc;
}

/* ---- storing bans, and the answers waiting for it ---- */

int uc_bans_wait(uc_bans *b, int64_t account, const char *key, struct uc_ban_wait *w) {
  uint32_t h = hash_of(account, key);
  struct shard *s = shard_of(b, h);
  struct key k = {account, key};
  pthread_mutex_lock(&s->lock);
  struct entry *e = uc_table_find(&s->t, h, eq, &k);
  int waits = e && e->unstored && e->rec.banned_at;
  if (waits) { /* under the shard lock: uc_bans_store clears unstored under it, then wakes */
    w->account = account;
    snprintf(w->key, sizeof w->key, "%s", key);
    pthread_mutex_lock(&b->q_lock);
    w->next = b->waits, b->waits = w;
    pthread_mutex_unlock(&b->q_lock);
  }
  pthread_mutex_unlock(&s->lock);
  return waits;
}

/* Calls the waits for (account, key) (key NULL: every key of account; account
 * 0: every wait) with stored set. No lock is held while done runs. */
static size_t wake(uc_bans *b, int64_t account, const char *key, int stored, int64_t deadline) {
  struct uc_ban_wait *fire = NULL, **pp;
  size_t n = 0;
  pthread_mutex_lock(&b->q_lock);
  for (pp = &b->waits; *pp;) {
    struct uc_ban_wait *w = *pp;
    int match = deadline ? w->deadline_ms <= deadline
                         : (!account || w->account == account) && (!key || !strcmp(w->key, key));
    if (match)
      *pp = w->next, w->next = fire, fire = w;
    else
      pp = &w->next;
  }
  pthread_mutex_unlock(&b->q_lock);
  while (fire) {
    struct uc_ban_wait *w = fire;
    fire = w->next; /* before done: w may be gone after it */
    w->stored = stored;
    w->done(w);
    n++;
  }
  return n;
}

size_t uc_bans_expire(uc_bans *b, int64_t now_ms) {
  size_t n = wake(b, 0, NULL, 0, now_ms ? now_ms : 1);
  atomic_fetch_add(&b->wait_timeouts, n);
  return n;
}

/* The bans of items still unstored, copied (and those lifted before, whose old
 * row goes first, or the upsert would keep it). */
static int collect_unstored(uc_bans *b, const struct uc_buf *items, struct uc_buf *put,
                            struct uc_buf *lift) {
  for (size_t i = 0; i < UC_BUF_COUNT(items, struct queued); i++) {
    const struct queued *q = &UC_BUF_AT(items, struct queued, i);
    uint32_t h = hash_of(q->account, q->ip);
    struct shard *s = shard_of(b, h);
    struct key k = {q->account, q->ip};
    int rc = UC_OK;
    pthread_mutex_lock(&s->lock);
    struct entry *e = uc_table_find(&s->t, h, eq, &k);
    if (e && e->unstored && e->rec.banned_at) {
      rc = uc_buf_add(put, &e->rec, sizeof e->rec);
      if (!rc && e->lifted)
        rc = uc_buf_add(lift, &e->rec, sizeof e->rec);
    }
    pthread_mutex_unlock(&s->lock);
    if (rc)
      return rc;
  }
  return UC_OK;
}

/* After the write: the bans of put are stored; their waits are called. */
static void mark_stored(uc_bans *b, const struct uc_buf *put) {
  for (size_t i = 0; i < UC_BUF_COUNT(put, struct uc_ban_rec); i++) {
    const struct uc_ban_rec *r = &UC_BUF_AT(put, struct uc_ban_rec, i);
    uint32_t h = hash_of(r->account_id, r->ip);
    struct shard *s = shard_of(b, h);
    struct key k = {r->account_id, r->ip};
    pthread_mutex_lock(&s->lock);
    struct entry *e = uc_table_find(&s->t, h, eq, &k);
    if (e && e->unstored && e->rec.banned_at == r->banned_at) {
      e->unstored = 0, e->lifted = 0;
      e->dirty = e->rec.attempts != r->attempts || e->rec.updated_at != r->updated_at;
      atomic_fetch_sub(&b->unstored, 1);
    }
    pthread_mutex_unlock(&s->lock);
    wake(b, r->account_id, r->ip, 1, 0);
  }
}

int uc_bans_store(uc_bans *b) {
  struct uc_buf items, put, lift;
  int rc = UC_OK;
  uc_buf_init(&put, (size_t)1 << 30);
  uc_buf_init(&lift, (size_t)1 << 30);
  pthread_mutex_lock(&b->flush_lock); /* an unban cannot land between our copy and our write */
  pthread_mutex_lock(&b->q_lock);
  items = b->queue;
  uc_buf_init(&b->queue, (size_t)1 << 30);
  pthread_mutex_unlock(&b->q_lock);
  rc = collect_unstored(b, &items, &put, &lift);
  for (size_t i = 0; rc == UC_OK && i < UC_BUF_COUNT(&lift, struct uc_ban_rec); i++) {
    const struct uc_ban_rec *r = &UC_BUF_AT(&lift, struct uc_ban_rec, i);
    rc = uc_store_ban_delete(b->st, r->account_id, r->ip);
    rc = rc == UC_ENOTFOUND ? UC_OK : rc;
  }
  if (rc == UC_OK)
    rc = uc_store_ban_put(b->st, (const void *)put.data, UC_BUF_COUNT(&put, struct uc_ban_rec));
  if (rc == UC_OK) {
    mark_stored(b, &put);
  } else { /* kept, in memory and in the queue: the next call tries again */
    atomic_fetch_add(&b->write_errors, 1);
    pthread_mutex_lock(&b->q_lock);
    if (items.len && uc_buf_add(&b->queue, items.data, items.len) != UC_OK)
      atomic_store(&b->want_flush, 1); /* ENOMEM: the flush writes them */
    pthread_mutex_unlock(&b->q_lock);
  }
  pthread_mutex_unlock(&b->flush_lock);
  uc_buf_release(&items);
  uc_buf_release(&put);
  uc_buf_release(&lift);
  return rc;
}

/* ---- unbans ---- */

static void lock_all(uc_bans *b) {
  for (int i = 0; i < SHARDS; i++)
    pthread_mutex_lock(&b->shards[i].lock);
}

static void unlock_all(uc_bans *b) {
  for (int i = SHARDS - 1; i >= 0; i--)
    pthread_mutex_unlock(&b->shards[i].lock);
}

int uc_bans_unban(uc_bans *b, int64_t account, const char *ip) {
  uint32_t h = hash_of(account, ip);
  struct shard *s = shard_of(b, h);
  struct key k = {account, ip};
  pthread_mutex_lock(&b->flush_lock); /* no flush may write an older copy after the delete */
  pthread_mutex_lock(&s->lock);       /* nor a concurrent ban land between store and memory */
  int rc = uc_store_ban_delete(b->st, account, ip);
  struct entry *e = uc_table_find(&s->t, h, eq, &k);
  int known = e && (e->rec.attempts || e->rec.banned_at);
  if (e && (rc == UC_OK || rc == UC_ENOTFOUND))
    drop(b, s, e); /* the counter starts over */
  pthread_mutex_unlock(&s->lock);
  pthread_mutex_unlock(&b->flush_lock);
  wake(b, account, ip, 0, 0); /* a ban lifted before it was stored is never announced */
  if (rc == UC_ENOTFOUND)
    return known ? UC_OK : UC_ENOTFOUND;
  return rc;
}

/* With s locked: drops every entry of account; returns how many were banned. */
static size_t drop_account(uc_bans *b, struct shard *s, int64_t account) {
  size_t banned = 0;
  for (uint32_t i = 0; i < uc_table_capacity(&s->t);) {
    struct entry *e = uc_table_slot(&s->t, i);
    if (uc_table_used(&s->t, i) && e->rec.account_id == account) {
      banned += e->rec.banned_at != 0;
      drop(b, s, e); /* a later entry may have moved into slot i: look again */
      continue;
    }
    i++;
  }
  uc_table_shrink(&s->t); /* unban-all gives the memory back */
  return banned;
}

int uc_bans_unban_all(uc_bans *b, int64_t account, size_t *count) {
  size_t n = 0;
  pthread_mutex_lock(&b->flush_lock);
  lock_all(b);
  int rc = uc_store_ban_delete_all(b->st, account, NULL);
  for (int i = 0; rc == UC_OK && i < SHARDS; i++)
    n += drop_account(b, &b->shards[i], account);
  unlock_all(b);
  pthread_mutex_unlock(&b->flush_lock);
  if (rc == UC_OK)
    wake(b, account, NULL, 0, 0);
  if (count)
    *count = n;
  return rc;
}

/* ---- write-back of counts ---- */

/* With s locked: copies s's unwritten counts into put, marking them as
 * being written (an entry being written may not leave memory: a lookup would
 * read the older stored count back). Bans waiting for uc_bans_store are its
 * to write. */
static int take_pending(struct shard *s, struct uc_buf *put) {
  for (uint32_t i = 0; i < uc_table_capacity(&s->t); i++) {
    struct entry *e = uc_table_slot(&s->t, i);
    if (!uc_table_used(&s->t, i) || !e->dirty || e->unstored)
      continue;
    if (uc_buf_add(put, &e->rec, sizeof e->rec))
      return UC_ENOMEM;
    e->dirty = 0, e->writing = 1;
  }
  return UC_OK;
}

/* With s locked: deletes the stored rows of s's lifted bans. A store write
 * under the shard lock (lifts are rare), so that a ban made again meanwhile
 * can never be deleted by a lift written late. A lifted entry banned again
 * and not stored yet loses only its old row here: uc_bans_store puts the
 * new one. */
static int lift_stored(uc_bans *b, struct shard *s) {
  for (uint32_t i = 0; i < uc_table_capacity(&s->t); i++) {
    struct entry *e = uc_table_slot(&s->t, i);
    if (!uc_table_used(&s->t, i) || !e->lifted)
      continue;
    int rc = uc_store_ban_delete(b->st, e->rec.account_id, e->rec.ip);
    if (rc && rc != UC_ENOTFOUND)
      return rc; /* still lifted: the next flush tries again */
    e->lifted = 0;
  }
  return UC_OK;
}

/* After a failed write: marks the entries of recs to be written again. */
static void retake(uc_bans *b, const struct uc_buf *recs) {
  for (size_t i = 0; i < UC_BUF_COUNT(recs, struct uc_ban_rec); i++) {
    const struct uc_ban_rec *r = &UC_BUF_AT(recs, struct uc_ban_rec, i);
    uint32_t h = hash_of(r->account_id, r->ip);
    struct shard *s = shard_of(b, h);
    struct key k = {r->account_id, r->ip};
    pthread_mutex_lock(&s->lock);
    struct entry *e = uc_table_find(&s->t, h, eq, &k);
    if (e)
      e->dirty = 1;
    pthread_mutex_unlock(&s->lock);
  }
}

/* With s locked, after its counts are written (or not): ends the writing
 * marks, forgets entries with nothing to remember and shrinks to the bound. */
static void trim(uc_bans *b, struct shard *s) {
  for (uint32_t i = 0; i < uc_table_capacity(&s->t);) {
    struct entry *e = uc_table_slot(&s->t, i);
    if (!uc_table_used(&s->t, i)) {
      i++;
      continue;
    }
    e->writing = 0;
    if (!e->dirty && !e->lifted && !e->rec.attempts && !e->rec.banned_at) {
      drop(b, s, e); /* a later entry may have moved into slot i: look again */
      continue;
    }
    i++;
  }
  while (s->counting > b->max_per_shard && evict_one(b, s))
    ;
  if (s->t.count * 8 < uc_table_capacity(&s->t))
    uc_table_shrink(&s->t);
}

/* With flush_lock held. Shard locks are held only to copy (and for the rare
 * lifts); counts are written without them. A copy older than a ban written
 * meanwhile cannot undo it: a put never clears a stored ban. */
static int flush_locked(uc_bans *b) {
  struct uc_buf put;
  int rc = UC_OK;
  uc_buf_init(&put, (size_t)1 << 31);
  for (int i = 0; i < SHARDS && rc == UC_OK; i++) {
    pthread_mutex_lock(&b->shards[i].lock);
    rc = lift_stored(b, &b->shards[i]);
    if (rc == UC_OK)
      rc = take_pending(&b->shards[i], &put);
    pthread_mutex_unlock(&b->shards[i].lock);
  }
  if (rc == UC_OK)
    rc = uc_store_ban_put(b->st, (const void *)put.data, UC_BUF_COUNT(&put, struct uc_ban_rec));
  if (rc) {
    atomic_fetch_add(&b->write_errors, 1);
    retake(b, &put);
  }
  for (int i = 0; i < SHARDS; i++) {
    pthread_mutex_lock(&b->shards[i].lock);
    trim(b, &b->shards[i]);
    pthread_mutex_unlock(&b->shards[i].lock);
  }
  atomic_store(&b->want_flush, 0);
  uc_buf_release(&put);
  return rc;
}

int uc_bans_flush(uc_bans *b) {
  pthread_mutex_lock(&b->flush_lock);
  int rc = b->shared ? UC_OK : flush_locked(b);
  pthread_mutex_unlock(&b->flush_lock);
  return rc;
}

int uc_bans_flush_wanted(uc_bans *b) {
  return atomic_load(&b->want_flush);
}

/* ---- other processes' unbans (and other servers' bans) ---- */

/* With s locked: another process unbanned e's IP. Its count starts over; on
 * a store this server owns the zero is written back, which removes any row
 * a flush of ours re-created (a shared store holds the count itself). */
static void reset(uc_bans *b, struct shard *s, struct entry *e) {
  if (e->rec.banned_at) {
    s->counting++;
    unbanned(b, e);
  }
  e->rec.attempts = 0, e->rec.banned_at = 0;
  e->lifted = 0, e->dirty = !b->shared;
}

/* A change of another process (or a ban of this one), copied out of the feed. */
struct change {
  enum uc_change_kind kind;
  int64_t account;
  char ip[UC_IP_KEY_MAX];
  unsigned attempts; /* UC_CHANGE_BAN */
  int64_t banned_at; /* UC_CHANGE_BAN */
};

/* The store calls this with its own lock held: copy only, take no lock (a
 * shard lock here would deadlock with a lookup that holds it and reads the
 * store). Bans are kept even when they are our own: applying one again
 * changes nothing, and a hit whose reply was lost still lands. */
static int copy_change(void *arg, const struct uc_change *c) {
  struct change ch = {c->kind, c->account_id, "", c->attempts, c->banned_at};
  if (c->kind == UC_CHANGE_BAN ? !c->ip || !c->banned_at : c->own)
    return 0; /* own unbans: already applied when we made them */
  snprintf(ch.ip, sizeof ch.ip, "%s", c->ip ? c->ip : "");
  return uc_buf_add(arg, &ch, sizeof ch) != UC_OK;
}

/* Another server's hit banned an IP: memory holds the ban from now on, so
 * that this server answers 403 before classifying, as the banning one does. */
static void apply_ban(uc_bans *b, const struct change *c) {
  uint32_t h = hash_of(c->account, c->ip);
  struct shard *s = shard_of(b, h);
  struct key k = {c->account, c->ip};
  int created;
  pthread_mutex_lock(&s->lock);
  struct entry *e = uc_table_insert(&s->t, h, eq, &k, &created);
  if (e) { /* out of memory: the next black answer's hit says banned */
    if (created) {
      memset(e, 0, sizeof *e);
      e->rec.account_id = c->account;
      snprintf(e->rec.ip, sizeof e->rec.ip, "%s", c->ip);
    } else if (!e->rec.banned_at) {
      s->counting--;
    }
    int fresh = !e->rec.banned_at;
    e->rec.attempts = c->attempts;
    e->rec.banned_at = c->banned_at;
    e->rec.updated_at = c->banned_at;
    if (fresh) { /* the prefix lengths and /48 counts know every ban in memory */
      prefix_seen(b, e->rec.ip);
      agg_note(b, &e->rec, +1);
    }
  }
  pthread_mutex_unlock(&s->lock);
}

static void apply_change(uc_bans *b, const struct change *c) {
  if (c->kind == UC_CHANGE_BAN) {
    apply_ban(b, c);
    return;
  }
  if (c->kind == UC_CHANGE_UNBAN) {
    uint32_t h = hash_of(c->account, c->ip);
    struct shard *s = shard_of(b, h);
    struct key k = {c->account, c->ip};
    pthread_mutex_lock(&s->lock);
    struct entry *e = uc_table_find(&s->t, h, eq, &k);
    if (e)
      reset(b, s, e);
    pthread_mutex_unlock(&s->lock);
    wake(b, c->account, c->ip, 0, 0);
    return;
  }
  for (int i = 0; c->kind == UC_CHANGE_UNBAN_ALL && i < SHARDS; i++) {
    struct shard *s = &b->shards[i];
    pthread_mutex_lock(&s->lock);
    for (uint32_t j = 0; j < uc_table_capacity(&s->t); j++) {
      struct entry *e = uc_table_slot(&s->t, j);
      if (uc_table_used(&s->t, j) && e->rec.account_id == c->account)
        reset(b, s, e);
    }
    pthread_mutex_unlock(&s->lock);
  }
  if (c->kind == UC_CHANGE_UNBAN_ALL)
    wake(b, c->account, NULL, 0, 0);
}

int uc_bans_sync(uc_bans *b) {
  struct uc_buf changes;
  uc_buf_init(&changes, (size_t)1 << 30);
  pthread_mutex_lock(&b->flush_lock);
  int rc = uc_store_changes(b->st, &b->cursor, copy_change, &changes);
  for (size_t i = 0; i < UC_BUF_COUNT(&changes, struct change); i++)
    apply_change(b, &UC_BUF_AT(&changes, struct change, i));
  pthread_mutex_unlock(&b->flush_lock);
  uc_buf_release(&changes);
  return rc;
}

/* ---- listing, stats ---- */

int uc_bans_page(uc_bans *b, int64_t account, const struct uc_settings *s, int64_t now,
                 const struct uc_ban_query *q, uc_ban_cb cb, void *arg, int *more) {
  struct uc_ban_query page = *q;
  page.lift_seconds = s->ban_lift_seconds, page.now = now;
  uc_bans_flush(b); /* memory's counts first; a failure still lists what is stored */
  return uc_store_ban_page(b->st, account, &page, cb, arg, more);
}

void uc_bans_stats(uc_bans *b, struct uc_bans_stats *out) {
  memset(out, 0, sizeof *out);
  for (int i = 0; i < SHARDS; i++) {
    struct shard *s = &b->shards[i];
    pthread_mutex_lock(&s->lock);
    out->entries += s->t.count;
    out->banned += s->t.count - s->counting;
    for (uint32_t j = 0; j < uc_table_capacity(&s->t); j++)
      out->dirty +=
          uc_table_used(&s->t, j) && ((const struct entry *)uc_table_slot(&s->t, j))->dirty;
    pthread_mutex_unlock(&s->lock);
  }
  out->max_counting = b->max_counting;
  out->unstored = atomic_load(&b->unstored);
  out->evicted = atomic_load(&b->evicted);
  out->store_reads = atomic_load(&b->store_reads);
  out->write_errors = atomic_load(&b->write_errors);
  out->wait_timeouts = atomic_load(&b->wait_timeouts);
  out->aggregated = atomic_load(&b->aggregated);
}
