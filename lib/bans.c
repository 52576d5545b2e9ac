/* IP attempt accounting and bans over a store, with a bounded cache
 * (include/uc/bans.h, docs/internals/bans.md).
 *
 * Memory: 64 shards, each a lock and a uc_table of entries. On a store that
 * one server owns (SQLite) memory is the authority for counts: a black answer
 * counts in memory, the count is written back at the next flush, and the
 * answer that bans is written through before it leaves. On a shared store
 * every black answer is one atomic uc_store_ban_hit and memory only caches. */
#include "uc/bans.h"
#include "store_int.h"
#include "uc/buf.h"
#include "uc/error.h"
#include "uc/table.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define SHARDS 64
#define EVICT_SCAN 256 /* slots looked at for the oldest written-back entry */

struct entry {
  struct uc_ban_rec rec;
  uint8_t dirty;   /* counted in memory, not written back yet */
  uint8_t writing; /* copied by a flush whose write has not committed: must stay */
  uint8_t lifted;  /* an expired ban lifted in memory; the store still holds it */
};

struct shard {
  pthread_mutex_t lock;
  struct uc_table t;   /* struct entry; tags apart: probing reads 4-byte tags */
  size_t counting;     /* entries without a ban */
  uint32_t hand;       /* where the next eviction search starts */
  struct uc_gone gone; /* IPs that hash here and left memory (their counts are stored) */
};

