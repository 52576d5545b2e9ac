/* Per-key rate limits (include/uc/ratelimit.h): GCRA, in memory or through a
 * shared store. A bucket is its theoretical arrival time (TAT): a request at
 * now passes when TAT - now <= (burst - 1) * T, T = 1/per_second, and moves
 * TAT to max(TAT, now) + T. A bucket whose TAT has passed is full: the same
 * as no bucket, so it can be dropped at any time. */
#include "uc/ratelimit.h"
#include "uc/error.h"
#include "uc/table.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define SHARDS 16

struct bucket {
  int64_t key_id;
  int64_t tat_us; /* unix microseconds */
};

struct shard {
  pthread_mutex_t lock;
  struct uc_table t; /* struct bucket, tags apart */
};

struct uc_ratelimit {
  uc_store *st;
  int shared;
  size_t max, max_per_shard;
  _Atomic uint64_t limited, untracked, store_errors;
  struct shard shards[SHARDS];
};

struct uc_rate uc_rate_of(const struct uc_settings *account, uint32_t key_per_second,
                          uint32_t key_burst) {
  struct uc_rate r = {account->rate_limit_per_second, account->rate_limit_burst};
  if (key_per_second)
    r.per_second = key_per_second, r.burst = key_burst;
  if (r.per_second && !r.burst)
    r.burst = r.per_second;
  return r;
}

static int eq(const void *slot, const void *key) {
  return ((const struct bucket *)slot)->key_id == *(const int64_t *)key;
}

static uint32_t hash_of(int64_t key_id) {
  return uc_hash(&key_id, sizeof key_id, 0x5ca1ab1e);
}

uc_ratelimit *uc_ratelimit_new(uc_store *st, size_t max_keys) {
  uc_ratelimit *rl = calloc(1, sizeof *rl);
  if (!rl)
    return NULL;
  rl->st = st;
  rl->shared = st && uc_store_shared(st);
  rl->max = max_keys ? max_keys : UC_RATELIMIT_KEYS_DEFAULT;
  rl->max_per_shard = (rl->max + SHARDS - 1) / SHARDS;
  for (int i = 0; i < SHARDS; i++) {
    pthread_mutex_init(&rl->shards[i].lock, NULL);
    uc_table_init(&rl->shards[i].t, sizeof(struct bucket), UC_TABLE_TAGS_APART);
  }
  return rl;
}

void uc_ratelimit_free(uc_ratelimit *rl) {
  if (!rl)
    return;
  for (int i = 0; i < SHARDS; i++) {
    uc_table_release(&rl->shards[i].t);
    pthread_mutex_destroy(&rl->shards[i].lock);
  }
  free(rl);
}

/* With s locked: drops the full buckets (TAT passed); they hold nothing. */
static void drop_full(struct shard *s, int64_t now_us) {
  for (uint32_t i = 0; i < uc_table_capacity(&s->t);) {
    struct bucket *b = uc_table_slot(&s->t, i);
    if (uc_table_used(&s->t, i) && b->tat_us <= now_us) {
      uc_table_remove(&s->t, b);
      continue; /* a later entry may have moved into slot i */
    }
    i++;
  }
}

/* One GCRA step on *tat: 1 when the request passes (tat moved), else 0 and
 * *wait_us until one would. */
static int gcra(int64_t *tat, int64_t now_us, const struct uc_rate *r, int64_t *wait_us) {
  int64_t t = 1000000 / r->per_second, tau = (int64_t)(r->burst - 1) * t;
  int64_t at = *tat > now_us ? *tat : now_us;
  if (at - now_us > tau) {
    *wait_us = at - tau - now_us;
    return 0;
  }
  *tat = at + (t ? t : 1);
  return 1;
}

static unsigned whole_seconds(int64_t ms) {
  int64_t s = (ms + 999) / 1000;
  return s < 1 ? 1 : s > 86400 ? 86400 : (unsigned)s;
}

static int take_memory(uc_ratelimit *rl, int64_t key_id, const struct uc_rate *r, int64_t now_ms,
                       int *allowed, unsigned *retry_after) {
  uint32_t h = hash_of(key_id);
  struct shard *s = &rl->shards[h % SHARDS];
  int64_t now_us = now_ms * 1000, wait_us = 0;
  pthread_mutex_lock(&s->lock);
  struct bucket *b = uc_table_find(&s->t, h, eq, &key_id);
  if (!b && s->t.count >= rl->max_per_shard)
    drop_full(s, now_us);
  if (!b && s->t.count < rl->max_per_shard)
    b = uc_table_insert(&s->t, h, eq, &key_id, NULL);
  if (b) {
    b->key_id = key_id;
    *allowed = gcra(&b->tat_us, now_us, r, &wait_us);
  } else { /* every bucket busy (or ENOMEM): let it pass rather than refuse blindly */
    atomic_fetch_add(&rl->untracked, 1);
  }
  pthread_mutex_unlock(&s->lock);
  if (!*allowed)
    *retry_after = whole_seconds((wait_us + 999) / 1000);
  return UC_OK;
}

int uc_ratelimit_take(uc_ratelimit *rl, int64_t key_id, const struct uc_rate *r, int64_t now_ms,
                      int *allowed, unsigned *retry_after) {
  int rc = UC_OK;
  int64_t retry_ms = 0;
  *allowed = 1, *retry_after = 0;
  if (!r->per_second)
    return UC_OK;
  struct uc_rate rate = {r->per_second, r->burst ? r->burst : r->per_second};
  if (!rl->shared) {
    rc = take_memory(rl, key_id, &rate, now_ms, allowed, retry_after);
  } else if ((rc = uc_store_rate_take(rl->st, key_id, rate.per_second, rate.burst, now_ms, allowed,
                                      &retry_ms)) != UC_OK) {
    *allowed = 1; /* the store is down: checks go on without a limit */
    atomic_fetch_add(&rl->store_errors, 1);
  } else if (!*allowed) {
    *retry_after = whole_seconds(retry_ms);
  }
  if (!*allowed)
    atomic_fetch_add(&rl->limited, 1);
  return rc;
}

void uc_ratelimit_stats(uc_ratelimit *rl, struct uc_ratelimit_stats *out) {
  memset(out, 0, sizeof *out);
  for (int i = 0; i < SHARDS; i++) {
    pthread_mutex_lock(&rl->shards[i].lock);
    out->buckets += rl->shards[i].t.count;
    pthread_mutex_unlock(&rl->shards[i].lock);
  }
  out->max = rl->max;
  out->limited = atomic_load(&rl->limited);
  out->untracked = atomic_load(&rl->untracked);
  out->store_errors = atomic_load(&rl->store_errors);
}
