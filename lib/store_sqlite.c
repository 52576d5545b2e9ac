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

#define SCHEMA_VERSION 9

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

/* Version 5: a key's own rate limit; bans in the change feed (a CHECK cannot
 * be altered: the table is made again, its ids and sequence kept). */
static const char schema_v5[] =
    "ALTER TABLE keys ADD COLUMN rate_per_second INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE keys ADD COLUMN rate_burst INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE changes_v5 ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  origin INTEGER NOT NULL,"
    "  at INTEGER NOT NULL,"
    "  account_id INTEGER NOT NULL,"
    "  kind TEXT NOT NULL CHECK (kind IN ('unban','unban_all','ban')),"
    "  ip TEXT,"
    "  attempts INTEGER,"
    "  banned_at INTEGER);"
    "INSERT INTO changes_v5(id, origin, at, account_id, kind, ip) "
    "  SELECT id, origin, at, account_id, kind, ip FROM changes;"
    "DELETE FROM sqlite_sequence WHERE name = 'changes_v5';"
    "INSERT INTO sqlite_sequence(name, seq) "
    "  SELECT 'changes_v5', seq FROM sqlite_sequence WHERE name = 'changes';"
    "DROP TABLE changes;"
    "ALTER TABLE changes_v5 RENAME TO changes;";

/* Version 6: the RDAP cache (registration dates of registrable domains). */
static const char schema_v6[] =
    "CREATE TABLE rdap ("
    "  domain TEXT PRIMARY KEY,"
    "  status TEXT NOT NULL CHECK (status IN ('found','not_found','no_service','failed')),"
    "  created TEXT," /* YYYY-MM-DD when found */
    "  checked_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX rdap_expires ON rdap(expires_at);";

/* Version 7: batch tasks and the rows they checked (docs/internals/batch.md). */
static const char schema_v7[] =
    "CREATE TABLE batch_tasks ("
    "  id TEXT PRIMARY KEY,"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
    "  key_id INTEGER NOT NULL,"
    "  key_type TEXT NOT NULL CHECK (key_type IN ('active','sandbox','admin')),"
    "  project TEXT NOT NULL,"
    "  filename TEXT NOT NULL,"
    "  format TEXT NOT NULL CHECK (format IN ('csv','tsv','txt','xlsx')),"
    "  deduplicate INTEGER NOT NULL,"
    "  status TEXT NOT NULL CHECK (status IN ('processing','completed','failed')),"
    "  rows_total INTEGER NOT NULL, rows_done INTEGER NOT NULL,"
    "  white INTEGER NOT NULL, grey INTEGER NOT NULL, black INTEGER NOT NULL,"
    "  blank INTEGER NOT NULL, duplicates INTEGER NOT NULL,"
    "  type_white INTEGER NOT NULL, type_grey INTEGER NOT NULL, type_black INTEGER NOT NULL,"
    "  type_disposable INTEGER NOT NULL, type_masked INTEGER NOT NULL,"
    "  type_no_website INTEGER NOT NULL, type_multi_alias INTEGER NOT NULL,"
    "  type_suspicious INTEGER NOT NULL, type_young INTEGER NOT NULL,"
    "  type_legitimate INTEGER NOT NULL,"
    "  type_invalid INTEGER NOT NULL, type_unknown INTEGER NOT NULL,"
    "  upload_bytes INTEGER NOT NULL, result_bytes INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL, finished_at INTEGER,"
    "  attempts INTEGER NOT NULL,"
    "  reason TEXT NOT NULL);"
    "CREATE INDEX batch_tasks_account ON batch_tasks(account_id, created_at);"
    "CREATE TABLE batch_usage ("
    "  key_id INTEGER NOT NULL REFERENCES keys(id),"
    "  day TEXT NOT NULL,"
    "  category TEXT NOT NULL CHECK (category IN ('white','grey','black')),"
    "  count INTEGER NOT NULL,"
    "  PRIMARY KEY (key_id, day, category)) WITHOUT ROWID;";

/* Version 8: who runs a batch task and until when (uc_store_batch_claim);
 * the tasks nobody holds, in the order they became free. */
#define BATCH_FREE_AT "(CASE WHEN lease_until = 0 THEN created_at * 1000 ELSE lease_until END)"
static const char schema_v8[] =
    "ALTER TABLE batch_tasks ADD COLUMN owner TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE batch_tasks ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX batch_tasks_open ON batch_tasks(" BATCH_FREE_AT ", id) "
    "  WHERE status = 'processing';";

/* Version 9: usage also counts 403 "banned" answers (the CHECK widens: a new
 * table, the rows copied over). */
static const char schema_v9[] =
    "CREATE TABLE usage_v9 ("
    "  key_id INTEGER NOT NULL REFERENCES keys(id),"
    "  day TEXT NOT NULL,"
    "  category TEXT NOT NULL CHECK (category IN ('white','grey','black','banned')),"
    "  count INTEGER NOT NULL,"
    "  PRIMARY KEY (key_id, day, category)) WITHOUT ROWID;"
    "INSERT INTO usage_v9 SELECT key_id, day, category, count FROM usage;"
    "DROP TABLE usage;"
    "ALTER TABLE usage_v9 RENAME TO usage;";

/* Two connections, each used by one thread at a time: db for writes (every
 * transaction, and PRAGMA data_version, which moves only for commits of other
 * connections), rdb for reads (every statement that starts with SELECT). In
 * WAL mode a read never waits for a writer, so a write that waits for the
 * file's lock (another process holding it, up to the busy timeout) never
 * holds up the reads the request path makes (an unknown key, an IP that left
 * the ban cache). */
struct sq {
  sqlite3 *db, *rdb;
  pthread_mutex_t lock, rlock;
  int64_t origin; /* written with our changes, to tell them from others' */
  char path[1024];
};

/* The error of the last statement on db, as a uc_err; the message is kept for uc_store_error. */
static int fail_on(struct sq *s, sqlite3 *db) {
  int code = sqlite3_extended_errcode(db);
  if (code == SQLITE_CONSTRAINT_UNIQUE || code == SQLITE_CONSTRAINT_PRIMARYKEY)
    return UC_EEXISTS;
  int busy = (code & 0xFF) == SQLITE_BUSY || (code & 0xFF) == SQLITE_LOCKED;
  return uc__store_errorf(busy ? UC_EBUSY : UC_ESTORE, "sqlite %s: %s", s->path,
                          sqlite3_errmsg(db));
}

/* The same, on the write connection (transactions). */
static int fail_db(struct sq *s, int rc) {
  (void)rc;
  return fail_on(s, s->db);
}

/* A statement's failure, on the connection it ran on. */
static int fail_st(struct sq *s, sqlite3_stmt *st) {
  return fail_on(s, sqlite3_db_handle(st));
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
  static const char *const steps[SCHEMA_VERSION] = {schema_v1, schema_v2, schema_v3,
                                                    schema_v4, schema_v5, schema_v6,
                                                    schema_v7, schema_v8, schema_v9};
  /* One transaction per step, the version read inside it: two processes
   * opening one new file at once take turns, and the second finds the
   * first's steps done (never runs a CREATE twice). */
  for (;;) {
    char *msg = NULL;
    sqlite3_stmt *st = NULL;
    int version = -1;
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, &msg) == SQLITE_OK &&
        sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
      version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (version < 0 || version >= SCHEMA_VERSION) {
      int rc = version == SCHEMA_VERSION ? sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL)
                                         : SQLITE_ERROR;
      if (rc == SQLITE_OK)
        return UC_OK;
      if (version > SCHEMA_VERSION)
        uc_errorf(err, es, UC_ESTORE, "database schema %d is newer than this build (%d)", version,
                  SCHEMA_VERSION);
      else
        uc_errorf(err, es, UC_ESTORE, "reading the schema version: %s",
                  msg ? msg : sqlite3_errmsg(s->db));
      sqlite3_free(msg);
      sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
      return UC_ESTORE;
    }
    size_t size = strlen(steps[version]) + 64;
    char *sql = malloc(size);
    if (!sql) {
      sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
      return uc_errorf(err, es, UC_ENOMEM, "out of memory");
    }
    snprintf(sql, size, "%s PRAGMA user_version = %d; COMMIT;", steps[version], version + 1);
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
    free(sql);
    if (rc != SQLITE_OK) {
      uc_errorf(err, es, UC_ESTORE, "upgrading the schema to %d: %s", version + 1, msg ? msg : "?");
      sqlite3_free(msg);
      sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
      return UC_ESTORE;
    }
  }
}

