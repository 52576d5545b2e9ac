/* The store conformance suite: every uc_store_* call, run against each backend of `backends`. */
#include "unit.h"

#include "store_int.h"
#include "uc/store.h"

#include <ftw.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <time.h>

/* ---- the backends under test ---- */

struct backend {
  const char *name; /* what uc_store_backend() says, and the cmocka group */
  int shared;       /* what uc_store_shared() says */
  const char *env;  /* tested only when this variable is set (NULL: always) */
  /* Writes the URL of a new, empty store for one test: UC_OK or an error. */
  int (*fresh)(char *url, size_t size);
  /* Removes what fresh made, once every handle is closed. */
  void (*remove)(const char *url);
  /* Fault injection: makes every later write of domain to a list fail, so that
   * "all or nothing" can be seen; UC_OK, or NULL when the backend cannot. */
  int (*break_domain)(const char *url, const char *domain);
};

static int sqlite_fresh(char *url, size_t size);
static void sqlite_remove(const char *url);
static int sqlite_break_domain(const char *url, const char *domain);
static int redis_fresh(char *url, size_t size);
static void redis_remove(const char *url);

/* A new backend is one row. Redis: the server of UC_TEST_REDIS_URL (make unit
 * starts one: scripts/with-redis.sh), each test under a key prefix of its own.
 * Redis cannot be made to fail half-way through a script from outside, so
 * "all or nothing" is not injected there (its scripts validate before they
 * write: lib/store_redis_lua.h). */
static const struct backend backends[] = {
    {"sqlite", 0, NULL, sqlite_fresh, sqlite_remove, sqlite_break_domain},
    {"redis", 1, "UC_TEST_REDIS_URL", redis_fresh, redis_remove, NULL},
};

static const struct backend *be; /* the backend the running group tests */

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

static void rm_tree(const char *dir) {
  nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* A new directory under /tmp (size >= 32). */
static int temp_dir(char *dir, size_t size) {
  snprintf(dir, size, "/tmp/uc-store-XXXXXX");
  return mkdtemp(dir) ? UC_OK : UC_EIO;
}

static int sqlite_fresh(char *url, size_t size) {
  char dir[64];
  if (temp_dir(dir, sizeof dir) != UC_OK)
    return UC_EIO;
  snprintf(url, size, "sqlite://%s/sub/store.db", dir); /* the directory is created */
  return UC_OK;
}

static void sqlite_remove(const char *url) {
  char dir[UC_STORE_URL_MAX];
  snprintf(dir, sizeof dir, "%s", url + strlen("sqlite://"));
  *strstr(dir, "/sub/store.db") = 0;
  rm_tree(dir);
}

/* A trigger that aborts the statement storing domain. */
static int sqlite_break_domain(const char *url, const char *domain) {
  sqlite3 *db = NULL;
  char *sql = sqlite3_mprintf("CREATE TRIGGER test_fault BEFORE INSERT ON domain_lists "
                              "WHEN NEW.domain = %Q BEGIN SELECT RAISE(ABORT, 'injected'); END",
                              domain);
  int rc = sql && sqlite3_open(url + strlen("sqlite://"), &db) == SQLITE_OK &&
                   sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK
               ? UC_OK
               : UC_ESTORE;
  sqlite3_close(db);
  sqlite3_free(sql);
  return rc;
}

/* A prefix of its own per test: "redis://host:port/0?prefix=tPID_N". */
static int redis_fresh(char *url, size_t size) {
  static unsigned n;
  const char *base = getenv("UC_TEST_REDIS_URL");
  if (!base)
    return UC_EINVAL;
  snprintf(url, size, "%s?prefix=t%ld_%u", base, (long)getpid(), n++);
  return UC_OK;
}

/* A connection of the test's own to the Redis of url (NULL when it fails). */
static redisContext *redis_admin(const char *url, struct uc__redis_url *u) {
  char err[256];
  if (uc__redis_url_parse(url + strlen("redis://"), 0, u, err, sizeof err) != UC_OK)
    return NULL;
  redisContext *c = redisConnect(u->host, u->port);
  if (c && c->err) {
    redisFree(c);
    return NULL;
  }
  return c;
}

/* Deletes every key under the test's prefix. */
static void redis_remove(const char *url) {
  struct uc__redis_url u;
  redisContext *c = redis_admin(url, &u);
  char match[96], cursor[32] = "0";
  snprintf(match, sizeof match, "%s:*", u.prefix);
  do {
    redisReply *r = c ? redisCommand(c, "SCAN %s MATCH %s COUNT 1000", cursor, match) : NULL;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
      freeReplyObject(r);
      break;
    }
    snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
    for (size_t i = 0; i < r->element[1]->elements; i++)
      freeReplyObject(redisCommand(c, "DEL %b", r->element[1]->element[i]->str,
                                   r->element[1]->element[i]->len));
    freeReplyObject(r);
  } while (strcmp(cursor, "0") != 0);
  redisFree(c);
}

/* ---- fixture: a fresh store per test ---- */

struct fx {
  char url[UC_STORE_URL_MAX];
  uc_store *st;
};

static int fx_setup(void **state) {
  struct fx *f = calloc(1, sizeof *f);
  char err[256];
  *state = f;
  if (!f || be->fresh(f->url, sizeof f->url) != UC_OK)
    return -1;
  if (uc_store_open(f->url, UC_STORE_CREATE, &f->st, err, sizeof err) != UC_OK) {
    fprintf(stderr, "%s: %s\n", f->url, err);
    return -1;
  }
  return 0;
}

static int fx_teardown(void **state) {
  struct fx *f = *state;
  uc_store_close(f->st);
  be->remove(f->url);
  free(f);
  return 0;
}

/* Another handle on the test's store, as another process would have. */
static uc_store *second(struct fx *f) {
  uc_store *st = NULL;
  char err[256];
  if (uc_store_open(f->url, 0, &st, err, sizeof err) != UC_OK)
    fail_msg("second handle on %s: %s", f->url, err);
  return st;
}

static int64_t account(struct fx *f, const char *name) {
  struct uc_account_rec a;
  assert_int_equal(uc_store_account_create(f->st, name, &a), UC_OK);
  return a.id;
}

static struct uc_key_rec key(struct fx *f, int64_t acc, const char *name, uc_key_type t) {
  struct uc_key_rec k;
  char text[UC_KEY_MAX + 1];
  assert_int_equal(uc_store_key_create(f->st, acc, name, t, &k, text), UC_OK);
  return k;
}

static void near_now(int64_t t) {
  int64_t now = (int64_t)time(NULL);
  assert_in_range(t, now - 60, now + 1);
}

/* ---- collectors: what an each call gave, in order ---- */

#define MAX_ROWS 16

struct accounts {
  size_t n;
  struct uc_account_rec r[MAX_ROWS];
};
static int on_account(void *arg, const struct uc_account_rec *a) {
  struct accounts *c = arg;
  if (c->n < MAX_ROWS)
    c->r[c->n] = *a;
  return c->n++, 0;
}

struct keys {
  size_t n;
  struct uc_key_rec r[MAX_ROWS];
};
static int on_key(void *arg, const struct uc_key_rec *k) {
  struct keys *c = arg;
  if (c->n < MAX_ROWS)
    c->r[c->n] = *k;
  return c->n++, 0;
}

struct usage {
  size_t n;
  struct uc_usage_row r[MAX_ROWS];
};
static int on_usage(void *arg, const struct uc_usage_row *u) {
  struct usage *c = arg;
  if (c->n < MAX_ROWS)
    c->r[c->n] = *u;
  return c->n++, 0;
}

struct list_row {
  int64_t account_id, added_at;
  uc_category color;
  char domain[UC_DOMAIN_MAX + 1];
};
struct lists {
  size_t n;
  struct list_row r[MAX_ROWS];
};
static int on_list(void *arg, const struct uc_list_rec *l) {
  struct lists *c = arg;
  if (c->n < MAX_ROWS) {
    c->r[c->n] = (struct list_row){l->account_id, l->added_at, l->color, ""};
    snprintf(c->r[c->n].domain, sizeof c->r[c->n].domain, "%s", l->domain);
  }
  return c->n++, 0;
}

struct bans {
  size_t n;
  struct uc_ban_rec r[MAX_ROWS];
};
static int on_ban(void *arg, const struct uc_ban_rec *b) {
  struct bans *c = arg;
  if (c->n < MAX_ROWS)
    c->r[c->n] = *b;
  return c->n++, 0;
}

struct audit_row {
  int64_t id, account_id, key_id, at;
  char action[32], detail[64];
};
struct audits {
  size_t n;
  struct audit_row r[MAX_ROWS];
};
static int on_audit(void *arg, const struct uc_audit_rec *a) {
  struct audits *c = arg;
  if (c->n < MAX_ROWS) {
    struct audit_row *r = &c->r[c->n];
    *r = (struct audit_row){a->id, a->account_id, a->key_id, a->at, "", ""};
    snprintf(r->action, sizeof r->action, "%s", a->action);
    snprintf(r->detail, sizeof r->detail, "%s", a->detail);
  }
  return c->n++, 0;
}

struct change_row {
  uint64_t id;
  enum uc_change_kind kind;
  int64_t account_id;
  char ip[UC_IP_KEY_MAX];
  int own;
  unsigned attempts;
  int64_t banned_at;
};
struct changes {
  size_t n;
  struct change_row r[MAX_ROWS];
};
static int on_change(void *arg, const struct uc_change *ch) {
  struct changes *c = arg;
  if (c->n < MAX_ROWS) {
    c->r[c->n] = (struct change_row){ch->id,  ch->kind,     ch->account_id, "",
                                     ch->own, ch->attempts, ch->banned_at};
    snprintf(c->r[c->n].ip, sizeof c->r[c->n].ip, "%s", ch->ip ? ch->ip : "");
  }
  return c->n++, 0;
}

/* ---- identity ---- */

static void test_backend_identity(void **state) {
  struct fx *f = *state;
  assert_string_equal(uc_store_backend(f->st), be->name);
  assert_non_null(strstr(uc_store_schemes(), be->name)); /* messages list every backend */
  assert_int_equal(uc_store_shared(f->st), be->shared);
  const char *where = uc_store_where(f->st);
  assert_true(strlen(where) > 0);
  assert_non_null(strstr(f->url, where)); /* where the URL points */
}

/* ---- accounts ---- */

static void test_accounts(void **state) {
  struct fx *f = *state;
  struct uc_account_rec a, b, got;
  struct accounts all = {0};
  assert_int_equal(uc_store_account_each(f->st, on_account, &all), UC_OK);
  assert_int_equal(all.n, 0); /* fresh and empty */
  assert_int_equal(uc_store_account_create(f->st, "beta", &b), UC_OK);
  assert_int_equal(uc_store_account_create(f->st, "alpha", &a), UC_OK);
  assert_string_equal(a.name, "alpha");
  assert_true(a.id > b.id);
  near_now(a.created_at);
  assert_int_equal(uc_store_account_create(f->st, "alpha", &got), UC_EEXISTS);
  assert_int_equal(uc_store_account_get(f->st, "alpha", &got), UC_OK);
  assert_int_equal(got.id, a.id);
  assert_string_equal(got.name, "alpha");
  assert_int_equal(got.created_at, a.created_at);
  assert_int_equal(uc_store_account_get(f->st, "gamma", &got), UC_ENOTFOUND);
  assert_int_equal(uc_store_account_get(f->st, "ALPHA", &got), UC_ENOTFOUND);
  assert_int_equal(uc_store_account_each(f->st, on_account, &all), UC_OK);
  assert_int_equal(all.n, 2); /* the refused duplicate made no row */
  assert_string_equal(all.r[0].name, "beta");
  assert_int_equal(all.r[0].id, b.id);
  assert_string_equal(all.r[1].name, "alpha"); /* by id, not by name */
}

/* ---- keys ---- */

static void test_key_create(void **state) {
  struct fx *f = *state;
  static const struct {
    uc_key_type t;
    const char *prefix;
  } kinds[] = {
      {UC_KEY_ACTIVE, "ucl_live_"}, {UC_KEY_SANDBOX, "ucl_test_"}, {UC_KEY_ADMIN, "ucl_admin_"}};
  int64_t acc = account(f, "alpha");
  for (size_t i = 0; i < COUNT(kinds); i++) {
    struct uc_key_rec k, found;
    char text[UC_KEY_MAX + 1];
    uint8_t h[UC_KEY_HASH_LEN];
    assert_int_equal(uc_store_key_create(f->st, acc, "web", kinds[i].t, &k, text), UC_OK);
    assert_true(k.id > 0);
    assert_memory_equal(text, kinds[i].prefix, strlen(kinds[i].prefix));
    assert_int_equal(strlen(k.prefix), UC_KEY_PREFIX_SHOWN);
    assert_memory_equal(k.prefix, text, UC_KEY_PREFIX_SHOWN);
    uc_key_hash(text, strlen(text), h);
    assert_memory_equal(k.hash, h, sizeof h); /* only the hash is kept */
    assert_int_equal(uc_store_key_by_hash(f->st, h, &found), UC_OK);
    assert_int_equal(found.id, k.id);
    assert_int_equal(found.account_id, acc);
    assert_int_equal(found.type, kinds[i].t);
    assert_string_equal(found.name, "web");
    assert_string_equal(found.prefix, k.prefix);
    assert_int_equal(found.created_at, k.created_at);
    near_now(found.created_at);
    assert_int_equal(found.last_used_at, 0);
    assert_int_equal(found.revoked_at, 0);
  }
  struct uc_key_rec k;
  char text[UC_KEY_MAX + 1];
  assert_int_equal(uc_store_key_create(f->st, acc, "", UC_KEY_ACTIVE, &k, text), UC_EINVAL);
  assert_int_equal(uc_store_key_create(f->st, acc, "x", (uc_key_type)3, &k, text), UC_EINVAL);
  struct keys all = {0};
  uc_store_key_each(f->st, acc, on_key, &all);
  assert_int_equal(all.n, COUNT(kinds)); /* the refused ones made no row */
}

static void test_key_insert(void **state) {
  struct fx *f = *state;
  int64_t acc = account(f, "alpha");
  struct uc_key_rec k = {.account_id = acc, .type = UC_KEY_SANDBOX, .created_at = 1234};
  struct uc_key_rec found, again;
  snprintf(k.name, sizeof k.name, "manual");
  snprintf(k.prefix, sizeof k.prefix, "ucl_test_abcde");
  uc_key_hash("any text", 8, k.hash);
  assert_int_equal(uc_store_key_insert(f->st, &k), UC_OK);
  assert_true(k.id > 0);
  assert_int_equal(uc_store_key_by_hash(f->st, k.hash, &found), UC_OK);
  assert_int_equal(found.id, k.id);
  assert_int_equal(found.created_at, 1234);
  assert_int_equal(found.type, UC_KEY_SANDBOX);
  assert_string_equal(found.name, "manual");
  assert_string_equal(found.prefix, "ucl_test_abcde");
  again = k;
  snprintf(again.name, sizeof again.name, "copy");
  assert_int_equal(uc_store_key_insert(f->st, &again), UC_EEXISTS);
  uint8_t other[UC_KEY_HASH_LEN];
  uc_key_hash("other text", 10, other);
  assert_int_equal(uc_store_key_by_hash(f->st, other, &found), UC_ENOTFOUND);
}

static void test_key_each(void **state) {
  struct fx *f = *state;
  int64_t a = account(f, "alpha"), b = account(f, "beta");
  struct uc_key_rec a1 = key(f, a, "a1", UC_KEY_ACTIVE), b1 = key(f, b, "b1", UC_KEY_ADMIN);
  struct uc_key_rec a2 = key(f, a, "a2", UC_KEY_SANDBOX);
  assert_int_equal(uc_store_key_revoke(f->st, a, a1.id, 99), UC_OK);
  struct keys ka = {0}, kb = {0}, all = {0};
  assert_int_equal(uc_store_key_each(f->st, a, on_key, &ka), UC_OK);
  assert_int_equal(ka.n, 2);
  assert_int_equal(ka.r[0].id, a1.id); /* revoked ones too, by id */
  assert_int_equal(ka.r[0].revoked_at, 99);
  assert_int_equal(ka.r[1].id, a2.id);
  assert_int_equal(ka.r[1].type, UC_KEY_SANDBOX);
  assert_int_equal(uc_store_key_each(f->st, b, on_key, &kb), UC_OK);
  assert_int_equal(kb.n, 1);
  assert_int_equal(kb.r[0].id, b1.id);
  assert_int_equal(uc_store_key_each(f->st, 0, on_key, &all), UC_OK);
  assert_int_equal(all.n, 3);
  assert_int_equal(all.r[0].id, a1.id);
  assert_int_equal(all.r[1].id, b1.id);
  assert_int_equal(all.r[2].id, a2.id);
}

static void test_key_get_and_revoke(void **state) {
  struct fx *f = *state;
  int64_t a = account(f, "alpha"), b = account(f, "beta");
  struct uc_key_rec k = key(f, a, "web", UC_KEY_ACTIVE), got;
  assert_int_equal(uc_store_key_get(f->st, a, k.id, &got), UC_OK);
  assert_int_equal(got.id, k.id);
  assert_string_equal(got.name, "web");
  assert_int_equal(uc_store_key_get(f->st, b, k.id, &got), UC_ENOTFOUND); /* not beta's */
  assert_int_equal(uc_store_key_get(f->st, a, k.id + 100, &got), UC_ENOTFOUND);
  assert_int_equal(uc_store_key_revoke(f->st, b, k.id, 5), UC_ENOTFOUND);
  assert_int_equal(uc_store_key_get(f->st, a, k.id, &got), UC_OK); /* still live */
  assert_int_equal(uc_store_key_revoke(f->st, a, k.id, 5), UC_OK);
  assert_int_equal(uc_store_key_revoke(f->st, a, k.id, 6), UC_ENOTFOUND);
  assert_int_equal(uc_store_key_get(f->st, a, k.id, &got), UC_ENOTFOUND); /* live keys only */
  assert_int_equal(uc_store_key_by_hash(f->st, k.hash, &got), UC_OK);     /* found, revoked */
  assert_int_equal(got.revoked_at, 5);
}

