/* IP ban accounting (lib/bans.c) over a real SQLite file: exact thresholds, durability, write-back,
 * unbans by this and other processes, the memory bound, automatic lifts, isolation. */
#include "unit.h"

#include "store_int.h"
#include "uc/bans.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>

#define T0 1700000000

/* One store file per test; `other` is a second handle on it, standing for another process. */
struct fx {
  char dir[64], url[128];
  uc_store *st, *other;
  uc_bans *b;
  int64_t acc, acc2;
  struct uc_settings set;
};

static uc_store *open_url(const char *url) {
  char err[256];
  uc_store *st = NULL;
  if (uc_store_open(url, UC_STORE_CREATE, &st, err, sizeof err) != UC_OK)
    fprintf(stderr, "%s: %s\n", url, err);
  return st;
}

static uc_bans *open_bans(uc_store *st, size_t max_counting) {
  char err[256];
  uc_bans *b = NULL;
  if (uc_bans_open(st, max_counting, &b, err, sizeof err) != UC_OK)
    fprintf(stderr, "uc_bans_open: %s\n", err);
  return b;
}

static int setup(void **state) {
  struct fx *x = calloc(1, sizeof *x);
  struct uc_account_rec a, a2;
  if (!x)
    return -1;
  snprintf(x->dir, sizeof x->dir, "/tmp/uc-bans-XXXXXX");
  if (!mkdtemp(x->dir))
    return -1;
  snprintf(x->url, sizeof x->url, "sqlite://%s/s.db", x->dir);
  x->st = open_url(x->url);
  x->other = open_url(x->url);
  if (!x->st || !x->other || uc_store_account_create(x->st, "alpha", &a) != UC_OK ||
      uc_store_account_create(x->st, "beta", &a2) != UC_OK)
    return -1;
  x->acc = a.id, x->acc2 = a2.id;
  uc_settings_init(&x->set);
  x->b = open_bans(x->st, 0);
  *state = x;
  return x->b ? 0 : -1;
}

static int teardown(void **state) {
  struct fx *x = *state;
  char cmd[128];
  uc_bans_free(x->b);
  uc_store_close(x->other);
  uc_store_close(x->st);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", x->dir);
  int rc = system(cmd);
  free(x);
  return rc;
}

static struct uc_ip addr_of(struct fx *x, const char *ip) {
  struct uc_ip a;
  assert_int_equal(uc_ip_parse(ip, strlen(ip), x->set.ipv6_prefix, &a), UC_OK);
  return a;
}

/* One black answer; returns the attempts left and asserts the call worked. A
 * ban it makes is stored at once, as the server's store thread does. */
static long hit_at(struct fx *x, int64_t acc, const char *ip, int64_t now,
                   enum uc_ban_state *state) {
  struct uc_ban_look look;
  struct uc_ip a = addr_of(x, ip);
  assert_int_equal(uc_bans_hit(x->b, acc, &x->set, &a, now, &look), UC_OK);
  if (look.unstored)
    assert_int_equal(uc_bans_store(x->b), UC_OK);
  if (state)
    *state = look.state;
  return look.remaining;
}

static long hit(struct fx *x, const char *ip) {
  return hit_at(x, x->acc, ip, T0, NULL);
}

/* n black answers at T0; the attempts left after the last. */
static long hits(struct fx *x, int64_t acc, const char *ip, int n) {
  long remaining = -1;
  for (int i = 0; i < n; i++)
    remaining = hit_at(x, acc, ip, T0, NULL);
  return remaining;
}

/* uc_bans_state: the attempts left, and the state in *state (may be NULL). */
static long look_at(struct fx *x, int64_t acc, const char *ip, int64_t now,
                    enum uc_ban_state *state) {
  struct uc_ban_look look;
  struct uc_ip a = addr_of(x, ip);
  enum uc_ban_state got = uc_bans_state(x->b, acc, &x->set, &a, now, &look);
  if (state)
    *state = got;
  return look.remaining;
}

static long look(struct fx *x, int64_t acc, const char *ip) {
  return look_at(x, acc, ip, T0, NULL);
}

static void ban(struct fx *x, int64_t acc, const char *ip) {
  enum uc_ban_state st = UC_BAN_CLEAR;
  for (unsigned i = 0; i < x->set.ban_threshold; i++)
    hit_at(x, acc, ip, T0, &st);
  assert_int_equal(st, UC_BAN_JUST_BANNED);
}

/* The row as another process reads it. */
static int stored(struct fx *x, int64_t acc, const char *ip, struct uc_ban_rec *r) {
  return uc_store_ban_get(x->other, acc, ip, r);
}

static struct uc_bans_stats stats(struct fx *x) {
  struct uc_bans_stats s;
  uc_bans_stats(x->b, &s);
  return s;
}

/* With threshold N: exactly N black answers before the first 403, counting down N-1..0. */
static void test_threshold(void **state) {
  struct fx *x = *state;
  const unsigned thresholds[] = {1, 3, 7};
  enum uc_ban_state st;
  for (size_t t = 0; t < COUNT(thresholds); t++) {
    long n = x->set.ban_threshold = thresholds[t];
    char ip[32];
    snprintf(ip, sizeof ip, "192.0.2.%zu", t);
    for (long i = 1; i <= n; i++) {
      assert_int_equal(look_at(x, x->acc, ip, T0, &st), n - i + 1);
      assert_int_equal(st, UC_BAN_CLEAR);
      assert_int_equal(hit_at(x, x->acc, ip, T0, &st), n - i);
      assert_int_equal(st, i < n ? UC_BAN_CLEAR : UC_BAN_JUST_BANNED);
    }
    assert_int_equal(look_at(x, x->acc, ip, T0, &st), 0);
    assert_int_equal(st, UC_BAN_BANNED);
    assert_int_equal(hit_at(x, x->acc, ip, T0, &st), 0);
    assert_int_equal(st, UC_BAN_BANNED);
  }
}

#define RACE_IP "198.51.100.7"

struct race {
  struct fx *x;
  _Atomic long seen[3], errors; /* seen: by uc_ban_state */
};

static void *hammer(void *p) {
  struct race *r = p;
  struct uc_ip a;
  uc_ip_parse(RACE_IP, strlen(RACE_IP), 64, &a);
  for (int i = 0; i < 50; i++) {
    struct uc_ban_look look;
    if (uc_bans_hit(r->x->b, r->x->acc, &r->x->set, &a, T0, &look) != UC_OK ||
        (look.state == UC_BAN_CLEAR) != (look.remaining > 0) ||
        look.unstored != (look.state != UC_BAN_CLEAR))
      atomic_fetch_add(&r->errors, 1);
    else
      atomic_fetch_add(&r->seen[look.state], 1);
  }
  return NULL;
}

