/* Classification over the default snapshot (lib/engine.c): matching order,
 * precedence, evidence and the negative cases. */
#include "unit.h"

#include <jansson.h>

struct engine_case {
  const char *addr;
  uc_type type;
  const char *matched; /* NULL: no evidence expected */
  const char *did_you_mean;
};

static const struct engine_case cases[] = {
    /* disposable: the domain or a parent, with the entry that fired */
    {"someone@mailinator.com", UC_T_DISPOSABLE, "mailinator.com", NULL},
    {"someone@x.y.mailinator.com", UC_T_DISPOSABLE, "mailinator.com", NULL},
    {"someone@MAILINATOR.COM", UC_T_DISPOSABLE, "mailinator.com", NULL},
    {"a@guerrillamail.com", UC_T_DISPOSABLE, "guerrillamail.com", NULL},
    /* a listed public suffix never black-lists what is under it */
    {"someone@my.id", UC_T_LEGITIMATE, NULL, NULL},
    {"someone@company.my.id", UC_T_LEGITIMATE, NULL, NULL},
    {"someone@example.co.uk", UC_T_LEGITIMATE, NULL, NULL},
    /* relay services win over a disposable listing of the same domain */
    {"me@duck.com", UC_T_MULTI_ALIAS, "duck.com", NULL},
    {"x1y2@mozmail.com", UC_T_MULTI_ALIAS, "mozmail.com", NULL},
    {"abc@privaterelay.appleid.com", UC_T_MULTI_ALIAS, "privaterelay.appleid.com", NULL},
    {"abc@simplelogin.com", UC_T_MULTI_ALIAS, "simplelogin.com", NULL},
    {"abc@passmail.net", UC_T_MULTI_ALIAS, "passmail.net", NULL},
    {"abc@me.33mail.com", UC_T_MULTI_ALIAS, "33mail.com", NULL},
    /* major providers are never disposable from upstream lists */
    {"john.smith@gmail.com", UC_T_LEGITIMATE, NULL, NULL},
    {"john@outlook.com", UC_T_LEGITIMATE, NULL, NULL},
    {"john@yahoo.co.jp", UC_T_LEGITIMATE, NULL, NULL},
    /* suspicious signs: a + tag or more than three dots */
    {"john+promo@gmail.com", UC_T_SUSPICIOUS, "plus_tag", NULL},
    {"a.b.c.d@example.com", UC_T_LEGITIMATE, NULL, NULL},
    {"a.b.c.d.e@example.com", UC_T_SUSPICIOUS, "many_dots", NULL},
    /* disposable wins over suspicious */
    {"a+b@mailinator.com", UC_T_DISPOSABLE, "mailinator.com", NULL},
    /* typos: suggested towards popular domains, also when a typo-squatter is listed */
    {"john@gmial.com", UC_T_DISPOSABLE, "gmial.com", "gmail.com"},
    {"john@gmai.com", UC_T_DISPOSABLE, "gmai.com", "gmail.com"},
    {"john@hotmial.com", UC_T_DISPOSABLE, "hotmial.com", "hotmail.com"},
    {"john@outlok.com", UC_T_DISPOSABLE, "outlok.com", "outlook.com"},
    {"john@gmail.con", UC_T_LEGITIMATE, NULL, "gmail.com"},
    {"john@yahooo.com", UC_T_DISPOSABLE, "yahooo.com", "yahoo.com"},
    {"john@yahou.com", UC_T_LEGITIMATE, NULL, "yahoo.com"},
    /* ... and not on real domains that merely look close */
    {"john@gmx.com", UC_T_LEGITIMATE, NULL, NULL},
    {"john@ymail.com", UC_T_LEGITIMATE, NULL, NULL},
    {"john@mail.com", UC_T_LEGITIMATE, NULL, NULL},
    {"john@live.com", UC_T_LEGITIMATE, NULL, NULL},
    {"john@me.com", UC_T_LEGITIMATE, NULL, NULL},
    {"john@hotmail.fr", UC_T_LEGITIMATE, NULL, NULL},
    {"john@aol.com", UC_T_LEGITIMATE, NULL, NULL},
    {"john@example.com", UC_T_LEGITIMATE, NULL, NULL},
    /* IDN and UTF-8 */
    {"jörg@bücher.de", UC_T_LEGITIMATE, NULL, NULL},
    {"用户@例子.广告", UC_T_LEGITIMATE, NULL, NULL},
    /* confusable IDN domains: a look-alike of a popular mail domain, or scripts mixed in a label */
    {"user@gm\u0430il.com", UC_T_SUSPICIOUS, "gmail.com", NULL},     /* Cyrillic a */
    {"user@xn--gmil-63d.com", UC_T_SUSPICIOUS, "gmail.com", NULL},   /* the same, as A-labels */
    {"user@\u0261mail.com", UC_T_SUSPICIOUS, "gmail.com", NULL},     /* Latin script g */
    {"user@h\u043Etmail.com", UC_T_SUSPICIOUS, "hotmail.com", NULL}, /* Cyrillic o */
    {"user@p\u0430ypal-mail.com", UC_T_SUSPICIOUS, "mixed_scripts", NULL}, /* no popular twin */
    {"a@\u043F\u043E\u0447\u0442\u0430.\u0440\u0444", UC_T_LEGITIMATE, NULL,
     NULL}, /* all Cyrillic */
    {"a@\u4F8B\u5B50.jp", UC_T_LEGITIMATE, NULL, NULL},
    {"a@\u6771\u4EAC\u3072\u3089\u304C\u306A-abc.jp", UC_T_LEGITIMATE, NULL,
     NULL}, /* Han+Hira+Latin */
    {"a@m\u00FCnchen.de", UC_T_LEGITIMATE, NULL, NULL},
    /* the look-alike is the evidence, before a + tag */
    {"a+b@gm\u0430il.com", UC_T_SUSPICIOUS, "gmail.com", NULL},
    /* syntax */
    {"no-at-sign", UC_T_INVALID, NULL, NULL},
    {"a..b@gmail.com", UC_T_INVALID, NULL, NULL},
};