static void test_key_update(void **state) {
  struct fx *f = *state;
  int64_t a = account(f, "alpha"), b = account(f, "beta");
  struct uc_key_rec k = key(f, a, "web", UC_KEY_ACTIVE), old = k, got;
  snprintf(k.name, sizeof k.name, "renamed");
  k.type = UC_KEY_SANDBOX;
  snprintf(k.prefix, sizeof k.prefix, "ucl_test_zzzzz");
  uc_key_hash("new text", 8, k.hash);
  assert_int_equal(uc_store_key_update(f->st, &k), UC_OK);
  assert_int_equal(uc_store_key_by_hash(f->st, old.hash, &got), UC_ENOTFOUND);
  assert_int_equal(uc_store_key_by_hash(f->st, k.hash, &got), UC_OK);
  assert_int_equal(got.id, k.id);
  assert_string_equal(got.name, "renamed");
  assert_int_equal(got.type, UC_KEY_SANDBOX);
  assert_string_equal(got.prefix, "ucl_test_zzzzz");
  assert_int_equal(got.created_at, old.created_at);
  struct uc_key_rec stranger = k;
  stranger.account_id = b; /* another account's key */
  assert_int_equal(uc_store_key_update(f->st, &stranger), UC_ENOTFOUND);
  stranger = k;
  stranger.id += 100;
  assert_int_equal(uc_store_key_update(f->st, &stranger), UC_ENOTFOUND);
  assert_int_equal(uc_store_key_revoke(f->st, a, k.id, 7), UC_OK);
  snprintf(k.name, sizeof k.name, "late");
  assert_int_equal(uc_store_key_update(f->st, &k), UC_ENOTFOUND); /* live keys only */
  assert_int_equal(uc_store_key_by_hash(f->st, k.hash, &got), UC_OK);
  assert_string_equal(got.name, "renamed");
}

static int64_t last_used(struct fx *f, const struct uc_key_rec *k) {
  struct uc_key_rec got;
  assert_int_equal(uc_store_key_by_hash(f->st, k->hash, &got), UC_OK);
  return got.last_used_at;
}

static void test_key_touch(void **state) {
  struct fx *f = *state;
  int64_t a = account(f, "alpha");
  struct uc_key_rec k = key(f, a, "web", UC_KEY_ADMIN), other = key(f, a, "ops", UC_KEY_ADMIN);
  assert_int_equal(uc_store_key_touch(f->st, k.id, 100), UC_OK);
  assert_int_equal(last_used(f, &k), 100);
  assert_int_equal(uc_store_key_touch(f->st, k.id, 50), UC_OK);
  assert_int_equal(last_used(f, &k), 100); /* never backwards */
  assert_int_equal(uc_store_key_touch(f->st, k.id, 200), UC_OK);
  assert_int_equal(last_used(f, &k), 200);
  assert_int_equal(last_used(f, &other), 0);
}

/* ---- usage ---- */

#define DAY 19800u /* 2024-03-18 */

static void expect_row(const struct uc_usage_row *r, int64_t key_id, unsigned day, uint64_t white,
                       uint64_t grey, uint64_t black) {
  assert_int_equal(r->key_id, key_id);
  assert_int_equal(r->day, day);
  assert_int_equal(r->count[UC_WHITE], white);
  assert_int_equal(r->count[UC_GREY], grey);
  assert_int_equal(r->count[UC_BLACK], black);
}

static void test_usage_add_sums(void **state) {
  struct fx *f = *state;
  int64_t a = account(f, "alpha");
  struct uc_key_rec k1 = key(f, a, "k1", UC_KEY_ACTIVE), k2 = key(f, a, "k2", UC_KEY_ACTIVE);
  struct uc_usage_delta first[] = {{k1.id, DAY - 1, UC_WHITE, 2, 100},
                                   {k1.id, DAY, UC_BLACK, 1, 150},
                                   {k2.id, DAY, UC_GREY, 5, 120}};
  struct uc_usage_delta more[] = {{k1.id, DAY - 1, UC_WHITE, 3, 90},
                                  {k1.id, DAY, UC_WHITE, 4, 200}};
  assert_int_equal(uc_store_usage_add(f->st, first, COUNT(first)), UC_OK);
  assert_int_equal(uc_store_usage_add(f->st, more, COUNT(more)), UC_OK);
  assert_int_equal(uc_store_usage_add(f->st, more, 0), UC_OK);
  struct usage u = {0};
  assert_int_equal(uc_store_usage_each(f->st, a, 0, on_usage, &u), UC_OK);
  assert_int_equal(u.n, 3); /* one row per key and day, by key then day */
  expect_row(&u.r[0], k1.id, DAY - 1, 5, 0, 0);
  expect_row(&u.r[1], k1.id, DAY, 4, 0, 1);
  expect_row(&u.r[2], k2.id, DAY, 0, 5, 0);
  assert_int_equal(last_used(f, &k1), 200);
  assert_int_equal(last_used(f, &k2), 120);
  struct uc_usage_delta older[] = {{k1.id, DAY, UC_GREY, 1, 10}};
  assert_int_equal(uc_store_usage_add(f->st, older, 1), UC_OK);
  assert_int_equal(last_used(f, &k1), 200); /* last_used only advances */
}

static void test_usage_each_filters(void **state) {
  struct fx *f = *state;
  int64_t a = account(f, "alpha"), b = account(f, "beta");
  struct uc_key_rec ka = key(f, a, "ka", UC_KEY_ACTIVE), kb = key(f, b, "kb", UC_KEY_ACTIVE);
  struct uc_usage_delta d[] = {{ka.id, DAY - 30, UC_WHITE, 1, 1},
                               {ka.id, DAY - 29, UC_GREY, 2, 2},
                               {ka.id, DAY, UC_BLACK, 3, 3},
                               {kb.id, DAY, UC_WHITE, 9, 4}};
  assert_int_equal(uc_store_usage_add(f->st, d, COUNT(d)), UC_OK);
  struct usage since = {0}, other = {0}, none = {0};
  assert_int_equal(uc_store_usage_each(f->st, a, DAY - 29, on_usage, &since), UC_OK);
  assert_int_equal(since.n, 2); /* since_day itself is in */
  expect_row(&since.r[0], ka.id, DAY - 29, 0, 2, 0);
  expect_row(&since.r[1], ka.id, DAY, 0, 0, 3);
  assert_int_equal(uc_store_usage_each(f->st, b, 0, on_usage, &other), UC_OK);
  assert_int_equal(other.n, 1); /* only the account's keys */
  expect_row(&other.r[0], kb.id, DAY, 9, 0, 0);
  assert_int_equal(uc_store_usage_each(f->st, a, DAY + 1, on_usage, &none), UC_OK);
  assert_int_equal(none.n, 0);
}

/* 403 "banned" answers are an outcome of their own; nothing else is. */
static void test_usage_banned_outcome(void **state) {
  struct fx *f = *state;
  int64_t a = account(f, "alpha");
  struct uc_key_rec k = key(f, a, "k", UC_KEY_ACTIVE);
  struct uc_usage_delta d[] = {{k.id, DAY, UC_USAGE_BANNED, 7, 50}, {k.id, DAY, UC_BLACK, 5, 40}};
  assert_int_equal(uc_store_usage_add(f->st, d, COUNT(d)), UC_OK);
  assert_int_equal(uc_store_usage_add(f->st, d, 1), UC_OK);
  struct uc_usage_delta bad[] = {{k.id, DAY, UC_WHITE, 1, 60},
                                 {k.id, DAY, UC_USAGE_OUTCOMES, 1, 60}};
  assert_int_equal(uc_store_usage_add(f->st, bad, COUNT(bad)), UC_EINVAL); /* nothing written */
  struct usage u = {0};
  assert_int_equal(uc_store_usage_each(f->st, a, 0, on_usage, &u), UC_OK);
  assert_int_equal(u.n, 1);
  expect_row(&u.r[0], k.id, DAY, 0, 0, 5);
  assert_int_equal(u.r[0].count[UC_USAGE_BANNED], 14);
  assert_int_equal(last_used(f, &k), 50); /* a banned answer used the key too */
  assert_string_equal(uc_usage_outcome_name(UC_USAGE_BANNED), "banned");
  assert_null(uc_usage_outcome_name(UC_USAGE_OUTCOMES));
  unsigned o = 99;
  assert_int_equal(uc_usage_outcome_parse("banned", &o), UC_OK);
  assert_int_equal(o, UC_USAGE_BANNED);
  assert_int_equal(uc_usage_outcome_parse("blocked", &o), UC_EINVAL);
}

/* ---- settings ---- */

static void test_settings(void **state) {
  struct fx *f = *state;
  int64_t a = account(f, "alpha"), b = account(f, "beta");
  char *json = (char *)"unchanged";
  assert_int_equal(uc_store_settings_get(f->st, a, &json), UC_OK);
  assert_null(json); /* never set */
  assert_int_equal(uc_store_settings_put(f->st, a, "{\"ban_threshold\":3}"), UC_OK);
  assert_int_equal(uc_store_settings_get(f->st, a, &json), UC_OK);
  assert_string_equal(json, "{\"ban_threshold\":3}");
  free(json);
  assert_int_equal(uc_store_settings_put(f->st, a, "{\"ban_threshold\":7}"), UC_OK);
  assert_int_equal(uc_store_settings_get(f->st, a, &json), UC_OK);
  assert_string_equal(json, "{\"ban_threshold\":7}"); /* overwritten, not merged */
  free(json);
  assert_int_equal(uc_store_settings_get(f->st, b, &json), UC_OK);
  assert_null(json);
}

/* ---- domain lists ---- */

/* The rows' domains joined by ' ' for account acc and colour c. */
static void list_text(struct fx *f, int64_t acc, uc_category c, char *out, size_t size) {
  struct lists l = {0};
  size_t used = 0;
  out[0] = 0;
  assert_int_equal(uc_store_list_each(f->st, acc, on_list, &l), UC_OK);
  for (size_t i = 0; i < l.n && i < MAX_ROWS; i++)
    if (l.r[i].color == c && l.r[i].account_id == acc)
      used += (size_t)snprintf(out + used, size - used, "%s%s", used ? " " : "", l.r[i].domain);
}

static void expect_list(struct fx *f, int64_t acc, uc_category c, const char *want) {
  char got[512];
  list_text(f, acc, c, got, sizeof got);
  assert_string_equal(got, want);
}

static void test_list_add_remove(void **state) {
  struct fx *f = *state;
  int64_t a = account(f, "alpha"), b = account(f, "beta");
  assert_int_equal(uc_store_list_add(f->st, a, UC_BLACK, "spam.example"), UC_OK);
  assert_int_equal(uc_store_list_add(f->st, a, UC_BLACK, "spam.example"), UC_EEXISTS);
  assert_int_equal(uc_store_list_add(f->st, a, UC_WHITE, "spam.example"), UC_OK); /* per colour */
  assert_int_equal(uc_store_list_add(f->st, a, UC_BLACK, "aaa.example"), UC_OK);
  assert_int_equal(uc_store_list_add(f->st, b, UC_BLACK, "spam.example"), UC_OK); /* per account */
  expect_list(f, a, UC_BLACK, "aaa.example spam.example");                        /* by domain */
  expect_list(f, a, UC_WHITE, "spam.example");
  expect_list(f, a, UC_GREY, "");
  expect_list(f, b, UC_BLACK, "spam.example");
  assert_int_equal(uc_store_list_remove(f->st, a, UC_GREY, "spam.example"), UC_ENOTFOUND);
  assert_int_equal(uc_store_list_remove(f->st, a, UC_BLACK, "none.example"), UC_ENOTFOUND);
  assert_int_equal(uc_store_list_remove(f->st, a, UC_WHITE, "spam.example"), UC_OK);
  assert_int_equal(uc_store_list_remove(f->st, a, UC_WHITE, "spam.example"), UC_ENOTFOUND);
  expect_list(f, a, UC_WHITE, "");
  expect_list(f, a, UC_BLACK, "aaa.example spam.example");
  expect_list(f, b, UC_BLACK, "spam.example");
}

/* Rows come grouped by account and colour (each group once), by domain within. */
static void test_list_each_order(void **state) {
  struct fx *f = *state;
  int64_t a = account(f, "alpha"), b = account(f, "beta");
  static const struct {
    int acc;
    uc_category c;
    const char *d;
  } adds[] = {{1, UC_GREY, "m.example"}, {0, UC_BLACK, "z.example"}, {0, UC_WHITE, "b.example"},
              {1, UC_GREY, "c.example"}, {0, UC_BLACK, "a.example"}, {0, UC_GREY, "q.example"}};
  for (size_t i = 0; i < COUNT(adds); i++)
    assert_int_equal(uc_store_list_add(f->st, adds[i].acc ? b : a, adds[i].c, adds[i].d), UC_OK);
  struct lists all = {0}, only_a = {0};
  assert_int_equal(uc_store_list_each(f->st, 0, on_list, &all), UC_OK);
  assert_int_equal(all.n, COUNT(adds));
  int groups = 1;
  for (size_t i = 1; i < all.n; i++) {
    const struct list_row *p = &all.r[i - 1], *r = &all.r[i];
    assert_true(p->account_id <= r->account_id);
    if (p->account_id == r->account_id && p->color == r->color)
      assert_true(strcmp(p->domain, r->domain) < 0);
    else
      groups++;
    near_now(r->added_at);
  }
  assert_int_equal(groups, 4); /* a/black, a/white, a/grey, b/grey: each contiguous */
  assert_int_equal(uc_store_list_each(f->st, a, on_list, &only_a), UC_OK);
  assert_int_equal(only_a.n, 4);
  for (size_t i = 0; i < only_a.n; i++)
    assert_int_equal(only_a.r[i].account_id, a);
}

static void test_list_replace(void **state) {
  struct fx *f = *state;
  int64_t a = account(f, "alpha"), b = account(f, "beta");
  uc_store_list_add(f->st, a, UC_BLACK, "old.example");
  uc_store_list_add(f->st, a, UC_WHITE, "keep.example");
  uc_store_list_add(f->st, b, UC_BLACK, "theirs.example");
  const char *const next[] = {"x.example", "c.example", "x.example"};
  assert_int_equal(uc_store_list_replace(f->st, a, UC_BLACK, next, COUNT(next)), UC_OK);
  expect_list(f, a, UC_BLACK, "c.example x.example");
  expect_list(f, a, UC_WHITE, "keep.example");   /* other colours stay */
  expect_list(f, b, UC_BLACK, "theirs.example"); /* other accounts stay */
  assert_int_equal(uc_store_list_replace(f->st, a, UC_BLACK, NULL, 0), UC_OK);
  expect_list(f, a, UC_BLACK, "");
  expect_list(f, a, UC_WHITE, "keep.example");
}

/* A replace whose last insert fails leaves the list as it was. */
static void test_list_replace_all_or_nothing(void **state) {
  struct fx *f = *state;
  int64_t a = account(f, "alpha");
  char msg[256] = "";
  if (!be->break_domain)
    skip();
  uc_store_list_add(f->st, a, UC_BLACK, "old.example");
  assert_int_equal(be->break_domain(f->url, "boom.example"), UC_OK);
  const char *const next[] = {"new.example", "other.example", "boom.example"};
  int rc = uc_store_list_replace(f->st, a, UC_BLACK, next, COUNT(next));
  assert_int_not_equal(rc, UC_OK);
  uc_store_error(f->st, rc, msg, sizeof msg);
  assert_true(strlen(msg) > 0);
  expect_list(f, a, UC_BLACK, "old.example");
  assert_int_equal(uc_store_list_replace(f->st, a, UC_BLACK, next, 2), UC_OK); /* still usable */
  expect_list(f, a, UC_BLACK, "new.example other.example");
}

/* ---- bans ---- */

static struct uc_ban_rec ban(int64_t acc, const char *ip, unsigned attempts, int64_t banned_at,
                             int64_t updated_at) {
  struct uc_ban_rec b = {.account_id = acc, .attempts = attempts, .banned_at = banned_at};
  b.updated_at = updated_at;
  snprintf(b.ip, sizeof b.ip, "%s", ip);
  return b;
}

static const struct uc_ban_rec *find_ban(const struct bans *bs, int64_t acc, const char *ip) {
  for (size_t i = 0; i < bs->n && i < MAX_ROWS; i++)
    if (bs->r[i].account_id == acc && strcmp(bs->r[i].ip, ip) == 0)
      return &bs->r[i];
  return NULL;
}

static void test_ban_put_get_each(void **state) {
  struct fx *f = *state;
  int64_t a = account(f, "alpha"), b = account(f, "beta");
  struct uc_ban_rec rows[] = {ban(a, "192.0.2.1", 2, 0, 100), ban(a, "2001:db8::/64", 5, 150, 150),
                              ban(b, "192.0.2.1", 1, 0, 110)};
  struct uc_ban_rec got;
  assert_int_equal(uc_store_ban_put(f->st, rows, COUNT(rows)), UC_OK);
  assert_int_equal(uc_store_ban_put(f->st, rows, 0), UC_OK);
  assert_int_equal(uc_store_ban_get(f->st, a, "192.0.2.1", &got), UC_OK);
  assert_int_equal(got.account_id, a);
  assert_string_equal(got.ip, "192.0.2.1");
  assert_int_equal(got.attempts, 2);
  assert_int_equal(got.banned_at, 0);
  assert_int_equal(got.updated_at, 100);
  assert_int_equal(uc_store_ban_get(f->st, a, "2001:db8::/64", &got), UC_OK);
  assert_int_equal(got.banned_at, 150);
  assert_int_equal(uc_store_ban_get(f->st, a, "192.0.2.9", &got), UC_ENOTFOUND);
  assert_int_equal(uc_store_ban_get(f->st, b, "2001:db8::/64", &got), UC_ENOTFOUND);
  struct bans of_a = {0}, all = {0};
  assert_int_equal(uc_store_ban_each(f->st, a, on_ban, &of_a), UC_OK);
  assert_int_equal(of_a.n, 2);
  assert_non_null(find_ban(&of_a, a, "192.0.2.1"));
  assert_int_equal(find_ban(&of_a, a, "2001:db8::/64")->attempts, 5);
  assert_int_equal(uc_store_ban_each(f->st, 0, on_ban, &all), UC_OK);
  assert_int_equal(all.n, 3);
  assert_int_equal(find_ban(&all, b, "192.0.2.1")->updated_at, 110);
}

/* Pages of one account's rows: ordered by ip, after a cursor, holding a text
 * (literally), lifted bans left out, and whether more follow. */
