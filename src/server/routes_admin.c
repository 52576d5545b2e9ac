/* The admin API (SPEC §5), /v1/admin/...: thin HTTP over include/uc/admin.h.
 * Admin keys only. Each handler reads the request, calls one libuc operation
 * (which validates, writes and audits), rebuilds the in-memory view when
 * something the checks read changed, and words the answer. */
#include "http.h"

#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Who is calling: copied out of the view so that nothing of it is held
 * while the handlers write and the view is rebuilt. */
struct caller {
  int64_t account;
  struct uc_actor who;
  struct uc_settings settings;
};

static enum MHD_Result reply_text(struct MHD_Connection *c, struct req *r, unsigned status,
                                  char *json) {
  return srv_reply_owned(c, r, status, "application/json", json, json ? strlen(json) : 0);
}

/* The text of doc, which it takes over. */
static char *text_of(json_t *doc) {
  char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
  json_decref(doc);
  return text;
}

/* The status for an admin operation's error, and its body. */
static enum MHD_Result failed(struct MHD_Connection *c, struct req *r, int rc,
                              const struct uc_admin_error *e, const char *where) {
  if (rc == UC_EINVAL) {
    struct srv_invalid v = {"value_error", where, e->field[0] ? e->field : NULL, e->msg, NULL, 0,
                            NULL};
    return srv_reply_422(c, r, &v);
  }
  unsigned status = rc == UC_ENOTFOUND                        ? MHD_HTTP_NOT_FOUND
                    : rc == UC_EDENIED || rc == UC_EEXISTS    ? MHD_HTTP_CONFLICT
                    : rc == UC_EBUSY || rc == UC_EUNAVAILABLE ? MHD_HTTP_SERVICE_UNAVAILABLE
                                                              : MHD_HTTP_INTERNAL_SERVER_ERROR;
  return srv_reply_detail(c, r, status, e->msg[0] ? e->msg : uc_strerror(rc));
}

static enum MHD_Result not_allowed(struct MHD_Connection *c, struct req *r) {
  return srv_reply_detail(c, r, MHD_HTTP_METHOD_NOT_ALLOWED, "Method Not Allowed");
}

static int is(const struct req *r, const char *method) {
  return strcmp(r->method, method) == 0;
}

/* The request body as a JSON object, or a 400/422 queued (returns NULL). */
static json_t *body_object(struct MHD_Connection *c, struct req *r, enum MHD_Result *ret) {
  json_error_t err;
  json_t *doc = r->body.len ? json_loadb(r->body.data, r->body.len, 0, &err) : NULL;
  if (!doc && r->body.len) {
    char msg[300];
    snprintf(msg, sizeof msg, "Malformed JSON body: %s (line %d, column %d).", err.text, err.line,
             err.column);
    *ret = srv_reply_detail(c, r, MHD_HTTP_BAD_REQUEST, msg);
  } else if (!json_is_object(doc)) {
    struct srv_invalid v = {"value_error", "body", NULL, "The body must be a JSON object.",
                            NULL,          0,      NULL};
    *ret = srv_reply_422(c, r, &v);
    json_decref(doc);
    doc = NULL;
  }
  return doc;
}

/* ---- settings ---- */

static enum MHD_Result settings(struct srv *s, struct MHD_Connection *c, struct req *r,
                                struct caller *who) {
  struct uc_admin_error e;
  enum MHD_Result ret;
  if (is(r, "GET") || is(r, "HEAD"))
    return reply_text(c, r, MHD_HTTP_OK, uc_settings_to_json(&who->settings));
  if (!is(r, "PATCH"))
    return not_allowed(c, r);
  json_t *patch = body_object(c, r, &ret); /* 400 for malformed JSON before any 422 */
  if (!patch)
    return ret;
  json_decref(patch);
  int rc = uc_admin_settings_update(&s->admin, who->account, &who->who, r->body.data, r->body.len,
                                    &who->settings, &e);
  if (rc)
    return failed(c, r, rc, &e, "body");
  srv_cache_reload(s->cache);
  return reply_text(c, r, MHD_HTTP_OK, uc_settings_to_json(&who->settings));
}

/* An integer query parameter in lo..hi, or def when absent; -1 and a 422 queued. */
static long query_int(struct MHD_Connection *c, struct req *r, const char *name, long def, long lo,
                      long hi, enum MHD_Result *ret) {
  const char *v = srv_query(c, name);
  char *end, msg[80];
  long n = v ? strtol(v, &end, 10) : def;
  if (v && (!*v || *end || n < lo || n > hi)) {
    snprintf(msg, sizeof msg, "Must be an integer from %ld to %ld.", lo, hi);
    struct srv_invalid inv = {"value_error", "query", name, msg, v, strlen(v), NULL};
    *ret = srv_reply_422(c, r, &inv);
    return -1;
  }
  return n;
}

