/* The two check shapes of SPEC §2: POST /v1/email/check (JSON body) and
 * POST /v1/external-api-requests/check-email?email=&ip= (query). */
#include "http.h"
#include "uc/request.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Sandbox keys: three test addresses classify, everything else is unknown. */
static void sandbox(struct uc_result *res, const char *email, size_t n) {
  static const struct {
    const char *addr;
    uc_type type;
    uc_category cat;
    uint32_t signal;
  } tests[] = {{"test@disposable.com", UC_T_DISPOSABLE, UC_BLACK, UC_SIG_DISPOSABLE},
               {"test@multi-alias.com", UC_T_MULTI_ALIAS, UC_GREY, UC_SIG_MULTI_ALIAS},
               {"test@gmail.com", UC_T_LEGITIMATE, UC_WHITE, 0}};
  res->type = UC_T_UNKNOWN, res->category = UC_WHITE;
  res->signals = 0, res->matched = res->matched_list = res->did_you_mean = NULL;
  res->matched_sources = 0, res->date_added = 0;
  while (n && (*email == ' ' || *email == '\t'))
    email++, n--;
  while (n && (email[n - 1] == ' ' || email[n - 1] == '\t'))
    n--;
  for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
    if (strlen(tests[i].addr) == n && strncasecmp(tests[i].addr, email, n) == 0) {
      res->type = tests[i].type, res->category = tests[i].cat, res->signals = tests[i].signal;
      res->matched = tests[i].signal ? tests[i].addr : NULL;
      res->matched_list = tests[i].signal ? "sandbox" : NULL;
    }
}

static void note_subject(struct srv *s, struct req *r, const struct uc_result *res,
                         const char *email, size_t n) {
  if (!s->log)
    return; /* only the access log shows it */
  if (s->cfg.log_emails)
    snprintf(r->subject, sizeof r->subject, "email=%.*s", (int)(n < 256 ? n : 256), email);
  else if (res->valid)
    snprintf(r->subject, sizeof r->subject, "domain=%.*s",
             (int)(res->email.domain_len < 256 ? res->email.domain_len : 256), res->email.domain);
  for (char *p = r->subject; *p; p++) /* one line per request, whatever was sent */
    if ((unsigned char)*p < 0x20 || *p == 0x7F || *p == ' ')
      *p = '?';
}

static const char banned_msg[] =
    "Your IP address is banned. Contact the service administrator to unlock access.";

/* The IP whose black answers count (SPEC §4): live keys only, banning on,
 * an ip that parses outside the account's never-ban ranges. */
static int counted_ip(const struct srv_auth *a, const char *ip, size_t ip_len, struct uc_ip *addr) {
  const struct uc_settings *set = &a->account->settings;
  return a->key.type == UC_KEY_ACTIVE && set->ban_enabled && ip &&
         uc_ip_parse(ip, ip_len, set->ipv6_prefix, addr) == UC_OK &&
         !uc_settings_never_ban(set, addr);
}

/* Classifies email for the authenticated account and replies 200, 403 or 422. */
static enum MHD_Result classify(struct srv *s, struct MHD_Connection *c, struct req *r,
                                struct srv_auth *a, const char *where, const char *email, size_t n,
                                const char *ip, size_t ip_len) {
  struct uc_result *res = &r->res;
  const struct uc_settings *set = &a->account->settings;
  struct uc_ip addr;
  long remaining = -1;
  int64_t now = (int64_t)time(NULL);
  int counted = counted_ip(a, ip, ip_len, &addr);
  if (counted &&
      uc_bans_state(s->bans, a->account->id, set, addr.key, now, &remaining) == UC_BAN_BANNED)
    return srv_reply_detail(c, r, MHD_HTTP_FORBIDDEN, banned_msg);
  uc_lists *l = uc_lists_holder_follow(s->lists, &r->w->lists);
  uc_check(l, &a->account->policy, email, n, res);
  note_subject(s, r, res, email, n);
  if (!res->valid) {
    char msg[UC_REASON_MAX + 64];
    snprintf(msg, sizeof msg, "value is not a valid email address: %s", res->reason);
    struct srv_invalid v = {"value_error", where, "email",
                            msg,           email, n < UC_RESULT_INPUT_MAX ? n : UC_RESULT_INPUT_MAX,
                            res->reason};
    return srv_reply_422(c, r, &v);
  }
  if (a->key.type == UC_KEY_SANDBOX)
    sandbox(res, email, n);
  if (counted && res->category == UC_BLACK) {
    enum uc_ban_state state;
    int rc = uc_bans_hit(s->bans, a->account->id, set, addr.key, now, &remaining, &state);
    if (rc) /* the ban stays in memory and the next flush retries its write */
      fprintf(stderr, "usercleaning: could not store the ban of %s: %s\n", addr.key,
              uc_strerror(rc));
    if (state == UC_BAN_BANNED) /* lost the race to a ban */
      return srv_reply_detail(c, r, MHD_HTTP_FORBIDDEN, banned_msg);
  }
  if (a->key.type == UC_KEY_ACTIVE)
    uc_usage_count(s->usage, r->w->index, a->key.id, res->category, now);
  srv_metrics_check(&r->w->n, res);
  struct uc_result_ctx ctx = {email, n, counted ? remaining : -1, NULL, NULL};
  size_t cap = 4096 + 12 * (n < UC_RESULT_INPUT_MAX ? n : UC_RESULT_INPUT_MAX);
  char *body = malloc(cap);
  size_t len = body ? uc_result_write(res, l, &ctx, body, cap) : 0;
  if (len)
    return srv_reply_owned(c, r, MHD_HTTP_OK, "application/json", body, len);
  free(body);
  return srv_reply_detail(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR,
                          body ? "Result too large." : "Out of memory.");
}

