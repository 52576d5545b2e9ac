/* The embedded store: one SQLite file in WAL mode (schema: docs/internals/store.md). */
#include "store_int.h"
#include "uc/error.h"
#include "uc/lists.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SCHEMA_VERSION 4

static const char schema_v1[] =
    "CREATE TABLE accounts ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE keys ("
    "  id INTEGER PRIMARY KEY,"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
    "  name TEXT NOT NULL,"
    "  type TEXT NOT NULL CHECK (type IN ('active','sandbox','admin')),"
    "  prefix TEXT NOT NULL,"
    "  hash BLOB NOT NULL UNIQUE,"
    "  created_at INTEGER NOT NULL,"
    "  last_used_at INTEGER,"
    "  revoked_at INTEGER);"
    "CREATE INDEX keys_account ON keys(account_id);"
    "CREATE TABLE usage ("
    "  key_id INTEGER NOT NULL REFERENCES keys(id),"
    "  day TEXT NOT NULL,"
    "  category TEXT NOT NULL CHECK (category IN ('white','grey','black')),"
    "  count INTEGER NOT NULL,"
    "  PRIMARY KEY (key_id, day, category)) WITHOUT ROWID;";

/* Version 2: account settings, domain lists, bans, audit. */
static const char schema_v2[] = "CREATE TABLE settings ("
                                "  account_id INTEGER PRIMARY KEY REFERENCES accounts(id),"
                                "  data TEXT NOT NULL);"
                                "CREATE TABLE domain_lists ("
                                "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
                                "  color TEXT NOT NULL CHECK (color IN ('white','grey','black')),"
                                "  domain TEXT NOT NULL,"
                                "  added_at INTEGER NOT NULL,"
                                "  PRIMARY KEY (account_id, color, domain)) WITHOUT ROWID;"
                                "CREATE TABLE bans ("
                                "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
                                "  ip TEXT NOT NULL,"
                                "  attempts INTEGER NOT NULL,"
                                "  banned_at INTEGER,"
                                "  updated_at INTEGER NOT NULL,"
                                "  PRIMARY KEY (account_id, ip)) WITHOUT ROWID;"
                                "CREATE TABLE audit ("
                                "  id INTEGER PRIMARY KEY,"
                                "  account_id INTEGER NOT NULL,"
                                "  key_id INTEGER,"
                                "  at INTEGER NOT NULL,"
                                "  action TEXT NOT NULL,"
                                "  detail TEXT NOT NULL);"
                                "CREATE INDEX audit_account ON audit(account_id, at);";

/* Version 3: the change feed (unbans by other processes; docs/internals/bans.md). */
static const char schema_v3[] =
    "CREATE TABLE changes ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT," /* never reused, even after trimming */
    "  origin INTEGER NOT NULL,"
    "  at INTEGER NOT NULL,"
    "  account_id INTEGER NOT NULL,"
    "  kind TEXT NOT NULL CHECK (kind IN ('unban','unban_all')),"
    "  ip TEXT);";

/* Version 4: installation secrets; alias-chain memory (keyed hashes only). */
static const char schema_v4[] = "CREATE TABLE secrets ("
                                "  name TEXT PRIMARY KEY,"
                                "  value BLOB NOT NULL) WITHOUT ROWID;"
                                "CREATE TABLE aliases ("
                                "  account_id INTEGER NOT NULL,"
                                "  mailbox BLOB NOT NULL,"
                                "  spelling BLOB NOT NULL,"
                                "  last_seen INTEGER NOT NULL,"
                                "  PRIMARY KEY (account_id, mailbox, spelling)) WITHOUT ROWID;"
                                "CREATE INDEX aliases_seen ON aliases(last_seen);";

struct sq {
  sqlite3 *db;
  pthread_mutex_t lock; /* one connection, one statement at a time */
  int64_t origin;       /* written with our changes, to tell them from others' */
  char path[1024];
};

/* The error of the last statement, as a uc_err; the message is kept for uc_store_error. */
static int fail_db(struct sq *s, int rc) {
  int code = sqlite3_extended_errcode(s->db);
  (void)rc;
  if (code == SQLITE_CONSTRAINT_UNIQUE || code == SQLITE_CONSTRAINT_PRIMARYKEY)
    return UC_EEXISTS;
  int busy = (code & 0xFF) == SQLITE_BUSY || (code & 0xFF) == SQLITE_LOCKED;
  return uc__store_errorf(busy ? UC_EBUSY : UC_ESTORE, "sqlite %s: %s", s->path,
                          sqlite3_errmsg(s->db));
}

static int mkdir_parent(const char *path) {
  char dir[1024];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (!slash || slash == dir)
    return 0;
  *slash = 0;
  if (mkdir(dir, 0700) == 0 || errno == EEXIST)
    return 0;
  return -1;
}

static int migrate(struct sq *s, char *err, size_t es) {
  static const char *const steps[SCHEMA_VERSION] = {schema_v1, schema_v2, schema_v3, schema_v4};
  sqlite3_stmt *st = NULL;
  int version = 0;
  if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    version = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  if (version > SCHEMA_VERSION) {
    return uc_errorf(err, es, UC_ESTORE, "database schema %d is newer than this build (%d)",
                     version, SCHEMA_VERSION);
  }
  for (; version < SCHEMA_VERSION; version++) { /* one transaction per step */
    char *msg = NULL;
    size_t size = strlen(steps[version]) + 128;
    char *sql = malloc(size);
    if (!sql)
      return UC_ENOMEM;
    snprintf(sql, size, "BEGIN IMMEDIATE; %s PRAGMA user_version = %d; COMMIT;", steps[version],
             version + 1);
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
    free(sql);
    if (rc != SQLITE_OK) {
      snprintf(err, es, "upgrading the schema to %d: %s", version + 1, msg ? msg : "?");
      sqlite3_free(msg);
      sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
      return UC_ESTORE;
    }
  }
  return UC_OK;
}

