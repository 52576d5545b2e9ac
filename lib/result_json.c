/* The 200 body and the human explanation of a classification result. */
#include "uc/result.h"

#include <string.h>

/* Domain of an address that failed syntax: what follows the last '@', lower-cased ASCII. */
static json_t *raw_domain(const char *raw, size_t len) {
  char buf[UC_EMAIL_INPUT_MAX + 1];
  const char *at = NULL;
  for (size_t i = len; i-- > 0;)
    if (raw[i] == '@') {
      at = raw + i;
      break;
    }
  size_t n = at ? len - (size_t)(at + 1 - raw) : 0;
  if (n > UC_EMAIL_INPUT_MAX)
    n = UC_EMAIL_INPUT_MAX;
  for (size_t i = 0; i < n; i++)
    buf[i] = (char)((at[1 + i] >= 'A' && at[1 + i] <= 'Z') ? at[1 + i] | 0x20 : at[1 + i]);
  json_t *s = json_stringn(buf, n);
  return s ? s : json_string(""); /* not UTF-8: say nothing rather than fail */
}

static json_t *signals_json(uint32_t signals) {
  json_t *o = json_object();
  for (unsigned i = 0; o && i < UC_SIGNAL_COUNT; i++)
    json_object_set_new(o, uc_signal_name(i), json_boolean(signals >> i & 1));
  return o;
}

static json_t *matched_json(const struct uc_result *r, const uc_lists *l) {
  if (!r->matched)
    return json_null();
  json_t *lists = json_array();
  struct uc_list_source src;
  for (size_t i = 0; lists && i < uc_lists_source_count(l); i++)
    if (r->matched_sources >> i & 1) {
      uc_lists_source(l, i, &src);
      json_array_append_new(lists, json_string(src.name));
    }
  return json_pack("{s:s, s:s?, s:o*}", "entry", r->matched, "list", r->matched_list, "lists",
                   r->matched_sources ? lists : (json_decref(lists), NULL));
}

static json_t *details_json(const struct uc_result *r, const uc_lists *l) {
  return json_pack("{s:s?, s:o, s:o, s:s?, s:s, s:s?}", "normalized",
                   r->valid ? r->normalized : NULL, "signals", signals_json(r->signals),
                   "matched", matched_json(r, l), "did_you_mean", r->did_you_mean,
                   "lists_version", uc_lists_version(l), "reason",
                   r->valid ? NULL : r->reason);
}

json_t *uc_result_json(const struct uc_result *r, const uc_lists *l,
                       const struct uc_result_ctx *ctx) {
  char added[11] = "not added";
  if (r->date_added)
    uc_date_format(r->date_added, added);
  json_t *email = json_stringn(ctx->raw, ctx->raw_len);
  if (!email)
    email = json_string(""); /* invalid UTF-8 input: it failed syntax anyway */
  json_t *domain = r->valid ? json_stringn(r->email.display, r->email.display_len)
                            : raw_domain(ctx->raw, ctx->raw_len);
  return json_pack("{s:o, s:o, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "email", email,
                   "domain", domain, "category", uc_category_name(r->category), "type",
                   uc_type_name(r->type), "mx_record",
                   ctx->mx_record ? ctx->mx_record : "unknown", "premium",
                   r->premium < 0 ? "unknown" : r->premium ? "True" : "False", "domain_age",
                   ctx->domain_age ? ctx->domain_age : "unknown", "date_added", added,
                   "remaining_attempts_before_ban",
                   ctx->remaining < 0 ? json_null() : json_integer(ctx->remaining), "details",
                   details_json(r, l));
}

void uc_result_explain(const struct uc_result *r, const uc_lists *l, FILE *f) {
  if (!r->valid) {
    fprintf(f, "  %s / %s: the address is not valid.\n  reason: %s\n",
            uc_category_name(r->category), uc_type_name(r->type), r->reason);
    return;
  }
  fprintf(f, "  %s / %s\n  mailbox:   %s\n", uc_category_name(r->category),
          uc_type_name(r->type), r->normalized);
  if (r->matched)
    fprintf(f, "  because:   %s (%s)\n", r->matched, r->matched_list ? r->matched_list : "");
  else
    fprintf(f, "  because:   no list or rule fired\n");
  fprintf(f, "  signals:  ");
  int any = 0;
  for (unsigned i = 0; i < UC_SIGNAL_COUNT; i++)
    if (r->signals >> i & 1)
      fprintf(f, " %s", uc_signal_name(i)), any = 1;
  fprintf(f, "%s\n", any ? "" : " none");
  if (r->did_you_mean)
    fprintf(f, "  did you mean: %.*s@%s?\n", (int)r->email.local_len, r->email.local,
            r->did_you_mean);
  fprintf(f, "  lists:     %s\n", uc_lists_version(l));
}
