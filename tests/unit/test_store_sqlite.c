/* The SQLite store on a real file (lib/store_sqlite.c): schema, accounts,
 * keys, usage, isolation between accounts, a second connection's changes. */
#include "unit.h"

#include "uc/store.h"

#include <time.h>
#include <unistd.h>

static char dir[64], path[96];

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/uc-store-XXXXXX");
  if (!mkdtemp(dir))
    return -1;
  snprintf(path, sizeof path, "%s/sub/store.db", dir); /* the directory is created */
  return 0;
}

static int teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd);
}

static int count_keys(void *arg, const struct uc_key_rec *k) {
  (void)k;
  ++*(int *)arg;
  return 0;
}

static int collect_usage(void *arg, const struct uc_usage_row *u) {
  struct uc_usage_row *out = arg;
  out[0] = *u;
  return 0;
}

static void test_accounts_keys_usage(void **state) {
  (void)state;
  char err[256], key[UC_KEY_MAX + 1];
  uc_store *st = NULL;
  assert_int_equal(uc_store_open(path, UC_STORE_CREATE, &st, err, sizeof err), UC_OK);
  struct uc_account_rec a, b, got;
  assert_int_equal(uc_store_account_create(st, "alpha", &a), UC_OK);
  assert_int_equal(uc_store_account_create(st, "beta", &b), UC_OK);
  assert_int_equal(uc_store_account_create(st, "alpha", &got), UC_EEXISTS);
  assert_int_equal(uc_store_account_get(st, "beta", &got), UC_OK);
  assert_int_equal(got.id, b.id);
  assert_int_equal(uc_store_account_get(st, "gamma", &got), UC_ENOTFOUND);

  struct uc_key_rec ka, kb, found;
  assert_int_equal(uc_store_key_create(st, a.id, "web", UC_KEY_ACTIVE, &ka, key), UC_OK);
  assert_memory_equal(ka.prefix, key, UC_KEY_PREFIX_SHOWN);
  uint8_t h[UC_KEY_HASH_LEN];
  uc_key_hash(key, strlen(key), h);
  assert_memory_equal(h, ka.hash, sizeof h); /* only the hash is kept */
  assert_int_equal(uc_store_key_by_hash(st, h, &found), UC_OK);
  assert_int_equal(found.id, ka.id);
  assert_int_equal(found.type, UC_KEY_ACTIVE);
  assert_int_equal(uc_store_key_create(st, b.id, "ops", UC_KEY_ADMIN, &kb, key), UC_OK);
  assert_int_equal(uc_store_key_create(st, b.id, "", UC_KEY_ADMIN, &kb, key), UC_EINVAL);

  int n = 0;
  uc_store_key_each(st, a.id, count_keys, &n);
  assert_int_equal(n, 1); /* beta's key is not alpha's */
  n = 0;
  uc_store_key_each(st, 0, count_keys, &n);
  assert_int_equal(n, 2);
  /* an account cannot revoke another's key */
  assert_int_equal(uc_store_key_revoke(st, b.id, ka.id, 1), UC_ENOTFOUND);
  assert_int_equal(uc_store_key_revoke(st, a.id, ka.id, 1), UC_OK);
  assert_int_equal(uc_store_key_revoke(st, a.id, ka.id, 2), UC_ENOTFOUND);
  assert_int_equal(uc_store_key_by_hash(st, h, &found), UC_OK);
  assert_int_equal(found.revoked_at, 1);

  unsigned today = (unsigned)(time(NULL) / 86400);
  struct uc_usage_delta d[] = {{ka.id, today, UC_BLACK, 3, 100}, {ka.id, today, UC_WHITE, 2, 90}};
  assert_int_equal(uc_store_usage_add(st, d, 2), UC_OK);
  assert_int_equal(uc_store_usage_add(st, d, 1), UC_OK);
  struct uc_usage_row row[1];
  memset(row, 0, sizeof row);
  assert_int_equal(uc_store_usage_each(st, a.id, today - 30, collect_usage, row), UC_OK);
  assert_int_equal(row[0].day, today);
  assert_int_equal(row[0].count[UC_BLACK], 6);
  assert_int_equal(row[0].count[UC_WHITE], 2);
  memset(row, 0, sizeof row);
  uc_store_usage_each(st, b.id, today - 30, collect_usage, row);
  assert_int_equal(row[0].count[UC_BLACK], 0);
  assert_int_equal(uc_store_key_by_hash(st, h, &found), UC_OK);
  assert_int_equal(found.last_used_at, 100);
  uc_store_close(st);
}

static void test_second_connection_changes_version(void **state) {
  (void)state;
  char err[256];
  uc_store *one = NULL, *two = NULL;
  assert_int_equal(uc_store_open(path, UC_STORE_CREATE, &one, err, sizeof err), UC_OK);
  assert_int_equal(uc_store_open(path, 0, &two, err, sizeof err), UC_OK);
  uint64_t v1, v2;
  struct uc_account_rec a;
  assert_int_equal(uc_store_version(one, &v1), UC_OK);
  assert_int_equal(uc_store_account_create(two, "delta", &a), UC_OK);
  assert_int_equal(uc_store_version(one, &v2), UC_OK);
  assert_true(v1 != v2); /* how the server notices the CLI */
  assert_int_equal(uc_store_account_get(one, "delta", &a), UC_OK);
  uc_store_close(one);
  uc_store_close(two);
}

static void test_open_errors(void **state) {
  (void)state;
  char err[256];
  uc_store *st = NULL;
  assert_int_not_equal(uc_store_open("/proc/none/x.db", UC_STORE_CREATE, &st, err, sizeof err),
                       UC_OK);
  assert_null(st);
  assert_true(strlen(err) > 0);
  char bad[128];
  snprintf(bad, sizeof bad, "%s/garbage.db", dir);
  FILE *f = fopen(bad, "w");
  fputs("this is not a database, just text that is long enough to look like a header......", f);
  fclose(f);
  assert_int_not_equal(uc_store_open(bad, 0, &st, err, sizeof err), UC_OK);
  assert_null(st);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_accounts_keys_usage),
      cmocka_unit_test(test_second_connection_changes_version),
      cmocka_unit_test(test_open_errors),
  };
  return cmocka_run_group_tests_name("store_sqlite", tests, setup, teardown);
}