static int sq_open(const char *path, unsigned flags, uint64_t origin, void **state, char *err,
                   size_t es) {
  struct sq *s = calloc(1, sizeof *s);
  struct stat sb;
  int rc = UC_ESTORE;
  if (!s)
    return uc_errorf(err, es, UC_ENOMEM, "out of memory");
  snprintf(s->path, sizeof s->path, "%s", path);
  s->origin = (int64_t)(origin >> 1);
  if (!(flags & UC_STORE_CREATE) && stat(path, &sb) != 0) {
    rc = uc_errorf(err, es, UC_ENOTFOUND, "no store at %s", path);
    goto out;
  }
  if ((flags & UC_STORE_CREATE) && mkdir_parent(path) != 0) {
    uc_errorf(err, es, rc, "%s: cannot create its directory: %s", path, strerror(errno));
    goto out;
  }
  if (sqlite3_open_v2(path, &s->db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
                          (flags & UC_STORE_CREATE ? SQLITE_OPEN_CREATE : 0),
                      NULL) != SQLITE_OK) {
    uc_errorf(err, es, rc, "%s: %s", path, s->db ? sqlite3_errmsg(s->db) : "cannot open");
    goto out;
  }
  sqlite3_busy_timeout(s->db, 5000); /* the CLI and the server share the file */
  char *msg = NULL;
  if (sqlite3_exec(s->db,
                   "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                   "PRAGMA foreign_keys=ON;",
                   NULL, NULL, &msg) != SQLITE_OK) {
    uc_errorf(err, es, rc, "%s: %s", path, msg ? msg : "cannot configure");
    sqlite3_free(msg);
    goto out;
  }
  rc = migrate(s, err, es);
out:
  if (rc) {
    sqlite3_close(s->db);
    free(s);
    return rc;
  }
  pthread_mutex_init(&s->lock, NULL);
  *state = s;
  return UC_OK;
}

static void sq_close(void *state) {
  struct sq *s = state;
  if (!s)
    return;
  sqlite3_close(s->db);
  pthread_mutex_destroy(&s->lock);
  free(s);
}

/* Prepares sql under the lock; the caller steps, then calls done(). */
static sqlite3_stmt *prepare(struct sq *s, const char *sql) {
  sqlite3_stmt *st = NULL;
  pthread_mutex_lock(&s->lock);
  if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
    fail_db(s, SQLITE_ERROR);
    pthread_mutex_unlock(&s->lock);
    return NULL;
  }
  return st;
}

static void done(struct sq *s, sqlite3_stmt *st) {
  sqlite3_finalize(st);
  pthread_mutex_unlock(&s->lock);
}

/* Steps a prepared write once and releases it: UC_OK; UC_ENOTFOUND when
 * must_change and no row changed; else the store's error. */
static int step_write(struct sq *s, sqlite3_stmt *st, int must_change) {
  int rc = sqlite3_step(st);
  int ret = rc != SQLITE_DONE                        ? fail_db(s, rc)
            : must_change && !sqlite3_changes(s->db) ? UC_ENOTFOUND
                                                     : UC_OK;
  done(s, st);
  return ret;
}

static void copy_text(char *dst, size_t size, sqlite3_stmt *st, int col) {
  const unsigned char *t = sqlite3_column_text(st, col);
  snprintf(dst, size, "%s", t ? (const char *)t : "");
}

static void read_account(sqlite3_stmt *st, struct uc_account_rec *a) {
  a->id = sqlite3_column_int64(st, 0);
  copy_text(a->name, sizeof a->name, st, 1);
  a->created_at = sqlite3_column_int64(st, 2);
}

static int sq_account_create(void *state, const char *name, struct uc_account_rec *out) {
  struct sq *s = state;
  sqlite3_stmt *st = prepare(s, "INSERT INTO accounts(name, created_at) VALUES (?, unixepoch()) "
                                "RETURNING id, name, created_at");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  int ret = rc == SQLITE_ROW ? (read_account(st, out), UC_OK) : fail_db(s, rc);
  done(s, st);
  return ret;
}

static int sq_account_get(void *state, const char *name, struct uc_account_rec *out) {
  struct sq *s = state;
  sqlite3_stmt *st = prepare(s, "SELECT id, name, created_at FROM accounts WHERE name = ?");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  int ret = rc == SQLITE_ROW    ? (read_account(st, out), UC_OK)
            : rc == SQLITE_DONE ? UC_ENOTFOUND
                                : fail_db(s, rc);
  done(s, st);
  return ret;
}

static int sq_account_each(void *state, uc_account_cb cb, void *arg) {
  struct sq *s = state;
  struct uc_account_rec a;
  sqlite3_stmt *st = prepare(s, "SELECT id, name, created_at FROM accounts ORDER BY id");
  if (!st)
    return UC_ESTORE;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    read_account(st, &a);
    if (cb(arg, &a))
      break;
  }
  int ret = rc == SQLITE_ROW || rc == SQLITE_DONE ? UC_OK : fail_db(s, rc);
  done(s, st);
  return ret;
}