/* ---- bans ---- */

/* An operation on a whole collection (unban every IP, replace a whole list)
 * must say so: ?all=true. 1 when it does; else a 422 is queued (*ret). */
static int all_confirmed(struct MHD_Connection *c, struct req *r, const char *what,
                         enum MHD_Result *ret) {
  const char *v = srv_query(c, "all");
  char msg[200];
  if (v && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0))
    return 1;
  snprintf(msg, sizeof msg, "%s acts on the whole collection: send all=true to confirm.", what);
  struct srv_invalid inv = {
      v ? "value_error" : "missing", "query", "all", msg, v, v ? strlen(v) : 0, NULL};
  *ret = srv_reply_422(c, r, &inv);
  return 0;
}

/* GET /v1/admin/bans?limit=&cursor=&q= : one page. */
static enum MHD_Result bans_list(struct srv *s, struct MHD_Connection *c, struct req *r,
                                 struct caller *who) {
  struct uc_admin_error e;
  enum MHD_Result ret;
  char *json = NULL;
  long limit =
      query_int(c, r, "limit", UC_ADMIN_BANS_PAGE_DEFAULT, 1, UC_ADMIN_BANS_PAGE_MAX, &ret);
  if (limit < 0)
    return ret;
  const char *cursor = srv_query(c, "cursor");
  struct uc_ban_query q = {cursor && *cursor ? cursor : NULL, srv_query(c, "q"), (size_t)limit, 0,
                           0};
  int rc = uc_admin_bans_json(&s->admin, who->account, &who->settings, &q, &json, &e);
  return rc ? failed(c, r, rc, &e, "query") : reply_text(c, r, MHD_HTTP_OK, json);
}

static enum MHD_Result bans(struct srv *s, struct MHD_Connection *c, struct req *r,
                            struct caller *who, const struct uc_admin_path *p) {
  struct uc_admin_error e;
  char key[UC_IP_KEY_MAX];
  size_t n = 0;
  enum MHD_Result ret;
  int rc;
  if ((is(r, "GET") || is(r, "HEAD")) && !p->has_item)
    return bans_list(s, c, r, who);
  if (!is(r, "DELETE"))
    return not_allowed(c, r);
  if (!p->has_item) {
    if (!all_confirmed(c, r, "DELETE /v1/admin/bans (unban every IP)", &ret))
      return ret;
    if ((rc = uc_admin_unban_all(&s->admin, who->account, &who->who, &n, &e)) != UC_OK)
      return failed(c, r, rc, &e, "path");
    return reply_text(c, r, MHD_HTTP_OK, text_of(json_pack("{s:I}", "unbanned", (json_int_t)n)));
  }
  rc = uc_admin_unban(&s->admin, who->account, &who->who, p->item, who->settings.ipv6_prefix, key,
                      &e);
  if (rc)
    return failed(c, r, rc, &e, "path");
  return reply_text(c, r, MHD_HTTP_OK, text_of(json_pack("{s:s}", "unbanned", key)));
}

/* ---- domain lists ---- */

static enum MHD_Result list_replace(struct srv *s, struct MHD_Connection *c, struct req *r,
                                    struct caller *who, uc_category color) {
  struct uc_admin_error e;
  enum MHD_Result ret;
  json_t *doc = body_object(c, r, &ret), *arr = doc ? json_object_get(doc, "domains") : NULL, *v;
  if (!doc)
    return ret;
  size_t n = json_array_size(arr), i;
  const char **names = json_is_array(arr) ? calloc(n ? n : 1, sizeof *names) : NULL;
  int rc = UC_EINVAL;
  snprintf(e.field, sizeof e.field, "domains");
  snprintf(e.msg, sizeof e.msg, "Must be an array of at most %d domain names.", UC_ADMIN_LIST_MAX);
  if (names) {
    json_array_foreach(arr, i, v) names[i] = json_string_value(v); /* NULL: not a string */
    rc = uc_admin_list_replace(&s->admin, who->account, &who->who, color, names, n, &e);
  }
  free(names);
  json_decref(doc);
  if (rc)
    return failed(c, r, rc, &e, "body");
  srv_cache_reload(s->cache);
  char *json = NULL;
  rc = uc_admin_list_json(&s->admin, who->account, color, &json, &e);
  return rc ? failed(c, r, rc, &e, "body") : reply_text(c, r, MHD_HTTP_OK, json);
}

