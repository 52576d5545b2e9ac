/* Snapshot build, load, integrity checks, lookups and hot swap (lib/lists*.c). */
#include "unit.h"

#include <pthread.h>
#include <unistd.h>

static char dir[64];

static void write_file(const char *name, const char *text) {
  char path[128];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

/* Rotating buffers: two paths may be used in one call. */
static const char *path_of(const char *name) {
  static char paths[4][128];
  static int next;
  char *p = paths[next++ % 4];
  snprintf(p, 128, "%s/%s", dir, name);
  return p;
}

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/uc-test-lists-XXXXXX");
  if (!mkdtemp(dir))
    return -1;
  write_file("disp.txt", "Mailinator.com\n# comment\n\nmy.id\nco.uk\nbücher-temp.de\ngmail.com\n"
                         "not a domain\nduck.com\n");
  write_file("disp2.txt", "mailinator.com\ntrash.example.net\n");
  write_file("relay.txt", "duck.com 2025-01-02 # DuckDuckGo\n");
  write_file("guard.txt", "gmail.com # Google\n");
  write_file("typo.txt", "gmail.com\nyahoo.com\n");
  write_file("role.txt", "Admin\npostmaster\n");
  write_file("sources.ini",
             "[one]\nfile = disp.txt\nkind = disposable\nversion = 1.0\n"
             "date = 2024-12-07\n\n[two]\nfile = disp2.txt\nkind = disposable\n"
             "version = 2.0\ndate = 2023-01-01\n\n[relay]\nfile = relay.txt\n"
             "kind = multi-alias\nversion = 1\ndate = 2026-11-24\n\n[guard]\n"
             "file = guard.txt\nkind = guard\nversion = 1\ndate = 2026-11-24\n\n"
             "[typo]\nfile = typo.txt\nkind = typo\nversion = 1\ndate = 2026-11-24\n\n"
             "[role]\nfile = role.txt\nkind = role\nversion = 1\ndate = 2026-11-24\n");
  char err[256];
  int rc = uc_lists_build(path_of("sources.ini"), dir, path_of("test.snap"), NULL, err, sizeof err);
  if (rc)
    fprintf(stderr, "build: %s\n", err);
  return rc;
}

static int teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd);
}

static uc_lists *open_test(void) {
  uc_lists *l = NULL;
  char err[256];
  assert_int_equal(uc_lists_open(path_of("test.snap"), &l, err, sizeof err), UC_OK);
  return l;
}

static void test_lookups(void **state) {
  (void)state;
  uc_lists *l = open_test();
  struct uc_list_hit h;
  assert_true(uc_lists_find_domain(l, "mailinator.com", 14, &h));
  assert_true(h.flags & UC_LF_DISPOSABLE);
  assert_int_equal(h.sources, 3);                            /* bits of [one] and [two] */
  assert_int_equal(h.date, uc_date_parse("2023-01-01", 10)); /* the earliest source */
  assert_string_equal(h.entry, "mailinator.com");
  /* Unicode entries are stored in A-label form */
  assert_true(uc_lists_find_domain(l, "xn--bcher-temp-9db.de", 21, &h));
  /* a listed public suffix is dropped: it must never black-list all under it */
  assert_false(uc_lists_find_domain(l, "my.id", 5, &h));
  assert_false(uc_lists_find_domain(l, "co.uk", 5, &h));
  /* flags merge across kinds; the curated line's date wins over the source date */
  assert_true(uc_lists_find_domain(l, "duck.com", 8, &h));
  assert_int_equal(h.flags, UC_LF_DISPOSABLE | UC_LF_RELAY);
  assert_int_equal(h.date, uc_date_parse("2024-12-07", 10));
  assert_true(uc_lists_find_domain(l, "gmail.com", 9, &h));
  assert_int_equal(h.flags, UC_LF_DISPOSABLE | UC_LF_GUARD | UC_LF_TYPO_TARGET);
  assert_false(uc_lists_find_domain(l, "gmail.co", 8, &h));
  assert_true(uc_lists_find_local(l, "admin", 5, &h));
  assert_true(h.flags & UC_LF_ROLE);
  assert_false(uc_lists_find_domain(l, "admin", 5, &h)); /* separate key spaces */
  const struct uc_typo_target *targets;
  assert_int_equal(uc_lists_typo_targets(l, &targets), 2);
  assert_string_equal(targets[0].name, "gmail.com");
  assert_int_equal(targets[0].len, 9);
  assert_int_equal(targets[0].classes, uc_char_classes("gmail.com", 9));
  assert_string_equal(targets[1].name, "yahoo.com");
  assert_int_equal(uc_lists_source_count(l), 6);
  struct uc_list_source src;
  uc_lists_source(l, 0, &src);
  assert_string_equal(src.name, "one");
  assert_string_equal(src.version, "1.0");
  assert_int_equal(src.count, 4); /* 9 lines less a blank, a comment, an invalid, 2 suffixes */
  assert_non_null(strstr(uc_lists_version(l), "2026.11.24-"));
  uc_lists_unref(l);
}