static void test_ban_page(void **state) {
  struct fx *f = *state;
  int64_t a = account(f, "alpha"), b = account(f, "beta");
  struct uc_ban_rec rows[] = {ban(a, "192.0.2.3", 1, 0, 100),       ban(a, "192.0.2.1", 2, 0, 100),
                              ban(a, "2001:db8::/64", 5, 150, 150), ban(a, "10.0.0.1", 5, 100, 100),
                              ban(a, "192.0.2.2", 1, 0, 100),       ban(b, "192.0.2.0", 1, 0, 100)};
  assert_int_equal(uc_store_ban_put(f->st, rows, COUNT(rows)), UC_OK);
  struct bans got = {0};
  int more = -1;
  struct uc_ban_query q = {NULL, NULL, 2, 0, 0};
  assert_int_equal(uc_store_ban_page(f->st, a, &q, on_ban, &got, &more), UC_OK);
  assert_int_equal(got.n, 2);
  assert_string_equal(got.r[0].ip, "10.0.0.1");
  assert_string_equal(got.r[1].ip, "192.0.2.1");
  assert_true(more);
  q.after = got.r[1].ip, q.limit = 10;
  struct bans next = {0};
  assert_int_equal(uc_store_ban_page(f->st, a, &q, on_ban, &next, &more), UC_OK);
  assert_int_equal(next.n, 3);
  assert_string_equal(next.r[0].ip, "192.0.2.2");
  assert_string_equal(next.r[2].ip, "2001:db8::/64");
  assert_false(more);
  struct uc_ban_query text = {NULL, "0.2.", 10, 0, 0}, none = {NULL, "_", 10, 0, 0};
  struct bans t = {0}, z = {0};
  assert_int_equal(uc_store_ban_page(f->st, a, &text, on_ban, &t, NULL), UC_OK);
  assert_int_equal(t.n, 3);
  assert_int_equal(uc_store_ban_page(f->st, a, &none, on_ban, &z, NULL), UC_OK);
  assert_int_equal(z.n, 0);
  struct uc_ban_query lifted = {NULL, NULL, 10, 60, 200}; /* 10.0.0.1's ban is 100 s old */
  struct bans l = {0};
  assert_int_equal(uc_store_ban_page(f->st, a, &lifted, on_ban, &l, NULL), UC_OK);
  assert_int_equal(l.n, 4);
  assert_null(find_ban(&l, a, "10.0.0.1"));
  assert_non_null(find_ban(&l, a, "2001:db8::/64")); /* 50 s old: still banned */
  struct uc_ban_query zero = {NULL, NULL, 0, 0, 0};
  assert_int_equal(uc_store_ban_page(f->st, a, &zero, on_ban, &l, NULL), UC_EINVAL);
}

static void test_ban_put_never_clears_a_ban(void **state) {
  struct fx *f = *state;
  int64_t a = account(f, "alpha");
  struct uc_ban_rec r = ban(a, "192.0.2.1", 5, 150, 150), got;
  assert_int_equal(uc_store_ban_put(f->st, &r, 1), UC_OK);
  r = ban(a, "192.0.2.1", 4, 0, 200); /* an older copy written behind */
  assert_int_equal(uc_store_ban_put(f->st, &r, 1), UC_OK);
  assert_int_equal(uc_store_ban_get(f->st, a, "192.0.2.1", &got), UC_OK);
  assert_int_equal(got.banned_at, 150);
  r = ban(a, "192.0.2.1", 0, 0, 300); /* nothing counted: still not a way to lift a ban */
  assert_int_equal(uc_store_ban_put(f->st, &r, 1), UC_OK);
  assert_int_equal(uc_store_ban_get(f->st, a, "192.0.2.1", &got), UC_OK);
  assert_int_equal(got.banned_at, 150);
  r = ban(a, "192.0.2.1", 6, 400, 400); /* a newer ban replaces it */
  assert_int_equal(uc_store_ban_put(f->st, &r, 1), UC_OK);
  assert_int_equal(uc_store_ban_get(f->st, a, "192.0.2.1", &got), UC_OK);
  assert_int_equal(got.banned_at, 400);
  assert_int_equal(got.attempts, 6);
}

static void test_ban_put_empty_removes_counting_row(void **state) {
  struct fx *f = *state;
  int64_t a = account(f, "alpha");
  struct uc_ban_rec two[] = {ban(a, "192.0.2.1", 3, 0, 100), ban(a, "192.0.2.2", 1, 0, 100)};
  struct uc_ban_rec got;
  assert_int_equal(uc_store_ban_put(f->st, two, 2), UC_OK);
  assert_int_equal(uc_store_ban_get(f->st, a, "192.0.2.2", &got), UC_OK);
  struct uc_ban_rec empty = ban(a, "192.0.2.1", 0, 0, 200);
  assert_int_equal(uc_store_ban_put(f->st, &empty, 1), UC_OK);
  assert_int_equal(uc_store_ban_get(f->st, a, "192.0.2.1", &got), UC_ENOTFOUND);
  assert_int_equal(uc_store_ban_get(f->st, a, "192.0.2.2", &got), UC_OK); /* only that IP */
  empty = ban(a, "192.0.2.3", 0, 0, 200);                                 /* no row: none made */
  assert_int_equal(uc_store_ban_put(f->st, &empty, 1), UC_OK);
  assert_int_equal(uc_store_ban_get(f->st, a, "192.0.2.3", &got), UC_ENOTFOUND);
  struct uc_ban_rec up = ban(a, "192.0.2.2", 4, 0, 300); /* an upsert of a counting row */
  assert_int_equal(uc_store_ban_put(f->st, &up, 1), UC_OK);
  assert_int_equal(uc_store_ban_get(f->st, a, "192.0.2.2", &got), UC_OK);
  assert_int_equal(got.attempts, 4);
  assert_int_equal(got.updated_at, 300);
}

/* One hit; checks whether it counted and the row's attempts and ban afterwards. */
static void hit(struct fx *f, int64_t acc, unsigned threshold, unsigned lift, int64_t now,
                int want_counted, unsigned want_attempts, int64_t want_banned_at) {
  struct uc_ban_rec out;
  int counted = -1;
  assert_int_equal(uc_store_ban_hit(f->st, acc, "192.0.2.7", threshold, lift, now, &out, &counted),
                   UC_OK);
  assert_int_equal(counted, want_counted);
  assert_int_equal(out.account_id, acc);
  assert_string_equal(out.ip, "192.0.2.7");
  assert_int_equal(out.attempts, want_attempts);
  assert_int_equal(out.banned_at, want_banned_at);
  struct uc_ban_rec stored;
  assert_int_equal(uc_store_ban_get(f->st, acc, "192.0.2.7", &stored), UC_OK);
  assert_int_equal(stored.banned_at, want_banned_at); /* durable on return */
}

static void test_ban_hit_counts_then_bans(void **state) {
  struct fx *f = *state;
  int64_t a = account(f, "alpha"), b = account(f, "beta");
  hit(f, a, 3, 0, 1000, 1, 1, 0);
  hit(f, a, 3, 0, 1001, 1, 2, 0);
  hit(f, a, 3, 0, 1002, 1, 3, 1002); /* the threshold bans, at now */
  hit(f, a, 3, 0, 1003, 0, 3, 1002); /* banned: nothing counted */
  hit(f, a, 3, 0, 999999, 0, 3, 1002);
  hit(f, b, 3, 0, 1004, 1, 1, 0); /* per account */
  struct uc_ban_rec out;
  assert_int_equal(uc_store_ban_hit(f->st, b, "192.0.2.7", 3, 0, 1005, &out, NULL), UC_OK);
  assert_int_equal(out.attempts, 2); /* counted may be NULL */
  assert_int_equal(uc_store_ban_hit(f->st, b, "192.0.2.7", 0, 0, 1006, &out, NULL), UC_EINVAL);
}

static void test_ban_hit_lifts_old_bans(void **state) {
  struct fx *f = *state;
  int64_t a = account(f, "alpha");
  hit(f, a, 2, 60, 1000, 1, 1, 0);
  hit(f, a, 2, 60, 1010, 1, 2, 1010);
  hit(f, a, 2, 60, 1069, 0, 2, 1010); /* 59 s: still banned */
  hit(f, a, 2, 60, 1070, 1, 1, 0);    /* 60 s: lifted, counting starts over */
  hit(f, a, 2, 60, 1071, 1, 2, 1071);
  hit(f, a, 2, 0, 999999, 0, 2, 1071); /* lift_seconds 0: for ever */
}

static void test_ban_hit_lower_threshold(void **state) {
  struct fx *f = *state;
  int64_t a = account(f, "alpha");
  hit(f, a, 10, 0, 1000, 1, 1, 0);
  hit(f, a, 10, 0, 1001, 1, 2, 0);
  hit(f, a, 10, 0, 1002, 1, 3, 0);
  hit(f, a, 2, 0, 1003, 1, 4, 1003); /* already past the new threshold: the next hit bans */
}

struct hitter {
  uc_store *st;
  int64_t account;
  int rc, counted, banned_seen, banning;
};

static void *hit_loop(void *arg) {
  struct hitter *h = arg;
  for (int i = 0; i < 25 && h->rc == UC_OK; i++) {
    struct uc_ban_rec out;
    int counted = 0;
    h->rc = uc_store_ban_hit(h->st, h->account, "198.51.100.1", 50, 0, 5000, &out, &counted);
    h->counted += counted;
    h->banned_seen += !counted && out.banned_at != 0;
    h->banning += counted && out.banned_at != 0;
  }
  return NULL;
}

/* 8 handles (as 8 server processes would have) hit one IP 200 times: exactly 50 count. */
static void test_ban_hit_exact_under_concurrency(void **state) {
  struct fx *f = *state;
  int64_t a = account(f, "alpha");
  struct hitter h[8];
  pthread_t t[8];
  for (int i = 0; i < 8; i++)
    h[i] = (struct hitter){second(f), a, UC_OK, 0, 0, 0};
  for (int i = 0; i < 8; i++)
    assert_int_equal(pthread_create(&t[i], NULL, hit_loop, &h[i]), 0);
  int counted = 0, banned = 0, banning = 0;
  for (int i = 0; i < 8; i++) {
    pthread_join(t[i], NULL);
    uc_store_close(h[i].st);
    assert_int_equal(h[i].rc, UC_OK);
    counted += h[i].counted, banned += h[i].banned_seen, banning += h[i].banning;
  }
  assert_int_equal(counted, 50);
  assert_int_equal(banned, 150);
  assert_int_equal(banning, 1); /* one hit made the ban */
  struct uc_ban_rec got;
  assert_int_equal(uc_store_ban_get(f->st, a, "198.51.100.1", &got), UC_OK);
  assert_int_equal(got.attempts, 50);
  assert_int_equal(got.banned_at, 5000);
}

static void test_ban_delete(void **state) {
  struct fx *f = *state;
  int64_t a = account(f, "alpha"), b = account(f, "beta");
  struct uc_ban_rec rows[] = {ban(a, "192.0.2.1", 5, 150, 150), ban(a, "192.0.2.2", 1, 0, 100),
                              ban(b, "192.0.2.1", 2, 0, 100)};
  struct uc_ban_rec got;
  assert_int_equal(uc_store_ban_put(f->st, rows, COUNT(rows)), UC_OK);
  assert_int_equal(uc_store_ban_delete(f->st, a, "192.0.2.1"), UC_OK); /* lifts the ban */
  assert_int_equal(uc_store_ban_get(f->st, a, "192.0.2.1", &got), UC_ENOTFOUND);
  assert_int_equal(uc_store_ban_delete(f->st, a, "192.0.2.1"), UC_ENOTFOUND);
  assert_int_equal(uc_store_ban_get(f->st, b, "192.0.2.1", &got), UC_OK); /* per account */
  size_t deleted = 99;
  assert_int_equal(uc_store_ban_delete_all(f->st, a, &deleted), UC_OK);
  assert_int_equal(deleted, 1);
  struct bans of_a = {0}, of_b = {0};
  uc_store_ban_each(f->st, a, on_ban, &of_a);
  uc_store_ban_each(f->st, b, on_ban, &of_b);
  assert_int_equal(of_a.n, 0);
  assert_int_equal(of_b.n, 1);
  assert_int_equal(uc_store_ban_delete_all(f->st, a, &deleted), UC_OK);
  assert_int_equal(deleted, 0);
  assert_int_equal(uc_store_ban_delete_all(f->st, b, NULL), UC_OK);
  assert_int_equal(uc_store_ban_get(f->st, b, "192.0.2.1", &got), UC_ENOTFOUND);
}

/* ---- the change feed ---- */

static void expect_change(const struct change_row *c, enum uc_change_kind kind, int64_t acc,
                          const char *ip, int own) {
  assert_int_equal(c->kind, kind);
  assert_int_equal(c->account_id, acc);
  if (kind == UC_CHANGE_UNBAN)
    assert_string_equal(c->ip, ip);
  assert_int_equal(c->own, own);
}

static void test_changes_from_now(void **state) {
  struct fx *f = *state;
  int64_t a = account(f, "alpha");
  uc_store *other = second(f);
  struct changes seen = {0};
  uint64_t cursor = 0;
  assert_int_equal(uc_store_ban_delete(other, a, "192.0.2.1"), UC_ENOTFOUND); /* before: old */
  assert_int_equal(uc_store_changes(f->st, &cursor, on_change, &seen), UC_OK);
  assert_int_equal(seen.n, 0); /* no replay */
  assert_int_not_equal(cursor, 0);
  uint64_t start = cursor;
  assert_int_equal(uc_store_changes(f->st, &cursor, on_change, &seen), UC_OK);
  assert_int_equal(seen.n, 0);
  assert_int_equal(cursor, start);
  uc_store_close(other);
}

static void test_changes_in_order(void **state) {
  struct fx *f = *state;
  int64_t a = account(f, "alpha"), b = account(f, "beta");
  uc_store *other = second(f);
  uint64_t mine = 0, theirs = 0;
  struct changes seen = {0}, seen2 = {0}, again = {0};
  assert_int_equal(uc_store_changes(f->st, &mine, on_change, &seen), UC_OK);
  assert_int_equal(uc_store_changes(other, &theirs, on_change, &seen2), UC_OK);
  uint64_t start = mine;
  uc_store_ban_delete(other, a, "192.0.2.1");
  uc_store_ban_delete_all(other, b, NULL);
  uc_store_ban_delete(f->st, a, "2001:db8::/64");
  assert_int_equal(uc_store_changes(f->st, &mine, on_change, &seen), UC_OK);
  assert_int_equal(seen.n, 3);
  expect_change(&seen.r[0], UC_CHANGE_UNBAN, a, "192.0.2.1", 0);
  expect_change(&seen.r[1], UC_CHANGE_UNBAN_ALL, b, NULL, 0);
  expect_change(&seen.r[2], UC_CHANGE_UNBAN, a, "2001:db8::/64", 1); /* through this handle */
  assert_true(seen.r[0].id < seen.r[1].id && seen.r[1].id < seen.r[2].id);
  assert_true(mine > start);
  assert_int_equal(uc_store_changes(f->st, &mine, on_change, &again), UC_OK);
  assert_int_equal(again.n, 0); /* each change once */
  assert_int_equal(uc_store_changes(other, &theirs, on_change, &seen2), UC_OK);
  assert_int_equal(seen2.n, 3); /* the other handle's view: own the other way round */
  expect_change(&seen2.r[0], UC_CHANGE_UNBAN, a, "192.0.2.1", 1);
  expect_change(&seen2.r[1], UC_CHANGE_UNBAN_ALL, b, NULL, 1);
  expect_change(&seen2.r[2], UC_CHANGE_UNBAN, a, "2001:db8::/64", 0);
  uc_store_close(other);
}

/* A ban made by a hit is in the feed, for the other servers' memory. */
static void test_ban_hit_feeds_ban(void **state) {
  struct fx *f = *state;
  int64_t a = account(f, "alpha");
  uc_store *other = second(f);
  uint64_t mine = 0, theirs = 0;
  struct changes seen = {0}, seen2 = {0};
  struct uc_ban_rec out;
  int counted;
  assert_int_equal(uc_store_changes(f->st, &mine, NULL, NULL), UC_OK);
  assert_int_equal(uc_store_changes(other, &theirs, NULL, NULL), UC_OK);
  assert_int_equal(uc_store_ban_hit(f->st, a, "192.0.2.7", 2, 0, 1000, &out, &counted), UC_OK);
  assert_int_equal(uc_store_changes(other, &theirs, on_change, &seen2), UC_OK);
  assert_int_equal(seen2.n, 0); /* counting is not a change */
  assert_int_equal(uc_store_ban_hit(f->st, a, "192.0.2.7", 2, 0, 1001, &out, &counted), UC_OK);
  assert_int_equal(out.banned_at, 1001);
  assert_int_equal(uc_store_ban_hit(f->st, a, "192.0.2.7", 2, 0, 1002, &out, &counted), UC_OK);
  assert_false(counted); /* banned already: no second change */
  assert_int_equal(uc_store_changes(other, &theirs, on_change, &seen2), UC_OK);
  assert_int_equal(seen2.n, 1);
  expect_change(&seen2.r[0], UC_CHANGE_BAN, a, "192.0.2.7", 0);
  assert_int_equal(seen2.r[0].attempts, 2);
  assert_int_equal(seen2.r[0].banned_at, 1001);
  assert_int_equal(uc_store_changes(f->st, &mine, on_change, &seen), UC_OK);
  assert_int_equal(seen.n, 1);
  expect_change(&seen.r[0], UC_CHANGE_BAN, a, "192.0.2.7", 1); /* made through this handle */
  assert_int_equal(uc_store_ban_delete(other, a, "192.0.2.7"), UC_OK);
  assert_int_equal(uc_store_changes(f->st, &mine, on_change, &seen), UC_OK);
  assert_int_equal(seen.n, 2);
  expect_change(&seen.r[1], UC_CHANGE_UNBAN, a, "192.0.2.7", 0);
  assert_true(seen.r[1].id > seen.r[0].id);
  uc_store_close(other);
}

/* ---- secrets and alias memory ---- */

struct secrets {
  size_t n;
  char name[MAX_ROWS][32];
  uint8_t value[MAX_ROWS][32];
};
static int on_secret(void *arg, const char *name, const uint8_t value[32]) {
  struct secrets *c = arg;
  if (c->n < MAX_ROWS) {
    snprintf(c->name[c->n], sizeof c->name[c->n], "%s", name);
    memcpy(c->value[c->n], value, 32);
  }
  return c->n++, 0;
}

