/* libFuzzer driver: the shared activity feed's entries as Redis keeps them
 * (lib/store_redis.c). Any bytes as a stored element: parsed or refused,
 * never more than the entry holds. And an entry made of the input's bytes
 * (text and ip any bytes but NUL and controls, as lib/activity.c keeps them):
 * encoded, given its seq as the script does, parsed back to the same entry
 * (text that is not UTF-8: its non-ASCII bytes as '?'). */
#include "store_int.h"
#include "uc/uc.h"

#include <assert.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bytes of data (at most size - 1) as activity.c keeps them: no NUL, no controls. */
static size_t take(const unsigned char **data, size_t *left, char *out, size_t size) {
  size_t n = *left < size - 1 ? *left : size - 1;
  for (size_t i = 0; i < n; i++)
    out[i] = (*data)[i] < 0x20 || (*data)[i] == 0x7F ? '?' : (char)(*data)[i];
  out[n] = 0;
  *data += n, *left -= n;
  return n;
}

/* got is want, or want with its non-ASCII bytes as '?' when want is not UTF-8. */
static void same_text(const char *want, const char *got) {
  json_t *j = json_string(want);
  if (j) {
    assert(strcmp(want, got) == 0);
    json_decref(j);
    return;
  }
  assert(strlen(want) == strlen(got));
  for (size_t i = 0; want[i]; i++)
    assert(got[i] == ((unsigned char)want[i] < 0x80 ? want[i] : '?'));
}

static void round_trip(const unsigned char *data, size_t size) {
  struct uc_activity_entry e, back;
  memset(&e, 0, sizeof e);
  if (size < 4)
    return;
  e.at = data[0] * 86400LL + data[1], e.key_id = data[2];
  e.key_type = (uc_key_type)(data[3] % 3), e.outcome = data[3] / 3 % UC_USAGE_OUTCOMES;
  e.type = (uc_type)(data[3] % UC_TYPE_COUNT), e.is_address = data[3] & 0x80 ? 1 : 0;
  data += 4, size -= 4;
  size_t half = size / 2;
  const unsigned char *ip = data + half;
  size_t ip_left = size - half;
  take(&data, &half, e.text, sizeof e.text);
  take(&ip, &ip_left, e.ip, sizeof e.ip);
  char *j = uc__redis_activity_entry_json(&e);
  assert(j && j[0] == '{' && j[1] && j[1] != '}');
  size_t n = strlen(j) + 16;
  char *stored = malloc(n);
  assert(stored);
  snprintf(stored, n, "{\"seq\":7,%s", j + 1); /* what the ACTIVITY_ADD script stores */
  assert(uc__redis_activity_entry_parse(stored, strlen(stored), &back) == 1);
  assert(back.seq == 7 && back.at == e.at && back.key_id == e.key_id);
  assert(back.key_type == e.key_type && back.outcome == e.outcome && back.type == e.type);
  assert(back.is_address == e.is_address);
  same_text(e.text, back.text);
  same_text(e.ip, back.ip);
  free(stored);
  free(j);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  struct uc_activity_entry e;
  if (uc__redis_activity_entry_parse((const char *)data, size, &e)) {
    assert(e.seq > 0 && e.key_type <= UC_KEY_ADMIN && e.outcome < UC_USAGE_OUTCOMES);
    assert(e.type < UC_TYPE_COUNT && (e.is_address == 0 || e.is_address == 1));
    assert(strlen(e.text) < sizeof e.text && strlen(e.ip) < sizeof e.ip);
  }
  round_trip(data, size);
  return 0;
}
