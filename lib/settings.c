/* Account settings: defaults, JSON form, validated patches (jansson). */
#include "uc/settings.h"
#include "uc/error.h"
#include "uc/ratelimit.h"

#include <jansson.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The types whose colour an account may choose (SPEC §3). */
static const uc_type configurable[] = {UC_T_MASKED, UC_T_NO_WEBSITE, UC_T_MULTI_ALIAS,
                                       UC_T_SUSPICIOUS, UC_T_YOUNG};
#define NCONF (sizeof configurable / sizeof configurable[0])

void uc_settings_init(struct uc_settings *s) {
  struct uc_policy p;
  memset(s, 0, sizeof *s);
  s->ban_enabled = 1;
  s->ban_threshold = 5;
  s->ipv6_prefix = 64;
  s->ipv6_aggregate = 8;
  s->alias_chains = 1;
  s->alias_window_days = 30;
  s->young_domain_days = UC_YOUNG_DAYS_DEFAULT;
  uc_policy_init(&p);
  memcpy(s->colors, p.color, sizeof s->colors);
}

static json_t *to_doc(const struct uc_settings *s) {
  json_t *colors = json_object(), *never = json_array();
  for (size_t i = 0; colors && i < NCONF; i++)
    json_object_set_new(colors, uc_type_name(configurable[i]),
                        json_string(uc_category_name(s->colors[configurable[i]])));
  for (size_t i = 0; never && i < s->never_ban_count; i++)
    json_array_append_new(never, json_string(s->never_ban_text[i]));
  return json_pack("{s:b, s:i, s:i, s:i, s:i, s:b, s:o*, s:b, s:i, s:i, s:i, s:i, s:b, s:b, s:o*}",
                   "ban_enabled", s->ban_enabled, "ban_threshold", (int)s->ban_threshold,
                   "ban_lift_seconds", (int)s->ban_lift_seconds, "ipv6_prefix", (int)s->ipv6_prefix,
                   "ipv6_aggregate", (int)s->ipv6_aggregate, "ban_loopback", s->ban_loopback,
                   "never_ban", never, "alias_chains", s->alias_chains, "alias_window_days",
                   (int)s->alias_window_days, "rate_limit_per_second",
                   (int)s->rate_limit_per_second, "rate_limit_burst", (int)s->rate_limit_burst,
                   "young_domain_days", (int)s->young_domain_days, "count_typos", s->count_typos,
                   "activity_emails", s->activity_emails, "colors", colors);
}

static int bad(char *field, size_t fs, const char *name, char *msg, size_t ms, const char *text) {
  snprintf(field, fs, "%s", name);
  snprintf(msg, ms, "%s", text);
  return UC_EINVAL;
}

static int int_in(const json_t *v, long lo, long hi) {
  return json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi;
}

static int patch_colors(struct uc_settings *s, const json_t *obj, char *field, size_t fs, char *msg,
                        size_t ms) {
  const char *name;
  json_t *v;
  if (!json_is_object(obj))
    return bad(field, fs, "colors", msg, ms, "must be an object of type: color");
  json_object_foreach((json_t *)obj, name, v) {
    uc_type t;
    uc_category c;
    char where[96];
    snprintf(where, sizeof where, "colors.%s", name);
    int known = uc_type_parse(name, &t) == UC_OK;
    int conf = 0;
    for (size_t i = 0; known && i < NCONF; i++)
      conf |= configurable[i] == t;
    if (!conf)
      return bad(field, fs, where, msg, ms,
                 "not a configurable type: masked legitimate, no website, multi-alias services, "
                 "suspicious signs, young domain");
    if (!json_is_string(v) || uc_category_parse(json_string_value(v), &c) != UC_OK)
      return bad(field, fs, where, msg, ms, "must be \"white\", \"grey\" or \"black\"");
    if (!uc_policy_color_allowed(t, c)) {
      snprintf(msg, ms, "%s cannot be %s (allowed: %s)", name, json_string_value(v),
               t == UC_T_MASKED || t == UC_T_NO_WEBSITE ? "black, grey" : "white, grey, black");
      snprintf(field, fs, "%s", where);
      return UC_EINVAL;
    }
    s->colors[t] = c;
  }
  return UC_OK;
}