static void test_dates(void **state) {
  (void)state;
  char out[11];
  assert_int_equal(uc_date_parse("1970-01-02", 10), 1);
  assert_int_equal(uc_date_parse("2000-03-01", 10), 11017);
  uc_date_format(0, out);
  assert_string_equal(out, "1970-01-01");
  uc_date_format(11017, out);
  assert_string_equal(out, "2000-03-01");
  uc_date_format(20064, out);
  assert_string_equal(out, "2024-12-07");
  uc_date_format_dmy(20064, out); /* the hosted API's date_added */
  assert_string_equal(out, "07.12.2024");
  uc_date_format_dmy(19358, out);
  assert_string_equal(out, "01.01.2023");
  assert_int_equal(uc_date_of(0), 0);
  assert_int_equal(uc_date_of(86400LL * 20064 + 86399), 20064);
  assert_int_equal(uc_date_of(-5), 0);
  for (unsigned d = 1; d < 60000; d += 37) {
    uc_date_format(d, out);
    assert_int_equal(uc_date_parse(out, 10), d);
  }
  assert_int_equal(uc_date_parse("2024-13-01", 10), 0);
  assert_int_equal(uc_date_parse("2024-1-01", 9), 0);
  assert_int_equal(uc_date_parse("20x4-01-01", 10), 0);
}

