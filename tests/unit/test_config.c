/* Settings: defaults, INI, environment, validation (lib/config.c). */
#include "unit.h"

#include "uc/config.h"

static void test_defaults(void **state) {
  (void)state;
  struct uc_config c;
  uc_config_defaults(&c);
  assert_string_equal(c.listen, "127.0.0.1:8080");
  assert_string_equal(c.store, "./data/usercleaning.db");
  assert_int_equal(c.body_limit, 65536);
  assert_int_equal(c.threads, 0);
  assert_int_equal(c.log_emails, 0);
  size_t n;
  const struct uc_config_doc *docs = uc_config_docs(&n);
  assert_true(n >= 10);
  for (size_t i = 0; i < n; i++)
    assert_true(strlen(docs[i].help) > 10);
}

static void test_file_and_env(void **state) {
  (void)state;
  char path[] = "/tmp/uc-config-XXXXXX", err[256];
  int fd = mkstemp(path);
  const char text[] = "[server]\nlisten = 0.0.0.0:9000\nbody_limit = 4096\nlog_emails = yes\n";
  assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
  close(fd);
  struct uc_config c;
  uc_config_defaults(&c);
  assert_int_equal(uc_config_load_file(&c, path, err, sizeof err), UC_OK);
  assert_string_equal(c.listen, "0.0.0.0:9000");
  assert_int_equal(c.body_limit, 4096);
  assert_int_equal(c.log_emails, 1);
  char *env[] = {"USER_CLEANING_BODY_LIMIT=2048", "USER_CLEANING_LISTEN=[::1]:81",
                 "USER_CLEANING_API_KEY=not-a-setting", "PATH=/bin", NULL};
  assert_int_equal(uc_config_load_env(&c, env, err, sizeof err), UC_OK);
  assert_int_equal(c.body_limit, 2048);
  assert_string_equal(c.listen, "[::1]:81");
  unlink(path);
}

/* The settings of list sync and domain age reach their modules. */
static void test_sync_and_rdap_settings(void **state) {
  (void)state;
  struct uc_config c;
  struct uc_rdap_config rc;
  struct uc_sync_opts so;
  char err[256];
  uc_config_defaults(&c);
  assert_int_equal(c.domain_age, 1);
  assert_string_equal(c.rdap_bootstrap, "https://data.iana.org/rdap/dns.json");
  assert_int_equal(c.rdap_ttl, 30 * 86400);
  assert_int_equal(c.lists_update_interval, 0); /* off by default */
  assert_string_equal(c.lists_sources, "lists/sources.ini");
  uc_config_sync(&c, &so);
  assert_int_equal(so.max_removed_percent, 20);
  assert_int_equal(so.max_added, 20000);
  assert_int_equal(so.force, 0);
  char *env[] = {"USER_CLEANING_DOMAIN_AGE=off", "USER_CLEANING_RDAP_BOOTSTRAP=/etc/dns.json",
                 "USER_CLEANING_LISTS_MAX_REMOVED=5", NULL};
  assert_int_equal(uc_config_load_env(&c, env, err, sizeof err), UC_OK);
  assert_int_equal(c.domain_age, 0);
  assert_int_equal(uc_config_set(&c, "rdap_ttl", "60", err, sizeof err), UC_OK);
  assert_int_equal(uc_config_set(&c, "rdap_fail_ttl", "5", err, sizeof err), UC_EINVAL);
  assert_int_equal(uc_config_set(&c, "lists_max_removed", "101", err, sizeof err), UC_EINVAL);
  uc_config_rdap(&c, &rc);
  assert_string_equal(rc.bootstrap, "/etc/dns.json");
  assert_int_equal(rc.ttl, 60);
  assert_int_equal(rc.fail_ttl, 3600);
  uc_config_sync(&c, &so);
  assert_int_equal(so.max_removed_percent, 5);
}

static void test_rejections_name_the_problem(void **state) {
  (void)state;
  struct uc_config c;
  char err[256];
  uc_config_defaults(&c);
  assert_int_equal(uc_config_set(&c, "body_limit", "12x", err, sizeof err), UC_EINVAL);
  assert_non_null(strstr(err, "body_limit"));
  assert_int_equal(uc_config_set(&c, "body_limit", "1", err, sizeof err), UC_EINVAL);
  assert_int_equal(uc_config_set(&c, "body_limit", "-5", err, sizeof err), UC_EINVAL);
  assert_int_equal(uc_config_set(&c, "log_emails", "maybe", err, sizeof err), UC_EINVAL);
  assert_int_equal(uc_config_set(&c, "nonsense", "1", err, sizeof err), UC_EINVAL);
  assert_non_null(strstr(err, "unknown setting 'nonsense'"));
  char env_bad[] = "USER_CLEANING_THREADS=lots";
  char *env[] = {env_bad, NULL};
  assert_int_equal(uc_config_load_env(&c, env, err, sizeof err), UC_EINVAL);
  assert_non_null(strstr(err, "threads"));
  char path[] = "/tmp/uc-config-XXXXXX";
  int fd = mkstemp(path);
  assert_int_equal(write(fd, "[client]\nx = 1\n", 15), 15);
  close(fd);
  assert_int_equal(uc_config_load_file(&c, path, err, sizeof err), UC_EINVAL);
  assert_non_null(strstr(err, "unknown section [client]"));
  unlink(path);
  assert_int_equal(uc_config_load_file(&c, "/nonexistent/x.ini", err, sizeof err), UC_EIO);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_file_and_env),
      cmocka_unit_test(test_sync_and_rdap_settings),
      cmocka_unit_test(test_rejections_name_the_problem),
  };
  return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
