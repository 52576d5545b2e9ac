/* The admin API (SPEC §5), /v1/admin/...: settings, bans, domain lists, keys,
 * usage. Admin keys only; every write is validated and audited, and the
 * in-memory view is rebuilt so the next check sees it. */
#include "http.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Who is calling: copied out of the cache so no lock is held while writing. */
struct caller {
  int64_t account, key;
  struct uc_settings settings;
};

static enum MHD_Result reply_json(struct MHD_Connection *c, struct req *r, unsigned status,
                                  json_t *doc) {
  char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
  json_decref(doc);
  if (!text)
    return srv_reply_detail(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, "Out of memory.");
  enum MHD_Result ret = srv_reply(c, r, status, "application/json", text, strlen(text));
  free(text);
  return ret;
}

static enum MHD_Result invalid(struct MHD_Connection *c, struct req *r, const char *field,
                               const char *msg, const char *input) {
  struct srv_invalid v = {"value_error", "body", field, msg, input, input ? strlen(input) : 0,
                          NULL};
  return srv_reply_422(c, r, &v);
}

static enum MHD_Result store_failed(struct MHD_Connection *c, struct req *r, int rc) {
  char msg[128];
  snprintf(msg, sizeof msg, "The store failed: %s.", uc_strerror(rc));
  return srv_reply_detail(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, msg);
}

static void audit(struct srv *s, const struct caller *who, const char *action, json_t *detail) {
  char *text = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
  s->store->ops->audit_add(s->store->state, who->account, who->key, action, text ? text : "{}");
  free(text);
  json_decref(detail);
}

/* The request body as a JSON object, or a 400/422 queued (returns NULL). */
static json_t *body_object(struct MHD_Connection *c, struct req *r, enum MHD_Result *ret) {
  json_error_t err;
  json_t *doc = r->len ? json_loadb(r->body, r->len, 0, &err) : NULL;
  if (!doc && r->len) {
    char msg[300];
    snprintf(msg, sizeof msg, "Malformed JSON body: %s (line %d, column %d).", err.text, err.line,
             err.column);
    *ret = srv_reply_detail(c, r, MHD_HTTP_BAD_REQUEST, msg);
  } else if (!json_is_object(doc)) {
    *ret = invalid(c, r, NULL, "The body must be a JSON object.", NULL);
    json_decref(doc);
    doc = NULL;
  }
  return doc;
}

/* ---- settings ---- */

static enum MHD_Result settings(struct srv *s, struct MHD_Connection *c, struct req *r,
                                struct caller *who) {
  enum MHD_Result ret;
  if (strcmp(r->method, "GET") == 0)
    return reply_json(c, r, MHD_HTTP_OK, uc_settings_to_json(&who->settings));
  if (strcmp(r->method, "PATCH") != 0)
    return srv_reply_detail(c, r, MHD_HTTP_METHOD_NOT_ALLOWED, "Method Not Allowed");
  json_t *patch = body_object(c, r, &ret);
  if (!patch)
    return ret;
  char field[96], msg[200];
  if (uc_settings_patch(&who->settings, patch, field, sizeof field, msg, sizeof msg) != UC_OK) {
    json_decref(patch);
    return invalid(c, r, field, msg, NULL);
  }
  int rc = uc_settings_save(s->store, who->account, &who->settings);
  if (rc) {
    json_decref(patch);
    return store_failed(c, r, rc);
  }
  audit(s, who, "settings.update", patch);
  srv_cache_reload(s->cache);
  return reply_json(c, r, MHD_HTTP_OK, uc_settings_to_json(&who->settings));
}

/* ---- bans ---- */

struct ban_list {
  json_t *arr;
  const struct uc_settings *set;
};

static int add_ban(void *arg, const struct uc_ban_rec *b) {
  struct ban_list *bl = arg;
  char when[32] = "";
  time_t t = (time_t)b->banned_at;
  if (b->banned_at)
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
  long left =
      b->attempts >= bl->set->ban_threshold ? 0 : (long)(bl->set->ban_threshold - b->attempts);
  json_array_append_new(
      bl->arr, json_pack("{s:s, s:i, s:i, s:b, s:s?}", "ip", b->ip, "attempts", (int)b->attempts,
                         "remaining", (int)(b->banned_at ? 0 : left), "banned", b->banned_at != 0,
                         "banned_at", b->banned_at ? when : NULL));
  return 0;
}