static int patch_never_ban(struct uc_settings *s, const json_t *arr, char *field, size_t fs,
                           char *msg, size_t ms) {
  size_t i;
  json_t *v;
  if (!json_is_array(arr))
    return bad(field, fs, "never_ban", msg, ms, "must be an array of IP addresses or CIDR ranges");
  if (json_array_size(arr) > UC_NEVER_BAN_MAX)
    return bad(field, fs, "never_ban", msg, ms, "at most 64 ranges");
  s->never_ban_count = 0;
  json_array_foreach(arr, i, v) {
    char where[32];
    snprintf(where, sizeof where, "never_ban[%zu]", i);
    if (!json_is_string(v) ||
        uc_cidr_parse(json_string_value(v), &s->never_ban[i], s->never_ban_text[i]) != UC_OK)
      return bad(field, fs, where, msg, ms, "not an IP address or CIDR range (e.g. 10.0.0.0/8)");
    s->never_ban_count = i + 1;
  }
  return UC_OK;
}

char *uc_settings_to_json(const struct uc_settings *s) {
  json_t *doc = to_doc(s);
  char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
  json_decref(doc);
  return text;
}

/* The true/false settings, by name. */
static int *bool_member(struct uc_settings *s, const char *name) {
  static const struct {
    const char *name;
    size_t off;
  } bools[] = {{"ban_enabled", offsetof(struct uc_settings, ban_enabled)},
               {"alias_chains", offsetof(struct uc_settings, alias_chains)},
               {"count_typos", offsetof(struct uc_settings, count_typos)},
               {"activity_emails", offsetof(struct uc_settings, activity_emails)},
               {"ban_loopback", offsetof(struct uc_settings, ban_loopback)}};
  for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++)
    if (strcmp(name, bools[i].name) == 0)
      return (int *)((char *)s + bools[i].off);
  return NULL;
}

static int patch_doc(struct uc_settings *s, const json_t *patch, char *field, size_t fs, char *msg,
                     size_t ms) {
  struct uc_settings next = *s; /* all or nothing */
  const char *name;
  json_t *v;
  int rc = UC_OK, *flag;
  if (!json_is_object(patch))
    return bad(field, fs, "body", msg, ms, "must be a JSON object");
  json_object_foreach((json_t *)patch, name, v) {
    if ((flag = bool_member(&next, name)) != NULL) {
      if (!json_is_boolean(v))
        return bad(field, fs, name, msg, ms, "must be true or false");
      *flag = json_is_true(v);
    } else if (strcmp(name, "ban_threshold") == 0) {
      if (!int_in(v, 1, UC_THRESHOLD_MAX))
        return bad(field, fs, name, msg, ms, "must be an integer from 1 to 100");
      next.ban_threshold = (unsigned)json_integer_value(v);
    } else if (strcmp(name, "ban_lift_seconds") == 0) {
      if (!int_in(v, 0, 366L * 86400))
        return bad(field, fs, name, msg, ms, "must be an integer from 0 (never) to 31622400");
      next.ban_lift_seconds = (unsigned)json_integer_value(v);
    } else if (strcmp(name, "alias_window_days") == 0) {
      if (!int_in(v, 1, 366))
        return bad(field, fs, name, msg, ms, "must be an integer from 1 to 366");
      next.alias_window_days = (unsigned)json_integer_value(v);
    } else if (strcmp(name, "young_domain_days") == 0) {
      if (!int_in(v, 1, UC_YOUNG_DAYS_MAX))
        return bad(field, fs, name, msg, ms, "must be an integer from 1 to 3650");
      next.young_domain_days = (unsigned)json_integer_value(v);
    } else if (strcmp(name, "ipv6_prefix") == 0) {
      if (!int_in(v, 1, 128))
        return bad(field, fs, name, msg, ms, "must be an integer from 1 to 128");
      next.ipv6_prefix = (unsigned)json_integer_value(v);
    } else if (strcmp(name, "rate_limit_per_second") == 0 ||
               strcmp(name, "rate_limit_burst") == 0) {
      if (!int_in(v, 0, UC_RATE_MAX))
        return bad(field, fs, name, msg, ms, "must be an integer from 0 (no limit) to 1000000");
      unsigned *slot = strcmp(name, "rate_limit_burst") == 0 ? &next.rate_limit_burst
                                                             : &next.rate_limit_per_second;
      *slot = (unsigned)json_integer_value(v);
    } else if (strcmp(name, "ipv6_aggregate") == 0) {
      if (!int_in(v, 0, 256))
        return bad(field, fs, name, msg, ms,
                   "must be an integer from 0 (off) to 256: banned prefixes in one /48 that ban "
                   "the /48");
      next.ipv6_aggregate = (unsigned)json_integer_value(v);
    } else if (strcmp(name, "never_ban") == 0) {
      rc = patch_never_ban(&next, v, field, fs, msg, ms);
    } else if (strcmp(name, "colors") == 0) {
      rc = patch_colors(&next, v, field, fs, msg, ms);
    } else {
      return bad(field, fs, name, msg, ms, "unknown setting");
    }
    if (rc)
      return rc;
  }
  *s = next;
  return UC_OK;
}

