/* Account administration (lib/admin.c) and usage reports (lib/usage.c) over a real store. */
#include "unit.h"

#include "uc/admin.h"
#include "uc/usage.h"

#include <ftw.h>
#include <jansson.h>
#include <time.h>

/* ---- fixture: a fresh store with two accounts ---- */

struct fx {
  char dir[64], path[96];
  uc_store *st;
  struct uc_admin ad;       /* without a ban cache, as the CLI has */
  int64_t acc, other;       /* "acme" and "other" */
  struct uc_key_rec admin;  /* acme's first admin key */
  struct uc_actor cli, api; /* the CLI; the API acting with admin */
};

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

static int setup(void **state) {
  struct fx *f = calloc(1, sizeof *f);
  struct uc_account_rec a, o;
  char err[256], text[UC_KEY_MAX + 1];
  *state = f;
  if (!f)
    return -1;
  snprintf(f->dir, sizeof f->dir, "/tmp/uc-admin-XXXXXX");
  if (!mkdtemp(f->dir))
    return -1;
  snprintf(f->path, sizeof f->path, "%s/store.db", f->dir);
  if (uc_store_open(f->path, UC_STORE_CREATE, &f->st, err, sizeof err) != UC_OK ||
      uc_store_account_create(f->st, "acme", &a) != UC_OK ||
      uc_store_account_create(f->st, "other", &o) != UC_OK ||
      uc_store_key_create(f->st, a.id, "root", UC_KEY_ADMIN, &f->admin, text) != UC_OK)
    return -1;
  f->ad = (struct uc_admin){.st = f->st};
  f->acc = a.id, f->other = o.id;
  f->cli = (struct uc_actor){0, "cli"};
  f->api = (struct uc_actor){f->admin.id, "api"};
  return 0;
}

