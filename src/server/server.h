/* usercleaning serve: the HTTP API over libuc (libmicrohttpd). Internal to the
 * server; the routes see the server through struct srv. */
#ifndef UC_SERVER_H
#define UC_SERVER_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "uc/uc.h"

#define UC_TRUSTED_MAX 64 /* entries of trusted_proxies */

/* ---- cache.c: keys and accounts, read from memory on every request ---- */

struct srv_account {
  int64_t id;
  char name[UC_NAME_MAX + 1];
  struct uc_settings settings;
  uc_domset *lists[3];     /* by uc_category */
  struct uc_policy policy; /* colours from settings, lists above */
};

struct srv_key {
  uint8_t hash[UC_KEY_HASH_LEN];
  int64_t id, account_id;
  uc_key_type type;
  int revoked;
  uint32_t rate_per_second, rate_burst; /* the key's own limit; 0: its account's */
};

struct srv_cache;
struct srv_cache *srv_cache_new(uc_store *st);
void srv_cache_free(struct srv_cache *c);
/* Reloads everything from the store into a new view; UC_OK or an error (the
 * old view stays). Requests already holding the old view finish with it. */
int srv_cache_reload(struct srv_cache *c);
/* Reloads when another process changed the store: 1 when it did, 0 when
 * nothing changed, or the store's error (the view stays as it was). */
int srv_cache_poll(struct srv_cache *c);
/* Keys looked up in the store (unknown to the view), repeats of keys the
 * store had said it does not know, and unknown keys with a legacy checksum
 * (answered from memory: see include/uc/keys.h). */
void srv_cache_stats(struct srv_cache *c, uint64_t *store_lookups, uint64_t *negative_hits,
                     uint64_t *legacy_refused);

/* Each thread follows the current view with its own uc_follower (see
 * include/uc/follow.h): no lock on the request path; it moves to a rebuilt
 * view on the thread's next request. */
void srv_view_follower_drop(struct srv_cache *c, struct uc_follower *f);
/* The account's entry in the current view, with a reference on that view
 * (srv_view_release it when done); *out NULL when the account is unknown. */
void *srv_cache_account(struct srv_cache *c, int64_t id, const struct srv_account **out);
struct srv_worker;
/* The view the thread's last authentication used, with a reference of its own:
 * a suspended request keeps its account and policy alive with it. */
void *srv_view_hold(struct srv_worker *w);
void srv_view_release(void *view);

/* Keys this thread saw recently, with their parsed type and hash: a key's
 * checksum and hash depend on its text only, so they are never stale. */
#define SRV_KEY_MEMO 8
struct srv_key_memo {
  size_t n; /* 0: empty */
  uc_key_type type;
  int check; /* enum uc_key_check */
  uint8_t hash[UC_KEY_HASH_LEN];
  unsigned char key[64]; /* zero-padded (UC_KEY_MAX fits), for crypto_verify_64 */
};

/* What a request holds while it works; valid until the thread's next request. */
struct srv_auth {
  struct srv_key key;
  const struct srv_account *account;
};

struct srv_worker;
enum srv_auth_result { SRV_AUTH_OK, SRV_AUTH_NONE, SRV_AUTH_INVALID, SRV_AUTH_UNAVAILABLE };
/* Looks the key up in w's view (memory first, then the store for keys created
 * by another process since the last poll). SRV_AUTH_UNAVAILABLE: a key the
 * view does not know, and the store cannot be asked (it is down). */
enum srv_auth_result srv_auth_key(struct srv_cache *c, struct srv_worker *w, const char *key,
                                  size_t n, struct srv_auth *out);

/* ---- conns.c: open connections (per-address cap, request deadline, eviction) ---- */

struct srv_conns;
struct srv_conn; /* one open connection: libmicrohttpd's socket context */
struct srv_conns_stats {
  size_t open, addresses;
  uint64_t refused_per_ip, timed_out, evicted;
};
/* trusted (kept by the caller) are exempt from the per-address cap; reserve
 * is how many slots the eviction keeps free (one per HTTP thread). */
