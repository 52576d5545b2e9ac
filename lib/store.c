/* Store front: opening by URL, the uc_store_* calls over the backend's ops,
 * per-thread error messages, and the helpers built on the calls. */
#include "store_int.h"
#include "uc/error.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct uc_store {
  const struct uc_store_ops *ops;
  void *state;
  char where[UC_STORE_URL_MAX];
};

extern const struct uc_store_ops uc__store_rediss_ops;
static const struct uc_store_ops *const backends[] = {&uc__store_sqlite_ops, &uc__store_redis_ops,
                                                      &uc__store_rediss_ops};
#define NBACKENDS (sizeof backends / sizeof backends[0])

/* This thread's message about its last failed store call. */
static __thread char last_error[512];

int uc__store_errorf(int rc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  return rc;
}

int uc_store_error(const uc_store *st, int rc, char *buf, size_t size) {
  (void)st;
  if (size)
    snprintf(buf, size, "%s", last_error[0] ? last_error : uc_strerror(rc));
  return rc;
}

const char *uc_store_schemes(void) {
  return "sqlite, redis";
}

void uc_store_url_redact(const char *url, char *out, size_t size) {
  const char *sep = strstr(url, "://"), *at = strrchr(url, '@');
  const char *colon = sep && at > sep ? memchr(sep + 3, ':', (size_t)(at - sep - 3)) : NULL;
  if (colon)
    snprintf(out, size, "%.*s***%s", (int)(colon + 1 - url), url, at);
  else
    snprintf(out, size, "%s", url);
}

/* What uc_store_where shows: the target without a password ("user:pw@" of a URL). */
static void where_of(const struct uc_store_ops *ops, const char *target, char *out, size_t size) {
  const char *at = strrchr(target, '@'), *slash = strchr(target, '/');
  if (ops == &uc__store_sqlite_ops || !at || (slash && slash < at))
    at = NULL;
  snprintf(out, size, "%s", at ? at + 1 : target);
}

/* "scheme://rest" or "sqlite:rest": the backend and its target; a plain path is SQLite. */
static const struct uc_store_ops *resolve(const char *url, const char **target, char *err,
                                          size_t es) {
  const char *sep = strstr(url, "://");
  const char *colon = strchr(url, ':');
  size_t n = sep ? (size_t)(sep - url) : 0;
  for (size_t i = 0; sep && i < n; i++)
    if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789+.-", url[i]))
      sep = NULL, n = 0; /* "./a://b" is a path, not a URL */
  if (!sep && colon && strncmp(url, "sqlite:", 7) == 0)
    sep = colon, n = 6;
  if (!sep) {
    *target = url;
    return &uc__store_sqlite_ops;
  }
  for (size_t i = 0; i < NBACKENDS; i++)
    if (strlen(backends[i]->scheme) == n && strncmp(url, backends[i]->scheme, n) == 0) {
      *target = sep + (sep[1] == '/' && sep[2] == '/' ? 3 : 1);
      return backends[i];
    }
  uc_errorf(err, es, UC_EINVAL, "unknown store scheme '%.*s' in '%s' (known: %s)", (int)n, url, url,
            uc_store_schemes());
  return NULL;
}

int uc_store_open(const char *url, unsigned flags, uc_store **out, char *err, size_t es) {
  const char *target = NULL;
  uint64_t origin;
  *out = NULL;
  if (!url || !*url)
    return uc_errorf(err, es, UC_EINVAL, "no store given (--store URL or --db PATH)");
  if (strlen(url) >= UC_STORE_URL_MAX)
    return uc_errorf(err, es, UC_EINVAL, "store URL too long");
  const struct uc_store_ops *ops = resolve(url, &target, err, es);
  if (!ops)
    return UC_EINVAL;
  if (!*target)
    return uc_errorf(err, es, UC_EINVAL, "'%s' names no %s store", url, ops->scheme);
  if (sodium_init() < 0)
    return uc_errorf(err, es, UC_EIO, "libsodium failed to initialise");
  randombytes_buf(&origin, sizeof origin); /* tells this handle's changes from others' */
  uc_store *st = calloc(1, sizeof *st);
  if (!st)
    return uc_errorf(err, es, UC_ENOMEM, "out of memory");
  st->ops = ops;
  where_of(ops, target, st->where, sizeof st->where);
  int rc = ops->open(target, flags, origin | 1, &st->state, err, es);
  if (rc != UC_OK) {
    free(st);
    return rc;
  }
  *out = st;
  return UC_OK;
}

