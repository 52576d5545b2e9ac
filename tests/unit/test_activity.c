/* The recent-checks feed (lib/activity.c): the ring, the cursor, what is
 * kept of each answer, today's tops and their bound, the account limit, and
 * threads writing at once. */
#include "unit.h"

#include "store_int.h"

#include <pthread.h>

#define DAY0 (20000 * 86400LL) /* a UTC midnight */

static struct uc_activity_note note(int64_t at, unsigned outcome, const char *text,
                                    const char *ip) {
  struct uc_activity_note n = {
      at, 7,  UC_KEY_ACTIVE,       outcome, UC_T_DISPOSABLE, text, strlen(text),
      0,  ip, ip ? strlen(ip) : 0, ip};
  return n;
}

static struct uc_activity_view *view(void) {
  struct uc_activity_view *v = malloc(sizeof *v);
  assert_non_null(v);
  return v;
}

static void test_ring_keeps_the_last_200_newest_first(void **state) {
  (void)state;
  uc_activity *a = uc_activity_new(4);
  struct uc_follower f = {0};
  struct uc_activity_view *v = view();
  char dom[32];
  for (int i = 1; i <= 250; i++) {
    snprintf(dom, sizeof dom, "d%d.com", i);
    struct uc_activity_note n = note(DAY0 + i, i % 3 ? UC_WHITE : UC_BLACK, dom, "203.0.113.1");
    uc_activity_note(a, &f, 0, 1, &n);
  }
  uc_activity_read(a, 1, 0, (unsigned)(DAY0 / 86400), v);
  assert_int_equal(v->last_seq, 250);
  assert_int_equal(v->n, UC_ACTIVITY_RING);
  assert_int_equal(v->entries[0].seq, 250);
  assert_string_equal(v->entries[0].text, "d250.com");
  assert_int_equal(v->entries[199].seq, 51);
  assert_int_equal(v->entries[0].key_id, 7);
  assert_string_equal(v->entries[0].ip, "203.0.113.1");
  uc_activity_read(a, 1, 245, (unsigned)(DAY0 / 86400), v); /* only what is newer */
  assert_int_equal(v->n, 5);
  assert_int_equal(v->entries[4].seq, 246);
  uc_activity_read(a, 1, 250, (unsigned)(DAY0 / 86400), v);
  assert_int_equal(v->n, 0);
  assert_int_equal(v->last_seq, 250);
  uc_activity_read(a, 2, 0, (unsigned)(DAY0 / 86400), v); /* another account: nothing */
  assert_int_equal(v->n, 0);
  assert_int_equal(v->last_seq, 0);
  uc_activity_follower_drop(a, &f);
  uc_activity_free(a);
  free(v);
}

static void test_text_is_kept_safe_and_bounded(void **state) {
  (void)state;
  uc_activity *a = uc_activity_new(1);
  struct uc_follower f = {0};
  struct uc_activity_view *v = view();
  char longest[600];
  memset(longest, 'a', sizeof longest);
  memcpy(longest + UC_ACTIVITY_TEXT_MAX - 1, "\xc3\xa9", 2); /* é across the bound */
  const char *texts[] = {"x\ny\x7fz\x01.com", longest};
  size_t lens[] = {strlen(texts[0]), sizeof longest};
  for (size_t i = 0; i < 2; i++) {
    struct uc_activity_note n = note(DAY0, UC_WHITE, "", "1.2.3.4\r\nX: y");
    n.text = texts[i], n.text_len = lens[i];
    uc_activity_note(a, &f, 0, 1, &n);
  }
  uc_activity_read(a, 1, 0, (unsigned)(DAY0 / 86400), v);
  assert_string_equal(v->entries[1].text, "x?y?z?.com");
  assert_string_equal(v->entries[1].ip, "1.2.3.4??X: y");
  assert_int_equal(strlen(v->entries[0].text), UC_ACTIVITY_TEXT_MAX - 1); /* é not split */
  struct uc_activity_note none = note(DAY0, UC_WHITE, "a.com", NULL);
  uc_activity_note(a, &f, 0, 1, &none);
  uc_activity_read(a, 1, 2, (unsigned)(DAY0 / 86400), v);
  assert_string_equal(v->entries[0].ip, "");
  uc_activity_follower_drop(a, &f);
  uc_activity_free(a);
  free(v);
}