struct srv_conns *srv_conns_new(const struct uc_config *cfg, const struct uc_cidr *trusted,
                                size_t ntrusted, unsigned reserve);
void srv_conns_free(struct srv_conns *cs);
/* libmicrohttpd's accept policy (cls: the srv_conns): refuses an address at its cap. */
enum MHD_Result srv_conns_accept(void *cls, const struct sockaddr *sa, socklen_t len);
/* MHD_CONNECTION_NOTIFY_STARTED and _CLOSED. */
void srv_conns_started(struct srv_conns *cs, struct MHD_Connection *c, void **socket_ctx);
void srv_conns_closed(struct srv_conns *cs, void **socket_ctx);
/* The registry entry of c (NULL when it could not be made). */
struct srv_conn *srv_conn_of(struct MHD_Connection *c);
/* A request's head arrived / it was fully received (no deadline while it is
 * processed, suspended or sent) / it was answered (waiting for the next). */
void srv_conn_receiving(struct srv_conn *c);
void srv_conn_busy(struct srv_conn *c);
void srv_conn_waiting(struct srv_conn *c);
/* Every 100 ms: ends connections past request_timeout, and frees slots when
 * they run out (waiting connections first, the longest waiting first). */
void srv_conns_tick(struct srv_conns *cs);
void srv_conns_stats(struct srv_conns *cs, struct srv_conns_stats *out);

/* ---- metrics.c: Prometheus text ---- */

enum srv_route_id {
  ROUTE_CHECK_JSON,
  ROUTE_CHECK_QUERY,
  ROUTE_HEALTHZ,
  ROUTE_METRICS,
  ROUTE_ADMIN,
  ROUTE_DASHBOARD,
  ROUTE_BATCH,
  ROUTE_OPENAPI,
  ROUTE_DOCS,
  ROUTE_HOME,
  ROUTE_FAVICON,
  ROUTE_OTHER,
  ROUTE_COUNT
};

/* Why a check's ip was not used as given (details.ip_warning, and a metric). */
enum srv_ip_warning {
  SRV_IPW_NONE,
  SRV_IPW_EMPTY,       /* "" */
  SRV_IPW_UNKNOWN,     /* "unknown" */
  SRV_IPW_INVALID,     /* not an address */
  SRV_IPW_LIST,        /* a list: its first entry used */
  SRV_IPW_LOOPBACK,    /* loopback: never banned (unless ban_loopback) */
  SRV_IPW_PLACEHOLDER, /* 0.0.0.0/8, 255.255.255.255, ::: never counted */
  SRV_IPW_UNSTORED,    /* its ban could not be stored within ban_write_timeout */
  SRV_IPW_COUNT
};

#define SRV_STATUS_SLOTS 21 /* the 19 statuses of metrics.c, "aborted", "other" */
#define SRV_LATENCY_BUCKETS 12

/* One thread's counters. Only the owner writes them (a relaxed load and store,
 * no locked instruction); /metrics and the drain read every thread's. */
struct srv_counters {
  _Atomic uint64_t requests[ROUTE_COUNT][SRV_STATUS_SLOTS];
  _Atomic uint64_t checks[3][UC_TYPE_COUNT];
  _Atomic uint64_t ip_warnings[SRV_IPW_COUNT];
  _Atomic uint64_t latency[SRV_LATENCY_BUCKETS + 1];
  _Atomic uint64_t latency_sum_us, latency_count;
  _Atomic uint64_t started, completed; /* requests; the difference is in flight */
  _Atomic uint64_t ages_known;         /* checks that knew the domain's age (RDAP) */
};

static inline void srv_bump(_Atomic uint64_t *x, uint64_t d) {
  atomic_store_explicit(x, atomic_load_explicit(x, memory_order_relaxed) + d, memory_order_relaxed);
}