static void test_cases(void **state) {
  (void)state;
  uc_lists *l = unit_default_lists();
  struct uc_policy p;
  struct uc_result r;
  uc_policy_init(&p);
  for (size_t i = 0; i < COUNT(cases); i++) {
    const struct engine_case *c = &cases[i];
    uc_check(l, &p, c->addr, strlen(c->addr), &r);
    if (r.type != c->type)
      fail_msg("%s: type '%s', expected '%s' (%s)", c->addr, uc_type_name(r.type),
               uc_type_name(c->type), r.reason);
    if ((c->matched == NULL) != (r.matched == NULL) ||
        (c->matched && strcmp(c->matched, r.matched) != 0))
      fail_msg("%s: matched '%s', expected '%s'", c->addr, r.matched ? r.matched : "(null)",
               c->matched ? c->matched : "(null)");
    if ((c->did_you_mean == NULL) != (r.did_you_mean == NULL) ||
        (c->did_you_mean && strcmp(c->did_you_mean, r.did_you_mean) != 0))
      fail_msg("%s: did_you_mean '%s', expected '%s'", c->addr,
               r.did_you_mean ? r.did_you_mean : "(null)",
               c->did_you_mean ? c->did_you_mean : "(null)");
  }
}

static void test_default_colours(void **state) {
  (void)state;
  struct uc_policy p;
  uc_policy_init(&p);
  assert_int_equal(p.color[UC_T_DISPOSABLE], UC_BLACK);
  assert_int_equal(p.color[UC_T_MASKED], UC_BLACK);
  assert_int_equal(p.color[UC_T_NO_WEBSITE], UC_BLACK);
  assert_int_equal(p.color[UC_T_MULTI_ALIAS], UC_GREY);
  assert_int_equal(p.color[UC_T_SUSPICIOUS], UC_GREY);
  assert_int_equal(p.color[UC_T_LEGITIMATE], UC_WHITE);
  assert_int_equal(p.color[UC_T_INVALID], UC_BLACK);
  assert_int_equal(p.color[UC_T_UNKNOWN], UC_WHITE);
  /* the SPEC's "configurable to" column, and nothing else */
  assert_int_equal(uc_policy_set_color(&p, UC_T_MULTI_ALIAS, UC_WHITE), UC_OK);
  assert_int_equal(uc_policy_set_color(&p, UC_T_SUSPICIOUS, UC_BLACK), UC_OK);
  assert_int_equal(uc_policy_set_color(&p, UC_T_MASKED, UC_GREY), UC_OK);
  assert_int_equal(uc_policy_set_color(&p, UC_T_NO_WEBSITE, UC_GREY), UC_OK);
  assert_int_equal(uc_policy_set_color(&p, UC_T_MASKED, UC_WHITE), UC_EINVAL);
  assert_int_equal(uc_policy_set_color(&p, UC_T_DISPOSABLE, UC_GREY), UC_EINVAL);
  assert_int_equal(uc_policy_set_color(&p, UC_T_LEGITIMATE, UC_BLACK), UC_EINVAL);
}