static void test_tops_count_what_was_blocked_today(void **state) {
  (void)state;
  uc_activity *a = uc_activity_new(1);
  struct uc_follower f = {0};
  struct uc_activity_view *v = view();
  struct uc_activity_note n;
  for (int i = 0; i < 3; i++) {
    n = note(DAY0 + 10, UC_BLACK, "spam.com", "203.0.113.9");
    uc_activity_note(a, &f, 0, 1, &n);
  }
  n = note(DAY0 + 11, UC_BLACK, "x@other.com", "203.0.113.8");
  n.is_address = 1; /* the domain of a whole address counts */
  uc_activity_note(a, &f, 0, 1, &n);
  n = note(DAY0 + 12, UC_USAGE_BANNED, "gmail.com", "203.0.113.9"); /* the IP, not the domain */
  uc_activity_note(a, &f, 0, 1, &n);
  n = note(DAY0 + 13, UC_WHITE, "gmail.com", "203.0.113.7"); /* not blocked */
  uc_activity_note(a, &f, 0, 1, &n);
  n = note(DAY0 + 14, UC_BLACK, "sandbox.com", "203.0.113.6");
  n.key_type = UC_KEY_SANDBOX; /* not a live answer */
  uc_activity_note(a, &f, 0, 1, &n);
  n = note(DAY0 + 15, UC_BLACK, "noip.com", NULL);
  uc_activity_note(a, &f, 0, 1, &n);
  uc_activity_read(a, 1, 0, (unsigned)(DAY0 / 86400), v);
  assert_int_equal(v->ndomains, 3);
  assert_string_equal(v->domains[0].name, "spam.com");
  assert_int_equal(v->domains[0].count, 3);
  assert_string_equal(v->domains[1].name, "noip.com"); /* ties by name */
  assert_string_equal(v->domains[2].name, "other.com");
  assert_int_equal(v->nips, 2);
  assert_string_equal(v->ips[0].name, "203.0.113.9");
  assert_int_equal(v->ips[0].count, 4);
  assert_int_equal(v->ips[0].over, 0);
  uc_activity_read(a, 1, 0, (unsigned)(DAY0 / 86400) + 1,
                   v); /* tomorrow: yesterday's are not shown */
  assert_int_equal(v->ndomains, 0);
  n = note(DAY0 + 86400 + 5, UC_BLACK, "new.com", NULL); /* the first of a new day resets them */
  uc_activity_note(a, &f, 0, 1, &n);
  uc_activity_read(a, 1, 0, (unsigned)(DAY0 / 86400) + 1, v);
  assert_int_equal(v->ndomains, 1);
  assert_string_equal(v->domains[0].name, "new.com");
  uc_activity_follower_drop(a, &f);
  uc_activity_free(a);
  free(v);
}

/* Space-Saving's guarantee, on a skewed stream of far more names than it
 * keeps: every name shown has count - over <= its true count <= count, and
 * a name with more than 1/UC_ACTIVITY_TOP of the stream is always shown. */