/* The connection's settings. Switching to WAL can answer "database is
 * locked" at once, without the busy handler, while another connection is
 * creating the schema of a new file: it is tried again for up to 5 s. */
static int configure(sqlite3 *db, char **msg) {
  int rc = SQLITE_BUSY;
  for (int i = 0; i < 500 && (rc & 0xFF) == SQLITE_BUSY; i++) {
    sqlite3_free(*msg);
    *msg = NULL;
    rc = sqlite3_exec(db,
                      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                      "PRAGMA foreign_keys=ON;",
                      NULL, NULL, msg);
    if ((rc & 0xFF) == SQLITE_BUSY)
      sqlite3_sleep(10);
  }
  return rc;
}

static int sq_open(const char *path, unsigned flags, uint64_t origin, void **state, char *err,
                   size_t es) {
  struct sq *s = calloc(1, sizeof *s);
  char *msg = NULL;
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
  if (configure(s->db, &msg) != SQLITE_OK) {
    uc_errorf(err, es, rc, "%s: %s", path, msg ? msg : "cannot configure");
    sqlite3_free(msg);
    goto out;
  }
  if ((rc = migrate(s, err, es)) != UC_OK)
    goto out;
  rc = UC_ESTORE;
  if (sqlite3_open_v2(path, &s->rdb, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
          SQLITE_OK ||
      sqlite3_exec(s->rdb, "PRAGMA query_only=1;", NULL, NULL, NULL) != SQLITE_OK) {
    uc_errorf(err, es, rc, "%s: %s", path, s->rdb ? sqlite3_errmsg(s->rdb) : "cannot open");
    goto out;
  }
  sqlite3_busy_timeout(s->rdb, 1000); /* readers wait only for WAL recovery or a checkpoint */
  rc = UC_OK;
out:
  if (rc) {
    sqlite3_close(s->rdb);
    sqlite3_close(s->db);
    free(s);
    return rc;
  }
  pthread_mutex_init(&s->lock, NULL);
  pthread_mutex_init(&s->rlock, NULL);
  *state = s;
  return UC_OK;
}

static void sq_close(void *state) {
  struct sq *s = state;
  if (!s)
    return;
  sqlite3_close(s->rdb);
  sqlite3_close(s->db);
  pthread_mutex_destroy(&s->lock);
  pthread_mutex_destroy(&s->rlock);
  free(s);
}

/* Prepares sql with its connection locked (a SELECT on the read connection,
 * anything else on the write connection); the caller steps, then calls done(). */
static sqlite3_stmt *prepare(struct sq *s, const char *sql) {
  sqlite3_stmt *st = NULL;
  int rd = strncmp(sql, "SELECT", 6) == 0;
  sqlite3 *db = rd ? s->rdb : s->db;
  pthread_mutex_t *lock = rd ? &s->rlock : &s->lock;
  pthread_mutex_lock(lock);
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
    fail_on(s, db);
    pthread_mutex_unlock(lock);
    return NULL;
  }
  return st;
}

static void done(struct sq *s, sqlite3_stmt *st) {
  int rd = sqlite3_db_handle(st) == s->rdb;
  sqlite3_finalize(st);
  pthread_mutex_unlock(rd ? &s->rlock : &s->lock);
}

/* Steps a prepared write once and releases it: UC_OK; UC_ENOTFOUND when
 * must_change and no row changed; else the store's error. */
static int step_write(struct sq *s, sqlite3_stmt *st, int must_change) {
  int rc = sqlite3_step(st);
  int ret = rc != SQLITE_DONE                        ? fail_st(s, st)
            : must_change && !sqlite3_changes(s->db) ? UC_ENOTFOUND
                                                     : UC_OK;
  done(s, st);
  return ret;
}

/* Steps st to its end, calling row(st, ctx) for each row (non-zero from row
 * stops early), and releases it: the shape of every *_each. */
typedef int (*row_fn)(sqlite3_stmt *st, void *ctx);
static int each_row(struct sq *s, sqlite3_stmt *st, row_fn row, void *ctx) {
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW)
    if (row(st, ctx))
      break;
  int ret = rc == SQLITE_ROW || rc == SQLITE_DONE ? UC_OK : fail_st(s, st);
  done(s, st);
  return ret;
}

/* Reads the one row of st into out (UC_ENOTFOUND when there is none) and releases it. */
typedef void (*read_fn)(sqlite3_stmt *st, void *out);
static int one_row(struct sq *s, sqlite3_stmt *st, read_fn read, void *out) {
  int rc = sqlite3_step(st);
  int ret = rc == SQLITE_ROW    ? (read(st, out), UC_OK)
            : rc == SQLITE_DONE ? UC_ENOTFOUND
                                : fail_st(s, st);
  done(s, st);
  return ret;
}

static void copy_text(char *dst, size_t size, sqlite3_stmt *st, int col) {
  const unsigned char *t = sqlite3_column_text(st, col);
  snprintf(dst, size, "%s", t ? (const char *)t : "");
}

static void read_account(sqlite3_stmt *st, void *out) {
  struct uc_account_rec *a = out;
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
  return one_row(s, st, read_account, out);
}

struct visit_accounts {
  uc_account_cb cb;
  void *arg;
};
static int account_row(sqlite3_stmt *st, void *ctx) {
  struct visit_accounts *v = ctx;
  struct uc_account_rec a;
  read_account(st, &a);
  return v->cb(v->arg, &a);
}

static int sq_account_each(void *state, uc_account_cb cb, void *arg) {
  struct sq *s = state;
  struct visit_accounts v = {cb, arg};
  sqlite3_stmt *st = prepare(s, "SELECT id, name, created_at FROM accounts ORDER BY id");
  return st ? each_row(s, st, account_row, &v) : UC_ESTORE;
}

#define BAN_COLS "account_id, ip, attempts, coalesce(banned_at, 0), updated_at"
static void read_ban(sqlite3_stmt *st, void *out);

#define KEY_COLS                                                                                   \
  "id, account_id, name, type, prefix, hash, created_at, "                                         \
  "coalesce(last_used_at, 0), coalesce(revoked_at, 0), rate_per_second, rate_burst"

static void read_key(sqlite3_stmt *st, void *out) {
  struct uc_key_rec *k = out;
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
  k->rate_per_second = (uint32_t)sqlite3_column_int64(st, 9);
  k->rate_burst = (uint32_t)sqlite3_column_int64(st, 10);
}

/* The columns every insert of a key writes; ?1 is the id (NULL: a new one). */
#define KEY_INSERT                                                                                 \
  "INSERT INTO keys(id, account_id, name, type, prefix, hash, created_at, last_used_at, "          \
  "revoked_at, rate_per_second, rate_burst) "                                                      \
  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, nullif(?8, 0), nullif(?9, 0), ?10, ?11) RETURNING id"

static void bind_key(sqlite3_stmt *st, const struct uc_key_rec *k, int with_id) {
  if (with_id)
    sqlite3_bind_int64(st, 1, k->id);
  sqlite3_bind_int64(st, 2, k->account_id);
  sqlite3_bind_text(st, 3, k->name, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, uc_key_type_name(k->type), -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 5, k->prefix, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 6, k->hash, UC_KEY_HASH_LEN, SQLITE_STATIC);
  sqlite3_bind_int64(st, 7, k->created_at);
  sqlite3_bind_int64(st, 8, with_id ? k->last_used_at : 0);
  sqlite3_bind_int64(st, 9, with_id ? k->revoked_at : 0);
  sqlite3_bind_int64(st, 10, k->rate_per_second);
  sqlite3_bind_int64(st, 11, k->rate_burst);
}

