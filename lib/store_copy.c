/* uc_store_copy: every row of one store into another, through the uc_store_*
 * calls only, so that it works between any two backends (usercleaning store
 * migrate). Rows are read whole per kind, then written in batches of BATCH:
 * an each callback only copies (it may run under the backend's lock). */
#include "uc/buf.h"
#include "uc/error.h"
#include "uc/store.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 1000

struct copy {
  uc_store *from, *to;
  struct uc_store_copied *n;
  struct uc_buf rows; /* records of the kind being copied */
  struct uc_buf text; /* strings the records point to, as offsets */
  size_t *days;       /* what on_usage counts: n->usage or n->batch_usage */
  int rc;
};

/* Says which step failed, with the store's own words. */
static int failed(struct copy *c, uc_store *st, int rc, const char *what, char *err, size_t es) {
  char why[300];
  uc_store_error(st, rc, why, sizeof why);
  return uc_errorf(err, es, rc, "%s %s: %s", st == c->from ? "reading" : "writing", what, why);
}

static int has_account(void *arg, const struct uc_account_rec *a) {
  (void)a;
  *(int *)arg = 1;
  return 1;
}

struct secret {
  char name[128];
  uint8_t value[32];
};

static int on_secret(void *arg, const char *name, const uint8_t value[32]) {
  struct copy *c = arg;
  struct secret x;
  if (strlen(name) >= sizeof x.name) {
    c->rc = UC_ETOOBIG;
    return 1;
  }
  snprintf(x.name, sizeof x.name, "%s", name);
  memcpy(x.value, value, 32);
  c->rc = uc_buf_add(&c->rows, &x, sizeof x) ? UC_ENOMEM : UC_OK;
  sodium_memzero(&x, sizeof x);
  return c->rc != UC_OK;
}

static int put_secrets(struct copy *c) {
  int rc = UC_OK;
  for (size_t i = 0; rc == UC_OK && i < UC_BUF_COUNT(&c->rows, struct secret); i++) {
    const struct secret *x = &UC_BUF_AT(&c->rows, struct secret, i);
    if ((rc = uc_store_secret_put(c->to, x->name, x->value)) == UC_OK)
      c->n->secrets++;
  }
  sodium_memzero(c->rows.data, c->rows.len);
  return rc;
}

static int on_account(void *arg, const struct uc_account_rec *a) {
  struct copy *c = arg;
  c->rc = uc_buf_add(&c->rows, a, sizeof *a) ? UC_ENOMEM : UC_OK;
  return c->rc != UC_OK;
}

static int on_key(void *arg, const struct uc_key_rec *k) {
  struct copy *c = arg;
  c->rc = uc_buf_add(&c->rows, k, sizeof *k) ? UC_ENOMEM : UC_OK;
  return c->rc != UC_OK;
}

static int put_keys(struct copy *c) {
  int rc = UC_OK;
  for (size_t i = 0; rc == UC_OK && i < UC_BUF_COUNT(&c->rows, struct uc_key_rec); i++)
    if ((rc = uc_store_key_put(c->to, &UC_BUF_AT(&c->rows, struct uc_key_rec, i))) == UC_OK)
      c->n->keys++;
  return rc;
}

/* Lists: the domain is kept in c->text, its offset in the record's pointer. */
static int on_list(void *arg, const struct uc_list_rec *l) {
  struct uc_list_rec r = *l;
  struct copy *c = arg;
  r.domain = (const char *)(uintptr_t)c->text.len;
  c->rc =
      uc_buf_add(&c->text, l->domain, strlen(l->domain) + 1) || uc_buf_add(&c->rows, &r, sizeof r)
          ? UC_ENOMEM
          : UC_OK;
  return c->rc != UC_OK;
}

static int put_lists(struct copy *c) {
  size_t n = UC_BUF_COUNT(&c->rows, struct uc_list_rec);
  for (size_t i = 0; i < n; i++) {
    struct uc_list_rec *r = &UC_BUF_AT(&c->rows, struct uc_list_rec, i);
    r->domain = c->text.data + (uintptr_t)r->domain;
  }
  for (size_t i = 0; i < n; i += BATCH) {
    int rc = uc_store_list_put(c->to, &UC_BUF_AT(&c->rows, struct uc_list_rec, i),
                               n - i < BATCH ? n - i : BATCH);
    if (rc)
      return rc;
  }
  c->n->lists += n;
  return UC_OK;
}

static int on_usage(void *arg, const struct uc_usage_row *u) {
  struct copy *c = arg;
  for (int cat = 0; cat < 3 && c->rc == UC_OK; cat++) {
    struct uc_usage_delta d = {u->key_id, u->day, (uc_category)cat, u->count[cat], 0};
    if (d.count)
      c->rc = uc_buf_add(&c->rows, &d, sizeof d) ? UC_ENOMEM : UC_OK;
  }
  ++*c->days;
  return c->rc != UC_OK;
}