struct srv;
void srv_metrics_request(struct srv_counters *n, enum srv_route_id r, unsigned status,
                         uint64_t micros);
void srv_metrics_check(struct srv_counters *n, const struct uc_result *r);
/* A malloc'd text body; *len set. NULL on ENOMEM. */
char *srv_metrics_render(struct srv *s, size_t *len);

/* ---- worker.c: what each HTTP thread keeps to itself ---- */

/* Everything a request would otherwise share with the other threads' requests
 * (a lock, a refcount, a counter) lives here, one per libmicrohttpd thread, so
 * that threads never write to the same cache line on the request path. */
struct srv_worker {
  struct srv *srv;
  struct srv_worker *next; /* srv.workers: append-only until the server stops */
  unsigned index;
  struct uc_follower lists;
  struct uc_follower view;
  struct uc_follower infra;
  struct uc_follower activity;
  struct srv_key_memo memo[SRV_KEY_MEMO];
  struct srv_counters n;
};
/* The calling thread's worker, created on its first request; NULL on ENOMEM. */
struct srv_worker *srv_worker_get(struct srv *s);
/* Sums one counter over all workers: offset is offsetof(struct srv_counters, x). */
uint64_t srv_workers_sum(struct srv *s, size_t offset);
long srv_workers_inflight(struct srv *s);
void srv_workers_free(struct srv *s);

/* ---- lists.c: the snapshot on disk, the sync state, the scheduled update ---- */

/* What identifies a version of a file: a new one (rename, cp, touch) differs. */
struct srv_file_sig {
  unsigned long long dev, ino, size;
  long long mtime_ns;
  int exists;
};

struct srv_lists_sync {
  pthread_mutex_t lock;          /* reloads; the fields below */
  struct srv_file_sig loaded;    /* the snapshot file in use */
  struct srv_file_sig refused;   /* a version that did not open: not tried again */
  struct srv_file_sig state_sig; /* sync.json as last read */
  uc_sync_state *state;          /* NULL: none read */
  pthread_t thread;              /* the scheduled update, when lists_update_interval */
  int running, stop;
  pthread_cond_t wake;
  atomic_int cancel;                       /* aborts a fetch in flight at shutdown */
  atomic_ulong updates_ok, updates_failed; /* scheduled runs */
  _Atomic int64_t last_update_at;
};

struct srv;
/* Loads the snapshot file again and swaps it in when it opens (why: for the
 * log). 1 when swapped, 0 when kept (a broken file), -1 when unchanged (or
 * the very version refused before) and not forced. force (SIGHUP) loads an
 * unchanged file too, but never a version already refused. */
int srv_lists_reload(struct srv *s, const char *why, int force);
/* Notes the snapshot file about to be loaded at start, and reads the state. */
void srv_lists_loaded(struct srv *s);
/* The background thread's check (every second): a new snapshot file or a
 * new sync state is read without a restart or a failed request. */
void srv_lists_watch(struct srv *s);
/* Starts the scheduled update thread (when lists_update_interval is set). */
int srv_lists_start(struct srv *s);
void srv_lists_stop(struct srv *s);
/* uc_sync_status_json of the snapshot in use and the state (free() it). */
char *srv_lists_status(struct srv *s);
/* ---- batch.c: batch tasks off the HTTP threads ---- */

struct srv_batch;
/* Starts the workers, the intake thread and, on a shared store, the keeper
 * (claims renewed, free tasks adopted); on a store only this server uses,
 * after queueing the tasks an earlier run left processing. NULL on failure. */
struct srv_batch *srv_batch_start(struct srv *s);
/* Stops the workers at their next row (their tasks stay processing, released
 * for another server or the next start) and runs the intake jobs left. NULL
 * is fine. */