static void test_secret_each_and_put(void **state) {
  struct fx *f = *state;
  uint8_t one[32], again[32], theirs[32], two[32], set[32];
  uc_store *other = second(f);
  assert_int_equal(uc_store_secret(f->st, "one", one), UC_OK);
  assert_int_equal(uc_store_secret(f->st, "one", again), UC_OK);
  assert_memory_equal(one, again, 32); /* made once */
  assert_int_equal(uc_store_secret(other, "one", theirs), UC_OK);
  assert_memory_equal(one, theirs, 32); /* the same for every process */
  assert_int_equal(uc_store_secret(f->st, "two", two), UC_OK);
  assert_memory_not_equal(one, two, 32);
  struct secrets all = {0};
  assert_int_equal(uc_store_secret_each(f->st, on_secret, &all), UC_OK);
  assert_int_equal(all.n, 2);
  assert_string_equal(all.name[0], "one"); /* by name */
  assert_memory_equal(all.value[0], one, 32);
  assert_string_equal(all.name[1], "two");
  memset(set, 0x5A, sizeof set);
  assert_int_equal(uc_store_secret_put(f->st, "two", set), UC_OK);
  assert_int_equal(uc_store_secret(other, "two", again), UC_OK);
  assert_memory_equal(again, set, 32); /* put replaces */
  uc_store_close(other);
}

struct aliases {
  size_t n;
  struct uc_alias_rec r[MAX_ROWS];
};
static int on_alias(void *arg, const struct uc_alias_rec *a) {
  struct aliases *c = arg;
  if (c->n < MAX_ROWS)
    c->r[c->n] = *a;
  return c->n++, 0;
}

static struct uc_alias_rec alias(int64_t acc, uint8_t mailbox, uint8_t spelling, int64_t seen) {
  struct uc_alias_rec a = {.account_id = acc, .last_seen = seen};
  memset(a.mailbox, mailbox, UC_ALIAS_HASH);
  memset(a.spelling, spelling, UC_ALIAS_HASH);
  return a;
}

static void test_alias_order_and_trim(void **state) {
  struct fx *f = *state;
  int64_t a = account(f, "alpha"), b = account(f, "beta");
  int64_t now = (int64_t)time(NULL);
  struct uc_alias_rec rows[] = {alias(a, 1, 10, now - 300), alias(a, 1, 11, now - 100),
                                alias(a, 2, 20, now - 200), alias(b, 1, 10, now - 50)};
  assert_int_equal(uc_store_alias_put(f->st, rows, COUNT(rows)), UC_OK);
  struct uc_alias_rec older = alias(a, 1, 11, now - 1000); /* last_seen only moves forward */
  assert_int_equal(uc_store_alias_put(f->st, &older, 1), UC_OK);
  struct aliases one = {0}, recent = {0}, all = {0}, after = {0};
  uint8_t box[UC_ALIAS_HASH];
  memset(box, 1, sizeof box);
  assert_int_equal(uc_store_alias_each(f->st, a, box, 0, on_alias, &one), UC_OK);
  assert_int_equal(one.n, 2); /* the mailbox of that account only */
  for (size_t i = 0; i < one.n; i++) {
    assert_int_equal(one.r[i].account_id, a);
    assert_memory_equal(one.r[i].mailbox, box, UC_ALIAS_HASH);
    int64_t want = one.r[i].spelling[0] == 10 ? now - 300 : now - 100;
    assert_int_equal(one.r[i].last_seen, want);
  }
  assert_int_equal(uc_store_alias_each(f->st, a, box, now - 150, on_alias, &recent), UC_OK);
  assert_int_equal(recent.n, 1);
  assert_int_equal(recent.r[0].spelling[0], 11);
  assert_int_equal(uc_store_alias_each(f->st, 0, NULL, 0, on_alias, &all), UC_OK);
  assert_int_equal(all.n, 4);
  for (size_t i = 1; i < all.n; i++)
    assert_true(all.r[i - 1].last_seen >= all.r[i].last_seen); /* newest first */
  assert_int_equal(all.r[0].account_id, b);
  size_t deleted = 0;
  assert_int_equal(uc_store_alias_trim(f->st, now - 150, &deleted), UC_OK);
  assert_int_equal(deleted, 2);
  assert_int_equal(uc_store_alias_each(f->st, 0, NULL, 0, on_alias, &after), UC_OK);
  assert_int_equal(after.n, 2);
  assert_int_equal(after.r[0].last_seen, now - 50);
  assert_int_equal(after.r[1].last_seen, now - 100);
  assert_int_equal(uc_store_alias_trim(f->st, now - 150, NULL), UC_OK);
}

/* ---- rows as they are (copying a store) ---- */

static void test_put_rows(void **state) {
  struct fx *f = *state;
  struct uc_account_rec a = {.id = 7, .created_at = 1234}, got, next;
  snprintf(a.name, sizeof a.name, "seven");
  assert_int_equal(uc_store_account_put(f->st, &a), UC_OK);
  assert_int_equal(uc_store_account_get(f->st, "seven", &got), UC_OK);
  assert_int_equal(got.id, 7);
  assert_int_equal(got.created_at, 1234);
  assert_int_equal(uc_store_account_put(f->st, &a), UC_EEXISTS);
  snprintf(a.name, sizeof a.name, "other");
  assert_int_equal(uc_store_account_put(f->st, &a), UC_EEXISTS); /* the id is taken */
  assert_int_equal(uc_store_account_create(f->st, "later", &next), UC_OK);
  assert_true(next.id > 7); /* the sequence moved past it */
  struct uc_key_rec k = {.id = 40,
                         .account_id = 7,
                         .type = UC_KEY_ACTIVE,
                         .created_at = 100,
                         .last_used_at = 200,
                         .revoked_at = 300,
                         .rate_per_second = 5,
                         .rate_burst = 9};
  snprintf(k.name, sizeof k.name, "kept");
  snprintf(k.prefix, sizeof k.prefix, "ucl_live_abcde");
  uc_key_hash("kept key", 8, k.hash);
  assert_int_equal(uc_store_key_put(f->st, &k), UC_OK);
  struct uc_key_rec kg;
  assert_int_equal(uc_store_key_by_hash(f->st, k.hash, &kg), UC_OK);
  assert_int_equal(kg.id, 40);
  assert_int_equal(kg.last_used_at, 200);
  assert_int_equal(kg.revoked_at, 300);
  assert_int_equal(kg.rate_per_second, 5);
  assert_int_equal(kg.rate_burst, 9);
  assert_int_equal(uc_store_key_put(f->st, &k), UC_EEXISTS);
  struct uc_key_rec fresh = key(f, 7, "fresh", UC_KEY_ACTIVE);
  assert_true(fresh.id > 40);
  struct uc_list_rec l[] = {{7, UC_BLACK, "b.example", 111}, {7, UC_BLACK, "a.example", 222}};
  assert_int_equal(uc_store_list_put(f->st, l, 2), UC_OK);
  struct lists ls = {0};
  assert_int_equal(uc_store_list_each(f->st, 7, on_list, &ls), UC_OK);
  assert_int_equal(ls.n, 2);
  assert_string_equal(ls.r[0].domain, "a.example");
  assert_int_equal(ls.r[0].added_at, 222);
  assert_int_equal(ls.r[1].added_at, 111);
  struct uc_audit_rec au = {.id = 90,
                            .account_id = 7,
                            .key_id = 40,
                            .at = 555,
                            .action = "keys.create",
                            .detail = "{\"x\":1}"};
  assert_int_equal(uc_store_audit_put(f->st, &au), UC_OK);
  assert_int_equal(uc_store_audit_put(f->st, &au), UC_EEXISTS);
  assert_int_equal(uc_store_audit_add(f->st, 7, 0, "later", "{}"), UC_OK);
  struct audits all = {0};
  assert_int_equal(uc_store_audit_each(f->st, 7, 10, on_audit, &all), UC_OK);
  assert_int_equal(all.n, 2);
  assert_string_equal(all.r[0].action, "later");
  assert_true(all.r[0].id > 90);
  assert_int_equal(all.r[1].id, 90);
  assert_int_equal(all.r[1].at, 555);
  assert_int_equal(all.r[1].key_id, 40);
  assert_string_equal(all.r[1].detail, "{\"x\":1}");
}

static void test_key_rate_limit(void **state) {
  struct fx *f = *state;
  int64_t a = account(f, "alpha");
  struct uc_key_rec k = key(f, a, "web", UC_KEY_ACTIVE), got;
  assert_int_equal(k.rate_per_second, 0); /* the account's */
  k.rate_per_second = 20, k.rate_burst = 40;
  assert_int_equal(uc_store_key_update(f->st, &k), UC_OK);
  assert_int_equal(uc_store_key_get(f->st, a, k.id, &got), UC_OK);
  assert_int_equal(got.rate_per_second, 20);
  assert_int_equal(got.rate_burst, 40);
  struct keys all = {0};
  assert_int_equal(uc_store_key_each(f->st, a, on_key, &all), UC_OK);
  assert_int_equal(all.r[0].rate_burst, 40);
}

/* ---- rate limits (shared stores) ---- */

static void test_rate_take(void **state) {
  struct fx *f = *state;
  int allowed = -1;
  int64_t retry = -1;
  if (!be->shared) { /* a lone server counts in memory (include/uc/ratelimit.h) */
    assert_int_equal(uc_store_rate_take(f->st, 1, 10, 3, 0, &allowed, &retry), UC_EINVAL);
    return;
  }
  for (int i = 0; i < 3; i++) {
    assert_int_equal(uc_store_rate_take(f->st, 1, 1, 3, 0, &allowed, &retry), UC_OK);
    assert_true(allowed); /* the burst */
  }
  assert_int_equal(uc_store_rate_take(f->st, 1, 1, 3, 0, &allowed, &retry), UC_OK);
  assert_false(allowed);
  assert_in_range(retry, 1, 1000); /* one a second: back within a second */
  assert_int_equal(uc_store_rate_take(f->st, 2, 1, 3, 0, &allowed, &retry), UC_OK);
  assert_true(allowed); /* a bucket per key */
  assert_int_equal(uc_store_rate_take(f->st, 2, 0, 3, 0, &allowed, &retry), UC_EINVAL);
}

struct taker {
  uc_store *st;
  int rc, allowed;
};

static void *take_loop(void *arg) {
  struct taker *t = arg;
  for (int i = 0; i < 25 && t->rc == UC_OK; i++) {
    int ok = 0;
    int64_t retry;
    t->rc = uc_store_rate_take(t->st, 7, 1, 50, 0, &ok, &retry);
    t->allowed += ok;
  }
  return NULL;
}

static double seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* 8 handles take 200 from one bucket of burst 50 at 1/s: 50 pass, plus one
 * per second the run lasted (the bound follows the measured time). */
static void test_rate_take_exact_under_concurrency(void **state) {
  struct fx *f = *state;
  struct taker t[8];
  pthread_t th[8];
  if (!be->shared)
    skip();
  for (int i = 0; i < 8; i++)
    t[i] = (struct taker){second(f), UC_OK, 0};
  double t0 = seconds();
  for (int i = 0; i < 8; i++)
    assert_int_equal(pthread_create(&th[i], NULL, take_loop, &t[i]), 0);
  int allowed = 0;
  for (int i = 0; i < 8; i++) {
    pthread_join(th[i], NULL);
    uc_store_close(t[i].st);
    assert_int_equal(t[i].rc, UC_OK);
    allowed += t[i].allowed;
  }
  double elapsed = seconds() - t0;
  assert_true(allowed >= 50);
  assert_true(allowed <= 50 + (int)elapsed + 1);
}

/* ---- batch task records ---- */

static struct uc_batch_rec task(int64_t acc, int64_t key_id, const char *project, int64_t at) {
  struct uc_batch_rec t;
  memset(&t, 0, sizeof t);
  uc_batch_id_new(t.id);
  t.account_id = acc, t.key_id = key_id, t.key_type = UC_KEY_ACTIVE;
  snprintf(t.project, sizeof t.project, "%s", project);
  snprintf(t.filename, sizeof t.filename, "list \"%s\".csv", project);
  t.format = UC_BATCH_XLSX, t.deduplicate = 1, t.status = UC_BATCH_PROCESSING;
  t.upload_bytes = 1234, t.created_at = at, t.attempts = 1;
  return t;
}

struct tasks {
  size_t n;
  struct uc_batch_rec t[8];
};
static int on_task(void *arg, const struct uc_batch_rec *t) {
  struct tasks *c = arg;
  if (c->n < COUNT(c->t))
    c->t[c->n++] = *t;
  return 0;
}

/* ---- copying a store to another backend and back ---- */

static void fill_everything(struct fx *f, int64_t *acc) {
  struct uc_account_rec a;
  int64_t now = (int64_t)time(NULL);
  uint8_t secret[32];
  assert_int_equal(uc_store_account_create(f->st, "alpha", &a), UC_OK);
  account(f, "beta");
  *acc = a.id;
  struct uc_key_rec k = key(f, a.id, "web", UC_KEY_ACTIVE);
  struct uc_key_rec gone = key(f, a.id, "old", UC_KEY_SANDBOX);
  assert_int_equal(uc_store_key_revoke(f->st, a.id, gone.id, now), UC_OK);
  k.rate_per_second = 3;
  assert_int_equal(uc_store_key_update(f->st, &k), UC_OK);
  struct uc_usage_delta d[] = {{k.id, DAY, UC_WHITE, 4, now},
                               {k.id, DAY, UC_BLACK, 2, now},
                               {gone.id, DAY - 1, UC_GREY, 1, now}};
  assert_int_equal(uc_store_usage_add(f->st, d, COUNT(d)), UC_OK);
  assert_int_equal(uc_store_settings_put(f->st, a.id, "{\"ban_threshold\":3}"), UC_OK);
  assert_int_equal(uc_store_list_add(f->st, a.id, UC_BLACK, "spam.example"), UC_OK);
  assert_int_equal(uc_store_list_add(f->st, a.id, UC_WHITE, "ok.example"), UC_OK);
  struct uc_ban_rec b[] = {ban(a.id, "192.0.2.1", 2, 0, 100),
                           ban(a.id, "2001:db8::/64", 3, 150, 150)};
  assert_int_equal(uc_store_ban_put(f->st, b, 2), UC_OK);
  struct uc_alias_rec al[] = {alias(a.id, 1, 10, now - 10), alias(a.id, 1, 11, now - 5)};
  assert_int_equal(uc_store_alias_put(f->st, al, 2), UC_OK);
  assert_int_equal(uc_store_audit_add(f->st, a.id, 0, "lists.add", "{\"n\":1}"), UC_OK);
  assert_int_equal(uc_store_audit_add(f->st, a.id, k.id, "keys.create", "{\"n\":2}"), UC_OK);
  assert_int_equal(uc_store_secret(f->st, "alias-chains", secret), UC_OK);
  struct uc_batch_rec done = task(a.id, k.id, "done", now - 100),
                      held = task(a.id, k.id, "held", now);
  done.status = UC_BATCH_COMPLETED, done.finished_at = now - 50, done.result_bytes = 77;
  done.counts.rows_total = done.counts.rows_done = 3, done.counts.category[UC_BLACK] = 3;
  done.counts.type[UC_T_DISPOSABLE] = 3;
  assert_int_equal(uc_store_batch_insert(f->st, &done), UC_OK);
  assert_int_equal(uc_store_batch_insert(f->st, &held), UC_OK);
  assert_int_equal(uc_store_batch_claim(f->st, held.id, "old/w0", now * 1000, 60000, NULL), UC_OK);
  struct uc_usage_delta bd[] = {{k.id, DAY, UC_BLACK, 3, now}, {k.id, DAY - 2, UC_WHITE, 1, now}};
  assert_int_equal(uc_store_batch_usage_add(f->st, bd, COUNT(bd)), UC_OK);
}

/* Everything of st as text, to compare two stores (ids and times included). */
static void dump(uc_store *st, int64_t acc, char *out, size_t size) {
  struct tasks ts = {0};
  struct usage bus = {0};
  struct accounts as = {0};
  struct keys ks = {0};
  struct usage us = {0};
  struct lists ls = {0};
  struct bans bs = {0};
  struct aliases als = {0};
  struct audits aus = {0};
  struct secrets ss = {0};
  char *json = NULL;
  size_t n = 0;
  assert_int_equal(uc_store_account_each(st, on_account, &as), UC_OK);
  assert_int_equal(uc_store_key_each(st, 0, on_key, &ks), UC_OK);
  assert_int_equal(uc_store_usage_each(st, acc, 0, on_usage, &us), UC_OK);
  assert_int_equal(uc_store_list_each(st, 0, on_list, &ls), UC_OK);
  assert_int_equal(uc_store_ban_each(st, 0, on_ban, &bs), UC_OK);
  assert_int_equal(uc_store_alias_each(st, 0, NULL, 0, on_alias, &als), UC_OK);
  assert_int_equal(uc_store_audit_each(st, acc, 100, on_audit, &aus), UC_OK);
  assert_int_equal(uc_store_secret_each(st, on_secret, &ss), UC_OK);
  assert_int_equal(uc_store_batch_each(st, 0, on_task, &ts), UC_OK);
  assert_int_equal(uc_store_batch_usage_each(st, acc, 0, on_usage, &bus), UC_OK);
  assert_int_equal(uc_store_settings_get(st, acc, &json), UC_OK);
  n += (size_t)snprintf(out + n, size - n, "settings %s\n", json ? json : "-");
  free(json);
  for (size_t i = 0; i < as.n; i++)
    n += (size_t)snprintf(out + n, size - n, "account %lld %s %lld\n", (long long)as.r[i].id,
                          as.r[i].name, (long long)as.r[i].created_at);
  for (size_t i = 0; i < ks.n; i++)
    n += (size_t)snprintf(out + n, size - n, "key %lld %lld %s %d %s %02x %lld %lld %lld %u %u\n",
                          (long long)ks.r[i].id, (long long)ks.r[i].account_id, ks.r[i].name,
                          (int)ks.r[i].type, ks.r[i].prefix, ks.r[i].hash[0],
                          (long long)ks.r[i].created_at, (long long)ks.r[i].last_used_at,
                          (long long)ks.r[i].revoked_at, ks.r[i].rate_per_second,
                          ks.r[i].rate_burst);
  for (size_t i = 0; i < us.n; i++)
    n += (size_t)snprintf(
        out + n, size - n, "usage %lld %u %llu %llu %llu\n", (long long)us.r[i].key_id, us.r[i].day,
        (unsigned long long)us.r[i].count[0], (unsigned long long)us.r[i].count[1],
        (unsigned long long)us.r[i].count[2]);
  for (size_t i = 0; i < ls.n; i++)
    n +=
        (size_t)snprintf(out + n, size - n, "list %lld %d %s %lld\n", (long long)ls.r[i].account_id,
                         (int)ls.r[i].color, ls.r[i].domain, (long long)ls.r[i].added_at);
  for (size_t i = 0; i < bs.n; i++)
    n += (size_t)snprintf(out + n, size - n, "ban %lld %s %u %lld %lld\n",
                          (long long)bs.r[i].account_id, bs.r[i].ip, bs.r[i].attempts,
                          (long long)bs.r[i].banned_at, (long long)bs.r[i].updated_at);
  for (size_t i = 0; i < als.n; i++)
    n += (size_t)snprintf(out + n, size - n, "alias %lld %02x %02x %lld\n",
                          (long long)als.r[i].account_id, als.r[i].mailbox[0], als.r[i].spelling[0],
                          (long long)als.r[i].last_seen);
  for (size_t i = 0; i < aus.n; i++)
    n += (size_t)snprintf(out + n, size - n, "audit %lld %lld %lld %s %s\n", (long long)aus.r[i].id,
                          (long long)aus.r[i].key_id, (long long)aus.r[i].at, aus.r[i].action,
                          aus.r[i].detail);
  for (size_t i = 0; i < ss.n; i++)
    n += (size_t)snprintf(out + n, size - n, "secret %s %02x%02x\n", ss.name[i], ss.value[i][0],
                          ss.value[i][31]);
  for (size_t i = 0; i < ts.n; i++) {
    const struct uc_batch_rec *t = &ts.t[i];
    n += (size_t)snprintf(out + n, size - n,
                          "task %s %lld %lld %s %s %d %llu %llu %llu %lld %lld %u %llu %s %lld\n",
                          t->id, (long long)t->account_id, (long long)t->key_id, t->project,
                          t->filename, (int)t->status, (unsigned long long)t->counts.rows_done,
                          (unsigned long long)t->counts.category[UC_BLACK],
                          (unsigned long long)t->counts.type[UC_T_DISPOSABLE],
                          (long long)t->created_at, (long long)t->finished_at, t->attempts,
                          (unsigned long long)t->result_bytes, t->owner, (long long)t->lease_until);
  }
  for (size_t i = 0; i < bus.n; i++)
    n += (size_t)snprintf(
        out + n, size - n, "batch usage %lld %u %llu %llu %llu\n", (long long)bus.r[i].key_id,
        bus.r[i].day, (unsigned long long)bus.r[i].count[0], (unsigned long long)bus.r[i].count[1],
        (unsigned long long)bus.r[i].count[2]);
}

