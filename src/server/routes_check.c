/* The two check shapes of SPEC §2: POST /v1/email/check (JSON body) and
 * POST /v1/external-api-requests/check-email?email=&ip= (query). */
#include "http.h"
#include "uc/request.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

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

/* The answer into the account's activity feed (not a dry run's): the domain,
 * or the whole address (whole: its local part as received @ the domain) when
 * the account shows them, and the IP. */
static void note_activity(struct srv *s, struct req *r, unsigned outcome, uc_type type,
                          const char *domain, size_t domain_len, const char *whole,
                          size_t whole_len) {
  const struct srv_pending *p = &r->pend;
  const struct uc_settings *set = &p->auth.account->settings;
  struct uc_ip parsed;
  const char *ip_key = NULL;
  if (!s->activity || p->dry)
    return;
  if (p->counted)
    ip_key = p->addr.key;
  else if (p->ip && uc_ip_parse(p->ip, p->ip_len, set->ipv6_prefix, &parsed) == UC_OK)
    ip_key = parsed.key;
  int show = set->activity_emails && whole;
  struct uc_activity_note n = {p->now,
                               p->auth.key.id,
                               p->auth.key.type,
                               outcome,
                               type,
                               show ? whole : domain,
                               show ? whole_len : domain_len,
                               show,
                               p->ip,
                               p->ip_len,
                               ip_key};
  uc_activity_note(s->activity, &r->w->activity, r->w->index, p->auth.account->id, &n);
}

static const char banned_msg[] =
    "Your IP address is banned. Contact the service administrator to unlock access.";

/* The 403 of a banned IP, counted in usage as "banned" (live keys only, like
 * every usage count). */
static enum MHD_Result banned(struct srv *s, struct MHD_Connection *c, struct req *r) {
  const struct srv_pending *p = &r->pend;
  if (p->auth.key.type == UC_KEY_ACTIVE)
    uc_usage_count(s->usage, r->w->index, p->auth.key.id, UC_USAGE_BANNED, p->now);
  const char *at = p->email ? memrchr(p->email, '@', p->n) : NULL; /* not parsed: as sent */
  if (s->activity)
    note_activity(s, r, UC_USAGE_BANNED, UC_T_UNKNOWN, at ? at + 1 : "",
                  at ? p->n - (size_t)(at + 1 - p->email) : 0, p->email, p->n);
  return srv_reply_detail(c, r, MHD_HTTP_FORBIDDEN, banned_msg);
}

/* The IP whose black answers count (SPEC §4): live keys (or a dry run, which
 * shows what a live key would count), banning on, an ip that parses outside
 * the account's never-ban ranges. */
static int counted_ip(const struct srv_auth *a, int dry, const char *ip, size_t ip_len,
                      struct uc_ip *addr) {
  const struct uc_settings *set = &a->account->settings;
  return (a->key.type == UC_KEY_ACTIVE || dry) && set->ban_enabled && ip &&
         uc_ip_parse(ip, ip_len, set->ipv6_prefix, addr) == UC_OK &&
         !uc_settings_never_ban(set, addr);
}

/* Counts a black answer against p's IP; 1 when a concurrent answer banned it
 * first (answer 403). When the store cannot count it (a shared store that is
 * down) the answer goes out uncounted, with remaining_attempts_before_ban
 * null. */
static int count_black(struct srv *s, struct srv_pending *p, int64_t account,
                       const struct uc_settings *set) {
  enum uc_ban_state state = UC_BAN_CLEAR;
  int rc = uc_bans_hit(s->bans, account, set, p->addr.key, p->now, &p->remaining, &state);
  if (rc == UC_EUNAVAILABLE) {
    atomic_fetch_add(&s->bans_uncounted, 1);
    srv_store_failed(s, rc, "counting a black answer");
    p->remaining = -1;
    return 0;
  }
  if (rc) /* the ban stays in memory and the next flush retries its write */
    fprintf(stderr, "usercleaning: could not store the ban of %s: %s\n", p->addr.key,
            uc_strerror(rc));
  else
    srv_store_answered(s);
  return state == UC_BAN_BANNED; /* lost the race to a ban */
}

/* The decision and the answer (SPEC §3, §4), once whatever DNS could tell is
 * known: r->pend holds the check, r->dns what DNS said. */
