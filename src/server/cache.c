/* The in-memory view of keys and accounts that every request reads. Rebuilt
 * whole from the store when it changes and published as a new refcounted
 * view; each HTTP thread follows the current one (struct srv_view_follower),
 * so a request takes no lock and writes no shared memory to authenticate. */
#include "server.h"

#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(UC_KEY_HASH_LEN == 32, "find_key compares hashes with crypto_verify_32");
_Static_assert(UC_KEY_MAX <= 64, "the key memo pads keys to 64 bytes");

struct srv_view {
  atomic_long refs;
  struct srv_key *keys; /* open addressing on the hash's first 8 bytes */
  size_t mask;
  struct srv_account *accounts; /* sorted by id */
  size_t naccounts;
};

struct srv_cache {
  uc_store *st;
  pthread_mutex_t lock; /* guards cur */
  struct srv_view *cur;
  _Atomic uint64_t gen;        /* bumped after each publish, under lock */
  _Atomic uint64_t version;    /* the store's data_version the view was read at; polled unlocked */
  pthread_mutex_t reload_lock; /* one rebuild at a time */
};

static uint64_t slot_of(const uint8_t *hash) {
  uint64_t x;
  memcpy(&x, hash, sizeof x);
  return x;
}

static void view_free(struct srv_view *v) {
  for (size_t i = 0; i < v->naccounts; i++)
    for (int c = 0; c < 3; c++)
      uc_domset_free(v->accounts[i].lists[c]);
  free(v->keys);
  free(v->accounts);
  memset(v, 0, sizeof *v);
}

static void view_unref(struct srv_view *v) {
  if (v && atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) == 1) {
    view_free(v);
    free(v);
  }
}

struct build {
  struct srv_view v;
  size_t nkeys, cap_accounts;
  int failed;
};

static int add_account(void *arg, const struct uc_account_rec *a) {
  struct build *b = arg;
  if (b->v.naccounts == b->cap_accounts) {
    size_t cap = b->cap_accounts ? b->cap_accounts * 2 : 16;
    void *p = realloc(b->v.accounts, cap * sizeof *b->v.accounts);
    if (!p)
      return b->failed = 1;
    b->v.accounts = p, b->cap_accounts = cap;
  }
  struct srv_account *acc = &b->v.accounts[b->v.naccounts++];
  memset(acc, 0, sizeof *acc);
  acc->id = a->id;
  snprintf(acc->name, sizeof acc->name, "%s", a->name);
  uc_policy_init(&acc->policy);
  for (int c = 0; c < 3; c++)
    if (!(acc->lists[c] = uc_domset_new()))
      return b->failed = 1;
  return 0;
}

static struct srv_account *account_in(struct srv_view *v, int64_t id);

/* A stored row that no longer validates leaves the defaults (and says so). */
static int load_settings(uc_store *st, struct srv_account *acc) {
  char why[200];
  int rc = uc_settings_load(st, acc->id, &acc->settings, why, sizeof why);
  if (rc == UC_EFORMAT)
    fprintf(stderr, "usercleaning: account %s: stored settings ignored (%s)\n", acc->name, why);
  uc_settings_policy(&acc->settings, &acc->policy);
  for (int c = 0; c < 3; c++)
    acc->policy.list[c] = acc->lists[c];
  return rc == UC_EFORMAT ? UC_OK : rc;
}

static int add_listed(void *arg, const struct uc_list_rec *l) {
  struct build *b = arg;
  struct srv_account *acc = account_in(&b->v, l->account_id);
  if (acc && uc_domset_add(acc->lists[l->color], l->domain, strlen(l->domain)) == UC_ENOMEM)
    return b->failed = 1;
  return 0;
}

static int count_key(void *arg, const struct uc_key_rec *k) {
  (void)k;
  ((struct build *)arg)->nkeys++;
  return 0;
}

static int add_key(void *arg, const struct uc_key_rec *k) {
  struct build *b = arg;
  size_t i = slot_of(k->hash) & b->v.mask;
  while (b->v.keys[i].id)
    i = (i + 1) & b->v.mask;
  struct srv_key *e = &b->v.keys[i];
  memcpy(e->hash, k->hash, sizeof e->hash);
  e->id = k->id, e->account_id = k->account_id, e->type = k->type, e->revoked = k->revoked_at != 0;
  return 0;
}

/* Reads accounts and keys (ids are assigned increasing, so ORDER BY id sorts). */
static int build_view(uc_store *st, struct srv_view **out) {
  struct build b = {0};
  int rc = st->ops->account_each(st->state, add_account, &b);
  for (size_t i = 0; !rc && !b.failed && i < b.v.naccounts; i++)
    rc = load_settings(st, &b.v.accounts[i]);
  if (!rc && !b.failed)
    rc = st->ops->list_each(st->state, 0, add_listed, &b);
  if (!rc)
    rc = st->ops->key_each(st->state, 0, count_key, &b);
  size_t size = 16;
  while (size < (b.nkeys + 64) * 2) /* room for keys created before the next rebuild */
    size *= 2;
  if (!rc && !b.failed) {
    b.v.keys = calloc(size, sizeof *b.v.keys);
    b.v.mask = size - 1;
    rc = b.v.keys ? st->ops->key_each(st->state, 0, add_key, &b) : UC_ENOMEM;
  }
  if (rc || b.failed) {
    view_free(&b.v);
    return rc ? rc : UC_ENOMEM;
  }
  if (!(*out = malloc(sizeof **out))) {
    view_free(&b.v);
    return UC_ENOMEM;
  }
  **out = b.v;
  atomic_init(&(*out)->refs, 1);
  return UC_OK;
}

