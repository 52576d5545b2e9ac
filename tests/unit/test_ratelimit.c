/* Per-key rate limits (lib/ratelimit.c): GCRA in memory on the caller's
 * clock (exact, at chosen instants), the bound on memory, which rate applies,
 * and a shared store counting for several servers (Redis, when
 * UC_TEST_REDIS_URL is set). */
#include "unit.h"

#include "uc/ratelimit.h"

#include <pthread.h>

#define T0 1700000000000LL /* unix ms */

static int take(uc_ratelimit *rl, int64_t key, uint32_t per_second, uint32_t burst, int64_t now,
                unsigned *retry) {
  struct uc_rate r = {per_second, burst};
  int allowed = -1;
  unsigned after = 0;
  assert_int_equal(uc_ratelimit_take(rl, key, &r, now, &allowed, &after), UC_OK);
  if (retry)
    *retry = after;
  return allowed;
}

/* 10 a second, 10 at once: the burst, then one every 100 ms. */
static void test_burst_then_rate(void **state) {
  (void)state;
  uc_ratelimit *rl = uc_ratelimit_new(NULL, 0);
  unsigned retry;
  for (int i = 0; i < 10; i++)
    assert_true(take(rl, 1, 10, 10, T0, NULL));
  assert_false(take(rl, 1, 10, 10, T0, &retry));
  assert_int_equal(retry, 1); /* 100 ms, said in whole seconds */
  assert_false(take(rl, 1, 10, 10, T0 + 99, NULL));
  assert_true(take(rl, 1, 10, 10, T0 + 100, NULL)); /* one more each 100 ms */
  assert_false(take(rl, 1, 10, 10, T0 + 150, NULL));
  assert_true(take(rl, 2, 10, 10, T0 + 150, NULL)); /* a bucket per key */
  for (int i = 0; i < 10; i++)                      /* idle for a second: a full burst again */
    assert_true(take(rl, 1, 10, 10, T0 + 1100 + i, NULL));
  assert_false(take(rl, 1, 10, 10, T0 + 1110, NULL));
  struct uc_ratelimit_stats st;
  uc_ratelimit_stats(rl, &st);
  assert_int_equal(st.limited, 4);
  assert_int_equal(st.buckets, 2);
  uc_ratelimit_free(rl);
}

static void test_retry_after_in_whole_seconds(void **state) {
  (void)state;
  uc_ratelimit *rl = uc_ratelimit_new(NULL, 0);
  unsigned retry;
  assert_true(take(rl, 1, 1, 1, T0, NULL)); /* one a second */
  assert_false(take(rl, 1, 1, 1, T0, &retry));
  assert_int_equal(retry, 1);
  assert_false(take(rl, 1, 1, 1, T0 + 999, &retry));
  assert_int_equal(retry, 1); /* 1 ms away: still a whole second, never 0 */
  assert_true(take(rl, 1, 1, 1, T0 + 1000, NULL));
  assert_true(take(rl, 3, 1, 0, T0, NULL)); /* burst 0: as many as per second (1) */
  assert_false(take(rl, 3, 1, 0, T0, NULL));
  uc_ratelimit_free(rl);
}

static void test_off_counts_nothing(void **state) {
  (void)state;
  uc_ratelimit *rl = uc_ratelimit_new(NULL, 0);
  for (int i = 0; i < 1000; i++)
    assert_true(take(rl, 1, 0, 0, T0, NULL));
  struct uc_ratelimit_stats st;
  uc_ratelimit_stats(rl, &st);
  assert_int_equal(st.buckets, 0);
  uc_ratelimit_free(rl);
}

/* The key's own rate wins; without one, the account's; burst 0 follows the rate. */
static void test_rate_of(void **state) {
  (void)state;
  struct uc_settings s;
  uc_settings_init(&s);
  struct uc_rate r = uc_rate_of(&s, 0, 0);
  assert_int_equal(r.per_second, 0); /* off by default */
  s.rate_limit_per_second = 20;
  r = uc_rate_of(&s, 0, 0);
  assert_int_equal(r.per_second, 20);
  assert_int_equal(r.burst, 20);
  s.rate_limit_burst = 50;
  r = uc_rate_of(&s, 0, 0);
  assert_int_equal(r.burst, 50);
  r = uc_rate_of(&s, 5, 0);
  assert_int_equal(r.per_second, 5);
  assert_int_equal(r.burst, 5); /* the key's own burst, not the account's */
  r = uc_rate_of(&s, 5, 7);
  assert_int_equal(r.burst, 7);
}