/* 8 threads, 400 black answers, threshold 20: exactly 20 of them were not 403s. */
static void test_concurrent_exact(void **state) {
  struct fx *x = *state;
  struct race r = {.x = x};
  pthread_t t[8];
  x->set.ban_threshold = 20;
  for (size_t i = 0; i < COUNT(t); i++)
    assert_int_equal(pthread_create(&t[i], NULL, hammer, &r), 0);
  for (size_t i = 0; i < COUNT(t); i++)
    pthread_join(t[i], NULL);
  assert_int_equal(r.errors, 0);
  assert_int_equal(r.seen[UC_BAN_CLEAR], 19);
  assert_int_equal(r.seen[UC_BAN_JUST_BANNED], 1);
  assert_int_equal(r.seen[UC_BAN_BANNED], 380);
  struct uc_ban_rec rec;
  assert_int_equal(stored(x, x->acc, RACE_IP, &rec), UC_ENOTFOUND); /* not yet: nobody stored it */
  assert_int_equal(stats(x).unstored, 1);
  assert_int_equal(uc_bans_store(x->b), UC_OK);
  assert_int_equal(stats(x).unstored, 0);
  assert_int_equal(stored(x, x->acc, RACE_IP, &rec), UC_OK);
  assert_int_equal(rec.attempts, 20);
  assert_int_equal(rec.banned_at, T0);
}

struct waited {
  struct uc_ban_wait w;
  int calls, stored;
};

static void waited_done(struct uc_ban_wait *w) {
  struct waited *d = (struct waited *)w;
  d->calls++, d->stored = w->stored;
}

/* The answer that bans is told its ban is unstored; a wait for it ends once
 * uc_bans_store wrote it, and then another handle sees it (no flush). */
static void test_ban_durable(void **state) {
  struct fx *x = *state;
  const char *ip = "192.0.2.10";
  struct uc_ban_rec rec;
  struct uc_ban_look look, again;
  struct uc_ip a = addr_of(x, ip);
  struct waited w1 = {{waited_done, NULL, uc_bans_now_ms() + 60000, 0, NULL, 0, ""}, 0, 0};
  struct waited w2 = w1;
  x->set.ban_threshold = 3;
  hit(x, ip);
  hit(x, ip);
  assert_int_equal(stored(x, x->acc, ip, &rec), UC_ENOTFOUND); /* counts wait for a flush */
  assert_int_equal(uc_bans_hit(x->b, x->acc, &x->set, &a, T0 + 5, &look), UC_OK);
  assert_int_equal(look.state, UC_BAN_JUST_BANNED);
  assert_int_equal(look.remaining, 0);
  assert_true(look.unstored);
  assert_string_equal(look.key, ip);
  assert_int_equal(uc_bans_state(x->b, x->acc, &x->set, &a, T0 + 5, &again), UC_BAN_BANNED);
  assert_true(again.unstored); /* a 403 would announce it too: it waits as well */
  assert_int_equal(stored(x, x->acc, ip, &rec), UC_ENOTFOUND);
  assert_int_equal(uc_bans_wait(x->b, x->acc, look.key, &w1.w), 1);
  assert_int_equal(uc_bans_wait(x->b, x->acc, again.key, &w2.w), 1);
  assert_int_equal(stats(x).unstored, 1);
  assert_int_equal(uc_bans_flush(x->b), UC_OK); /* the flush leaves it to uc_bans_store */
  assert_int_equal(stored(x, x->acc, ip, &rec), UC_ENOTFOUND);
  assert_int_equal(w1.calls, 0);
  assert_int_equal(uc_bans_store(x->b), UC_OK);
  assert_int_equal(w1.calls, 1);
  assert_int_equal(w1.stored, 1);
  assert_int_equal(w2.calls, 1);
  assert_int_equal(stored(x, x->acc, ip, &rec), UC_OK);
  assert_int_equal(rec.banned_at, T0 + 5);
  assert_int_equal(rec.attempts, 3);
  assert_int_equal(stats(x).dirty, 0);
  assert_int_equal(stats(x).unstored, 0);
  assert_int_equal(uc_bans_state(x->b, x->acc, &x->set, &a, T0 + 5, &again), UC_BAN_BANNED);
  assert_false(again.unstored);
  assert_int_equal(uc_bans_wait(x->b, x->acc, again.key, &w1.w), 0); /* nothing to wait for */
  assert_int_equal(uc_bans_store(x->b), UC_OK);                      /* nothing to do */
}

/* Counts reach the store at uc_bans_flush, not before. */
static void test_flush_writes_counts(void **state) {
  struct fx *x = *state;
  struct uc_ban_rec rec;
  hit(x, "192.0.2.20");
  hit(x, "192.0.2.20");
  hit_at(x, x->acc2, "192.0.2.21", T0, NULL);
  assert_int_equal(stored(x, x->acc, "192.0.2.20", &rec), UC_ENOTFOUND);
  assert_int_equal(stored(x, x->acc2, "192.0.2.21", &rec), UC_ENOTFOUND);
  assert_int_equal(stats(x).dirty, 2);
  assert_int_equal(uc_bans_flush(x->b), UC_OK);
  assert_int_equal(stats(x).dirty, 0);
  assert_int_equal(stored(x, x->acc, "192.0.2.20", &rec), UC_OK);
  assert_int_equal(rec.attempts, 2);
  assert_int_equal(rec.banned_at, 0);
  assert_int_equal(stored(x, x->acc2, "192.0.2.21", &rec), UC_OK);
  assert_int_equal(rec.attempts, 1);
  hit(x, "192.0.2.20");
  assert_int_equal(stored(x, x->acc, "192.0.2.20", &rec), UC_OK);
  assert_int_equal(rec.attempts, 2); /* the third waits for the next flush */
  assert_int_equal(uc_bans_flush(x->b), UC_OK);
  assert_int_equal(stored(x, x->acc, "192.0.2.20", &rec), UC_OK);
  assert_int_equal(rec.attempts, 3);
}

/* An unban starts the counter over, in memory and in the store. */
static void test_unban(void **state) {
  struct fx *x = *state;
  struct uc_ban_rec rec;
  enum uc_ban_state st;
  assert_int_equal(hits(x, x->acc, "192.0.2.30", 3), 2);
  assert_int_equal(uc_bans_unban(x->b, x->acc, "192.0.2.30"), UC_OK);
  assert_int_equal(look(x, x->acc, "192.0.2.30"), 5);
  assert_int_equal(hit(x, "192.0.2.30"), 4);

  ban(x, x->acc, "192.0.2.31");
  assert_int_equal(uc_bans_unban(x->b, x->acc, "192.0.2.31"), UC_OK);
  assert_int_equal(look_at(x, x->acc, "192.0.2.31", T0, &st), 5);
  assert_int_equal(st, UC_BAN_CLEAR);
  assert_int_equal(stored(x, x->acc, "192.0.2.31", &rec), UC_ENOTFOUND);
  assert_int_equal(hit(x, "192.0.2.31"), 4);

  hits(x, x->acc, "192.0.2.32", 2); /* written back first: the row goes too */
  assert_int_equal(uc_bans_flush(x->b), UC_OK);
  assert_int_equal(uc_bans_unban(x->b, x->acc, "192.0.2.32"), UC_OK);
  assert_int_equal(stored(x, x->acc, "192.0.2.32", &rec), UC_ENOTFOUND);
  assert_int_equal(hit(x, "192.0.2.32"), 4);

  assert_int_equal(uc_bans_unban(x->b, x->acc, "192.0.2.99"), UC_ENOTFOUND);
  assert_int_equal(uc_bans_unban(x->b, x->acc2, "192.0.2.30"), UC_ENOTFOUND); /* alpha's IP */
}