static enum MHD_Result bans(struct srv *s, struct MHD_Connection *c, struct req *r,
                            struct caller *who, const char *ip) {
  if (strcmp(r->method, "GET") == 0 && !ip) {
    struct ban_list bl = {json_array(), &who->settings};
    srv_bans_each(s->bans, who->account, add_ban, &bl);
    return reply_json(c, r, MHD_HTTP_OK, json_pack("{s:o}", "bans", bl.arr));
  }
  if (strcmp(r->method, "DELETE") != 0)
    return srv_reply_detail(c, r, MHD_HTTP_METHOD_NOT_ALLOWED, "Method Not Allowed");
  if (!ip) {
    size_t n = 0;
    int rc = srv_bans_unban_all(s->bans, who->account, &n);
    if (rc)
      return store_failed(c, r, rc);
    audit(s, who, "bans.unban_all", json_pack("{s:i}", "unbanned", (int)n));
    return reply_json(c, r, MHD_HTTP_OK, json_pack("{s:i}", "unbanned", (int)n));
  }
  struct uc_ip addr;
  if (uc_ip_parse(ip, strlen(ip), who->settings.ipv6_prefix, &addr) != UC_OK) {
    struct srv_invalid v = {"value_error", "path", "ip", "Not an IP address.", ip,
                            strlen(ip),    NULL};
    return srv_reply_422(c, r, &v);
  }
  int rc = srv_bans_unban(s->bans, who->account, addr.key);
  if (rc == UC_ENOTFOUND)
    return srv_reply_detail(c, r, MHD_HTTP_NOT_FOUND, "This IP has no attempts counted.");
  if (rc)
    return store_failed(c, r, rc);
  audit(s, who, "bans.unban", json_pack("{s:s}", "ip", addr.key));
  return reply_json(c, r, MHD_HTTP_OK, json_pack("{s:s}", "unbanned", addr.key));
}

/* ---- domain lists ---- */

struct list_out {
  json_t *arr;
  uc_category color;
};

static int add_domain(void *arg, const struct uc_list_rec *l) {
  struct list_out *o = arg;
  if (l->color == o->color)
    json_array_append_new(o->arr, json_string(l->domain));
  return 0;
}

static enum MHD_Result list_replace(struct srv *s, struct MHD_Connection *c, struct req *r,
                                    struct caller *who, uc_category color) {
  enum MHD_Result ret;
  json_t *doc = body_object(c, r, &ret), *arr = doc ? json_object_get(doc, "domains") : NULL;
  if (!doc)
    return ret;
  if (!json_is_array(arr) || json_array_size(arr) > 100000) {
    json_decref(doc);
    return invalid(c, r, "domains", "Must be an array of at most 100000 domain names.", NULL);
  }
  size_t n = json_array_size(arr), i;
  char(*names)[UC_DOMAIN_MAX + 1] = calloc(n ? n : 1, sizeof *names);
  const char **ptrs = calloc(n ? n : 1, sizeof *ptrs);
  json_t *v;
  ret = MHD_NO;
  if (!names || !ptrs)
    goto out;
  json_array_foreach(arr, i, v) {
    char reason[UC_REASON_MAX], field[32];
    const char *d = json_string_value(v);
    if (!d || uc_domain_parse(d, json_string_length(v), names[i], reason, sizeof reason)) {
      snprintf(field, sizeof field, "domains[%zu]", i);
      ret = invalid(c, r, field, d ? reason : "Must be a string.", d);
      goto out;
    }
    ptrs[i] = names[i];
  }
  int rc = s->store->ops->list_replace(s->store->state, who->account, color, ptrs, n);
  if (rc) {
    ret = store_failed(c, r, rc);
    goto out;
  }
  audit(s, who, "lists.replace",
        json_pack("{s:s, s:i}", "color", uc_category_name(color), "count", (int)n));
  srv_cache_reload(s->cache);
  struct list_out o = {json_array(), color};
  s->store->ops->list_each(s->store->state, who->account, add_domain, &o);
  ret = reply_json(c, r, MHD_HTTP_OK,
                   json_pack("{s:s, s:o}", "color", uc_category_name(color), "domains", o.arr));
out:
  free(names);
  free(ptrs);
  json_decref(doc);
  return ret;
}

