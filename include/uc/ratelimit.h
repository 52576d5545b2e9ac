/* Per-key rate limits (SPEC §2: 429 "Rate limit exceeded." with Retry-After),
 * off by default. A key's rate is its own (uc_key_rec.rate_*) when set, else
 * its account's settings (rate_limit_per_second, rate_limit_burst); each key
 * has a bucket of its own. GCRA: per_second requests a second on average,
 * burst of them at once.
 *
 * On a shared store (several servers) every request is one atomic
 * uc_store_rate_take on the store's clock: exact across servers. Otherwise
 * the buckets live in memory: 16 shards of a uc_table, at most max_keys of
 * them (a full bucket holds nothing worth keeping and makes room first).
 * docs/internals/ratelimit.md. Thread-safe. */
#ifndef UC_RATELIMIT_H
#define UC_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "uc/settings.h"
#include "uc/store.h"

typedef struct uc_ratelimit uc_ratelimit;

#define UC_RATE_MAX 1000000 /* per_second and burst at most */
#define UC_RATELIMIT_KEYS_DEFAULT 65536

struct uc_rate {
  uint32_t per_second; /* 0: no limit */
  uint32_t burst;      /* 0: per_second */
};

/* The rate that applies to a key: its own when it has one, else its account's. */
struct uc_rate uc_rate_of(const struct uc_settings *account, uint32_t key_per_second,
                          uint32_t key_burst);

/* max_keys: buckets kept in memory (0: the default); st: where a shared
 * store counts. NULL on ENOMEM. */
uc_ratelimit *uc_ratelimit_new(uc_store *st, size_t max_keys);
void uc_ratelimit_free(uc_ratelimit *rl);

/* Takes one request of key_id under r at now_ms (unix milliseconds). *allowed
 * says whether it passes; when not, *retry_after is the whole seconds (at
 * least 1) until one would. A rate of 0 allows without counting. When the
 * shared store fails the request is allowed (a limit never blocks checks
 * because Redis is down) and its error returned for the caller to report. */
int uc_ratelimit_take(uc_ratelimit *rl, int64_t key_id, const struct uc_rate *r, int64_t now_ms,
                      int *allowed, unsigned *retry_after);

struct uc_ratelimit_stats {
  size_t buckets, max;   /* in memory */
  uint64_t limited;      /* requests refused */
  uint64_t untracked;    /* allowed without a bucket (memory full of busy ones) */
  uint64_t store_errors; /* shared store failures (allowed) */
};
void uc_ratelimit_stats(uc_ratelimit *rl, struct uc_ratelimit_stats *out);

#endif
