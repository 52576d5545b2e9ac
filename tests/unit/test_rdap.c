/* Domain age (lib/rdap.c) without a registry: the bootstrap and answer
 * readers, the registrable domain, and the client's queue and cache. The
 * lookups themselves are tested against a local HTTP server in tests/server. */
#include "unit.h"

#include "rdap_int.h"

#include <time.h>

static const char boot_doc[] =
    "{\"version\": \"1.0\", \"publication\": \"2026-01-01T00:00:00Z\", \"services\": ["
    "[[\"com\", \"NET\"], [\"http://rdap.example/plain/\", \"https://rdap.example/com/v1/\"]],"
    "[[\"uk\"], [\"https://uk.example/rdap\"]],"
    "[[\"co.uk\"], [\"https://couk.example/\"]],"
    "[[\"org\"], [\"ftp://nope.example/\"]],"
    "[\"not a service\"], 7, [[\"io\"]],"
    "[[\"com\"], [\"https://second.example/\"]]]}";

static void test_bootstrap(void **state) {
  (void)state;
  struct uc__rdap_bootstrap *b = NULL;
  char err[256];
  assert_int_equal(uc__rdap_bootstrap_parse(boot_doc, sizeof boot_doc - 1, &b, err, sizeof err),
                   UC_OK);
  assert_int_equal(uc__rdap_bootstrap_count(b), 4); /* com, net, uk, co.uk */
  /* https preferred; the first service naming a TLD keeps it */
  assert_string_equal(uc__rdap_bootstrap_find(b, "example.com"), "https://rdap.example/com/v1/");
  assert_string_equal(uc__rdap_bootstrap_find(b, "a.b.example.net"),
                      "https://rdap.example/com/v1/");
  /* the longest suffix, and a '/' added to a base URL without one */
  assert_string_equal(uc__rdap_bootstrap_find(b, "shop.co.uk"), "https://couk.example/");
  assert_string_equal(uc__rdap_bootstrap_find(b, "shop.org.uk"), "https://uk.example/rdap/");
  assert_null(uc__rdap_bootstrap_find(b, "example.org")); /* no http(s) URL */
  assert_null(uc__rdap_bootstrap_find(b, "example.io"));
  assert_null(uc__rdap_bootstrap_find(b, "com")); /* the TLD itself is not a domain of it */
  uc__rdap_bootstrap_free(b);
  static const char *const bad[] = {"", "{}", "[]", "{\"services\": {}}", "not json"};
  for (size_t i = 0; i < COUNT(bad); i++) {
    b = (void *)1;
    assert_int_equal(uc__rdap_bootstrap_parse(bad[i], strlen(bad[i]), &b, err, sizeof err),
                     UC_EFORMAT);
    assert_null(b);
  }
}

static void test_answer(void **state) {
  (void)state;
  static const char ok[] =
      "{\"objectClassName\": \"domain\", \"events\": ["
      "{\"eventAction\": \"expiration\", \"eventDate\": \"2030-01-01T00:00:00Z\"},"
      "{\"eventAction\": \"registration\", \"eventDate\": \"1997-09-15T04:00:00Z\"}]}";
  unsigned created = 0;
  assert_int_equal(uc__rdap_parse(ok, sizeof ok - 1, &created), UC_OK);
  assert_int_equal(created, uc_date_parse("1997-09-15", 10));
  static const char *const none[] = {
      "{}",
      "{\"events\": 3}",
      "{\"events\": [{\"eventAction\": \"registration\"}]}",
      "{\"events\": [{\"eventAction\": \"registration\", \"eventDate\": \"yesterday\"}]}",
      "{\"events\": [{\"eventAction\": \"registration\", \"eventDate\": 19970915}]}",
      "{\"events\": [{\"eventAction\": \"last changed\", \"eventDate\": \"2020-01-01\"}]}"};
  for (size_t i = 0; i < COUNT(none); i++)
    assert_int_equal(uc__rdap_parse(none[i], strlen(none[i]), &created), UC_ENOTFOUND);
  assert_int_equal(uc__rdap_parse("[1]", 3, &created), UC_EFORMAT);
  assert_int_equal(uc__rdap_parse("<html>", 6, &created), UC_EFORMAT);
}

