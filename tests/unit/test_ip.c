/* Ban keys and CIDR ranges (lib/ip.c). */
#include "unit.h"

#include "uc/ip.h"

#include <arpa/inet.h>

static void test_one_key_per_address(void **state) {
  (void)state;
  static const char *const same[][2] = {
      {"2001:db8::1", "2001:DB8:0:0::1"},
      {"2001:db8::1", "2001:0db8:0000:0000:0000:0000:0000:0001"},
      {"2001:db8::1", "2001:db8::ffff:ffff"}, /* one /64 */
      {"192.0.2.1", "::ffff:192.0.2.1"},      /* IPv4-mapped is IPv4 */
      {"192.0.2.1", "::FFFF:c000:0201"},
      {"192.0.2.1", " 192.0.2.1 "},
  };
  for (size_t i = 0; i < COUNT(same); i++) {
    struct uc_ip a, b;
    assert_int_equal(uc_ip_parse(same[i][0], strlen(same[i][0]), 64, &a), UC_OK);
    assert_int_equal(uc_ip_parse(same[i][1], strlen(same[i][1]), 64, &b), UC_OK);
    assert_string_equal(a.key, b.key);
  }
  struct uc_ip ip;
  uc_ip_parse("2001:db8:aa:bb:1:2:3:4", 22, 64, &ip);
  assert_string_equal(ip.key, "2001:db8:aa:bb::/64");
  uc_ip_parse("2001:db8:aa:bb:1:2:3:4", 22, 128, &ip);
  assert_string_equal(ip.key, "2001:db8:aa:bb:1:2:3:4/128");
  uc_ip_parse("2001:db8:aa:bb:1:2:3:4", 22, 48, &ip);
  assert_string_equal(ip.key, "2001:db8:aa::/48");
  assert_int_equal(ip.family, 6);
}

static void test_not_addresses(void **state) {
  (void)state;
  static const char *const bad[] = {"",          "unknown",       "   ",         "1.2.3",
                                    "256.1.1.1", "1.2.3.4.5",     "2001:db8::g", "1.2.3.4/24",
                                    "localhost", "[::1",          "[::1]x",      "[::1]:",
                                    "1.2.3.4:0", "1.2.3.4:65536", "1.2.3.4:",    "1.2.3.4:8a",
                                    "fe80::1%",  "1.2.3.4%eth0",  ",1.2.3.4",    " , ",
                                    "host:80",   "[]:80",         "\n",          "1.2.3.4:1:2"};
  struct uc_ip ip;
  for (size_t i = 0; i < COUNT(bad); i++)
    if (uc_ip_parse(bad[i], strlen(bad[i]), 64, &ip) != UC_EINVAL)
      fail_msg("'%s' accepted", bad[i]);
  assert_int_equal(uc_ip_parse("1.2.3.4", 7, 0, &ip), UC_EINVAL); /* prefix out of range */
  assert_int_equal(uc_ip_parse("1.2\0.3.4", 8, 64, &ip), UC_EINVAL);
}

/* The forms integrations send (issue 15): each is the address it holds. */
static void test_integration_forms(void **state) {
  (void)state;
  static const struct {
    const char *text, *key;
    unsigned form;
  } cases[] = {
      {"198.51.100.1:1234", "198.51.100.1", UC_IP_PORT},
      {"[2001:db8::1]:443", "2001:db8::/64", UC_IP_BRACKETS | UC_IP_PORT},
      {"[2001:db8::1]", "2001:db8::/64", UC_IP_BRACKETS},
      {"fe80::1%eth0", "fe80::/64", UC_IP_ZONE},
      {"[fe80::1%25eth0]:80", "fe80::/64", UC_IP_BRACKETS | UC_IP_PORT | UC_IP_ZONE},
      {"10.0.0.1, 198.51.100.1", "10.0.0.1", UC_IP_LIST},
      {" 203.0.113.9:80 ,10.0.0.1", "203.0.113.9", UC_IP_LIST | UC_IP_PORT},
      {"198.51.100.1\n", "198.51.100.1", 0},
      {"\r\n 198.51.100.1\r\n", "198.51.100.1", 0},
      {"[::ffff:192.0.2.1]:8080", "192.0.2.1", UC_IP_BRACKETS | UC_IP_PORT},
      {"203.0.113.7", "203.0.113.7", 0},
  };
  for (size_t i = 0; i < COUNT(cases); i++) {
    struct uc_ip ip;
    if (uc_ip_parse(cases[i].text, strlen(cases[i].text), 64, &ip) != UC_OK)
      fail_msg("'%s' refused", cases[i].text);
    assert_string_equal(ip.key, cases[i].key);
    assert_int_equal(ip.form, cases[i].form);
  }
}