enum MHD_Result srv_check_query(struct srv *s, struct MHD_Connection *c, struct req *r) {
  struct srv_auth a = {0};
  enum MHD_Result ret;
  const char *email = NULL;
  size_t n = 0;
  if (!srv_authenticate(s, c, r, &a, &ret, 0))
    return ret;
  if (MHD_lookup_connection_value_n(c, MHD_GET_ARGUMENT_KIND, "email", 5, &email, &n) != MHD_YES ||
      !email) {
    struct srv_invalid v = {"missing", "query", "email", "Field required", NULL, 0, NULL};
    ret = srv_reply_422(c, r, &v);
  } else {
    const char *ip = NULL;
    size_t ip_len = 0;
    MHD_lookup_connection_value_n(c, MHD_GET_ARGUMENT_KIND, "ip", 2, &ip, &ip_len);
    ret = classify(s, c, r, &a, "query", email, n, ip, ip_len);
  }
  return ret;
}

static enum MHD_Result bad_json(struct MHD_Connection *c, struct req *r, const json_error_t *e) {
  char msg[300];
  snprintf(msg, sizeof msg, "Malformed JSON body: %s (line %d, column %d).", e->text, e->line,
           e->column);
  return srv_reply_detail(c, r, MHD_HTTP_BAD_REQUEST, msg);
}

enum MHD_Result srv_check_json(struct srv *s, struct MHD_Connection *c, struct req *r) {
  struct srv_auth a = {0};
  enum MHD_Result ret;
  json_error_t err;
  json_t *doc = NULL;
  if (!srv_authenticate(s, c, r, &a, &ret, 0))
    return ret;
  struct uc_check_body b; /* the common case, without building a document */
  const char *text = r->body.data;
  size_t len = r->body.len;
  if (len && uc_check_body_read(text, len, &b))
    return classify(s, c, r, &a, "body", b.email, b.email_len, b.ip, b.ip_len);
  doc = len ? json_loadb(text, len, JSON_ALLOW_NUL, &err) : json_object();
  json_t *email = json_object_get(doc, "email"), *ip = json_object_get(doc, "ip");
  if (!doc) {
    ret = bad_json(c, r, &err);
  } else if (!json_is_object(doc)) {
    struct srv_invalid v = {"model_attributes_type",
                            "body",
                            NULL,
                            "Input should be a valid dictionary or object to extract fields from",
                            NULL,
                            0,
                            NULL};
    ret = srv_reply_422(c, r, &v);
  } else if (!email || !json_is_string(email)) {
    struct srv_invalid v = {email ? "string_type" : "missing",
                            "body",
                            "email",
                            email ? "Input should be a valid string" : "Field required",
                            NULL,
                            0,
                            NULL};
    ret = srv_reply_422(c, r, &v);
  } else if (ip && !json_is_string(ip) && !json_is_null(ip)) {
    struct srv_invalid v = {"string_type", "body", "ip", "Input should be a valid string",
                            NULL,          0,      NULL};
    ret = srv_reply_422(c, r, &v);
  } else {
    ret = classify(s, c, r, &a, "body", json_string_value(email), json_string_length(email),
                   json_is_string(ip) ? json_string_value(ip) : NULL,
                   json_is_string(ip) ? json_string_length(ip) : 0);
  }
  json_decref(doc);
  return ret;
}
