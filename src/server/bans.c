/* Per-account IP bans in memory, exact under concurrency: the check and the
 * count of one IP happen under one shard lock. Counts are written behind (every
 * flush); a ban is written through before the answer that caused it leaves. */
#include "bans.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SHARDS 64

struct entry {
  struct uc_ban_rec rec;
  int dirty;
};

struct shard {
  pthread_mutex_t lock;
  struct entry *e;
  uint32_t *fp; /* beside e: 0 for an empty slot, else a fingerprint of the hash
                 * (never 0); probing reads these 4-byte cells, not 100-byte entries */
  size_t mask, used;
};

static uint32_t fingerprint(uint64_t h) {
  return (uint32_t)(h >> 32) | 1u;
}

/* Whether slot j holds an IP of account with a count or a ban to show or clear. */
static int counts_for(const struct shard *s, size_t j, int64_t account) {
  const struct entry *e = &s->e[j];
  return s->fp[j] && e->rec.account_id == account && (e->rec.attempts || e->rec.banned_at);
}

struct srv_bans {
  uc_store *st;
  struct shard shards[SHARDS];
  pthread_mutex_t flush_lock; /* one flush at a time, and none during an unban */
};

static uint64_t hash_key(int64_t account, const char *ip) {
  uint64_t h = 1469598103934665603ull ^ (uint64_t)account;
  for (; *ip; ip++)
    h = (h ^ (unsigned char)*ip) * 1099511628211ull;
  return h ^ h >> 31;
}

static struct shard *shard_of(struct srv_bans *b, uint64_t h) {
  return &b->shards[h % SHARDS];
}

/* With the shard locked: the entry for (account, ip), created when create. */
static struct entry *find(struct shard *s, uint64_t h, int64_t account, const char *ip,
                          int create) {
  if (create && (!s->e || (s->used + 1) * 2 > s->mask + 1)) {
    size_t size = s->e ? (s->mask + 1) * 2 : 16;
    struct entry *e = calloc(size, sizeof *e);
    uint32_t *fp = calloc(size, sizeof *fp);
    if (!e || !fp) {
      free(e), free(fp);
      return NULL;
    }
    for (size_t i = 0; s->e && i <= s->mask; i++) {
      if (!s->fp[i])
        continue;
      uint64_t hi = hash_key(s->e[i].rec.account_id, s->e[i].rec.ip);
      size_t j = (hi / SHARDS) & (size - 1);
      while (fp[j])
        j = (j + 1) & (size - 1);
      e[j] = s->e[i], fp[j] = s->fp[i];
    }
    free(s->e), free(s->fp);
    s->e = e, s->fp = fp, s->mask = size - 1;
  }
  if (!s->e)
    return NULL;
  uint32_t f = fingerprint(h);
  size_t i = (h / SHARDS) & s->mask;
  for (; s->fp[i]; i = (i + 1) & s->mask)
    if (s->fp[i] == f && s->e[i].rec.account_id == account && strcmp(s->e[i].rec.ip, ip) == 0)
      return &s->e[i];
  if (!create)
    return NULL;
  struct entry *e = &s->e[i];
  memset(e, 0, sizeof *e);
  e->rec.account_id = account;
  snprintf(e->rec.ip, sizeof e->rec.ip, "%s", ip);
  s->fp[i] = f;
  s->used++;
  return e;
}

static int load_one(void *arg, const struct uc_ban_rec *r) {
  struct srv_bans *b = arg;
  uint64_t h = hash_key(r->account_id, r->ip);
  struct entry *e = find(shard_of(b, h), h, r->account_id, r->ip, 1);
  if (e)
    e->rec = *r, e->dirty = 0;
  return e == NULL;
}

struct srv_bans *srv_bans_new(uc_store *st) {
  struct srv_bans *b = calloc(1, sizeof *b);
  if (!b)
    return NULL;
  b->st = st;
  pthread_mutex_init(&b->flush_lock, NULL);
  for (int i = 0; i < SHARDS; i++)
    pthread_mutex_init(&b->shards[i].lock, NULL);
  if (st->ops->ban_each(st->state, 0, load_one, b) != UC_OK) {
    srv_bans_free(b);
    return NULL;
  }
  return b;
}

void srv_bans_free(struct srv_bans *b) {
  if (!b)
    return;
  for (int i = 0; i < SHARDS; i++) {
    free(b->shards[i].e);
    free(b->shards[i].fp);
    pthread_mutex_destroy(&b->shards[i].lock);
  }
  pthread_mutex_destroy(&b->flush_lock);
  free(b);
}

/* A ban older than the account's lift time ends by itself. */
static void maybe_lift(struct entry *e, const struct uc_settings *set, int64_t now) {
  if (e->rec.banned_at && set->ban_lift_seconds &&
      now - e->rec.banned_at >= (int64_t)set->ban_lift_seconds) {
    e->rec.banned_at = 0, e->rec.attempts = 0, e->rec.updated_at = now, e->dirty = 1;
  }
}