static int insert_key(struct sq *s, struct uc_key_rec *k, int with_id) {
  sqlite3_stmt *st = prepare(s, KEY_INSERT);
  if (!st)
    return UC_ESTORE;
  bind_key(st, k, with_id);
  int rc = sqlite3_step(st);
  int ret = rc == SQLITE_ROW ? (k->id = sqlite3_column_int64(st, 0), UC_OK) : fail_db(s, rc);
  done(s, st);
  return ret;
}

static int sq_key_insert(void *state, struct uc_key_rec *k) {
  return insert_key(state, k, 0);
}

static int sq_key_put(void *state, const struct uc_key_rec *k) {
  struct uc_key_rec copy = *k;
  return insert_key(state, &copy, 1);
}

struct visit_keys {
  uc_key_cb cb;
  void *arg;
};
static int key_row(sqlite3_stmt *st, void *ctx) {
  struct visit_keys *v = ctx;
  struct uc_key_rec k;
  read_key(st, &k);
  return v->cb(v->arg, &k);
}

static int sq_key_each(void *state, int64_t account_id, uc_key_cb cb, void *arg) {
  struct sq *s = state;
  struct visit_keys v = {cb, arg};
  sqlite3_stmt *st = prepare(s, "SELECT " KEY_COLS " FROM keys WHERE ?1 = 0 OR account_id = ?1 "
                                "ORDER BY id");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_int64(st, 1, account_id);
  return each_row(s, st, key_row, &v);
}

