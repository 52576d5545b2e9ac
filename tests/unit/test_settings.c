/* Account settings: defaults, validated patches, JSON round trip (lib/settings.c). */
#include "unit.h"

#include "uc/settings.h"

static int patch(struct uc_settings *s, const char *json, char *field, char *msg) {
  return uc_settings_patch(s, json, strlen(json), field, 96, msg, 200);
}

static void test_defaults_and_round_trip(void **state) {
  (void)state;
  struct uc_settings s, t;
  char field[96], msg[200];
  uc_settings_init(&s);
  assert_true(s.ban_enabled);
  assert_int_equal(s.ban_threshold, 5);
  assert_int_equal(s.ipv6_prefix, 64);
  assert_int_equal(s.rate_limit_per_second, 0); /* off */
  assert_int_equal(s.rate_limit_burst, 0);
  assert_int_equal(s.colors[UC_T_MULTI_ALIAS], UC_GREY);
  assert_false(s.count_typos);     /* a typo costs no attempt unless the account says so */
  assert_false(s.activity_emails); /* the Activity page shows domains unless enabled */
  assert_int_equal(patch(&s, "{\"count_typos\": true, \"activity_emails\": true}", field, msg),
                   UC_OK);
  assert_true(s.count_typos && s.activity_emails);
  assert_int_equal(patch(&s,
                         "{\"ban_threshold\": 9, \"never_ban\": [\"10.0.0.1/8\"], "
                         "\"rate_limit_per_second\": 20, \"rate_limit_burst\": 50, "
                         "\"young_domain_days\": 14, "
                         "\"colors\": {\"no website\": \"grey\", \"young domain\": \"black\"}}",
                         field, msg),
                   UC_OK);
  char *doc = uc_settings_to_json(&s);
  uc_settings_init(&t);
  assert_int_equal(uc_settings_patch(&t, doc, strlen(doc), field, sizeof field, msg, sizeof msg),
                   UC_OK);
  free(doc);
  assert_int_equal(t.ban_threshold, 9);
  assert_int_equal(t.rate_limit_per_second, 20);
  assert_int_equal(t.rate_limit_burst, 50);
  assert_true(t.count_typos && t.activity_emails);
  assert_int_equal(t.colors[UC_T_NO_WEBSITE], UC_GREY);
  assert_int_equal(t.colors[UC_T_YOUNG], UC_BLACK);
  assert_int_equal(t.young_domain_days, 14);
  assert_int_equal(t.never_ban_count, 1);
  assert_string_equal(t.never_ban_text[0], "10.0.0.0/8");
  struct uc_policy p;
  uc_policy_init(&p);
  uc_settings_policy(&t, &p);
  assert_int_equal(p.color[UC_T_NO_WEBSITE], UC_GREY);
  assert_int_equal(p.young_days, 14);
  uc_settings_init(&s); /* young domain: white until an account opts in */
  assert_int_equal(s.colors[UC_T_YOUNG], UC_WHITE);
  assert_int_equal(s.young_domain_days, 30);
}

static void test_rejections_leave_settings_alone(void **state) {
  (void)state;
  static const struct {
    const char *json, *field;
  } bad[] = {
      {"{\"ban_threshold\": 0}", "ban_threshold"},
      {"{\"ban_threshold\": 101}", "ban_threshold"},
      {"{\"ban_threshold\": 5.5}", "ban_threshold"},
      {"{\"ban_enabled\": \"yes\"}", "ban_enabled"},
      {"{\"count_typos\": 1}", "count_typos"},
      {"{\"activity_emails\": null}", "activity_emails"},
      {"{\"ban_lift_seconds\": -1}", "ban_lift_seconds"},
      {"{\"ipv6_prefix\": 0}", "ipv6_prefix"},
      {"{\"never_ban\": [\"10.0.0.0/8\", 7]}", "never_ban[1]"},
      {"{\"colors\": {\"legitimate\": \"black\"}}", "colors.legitimate"},
      {"{\"colors\": {\"masked legitimate\": \"white\"}}", "colors.masked legitimate"},
      {"{\"colors\": []}", "colors"},
      {"{\"young_domain_days\": 0}", "young_domain_days"},
      {"{\"young_domain_days\": 3651}", "young_domain_days"},
      {"{\"colors\": {\"young domain\": \"red\"}}", "colors.young domain"},
      {"{\"threshold\": 3}", "threshold"},
      {"{\"ban_threshold\": 7, \"ipv6_prefix\": 999}", "ipv6_prefix"},
      {"{\"rate_limit_per_second\": -1}", "rate_limit_per_second"},
      {"{\"rate_limit_burst\": 1000001}", "rate_limit_burst"},
      {"{\"rate_limit_burst\": 2.5}", "rate_limit_burst"},
  };
  for (size_t i = 0; i < COUNT(bad); i++) {
    struct uc_settings s;
    char field[96] = "", msg[200] = "";
    uc_settings_init(&s);
    if (patch(&s, bad[i].json, field, msg) != UC_EINVAL)
      fail_msg("%s accepted", bad[i].json);
    assert_string_equal(field, bad[i].field);
    assert_true(strlen(msg) > 5);
    assert_int_equal(s.ban_threshold, 5); /* all or nothing */
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults_and_round_trip),
      cmocka_unit_test(test_rejections_leave_settings_alone),
  };
  return cmocka_run_group_tests_name("settings", tests, NULL, NULL);
}