/* Copies f's store into a fresh store of `into` and back into a fresh one of
 * f's backend: all three hold the same rows. */
static void copy_through(struct fx *f, int64_t acc, const struct backend *into) {
  char there_url[UC_STORE_URL_MAX], back_url[UC_STORE_URL_MAX], err[512];
  char a[8192], b[8192], c[8192];
  uc_store *there = NULL, *back = NULL;
  struct uc_store_copied n;
  assert_int_equal(into->fresh(there_url, sizeof there_url), UC_OK);
  assert_int_equal(be->fresh(back_url, sizeof back_url), UC_OK);
  assert_int_equal(uc_store_open(there_url, UC_STORE_CREATE, &there, err, sizeof err), UC_OK);
  assert_int_equal(uc_store_open(back_url, UC_STORE_CREATE, &back, err, sizeof err), UC_OK);
  assert_int_equal(uc_store_copy(f->st, there, &n, err, sizeof err), UC_OK);
  assert_int_equal(n.accounts, 2);
  assert_int_equal(n.keys, 2);
  assert_int_equal(n.settings, 1);
  assert_int_equal(n.lists, 2);
  assert_int_equal(n.usage, 2);
  assert_int_equal(n.bans, 2);
  assert_int_equal(n.aliases, 2);
  assert_int_equal(n.audit, 2);
  assert_int_equal(n.secrets, 2); /* the aliases' and the keys' checksum secret */
  assert_int_equal(n.batch_tasks, 2);
  assert_int_equal(n.batch_usage, 2);
  assert_int_equal(uc_store_copy(there, back, NULL, err, sizeof err), UC_OK);
  dump(f->st, acc, a, sizeof a);
  dump(there, acc, b, sizeof b);
  dump(back, acc, c, sizeof c);
  assert_string_equal(a, b);
  assert_string_equal(a, c);
  assert_int_equal(uc_store_copy(f->st, back, NULL, err, sizeof err), UC_EEXISTS);
  assert_non_null(strstr(err, "empty store")); /* never into a store in use */
  uc_store_close(there);
  uc_store_close(back);
  into->remove(there_url);
  be->remove(back_url);
}

static void test_copy(void **state) {
  struct fx *f = *state;
  int64_t acc;
  fill_everything(f, &acc);
  for (size_t i = 0; i < COUNT(backends); i++)
    if (!backends[i].env || getenv(backends[i].env))
      copy_through(f, acc, &backends[i]);
}

/* ---- recent checks (shared stores) ---- */

/* Optional ops: a backend without them (SQLite: one server, its memory
 * suffices) answers UC_EUNAVAILABLE, and its run skips these tests, saying so. */
static void need_activity_ops(struct fx *f) {
  struct uc_activity_rec r;
  memset(&r, 0, sizeof r);
  if (uc_store_activity_add(f->st, 1, &r, 1) == UC_EUNAVAILABLE) {
    fprintf(stderr, "%s: no shared activity feed in this backend: skipped\n", be->name);
    skip();
  }
}

static struct uc_activity_rec act(int64_t at, unsigned outcome, const char *text, const char *ip,
                                  const char *top_domain) {
  struct uc_activity_rec r;
  memset(&r, 0, sizeof r);
  r.e.seq = 999; /* ignored: the store numbers entries */
  r.e.at = at, r.e.key_id = 7, r.e.key_type = UC_KEY_ACTIVE, r.e.outcome = outcome;
  r.e.type = UC_T_DISPOSABLE, r.e.is_address = strchr(text, '@') != NULL;
  snprintf(r.e.text, sizeof r.e.text, "%s", text);
  snprintf(r.e.ip, sizeof r.e.ip, "%s", ip);
  snprintf(r.top_domain, sizeof r.top_domain, "%s", top_domain);
  snprintf(r.top_ip, sizeof r.top_ip, "%s", top_domain[0] ? ip : "");
  return r;
}

static void test_activity_add_read(void **state) {
  struct fx *f = *state;
  const int64_t day = 20000 * 86400LL;
  need_activity_ops(f); /* before allocating: a skip leaves the test at once */
  struct uc_activity_view *v = calloc(1, sizeof *v);
  assert_non_null(v);
  assert_int_equal(uc_store_activity_read(f->st, 3, 0, 20000, v), UC_OK);
  assert_int_equal(v->last_seq, 0);
  assert_int_equal(v->n, 0);
  struct uc_activity_rec r[3] = {
      act(day + 1, UC_BLACK, "mailinator.com", "192.0.2.1", "mailinator.com"),
      act(day + 2, UC_WHITE, "jane@gmail.com", "2001:db8::1", ""),
      act(day + 3, UC_BLACK, "bad\xff.example", "192.0.2.1", "bad\xff.example"),
  };
  r[1].e.type = UC_T_LEGITIMATE;
  assert_int_equal(uc_store_activity_add(f->st, 3, r, 3), UC_OK);
  assert_int_equal(uc_store_activity_add(f->st, 4, r, 1), UC_OK); /* another account */
  assert_int_equal(uc_store_activity_add(f->st, 3, r, 0), UC_OK);
  assert_int_equal(uc_store_activity_read(f->st, 3, 0, 20000, v), UC_OK);
  assert_int_equal(v->last_seq, 3);
  assert_int_equal(v->n, 3);
  assert_int_equal(v->entries[0].seq, 3);                  /* newest first */
  assert_string_equal(v->entries[0].text, "bad?.example"); /* not UTF-8: '?' */
  assert_int_equal(v->entries[1].seq, 2);
  assert_string_equal(v->entries[1].text, "jane@gmail.com");
  assert_true(v->entries[1].is_address);
  assert_string_equal(v->entries[1].ip, "2001:db8::1");
  assert_int_equal(v->entries[1].outcome, UC_WHITE);
  assert_int_equal(v->entries[1].type, UC_T_LEGITIMATE);
  assert_int_equal(v->entries[1].at, day + 2);
  assert_int_equal(v->entries[1].key_id, 7);
  assert_int_equal(v->entries[1].key_type, UC_KEY_ACTIVE);
  assert_int_equal(v->ndomains, 2);
  assert_int_equal(v->nips, 1);
  assert_string_equal(v->ips[0].name, "192.0.2.1");
  assert_int_equal(v->ips[0].count, 2);
  assert_int_equal(v->ips[0].over, 0);
  assert_int_equal(uc_store_activity_read(f->st, 3, 2, 20000, v), UC_OK); /* since */
  assert_int_equal(v->n, 1);
  assert_int_equal(v->entries[0].seq, 3);
  assert_int_equal(uc_store_activity_read(f->st, 3, 0, 20001, v), UC_OK); /* tops are per day */
  assert_int_equal(v->n, 3);
  assert_int_equal(v->ndomains + v->nips, 0);
  assert_int_equal(uc_store_activity_read(f->st, 4, 0, 20000, v), UC_OK);
  assert_int_equal(v->last_seq, 1);
  assert_string_equal(v->entries[0].text, "mailinator.com");
  uc_store *other = second(f); /* another server sees the same feed */
  assert_int_equal(uc_store_activity_read(other, 3, 0, 20000, v), UC_OK);
  assert_int_equal(v->last_seq, 3);
  uc_store_close(other);
  free(v);
}

static void test_activity_bounded(void **state) {
  struct fx *f = *state;
  const int64_t day = 20000 * 86400LL;
  enum { N = UC_ACTIVITY_TOP_SHARED };
  need_activity_ops(f); /* before allocating: a skip leaves the test at once */
  struct uc_activity_rec *r = calloc(2 * N, sizeof *r);
  struct uc_activity_view *v = calloc(1, sizeof *v);
  assert_non_null(r);
  assert_non_null(v);
  for (int i = 0; i < 2 * N; i++) { /* N names, each blocked twice */
    char name[32];
    snprintf(name, sizeof name, "d%d.example", i % N);
    r[i] = act(day + i, UC_BLACK, name, "", name);
  }
  assert_int_equal(uc_store_activity_add(f->st, 9, r, 2 * N), UC_OK);
  r[0] = act(day, UC_BLACK, "new.example", "", "new.example"); /* past the bound */
  assert_int_equal(uc_store_activity_add(f->st, 9, r, 1), UC_OK);
  assert_int_equal(uc_store_activity_read(f->st, 9, 0, 20000, v), UC_OK);
  assert_int_equal(v->last_seq, 2 * N + 1);
  assert_int_equal(v->n, UC_ACTIVITY_RING); /* the newest only */
  assert_int_equal(v->entries[0].seq, 2 * N + 1);
  assert_int_equal(v->entries[UC_ACTIVITY_RING - 1].seq, 2 * N + 2 - UC_ACTIVITY_RING);
  assert_int_equal(v->ndomains, UC_ACTIVITY_TOP_SHOWN);
  /* Space-Saving: the newcomer took a least counted name's place and count */
  assert_string_equal(v->domains[0].name, "new.example");
  assert_int_equal(v->domains[0].count, 3);
  assert_int_equal(v->domains[0].over, 2);
  assert_int_equal(v->domains[1].count, 2);
  assert_int_equal(v->domains[1].over, 0);
  free(r);
  free(v);
}

/* ---- batch tasks ---- */

static void test_batch_insert_get_update(void **state) {
  struct fx *f = *state;
  int64_t a = account(f, "alpha"), b = account(f, "beta");
  struct uc_key_rec k = key(f, a, "k", UC_KEY_SANDBOX);
  struct uc_batch_rec t = task(a, k.id, "Ünïcode project", 1000), got;
  t.key_type = UC_KEY_SANDBOX;
  assert_int_equal(uc_store_batch_insert(f->st, &t), UC_OK);
  assert_int_equal(uc_store_batch_insert(f->st, &t), UC_EEXISTS);
  assert_int_equal(uc_store_batch_get(f->st, a, t.id, &got), UC_OK);
  assert_memory_equal(&got, &t, sizeof t);                           /* every field, as written */
  assert_int_equal(uc_store_batch_get(f->st, 0, t.id, &got), UC_OK); /* 0: any account */
  assert_int_equal(uc_store_batch_get(f->st, b, t.id, &got), UC_ENOTFOUND);
  assert_int_equal(uc_store_batch_get(f->st, a, "not-an-id", &got), UC_ENOTFOUND);
  /* progress: every count, bytes, state and reason; the rest stays */
  t.status = UC_BATCH_FAILED, t.finished_at = 2000, t.attempts = 3, t.result_bytes = 99;
  t.counts.rows_total = 10, t.counts.rows_done = 7, t.counts.blank = 1, t.counts.duplicates = 2;
  for (int i = 0; i < 3; i++)
    t.counts.category[i] = 100 + (uint64_t)i;
  for (int i = 0; i < UC_TYPE_COUNT; i++)
    t.counts.type[i] = 1000 + (uint64_t)i;
  snprintf(t.reason, sizeof t.reason, "row 3: not valid UTF-8");
  struct uc_batch_rec changed = t;
  snprintf(changed.project, sizeof changed.project, "renamed?");
  changed.created_at = 1;
  assert_int_equal(uc_store_batch_update(f->st, &changed), UC_OK);
  assert_int_equal(uc_store_batch_get(f->st, a, t.id, &got), UC_OK);
  assert_memory_equal(&got, &t, sizeof t);
  changed.account_id = b; /* another account's task is not there */
  assert_int_equal(uc_store_batch_update(f->st, &changed), UC_ENOTFOUND);
}

static void test_batch_each_and_delete(void **state) {
  struct fx *f = *state;
  int64_t a = account(f, "alpha"), b = account(f, "beta");
  struct uc_key_rec ka = key(f, a, "ka", UC_KEY_ACTIVE), kb = key(f, b, "kb", UC_KEY_ACTIVE);
  struct uc_batch_rec t1 = task(a, ka.id, "one", 100), t2 = task(a, ka.id, "two", 300),
                      t3 = task(b, kb.id, "three", 200);
  assert_int_equal(uc_store_batch_insert(f->st, &t1), UC_OK);
  assert_int_equal(uc_store_batch_insert(f->st, &t2), UC_OK);
  assert_int_equal(uc_store_batch_insert(f->st, &t3), UC_OK);
  struct tasks mine = {0}, all = {0}, after = {0};
  assert_int_equal(uc_store_batch_each(f->st, a, on_task, &mine), UC_OK);
  assert_int_equal(mine.n, 2); /* the account's, newest first */
  assert_string_equal(mine.t[0].project, "two");
  assert_string_equal(mine.t[1].project, "one");
  assert_int_equal(uc_store_batch_each(f->st, 0, on_task, &all), UC_OK);
  assert_int_equal(all.n, 3);
  assert_string_equal(all.t[1].project, "three");
  assert_int_equal(uc_store_batch_delete(f->st, b, t1.id), UC_ENOTFOUND); /* not b's */
  assert_int_equal(uc_store_batch_delete(f->st, a, t1.id), UC_OK);
  assert_int_equal(uc_store_batch_delete(f->st, a, t1.id), UC_ENOTFOUND);
  assert_int_equal(uc_store_batch_update(f->st, &t1), UC_ENOTFOUND); /* its worker stops */
  assert_int_equal(uc_store_batch_each(f->st, 0, on_task, &after), UC_OK);
  assert_int_equal(after.n, 2);
  uc_store *other = second(f); /* another process sees the same tasks */
  struct uc_batch_rec got;
  assert_int_equal(uc_store_batch_get(other, 0, t3.id, &got), UC_OK);
  assert_int_equal(got.account_id, b);
  uc_store_close(other);
}

static void test_batch_usage_apart(void **state) {
  struct fx *f = *state;
  int64_t a = account(f, "alpha"), b = account(f, "beta");
  struct uc_key_rec ka = key(f, a, "ka", UC_KEY_ACTIVE), kb = key(f, b, "kb", UC_KEY_ACTIVE);
  struct uc_usage_delta d[] = {{ka.id, DAY, UC_WHITE, 2, 10},
                               {ka.id, DAY, UC_WHITE, 3, 10},
                               {ka.id, DAY - 5, UC_BLACK, 4, 10},
                               {kb.id, DAY, UC_GREY, 1, 10}};
  assert_int_equal(uc_store_batch_usage_add(f->st, d, COUNT(d)), UC_OK);
  struct usage u = {0}, live = {0}, since = {0};
  assert_int_equal(uc_store_batch_usage_each(f->st, a, 0, on_usage, &u), UC_OK);
  assert_int_equal(u.n, 2);
  expect_row(&u.r[0], ka.id, DAY - 5, 0, 0, 4);
  expect_row(&u.r[1], ka.id, DAY, 5, 0, 0);
  assert_int_equal(uc_store_batch_usage_each(f->st, a, DAY, on_usage, &since), UC_OK);
  assert_int_equal(since.n, 1);
  assert_int_equal(uc_store_usage_each(f->st, a, 0, on_usage, &live), UC_OK);
  assert_int_equal(live.n, 0); /* batch rows are not live checks */
}

/* Now in unix ms, the clock claims are made with (Redis uses its own, which
 * is this machine's here). */
static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define HOUR_MS 3600000u

