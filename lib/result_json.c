/* The 200 body and the human explanation of a classification result. */
#include "uc/jsonw.h"
#include "uc/result.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* Domain of an address that failed syntax: what follows the last '@', ASCII lower-cased. */
static void raw_domain(struct uc_jsonw *w, const char *raw, size_t len) {
  char buf[UC_RESULT_INPUT_MAX];
  const char *at = NULL;
  for (size_t i = len; i-- > 0;)
    if (raw[i] == '@') {
      at = raw + i;
      break;
    }
  size_t n = at ? len - (size_t)(at + 1 - raw) : 0;
  n = n < sizeof buf ? n : sizeof buf;
  for (size_t i = 0; i < n; i++)
    buf[i] = (char)((at[1 + i] >= 'A' && at[1 + i] <= 'Z') ? at[1 + i] | 0x20 : at[1 + i]);
  uc_jsonw_string(w, buf, n);
}

static void write_matched(struct uc_jsonw *w, const struct uc_result *r, const uc_lists *l) {
  struct uc_list_source src;
  if (!r->matched) {
    uc_jsonw_null(w);
    return;
  }
  uc_jsonw_begin_object(w);
  UC_JSONW_KEY(w, "entry");
  uc_jsonw_cstring(w, r->matched);
  UC_JSONW_KEY(w, "list");
  uc_jsonw_cstring(w, r->matched_list);
  if (r->matched_evidence) {
    UC_JSONW_KEY(w, "evidence");
    uc_jsonw_cstring(w, r->matched_evidence);
  }
  if (r->matched_sources) {
    UC_JSONW_KEY(w, "lists");
    uc_jsonw_begin_array(w);
    for (size_t i = 0; i < uc_lists_source_count(l); i++)
      if (r->matched_sources >> i & 1) {
        uc_lists_source(l, i, &src);
        uc_jsonw_cstring(w, src.name);
      }
    uc_jsonw_end_array(w);
  }
  uc_jsonw_end_object(w);
}

/* Each signal's member, written once for each value: ,"name":false and
 * ,"name":true (the first without its comma). The signals object is then a
 * few copies instead of fourteen keys and fourteen values. */
struct member {
  char text[2][48];
  size_t len[2];
};

static struct member members_[UC_SIGNAL_COUNT];
static void quote_signals(void) {
  for (unsigned i = 0; i < UC_SIGNAL_COUNT; i++)
    for (int v = 0; v < 2; v++)
      members_[i].len[v] =
          (size_t)snprintf(members_[i].text[v], sizeof members_[i].text[v], "%s\"%s\":%s",
                           i ? "," : "", uc_signal_name(i), v ? "true" : "false");
}

static const struct member *signal_members(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, quote_signals);
  return members_;
}

/* {"disposable":true,...}: every signal, in bit order. */
static void write_signals(struct uc_jsonw *w, uint32_t signals) {
  char text[2 + UC_SIGNAL_COUNT * 48];
  size_t n = 0;
  const struct member *m = signal_members();
  text[n++] = '{';
  for (unsigned i = 0; i < UC_SIGNAL_COUNT; i++) {
    unsigned v = signals >> i & 1;
    memcpy(text + n, m[i].text[v], m[i].len[v]);
    n += m[i].len[v];
  }
  text[n++] = '}';
  uc_jsonw_raw(w, text, n);
}

const char *uc_result_mx_record(const struct uc_dns_facts *d) {
  if (!d || d->status == UC_DNS_UNKNOWN)
    return "unknown";
  return d->status == UC_DNS_ANSWERED && d->nmx && !d->null_mx ? uc_dns_mx_host(d, 0) : "";
}

/* Every MX host with its preference; null when not looked up. */
static void write_mx(struct uc_jsonw *w, const struct uc_dns_facts *d) {
  if (!d || d->status == UC_DNS_UNKNOWN) {
    uc_jsonw_null(w);
    return;
  }
  uc_jsonw_begin_array(w);
  for (size_t i = 0; d->status == UC_DNS_ANSWERED && i < d->nmx; i++) {
    uc_jsonw_begin_object(w);
    UC_JSONW_KEY(w, "host");
    uc_jsonw_cstring(w, uc_dns_mx_host(d, i));
    UC_JSONW_KEY(w, "preference");
    uc_jsonw_int(w, d->mx_pref[i]);
    uc_jsonw_end_object(w);
  }
  uc_jsonw_end_array(w);
}

/* "YYYY-MM-DD", or null for 0 (none). */
static void write_date(struct uc_jsonw *w, unsigned days) {
  char iso[11];
  if (!days) {
    uc_jsonw_null(w);
    return;
  }
  uc_date_format(days, iso);
  uc_jsonw_string(w, iso, 10);
}

