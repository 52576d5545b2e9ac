/* Persistent state: accounts, keys, usage, settings, domain lists, IP bans,
 * the change feed and the audit trail. A store is opened from a URL and
 * reached only through these functions; each backend (lib/store_sqlite.c,
 * lib/store_redis.c) implements a private ops table behind them. The contract every
 * backend honours, and the conformance suite that checks it, are in
 * docs/internals/store.md. Every call is thread-safe.
 *
 * Callbacks of the _each functions may run while the backend holds its own
 * lock (SQLite: the connection's): a callback must not call the store, nor
 * take a lock that some thread holds while it calls the store. Copy what is
 * needed and act after the call returns (as uc_bans_sync does).
 *
 * Errors: UC_OK or a negative uc_err. UC_ESTORE (and UC_EBUSY, UC_EUNAVAILABLE)
 * come with a message for people that the backend keeps for the calling
 * thread: uc_store_error() copies it into the caller's buffer. Nothing is
 * ever printed by the store. */
#ifndef UC_STORE_H
#define UC_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "uc/activity.h"
#include "uc/batch.h"
#include "uc/engine.h"
#include "uc/ip.h"
#include "uc/keys.h"

#define UC_NAME_MAX 64
#define UC_STORE_URL_MAX 1024

typedef struct uc_store uc_store;

struct uc_account_rec {
  int64_t id;
  char name[UC_NAME_MAX + 1];
  int64_t created_at; /* unix seconds */
};

struct uc_key_rec {
  int64_t id, account_id;
  char name[UC_NAME_MAX + 1];
  uc_key_type type;
  char prefix[UC_KEY_PREFIX_SHOWN + 1]; /* the first characters, for people to recognise it */
  uint8_t hash[UC_KEY_HASH_LEN];
  int64_t created_at, last_used_at, revoked_at; /* 0: never */
  /* The key's own rate limit (requests per second, burst); 0 per second: the
   * account's (settings rate_limit_*); burst 0: as many as per second. */
  uint32_t rate_per_second, rate_burst;
};

/* Usage counts answers by outcome: the three categories (a uc_category), and
 * 403 "banned" answers to an IP that is banned (UC_USAGE_BANNED). */
#define UC_USAGE_BANNED 3
#define UC_USAGE_OUTCOMES 4
/* "white", "grey", "black", "banned"; NULL past them. */
const char *uc_usage_outcome_name(unsigned outcome);
/* UC_OK and *outcome, or UC_EINVAL. */
int uc_usage_outcome_parse(const char *name, unsigned *outcome);

/* Answers counted since the last flush, for one key, day and outcome. */
struct uc_usage_delta {
  int64_t key_id;
  unsigned day;     /* days since 1970-01-01 (UTC) */
  unsigned outcome; /* a uc_category, or UC_USAGE_BANNED */
  uint64_t count;
  int64_t last_used; /* unix seconds of the newest of them */
};

struct uc_usage_row {
  int64_t key_id;
  unsigned day;
  uint64_t count[UC_USAGE_OUTCOMES]; /* by outcome */
};

/* An IP's ban state in an account. */
struct uc_ban_rec {
  int64_t account_id;
  char ip[UC_IP_KEY_MAX]; /* the canonical key (uc_ip_parse) */
  unsigned attempts;      /* black answers counted */
  int64_t banned_at;      /* unix seconds; 0: not banned */
  int64_t updated_at;
};

struct uc_list_rec {
  int64_t account_id;
  uc_category color;
  const char *domain; /* A-label, lower case */
  int64_t added_at;
};

/* One spelling of a mailbox seen by an account (alias chains): keyed hashes
 * only, never the address. */
#define UC_ALIAS_HASH 16
struct uc_alias_rec {
  int64_t account_id;
  uint8_t mailbox[UC_ALIAS_HASH];  /* of the normalised mailbox */
  uint8_t spelling[UC_ALIAS_HASH]; /* of the address as written */
  int64_t last_seen;               /* unix seconds */
};

struct uc_audit_rec {
  int64_t id, account_id, key_id; /* key_id 0: not made with a key (the CLI) */
  int64_t at;
  const char *action, *detail; /* detail: JSON text */
};

