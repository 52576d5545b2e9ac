/* Internal: the ops table every store backend implements (one file per
 * backend), and the handle behind uc_store. Only lib/store.c calls the ops;
 * the contract of each is the comment of its uc_store_* wrapper in
 * include/uc/store.h. Backends report failures for people through
 * uc__store_errorf (kept per thread), never on stderr. */
#ifndef UC_LIB_STORE_INT_H
#define UC_LIB_STORE_INT_H

#include "uc/store.h"

struct uc_store_ops {
  const char *scheme; /* "sqlite", "redis" */
  int shared;         /* several server processes may use one store */
  int (*open)(const char *target, unsigned flags, uint64_t origin, void **state, char *err,
              size_t err_size);
  void (*close)(void *s);
  int (*version)(void *s, uint64_t *v);
  int (*account_create)(void *s, const char *name, struct uc_account_rec *out);
  int (*account_get)(void *s, const char *name, struct uc_account_rec *out);
  int (*account_each)(void *s, uc_account_cb cb, void *arg);
  int (*key_insert)(void *s, struct uc_key_rec *k);
  int (*key_each)(void *s, int64_t account_id, uc_key_cb cb, void *arg);
  int (*key_by_hash)(void *s, const uint8_t hash[UC_KEY_HASH_LEN], struct uc_key_rec *out);
  int (*key_get)(void *s, int64_t account_id, int64_t key_id, struct uc_key_rec *out);
  int (*key_revoke)(void *s, int64_t account_id, int64_t key_id, int64_t when);
  int (*key_update)(void *s, const struct uc_key_rec *k);
  int (*key_touch)(void *s, int64_t key_id, int64_t when);
  int (*usage_add)(void *s, const struct uc_usage_delta *d, size_t n);
  int (*usage_each)(void *s, int64_t account_id, unsigned since_day, uc_usage_cb cb, void *arg);
  int (*settings_get)(void *s, int64_t account_id, char **json);
  int (*settings_put)(void *s, int64_t account_id, const char *json);
  int (*list_each)(void *s, int64_t account_id, uc_list_cb cb, void *arg);
  int (*list_add)(void *s, int64_t account_id, uc_category c, const char *domain);
  int (*list_remove)(void *s, int64_t account_id, uc_category c, const char *domain);
  int (*list_replace)(void *s, int64_t account_id, uc_category c, const char *const *domains,
                      size_t n);
  int (*ban_each)(void *s, int64_t account_id, uc_ban_cb cb, void *arg);
  /* limit + 1 rows at most: the wrapper reads the last as "more". May be
   * NULL: the wrapper then filters ban_each's rows (ordered by ip). */
  int (*ban_page)(void *s, int64_t account_id, const struct uc_ban_query *q, uc_ban_cb cb,
                  void *arg);
  int (*ban_get)(void *s, int64_t account_id, const char *ip, struct uc_ban_rec *out);
  int (*ban_put)(void *s, const struct uc_ban_rec *b, size_t n);
  int (*ban_hit)(void *s, int64_t account_id, const char *ip, unsigned threshold,
                 unsigned lift_seconds, int64_t now, struct uc_ban_rec *out, int *counted);
  int (*ban_delete)(void *s, int64_t account_id, const char *ip);
  int (*ban_delete_all)(void *s, int64_t account_id, size_t *deleted);
  int (*changes)(void *s, uint64_t *cursor, uc_change_cb cb, void *arg);
  int (*secret)(void *s, const char *name, uint8_t out[32]);
  int (*alias_put)(void *s, const struct uc_alias_rec *a, size_t n);
  int (*alias_each)(void *s, int64_t account_id, const uint8_t *mailbox, int64_t since,
                    uc_alias_cb cb, void *arg);
  int (*alias_trim)(void *s, int64_t before, size_t *deleted);
  /* Optional (NULL: the wrapper answers UC_EUNAVAILABLE). */
  int (*rdap_get)(void *s, const char *domain, struct uc_rdap_rec *out);
  int (*rdap_put)(void *s, const struct uc_rdap_rec *r);
  int (*rdap_each)(void *s, int64_t at, size_t limit, uc_rdap_cb cb, void *arg);
  int (*rdap_trim)(void *s, int64_t before, size_t *deleted);
  int (*activity_add)(void *s, int64_t account_id, const struct uc_activity_rec *r, size_t n);
  int (*activity_read)(void *s, int64_t account_id, uint64_t since, unsigned today,
                       struct uc_activity_view *out);
  int (*batch_insert)(void *s, const struct uc_batch_rec *t);
  int (*batch_update)(void *s, const struct uc_batch_rec *t);
  int (*batch_get)(void *s, int64_t account_id, const char *id, struct uc_batch_rec *out);
  int (*batch_each)(void *s, int64_t account_id, uc_batch_cb cb, void *arg);
  int (*batch_delete)(void *s, int64_t account_id, const char *id);
  int (*batch_finish)(void *s, const struct uc_batch_rec *t, const struct uc_usage_delta *d,
                      size_t n);
  int (*batch_claim)(void *s, const char *id, const char *owner, int64_t now_ms, unsigned lease_ms,
                     struct uc_batch_rec *out);
  int (*batch_release)(void *s, const char *id, const char *owner);
  int (*batch_stale)(void *s, int64_t now_ms, size_t limit, uc_batch_cb cb, void *arg);
  int (*batch_usage_add)(void *s, const struct uc_usage_delta *d, size_t n);
  int (*batch_usage_each)(void *s, int64_t account_id, unsigned since_day, uc_usage_cb cb,
                          void *arg);
  int (*audit_add)(void *s, int64_t account_id, int64_t key_id, const char *action,
                   const char *detail);
  int (*audit_each)(void *s, int64_t account_id, size_t limit, uc_audit_cb cb, void *arg);
  int (*secret_each)(void *s, uc_secret_cb cb, void *arg);
  int (*account_put)(void *s, const struct uc_account_rec *a);
  int (*key_put)(void *s, const struct uc_key_rec *k);
  int (*list_put)(void *s, const struct uc_list_rec *l, size_t n);
  int (*audit_put)(void *s, const struct uc_audit_rec *a);
  int (*secret_put)(void *s, const char *name, const uint8_t value[32]);
  /* NULL for a store that is not shared (uc_store_rate_take says UC_EINVAL). */
  int (*rate_take)(void *s, int64_t key_id, uint32_t per_second, uint32_t burst, int64_t now_ms,
                   int *allowed, int64_t *retry_ms);
};