static enum MHD_Result lists(struct srv *s, struct MHD_Connection *c, struct req *r,
                             struct caller *who, const struct uc_admin_path *p) {
  struct uc_admin_error e;
  char name[UC_DOMAIN_MAX + 1], *json = NULL;
  int rc;
  if (!p->has_item) {
    enum MHD_Result ret;
    if (is(r, "PUT"))
      return all_confirmed(c, r, "PUT /v1/admin/lists/COLOR (replace the whole list)", &ret)
                 ? list_replace(s, c, r, who, p->color)
                 : ret;
    if (!is(r, "GET") && !is(r, "HEAD"))
      return not_allowed(c, r);
    rc = uc_admin_list_json(&s->admin, who->account, p->color, &json, &e);
    return rc ? failed(c, r, rc, &e, "path") : reply_text(c, r, MHD_HTTP_OK, json);
  }
  if (is(r, "PUT"))
    rc = uc_admin_list_add(&s->admin, who->account, &who->who, p->color, p->item, name, &e);
  else if (is(r, "DELETE"))
    rc = uc_admin_list_remove(&s->admin, who->account, &who->who, p->color, p->item, name, &e);
  else
    return not_allowed(c, r);
  if (rc && rc != UC_EEXISTS)
    return failed(c, r, rc, &e, "path");
  if (rc == UC_OK)
    srv_cache_reload(s->cache);
  return reply_text(
      c, r, is(r, "PUT") && rc == UC_OK ? MHD_HTTP_CREATED : MHD_HTTP_OK,
      text_of(json_pack("{s:s, s:s}", "color", uc_category_name(p->color), "domain", name)));
}

/* ---- keys ---- */

/* "name" and "type" of a key body: NULL / -1 when absent. 0 and a 422 queued
 * when one is there but is not a string. */
static int key_fields(struct MHD_Connection *c, struct req *r, json_t *doc, const char **name,
                      int *type, enum MHD_Result *ret) {
  json_t *n = json_object_get(doc, "name"), *t = json_object_get(doc, "type");
  uc_key_type kt = UC_KEY_ACTIVE;
  *name = json_is_string(n) ? json_string_value(n) : NULL;
  *type = -1;
  if (t && (!json_is_string(t) || uc_key_type_parse(json_string_value(t), &kt))) {
    kt = (uc_key_type)99; /* worded by the operation: it knows which types it takes */
  }
  if (n && !*name) {
    struct srv_invalid v = {"value_error", "body", "name", "Must be a string.", NULL, 0, NULL};
    *ret = srv_reply_422(c, r, &v);
    return 0;
  }
  *type = t ? (int)kt : -1;
  return 1;
}

/* The key's own rate limit in a PATCH body: NULL when neither field is
 * there. A value that is not an integer from 0 up is passed on as one out of
 * range, for the operation to word. */
static const struct uc_admin_key_rate *key_rate(json_t *doc, struct uc_admin_key_rate *out) {
  static const char *const names[] = {"rate_limit_per_second", "rate_limit_burst"};
  long *slots[] = {&out->per_second, &out->burst};
  int any = 0;
  for (int i = 0; i < 2; i++) {
    json_t *v = json_object_get(doc, names[i]);
    *slots[i] =
        !v ? -1
        : json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= UC_RATE_MAX
            ? (long)json_integer_value(v)
            : UC_RATE_MAX + 1L;
    any |= v != NULL;
  }
  return any ? out : NULL;
}

static enum MHD_Result key_create(struct srv *s, struct MHD_Connection *c, struct req *r,
                                  struct caller *who) {
  struct uc_admin_error e;
  struct uc_key_rec rec;
  char key[UC_KEY_MAX + 1];
  const char *name;
  int type;
  enum MHD_Result ret;
  json_t *doc = body_object(c, r, &ret);
  if (!doc)
    return ret;
  if (!key_fields(c, r, doc, &name, &type, &ret))
    return json_decref(doc), ret;
  int rc = uc_admin_key_create(&s->admin, who->account, &who->who, name,
                               type < 0 ? (uc_key_type)99 : (uc_key_type)type, &rec, key, &e);
  json_decref(doc);
  if (rc)
    return failed(c, r, rc, &e, "body");
  srv_cache_reload(s->cache);
  return reply_text(c, r, MHD_HTTP_CREATED, uc_admin_key_json(&rec, key));
}

