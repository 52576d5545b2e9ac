/* Persistent state behind an ops table: accounts, keys, usage. One backend per
 * file (lib/store_sqlite.c; Redis later). Every call is thread-safe. */
#ifndef UC_STORE_H
#define UC_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "uc/engine.h"
#include "uc/keys.h"

#define UC_NAME_MAX 64

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
};

/* Checks counted since the last flush, for one key, day and category. */
struct uc_usage_delta {
  int64_t key_id;
  unsigned day; /* days since 1970-01-01 (UTC) */
  uc_category category;
  uint64_t count;
  int64_t last_used; /* unix seconds of the newest of them */
};

struct uc_usage_row {
  int64_t key_id;
  unsigned day;
  uint64_t count[3]; /* by uc_category */
};

typedef int (*uc_account_cb)(void *arg, const struct uc_account_rec *a); /* non-zero stops */
typedef int (*uc_key_cb)(void *arg, const struct uc_key_rec *k);
typedef int (*uc_usage_cb)(void *arg, const struct uc_usage_row *u);

struct uc_store_ops {
  const char *name;
  int (*open)(const char *target, void **state, char *err, size_t err_size);
  void (*close)(void *state);
  /* UC_EEXISTS when the name is taken. */
  int (*account_create)(void *s, const char *name, struct uc_account_rec *out);
  /* UC_ENOTFOUND when there is none. */
  int (*account_get)(void *s, const char *name, struct uc_account_rec *out);
  int (*account_each)(void *s, uc_account_cb cb, void *arg);
  /* Sets k->id. UC_EEXISTS on a hash collision. */
  int (*key_insert)(void *s, struct uc_key_rec *k);
  int (*key_each)(void *s, int64_t account_id /* 0: every account */, uc_key_cb cb, void *arg);
  /* UC_ENOTFOUND when no key (revoked or not) has that hash. */
  int (*key_by_hash)(void *s, const uint8_t hash[UC_KEY_HASH_LEN], struct uc_key_rec *out);
  /* UC_ENOTFOUND when the account has no such live key. */
  int (*key_revoke)(void *s, int64_t account_id, int64_t key_id, int64_t when);
  /* Adds the counts (one transaction) and advances last_used_at. */
  int (*usage_add)(void *s, const struct uc_usage_delta *d, size_t n);
  int (*usage_each)(void *s, int64_t account_id, unsigned since_day, uc_usage_cb cb, void *arg);
  /* A number that changes when another process has changed the store. */
  int (*version)(void *s, uint64_t *v);
};

typedef struct uc_store {
  const struct uc_store_ops *ops;
  void *state;
} uc_store;

extern const struct uc_store_ops uc_store_sqlite_ops;

/* Opens a store from "sqlite:PATH" or a plain PATH (SQLite), creating the file,
 * its directory and the schema as needed. NULL and err on failure. */
uc_store *uc_store_open(const char *target, char *err, size_t err_size);
void uc_store_close(uc_store *st);

/* Creates a key of type t for the account, fills rec and writes the key text
 * (shown once, never stored) into key. */
int uc_store_key_create(uc_store *st, int64_t account_id, const char *name, uc_key_type t,
                        struct uc_key_rec *rec, char key[UC_KEY_MAX + 1]);

/* Validates a name for accounts and keys: 1..64 printable characters. */
int uc_name_valid(const char *name);

#endif