#define BAN_COLS "account_id, ip, attempts, coalesce(banned_at, 0), updated_at"
static void read_ban(sqlite3_stmt *st, struct uc_ban_rec *b);

#define KEY_COLS                                                                                   \
  "id, account_id, name, type, prefix, hash, created_at, "                                         \
  "coalesce(last_used_at, 0), coalesce(revoked_at, 0)"

static void read_key(sqlite3_stmt *st, struct uc_key_rec *k) {
  char type[16];
  k->id = sqlite3_column_int64(st, 0);
  k->account_id = sqlite3_column_int64(st, 1);
  copy_text(k->name, sizeof k->name, st, 2);
  copy_text(type, sizeof type, st, 3);
  if (uc_key_type_parse(type, &k->type) != UC_OK)
    k->type = UC_KEY_SANDBOX; /* unreachable: CHECK constraint */
  copy_text(k->prefix, sizeof k->prefix, st, 4);
  memset(k->hash, 0, sizeof k->hash);
  if (sqlite3_column_bytes(st, 5) == UC_KEY_HASH_LEN)
    memcpy(k->hash, sqlite3_column_blob(st, 5), UC_KEY_HASH_LEN);
  k->created_at = sqlite3_column_int64(st, 6);
  k->last_used_at = sqlite3_column_int64(st, 7);
  k->revoked_at = sqlite3_column_int64(st, 8);
}

static int sq_key_insert(void *state, struct uc_key_rec *k) {
  struct sq *s = state;
  sqlite3_stmt *st =
      prepare(s, "INSERT INTO keys(account_id, name, type, prefix, hash, created_at) "
                 "VALUES (?, ?, ?, ?, ?, ?) RETURNING id");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_int64(st, 1, k->account_id);
  sqlite3_bind_text(st, 2, k->name, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, uc_key_type_name(k->type), -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, k->prefix, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 5, k->hash, UC_KEY_HASH_LEN, SQLITE_STATIC);
  sqlite3_bind_int64(st, 6, k->created_at);
  int rc = sqlite3_step(st);
  int ret = rc == SQLITE_ROW ? (k->id = sqlite3_column_int64(st, 0), UC_OK) : fail_db(s, rc);
  done(s, st);
  return ret;
}

static int sq_key_each(void *state, int64_t account_id, uc_key_cb cb, void *arg) {
  struct sq *s = state;
  struct uc_key_rec k;
  sqlite3_stmt *st = prepare(s, "SELECT " KEY_COLS " FROM keys WHERE ?1 = 0 OR account_id = ?1 "
                                "ORDER BY id");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_int64(st, 1, account_id);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    read_key(st, &k);
    if (cb(arg, &k))
      break;
  }
  int ret = rc == SQLITE_ROW || rc == SQLITE_DONE ? UC_OK : fail_db(s, rc);
  done(s, st);
  return ret;
}

