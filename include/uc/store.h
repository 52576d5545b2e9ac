/* Persistent state behind an ops table: accounts, keys, usage. One backend per
 * file (lib/store_sqlite.c; Redis later). Every call is thread-safe. */
#ifndef UC_STORE_H
#define UC_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "uc/engine.h"
#include "uc/ip.h"
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

typedef int (*uc_ban_cb)(void *arg, const struct uc_ban_rec *b);
typedef int (*uc_list_cb)(void *arg, const struct uc_list_rec *l);
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
  /* Renames and/or retypes a live key (name NULL, type < 0: unchanged). */
  int (*key_update)(void *s, int64_t account_id, int64_t key_id, const char *name, int type);
  /* Settings as the JSON text of uc_settings_to_json; *json NULL when never set.
   * The caller free()s it. */
  int (*settings_get)(void *s, int64_t account_id, char **json);
  int (*settings_put)(void *s, int64_t account_id, const char *json);
  /* Domain lists; account_id 0: every account. add: UC_EEXISTS; remove: UC_ENOTFOUND. */
  int (*list_each)(void *s, int64_t account_id, uc_list_cb cb, void *arg);
  int (*list_add)(void *s, int64_t account_id, uc_category c, const char *domain);
  int (*list_remove)(void *s, int64_t account_id, uc_category c, const char *domain);
  int (*list_replace)(void *s, int64_t account_id, uc_category c, const char *const *domains,
                      size_t n);
  /* Bans; put is an upsert of all n records in one transaction (durable on
   * return) that never clears a stored ban: only ban_delete lifts one. */
  int (*ban_each)(void *s, int64_t account_id, uc_ban_cb cb, void *arg);
  int (*ban_put)(void *s, const struct uc_ban_rec *b, size_t n);
  int (*ban_delete)(void *s, int64_t account_id, const char *ip); /* UC_ENOTFOUND */
  int (*ban_delete_all)(void *s, int64_t account_id, size_t *deleted);
  /* Who (a key id, 0 for the CLI) did what to which account. */
  int (*audit_add)(void *s, int64_t account_id, int64_t key_id, const char *action,
                   const char *detail);
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