static void test_batch_claim_renew_release(void **state) {
  struct fx *f = *state;
  int64_t a = account(f, "alpha");
  struct uc_key_rec k = key(f, a, "k", UC_KEY_ACTIVE);
  struct uc_batch_rec t = task(a, k.id, "one", 100), got;
  assert_int_equal(uc_store_batch_insert(f->st, &t), UC_OK);
  int64_t before = now_ms();
  assert_int_equal(uc_store_batch_claim(f->st, t.id, "srv-a/w0", now_ms(), HOUR_MS, &got), UC_OK);
  assert_string_equal(got.owner, "srv-a/w0");
  assert_in_range(got.lease_until, before + HOUR_MS - 1000, now_ms() + HOUR_MS + 1000);
  assert_string_equal(got.project, "one"); /* the whole row */
  uc_store *other = second(f);             /* another server */
  assert_int_equal(uc_store_batch_claim(other, t.id, "srv-b/w0", now_ms(), HOUR_MS, &got),
                   UC_EBUSY); /* never while its owner's lease runs */
  assert_int_equal(uc_store_batch_claim(f->st, t.id, "srv-a/w0", now_ms(), HOUR_MS, NULL),
                   UC_OK); /* a renewal */
  /* progress only by its owner (or by no one in particular) */
  struct uc_batch_rec w = t;
  w.counts.rows_done = 5;
  snprintf(w.owner, sizeof w.owner, "srv-b/w0");
  assert_int_equal(uc_store_batch_update(other, &w), UC_EBUSY);
  snprintf(w.owner, sizeof w.owner, "srv-a/w0");
  assert_int_equal(uc_store_batch_update(f->st, &w), UC_OK);
  w.owner[0] = 0;
  assert_int_equal(uc_store_batch_update(f->st, &w), UC_OK);
  assert_int_equal(uc_store_batch_get(f->st, a, t.id, &got), UC_OK);
  assert_string_equal(got.owner, "srv-a/w0"); /* an update never moves the claim */
  assert_int_equal(got.counts.rows_done, 5);
  /* released: anyone may take it at once */
  assert_int_equal(uc_store_batch_release(other, t.id, "srv-b/w0"), UC_EBUSY);
  assert_int_equal(uc_store_batch_release(f->st, t.id, "srv-a/w0"), UC_OK);
  assert_int_equal(uc_store_batch_get(f->st, a, t.id, &got), UC_OK);
  assert_true(got.owner[0] == 0 && got.lease_until == 0);
  assert_int_equal(uc_store_batch_claim(other, t.id, "srv-b/w0", now_ms(), HOUR_MS, NULL), UC_OK);
  assert_int_equal(uc_store_batch_claim(f->st, t.id, "srv-a/w0", now_ms(), HOUR_MS, NULL),
                   UC_EBUSY);
  /* unknown, malformed, deleted */
  assert_int_equal(
      uc_store_batch_claim(f->st, "00000000-0000-4000-8000-000000000000", "x", now_ms(), 1, NULL),
      UC_ENOTFOUND);
  assert_int_equal(uc_store_batch_claim(f->st, "nope", "x", now_ms(), 1, NULL), UC_ENOTFOUND);
  assert_int_equal(uc_store_batch_claim(f->st, t.id, "", now_ms(), 1, NULL), UC_EINVAL);
  assert_int_equal(uc_store_batch_delete(f->st, a, t.id), UC_OK);
  assert_int_equal(uc_store_batch_claim(other, t.id, "srv-b/w0", now_ms(), HOUR_MS, NULL),
                   UC_ENOTFOUND);
  assert_int_equal(uc_store_batch_release(other, t.id, "srv-b/w0"), UC_ENOTFOUND);
  uc_store_close(other);
}

/* A lease that ended is taken over; the old owner's writes are refused from
 * then on, and only the new owner's finish counts its rows, once. */
static void test_batch_takeover_after_the_lease(void **state) {
  struct fx *f = *state;
  int64_t a = account(f, "alpha");
  struct uc_key_rec k = key(f, a, "k", UC_KEY_ACTIVE);
  struct uc_batch_rec t = task(a, k.id, "big", 100), got;
  assert_int_equal(uc_store_batch_insert(f->st, &t), UC_OK);
  assert_int_equal(uc_store_batch_claim(f->st, t.id, "dead/w0", now_ms(), 1, NULL), UC_OK);
  struct timespec pause = {0, 20 * 1000000}; /* past the 1 ms lease, on any clock */
  nanosleep(&pause, NULL);
  uc_store *other = second(f);
  assert_int_equal(uc_store_batch_claim(other, t.id, "live/w1", now_ms(), HOUR_MS, &got), UC_OK);
  assert_string_equal(got.owner, "live/w1");
  struct uc_batch_rec done = got;
  done.status = UC_BATCH_COMPLETED, done.finished_at = 1000 * 86400;
  done.counts.rows_total = done.counts.rows_done = 7;
  done.counts.category[UC_WHITE] = 4, done.counts.category[UC_BLACK] = 3;
  struct uc_usage_delta d[] = {{k.id, 1000, UC_WHITE, 4, 1}, {k.id, 1000, UC_BLACK, 3, 1}};
  struct uc_batch_rec stale = done;
  snprintf(stale.owner, sizeof stale.owner, "dead/w0");
  assert_int_equal(uc_store_batch_update(f->st, &stale), UC_EBUSY);
  assert_int_equal(uc_store_batch_finish(f->st, &stale, d, 2), UC_EBUSY); /* nothing counted */
  assert_int_equal(uc_store_batch_finish(other, &done, d, 2), UC_OK);
  assert_int_equal(uc_store_batch_finish(other, &done, d, 2), UC_EBUSY); /* finished already */
  assert_int_equal(uc_store_batch_get(f->st, 0, t.id, &got), UC_OK);
  assert_int_equal(got.status, UC_BATCH_COMPLETED);
  assert_int_equal(got.counts.rows_done, 7);
  struct usage u = {0};
  assert_int_equal(uc_store_batch_usage_each(f->st, a, 0, on_usage, &u), UC_OK);
  assert_int_equal(u.n, 1);
  expect_row(&u.r[0], k.id, 1000, 4, 0, 3); /* counted once */
  assert_int_equal(uc_store_batch_claim(other, t.id, "live/w1", now_ms(), HOUR_MS, NULL),
                   UC_ENOTFOUND); /* completed: nothing to run */
  struct tasks free_now = {0};
  assert_int_equal(uc_store_batch_stale(f->st, now_ms(), 10, on_task, &free_now), UC_OK);
  assert_int_equal(free_now.n, 0);
  uc_store_close(other);
}

/* The tasks nobody holds, in the order they became free. */
static void test_batch_stale(void **state) {
  struct fx *f = *state;
  int64_t a = account(f, "alpha"), b = account(f, "beta");
  struct uc_key_rec ka = key(f, a, "ka", UC_KEY_ACTIVE), kb = key(f, b, "kb", UC_KEY_ACTIVE);
  struct uc_batch_rec t1 = task(a, ka.id, "one", 100), t2 = task(b, kb.id, "two", 200),
                      t3 = task(a, ka.id, "three", 300), t4 = task(a, ka.id, "four", 400),
                      t5 = task(a, ka.id, "five", 500);
  t4.status = UC_BATCH_COMPLETED;
  struct uc_batch_rec *all[] = {&t5, &t3, &t1, &t4, &t2};
  for (size_t i = 0; i < COUNT(all); i++)
    assert_int_equal(uc_store_batch_insert(f->st, all[i]), UC_OK);
  assert_int_equal(uc_store_batch_claim(f->st, t3.id, "x/w0", now_ms(), HOUR_MS, NULL), UC_OK);
  assert_int_equal(uc_store_batch_claim(f->st, t1.id, "x/w1", now_ms(), 1, NULL), UC_OK);
  struct timespec pause = {0, 20 * 1000000};
  nanosleep(&pause, NULL);
  struct tasks got = {0}, first = {0};
  assert_int_equal(uc_store_batch_stale(f->st, now_ms(), 10, on_task, &got), UC_OK);
  assert_int_equal(got.n, 3);                    /* t3 is held, t4 completed */
  assert_string_equal(got.t[0].project, "two");  /* free since its upload (200 s) */
  assert_string_equal(got.t[1].project, "five"); /* (500 s) */
  assert_string_equal(got.t[2].project, "one");  /* free since its lease ended (now) */
  assert_string_equal(got.t[2].owner, "x/w1");   /* who left it */
  assert_int_equal(uc_store_batch_stale(f->st, now_ms(), 1, on_task, &first), UC_OK);
  assert_int_equal(first.n, 1);
  assert_string_equal(first.t[0].project, "two");
  assert_int_equal(uc_store_batch_release(f->st, t3.id, "x/w0"), UC_OK);
  got.n = 0;
  assert_int_equal(uc_store_batch_stale(f->st, now_ms(), 10, on_task, &got), UC_OK);
  assert_int_equal(got.n, 4);
  assert_string_equal(got.t[1].project, "three"); /* released: free since its upload */
  assert_int_equal(uc_store_batch_delete(f->st, b, t2.id), UC_OK);
  got.n = 0;
  assert_int_equal(uc_store_batch_stale(f->st, now_ms(), 10, on_task, &got), UC_OK);
  assert_int_equal(got.n, 3);
}

struct claimer {
  uc_store *st;
  const char *id;
  char owner[16];
  int rc;
  pthread_barrier_t *go;
};

static void *claim_one(void *arg) {
  struct claimer *c = arg;
  pthread_barrier_wait(c->go);
  c->rc = uc_store_batch_claim(c->st, c->id, c->owner, now_ms(), HOUR_MS, NULL);
  return NULL;
}

/* 8 handles (8 servers) claim each of 10 tasks at once: exactly one wins each. */
static void test_batch_claim_exact_under_concurrency(void **state) {
  struct fx *f = *state;
  int64_t a = account(f, "alpha");
  struct uc_key_rec k = key(f, a, "k", UC_KEY_ACTIVE);
  uc_store *handles[8];
  for (int i = 0; i < 8; i++)
    handles[i] = second(f);
  for (int round = 0; round < 10; round++) {
    struct uc_batch_rec t = task(a, k.id, "race", 100 + round), got;
    pthread_barrier_t go;
    struct claimer c[8];
    pthread_t th[8];
    int won = 0, busy = 0;
    assert_int_equal(uc_store_batch_insert(f->st, &t), UC_OK);
    pthread_barrier_init(&go, NULL, 8);
    for (int i = 0; i < 8; i++) {
      c[i] = (struct claimer){handles[i], t.id, "", UC_OK, &go};
      snprintf(c[i].owner, sizeof c[i].owner, "srv%d/w0", i);
      assert_int_equal(pthread_create(&th[i], NULL, claim_one, &c[i]), 0);
    }
    for (int i = 0; i < 8; i++)
      pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
    for (int i = 0; i < 8; i++) {
      won += c[i].rc == UC_OK;
      busy += c[i].rc == UC_EBUSY;
    }
    assert_int_equal(won, 1);
    assert_int_equal(busy, 7);
    assert_int_equal(uc_store_batch_get(f->st, a, t.id, &got), UC_OK);
    for (int i = 0; i < 8; i++)
      if (c[i].rc == UC_OK)
        assert_string_equal(got.owner, c[i].owner);
  }
  for (int i = 0; i < 8; i++)
    uc_store_close(handles[i]);
}

/* More tasks than one round trip lists (Redis: 1000), added while listing. */
struct pager {
  uc_store *st;
  struct uc_batch_rec t;
  size_t n;
  int64_t last;
  int ordered;
};

static int on_page(void *arg, const struct uc_batch_rec *t) {
  struct pager *p = arg;
  p->ordered &= p->n == 0 || t->created_at <= p->last;
  p->last = t->created_at;
  if (p->n++ == 10) { /* a task added meanwhile: newer, so not in this listing */
    uc_batch_id_new(p->t.id);
    p->t.created_at = 99999;
    assert_int_equal(uc_store_batch_insert(p->st, &p->t), UC_OK);
  }
  return 0;
}

static void test_batch_each_many(void **state) {
  struct fx *f = *state;
  int64_t a = account(f, "alpha");
  struct uc_key_rec k = key(f, a, "k", UC_KEY_ACTIVE);
  enum { N = 1205 };
  for (int i = 0; i < N; i++) {
    struct uc_batch_rec t = task(a, k.id, "p", 1000 + i / 3); /* three a second */
    assert_int_equal(uc_store_batch_insert(f->st, &t), UC_OK);
  }
  uc_store *other = second(f);
  struct pager p = {other, task(a, k.id, "late", 0), 0, 0, 1};
  assert_int_equal(uc_store_batch_each(f->st, a, on_page, &p), UC_OK);
  assert_int_equal(p.n, N); /* each once; the one added meanwhile is newer than the cursor */
  assert_true(p.ordered);
  p.n = 0;
  assert_int_equal(uc_store_batch_each(f->st, 0, on_page, &p), UC_OK);
  assert_int_equal(p.n, N + 1);
  assert_true(p.ordered);
  uc_store_close(other);
}

/* ---- audit ---- */

static void test_audit(void **state) {
  struct fx *f = *state;
  int64_t a = account(f, "alpha"), b = account(f, "beta");
  struct uc_key_rec k = key(f, a, "ops", UC_KEY_ADMIN);
  assert_int_equal(uc_store_audit_add(f->st, a, 0, "lists.add", "{\"n\":1}"), UC_OK);
  assert_int_equal(uc_store_audit_add(f->st, a, k.id, "keys.create", "{\"n\":2}"), UC_OK);
  assert_int_equal(uc_store_audit_add(f->st, b, 0, "bans.unban", "{\"n\":3}"), UC_OK);
  assert_int_equal(uc_store_audit_add(f->st, a, 0, "bans.unban_all", NULL), UC_OK);
  struct audits all = {0}, two = {0}, of_b = {0};
  assert_int_equal(uc_store_audit_each(f->st, a, 10, on_audit, &all), UC_OK);
  assert_int_equal(all.n, 3);
  assert_string_equal(all.r[0].action, "bans.unban_all"); /* newest first */
  assert_string_equal(all.r[0].detail, "{}");
  assert_string_equal(all.r[1].action, "keys.create");
  assert_int_equal(all.r[1].key_id, k.id);
  assert_string_equal(all.r[1].detail, "{\"n\":2}");
  assert_string_equal(all.r[2].action, "lists.add");
  assert_int_equal(all.r[2].key_id, 0); /* the CLI */
  assert_true(all.r[0].id > all.r[1].id && all.r[1].id > all.r[2].id);
  for (size_t i = 0; i < all.n; i++) {
    assert_int_equal(all.r[i].account_id, a);
    near_now(all.r[i].at);
  }
  assert_int_equal(uc_store_audit_each(f->st, a, 2, on_audit, &two), UC_OK);
  assert_int_equal(two.n, 2); /* the limit keeps the newest */
  assert_string_equal(two.r[1].action, "keys.create");
  assert_int_equal(uc_store_audit_each(f->st, b, 10, on_audit, &of_b), UC_OK);
  assert_int_equal(of_b.n, 1);
  assert_string_equal(of_b.r[0].detail, "{\"n\":3}");
}

/* ---- each stops when its callback says so ---- */

static int stop_account(void *arg, const struct uc_account_rec *a) {
  return (void)a, ++*(int *)arg;
}
static int stop_key(void *arg, const struct uc_key_rec *k) {
  return (void)k, ++*(int *)arg;
}
static int stop_usage(void *arg, const struct uc_usage_row *u) {
  return (void)u, ++*(int *)arg;
}
static int stop_list(void *arg, const struct uc_list_rec *l) {
  return (void)l, ++*(int *)arg;
}
static int stop_ban(void *arg, const struct uc_ban_rec *b) {
  return (void)b, ++*(int *)arg;
}
static int stop_audit(void *arg, const struct uc_audit_rec *a) {
  return (void)a, ++*(int *)arg;
}
static int stop_change(void *arg, const struct uc_change *c) {
  return (void)c, ++*(int *)arg;
}

/* Two rows of everything; every each call is stopped after the first. */
static void fill_twice(struct fx *f, int64_t a, struct uc_key_rec *k) {
  account(f, "beta");
  k[0] = key(f, a, "k0", UC_KEY_ACTIVE), k[1] = key(f, a, "k1", UC_KEY_ACTIVE);
  struct uc_usage_delta d[] = {{k[0].id, DAY, UC_WHITE, 1, 1}, {k[1].id, DAY, UC_WHITE, 1, 1}};
  struct uc_ban_rec b[] = {ban(a, "192.0.2.1", 1, 0, 1), ban(a, "192.0.2.2", 1, 0, 1)};
  assert_int_equal(uc_store_usage_add(f->st, d, 2), UC_OK);
  assert_int_equal(uc_store_ban_put(f->st, b, 2), UC_OK);
  assert_int_equal(uc_store_list_add(f->st, a, UC_BLACK, "a.example"), UC_OK);
  assert_int_equal(uc_store_list_add(f->st, a, UC_BLACK, "b.example"), UC_OK);
  assert_int_equal(uc_store_audit_add(f->st, a, 0, "x", "{}"), UC_OK);
  assert_int_equal(uc_store_audit_add(f->st, a, 0, "y", "{}"), UC_OK);
}

static void test_each_stops(void **state) {
  struct fx *f = *state;
  int64_t a = account(f, "alpha");
  struct uc_key_rec k[2];
  uint64_t cursor = 0;
  assert_int_equal(uc_store_changes(f->st, &cursor, NULL, NULL), UC_OK);
  fill_twice(f, a, k);
  int n[7] = {0};
  assert_int_equal(uc_store_account_each(f->st, stop_account, &n[0]), UC_OK);
  assert_int_equal(uc_store_key_each(f->st, a, stop_key, &n[1]), UC_OK);
  assert_int_equal(uc_store_usage_each(f->st, a, 0, stop_usage, &n[2]), UC_OK);
  assert_int_equal(uc_store_list_each(f->st, a, stop_list, &n[3]), UC_OK);
  assert_int_equal(uc_store_ban_each(f->st, a, stop_ban, &n[4]), UC_OK);
  assert_int_equal(uc_store_audit_each(f->st, a, 10, stop_audit, &n[5]), UC_OK);
  uc_store_ban_delete(f->st, a, "192.0.2.1");
  uc_store_ban_delete(f->st, a, "192.0.2.2");
  assert_int_equal(uc_store_changes(f->st, &cursor, stop_change, &n[6]), UC_OK);
  for (int i = 0; i < 7; i++)
    assert_int_equal(n[i], 1);
  struct changes rest = {0}; /* the cursor stopped after the one seen */
  assert_int_equal(uc_store_changes(f->st, &cursor, on_change, &rest), UC_OK);
  assert_int_equal(rest.n, 1);
  assert_string_equal(rest.r[0].ip, "192.0.2.2");
}

/* ---- the RDAP cache ---- */

static struct uc_rdap_rec rdap_rec(const char *domain, enum uc_rdap_status st, unsigned created,
                                   int64_t checked, int64_t expires) {
  struct uc_rdap_rec r = {
      .status = st, .created = created, .checked_at = checked, .expires_at = expires};
  snprintf(r.domain, sizeof r.domain, "%s", domain);
  return r;
}

struct rdap_rows {
  struct uc_rdap_rec r[8];
  int n;
};

static int on_rdap(void *arg, const struct uc_rdap_rec *r) {
  struct rdap_rows *x = arg;
  if (x->n < 8)
    x->r[x->n++] = *r;
  return 0;
}