static int sq_key_by_hash(void *state, const uint8_t hash[UC_KEY_HASH_LEN],
                          struct uc_key_rec *out) {
  struct sq *s = state;
  sqlite3_stmt *st = prepare(s, "SELECT " KEY_COLS " FROM keys WHERE hash = ?");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_blob(st, 1, hash, UC_KEY_HASH_LEN, SQLITE_STATIC);
  return one_row(s, st, read_key, out);
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

/* Prepares one statement with the lock held (inside in_tx). */
static int run_locked(struct sq *s, const char *sql, sqlite3_stmt **out) {
  return sqlite3_prepare_v2(s->db, sql, -1, out, NULL) == SQLITE_OK ? UC_OK
                                                                    : fail_db(s, SQLITE_ERROR);
}

/* Runs body(s, arg) in one immediate transaction with the lock held: COMMIT
 * when it returns UC_OK; otherwise (or when the commit fails) ROLLBACK, and
 * the body's error (or the commit's). The shape of every multi-row write. */
static int in_tx(struct sq *s, int (*body)(struct sq *s, void *arg), void *arg) {
  pthread_mutex_lock(&s->lock);
  int ret = exec_locked(s, "BEGIN IMMEDIATE");
  if (ret == UC_OK) {
    ret = body(s, arg);
    if (ret == UC_OK && exec_locked(s, "COMMIT") == UC_OK) {
      pthread_mutex_unlock(&s->lock);
      return UC_OK;
    }
    if (ret == UC_OK)
      ret = fail_db(s, SQLITE_ERROR);
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  }
  pthread_mutex_unlock(&s->lock);
  return ret;
}

/* Steps a statement of a transaction's body once; UC_OK or the error. */
static int step_done(struct sq *s, sqlite3_stmt *st) {
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? UC_OK : fail_db(s, rc);
}

struct usage_add {
  const struct uc_usage_delta *d;
  size_t n;
  const char *add; /* the upsert into usage or batch_usage */
};

static int usage_add_body(struct sq *s, void *arg) {
  const struct usage_add *u = arg;
  sqlite3_stmt *add = NULL, *touch = NULL;
  int ret = run_locked(s, u->add, &add);
  if (!ret)
    ret = run_locked(s,
                     "UPDATE keys SET last_used_at = max(coalesce(last_used_at, 0), ?) "
                     "WHERE id = ?",
                     &touch);
  for (size_t i = 0; !ret && i < u->n; i++) {
    const struct uc_usage_delta *d = &u->d[i];
    char day[11];
    uc_date_format(d->day, day);
    sqlite3_bind_int64(add, 1, d->key_id);
    sqlite3_bind_text(add, 2, day, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(add, 3, uc_usage_outcome_name(d->outcome), -1, SQLITE_STATIC);
    sqlite3_bind_int64(add, 4, (sqlite3_int64)d->count);
    sqlite3_bind_int64(touch, 1, d->last_used);
    sqlite3_bind_int64(touch, 2, d->key_id);
    if (!(ret = step_done(s, add)))
      ret = step_done(s, touch);
  }
  sqlite3_finalize(add);
  sqlite3_finalize(touch);
  return ret;
}

static int sq_usage_add(void *state, const struct uc_usage_delta *d, size_t n) {
  struct usage_add u = {d, n,
                        "INSERT INTO usage(key_id, day, category, count) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT DO UPDATE SET count = count + excluded.count"};
  return in_tx(state, usage_add_body, &u);
}

#define BATCH_USAGE_UPSERT                                                                         \
  "INSERT INTO batch_usage(key_id, day, category, count) VALUES (?, ?, ?, ?) "                     \
  "ON CONFLICT DO UPDATE SET count = count + excluded.count"

static int sq_batch_usage_add(void *state, const struct uc_usage_delta *d, size_t n) {
  struct usage_add u = {d, n, BATCH_USAGE_UPSERT};
  return in_tx(state, usage_add_body, &u);
}

static int usage_each(struct sq *s, const char *sql, int64_t account_id, unsigned since_day,
                      uc_usage_cb cb, void *arg);

static int sq_usage_each(void *state, int64_t account_id, unsigned since_day, uc_usage_cb cb,
                         void *arg) {
  return usage_each(state,
                    "SELECT u.key_id, u.day, u.category, u.count FROM usage u "
                    "JOIN keys k ON k.id = u.key_id "
                    "WHERE k.account_id = ? AND u.day >= ? ORDER BY u.key_id, u.day",
                    account_id, since_day, cb, arg);
}

static int sq_batch_usage_each(void *state, int64_t account_id, unsigned since_day, uc_usage_cb cb,
                               void *arg) {
  return usage_each(state,
                    "SELECT u.key_id, u.day, u.category, u.count FROM batch_usage u "
                    "JOIN keys k ON k.id = u.key_id "
                    "WHERE k.account_id = ? AND u.day >= ? ORDER BY u.key_id, u.day",
                    account_id, since_day, cb, arg);
}

/* Rows of one account since a day, one callback per key and day. */
static int usage_each(struct sq *s, const char *sql, int64_t account_id, unsigned since_day,
                      uc_usage_cb cb, void *arg) {
  char since[11];
  uc_date_format(since_day, since);
  sqlite3_stmt *st = prepare(s, sql);
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
    unsigned o;
    if (have && (row.key_id != key || row.day != d))
      stop = cb(arg, &row), have = 0;
    if (!have)
      memset(&row, 0, sizeof row), row.key_id = key, row.day = d, have = 1;
    if (uc_usage_outcome_parse((const char *)sqlite3_column_text(st, 2), &o) == UC_OK)
      row.count[o] += (uint64_t)sqlite3_column_int64(st, 3);
  }
  if (have && !stop)
    cb(arg, &row);
  int ret = stop || rc == SQLITE_DONE ? UC_OK : fail_st(s, st);
  done(s, st);
  return ret;
}

static int sq_key_update(void *state, const struct uc_key_rec *k) {
  struct sq *s = state;
  sqlite3_stmt *st = prepare(s, "UPDATE keys SET name = ?, type = ?, prefix = ?, hash = ?, "
                                "rate_per_second = ?, rate_burst = ? "
                                "WHERE id = ? AND account_id = ? AND revoked_at IS NULL");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_text(st, 1, k->name, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, uc_key_type_name(k->type), -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, k->prefix, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 4, k->hash, UC_KEY_HASH_LEN, SQLITE_STATIC);
  sqlite3_bind_int64(st, 5, k->rate_per_second);
  sqlite3_bind_int64(st, 6, k->rate_burst);
  sqlite3_bind_int64(st, 7, k->id);
  sqlite3_bind_int64(st, 8, k->account_id);
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
  return one_row(s, st, read_key, out);
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
    ret = fail_st(s, st);
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

struct visit_lists {
  uc_list_cb cb;
  void *arg;
};
static int list_row(sqlite3_stmt *st, void *ctx) {
  struct visit_lists *v = ctx;
  struct uc_list_rec l = {sqlite3_column_int64(st, 0), UC_WHITE,
                          (const char *)sqlite3_column_text(st, 2), sqlite3_column_int64(st, 3)};
  uc_category_parse((const char *)sqlite3_column_text(st, 1), &l.color);
  return v->cb(v->arg, &l);
}

static int sq_list_each(void *state, int64_t account_id, uc_list_cb cb, void *arg) {
  struct sq *s = state;
  struct visit_lists v = {cb, arg};
  sqlite3_stmt *st =
      prepare(s, "SELECT account_id, color, domain, added_at FROM domain_lists "
                 "WHERE ?1 = 0 OR account_id = ?1 ORDER BY account_id, color, domain");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_int64(st, 1, account_id);
  return each_row(s, st, list_row, &v);
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

struct list_replace {
  int64_t account_id;
  uc_category c;
  const char *const *domains;
  size_t n;
};

static int list_replace_body(struct sq *s, void *arg) {
  const struct list_replace *l = arg;
  sqlite3_stmt *del = NULL, *ins = NULL;
  int ret = run_locked(s, "DELETE FROM domain_lists WHERE account_id = ? AND color = ?", &del);
  if (!ret)
    ret = run_locked(s,
                     "INSERT OR IGNORE INTO domain_lists(account_id, color, domain, "
                     "added_at) VALUES (?, ?, ?, unixepoch())",
                     &ins);
  if (!ret) {
    sqlite3_bind_int64(del, 1, l->account_id);
    sqlite3_bind_text(del, 2, uc_category_name(l->c), -1, SQLITE_STATIC);
    ret = step_done(s, del);
  }
  for (size_t i = 0; !ret && i < l->n; i++) {
    sqlite3_bind_int64(ins, 1, l->account_id);
    sqlite3_bind_text(ins, 2, uc_category_name(l->c), -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 3, l->domains[i], -1, SQLITE_STATIC);
    ret = step_done(s, ins);
  }
  sqlite3_finalize(del);
  sqlite3_finalize(ins);
  return ret;
}

static int sq_list_replace(void *state, int64_t account_id, uc_category c,
                           const char *const *domains, size_t n) {
  struct list_replace l = {account_id, c, domains, n};
  return in_tx(state, list_replace_body, &l);
}

struct visit_bans {
  uc_ban_cb cb;
  void *arg;
};
static int ban_row(sqlite3_stmt *st, void *ctx) {
  struct visit_bans *v = ctx;
  struct uc_ban_rec b;
  read_ban(st, &b);
  return v->cb(v->arg, &b);
}

static int sq_ban_each(void *state, int64_t account_id, uc_ban_cb cb, void *arg) {
  struct sq *s = state;
  struct visit_bans v = {cb, arg};
  sqlite3_stmt *st = prepare(s, "SELECT " BAN_COLS " FROM bans WHERE ?1 = 0 OR account_id = ?1 "
                                "ORDER BY account_id, ip");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_int64(st, 1, account_id);
  return each_row(s, st, ban_row, &v);
}

/* The page's rows: after the cursor, holding the text, not lifted by time.
 * instr() matches the text literally (no LIKE wildcards to escape). */
static int sq_ban_page(void *state, int64_t account_id, const struct uc_ban_query *q, uc_ban_cb cb,
                       void *arg) {
  struct sq *s = state;
  struct visit_bans v = {cb, arg};
  sqlite3_stmt *st =
      prepare(s, "SELECT " BAN_COLS " FROM bans WHERE account_id = ?1 "
                 "AND (?2 IS NULL OR ip > ?2) AND (?3 IS NULL OR instr(ip, ?3) > 0) "
                 "AND NOT (banned_at IS NOT NULL AND ?4 > 0 AND ?5 - banned_at >= ?4) "
                 "ORDER BY ip LIMIT ?6");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_int64(st, 1, account_id);
  if (q->after)
    sqlite3_bind_text(st, 2, q->after, -1, SQLITE_STATIC);
  if (q->contains && *q->contains)
    sqlite3_bind_text(st, 3, q->contains, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, q->lift_seconds);
  sqlite3_bind_int64(st, 5, q->now);
  sqlite3_bind_int64(st, 6, (sqlite3_int64)(q->limit > INT64_MAX ? INT64_MAX : q->limit));
  return each_row(s, st, ban_row, &v);
}

static void read_ban(sqlite3_stmt *st, void *out) {
  struct uc_ban_rec *b = out;
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
  return one_row(s, st, read_ban, out);
}

/* With the lock held and a transaction open. */
#define BAN_UPSERT                                                                                 \
  "INSERT INTO bans(account_id, ip, attempts, banned_at, updated_at) "                             \
  "VALUES (?, ?, ?, nullif(?, 0), ?) ON CONFLICT DO UPDATE SET "                                   \
  "attempts = excluded.attempts, banned_at = excluded.banned_at, "                                 \
  "updated_at = excluded.updated_at "

/* With the lock held and a transaction open: the upsert for a record with
 * something counted, else the delete of its row. */
static int put_one(struct sq *s, sqlite3_stmt *up, sqlite3_stmt *drop, const struct uc_ban_rec *b) {
  sqlite3_stmt *st = b->attempts || b->banned_at ? up : drop;
  sqlite3_bind_int64(st, 1, b->account_id);
  sqlite3_bind_text(st, 2, b->ip, -1, SQLITE_STATIC);
  if (st == up) {
    sqlite3_bind_int(st, 3, (int)b->attempts);
    sqlite3_bind_int64(st, 4, b->banned_at);
    sqlite3_bind_int64(st, 5, b->updated_at);
  }
  return step_done(s, st);
}

struct ban_put {
  const struct uc_ban_rec *b;
  size_t n;
};

static int ban_put_body(struct sq *s, void *arg) {
  const struct ban_put *p = arg;
  sqlite3_stmt *up = NULL, *drop = NULL;
  int ret = run_locked(s,
                       BAN_UPSERT /* a stored ban is only ever lifted by an unban */
                       "WHERE bans.banned_at IS NULL OR excluded.banned_at IS NOT NULL",
                       &up);
  if (!ret)
    ret = run_locked(s, "DELETE FROM bans WHERE account_id = ? AND ip = ? AND banned_at IS NULL",
                     &drop);
  for (size_t i = 0; !ret && i < p->n; i++)
    ret = put_one(s, up, drop, &p->b[i]);
  sqlite3_finalize(up);
  sqlite3_finalize(drop);
  return ret;
}

static int sq_ban_put(void *state, const struct uc_ban_rec *b, size_t n) {
  struct ban_put p = {b, n};
  return in_tx(state, ban_put_body, &p);
}

static int add_change(struct sq *s, int64_t account_id, const char *kind, const char *ip,
                      const struct uc_ban_rec *ban);

struct ban_hit {
  int64_t account_id;
  const char *ip;
  unsigned threshold, lift_seconds;
  int64_t now;
  struct uc_ban_rec *out;
  int *counted;
};

/* Read and write as one transaction: exact across processes. */
static int ban_hit_body(struct sq *s, void *arg) {
  struct ban_hit *h = arg;
  struct uc_ban_rec *out = h->out;
  sqlite3_stmt *get = NULL, *up = NULL;
  int ret = run_locked(s, "SELECT " BAN_COLS " FROM bans WHERE account_id = ? AND ip = ?", &get);
  if (ret)
    return ret;
  sqlite3_bind_int64(get, 1, h->account_id);
  sqlite3_bind_text(get, 2, h->ip, -1, SQLITE_STATIC);
  int rc = sqlite3_step(get);
  if (rc == SQLITE_ROW) {
    read_ban(get, out);
  } else if (rc == SQLITE_DONE) {
    memset(out, 0, sizeof *out);
    out->account_id = h->account_id;
    snprintf(out->ip, sizeof out->ip, "%s", h->ip);
  } else {
    ret = fail_db(s, rc);
  }
  sqlite3_finalize(get);
  if (ret)
    return ret;
  if (uc__ban_expired(out, h->lift_seconds, h->now))
    out->banned_at = 0, out->attempts = 0;
  if (out->banned_at) /* banned: nothing to count */
    return UC_OK;
  out->attempts++;
  out->updated_at = h->now;
  *h->counted = 1;
  if (out->attempts >= h->threshold)
    out->banned_at = h->now;
  if (!(ret = run_locked(s, BAN_UPSERT, &up)))
    ret = put_one(s, up, NULL, out); /* attempts >= 1: always the upsert */
  sqlite3_finalize(up);
  if (!ret && out->banned_at) /* other servers learn of it from the feed */
    ret = add_change(s, h->account_id, "ban", h->ip, out);
  return ret;
}

static int sq_ban_hit(void *state, int64_t account_id, const char *ip, unsigned threshold,
                      unsigned lift_seconds, int64_t now, struct uc_ban_rec *out, int *counted) {
  struct ban_hit h = {account_id, ip, threshold, lift_seconds, now, out, counted};
  return in_tx(state, ban_hit_body, &h);
}

/* Appends a change (lock held, inside the caller's transaction), and drops
 * changes older than a day: the feed is for servers polling every 100 ms.
 * ban: the row a UC_CHANGE_BAN left, else NULL. */
static int add_change(struct sq *s, int64_t account_id, const char *kind, const char *ip,
                      const struct uc_ban_rec *ban) {
  sqlite3_stmt *st = NULL;
  int ret = run_locked(s,
                       "INSERT INTO changes(origin, at, account_id, kind, ip, attempts, banned_at) "
                       "VALUES (?, unixepoch(), ?, ?, ?, ?, ?)",
                       &st);
  if (ret)
    return ret;
  sqlite3_bind_int64(st, 1, s->origin);
  sqlite3_bind_int64(st, 2, account_id);
  sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
  if (ip)
    sqlite3_bind_text(st, 4, ip, -1, SQLITE_STATIC);
  if (ban) {
    sqlite3_bind_int64(st, 5, ban->attempts);
    sqlite3_bind_int64(st, 6, ban->banned_at);
  }
  ret = step_done(s, st);
  sqlite3_finalize(st);
  return ret ? ret : exec_locked(s, "DELETE FROM changes WHERE at < unixepoch() - 86400");
}

/* Deletes the account's rows (ip NULL: all of them) and records the change. */
struct unban {
  int64_t account_id;
  const char *ip; /* NULL: every IP */
  size_t deleted;
};

/* Deletes the account's rows (ip NULL: all of them) and records the change. */
static int unban_body(struct sq *s, void *arg) {
  struct unban *u = arg;
  sqlite3_stmt *st = NULL;
  int ret =
      run_locked(s, "DELETE FROM bans WHERE account_id = ?1 AND (?2 IS NULL OR ip = ?2)", &st);
  if (ret)
    return ret;
  sqlite3_bind_int64(st, 1, u->account_id);
  if (u->ip)
    sqlite3_bind_text(st, 2, u->ip, -1, SQLITE_STATIC);
  ret = step_done(s, st);
  sqlite3_finalize(st);
  u->deleted = ret ? 0 : (size_t)sqlite3_changes(s->db);
  return ret ? ret : add_change(s, u->account_id, u->ip ? "unban" : "unban_all", u->ip, NULL);
}

static int unban(struct sq *s, int64_t account_id, const char *ip, size_t *deleted) {
  struct unban u = {account_id, ip, 0};
  int ret = in_tx(s, unban_body, &u);
  *deleted = u.deleted;
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
struct visit_changes {
  struct sq *s;
  uint64_t *cursor;
  uc_change_cb cb;
  void *arg;
};
static int change_row(sqlite3_stmt *st, void *ctx) {
  struct visit_changes *v = ctx;
  const char *kind = (const char *)sqlite3_column_text(st, 3);
  struct uc_change c = {.id = (uint64_t)sqlite3_column_int64(st, 0),
                        .kind = !kind                            ? UC_CHANGE_UNBAN
                                : strcmp(kind, "unban_all") == 0 ? UC_CHANGE_UNBAN_ALL
                                : strcmp(kind, "ban") == 0       ? UC_CHANGE_BAN
                                                                 : UC_CHANGE_UNBAN,
                        .account_id = sqlite3_column_int64(st, 2),
                        .ip = (const char *)sqlite3_column_text(st, 4),
                        .own = sqlite3_column_int64(st, 1) == v->s->origin,
                        .attempts = (unsigned)sqlite3_column_int64(st, 5),
                        .banned_at = sqlite3_column_int64(st, 6)};
  *v->cursor = c.id + 1;
  return v->cb(v->arg, &c);
}

static void read_u64(sqlite3_stmt *st, void *out) {
  *(uint64_t *)out = (uint64_t)sqlite3_column_int64(st, 0);
}

/* *cursor is the next id to read, once set (ids start at 1, so 0 means "not yet"). */
static int sq_changes(void *state, uint64_t *cursor, uc_change_cb cb, void *arg) {
  struct sq *s = state;
  struct visit_changes v = {s, cursor, cb, arg};
  if (*cursor == 0) { /* a fresh reader starts from now */
    sqlite3_stmt *st = prepare(s, "SELECT coalesce(max(id), 0) + 1 FROM changes");
    return st ? one_row(s, st, read_u64, cursor) : UC_ESTORE;
  }
  sqlite3_stmt *st = prepare(s, "SELECT id, origin, account_id, kind, ip, attempts, banned_at "
                                "FROM changes WHERE id >= ? ORDER BY id");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_int64(st, 1, (sqlite3_int64)*cursor);
  return each_row(s, st, change_row, &v);
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

struct secret {
  const char *name;
  uint8_t fresh[32], *out;
};

/* The first process to ask makes it; every other reads what it made. */
static int secret_body(struct sq *s, void *arg) {
  struct secret *x = arg;
  sqlite3_stmt *ins = NULL, *get = NULL;
  int ret = run_locked(s, "INSERT OR IGNORE INTO secrets(name, value) VALUES (?, ?)", &ins);
  if (!ret) {
    sqlite3_bind_text(ins, 1, x->name, -1, SQLITE_STATIC);
    sqlite3_bind_blob(ins, 2, x->fresh, sizeof x->fresh, SQLITE_STATIC);
    ret = step_done(s, ins);
  }
  if (!ret && !(ret = run_locked(s, "SELECT value FROM secrets WHERE name = ?", &get))) {
    sqlite3_bind_text(get, 1, x->name, -1, SQLITE_STATIC);
    if (sqlite3_step(get) == SQLITE_ROW && sqlite3_column_bytes(get, 0) == 32)
      memcpy(x->out, sqlite3_column_blob(get, 0), 32);
    else
      ret = uc__store_errorf(UC_ESTORE, "sqlite %s: secret '%s' is damaged", s->path, x->name);
  }
  sqlite3_finalize(ins);
  sqlite3_finalize(get);
  return ret;
}

static int sq_secret(void *state, const char *name, uint8_t out[32]) {
  struct secret x = {.name = name, .out = out};
  randombytes_buf(x.fresh, sizeof x.fresh);
  int ret = in_tx(state, secret_body, &x);
  sodium_memzero(x.fresh, sizeof x.fresh);
  return ret;
}

struct alias_put {
  const struct uc_alias_rec *a;
  size_t n;
};

static int alias_put_body(struct sq *s, void *arg) {
  const struct alias_put *p = arg;
  sqlite3_stmt *st = NULL;
  int ret = run_locked(s,
                       "INSERT INTO aliases(account_id, mailbox, spelling, last_seen) "
                       "VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
                       "last_seen = max(last_seen, excluded.last_seen)",
                       &st);
  for (size_t i = 0; !ret && i < p->n; i++) {
    sqlite3_bind_int64(st, 1, p->a[i].account_id);
    sqlite3_bind_blob(st, 2, p->a[i].mailbox, UC_ALIAS_HASH, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, p->a[i].spelling, UC_ALIAS_HASH, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, p->a[i].last_seen);
    ret = step_done(s, st);
  }
  sqlite3_finalize(st);
  return ret;
}

static int sq_alias_put(void *state, const struct uc_alias_rec *a, size_t n) {
  struct alias_put p = {a, n};
  return in_tx(state, alias_put_body, &p);
}

struct visit_aliases {
  uc_alias_cb cb;
  void *arg;
};
static int alias_row(sqlite3_stmt *st, void *ctx) {
  struct visit_aliases *v = ctx;
  struct uc_alias_rec a = {.account_id = sqlite3_column_int64(st, 0),
                           .last_seen = sqlite3_column_int64(st, 3)};
  if (sqlite3_column_bytes(st, 1) != UC_ALIAS_HASH || sqlite3_column_bytes(st, 2) != UC_ALIAS_HASH)
    return 0;
  memcpy(a.mailbox, sqlite3_column_blob(st, 1), UC_ALIAS_HASH);
  memcpy(a.spelling, sqlite3_column_blob(st, 2), UC_ALIAS_HASH);
  return v->cb(v->arg, &a);
}

static int sq_alias_each(void *state, int64_t account_id, const uint8_t *mailbox, int64_t since,
                         uc_alias_cb cb, void *arg) {
  struct sq *s = state;
  struct visit_aliases v = {cb, arg};
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
  return each_row(s, st, alias_row, &v);
}

/* Runs a DELETE of rows older than its one parameter; *deleted rows went:
 * the shape of every trim. */
static int delete_before(struct sq *s, const char *sql, int64_t before, size_t *deleted) {
  sqlite3_stmt *st = prepare(s, sql);
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_int64(st, 1, before);
  int rc = sqlite3_step(st);
  *deleted = rc == SQLITE_DONE ? (size_t)sqlite3_changes(s->db) : 0;
  int ret = rc == SQLITE_DONE ? UC_OK : fail_db(s, rc);
  done(s, st);
  return ret;
}

static int sq_alias_trim(void *state, int64_t before, size_t *deleted) {
  return delete_before(state, "DELETE FROM aliases WHERE last_seen < ?", before, deleted);
}

struct visit_audit {
  uc_audit_cb cb;
  void *arg;
};
static int audit_row(sqlite3_stmt *st, void *ctx) {
  struct visit_audit *v = ctx;
  struct uc_audit_rec a = {sqlite3_column_int64(st, 0),
                           sqlite3_column_int64(st, 1),
                           sqlite3_column_int64(st, 2),
                           sqlite3_column_int64(st, 3),
                           (const char *)sqlite3_column_text(st, 4),
                           (const char *)sqlite3_column_text(st, 5)};
  return v->cb(v->arg, &a);
}

static int sq_audit_each(void *state, int64_t account_id, size_t limit, uc_audit_cb cb, void *arg) {
  struct sq *s = state;
  struct visit_audit v = {cb, arg};
  sqlite3_stmt *st = prepare(s, "SELECT id, account_id, coalesce(key_id, 0), at, action, detail "
                                "FROM audit WHERE account_id = ? ORDER BY id DESC LIMIT ?");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_int64(st, 1, account_id);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)(limit > INT64_MAX ? INT64_MAX : limit));
  return each_row(s, st, audit_row, &v);
}

/* ---- rows as they are (copying a store) ---- */

static int sq_account_put(void *state, const struct uc_account_rec *a) {
  struct sq *s = state;
  sqlite3_stmt *st = prepare(s, "INSERT INTO accounts(id, name, created_at) VALUES (?, ?, ?)");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_int64(st, 1, a->id);
  sqlite3_bind_text(st, 2, a->name, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, a->created_at);
  return step_write(s, st, 0);
}

struct list_put {
  const struct uc_list_rec *l;
  size_t n;
};

static int list_put_body(struct sq *s, void *arg) {
  const struct list_put *p = arg;
  sqlite3_stmt *st = NULL;
  int ret = run_locked(s,
                       "INSERT INTO domain_lists(account_id, color, domain, added_at) "
                       "VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET added_at = excluded.added_at",
                       &st);
  for (size_t i = 0; !ret && i < p->n; i++) {
    sqlite3_bind_int64(st, 1, p->l[i].account_id);
    sqlite3_bind_text(st, 2, uc_category_name(p->l[i].color), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, p->l[i].domain, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, p->l[i].added_at);
    ret = step_done(s, st);
  }
  sqlite3_finalize(st);
  return ret;
}

static int sq_list_put(void *state, const struct uc_list_rec *l, size_t n) {
  struct list_put p = {l, n};
  return in_tx(state, list_put_body, &p);
}

static int sq_audit_put(void *state, const struct uc_audit_rec *a) {
  struct sq *s = state;
  sqlite3_stmt *st = prepare(s, "INSERT INTO audit(id, account_id, key_id, at, action, detail) "
                                "VALUES (?, ?, nullif(?, 0), ?, ?, ?)");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_int64(st, 1, a->id);
  sqlite3_bind_int64(st, 2, a->account_id);
  sqlite3_bind_int64(st, 3, a->key_id);
  sqlite3_bind_int64(st, 4, a->at);
  sqlite3_bind_text(st, 5, a->action, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 6, a->detail ? a->detail : "{}", -1, SQLITE_STATIC);
  return step_write(s, st, 0);
}

static int sq_secret_put(void *state, const char *name, const uint8_t value[32]) {
  struct sq *s = state;
  sqlite3_stmt *st = prepare(s, "INSERT INTO secrets(name, value) VALUES (?, ?) "
                                "ON CONFLICT DO UPDATE SET value = excluded.value");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, value, 32, SQLITE_STATIC);
  return step_write(s, st, 0);
}

struct visit_secrets {
  uc_secret_cb cb;
  void *arg;
};
static int secret_row(sqlite3_stmt *st, void *ctx) {
  struct visit_secrets *v = ctx;
  if (sqlite3_column_bytes(st, 1) != 32)
    return 0; /* not one of ours */
  return v->cb(v->arg, (const char *)sqlite3_column_text(st, 0), sqlite3_column_blob(st, 1));
}

static int sq_secret_each(void *state, uc_secret_cb cb, void *arg) {
  struct sq *s = state;
  struct visit_secrets v = {cb, arg};
  sqlite3_stmt *st = prepare(s, "SELECT name, value FROM secrets ORDER BY name");
  return st ? each_row(s, st, secret_row, &v) : UC_ESTORE;
}

static const char *const rdap_statuses[] = {NULL, "found", "not_found", "no_service", "failed"};

static void read_rdap(sqlite3_stmt *st, void *out) {
  struct uc_rdap_rec *r = out;
  const char *status = (const char *)sqlite3_column_text(st, 1);
  const char *created = (const char *)sqlite3_column_text(st, 2);
  memset(r, 0, sizeof *r);
  copy_text(r->domain, sizeof r->domain, st, 0);
  r->status = UC_RDAP_FAILED; /* unreachable otherwise: CHECK constraint */
  for (int i = UC_RDAP_FOUND; status && i <= UC_RDAP_FAILED; i++)
    if (strcmp(status, rdap_statuses[i]) == 0)
      r->status = (enum uc_rdap_status)i;
  r->created = created ? uc_date_parse(created, strlen(created)) : 0;
  if (r->status == UC_RDAP_FOUND && !r->created)
    r->status = UC_RDAP_FAILED;
  r->checked_at = sqlite3_column_int64(st, 3);
  r->expires_at = sqlite3_column_int64(st, 4);
}

#define RDAP_COLS "domain, status, created, checked_at, expires_at"
#define KEEP_FOUND "excluded.status = 'failed' AND rdap.status = 'found'"

static int sq_rdap_get(void *state, const char *domain, struct uc_rdap_rec *out) {
  struct sq *s = state;
  sqlite3_stmt *st = prepare(s, "SELECT " RDAP_COLS " FROM rdap WHERE domain = ?");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
  return one_row(s, st, read_rdap, out);
}

static int sq_rdap_put(void *state, const struct uc_rdap_rec *r) {
  struct sq *s = state;
  char day[11];
  if ((unsigned)r->status < UC_RDAP_FOUND || r->status > UC_RDAP_FAILED)
    return uc__store_errorf(UC_EINVAL, "rdap status %d", (int)r->status);
  /* A failure never replaces a found date: it only says when to look again. */
  sqlite3_stmt *st = prepare(s, "INSERT INTO rdap(" RDAP_COLS ") VALUES (?, ?, ?, ?, ?) "
                                "ON CONFLICT DO UPDATE SET "
                                "status = iif(" KEEP_FOUND ", rdap.status, excluded.status), "
                                "created = iif(" KEEP_FOUND ", rdap.created, excluded.created), "
                                "checked_at = excluded.checked_at, "
                                "expires_at = excluded.expires_at "
                                "WHERE excluded.checked_at >= rdap.checked_at");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_text(st, 1, r->domain, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, rdap_statuses[r->status], -1, SQLITE_STATIC);
  if (r->status == UC_RDAP_FOUND && r->created) {
    uc_date_format(r->created, day);
    sqlite3_bind_text(st, 3, day, -1, SQLITE_TRANSIENT);
  }
  sqlite3_bind_int64(st, 4, r->checked_at);
  sqlite3_bind_int64(st, 5, r->expires_at);
  return step_write(s, st, 0);
}

struct visit_rdap {
  uc_rdap_cb cb;
  void *arg;
};
static int rdap_row(sqlite3_stmt *st, void *ctx) {
  struct visit_rdap *v = ctx;
  struct uc_rdap_rec r;
  read_rdap(st, &r);
  return v->cb(v->arg, &r);
}

static int sq_rdap_each(void *state, int64_t at, size_t limit, uc_rdap_cb cb, void *arg) {
  struct sq *s = state;
  struct visit_rdap v = {cb, arg};
  sqlite3_stmt *st = prepare(s, "SELECT " RDAP_COLS " FROM rdap WHERE expires_at > ? "
                                "ORDER BY checked_at DESC LIMIT ?");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_int64(st, 1, at);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)(limit > INT64_MAX ? INT64_MAX : limit));
  return each_row(s, st, rdap_row, &v);
}