static enum MHD_Result lists(struct srv *s, struct MHD_Connection *c, struct req *r,
                             struct caller *who, const char *color_name, const char *domain) {
  uc_category color;
  if (uc_category_parse(color_name, &color) != UC_OK)
    return srv_reply_detail(c, r, MHD_HTTP_NOT_FOUND, "Not Found");
  if (!domain) {
    if (strcmp(r->method, "PUT") == 0)
      return list_replace(s, c, r, who, color);
    if (strcmp(r->method, "GET") != 0)
      return srv_reply_detail(c, r, MHD_HTTP_METHOD_NOT_ALLOWED, "Method Not Allowed");
    struct list_out o = {json_array(), color};
    s->store->ops->list_each(s->store->state, who->account, add_domain, &o);
    return reply_json(c, r, MHD_HTTP_OK,
                      json_pack("{s:s, s:o}", "color", color_name, "domains", o.arr));
  }
  char name[UC_DOMAIN_MAX + 1], reason[UC_REASON_MAX];
  if (uc_domain_parse(domain, strlen(domain), name, reason, sizeof reason) != UC_OK) {
    struct srv_invalid v = {"value_error", "path", "domain", reason, domain, strlen(domain), NULL};
    return srv_reply_422(c, r, &v);
  }
  int rc;
  if (strcmp(r->method, "PUT") == 0) {
    rc = s->store->ops->list_add(s->store->state, who->account, color, name);
    if (rc && rc != UC_EEXISTS)
      return store_failed(c, r, rc);
    if (rc == UC_OK)
      audit(s, who, "lists.add", json_pack("{s:s, s:s}", "color", color_name, "domain", name));
  } else if (strcmp(r->method, "DELETE") == 0) {
    rc = s->store->ops->list_remove(s->store->state, who->account, color, name);
    if (rc == UC_ENOTFOUND)
      return srv_reply_detail(c, r, MHD_HTTP_NOT_FOUND, "This domain is not on that list.");
    if (rc)
      return store_failed(c, r, rc);
    audit(s, who, "lists.remove", json_pack("{s:s, s:s}", "color", color_name, "domain", name));
  } else {
    return srv_reply_detail(c, r, MHD_HTTP_METHOD_NOT_ALLOWED, "Method Not Allowed");
  }
  srv_cache_reload(s->cache);
  return reply_json(c, r,
                    strcmp(r->method, "PUT") == 0 && rc == UC_OK ? MHD_HTTP_CREATED : MHD_HTTP_OK,
                    json_pack("{s:s, s:s}", "color", color_name, "domain", name));
}

/* ---- keys ---- */

static json_t *key_json(const struct uc_key_rec *k) {
  char created[32], used[32];
  time_t t1 = (time_t)k->created_at, t2 = (time_t)k->last_used_at;
  strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t1));
  strftime(used, sizeof used, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t2));
  return json_pack("{s:I, s:s, s:s, s:s, s:s, s:s?, s:b}", "id", (json_int_t)k->id, "name", k->name,
                   "type", uc_key_type_name(k->type), "prefix", k->prefix, "created_at", created,
                   "last_used_at", k->last_used_at ? used : NULL, "revoked", k->revoked_at != 0);
}

static int add_key(void *arg, const struct uc_key_rec *k) {
  if (!k->revoked_at)
    json_array_append_new(arg, key_json(k));
  return 0;
}

static int key_fields(struct MHD_Connection *c, struct req *r, json_t *doc, const char **name,
                      int *type, int creating, enum MHD_Result *ret) {
  json_t *n = json_object_get(doc, "name"), *t = json_object_get(doc, "type");
  uc_key_type kt;
  *name = NULL, *type = -1;
  if ((n || creating) && (!json_is_string(n) || !uc_name_valid(json_string_value(n)))) {
    *ret = invalid(c, r, "name", "Must be 1 to 64 printable characters.", NULL);
    return 0;
  }
  if ((t || creating) && (!json_is_string(t) || uc_key_type_parse(json_string_value(t), &kt) ||
                          (kt == UC_KEY_ADMIN && !creating))) {
    *ret = invalid(c, r, "type",
                   creating ? "Must be \"active\", \"sandbox\" or \"admin\"."
                            : "Must be \"active\" or \"sandbox\".",
                   NULL);
    return 0;
  }
  *name = n ? json_string_value(n) : NULL;
  *type = t ? (int)kt : -1;
  return 1;
}