static int teardown(void **state) {
  struct fx *f = *state;
  uc_store_close(f->st);
  nftw(f->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
  free(f);
  return 0;
}

/* ---- the audit trail ---- */

struct audit_seen {
  size_t n;
  int64_t key_id;
  char action[32], detail[512]; /* the newest row's */
};

static int on_audit(void *arg, const struct uc_audit_rec *a) {
  struct audit_seen *s = arg;
  if (s->n++ == 0) {
    s->key_id = a->key_id;
    snprintf(s->action, sizeof s->action, "%s", a->action);
    snprintf(s->detail, sizeof s->detail, "%s", a->detail);
  }
  return 0;
}

static size_t audit_rows(struct fx *f, struct audit_seen *s) {
  memset(s, 0, sizeof *s);
  assert_int_equal(uc_store_audit_each(f->st, f->acc, 1000, on_audit, s), UC_OK);
  return s->n;
}

/* Exactly one row since before: action, made by who, its detail holding want (may be NULL). */
static void expect_audit(struct fx *f, size_t before, const char *action,
                         const struct uc_actor *who, const char *want) {
  struct audit_seen s;
  assert_int_equal(audit_rows(f, &s), before + 1);
  assert_string_equal(s.action, action);
  assert_int_equal(s.key_id, who->key_id);
  json_t *doc = json_loads(s.detail, 0, NULL);
  assert_non_null(doc); /* JSON text */
  json_decref(doc);
  if (who->key_id == 0)
    assert_non_null(strstr(s.detail, "\"via\":\"cli\""));
  else
    assert_null(strstr(s.detail, "\"via\"")); /* the key says who */
  if (want && !strstr(s.detail, want))
    fail_msg("audit detail %s lacks %s", s.detail, want);
}

static void expect_no_audit(struct fx *f, size_t before) {
  struct audit_seen s;
  assert_int_equal(audit_rows(f, &s), before);
}

static void expect_invalid(int rc, const struct uc_admin_error *e, const char *field) {
  assert_int_equal(rc, UC_EINVAL);
  assert_string_equal(e->field, field);
  assert_true(strlen(e->msg) > 0);
}

/* ---- settings ---- */

static void test_settings_update(void **state) {
  struct fx *f = *state;
  struct uc_settings out, loaded;
  struct uc_admin_error e;
  struct audit_seen s;
  size_t before = audit_rows(f, &s);
  const char *patch = "{\"ban_threshold\":3}";
  assert_int_equal(
      uc_admin_settings_update(&f->ad, f->acc, &f->cli, patch, strlen(patch), &out, &e), UC_OK);
  assert_int_equal(out.ban_threshold, 3);
  expect_audit(f, before, "settings.update", &f->cli, "\"ban_threshold\":3");
  patch = "{\"ipv6_prefix\":56}"; /* a patch applies over what is stored */
  assert_int_equal(
      uc_admin_settings_update(&f->ad, f->acc, &f->api, patch, strlen(patch), &out, &e), UC_OK);
  expect_audit(f, before + 1, "settings.update", &f->api, "\"ipv6_prefix\":56");
  char why[200];
  assert_int_equal(uc_settings_load(f->st, f->acc, &loaded, why, sizeof why), UC_OK);
  assert_int_equal(loaded.ban_threshold, 3);
  assert_int_equal(loaded.ipv6_prefix, 56);
  assert_int_equal(uc_settings_load(f->st, f->other, &loaded, why, sizeof why), UC_OK);
  assert_int_equal(loaded.ban_threshold, 5); /* not the other account's */
}

static void test_settings_update_refused(void **state) {
  struct fx *f = *state;
  static const struct {
    const char *patch, *field;
  } bad[] = {{"{\"ban_threshold\":0}", "ban_threshold"},
             {"{\"ban_threshold\":2,\"ipv6_prefix\":999}", "ipv6_prefix"},
             {"{\"colors\":{\"suspicious signs\":\"pink\"}}", "colors.suspicious signs"},
             {"[1]", "body"},
             {"{not json", "body"}};
  struct audit_seen s;
  size_t before = audit_rows(f, &s);
  for (size_t i = 0; i < COUNT(bad); i++) {
    struct uc_settings out;
    struct uc_admin_error e;
    int rc = uc_admin_settings_update(&f->ad, f->acc, &f->cli, bad[i].patch, strlen(bad[i].patch),
                                      &out, &e);
    expect_invalid(rc, &e, bad[i].field);
  }
  char *json = (char *)"unchanged";
  assert_int_equal(uc_store_settings_get(f->st, f->acc, &json), UC_OK);
  assert_null(json); /* nothing was written */
  expect_no_audit(f, before);
}

/* ---- domain lists ---- */

struct find {
  int64_t acc;
  uc_category c;
  const char *domain;
  int found;
};

static int on_list(void *arg, const struct uc_list_rec *l) {
  struct find *q = arg;
  q->found += l->account_id == q->acc && l->color == q->c && strcmp(l->domain, q->domain) == 0;
  return 0;
}

static int has_domain(struct fx *f, int64_t acc, uc_category c, const char *domain) {
  struct find q = {acc, c, domain, 0};
  assert_int_equal(uc_store_list_each(f->st, 0, on_list, &q), UC_OK);
  return q.found;
}

static void test_list_add(void **state) {
  struct fx *f = *state;
  struct uc_admin_error e;
  struct audit_seen s;
  char name[UC_DOMAIN_MAX + 1];
  size_t before = audit_rows(f, &s);
  assert_int_equal(uc_admin_list_add(&f->ad, f->acc, &f->cli, UC_BLACK, "Example.COM", name, &e),
                   UC_OK);
  assert_string_equal(name, "example.com"); /* the stored form */
  assert_true(has_domain(f, f->acc, UC_BLACK, "example.com"));
  assert_false(has_domain(f, f->other, UC_BLACK, "example.com"));
  expect_audit(f, before, "lists.add", &f->cli, "\"domain\":\"example.com\"");
  assert_int_equal(uc_admin_list_add(&f->ad, f->acc, &f->api, UC_WHITE, "bücher.com", name, &e),
                   UC_OK);
  assert_string_equal(name, "xn--bcher-kva.com");
  expect_audit(f, before + 1, "lists.add", &f->api, "\"color\":\"white\"");
  assert_int_equal(uc_admin_list_add(&f->ad, f->acc, &f->cli, UC_BLACK, "example.com", name, &e),
                   UC_EEXISTS);
  assert_string_equal(e.field, "domain");
  expect_invalid(uc_admin_list_add(&f->ad, f->acc, &f->cli, UC_BLACK, "co.uk", name, &e), &e,
                 "domain"); /* a public suffix */
  expect_invalid(uc_admin_list_add(&f->ad, f->acc, &f->cli, UC_BLACK, "not a domain", name, &e), &e,
                 "domain");
  expect_invalid(uc_admin_list_add(&f->ad, f->acc, &f->cli, UC_BLACK, "test.example", name, &e), &e,
                 "domain"); /* reserved */
  assert_false(has_domain(f, f->acc, UC_BLACK, "co.uk"));
  expect_no_audit(f, before + 2);
}

static void test_list_remove(void **state) {
  struct fx *f = *state;
  struct uc_admin_error e;
  struct audit_seen s;
  char name[UC_DOMAIN_MAX + 1];
  assert_int_equal(uc_store_list_add(f->st, f->acc, UC_GREY, "example.org"), UC_OK);
  size_t before = audit_rows(f, &s);
  assert_int_equal(uc_admin_list_remove(&f->ad, f->acc, &f->cli, UC_BLACK, "example.org", name, &e),
                   UC_ENOTFOUND); /* another colour */
  assert_true(strlen(e.msg) > 0);
  expect_invalid(uc_admin_list_remove(&f->ad, f->acc, &f->cli, UC_GREY, "a b", name, &e), &e,
                 "domain");
  expect_no_audit(f, before);
  assert_int_equal(uc_admin_list_remove(&f->ad, f->acc, &f->cli, UC_GREY, "EXAMPLE.org", name, &e),
                   UC_OK);
  assert_string_equal(name, "example.org");
  assert_false(has_domain(f, f->acc, UC_GREY, "example.org"));
  expect_audit(f, before, "lists.remove", &f->cli, "\"domain\":\"example.org\"");
}

static void test_list_replace(void **state) {
  struct fx *f = *state;
  struct uc_admin_error e;
  struct audit_seen s;
  assert_int_equal(uc_store_list_add(f->st, f->acc, UC_BLACK, "old.com"), UC_OK);
  assert_int_equal(uc_store_list_add(f->st, f->acc, UC_WHITE, "white.com"), UC_OK);
  size_t before = audit_rows(f, &s);
  const char *const bad[] = {"new.com", "not a domain"};
  expect_invalid(uc_admin_list_replace(&f->ad, f->acc, &f->cli, UC_BLACK, bad, 2, &e), &e,
                 "domains[1]");
  const char *const null[] = {NULL};
  expect_invalid(uc_admin_list_replace(&f->ad, f->acc, &f->cli, UC_BLACK, null, 1, &e), &e,
                 "domains[0]");
  const char *const suffix[] = {"a.com", "b.com", "co.uk"};
  expect_invalid(uc_admin_list_replace(&f->ad, f->acc, &f->cli, UC_BLACK, suffix, 3, &e), &e,
                 "domains[2]");
  assert_true(has_domain(f, f->acc, UC_BLACK, "old.com")); /* all or nothing */
  assert_false(has_domain(f, f->acc, UC_BLACK, "new.com"));
  expect_no_audit(f, before);
  const char *const good[] = {"New.Com", "second.com"};
  assert_int_equal(uc_admin_list_replace(&f->ad, f->acc, &f->cli, UC_BLACK, good, 2, &e), UC_OK);
  assert_true(has_domain(f, f->acc, UC_BLACK, "new.com"));
  assert_true(has_domain(f, f->acc, UC_BLACK, "second.com"));
  assert_false(has_domain(f, f->acc, UC_BLACK, "old.com"));
  assert_true(has_domain(f, f->acc, UC_WHITE, "white.com")); /* other colours stay */
  expect_audit(f, before, "lists.replace", &f->cli, "\"count\":2");
}

static void test_list_replace_too_many(void **state) {
  struct fx *f = *state;
  struct uc_admin_error e;
  size_t n = UC_ADMIN_LIST_MAX + 1;
  const char **many = calloc(n, sizeof *many);
  assert_non_null(many);
  for (size_t i = 0; i < n; i++)
    many[i] = "a.com";
  expect_invalid(uc_admin_list_replace(&f->ad, f->acc, &f->cli, UC_BLACK, many, n, &e), &e,
                 "domains");
  free(many);
}

static void test_list_json(void **state) {
  struct fx *f = *state;
  struct uc_admin_error e;
  char *json = NULL;
  uc_store_list_add(f->st, f->acc, UC_BLACK, "b.com");
  uc_store_list_add(f->st, f->acc, UC_BLACK, "a.com");
  uc_store_list_add(f->st, f->acc, UC_GREY, "grey.com");
  uc_store_list_add(f->st, f->other, UC_BLACK, "theirs.com");
  assert_int_equal(uc_admin_list_json(&f->ad, f->acc, UC_BLACK, &json, &e), UC_OK);
  assert_string_equal(json, "{\"color\":\"black\",\"domains\":[\"a.com\",\"b.com\"]}");
  free(json);
}

/* ---- keys ---- */

static int live(struct fx *f, int64_t key_id, struct uc_key_rec *out) {
  return uc_store_key_get(f->st, f->acc, key_id, out) == UC_OK;
}

static int by_text(struct fx *f, const char *text, struct uc_key_rec *out) {
  uint8_t h[UC_KEY_HASH_LEN];
  uc_key_hash(text, strlen(text), h);
  return uc_store_key_by_hash(f->st, h, out) == UC_OK;
}

static void test_key_create(void **state) {
  struct fx *f = *state;
  struct uc_admin_error e;
  struct uc_key_rec rec, got;
  struct audit_seen s;
  char text[UC_KEY_MAX + 1], long_name[UC_NAME_MAX + 2];
  size_t before = audit_rows(f, &s);
  assert_int_equal(
      uc_admin_key_create(&f->ad, f->acc, &f->cli, "ci", UC_KEY_SANDBOX, &rec, text, &e), UC_OK);
  assert_memory_equal(text, "ucl_test_", 9);
  assert_true(by_text(f, text, &got));
  assert_int_equal(got.id, rec.id);
  assert_int_equal(got.account_id, f->acc);
  assert_string_equal(got.name, "ci");
  expect_audit(f, before, "keys.create", &f->cli, "\"type\":\"sandbox\"");
  memset(long_name, 'n', UC_NAME_MAX + 1);
  long_name[UC_NAME_MAX + 1] = 0;
  expect_invalid(uc_admin_key_create(&f->ad, f->acc, &f->cli, "", UC_KEY_ACTIVE, &rec, text, &e),
                 &e, "name");
  expect_invalid(
      uc_admin_key_create(&f->ad, f->acc, &f->cli, long_name, UC_KEY_ACTIVE, &rec, text, &e), &e,
      "name");
  expect_invalid(uc_admin_key_create(&f->ad, f->acc, &f->cli, NULL, UC_KEY_ACTIVE, &rec, text, &e),
                 &e, "name");
  expect_invalid(uc_admin_key_create(&f->ad, f->acc, &f->cli, "x", (uc_key_type)3, &rec, text, &e),
                 &e, "type");
  expect_no_audit(f, before + 1);
}

static struct uc_key_rec new_key(struct fx *f, const char *name, uc_key_type t, char *text) {
  struct uc_key_rec k;
  assert_int_equal(uc_store_key_create(f->st, f->acc, name, t, &k, text), UC_OK);
  return k;
}

static void test_key_rename_keeps_text(void **state) {
  struct fx *f = *state;
  struct uc_admin_error e;
  struct uc_key_rec rec, got;
  struct audit_seen s;
  char text[UC_KEY_MAX + 1], fresh[UC_KEY_MAX + 1] = "junk";
  struct uc_key_rec k = new_key(f, "web", UC_KEY_ACTIVE, text);
  size_t before = audit_rows(f, &s);
  assert_int_equal(
      uc_admin_key_update(&f->ad, f->acc, &f->cli, k.id, "shop", -1, NULL, &rec, fresh, &e), UC_OK);
  assert_string_equal(fresh, ""); /* same text */
  assert_string_equal(rec.name, "shop");
  assert_true(by_text(f, text, &got));
  assert_string_equal(got.name, "shop");
  assert_int_equal(got.type, UC_KEY_ACTIVE);
  expect_audit(f, before, "keys.update", &f->cli, "\"name\":\"shop\"");
  assert_int_equal(/* the same type again is no retype */
                   uc_admin_key_update(&f->ad, f->acc, &f->cli, k.id, NULL, UC_KEY_ACTIVE, NULL,
                                       &rec, fresh, &e),
                   UC_OK);
  assert_string_equal(fresh, "");
  assert_true(by_text(f, text, &got));
}

/* A retype gives new text with the new type's prefix; the old text stops working. */
static void retype(struct fx *f, struct uc_key_rec *k, const char *old_text, uc_key_type to,
                   const char *prefix, char *text) {
  struct uc_admin_error e;
  struct uc_key_rec rec, got;
  struct audit_seen s;
  size_t before = audit_rows(f, &s);
  assert_int_equal(
      uc_admin_key_update(&f->ad, f->acc, &f->api, k->id, NULL, (int)to, NULL, &rec, text, &e),
      UC_OK);
  assert_memory_equal(text, prefix, strlen(prefix));
  assert_memory_equal(rec.prefix, text, UC_KEY_PREFIX_SHOWN);
  assert_int_equal(rec.id, k->id);
  assert_false(by_text(f, old_text, &got));
  assert_true(by_text(f, text, &got));
  assert_int_equal(got.id, k->id);
  assert_int_equal(got.type, to);
  assert_string_equal(got.prefix, rec.prefix);
  expect_audit(f, before, "keys.update", &f->api, "\"new_text\":true");
  *k = got;
}

static void test_key_retype(void **state) {
  struct fx *f = *state;
  char text[UC_KEY_MAX + 1], test_text[UC_KEY_MAX + 1], live_text[UC_KEY_MAX + 1];
  struct uc_key_rec k = new_key(f, "web", UC_KEY_ACTIVE, text);
  retype(f, &k, text, UC_KEY_SANDBOX, "ucl_test_", test_text);
  retype(f, &k, test_text, UC_KEY_ACTIVE, "ucl_live_", live_text);
  assert_string_equal(k.name, "web");
}

static void test_key_update_refused(void **state) {
  struct fx *f = *state;
  struct uc_admin_error e;
  struct uc_key_rec rec, got;
  struct audit_seen s;
  char text[UC_KEY_MAX + 1], fresh[UC_KEY_MAX + 1];
  struct uc_key_rec k = new_key(f, "web", UC_KEY_ACTIVE, text);
  size_t before = audit_rows(f, &s);
  expect_invalid(uc_admin_key_update(&f->ad, f->acc, &f->cli, k.id, "", -1, NULL, &rec, fresh, &e),
                 &e, "name");
  expect_invalid(
      uc_admin_key_update(&f->ad, f->acc, &f->cli, k.id, NULL, UC_KEY_ADMIN, NULL, &rec, fresh, &e),
      &e, "type"); /* no promotion to admin */
  expect_invalid(uc_admin_key_update(&f->ad, f->acc, &f->cli, k.id, NULL, 7, NULL, &rec, fresh, &e),
                 &e, "type");
  assert_int_equal(
      uc_admin_key_update(&f->ad, f->other, &f->cli, k.id, "x", -1, NULL, &rec, fresh, &e),
      UC_ENOTFOUND); /* not the other account's */
  assert_int_equal(
      uc_admin_key_update(&f->ad, f->acc, &f->cli, k.id + 99, "x", -1, NULL, &rec, fresh, &e),
      UC_ENOTFOUND);
  assert_int_equal(uc_store_key_revoke(f->st, f->acc, k.id, 1), UC_OK);
  assert_int_equal(
      uc_admin_key_update(&f->ad, f->acc, &f->cli, k.id, "x", -1, NULL, &rec, fresh, &e),
      UC_ENOTFOUND); /* revoked */
  assert_true(by_text(f, text, &got));
  assert_string_equal(got.name, "web");
  expect_no_audit(f, before);
}

static void test_last_admin_key(void **state) {
  struct fx *f = *state;
  struct uc_admin_error e;
  struct uc_key_rec rec, got;
  struct audit_seen s;
  char text[UC_KEY_MAX + 1], fresh[UC_KEY_MAX + 1];
  size_t before = audit_rows(f, &s);
  assert_int_equal(uc_admin_key_update(&f->ad, f->acc, &f->cli, f->admin.id, NULL, UC_KEY_ACTIVE,
                                       NULL, &rec, fresh, &e),
                   UC_EDENIED);
  assert_string_equal(fresh, "");
  assert_int_equal(uc_admin_key_revoke(&f->ad, f->acc, &f->cli, f->admin.id, &e), UC_EDENIED);
  assert_true(strlen(e.msg) > 0);
  assert_true(live(f, f->admin.id, &got));
  assert_int_equal(got.type, UC_KEY_ADMIN);
  assert_memory_equal(got.hash, f->admin.hash, UC_KEY_HASH_LEN);
  expect_no_audit(f, before);
  struct uc_key_rec second = new_key(f, "second", UC_KEY_ADMIN, text);
  assert_int_equal(uc_admin_key_update(&f->ad, f->acc, &f->cli, f->admin.id, NULL, UC_KEY_ACTIVE,
                                       NULL, &rec, fresh, &e),
                   UC_OK); /* a second admin key makes it possible */
  assert_memory_equal(fresh, "ucl_live_", 9);
  assert_int_equal(uc_admin_key_revoke(&f->ad, f->acc, &f->cli, second.id, &e), UC_EDENIED);
  assert_true(live(f, second.id, &got)); /* now the last one */
}

static void test_key_revoke(void **state) {
  struct fx *f = *state;
  struct uc_admin_error e;
  struct uc_key_rec got;
  struct audit_seen s;
  char text[UC_KEY_MAX + 1];
  struct uc_key_rec web = new_key(f, "web", UC_KEY_ACTIVE, text);
  struct uc_key_rec second = new_key(f, "second", UC_KEY_ADMIN, text);
  size_t before = audit_rows(f, &s);
  assert_int_equal(uc_admin_key_revoke(&f->ad, f->acc, &f->api, f->admin.id, &e), UC_EDENIED);
  assert_true(live(f, f->admin.id, &got)); /* a key cannot revoke itself, even with two admins */
  assert_int_equal(uc_admin_key_revoke(&f->ad, f->other, &f->api, web.id, &e), UC_ENOTFOUND);
  expect_no_audit(f, before);
  assert_int_equal(uc_admin_key_revoke(&f->ad, f->acc, &f->api, web.id, &e), UC_OK);
  assert_false(live(f, web.id, &got));
  expect_audit(f, before, "keys.revoke", &f->api, NULL);
  assert_int_equal(uc_admin_key_revoke(&f->ad, f->acc, &f->api, web.id, &e), UC_ENOTFOUND);
  assert_int_equal(uc_admin_key_revoke(&f->ad, f->acc, &f->api, second.id, &e), UC_OK);
  assert_false(live(f, second.id, &got));
  expect_audit(f, before + 1, "keys.revoke", &f->api, NULL);
}

static void test_keys_json(void **state) {
  struct fx *f = *state;
  struct uc_admin_error e;
  char text[UC_KEY_MAX + 1], *json = NULL;
  struct uc_key_rec web = new_key(f, "web", UC_KEY_ACTIVE, text);
  uc_store_key_revoke(f->st, f->acc, web.id, 1);
  for (int all = 0; all <= 1; all++) {
    assert_int_equal(uc_admin_keys_json(&f->ad, f->acc, all, &json, &e), UC_OK);
    json_t *doc = json_loads(json, 0, NULL), *keys = json_object_get(doc, "keys");
    assert_int_equal(json_array_size(keys), all ? 2 : 1);
    json_t *first = json_array_get(keys, 0);
    assert_string_equal(json_string_value(json_object_get(first, "name")), "root");
    assert_string_equal(json_string_value(json_object_get(first, "type")), "admin");
    assert_true(json_is_false(json_object_get(first, "revoked")));
    assert_null(json_object_get(first, "key")); /* the text is never listed */
    if (all)
      assert_true(json_is_true(json_object_get(json_array_get(keys, 1), "revoked")));
    json_decref(doc);
    free(json);
  }
}

/* ---- bans ---- */

static void put_ban(struct fx *f, int64_t acc, const char *ip, unsigned attempts, int64_t at) {
  struct uc_ban_rec b = {.account_id = acc, .attempts = attempts, .banned_at = at};
  b.updated_at = at ? at : 100;
  snprintf(b.ip, sizeof b.ip, "%s", ip);
  assert_int_equal(uc_store_ban_put(f->st, &b, 1), UC_OK);
}

static int stored(struct fx *f, int64_t acc, const char *ip) {
  struct uc_ban_rec b;
  return uc_store_ban_get(f->st, acc, ip, &b) == UC_OK;
}

static void test_unban(void **state) {
  struct fx *f = *state;
  static const struct {
    const char *typed, *key;
  } cases[] = {{"203.0.113.7", "203.0.113.7"},
               {"2001:db8:1:2::/64", "2001:db8:1:2::/64"}, /* a key as the ban list shows it */
               {"2001:db8:5:6::99", "2001:db8:5:6::/64"}}; /* an address, grouped */
  struct uc_admin_error e;
  struct audit_seen s;
  char key[UC_IP_KEY_MAX];
  for (size_t i = 0; i < COUNT(cases); i++) {
    put_ban(f, f->acc, cases[i].key, 5, 1000);
    put_ban(f, f->other, cases[i].key, 5, 1000);
    size_t before = audit_rows(f, &s);
    assert_int_equal(uc_admin_unban(&f->ad, f->acc, &f->cli, cases[i].typed, 64, key, &e), UC_OK);
    assert_string_equal(key, cases[i].key);
    assert_false(stored(f, f->acc, cases[i].key));
    assert_true(stored(f, f->other, cases[i].key)); /* only this account's */
    char want[96];
    snprintf(want, sizeof want, "\"ip\":\"%s\"", cases[i].key);
    expect_audit(f, before, "bans.unban", &f->cli, want);
  }
  size_t before = audit_rows(f, &s);
  expect_invalid(uc_admin_unban(&f->ad, f->acc, &f->cli, "not an ip", 64, key, &e), &e, "ip");
  expect_no_audit(f, before);
}

struct feed {
  size_t n;
  enum uc_change_kind kind;
  int64_t account;
  char ip[UC_IP_KEY_MAX];
};

static int on_change(void *arg, const struct uc_change *c) {
  struct feed *fd = arg;
  fd->n++, fd->kind = c->kind, fd->account = c->account_id;
  snprintf(fd->ip, sizeof fd->ip, "%s", c->ip ? c->ip : "");
  return 0;
}

/* The CLI's unban of an IP the store does not know still reaches a running server. */
static void test_unban_nothing_stored(void **state) {
  struct fx *f = *state;
  struct uc_admin_error e;
  struct audit_seen s;
  char key[UC_IP_KEY_MAX], err[256];
  uc_store *server = NULL;
  uint64_t cursor = 0;
  struct feed seen = {0};
  assert_int_equal(uc_store_open(f->path, 0, &server, err, sizeof err), UC_OK);
  assert_int_equal(uc_store_changes(server, &cursor, on_change, &seen), UC_OK);
  size_t before = audit_rows(f, &s);
  assert_int_equal(uc_admin_unban(&f->ad, f->acc, &f->cli, "198.51.100.4", 64, key, &e),
                   UC_ENOTFOUND);
  assert_string_equal(e.field, "ip");
  assert_true(strlen(e.msg) > 0);
  expect_audit(f, before, "bans.unban", &f->cli, "\"ip\":\"198.51.100.4\"");
  assert_int_equal(uc_store_changes(server, &cursor, on_change, &seen), UC_OK);
  assert_int_equal(seen.n, 1);
  assert_int_equal(seen.kind, UC_CHANGE_UNBAN);
  assert_int_equal(seen.account, f->acc);
  assert_string_equal(seen.ip, "198.51.100.4");
  uc_store_close(server);
}

/* The ban cache's calls with an IP as text. */
static long cache_hit(uc_bans *b, int64_t acc, const struct uc_settings *set, const char *ip,
                      int64_t now) {
  struct uc_ip a;
  struct uc_ban_look look;
  assert_int_equal(uc_ip_parse(ip, strlen(ip), set->ipv6_prefix, &a), UC_OK);
  assert_int_equal(uc_bans_hit(b, acc, set, &a, now, &look), UC_OK);
  return look.remaining;
}

static enum uc_ban_state cache_state(uc_bans *b, int64_t acc, const struct uc_settings *set,
                                     const char *ip, int64_t now, long *left) {
  struct uc_ip a;
  struct uc_ban_look look;
  assert_int_equal(uc_ip_parse(ip, strlen(ip), set->ipv6_prefix, &a), UC_OK);
  enum uc_ban_state st = uc_bans_state(b, acc, set, &a, now, &look);
  *left = look.remaining;
  return st;
}

/* With the server's ban cache: counts held only in memory are lifted too. */
static void test_unban_with_cache(void **state) {
  struct fx *f = *state;
  struct uc_admin_error e;
  struct uc_settings set;
  struct audit_seen s;
  char key[UC_IP_KEY_MAX], err[256];
  uc_bans *bans = NULL;
  long left = 0;
  put_ban(f, f->acc, "192.0.2.1", 5, 1000); /* banned in the store before the cache loads */
  assert_int_equal(uc_bans_open(f->st, 0, &bans, err, sizeof err), UC_OK);
  struct uc_admin ad = {.st = f->st, .bans = bans};
  uc_settings_init(&set);
  int64_t now = (int64_t)time(NULL);
  for (int i = 0; i < 2; i++)
    left = cache_hit(bans, f->acc, &set, "192.0.2.2", now);
  assert_int_equal(left, 3);
  assert_false(stored(f, f->acc, "192.0.2.2")); /* counted in memory only */
  size_t before = audit_rows(f, &s);
  assert_int_equal(uc_admin_unban(&ad, f->acc, &f->cli, "192.0.2.2", 64, key, &e), UC_OK);
  assert_int_equal(cache_state(bans, f->acc, &set, "192.0.2.2", now, &left), UC_BAN_CLEAR);
  assert_int_equal(left, 5); /* the counter starts over */
  expect_audit(f, before, "bans.unban", &f->cli, "\"ip\":\"192.0.2.2\"");
  assert_int_equal(uc_admin_unban(&ad, f->acc, &f->cli, "192.0.2.1", 64, key, &e), UC_OK);
  assert_false(stored(f, f->acc, "192.0.2.1"));
  assert_int_equal(cache_state(bans, f->acc, &set, "192.0.2.1", now, &left), UC_BAN_CLEAR);
  assert_int_equal(uc_admin_unban(&ad, f->acc, &f->cli, "192.0.2.3", 64, key, &e), UC_ENOTFOUND);
  assert_string_equal(e.field, "ip");
  expect_no_audit(f, before + 2); /* nothing counted anywhere: nothing to record */
  uc_bans_free(bans);
}

static void test_unban_all(void **state) {
  struct fx *f = *state;
  struct uc_admin_error e;
  struct audit_seen s;
  size_t n = 99;
  put_ban(f, f->acc, "192.0.2.1", 5, 1000);
  put_ban(f, f->acc, "192.0.2.2", 2, 0);
  put_ban(f, f->other, "192.0.2.1", 5, 1000);
  size_t before = audit_rows(f, &s);
  assert_int_equal(uc_admin_unban_all(&f->ad, f->acc, &f->cli, &n, &e), UC_OK);
  assert_int_equal(n, 2); /* without a cache: the rows the store deleted */
  assert_false(stored(f, f->acc, "192.0.2.1"));
  assert_false(stored(f, f->acc, "192.0.2.2"));
  assert_true(stored(f, f->other, "192.0.2.1"));
  expect_audit(f, before, "bans.unban_all", &f->cli, "\"unbanned\":2");
}

static void test_unban_all_with_cache(void **state) {
  struct fx *f = *state;
  struct uc_admin_error e;
  struct uc_settings set;
  struct audit_seen s;
  char err[256];
  uc_bans *bans = NULL;
  size_t n = 99;
  long left;
  put_ban(f, f->acc, "192.0.2.1", 5, 1000);
  assert_int_equal(uc_bans_open(f->st, 0, &bans, err, sizeof err), UC_OK);
  struct uc_admin ad = {.st = f->st, .bans = bans};
  uc_settings_init(&set);
  int64_t now = (int64_t)time(NULL);
  cache_hit(bans, f->acc, &set, "192.0.2.9", now);
  size_t before = audit_rows(f, &s);
  assert_int_equal(uc_admin_unban_all(&ad, f->acc, &f->api, &n, &e), UC_OK);
  assert_int_equal(n, 1); /* with a cache: the IPs that were banned */
  assert_false(stored(f, f->acc, "192.0.2.1"));
  assert_int_equal(cache_state(bans, f->acc, &set, "192.0.2.1", now, &left), UC_BAN_CLEAR);
  assert_int_equal(cache_state(bans, f->acc, &set, "192.0.2.9", now, &left), UC_BAN_CLEAR);
  assert_int_equal(left, 5);
  expect_audit(f, before, "bans.unban_all", &f->api, "\"unbanned\":1");
  uc_bans_free(bans);
}

static void test_bans_json(void **state) {
  struct fx *f = *state;
  struct uc_admin_error e;
  struct uc_settings set;
  char *json = NULL;
  uc_settings_init(&set);
  put_ban(f, f->acc, "192.0.2.2", 2, 0);
  put_ban(f, f->acc, "192.0.2.3", 5, 1700000000);
  put_ban(f, f->other, "192.0.2.4", 1, 0);
  put_ban(f, f->acc, "2001:db8:1::/48", 8, 1700000000);
  struct uc_ban_query q = {NULL, NULL, 100, 0, 0};
  assert_int_equal(uc_admin_bans_json(&f->ad, f->acc, &set, &q, &json, &e), UC_OK);
  assert_string_equal(json, "{\"bans\":["
                            "{\"ip\":\"192.0.2.2\",\"attempts\":2,\"remaining\":3,"
                            "\"banned\":false,\"banned_at\":null,\"aggregate\":false},"
                            "{\"ip\":\"192.0.2.3\",\"attempts\":5,\"remaining\":0,"
                            "\"banned\":true,\"banned_at\":\"2023-11-14T22:13:20Z\","
                            "\"aggregate\":false},"
                            "{\"ip\":\"2001:db8:1::/48\",\"attempts\":8,\"remaining\":0,"
                            "\"banned\":true,\"banned_at\":\"2023-11-14T22:13:20Z\","
                            "\"aggregate\":true}],\"next_cursor\":null}");
  free(json);
  q.limit = 1; /* a page, and the cursor to the next */
  assert_int_equal(uc_admin_bans_json(&f->ad, f->acc, &set, &q, &json, &e), UC_OK);
  assert_non_null(strstr(json, "\"next_cursor\":\"192.0.2.2\""));
  free(json);
  q.limit = 0;
  assert_int_equal(uc_admin_bans_json(&f->ad, f->acc, &set, &q, &json, &e), UC_EINVAL);
  assert_string_equal(e.field, "limit");
  /* an expired automatic lift is not listed (the CLI lists the store alone) */
  set.ban_lift_seconds = 60;
  q.limit = 100;
  assert_int_equal(uc_admin_bans_json(&f->ad, f->acc, &set, &q, &json, &e), UC_OK);
  assert_null(strstr(json, "192.0.2.3"));
  assert_non_null(strstr(json, "192.0.2.2"));
  free(json);
}

/* ---- audit ---- */

static void test_audit_json(void **state) {
  struct fx *f = *state;
  struct uc_admin_error e;
  char name[UC_DOMAIN_MAX + 1], *json = NULL;
  uc_admin_list_add(&f->ad, f->acc, &f->cli, UC_BLACK, "one.com", name, &e);
  uc_admin_list_add(&f->ad, f->acc, &f->api, UC_BLACK, "two.com", name, &e);
  assert_int_equal(uc_admin_audit_json(&f->ad, f->acc, 10, &json, &e), UC_OK);
  json_t *doc = json_loads(json, 0, NULL), *rows = json_object_get(doc, "audit");
  assert_int_equal(json_array_size(rows), 2);
  json_t *newest = json_array_get(rows, 0), *detail = json_object_get(newest, "detail");
  assert_int_equal(json_integer_value(json_object_get(newest, "key_id")), f->admin.id);
  assert_string_equal(json_string_value(json_object_get(newest, "action")), "lists.add");
  assert_string_equal(json_string_value(json_object_get(detail, "domain")), "two.com");
  assert_true(json_is_string(json_object_get(newest, "at")));
  json_decref(doc);
  free(json);
}

/* ---- the admin API's paths ---- */

static void test_path_parse_accepts(void **state) {
  (void)state;
  static const struct {
    const char *path;
    enum uc_admin_resource r;
    uc_category color;
    const char *item; /* NULL: none */
  } ok[] = {{"settings", UC_ADMIN_SETTINGS, 0, NULL},
            {"bans", UC_ADMIN_BANS, 0, NULL},
            {"bans/203.0.113.7", UC_ADMIN_BANS, 0, "203.0.113.7"},
            {"bans/2001:db8::/64", UC_ADMIN_BANS, 0, "2001:db8::/64"},
            {"lists/black", UC_ADMIN_LISTS, UC_BLACK, NULL},
            {"lists/white", UC_ADMIN_LISTS, UC_WHITE, NULL},
            {"lists/black/example.com", UC_ADMIN_LISTS, UC_BLACK, "example.com"},
            {"lists/grey/bücher.com", UC_ADMIN_LISTS, UC_GREY, "bücher.com"},
            {"keys", UC_ADMIN_KEYS, 0, NULL},
            {"keys/12", UC_ADMIN_KEYS, 0, "12"},
            {"usage", UC_ADMIN_USAGE, 0, NULL},
            {"audit", UC_ADMIN_AUDIT, 0, NULL},
            {"sources", UC_ADMIN_SOURCES, 0, NULL},
            {"try", UC_ADMIN_TRY, 0, NULL},
            {"activity", UC_ADMIN_ACTIVITY, 0, NULL}};
  for (size_t i = 0; i < COUNT(ok); i++) {
    struct uc_admin_path p;
    if (uc_admin_path_parse(ok[i].path, strlen(ok[i].path), &p) != UC_OK)
      fail_msg("'%s' refused", ok[i].path);
    assert_int_equal(p.resource, ok[i].r);
    if (p.resource == UC_ADMIN_LISTS)
      assert_int_equal(p.color, ok[i].color);
    assert_int_equal(p.has_item, ok[i].item != NULL);
    assert_string_equal(p.item, ok[i].item ? ok[i].item : "");
  }
}

static void test_path_parse_refuses(void **state) {
  (void)state;
#define RAW(s)                                                                                     \
  { s, sizeof s - 1 } /* with any NUL bytes inside */
  static const struct {
    const char *path;
    size_t len;
  } bad[] = {RAW(""),
             RAW("bans/"),
             RAW("lists"),
             RAW("lists/"),
             RAW("lists/blue"),
             RAW("lists//x"),
             RAW("lists/black/"),
             RAW("keys/1/2"),
             RAW("settings/x"),
             RAW("usage/"),
             RAW("try/x"),
             RAW("activity/1"),
             RAW("Try"),
             RAW("nothing"),
             RAW("Settings"),
             RAW("keys/"),
             RAW("audit/1"),
             RAW("sources/mailchecker"),
             RAW("settings/"),
             RAW("/settings"),
             RAW("bans/203.0.113.7/"), /* a trailing slash */
             RAW("bans//x"),           /* an empty segment */
             RAW("keys/1\0"),
             RAW("settings\0"),
             RAW("lists/grey\0"),
             RAW("lists/black\0/x.com")};
#undef RAW
  for (size_t i = 0; i < COUNT(bad); i++) {
    struct uc_admin_path p;
    size_t len = bad[i].len;
    if (uc_admin_path_parse(bad[i].path, len, &p) != UC_ENOTFOUND)
      fail_msg("'%.*s' (%zu bytes) accepted", (int)len, bad[i].path, len);
  }
}

static void test_path_parse_item_length(void **state) {
  (void)state;
  char path[UC_ADMIN_ITEM_MAX + 16];
  struct uc_admin_path p;
  int n = snprintf(path, sizeof path, "keys/");
  memset(path + n, '7', UC_ADMIN_ITEM_MAX);
  path[n + UC_ADMIN_ITEM_MAX] = 0;
  assert_int_equal(uc_admin_path_parse(path, strlen(path), &p), UC_OK);
  assert_int_equal(strlen(p.item), UC_ADMIN_ITEM_MAX);
  path[n + UC_ADMIN_ITEM_MAX] = '7'; /* one more */
  path[n + UC_ADMIN_ITEM_MAX + 1] = 0;
  assert_int_equal(uc_admin_path_parse(path, strlen(path), &p), UC_ENOTFOUND);
}

/* ---- the usage report ---- */

#define TODAY 19800u /* 2024-03-18 */

/* acme: web (active) and test (sandbox, revoked since) used, idle not; other: used. */
static void add_usage(struct fx *f, int64_t *web, int64_t *test) {
  char text[UC_KEY_MAX + 1];
  struct uc_key_rec k1 = new_key(f, "web", UC_KEY_ACTIVE, text);
  struct uc_key_rec k2 = new_key(f, "test", UC_KEY_SANDBOX, text);
  new_key(f, "idle", UC_KEY_ACTIVE, text);
  struct uc_key_rec theirs;
  assert_int_equal(uc_store_key_create(f->st, f->other, "x", UC_KEY_ACTIVE, &theirs, text), UC_OK);
  struct uc_usage_delta d[] = {{k1.id, TODAY - 2, UC_WHITE, 3, 1},
                               {k1.id, TODAY, UC_BLACK, 2, 1},
                               {k1.id, TODAY - 40, UC_WHITE, 100, 1}, /* out of the window */
                               {k2.id, TODAY - 1, UC_GREY, 4, 1},
                               {theirs.id, TODAY, UC_WHITE, 50, 1}};
  assert_int_equal(uc_store_usage_add(f->st, d, COUNT(d)), UC_OK);
  assert_int_equal(uc_store_key_revoke(f->st, f->acc, k2.id, 5), UC_OK);
  *web = k1.id, *test = k2.id;
}

static void expect_counts(const uint64_t *n, uint64_t white, uint64_t grey, uint64_t black) {
  assert_int_equal(n[UC_WHITE], white);
  assert_int_equal(n[UC_GREY], grey);
  assert_int_equal(n[UC_BLACK], black);
}

static void test_usage_report(void **state) {
  struct fx *f = *state;
  struct uc_usage_report r;
  int64_t web, test;
  add_usage(f, &web, &test);
  assert_int_equal(uc_usage_report(f->st, f->acc, 30, TODAY, &r), UC_OK);
  assert_int_equal(r.days, 30);
  assert_int_equal(r.today, TODAY);
  assert_int_equal(r.nday, 3); /* oldest first */
  assert_int_equal(r.by_day[0].day, TODAY - 2);
  expect_counts(r.by_day[0].n, 3, 0, 0);
  assert_int_equal(r.by_day[1].day, TODAY - 1);
  expect_counts(r.by_day[1].n, 0, 4, 0);
  assert_int_equal(r.by_day[2].day, TODAY);
  expect_counts(r.by_day[2].n, 0, 0, 2);
  assert_int_equal(r.nkey, 2); /* idle and the other account's key are not there */
  assert_int_equal(r.by_key[0].id, web);
  assert_string_equal(r.by_key[0].name, "web");
  assert_int_equal(r.by_key[0].type, UC_KEY_ACTIVE);
  assert_false(r.by_key[0].revoked);
  expect_counts(r.by_key[0].n, 3, 0, 2);
  assert_int_equal(r.by_key[1].id, test);
  assert_string_equal(r.by_key[1].name, "test");
  assert_true(r.by_key[1].revoked);
  expect_counts(r.total, 3, 4, 2);
  uc_usage_report_release(&r);
  assert_null(r.by_day);
  assert_int_equal(uc_usage_report(f->st, f->acc, 1, TODAY, &r), UC_OK);
  assert_int_equal(r.nday, 1); /* today only */
  assert_int_equal(r.nkey, 1);
  expect_counts(r.total, 0, 0, 2);
  uc_usage_report_release(&r);
}

static void test_usage_report_days(void **state) {
  struct fx *f = *state;
  struct uc_usage_report r;
  assert_int_equal(uc_usage_report(f->st, f->acc, 0, TODAY, &r), UC_EINVAL);
  assert_int_equal(uc_usage_report(f->st, f->acc, UC_USAGE_DAYS_MAX + 1, TODAY, &r), UC_EINVAL);
  assert_int_equal(uc_usage_report(f->st, f->acc, 12, 10, &r), UC_EINVAL); /* before 1970 */
  assert_int_equal(uc_usage_report(f->st, f->acc, UC_USAGE_DAYS_MAX, TODAY, &r), UC_OK);
  assert_int_equal(r.nday, 0);
  assert_int_equal(r.nkey, 0);
  expect_counts(r.total, 0, 0, 0);
  uc_usage_report_release(&r);
}

static void expect_json_counts(json_t *o, json_int_t white, json_int_t grey, json_int_t black) {
  assert_int_equal(json_integer_value(json_object_get(o, "white")), white);
  assert_int_equal(json_integer_value(json_object_get(o, "grey")), grey);
  assert_int_equal(json_integer_value(json_object_get(o, "black")), black);
  assert_int_equal(json_integer_value(json_object_get(o, "total")), white + grey + black);
}

static void test_usage_report_json(void **state) {
  struct fx *f = *state;
  struct uc_usage_report r;
  int64_t web, test;
  char date[11];
  add_usage(f, &web, &test);
  assert_int_equal(uc_usage_report(f->st, f->acc, 30, TODAY, &r), UC_OK);
  char *text = uc_usage_report_json(&r);
  uc_usage_report_release(&r);
  json_error_t err;
  json_t *doc = json_loads(text, 0, &err);
  if (!doc)
    fail_msg("%s: %s", text, err.text);
  free(text);
  assert_int_equal(json_integer_value(json_object_get(doc, "days")), 30);
  json_t *days = json_object_get(doc, "by_day"), *keys = json_object_get(doc, "by_key");
  assert_int_equal(json_array_size(days), 3);
  uc_date_format(TODAY - 2, date);
  assert_string_equal(json_string_value(json_object_get(json_array_get(days, 0), "date")), date);
  expect_json_counts(json_array_get(days, 0), 3, 0, 0);
  uc_date_format(TODAY, date);
  assert_string_equal(json_string_value(json_object_get(json_array_get(days, 2), "date")), date);
  assert_int_equal(json_array_size(keys), 2);
  json_t *k = json_array_get(keys, 0);
  assert_int_equal(json_integer_value(json_object_get(k, "id")), web);
  assert_string_equal(json_string_value(json_object_get(k, "name")), "web");
  expect_json_counts(k, 3, 0, 2);
  expect_json_counts(json_object_get(doc, "total"), 3, 4, 2);
  json_decref(doc);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_settings_update),
      T(test_settings_update_refused),
      T(test_list_add),
      T(test_list_remove),
      T(test_list_replace),
      T(test_list_replace_too_many),
      T(test_list_json),
      T(test_key_create),
      T(test_key_rename_keeps_text),
      T(test_key_retype),
      T(test_key_update_refused),
      T(test_last_admin_key),
      T(test_key_revoke),
      T(test_keys_json),
      T(test_unban),
      T(test_unban_nothing_stored),
      T(test_unban_with_cache),
      T(test_unban_all),
      T(test_unban_all_with_cache),
      T(test_bans_json),
      T(test_audit_json),
      cmocka_unit_test(test_path_parse_accepts),
      cmocka_unit_test(test_path_parse_refuses),
      cmocka_unit_test(test_path_parse_item_length),
      T(test_usage_report),
      T(test_usage_report_days),
      T(test_usage_report_json),
  };
  return cmocka_run_group_tests_name("admin", tests, NULL, NULL);
}