static void test_registrable(void **state) {
  (void)state;
  static const struct {
    const char *domain, *registrable;
  } cases[] = {{"example.com", "example.com"},
               {"a.b.example.com", "example.com"},
               {"mail.example.co.uk", "example.co.uk"},
               {"user.github.io", "github.io"}, /* registries know github.io, not its users */
               {"x.y.unknown-tld-zz", "y.unknown-tld-zz"},
               {"co.uk", NULL},
               {"com", NULL}};
  for (size_t i = 0; i < COUNT(cases); i++) {
    const char *got = uc_rdap_registrable(cases[i].domain);
    if (cases[i].registrable ? !got || strcmp(got, cases[i].registrable) : got != NULL)
      fail_msg("%s: %s", cases[i].domain, got ? got : "NULL");
  }
}

static void write_boot(const char *path, const char *base) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fprintf(f, "{\"services\": [[[\"com\", \"net\"], [\"%s\"]]]}", base);
  fclose(f);
}

/* A bootstrap URL that never loads keeps every lookup queued: the queue's bound shows. */
static void test_queue_is_bounded(void **state) {
  (void)state;
  struct uc_rdap_config c;
  struct uc_rdap_stats st;
  struct uc_facts f = {0};
  uc_rdap *r = NULL;
  char err[256];
  uc_rdap_config_init(&c);
  snprintf(c.bootstrap, sizeof c.bootstrap, "http://127.0.0.1:1/bootstrap.json");
  c.queue_max = 2, c.timeout_ms = 200;
  assert_int_equal(uc_rdap_open(&c, NULL, &r, err, sizeof err), UC_OK);
  int64_t now = (int64_t)time(NULL);
  assert_int_equal(uc_rdap_facts(r, "one.com", now, &f), 0);
  assert_int_equal(uc_rdap_facts(r, "mail.two.com", now, &f), 0);
  assert_int_equal(uc_rdap_facts(r, "three.com", now, &f), 0); /* the queue is full */
  assert_int_equal(uc_rdap_facts(r, "one.com", now, &f), 0);   /* queued already */
  assert_int_equal(uc_rdap_facts(r, "co.uk", now, &f), 0);     /* a public suffix: not asked */
  uc_rdap_stats(r, &st);
  assert_int_equal(st.queued, 2);
  assert_int_equal(st.dropped, 1);
  assert_int_equal(st.pending, 2);
  assert_int_equal(f.age_known, 0);
  uc_rdap_free(r); /* with lookups still queued */
  uc_rdap_free(NULL);
}

/* Nothing listens on port 1: the lookup fails, is kept as a failure and not retried. */
static void test_failure_is_cached(void **state) {
  (void)state;
  struct uc_rdap_config c;
  struct uc_rdap_stats st;
  struct uc_facts f = {0};
  uc_rdap *r = NULL;
  char err[256], path[64] = "/tmp/uc-test-rdap-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  write_boot(path, "http://127.0.0.1:1/rdap/");
  uc_rdap_config_init(&c);
  snprintf(c.bootstrap, sizeof c.bootstrap, "%s", path);
  c.timeout_ms = 2000, c.server_interval_ms = 0;
  assert_int_equal(uc_rdap_open(&c, NULL, &r, err, sizeof err), UC_OK);
  uc_rdap_stats(r, &st);
  assert_int_equal(st.services, 2);
  int64_t now = (int64_t)time(NULL);
  assert_int_equal(uc_rdap_facts(r, "refused.com", now, &f), 0);
  for (int i = 0; i < 500 && (uc_rdap_stats(r, &st), st.failed == 0); i++)
    usleep(10000);
  assert_int_equal(st.failed, 1);
  assert_int_equal(st.requests, 1);
  assert_int_equal(uc_rdap_facts(r, "refused.com", now, &f), 0);
  uc_rdap_stats(r, &st);
  assert_int_equal(st.queued, 1); /* not again before fail_ttl */
  assert_int_equal(uc_rdap_facts(r, "refused.com", now + c.fail_ttl + 120, &f), 0);
  uc_rdap_stats(r, &st);
  assert_int_equal(st.queued, 2); /* due again */
  uc_rdap_free(r);
  unlink(path);
  /* a bootstrap file that cannot be read or parsed stops the open */
  snprintf(c.bootstrap, sizeof c.bootstrap, "/nonexistent/boot.json");
  assert_int_equal(uc_rdap_open(&c, NULL, &r, err, sizeof err), UC_ENOTFOUND);
  assert_null(r);
  assert_non_null(strstr(err, "/nonexistent/boot.json"));
}