/* Flipping any byte, or truncating, must be refused, never crash a reader. */
static void test_corruption(void **state) {
  (void)state;
  FILE *f = fopen(path_of("test.snap"), "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  rewind(f);
  unsigned char *buf = malloc((size_t)n);
  assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  const long offsets[] = {0, 9, 40, 70, 100, 200, n / 2, n - 1};
  for (size_t i = 0; i < COUNT(offsets); i++) {
    buf[offsets[i]] ^= 0x5A;
    FILE *g = fopen(path_of("bad.snap"), "wb");
    fwrite(buf, 1, (size_t)n, g);
    fclose(g);
    buf[offsets[i]] ^= 0x5A;
    uc_lists *l = NULL;
    char err[256];
    assert_int_equal(uc_lists_open(path_of("bad.snap"), &l, err, sizeof err), UC_EFORMAT);
    assert_null(l);
  }
  FILE *g = fopen(path_of("short.snap"), "wb");
  fwrite(buf, 1, (size_t)n - 10, g);
  fclose(g);
  uc_lists *l = NULL;
  char err[256];
  assert_int_equal(uc_lists_open(path_of("short.snap"), &l, err, sizeof err), UC_EFORMAT);
  assert_non_null(strstr(err, "truncated"));
  assert_int_equal(uc_lists_open(path_of("missing.snap"), &l, err, sizeof err), UC_EIO);
  free(buf);
}

static void test_bad_manifest(void **state) {
  (void)state;
  char err[256];
  write_file("bad.ini", "[x]\nfile = disp.txt\nkind = nonsense\ndate = 2024-01-01\n");
  assert_int_equal(
      uc_lists_build(path_of("bad.ini"), dir, path_of("x.snap"), NULL, err, sizeof err),
      UC_EFORMAT);
  assert_non_null(strstr(err, "kind = nonsense"));
  write_file("bad2.ini", "[x]\nfile = nowhere.txt\nkind = disposable\ndate = 2024-01-01\n");
  assert_int_equal(
      uc_lists_build(path_of("bad2.ini"), dir, path_of("x.snap"), NULL, err, sizeof err), UC_EIO);
  assert_non_null(strstr(err, "nowhere.txt"));
}

/* Two threads read through h (fn) while this one swaps in 200 snapshots;
 * returns the lookups they missed (each thread adds its own count at the end). */
struct race {
  uc_lists_holder *h;
  int stop;
  long misses;
};

static long race_swaps(uc_lists_holder *h, void *(*fn)(void *)) {
  struct race a = {h, 0, 0};
  pthread_t t[2];
  for (int i = 0; i < 2; i++)
    pthread_create(&t[i], NULL, fn, &a);
  for (int i = 0; i < 200; i++)
    uc_lists_holder_swap(h, open_test());
  __atomic_store_n(&a.stop, 1, __ATOMIC_RELEASE);
  for (int i = 0; i < 2; i++)
    pthread_join(t[i], NULL);
  return a.misses;
}

/* Readers keep using the snapshot they took while another thread swaps. */
static void *reader(void *p) {
  struct race *a = p;
  struct uc_list_hit hit;
  long misses = 0;
  while (!__atomic_load_n(&a->stop, __ATOMIC_ACQUIRE)) {
    uc_lists *l = uc_lists_holder_get(a->h);
    misses += !uc_lists_find_domain(l, "mailinator.com", 14, &hit);
    uc_lists_unref(l);
  }
  __atomic_fetch_add(&a->misses, misses, __ATOMIC_RELAXED);
  return NULL;
}

static void test_holder_swap(void **state) {
  (void)state;
  uc_lists_holder *h = uc_lists_holder_new(open_test());
  assert_int_equal(race_swaps(h, reader), 0);
  uc_lists_holder_free(h);
}

/* Followers keep their own reference: no lookup misses while another thread
 * swaps, and each moves to the newest snapshot on its next use. */
static void *follower(void *p) {
  struct race *a = p;
  struct uc_follower f = {0};
  struct uc_list_hit hit;
  long misses = 0;
  while (!__atomic_load_n(&a->stop, __ATOMIC_ACQUIRE))
    misses += !uc_lists_find_domain(uc_lists_holder_follow(a->h, &f), "mailinator.com", 14, &hit);
  uc_lists *now = uc_lists_holder_get(a->h); /* no swaps any more */
  if (uc_lists_holder_follow(a->h, &f) != now)
    misses = -1;
  uc_lists_unref(now);
  uc_lists_follower_drop(&f);
  __atomic_fetch_add(&a->misses, misses, __ATOMIC_RELAXED);
  return NULL;
}

static void test_holder_follow(void **state) {
  (void)state;
  uc_lists_holder *h = uc_lists_holder_new(open_test());
  struct uc_follower mine = {0};
  uc_lists *first = uc_lists_holder_follow(h, &mine);
  assert_ptr_equal(uc_lists_holder_follow(h, &mine), first); /* no swap: the same one */
  assert_int_equal(race_swaps(h, follower), 0);
  struct uc_list_hit hit; /* the first snapshot outlived 200 swaps: mine still holds it */
  assert_true(uc_lists_find_domain(first, "mailinator.com", 14, &hit));
  assert_ptr_not_equal(uc_lists_holder_follow(h, &mine), first);
  uc_lists_follower_drop(&mine);
  uc_lists_holder_free(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lookups),     cmocka_unit_test(test_dates),
      cmocka_unit_test(test_corruption),  cmocka_unit_test(test_bad_manifest),
      cmocka_unit_test(test_holder_swap), cmocka_unit_test(test_holder_follow),
  };
  return cmocka_run_group_tests_name("lists", tests, setup, teardown);
}
