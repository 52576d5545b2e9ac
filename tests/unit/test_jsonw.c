/* The JSON writer (lib/jsonw.c): whatever the bytes, the text parses with
 * jansson and gives back the same string (invalid UTF-8 as U+FFFD). */
#include "unit.h"

#include <jansson.h>
#include <limits.h>

static json_t *roundtrip(const char *s, size_t n) {
  char buf[8192];
  struct uc_jsonw w;
  uc_jsonw_init(&w, buf, sizeof buf);
  uc_jsonw_begin_array(&w);
  uc_jsonw_string(&w, s, n);
  uc_jsonw_end_array(&w);
  size_t len = uc_jsonw_finish(&w);
  assert_true(len > 0);
  json_error_t err;
  json_t *a = json_loadb(buf, len, JSON_ALLOW_NUL, &err);
  if (!a)
    fail_msg("jansson rejects %s: %s", buf, err.text);
  return a;
}

static void test_escapes(void **state) {
  (void)state;
  static const char *const plain[] = {
      "", "abc", "quote\" back\\slash", "tab\tnl\ncr\r", "\x01\x1f\x7f", "é例😀", "</script>"};
  for (size_t i = 0; i < COUNT(plain); i++) {
    json_t *a = roundtrip(plain[i], strlen(plain[i]));
    assert_string_equal(json_string_value(json_array_get(a, 0)), plain[i]);
    json_decref(a);
  }
  /* an embedded NUL survives */
  json_t *a = roundtrip("a\0b", 3);
  assert_int_equal(json_string_length(json_array_get(a, 0)), 3);
  json_decref(a);
}

static void test_invalid_utf8_becomes_replacement(void **state) {
  (void)state;
  static const char *const bad[][2] = {
      {"\xff", "\xef\xbf\xbd"},                                                 /* never valid */
      {"a\xc3", "a\xef\xbf\xbd"},                                               /* truncated */
      {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},                                 /* overlong */
      {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},                 /* surrogate */
      {"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* > U+10FFFF */
  };
  for (size_t i = 0; i < COUNT(bad); i++) {
    json_t *a = roundtrip(bad[i][0], strlen(bad[i][0]));
    assert_string_equal(json_string_value(json_array_get(a, 0)), bad[i][1]);
    json_decref(a);
  }
}

static void test_random_bytes_always_parse(void **state) {
  (void)state;
  srand(11);
  for (int k = 0; k < 20000; k++) {
    char s[64];
    size_t n = (size_t)rand() % sizeof s;
    for (size_t i = 0; i < n; i++)
      s[i] = (char)(rand() & 0xFF);
    json_decref(roundtrip(s, n));
  }
}

static void test_structure_and_overflow(void **state) {
  (void)state;
  char buf[256];
  struct uc_jsonw w;
  uc_jsonw_init(&w, buf, sizeof buf);
  uc_jsonw_begin_object(&w);
  uc_jsonw_key(&w, "a");
  uc_jsonw_int(&w, -42);
  uc_jsonw_key(&w, "b");
  uc_jsonw_begin_array(&w);
  uc_jsonw_bool(&w, 1);
  uc_jsonw_null(&w);
  uc_jsonw_begin_object(&w);
  uc_jsonw_end_object(&w);
  uc_jsonw_cstring(&w, NULL);
  uc_jsonw_end_array(&w);
  uc_jsonw_key(&w, "c\"");
  uc_jsonw_cstring(&w, "x");
  uc_jsonw_end_object(&w);
  assert_int_not_equal(uc_jsonw_finish(&w), 0);
  assert_string_equal(buf, "{\"a\":-42,\"b\":[true,null,{},null],\"c\\\"\":\"x\"}");
  /* too small: nothing half-written is reported as done */
  char small[8];
  uc_jsonw_init(&w, small, sizeof small);
  uc_jsonw_begin_array(&w);
  uc_jsonw_cstring(&w, "0123456789");
  uc_jsonw_end_array(&w);
  assert_int_equal(uc_jsonw_finish(&w), 0);
  /* unbalanced */
  uc_jsonw_init(&w, buf, sizeof buf);
  uc_jsonw_begin_object(&w);
  assert_int_equal(uc_jsonw_finish(&w), 0);
}

static void test_int(void **state) {
  (void)state;
  static const struct {
    long v;
    const char *text;
  } cases[] = {{0, "[0]"},
               {7, "[7]"},
               {-1, "[-1]"},
               {10, "[10]"},
               {1234567890, "[1234567890]"},
               {LONG_MAX, "[9223372036854775807]"},
               {LONG_MIN, "[-9223372036854775808]"}};
  for (size_t i = 0; i < COUNT(cases); i++) {
    char buf[64];
    struct uc_jsonw w;
    uc_jsonw_init(&w, buf, sizeof buf);
    uc_jsonw_begin_array(&w);
    uc_jsonw_int(&w, cases[i].v);
    uc_jsonw_end_array(&w);
    assert_int_not_equal(uc_jsonw_finish(&w), 0);
    assert_string_equal(buf, cases[i].text);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_escapes),
      cmocka_unit_test(test_invalid_utf8_becomes_replacement),
      cmocka_unit_test(test_random_bytes_always_parse),
      cmocka_unit_test(test_structure_and_overflow),
      cmocka_unit_test(test_int),
  };
  return cmocka_run_group_tests_name("jsonw", tests, NULL, NULL);
}