static void test_tops_stay_bounded_and_honest(void **state) {
  (void)state;
  enum { NAMES = 1000, HITS = 20000 };
  static uint64_t truth[NAMES];
  uc_activity *a = uc_activity_new(1);
  struct uc_follower f = {0};
  struct uc_activity_view *v = view();
  uint64_t x = 88172645463325252ULL;
  char dom[32];
  memset(truth, 0, sizeof truth);
  for (int i = 0; i < HITS; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    int k = i % 5 == 0 ? 0 : i % 7 == 0 ? 1 : (int)(x % NAMES); /* two heavy hitters */
    truth[k]++;
    snprintf(dom, sizeof dom, "n%d.com", k);
    struct uc_activity_note n = note(DAY0 + 1, UC_BLACK, dom, NULL);
    uc_activity_note(a, &f, (unsigned)(x >> 20) % 5, 1, &n); /* written by five threads' parts */
  }
  uc_activity_read(a, 1, 0, (unsigned)(DAY0 / 86400), v);
  assert_int_equal(v->ndomains, UC_ACTIVITY_TOP_SHOWN);
  assert_string_equal(v->domains[0].name, "n0.com");
  assert_string_equal(v->domains[1].name, "n1.com");
  for (size_t i = 0; i < v->ndomains; i++) {
    int k = atoi(v->domains[i].name + 1);
    assert_true(v->domains[i].count - v->domains[i].over <= truth[k]);
    assert_true(truth[k] <= v->domains[i].count);
  }
  uc_activity_follower_drop(a, &f);
  uc_activity_free(a);
  free(v);
}

/* Past max_accounts, a new account takes over the feed written longest ago. */
static void test_account_limit_hands_over_the_oldest_feed(void **state) {
  (void)state;
  uc_activity *a = uc_activity_new(2);
  struct uc_follower f = {0}, g = {0};
  struct uc_activity_view *v = view();
  struct uc_activity_note n = note(DAY0 + 1, UC_WHITE, "one.com", NULL);
  uc_activity_note(a, &f, 0, 1, &n);
  n.at = DAY0 + 2, n.text = "two.com", n.text_len = strlen(n.text);
  uc_activity_note(a, &g, 1, 2, &n);
  n.at = DAY0 + 3, n.text = "one.com", n.text_len = strlen(n.text);
  uc_activity_note(a, &g, 1, 1, &n); /* 1 is now the more recent */
  n.at = DAY0 + 4, n.text = "three.com", n.text_len = strlen(n.text);
  uc_activity_note(a, &f, 0, 3, &n); /* takes 2's */
  uc_activity_read(a, 2, 0, 0, v);
  assert_int_equal(v->n, 0);
  uc_activity_read(a, 1, 0, 0, v);
  assert_int_equal(v->n, 2);
  uc_activity_read(a, 3, 0, 0, v);
  assert_int_equal(v->n, 1);
  assert_string_equal(v->entries[0].text, "three.com");
  assert_int_equal(v->entries[0].seq, 1); /* a fresh feed */
  n.at = DAY0 + 5, n.text = "two.com",
  n.text_len = strlen(n.text); /* g still follows a directory where 2 had a feed */
  uc_activity_note(a, &g, 1, 2, &n);
  uc_activity_read(a, 2, 0, 0, v);
  assert_int_equal(v->n, 1);
  uc_activity_read(a, 1, 0, 0, v); /* 1 was written longest ago now */
  assert_int_equal(v->n, 0);
  uc_activity_read(a, 3, 0, 0, v);
  assert_int_equal(v->n, 1);
  uc_activity_follower_drop(a, &f);
  uc_activity_follower_drop(a, &g);
  uc_activity_free(a);
  free(v);
}

struct writer {
  uc_activity *a;
  int64_t account;
  unsigned slot;
};

static void *write_many(void *arg) {
  struct writer *w = arg;
  struct uc_follower f = {0};
  for (int i = 0; i < 5000; i++) {
    struct uc_activity_note n = note(DAY0 + i, UC_BLACK, "spam.com", "198.51.100.1");
    uc_activity_note(w->a, &f, w->slot, w->account + (i % 2), &n);
  }
  uc_activity_follower_drop(w->a, &f);
  return NULL;
}