/* The memory cache stays under cache_max: answered entries make room, in batches. */
static void test_cache_is_bounded(void **state) {
  (void)state;
  struct uc_rdap_config c;
  struct uc_rdap_stats st;
  struct uc_facts f = {0};
  uc_rdap *r = NULL;
  char err[256], path[64] = "/tmp/uc-test-rdap-XXXXXX", name[64];
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  write_boot(path, "http://127.0.0.1:1/rdap/");
  uc_rdap_config_init(&c);
  snprintf(c.bootstrap, sizeof c.bootstrap, "%s", path);
  c.cache_max = 16, c.timeout_ms = 2000, c.server_interval_ms = 0;
  assert_int_equal(uc_rdap_open(&c, NULL, &r, err, sizeof err), UC_OK);
  int64_t now = (int64_t)time(NULL);
  for (int batch = 0; batch < 4; batch++) {
    for (int i = 0; i < 16; i++) {
      snprintf(name, sizeof name, "d%d-%d.com", batch, i);
      uc_rdap_facts(r, name, now, &f);
    }
    for (int k = 0; k < 500 && (uc_rdap_stats(r, &st), st.pending > 0); k++)
      usleep(10000); /* each lookup fails at once: nothing listens on port 1 */
    assert_int_equal(st.pending, 0);
    assert_true(st.cached <= 16);
  }
  assert_int_equal(st.failed, 64);
  uc_rdap_free(r);
  unlink(path);
}

/* The store is the cache every process shares: its rows are in memory at open. */
static void test_preloaded_from_the_store(void **state) {
  (void)state;
  char url[128] = "/tmp/uc-test-rdap-store-XXXXXX", err[256], boot[160];
  assert_non_null(mkdtemp(url));
  snprintf(boot, sizeof boot, "%s/boot.json", url);
  write_boot(boot, "http://127.0.0.1:1/rdap/");
  strcat(url, "/s.db");
  uc_store *st = NULL;
  assert_int_equal(uc_store_open(url, UC_STORE_CREATE, &st, err, sizeof err), UC_OK);
  int64_t now = (int64_t)time(NULL);
  unsigned created = uc_date_of(now) - 100;
  struct uc_rdap_rec rec = {
      .status = UC_RDAP_FOUND, .created = created, .checked_at = now, .expires_at = now + 3600};
  snprintf(rec.domain, sizeof rec.domain, "stored.com");
  assert_int_equal(uc_store_rdap_put(st, &rec), UC_OK);
  struct uc_rdap_config c;
  struct uc_facts f = {0};
  uc_rdap *r = NULL;
  uc_rdap_config_init(&c);
  snprintf(c.bootstrap, sizeof c.bootstrap, "%s", boot);
  assert_int_equal(uc_rdap_open(&c, st, &r, err, sizeof err), UC_OK);
  assert_int_equal(uc_rdap_facts(r, "www.stored.com", now, &f), 1);
  assert_int_equal(f.age_known, 1);
  assert_int_equal(f.domain_age, 100);
  assert_int_equal(f.domain_created, created);
  uc_rdap_free(r);
  uc_store_close(st);
  char cmd[200];
  snprintf(cmd, sizeof cmd, "rm -rf '%.*s'", (int)(strlen(url) - 5), url);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bootstrap),
      cmocka_unit_test(test_answer),
      cmocka_unit_test(test_registrable),
      cmocka_unit_test(test_queue_is_bounded),
      cmocka_unit_test(test_failure_is_cached),
      cmocka_unit_test(test_cache_is_bounded),
      cmocka_unit_test(test_preloaded_from_the_store),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