void uc_store_close(uc_store *st) {
  if (!st)
    return;
  st->ops->close(st->state);
  free(st);
}

const struct uc_store_ops *uc__store_ops(const uc_store *st) {
  return st->ops;
}

void uc__store_set_ops(uc_store *st, const struct uc_store_ops *ops) {
  st->ops = ops;
}

const char *uc_store_backend(const uc_store *st) {
  return st->ops->scheme;
}
const char *uc_store_where(const uc_store *st) {
  return st->where;
}
int uc_store_shared(const uc_store *st) {
  return st->ops->shared;
}

/* Every call starts with no message: what uc_store_error shows is this call's. */
#define CALL(op, ...) (last_error[0] = 0, st->ops->op(st->state, __VA_ARGS__))

int uc_store_version(uc_store *st, uint64_t *v) {
  return CALL(version, v);
}
int uc_store_account_create(uc_store *st, const char *name, struct uc_account_rec *out) {
  return CALL(account_create, name, out);
}
int uc_store_account_get(uc_store *st, const char *name, struct uc_account_rec *out) {
  return CALL(account_get, name, out);
}
int uc_store_account_each(uc_store *st, uc_account_cb cb, void *arg) {
  return CALL(account_each, cb, arg);
}
int uc_store_key_insert(uc_store *st, struct uc_key_rec *k) {
  return CALL(key_insert, k);
}
int uc_store_key_each(uc_store *st, int64_t account_id, uc_key_cb cb, void *arg) {
  return CALL(key_each, account_id, cb, arg);
}
int uc_store_key_by_hash(uc_store *st, const uint8_t hash[UC_KEY_HASH_LEN],
                         struct uc_key_rec *out) {
  return CALL(key_by_hash, hash, out);
}
int uc_store_key_get(uc_store *st, int64_t account_id, int64_t key_id, struct uc_key_rec *out) {
  return CALL(key_get, account_id, key_id, out);
}
int uc_store_key_revoke(uc_store *st, int64_t account_id, int64_t key_id, int64_t when) {
  return CALL(key_revoke, account_id, key_id, when);
}
int uc_store_key_update(uc_store *st, const struct uc_key_rec *k) {
  return CALL(key_update, k);
}
int uc_store_key_touch(uc_store *st, int64_t key_id, int64_t when) {
  return CALL(key_touch, key_id, when);
}
static const char *const outcome_names[UC_USAGE_OUTCOMES] = {"white", "grey", "black", "banned"};

const char *uc_usage_outcome_name(unsigned outcome) {
  return outcome < UC_USAGE_OUTCOMES ? outcome_names[outcome] : NULL;
}

int uc_usage_outcome_parse(const char *name, unsigned *outcome) {
  for (unsigned i = 0; name && i < UC_USAGE_OUTCOMES; i++)
    if (strcmp(name, outcome_names[i]) == 0)
      return *outcome = i, UC_OK;
  return UC_EINVAL;
}

int uc_store_usage_add(uc_store *st, const struct uc_usage_delta *d, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (d[i].outcome >= UC_USAGE_OUTCOMES)
      return UC_EINVAL;
  return n ? CALL(usage_add, d, n) : UC_OK;
}
int uc_store_usage_each(uc_store *st, int64_t account_id, unsigned since_day, uc_usage_cb cb,
                        void *arg) {
  return CALL(usage_each, account_id, since_day, cb, arg);
}
int uc_store_settings_get(uc_store *st, int64_t account_id, char **json) {
  return CALL(settings_get, account_id, json);
}
int uc_store_settings_put(uc_store *st, int64_t account_id, const char *json) {
  return CALL(settings_put, account_id, json);
}
int uc_store_list_each(uc_store *st, int64_t account_id, uc_list_cb cb, void *arg) {
  return CALL(list_each, account_id, cb, arg);
}
int uc_store_list_add(uc_store *st, int64_t account_id, uc_category c, const char *domain) {
  return CALL(list_add, account_id, c, domain);
}
int uc_store_list_remove(uc_store *st, int64_t account_id, uc_category c, const char *domain) {
  return CALL(list_remove, account_id, c, domain);
}
int uc_store_list_replace(uc_store *st, int64_t account_id, uc_category c,
                          const char *const *domains, size_t n) {
  return CALL(list_replace, account_id, c, domains, n);
}
int uc_store_ban_each(uc_store *st, int64_t account_id, uc_ban_cb cb, void *arg) {
  return CALL(ban_each, account_id, cb, arg);
}
struct page {
  uc_ban_cb cb;
  void *arg;
  size_t left; /* rows still to give; the one after them only says "more" */
  int more, stopped;
};