int uc_settings_patch(struct uc_settings *s, const char *patch, size_t len, char *field, size_t fs,
                      char *msg, size_t ms) {
  json_error_t e;
  json_t *doc = json_loadb(patch, len, 0, &e);
  int rc = doc ? patch_doc(s, doc, field, fs, msg, ms)
               : bad(field, fs, "body", msg, ms, "must be a JSON object");
  json_decref(doc);
  return rc;
}

char *uc_settings_patch_from_pairs(const char *const *pairs, size_t npairs) {
  json_t *patch = json_object(), *colors = NULL;
  for (size_t i = 0; patch && i + 1 < npairs; i += 2) {
    json_t *v = json_loads(pairs[i + 1], JSON_DECODE_ANY, NULL);
    if (!v)
      v = json_string(pairs[i + 1]);
    if (strncmp(pairs[i], "colors.", 7) == 0) {
      if (!colors)
        json_object_set_new(patch, "colors", colors = json_object());
      json_object_set_new(colors, pairs[i] + 7, v);
    } else {
      json_object_set_new(patch, pairs[i], v);
    }
  }
  char *text = patch ? json_dumps(patch, JSON_COMPACT) : NULL;
  json_decref(patch);
  return text;
}

int uc_settings_load(uc_store *st, int64_t account, struct uc_settings *s, char *why,
                     size_t why_size) {
  char *json = NULL, field[96], msg[200];
  uc_settings_init(s);
  int rc = uc_store_settings_get(st, account, &json);
  if (rc == UC_OK && json) {
    struct uc_settings stored = *s;
    if (uc_settings_patch(&stored, json, strlen(json), field, sizeof field, msg, sizeof msg) ==
        UC_OK)
      *s = stored;
    else
      rc = UC_EFORMAT, snprintf(why, why_size, "%s", msg);
  }
  free(json);
  return rc;
}

int uc_settings_save(uc_store *st, int64_t account, const struct uc_settings *s) {
  char *text = uc_settings_to_json(s);
  int rc = text ? uc_store_settings_put(st, account, text) : UC_ENOMEM;
  free(text);
  return rc;
}

void uc_settings_policy(const struct uc_settings *s, struct uc_policy *p) {
  memcpy(p->color, s->colors, sizeof p->color);
  p->young_days = s->young_domain_days;
}

int uc_settings_never_ban(const struct uc_settings *s, const struct uc_ip *ip) {
  for (size_t i = 0; i < s->never_ban_count; i++)
    if (uc_cidr_contains(&s->never_ban[i], ip))
      return 1;
  return 0;
}

struct listed {
  struct uc_account_policy *p;
  int rc;
};

static int add_listed(void *arg, const struct uc_list_rec *l) {
  struct listed *x = arg;
  if ((unsigned)l->color < 3 &&
      uc_domset_add(x->p->lists[l->color], l->domain, strlen(l->domain)) == UC_ENOMEM)
    x->rc = UC_ENOMEM;
  return x->rc != UC_OK;
}

int uc_account_policy_load(uc_store *st, int64_t account, struct uc_account_policy *p) {
  char why[200];
  memset(p, 0, sizeof *p);
  uc_policy_init(&p->policy);
  int rc = uc_settings_load(st, account, &p->settings, why, sizeof why);
  if (rc == UC_EFORMAT)
    rc = UC_OK; /* the defaults, as the server does */
  uc_settings_policy(&p->settings, &p->policy);
  for (int c = 0; c < 3; c++)
    if (!(p->lists[c] = uc_domset_new()))
      return UC_ENOMEM;
    else
      p->policy.list[c] = p->lists[c];
  struct listed x = {p, UC_OK};
  if (!rc)
    rc = uc_store_list_each(st, account, add_listed, &x);
  return rc ? rc : x.rc;
}

void uc_account_policy_release(struct uc_account_policy *p) {
  for (int c = 0; c < 3; c++)
    uc_domset_free(p->lists[c]), p->lists[c] = NULL;
}
