/* libFuzzer driver: account settings patches (admin API PATCH, CLI, the store)
 * never leave values outside their ranges, change nothing when refused, and
 * what they accept round-trips through the JSON form. */
#include "uc/settings.h"
#include "uc/uc.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  static struct uc_settings s, before, t; /* ~10 KB each: not on the stack */
  char field[96], msg[200];
  uc_settings_init(&s);
  memcpy(&before, &s, sizeof s);
  field[0] = msg[0] = 0;
  int rc = uc_settings_patch(&s, (const char *)data, size, field, sizeof field, msg, sizeof msg);
  assert(rc == UC_OK || rc == UC_EINVAL || rc == UC_ENOMEM);
  if (rc != UC_OK) {
    assert(memcmp(&s, &before, sizeof s) == 0);
    assert(rc == UC_ENOMEM || msg[0]); /* field may be "": the name of a member "" */
    return 0;
  }
  assert(s.ban_threshold >= 1 && s.ban_threshold <= UC_THRESHOLD_MAX);
  assert(s.ipv6_prefix >= 1 && s.ipv6_prefix <= 128 && s.never_ban_count <= UC_NEVER_BAN_MAX);
  for (int i = 0; i < UC_TYPE_COUNT; i++)
    assert(uc_policy_color_allowed((uc_type)i, s.colors[i]));
  char *out = uc_settings_to_json(&s);
  assert(out);
  uc_settings_init(&t);
  assert(uc_settings_patch(&t, out, strlen(out), field, sizeof field, msg, sizeof msg) == UC_OK);
  assert(t.ban_enabled == s.ban_enabled && t.ban_threshold == s.ban_threshold);
  assert(t.ban_lift_seconds == s.ban_lift_seconds && t.ipv6_prefix == s.ipv6_prefix);
  assert(memcmp(t.colors, s.colors, sizeof s.colors) == 0);
  assert(t.never_ban_count == s.never_ban_count);
  for (size_t i = 0; i < s.never_ban_count; i++)
    assert(strcmp(t.never_ban_text[i], s.never_ban_text[i]) == 0);
  free(out);
  return 0;
}