/* Memory holds at most max buckets: full ones make room; when every one is
 * busy a new key passes untracked rather than being refused. */
static void test_memory_bound(void **state) {
  (void)state;
  uc_ratelimit *rl = uc_ratelimit_new(NULL, 16); /* one a shard */
  struct uc_ratelimit_stats st;
  for (int64_t k = 1; k <= 400; k++)
    take(rl, k, 1, 5, T0, NULL);
  uc_ratelimit_stats(rl, &st);
  assert_true(st.buckets <= 16);
  assert_true(st.untracked > 0);
  uint64_t untracked = st.untracked;
  for (int64_t k = 1000; k < 1400; k++) /* ten seconds on: every bucket is full again */
    take(rl, k, 1, 5, T0 + 10000, NULL);
  uc_ratelimit_stats(rl, &st);
  assert_true(st.buckets <= 16);
  assert_true(st.untracked < untracked + 400); /* room was made */
  uc_ratelimit_free(rl);
}

struct racer {
  uc_ratelimit *rl;
  int allowed;
};

static void *race(void *arg) {
  struct racer *r = arg;
  for (int i = 0; i < 100; i++)
    r->allowed += take(r->rl, 9, 5, 30, T0, NULL);
  return NULL;
}

/* 8 threads, 800 requests at one instant, burst 30: exactly 30. */
static void test_exact_under_concurrency(void **state) {
  (void)state;
  uc_ratelimit *rl = uc_ratelimit_new(NULL, 0);
  struct racer r[8];
  pthread_t t[8];
  int allowed = 0;
  for (int i = 0; i < 8; i++) {
    r[i] = (struct racer){rl, 0};
    assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
  }
  for (int i = 0; i < 8; i++) {
    pthread_join(t[i], NULL);
    allowed += r[i].allowed;
  }
  assert_int_equal(allowed, 30);
  uc_ratelimit_free(rl);
}

/* Two servers' limiters on one Redis store share one bucket per key. */
static void test_shared_store(void **state) {
  (void)state;
  char url[256], err[256];
  uc_store *a = NULL, *b = NULL;
  if (!getenv("UC_TEST_REDIS_URL"))
    skip();
  snprintf(url, sizeof url, "%s?prefix=rate%ld", getenv("UC_TEST_REDIS_URL"), (long)getpid());
  assert_int_equal(uc_store_open(url, UC_STORE_CREATE, &a, err, sizeof err), UC_OK);
  assert_int_equal(uc_store_open(url, 0, &b, err, sizeof err), UC_OK);
  uc_ratelimit *ra = uc_ratelimit_new(a, 0), *rb = uc_ratelimit_new(b, 0);
  int allowed = 0;
  unsigned retry = 0;
  for (int i = 0; i < 10; i++) /* one a second, 4 at once: a fifth within the same second fails */
    allowed += take(i % 2 ? rb : ra, 5, 1, 4, 0, &retry);
  assert_true(allowed >= 4 && allowed <= 5);
  assert_int_equal(retry, 1);
  struct uc_ratelimit_stats st;
  uc_ratelimit_stats(ra, &st);
  assert_int_equal(st.buckets, 0); /* nothing in memory: the store counts */
  uc_ratelimit_free(ra);
  uc_ratelimit_free(rb);
  uc_store_close(a);
  uc_store_close(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_burst_then_rate),
      cmocka_unit_test(test_retry_after_in_whole_seconds),
      cmocka_unit_test(test_off_counts_nothing),
      cmocka_unit_test(test_rate_of),
      cmocka_unit_test(test_memory_bound),
      cmocka_unit_test(test_exact_under_concurrency),
      cmocka_unit_test(test_shared_store),
  };
  return cmocka_run_group_tests_name("ratelimit", tests, NULL, NULL);
}
