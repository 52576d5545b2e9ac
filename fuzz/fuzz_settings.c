/* libFuzzer driver: account settings patches (admin API PATCH, CLI, the store)
 * never leave values outside their ranges, and what they accept round-trips. */
#include "uc/settings.h"
#include "uc/uc.h"

#include <assert.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  json_t *doc = json_loadb((const char *)data, size, 0, NULL);
  struct uc_settings s, t;
  char field[96], msg[200];
  uc_settings_init(&s);
  if (doc && uc_settings_patch(&s, doc, field, sizeof field, msg, sizeof msg) == UC_OK) {
    assert(s.ban_threshold >= 1 && s.ban_threshold <= UC_THRESHOLD_MAX);
    assert(s.ipv6_prefix >= 1 && s.ipv6_prefix <= 128 && s.never_ban_count <= UC_NEVER_BAN_MAX);
    for (int i = 0; i < UC_TYPE_COUNT; i++)
      assert(uc_policy_color_allowed((uc_type)i, s.colors[i]));
    json_t *out = uc_settings_to_json(&s);
    uc_settings_init(&t);
    assert(uc_settings_patch(&t, out, field, sizeof field, msg, sizeof msg) == UC_OK);
    assert(t.ban_threshold == s.ban_threshold && t.never_ban_count == s.never_ban_count);
    json_decref(out);
  }
  json_decref(doc);
  return 0;
}