static void test_loopback(void **state) {
  (void)state;
  static const char *const yes[] = {"127.0.0.1", "127.255.1.2", "::1", "::ffff:127.0.0.1",
                                    "[::1]:8080"};
  static const char *const no[] = {"128.0.0.1", "::2", "126.255.255.255", "fe80::1", "10.0.0.1"};
  struct uc_ip ip;
  for (size_t i = 0; i < COUNT(yes); i++) {
    assert_int_equal(uc_ip_parse(yes[i], strlen(yes[i]), 64, &ip), UC_OK);
    assert_true(uc_ip_loopback(&ip));
  }
  for (size_t i = 0; i < COUNT(no); i++) {
    assert_int_equal(uc_ip_parse(no[i], strlen(no[i]), 64, &ip), UC_OK);
    assert_false(uc_ip_loopback(&ip));
  }
}

static void test_placeholder(void **state) {
  (void)state;
  static const char *const yes[] = {
      "0.0.0.0", "0.1.2.3", "255.255.255.255", "::", "::ffff:0.0.0.0", "[::]:443", "0.0.0.0:80"};
  static const char *const no[] = {"1.0.0.0",  "255.255.255.254", "::2",      "::1",
                                   "10.0.0.1", "2001:db8::",      "224.0.0.1"};
  struct uc_ip ip;
  for (size_t i = 0; i < COUNT(yes); i++) {
    assert_int_equal(uc_ip_parse(yes[i], strlen(yes[i]), 64, &ip), UC_OK);
    if (!uc_ip_placeholder(&ip))
      fail_msg("'%s' is not a placeholder", yes[i]);
  }
  for (size_t i = 0; i < COUNT(no); i++) {
    assert_int_equal(uc_ip_parse(no[i], strlen(no[i]), 64, &ip), UC_OK);
    if (uc_ip_placeholder(&ip))
      fail_msg("'%s' is a placeholder", no[i]);
  }
}

static void test_cidr(void **state) {
  (void)state;
  struct uc_cidr c;
  struct uc_ip ip;
  char text[UC_IP_KEY_MAX];
  assert_int_equal(uc_cidr_parse("10.1.2.3/8", &c, text), UC_OK);
  assert_string_equal(text, "10.0.0.0/8");
  uc_ip_parse("10.200.0.1", 10, 64, &ip);
  assert_true(uc_cidr_contains(&c, &ip));
  uc_ip_parse("::ffff:10.200.0.1", 17, 64, &ip);
  assert_true(uc_cidr_contains(&c, &ip));
  uc_ip_parse("11.0.0.1", 8, 64, &ip);
  assert_false(uc_cidr_contains(&c, &ip));
  assert_int_equal(uc_cidr_parse("::ffff:192.0.2.0/120", &c, text), UC_OK);
  assert_string_equal(text, "192.0.2.0/24");
  assert_int_equal(uc_cidr_parse("2001:db8::/32", &c, text), UC_OK);
  uc_ip_parse("2001:db8:ffff::1", 16, 64, &ip);
  assert_true(uc_cidr_contains(&c, &ip));
  assert_int_equal(uc_cidr_parse("203.0.113.9", &c, text), UC_OK);
  assert_string_equal(text, "203.0.113.9/32");
  static const char *const bad[] = {"10.0.0.0/33",       "10.0.0.0/", "10.0.0.0/x", "/8", "::/129",
                                    "::ffff:1.2.3.4/64", "nonsense",  "10.0.0.0/-1"};
  for (size_t i = 0; i < COUNT(bad); i++)
    if (uc_cidr_parse(bad[i], &c, text) != UC_EINVAL)
      fail_msg("'%s' accepted", bad[i]);
}

/* The IPv4 key is inet_ntop's dotted quad, for every octet value in every place. */
static void test_v4_key_is_inet_ntop(void **state) {
  (void)state;
  for (unsigned v = 0; v < 256; v++)
    for (int place = 0; place < 4; place++) {
      uint8_t a[4] = {1, 20, 255, 0};
      char text[INET_ADDRSTRLEN];
      struct uc_ip ip;
      a[place] = (uint8_t)v;
      inet_ntop(AF_INET, a, text, sizeof text);
      assert_int_equal(uc_ip_parse(text, strlen(text), 64, &ip), UC_OK);
      assert_string_equal(ip.key, text);
    }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_one_key_per_address),
      cmocka_unit_test(test_v4_key_is_inet_ntop),
      cmocka_unit_test(test_not_addresses),
      cmocka_unit_test(test_integration_forms),
      cmocka_unit_test(test_loopback),
      cmocka_unit_test(test_placeholder),
      cmocka_unit_test(test_cidr),
  };
  return cmocka_run_group_tests_name("ip", tests, NULL, NULL);
}