static enum MHD_Result answer(struct srv *s, struct MHD_Connection *c, struct req *r, uc_lists *l,
                              uc_infra *infra) {
  struct srv_pending *p = &r->pend;
  struct srv_auth *a = &p->auth;
  struct uc_result *res = &r->res;
  const struct uc_settings *set = &a->account->settings;
  struct uc_facts facts = {0};
  if (a->key.type == UC_KEY_SANDBOX) {
    uc_check_sandbox(p->email, p->n, res);
  } else {
    if (r->have_dns && uc_check_wants_facts(res))
      uc_infra_facts(infra, &r->dns, &facts);
    if (a->key.type == UC_KEY_ACTIVE && set->alias_chains) /* live checks only */
      facts.alias_spellings = uc_aliases_note(s->aliases, a->account->id, &res->email,
                                              res->normalized, p->now, set->alias_window_days);
    if (s->rdap && uc_rdap_facts(s->rdap, res->email.domain, p->now, &facts))
      srv_bump(&r->w->n.ages_known, 1); /* memory only: an unknown age is looked up for later */
    uc_check_decide(&a->account->policy, &facts, res);
  }
  /* A typo (gmial.com) is a person who mistyped, not someone trying throwaway
   * addresses: it costs no attempt unless the account says so. */
  if (p->counted && !p->dry && res->category == UC_BLACK &&
      (set->count_typos || !uc_check_is_typo(res)) && count_black(s, p, a->account->id, set))
    return banned(s, c, r);
  if (a->key.type == UC_KEY_ACTIVE)
    uc_usage_count(s->usage, r->w->index, a->key.id, (unsigned)res->category, p->now);
  if (!p->dry)
    srv_metrics_check(&r->w->n, res);
  if (s->activity && !p->dry) {
    char whole[UC_LOCAL_MAX + 1 + UC_DISPLAY_MAX + 1]; /* fits: the feed cuts it */
    int len = set->activity_emails
                  ? snprintf(whole, sizeof whole, "%.*s@%s", (int)res->email.local_len,
                             res->email.local, res->email.display)
                  : 0;
    note_activity(s, r, (unsigned)res->category, res->type, res->email.display,
                  res->email.display_len, whole, (size_t)len);
  }
  size_t n = p->n < UC_RESULT_INPUT_MAX ? p->n : UC_RESULT_INPUT_MAX;
  struct uc_result_ctx ctx = {p->email, p->n, p->counted ? p->remaining : -1,
                              r->have_dns ? &r->dns : NULL};
  size_t cap = 4096 + 12 * n;
  char *body = malloc(cap);
  size_t len = body ? uc_result_write(res, l, &ctx, body, cap) : 0;
  if (len)
    return srv_reply_owned(c, r, MHD_HTTP_OK, "application/json", body, len);
  free(body);
  return srv_reply_detail(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR,
                          body ? "Result too large." : "Out of memory.");
}

/* Called by the resolver thread when the answer or the deadline came. */
static void dns_done(struct uc_dns_wait *w) {
  struct req *r = w->arg;
  MHD_resume_connection(r->pend.conn); /* libmicrohttpd calls srv_on_request again */
}

/* Asks DNS about the domain when it could change the type: the answer from
 * the cache, or the request suspended until it comes (1). Listed domains
 * never wait: a cached answer only fills mx_record, a missing one is looked
 * up in the background for next time. */
static int ask_dns(struct srv *s, struct MHD_Connection *c, struct req *r, uc_lists *l,
                   uc_infra *infra) {
  struct srv_pending *p = &r->pend;
  const char *domain = r->res.email.domain;
  r->have_dns = 0;
  if (!s->dns || p->auth.key.type == UC_KEY_SANDBOX)
    return 0;
  if (!uc_check_wants_facts(&r->res)) {
    r->have_dns = uc_dns_lookup(s->dns, domain, NULL, &r->dns) == UC_DNS_HIT;
    return 0;
  }
  if (uc_dns_lookup(s->dns, domain, NULL, &r->dns) == UC_DNS_HIT) { /* no wait */
    r->have_dns = 1;
    return 0;
  }
  /* Not cached: the lookup runs; wait for it, suspended. Everything the answer
   * needs is in place before the wait exists: it may fire at once. */
  p->conn = c;
  p->view = srv_view_hold(r->w); /* what the check points into stays while it waits */
  p->lists = uc_lists_ref(l);
  p->infra = infra ? uc_infra_ref(infra) : NULL;
  p->wait.done = dns_done, p->wait.arg = r;
  p->wait.deadline_ms = uc_dns_now_ms() + s->cfg.dns_timeout;
  r->suspended = 1;
  MHD_suspend_connection(c);
  if (uc_dns_lookup(s->dns, domain, &p->wait, &p->wait.facts) == UC_DNS_HIT)
    MHD_resume_connection(c); /* answered in between: no wait registered */
  return 1;
}

/* The key's rate limit (its own, else its account's): 1 when this request is
 * over it (r->retry_after set). Nothing is asked of anyone when it is off. */
static int rate_limited(struct srv *s, struct req *r, const struct srv_auth *a) {
  struct uc_rate rate =
      uc_rate_of(&a->account->settings, a->key.rate_per_second, a->key.rate_burst);
  int allowed = 1;
  if (!rate.per_second)
    return 0;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
  int rc = uc_ratelimit_take(s->rate, a->key.id, &rate, now_ms, &allowed, &r->retry_after);
  if (rc)
    srv_store_failed(s, rc, "taking a rate limit");
  return !allowed;
}

/* Classifies email for the authenticated account and replies 200, 403, 422
 * or 429 (or suspends the request until DNS answers: see srv_check_resume). */