/* The defect: another process unbans an IP whose attempts are counted in memory only. Once
 * synced, its counter starts over; before, memory still has them. */
static void test_sync_unban_unflushed(void **state) {
  struct fx *x = *state;
  const char *ip = "192.0.2.40";
  struct uc_ban_rec rec;
  assert_int_equal(hits(x, x->acc, ip, 3), 2);
  assert_int_equal(uc_store_ban_delete(x->other, x->acc, ip), UC_ENOTFOUND); /* no row yet */
  assert_int_equal(look(x, x->acc, ip), 2);
  assert_int_equal(uc_bans_sync(x->b), UC_OK);
  assert_int_equal(look(x, x->acc, ip), 5);
  assert_int_equal(hit(x, ip), 4);
  assert_int_equal(uc_bans_flush(x->b), UC_OK);
  assert_int_equal(stored(x, x->acc, ip, &rec), UC_OK);
  assert_int_equal(rec.attempts, 1);
}

/* Counted, written back, counted again, unbanned elsewhere, and written back once more before the
 * sync: the row that flush re-created goes too. */
static void test_sync_unban_after_rewrite(void **state) {
  struct fx *x = *state;
  const char *ip = "192.0.2.41";
  struct uc_ban_rec rec;
  hits(x, x->acc, ip, 2);
  assert_int_equal(uc_bans_flush(x->b), UC_OK);
  assert_int_equal(hit(x, ip), 2);
  assert_int_equal(uc_store_ban_delete(x->other, x->acc, ip), UC_OK);
  assert_int_equal(uc_bans_flush(x->b), UC_OK); /* writes 3 back: the row is there again */
  assert_int_equal(uc_bans_sync(x->b), UC_OK);
  assert_int_equal(look(x, x->acc, ip), 5);
  assert_int_equal(uc_bans_flush(x->b), UC_OK);
  assert_int_equal(stored(x, x->acc, ip, &rec), UC_ENOTFOUND);
  assert_int_equal(hit(x, ip), 4);
}

/* Another process unbans a banned IP: after the sync it is clear, with a fresh counter. */
static void test_sync_unban_banned(void **state) {
  struct fx *x = *state;
  const char *ip = "192.0.2.50";
  struct uc_ban_rec rec;
  enum uc_ban_state st;
  ban(x, x->acc, ip);
  assert_int_equal(uc_store_ban_delete(x->other, x->acc, ip), UC_OK);
  assert_int_equal(look_at(x, x->acc, ip, T0, &st), 0);
  assert_int_equal(st, UC_BAN_BANNED);
  assert_int_equal(uc_bans_sync(x->b), UC_OK);
  assert_int_equal(look_at(x, x->acc, ip, T0, &st), 5);
  assert_int_equal(st, UC_BAN_CLEAR);
  assert_int_equal(stats(x).banned, 0);
  assert_int_equal(hit(x, ip), 4);
  assert_int_equal(uc_bans_flush(x->b), UC_OK);
  assert_int_equal(stored(x, x->acc, ip, &rec), UC_OK);
  assert_int_equal(rec.attempts, 1);
  assert_int_equal(rec.banned_at, 0);
}

/* Another process unbans a whole account: every IP of it, counted, written or banned, starts
 * over; the other account keeps its counts. */
static void test_sync_unban_all(void **state) {
  struct fx *x = *state;
  const char *ips[] = {"192.0.2.60", "192.0.2.61", "192.0.2.62"};
  size_t n = 0;
  hits(x, x->acc, ips[2], 3);
  assert_int_equal(uc_bans_flush(x->b), UC_OK);
  hits(x, x->acc, ips[0], 2);
  ban(x, x->acc, ips[1]);
  hits(x, x->acc2, ips[0], 2);
  assert_int_equal(uc_store_ban_delete_all(x->other, x->acc, &n), UC_OK);
  assert_int_equal(n, 2); /* the ban and the written count; the rest is in memory only */
  assert_int_equal(look(x, x->acc, ips[0]), 3);
  assert_int_equal(uc_bans_sync(x->b), UC_OK);
  for (size_t i = 0; i < COUNT(ips); i++) {
    enum uc_ban_state st;
    assert_int_equal(look_at(x, x->acc, ips[i], T0, &st), 5);
    assert_int_equal(st, UC_BAN_CLEAR);
  }
  assert_int_equal(look(x, x->acc2, ips[0]), 3);
  assert_int_equal(hit(x, ips[1]), 4);
  assert_int_equal(hit(x, ips[2]), 4);
}

/* An unban made through this uc_bans comes back in the feed: the sync must not apply it again. */
static void test_own_unban_applied_once(void **state) {
  struct fx *x = *state;
  const char *ip = "192.0.2.70";
  size_t n;
  hits(x, x->acc, ip, 2);
  assert_int_equal(uc_bans_unban(x->b, x->acc, ip), UC_OK);
  assert_int_equal(hit(x, ip), 4);
  assert_int_equal(uc_bans_sync(x->b), UC_OK);
  assert_int_equal(hit(x, ip), 3);

  assert_int_equal(uc_bans_unban_all(x->b, x->acc, &n), UC_OK);
  assert_int_equal(n, 0);
  assert_int_equal(hit(x, ip), 4);
  assert_int_equal(uc_bans_sync(x->b), UC_OK);
  assert_int_equal(hit(x, ip), 3);
}

static int count_rows(void *arg, const struct uc_ban_rec *r) {
  (void)r;
  ++*(size_t *)arg;
  return 0;
}

static size_t stored_rows(struct fx *x, int64_t acc) {
  size_t n = 0;
  assert_int_equal(uc_store_ban_each(x->other, acc, count_rows, &n), UC_OK);
  return n;
}

static void ip_of(char *ip, size_t size, const char *net, unsigned i) {
  snprintf(ip, size, "%s.%u.%u.%u", net, (i >> 16) & 255, (i >> 8) & 255, i & 255);
}

/* Unban-all drops the account's IPs from memory; the other account's stay as they were. */
static void test_unban_all_frees(void **state) {
  struct fx *x = *state;
  char ip[32];
  size_t n = 0;
  for (unsigned i = 0; i < 500; i++) {
    ip_of(ip, sizeof ip, "10", i);
    hits(x, x->acc, ip, 1);
  }
  ban(x, x->acc, "192.0.2.80");
  ban(x, x->acc, "192.0.2.81");
  ban(x, x->acc, "192.0.2.82");
  for (unsigned i = 0; i < 20; i++) {
    ip_of(ip, sizeof ip, "11", i);
    hits(x, x->acc2, ip, 1);
  }
  ban(x, x->acc2, "192.0.2.80");
  assert_int_equal(stats(x).entries, 524);
  assert_int_equal(stats(x).banned, 4);
  assert_int_equal(uc_bans_unban_all(x->b, x->acc, &n), UC_OK);
  assert_int_equal(n, 3);
  assert_int_equal(stats(x).entries, 21);
  assert_int_equal(stats(x).banned, 1);
  assert_int_equal(look(x, x->acc, "10.0.0.7"), 5);
  assert_int_equal(look(x, x->acc, "192.0.2.80"), 5);
  assert_int_equal(look(x, x->acc2, "11.0.0.7"), 4);
  assert_int_equal(look(x, x->acc2, "192.0.2.80"), 0);
  assert_int_equal(uc_bans_flush(x->b), UC_OK);
  assert_int_equal(stored_rows(x, x->acc), 0);
  assert_int_equal(stored_rows(x, x->acc2), 21);
}