/* What other processes did that a server must apply to its memory. */
enum uc_change_kind {
  UC_CHANGE_UNBAN,     /* ip of account lifted (counter reset) */
  UC_CHANGE_UNBAN_ALL, /* every IP of account */
  UC_CHANGE_BAN,       /* ip of account banned by uc_store_ban_hit */
};
struct uc_change {
  uint64_t id; /* increasing; the feed's cursor */
  enum uc_change_kind kind;
  int64_t account_id;
  const char *ip;    /* UC_CHANGE_UNBAN, UC_CHANGE_BAN */
  int own;           /* written through this very handle */
  unsigned attempts; /* UC_CHANGE_BAN: the row the ban left */
  int64_t banned_at; /* UC_CHANGE_BAN */
};

/* What RDAP said about a registrable domain (include/uc/rdap.h), cached. */
enum uc_rdap_status {
  UC_RDAP_FOUND = 1,  /* the registry answered with a registration date */
  UC_RDAP_NOT_FOUND,  /* the registry answered 404 */
  UC_RDAP_NO_SERVICE, /* the TLD has no RDAP service in the bootstrap */
  UC_RDAP_FAILED,     /* timeout, an error status, an answer without a registration date */
};
struct uc_rdap_rec {
  char domain[UC_DOMAIN_MAX + 1]; /* the registrable domain, lower-case A-label */
  enum uc_rdap_status status;
  unsigned created;   /* days since 1970-01-01 of the registration (UC_RDAP_FOUND); else 0 */
  int64_t checked_at; /* unix seconds of the lookup */
  int64_t expires_at; /* unix seconds after which it is looked up again */
};

typedef int (*uc_ban_cb)(void *arg, const struct uc_ban_rec *b); /* non-zero stops */
typedef int (*uc_list_cb)(void *arg, const struct uc_list_rec *l);
typedef int (*uc_account_cb)(void *arg, const struct uc_account_rec *a);
typedef int (*uc_key_cb)(void *arg, const struct uc_key_rec *k);
typedef int (*uc_usage_cb)(void *arg, const struct uc_usage_row *u);
typedef int (*uc_audit_cb)(void *arg, const struct uc_audit_rec *a);
typedef int (*uc_change_cb)(void *arg, const struct uc_change *c);
typedef int (*uc_alias_cb)(void *arg, const struct uc_alias_rec *a);
typedef int (*uc_secret_cb)(void *arg, const char *name, const uint8_t value[32]);
typedef int (*uc_rdap_cb)(void *arg, const struct uc_rdap_rec *r);
typedef int (*uc_batch_cb)(void *arg, const struct uc_batch_rec *t);

/* ---- opening ---- */

enum uc_store_flag {
  UC_STORE_CREATE = 1u << 0, /* create the store (file, directory, schema) if missing */
};

/* Opens the store named by url:
 *   sqlite:///abs/path.db   sqlite:relative/path.db   path.db (a plain path: SQLite)
 *   redis://[[user]:password@]host[:port][/db][?prefix=NAME]  (docs/internals/store.md)
 * Without UC_STORE_CREATE a missing store is UC_ENOTFOUND ("no store at ...").
 * An unknown scheme is UC_EINVAL, and err lists the known ones; an unreachable
 * server is UC_EUNAVAILABLE. On error *out is NULL and err (NUL-terminated)
 * says why. */
int uc_store_open(const char *url, unsigned flags, uc_store **out, char *err, size_t err_size);
void uc_store_close(uc_store *st); /* NULL is fine */

/* The backend's name ("sqlite", "redis") and where it keeps the data (a path,
 * or the URL without its password), for messages. */
const char *uc_store_backend(const uc_store *st);
const char *uc_store_where(const uc_store *st);
/* Whether several server processes share the store (and must count bans
 * and rate limits through it). SQLite: no, one server process per file.
 * Redis: yes. */
int uc_store_shared(const uc_store *st);
/* Copies the message of this thread's last failed call on st into buf (or
 * uc_strerror(rc) when there is none); returns rc. */
int uc_store_error(const uc_store *st, int rc, char *buf, size_t size);
/* url with its password (the PASSWORD of "scheme://[user]:PASSWORD@...")
 * shown as "***", into out (NUL-terminated), for messages. */
