/* The two check shapes of SPEC §2: POST /v1/email/check (JSON body) and
 * POST /v1/external-api-requests/check-email?email=&ip= (query). */
#include "http.h"
#include "uc/request.h"

#include <arpa/inet.h>
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
  if (!s->activity || p->dry)
    return;
  const char *ip_key = p->addr_ok ? p->addr.key : NULL; /* parsed once, by counted_ip */
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

/* What the check's ip is worth (SPEC §4): p->addr and p->ipw from the value
 * as given, and whether its black answers count: live keys (or a dry run,
 * which shows what a live key would count), banning
 * on, an address outside the account's never-ban ranges, not loopback
 * (unless ban_loopback: an integration that forwards its own address would
 * otherwise ban itself) and not a placeholder no client sends from (0.0.0.0,
 * ::: banning it would ban every user of an integration that sends it). */
static int counted_ip(const struct srv_auth *a, struct srv_pending *p) {
  const struct uc_settings *set = &a->account->settings;
  size_t n = p->ip_len;
  const char *ip = p->ip;
  p->ipw = SRV_IPW_NONE;
  if (!ip)
    return 0; /* not given: nothing to say */
  while (n && (*ip == ' ' || *ip == '\t' || *ip == '\r' || *ip == '\n'))
    ip++, n--;
  if (!(p->addr_ok = uc_ip_parse(ip, n, set->ipv6_prefix, &p->addr) == UC_OK)) {
    while (n && (ip[n - 1] == ' ' || ip[n - 1] == '\t' || ip[n - 1] == '\r' || ip[n - 1] == '\n'))
      n--;
    p->ipw = n == 0                                         ? SRV_IPW_EMPTY
             : n == 7 && strncasecmp(ip, "unknown", 7) == 0 ? SRV_IPW_UNKNOWN
                                                            : SRV_IPW_INVALID;
    return 0;
  }
  if (p->addr.form & UC_IP_LIST)
    p->ipw = SRV_IPW_LIST;
  if (uc_ip_loopback(&p->addr) && !set->ban_loopback) {
    p->ipw = SRV_IPW_LOOPBACK;
    return 0;
  }
  if (uc_ip_placeholder(&p->addr)) {
    p->ipw = SRV_IPW_PLACEHOLDER;
    return 0;
  }
  return (a->key.type == UC_KEY_ACTIVE || p->dry) && set->ban_enabled &&
         !uc_settings_never_ban(set, &p->addr);
}

/* details.ip_warning for p->ipw, into buf; NULL when there is none. */
static const char *ip_warning(const struct srv_pending *p, char *buf, size_t size) {
  char addr[INET6_ADDRSTRLEN] = "";
  if (p->ipw == SRV_IPW_LIST || p->ipw == SRV_IPW_LOOPBACK || p->ipw == SRV_IPW_PLACEHOLDER)
    inet_ntop(p->addr.family == 4 ? AF_INET : AF_INET6, p->addr.addr, addr, sizeof addr);
  switch (p->ipw) {
  case SRV_IPW_EMPTY:
    return "ip is empty: no attempts are counted for this check.";
  case SRV_IPW_UNKNOWN:
    return "ip is \"unknown\": no attempts are counted for this check.";
  case SRV_IPW_INVALID:
    return "ip is not an IP address (IPv4, IPv6, ADDRESS:PORT or [IPv6]:PORT): no attempts "
           "are counted for this check.";
  case SRV_IPW_LIST:
    snprintf(buf, size,
             "ip holds a list of addresses (an X-Forwarded-For value?): the first, %s, was used.",
             addr);
    return buf;
  case SRV_IPW_UNSTORED:
    return "The ban of this IP could not be stored in time (the store is busy): it is kept and "
           "stored as soon as the store allows, and announced only then.";
  case SRV_IPW_LOOPBACK:
    snprintf(buf, size,
             "ip %s is a loopback address (the integration may have sent its own address): it is "
             "never counted or banned.",
             addr);
    return buf;
  case SRV_IPW_PLACEHOLDER:
    snprintf(buf, size,
             "ip %s is not a client's address (the integration may have sent a placeholder): no "
             "attempts are counted for this check.",
             addr);
    return buf;
  default:
    return NULL;
  }
}