static enum MHD_Result keys(struct srv *s, struct MHD_Connection *c, struct req *r,
                            struct caller *who, const char *id_text) {
  enum MHD_Result ret;
  const char *name;
  int type;
  if (!id_text && strcmp(r->method, "GET") == 0) {
    json_t *arr = json_array();
    s->store->ops->key_each(s->store->state, who->account, add_key, arr);
    return reply_json(c, r, MHD_HTTP_OK, json_pack("{s:o}", "keys", arr));
  }
  if (!id_text && strcmp(r->method, "POST") == 0) {
    json_t *doc = body_object(c, r, &ret);
    if (!doc)
      return ret;
    if (!key_fields(c, r, doc, &name, &type, 1, &ret))
      return json_decref(doc), ret;
    struct uc_key_rec rec;
    char key[UC_KEY_MAX + 1];
    int rc = uc_store_key_create(s->store, who->account, name, (uc_key_type)type, &rec, key);
    json_decref(doc);
    if (rc)
      return store_failed(c, r, rc);
    audit(s, who, "keys.create",
          json_pack("{s:I, s:s, s:s}", "id", (json_int_t)rec.id, "name", rec.name, "type",
                    uc_key_type_name(rec.type)));
    srv_cache_reload(s->cache);
    json_t *out = key_json(&rec);
    json_object_set_new(out, "key", json_string(key)); /* the only time it is shown */
    return reply_json(c, r, MHD_HTTP_CREATED, out);
  }
  char *end;
  long long id = id_text ? strtoll(id_text, &end, 10) : 0;
  if (!id_text || *end || id <= 0)
    return srv_reply_detail(c, r, id_text ? MHD_HTTP_NOT_FOUND : MHD_HTTP_METHOD_NOT_ALLOWED,
                            id_text ? "Not Found" : "Method Not Allowed");
  int rc;
  json_t *doc = NULL;
  if (strcmp(r->method, "PATCH") == 0) {
    if (!(doc = body_object(c, r, &ret)))
      return ret;
    if (!key_fields(c, r, doc, &name, &type, 0, &ret))
      return json_decref(doc), ret;
    rc = s->store->ops->key_update(s->store->state, who->account, id, name, type);
  } else if (strcmp(r->method, "DELETE") == 0) {
    rc = id == who->key
             ? UC_EINVAL
             : s->store->ops->key_revoke(s->store->state, who->account, id, (int64_t)time(NULL));
  } else {
    return srv_reply_detail(c, r, MHD_HTTP_METHOD_NOT_ALLOWED, "Method Not Allowed");
  }
  if (rc == UC_EINVAL)
    return srv_reply_detail(c, r, MHD_HTTP_CONFLICT, "A key cannot revoke itself.");
  if (rc == UC_ENOTFOUND) {
    json_decref(doc);
    return srv_reply_detail(c, r, MHD_HTTP_NOT_FOUND, "This account has no live key with that id.");
  }
  if (rc) {
    json_decref(doc);
    return store_failed(c, r, rc);
  }
  audit(s, who, doc ? "keys.update" : "keys.revoke",
        doc ? json_pack("{s:I, s:O}", "id", (json_int_t)id, "changes", doc)
            : json_pack("{s:I}", "id", (json_int_t)id));
  json_decref(doc);
  srv_cache_reload(s->cache);
  return reply_json(
      c, r, MHD_HTTP_OK,
      json_pack("{s:I, s:b}", "id", (json_int_t)id, "revoked", strcmp(r->method, "DELETE") == 0));
}

/* ---- usage ---- */

struct usage_out {
  json_t *days, *keys, *names;
  uint64_t total[3];
};

static int name_key(void *arg, const struct uc_key_rec *k) {
  char id[24];
  snprintf(id, sizeof id, "%lld", (long long)k->id);
  json_object_set_new(arg, id,
                      json_pack("{s:s, s:s, s:b}", "name", k->name, "type",
                                uc_key_type_name(k->type), "revoked", k->revoked_at != 0));
  return 0;
}

static void bump(json_t *obj, const uint64_t n[3]) {
  static const char *const cats[3] = {"white", "grey", "black"};
  for (int c = 0; c < 3; c++)
    json_object_set_new(
        obj, cats[c],
        json_integer(json_integer_value(json_object_get(obj, cats[c])) + (json_int_t)n[c]));
  json_object_set_new(obj, "total",
                      json_integer(json_integer_value(json_object_get(obj, "total")) +
                                   (json_int_t)(n[0] + n[1] + n[2])));
}