void uc_store_url_redact(const char *url, char *out, size_t size);
/* The known schemes, for messages: "sqlite, redis". */
const char *uc_store_schemes(void);

/* A number that changes whenever another process changed accounts, keys (not
 * their last_used_at), settings or domain lists: what a server's in-memory
 * view is built from. Cheap: servers poll it every 100 ms. (Bans reach other
 * processes through the change feed, uc_store_changes.) */
int uc_store_version(uc_store *st, uint64_t *v);

/* ---- accounts and keys ---- */

/* UC_EEXISTS when the name is taken. */
int uc_store_account_create(uc_store *st, const char *name, struct uc_account_rec *out);
/* UC_ENOTFOUND when there is none. */
int uc_store_account_get(uc_store *st, const char *name, struct uc_account_rec *out);
int uc_store_account_each(uc_store *st, uc_account_cb cb, void *arg); /* by id */

/* Stores k (hash, not key text) and sets k->id. UC_EEXISTS on a hash collision. */
int uc_store_key_insert(uc_store *st, struct uc_key_rec *k);
/* Keys of one account (account_id 0: every account), by id, revoked ones too. */
int uc_store_key_each(uc_store *st, int64_t account_id, uc_key_cb cb, void *arg);
/* UC_ENOTFOUND when no key (revoked or not) has that hash. */
int uc_store_key_by_hash(uc_store *st, const uint8_t hash[UC_KEY_HASH_LEN], struct uc_key_rec *out);
/* UC_ENOTFOUND when the account has no live key with that id. */
int uc_store_key_get(uc_store *st, int64_t account_id, int64_t key_id, struct uc_key_rec *out);
int uc_store_key_revoke(uc_store *st, int64_t account_id, int64_t key_id, int64_t when);
/* Writes name, type, prefix, hash and rate limit of the live key k->id of
 * k->account_id (a retype gives the key new text: see uc_admin_key_update).
 * UC_ENOTFOUND. */
int uc_store_key_update(uc_store *st, const struct uc_key_rec *k);
/* Advances last_used_at (admin calls, which usage does not count). */
int uc_store_key_touch(uc_store *st, int64_t key_id, int64_t when);

/* ---- usage ---- */

/* Adds the counts (one transaction) and advances the keys' last_used_at.
 * UC_EINVAL (nothing written) when an outcome is not one of UC_USAGE_OUTCOMES. */
int uc_store_usage_add(uc_store *st, const struct uc_usage_delta *d, size_t n);
/* Rows of one account since a day, by key then day. */
int uc_store_usage_each(uc_store *st, int64_t account_id, unsigned since_day, uc_usage_cb cb,
                        void *arg);

/* ---- settings and domain lists ---- */

/* The JSON text of uc_settings_to_json; *json NULL when never set. free() it. */
int uc_store_settings_get(uc_store *st, int64_t account_id, char **json);
int uc_store_settings_put(uc_store *st, int64_t account_id, const char *json);

/* account_id 0: every account; ordered by account, colour, domain.
 * add: UC_EEXISTS; remove: UC_ENOTFOUND; replace: all or nothing. */
int uc_store_list_each(uc_store *st, int64_t account_id, uc_list_cb cb, void *arg);
int uc_store_list_add(uc_store *st, int64_t account_id, uc_category c, const char *domain);
int uc_store_list_remove(uc_store *st, int64_t account_id, uc_category c, const char *domain);
int uc_store_list_replace(uc_store *st, int64_t account_id, uc_category c,
                          const char *const *domains, size_t n);

/* ---- bans (docs/internals/bans.md) ---- */

/* account_id 0: every account, ordered by account then ip. */
int uc_store_ban_each(uc_store *st, int64_t account_id, uc_ban_cb cb, void *arg);

/* One page of an account's IPs, ordered by ip (the text of the key). */
struct uc_ban_query {
  const char
      *after; /* only IPs after this one (the last of the previous page); NULL: from the start */
  const char *contains;  /* only IPs whose key holds this text; NULL or "": all */
  size_t limit;          /* at most this many rows (1..) */
  unsigned lift_seconds; /* with now: bans older than this (not 0) are lifted, left out */
  int64_t now;
};
/* Calls cb for each row of the page; *more (may be NULL) is set when rows
 * follow the last one given. UC_EINVAL for a limit of 0. */