static void test_configured_colours(void **state) {
  (void)state;
  uc_lists *l = unit_default_lists();
  struct uc_policy p;
  struct uc_result r;
  uc_policy_init(&p);
  uc_policy_set_color(&p, UC_T_MULTI_ALIAS, UC_BLACK);
  uc_policy_set_color(&p, UC_T_SUSPICIOUS, UC_WHITE);
  uc_check(l, &p, "me@duck.com", 11, &r);
  assert_int_equal(r.type, UC_T_MULTI_ALIAS);
  assert_int_equal(r.category, UC_BLACK);
  uc_check(l, &p, "a+b@gmail.com", 13, &r);
  assert_int_equal(r.type, UC_T_SUSPICIOUS);
  assert_int_equal(r.category, UC_WHITE);
}

static void test_account_lists(void **state) {
  (void)state;
  uc_lists *l = unit_default_lists();
  uc_domset *white = uc_domset_new(), *grey = uc_domset_new(), *black = uc_domset_new();
  struct uc_policy p;
  struct uc_result r;
  uc_policy_init(&p);
  assert_int_equal(uc_domset_add(white, "mailinator.com", 14), UC_OK);
  assert_int_equal(uc_domset_add(grey, "example.org", 11), UC_OK);
  assert_int_equal(uc_domset_add(black, "gmail.com", 9), UC_OK);
  assert_int_equal(uc_domset_add(black, "mailinator.com", 14), UC_OK);
  assert_int_equal(uc_domset_add(black, "", 0), UC_EINVAL);
  p.list[UC_WHITE] = white, p.list[UC_GREY] = grey, p.list[UC_BLACK] = black;
  /* white comes first in the table, and matches subdomains */
  uc_check(l, &p, "x@a.mailinator.com", 18, &r);
  assert_int_equal(r.type, UC_T_WHITE_LIST);
  assert_int_equal(r.category, UC_WHITE);
  assert_string_equal(r.matched, "mailinator.com");
  assert_string_equal(r.matched_list, "account:white");
  assert_true(r.signals & UC_SIG_DISPOSABLE); /* the fact is still reported */
  assert_true(r.signals & UC_SIG_CUSTOM_LIST);
  /* only the account's own black list can black-list a guarded provider */
  uc_check(l, &p, "x@gmail.com", 11, &r);
  assert_int_equal(r.type, UC_T_BLACK_LIST);
  assert_int_equal(r.category, UC_BLACK);
  uc_check(l, &p, "x@sub.example.org", 17, &r);
  assert_int_equal(r.type, UC_T_GREY_LIST);
  assert_int_equal(r.category, UC_GREY);
  /* another policy (another account) does not see these lists */
  struct uc_policy other;
  uc_policy_init(&other);
  uc_check(l, &other, "x@gmail.com", 11, &r);
  assert_int_equal(r.type, UC_T_LEGITIMATE);
  uc_domset_free(white);
  uc_domset_free(grey);
  uc_domset_free(black);
}