/* Records a message for people about the current call's failure (this
 * thread's; uc_store_error reads it) and returns rc. */
int uc__store_errorf(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The lifted state of a ban row at now (SPEC §4 "automatic lift"): a ban
 * older than lift_seconds (not 0) no longer holds. Shared by every backend's
 * hit and by the ban cache. */
static inline int uc__ban_expired(const struct uc_ban_rec *b, unsigned lift_seconds, int64_t now) {
  return b->banned_at && lift_seconds && now - b->banned_at >= (int64_t)lift_seconds;
}

extern const struct uc_store_ops uc__store_sqlite_ops;
extern const struct uc_store_ops uc__store_redis_ops;

/* A redis:// URL's parts (lib/store_redis.c; exposed for its fuzz harness). */
struct uc__redis_url {
  char host[256];
  int port;                      /* 6379 when not given */
  int db;                        /* 0 when not given */
  char user[128], password[256]; /* "" when not given; percent-decoded */
  char prefix[64];               /* "uc" when not given */
  int tls;                       /* rediss:// */
};
/* Parses target, the part after "redis://" (or "rediss://" with tls set).
 * UC_OK, or UC_EINVAL with err saying what is wrong. */
int uc__redis_url_parse(const char *target, int tls, struct uc__redis_url *out, char *err,
                        size_t err_size);

/* The shared activity feed's entries in Redis (lib/store_redis.c; exposed
 * for its fuzz harness). json: e as a JSON object without "seq" (the script
 * puts `{"seq":N,` in front of the rest), malloc'd, NULL on ENOMEM; text and
 * ip that are not UTF-8 have their non-ASCII bytes as '?'. parse: a stored
 * element (n bytes, any) back into e: 1, or 0 when it is not a whole, valid
 * entry (e is then undefined). */
char *uc__redis_activity_entry_json(const struct uc_activity_entry *e);
int uc__redis_activity_entry_parse(const char *s, size_t n, struct uc_activity_entry *e);

/* Fault injection for tests (SQLite's way): the ops a handle calls, and a
 * replacement that wraps them (e.g. a write that waits on a gate). */
const struct uc_store_ops *uc__store_ops(const uc_store *st);
void uc__store_set_ops(uc_store *st, const struct uc_store_ops *ops);

#endif