int uc_store_ban_page(uc_store *st, int64_t account_id, const struct uc_ban_query *q, uc_ban_cb cb,
                      void *arg, int *more);
/* UC_ENOTFOUND when the IP has no row. */
int uc_store_ban_get(uc_store *st, int64_t account_id, const char *ip, struct uc_ban_rec *out);
/* Upserts all n records in one transaction, durable on return. Never clears
 * a stored ban: only an unban lifts one. A record with nothing counted and no
 * ban removes the IP's row (unless that row is banned). */
int uc_store_ban_put(uc_store *st, const struct uc_ban_rec *b, size_t n);
/* Counts one black answer of ip, atomically, durable on return: when the IP
 * is banned (and lift_seconds, if not 0, has not passed since banned_at)
 * nothing is counted; a ban older than that is lifted first; otherwise
 * attempts + 1, and attempts >= threshold bans it (banned_at = now) and
 * appends UC_CHANGE_BAN to the change feed in the same atomic step. *out is
 * the row afterwards, and *counted (may be NULL) whether this call counted. */
int uc_store_ban_hit(uc_store *st, int64_t account_id, const char *ip, unsigned threshold,
                     unsigned lift_seconds, int64_t now, struct uc_ban_rec *out, int *counted);
/* Lifts the IP's ban and resets its counter, and appends UC_CHANGE_UNBAN to
 * the change feed. UC_ENOTFOUND when it had no row (the change is still
 * recorded: a server may be counting it in memory). */
int uc_store_ban_delete(uc_store *st, int64_t account_id, const char *ip);
/* Every IP of the account; *deleted (may be NULL) rows went. Feeds UC_CHANGE_UNBAN_ALL. */
int uc_store_ban_delete_all(uc_store *st, int64_t account_id, size_t *deleted);

/* ---- change feed ---- */

/* Calls cb for each change not seen yet, in order, and advances *cursor (an
 * opaque position). *cursor 0 on a fresh start means "from now": it is set
 * past the newest change and nothing is replayed. Changes older than a day
 * may be gone. Cheap when nothing changed: servers read it every 100 ms. */
int uc_store_changes(uc_store *st, uint64_t *cursor, uc_change_cb cb, void *arg);

/* ---- rate limits (shared stores only) ---- */

/* Takes one request from the bucket of key_id (GCRA: per_second requests a
 * second, burst at once; burst 0: per_second), atomically across every
 * process. *allowed says whether it fits; when not, *retry_ms is how long
 * until one would. The store may use its own clock (so that every process
 * agrees) rather than now_ms. UC_EINVAL on a store that is not shared (a
 * server counts in memory then: include/uc/ratelimit.h). */
int uc_store_rate_take(uc_store *st, int64_t key_id, uint32_t per_second, uint32_t burst,
                       int64_t now_ms, int *allowed, int64_t *retry_ms);

/* ---- recent checks (shared stores; optional) ----
 * On a store shared by several servers, each server writes the answers it
 * noted (include/uc/activity.h) in batches, and the dashboard reads every
 * server's. Backends without these ops answer UC_EUNAVAILABLE: a server then
 * shows the checks it answered (SQLite: there is only one). */

/* One answer for an account's shared feed: the entry (its seq is ignored:
 * the store numbers each account's entries 1, 2, ...) and what it adds to
 * its day's tops (the day of e.at; "": nothing). */
struct uc_activity_rec {
  struct uc_activity_entry e;
  char top_domain[UC_ACTIVITY_TEXT_MAX + 1];
  char top_ip[UC_ACTIVITY_IP_MAX + 1];
};

/* Appends r[0..n) (oldest first) to the account's feed, keeping its newest
 * UC_ACTIVITY_RING entries, and counts the tops (per UTC day, Space-Saving
 * over UC_ACTIVITY_TOP_SHARED names; kept two days). Atomic. */
int uc_store_activity_add(uc_store *st, int64_t account_id, const struct uc_activity_rec *r,
                          size_t n);