/* From here on the check may be answered on a later call: what it points
 * into (the view, lists, fingerprints, JSON document) is kept until it ends. */
static void hold(struct req *r) {
  struct srv_pending *p = &r->pend;
  if (r->held)
    return;
  r->held = 1;
  r->view = srv_view_hold(r->w);
  p->lists = uc_lists_ref(p->lists);
  p->infra = p->infra ? uc_infra_ref(p->infra) : NULL;
}

void srv_check_release(struct req *r) {
  struct srv_pending *p = &r->pend;
  if (!r->held)
    return;
  json_decref(p->doc);
  uc_infra_unref(p->infra);
  uc_lists_unref(p->lists);
  srv_view_release(r->view);
  r->held = 0;
}

/* Suspends the request until a wait resumes it at stage. */
static void suspend(struct MHD_Connection *c, struct req *r, enum srv_stage stage) {
  hold(r);
  r->pend.conn = c, r->pend.stage = stage;
  r->suspended = 1;
  MHD_suspend_connection(c);
}

static void resume(struct req *r) {
  MHD_resume_connection(r->pend.conn); /* libmicrohttpd calls srv_on_request again */
}

/* Called from the thread that stored the ban, or the one that gave up on it. */
static void ban_done(struct uc_ban_wait *w) {
  resume(w->arg);
}

/* An answer that would announce p->look's ban (a 403, or remaining 0) and
 * finds it not stored yet waits for it (invariant 2 of bans.md): 1 when the
 * request is suspended for it. */
static int wait_ban(struct srv *s, struct MHD_Connection *c, struct req *r, enum srv_stage stage) {
  struct srv_pending *p = &r->pend;
  if (!p->look.unstored)
    return 0;
  p->ban_wait = (struct uc_ban_wait){
      .done = ban_done, .arg = r, .deadline_ms = uc_bans_now_ms() + s->cfg.ban_write_timeout};
  suspend(c, r, stage);
  if (!uc_bans_wait(s->bans, p->auth.account->id, p->look.key, &p->ban_wait)) {
    p->ban_wait.stored = 1; /* stored in between: nothing registered */
    resume(r);
  }
  return 1;
}

/* The reply, once the decision and the IP's accounting are final. */
static enum MHD_Result respond(struct srv *s, struct MHD_Connection *c, struct req *r) {
  struct srv_pending *p = &r->pend;
  struct srv_auth *a = &p->auth;
  struct uc_result *res = &r->res;
  /* A dry run (try) shows a ban as 0 attempts left, once it is stored. */
  int announce = p->counted && !p->unstored && !p->uncounted && !(p->dry && p->look.unstored);
  if (announce && p->look.state == UC_BAN_BANNED && !p->dry)
    return banned(s, c, r);
  if (a->key.type == UC_KEY_ACTIVE)
    uc_usage_count(s->usage, r->w->index, a->key.id, (unsigned)res->category, p->now);
  if (p->unstored)
    p->ipw = SRV_IPW_UNSTORED;
  if (!p->dry) {
    srv_metrics_check(&r->w->n, res);
    if (p->ipw)
      srv_bump(&r->w->n.ip_warnings[p->ipw], 1);
  }
  if (s->activity && !p->dry) {
    char whole[UC_LOCAL_MAX + 1 + UC_DISPLAY_MAX + 1]; /* fits: the feed cuts it */
    int wlen = p->auth.account->settings.activity_emails
                   ? snprintf(whole, sizeof whole, "%.*s@%s", (int)res->email.local_len,
                              res->email.local, res->email.display)
                   : 0;
    note_activity(s, r, (unsigned)res->category, res->type, res->email.display,
                  res->email.display_len, whole, (size_t)wlen);
  }
  size_t n = p->n < UC_RESULT_INPUT_MAX ? p->n : UC_RESULT_INPUT_MAX;
  char warning[256];
  struct uc_result_ctx ctx = {p->email, p->n, announce ? p->look.remaining : -1,
                              r->have_dns ? &r->dns : NULL, ip_warning(p, warning, sizeof warning)};
  size_t cap = 4096 + 12 * n;
  char *body = malloc(cap);
  size_t len = body ? uc_result_write(res, p->lists, &ctx, body, cap) : 0;
  if (len)
    return srv_reply_owned(c, r, MHD_HTTP_OK, "application/json", body, len);
  free(body);
  return srv_reply_detail(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR,
                          body ? "Result too large." : "Out of memory.");
}