static void test_rdap_put_get(void **state) {
  struct fx *f = *state;
  struct uc_rdap_rec got, r = rdap_rec("example.com", UC_RDAP_FOUND, 10000, 100, 200);
  assert_int_equal(uc_store_rdap_get(f->st, "example.com", &got), UC_ENOTFOUND);
  assert_int_equal(uc_store_rdap_put(f->st, &r), UC_OK);
  assert_int_equal(uc_store_rdap_get(f->st, "example.com", &got), UC_OK);
  assert_string_equal(got.domain, "example.com");
  assert_int_equal(got.status, UC_RDAP_FOUND);
  assert_int_equal(got.created, 10000);
  assert_int_equal(got.checked_at, 100);
  assert_int_equal(got.expires_at, 200);
  /* a newer lookup replaces it; an older one does not */
  r = rdap_rec("example.com", UC_RDAP_NOT_FOUND, 0, 150, 160);
  assert_int_equal(uc_store_rdap_put(f->st, &r), UC_OK);
  r = rdap_rec("example.com", UC_RDAP_FAILED, 0, 120, 130);
  assert_int_equal(uc_store_rdap_put(f->st, &r), UC_OK);
  assert_int_equal(uc_store_rdap_get(f->st, "example.com", &got), UC_OK);
  assert_int_equal(got.status, UC_RDAP_NOT_FOUND);
  assert_int_equal(got.created, 0);
  assert_int_equal(got.checked_at, 150);
  /* a failure never replaces a found date: it only says when to look again */
  r = rdap_rec("kept.com", UC_RDAP_FOUND, 777, 100, 200);
  assert_int_equal(uc_store_rdap_put(f->st, &r), UC_OK);
  r = rdap_rec("kept.com", UC_RDAP_FAILED, 0, 300, 310);
  assert_int_equal(uc_store_rdap_put(f->st, &r), UC_OK);
  assert_int_equal(uc_store_rdap_get(f->st, "kept.com", &got), UC_OK);
  assert_int_equal(got.status, UC_RDAP_FOUND);
  assert_int_equal(got.created, 777);
  assert_int_equal(got.expires_at, 310);
  /* every status keeps its name */
  for (int st = UC_RDAP_FOUND; st <= UC_RDAP_FAILED; st++) {
    r = rdap_rec("each.net", (enum uc_rdap_status)st, st == UC_RDAP_FOUND ? 5 : 0, 300 + st, 400);
    assert_int_equal(uc_store_rdap_put(f->st, &r), UC_OK);
    assert_int_equal(uc_store_rdap_get(f->st, "each.net", &got), UC_OK);
    assert_int_equal(got.status, st);
  }
  /* seen by another process */
  uc_store *other = second(f);
  assert_int_equal(uc_store_rdap_get(other, "example.com", &got), UC_OK);
  uc_store_close(other);
}

static void test_rdap_each_and_trim(void **state) {
  struct fx *f = *state;
  struct uc_rdap_rec r[] = {rdap_rec("a.com", UC_RDAP_FOUND, 1, 10, 1000),
                            rdap_rec("b.com", UC_RDAP_FAILED, 0, 30, 500),
                            rdap_rec("c.com", UC_RDAP_FOUND, 3, 20, 100),
                            rdap_rec("d.com", UC_RDAP_NO_SERVICE, 0, 40, 2000)};
  for (size_t i = 0; i < COUNT(r); i++)
    assert_int_equal(uc_store_rdap_put(f->st, &r[i]), UC_OK);
  struct rdap_rows rows = {0};
  assert_int_equal(uc_store_rdap_each(f->st, 400, 10, on_rdap, &rows), UC_OK);
  assert_int_equal(rows.n, 3);                    /* c.com expired at 100 */
  assert_string_equal(rows.r[0].domain, "d.com"); /* most recently checked first */
  assert_string_equal(rows.r[1].domain, "b.com");
  assert_string_equal(rows.r[2].domain, "a.com");
  rows.n = 0;
  assert_int_equal(uc_store_rdap_each(f->st, 0, 2, on_rdap, &rows), UC_OK);
  assert_int_equal(rows.n, 2); /* the limit */
  size_t deleted = 99;
  assert_int_equal(uc_store_rdap_trim(f->st, 600, &deleted), UC_OK);
  assert_int_equal(deleted, 2); /* b.com and c.com */
  struct uc_rdap_rec got;
  assert_int_equal(uc_store_rdap_get(f->st, "b.com", &got), UC_ENOTFOUND);
  assert_int_equal(uc_store_rdap_get(f->st, "a.com", &got), UC_OK);
  assert_int_equal(uc_store_rdap_trim(f->st, 0, NULL), UC_OK);
}

/* ---- version and errors ---- */

static void test_version_follows_other_handles(void **state) {
  struct fx *f = *state;
  uc_store *other = second(f);
  uint64_t v1, same, v2;
  struct uc_account_rec a;
  assert_int_equal(uc_store_version(f->st, &v1), UC_OK);
  assert_int_equal(uc_store_version(f->st, &same), UC_OK);
  assert_true(v1 == same); /* nothing happened */
  assert_int_equal(uc_store_account_create(other, "delta", &a), UC_OK);
  assert_int_equal(uc_store_version(f->st, &v2), UC_OK);
  assert_true(v1 != v2); /* how a server notices the CLI */
  assert_int_equal(uc_store_account_get(f->st, "delta", &a), UC_OK);
  uc_store_close(other);
}

static void test_error_message(void **state) {
  struct fx *f = *state;
  struct uc_account_rec a;
  char buf[256] = "";
  int rc = uc_store_account_get(f->st, "nobody", &a);
  assert_int_equal(rc, UC_ENOTFOUND);
  assert_int_equal(uc_store_error(f->st, rc, buf, sizeof buf), UC_ENOTFOUND);
  assert_true(strlen(buf) > 0);
  char tiny[4] = "xxx";
  assert_int_equal(uc_store_error(f->st, rc, tiny, sizeof tiny), UC_ENOTFOUND);
  assert_int_equal(strlen(tiny), 3); /* cut to the buffer, NUL-terminated */
}

/* ---- SQLite and opening: what is particular to the one file backend ---- */

static char dir[64];

static int dir_setup(void **state) {
  (void)state;
  return temp_dir(dir, sizeof dir) == UC_OK ? 0 : -1;
}

static int dir_teardown(void **state) {
  (void)state;
  rm_tree(dir);
  return 0;
}

#define JUNK ((uc_store *)dir) /* not NULL: a failed open must set *out to NULL */

static int exists(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0;
}

/* Opens url without creating and checks that it is the store holding account "one". */
static void same_store(const char *url, const char *where) {
  uc_store *st = NULL;
  struct uc_account_rec a;
  char err[256];
  assert_int_equal(uc_store_open(url, 0, &st, err, sizeof err), UC_OK);
  assert_string_equal(uc_store_backend(st), "sqlite");
  assert_string_equal(uc_store_where(st), where);
  assert_int_equal(uc_store_account_get(st, "one", &a), UC_OK);
  uc_store_close(st);
}

static void test_open_url_forms(void **state) {
  (void)state;
  char path[128], url[160], cwd[1024], err[256];
  uc_store *st = NULL;
  struct uc_account_rec a;
  snprintf(path, sizeof path, "%s/forms.db", dir);
  assert_int_equal(uc_store_open(path, UC_STORE_CREATE, &st, err, sizeof err), UC_OK);
  assert_int_equal(uc_store_account_create(st, "one", &a), UC_OK);
  uc_store_close(st);
  snprintf(url, sizeof url, "sqlite://%s", path); /* sqlite:///tmp/... */
  same_store(url, path);
  snprintf(url, sizeof url, "sqlite:%s", path);
  same_store(url, path);
  assert_non_null(getcwd(cwd, sizeof cwd));
  assert_int_equal(chdir(dir), 0);
  same_store("sqlite:forms.db", "forms.db"); /* relative to the current directory */
  same_store("forms.db", "forms.db");        /* a plain path */
  same_store("./forms.db", "./forms.db");
  assert_int_equal(uc_store_open("odd:name.db", UC_STORE_CREATE, &st, err, sizeof err), UC_OK);
  assert_string_equal(uc_store_where(st), "odd:name.db"); /* no scheme: a path with a colon */
  uc_store_close(st);
  assert_true(exists("odd:name.db"));
  assert_int_equal(uc_store_open("sqlite:rel/new.db", UC_STORE_CREATE, &st, err, sizeof err),
                   UC_OK);
  uc_store_close(st);
  assert_true(exists("rel/new.db"));
  assert_int_equal(chdir(cwd), 0);
}

static void test_open_unknown_scheme(void **state) {
  (void)state;
  static const char *const bad[] = {"foo://x", "redis2://host:6379/0", "", "sqlite://", "sqlite:"};
  for (size_t i = 0; i < COUNT(bad); i++) {
    uc_store *st = JUNK;
    char err[256] = "";
    if (uc_store_open(bad[i], UC_STORE_CREATE, &st, err, sizeof err) != UC_EINVAL)
      fail_msg("'%s' was not refused as invalid", bad[i]);
    assert_null(st);
    assert_true(strlen(err) > 0);
  }
  uc_store *st = NULL;
  char err[256] = "";
  assert_int_equal(uc_store_open("foo://x", 0, &st, err, sizeof err), UC_EINVAL);
  assert_non_null(strstr(err, "foo"));
  assert_non_null(strstr(err, uc_store_schemes())); /* names the known schemes */
  assert_non_null(strstr(err, "sqlite"));
  char *huge = calloc(UC_STORE_URL_MAX + 16, 1);
  memset(huge, 'a', UC_STORE_URL_MAX + 8);
  assert_int_equal(uc_store_open(huge, UC_STORE_CREATE, &st, err, sizeof err), UC_EINVAL);
  free(huge);
}

static void test_open_missing_is_not_created(void **state) {
  (void)state;
  char parent[96], path[128], url[160], err[256] = "";
  uc_store *st = JUNK;
  snprintf(parent, sizeof parent, "%s/missing", dir);
  snprintf(path, sizeof path, "%s/none.db", parent);
  snprintf(url, sizeof url, "sqlite://%s", path);
  assert_int_equal(uc_store_open(url, 0, &st, err, sizeof err), UC_ENOTFOUND);
  assert_null(st);
  assert_non_null(strstr(err, path)); /* says where it looked */
  assert_false(exists(path));
  assert_false(exists(parent));
  st = JUNK;
  assert_int_equal(uc_store_open(path, 0, &st, err, sizeof err), UC_ENOTFOUND);
  assert_null(st);
  assert_false(exists(path));
}

static void write_file(const char *path, const char *text) {
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  fputs(text, fp);
  fclose(fp);
}

static void test_open_refuses_other_files(void **state) {
  (void)state;
  static const char text[] = "this is not a database, just text long enough to fill a header";
  char path[128], err[256] = "", back[sizeof text + 8] = "";
  snprintf(path, sizeof path, "%s/garbage.db", dir);
  write_file(path, text);
  for (unsigned flags = 0; flags <= UC_STORE_CREATE; flags += UC_STORE_CREATE) {
    uc_store *st = JUNK;
    assert_int_not_equal(uc_store_open(path, flags, &st, err, sizeof err), UC_OK);
    assert_null(st);
    assert_true(strlen(err) > 0);
  }
  FILE *fp = fopen(path, "r");
  assert_non_null(fp);
  assert_non_null(fgets(back, sizeof back, fp));
  fclose(fp);
  assert_string_equal(back, text); /* left as it was */
  uc_store *st = NULL;
  assert_int_not_equal(uc_store_open("/proc/none/x.db", UC_STORE_CREATE, &st, err, sizeof err),
                       UC_OK);
  assert_null(st);
}

static void test_open_refuses_newer_schema(void **state) {
  (void)state;
  char path[128], err[256] = "";
  uc_store *st = NULL;
  sqlite3 *db = NULL;
  snprintf(path, sizeof path, "%s/newer.db", dir);
  assert_int_equal(uc_store_open(path, UC_STORE_CREATE, &st, err, sizeof err), UC_OK);
  uc_store_close(st);
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  assert_int_equal(uc_store_open(path, 0, &st, err, sizeof err), UC_ESTORE);
  assert_null(st);
  assert_non_null(strstr(err, "newer"));
}

struct first_open {
  const char *path;
  pthread_barrier_t *go;
  int rc;
  char err[256];
};

static void *open_new(void *arg) {
  struct first_open *o = arg;
  uc_store *st = NULL;
  pthread_barrier_wait(o->go);
  o->rc = uc_store_open(o->path, UC_STORE_CREATE, &st, o->err, sizeof o->err);
  uc_store_close(st);
  return NULL;
}

/* Two processes (here: connections) creating one new file at once: both
 * open it, and the schema is made once (the second finds it done). */
static void test_concurrent_first_opens(void **state) {
  (void)state;
  for (int round = 0; round < 20; round++) {
    char path[128];
    pthread_barrier_t go;
    pthread_t t[2];
    struct first_open o[2];
    snprintf(path, sizeof path, "%s/first-%d.db", dir, round);
    pthread_barrier_init(&go, NULL, 2);
    for (int i = 0; i < 2; i++) {
      o[i] = (struct first_open){.path = path, .go = &go};
      pthread_create(&t[i], NULL, open_new, &o[i]);
    }
    for (int i = 0; i < 2; i++) {
      pthread_join(t[i], NULL);
      if (o[i].rc != UC_OK)
        fail_msg("round %d: %s", round, o[i].err);
    }
    pthread_barrier_destroy(&go);
  }
}

/* A version 4 file (the feed without bans, keys without a rate limit; only
 * the tables versions 5 and 8 touch, and bans) is upgraded in place: rows, ids
 * and the feed's sequence kept. */
static void test_open_upgrades_v4(void **state) {
  (void)state;
  char path[128], err[256];
  sqlite3 *db = NULL;
  uc_store *st = NULL;
  snprintf(path, sizeof path, "%s/v4.db", dir);
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(
      sqlite3_exec(
          db,
          "CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
          " created_at INTEGER NOT NULL);"
          "CREATE TABLE keys (id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL,"
          " name TEXT NOT NULL, type TEXT NOT NULL, prefix TEXT NOT NULL,"
          " hash BLOB NOT NULL UNIQUE, created_at INTEGER NOT NULL, last_used_at INTEGER,"
          " revoked_at INTEGER);"
          "CREATE TABLE changes (id INTEGER PRIMARY KEY AUTOINCREMENT,"
          " origin INTEGER NOT NULL, at INTEGER NOT NULL, account_id INTEGER NOT NULL,"
          " kind TEXT NOT NULL CHECK (kind IN ('unban','unban_all')), ip TEXT);"
          "CREATE TABLE bans (account_id INTEGER NOT NULL, ip TEXT NOT NULL,"
          " attempts INTEGER NOT NULL, banned_at INTEGER, updated_at INTEGER NOT NULL,"
          " PRIMARY KEY (account_id, ip)) WITHOUT ROWID;"
          "CREATE TABLE usage (key_id INTEGER NOT NULL, day TEXT NOT NULL,"
          " category TEXT NOT NULL CHECK (category IN ('white','grey','black')),"
          " count INTEGER NOT NULL, PRIMARY KEY (key_id, day, category)) WITHOUT ROWID;"
          "INSERT INTO accounts VALUES (1, 'one', 10);"
          "INSERT INTO keys VALUES (3, 1, 'k', 'active', 'ucl_live_abcde', x'00', 10,"
          " NULL, NULL);"
          "INSERT INTO changes(origin, at, account_id, kind, ip) VALUES"
          " (5, unixepoch(), 1, 'unban', '192.0.2.1'), (5, unixepoch(), 1, 'unban_all', NULL);"
          "DELETE FROM changes WHERE kind = 'unban_all';"
          "PRAGMA user_version = 4;",
          NULL, NULL, NULL),
      SQLITE_OK);
  sqlite3_close(db);
  assert_int_equal(uc_store_open(path, 0, &st, err, sizeof err), UC_OK);
  struct keys ks = {0};
  assert_int_equal(uc_store_key_each(st, 1, on_key, &ks), UC_OK);
  assert_int_equal(ks.n, 1);
  assert_int_equal(ks.r[0].id, 3);
  assert_int_equal(ks.r[0].rate_per_second, 0);
  uint64_t cursor = 0;
  assert_int_equal(uc_store_changes(st, &cursor, NULL, NULL), UC_OK);
  struct uc_ban_rec out;
  struct changes seen = {0};
  assert_int_equal(uc_store_ban_hit(st, 1, "192.0.2.9", 1, 0, 100, &out, NULL), UC_OK);
  assert_int_equal(uc_store_changes(st, &cursor, on_change, &seen), UC_OK);
  assert_int_equal(seen.n, 1);
  assert_int_equal(seen.r[0].id, 3); /* id 2, deleted before the upgrade, is never reused */
  assert_int_equal(seen.r[0].kind, UC_CHANGE_BAN); /* the new kind is allowed */
  uc_store_close(st);
}

/* ---- Redis: what is particular to the shared backend ---- */

static void test_redis_url_forms(void **state) {
  (void)state;
  static const struct {
    const char *target, *host, *user, *password, *prefix;
    int port, db;
  } good[] = {
      {"localhost", "localhost", "", "", "uc", 6379, 0},
      {"10.0.0.5:6380/2", "10.0.0.5", "", "", "uc", 6380, 2},
      {":s3cret@redis.internal:7000/1?prefix=shop", "redis.internal", "", "s3cret", "shop", 7000,
       1},
      {"app:p%40ss%3Aw@[::1]:6379/0", "::1", "app", "p@ss:w", "uc", 6379, 0},
      {"[2001:db8::7]", "2001:db8::7", "", "", "uc", 6379, 0},
      {"h/", "h", "", "", "uc", 6379, 0},
      {"h?prefix=a.b-c_d", "h", "", "", "a.b-c_d", 6379, 0},
  };
  static const char *const bad[] = {
      "",     ":6379",   "h:0",    "h:65536",  "h:63x",  "h/x",       "h/-1",
      "[::1", "[::1]x",  "[]:1",   "bad host", "h?db=1", "h?prefix=", "h?prefix=a b",
      "pw@h", "user:@h", ":%zz@h", ":%4@h",    "h:",
  };
  struct uc__redis_url u;
  char err[256];
  for (size_t i = 0; i < COUNT(good); i++) {
    if (uc__redis_url_parse(good[i].target, 0, &u, err, sizeof err) != UC_OK)
      fail_msg("'%s' refused: %s", good[i].target, err);
    assert_string_equal(u.host, good[i].host);
    assert_string_equal(u.user, good[i].user);
    assert_string_equal(u.password, good[i].password);
    assert_string_equal(u.prefix, good[i].prefix);
    assert_int_equal(u.port, good[i].port);
    assert_int_equal(u.db, good[i].db);
  }
  for (size_t i = 0; i < COUNT(bad); i++) {
    err[0] = 0;
    if (uc__redis_url_parse(bad[i], 0, &u, err, sizeof err) != UC_EINVAL)
      fail_msg("'%s' was accepted", bad[i]);
    assert_true(strlen(err) > 0);
  }
}