static int page_row(void *arg, const struct uc_ban_rec *b) {
  struct page *p = arg;
  if (!p->left) {
    p->more = 1;
    return 1;
  }
  p->left--;
  return p->stopped = p->cb(p->arg, b);
}

/* A backend without its own ban_page: the query applied to ban_each's rows,
 * which come ordered by ip (Redis: the account's hash, read whole). */
struct filtered {
  const struct uc_ban_query *q;
  struct page *p;
};

static int filter_row(void *arg, const struct uc_ban_rec *b) {
  const struct filtered *f = arg;
  const struct uc_ban_query *q = f->q;
  if ((q->after && strcmp(b->ip, q->after) <= 0) ||
      (q->contains && *q->contains && !strstr(b->ip, q->contains)) ||
      uc__ban_expired(b, q->lift_seconds, q->now))
    return 0;
  return page_row(f->p, b);
}

int uc_store_ban_page(uc_store *st, int64_t account_id, const struct uc_ban_query *q, uc_ban_cb cb,
                      void *arg, int *more) {
  struct page p = {cb, arg, q->limit, 0, 0};
  struct uc_ban_query one_more = *q;
  struct filtered f = {q, &p};
  if (more)
    *more = 0;
  if (!q->limit || q->limit > SIZE_MAX - 1)
    return UC_EINVAL;
  one_more.limit = q->limit + 1;
  int rc = st->ops->ban_page ? CALL(ban_page, account_id, &one_more, page_row, &p)
                             : CALL(ban_each, account_id, filter_row, &f);
  if (more && rc == UC_OK)
    *more = p.more && !p.stopped;
  return rc;
}
int uc_store_ban_get(uc_store *st, int64_t account_id, const char *ip, struct uc_ban_rec *out) {
  return CALL(ban_get, account_id, ip, out);
}
int uc_store_ban_put(uc_store *st, const struct uc_ban_rec *b, size_t n) {
  return n ? CALL(ban_put, b, n) : UC_OK;
}
int uc_store_ban_hit(uc_store *st, int64_t account_id, const char *ip, unsigned threshold,
                     unsigned lift_seconds, int64_t now, struct uc_ban_rec *out, int *counted) {
  int c = 0;
  if (threshold == 0)
    return UC_EINVAL;
  int rc = CALL(ban_hit, account_id, ip, threshold, lift_seconds, now, out, &c);
  if (counted)
    *counted = rc == UC_OK && c;
  return rc;
}
int uc_store_ban_delete(uc_store *st, int64_t account_id, const char *ip) {
  return CALL(ban_delete, account_id, ip);
}
int uc_store_ban_delete_all(uc_store *st, int64_t account_id, size_t *deleted) {
  size_t n = 0;
  int rc = CALL(ban_delete_all, account_id, &n);
  if (deleted)
    *deleted = n;
  return rc;
}
int uc_store_changes(uc_store *st, uint64_t *cursor, uc_change_cb cb, void *arg) {
  return CALL(changes, cursor, cb, arg);
}
int uc_store_secret(uc_store *st, const char *name, uint8_t out[32]) {
  return CALL(secret, name, out);
}
int uc_store_alias_put(uc_store *st, const struct uc_alias_rec *a, size_t n) {
  return n ? CALL(alias_put, a, n) : UC_OK;
}
int uc_store_alias_each(uc_store *st, int64_t account_id, const uint8_t *mailbox, int64_t since,
                        uc_alias_cb cb, void *arg) {
  return CALL(alias_each, account_id, mailbox, since, cb, arg);
}
int uc_store_alias_trim(uc_store *st, int64_t before, size_t *deleted) {
  size_t n = 0;
  int rc = CALL(alias_trim, before, &n);
  if (deleted)
    *deleted = n;
  return rc;
}

