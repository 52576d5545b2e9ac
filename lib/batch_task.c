/* Batch tasks as the API shows them: ids, names, states and the status object. */
#include "uc/batch.h"
#include "uc/date.h"
#include "uc/email.h"
#include "uc/error.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

static const char *const status_names[] = {"processing", "completed", "failed"};

const char *uc_batch_status_name(enum uc_batch_status s) {
  return (unsigned)s < 3 ? status_names[s] : "failed";
}

int uc_batch_status_parse(const char *s, enum uc_batch_status *out) {
  for (int i = 0; s && i < 3; i++)
    if (strcmp(s, status_names[i]) == 0)
      return *out = (enum uc_batch_status)i, UC_OK;
  return UC_EINVAL;
}

void uc_batch_id_new(char out[UC_BATCH_ID_LEN + 1]) {
  uint8_t b[16];
  randombytes_buf(b, sizeof b);
  b[6] = (uint8_t)((b[6] & 0x0F) | 0x40); /* version 4 */
  b[8] = (uint8_t)((b[8] & 0x3F) | 0x80); /* RFC 4122 variant */
  snprintf(out, UC_BATCH_ID_LEN + 1,
           "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
           b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

int uc_batch_id_valid(const char *s, size_t n) {
  if (n != UC_BATCH_ID_LEN)
    return 0;
  for (size_t i = 0; i < n; i++) {
    int dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return 0;
  }
  return 1;
}

int uc_batch_project_valid(const char *name, size_t n) {
  size_t chars = 0;
  if (!uc_utf8_valid(name, n))
    return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)name[i];
    if (c < 0x20 || c == 0x7F)
      return 0;
    chars += (c & 0xC0) != 0x80; /* count lead bytes only */
  }
  return chars >= 1 && chars <= UC_BATCH_PROJECT_CHARS;
}

static json_t *time_or_null(int64_t t) {
  char s[UC_TIME_ISO_MAX];
  return t && uc_time_format(t, UC_TIME_ISO, s, sizeof s) ? json_string(s) : json_null();
}

static json_t *counts_json(const struct uc_batch_counts *n) {
  json_t *types = json_object(), *o = json_object();
  for (int t = 0; t < UC_TYPE_COUNT; t++)
    if (n->type[t])
      json_object_set_new(types, uc_type_name((uc_type)t), json_integer((json_int_t)n->type[t]));
  for (int c = 0; c < 3; c++)
    json_object_set_new(o, uc_category_name((uc_category)c),
                        json_integer((json_int_t)n->category[c]));
  json_object_set_new(o, "types", types);
  json_object_set_new(o, "blank", json_integer((json_int_t)n->blank));
  json_object_set_new(o, "duplicates", json_integer((json_int_t)n->duplicates));
  json_object_set_new(o, "invalid", json_integer((json_int_t)n->type[UC_T_INVALID]));
  return o;
}

char *uc_batch_rec_json(const struct uc_batch_rec *t) {
  json_t *o = json_pack(
      "{s:s, s:s, s:s, s:s, s:s, s:b, s:I, s:I, s:o, s:o, s:o, s:I}", "task_id", t->id, "status",
      uc_batch_status_name(t->status), "project_name", t->project, "file_name", t->filename,
      "format", uc_batch_format_name(t->format), "deduplicate", t->deduplicate, "rows_total",
      (json_int_t)t->counts.rows_total, "rows_done", (json_int_t)t->counts.rows_done, "counts",
      counts_json(&t->counts), "created_at", time_or_null(t->created_at), "finished_at",
      time_or_null(t->finished_at), "size", (json_int_t)(t->upload_bytes + t->result_bytes));
  if (!o)
    return NULL;
  json_object_set_new(o, "failure_reason",
                      t->status == UC_BATCH_FAILED ? json_string(t->reason) : json_null());
  char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(o);
  return text;
}