static void test_url_redact(void **state) {
  (void)state;
  static const char *const cases[][2] = {
      {"redis://:s3cret@10.0.0.5:6379/0", "redis://:***@10.0.0.5:6379/0"},
      {"redis://app:p%40ss@h/1?prefix=x", "redis://app:***@h/1?prefix=x"},
      {"redis://h:6379/0", "redis://h:6379/0"},
      {"sqlite:///var/lib/a@b/store.db", "sqlite:///var/lib/a@b/store.db"},
      {"plain@path.db", "plain@path.db"},
  };
  char out[128];
  for (size_t i = 0; i < COUNT(cases); i++) {
    uc_store_url_redact(cases[i][0], out, sizeof out);
    assert_string_equal(out, cases[i][1]);
  }
}

static void test_rediss_refused(void **state) {
  (void)state;
  uc_store *st = JUNK;
  char err[512] = "", version[32];
  assert_int_equal(uc_store_open("rediss://:pw@127.0.0.1:6379/0", 0, &st, err, sizeof err),
                   UC_EINVAL);
  assert_null(st);
  snprintf(version, sizeof version, "hiredis %d.%d.%d", HIREDIS_MAJOR, HIREDIS_MINOR,
           HIREDIS_PATCH);
  assert_non_null(strstr(err, "TLS"));
  assert_non_null(strstr(err, "hiredis 1.0")); /* what it would take */
  assert_non_null(strstr(err, version));       /* what this build has */
}

static void test_redis_unreachable(void **state) {
  (void)state;
  uc_store *st = JUNK;
  char err[512] = "";
  /* port 1 on loopback: nothing listens there */
  assert_int_equal(uc_store_open("redis://127.0.0.1:1/0", UC_STORE_CREATE, &st, err, sizeof err),
                   UC_EUNAVAILABLE);
  assert_null(st);
  assert_non_null(strstr(err, "127.0.0.1:1"));
}

static void test_redis_missing_store(void **state) {
  (void)state;
  char url[UC_STORE_URL_MAX], err[512] = "";
  uc_store *st = JUNK;
  if (!getenv("UC_TEST_REDIS_URL"))
    skip();
  assert_int_equal(redis_fresh(url, sizeof url), UC_OK);
  assert_int_equal(uc_store_open(url, 0, &st, err, sizeof err), UC_ENOTFOUND);
  assert_null(st);
  assert_non_null(strstr(err, "no store"));
  assert_int_equal(uc_store_open(url, UC_STORE_CREATE, &st, err, sizeof err), UC_OK);
  uc_store_close(st);
  assert_int_equal(uc_store_open(url, 0, &st, err, sizeof err), UC_OK); /* made: found now */
  uc_store_close(st);
  redis_remove(url);
}

/* With requirepass set: the password opens the store and never shows in
 * uc_store_where; a wrong one is refused with Redis's reason. */
static void test_redis_password(void **state) {
  (void)state;
  char url[256], good[UC_STORE_URL_MAX], wrong[UC_STORE_URL_MAX], err[512] = "";
  struct uc__redis_url u;
  uc_store *st = NULL;
  if (!getenv("UC_TEST_REDIS_URL"))
    skip();
  assert_int_equal(redis_fresh(url, sizeof url), UC_OK);
  redisContext *c = redis_admin(url, &u);
  assert_non_null(c);
  freeReplyObject(redisCommand(c, "CONFIG SET requirepass t0p-s3cret"));
  snprintf(good, sizeof good, "redis://:t0p-s3cret@%s", url + strlen("redis://"));
  snprintf(wrong, sizeof wrong, "redis://:nope@%s", url + strlen("redis://"));
  int rc = uc_store_open(good, UC_STORE_CREATE, &st, err, sizeof err);
  char where[UC_STORE_URL_MAX] = "";
  if (rc == UC_OK)
    snprintf(where, sizeof where, "%s", uc_store_where(st));
  uc_store_close(st);
  uc_store *st2 = JUNK;
  char why[512] = "";
  int rc2 = uc_store_open(wrong, 0, &st2, why, sizeof why);
  freeReplyObject(redisCommand(c, "CONFIG SET requirepass %s", ""));
  redisFree(c);
  assert_int_equal(rc, UC_OK);
  assert_null(strstr(where, "t0p-s3cret"));
  assert_non_null(strstr(where, u.host));
  assert_int_not_equal(rc2, UC_OK);
  assert_null(st2);
  assert_true(strstr(why, "WRONGPASS") || strstr(why, "invalid"));
  redis_remove(url);
}

/* Connections killed under the store: one call may fail (UC_EUNAVAILABLE), the next reconnects. */
static void test_redis_reconnects(void **state) {
  (void)state;
  char url[UC_STORE_URL_MAX], err[512], msg[512];
  struct uc__redis_url u;
  struct uc_account_rec a;
  uc_store *st = NULL;
  if (!getenv("UC_TEST_REDIS_URL"))
    skip();
  assert_int_equal(redis_fresh(url, sizeof url), UC_OK);
  assert_int_equal(uc_store_open(url, UC_STORE_CREATE, &st, err, sizeof err), UC_OK);
  assert_int_equal(uc_store_account_create(st, "alpha", &a), UC_OK);
  redisContext *c = redis_admin(url, &u);
  assert_non_null(c);
  freeReplyObject(redisCommand(c, "CLIENT KILL TYPE normal SKIPME yes"));
  redisFree(c);
  int rc = uc_store_account_get(st, "alpha", &a);
  if (rc != UC_OK) {
    assert_int_equal(rc, UC_EUNAVAILABLE);
    uc_store_error(st, rc, msg, sizeof msg);
    assert_non_null(strstr(msg, u.host));
    rc = uc_store_account_get(st, "alpha", &a);
  }
  assert_int_equal(rc, UC_OK);
  uc_store_close(st);
  redis_remove(url);
}

/* Redis forgot its scripts (a restart, SCRIPT FLUSH): EVALSHA says NOSCRIPT,
 * the store sends the script itself and goes on. */
static void test_redis_script_cache_lost(void **state) {
  (void)state;
  char url[256], err[512];
  struct uc__redis_url u;
  struct uc_account_rec a;
  uc_store *st = NULL;
  if (!getenv("UC_TEST_REDIS_URL"))
    skip();
  assert_int_equal(redis_fresh(url, sizeof url), UC_OK);
  assert_int_equal(uc_store_open(url, UC_STORE_CREATE, &st, err, sizeof err), UC_OK);
  assert_int_equal(uc_store_account_create(st, "alpha", &a), UC_OK);
  redisContext *c = redis_admin(url, &u);
  assert_non_null(c);
  freeReplyObject(redisCommand(c, "SCRIPT FLUSH"));
  redisFree(c);
  assert_int_equal(uc_store_account_create(st, "beta", &a), UC_OK);
  assert_int_equal(uc_store_account_get(st, "alpha", &a), UC_OK);
  uc_store_close(st);
  redis_remove(url);
}

/* A store of schema 5 (before the RDAP cache) gains it when opened, its data kept. */
static void test_upgrade_from_schema_5(void **state) {
  (void)state;
  char path[128], err[256];
  uc_store *st = NULL;
  sqlite3 *db = NULL;
  struct uc_account_rec a;
  snprintf(path, sizeof path, "%s/v5.db", dir);
  assert_int_equal(uc_store_open(path, UC_STORE_CREATE, &st, err, sizeof err), UC_OK);
  assert_int_equal(uc_store_account_create(st, "kept", &a), UC_OK);
  uc_store_close(st);
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db,
                                "DROP TABLE rdap; DROP TABLE batch_tasks; DROP TABLE batch_usage; "
                                "PRAGMA user_version = 5",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(db);
  assert_int_equal(uc_store_open(path, 0, &st, err, sizeof err), UC_OK);
  struct uc_rdap_rec r = {.status = UC_RDAP_FOUND, .created = 7, .checked_at = 1, .expires_at = 2};
  snprintf(r.domain, sizeof r.domain, "upgraded.com");
  assert_int_equal(uc_store_rdap_put(st, &r), UC_OK);
  assert_int_equal(uc_store_account_get(st, "kept", &a), UC_OK);
  uc_store_close(st);
}

/* A version 8 file (usage without "banned") is upgraded in place, its counts kept. */
static void test_open_upgrades_usage_to_v9(void **state) {
  (void)state;
  char path[128], err[256] = "";
  uc_store *st = NULL;
  sqlite3 *db = NULL;
  snprintf(path, sizeof path, "%s/v8-usage.db", dir);
  assert_int_equal(uc_store_open(path, UC_STORE_CREATE, &st, err, sizeof err), UC_OK);
  struct uc_account_rec acc;
  struct uc_key_rec k;
  char text[UC_KEY_MAX + 1];
  assert_int_equal(uc_store_account_create(st, "old", &acc), UC_OK);
  assert_int_equal(uc_store_key_create(st, acc.id, "k", UC_KEY_ACTIVE, &k, text), UC_OK);
  uc_store_close(st);
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK); /* back to the version 8 table */
  assert_int_equal(sqlite3_exec(db,
                                "DROP TABLE usage; CREATE TABLE usage (key_id INTEGER NOT NULL "
                                "REFERENCES keys(id), day TEXT NOT NULL, category TEXT NOT NULL "
                                "CHECK (category IN ('white','grey','black')), count INTEGER NOT "
                                "NULL, PRIMARY KEY (key_id, day, category)) WITHOUT ROWID;"
                                "INSERT INTO usage VALUES (1, '2024-03-18', 'black', 3);"
                                "PRAGMA user_version = 8",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(db);
  assert_int_equal(uc_store_open(path, 0, &st, err, sizeof err), UC_OK);
  struct uc_usage_delta d = {k.id, DAY, UC_USAGE_BANNED, 2, 1};
  assert_int_equal(uc_store_usage_add(st, &d, 1), UC_OK);
  struct usage u = {0};
  assert_int_equal(uc_store_usage_each(st, acc.id, 0, on_usage, &u), UC_OK);
  assert_int_equal(u.n, 1);
  expect_row(&u.r[0], k.id, DAY, 0, 0, 3);
  assert_int_equal(u.r[0].count[UC_USAGE_BANNED], 2);
  uc_store_close(st);
}

struct other_thread {
  uc_store *st;
  char msg[256];
};

static void *read_error(void *arg) {
  struct other_thread *o = arg;
  uc_store_error(o->st, UC_ESTORE, o->msg, sizeof o->msg);
  return NULL;
}

/* A failure of SQLite itself: its message names the file; it is this thread's and this call's. */
static void test_sqlite_error_message(void **state) {
  (void)state;
  char path[128], err[256], msg[256];
  uc_store *st = NULL;
  snprintf(path, sizeof path, "%s/errors.db", dir);
  assert_int_equal(uc_store_open(path, UC_STORE_CREATE, &st, err, sizeof err), UC_OK);
  struct uc_key_rec k = {.account_id = 4242, .type = UC_KEY_ACTIVE, .created_at = 1};
  snprintf(k.name, sizeof k.name, "orphan");
  int rc = uc_store_key_insert(st, &k); /* no such account: a foreign key fails */
  assert_int_equal(rc, UC_ESTORE);
  assert_int_equal(uc_store_error(st, rc, msg, sizeof msg), UC_ESTORE);
  assert_non_null(strstr(msg, path));
  assert_non_null(strstr(msg, "FOREIGN KEY"));
  struct other_thread o = {st, ""};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, read_error, &o), 0);
  pthread_join(t, NULL);
  assert_string_equal(o.msg, uc_strerror(UC_ESTORE)); /* not another thread's */
  struct uc_account_rec a;
  rc = uc_store_account_get(st, "nobody", &a);
  uc_store_error(st, rc, msg, sizeof msg);
  assert_string_equal(msg, uc_strerror(UC_ENOTFOUND)); /* not an earlier call's */
  uc_store_close(st);
}

/* ---- secrets and alias memory ---- */

static void test_secret(void **state) {
  struct fx *f = *state;
  uint8_t a[32], b[32], c[32], zero[32] = {0};
  assert_int_equal(uc_store_secret(f->st, "one", a), UC_OK);
  assert_memory_not_equal(a, zero, 32); /* random */
  assert_int_equal(uc_store_secret(f->st, "one", b), UC_OK);
  assert_memory_equal(a, b, 32); /* made once, the same ever after */
  assert_int_equal(uc_store_secret(f->st, "two", c), UC_OK);
  assert_memory_not_equal(a, c, 32);
  uc_store *other = second(f); /* every process using the store gets the same */
  assert_int_equal(uc_store_secret(other, "one", b), UC_OK);
  assert_memory_equal(a, b, 32);
  uc_store_close(other);
}

struct aliases_seen {
  struct uc_alias_rec r[16];
  size_t n;
};

static int collect_alias(void *arg, const struct uc_alias_rec *a) {
  struct aliases_seen *c = arg;
  if (c->n < 16)
    c->r[c->n++] = *a;
  return 0;
}

static void test_alias_memory(void **state) {
  struct fx *f = *state;
  uint8_t m1[UC_ALIAS_HASH];
  struct aliases_seen got = {0};
  int64_t t = (int64_t)time(NULL) - 10000; /* recent: older ones may expire (Redis TTL) */
  struct uc_alias_rec recs[] = {alias(1, 0xA1, 0x01, t + 1000), alias(1, 0xA1, 0x02, t + 2000),
                                alias(1, 0xB2, 0x01, t + 3000), alias(2, 0xA1, 0x01, t + 4000)};
  memset(m1, 0xA1, sizeof m1);
  assert_int_equal(uc_store_alias_put(f->st, recs, COUNT(recs)), UC_OK);
  assert_int_equal(uc_store_alias_each(f->st, 1, m1, 0, collect_alias, &got), UC_OK);
  assert_int_equal(got.n, 2); /* one account's spellings of one mailbox */
  got.n = 0;
  assert_int_equal(uc_store_alias_each(f->st, 1, m1, t + 1500, collect_alias, &got), UC_OK);
  assert_int_equal(got.n, 1); /* since */
  assert_int_equal(got.r[0].spelling[0], 0x02);
  struct uc_alias_rec older = alias(1, 0xA1, 0x02, t + 1200),
                      newer = alias(1, 0xA1, 0x01, t + 5000);
  assert_int_equal(uc_store_alias_put(f->st, &older, 1), UC_OK); /* last_seen only forward */
  assert_int_equal(uc_store_alias_put(f->st, &newer, 1), UC_OK);
  got.n = 0;
  assert_int_equal(uc_store_alias_each(f->st, 0, NULL, 0, collect_alias, &got), UC_OK);
  assert_int_equal(got.n, 4); /* every row, newest first */
  assert_true(got.r[0].last_seen == t + 5000 && got.r[3].last_seen == t + 2000);
  size_t deleted = 0;
  assert_int_equal(uc_store_alias_trim(f->st, t + 3500, &deleted), UC_OK);
  assert_int_equal(deleted, 2); /* 2000 and 3000 went; 4000 and 5000 stay */
  got.n = 0;
  assert_int_equal(uc_store_alias_each(f->st, 0, NULL, 0, collect_alias, &got), UC_OK);
  assert_int_equal(got.n, 2);
  assert_int_equal(uc_store_alias_put(f->st, NULL, 0), UC_OK);
}

#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)

int main(void) {
  const struct CMUnitTest conformance[] = {
      T(test_backend_identity),
      T(test_accounts),
      T(test_key_create),
      T(test_key_insert),
      T(test_key_each),
      T(test_key_get_and_revoke),
      T(test_key_update),
      T(test_key_touch),
      T(test_usage_add_sums),
      T(test_usage_each_filters),
      T(test_usage_banned_outcome),
      T(test_settings),
      T(test_ban_page),
      T(test_list_add_remove),
      T(test_list_each_order),
      T(test_list_replace),
      T(test_list_replace_all_or_nothing),
      T(test_ban_put_get_each),
      T(test_ban_put_never_clears_a_ban),
      T(test_ban_put_empty_removes_counting_row),
      T(test_ban_hit_counts_then_bans),
      T(test_ban_hit_lifts_old_bans),
      T(test_ban_hit_lower_threshold),
      T(test_ban_hit_exact_under_concurrency),
      T(test_ban_delete),
      T(test_changes_from_now),
      T(test_changes_in_order),
      T(test_ban_hit_feeds_ban),
      T(test_secret_each_and_put),
      T(test_alias_order_and_trim),
      T(test_put_rows),
      T(test_key_rate_limit),
      T(test_rate_take),
      T(test_rate_take_exact_under_concurrency),
      T(test_copy),
      T(test_batch_insert_get_update),
      T(test_batch_each_and_delete),
      T(test_batch_usage_apart),
      T(test_batch_claim_renew_release),
      T(test_batch_takeover_after_the_lease),
      T(test_batch_stale),
      T(test_batch_claim_exact_under_concurrency),
      T(test_batch_each_many),
      T(test_audit),
      T(test_each_stops),
      T(test_rdap_put_get),
      T(test_activity_add_read),
      T(test_activity_bounded),
      T(test_rdap_each_and_trim),
      T(test_version_follows_other_handles),
      T(test_error_message),
      T(test_secret),
      T(test_alias_memory),
  };
  const struct CMUnitTest sqlite[] = {
      cmocka_unit_test(test_open_url_forms),
      cmocka_unit_test(test_open_unknown_scheme),
      cmocka_unit_test(test_open_missing_is_not_created),
      cmocka_unit_test(test_open_refuses_other_files),
      cmocka_unit_test(test_open_refuses_newer_schema),
      cmocka_unit_test(test_concurrent_first_opens),
      cmocka_unit_test(test_upgrade_from_schema_5),
      cmocka_unit_test(test_open_upgrades_usage_to_v9),
      cmocka_unit_test(test_sqlite_error_message),
      cmocka_unit_test(test_open_upgrades_v4),
  };
  const struct CMUnitTest redis[] = {
      cmocka_unit_test(test_redis_url_forms),         cmocka_unit_test(test_rediss_refused),
      cmocka_unit_test(test_redis_unreachable),       cmocka_unit_test(test_redis_missing_store),
      cmocka_unit_test(test_redis_password),          cmocka_unit_test(test_redis_reconnects),
      cmocka_unit_test(test_redis_script_cache_lost), cmocka_unit_test(test_url_redact),
  };
  int failed = 0;
  for (size_t i = 0; i < COUNT(backends); i++) {
    be = &backends[i];
    if (be->env && !getenv(be->env)) {
      printf("[  SKIPPED ] store backend %s: %s is not set\n", be->name, be->env);
      continue;
    }
    failed += cmocka_run_group_tests_name(be->name, conformance, NULL, NULL);
  }
  failed +=
      cmocka_run_group_tests_name("store: sqlite and opening", sqlite, dir_setup, dir_teardown);
  failed += cmocka_run_group_tests_name("store: redis", redis, NULL, NULL);
  return failed != 0;
}