static long remaining_of(const struct entry *e, const struct uc_settings *set) {
  unsigned used = e ? e->rec.attempts : 0;
  return used >= set->ban_threshold ? 0 : (long)(set->ban_threshold - used);
}

enum srv_ban_state srv_bans_state(struct srv_bans *b, int64_t account,
                                  const struct uc_settings *set, const char *ip, int64_t now,
                                  long *remaining) {
  uint64_t h = hash_key(account, ip);
  struct shard *s = shard_of(b, h);
  pthread_mutex_lock(&s->lock);
  struct entry *e = find(s, h, account, ip, 0);
  if (e)
    maybe_lift(e, set, now);
  int banned = e && e->rec.banned_at;
  *remaining = remaining_of(e, set);
  pthread_mutex_unlock(&s->lock);
  return banned ? SRV_BANNED : SRV_NOT_BANNED;
}

enum srv_ban_state srv_bans_count_black(struct srv_bans *b, int64_t account,
                                        const struct uc_settings *set, const char *ip, int64_t now,
                                        long *remaining) {
  uint64_t h = hash_key(account, ip);
  struct shard *s = shard_of(b, h);
  enum srv_ban_state state = SRV_NOT_BANNED;
  pthread_mutex_lock(&s->lock);
  struct entry *e = find(s, h, account, ip, 1);
  if (!e) { /* out of memory: answer without counting rather than fail the check */
    *remaining = set->ban_threshold;
    goto out;
  }
  maybe_lift(e, set, now);
  if (e->rec.banned_at) { /* banned by a concurrent request since our first look */
    *remaining = 0;
    state = SRV_BANNED;
    goto out;
  }
  e->rec.attempts++;
  e->rec.updated_at = now;
  e->dirty = 1;
  *remaining = remaining_of(e, set);
  if (*remaining == 0) {
    /* Durable before anyone is told: this answer (remaining 0) and every 403
     * after it wait for the write, under this shard's lock. */
    e->rec.banned_at = now;
    if (b->st->ops->ban_put(b->st->state, &e->rec, 1) == UC_OK)
      e->dirty = 0;
    else
      fprintf(stderr, "usercleaning: could not store the ban of %s; retrying at the next flush\n",
              ip);
    state = SRV_JUST_BANNED;
  }
out:
  pthread_mutex_unlock(&s->lock);
  return state;
}

int srv_bans_unban(struct srv_bans *b, int64_t account, const char *ip) {
  uint64_t h = hash_key(account, ip);
  struct shard *s = shard_of(b, h);
  pthread_mutex_lock(&b->flush_lock); /* no flush may write an older copy after the delete */
  pthread_mutex_lock(&s->lock);
  struct entry *e = find(s, h, account, ip, 0);
  int rc = b->st->ops->ban_delete(b->st->state, account, ip);
  int known = e && (e->rec.attempts || e->rec.banned_at);
  if (e && (rc == UC_OK || rc == UC_ENOTFOUND)) {
    e->rec.attempts = 0, e->rec.banned_at = 0, e->dirty = 0; /* the counter starts over */
    rc = UC_OK;
  }
  pthread_mutex_unlock(&s->lock);
  pthread_mutex_unlock(&b->flush_lock);
  return rc == UC_OK && !known ? UC_ENOTFOUND : rc;
}

int srv_bans_unban_all(struct srv_bans *b, int64_t account, size_t *count) {
  size_t n = 0;
  pthread_mutex_lock(&b->flush_lock);
  for (int i = 0; i < SHARDS; i++)
    pthread_mutex_lock(&b->shards[i].lock);
  int rc = b->st->ops->ban_delete_all(b->st->state, account, NULL);
  for (int i = 0; rc == UC_OK && i < SHARDS; i++) {
    struct shard *s = &b->shards[i];
    for (size_t j = 0; s->e && j <= s->mask; j++) {
      struct entry *e = &s->e[j];
      if (!counts_for(s, j, account))
        continue;
      n += e->rec.banned_at != 0;
      e->rec.attempts = 0, e->rec.banned_at = 0, e->dirty = 0;
    }
  }
  for (int i = SHARDS - 1; i >= 0; i--)
    pthread_mutex_unlock(&b->shards[i].lock);
  pthread_mutex_unlock(&b->flush_lock);
  if (count)
    *count = n;
  return rc;
}

/* Copies shard s's dirty entries into *recs (grown as needed) and marks them
 * clean. With s locked. */