static void test_signals_and_fields(void **state) {
  (void)state;
  uc_lists *l = unit_default_lists();
  struct uc_policy p;
  struct uc_result r;
  uc_policy_init(&p);
  uc_check(l, &p, "Admin@Gmail.com", 15, &r);
  assert_true(r.signals & UC_SIG_ROLE_ACCOUNT);
  assert_true(r.signals & UC_SIG_FREE_PROVIDER);
  assert_true(r.signals & UC_SIG_MAJOR_PROVIDER);
  assert_int_equal(r.premium, 0);
  assert_int_equal(r.date_added, 0);
  assert_string_equal(r.normalized, "admin@gmail.com");
  uc_check(l, &p, "bob@fastmail.com", 16, &r);
  assert_true(r.signals & UC_SIG_PREMIUM);
  assert_int_equal(r.premium, 1);
  assert_false(r.signals & UC_SIG_ROLE_ACCOUNT);
  uc_check(l, &p, "bob@example.com", 15, &r);
  assert_int_equal(r.premium, -1);
  uc_check(l, &p, "bob@mailinator.com", 18, &r);
  assert_int_not_equal(r.date_added, 0);
  assert_int_equal(r.premium, 0);
  assert_non_null(r.matched_list);
  uc_check(l, &p, "jörg@bücher.de", strlen("jörg@bücher.de"), &r);
  assert_true(r.signals & UC_SIG_SMTPUTF8);
  assert_true(r.signals & UC_SIG_IDN);
  uc_check(l, &p, "x@@y", 4, &r);
  assert_false(r.valid);
  assert_int_equal(r.category, UC_BLACK);
  assert_true(strlen(r.reason) > 0);
}

static void test_json_body(void **state) {
  (void)state;
  uc_lists *l = unit_default_lists();
  struct uc_policy p;
  struct uc_result r;
  uc_policy_init(&p);
  const char *addr = "User@X.Mailinator.com";
  uc_check(l, &p, addr, strlen(addr), &r);
  struct uc_result_ctx ctx = {addr, strlen(addr), 4, NULL, NULL};
  char buf[UC_RESULT_BODY_MAX];
  size_t n = uc_result_write(&r, l, &ctx, buf, sizeof buf);
  assert_true(n > 0);
  json_error_t jerr;
  json_t *o = json_loadb(buf, n, JSON_ALLOW_NUL, &jerr); /* jansson is the judge of the text */
  assert_non_null(o);
  const char *order[] = {"email",      "domain",     "category",
                         "type",       "mx_record",  "premium",
                         "domain_age", "date_added", "remaining_attempts_before_ban",
                         "details"};
  size_t i = 0;
  const char *key;
  json_t *value;
  json_object_foreach(o, key, value) {
    assert_true(i < COUNT(order));
    assert_string_equal(key, order[i++]);
  }
  assert_int_equal(i, COUNT(order));
  assert_string_equal(json_string_value(json_object_get(o, "email")), addr);
  assert_string_equal(json_string_value(json_object_get(o, "domain")), "x.mailinator.com");
  assert_string_equal(json_string_value(json_object_get(o, "category")), "black");
  assert_string_equal(json_string_value(json_object_get(o, "type")), "disposable");
  assert_string_equal(json_string_value(json_object_get(o, "mx_record")), "unknown");
  assert_string_equal(json_string_value(json_object_get(o, "premium")), "False");
  assert_string_equal(json_string_value(json_object_get(o, "domain_age")), "unknown");
  char dmy[11], iso[11]; /* the hosted DD.MM.YYYY, and ISO in details */
  uc_date_format_dmy(r.date_added, dmy);
  uc_date_format(r.date_added, iso);
  assert_string_equal(json_string_value(json_object_get(o, "date_added")), dmy);
  assert_true(dmy[2] == '.' && dmy[5] == '.' && !memcmp(dmy + 6, iso, 4));
  assert_int_equal(json_integer_value(json_object_get(o, "remaining_attempts_before_ban")), 4);
  json_t *d = json_object_get(o, "details");
  assert_string_equal(json_string_value(json_object_get(d, "date_added")), iso);
  assert_true(json_is_null(json_object_get(d, "domain_created")));
  assert_string_equal(json_string_value(json_object_get(json_object_get(d, "matched"), "entry")),
                      "mailinator.com");
  assert_true(json_is_true(json_object_get(json_object_get(d, "signals"), "disposable")));
  assert_string_equal(json_string_value(json_object_get(d, "lists_version")), uc_lists_version(l));
  json_decref(o);
  /* invalid input that is not even UTF-8 still gives a body */
  const char *bad = "\xff\xfe@\xff";
  uc_check(l, &p, bad, 4, &r);
  ctx = (struct uc_result_ctx){bad, 4, -1, NULL, NULL};
  n = uc_result_write(&r, l, &ctx, buf, sizeof buf);
  o = json_loadb(buf, n, JSON_ALLOW_NUL, &jerr);
  assert_non_null(o);
  assert_string_equal(json_string_value(json_object_get(o, "email")),
                      "\xef\xbf\xbd\xef\xbf\xbd@\xef\xbf\xbd");
  assert_int_equal(uc_result_write(&r, l, &ctx, buf, 100), 0); /* too small: refused */
  assert_true(json_is_null(json_object_get(o, "remaining_attempts_before_ban")));
  assert_string_equal(json_string_value(json_object_get(o, "type")), "invalid");
  json_decref(o);
}