/* Counts a black answer against p's IP (p->look). When the store cannot
 * count it (a shared store that is down) the answer goes out uncounted,
 * with remaining_attempts_before_ban null. */
static void count_black(struct srv *s, struct srv_pending *p, int64_t account,
                        const struct uc_settings *set) {
  int rc = uc_bans_hit(s->bans, account, set, &p->addr, p->now, &p->look);
  if (rc == UC_EUNAVAILABLE) {
    atomic_fetch_add(&s->bans_uncounted, 1);
    srv_store_failed(s, rc, "counting a black answer");
    p->uncounted = 1;
    return;
  }
  if (rc) /* nothing counted (out of memory), or the shared store failed */
    fprintf(stderr, "usercleaning: could not count the black answer of %s: %s\n", p->addr.key,
            uc_strerror(rc));
  else
    srv_store_answered(s);
}

/* The decision (SPEC §3) once whatever DNS could tell is known (r->dns),
 * and the IP's accounting (SPEC §4). */
static enum MHD_Result answer(struct srv *s, struct MHD_Connection *c, struct req *r) {
  struct srv_pending *p = &r->pend;
  struct srv_auth *a = &p->auth;
  struct uc_result *res = &r->res;
  const struct uc_settings *set = &a->account->settings;
  struct uc_facts facts = {0};
  if (a->key.type == UC_KEY_SANDBOX) {
    uc_check_sandbox(p->email, p->n, res);
  } else {
    if (r->have_dns && uc_check_wants_facts(res))
      uc_infra_facts(p->infra, &r->dns, &facts);
    if (a->key.type == UC_KEY_ACTIVE && set->alias_chains) /* live checks only */
      facts.alias_spellings = uc_aliases_note(s->aliases, a->account->id, &res->email,
                                              res->normalized, p->now, set->alias_window_days);
    if (s->rdap && uc_rdap_facts(s->rdap, res->email.domain, p->now, &facts))
      srv_bump(&r->w->n.ages_known, 1); /* memory only: an unknown age is looked up for later */
    uc_check_decide(&a->account->policy, &facts, res);
  }
  /* A typo (gmial.com) is a person who mistyped, not someone trying throwaway
   * addresses: it costs no attempt unless the account says so. */
  if (p->counted && !p->dry && !p->unstored && !p->uncounted && res->category == UC_BLACK &&
      (set->count_typos || !uc_check_is_typo(res))) {
    count_black(s, p, a->account->id, set);
    if (p->look.state != UC_BAN_CLEAR && wait_ban(s, c, r, SRV_STAGE_BAN_HIT))
      return MHD_YES;
  }
  return respond(s, c, r);
}

/* Called by the resolver thread when the answer or the deadline came. */
static void dns_done(struct uc_dns_wait *w) {
  resume(w->arg);
}

/* Asks DNS about the domain when it could change the type: the answer from
 * the cache, or the request suspended until it comes (1). Listed domains
 * never wait: a cached answer only fills mx_record, a missing one is looked
 * up in the background for next time. */