static enum MHD_Result keys(struct srv *s, struct MHD_Connection *c, struct req *r,
                            struct caller *who, const struct uc_admin_path *p) {
  struct uc_admin_error e;
  struct uc_key_rec rec;
  char *json = NULL, new_key[UC_KEY_MAX + 1] = "";
  if (!p->has_item && (is(r, "GET") || is(r, "HEAD"))) {
    int rc = uc_admin_keys_json(&s->admin, who->account, 0, &json, &e);
    return rc ? failed(c, r, rc, &e, "query") : reply_text(c, r, MHD_HTTP_OK, json);
  }
  if (!p->has_item)
    return is(r, "POST") ? key_create(s, c, r, who) : not_allowed(c, r);
  char *end;
  long long id = strtoll(p->item, &end, 10);
  if (*end || id <= 0)
    return srv_reply_detail(c, r, MHD_HTTP_NOT_FOUND, "Not Found");
  int rc;
  if (is(r, "PATCH")) {
    const char *name;
    int type;
    enum MHD_Result ret;
    json_t *doc = body_object(c, r, &ret);
    if (!doc)
      return ret;
    if (!key_fields(c, r, doc, &name, &type, &ret))
      return json_decref(doc), ret;
    struct uc_admin_key_rate rate;
    rc = uc_admin_key_update(&s->admin, who->account, &who->who, id, name, type,
                             key_rate(doc, &rate), &rec, new_key, &e);
    json_decref(doc);
  } else if (is(r, "DELETE")) {
    rc = uc_admin_key_revoke(&s->admin, who->account, &who->who, id, &e);
  } else {
    return not_allowed(c, r);
  }
  if (rc)
    return failed(c, r, rc, &e, "body");
  srv_cache_reload(s->cache);
  if (is(r, "DELETE"))
    return reply_text(c, r, MHD_HTTP_OK,
                      text_of(json_pack("{s:I, s:b}", "id", (json_int_t)id, "revoked", 1)));
  return reply_text(c, r, MHD_HTTP_OK, uc_admin_key_json(&rec, new_key));
}

/* ---- usage and audit ---- */

static enum MHD_Result usage(struct srv *s, struct MHD_Connection *c, struct req *r,
                             struct caller *who) {
  struct uc_usage_report rep;
  enum MHD_Result ret;
  if (!is(r, "GET") && !is(r, "HEAD"))
    return not_allowed(c, r);
  long days = query_int(c, r, "days", 30, 1, UC_USAGE_DAYS_MAX, &ret);
  if (days < 0)
    return ret;
  uc_usage_flush(s->usage, s->store); /* include what is still only in memory */
  int rc =
      uc_usage_report(s->store, who->account, (unsigned)days, (unsigned)(time(NULL) / 86400), &rep);
  if (rc) {
    char why[200], msg[256];
    uc_store_error(s->store, rc, why, sizeof why);
    snprintf(msg, sizeof msg, "The store failed: %s.", why);
    return srv_reply_detail(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, msg);
  }
  char *json = uc_usage_report_json(&rep);
  uc_usage_report_release(&rep);
  return reply_text(c, r, MHD_HTTP_OK, json);
}

static enum MHD_Result audit(struct srv *s, struct MHD_Connection *c, struct req *r,
                             struct caller *who) {
  struct uc_admin_error e;
  enum MHD_Result ret;
  char *json = NULL;
  if (!is(r, "GET") && !is(r, "HEAD"))
    return not_allowed(c, r);
  long limit = query_int(c, r, "limit", 100, 1, 1000, &ret);
  if (limit < 0)
    return ret;
  int rc = uc_admin_audit_json(&s->admin, who->account, (size_t)limit, &json, &e);
  return rc ? failed(c, r, rc, &e, "query") : reply_text(c, r, MHD_HTTP_OK, json);
}

/* The server's list sources: versions, sizes, last update and error. */
static enum MHD_Result sources(struct srv *s, struct MHD_Connection *c, struct req *r) {
  if (!is(r, "GET") && !is(r, "HEAD"))
    return not_allowed(c, r);
  return reply_text(c, r, MHD_HTTP_OK, srv_lists_status(s));
}

/* ---- activity ---- */

static enum MHD_Result activity(struct srv *s, struct MHD_Connection *c, struct req *r,
                                struct caller *who) {
  struct uc_admin_error e;
  enum MHD_Result ret;
  char *json = NULL;
  if (!is(r, "GET") && !is(r, "HEAD"))
    return not_allowed(c, r);
  long since = query_int(c, r, "since", 0, 0, LONG_MAX, &ret);
  if (since < 0)
    return ret;
  int rc = uc_admin_activity_json(&s->admin, who->account, &who->settings, (uint64_t)since,
                                  (int64_t)time(NULL), &json, &e);
  return rc ? failed(c, r, rc, &e, "query") : reply_text(c, r, MHD_HTTP_OK, json);
}

