/* Per-account IP attempt accounting and bans (SPEC §4) over a store, with a
 * bounded in-memory cache. The rules, the two ways of counting and the
 * memory bound are in docs/internals/bans.md; in short:
 *
 * - With threshold N, exactly N black answers of an IP precede its first
 *   ban, whatever the concurrency: one IP is checked and counted under one
 *   lock (a store shared by several servers counts through the store's
 *   atomic uc_store_ban_hit instead).
 * - No answer announces a ban (remaining 0, or 403) before the ban is
 *   durable: a new ban is kept in memory as "unstored" and queued; a caller
 *   that would announce it waits (uc_bans_wait) until uc_bans_store, run by
 *   a thread that may block on the store, has written it. No ban is ever
 *   evicted from memory, dropped when a write fails, or cleared by a write.
 * - IPs with attempts counted but no ban are kept up to max_counting; past
 *   it the oldest written-back ones leave memory (their counts stay in the
 *   store and come back on their next black answer).
 * - IPv6 bans of any prefix length apply to every address inside them (a
 *   change of ipv6_prefix drops no ban), and when ipv6_aggregate banned
 *   prefixes lie in one /48, the /48 is banned as one entry.
 *
 * ip is parsed by uc_ip_parse with the account's ipv6_prefix (the caller
 * skips never-ban ranges). Every call is thread-safe. */
#ifndef UC_BANS_H
#define UC_BANS_H

#include <stddef.h>
#include <stdint.h>

#include "uc/settings.h"
#include "uc/store.h"

typedef struct uc_bans uc_bans;

enum uc_ban_state {
  UC_BAN_CLEAR = 0, /* not banned */
  UC_BAN_BANNED,    /* banned before this black answer (or by it, past a lowered threshold): 403 */
  UC_BAN_JUST_BANNED, /* this black answer was the last allowed: it answers remaining 0 */
};

/* What a check learns about its IP. */
struct uc_ban_look {
  enum uc_ban_state state;
  long remaining;          /* attempts left (0 once banned) */
  int unstored;            /* the ban of key is in memory only: uc_bans_wait before announcing */
  char key[UC_IP_KEY_MAX]; /* the banned key: the IP's own, or an IPv6 prefix holding it */
};

/* A caller waiting for a ban to be stored before it announces it. done is
 * called exactly once, from uc_bans_store, an unban or uc_bans_expire, with
 * stored set: 1 the ban is durable; 0 it was not stored by deadline_ms (or
 * was lifted first), and must not be announced. */
struct uc_ban_wait {
  void (*done)(struct uc_ban_wait *w);
  void *arg;
  int64_t deadline_ms; /* uc_bans_now_ms() clock */
  int stored;
  /* private */
  struct uc_ban_wait *next;
  int64_t account;
  char key[UC_IP_KEY_MAX];
};

#define UC_BANS_MAX_COUNTING_DEFAULT 262144
#define UC_BANS_MAX_COUNTING_MIN 1024

struct uc_bans_stats {
  size_t entries;  /* IPs in memory */
  size_t banned;   /* of which banned */
  size_t dirty;    /* counted in memory, not yet written back */
  size_t unstored; /* bans not stored yet (waiting for uc_bans_store) */
  size_t max_counting;
  uint64_t evicted;       /* counting IPs dropped from memory so far */
  uint64_t store_reads;   /* counts read back for evicted IPs */
  uint64_t write_errors;  /* failed writes (retried) */
  uint64_t wait_timeouts; /* waits that ended before their ban was stored */
  uint64_t aggregated;    /* /48 bans made from banned prefixes inside them */
};

/* Loads the store's bans (every ban, and counting IPs up to max_counting,
 * 0 for the default) and starts following its change feed. UC_OK, or an
 * error with err saying why. */
int uc_bans_open(uc_store *st, size_t max_counting, uc_bans **out, char *err, size_t err_size);
/* fn(arg) is called (from the thread that made it) whenever a ban starts
 * waiting to be stored: the caller's cue to run uc_bans_store soon. */
void uc_bans_notify(uc_bans *b, void (*fn)(void *arg), void *arg);
/* NULL is fine; does not flush. Waits still registered are not called. */
void uc_bans_free(uc_bans *b);

/* The clock of uc_ban_wait.deadline_ms: monotonic milliseconds. */
int64_t uc_bans_now_ms(void);

/* Before a check: whether ip is banned (its key or an IPv6 prefix holding
 * it), and the attempts it has left (the threshold when nothing is counted).
 * Reads memory only (and the store once for an IP that left memory). */
enum uc_ban_state uc_bans_state(uc_bans *b, int64_t account, const struct uc_settings *s,
                                const struct uc_ip *ip, int64_t now, struct uc_ban_look *out);

/* After a black answer: counts it. out->state is UC_BAN_BANNED when the IP
 * was banned already (by a concurrent answer, a prefix, or because a lowered
 * threshold is below its count: then this answer bans it and is a 403), or
 * UC_BAN_JUST_BANNED when this answer reached the threshold. A new ban is
 * unstored (out->unstored) until uc_bans_store writes it. An error (UC_ENOMEM:
 * nothing counted; the shared store's error) leaves out as it would be:
 * the caller logs it. */
int uc_bans_hit(uc_bans *b, int64_t account, const struct uc_settings *s, const struct uc_ip *ip,
                int64_t now, struct uc_ban_look *out);

/* Waits for the ban of key (out->key of a look with unstored set) to be
 * stored. 1: w is registered and w->done will be called; 0: the ban is
 * stored already (or gone), nothing is registered. Register before anything
 * that w->done undoes (e.g. suspend first, then wait). */
int uc_bans_wait(uc_bans *b, int64_t account, const char *key, struct uc_ban_wait *w);

/* Writes every ban not stored yet (one transaction) and calls the waits of
 * those stored. UC_OK, or the store's error: the bans stay queued for the
 * next call, in memory, never dropped. For a thread that may block. */
int uc_bans_store(uc_bans *b);
/* Ends the waits whose deadline passed (their done sees stored 0); how many. */
size_t uc_bans_expire(uc_bans *b, int64_t now_ms);

/* Lifts the ban of ip (a key as uc_ip_parse or uc_ip_key_parse makes it) and
 * resets its counter everywhere (memory, store, and other processes through
 * the change feed). UC_ENOTFOUND when it had nothing counted. */
int uc_bans_unban(uc_bans *b, int64_t account, const char *ip);
/* Every IP of the account; *count (may be NULL) gets how many were banned. */
int uc_bans_unban_all(uc_bans *b, int64_t account, size_t *count);

/* Writes the counts changed since the last flush (not the unstored bans:
 * uc_bans_store's), then lets memory shrink to its bound. UC_OK or the
 * store's error (the counts are kept for next time). */
int uc_bans_flush(uc_bans *b);
/* Whether a flush is due early (memory is over its bound with counts not
 * written back). */
int uc_bans_flush_wanted(uc_bans *b);
/* Applies what other processes did (unbans by the CLI or another server),
 * read from the store's change feed. */
int uc_bans_sync(uc_bans *b);

/* One page of the account's IPs with attempts counted or a stored ban, in
 * the order of uc_store_ban_page, after a flush (memory's counts included),
 * bans lifted by time at now (settings s) left out. q's lift fields are
 * ignored. *more (may be NULL): rows follow. */
int uc_bans_page(uc_bans *b, int64_t account, const struct uc_settings *s, int64_t now,
                 const struct uc_ban_query *q, uc_ban_cb cb, void *arg, int *more);

void uc_bans_stats(uc_bans *b, struct uc_bans_stats *out);

#endif