#define FLOOD 100000

/* One black answer from each of FLOOD distinct IPs (10.x.y.z), later ones newer, flushed every
 * 5,000 as the server would. Whether a flush was asked for early goes to *wanted. */
static void flood(struct fx *x, int *wanted) {
  char ip[32];
  for (unsigned i = 0; i < FLOOD; i++) {
    ip_of(ip, sizeof ip, "10", i);
    assert_int_equal(hit_at(x, x->acc, ip, T0 + i, NULL), 4);
    if ((i + 1) % 5000 == 0) {
      *wanted |= uc_bans_flush_wanted(x->b);
      assert_int_equal(uc_bans_flush(x->b), UC_OK);
    }
  }
  assert_int_equal(uc_bans_flush(x->b), UC_OK);
}

static void reopen_smallest(struct fx *x) {
  uc_bans_free(x->b);
  x->b = open_bans(x->st, UC_BANS_MAX_COUNTING_MIN);
  assert_non_null(x->b);
}

/* At most max_counting counting IPs stay in memory; every count still reaches the store, and an
 * evicted IP's count is read back when it is counted again. */
static void test_memory_bound(void **state) {
  struct fx *x = *state;
  int wanted = 0;
  reopen_smallest(x);
  flood(x, &wanted);
  assert_true(wanted);
  struct uc_bans_stats s = stats(x);
  assert_int_equal(s.max_counting, UC_BANS_MAX_COUNTING_MIN);
  assert_int_equal(s.dirty, 0);
  assert_int_equal(s.banned, 0);
  assert_in_range(s.entries, UC_BANS_MAX_COUNTING_MIN - 32, UC_BANS_MAX_COUNTING_MIN + 32);
  assert_int_equal(s.evicted + s.entries, FLOOD); /* each IP is in memory or left it once */
  assert_int_equal(stored_rows(x, x->acc), FLOOD);
  assert_int_equal(hit_at(x, x->acc, "10.0.0.0", T0 + 2 * FLOOD, NULL), 3); /* the oldest */
  assert_int_equal(stats(x).store_reads, s.store_reads + 1);
}

/* Bans never leave memory, however many IPs are counted after them. */
static void test_bans_never_evicted(void **state) {
  struct fx *x = *state;
  char ip[32];
  int wanted = 0;
  enum uc_ban_state st;
  reopen_smallest(x);
  for (unsigned i = 0; i < 50; i++) {
    ip_of(ip, sizeof ip, "172", i);
    ban(x, x->acc, ip);
  }
  flood(x, &wanted);
  struct uc_bans_stats s = stats(x);
  assert_int_equal(s.banned, 50);
  assert_in_range(s.entries - s.banned, UC_BANS_MAX_COUNTING_MIN - 32,
                  UC_BANS_MAX_COUNTING_MIN + 32);
  for (unsigned i = 0; i < 50; i++) {
    ip_of(ip, sizeof ip, "172", i);
    assert_int_equal(look_at(x, x->acc, ip, T0 + 2 * FLOOD, &st), 0);
    assert_int_equal(st, UC_BAN_BANNED);
  }
  assert_int_equal(stats(x).store_reads, s.store_reads); /* answered from memory */
}

static int count_ip(void *arg, const struct uc_ban_rec *r) {
  size_t *n = arg;
  n[0]++;
  n[1] += strcmp(r->ip, "192.0.2.90") == 0;
  return 0;
}

/* A ban older than ban_lift_seconds ends by itself: clear at once, gone from the store after the
 * next flush, and a new uc_bans over that store does not bring it back. */
static void test_lift(void **state) {
  struct fx *x = *state;
  const char *ip = "192.0.2.90";
  struct uc_ban_rec rec;
  enum uc_ban_state st;
  size_t rows[2] = {0, 0};
  x->set.ban_lift_seconds = 1;
  ban(x, x->acc, ip);
  ban(x, x->acc, "192.0.2.92"); /* expired too, but never asked about: still stored */
  assert_int_equal(look_at(x, x->acc, ip, T0, &st), 0);
  assert_int_equal(st, UC_BAN_BANNED);
  assert_int_equal(look_at(x, x->acc, ip, T0 + 2, &st), 5);
  assert_int_equal(st, UC_BAN_CLEAR);
  assert_int_equal(uc_bans_flush(x->b), UC_OK);
  assert_int_equal(stored(x, x->acc, ip, &rec), UC_ENOTFOUND);
  struct uc_ban_query all = {NULL, NULL, 1000, 0, 0};
  assert_int_equal(uc_bans_page(x->b, x->acc, &x->set, T0 + 2, &all, count_ip, rows, NULL), UC_OK);
  assert_int_equal(rows[1], 0);
  assert_int_equal(rows[0], 0); /* nor the other: lifted at that time */
  uc_bans_free(x->b);
  x->b = open_bans(x->st, 0);
  assert_int_equal(look_at(x, x->acc, ip, T0 + 2, &st), 5);
  assert_int_equal(st, UC_BAN_CLEAR);
  x->set.ban_lift_seconds = 0; /* even a policy that never lifts finds nothing stored */
  assert_int_equal(look_at(x, x->acc, ip, T0 + 2, &st), 5);
  assert_int_equal(st, UC_BAN_CLEAR);
}

/* A lifted ban counted up to the threshold again is a new ban, stored with its own date, and the
 * flush that deletes the old one leaves it alone. */
static void test_lift_then_reban(void **state) {
  struct fx *x = *state;
  const char *ip = "192.0.2.91";
  struct uc_ban_rec rec;
  enum uc_ban_state st;
  x->set.ban_lift_seconds = 1, x->set.ban_threshold = 3;
  ban(x, x->acc, ip);
  assert_int_equal(hit_at(x, x->acc, ip, T0 + 2, &st), 2); /* the hit itself lifts it */
  assert_int_equal(st, UC_BAN_CLEAR);
  assert_int_equal(hit_at(x, x->acc, ip, T0 + 2, &st), 1);
  assert_int_equal(hit_at(x, x->acc, ip, T0 + 2, &st), 0);
  assert_int_equal(st, UC_BAN_JUST_BANNED);
  assert_int_equal(stored(x, x->acc, ip, &rec), UC_OK);
  assert_int_equal(rec.banned_at, T0 + 2);
  assert_int_equal(rec.attempts, 3);
  assert_int_equal(uc_bans_flush(x->b), UC_OK);
  assert_int_equal(stored(x, x->acc, ip, &rec), UC_OK);
  assert_int_equal(rec.banned_at, T0 + 2);
  assert_int_equal(look_at(x, x->acc, ip, T0 + 2, &st), 0);
  assert_int_equal(st, UC_BAN_BANNED);
}

struct rows {
  struct uc_ban_rec r[8];
  size_t n;
};

static int collect(void *arg, const struct uc_ban_rec *r) {
  struct rows *rows = arg;
  if (rows->n < COUNT(rows->r))
    rows->r[rows->n] = *r;
  rows->n++;
  return 0;
}

