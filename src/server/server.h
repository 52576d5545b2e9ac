/* usercleaning serve: the HTTP API over libuc (libmicrohttpd). Internal to the
 * server; the routes see the server through struct srv. */
#ifndef UC_SERVER_H
#define UC_SERVER_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "bans.h"
#include "uc/config.h"
#include "uc/settings.h"
#include "uc/store.h"
#include "uc/uc.h"

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
};

struct srv_cache;
struct srv_cache *srv_cache_new(uc_store *st);
void srv_cache_free(struct srv_cache *c);
/* Reloads everything from the store; UC_OK or an error (the old view stays). */
int srv_cache_reload(struct srv_cache *c);
/* Reloads when another process changed the store; 1 when it did. */
int srv_cache_poll(struct srv_cache *c);

/* What a request holds while it works: read-locked until srv_auth_release. */
struct srv_auth {
  struct srv_cache *cache;
  struct srv_key key;
  const struct srv_account *account;
};

enum srv_auth_result { SRV_AUTH_OK, SRV_AUTH_NONE, SRV_AUTH_INVALID };
/* Looks the key up (memory first, then the store for keys created elsewhere).
 * On SRV_AUTH_OK the cache stays read-locked until srv_auth_release(). */
enum srv_auth_result srv_auth_key(struct srv_cache *c, const char *key, size_t n,
                                  struct srv_auth *out);
void srv_auth_release(struct srv_auth *a);

/* ---- usage.c: per key/day/category counters, flushed in the background ---- */

struct srv_usage;
struct srv_usage *srv_usage_new(void);
void srv_usage_free(struct srv_usage *u);
void srv_usage_count(struct srv_usage *u, int64_t key_id, uc_category c);
/* Writes what was counted to the store; on failure keeps it for next time. */
int srv_usage_flush(struct srv_usage *u, uc_store *st);

/* ---- metrics.c: Prometheus text ---- */

enum srv_route_id {
  ROUTE_CHECK_JSON,
  ROUTE_CHECK_QUERY,
  ROUTE_HEALTHZ,
  ROUTE_METRICS,
  ROUTE_ADMIN,
  ROUTE_DASHBOARD,
  ROUTE_OTHER,
  ROUTE_COUNT
};

struct srv;
void srv_metrics_request(struct srv *s, enum srv_route_id r, unsigned status, uint64_t micros);
void srv_metrics_check(struct srv *s, const struct uc_result *r);
/* A malloc'd text body; *len set. NULL on ENOMEM. */
char *srv_metrics_render(struct srv *s, size_t *len);

/* ---- server.c ---- */

#define SRV_STATUS_SLOTS 16
#define SRV_LATENCY_BUCKETS 12

struct srv {
  struct uc_config cfg;
  uc_store *store;
  uc_lists_holder *lists;
  struct srv_cache *cache;
  struct srv_usage *usage;
  struct srv_bans *bans;
  struct MHD_Daemon *daemon;
  FILE *log;
  pthread_mutex_t log_lock;
  atomic_int draining;
  atomic_long inflight, connections;
  time_t started;
  /* metrics */
  atomic_ulong requests[ROUTE_COUNT][SRV_STATUS_SLOTS];
  atomic_ulong checks[3][UC_TYPE_COUNT];
  atomic_ulong latency[SRV_LATENCY_BUCKETS + 1];
  atomic_ulong latency_sum_us, latency_count;
  atomic_ulong reloads, reload_failures;
};

/* Starts serving with cfg until SIGTERM/SIGINT; SIGHUP reloads the lists.
 * Returns the process exit code. */
int srv_run(const struct uc_config *cfg);

#endif