void srv_batch_stop(struct srv_batch *b);
/* Queues a task this server took the upload of (a worker claims it). */
void srv_batch_enqueue(struct srv_batch *b, const char *id);
/* Runs fn(arg) on the intake thread, in order: durable writes for requests
 * suspended meanwhile. UC_OK, or an error when stopping or out of memory. */
int srv_batch_intake(struct srv_batch *b, void (*fn)(void *arg), void *arg);
struct srv_batch_stats {
  uint64_t queued, running;   /* now, in this process */
  uint64_t completed, failed; /* tasks this process finished */
  uint64_t rows;              /* rows of those */
  uint64_t taken_over, lost;  /* claims that ran out: taken from others, lost to others */
};
void srv_batch_stats(struct srv_batch *b, struct srv_batch_stats *out);

/* ---- server.c ---- */

struct srv {
  struct uc_config cfg;
  uc_store *store;
  uc_lists_holder *lists;
  struct srv_cache *cache;
  uc_usage *usage;
  uc_bans *bans;
  struct uc_admin admin; /* store + bans: what the admin routes act on */
  uc_dns *dns;           /* NULL: DNS off */
  uc_aliases *aliases;   /* alias-chain memory */
  uc_ratelimit *rate;    /* per-key rate limits */
  atomic_int store_down; /* the store failed with UC_EUNAVAILABLE and has not answered since */
  _Atomic uint64_t bans_uncounted; /* black answers not counted: the store was down */
  _Atomic uint64_t store_failures; /* background polls that failed */
  uc_rdap *rdap;                   /* domain age; NULL: --no-domain-age */
  struct srv_lists_sync sync;
  uc_activity *activity; /* recent checks per account; NULL: off */
  struct uc_pub infra;   /* of uc_infra: the fingerprints (SIGHUP reloads them) */
  struct srv_batch *batch;
  struct MHD_Daemon *daemon;
  struct srv_conns *conns;
  struct uc_cidr trusted[UC_TRUSTED_MAX]; /* trusted_proxies, parsed */
  size_t ntrusted;
  unsigned nthreads;
  FILE *log;
  pthread_mutex_t log_lock;
  atomic_int draining;
  atomic_int serving;  /* libmicrohttpd's messages reach stderr only once it serves */
  char mhd_error[256]; /* its last message while starting (our own words replace it) */
  time_t started;
  pthread_mutex_t workers_lock; /* appending to workers */
  _Atomic(struct srv_worker *) workers;
  atomic_uint nworkers;
  atomic_ulong reloads, reload_failures;
  /* Admin keys' last use (usage counts check keys only): written to the store
   * at most once a minute per key, slot key_id % SRV_TOUCH_SLOTS. */
#define SRV_TOUCH_SLOTS 16
#define SRV_TOUCH_EVERY 60
  pthread_mutex_t touch_lock;
  struct {
    int64_t key_id, at;
  } touched[SRV_TOUCH_SLOTS];
  struct srv_jobs *jobs; /* srv_defer */
  pthread_mutex_t store_lock;
  pthread_cond_t store_wake; /* a ban waits to be stored */
  int store_due;
};

/* Notes that a store call failed with rc (1 when it did): UC_EUNAVAILABLE
 * marks the store down (logged once, until it answers again). */
int srv_store_failed(struct srv *s, int rc, const char *what);
/* Notes that the store answered: a store marked down is back (logged). */
void srv_store_answered(struct srv *s);
/* Runs fn(arg) on the server's thread for blocking work (admin requests:
 * store writes that may wait seconds for a lock), in order, never on a
 * thread that answers checks. 0, or -1 when it cannot (stopping, ENOMEM). */
int srv_defer(struct srv *s, void (*fn)(void *arg), void *arg);

/* Starts serving with cfg until SIGTERM/SIGINT; SIGHUP reloads the lists.
 * Returns the process exit code. */
int srv_run(const struct uc_config *cfg);

#endif
