/* The check body's fast path (lib/request.c): what it takes, what it leaves
 * to jansson. fuzz/fuzz_body.c checks its answers against jansson's. */
#include "unit.h"

#include "uc/request.h"

static int read_(const char *body, struct uc_check_body *b) {
  return uc_check_body_read(body, strlen(body), b);
}

static void expect(const char *body, const char *email, const char *ip) {
  struct uc_check_body b;
  assert_int_equal(read_(body, &b), 1);
  assert_int_equal(b.email_len, strlen(email));
  assert_memory_equal(b.email, email, b.email_len);
  if (ip) {
    assert_non_null(b.ip);
    assert_int_equal(b.ip_len, strlen(ip));
    assert_memory_equal(b.ip, ip, b.ip_len);
  } else {
    assert_null(b.ip);
  }
}

static void test_common_bodies(void **state) {
  (void)state;
  expect("{\"email\": \"someone@mailinator.com\", \"ip\": \"203.0.113.7\"}",
         "someone@mailinator.com", "203.0.113.7");
  expect("{\"email\":\"a@b.co\"}", "a@b.co", NULL);
  expect("{\"email\":\"a@b.co\",\"ip\":null}", "a@b.co", NULL);
  expect("{\"email\":\"a@b.co\",\"ip\":\"\"}", "a@b.co", "");
  expect(" \r\n{ \"ip\" : \"::1\" ,\t\"email\" : \"x@y.z\" , \"other\": \"v\" }\n ", "x@y.z",
         "::1");
  expect("{\"email\":\"first@x.io\",\"email\":\"last@x.io\"}", "last@x.io", NULL); /* as jansson */
  expect("{\"email\":\"a@b.co\",\"ip\":\"1.2.3.4\",\"ip\":null}", "a@b.co", NULL);
  expect("{\"email\":\"\"}", "", NULL); /* empty is a string: the engine says why it is invalid */
}

static void test_left_to_jansson(void **state) {
  (void)state;
  static const char *const others[] = {
      "",                                           /* empty */
      "{}",                                         /* email missing */
      "{\"email\":null}",                           /* not a string */
      "{\"email\":5}",                              /* numbers are never read here */
      "{\"email\":\"a@b.co\",\"n\":1e999}",         /* jansson refuses this one */
      "{\"email\":\"a@b.co\",\"t\":true}",          /* booleans */
      "{\"email\":\"a@b.co\",\"o\":{\"x\":\"y\"}}", /* nested */
      "{\"email\":\"a@b.co\",\"a\":[]}",            /* arrays */
      "[\"a@b.co\"]",                               /* not an object */
      "\"a@b.co\"",
      "{\"email\":\"j\\u00f6rg@b.de\"}",  /* escapes */
      "{\"email\":\"j\xc3\xb6rg@b.de\"}", /* UTF-8 */
      "{\"email\":\"a\tb@c.de\"}",        /* a raw tab inside a string */
      "{\"email\":\"a@b.co\"}\"",         /* a lone quote after the object */
      "{\"email\":\"a@b.co\"} x",         /* trailing garbage */
      "{\"email\":\"a@b.co\"}{}",         /* two values */
      "{\"email\":\"a@b.co\",}",          /* trailing comma */
      "{\"email\" \"a@b.co\"}",           /* missing colon */
      "{\"email\":\"a@b.co\"",            /* unterminated */
  };
  for (size_t i = 0; i < COUNT(others); i++) {
    struct uc_check_body b;
    if (read_(others[i], &b) != 0)
      fail_msg("fast path took %s", others[i]);
  }
  struct uc_check_body b; /* a NUL byte inside: jansson's (JSON_ALLOW_NUL) */
  assert_int_equal(uc_check_body_read("{\"email\":\"a\0b@c.de\"}", 20, &b), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_common_bodies),
      cmocka_unit_test(test_left_to_jansson),
  };
  return cmocka_run_group_tests_name("request", tests, NULL, NULL);
}