static int sq_rdap_trim(void *state, int64_t before, size_t *deleted) {
  return delete_before(state, "DELETE FROM rdap WHERE expires_at < ?", before, deleted);
}

/* ---- batch tasks ---- */

_Static_assert(UC_TYPE_COUNT == 12, "batch_tasks has one type_ column per uc_type");
#define BATCH_COUNTS                                                                               \
  "rows_total, rows_done, white, grey, black, blank, duplicates, type_white, type_grey, "          \
  "type_black, type_disposable, type_masked, type_no_website, type_multi_alias, "                  \
  "type_suspicious, type_young, type_legitimate, type_invalid, type_unknown"
#define BATCH_COLS                                                                                 \
  "id, account_id, key_id, key_type, project, filename, format, deduplicate, "                     \
  "status, " BATCH_COUNTS                                                                          \
  ", upload_bytes, result_bytes, created_at, coalesce(finished_at, 0), attempts, "                 \
  "reason, owner, lease_until"

/* Binds the counts at column i and after; returns the next column. */
static int bind_counts(sqlite3_stmt *st, int i, const struct uc_batch_counts *n) {
  const uint64_t v[7] = {n->rows_total,  n->rows_done, n->category[0], n->category[1],
                         n->category[2], n->blank,     n->duplicates};
  for (int k = 0; k < 7; k++)
    sqlite3_bind_int64(st, i++, (sqlite3_int64)v[k]);
  for (int t = 0; t < UC_TYPE_COUNT; t++)
    sqlite3_bind_int64(st, i++, (sqlite3_int64)n->type[t]);
  return i;
}