static int on_task(void *arg, const struct uc_batch_rec *t) {
  struct copy *c = arg;
  c->rc = uc_buf_add(&c->rows, t, sizeof *t) ? UC_ENOMEM : UC_OK;
  return c->rc != UC_OK;
}

static int on_ban(void *arg, const struct uc_ban_rec *b) {
  struct copy *c = arg;
  c->rc = uc_buf_add(&c->rows, b, sizeof *b) ? UC_ENOMEM : UC_OK;
  return c->rc != UC_OK;
}

static int on_alias(void *arg, const struct uc_alias_rec *a) {
  struct copy *c = arg;
  c->rc = uc_buf_add(&c->rows, a, sizeof *a) ? UC_ENOMEM : UC_OK;
  return c->rc != UC_OK;
}

/* Audit rows: action and detail kept in c->text, as offsets. */
static int on_audit(void *arg, const struct uc_audit_rec *a) {
  struct copy *c = arg;
  struct uc_audit_rec r = *a;
  const char *detail = a->detail ? a->detail : "{}";
  r.action = (const char *)(uintptr_t)c->text.len;
  r.detail = (const char *)(uintptr_t)(c->text.len + strlen(a->action) + 1);
  c->rc = uc_buf_add(&c->text, a->action, strlen(a->action) + 1) ||
                  uc_buf_add(&c->text, detail, strlen(detail) + 1) ||
                  uc_buf_add(&c->rows, &r, sizeof r)
              ? UC_ENOMEM
              : UC_OK;
  return c->rc != UC_OK;
}

/* Writes rows[0..n) of size `size` in batches with put. */
static int put_batches(struct copy *c, size_t size, int (*put)(uc_store *, const void *, size_t)) {
  size_t n = c->rows.len / size;
  for (size_t i = 0; i < n; i += BATCH) {
    int rc = put(c->to, c->rows.data + i * size, n - i < BATCH ? n - i : BATCH);
    if (rc)
      return rc;
  }
  return UC_OK;
}

static int put_usage(uc_store *st, const void *rows, size_t n) {
  return uc_store_usage_add(st, rows, n);
}
static int put_batch_usage(uc_store *st, const void *rows, size_t n) {
  return uc_store_batch_usage_add(st, rows, n);
}
static int put_bans(uc_store *st, const void *rows, size_t n) {
  return uc_store_ban_put(st, rows, n);
}
static int put_aliases(uc_store *st, const void *rows, size_t n) {
  return uc_store_alias_put(st, rows, n);
}

static void reset(struct copy *c) {
  uc_buf_reset(&c->rows);
  uc_buf_reset(&c->text);
  c->rc = UC_OK;
}

/* An each call's result, or the callback's own failure (c->rc). */
#define READ(c, call) ((c)->rc = UC_OK, (rc = (call)) ? rc : (c)->rc)

/* Per account: settings, usage and the audit trail (oldest first, so that the
 * audit ids come out in the same order). */
static int copy_account(struct copy *c, const struct uc_account_rec *a, char *err, size_t es) {
  char *json = NULL;
  int rc = uc_store_settings_get(c->from, a->id, &json);
  if (rc)
    return failed(c, c->from, rc, "settings", err, es);
  if (json && (rc = uc_store_settings_put(c->to, a->id, json)) != UC_OK) {
    free(json);
    return failed(c, c->to, rc, "settings", err, es);
  }
  c->n->settings += json != NULL;
  free(json);
  reset(c);
  c->days = &c->n->usage;
  if ((rc = READ(c, uc_store_usage_each(c->from, a->id, 0, on_usage, c))) != UC_OK)
    return failed(c, c->from, rc, "usage", err, es);
  if ((rc = put_batches(c, sizeof(struct uc_usage_delta), put_usage)) != UC_OK)
    return failed(c, c->to, rc, "usage", err, es);
  reset(c);
  c->days = &c->n->batch_usage;
  if ((rc = READ(c, uc_store_batch_usage_each(c->from, a->id, 0, on_usage, c))) != UC_OK)
    return failed(c, c->from, rc, "batch usage", err, es);
  if ((rc = put_batches(c, sizeof(struct uc_usage_delta), put_batch_usage)) != UC_OK)
    return failed(c, c->to, rc, "batch usage", err, es);
  reset(c);
  if ((rc = READ(c, uc_store_audit_each(c->from, a->id, SIZE_MAX, on_audit, c))) != UC_OK)
    return failed(c, c->from, rc, "the audit trail", err, es);
  for (size_t i = UC_BUF_COUNT(&c->rows, struct uc_audit_rec); i-- > 0;) {
    struct uc_audit_rec r = UC_BUF_AT(&c->rows, struct uc_audit_rec, i);
    r.action = c->text.data + (uintptr_t)r.action;
    r.detail = c->text.data + (uintptr_t)r.detail;
    if ((rc = uc_store_audit_put(c->to, &r)) != UC_OK)
      return failed(c, c->to, rc, "the audit trail", err, es);
    c->n->audit++;
  }
  return UC_OK;
}