static int sq_key_by_hash(void *state, const uint8_t hash[UC_KEY_HASH_LEN],
                          struct uc_key_rec *out) {
  struct sq *s = state;
  sqlite3_stmt *st = prepare(s, "SELECT " KEY_COLS " FROM keys WHERE hash = ?");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_blob(st, 1, hash, UC_KEY_HASH_LEN, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  int ret = rc == SQLITE_ROW    ? (read_key(st, out), UC_OK)
            : rc == SQLITE_DONE ? UC_ENOTFOUND
                                : fail_db(s, rc);
  done(s, st);
  return ret;
}

static int sq_key_revoke(void *state, int64_t account_id, int64_t key_id, int64_t when) {
  struct sq *s = state;
  sqlite3_stmt *st = prepare(s, "UPDATE keys SET revoked_at = ? WHERE id = ? AND account_id = ? "
                                "AND revoked_at IS NULL");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_int64(st, 1, when);
  sqlite3_bind_int64(st, 2, key_id);
  sqlite3_bind_int64(st, 3, account_id);
  return step_write(s, st, 1);
}

static int exec_locked(struct sq *s, const char *sql) {
  return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? UC_OK : fail_db(s, SQLITE_ERROR);
}

/* Ends the caller's BEGIN (lock held): COMMIT when ok; otherwise, or when the
 * commit fails, ROLLBACK and the store's error. */
static int end_tx(struct sq *s, int ok) {
  if (ok && exec_locked(s, "COMMIT") == UC_OK)
    return UC_OK;
  int ret = fail_db(s, SQLITE_ERROR);
  sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  return ret;
}

static int sq_usage_add(void *state, const struct uc_usage_delta *d, size_t n) {
  struct sq *s = state;
  sqlite3_stmt *add = NULL, *touch = NULL;
  pthread_mutex_lock(&s->lock);
  int ret = exec_locked(s, "BEGIN IMMEDIATE");
  if (ret)
    goto out;
  if (sqlite3_prepare_v2(s->db,
                         "INSERT INTO usage(key_id, day, category, count) VALUES (?, ?, ?, ?) "
                         "ON CONFLICT DO UPDATE SET count = count + excluded.count",
                         -1, &add, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(s->db,
                         "UPDATE keys SET last_used_at = max(coalesce(last_used_at, 0), ?) "
                         "WHERE id = ?",
                         -1, &touch, NULL) != SQLITE_OK)
    goto fail;
  for (size_t i = 0; i < n; i++) {
    char day[11];
    uc_date_format(d[i].day, day);
    sqlite3_bind_int64(add, 1, d[i].key_id);
    sqlite3_bind_text(add, 2, day, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(add, 3, uc_category_name(d[i].category), -1, SQLITE_STATIC);
    sqlite3_bind_int64(add, 4, (sqlite3_int64)d[i].count);
    sqlite3_bind_int64(touch, 1, d[i].last_used);
    sqlite3_bind_int64(touch, 2, d[i].key_id);
    if (sqlite3_step(add) != SQLITE_DONE || sqlite3_step(touch) != SQLITE_DONE)
      goto fail;
    sqlite3_reset(add);
    sqlite3_reset(touch);
  }
  ret = end_tx(s, 1);
  goto out;
fail:
  ret = end_tx(s, 0);
out:
  sqlite3_finalize(add);
  sqlite3_finalize(touch);
  pthread_mutex_unlock(&s->lock);
  return ret;
}

static int sq_usage_each(void *state, int64_t account_id, unsigned since_day, uc_usage_cb cb,
                         void *arg) {
  struct sq *s = state;
  char since[11];
  uc_date_format(since_day, since);
  sqlite3_stmt *st = prepare(s, "SELECT u.key_id, u.day, u.category, u.count FROM usage u "
                                "JOIN keys k ON k.id = u.key_id "
                                "WHERE k.account_id = ? AND u.day >= ? ORDER BY u.key_id, u.day");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_int64(st, 1, account_id);
  sqlite3_bind_text(st, 2, since, -1, SQLITE_TRANSIENT);
  struct uc_usage_row row = {0};
  int rc, have = 0, stop = 0;
  while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t key = sqlite3_column_int64(st, 0);
    const char *day = (const char *)sqlite3_column_text(st, 1);
    unsigned d = day ? uc_date_parse(day, strlen(day)) : 0;
    uc_category c;
    if (have && (row.key_id != key || row.day != d))
      stop = cb(arg, &row), have = 0;
    if (!have)
      memset(&row, 0, sizeof row), row.key_id = key, row.day = d, have = 1;
    if (uc_category_parse((const char *)sqlite3_column_text(st, 2), &c) == UC_OK)
      row.count[c] += (uint64_t)sqlite3_column_int64(st, 3);
  }
  if (have && !stop)
    cb(arg, &row);
  int ret = stop || rc == SQLITE_DONE ? UC_OK : fail_db(s, rc);
  done(s, st);
  return ret;
}

static int sq_key_update(void *state, const struct uc_key_rec *k) {
  struct sq *s = state;
  sqlite3_stmt *st = prepare(s, "UPDATE keys SET name = ?, type = ?, prefix = ?, hash = ? "
                                "WHERE id = ? AND account_id = ? AND revoked_at IS NULL");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_text(st, 1, k->name, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, uc_key_type_name(k->type), -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, k->prefix, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 4, k->hash, UC_KEY_HASH_LEN, SQLITE_STATIC);
  sqlite3_bind_int64(st, 5, k->id);
  sqlite3_bind_int64(st, 6, k->account_id);
  return step_write(s, st, 1);
}

static int sq_key_get(void *state, int64_t account_id, int64_t key_id, struct uc_key_rec *out) {
  struct sq *s = state;
  sqlite3_stmt *st = prepare(s, "SELECT " KEY_COLS " FROM keys WHERE id = ? AND account_id = ? "
                                "AND revoked_at IS NULL");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_int64(st, 1, key_id);
  sqlite3_bind_int64(st, 2, account_id);
  int rc = sqlite3_step(st);
  int ret = rc == SQLITE_ROW    ? (read_key(st, out), UC_OK)
            : rc == SQLITE_DONE ? UC_ENOTFOUND
                                : fail_db(s, rc);
  done(s, st);
  return ret;
}

static int sq_key_touch(void *state, int64_t key_id, int64_t when) {
  struct sq *s = state;
  sqlite3_stmt *st = prepare(s, "UPDATE keys SET last_used_at = max(coalesce(last_used_at, 0), ?) "
                                "WHERE id = ?");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_int64(st, 1, when);
  sqlite3_bind_int64(st, 2, key_id);
  return step_write(s, st, 0);
}

static int sq_settings_get(void *state, int64_t account_id, char **json) {
  struct sq *s = state;
  sqlite3_stmt *st = prepare(s, "SELECT data FROM settings WHERE account_id = ?");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_int64(st, 1, account_id);
  int rc = sqlite3_step(st), ret = UC_OK;
  *json = NULL;
  if (rc == SQLITE_ROW) {
    *json = strdup((const char *)sqlite3_column_text(st, 0));
    ret = *json ? UC_OK : UC_ENOMEM;
  } else if (rc != SQLITE_DONE) {
    ret = fail_db(s, rc);
  }
  done(s, st);
  return ret;
}

static int sq_settings_put(void *state, int64_t account_id, const char *json) {
  struct sq *s = state;
  sqlite3_stmt *st = prepare(s, "INSERT INTO settings(account_id, data) VALUES (?, ?) "
                                "ON CONFLICT DO UPDATE SET data = excluded.data");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_int64(st, 1, account_id);
  sqlite3_bind_text(st, 2, json, -1, SQLITE_STATIC);
  return step_write(s, st, 0);
}

static int sq_list_each(void *state, int64_t account_id, uc_list_cb cb, void *arg) {
  struct sq *s = state;
  sqlite3_stmt *st =
      prepare(s, "SELECT account_id, color, domain, added_at FROM domain_lists "
                 "WHERE ?1 = 0 OR account_id = ?1 ORDER BY account_id, color, domain");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_int64(st, 1, account_id);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    struct uc_list_rec l = {sqlite3_column_int64(st, 0), UC_WHITE,
                            (const char *)sqlite3_column_text(st, 2), sqlite3_column_int64(st, 3)};
    uc_category_parse((const char *)sqlite3_column_text(st, 1), &l.color);
    if (cb(arg, &l))
      break;
  }
  int ret = rc == SQLITE_ROW || rc == SQLITE_DONE ? UC_OK : fail_db(s, rc);
  done(s, st);
  return ret;
}

static int sq_list_add(void *state, int64_t account_id, uc_category c, const char *domain) {
  struct sq *s = state;
  sqlite3_stmt *st = prepare(s, "INSERT INTO domain_lists(account_id, color, domain, added_at) "
                                "VALUES (?, ?, ?, unixepoch())");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_int64(st, 1, account_id);
  sqlite3_bind_text(st, 2, uc_category_name(c), -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, domain, -1, SQLITE_STATIC);
  return step_write(s, st, 0);
}

static int sq_list_remove(void *state, int64_t account_id, uc_category c, const char *domain) {
  struct sq *s = state;
  sqlite3_stmt *st = prepare(s, "DELETE FROM domain_lists WHERE account_id = ? AND color = ? "
                                "AND domain = ?");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_int64(st, 1, account_id);
  sqlite3_bind_text(st, 2, uc_category_name(c), -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, domain, -1, SQLITE_STATIC);
  return step_write(s, st, 1);
}

static int sq_list_replace(void *state, int64_t account_id, uc_category c,
                           const char *const *domains, size_t n) {
  struct sq *s = state;
  sqlite3_stmt *del = NULL, *ins = NULL;
  pthread_mutex_lock(&s->lock);
  int ret = exec_locked(s, "BEGIN IMMEDIATE");
  if (ret)
    goto out;
  if (sqlite3_prepare_v2(s->db, "DELETE FROM domain_lists WHERE account_id = ? AND color = ?", -1,
                         &del, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(s->db,
                         "INSERT OR IGNORE INTO domain_lists(account_id, color, domain, "
                         "added_at) VALUES (?, ?, ?, unixepoch())",
                         -1, &ins, NULL) != SQLITE_OK)
    goto fail;
  sqlite3_bind_int64(del, 1, account_id);
  sqlite3_bind_text(del, 2, uc_category_name(c), -1, SQLITE_STATIC);
  if (sqlite3_step(del) != SQLITE_DONE)
    goto fail;
  for (size_t i = 0; i < n; i++) {
    sqlite3_bind_int64(ins, 1, account_id);
    sqlite3_bind_text(ins, 2, uc_category_name(c), -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 3, domains[i], -1, SQLITE_STATIC);
    if (sqlite3_step(ins) != SQLITE_DONE)
      goto fail;
    sqlite3_reset(ins);
  }
  ret = end_tx(s, 1);
  goto out;
fail:
  ret = end_tx(s, 0);
out:
  sqlite3_finalize(del);
  sqlite3_finalize(ins);
  pthread_mutex_unlock(&s->lock);
  return ret;
}

static int sq_ban_each(void *state, int64_t account_id, uc_ban_cb cb, void *arg) {
  struct sq *s = state;
  sqlite3_stmt *st = prepare(s, "SELECT " BAN_COLS " FROM bans WHERE ?1 = 0 OR account_id = ?1 "
                                "ORDER BY account_id, ip");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_int64(st, 1, account_id);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    struct uc_ban_rec b;
    read_ban(st, &b);
    if (cb(arg, &b))
      break;
  }
  int ret = rc == SQLITE_ROW || rc == SQLITE_DONE ? UC_OK : fail_db(s, rc);
  done(s, st);
  return ret;
}

static void read_ban(sqlite3_stmt *st, struct uc_ban_rec *b) {
  memset(b, 0, sizeof *b);
  b->account_id = sqlite3_column_int64(st, 0);
  copy_text(b->ip, sizeof b->ip, st, 1);
  b->attempts = (unsigned)sqlite3_column_int(st, 2);
  b->banned_at = sqlite3_column_int64(st, 3);
  b->updated_at = sqlite3_column_int64(st, 4);
}

static int sq_ban_get(void *state, int64_t account_id, const char *ip, struct uc_ban_rec *out) {
  struct sq *s = state;
  sqlite3_stmt *st = prepare(s, "SELECT " BAN_COLS " FROM bans WHERE account_id = ? AND ip = ?");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_int64(st, 1, account_id);
  sqlite3_bind_text(st, 2, ip, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  int ret = rc == SQLITE_ROW    ? (read_ban(st, out), UC_OK)
            : rc == SQLITE_DONE ? UC_ENOTFOUND
                                : fail_db(s, rc);
  done(s, st);
  return ret;
}

/* With the lock held and a transaction open. */
static int put_one(struct sq *s, sqlite3_stmt *up, sqlite3_stmt *drop, const struct uc_ban_rec *b) {
  sqlite3_stmt *st = b->attempts || b->banned_at ? up : drop;
  sqlite3_bind_int64(st, 1, b->account_id);
  sqlite3_bind_text(st, 2, b->ip, -1, SQLITE_STATIC);
  if (st == up) {
    sqlite3_bind_int(st, 3, (int)b->attempts);
    sqlite3_bind_int64(st, 4, b->banned_at);
    sqlite3_bind_int64(st, 5, b->updated_at);
  }
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? UC_OK : fail_db(s, rc);
}

static int sq_ban_put(void *state, const struct uc_ban_rec *b, size_t n) {
  struct sq *s = state;
  sqlite3_stmt *up = NULL, *drop = NULL;
  pthread_mutex_lock(&s->lock);
  int ret = exec_locked(s, "BEGIN IMMEDIATE");
  if (ret)
    goto out;
  if (sqlite3_prepare_v2(s->db,
                         "INSERT INTO bans(account_id, ip, attempts, banned_at, updated_at) "
                         "VALUES (?, ?, ?, nullif(?, 0), ?) ON CONFLICT DO UPDATE SET "
                         "attempts = excluded.attempts, banned_at = excluded.banned_at, "
                         "updated_at = excluded.updated_at "
                         /* a stored ban is only ever lifted by an unban */
                         "WHERE bans.banned_at IS NULL OR excluded.banned_at IS NOT NULL",
                         -1, &up, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(s->db,
                         "DELETE FROM bans WHERE account_id = ? AND ip = ? AND banned_at IS NULL",
                         -1, &drop, NULL) != SQLITE_OK)
    goto fail;
  for (size_t i = 0; i < n; i++)
    if ((ret = put_one(s, up, drop, &b[i])) != UC_OK)
      goto fail;
  ret = end_tx(s, 1);
  goto out;
fail:
  ret = end_tx(s, 0);
out:
  sqlite3_finalize(up);
  sqlite3_finalize(drop);
  pthread_mutex_unlock(&s->lock);
  return ret;
}

/* One statement, run with the lock held inside a transaction. */
static int run_locked(struct sq *s, const char *sql, sqlite3_stmt **out) {
  return sqlite3_prepare_v2(s->db, sql, -1, out, NULL) == SQLITE_OK ? UC_OK
                                                                    : fail_db(s, SQLITE_ERROR);
}

static int sq_ban_hit(void *state, int64_t account_id, const char *ip, unsigned threshold,
                      unsigned lift_seconds, int64_t now, struct uc_ban_rec *out, int *counted) {
  struct sq *s = state;
  sqlite3_stmt *get = NULL, *up = NULL;
  pthread_mutex_lock(&s->lock);
  int ret = exec_locked(s, "BEGIN IMMEDIATE"); /* read and write as one: exact across processes */
  if (ret)
    goto out;
  if ((ret = run_locked(s, "SELECT " BAN_COLS " FROM bans WHERE account_id = ? AND ip = ?",
                        &get)) != UC_OK)
    goto fail;
  sqlite3_bind_int64(get, 1, account_id);
  sqlite3_bind_text(get, 2, ip, -1, SQLITE_STATIC);
  int rc = sqlite3_step(get);
  if (rc == SQLITE_ROW) {
    read_ban(get, out);
  } else if (rc == SQLITE_DONE) {
    memset(out, 0, sizeof *out);
    out->account_id = account_id;
    snprintf(out->ip, sizeof out->ip, "%s", ip);
  } else {
    ret = fail_db(s, rc);
    goto fail;
  }
  if (uc__ban_expired(out, lift_seconds, now))
    out->banned_at = 0, out->attempts = 0;
  if (out->banned_at) { /* banned: nothing to count */
    ret = end_tx(s, 1);
    goto out;
  }
  out->attempts++;
  out->updated_at = now;
  *counted = 1;
  if (out->attempts >= threshold)
    out->banned_at = now;
  if ((ret = run_locked(s,
                        "INSERT INTO bans(account_id, ip, attempts, banned_at, updated_at) "
                        "VALUES (?, ?, ?, nullif(?, 0), ?) ON CONFLICT DO UPDATE SET "
                        "attempts = excluded.attempts, banned_at = excluded.banned_at, "
                        "updated_at = excluded.updated_at",
                        &up)) != UC_OK ||
      (ret = put_one(s, up, NULL, out)) != UC_OK) /* attempts >= 1: always the upsert */
    goto fail;
  ret = end_tx(s, 1);
  goto out;
fail:
  end_tx(s, 0);
out:
  sqlite3_finalize(get);
  sqlite3_finalize(up);
  pthread_mutex_unlock(&s->lock);
  return ret;
}

/* Appends a change (lock held, inside the caller's transaction), and drops
 * changes older than a day: the feed is for servers polling every second. */
static int add_change(struct sq *s, int64_t account_id, const char *kind, const char *ip) {
  sqlite3_stmt *st = NULL;
  int ret = run_locked(s,
                       "INSERT INTO changes(origin, at, account_id, kind, ip) "
                       "VALUES (?, unixepoch(), ?, ?, ?)",
                       &st);
  if (ret)
    return ret;
  sqlite3_bind_int64(st, 1, s->origin);
  sqlite3_bind_int64(st, 2, account_id);
  sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
  if (ip)
    sqlite3_bind_text(st, 4, ip, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE)
    return fail_db(s, rc);
  return exec_locked(s, "DELETE FROM changes WHERE at < unixepoch() - 86400");
}

/* Deletes the account's rows (ip NULL: all of them) and records the change. */
static int unban(struct sq *s, int64_t account_id, const char *ip, size_t *deleted) {
  sqlite3_stmt *st = NULL;
  pthread_mutex_lock(&s->lock);
  int ret = exec_locked(s, "BEGIN IMMEDIATE");
  if (ret)
    goto out;
  if ((ret = run_locked(s, "DELETE FROM bans WHERE account_id = ?1 AND (?2 IS NULL OR ip = ?2)",
                        &st)) != UC_OK)
    goto fail;
  sqlite3_bind_int64(st, 1, account_id);
  if (ip)
    sqlite3_bind_text(st, 2, ip, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc != SQLITE_DONE) {
    ret = fail_db(s, rc);
    goto fail;
  }
  *deleted = (size_t)sqlite3_changes(s->db);
  if ((ret = add_change(s, account_id, ip ? "unban" : "unban_all", ip)) != UC_OK)
    goto fail;
  ret = end_tx(s, 1);
  goto out;
fail:
  end_tx(s, 0);
out:
  sqlite3_finalize(st);
  pthread_mutex_unlock(&s->lock);
  return ret;
}

static int sq_ban_delete(void *state, int64_t account_id, const char *ip) {
  size_t n = 0;
  int rc = unban(state, account_id, ip, &n);
  return rc == UC_OK && n == 0 ? UC_ENOTFOUND : rc;
}

static int sq_ban_delete_all(void *state, int64_t account_id, size_t *deleted) {
  return unban(state, account_id, NULL, deleted);
}

/* *cursor is the next id to read, once set (ids start at 1, so 0 means "not yet"). */
static int sq_changes(void *state, uint64_t *cursor, uc_change_cb cb, void *arg) {
  struct sq *s = state;
  int from_now = *cursor == 0;
  sqlite3_stmt *st = prepare(s, from_now ? "SELECT coalesce(max(id), 0) + 1 FROM changes"
                                         : "SELECT id, origin, account_id, kind, ip FROM changes "
                                           "WHERE id >= ? ORDER BY id");
  if (!st)
    return UC_ESTORE;
  int rc;
  if (from_now) {
    if ((rc = sqlite3_step(st)) == SQLITE_ROW)
      *cursor = (uint64_t)sqlite3_column_int64(st, 0);
    int ret = rc == SQLITE_ROW ? UC_OK : fail_db(s, rc);
    done(s, st);
    return ret;
  }
  sqlite3_bind_int64(st, 1, (sqlite3_int64)*cursor);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *kind = (const char *)sqlite3_column_text(st, 3);
    struct uc_change c = {(uint64_t)sqlite3_column_int64(st, 0),
                          kind && strcmp(kind, "unban_all") == 0 ? UC_CHANGE_UNBAN_ALL
                                                                 : UC_CHANGE_UNBAN,
                          sqlite3_column_int64(st, 2), (const char *)sqlite3_column_text(st, 4),
                          sqlite3_column_int64(st, 1) == s->origin};
    *cursor = c.id + 1;
    if (cb(arg, &c))
      break;
  }
  int ret = rc == SQLITE_ROW || rc == SQLITE_DONE ? UC_OK : fail_db(s, rc);
  done(s, st);
  return ret;
}

static int sq_audit_add(void *state, int64_t account_id, int64_t key_id, const char *action,
                        const char *detail) {
  struct sq *s = state;
  sqlite3_stmt *st = prepare(s, "INSERT INTO audit(account_id, key_id, at, action, detail) "
                                "VALUES (?, nullif(?, 0), unixepoch(), ?, ?)");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_int64(st, 1, account_id);
  sqlite3_bind_int64(st, 2, key_id);
  sqlite3_bind_text(st, 3, action, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, detail ? detail : "", -1, SQLITE_STATIC);
  return step_write(s, st, 0);
}

static int sq_secret(void *state, const char *name, uint8_t out[32]) {
  struct sq *s = state;
  uint8_t fresh[32];
  sqlite3_stmt *st = NULL;
  randombytes_buf(fresh, sizeof fresh);
  pthread_mutex_lock(&s->lock);
  int ret = exec_locked(s, "BEGIN IMMEDIATE"); /* the first process to ask makes it */
  if (ret)
    goto out;
  if ((ret = run_locked(s, "INSERT OR IGNORE INTO secrets(name, value) VALUES (?, ?)", &st)))
    goto fail;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, fresh, sizeof fresh, SQLITE_STATIC);
  if (sqlite3_step(st) != SQLITE_DONE) {
    ret = fail_db(s, SQLITE_ERROR);
    goto fail;
  }
  sqlite3_finalize(st);
  st = NULL;
  if ((ret = run_locked(s, "SELECT value FROM secrets WHERE name = ?", &st)))
    goto fail;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_bytes(st, 0) != 32) {
    ret = uc__store_errorf(UC_ESTORE, "sqlite %s: secret '%s' is damaged", s->path, name);
    goto fail;
  }
  memcpy(out, sqlite3_column_blob(st, 0), 32);
  ret = end_tx(s, 1);
  goto out;
fail:
  end_tx(s, 0);
out:
  sqlite3_finalize(st);
  pthread_mutex_unlock(&s->lock);
  sodium_memzero(fresh, sizeof fresh);
  return ret;
}