/* The account's entries with seq > since (newest first, at most
 * UC_ACTIVITY_RING), out->last_seq, and the tops of day `today` (most first,
 * at most UC_ACTIVITY_TOP_SHOWN each). An account without a feed reads as
 * empty (UC_OK). */
int uc_store_activity_read(uc_store *st, int64_t account_id, uint64_t since, unsigned today,
                           struct uc_activity_view *out);

/* ---- secrets and alias memory ---- */

/* The installation's secret called name (32 random bytes), made on first use
 * and the same for every process using the store ever after. */
int uc_store_secret(uc_store *st, const char *name, uint8_t out[32]);
/* Every secret, by name (for copying a store). */
int uc_store_secret_each(uc_store *st, uc_secret_cb cb, void *arg);
/* Upserts spellings (last_seen only moves forward), one transaction. A
 * spelling not seen for UC_ALIAS_WINDOW_MAX days (the longest window) may be
 * forgotten at any time: Redis expires it (a TTL), SQLite at alias_trim. */
int uc_store_alias_put(uc_store *st, const struct uc_alias_rec *a, size_t n);
/* The spellings of one mailbox seen since `since` (account 0 and mailbox
 * NULL: every row since then, newest first). */
int uc_store_alias_each(uc_store *st, int64_t account_id, const uint8_t *mailbox, int64_t since,
                        uc_alias_cb cb, void *arg);
/* Forgets spellings not seen since `before`; *deleted (may be NULL) rows went. */
int uc_store_alias_trim(uc_store *st, int64_t before, size_t *deleted);

/* ---- domain registration dates (RDAP cache) ----
 * Backends without these ops answer UC_EUNAVAILABLE: the RDAP
 * client then keeps its cache in memory only. */

/* UC_ENOTFOUND when the domain has no row (expired rows are returned: the
 * caller compares expires_at). */
int uc_store_rdap_get(uc_store *st, const char *domain, struct uc_rdap_rec *out);
/* Upserts r: the newest lookup of its domain wins, except that a failure
 * never replaces a found date (it only moves checked_at and expires_at). */
int uc_store_rdap_put(uc_store *st, const struct uc_rdap_rec *r);
/* Rows still valid at `at` (expires_at > at), most recently checked first,
 * at most limit of them. */
int uc_store_rdap_each(uc_store *st, int64_t at, size_t limit, uc_rdap_cb cb, void *arg);
/* Deletes rows that expired before `before`; *deleted (may be NULL) rows went. */
int uc_store_rdap_trim(uc_store *st, int64_t before, size_t *deleted);

/* ---- batch tasks (docs/internals/batch.md) ----
 * Several servers may share the tasks of one store: a task is run by the
 * server that claimed it (owner) while its lease lasts; the owner renews it
 * (a claim again) and every write of a run is refused once another server
 * took the task over. Times of leases are unix ms on the store's clock: a
 * shared store may use its own (Redis: TIME) rather than now_ms, so that
 * servers with different clocks agree. */

/* Stores a new task with every field as given (owner and lease too: a copy
 * keeps them). UC_EEXISTS when its id is taken. */
int uc_store_batch_insert(uc_store *st, const struct uc_batch_rec *t);
/* Writes the progress of task t->id of t->account_id: status, counts, bytes,
 * finished_at, attempts and reason (the rest never changes). When t->owner
 * is not "", only while the task is still t->owner's: UC_EBUSY once another
 * server claimed it (its worker stops). UC_ENOTFOUND when the task is gone
 * (deleted meanwhile: its worker stops). */
int uc_store_batch_update(uc_store *st, const struct uc_batch_rec *t);
/* Writes t's final state as uc_store_batch_update does (the same checks, and
 * the task must still be processing: UC_EBUSY when it was finished already)
 * and adds the batch usage d[0..n) in the same atomic step: a task is
 * counted exactly once, however often it was run. */
int uc_store_batch_finish(uc_store *st, const struct uc_batch_rec *t,
                          const struct uc_usage_delta *d, size_t n);
