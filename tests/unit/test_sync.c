/* List sync without a network (lib/sync.c, lib/lists_build.c): the fetched
 * list formats, the manifest's url key, the sync state file, the history
 * that keeps date_added across builds, and `lists why`. The fetches
 * themselves are tested against a local HTTP server in tests/cli. */
#include "unit.h"

#include "lists_build_int.h"
#include "sync_int.h"

#include <sys/stat.h>

static char dir[64];

static const char *path_of(const char *name) {
  static char paths[4][160];
  static int next;
  char *p = paths[next++ % 4];
  snprintf(p, 160, "%s/%s", dir, name);
  return p;
}

static void write_file(const char *name, const char *text) {
  FILE *f = fopen(path_of(name), "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/uc-test-sync-XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd);
}

/* ---- the body of a fetched list ---- */

struct seen {
  char names[16][64];
  int n;
};

static int collect(void *arg, const struct uc__list_entry *e) {
  struct seen *s = arg;
  if (s->n < 16)
    snprintf(s->names[s->n++], sizeof s->names[0], "%.63s", e->name);
  return 0;
}

static void test_body_lines(void **state) {
  (void)state;
  static const char text[] = "\xEF\xBB\xBF# a list\r\nMailinator.com\r\n\nnot a domain!\n"
                             "bücher-temp.de 2024-01-01 # with a date\nlast.net";
  struct seen s = {0};
  size_t invalid = 0;
  assert_int_equal(uc__list_body_parse(text, sizeof text - 1, 0, collect, &s, &invalid), UC_OK);
  assert_int_equal(s.n, 3);
  assert_string_equal(s.names[0], "mailinator.com");
  assert_string_equal(s.names[1], "xn--bcher-temp-9db.de");
  assert_string_equal(s.names[2], "last.net");
  assert_int_equal(invalid, 1);
}

static void test_body_json_array(void **state) {
  (void)state;
  static const char doc[] = "  [\"a-temp.net\", \"B-TEMP.NET\", 7, null, [\"x.net\"], \"\", "
                            "\"two words.net x\", \"bad..name\"]";
  struct seen s = {0};
  size_t invalid = 0;
  assert_int_equal(uc__list_body_parse(doc, sizeof doc - 1, 0, collect, &s, &invalid), UC_OK);
  assert_int_equal(s.n, 2); /* "two words.net x": the line form's first field, not a domain */
  assert_string_equal(s.names[0], "a-temp.net");
  assert_string_equal(s.names[1], "b-temp.net");
  assert_int_equal(invalid, 6);
  invalid = 0;
  assert_int_equal(uc__list_body_parse("[\"a.net\",", 9, 0, collect, &s, &invalid), UC_EFORMAT);
  assert_int_equal(uc__list_body_parse("[\"a.net\", \"a.net\"]x", 19, 0, collect, &s, &invalid),
                   UC_EFORMAT);
  /* an object is not a list; nor is the text "{...}" a line of a list */
  s.n = 0, invalid = 0;
  assert_int_equal(uc__list_body_parse("{\"a\":1}", 7, 0, collect, &s, &invalid), UC_OK);
  assert_int_equal(s.n, 0);
  assert_int_equal(invalid, 1);
}

static int stop_at_two(void *arg, const struct uc__list_entry *e) {
  (void)e;
  return ++*(int *)arg == 2 ? UC_ENOMEM : 0;
}

static void test_body_callback_stops(void **state) {
  (void)state;
  int n = 0;
  size_t invalid = 0;
  assert_int_equal(uc__list_body_parse("a.net\nb.net\nc.net\n", 18, 0, stop_at_two, &n, &invalid),
                   UC_ENOMEM);
  assert_int_equal(n, 2);
  n = 0;
  assert_int_equal(
      uc__list_body_parse("[\"a.net\",\"b.net\",\"c.net\"]", 25, 0, stop_at_two, &n, &invalid),
      UC_ENOMEM);
  assert_int_equal(n, 2);
}

/* ---- the manifest's url ---- */

static void test_manifest_url(void **state) {
  (void)state;
  struct uc__manifest m;
  char err[256];
  memset(&m, 0, sizeof m);
  assert_int_equal(uc__manifest_parse("[living]\nurl = https://example.net/list.txt\n"
                                      "kind = disposable\n",
                                      "m", &m, err, sizeof err),
                   UC_OK);
  assert_string_equal(m.src[0].url, "https://example.net/list.txt");
  assert_int_equal(uc__list_source_check(&m.src[0], err, sizeof err), UC_OK); /* no file, no date */
  memset(&m, 0, sizeof m);
  assert_int_equal(uc__manifest_parse("[x]\nurl = file:///etc/passwd\nkind = disposable\n", "m", &m,
                                      err, sizeof err),
                   UC_EFORMAT);
  assert_non_null(strstr(err, "url = file:///etc/passwd"));
  memset(&m, 0, sizeof m);
  assert_int_equal(uc__manifest_parse("[../x]\nfile = a.txt\n", "m", &m, err, sizeof err),
                   UC_EFORMAT);
  assert_non_null(strstr(err, "a source name is letters"));
  memset(&m, 0, sizeof m);
  assert_int_equal(
      uc__manifest_parse("[x]\nfile = a.txt\nkind = disposable\n", "m", &m, err, sizeof err),
      UC_OK);
  assert_int_equal(uc__list_source_check(&m.src[0], err, sizeof err), UC_EFORMAT); /* no date */
}

/* ---- the state file ---- */

static void test_state_round_trip(void **state) {
  (void)state;
  static const char text[] =
      "{\"format\": 1, \"sources\": [{\"name\": \"living\", \"url\": \"https://e.net/l\", "
      "\"etag\": \"\\\"v1\\\"\", \"last_modified\": \"Tue, 01 Jan 2026 00:00:00 GMT\", "
      "\"version\": \"2026.01.01-0a0b0c0d\", \"date\": \"2026-01-01\", \"entries\": 12, "
      "\"outcome\": \"updated\", \"last_attempt\": 100, \"last_success\": 90, "
      "\"last_error_at\": 80, \"last_error\": \"HTTP 500\", \"future\": [1, 2], "
      "\"dropped\": [{\"entry\": \"gmail.com\", \"reason\": \"guard list\"}]}]}";
  uc_sync_state *s = NULL, *again = NULL;
  struct uc_sync_source_state x;
  char err[256];
  assert_int_equal(uc__sync_state_parse(text, sizeof text - 1, &s, err, sizeof err), UC_OK);
  assert_int_equal(uc_sync_state_count(s), 1);
  uc_sync_state_source(s, 0, &x);
  assert_string_equal(x.name, "living");
  assert_string_equal(x.etag, "\"v1\"");
  assert_int_equal(x.date, uc_date_parse("2026-01-01", 10));
  assert_int_equal(x.entries, 12);
  assert_int_equal(x.last_success, 90);
  assert_string_equal(x.last_error, "HTTP 500");
  assert_string_equal(uc_sync_state_dropped(s, "living", "gmail.com"), "guard list");
  assert_null(uc_sync_state_dropped(s, "living", "gmx.net"));
  assert_null(uc_sync_state_dropped(s, "other", "gmail.com"));
  char *dumped = uc__sync_state_dump(s);
  assert_non_null(dumped);
  assert_int_equal(uc__sync_state_parse(dumped, strlen(dumped), &again, err, sizeof err), UC_OK);
  uc_sync_state_source(again, 0, &x);
  assert_string_equal(x.modified, "Tue, 01 Jan 2026 00:00:00 GMT");
  assert_string_equal(x.version, "2026.01.01-0a0b0c0d");
  assert_string_equal(uc_sync_state_dropped(again, "living", "gmail.com"), "guard list");
  free(dumped);
  uc_sync_state_free(s);
  uc_sync_state_free(again);
}

static void test_state_refuses_malformed(void **state) {
  (void)state;
  static const char *const bad[] = {
      "",
      "[]",
      "{\"format\": 2, \"sources\": []}",
      "{\"format\": 1}",
      "{\"format\": 1, \"sources\": [7]}",
      "{\"format\": 1, \"sources\": [{\"url\": \"x\"}]}",
      "{\"format\": 1, \"sources\": [{\"name\": \"a\", \"entries\": -1}]}",
      "{\"format\": 1, \"sources\": [{\"name\": \"a\", \"date\": \"yesterday\"}]}",
      "{\"format\": 1, \"sources\": [{\"name\": \"a\", \"etag\": 5}]}",
      "{\"format\": 1, \"sources\": [{\"name\": \"a\"}, {\"name\": \"a\"}]}",
      "{\"format\": 1, \"sources\": [{\"name\": \"a\", \"dropped\": [{\"reason\": \"x\"}]}]}",
      "{\"format\": 1, \"sources\": [{\"name\": \"a\\u0000b\"}]}",
  };
  char err[256];
  for (size_t i = 0; i < COUNT(bad); i++) {
    uc_sync_state *s = (uc_sync_state *)1;
    if (uc__sync_state_parse(bad[i], strlen(bad[i]), &s, err, sizeof err) != UC_EFORMAT)
      fail_msg("accepted: %s", bad[i]);
    assert_null(s);
    assert_true(err[0] != 0);
  }
  /* a name longer than a source name can be */
  char longname[200] = "{\"format\": 1, \"sources\": [{\"name\": \"";
  memset(longname + strlen(longname), 'a', 60);
  strcat(longname, "\"}]}");
  uc_sync_state *s = NULL;
  assert_int_equal(uc__sync_state_parse(longname, strlen(longname), &s, err, sizeof err),
                   UC_EFORMAT);
}

static void test_state_missing_file_is_empty(void **state) {
  (void)state;
  uc_sync_state *s = NULL;
  char err[256];
  assert_int_equal(uc_sync_state_load(path_of("none.snap"), &s, err, sizeof err), UC_OK);
  assert_int_equal(uc_sync_state_count(s), 0);
  uc_sync_state_free(s);
  assert_int_equal(mkdir(path_of("broken.snap.d"), 0755), 0);
  write_file("broken.snap.d/sync.json", "{\"format\": 1, \"sources\": 3}");
  assert_int_equal(uc_sync_state_load(path_of("broken.snap"), &s, err, sizeof err), UC_EFORMAT);
  assert_non_null(strstr(err, "broken.snap.d/sync.json"));
}

/* ---- provenance across builds ---- */

static unsigned added(const uc_lists *l, const char *domain) {
  struct uc_policy p;
  struct uc_result r;
  char addr[300];
  uc_policy_init(&p);
  snprintf(addr, sizeof addr, "x@%s", domain);
  uc_check(l, &p, addr, strlen(addr), &r);
  return r.date_added;
}

static uc_lists *build(const char *date, const char *entries) {
  char manifest[512], err[256];
  uc_lists *l = NULL;
  write_file("living.txt", entries);
  snprintf(manifest, sizeof manifest,
           "[guard]\nfile = guard.txt\nkind = guard\ndate = 2020-01-01\n\n"
           "[living]\nfile = living.txt\nkind = disposable\ndate = %s\n",
           date);
  write_file("guard.txt", "gmail.com\n");
  write_file("m.ini", manifest);
  if (uc_lists_build(path_of("m.ini"), dir, path_of("h.snap"), NULL, err, sizeof err) ||
      uc_lists_open(path_of("h.snap"), &l, err, sizeof err))
    fail_msg("%s", err);
  return l;
}

static void test_history_keeps_first_dates(void **state) {
  (void)state;
  unsigned d1 = uc_date_parse("2025-01-01", 10), d2 = uc_date_parse("2026-03-04", 10);
  uc_lists *l = build("2025-01-01", "first.net\nback.net\ndated.net 2024-06-01\n");
  assert_int_equal(added(l, "first.net"), d1);
  assert_int_equal(added(l, "dated.net"), uc_date_parse("2024-06-01", 10));
  uc_lists_unref(l);
  /* a new release: old entries keep their day, a new one gets the release's, a
   * removed one is remembered for when it comes back */
  l = build("2026-03-04", "first.net\nsecond.net\ndated.net\n");
  assert_int_equal(added(l, "first.net"), d1);
  assert_int_equal(added(l, "second.net"), d2);
  assert_int_equal(added(l, "dated.net"), uc_date_parse("2024-06-01", 10));
  assert_int_equal(added(l, "back.net"), 0); /* not listed now */
  uc_lists_unref(l);
  l = build("2026-05-05", "first.net\nsecond.net\nback.net\n");
  assert_int_equal(added(l, "back.net"), d1);
  assert_int_equal(added(l, "second.net"), d2);
  uc_lists_unref(l);
  assert_int_equal(uc__history_find(path_of("h.snap"), "living", "second.net"), d2);
  assert_int_equal(uc__history_find(path_of("h.snap"), "living", "nowhere.net"), 0);
  assert_int_equal(uc__history_find(path_of("h.snap"), "guard", "gmail.com"),
                   uc_date_parse("2020-01-01", 10));
  /* a damaged history line costs its own date only */
  FILE *f = fopen(path_of("h.snap.d/history/living.txt"), "a");
  assert_non_null(f);
  fputs("garbage line without date\nsecond.net 1999-99-99\n", f);
  fclose(f);
  l = build("2026-06-06", "first.net\nsecond.net\n");
  assert_int_equal(added(l, "first.net"), d1);
  assert_int_equal(added(l, "second.net"), d2);
  uc_lists_unref(l);
}

static void test_why(void **state) {
  (void)state;
  struct uc_why w;
  char err[256];
  uc_lists *l = build("2025-01-01", "first.net\ngmail.com\n");
  assert_int_equal(uc_lists_why(l, path_of("h.snap"), "a.b.First.NET", &w, err, sizeof err), UC_OK);
  assert_string_equal(w.domain, "a.b.first.net");
  assert_int_equal(w.n, 1);
  assert_string_equal(w.at[0].entry, "first.net");
  assert_string_equal(w.at[0].source, "living");
  assert_string_equal(w.at[0].kind, "disposable");
  assert_int_equal(w.at[0].since, uc_date_parse("2025-01-01", 10));
  assert_string_equal(w.type, "disposable");
  assert_int_equal(w.date_added, uc_date_parse("2025-01-01", 10));
  assert_string_equal(w.account, "");
  /* the guard list wins over the disposable listing */
  assert_int_equal(uc_lists_why(l, path_of("h.snap"), "gmail.com", &w, err, sizeof err), UC_OK);
  assert_int_equal(w.n, 2);
  assert_string_equal(w.guard, "gmail.com");
  assert_string_equal(w.type, "legitimate");
  /* an account's black list overrides */
  struct uc_policy p;
  uc_domset *black = uc_domset_new();
  uc_policy_init(&p);
  uc_domset_add(black, "gmail.com", 9);
  p.list[UC_BLACK] = black;
  uc_why_account(&w, l, "acme", &p);
  assert_string_equal(w.account, "acme");
  assert_string_equal(w.account_list, "black");
  assert_string_equal(w.account_entry, "gmail.com");
  assert_string_equal(w.type, "black");
  char *json = uc_why_json(&w);
  assert_non_null(json);
  assert_non_null(strstr(json, "\"guard\": \"gmail.com\""));
  free(json);
  uc_domset_free(black);
  assert_int_equal(uc_lists_why(l, path_of("h.snap"), "not a domain", &w, err, sizeof err),
                   UC_EINVAL);
  uc_lists_unref(l);
}

static void test_status_json(void **state) {
  (void)state;
  uc_lists *l = build("2025-01-01", "first.net\n");
  char *json = uc_sync_status_json(l, NULL);
  assert_non_null(json);
  assert_non_null(strstr(json, "\"name\":\"living\",\"kind\":\"disposable\""));
  assert_non_null(strstr(json, "\"url\":null"));
  free(json);
  uc_lists_unref(l);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_body_lines),
      cmocka_unit_test(test_body_json_array),
      cmocka_unit_test(test_body_callback_stops),
      cmocka_unit_test(test_manifest_url),
      cmocka_unit_test(test_state_round_trip),
      cmocka_unit_test(test_state_refuses_malformed),
      cmocka_unit_test(test_state_missing_file_is_empty),
      cmocka_unit_test(test_history_keeps_first_dates),
      cmocka_unit_test(test_why),
      cmocka_unit_test(test_status_json),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