/* Full-matrix OSA, the reference the banded version is checked against. */
static unsigned naive_osa(const char *a, size_t an, const char *b, size_t bn) {
  unsigned d[16][16];
  for (size_t i = 0; i <= an; i++)
    for (size_t j = 0; j <= bn; j++) {
      if (!i || !j) {
        d[i][j] = (unsigned)(i + j);
        continue;
      }
      unsigned v = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      v = d[i - 1][j] + 1 < v ? d[i - 1][j] + 1 : v;
      v = d[i][j - 1] + 1 < v ? d[i][j - 1] + 1 : v;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
        v = d[i - 2][j - 2] + 1;
      d[i][j] = v;
    }
  return d[an][bn];
}

/* Domain age: a fact for the decision, a signal, a type only when the account's colour says so. */
static void test_young_domain(void **state) {
  (void)state;
  uc_lists *l = unit_default_lists();
  struct uc_policy p;
  struct uc_result r;
  struct uc_facts f = {.age_known = 1, .domain_age = 10, .domain_created = 20000};
  uc_policy_init(&p);
  assert_int_equal(p.young_days, 30);
  assert_int_equal(p.color[UC_T_YOUNG], UC_WHITE);
  uc_check_lists(l, &p, "a@example-shop.com", 18, &r);
  uc_check_decide(&p, &f, &r);
  assert_true(r.signals & UC_SIG_YOUNG_DOMAIN);
  assert_int_equal(r.type, UC_T_LEGITIMATE); /* white by default: a signal, not a verdict */
  assert_true(r.age_known);
  assert_int_equal(r.domain_age, 10);
  assert_int_equal(r.domain_created, 20000);
  assert_int_equal(uc_policy_set_color(&p, UC_T_YOUNG, UC_GREY), UC_OK);
  uc_check_decide(&p, &f, &r);
  assert_int_equal(r.type, UC_T_YOUNG);
  assert_int_equal(r.category, UC_GREY);
  assert_string_equal(r.matched, "young_domain");
  assert_string_equal(uc_type_name(r.type), "young domain");
  f.domain_age = 30; /* not younger than 30 days */
  uc_check_lists(l, &p, "a@example-shop.com", 18, &r);
  uc_check_decide(&p, &f, &r);
  assert_false(r.signals & UC_SIG_YOUNG_DOMAIN);
  assert_int_equal(r.type, UC_T_LEGITIMATE);
  f.domain_age = 1; /* listed and suspicious types come first */
  uc_check_lists(l, &p, "a@mailinator.com", 16, &r);
  uc_check_decide(&p, &f, &r);
  assert_int_equal(r.type, UC_T_DISPOSABLE);
  assert_true(r.signals & UC_SIG_YOUNG_DOMAIN);
  uc_check_lists(l, &p, "a+tag@example-shop.com", 22, &r);
  uc_check_decide(&p, &f, &r);
  assert_int_equal(r.type, UC_T_SUSPICIOUS);
  f.age_known = 0; /* unknown: no signal, no type */
  uc_check_lists(l, &p, "a@example-shop.com", 18, &r);
  uc_check_decide(&p, &f, &r);
  assert_false(r.signals & UC_SIG_YOUNG_DOMAIN);
  assert_false(r.age_known);
  assert_int_equal(r.type, UC_T_LEGITIMATE);
  f.age_known = 1; /* an invalid address has no age */
  uc_check_lists(l, &p, "a@@x", 4, &r);
  uc_check_decide(&p, &f, &r);
  assert_false(r.age_known);
  assert_int_equal(r.type, UC_T_INVALID);
  /* in the body: domain_age and details.domain_created */
  uc_check_lists(l, &p, "a@example-shop.com", 18, &r);
  uc_check_decide(&p, &f, &r);
  struct uc_result_ctx ctx = {"a@example-shop.com", 18, -1, NULL, NULL};
  char buf[UC_RESULT_BODY_MAX];
  size_t n = uc_result_write(&r, l, &ctx, buf, sizeof buf);
  json_t *o = json_loadb(buf, n, 0, NULL);
  assert_string_equal(json_string_value(json_object_get(o, "domain_age")), "1");
  json_t *d = json_object_get(o, "details");
  assert_string_equal(json_string_value(json_object_get(d, "domain_created")), "2024-10-04");
  assert_true(json_is_true(json_object_get(json_object_get(d, "signals"), "young_domain")));
  json_decref(o);
}
/* A typo excuses a black answer from the ban count only when it is one edit
 * from the suggestion: a slip, not a disposable service that looks alike. */