static int take_dirty(struct shard *s, struct uc_ban_rec **recs, size_t *n, size_t *cap) {
  for (size_t j = 0; s->e && j <= s->mask; j++) {
    if (!s->fp[j] || !s->e[j].dirty)
      continue;
    if (*n == *cap) {
      size_t c = *cap ? *cap * 2 : 256;
      struct uc_ban_rec *p = realloc(*recs, c * sizeof *p);
      if (!p)
        return UC_ENOMEM;
      *recs = p, *cap = c;
    }
    (*recs)[(*n)++] = s->e[j].rec;
    s->e[j].dirty = 0;
  }
  return UC_OK;
}

/* Marks the entries of recs dirty again after a failed write. */
static void redirty(struct srv_bans *b, const struct uc_ban_rec *recs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint64_t h = hash_key(recs[i].account_id, recs[i].ip);
    struct shard *s = shard_of(b, h);
    pthread_mutex_lock(&s->lock);
    struct entry *e = find(s, h, recs[i].account_id, recs[i].ip, 0);
    if (e)
      e->dirty = 1;
    pthread_mutex_unlock(&s->lock);
  }
}

static void lock_all(struct srv_bans *b) {
  for (int i = 0; i < SHARDS; i++)
    pthread_mutex_lock(&b->shards[i].lock);
}

static void unlock_all(struct srv_bans *b) {
  for (int i = SHARDS - 1; i >= 0; i--)
    pthread_mutex_unlock(&b->shards[i].lock);
}

/* Shard locks are held only to copy; the write happens without them, so checks
 * never wait for SQLite. A copy older than a ban written meanwhile by
 * count_black cannot undo it: ban_put never clears a stored ban. */
static int flush_flocked(struct srv_bans *b) {
  struct uc_ban_rec *recs = NULL;
  size_t n = 0, cap = 0;
  int rc = UC_OK;
  for (int i = 0; i < SHARDS && rc == UC_OK; i++) {
    pthread_mutex_lock(&b->shards[i].lock);
    rc = take_dirty(&b->shards[i], &recs, &n, &cap);
    pthread_mutex_unlock(&b->shards[i].lock);
  }
  if (rc == UC_OK && n)
    rc = b->st->ops->ban_put(b->st->state, recs, n);
  if (rc)
    redirty(b, recs, n);
  free(recs);
  return rc;
}

int srv_bans_flush(struct srv_bans *b) {
  pthread_mutex_lock(&b->flush_lock);
  int rc = flush_flocked(b);
  pthread_mutex_unlock(&b->flush_lock);
  return rc;
}

int srv_bans_reload(struct srv_bans *b) {
  struct uc_ban_rec *recs = NULL;
  size_t n = 0, cap = 0;
  pthread_mutex_lock(&b->flush_lock);
  lock_all(b); /* rare (another process wrote): checks wait for this one */
  int rc = UC_OK;
  for (int i = 0; i < SHARDS && rc == UC_OK; i++)
    rc = take_dirty(&b->shards[i], &recs, &n, &cap);
  if (rc == UC_OK && n) /* ours first, then read everyone's (an unban by the CLI) */
    rc = b->st->ops->ban_put(b->st->state, recs, n);
  if (rc == UC_OK) {
    for (int i = 0; i < SHARDS; i++) {
      free(b->shards[i].e);
      free(b->shards[i].fp);
      b->shards[i].e = NULL, b->shards[i].fp = NULL, b->shards[i].mask = 0, b->shards[i].used = 0;
    }
    rc = b->st->ops->ban_each(b->st->state, 0, load_one, b);
  } else {
    for (size_t i = 0; i < n; i++) { /* keep them for the next flush */
      uint64_t h = hash_key(recs[i].account_id, recs[i].ip);
      struct entry *e = find(shard_of(b, h), h, recs[i].account_id, recs[i].ip, 0);
      if (e)
        e->dirty = 1;
    }
  }
  unlock_all(b);
  pthread_mutex_unlock(&b->flush_lock);
  free(recs);
  return rc;
}

int srv_bans_each(struct srv_bans *b, int64_t account, uc_ban_cb cb, void *arg) {
  size_t n = 0, cap = 0;
  struct uc_ban_rec *recs = NULL;
  lock_all(b);
  for (int i = 0; i < SHARDS; i++) {
    struct shard *s = &b->shards[i];
    for (size_t j = 0; s->e && j <= s->mask; j++) {
      const struct entry *e = &s->e[j];
      if (!counts_for(s, j, account))
        continue;
      if (n == cap) {
        cap = cap ? cap * 2 : 64;
        struct uc_ban_rec *p = realloc(recs, cap * sizeof *p);
        if (!p)
          break;
        recs = p;
      }
      recs[n++] = e->rec;
    }
  }
  unlock_all(b);
  for (size_t i = 0; i < n; i++)
    if (cb(arg, &recs[i]))
      break;
  free(recs);
  return UC_OK;
}
