/* Account administration: validate, write, audit (include/uc/admin.h). */
#include "uc/admin.h"
#include "uc/date.h"
#include "uc/email.h"
#include "uc/error.h"
#include "uc/ratelimit.h"

#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int fail(struct uc_admin_error *e, int rc, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(struct uc_admin_error *e, int rc, const char *field, const char *fmt, ...) {
  va_list ap;
  snprintf(e->field, sizeof e->field, "%s", field ? field : "");
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  return rc;
}

/* A store failure, worded by the store. */
static int store_fail(const struct uc_admin *a, struct uc_admin_error *e, int rc) {
  char why[200];
  uc_store_error(a->st, rc, why, sizeof why);
  return fail(e, rc, NULL, "The store failed: %s.", why);
}

static void init_error(struct uc_admin_error *e) {
  e->field[0] = e->msg[0] = 0;
}

/* Writes the audit row: detail (taken over) gets "via". An audit failure
 * does not undo the change it describes. */
static void audit(const struct uc_admin *a, int64_t account, const struct uc_actor *who,
                  const char *action, json_t *detail) {
  if (!detail)
    detail = json_object();
  if (who->via && who->key_id == 0)
    json_object_set_new(detail, "via", json_string(who->via));
  char *text = detail ? json_dumps(detail, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  uc_store_audit_add(a->st, account, who->key_id, action, text ? text : "{}");
  free(text);
  json_decref(detail);
}

static int dump(json_t *doc, char **json, struct uc_admin_error *e) {
  *json = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(doc);
  return *json ? UC_OK : fail(e, UC_ENOMEM, NULL, "Out of memory.");
}

/* The listings' last step: {name: arr} (plus color when not NULL) after the
 * store's each call returned rc and filled arr, which this takes over. */
static int listing(const struct uc_admin *a, int rc, const char *name, json_t *arr,
                   const char *color, char **json, struct uc_admin_error *e) {
  *json = NULL;
  if (rc) {
    json_decref(arr);
    return store_fail(a, e, rc);
  }
  json_t *doc =
      color ? json_pack("{s:s, s:o}", "color", color, name, arr) : json_pack("{s:o}", name, arr);
  return dump(doc, json, e);
}

/* ---- settings ---- */

int uc_admin_settings_update(const struct uc_admin *a, int64_t account, const struct uc_actor *who,
                             const char *patch, size_t len, struct uc_settings *out,
                             struct uc_admin_error *e) {
  char why[200];
  init_error(e);
  int rc = uc_settings_load(a->st, account, out, why, sizeof why);
  if (rc && rc != UC_EFORMAT) /* a stored row that no longer validates is replaced */
    return store_fail(a, e, rc);
  if (uc_settings_patch(out, patch, len, e->field, sizeof e->field, e->msg, sizeof e->msg))
    return UC_EINVAL;
  if ((rc = uc_settings_save(a->st, account, out)) != UC_OK)
    return store_fail(a, e, rc);
  audit(a, account, who, "settings.update", json_loadb(patch, len, 0, NULL));
  return UC_OK;
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

int uc_admin_list_json(const struct uc_admin *a, int64_t account, uc_category c, char **json,
                       struct uc_admin_error *e) {
  struct list_out o = {json_array(), c};
  init_error(e);
  int rc = uc_store_list_each(a->st, account, add_domain, &o);
  return listing(a, rc, "domains", o.arr, uc_category_name(c), json, e);
}

/* A domain as typed into its stored form; UC_EINVAL worded for domains. */
static int domain_of(const char *text, char name[UC_DOMAIN_MAX + 1], const char *field,
                     struct uc_admin_error *e) {
  char reason[UC_REASON_MAX];
  if (uc_domain_parse(text, strlen(text), name, reason, sizeof reason) != UC_OK)
    return fail(e, UC_EINVAL, field, "%s", reason);
  return UC_OK;
}

int uc_admin_list_add(const struct uc_admin *a, int64_t account, const struct uc_actor *who,
                      uc_category c, const char *domain, char name[UC_DOMAIN_MAX + 1],
                      struct uc_admin_error *e) {
  init_error(e);
  int rc = domain_of(domain, name, "domain", e);
  if (rc)
    return rc;
  rc = uc_store_list_add(a->st, account, c, name);
  if (rc == UC_EEXISTS)
    return fail(e, rc, "domain", "%s is already on the %s list.", name, uc_category_name(c));
  if (rc)
    return store_fail(a, e, rc);
  audit(a, account, who, "lists.add",
        json_pack("{s:s, s:s}", "color", uc_category_name(c), "domain", name));
  return UC_OK;
}

int uc_admin_list_remove(const struct uc_admin *a, int64_t account, const struct uc_actor *who,
                         uc_category c, const char *domain, char name[UC_DOMAIN_MAX + 1],
                         struct uc_admin_error *e) {
  init_error(e);
  int rc = domain_of(domain, name, "domain", e);
  if (rc)
    return rc;
  rc = uc_store_list_remove(a->st, account, c, name);
  if (rc == UC_ENOTFOUND)
    return fail(e, rc, "domain", "This domain is not on that list.");
  if (rc)
    return store_fail(a, e, rc);
  audit(a, account, who, "lists.remove",
        json_pack("{s:s, s:s}", "color", uc_category_name(c), "domain", name));
  return UC_OK;
}

int uc_admin_list_replace(const struct uc_admin *a, int64_t account, const struct uc_actor *who,
                          uc_category c, const char *const *domains, size_t n,
                          struct uc_admin_error *e) {
  init_error(e);
  if (n > UC_ADMIN_LIST_MAX)
    return fail(e, UC_EINVAL, "domains", "Must be an array of at most %d domain names.",
                UC_ADMIN_LIST_MAX);
  char(*names)[UC_DOMAIN_MAX + 1] = calloc(n ? n : 1, sizeof *names);
  const char **ptrs = calloc(n ? n : 1, sizeof *ptrs);
  int rc = names && ptrs ? UC_OK : fail(e, UC_ENOMEM, NULL, "Out of memory.");
  for (size_t i = 0; rc == UC_OK && i < n; i++) {
    char field[32];
    snprintf(field, sizeof field, "domains[%zu]", i);
    rc = domains[i] ? domain_of(domains[i], names[i], field, e)
                    : fail(e, UC_EINVAL, field, "Must be a string.");
    ptrs[i] = names[i];
  }
  if (rc == UC_OK && (rc = uc_store_list_replace(a->st, account, c, ptrs, n)) != UC_OK)
    store_fail(a, e, rc);
  if (rc == UC_OK)
    audit(a, account, who, "lists.replace",
          json_pack("{s:s, s:I}", "color", uc_category_name(c), "count", (json_int_t)n));
  free(names);
  free(ptrs);
  return rc;
}

/* ---- keys ---- */

static json_t *key_doc(const struct uc_key_rec *k) {
  char created[UC_TIME_ISO_MAX], used[UC_TIME_ISO_MAX];
  uc_time_format(k->created_at, UC_TIME_ISO, created, sizeof created);
  uc_time_format(k->last_used_at, UC_TIME_ISO, used, sizeof used);
  return json_pack("{s:I, s:s, s:s, s:s, s:s, s:s?, s:b, s:I, s:I}", "id", (json_int_t)k->id,
                   "name", k->name, "type", uc_key_type_name(k->type), "prefix", k->prefix,
                   "created_at", created, "last_used_at", k->last_used_at ? used : NULL, "revoked",
                   k->revoked_at != 0, "rate_limit_per_second", (json_int_t)k->rate_per_second,
                   "rate_limit_burst", (json_int_t)k->rate_burst);
}

char *uc_admin_key_json(const struct uc_key_rec *k, const char *key_text) {
  json_t *doc = key_doc(k);
  if (doc && key_text && *key_text)
    json_object_set_new(doc, "key", json_string(key_text)); /* the only time it is shown */
  char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(doc);
  return text;
}

struct keys_out {
  json_t *arr;
  int all;
};

static int add_key(void *arg, const struct uc_key_rec *k) {
  struct keys_out *o = arg;
  if (o->all || !k->revoked_at)
    json_array_append_new(o->arr, key_doc(k));
  return 0;
}

int uc_admin_keys_json(const struct uc_admin *a, int64_t account, int all, char **json,
                       struct uc_admin_error *e) {
  struct keys_out o = {json_array(), all};
  init_error(e);
  int rc = uc_store_key_each(a->st, account, add_key, &o);
  return listing(a, rc, "keys", o.arr, NULL, json, e);
}

int uc_admin_key_create(const struct uc_admin *a, int64_t account, const struct uc_actor *who,
                        const char *name, uc_key_type type, struct uc_key_rec *rec,
                        char key[UC_KEY_MAX + 1], struct uc_admin_error *e) {
  init_error(e);
  if (!name || !uc_name_valid(name))
    return fail(e, UC_EINVAL, "name", "Must be 1 to %d printable characters.", UC_NAME_MAX);
  if ((unsigned)type > UC_KEY_ADMIN)
    return fail(e, UC_EINVAL, "type", "Must be \"active\", \"sandbox\" or \"admin\".");
  int rc = uc_store_key_create(a->st, account, name, type, rec, key);
  if (rc)
    return store_fail(a, e, rc);
  audit(a, account, who, "keys.create",
        json_pack("{s:I, s:s, s:s}", "id", (json_int_t)rec->id, "name", rec->name, "type",
                  uc_key_type_name(rec->type)));
  return UC_OK;
}

static int count_admins(void *arg, const struct uc_key_rec *k) {
  *(int *)arg += k->type == UC_KEY_ADMIN && !k->revoked_at;
  return 0;
}

/* UC_EDENIED when k is the account's last live admin key. */
static int last_admin(const struct uc_admin *a, const struct uc_key_rec *k, const char *doing,
                      struct uc_admin_error *e) {
  int admins = 0;
  if (k->type != UC_KEY_ADMIN)
    return UC_OK;
  int rc = uc_store_key_each(a->st, k->account_id, count_admins, &admins);
  if (rc)
    return store_fail(a, e, rc);
  if (admins <= 1)
    return fail(e, UC_EDENIED, NULL,
                "The last admin key of an account cannot be %s: create another admin key first.",
                doing);
  return UC_OK;
}

/* New text for k, of k->type: its hash and prefix change, id and name stay. */
static int rekey(const struct uc_admin *a, struct uc_key_rec *k, char key[UC_KEY_MAX + 1]) {
  uint8_t secret[UC_KEY_SECRET_LEN];
  int rc = uc_store_secret(a->st, UC_KEY_SECRET_NAME, secret);
  size_t n = rc ? 0 : uc_key_generate(k->type, secret, key);
  sodium_memzero(secret, sizeof secret);
  if (!n)
    return rc ? rc : UC_EIO;
  snprintf(k->prefix, sizeof k->prefix, "%.*s", UC_KEY_PREFIX_SHOWN, key);
  uc_key_hash(key, n, k->hash);
  return UC_OK;
}

static int rate_invalid(const struct uc_admin_key_rate *r, struct uc_admin_error *e) {
  if (r && r->per_second > UC_RATE_MAX)
    return fail(e, UC_EINVAL, "rate_limit_per_second",
                "Must be an integer from 0 (the account's limit) to %d.", UC_RATE_MAX);
  if (r && r->burst > UC_RATE_MAX)
    return fail(e, UC_EINVAL, "rate_limit_burst",
                "Must be an integer from 0 (as many as per second) to %d.", UC_RATE_MAX);
  return UC_OK;
}

/* Applies the rate change to rec; the audit's changes say what moved. */
static void set_rate(struct uc_key_rec *rec, const struct uc_admin_key_rate *r, json_t *changes) {
  if (r && r->per_second >= 0) {
    rec->rate_per_second = (uint32_t)r->per_second;
    json_object_set_new(changes, "rate_limit_per_second", json_integer(r->per_second));
  }
  if (r && r->burst >= 0) {
    rec->rate_burst = (uint32_t)r->burst;
    json_object_set_new(changes, "rate_limit_burst", json_integer(r->burst));
  }
}

int uc_admin_key_update(const struct uc_admin *a, int64_t account, const struct uc_actor *who,
                        int64_t key_id, const char *name, int type,
                        const struct uc_admin_key_rate *rate, struct uc_key_rec *rec,
                        char new_key[UC_KEY_MAX + 1], struct uc_admin_error *e) {
  init_error(e);
  new_key[0] = 0;
  if (name && !uc_name_valid(name))
    return fail(e, UC_EINVAL, "name", "Must be 1 to %d printable characters.", UC_NAME_MAX);
  if (type >= 0 && type != UC_KEY_ACTIVE && type != UC_KEY_SANDBOX)
    return fail(e, UC_EINVAL, "type", "Must be \"active\" or \"sandbox\".");
  int rc = rate_invalid(rate, e);
  if (rc)
    return rc;
  rc = uc_store_key_get(a->st, account, key_id, rec);
  if (rc == UC_ENOTFOUND)
    return fail(e, rc, NULL, "This account has no live key with that id.");
  if (rc)
    return store_fail(a, e, rc);
  int retype = type >= 0 && (uc_key_type)type != rec->type;
  if (retype && (rc = last_admin(a, rec, "demoted", e)) != UC_OK)
    return rc;
  json_t *changes = json_object();
  if (name) {
    snprintf(rec->name, sizeof rec->name, "%s", name);
    json_object_set_new(changes, "name", json_string(name));
  }
  if (retype) {
    rec->type = (uc_key_type)type;
    if ((rc = rekey(a, rec, new_key)) !=
        UC_OK) { /* a ucl_test_ key that checks live would mislead */
      json_decref(changes);
      return store_fail(a, e, rc);
    }
    json_object_set_new(changes, "type", json_string(uc_key_type_name(rec->type)));
    json_object_set_new(changes, "new_text", json_true());
  }
  set_rate(rec, rate, changes);
  if ((rc = uc_store_key_update(a->st, rec)) != UC_OK) {
    json_decref(changes);
    new_key[0] = 0;
    return rc == UC_ENOTFOUND ? fail(e, rc, NULL, "This account has no live key with that id.")
                              : store_fail(a, e, rc);
  }
  audit(a, account, who, "keys.update",
        json_pack("{s:I, s:o}", "id", (json_int_t)key_id, "changes", changes));
  return UC_OK;
}

int uc_admin_key_revoke(const struct uc_admin *a, int64_t account, const struct uc_actor *who,
                        int64_t key_id, struct uc_admin_error *e) {
  struct uc_key_rec rec;
  init_error(e);
  if (who->key_id && key_id == who->key_id)
    return fail(e, UC_EDENIED, NULL, "A key cannot revoke itself.");
  int rc = uc_store_key_get(a->st, account, key_id, &rec);
  if (rc == UC_ENOTFOUND)
    return fail(e, rc, NULL, "This account has no live key with that id.");
  if (rc)
    return store_fail(a, e, rc);
  if ((rc = last_admin(a, &rec, "revoked", e)) != UC_OK)
    return rc;
  rc = uc_store_key_revoke(a->st, account, key_id, (int64_t)time(NULL));
  if (rc == UC_ENOTFOUND)
    return fail(e, rc, NULL, "This account has no live key with that id.");
  if (rc)
    return store_fail(a, e, rc);
  audit(a, account, who, "keys.revoke", json_pack("{s:I}", "id", (json_int_t)key_id));
  return UC_OK;
}

/* ---- bans ---- */

struct ban_list {
  json_t *arr;
  const struct uc_settings *set;
  char last[UC_IP_KEY_MAX];
};

static int add_ban(void *arg, const struct uc_ban_rec *b) {
  struct ban_list *bl = arg;
  char when[UC_TIME_ISO_MAX];
  struct uc_cidr c;
  uc_time_format(b->banned_at, UC_TIME_ISO, when, sizeof when);
  unsigned t = bl->set->ban_threshold;
  long left = b->banned_at || b->attempts >= t ? 0 : (long)(t - b->attempts);
  /* A /48 banned because enough prefixes inside it were (bans.md). */
  int aggregate = strchr(b->ip, ':') && uc_cidr_parse(b->ip, &c, NULL) == UC_OK && c.prefix == 48 &&
                  bl->set->ipv6_prefix > 48;
  json_array_append_new(bl->arr, json_pack("{s:s, s:i, s:i, s:b, s:s?, s:b}", "ip", b->ip,
                                           "attempts", (int)b->attempts, "remaining", (int)left,
                                           "banned", b->banned_at != 0, "banned_at",
                                           b->banned_at ? when : NULL, "aggregate", aggregate));
  snprintf(bl->last, sizeof bl->last, "%s", b->ip);
  return 0;
}

int uc_admin_bans_json(const struct uc_admin *a, int64_t account, const struct uc_settings *s,
                       const struct uc_ban_query *q, char **json, struct uc_admin_error *e) {
  struct ban_list bl = {json_array(), s, ""};
  struct uc_ban_query page = *q;
  int64_t now = (int64_t)time(NULL);
  int more = 0;
  init_error(e);
  *json = NULL;
  if (!page.limit || page.limit > UC_ADMIN_BANS_PAGE_MAX) {
    json_decref(bl.arr);
    return fail(e, UC_EINVAL, "limit", "Must be an integer from 1 to %d.", UC_ADMIN_BANS_PAGE_MAX);
  }
  page.lift_seconds = s->ban_lift_seconds, page.now = now; /* lifted bans are not listed */
  int rc = a->bans ? uc_bans_page(a->bans, account, s, now, &page, add_ban, &bl, &more)
                   : uc_store_ban_page(a->st, account, &page, add_ban, &bl, &more);
  if (rc) {
    json_decref(bl.arr);
    return store_fail(a, e, rc);
  }
  return dump(json_pack("{s:o, s:s?}", "bans", bl.arr, "next_cursor", more ? bl.last : NULL), json,
              e);
}

int uc_admin_unban(const struct uc_admin *a, int64_t account, const struct uc_actor *who,
                   const char *ip, unsigned v6_prefix, char key[UC_IP_KEY_MAX],
                   struct uc_admin_error *e) {
  init_error(e);
  if (uc_ip_key_parse(ip, v6_prefix, key) != UC_OK)
    return fail(e, UC_EINVAL, "ip", "Not an IP address.");
  int rc =
      a->bans ? uc_bans_unban(a->bans, account, key) : uc_store_ban_delete(a->st, account, key);
  if (rc && rc != UC_ENOTFOUND)
    return store_fail(a, e, rc);
  /* Audited even when nothing was stored: the unban reaches a running server. */
  if (rc == UC_OK || !a->bans)
    audit(a, account, who, "bans.unban", json_pack("{s:s}", "ip", key));
  return rc == UC_ENOTFOUND ? fail(e, rc, "ip", "This IP has no attempts counted.") : UC_OK;
}

int uc_admin_unban_all(const struct uc_admin *a, int64_t account, const struct uc_actor *who,
                       size_t *unbanned, struct uc_admin_error *e) {
  init_error(e);
  *unbanned = 0;
  int rc = a->bans ? uc_bans_unban_all(a->bans, account, unbanned)
                   : uc_store_ban_delete_all(a->st, account, unbanned);
  if (rc)
    return store_fail(a, e, rc);
  audit(a, account, who, "bans.unban_all", json_pack("{s:I}", "unbanned", (json_int_t)*unbanned));
  return UC_OK;
}

/* ---- audit ---- */

static int add_audit(void *arg, const struct uc_audit_rec *r) {
  char at[UC_TIME_ISO_MAX];
  uc_time_format(r->at, UC_TIME_ISO, at, sizeof at);
  json_t *detail = json_loads(r->detail ? r->detail : "{}", 0, NULL);
  json_array_append_new(arg, json_pack("{s:I, s:s, s:I, s:s, s:o*}", "id", (json_int_t)r->id, "at",
                                       at, "key_id", (json_int_t)r->key_id, "action",
                                       r->action ? r->action : "", "detail", detail));
  return 0;
}

int uc_admin_audit_json(const struct uc_admin *a, int64_t account, size_t limit, char **json,
                        struct uc_admin_error *e) {
  json_t *arr = json_array();
  init_error(e);
  int rc = uc_store_audit_each(a->st, account, limit, add_audit, arr);
  return listing(a, rc, "audit", arr, NULL, json, e);
}

/* ---- activity ---- */

/* A JSON string of text as recorded: any bytes that are not UTF-8 become '?'. */
static json_t *text_json(const char *text) {
  json_t *v = json_string(text);
  if (v)
    return v;
  char ascii[UC_ACTIVITY_TEXT_MAX + 1];
  size_t n = 0;
  for (; text[n] && n < sizeof ascii - 1; n++)
    ascii[n] = (unsigned char)text[n] < 0x80 ? text[n] : '?';
  ascii[n] = 0;
  return json_string(ascii);
}

static int add_key_name(void *arg, const struct uc_key_rec *k) {
  char id[24];
  snprintf(id, sizeof id, "%lld", (long long)k->id);
  json_object_set_new(arg, id,
                      json_pack("{s:I, s:s, s:s}", "id", (json_int_t)k->id, "name", k->name, "type",
                                uc_key_type_name(k->type)));
  return 0;
}

static json_t *activity_check(const struct uc_activity_entry *en, const json_t *keys, int emails) {
  char at[UC_TIME_ISO_MAX], id[24];
  uc_time_format(en->at, UC_TIME_ISO, at, sizeof at);
  snprintf(id, sizeof id, "%lld", (long long)en->key_id);
  const char *dom = en->is_address ? strrchr(en->text, '@') : NULL;
  json_t *key = json_object_get(keys, id);
  key = key ? json_incref(key)
            : json_pack("{s:I, s:n, s:s}", "id", (json_int_t)en->key_id, "name", "type",
                        uc_key_type_name(en->key_type));
  return json_pack("{s:I, s:s, s:o, s:o, s:s, s:s?, s:o, s:s?}", "seq", (json_int_t)en->seq, "at",
                   at, "domain", text_json(dom ? dom + 1 : en->text), "email",
                   en->is_address && emails ? text_json(en->text) : json_null(), "category",
                   uc_usage_outcome_name(en->outcome), "type",
                   en->outcome == UC_USAGE_BANNED ? NULL : uc_type_name(en->type), "key", key, "ip",
                   en->ip[0] ? en->ip : NULL);
}

static json_t *activity_tops(const struct uc_activity_top *t, size_t n, const char *what) {
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(arr, json_pack("{s:o, s:I, s:I}", what, text_json(t[i].name), "count",
                                         (json_int_t)t[i].count, "over", (json_int_t)t[i].over));
  return arr;
}

int uc_admin_activity_json(const struct uc_admin *a, int64_t account, const struct uc_settings *s,
                           uint64_t since, int64_t now, char **json, struct uc_admin_error *e) {
  char day[11];
  init_error(e);
  *json = NULL;
  if (!a->activity)
    return fail(e, UC_EUNAVAILABLE, NULL, "The activity feed is off (activity_accounts = 0).");
  struct uc_activity_view *v = malloc(sizeof *v);
  json_t *keys = json_object(), *checks = json_array();
  int rc = v && keys && checks ? uc_store_key_each(a->st, account, add_key_name, keys) : UC_ENOMEM;
  if (rc) {
    free(v);
    json_decref(keys);
    json_decref(checks);
    return rc == UC_ENOMEM ? fail(e, rc, NULL, "Out of memory.") : store_fail(a, e, rc);
  }
  if (uc_store_shared(a->st)) { /* every server's checks: this one's newest first to the store */
    uc_activity_flush(a->activity, a->st);
    rc = uc_store_activity_read(a->st, account, since, (unsigned)(now / 86400), v);
  } else {
    uc_activity_read(a->activity, account, since, (unsigned)(now / 86400), v);
  }
  if (rc) {
    free(v);
    json_decref(keys);
    json_decref(checks);
    return store_fail(a, e, rc);
  }
  for (size_t i = 0; i < v->n; i++)
    json_array_append_new(checks, activity_check(&v->entries[i], keys, s->activity_emails));
  uc_date_format(v->day, day);
  json_t *doc = json_pack("{s:s, s:b, s:I, s:o, s:o, s:o}", "day", day, "emails_shown",
                          s->activity_emails, "last_seq", (json_int_t)v->last_seq, "checks", checks,
                          "top_domains", activity_tops(v->domains, v->ndomains, "domain"),
                          "top_ips", activity_tops(v->ips, v->nips, "ip"));
  json_decref(keys);
  free(v);
  return dump(doc, json, e);
}

/* ---- paths ---- */

/* 1..UC_ADMIN_ITEM_MAX bytes; a '/' only inside a ban key ("2001:db8::/64"),
 * never making an empty segment ("bans//x", "bans/1.2.3.4/"). */
static int item_ok(const char *p, size_t n, int slashes) {
  if (n == 0 || n > UC_ADMIN_ITEM_MAX)
    return 0;
  if (!slashes)
    return !memchr(p, '/', n);
  return p[0] != '/' && p[n - 1] != '/' && !memmem(p, n, "//", 2);
}

int uc_admin_path_parse(const char *path, size_t len, struct uc_admin_path *out) {
  static const struct {
    const char *name;
    enum uc_admin_resource r;
  } names[] = {
      {"settings", UC_ADMIN_SETTINGS}, {"bans", UC_ADMIN_BANS},   {"lists", UC_ADMIN_LISTS},
      {"keys", UC_ADMIN_KEYS},         {"usage", UC_ADMIN_USAGE}, {"audit", UC_ADMIN_AUDIT},
      {"sources", UC_ADMIN_SOURCES},   {"try", UC_ADMIN_TRY},     {"activity", UC_ADMIN_ACTIVITY}};
  memset(out, 0, sizeof *out);
  if (memchr(path, 0, len)) /* "lists/grey\0" must not name lists/grey */
    return UC_ENOTFOUND;
  const char *slash = memchr(path, '/', len);
  size_t head = slash ? (size_t)(slash - path) : len;
  const char *rest = slash ? slash + 1 : NULL;
  size_t rest_len = slash ? len - head - 1 : 0;
  size_t i = 0;
  while (i < sizeof names / sizeof names[0] &&
         (strlen(names[i].name) != head || memcmp(path, names[i].name, head) != 0))
    i++;
  if (i == sizeof names / sizeof names[0])
    return UC_ENOTFOUND;
  out->resource = names[i].r;
  if (out->resource == UC_ADMIN_LISTS) { /* lists/COLOR[/DOMAIN]: a colour is required */
    if (!rest)
      return UC_ENOTFOUND;
    const char *s2 = memchr(rest, '/', rest_len);
    size_t cn = s2 ? (size_t)(s2 - rest) : rest_len;
    char color[8];
    if (cn == 0 || cn >= sizeof color)
      return UC_ENOTFOUND;
    memcpy(color, rest, cn);
    color[cn] = 0;
    if (uc_category_parse(color, &out->color) != UC_OK)
      return UC_ENOTFOUND;
    rest = s2 ? s2 + 1 : NULL;
    rest_len = s2 ? rest_len - cn - 1 : 0;
  }
  if (!rest)
    return UC_OK;
  int collection_only = out->resource != UC_ADMIN_BANS && out->resource != UC_ADMIN_LISTS &&
                        out->resource != UC_ADMIN_KEYS;
  if (!item_ok(rest, rest_len, out->resource == UC_ADMIN_BANS) || collection_only)
    return UC_ENOTFOUND;
  memcpy(out->item, rest, rest_len);
  out->item[rest_len] = 0;
  out->has_item = 1;
  return UC_OK;
}