static void write_details(struct uc_jsonw *w, const struct uc_result *r, const uc_lists *l,
                          const struct uc_result_ctx *ctx) {
  uc_jsonw_begin_object(w);
  UC_JSONW_KEY(w, "normalized");
  uc_jsonw_cstring(w, r->valid ? r->normalized : NULL);
  UC_JSONW_KEY(w, "signals");
  write_signals(w, r->signals);
  UC_JSONW_KEY(w, "matched");
  write_matched(w, r, l);
  UC_JSONW_KEY(w, "mx");
  write_mx(w, ctx->dns);
  UC_JSONW_KEY(w, "alias_spellings");
  if (r->alias_spellings)
    uc_jsonw_int(w, r->alias_spellings);
  else
    uc_jsonw_null(w);
  UC_JSONW_KEY(w, "date_added");
  write_date(w, r->date_added);
  UC_JSONW_KEY(w, "domain_created");
  write_date(w, r->age_known ? r->domain_created : 0);
  UC_JSONW_KEY(w, "did_you_mean");
  uc_jsonw_cstring(w, r->did_you_mean);
  UC_JSONW_KEY(w, "lists_version");
  uc_jsonw_cstring(w, uc_lists_version(l));
  UC_JSONW_KEY(w, "reason");
  uc_jsonw_cstring(w, r->valid ? NULL : r->reason);
  UC_JSONW_KEY(w, "ip_warning");
  uc_jsonw_cstring(w, ctx->ip_warning);
  uc_jsonw_end_object(w);
}

size_t uc_result_write(const struct uc_result *r, const uc_lists *l,
                       const struct uc_result_ctx *ctx, char *buf, size_t cap) {
  struct uc_jsonw w;
  char added[11] = "not added", age[16] = "unknown";
  if (r->date_added)
    uc_date_format_dmy(r->date_added, added);
  if (r->age_known)
    snprintf(age, sizeof age, "%u", r->domain_age);
  uc_jsonw_init(&w, buf, cap);
  uc_jsonw_begin_object(&w);
  UC_JSONW_KEY(&w, "email");
  uc_jsonw_string(&w, ctx->raw, ctx->raw_len);
  UC_JSONW_KEY(&w, "domain");
  if (r->valid)
    uc_jsonw_string(&w, r->email.display, r->email.display_len);
  else
    raw_domain(&w, ctx->raw, ctx->raw_len);
  UC_JSONW_KEY(&w, "category");
  uc_jsonw_cstring(&w, uc_category_name(r->category));
  UC_JSONW_KEY(&w, "type");
  uc_jsonw_cstring(&w, uc_type_name(r->type));
  UC_JSONW_KEY(&w, "mx_record");
  uc_jsonw_cstring(&w, uc_result_mx_record(ctx->dns));
  UC_JSONW_KEY(&w, "premium");
  uc_jsonw_cstring(&w, r->premium < 0 ? "unknown" : r->premium ? "True" : "False");
  UC_JSONW_KEY(&w, "domain_age");
  uc_jsonw_cstring(&w, age);
  UC_JSONW_KEY(&w, "date_added");
  uc_jsonw_cstring(&w, added);
  UC_JSONW_KEY(&w, "remaining_attempts_before_ban");
  if (ctx->remaining < 0)
    uc_jsonw_null(&w);
  else
    uc_jsonw_int(&w, ctx->remaining);
  UC_JSONW_KEY(&w, "details");
  write_details(&w, r, l, ctx);
  uc_jsonw_end_object(&w);
  return uc_jsonw_finish(&w);
}

void uc_result_explain(const struct uc_result *r, const uc_lists *l, FILE *f) {
  if (!r->valid) {
    fprintf(f, "  %s / %s: the address is not valid.\n  reason: %s\n",
            uc_category_name(r->category), uc_type_name(r->type), r->reason);
    return;
  }
  fprintf(f, "  %s / %s\n  mailbox:   %s\n", uc_category_name(r->category), uc_type_name(r->type),
          r->normalized);
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
  if (r->date_added) {
    char day[11];
    uc_date_format(r->date_added, day);
    fprintf(f, "  in our lists since: %s\n", day);
  }
  if (r->age_known) {
    char day[11];
    uc_date_format(r->domain_created, day);
    fprintf(f, "  domain age: %u days (registered %s)\n", r->domain_age, day);
  }
  fprintf(f, "  lists:     %s\n", uc_lists_version(l));
}
