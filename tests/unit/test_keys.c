/* API key format, checksum and hashing (lib/keys.c). */
#include "unit.h"

#include "uc/keys.h"

static const uint8_t secret[UC_KEY_SECRET_LEN] = "an installation's 32-byte secret";
static const uint8_t other[UC_KEY_SECRET_LEN] = "another installation's secret!!!";

static void test_generate_and_parse(void **state) {
  (void)state;
  static const struct {
    uc_key_type t;
    const char *prefix;
  } kinds[] = {
      {UC_KEY_ACTIVE, "ucl_live_"}, {UC_KEY_SANDBOX, "ucl_test_"}, {UC_KEY_ADMIN, "ucl_admin_"}};
  for (size_t i = 0; i < COUNT(kinds); i++) {
    char a[UC_KEY_MAX + 1], b[UC_KEY_MAX + 1];
    size_t n = uc_key_generate(kinds[i].t, secret, a);
    uc_key_generate(kinds[i].t, secret, b);
    assert_int_equal(n, strlen(kinds[i].prefix) + UC_KEY_RANDOM_LEN + UC_KEY_CHECK_LEN);
    assert_memory_equal(a, kinds[i].prefix, strlen(kinds[i].prefix));
    assert_string_not_equal(a, b);
    uc_key_type t;
    int check = 0;
    assert_int_equal(uc_key_parse(a, n, secret, &t, &check), UC_OK);
    assert_int_equal(t, kinds[i].t);
    assert_int_equal(check, UC_KEY_KEYED);
  }
}

/* Keys made before keyed checksums still parse (as legacy); a keyed one is
 * refused by another installation and by anyone without the secret. */
static void test_keyed_and_legacy(void **state) {
  (void)state;
  char k[UC_KEY_MAX + 1], old[UC_KEY_MAX + 1];
  uc_key_type t;
  int check = 0;
  size_t n = uc_key_generate(UC_KEY_ACTIVE, secret, k);
  size_t m = uc_key_generate(UC_KEY_ACTIVE, NULL, old);
  assert_int_equal(uc_key_parse(k, n, secret, &t, &check), UC_OK);
  assert_int_equal(check, UC_KEY_KEYED);
  assert_int_equal(uc_key_parse(k, n, other, &t, NULL), UC_EAUTH);
  assert_int_equal(uc_key_parse(k, n, NULL, &t, NULL), UC_EAUTH);
  assert_int_equal(uc_key_parse(old, m, secret, &t, &check), UC_OK);
  assert_int_equal(check, UC_KEY_LEGACY);
  assert_int_equal(uc_key_parse(old, m, NULL, &t, &check), UC_OK);
  assert_int_equal(check, UC_KEY_LEGACY);
  int keyed = 0; /* 1,000 keyed keys: none passes for another secret */
  for (int i = 0; i < 1000; i++) {
    n = uc_key_generate(UC_KEY_SANDBOX, secret, k);
    keyed += uc_key_parse(k, n, other, &t, NULL) == UC_OK;
  }
  assert_int_equal(keyed, 0);
}

static void test_checksum_catches_typos(void **state) {
  (void)state;
  char k[UC_KEY_MAX + 1];
  size_t n = uc_key_generate(UC_KEY_ACTIVE, secret, k);
  uc_key_type t;
  int caught = 0, tried = 0;
  for (size_t i = 9; i < n; i++) { /* every single-character change of the body */
    char saved = k[i];
    for (const char *c = "0aZ9"; *c; c++) {
      if (*c == saved)
        continue;
      k[i] = *c;
      tried++;
      caught += uc_key_parse(k, n, secret, &t, NULL) == UC_EAUTH;
    }
    k[i] = saved;
  }
  assert_true(caught >= tried - 1); /* 62^6 checksum space, twice: a miss is ~1 in 2.8e10 */
  assert_int_equal(uc_key_parse(k, n - 1, secret, &t, NULL), UC_EAUTH);
  assert_int_equal(uc_key_parse("ucl_live_", 9, secret, &t, NULL), UC_EAUTH);
  k[3] = '-';
  assert_int_equal(uc_key_parse(k, n, secret, &t, NULL), UC_EAUTH);
}