/* uc_bans_page lists the account's counted and banned IPs, memory's counts included. */
static void test_each(void **state) {
  struct fx *x = *state;
  struct rows rows = {.n = 0};
  hits(x, x->acc, "192.0.2.102", 2);
  ban(x, x->acc, "192.0.2.101");
  hit(x, "192.0.2.103");
  assert_int_equal(uc_bans_unban(x->b, x->acc, "192.0.2.103"), UC_OK);
  hit_at(x, x->acc2, "192.0.2.104", T0, NULL);
  struct uc_ban_query all = {NULL, NULL, 1000, 0, 0};
  assert_int_equal(uc_bans_page(x->b, x->acc, &x->set, T0, &all, collect, &rows, NULL), UC_OK);
  assert_int_equal(rows.n, 2);
  assert_string_equal(rows.r[0].ip, "192.0.2.101");
  assert_int_equal(rows.r[0].banned_at, T0);
  assert_int_equal(rows.r[0].attempts, 5);
  assert_string_equal(rows.r[1].ip, "192.0.2.102");
  assert_int_equal(rows.r[1].banned_at, 0);
  assert_int_equal(rows.r[1].attempts, 2);
  for (size_t i = 0; i < rows.n; i++)
    assert_int_equal(rows.r[i].account_id, x->acc);
  rows.n = 0;
  assert_int_equal(uc_bans_page(x->b, x->acc2, &x->set, T0, &all, collect, &rows, NULL), UC_OK);
  assert_int_equal(rows.n, 1);
  assert_string_equal(rows.r[0].ip, "192.0.2.104");
}

/* The same IP counts separately in each account: counts, bans and unbans. */
static void test_accounts_isolated(void **state) {
  struct fx *x = *state;
  const char *ip = "192.0.2.110";
  struct uc_ban_rec rec;
  enum uc_ban_state st;
  assert_int_equal(hits(x, x->acc, ip, 3), 2);
  assert_int_equal(look(x, x->acc2, ip), 5);
  assert_int_equal(hit_at(x, x->acc2, ip, T0, NULL), 4);
  assert_int_equal(hit(x, ip), 1);
  assert_int_equal(hit_at(x, x->acc, ip, T0, &st), 0);
  assert_int_equal(st, UC_BAN_JUST_BANNED);
  assert_int_equal(look_at(x, x->acc2, ip, T0, &st), 4);
  assert_int_equal(st, UC_BAN_CLEAR);
  assert_int_equal(uc_bans_unban(x->b, x->acc2, ip), UC_OK);
  assert_int_equal(look_at(x, x->acc, ip, T0, &st), 0);
  assert_int_equal(st, UC_BAN_BANNED);
  assert_int_equal(uc_bans_flush(x->b), UC_OK);
  assert_int_equal(stored(x, x->acc2, ip, &rec), UC_ENOTFOUND);
  assert_int_equal(stored(x, x->acc, ip, &rec), UC_OK);
  assert_int_equal(rec.attempts, 5);
}

/* Another process holds the store's write lock: the ban stays in memory
 * (banned, unstored), uc_bans_store fails and keeps it queued, a wait past its
 * deadline ends unstored; once the lock goes, the retry stores it. */
static void test_store_locked_then_retried(void **state) {
  struct fx *x = *state;
  const char *ip = "192.0.2.120";
  char path[128];
  sqlite3 *db = NULL;
  struct uc_ban_rec rec;
  struct uc_ban_look look;
  struct uc_ip a = addr_of(x, ip);
  struct waited w = {{waited_done, NULL, uc_bans_now_ms() + 50, 0, NULL, 0, ""}, 0, 0};
  snprintf(path, sizeof path, "%s/s.db", x->dir);
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
  x->set.ban_threshold = 1;
  assert_int_equal(uc_bans_hit(x->b, x->acc, &x->set, &a, T0, &look), UC_OK);
  assert_int_equal(look.state, UC_BAN_JUST_BANNED);
  assert_true(look.unstored);
  assert_int_equal(uc_bans_wait(x->b, x->acc, look.key, &w.w), 1);
  assert_int_equal(uc_bans_store(x->b), UC_EBUSY); /* waits out the busy timeout */
  assert_int_equal(stats(x).write_errors, 1);
  assert_int_equal(w.calls, 0);
  assert_int_equal(uc_bans_expire(x->b, uc_bans_now_ms()), 1);
  assert_int_equal(w.calls, 1);
  assert_int_equal(w.stored, 0);
  assert_int_equal(stats(x).wait_timeouts, 1);
  assert_int_equal(look_at(x, x->acc, ip, T0, NULL), 0); /* still banned in memory */
  assert_int_equal(stats(x).unstored, 1);
  x->set.ban_threshold = 5;
  hit(x, "192.0.2.122");
  assert_int_equal(uc_bans_flush(x->b), UC_EBUSY); /* counts are kept as well */
  assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  assert_int_equal(uc_bans_store(x->b), UC_OK);
  assert_int_equal(stats(x).unstored, 0);
  assert_int_equal(stored(x, x->acc, ip, &rec), UC_OK);
  assert_int_equal(rec.banned_at, T0);
}

/* An unban of a ban not stored yet ends its waits: it is never announced. */
static void test_unban_ends_waits(void **state) {
  struct fx *x = *state;
  struct uc_ban_look look;
  struct uc_ip a = addr_of(x, "192.0.2.121");
  struct waited w = {{waited_done, NULL, uc_bans_now_ms() + 60000, 0, NULL, 0, ""}, 0, 0};
  x->set.ban_threshold = 1;
  assert_int_equal(uc_bans_hit(x->b, x->acc, &x->set, &a, T0, &look), UC_OK);
  assert_int_equal(uc_bans_wait(x->b, x->acc, look.key, &w.w), 1);
  assert_int_equal(uc_bans_unban(x->b, x->acc, look.key), UC_OK);
  assert_int_equal(w.calls, 1);
  assert_int_equal(w.stored, 0);
  assert_int_equal(stats(x).unstored, 0);
  assert_int_equal(uc_bans_store(x->b), UC_OK);
  struct uc_ban_rec rec;
  assert_int_equal(stored(x, x->acc, "192.0.2.121", &rec), UC_ENOTFOUND);
}

/* A threshold lowered below an IP's count: its next black answer bans it and
 * is refused itself (no extra black answer let through). */
static void test_threshold_lowered(void **state) {
  struct fx *x = *state;
  const char *ip = "192.0.2.130";
  enum uc_ban_state st;
  assert_int_equal(hits(x, x->acc, ip, 4), 1);
  x->set.ban_threshold = 2;
  assert_int_equal(look_at(x, x->acc, ip, T0, &st), 0);
  assert_int_equal(st, UC_BAN_CLEAR); /* not banned by a white answer */
  assert_int_equal(hit_at(x, x->acc, ip, T0, &st), 0);
  assert_int_equal(st, UC_BAN_BANNED);
  assert_int_equal(look_at(x, x->acc, ip, T0, &st), 0);
  assert_int_equal(st, UC_BAN_BANNED);
  struct uc_ban_rec rec;
  assert_int_equal(stored(x, x->acc, ip, &rec), UC_OK);
  assert_int_equal(rec.banned_at, T0);
}