/* Binds what a task's progress changes, from column i. */
static int bind_progress(sqlite3_stmt *st, int i, const struct uc_batch_rec *t) {
  i = bind_counts(st, i, &t->counts);
  sqlite3_bind_int64(st, i++, (sqlite3_int64)t->upload_bytes);
  sqlite3_bind_int64(st, i++, (sqlite3_int64)t->result_bytes);
  sqlite3_bind_int64(st, i++, t->finished_at);
  sqlite3_bind_int(st, i++, (int)t->attempts);
  sqlite3_bind_text(st, i++, t->reason, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, i++, uc_batch_status_name(t->status), -1, SQLITE_STATIC);
  return i;
}

static void read_batch(sqlite3_stmt *st, void *out) {
  struct uc_batch_rec *t = out;
  char text[16];
  memset(t, 0, sizeof *t);
  copy_text(t->id, sizeof t->id, st, 0);
  t->account_id = sqlite3_column_int64(st, 1);
  t->key_id = sqlite3_column_int64(st, 2);
  copy_text(text, sizeof text, st, 3);
  uc_key_type_parse(text, &t->key_type);
  copy_text(t->project, sizeof t->project, st, 4);
  copy_text(t->filename, sizeof t->filename, st, 5);
  copy_text(text, sizeof text, st, 6);
  char name[24]; /* the format by its extension */
  snprintf(name, sizeof name, "x.%s", text);
  uc_batch_format_of(name, &t->format);
  t->deduplicate = sqlite3_column_int(st, 7);
  copy_text(text, sizeof text, st, 8);
  uc_batch_status_parse(text, &t->status);
  uint64_t *v[7] = {&t->counts.rows_total,  &t->counts.rows_done,   &t->counts.category[0],
                    &t->counts.category[1], &t->counts.category[2], &t->counts.blank,
                    &t->counts.duplicates};
  for (int k = 0; k < 7; k++)
    *v[k] = (uint64_t)sqlite3_column_int64(st, 9 + k);
  for (int k = 0; k < UC_TYPE_COUNT; k++)
    t->counts.type[k] = (uint64_t)sqlite3_column_int64(st, 16 + k);
  t->upload_bytes = (uint64_t)sqlite3_column_int64(st, 16 + UC_TYPE_COUNT);
  t->result_bytes = (uint64_t)sqlite3_column_int64(st, 17 + UC_TYPE_COUNT);
  t->created_at = sqlite3_column_int64(st, 18 + UC_TYPE_COUNT);
  t->finished_at = sqlite3_column_int64(st, 19 + UC_TYPE_COUNT);
  t->attempts = (unsigned)sqlite3_column_int(st, 20 + UC_TYPE_COUNT);
  copy_text(t->reason, sizeof t->reason, st, 21 + UC_TYPE_COUNT);
  copy_text(t->owner, sizeof t->owner, st, 22 + UC_TYPE_COUNT);
  t->lease_until = sqlite3_column_int64(st, 23 + UC_TYPE_COUNT);
}