static int sq_alias_put(void *state, const struct uc_alias_rec *a, size_t n) {
  struct sq *s = state;
  sqlite3_stmt *st = NULL;
  pthread_mutex_lock(&s->lock);
  int ret = exec_locked(s, "BEGIN IMMEDIATE");
  if (ret)
    goto out;
  if ((ret = run_locked(s,
                        "INSERT INTO aliases(account_id, mailbox, spelling, last_seen) "
                        "VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
                        "last_seen = max(last_seen, excluded.last_seen)",
                        &st)))
    goto fail;
  for (size_t i = 0; i < n; i++) {
    sqlite3_bind_int64(st, 1, a[i].account_id);
    sqlite3_bind_blob(st, 2, a[i].mailbox, UC_ALIAS_HASH, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, a[i].spelling, UC_ALIAS_HASH, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, a[i].last_seen);
    if (sqlite3_step(st) != SQLITE_DONE) {
      ret = fail_db(s, SQLITE_ERROR);
      goto fail;
    }
    sqlite3_reset(st);
  }
  ret = end_tx(s, 1);
  goto out;
fail:
  end_tx(s, 0);
out:
  sqlite3_finalize(st);
  pthread_mutex_unlock(&s->lock);
  return ret;
}

static int sq_alias_each(void *state, int64_t account_id, const uint8_t *mailbox, int64_t since,
                         uc_alias_cb cb, void *arg) {
  struct sq *s = state;
  sqlite3_stmt *st = prepare(s, mailbox ? "SELECT account_id, mailbox, spelling, last_seen "
                                          "FROM aliases WHERE account_id = ? AND mailbox = ? "
                                          "AND last_seen >= ?"
                                        : "SELECT account_id, mailbox, spelling, last_seen "
                                          "FROM aliases WHERE last_seen >= ?3 "
                                          "ORDER BY last_seen DESC");
  if (!st)
    return UC_ESTORE;
  if (mailbox) {
    sqlite3_bind_int64(st, 1, account_id);
    sqlite3_bind_blob(st, 2, mailbox, UC_ALIAS_HASH, SQLITE_STATIC);
  }
  sqlite3_bind_int64(st, 3, since);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    struct uc_alias_rec a = {.account_id = sqlite3_column_int64(st, 0),
                             .last_seen = sqlite3_column_int64(st, 3)};
    if (sqlite3_column_bytes(st, 1) != UC_ALIAS_HASH ||
        sqlite3_column_bytes(st, 2) != UC_ALIAS_HASH)
      continue;
    memcpy(a.mailbox, sqlite3_column_blob(st, 1), UC_ALIAS_HASH);
    memcpy(a.spelling, sqlite3_column_blob(st, 2), UC_ALIAS_HASH);
    if (cb(arg, &a))
      break;
  }
  int ret = rc == SQLITE_ROW || rc == SQLITE_DONE ? UC_OK : fail_db(s, rc);
  done(s, st);
  return ret;
}