/* IPv6 bans made under one ipv6_prefix still hold after it changes. */
static void test_prefix_change_keeps_v6_bans(void **state) {
  struct fx *x = *state;
  enum uc_ban_state st;
  struct uc_ban_look look;
  ban(x, x->acc, "2001:db8:5:6::1"); /* 2001:db8:5:6::/64 */
  x->set.ipv6_prefix = 128;
  assert_int_equal(look_at(x, x->acc, "2001:db8:5:6::99", T0, &st), 0);
  assert_int_equal(st, UC_BAN_BANNED);
  struct uc_ip a = addr_of(x, "2001:db8:5:6::99");
  assert_int_equal(uc_bans_hit(x->b, x->acc, &x->set, &a, T0, &look), UC_OK);
  assert_int_equal(look.state, UC_BAN_BANNED);
  assert_string_equal(look.key, "2001:db8:5:6::/64");
  assert_int_equal(look_at(x, x->acc, "2001:db8:5:7::1", T0, &st), 5); /* the next /64 */
  x->set.ipv6_prefix = 48; /* wider: still the /64 only */
  assert_int_equal(look_at(x, x->acc, "2001:db8:5:6::2", T0, &st), 0);
  assert_int_equal(look_at(x, x->acc, "2001:db8:5:8::2", T0, &st), 5);
  uc_bans_free(x->b); /* and after a restart */
  x->b = open_bans(x->st, 0);
  x->set.ipv6_prefix = 128;
  assert_int_equal(look_at(x, x->acc, "2001:db8:5:6::99", T0, &st), 0);
  assert_int_equal(st, UC_BAN_BANNED);
  assert_int_equal(uc_bans_unban(x->b, x->acc, "2001:db8:5:6::/64"), UC_OK);
  assert_int_equal(look_at(x, x->acc, "2001:db8:5:6::99", T0, &st), 5);
}

/* ipv6_aggregate banned /64s inside one /48 ban the /48, so that a client
 * rotating /64s gains nothing; off with 0. */
static void test_aggregate_48(void **state) {
  struct fx *x = *state;
  char ip[64];
  enum uc_ban_state st;
  struct rows rows = {.n = 0};
  x->set.ban_threshold = 1;
  for (unsigned i = 0; i < 7; i++) {
    snprintf(ip, sizeof ip, "2001:db8:77:%x::1", i);
    ban(x, x->acc, ip);
  }
  assert_int_equal(look_at(x, x->acc, "2001:db8:77:ff::1", T0, &st), 1); /* 7 < 8 */
  ban(x, x->acc, "2001:db8:77:7::1");
  assert_int_equal(look_at(x, x->acc, "2001:db8:77:ff::1", T0, &st), 0);
  assert_int_equal(st, UC_BAN_BANNED);
  assert_int_equal(look_at(x, x->acc, "2001:db8:78::1", T0, &st), 1); /* another /48 */
  assert_int_equal(stats(x).aggregated, 1);
  struct uc_ban_query q = {NULL, "::/48", 10, 0, 0};
  assert_int_equal(uc_bans_page(x->b, x->acc, &x->set, T0, &q, collect, &rows, NULL), UC_OK);
  assert_int_equal(rows.n, 1);
  assert_string_equal(rows.r[0].ip, "2001:db8:77::/48");
  assert_int_equal(rows.r[0].attempts, 8);
  assert_true(rows.r[0].banned_at);
  /* off: no /48 for the other account */
  x->set.ipv6_aggregate = 0;
  for (unsigned i = 0; i < 9; i++) {
    snprintf(ip, sizeof ip, "2001:db8:99:%x::1", i);
    ban(x, x->acc2, ip);
  }
  assert_int_equal(look_at(x, x->acc2, "2001:db8:99:ff::1", T0, &st), 1);
  assert_int_equal(stats(x).aggregated, 1);
}

/* Pages: in ip order after a cursor, filtered by text, lifted bans left out. */
static void test_page(void **state) {
  struct fx *x = *state;
  struct rows rows = {.n = 0};
  int more = 0;
  x->set.ban_threshold = 2;
  for (int i = 1; i <= 5; i++) {
    char ip[32];
    snprintf(ip, sizeof ip, "198.51.100.%d", i);
    hits(x, x->acc, ip, 1);
  }
  ban(x, x->acc, "203.0.113.1");
  struct uc_ban_query q = {NULL, NULL, 2, 0, 0};
  assert_int_equal(uc_bans_page(x->b, x->acc, &x->set, T0, &q, collect, &rows, &more), UC_OK);
  assert_int_equal(rows.n, 2);
  assert_true(more);
  assert_string_equal(rows.r[1].ip, "198.51.100.2");
  q.after = "198.51.100.2", q.limit = 10, rows.n = 0;
  assert_int_equal(uc_bans_page(x->b, x->acc, &x->set, T0, &q, collect, &rows, &more), UC_OK);
  assert_int_equal(rows.n, 4);
  assert_false(more);
  assert_string_equal(rows.r[3].ip, "203.0.113.1");
  struct uc_ban_query text = {NULL, "100.4", 10, 0, 0};
  rows.n = 0;
  assert_int_equal(uc_bans_page(x->b, x->acc, &x->set, T0, &text, collect, &rows, NULL), UC_OK);
  assert_int_equal(rows.n, 1);
  assert_string_equal(rows.r[0].ip, "198.51.100.4");
  struct uc_ban_query wild = {NULL, "%", 10, 0, 0}; /* text, not a pattern */
  rows.n = 0;
  assert_int_equal(uc_bans_page(x->b, x->acc, &x->set, T0, &wild, collect, &rows, NULL), UC_OK);
  assert_int_equal(rows.n, 0);
  x->set.ban_lift_seconds = 10; /* the ban is lifted by time: listed nowhere */
  rows.n = 0;
  q.after = NULL;
  assert_int_equal(uc_bans_page(x->b, x->acc, &x->set, T0 + 11, &q, collect, &rows, NULL), UC_OK);
  assert_int_equal(rows.n, 5);
  struct uc_ban_query zero = {NULL, NULL, 0, 0, 0};
  assert_int_equal(uc_bans_page(x->b, x->acc, &x->set, T0, &zero, collect, &rows, NULL), UC_EINVAL);
}

/* ---- interleavings forced with a store whose writes wait on a gate ---- */

static const struct uc_store_ops *real_ops;
static struct uc_store_ops gated_ops;
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate_delete, gate_put, gate_arrived, gate_open;
static pthread_t flusher;

/* Only the flush thread waits: the test's own calls go through. */
static void wait_at_gate(void) {
  if (!pthread_equal(pthread_self(), flusher))
    return;
  pthread_mutex_lock(&gate_lock);
  gate_arrived = 1;
  pthread_cond_broadcast(&gate_cond);
  while (!gate_open)
    pthread_cond_wait(&gate_cond, &gate_lock);
  pthread_mutex_unlock(&gate_lock);
}

static int gated_delete(void *s, int64_t a, const char *ip) {
  if (gate_delete)
    wait_at_gate();
  return real_ops->ban_delete(s, a, ip);
}