/* An optional op: UC_EUNAVAILABLE (with a message) on a backend without it. */
#define OPTIONAL(op, what, ...)                                                                    \
  (st->ops->op ? CALL(op, __VA_ARGS__)                                                             \
               : uc__store_errorf(UC_EUNAVAILABLE, "the %s store has no " what, st->ops->scheme))

int uc_store_activity_add(uc_store *st, int64_t account_id, const struct uc_activity_rec *r,
                          size_t n) {
  return n ? OPTIONAL(activity_add, "shared activity feed", account_id, r, n) : UC_OK;
}
int uc_store_activity_read(uc_store *st, int64_t account_id, uint64_t since, unsigned today,
                           struct uc_activity_view *out) {
  out->last_seq = 0, out->n = 0, out->day = today, out->ndomains = out->nips = 0;
  return OPTIONAL(activity_read, "shared activity feed", account_id, since, today, out);
}

int uc_store_rdap_get(uc_store *st, const char *domain, struct uc_rdap_rec *out) {
  return OPTIONAL(rdap_get, "RDAP cache", domain, out);
}
int uc_store_rdap_put(uc_store *st, const struct uc_rdap_rec *r) {
  return OPTIONAL(rdap_put, "RDAP cache", r);
}
int uc_store_rdap_each(uc_store *st, int64_t at, size_t limit, uc_rdap_cb cb, void *arg) {
  return OPTIONAL(rdap_each, "RDAP cache", at, limit, cb, arg);
}
int uc_store_rdap_trim(uc_store *st, int64_t before, size_t *deleted) {
  size_t n = 0;
  int rc = OPTIONAL(rdap_trim, "RDAP cache", before, &n);
  if (deleted)
    *deleted = n;
  return rc;
}

int uc_store_batch_insert(uc_store *st, const struct uc_batch_rec *t) {
  if (!uc_batch_id_valid(t->id, strlen(t->id)))
    return UC_EINVAL;
  return OPTIONAL(batch_insert, "batch tasks", t);
}
int uc_store_batch_update(uc_store *st, const struct uc_batch_rec *t) {
  return OPTIONAL(batch_update, "batch tasks", t);
}
int uc_store_batch_get(uc_store *st, int64_t account_id, const char *id, struct uc_batch_rec *out) {
  if (!uc_batch_id_valid(id, strlen(id)))
    return UC_ENOTFOUND;
  return OPTIONAL(batch_get, "batch tasks", account_id, id, out);
}
int uc_store_batch_each(uc_store *st, int64_t account_id, uc_batch_cb cb, void *arg) {
  return OPTIONAL(batch_each, "batch tasks", account_id, cb, arg);
}
int uc_store_batch_delete(uc_store *st, int64_t account_id, const char *id) {
  return OPTIONAL(batch_delete, "batch tasks", account_id, id);
}
int uc_store_batch_finish(uc_store *st, const struct uc_batch_rec *t,
                          const struct uc_usage_delta *d, size_t n) {
  return OPTIONAL(batch_finish, "batch tasks", t, d, n);
}
int uc_store_batch_claim(uc_store *st, const char *id, const char *owner, int64_t now_ms,
                         unsigned lease_ms, struct uc_batch_rec *out) {
  struct uc_batch_rec ignored;
  if (!uc_batch_id_valid(id, strlen(id)))
    return UC_ENOTFOUND;
  if (!owner[0] || strlen(owner) > UC_BATCH_OWNER_MAX)
    return UC_EINVAL;
  return OPTIONAL(batch_claim, "batch tasks", id, owner, now_ms, lease_ms, out ? out : &ignored);
}
int uc_store_batch_release(uc_store *st, const char *id, const char *owner) {
  if (!uc_batch_id_valid(id, strlen(id)))
    return UC_ENOTFOUND;
  return owner[0] ? OPTIONAL(batch_release, "batch tasks", id, owner) : UC_EINVAL;
}
int uc_store_batch_stale(uc_store *st, int64_t now_ms, size_t limit, uc_batch_cb cb, void *arg) {
  return limit ? OPTIONAL(batch_stale, "batch tasks", now_ms, limit, cb, arg) : UC_OK;
}
int uc_store_batch_usage_add(uc_store *st, const struct uc_usage_delta *d, size_t n) {
  return n ? OPTIONAL(batch_usage_add, "batch tasks", d, n) : UC_OK;
}
int uc_store_batch_usage_each(uc_store *st, int64_t account_id, unsigned since_day, uc_usage_cb cb,
                              void *arg) {
  return OPTIONAL(batch_usage_each, "batch tasks", account_id, since_day, cb, arg);
}