static enum MHD_Result classify(struct srv *s, struct MHD_Connection *c, struct req *r,
                                struct srv_auth *a, const char *where, const char *email, size_t n,
                                const char *ip, size_t ip_len, int dry) {
  struct srv_pending *p = &r->pend;
  const struct uc_settings *set = &a->account->settings;
  *p = (struct srv_pending){.where = where,
                            .dry = dry,
                            .email = email,
                            .n = n,
                            .ip = ip,
                            .ip_len = ip_len,
                            .auth = *a,
                            .remaining = -1,
                            .now = (int64_t)time(NULL)};
  if (!dry && rate_limited(s, r, a)) /* a dry run counts nothing, not even toward a limit */
    return srv_reply_detail(c, r, MHD_HTTP_TOO_MANY_REQUESTS, "Rate limit exceeded.");
  p->counted = counted_ip(a, dry, ip, ip_len, &p->addr);
  if (p->counted &&
      uc_bans_state(s->bans, a->account->id, set, p->addr.key, p->now, &p->remaining) ==
          UC_BAN_BANNED &&
      !dry)
    return banned(s, c, r); /* a dry run shows the check, with 0 attempts left */
  if (atomic_load_explicit(&s->store_down, memory_order_relaxed))
    p->remaining = -1; /* nothing is counted while the store is down: say so */
  uc_lists *l = uc_lists_holder_follow(s->lists, &r->w->lists);
  uc_infra *infra = uc_pub_follow(&s->infra, &r->w->infra);
  uc_check_lists(l, &a->account->policy, email, n, &r->res);
  note_subject(s, r, &r->res, email, n);
  if (!r->res.valid) {
    char msg[UC_REASON_MAX + 64];
    snprintf(msg, sizeof msg, "value is not a valid email address: %s", r->res.reason);
    struct srv_invalid v = {"value_error", where, "email",
                            msg,           email, n < UC_RESULT_INPUT_MAX ? n : UC_RESULT_INPUT_MAX,
                            r->res.reason};
    return srv_reply_422(c, r, &v);
  }
  if (ask_dns(s, c, r, l, infra))
    return MHD_YES;
  return answer(s, c, r, l, infra);
}

enum MHD_Result srv_check_resume(struct srv *s, struct MHD_Connection *c, struct req *r) {
  struct srv_pending *p = &r->pend;
  r->suspended = 0;
  r->dns = p->wait.facts; /* UC_DNS_UNKNOWN when the deadline came first */
  r->have_dns = 1;
  enum MHD_Result ret = answer(s, c, r, p->lists, p->infra);
  json_decref(p->doc);
  uc_infra_unref(p->infra);
  uc_lists_unref(p->lists);
  srv_view_release(p->view);
  return ret;
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
    ret = classify(s, c, r, &a, "query", email, n, ip, ip_len, 0);
  }
  return ret;
}

static enum MHD_Result bad_json(struct MHD_Connection *c, struct req *r, const json_error_t *e) {
  char msg[300];
  snprintf(msg, sizeof msg, "Malformed JSON body: %s (line %d, column %d).", e->text, e->line,
           e->column);
  return srv_reply_detail(c, r, MHD_HTTP_BAD_REQUEST, msg);
}

/* The JSON body {"email", "ip"} checked for a; dry: see srv_check_try. */
static enum MHD_Result check_body(struct srv *s, struct MHD_Connection *c, struct req *r,
                                  struct srv_auth *a, int dry) {
  enum MHD_Result ret;
  json_error_t err;
  json_t *doc = NULL;
  struct uc_check_body b; /* the common case, without building a document */
  const char *text = r->body.data;
  size_t len = r->body.len;
  if (len && uc_check_body_read(text, len, &b))
    return classify(s, c, r, a, "body", b.email, b.email_len, b.ip, b.ip_len, dry);
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
    ret = classify(s, c, r, a, "body", json_string_value(email), json_string_length(email),
                   json_is_string(ip) ? json_string_value(ip) : NULL,
                   json_is_string(ip) ? json_string_length(ip) : 0, dry);
    if (r->suspended) { /* email and ip point into doc: it lives until the answer */
      r->pend.doc = doc;
      doc = NULL;
    }
  }
  json_decref(doc);
  return ret;
}

enum MHD_Result srv_check_json(struct srv *s, struct MHD_Connection *c, struct req *r) {
  struct srv_auth a = {0};
  enum MHD_Result ret;
  if (!srv_authenticate(s, c, r, &a, &ret, 0))
    return ret;
  return check_body(s, c, r, &a, 0);
}

enum MHD_Result srv_check_try(struct srv *s, struct MHD_Connection *c, struct req *r,
                              struct srv_auth *a) {
  if (strcmp(r->method, "POST") != 0)
    return srv_reply_detail(c, r, MHD_HTTP_METHOD_NOT_ALLOWED, "Method Not Allowed");
  return check_body(s, c, r, a, 1);
}