static void test_is_typo(void **state) {
  (void)state;
  static const struct {
    const char *addr;
    int typo;
  } slips[] = {{"john@gmial.com", 1}, {"john@gmai.com", 1},    {"john@hotmial.com", 1},
               {"john@gmail.con", 1}, {"john@yopmail.com", 0}, {"john@mailinator.com", 0},
               {"john@gmail.com", 0}, {"not an address", 0}};
  uc_lists *l = unit_default_lists();
  struct uc_policy p;
  struct uc_result r;
  uc_policy_init(&p);
  for (size_t i = 0; i < COUNT(slips); i++) {
    uc_check(l, &p, slips[i].addr, strlen(slips[i].addr), &r);
    if (uc_check_is_typo(&r) != slips[i].typo)
      fail_msg("%s: typo %d, did_you_mean %s", slips[i].addr, !slips[i].typo,
               r.did_you_mean ? r.did_you_mean : "none");
  }
}

static void test_edit_distance(void **state) {
  (void)state;
  srand(7);
  for (int k = 0; k < 200000; k++) {
    char a[16], b[16];
    size_t an = (size_t)rand() % 12, bn = (size_t)rand() % 12;
    for (size_t i = 0; i < an; i++)
      a[i] = (char)('a' + rand() % 3);
    for (size_t i = 0; i < bn; i++)
      b[i] = (char)('a' + rand() % 3);
    unsigned max = 1 + (unsigned)(rand() % 3), want = naive_osa(a, an, b, bn);
    unsigned got = uc_edit_distance(a, an, b, bn, max);
    if (got != (want > max ? max + 1 : want))
      fail_msg("'%.*s' '%.*s' max %u: %u, want %u", (int)an, a, (int)bn, b, max, got, want);
  }
  assert_int_equal(uc_edit_distance("gmial.com", 9, "gmail.com", 9, 2), 1); /* transposition */
  assert_int_equal(uc_edit_distance("gmai.com", 8, "gmail.com", 9, 2), 1);
  assert_int_equal(uc_edit_distance("gmail.com", 9, "gmail.com", 9, 2), 0);
  assert_int_equal(uc_edit_distance("gmx.com", 7, "gmail.com", 9, 2), 3); /* capped */
  assert_int_equal(uc_edit_distance("abc", 3, "abcdefgh", 8, 2), 3);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cases),
      cmocka_unit_test(test_default_colours),
      cmocka_unit_test(test_configured_colours),
      cmocka_unit_test(test_account_lists),
      cmocka_unit_test(test_signals_and_fields),
      cmocka_unit_test(test_json_body),
      cmocka_unit_test(test_young_domain),
      cmocka_unit_test(test_is_typo),
      cmocka_unit_test(test_edit_distance),
  };
  int rc = cmocka_run_group_tests_name("engine", tests, NULL, NULL);
  uc_lists_unref(unit_default_lists());
  return rc;
}