struct srv_cache *srv_cache_new(uc_store *st) {
  struct srv_cache *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  c->st = st;
  pthread_mutex_init(&c->lock, NULL);
  pthread_mutex_init(&c->reload_lock, NULL);
  if (srv_cache_reload(c) != UC_OK) {
    srv_cache_free(c);
    return NULL;
  }
  return c;
}

void srv_cache_free(struct srv_cache *c) {
  if (!c)
    return;
  view_unref(c->cur);
  pthread_mutex_destroy(&c->lock);
  pthread_mutex_destroy(&c->reload_lock);
  free(c);
}

int srv_cache_reload(struct srv_cache *c) {
  struct srv_view *fresh, *old;
  uint64_t version = 0;
  pthread_mutex_lock(&c->reload_lock);
  c->st->ops->version(c->st->state, &version); /* before reading: a later change reloads again */
  int rc = build_view(c->st, &fresh);
  if (rc == UC_OK) {
    pthread_mutex_lock(&c->lock);
    old = c->cur;
    c->cur = fresh;
    atomic_store(&c->version, version);
    atomic_fetch_add_explicit(&c->gen, 1, memory_order_release);
    pthread_mutex_unlock(&c->lock);
    view_unref(old); /* freed now, or by the last thread still following it */
  }
  pthread_mutex_unlock(&c->reload_lock);
  return rc;
}

int srv_cache_poll(struct srv_cache *c) {
  uint64_t v;
  if (c->st->ops->version(c->st->state, &v) != UC_OK || v == atomic_load(&c->version))
    return 0;
  srv_cache_reload(c);
  return 1;
}

/* The thread's view, current as of this call (see uc_lists_holder_follow). */
static struct srv_view *follow(struct srv_cache *c, struct srv_view_follower *f) {
  uint64_t gen = atomic_load_explicit(&c->gen, memory_order_acquire);
  if (f->cur && gen == f->gen)
    return f->cur;
  pthread_mutex_lock(&c->lock);
  struct srv_view *v = c->cur;
  atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
  pthread_mutex_unlock(&c->lock);
  view_unref(f->cur);
  f->cur = v, f->gen = gen;
  return v;
}

void srv_view_follower_drop(struct srv_view_follower *f) {
  view_unref(f->cur);
  f->cur = NULL;
}

static const struct srv_key *find_key(const struct srv_view *v, const uint8_t *hash) {
  for (size_t i = slot_of(hash) & v->mask; v->keys[i].id; i = (i + 1) & v->mask)
    if (crypto_verify_32(v->keys[i].hash, hash) == 0) /* constant time, UC_KEY_HASH_LEN bytes */
      return &v->keys[i];
  return NULL;
}

static struct srv_account *account_in(struct srv_view *v, int64_t id) {
  size_t lo = 0, hi = v->naccounts;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (v->accounts[mid].id == id)
      return &v->accounts[mid];
    if (v->accounts[mid].id < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

static const struct srv_account *find_account(const struct srv_view *v, int64_t id) {
  return account_in((struct srv_view *)v, id);
}

/* Fills out for a live key; 0 when absent. */
static int lookup(struct srv_view *v, const uint8_t *hash, struct srv_auth *out, int *known) {
  const struct srv_key *k = find_key(v, hash);
  *known = k != NULL;
  if (!k || k->revoked)
    return 0;
  out->account = find_account(v, k->account_id);
  out->key = *k;
  return out->account != NULL;
}

/* The key's type and hash, from the thread's memo when it saw this key lately.
 * Keys are compared zero-padded to 64 bytes in constant time, like the hashes. */
static int parse_key(struct srv_key_memo *memo, const char *key, size_t n, uc_key_type *type,
                     uint8_t hash[UC_KEY_HASH_LEN]) {
  struct srv_key_memo *m = &memo[((unsigned char)key[n - 1] + n) % SRV_KEY_MEMO];
  unsigned char padded[sizeof m->key] = {0};
  if (n <= sizeof m->key) {
    memcpy(padded, key, n);
    if (m->n == n && crypto_verify_64(m->key, padded) == 0) {
      *type = m->type;
      memcpy(hash, m->hash, UC_KEY_HASH_LEN);
      return UC_OK;
    }
  }
  if (uc_key_parse(key, n, type) != UC_OK)
    return UC_EINVAL;
  uc_key_hash(key, n, hash);
  if (n <= sizeof m->key) { /* a valid key always fits */
    memcpy(m->key, padded, sizeof m->key);
    m->n = n, m->type = *type;
    memcpy(m->hash, hash, UC_KEY_HASH_LEN);
  }
  return UC_OK;
}

enum srv_auth_result srv_auth_key(struct srv_cache *c, struct srv_worker *w, const char *key,
                                  size_t n, struct srv_auth *out) {
  uc_key_type type;
  uint8_t hash[UC_KEY_HASH_LEN];
  struct uc_key_rec rec;
  int known;
  if (n == 0)
    return SRV_AUTH_NONE;
  if (parse_key(w->memo, key, n, &type, hash) != UC_OK) /* no store access for malformed keys */
    return SRV_AUTH_INVALID;
  for (int attempt = 0; attempt < 2; attempt++) {
    if (lookup(follow(c, &w->view), hash, out, &known))
      return SRV_AUTH_OK;
    /* Unknown here: maybe created by another process since the last poll. */
    if (known || attempt || c->st->ops->key_by_hash(c->st->state, hash, &rec) != UC_OK ||
        rec.revoked_at)
      break;
    srv_cache_reload(c);
  }
  return SRV_AUTH_INVALID;
}