/* UC_ENOTFOUND when the account (0: any account) has no task with that id. */
int uc_store_batch_get(uc_store *st, int64_t account_id, const char *id, struct uc_batch_rec *out);
/* The account's tasks (0: every account's), newest first. */
int uc_store_batch_each(uc_store *st, int64_t account_id, uc_batch_cb cb, void *arg);
/* UC_ENOTFOUND when there was none. */
int uc_store_batch_delete(uc_store *st, int64_t account_id, const char *id);
/* Claims task id (any account) for owner until now + lease_ms, atomically
 * across every process: it must be processing, and either nobody's lease
 * runs (lease_until <= now) or it is owner's already (a renewal). *out (may be
 * NULL) is the task afterwards. UC_EBUSY while another owner's lease runs;
 * UC_ENOTFOUND when there is no such task or it is no longer processing.
 * lease_ms 0: the lease ends at once (a store only one server uses). */
int uc_store_batch_claim(uc_store *st, const char *id, const char *owner, int64_t now_ms,
                         unsigned lease_ms, struct uc_batch_rec *out);
/* Gives task id up (owner "", lease 0) so that any server may take it at
 * once: a server stopping in the middle of it. UC_EBUSY when it is not
 * owner's (any more); UC_ENOTFOUND when there is no such task. */
int uc_store_batch_release(uc_store *st, const char *id, const char *owner);
/* Tasks still processing that nobody holds at now_ms (never claimed,
 * released, or their lease ended), in the order they became free (the
 * upload's time, or the end of the lease; then by id), at most limit. */
int uc_store_batch_stale(uc_store *st, int64_t now_ms, size_t limit, uc_batch_cb cb, void *arg);
/* Rows checked by batch tasks, counted apart from live checks: the same
 * records and rules as uc_store_usage_add and uc_store_usage_each. */
int uc_store_batch_usage_add(uc_store *st, const struct uc_usage_delta *d, size_t n);
int uc_store_batch_usage_each(uc_store *st, int64_t account_id, unsigned since_day, uc_usage_cb cb,
                              void *arg);

/* ---- audit ---- */

/* Who (a key id, 0 for the CLI) did what to which account; detail is JSON. */
int uc_store_audit_add(uc_store *st, int64_t account_id, int64_t key_id, const char *action,
                       const char *detail);
/* The account's newest rows first, at most limit. */
int uc_store_audit_each(uc_store *st, int64_t account_id, size_t limit, uc_audit_cb cb, void *arg);

/* ---- writing rows as they are (copying a store: uc_store_copy) ---- */

/* Each keeps the record's id and times; the id sequences move past them.
 * account_put, key_put, audit_put: UC_EEXISTS when the id (or the name, the
 * hash) is taken. list_put upserts n rows with their added_at, one
 * transaction. secret_put sets (or replaces) a secret. */
int uc_store_account_put(uc_store *st, const struct uc_account_rec *a);
int uc_store_key_put(uc_store *st, const struct uc_key_rec *k);
int uc_store_list_put(uc_store *st, const struct uc_list_rec *l, size_t n);
int uc_store_audit_put(uc_store *st, const struct uc_audit_rec *a);
int uc_store_secret_put(uc_store *st, const char *name, const uint8_t value[32]);

/* Copies everything of `from` (accounts, keys, settings, lists, usage, bans,
 * alias memory, audit trail, secrets, batch tasks and batch usage; not the
 * change feed, nor the files of batch tasks: batch_dir) into `to`, which
 * must hold no account yet; ids and times are kept. Works between any two
 * backends. *copied (may be NULL) counts rows by kind. UC_OK, or an error with
 * err saying what failed (`to` may then hold part of the copy). */
struct uc_store_copied {
  size_t accounts, keys, settings, lists, usage, bans, aliases, audit, secrets;
  size_t batch_tasks, batch_usage; /* tasks; usage days (key and day) */
};
int uc_store_copy(uc_store *from, uc_store *to, struct uc_store_copied *copied, char *err,
                  size_t err_size);

/* ---- helpers over the above ---- */

/* Creates a key of type t for the account, fills rec and writes the key text
 * (shown once, never stored) into key. */
int uc_store_key_create(uc_store *st, int64_t account_id, const char *name, uc_key_type t,
                        struct uc_key_rec *rec, char key[UC_KEY_MAX + 1]);

/* Validates a name for accounts and keys: 1..64 printable characters. */
int uc_name_valid(const char *name);

#endif