static int ask_dns(struct srv *s, struct MHD_Connection *c, struct req *r) {
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
  p->wait.done = dns_done, p->wait.arg = r;
  p->wait.deadline_ms = uc_dns_now_ms() + s->cfg.dns_timeout;
  suspend(c, r, SRV_STAGE_DNS);
  if (uc_dns_lookup(s->dns, domain, &p->wait, &p->wait.facts) == UC_DNS_HIT)
    resume(r); /* answered in between: no wait registered */
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

/* The lists phase, then DNS or the answer: 200 or 422 (or suspended). */
static enum MHD_Result classify_rest(struct srv *s, struct MHD_Connection *c, struct req *r) {
  struct srv_pending *p = &r->pend;
  uc_check_lists(p->lists, &p->auth.account->policy, p->email, p->n, &r->res);
  note_subject(s, r, &r->res, p->email, p->n);
  if (!r->res.valid) {
    char msg[UC_REASON_MAX + 64];
    snprintf(msg, sizeof msg, "value is not a valid email address: %s", r->res.reason);
    struct srv_invalid v = {"value_error", p->where,
                            "email",       msg,
                            p->email,      p->n < UC_RESULT_INPUT_MAX ? p->n : UC_RESULT_INPUT_MAX,
                            r->res.reason};
    return srv_reply_422(c, r, &v);
  }
  if (ask_dns(s, c, r))
    return MHD_YES;
  return answer(s, c, r);
}

/* Classifies email for the authenticated account and replies 200, 403, 422
 * or 429 (or suspends the request: see srv_check_resume). */
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
                            .now = (int64_t)time(NULL)};
  if (!dry && rate_limited(s, r, a)) /* a dry run counts nothing, not even toward a limit */
    return srv_reply_detail(c, r, MHD_HTTP_TOO_MANY_REQUESTS, "Rate limit exceeded.");
  p->lists = uc_lists_holder_follow(s->lists, &r->w->lists);
  p->infra = uc_pub_follow(&s->infra, &r->w->infra);
  p->look.remaining = -1;
  p->counted = counted_ip(a, p);
  if (p->counted &&
      uc_bans_state(s->bans, a->account->id, set, &p->addr, p->now, &p->look) == UC_BAN_BANNED &&
      !dry) { /* a dry run shows the check, with 0 attempts left */
    if (wait_ban(s, c, r, SRV_STAGE_BAN_LOOK))
      return MHD_YES;
    if (!p->unstored)
      return banned(s, c, r);
  }
  if (atomic_load_explicit(&s->store_down, memory_order_relaxed))
    p->uncounted = 1; /* nothing is counted while the store is down: say so */
  return classify_rest(s, c, r);
}

enum MHD_Result srv_check_resume(struct srv *s, struct MHD_Connection *c, struct req *r) {
  struct srv_pending *p = &r->pend;
  r->suspended = 0;
  switch (p->stage) {
  case SRV_STAGE_BAN_LOOK: /* the 403 waited for its ban */
    if (p->ban_wait.stored)
      return banned(s, c, r);
    p->unstored = 1; /* not in time: checked as if not banned, nothing announced */
    return classify_rest(s, c, r);
  case SRV_STAGE_DNS:
    r->dns = p->wait.facts; /* UC_DNS_UNKNOWN when the deadline came first */
    r->have_dns = 1;
    return answer(s, c, r);
  case SRV_STAGE_BAN_HIT:
    p->unstored = !p->ban_wait.stored;
    return respond(s, c, r);
  }
  return MHD_NO;
}

/* The query's email and ip; a repeated one: the last wins, as in FastAPI. */
struct query {
  const char *email, *ip;
  size_t email_len, ip_len;
};

static enum MHD_Result query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 size_t key_size, const char *value, size_t value_size) {
  struct query *q = cls;
  (void)kind;
  if (key_size == 5 && memcmp(key, "email", 5) == 0 && value)
    q->email = value, q->email_len = value_size;
  else if (key_size == 2 && memcmp(key, "ip", 2) == 0)
    q->ip = value, q->ip_len = value ? value_size : 0;
  return MHD_YES;
}

enum MHD_Result srv_check_query(struct srv *s, struct MHD_Connection *c, struct req *r) {
  struct srv_auth a = {0};
  enum MHD_Result ret;
  if (!srv_authenticate(s, c, r, &a, &ret, 0))
    return ret;
  struct query q = {0};
  MHD_get_connection_values_n(c, MHD_GET_ARGUMENT_KIND, query_arg, &q);
  if (!q.email) {
    struct srv_invalid v = {"missing", "query", "email", "Field required", NULL, 0, NULL};
    ret = srv_reply_422(c, r, &v);
  } else {
    ret = classify(s, c, r, &a, "query", q.email, q.email_len, q.ip, q.ip_len, 0);
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
  /* Any JSON value: null, 42 or "x" is a 422 like [] (not a 400). */
  doc = len ? json_loadb(text, len, JSON_ALLOW_NUL | JSON_DECODE_ANY, &err) : json_object();
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
    if (r->held) { /* email and ip point into doc: it lives until the request ends */
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