static int gated_put(void *s, const struct uc_ban_rec *b, size_t n) {
  if (gate_put)
    wait_at_gate();
  return real_ops->ban_put(s, b, n);
}

static void *run_flush(void *b) {
  uc_bans_flush(b);
  return NULL;
}

/* Starts a flush on its own thread and returns once it waits at the gate. */
static void flush_until_gate(struct fx *x) {
  real_ops = uc__store_ops(x->st);
  gated_ops = *real_ops;
  gated_ops.ban_delete = gated_delete, gated_ops.ban_put = gated_put;
  uc__store_set_ops(x->st, &gated_ops);
  gate_arrived = gate_open = 0;
  assert_int_equal(pthread_create(&flusher, NULL, run_flush, x->b), 0);
  pthread_mutex_lock(&gate_lock);
  while (!gate_arrived)
    pthread_cond_wait(&gate_cond, &gate_lock);
  pthread_mutex_unlock(&gate_lock);
}

static void open_gate(struct fx *x) {
  pthread_mutex_lock(&gate_lock);
  gate_open = 1;
  pthread_cond_broadcast(&gate_cond);
  pthread_mutex_unlock(&gate_lock);
  pthread_join(flusher, NULL);
  gate_delete = gate_put = 0;
  uc__store_set_ops(x->st, real_ops);
}

/* A ban made again while a flush writes the old ban's lift must survive it. */
static void test_reban_during_lift_flush(void **state) {
  struct fx *x = *state;
  struct uc_ban_rec r;
  struct uc_ban_look look;
  enum uc_ban_state st;
  x->set.ban_threshold = 1, x->set.ban_lift_seconds = 10;
  hit_at(x, x->acc, "198.51.100.7", T0, &st);
  assert_int_equal(st, UC_BAN_JUST_BANNED);
  assert_int_equal(look_at(x, x->acc, "198.51.100.7", T0 + 20, &st), 1);
  assert_int_equal(st, UC_BAN_CLEAR); /* lifted in memory */
  struct uc_settings five = x->set;
  five.ban_threshold = 5;
  struct uc_ip other = addr_of(x, "198.51.100.8"), a = addr_of(x, "198.51.100.7");
  assert_int_equal(uc_bans_hit(x->b, x->acc, &five, &other, T0 + 20, &look), UC_OK);
  gate_put = 1; /* the flush holds at its write of that count, the lift behind it */
  flush_until_gate(x);
  assert_int_equal(uc_bans_hit(x->b, x->acc, &x->set, &a, T0 + 21, &look), UC_OK);
  assert_int_equal(look.state, UC_BAN_JUST_BANNED);
  assert_true(look.unstored); /* not announced until stored */
  open_gate(x);
  assert_int_equal(uc_bans_store(x->b), UC_OK); /* the store thread's write */
  assert_int_equal(uc_store_ban_get(x->other, x->acc, "198.51.100.7", &r), UC_OK);
  assert_int_equal(r.banned_at, T0 + 21);
  uc_bans_free(x->b); /* a restart keeps it */
  x->b = open_bans(x->st, 0);
  assert_int_equal(look_at(x, x->acc, "198.51.100.7", T0 + 22, &st), 0);
  assert_int_equal(st, UC_BAN_BANNED);
}

/* An entry whose count is being written may not leave memory meanwhile: a
 * lookup would read the older stored count back. */
