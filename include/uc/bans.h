/* Per-account IP attempt accounting and bans (SPEC §4) over a store, with a
 * bounded in-memory cache. The rules, the two ways of counting and the
 * memory bound are in docs/internals/bans.md; in short:
 *
 * - With threshold N, exactly N black answers of an IP precede its first
 *   ban, whatever the concurrency: one IP is checked and counted under one
 *   lock (a store shared by several servers counts through the store's
 *   atomic uc_store_ban_hit instead).
 * - The answer that bans an IP returns only after the ban is durable, and
 *   no ban is ever evicted from memory or cleared by a later write.
 * - IPs with attempts counted but no ban are kept up to max_counting; past
 *   it the oldest written-back ones leave memory (their counts stay in the
 *   store and come back on their next black answer).
 *
 * ip is always the canonical key of uc_ip_parse (the caller groups IPv6 by
 * prefix and skips never-ban ranges). Every call is thread-safe. */
#ifndef UC_BANS_H
#define UC_BANS_H

#include <stddef.h>
#include <stdint.h>

#include "uc/settings.h"
#include "uc/store.h"

typedef struct uc_bans uc_bans;

enum uc_ban_state {
  UC_BAN_CLEAR = 0,   /* not banned */
  UC_BAN_BANNED,      /* banned before this call: answer 403 */
  UC_BAN_JUST_BANNED, /* this black answer was the last allowed; the ban is stored */
};

#define UC_BANS_MAX_COUNTING_DEFAULT 262144
#define UC_BANS_MAX_COUNTING_MIN 1024

struct uc_bans_stats {
  size_t entries; /* IPs in memory */
  size_t banned;  /* of which banned */
  size_t dirty;   /* counted in memory, not yet written back */
  size_t max_counting;
  uint64_t evicted;      /* counting IPs dropped from memory so far */
  uint64_t store_reads;  /* counts read back for evicted IPs */
  uint64_t write_errors; /* failed writes (retried at the next flush) */
};

/* Loads the store's bans (every ban, and counting IPs up to max_counting,
 * 0 for the default) and starts following its change feed. UC_OK, or an
 * error with err saying why. */
int uc_bans_open(uc_store *st, size_t max_counting, uc_bans **out, char *err, size_t err_size);
void uc_bans_free(uc_bans *b); /* NULL is fine; does not flush */

/* Before a check: whether ip is banned, and the attempts it has left
 * (*remaining; the threshold when nothing is counted). Reads memory only
 * (and the store once for an IP that left memory). */
enum uc_ban_state uc_bans_state(uc_bans *b, int64_t account, const struct uc_settings *s,
                                const char *ip, int64_t now, long *remaining);

/* After a black answer: counts it. *state is UC_BAN_BANNED when a
 * concurrent answer banned the IP first (answer 403), UC_BAN_JUST_BANNED
 * when this one reached the threshold (durable on return unless the result
 * is an error). An error (the store failed to take the ban, UC_ENOMEM)
 * leaves *remaining and *state as they would be and the ban kept in memory
 * for the next flush: the caller logs it. */
int uc_bans_hit(uc_bans *b, int64_t account, const struct uc_settings *s, const char *ip,
                int64_t now, long *remaining, enum uc_ban_state *state);

/* Lifts the ban of ip and resets its counter everywhere (memory, store, and
 * other processes through the change feed). UC_ENOTFOUND when it had nothing
 * counted. */
int uc_bans_unban(uc_bans *b, int64_t account, const char *ip);
/* Every IP of the account; *count (may be NULL) gets how many were banned. */
int uc_bans_unban_all(uc_bans *b, int64_t account, size_t *count);

/* Writes the counts changed since the last flush, then lets memory shrink to
 * its bound. UC_OK or the store's error (the counts are kept for next time). */
int uc_bans_flush(uc_bans *b);
/* Whether a flush is due early (memory is over its bound with counts not
 * written back). */
int uc_bans_flush_wanted(uc_bans *b);
/* Applies what other processes did (unbans by the CLI or another server),
 * read from the store's change feed. */
int uc_bans_sync(uc_bans *b);

/* The account's IPs with attempts counted or a ban, in the store's order
 * (after a flush), with lifts applied for settings s at now. */
int uc_bans_each(uc_bans *b, int64_t account, const struct uc_settings *s, int64_t now,
                 uc_ban_cb cb, void *arg);

void uc_bans_stats(uc_bans *b, struct uc_bans_stats *out);

#endif