static int sq_alias_trim(void *state, int64_t before, size_t *deleted) {
  struct sq *s = state;
  sqlite3_stmt *st = prepare(s, "DELETE FROM aliases WHERE last_seen < ?");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_int64(st, 1, before);
  int rc = sqlite3_step(st);
  *deleted = rc == SQLITE_DONE ? (size_t)sqlite3_changes(s->db) : 0;
  int ret = rc == SQLITE_DONE ? UC_OK : fail_db(s, rc);
  done(s, st);
  return ret;
}

static int sq_audit_each(void *state, int64_t account_id, size_t limit, uc_audit_cb cb, void *arg) {
  struct sq *s = state;
  sqlite3_stmt *st = prepare(s, "SELECT id, account_id, coalesce(key_id, 0), at, action, detail "
                                "FROM audit WHERE account_id = ? ORDER BY id DESC LIMIT ?");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_int64(st, 1, account_id);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)(limit > INT64_MAX ? INT64_MAX : limit));
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    struct uc_audit_rec a = {sqlite3_column_int64(st, 0),
                             sqlite3_column_int64(st, 1),
                             sqlite3_column_int64(st, 2),
                             sqlite3_column_int64(st, 3),
                             (const char *)sqlite3_column_text(st, 4),
                             (const char *)sqlite3_column_text(st, 5)};
    if (cb(arg, &a))
      break;
  }
  int ret = rc == SQLITE_ROW || rc == SQLITE_DONE ? UC_OK : fail_db(s, rc);
  done(s, st);
  return ret;
}