/* ---- routing: /v1/admin/<resource>[/<item>] ---- */

/* Advances the admin key's last_used_at (the dashboard's "Last used"); at most
 * one store write a minute per key, and a failure only delays it. */
static void touch(struct srv *s, int64_t key_id) {
  int64_t now = (int64_t)time(NULL);
  unsigned slot = (unsigned)(key_id % SRV_TOUCH_SLOTS);
  pthread_mutex_lock(&s->touch_lock);
  int due = s->touched[slot].key_id != key_id || now - s->touched[slot].at >= SRV_TOUCH_EVERY;
  if (due)
    s->touched[slot].key_id = key_id, s->touched[slot].at = now;
  pthread_mutex_unlock(&s->touch_lock);
  if (due && uc_store_key_touch(s->store, key_id, now) != UC_OK) {
    pthread_mutex_lock(&s->touch_lock);
    s->touched[slot].at = 0; /* try again on the next call */
    pthread_mutex_unlock(&s->touch_lock);
  }
}

static enum MHD_Result route(struct srv *s, struct MHD_Connection *c, struct req *r,
                             struct caller *who, const struct uc_admin_path *p) {
  switch (p->resource) {
  case UC_ADMIN_SETTINGS:
    return settings(s, c, r, who);
  case UC_ADMIN_BANS:
    return bans(s, c, r, who, p);
  case UC_ADMIN_LISTS:
    return lists(s, c, r, who, p);
  case UC_ADMIN_KEYS:
    return keys(s, c, r, who, p);
  case UC_ADMIN_USAGE:
    return usage(s, c, r, who);
  case UC_ADMIN_AUDIT:
    return audit(s, c, r, who);
  case UC_ADMIN_SOURCES:
    return sources(s, c, r);
  case UC_ADMIN_ACTIVITY:
    return activity(s, c, r, who);
  case UC_ADMIN_TRY: /* answered on the HTTP thread (srv_admin) */
    break;
  }
  return srv_reply_detail(c, r, MHD_HTTP_NOT_FOUND, "Not Found");
}

/* The admin key's last use, written on the blocking-work thread. */
struct touch_job {
  struct srv *s;
  int64_t key_id;
};

static void run_touch(void *arg) {
  struct touch_job *t = arg;
  touch(t->s, t->key_id);
  free(t);
}

/* An admin request, run on the blocking-work thread: its store reads and
 * writes may wait for a lock another process holds, and must not stall the
 * connections of the HTTP thread that received it. */
struct job {
  struct srv *s;
  struct MHD_Connection *c;
  struct req *r;
  struct caller who;
  struct uc_admin_path p;
};

static void run_job(void *arg) {
  struct job *j = arg;
  touch(j->s, j->who.who.key_id);
  route(j->s, j->c, j->r, &j->who, &j->p); /* the reply is stashed in r (http.c) */
  MHD_resume_connection(j->c);
  free(j);
}

enum MHD_Result srv_admin(struct srv *s, struct MHD_Connection *c, struct req *r) {
  struct srv_auth a = {0};
  struct uc_admin_path p;
  enum MHD_Result ret;
  if (!srv_authenticate(s, c, r, &a, &ret, 1))
    return ret;
  /* The raw path, decoded here with its true length: a %00 stays a NUL the
   * parser refuses, a %2F a '/' it takes only inside a ban key. */
  char path[SRV_PATH_MAX + 1];
  size_t n = 0;
  if (r->path_len > strlen("/v1/admin/") && !r->path_too_long) {
    memcpy(path, r->path + strlen("/v1/admin/"), r->path_len - strlen("/v1/admin/") + 1);
    n = MHD_http_unescape(path);
  }
  if (!n || uc_admin_path_parse(path, n, &p) != UC_OK)
    return srv_reply_detail(c, r, MHD_HTTP_NOT_FOUND, "Not Found");
  if (p.resource == UC_ADMIN_TRY) { /* a check that counts nothing: it may wait for DNS */
    struct touch_job *t = malloc(sizeof *t);
    if (t) {
      *t = (struct touch_job){s, a.key.id};
      if (srv_defer(s, run_touch, t) != 0)
        free(t);
    }
    return srv_check_try(s, c, r, &a);
  }
  struct job *j = malloc(sizeof *j);
  if (!j)
    return srv_reply_detail(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, "Out of memory.");
  *j = (struct job){s, c, r, {a.account->id, {a.key.id, "api"}, a.account->settings}, p};
  r->deferred = 1;
  MHD_suspend_connection(c);
  if (srv_defer(s, run_job, j) != 0) { /* stopping: answer here after all */
    run_job(j);
  }
  return MHD_YES;
}
