/* API key format, checksum and hashing (lib/keys.c). */
#include "unit.h"

#include "uc/keys.h"

static void test_generate_and_parse(void **state) {
  (void)state;
  static const struct {
    uc_key_type t;
    const char *prefix;
  } kinds[] = {
      {UC_KEY_ACTIVE, "ucl_live_"}, {UC_KEY_SANDBOX, "ucl_test_"}, {UC_KEY_ADMIN, "ucl_admin_"}};
  for (size_t i = 0; i < COUNT(kinds); i++) {
    char a[UC_KEY_MAX + 1], b[UC_KEY_MAX + 1];
    size_t n = uc_key_generate(kinds[i].t, a);
    uc_key_generate(kinds[i].t, b);
    assert_int_equal(n, strlen(kinds[i].prefix) + UC_KEY_RANDOM_LEN + UC_KEY_CHECK_LEN);
    assert_memory_equal(a, kinds[i].prefix, strlen(kinds[i].prefix));
    assert_string_not_equal(a, b);
    uc_key_type t;
    assert_int_equal(uc_key_parse(a, n, &t), UC_OK);
    assert_int_equal(t, kinds[i].t);
  }
}

static void test_checksum_catches_typos(void **state) {
  (void)state;
  char k[UC_KEY_MAX + 1];
  size_t n = uc_key_generate(UC_KEY_ACTIVE, k);
  uc_key_type t;
  int caught = 0, tried = 0;
  for (size_t i = 9; i < n; i++) { /* every single-character change of the body */
    char saved = k[i];
    for (const char *c = "0aZ9"; *c; c++) {
      if (*c == saved)
        continue;
      k[i] = *c;
      tried++;
      caught += uc_key_parse(k, n, &t) == UC_EAUTH;
    }
    k[i] = saved;
  }
  assert_true(caught >= tried - 1); /* 62^6 checksum space: a miss is ~1 in 5.7e10 */
  assert_int_equal(uc_key_parse(k, n - 1, &t), UC_EAUTH);
  assert_int_equal(uc_key_parse("ucl_live_", 9, &t), UC_EAUTH);
  k[3] = '-';
  assert_int_equal(uc_key_parse(k, n, &t), UC_EAUTH);
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_generate_and_parse),
      cmocka_unit_test(test_checksum_catches_typos),
      cmocka_unit_test(test_hash_is_stable_and_distinct),
  };
  return cmocka_run_group_tests_name("keys", tests, NULL, NULL);
}