static int sq_batch_insert(void *state, const struct uc_batch_rec *t) {
  struct sq *s = state;
  sqlite3_stmt *st = prepare(
      s, "INSERT INTO batch_tasks(id, account_id, key_id, key_type, project, filename, format, "
         "deduplicate, " BATCH_COUNTS ", upload_bytes, result_bytes, finished_at, attempts, "
         "reason, status, created_at, owner, lease_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
         "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
         "?, ?, nullif(?, 0), ?, ?, ?, ?, ?, ?)");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_text(st, 1, t->id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, t->account_id);
  sqlite3_bind_int64(st, 3, t->key_id);
  sqlite3_bind_text(st, 4, uc_key_type_name(t->key_type), -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 5, t->project, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 6, t->filename, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 7, uc_batch_format_name(t->format), -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 8, t->deduplicate != 0);
  int i = bind_progress(st, 9, t);
  sqlite3_bind_int64(st, i++, t->created_at);
  sqlite3_bind_text(st, i++, t->owner, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, i, t->lease_until);
  return step_write(s, st, 0);
}

/* Why a write that matched no row did not: UC_EBUSY when the task is there
 * (another owner's, or not processing for a claim), else UC_ENOTFOUND. Lock
 * held, inside the caller's transaction. */
static int batch_missed(struct sq *s, int64_t account_id, const char *id, int claim) {
  sqlite3_stmt *st = NULL;
  int ret = run_locked(s,
                       "SELECT status = 'processing' FROM batch_tasks "
                       "WHERE id = ?1 AND (?2 = 0 OR account_id = ?2)",
                       &st);
  if (ret)
    return ret;
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, account_id);
  int rc = sqlite3_step(st);
  ret = rc == SQLITE_DONE                     ? UC_ENOTFOUND
        : rc != SQLITE_ROW                    ? fail_db(s, rc)
        : claim && !sqlite3_column_int(st, 0) ? UC_ENOTFOUND /* finished: nothing to claim */
                                              : UC_EBUSY;
  sqlite3_finalize(st);
  return ret;
}