static int sq_version(void *state, uint64_t *v) {
  struct sq *s = state;
  sqlite3_stmt *st = prepare(s, "PRAGMA data_version");
  if (!st)
    return UC_ESTORE;
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    *v = (uint64_t)sqlite3_column_int64(st, 0);
  int ret = rc == SQLITE_ROW ? UC_OK : fail_db(s, rc);
  done(s, st);
  return ret;
}

const struct uc_store_ops uc__store_sqlite_ops = {
    .scheme = "sqlite",
    .shared = 0,
    .open = sq_open,
    .close = sq_close,
    .version = sq_version,
    .account_create = sq_account_create,
    .account_get = sq_account_get,
    .account_each = sq_account_each,
    .key_insert = sq_key_insert,
    .key_each = sq_key_each,
    .key_by_hash = sq_key_by_hash,
    .key_get = sq_key_get,
    .key_revoke = sq_key_revoke,
    .key_update = sq_key_update,
    .key_touch = sq_key_touch,
    .usage_add = sq_usage_add,
    .usage_each = sq_usage_each,
    .settings_get = sq_settings_get,
    .settings_put = sq_settings_put,
    .list_each = sq_list_each,
    .list_add = sq_list_add,
    .list_remove = sq_list_remove,
    .list_replace = sq_list_replace,
    .ban_each = sq_ban_each,
    .ban_get = sq_ban_get,
    .ban_put = sq_ban_put,
    .ban_hit = sq_ban_hit,
    .ban_delete = sq_ban_delete,
    .ban_delete_all = sq_ban_delete_all,
    .changes = sq_changes,
    .secret = sq_secret,
    .alias_put = sq_alias_put,
    .alias_each = sq_alias_each,
    .alias_trim = sq_alias_trim,
    .audit_add = sq_audit_add,
    .audit_each = sq_audit_each,
};