static void test_no_eviction_while_writing(void **state) {
  struct fx *x = *state;
  struct uc_ban_rec r;
  char ip[32];
  uc_bans_free(x->b);
  x->b = open_bans(x->st, UC_BANS_MAX_COUNTING_MIN); /* 16 counting IPs per shard */
  x->set.ban_threshold = 10;
  for (int k = 0; k < 3; k++)
    hit_at(x, x->acc, "203.0.113.1", T0, NULL);
  for (int i = 0; i < 4000; i++) { /* fill every shard, X's among them */
    snprintf(ip, sizeof ip, "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
    hit_at(x, x->acc, ip, T0 + 1000, NULL);
  }
  gate_put = 1;
  flush_until_gate(x);                /* counts copied, the write under way */
  for (int i = 4000; i < 8000; i++) { /* new IPs want room in full shards */
    snprintf(ip, sizeof ip, "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
    hit_at(x, x->acc, ip, T0 + 1001, NULL);
  }
  assert_int_equal(hit_at(x, x->acc, "203.0.113.1", T0 + 1002, NULL), 6); /* 4th of 10 */
  open_gate(x);
  assert_int_equal(uc_bans_flush(x->b), UC_OK);
  assert_int_equal(uc_store_ban_get(x->other, x->acc, "203.0.113.1", &r), UC_OK);
  assert_int_equal(r.attempts, 4);
}

struct churn {
  struct fx *x;
  atomic_int stop;
  atomic_long hits, syncs;
};

static void *churn_hits(void *arg) {
  struct churn *c = arg;
  char ip[32];
  for (long i = 0; !atomic_load(&c->stop); i++) {
    struct uc_ip a;
    struct uc_ban_look look;
    snprintf(ip, sizeof ip, "10.%ld.%ld.%ld", i >> 16 & 255, i >> 8 & 255, i & 255);
    uc_ip_parse(ip, strlen(ip), 64, &a);
    uc_bans_hit(c->x->b, c->x->acc, &c->x->set, &a, T0, &look);
    atomic_fetch_add(&c->hits, 1);
  }
  return NULL;
}

static void *churn_store(void *arg) { /* the server's store thread, woken by new bans */
  struct churn *c = arg;
  while (!atomic_load(&c->stop)) {
    uc_bans_store(c->x->b);
    usleep(1000);
  }
  return NULL;
}

static void *churn_sync(void *arg) {
  struct churn *c = arg;
  while (!atomic_load(&c->stop)) {
    uc_bans_sync(c->x->b);
    atomic_fetch_add(&c->syncs, 1);
  }
  return NULL;
}

/* Applying another process's unbans while checks write bans: the feed is
 * read under the store's lock, hits take a shard lock then the store's. A
 * deadlock here hangs (the per-test timeout fails it). */
static void test_sync_while_banning(void **state) {
  struct fx *x = *state;
  struct churn c = {.x = x};
  pthread_t t[3];
  size_t n;
  int deleted = 0;
  x->set.ban_threshold = 1; /* every hit makes a ban */
  pthread_create(&t[0], NULL, churn_hits, &c);
  pthread_create(&t[1], NULL, churn_sync, &c);
  pthread_create(&t[2], NULL, churn_store, &c);
  int failed = 0;
  for (int i = 0; i < 100 && !failed; i++) {
    /* The hits write back to back, so the other connection may find the
     * file locked past its busy timeout on a slow machine: that is SQLite's
     * answer to contention (UC_EBUSY), not the deadlock looked for here. */
    int rc = uc_store_ban_delete_all(x->other, x->acc, &n);
    failed = rc != UC_OK && rc != UC_EBUSY;
    deleted += rc == UC_OK;
    usleep(5000);
  }
  atomic_store(&c.stop, 1); /* joined before any assertion can leave this frame */
  pthread_join(t[0], NULL);
  pthread_join(t[1], NULL);
  pthread_join(t[2], NULL);
  assert_false(failed);
  assert_true(atomic_load(&c.hits) > 0 && atomic_load(&c.syncs) > 0);
  assert_true(deleted > 0);
}

/* ---- a shared store (Redis): two servers, each with its own ban cache ---- */

struct shared {
  char url[256];
  uc_store *st, *st2;
  uc_bans *b, *b2;
  int64_t acc;
  struct uc_settings set;
};

static int shared_setup(void **state) {
  static unsigned n;
  struct shared *x = calloc(1, sizeof *x);
  struct uc_account_rec a;
  *state = x;
  if (!x || !getenv("UC_TEST_REDIS_URL"))
    return x ? 0 : -1;
  snprintf(x->url, sizeof x->url, "%s?prefix=bans%ld_%u", getenv("UC_TEST_REDIS_URL"),
           (long)getpid(), n++);
  x->st = open_url(x->url), x->st2 = open_url(x->url);
  if (!x->st || !x->st2 || uc_store_account_create(x->st, "alpha", &a) != UC_OK)
    return -1;
  x->acc = a.id;
  uc_settings_init(&x->set);
  x->b = open_bans(x->st, 0), x->b2 = open_bans(x->st2, 0);
  return x->b && x->b2 ? 0 : -1;
}

static int shared_teardown(void **state) {
  struct shared *x = *state;
  uc_bans_free(x->b);
  uc_bans_free(x->b2);
  uc_store_close(x->st);
  uc_store_close(x->st2);
  free(x);
  return 0;
}

static enum uc_ban_state shared_hit(struct shared *x, uc_bans *b, const char *ip, long *left) {
  struct uc_ban_look look;
  struct uc_ip a;
  assert_int_equal(uc_ip_parse(ip, strlen(ip), x->set.ipv6_prefix, &a), UC_OK);
  assert_int_equal(uc_bans_hit(b, x->acc, &x->set, &a, T0, &look), UC_OK);
  assert_false(look.unstored); /* the shared store's hit is durable on return */
  if (left)
    *left = look.remaining;
  return look.state;
}

static enum uc_ban_state shared_look(struct shared *x, uc_bans *b, const char *ip, long *left) {
  struct uc_ban_look look;
  struct uc_ip a;
  assert_int_equal(uc_ip_parse(ip, strlen(ip), x->set.ipv6_prefix, &a), UC_OK);
  enum uc_ban_state st = uc_bans_state(b, x->acc, &x->set, &a, T0, &look);
  if (left)
    *left = look.remaining;
  return st;
}

/* Counting alternates between the two servers: the store counts, exactly. */
static void test_shared_counts_across_servers(void **state) {
  struct shared *x = *state;
  long left;
  if (!x->st)
    skip();
  for (int i = 0; i < 4; i++) {
    assert_int_equal(shared_hit(x, i % 2 ? x->b2 : x->b, "192.0.2.1", &left), UC_BAN_CLEAR);
    assert_int_equal(left, 4 - i);
  }
  assert_int_equal(shared_hit(x, x->b2, "192.0.2.1", &left), UC_BAN_JUST_BANNED);
  assert_int_equal(shared_hit(x, x->b, "192.0.2.1", &left), UC_BAN_BANNED); /* the store said */
  assert_int_equal(left, 0);
}

/* A ban made by one server reaches the other's memory through the feed: its
 * check before classifying answers 403 without asking the store. */
static void test_shared_ban_reaches_other_memory(void **state) {
  struct shared *x = *state;
  struct uc_bans_stats st;
  if (!x->st)
    skip();
  for (int i = 0; i < 5; i++)
    shared_hit(x, x->b, "192.0.2.2", NULL);
  assert_int_equal(shared_look(x, x->b, "192.0.2.2", NULL), UC_BAN_BANNED);
  assert_int_equal(shared_look(x, x->b2, "192.0.2.2", NULL), UC_BAN_CLEAR); /* not synced yet */
  assert_int_equal(uc_bans_sync(x->b2), UC_OK);
  assert_int_equal(shared_look(x, x->b2, "192.0.2.2", NULL), UC_BAN_BANNED);
  uc_bans_stats(x->b2, &st);
  assert_int_equal(st.banned, 1);
  assert_int_equal(st.store_reads, 0);         /* from memory */
  assert_int_equal(uc_bans_sync(x->b), UC_OK); /* its own ban again: nothing changes */
  uc_bans_stats(x->b, &st);
  assert_int_equal(st.banned, 1);
  assert_int_equal(st.entries, 1);
}

/* An unban through one server resets the other's memory, which keeps no
 * count of its own to write back (a shared store holds it). */
static void test_shared_unban_reaches_other(void **state) {
  struct shared *x = *state;
  struct uc_bans_stats st;
  long left;
  if (!x->st)
    skip();
  for (int i = 0; i < 5; i++)
    shared_hit(x, x->b, "192.0.2.3", NULL);
  assert_int_equal(uc_bans_sync(x->b2), UC_OK);
  assert_int_equal(shared_look(x, x->b2, "192.0.2.3", NULL), UC_BAN_BANNED);
  assert_int_equal(uc_bans_unban(x->b, x->acc, "192.0.2.3"), UC_OK);
  assert_int_equal(uc_bans_sync(x->b2), UC_OK);
  assert_int_equal(shared_look(x, x->b2, "192.0.2.3", &left), UC_BAN_CLEAR);
  assert_int_equal(left, 5);
  uc_bans_stats(x->b2, &st);
  assert_int_equal(st.dirty, 0);
  assert_int_equal(shared_hit(x, x->b2, "192.0.2.3", &left), UC_BAN_CLEAR);
  assert_int_equal(left, 4); /* counting starts over in the store too */
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
#define SHARED(f) cmocka_unit_test_setup_teardown(f, shared_setup, shared_teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      TEST(test_threshold),
      TEST(test_concurrent_exact),
      TEST(test_ban_durable),
      TEST(test_flush_writes_counts),
      TEST(test_unban),
      TEST(test_sync_unban_unflushed),
      TEST(test_sync_unban_after_rewrite),
      TEST(test_sync_unban_banned),
      TEST(test_sync_unban_all),
      TEST(test_own_unban_applied_once),
      TEST(test_unban_all_frees),
      TEST(test_memory_bound),
      TEST(test_bans_never_evicted),
      TEST(test_lift),
      TEST(test_lift_then_reban),
      TEST(test_each),
      TEST(test_accounts_isolated),
      TEST(test_store_locked_then_retried),
      TEST(test_unban_ends_waits),
      TEST(test_threshold_lowered),
      TEST(test_prefix_change_keeps_v6_bans),
      TEST(test_aggregate_48),
      TEST(test_page),
      TEST(test_reban_during_lift_flush),
      TEST(test_no_eviction_while_writing),
      TEST(test_sync_while_banning),
  };
  const struct CMUnitTest shared[] = {
      SHARED(test_shared_counts_across_servers),
      SHARED(test_shared_ban_reaches_other_memory),
      SHARED(test_shared_unban_reaches_other),
  };
  int failed = cmocka_run_group_tests_name("bans", tests, NULL, NULL);
  return failed + cmocka_run_group_tests_name("bans: shared store (Redis)", shared, NULL, NULL);
}