static int add_usage(void *arg, const struct uc_usage_row *u) {
  struct usage_out *o = arg;
  char day[11], id[24];
  uc_date_format(u->day, day);
  snprintf(id, sizeof id, "%lld", (long long)u->key_id);
  json_t *d = json_object_get(o->days, day), *k = json_object_get(o->keys, id);
  if (!d)
    json_object_set_new(o->days, day,
                        d = json_pack("{s:s, s:i, s:i, s:i, s:i}", "date", day, "white", 0, "grey",
                                      0, "black", 0, "total", 0));
  if (!k) {
    json_t *meta = json_object_get(o->names, id);
    json_object_set_new(o->keys, id,
                        k = json_pack("{s:I, s:O?, s:i, s:i, s:i, s:i}", "id",
                                      (json_int_t)u->key_id, "name", json_object_get(meta, "name"),
                                      "white", 0, "grey", 0, "black", 0, "total", 0));
  }
  bump(d, u->count);
  bump(k, u->count);
  for (int c = 0; c < 3; c++)
    o->total[c] += u->count[c];
  return 0;
}

static enum MHD_Result usage(struct srv *s, struct MHD_Connection *c, struct req *r,
                             struct caller *who) {
  if (strcmp(r->method, "GET") != 0)
    return srv_reply_detail(c, r, MHD_HTTP_METHOD_NOT_ALLOWED, "Method Not Allowed");
  const char *d = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "days");
  char *end;
  long days = d ? strtol(d, &end, 10) : 30;
  if (d && (*end || days < 1 || days > 366)) {
    struct srv_invalid v = {"value_error", "query", "days", "Must be an integer from 1 to 366.", d,
                            strlen(d),     NULL};
    return srv_reply_422(c, r, &v);
  }
  srv_usage_flush(s->usage, s->store); /* include what is still only in memory */
  unsigned today = (unsigned)(time(NULL) / 86400);
  struct usage_out o = {json_object(), json_object(), json_object(), {0, 0, 0}};
  s->store->ops->key_each(s->store->state, who->account, name_key, o.names);
  int rc = s->store->ops->usage_each(s->store->state, who->account, today - (unsigned)days + 1,
                                     add_usage, &o);
  json_t *days_arr = json_array(), *keys_arr = json_array(), *v;
  const char *k;
  json_object_foreach(o.days, k, v) json_array_append(days_arr, v);
  json_object_foreach(o.keys, k, v) json_array_append(keys_arr, v);
  json_decref(o.days);
  json_decref(o.keys);
  json_decref(o.names);
  if (rc) {
    json_decref(days_arr);
    json_decref(keys_arr);
    return store_failed(c, r, rc);
  }
  return reply_json(c, r, MHD_HTTP_OK,
                    json_pack("{s:i, s:o, s:o, s:{s:I, s:I, s:I, s:I}}", "days", (int)days,
                              "by_day", days_arr, "by_key", keys_arr, "total", "white",
                              (json_int_t)o.total[0], "grey", (json_int_t)o.total[1], "black",
                              (json_int_t)o.total[2], "total",
                              (json_int_t)(o.total[0] + o.total[1] + o.total[2])));
}

/* ---- routing: /v1/admin/<what>[/<a>[/<b>]] ---- */

enum MHD_Result srv_admin(struct srv *s, struct MHD_Connection *c, struct req *r) {
  struct srv_auth a = {0};
  struct caller who;
  enum MHD_Result ret;
  char path[512], *seg[4] = {0};
  int nseg = 0;
  if (!srv_authenticate(s, c, r, &a, &ret, 1))
    return ret;
  who.account = a.account->id, who.key = a.key.id, who.settings = a.account->settings;
  /* a.account stays valid while handlers write to the store and rebuild the cache */
  snprintf(path, sizeof path, "%s", r->url + strlen("/v1/admin/"));
  for (char *p = path, *save = NULL; nseg < 4 && (p = strtok_r(nseg ? NULL : p, "/", &save));)
    seg[nseg++] = p;
  if (nseg == 1 && strcmp(seg[0], "settings") == 0)
    return settings(s, c, r, &who);
  if (nseg >= 1 && nseg <= 2 && strcmp(seg[0], "bans") == 0)
    return bans(s, c, r, &who, seg[1]);
  if (nseg >= 2 && nseg <= 3 && strcmp(seg[0], "lists") == 0)
    return lists(s, c, r, &who, seg[1], seg[2]);
  if (nseg >= 1 && nseg <= 2 && strcmp(seg[0], "keys") == 0)
    return keys(s, c, r, &who, seg[1]);
  if (nseg == 1 && strcmp(seg[0], "usage") == 0)
    return usage(s, c, r, &who);
  return srv_reply_detail(c, r, MHD_HTTP_NOT_FOUND, "Not Found");
}
