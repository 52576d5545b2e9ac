/* Usage: answers per key, day (UTC) and outcome (the three categories, and
 * 403 "banned" answers: UC_USAGE_BANNED in store.h). Counted in memory
 * by the threads that answer (each into its own shard), written to the store
 * in batches, and rolled up per day, per key and in total for the admin API,
 * the dashboard and `usercleaning usage`. Nothing counted is dropped: a
 * failed flush keeps its sums for the next one. */
#ifndef UC_USAGE_H
#define UC_USAGE_H

#include <stddef.h>
#include <stdint.h>

#include "uc/engine.h"
#include "uc/keys.h"
#include "uc/store.h"

typedef struct uc_usage uc_usage;

uc_usage *uc_usage_new(void); /* NULL on ENOMEM */
void uc_usage_free(uc_usage *u);
/* slot: the caller's thread index, so that threads count into their own shards.
 * outcome: a uc_category, or UC_USAGE_BANNED. */
void uc_usage_count(uc_usage *u, unsigned slot, int64_t key_id, unsigned outcome, int64_t now);
/* Writes what was counted; on failure keeps it and returns the store's error. */
int uc_usage_flush(uc_usage *u, uc_store *st);

#define UC_USAGE_DAYS_MAX 366

struct uc_usage_day {
  unsigned day;                  /* days since 1970-01-01 */
  uint64_t n[UC_USAGE_OUTCOMES]; /* by outcome */
};

struct uc_usage_key {
  int64_t id;
  char name[UC_NAME_MAX + 1];
  uc_key_type type;
  int revoked;
  uint64_t n[UC_USAGE_OUTCOMES]; /* by outcome */
};

/* An account's usage over the last `days` days up to `today`. Caller-owned;
 * uc_usage_report_release frees the arrays. */
struct uc_usage_report {
  unsigned days, today;
  struct uc_usage_day *by_day; /* days with checks, oldest first */
  size_t nday;
  struct uc_usage_key *by_key; /* keys with checks, by id */
  size_t nkey;
  uint64_t total[UC_USAGE_OUTCOMES]; /* live answers (banned: 403 answers to banned IPs) */
  uint64_t batch[3];                 /* rows of batch tasks, counted apart */
};

/* UC_OK, UC_EINVAL when days is not 1..UC_USAGE_DAYS_MAX, or the store's error. */
int uc_usage_report(uc_store *st, int64_t account, unsigned days, unsigned today,
                    struct uc_usage_report *r);
void uc_usage_report_release(struct uc_usage_report *r);
/* {"days":30,"by_day":[{"date","white","grey","black","banned","total"}],"by_key":[{"id",
 * "name","white",...}],"total":{"white","grey","black","banned","total"},"batch":{...}}
 * (docs/api.md; total counts every live answer, banned ones too): free() it. */
char *uc_usage_report_json(const struct uc_usage_report *r);

#endif