int uc_store_audit_add(uc_store *st, int64_t account_id, int64_t key_id, const char *action,
                       const char *detail) {
  return CALL(audit_add, account_id, key_id, action, detail ? detail : "{}");
}
int uc_store_audit_each(uc_store *st, int64_t account_id, size_t limit, uc_audit_cb cb, void *arg) {
  return CALL(audit_each, account_id, limit, cb, arg);
}
int uc_store_secret_each(uc_store *st, uc_secret_cb cb, void *arg) {
  return CALL(secret_each, cb, arg);
}
int uc_store_account_put(uc_store *st, const struct uc_account_rec *a) {
  return a->id > 0 && uc_name_valid(a->name) ? CALL(account_put, a) : UC_EINVAL;
}
int uc_store_key_put(uc_store *st, const struct uc_key_rec *k) {
  return k->id > 0 && (unsigned)k->type <= UC_KEY_ADMIN ? CALL(key_put, k) : UC_EINVAL;
}
int uc_store_list_put(uc_store *st, const struct uc_list_rec *l, size_t n) {
  return n ? CALL(list_put, l, n) : UC_OK;
}
int uc_store_audit_put(uc_store *st, const struct uc_audit_rec *a) {
  return a->id > 0 && a->action ? CALL(audit_put, a) : UC_EINVAL;
}
int uc_store_secret_put(uc_store *st, const char *name, const uint8_t value[32]) {
  return CALL(secret_put, name, value);
}
int uc_store_rate_take(uc_store *st, int64_t key_id, uint32_t per_second, uint32_t burst,
                       int64_t now_ms, int *allowed, int64_t *retry_ms) {
  *allowed = 1, *retry_ms = 0;
  if (!st->ops->rate_take || per_second == 0)
    return UC_EINVAL;
  return CALL(rate_take, key_id, per_second, burst ? burst : per_second, now_ms, allowed, retry_ms);
}

int uc_name_valid(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n > UC_NAME_MAX)
    return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)name[i] < 0x20 || name[i] == 0x7F)
      return 0;
  return 1;
}

int uc_store_key_create(uc_store *st, int64_t account_id, const char *name, uc_key_type t,
                        struct uc_key_rec *rec, char key[UC_KEY_MAX + 1]) {
  uint8_t secret[UC_KEY_SECRET_LEN];
  if (!uc_name_valid(name) || (unsigned)t > UC_KEY_ADMIN)
    return UC_EINVAL;
  int rc = uc_store_secret(st, UC_KEY_SECRET_NAME, secret);
  size_t n = rc ? 0 : uc_key_generate(t, secret, key);
  sodium_memzero(secret, sizeof secret);
  if (rc)
    return rc;
  if (!n)
    return UC_EIO;
  memset(rec, 0, sizeof *rec);
  rec->account_id = account_id;
  snprintf(rec->name, sizeof rec->name, "%s", name);
  rec->type = t;
  snprintf(rec->prefix, sizeof rec->prefix, "%.*s", UC_KEY_PREFIX_SHOWN, key);
  uc_key_hash(key, n, rec->hash);
  rec->created_at = (int64_t)time(NULL);
  return uc_store_key_insert(st, rec);
}