static int copy_accounts(struct copy *c, char *err, size_t es) {
  struct uc_buf accounts;
  reset(c);
  int rc = READ(c, uc_store_account_each(c->from, on_account, c));
  if (rc)
    return failed(c, c->from, rc, "accounts", err, es);
  accounts = c->rows; /* taken over: c->rows is used per account below */
  uc_buf_init(&c->rows, (size_t)1 << 31);
  for (size_t i = 0; rc == UC_OK && i < UC_BUF_COUNT(&accounts, struct uc_account_rec); i++) {
    const struct uc_account_rec *a = &UC_BUF_AT(&accounts, struct uc_account_rec, i);
    if ((rc = uc_store_account_put(c->to, a)) != UC_OK)
      failed(c, c->to, rc, "accounts", err, es);
    c->n->accounts += rc == UC_OK;
  }
  reset(c);
  if (rc == UC_OK && (rc = READ(c, uc_store_key_each(c->from, 0, on_key, c))) != UC_OK)
    failed(c, c->from, rc, "keys", err, es);
  if (rc == UC_OK && (rc = put_keys(c)) != UC_OK)
    failed(c, c->to, rc, "keys", err, es);
  for (size_t i = 0; rc == UC_OK && i < UC_BUF_COUNT(&accounts, struct uc_account_rec); i++)
    rc = copy_account(c, &UC_BUF_AT(&accounts, struct uc_account_rec, i), err, es);
  uc_buf_release(&accounts);
  return rc;
}

/* Batch tasks as they are (owner and lease too: a task held by a server of
 * the old store is free once its lease ends), oldest first so that tasks of
 * one second keep their order. Their files stay in batch_dir. */
static int copy_tasks(struct copy *c, char *err, size_t es) {
  int rc;
  reset(c);
  if ((rc = READ(c, uc_store_batch_each(c->from, 0, on_task, c))) != UC_OK)
    return failed(c, c->from, rc, "batch tasks", err, es);
  for (size_t i = UC_BUF_COUNT(&c->rows, struct uc_batch_rec); i-- > 0;) {
    if ((rc = uc_store_batch_insert(c->to, &UC_BUF_AT(&c->rows, struct uc_batch_rec, i))) != UC_OK)
      return failed(c, c->to, rc, "batch tasks", err, es);
    c->n->batch_tasks++;
  }
  return UC_OK;
}

/* Lists, bans, alias memory and batch tasks: read whole, written in batches. */
static int copy_rows(struct copy *c, char *err, size_t es) {
  int rc;
  reset(c);
  if ((rc = READ(c, uc_store_list_each(c->from, 0, on_list, c))) != UC_OK)
    return failed(c, c->from, rc, "domain lists", err, es);
  if ((rc = put_lists(c)) != UC_OK)
    return failed(c, c->to, rc, "domain lists", err, es);
  reset(c);
  if ((rc = READ(c, uc_store_ban_each(c->from, 0, on_ban, c))) != UC_OK)
    return failed(c, c->from, rc, "bans", err, es);
  if ((rc = put_batches(c, sizeof(struct uc_ban_rec), put_bans)) != UC_OK)
    return failed(c, c->to, rc, "bans", err, es);
  c->n->bans += UC_BUF_COUNT(&c->rows, struct uc_ban_rec);
  reset(c);
  if ((rc = READ(c, uc_store_alias_each(c->from, 0, NULL, 0, on_alias, c))) != UC_OK)
    return failed(c, c->from, rc, "alias memory", err, es);
  if ((rc = put_batches(c, sizeof(struct uc_alias_rec), put_aliases)) != UC_OK)
    return failed(c, c->to, rc, "alias memory", err, es);
  c->n->aliases += UC_BUF_COUNT(&c->rows, struct uc_alias_rec);
  return copy_tasks(c, err, es);
}

int uc_store_copy(uc_store *from, uc_store *to, struct uc_store_copied *copied, char *err,
                  size_t es) {
  struct uc_store_copied n = {0};
  struct copy c = {from, to, &n, {0}, {0}, &n.usage, UC_OK};
  int any = 0, rc;
  uc_buf_init(&c.rows, (size_t)1 << 31);
  uc_buf_init(&c.text, (size_t)1 << 31);
  if ((rc = uc_store_account_each(to, has_account, &any)) != UC_OK)
    failed(&c, to, rc, "accounts", err, es);
  else if (any)
    rc = uc_errorf(err, es, UC_EEXISTS, "%s already holds accounts: copy into an empty store only",
                   uc_store_where(to));
  if (rc == UC_OK && (rc = READ(&c, uc_store_secret_each(from, on_secret, &c))) != UC_OK)
    failed(&c, from, rc, "secrets", err, es);
  if (rc == UC_OK && (rc = put_secrets(&c)) != UC_OK)
    failed(&c, to, rc, "secrets", err, es);
  if (rc == UC_OK)
    rc = copy_accounts(&c, err, es);
  if (rc == UC_OK)
    rc = copy_rows(&c, err, es);
  uc_buf_release(&c.rows);
  uc_buf_release(&c.text);
  if (copied)
    *copied = n;
  return rc;
}