/* Threads writing to the same and to different accounts lose nothing. */
static void test_threads(void **state) {
  (void)state;
  uc_activity *a = uc_activity_new(8);
  struct uc_activity_view *v = view();
  pthread_t t[4];
  struct writer w[4];
  for (int i = 0; i < 4; i++) {
    w[i] = (struct writer){a, 10 + (i % 2) * 2,
                           (unsigned)i % 3}; /* accounts 10..13; two share a part */
    assert_int_equal(pthread_create(&t[i], NULL, write_many, &w[i]), 0);
  }
  for (int i = 0; i < 4; i++)
    pthread_join(t[i], NULL);
  for (int64_t acc = 10; acc < 14; acc++) {
    uc_activity_read(a, acc, 0, (unsigned)(DAY0 / 86400), v);
    assert_int_equal(v->last_seq, 5000); /* two threads x 2500 each */
    assert_int_equal(v->n, UC_ACTIVITY_RING);
    for (size_t i = 1; i < v->n; i++)
      assert_int_equal(v->entries[i].seq, v->entries[i - 1].seq - 1);
    assert_string_equal(v->domains[0].name, "spam.com"); /* the parts' tops add up */
    assert_int_equal(v->domains[0].count, 5000);
    assert_int_equal(v->domains[0].over, 0);
  }
  uc_activity_free(a);
  free(v);
}

static int refuse_add(void *s, int64_t account_id, const struct uc_activity_rec *r, size_t n) {
  (void)s, (void)account_id, (void)r, (void)n;
  return UC_EUNAVAILABLE;
}

/* Two servers' feeds flushed into one shared store (the Redis of
 * UC_TEST_REDIS_URL; skipped without it): every server's checks, numbered by
 * the store, tops added up, nothing written twice, a failed flush kept. */
static void test_flush_to_a_shared_store(void **state) {
  (void)state;
  char url[UC_STORE_URL_MAX], err[256];
  if (!getenv("UC_TEST_REDIS_URL"))
    skip();
  snprintf(url, sizeof url, "%s?prefix=activity%ld", getenv("UC_TEST_REDIS_URL"), (long)getpid());
  uc_store *st = NULL;
  assert_int_equal(uc_store_open(url, UC_STORE_CREATE, &st, err, sizeof err), UC_OK);
  uc_activity *a = uc_activity_new(4), *b = uc_activity_new(4);
  struct uc_follower fa = {0}, fb = {0};
  struct uc_activity_view *v = view();
  const unsigned day = (unsigned)(DAY0 / 86400);
  struct uc_activity_note n = note(DAY0 + 1, UC_BLACK, "mailinator.com", "192.0.2.1");
  uc_activity_note(a, &fa, 0, 1, &n);
  n = note(DAY0 + 2, UC_WHITE, "gmail.com", "192.0.2.2");
  uc_activity_note(a, &fa, 1, 1, &n);
  n = note(DAY0 + 3, UC_BLACK, "mailinator.com", "192.0.2.3");
  uc_activity_note(b, &fb, 3, 1, &n);
  n = note(DAY0 + 4, UC_BLACK, "other.example", "192.0.2.3");
  uc_activity_note(a, &fa, 0, 2, &n); /* another account */
  assert_int_equal(uc_activity_flush(a, st), UC_OK);
  assert_int_equal(uc_activity_flush(b, st), UC_OK);
  assert_int_equal(uc_store_activity_read(st, 1, 0, day, v), UC_OK);
  assert_int_equal(v->last_seq, 3);
  assert_int_equal(v->n, 3);
  assert_string_equal(v->entries[0].text, "mailinator.com"); /* b's, flushed last */
  assert_string_equal(v->entries[0].ip, "192.0.2.3");
  assert_string_equal(v->entries[1].text, "gmail.com");
  assert_int_equal(v->ndomains, 1);
  assert_string_equal(v->domains[0].name, "mailinator.com");
  assert_int_equal(v->domains[0].count, 2);          /* from both servers */
  assert_int_equal(v->nips, 2);                      /* only blocked answers' IPs */
  assert_int_equal(uc_activity_flush(a, st), UC_OK); /* nothing new: nothing written twice */
  assert_int_equal(uc_store_activity_read(st, 1, 0, day, v), UC_OK);
  assert_int_equal(v->last_seq, 3);
  assert_int_equal(uc_store_activity_read(st, 2, 0, day, v), UC_OK);
  assert_int_equal(v->last_seq, 1);
  assert_string_equal(v->entries[0].text, "other.example");
  const struct uc_store_ops *real = uc__store_ops(st); /* a failed flush is tried again */
  struct uc_store_ops down = *real;
  down.activity_add = refuse_add;
  uc__store_set_ops(st, &down);
  n = note(DAY0 + 5, UC_BLACK, "mailinator.com", "192.0.2.9");
  uc_activity_note(a, &fa, 0, 1, &n);
  assert_int_equal(uc_activity_flush(a, st), UC_EUNAVAILABLE);
  uc__store_set_ops(st, real);
  assert_int_equal(uc_activity_flush(a, st), UC_OK);
  assert_int_equal(uc_store_activity_read(st, 1, 3, day, v), UC_OK);
  assert_int_equal(v->n, 1);
  assert_string_equal(v->entries[0].ip, "192.0.2.9");
  for (int i = 0; i < 250; i++) { /* more than a ring between flushes: the newest 200 go */
    n = note(DAY0 + 10 + i, UC_WHITE, "gmail.com", NULL);
    uc_activity_note(a, &fa, 0, 1, &n);
  }
  assert_int_equal(uc_activity_flush(a, st), UC_OK);
  assert_int_equal(uc_store_activity_read(st, 1, 4, day, v), UC_OK);
  assert_int_equal(v->last_seq, 4 + UC_ACTIVITY_RING);
  assert_int_equal(v->n, UC_ACTIVITY_RING);
  assert_int_equal(v->entries[0].at, DAY0 + 10 + 249);
  assert_int_equal(v->entries[UC_ACTIVITY_RING - 1].at, DAY0 + 10 + 50);
  uc_activity_follower_drop(a, &fa);
  uc_activity_follower_drop(b, &fb);
  uc_activity_free(a);
  uc_activity_free(b);
  uc_store_close(st);
  free(v);
}