struct batch_write {
  const struct uc_batch_rec *t;
  int finish;             /* only while processing, then the usage */
  struct usage_add usage; /* n 0: none */
};

/* The progress of t, only while t->owner holds it (when t->owner is set; a
 * finish: only while processing), then the usage rows: one transaction. */
static int batch_write_body(struct sq *s, void *arg) {
  const struct batch_write *w = arg;
  const struct uc_batch_rec *t = w->t;
  sqlite3_stmt *st = NULL;
  int ret = run_locked(
      s,
      "UPDATE batch_tasks SET rows_total = ?, rows_done = ?, white = ?, grey = ?, black = ?, "
      "blank = ?, duplicates = ?, type_white = ?, type_grey = ?, type_black = ?, "
      "type_disposable = ?, type_masked = ?, type_no_website = ?, type_multi_alias = ?, "
      "type_suspicious = ?, type_young = ?, type_legitimate = ?, type_invalid = ?, "
      "type_unknown = ?, "
      "upload_bytes = ?, result_bytes = ?, finished_at = nullif(?, 0), attempts = ?, "
      "reason = ?, status = ? WHERE account_id = ?26 AND id = ?27 AND (?28 = '' OR owner = ?28) "
      "AND (?29 = 0 OR status = 'processing')",
      &st);
  if (ret)
    return ret;
  _Static_assert(7 + UC_TYPE_COUNT + 6 == 25, "the WHERE clause's numbers follow the progress");
  bind_progress(st, 1, t);
  sqlite3_bind_int64(st, 26, t->account_id);
  sqlite3_bind_text(st, 27, t->id, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 28, t->owner, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 29, w->finish);
  ret = step_done(s, st);
  sqlite3_finalize(st);
  if (!ret && !sqlite3_changes(s->db))
    return batch_missed(s, t->account_id, t->id, 0);
  return ret || !w->usage.n ? ret : usage_add_body(s, (void *)&w->usage);
}
static int sq_batch_update(void *state, const struct uc_batch_rec *t) {
  struct batch_write w = {t, 0, {NULL, 0, NULL}};
  return in_tx(state, batch_write_body, &w);
}

static int sq_batch_finish(void *state, const struct uc_batch_rec *t,
                           const struct uc_usage_delta *d, size_t n) {
  struct batch_write w = {t, 1, {d, n, BATCH_USAGE_UPSERT}};
  return in_tx(state, batch_write_body, &w);
}

static int sq_batch_get(void *state, int64_t account_id, const char *id, struct uc_batch_rec *out) {
  struct sq *s = state;
  sqlite3_stmt *st = prepare(s, "SELECT " BATCH_COLS " FROM batch_tasks "
                                "WHERE id = ?1 AND (?2 = 0 OR account_id = ?2)");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, account_id);
  return one_row(s, st, read_batch, out);
}

struct visit_batch {
  uc_batch_cb cb;
  void *arg;
};
static int batch_row(sqlite3_stmt *st, void *ctx) {
  struct visit_batch *v = ctx;
  struct uc_batch_rec t;
  read_batch(st, &t);
  return v->cb(v->arg, &t);
}

static int sq_batch_each(void *state, int64_t account_id, uc_batch_cb cb, void *arg) {
  struct sq *s = state;
  struct visit_batch v = {cb, arg};
  sqlite3_stmt *st = prepare(s, "SELECT " BATCH_COLS " FROM batch_tasks "
                                "WHERE ?1 = 0 OR account_id = ?1 "
                                "ORDER BY created_at DESC, rowid DESC");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_int64(st, 1, account_id);
  return each_row(s, st, batch_row, &v);
}

static int sq_batch_delete(void *state, int64_t account_id, const char *id) {
  struct sq *s = state;
  sqlite3_stmt *st = prepare(s, "DELETE FROM batch_tasks WHERE id = ?1 "
                                "AND (?2 = 0 OR account_id = ?2)");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, account_id);
  return step_write(s, st, 1);
}

struct batch_claim {
  const char *id, *owner;
  int64_t now, lease_until;
  struct uc_batch_rec *out; /* NULL: a release */
};

/* A claim and the row it left, or a release: one transaction. */
static int batch_claim_body(struct sq *s, void *arg) {
  const struct batch_claim *c = arg;
  sqlite3_stmt *st = NULL;
  int ret = run_locked(s,
                       c->out ? "UPDATE batch_tasks SET owner = ?1, lease_until = ?2 "
                                "WHERE id = ?3 AND status = 'processing' "
                                "AND (lease_until <= ?4 OR owner = ?1)"
                              : "UPDATE batch_tasks SET owner = '', lease_until = 0 "
                                "WHERE owner = ?1 AND id = ?3",
                       &st);
  if (ret)
    return ret;
  sqlite3_bind_text(st, 1, c->owner, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, c->id, -1, SQLITE_STATIC);
  if (c->out)
    sqlite3_bind_int64(st, 2, c->lease_until), sqlite3_bind_int64(st, 4, c->now);
  ret = step_done(s, st);
  sqlite3_finalize(st);
  if (!ret && !sqlite3_changes(s->db))
    return batch_missed(s, 0, c->id, c->out != NULL);
  if (ret || !c->out)
    return ret;
  if ((ret = run_locked(s, "SELECT " BATCH_COLS " FROM batch_tasks WHERE id = ?", &st)))
    return ret;
  sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    read_batch(st, c->out);
  ret = rc == SQLITE_ROW ? UC_OK : fail_db(s, rc);
  sqlite3_finalize(st);
  return ret;
}

static int sq_batch_claim(void *state, const char *id, const char *owner, int64_t now_ms,
                          unsigned lease_ms, struct uc_batch_rec *out) {
  struct batch_claim c = {id, owner, now_ms, now_ms + (int64_t)lease_ms, out};
  return in_tx(state, batch_claim_body, &c);
}

static int sq_batch_release(void *state, const char *id, const char *owner) {
  struct batch_claim c = {id, owner, 0, 0, NULL};
  return in_tx(state, batch_claim_body, &c);
}

static int sq_batch_stale(void *state, int64_t now_ms, size_t limit, uc_batch_cb cb, void *arg) {
  struct sq *s = state;
  struct visit_batch v = {cb, arg};
  sqlite3_stmt *st = prepare(s, "SELECT " BATCH_COLS " FROM batch_tasks "
                                "WHERE status = 'processing' AND lease_until <= ?1 "
                                "ORDER BY " BATCH_FREE_AT ", id LIMIT ?2");
  if (!st)
    return UC_ESTORE;
  sqlite3_bind_int64(st, 1, now_ms);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)(limit > INT64_MAX ? INT64_MAX : limit));
  return each_row(s, st, batch_row, &v);
}

static int sq_version(void *state, uint64_t *v) {
  struct sq *s = state;
  sqlite3_stmt *st = prepare(s, "PRAGMA data_version");
  return st ? one_row(s, st, read_u64, v) : UC_ESTORE;
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
    .ban_page = sq_ban_page,
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
    .rdap_get = sq_rdap_get,
    .rdap_put = sq_rdap_put,
    .rdap_each = sq_rdap_each,
    .rdap_trim = sq_rdap_trim,
    .batch_insert = sq_batch_insert,
    .batch_update = sq_batch_update,
    .batch_get = sq_batch_get,
    .batch_each = sq_batch_each,
    .batch_delete = sq_batch_delete,
    .batch_finish = sq_batch_finish,
    .batch_claim = sq_batch_claim,
    .batch_release = sq_batch_release,
    .batch_stale = sq_batch_stale,
    .batch_usage_add = sq_batch_usage_add,
    .batch_usage_each = sq_batch_usage_each,
    .audit_add = sq_audit_add,
    .audit_each = sq_audit_each,
    .secret_each = sq_secret_each,
    .account_put = sq_account_put,
    .key_put = sq_key_put,
    .list_put = sq_list_put,
    .audit_put = sq_audit_put,
    .secret_put = sq_secret_put,
    .rate_take = NULL, /* one server per file: it counts in memory */
};