static void test_hash_is_stable_and_distinct(void **state) {
  (void)state;
  uint8_t h1[UC_KEY_HASH_LEN], h2[UC_KEY_HASH_LEN], h3[UC_KEY_HASH_LEN];
  uc_key_hash("abc", 3, h1);
  uc_key_hash("abc", 3, h2);
  uc_key_hash("abd", 3, h3);
  assert_memory_equal(h1, h2, sizeof h1);
  assert_memory_not_equal(h1, h3, sizeof h1);
  uc_key_type t;
  assert_int_equal(uc_key_type_parse("sandbox", &t), UC_OK);
  assert_int_equal(t, UC_KEY_SANDBOX);
  assert_int_equal(uc_key_type_parse("root", &t), UC_EINVAL);
}

/* uc_auth_header_parse on (authorization, x_api_key): the result and the key it finds. */
static void expect_auth(const char *authorization, const char *x_api_key, int result,
                        const char *want) {
  const char *key = "unset";
  size_t n = 99;
  assert_int_equal(uc_auth_header_parse(authorization, x_api_key, &key, &n), result);
  if (result != UC_AUTH_KEY) {
    assert_null(key);
    assert_int_equal(n, 0);
    return;
  }
  assert_int_equal(n, strlen(want));
  assert_memory_equal(key, want, n);
  const char *from = authorization && strstr(authorization, want) ? authorization : x_api_key;
  assert_true(key >= from &&
              key + n <= from + strlen(from)); /* a span of the header it came from */
}

static void test_auth_header_bearer(void **state) {
  (void)state;
  expect_auth("Bearer ucl_live_x", NULL, UC_AUTH_KEY, "ucl_live_x");
  expect_auth(" \t Bearer\t\t ucl_live_x \t ", NULL, UC_AUTH_KEY, "ucl_live_x");
  expect_auth("bearer ucl_live_x", NULL, UC_AUTH_KEY, "ucl_live_x");
  expect_auth("BEARER\tucl_live_x", NULL, UC_AUTH_KEY, "ucl_live_x");
  expect_auth("Bearer a b", NULL, UC_AUTH_KEY,
              "a b"); /* inner spaces are the key's: it fails later */
  expect_auth("Bearer \t ", NULL, UC_AUTH_NONE, NULL);
}

static void test_auth_header_malformed(void **state) {
  (void)state;
  expect_auth("Basic dXNlcjpwYXNz", NULL, UC_AUTH_MALFORMED, NULL);
  expect_auth("Token ucl_live_x", NULL, UC_AUTH_MALFORMED, NULL);
  expect_auth("ucl_live_x", NULL, UC_AUTH_MALFORMED, NULL);
  expect_auth("Bearer", NULL, UC_AUTH_MALFORMED, NULL);
  expect_auth("Bearerucl_live_x", NULL, UC_AUTH_MALFORMED, NULL);
  expect_auth("Bear ucl_live_x", NULL, UC_AUTH_MALFORMED, NULL);
  expect_auth("Basic abc", "ucl_live_x", UC_AUTH_MALFORMED, NULL); /* no fallback past a bad one */
}

static void test_auth_header_x_api_key(void **state) {
  (void)state;
  expect_auth(NULL, "ucl_live_x", UC_AUTH_KEY, "ucl_live_x");
  expect_auth(NULL, " \tucl_live_x\t ", UC_AUTH_KEY, "ucl_live_x");
  expect_auth("", "ucl_live_x", UC_AUTH_KEY, "ucl_live_x");
  expect_auth(" \t", "ucl_live_x", UC_AUTH_KEY, "ucl_live_x");
  expect_auth("Bearer ucl_live_a", "ucl_live_b", UC_AUTH_KEY, "ucl_live_a");
  expect_auth("Bearer  ", "ucl_live_b", UC_AUTH_NONE, NULL); /* Authorization was given */
  expect_auth(NULL, NULL, UC_AUTH_NONE, NULL);
  expect_auth("", "", UC_AUTH_NONE, NULL);
  expect_auth(NULL, " \t ", UC_AUTH_NONE, NULL);
  expect_auth(" ", NULL, UC_AUTH_NONE, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_generate_and_parse),
      cmocka_unit_test(test_keyed_and_legacy),
      cmocka_unit_test(test_checksum_catches_typos),
      cmocka_unit_test(test_hash_is_stable_and_distinct),
      cmocka_unit_test(test_auth_header_bearer),
      cmocka_unit_test(test_auth_header_malformed),
      cmocka_unit_test(test_auth_header_x_api_key),
  };
  return cmocka_run_group_tests_name("keys", tests, NULL, NULL);
}