/* On a store that is not shared the feed stays in memory: a flush writes nothing. */
static void test_flush_without_a_shared_store(void **state) {
  (void)state;
  char dir[] = "/tmp/uc-activity-XXXXXX", url[64], err[256];
  assert_non_null(mkdtemp(dir));
  snprintf(url, sizeof url, "sqlite://%s/s.db", dir);
  uc_store *st = NULL;
  assert_int_equal(uc_store_open(url, UC_STORE_CREATE, &st, err, sizeof err), UC_OK);
  uc_activity *a = uc_activity_new(1);
  struct uc_follower f = {0};
  struct uc_activity_note n = note(DAY0, UC_BLACK, "mailinator.com", "192.0.2.1");
  uc_activity_note(a, &f, 0, 1, &n);
  assert_int_equal(uc_activity_flush(a, st), UC_OK);
  assert_int_equal(uc_activity_flush(NULL, st), UC_OK);
  struct uc_activity_rec r = {0};
  assert_int_equal(uc_store_activity_add(st, 1, &r, 1), UC_EUNAVAILABLE);
  uc_activity_follower_drop(a, &f);
  uc_activity_free(a);
  uc_store_close(st);
  snprintf(url, sizeof url, "%s/s.db", dir);
  remove(url);
  rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ring_keeps_the_last_200_newest_first),
      cmocka_unit_test(test_text_is_kept_safe_and_bounded),
      cmocka_unit_test(test_tops_count_what_was_blocked_today),
      cmocka_unit_test(test_tops_stay_bounded_and_honest),
      cmocka_unit_test(test_account_limit_hands_over_the_oldest_feed),
      cmocka_unit_test(test_threads),
      cmocka_unit_test(test_flush_to_a_shared_store),
      cmocka_unit_test(test_flush_without_a_shared_store),
  };
  return cmocka_run_group_tests_name("activity", tests, NULL, NULL);
}