struct uc_bans {
  uc_store *st;
  int shared;
  size_t max_counting, max_per_shard;
  pthread_mutex_t flush_lock; /* one flush, sync or unban at a time: no older copy lands late */
  uint64_t cursor;            /* of the store's change feed; under flush_lock */
  _Atomic uint64_t evicted, store_reads, write_errors;
  atomic_int want_flush;
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

/* With s locked: drops entry e from memory. */
static void drop(struct shard *s, struct entry *e) {
  if (!e->rec.banned_at)
    s->counting--;
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
  drop(s, victim);
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
  return e;
}

/* With s locked: a ban older than the account's lift time ends by itself
 * (written back by the next flush). */
static void maybe_lift(struct shard *s, struct entry *e, const struct uc_settings *set,
                       int64_t now) {
  if (!uc__ban_expired(&e->rec, set->ban_lift_seconds, now))
    return;
  e->rec.banned_at = 0, e->rec.attempts = 0, e->rec.updated_at = now;
  e->lifted = 1;
  s->counting++;
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

void uc_bans_free(uc_bans *b) {
  if (!b)
    return;
  for (int i = 0; i < SHARDS; i++) {
    uc_table_release(&b->shards[i].t);
    pthread_mutex_destroy(&b->shards[i].lock);
  }
  pthread_mutex_destroy(&b->flush_lock);
  free(b);
}

enum uc_ban_state uc_bans_state(uc_bans *b, int64_t account, const struct uc_settings *set,
                                const char *ip, int64_t now, long *remaining) {
  uint32_t h = hash_of(account, ip);
  struct shard *s = shard_of(b, h);
  int rc;
  pthread_mutex_lock(&s->lock);
  struct entry *e = lookup(b, s, h, account, ip, 0, &rc);
  if (e)
    maybe_lift(s, e, set, now);
  int banned = e && e->rec.banned_at;
  *remaining = remaining_of(e ? &e->rec : NULL, set);
  pthread_mutex_unlock(&s->lock);
  return banned ? UC_BAN_BANNED : UC_BAN_CLEAR;
}

/* A shared store counts; memory keeps what it answered. */
static int hit_shared(uc_bans *b, int64_t account, const struct uc_settings *set, const char *ip,
                      int64_t now, long *remaining, enum uc_ban_state *state) {
  struct uc_ban_rec rec;
  int counted, rc;
  rc = uc_store_ban_hit(b->st, account, ip, set->ban_threshold, set->ban_lift_seconds, now, &rec,
                        &counted);
  if (rc)
    return rc;
  *remaining = remaining_of(&rec, set);
  *state = !rec.banned_at ? UC_BAN_CLEAR : counted ? UC_BAN_JUST_BANNED : UC_BAN_BANNED;
  uint32_t h = hash_of(account, ip);
  struct shard *s = shard_of(b, h);
  pthread_mutex_lock(&s->lock);
  struct entry *e = lookup(b, s, h, account, ip, 1, &rc);
  if (e) {
    s->counting += (rec.banned_at == 0) - (e->rec.banned_at == 0);
    e->rec = rec;
  }
  pthread_mutex_unlock(&s->lock);
  return UC_OK;
}

int uc_bans_hit(uc_bans *b, int64_t account, const struct uc_settings *set, const char *ip,
                int64_t now, long *remaining, enum uc_ban_state *state) {
  uint32_t h = hash_of(account, ip);
  struct shard *s = shard_of(b, h);
  int rc = UC_OK;
  *state = UC_BAN_CLEAR;
  *remaining = set->ban_threshold;
  if (b->shared)
    return hit_shared(b, account, set, ip, now, remaining, state);
  pthread_mutex_lock(&s->lock);
  struct entry *e = lookup(b, s, h, account, ip, 1, &rc);
  if (!e) /* out of memory: answered without counting rather than failing the check */
    goto out;
  maybe_lift(s, e, set, now);
  if (e->rec.banned_at) { /* banned by a concurrent answer since our first look */
    *remaining = 0;
    *state = UC_BAN_BANNED;
    goto out;
  }
  e->rec.attempts++;
  e->rec.updated_at = now;
  e->dirty = 1;
  *remaining = remaining_of(&e->rec, set);
  if (*remaining == 0) {
    /* Durable before anyone is told: this answer and every 403 after it wait
     * for the write, under this shard's lock. */
    e->rec.banned_at = now;
    s->counting--;
    *state = UC_BAN_JUST_BANNED;
    if (e->lifted && (rc = uc_store_ban_delete(b->st, account, ip)) == UC_ENOTFOUND)
      rc = UC_OK; /* the old ban goes first, or the put would keep its date */
    e->lifted = rc != UC_OK;
    if (rc == UC_OK && (rc = uc_store_ban_put(b->st, &e->rec, 1)) == UC_OK)
      e->dirty = 0;
    if (rc)
      atomic_fetch_add(&b->write_errors, 1); /* kept dirty: the next flush retries */
  }
out:
  pthread_mutex_unlock(&s->lock);
  return rc;
}

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
    drop(s, e); /* the counter starts over */
  pthread_mutex_unlock(&s->lock);
  pthread_mutex_unlock(&b->flush_lock);
  if (rc == UC_ENOTFOUND)
    return known ? UC_OK : UC_ENOTFOUND;
  return rc;
}

/* With s locked: drops every entry of account; returns how many were banned. */
static size_t drop_account(struct shard *s, int64_t account) {
  size_t banned = 0;
  for (uint32_t i = 0; i < uc_table_capacity(&s->t);) {
    struct entry *e = uc_table_slot(&s->t, i);
    if (uc_table_used(&s->t, i) && e->rec.account_id == account) {
      banned += e->rec.banned_at != 0;
      drop(s, e); /* a later entry may have moved into slot i: look again */
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
    n += drop_account(&b->shards[i], account);
  unlock_all(b);
  pthread_mutex_unlock(&b->flush_lock);
  if (count)
    *count = n;
  return rc;
}

/* With s locked: copies s's unwritten counts into put, marking them as
 * being written (an entry being written may not leave memory: a lookup would
 * read the older stored count back). */
static int take_pending(struct shard *s, struct uc_buf *put) {
  for (uint32_t i = 0; i < uc_table_capacity(&s->t); i++) {
    struct entry *e = uc_table_slot(&s->t, i);
    if (!uc_table_used(&s->t, i) || !e->dirty)
      continue;
    if (uc_buf_add(put, &e->rec, sizeof e->rec))
      return UC_ENOMEM;
    e->dirty = 0, e->writing = 1;
  }
  return UC_OK;
}

/* With s locked: deletes the stored rows of s's lifted bans. A store write
 * under the shard lock (lifts are rare), so that a ban made again meanwhile
 * by a hit (which deletes the old row itself, under the same lock) can
 * never be deleted by a lift written late. */
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
      drop(s, e); /* a later entry may have moved into slot i: look again */
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
 * meanwhile by a hit cannot undo it: a put never clears a stored ban. */
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

/* With s locked: another process unbanned e's IP. Its count starts over; on
 * a store this server owns the zero is written back, which removes any row
 * a flush of ours re-created (a shared store holds the count itself). */
static void reset(uc_bans *b, struct shard *s, struct entry *e) {
  if (e->rec.banned_at)
    s->counting++;
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
 * shard lock here would deadlock with a hit that holds it and waits for the
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
    e->rec.attempts = c->attempts;
    e->rec.banned_at = c->banned_at;
    e->rec.updated_at = c->banned_at;
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

struct each_ctx {
  const struct uc_settings *set;
  int64_t now;
  uc_ban_cb cb;
  void *arg;
};

static int each_one(void *arg, const struct uc_ban_rec *r) {
  struct each_ctx *x = arg;
  if (uc__ban_expired(r, x->set->ban_lift_seconds, x->now))
    return 0; /* lifted: nothing counted any more */
  return r->attempts || r->banned_at ? x->cb(x->arg, r) : 0;
}

int uc_bans_each(uc_bans *b, int64_t account, const struct uc_settings *s, int64_t now,
                 uc_ban_cb cb, void *arg) {
  struct each_ctx x = {s, now, cb, arg};
  uc_bans_flush(b); /* memory's counts first; a failure still lists what is stored */
  return uc_store_ban_each(b->st, account, each_one, &x);
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
  out->evicted = atomic_load(&b->evicted);
  out->store_reads = atomic_load(&b->store_reads);
  out->write_errors = atomic_load(&b->write_errors);
}
