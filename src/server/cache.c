/* The in-memory view of keys and accounts that every request reads. Rebuilt
 * whole from the store when it changes and published as a new refcounted
 * view (uc_pub); each HTTP thread follows the current one, so a request takes
 * no lock and writes no shared memory to authenticate. Keys that are unknown
 * to the store are remembered (a bounded negative cache) so that repeating
 * one costs no store read. */
#include "server.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(UC_KEY_HASH_LEN == 32, "find_key compares hashes with crypto_verify_32");
_Static_assert(UC_KEY_MAX <= 64, "the key memo pads keys to 64 bytes");

#define NEGATIVE_SLOTS 4096 /* unknown key hashes remembered; a power of two */

struct view {
  atomic_long refs;
  struct uc_table keys;         /* struct key_slot, tag inside */
  struct srv_account *accounts; /* sorted by id */
  size_t naccounts;
};

struct key_slot {
  uint32_t tag; /* the table's tag: the key hash's first bytes */
  struct srv_key k;
};

struct srv_cache {
  uc_store *st;
  struct uc_pub pub;           /* of struct view */
  _Atomic uint64_t version;    /* the store's version the view was read at; polled unlocked */
  pthread_mutex_t reload_lock; /* one rebuild at a time */
  pthread_mutex_t neg_lock;
  uint8_t (*negative)[UC_KEY_HASH_LEN]; /* direct-mapped by hash; zero: empty */
  uint8_t secret[UC_KEY_SECRET_LEN];    /* keys' checksums */
  _Atomic uint64_t store_lookups, negative_hits, legacy_refused; /* for /metrics */
};

void srv_cache_stats(struct srv_cache *c, uint64_t *store_lookups, uint64_t *negative_hits,
                     uint64_t *legacy_refused) {
  *store_lookups = atomic_load(&c->store_lookups);
  *negative_hits = atomic_load(&c->negative_hits);
  *legacy_refused = atomic_load(&c->legacy_refused);
}

static uint32_t tag_of(const uint8_t *hash) {
  uint32_t x;
  memcpy(&x, hash, sizeof x);
  return x;
}

static void view_free(struct view *v) {
  for (size_t i = 0; i < v->naccounts; i++)
    for (int c = 0; c < 3; c++)
      uc_domset_free(v->accounts[i].lists[c]);
  uc_table_release(&v->keys);
  free(v->accounts);
  free(v);
}

static void *view_ref(void *p) {
  atomic_fetch_add_explicit(&((struct view *)p)->refs, 1, memory_order_relaxed);
  return p;
}

static void view_unref(void *p) {
  struct view *v = p;
  if (v && atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) == 1)
    view_free(v);
}

struct build {
  struct view *v;
  struct uc_buf accounts; /* struct srv_account */
  int failed;
};

static int add_account(void *arg, const struct uc_account_rec *a) {
  struct build *b = arg;
  struct srv_account acc;
  memset(&acc, 0, sizeof acc);
  acc.id = a->id;
  snprintf(acc.name, sizeof acc.name, "%s", a->name);
  uc_policy_init(&acc.policy);
  if (uc_buf_add(&b->accounts, &acc, sizeof acc))
    return b->failed = 1;
  return 0;
}

static struct srv_account *account_in(struct view *v, int64_t id) {
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

/* A stored row that no longer validates leaves the defaults (and says so). */
static int load_settings(uc_store *st, struct srv_account *acc) {
  char why[200];
  int rc = uc_settings_load(st, acc->id, &acc->settings, why, sizeof why);
  if (rc == UC_EFORMAT)
    fprintf(stderr, "usercleaning: account %s: stored settings ignored (%s)\n", acc->name, why);
  uc_settings_policy(&acc->settings, &acc->policy);
  for (int c = 0; c < 3; c++)
    if (!(acc->lists[c] = uc_domset_new()))
      return UC_ENOMEM;
    else
      acc->policy.list[c] = acc->lists[c];
  return rc == UC_EFORMAT ? UC_OK : rc;
}

static int add_listed(void *arg, const struct uc_list_rec *l) {
  struct build *b = arg;
  struct srv_account *acc = account_in(b->v, l->account_id);
  if (acc && uc_domset_add(acc->lists[l->color], l->domain, strlen(l->domain)) == UC_ENOMEM)
    return b->failed = 1;
  return 0;
}

static int key_eq(const void *slot, const void *hash) {
  return crypto_verify_32(((const struct key_slot *)slot)->k.hash, hash) == 0; /* constant time */
}

static int add_key(void *arg, const struct uc_key_rec *k) {
  struct build *b = arg;
  struct key_slot *e = uc_table_insert(&b->v->keys, tag_of(k->hash), key_eq, k->hash, NULL);
  if (!e)
    return b->failed = 1;
  memcpy(e->k.hash, k->hash, sizeof e->k.hash);
  e->k.id = k->id, e->k.account_id = k->account_id, e->k.type = k->type;
  e->k.revoked = k->revoked_at != 0;
  e->k.rate_per_second = k->rate_per_second, e->k.rate_burst = k->rate_burst;
  return 0;
}

/* Reads accounts and keys (ids are assigned increasing: account_each sorts). */
static int build_view(uc_store *st, struct view **out) {
  struct build b = {calloc(1, sizeof(struct view)), {0}, 0};
  int rc = b.v ? UC_OK : UC_ENOMEM;
  *out = NULL;
  if (rc)
    return rc;
  uc_table_init(&b.v->keys, sizeof(struct key_slot), offsetof(struct key_slot, tag));
  uc_buf_init(&b.accounts, (size_t)1 << 30);
  rc = uc_store_account_each(st, add_account, &b);
  b.v->naccounts = UC_BUF_COUNT(&b.accounts, struct srv_account);
  b.v->accounts = (void *)uc_buf_detach(&b.accounts, NULL);
  for (size_t i = 0; !rc && !b.failed && i < b.v->naccounts; i++)
    rc = load_settings(st, &b.v->accounts[i]);
  if (!rc && !b.failed)
    rc = uc_store_list_each(st, 0, add_listed, &b);
  if (!rc && !b.failed)
    rc = uc_store_key_each(st, 0, add_key, &b);
  if (rc || b.failed) {
    view_free(b.v);
    return rc ? rc : UC_ENOMEM;
  }
  atomic_init(&b.v->refs, 1);
  *out = b.v;
  return UC_OK;
}

struct srv_cache *srv_cache_new(uc_store *st) {
  struct srv_cache *c = calloc(1, sizeof *c);
  if (!c || !(c->negative = calloc(NEGATIVE_SLOTS, sizeof *c->negative))) {
    free(c);
    return NULL;
  }
  c->st = st;
  uc_pub_init(&c->pub, NULL, view_ref, view_unref);
  pthread_mutex_init(&c->reload_lock, NULL);
  pthread_mutex_init(&c->neg_lock, NULL);
  if (uc_store_secret(st, UC_KEY_SECRET_NAME, c->secret) != UC_OK || srv_cache_reload(c) != UC_OK) {
    srv_cache_free(c);
    return NULL;
  }
  return c;
}

void srv_cache_free(struct srv_cache *c) {
  if (!c)
    return;
  uc_pub_release(&c->pub);
  pthread_mutex_destroy(&c->reload_lock);
  pthread_mutex_destroy(&c->neg_lock);
  sodium_memzero(c->secret, sizeof c->secret);
  free(c->negative);
  free(c);
}

int srv_cache_reload(struct srv_cache *c) {
  struct view *fresh;
  uint64_t version = 0;
  pthread_mutex_lock(&c->reload_lock);
  uc_store_version(c->st, &version); /* before reading: a later change reloads again */
  int rc = build_view(c->st, &fresh);
  if (rc == UC_OK) {
    pthread_mutex_lock(&c->neg_lock); /* a key unknown before may exist now */
    memset(c->negative, 0, NEGATIVE_SLOTS * sizeof *c->negative);
    pthread_mutex_unlock(&c->neg_lock);
    atomic_store(&c->version, version);
    uc_pub_swap(&c->pub, fresh); /* the old view goes with its last follower */
  }
  pthread_mutex_unlock(&c->reload_lock);
  return rc;
}

int srv_cache_poll(struct srv_cache *c) {
  uint64_t v;
  int rc = uc_store_version(c->st, &v);
  if (rc != UC_OK || v == atomic_load(&c->version))
    return rc;
  rc = srv_cache_reload(c);
  return rc ? rc : 1;
}

void *srv_view_hold(struct srv_worker *w) {
  return view_ref(w->view.cur);
}

void *srv_cache_account(struct srv_cache *c, int64_t id, const struct srv_account **out) {
  struct view *v = uc_pub_get(&c->pub);
  *out = v ? account_in(v, id) : NULL;
  return v;
}

void srv_view_release(void *view) {
  view_unref(view);
}

void srv_view_follower_drop(struct srv_cache *c, struct uc_follower *f) {
  uc_follower_drop(&c->pub, f);
}

/* Fills out for a live key of v; *known says whether v has the key at all. */
static int lookup(struct view *v, const uint8_t *hash, struct srv_auth *out, int *known) {
  const struct key_slot *e = uc_table_find(&v->keys, tag_of(hash), key_eq, hash);
  *known = e != NULL;
  if (!e || e->k.revoked)
    return 0;
  out->account = account_in(v, e->k.account_id);
  out->key = e->k;
  return out->account != NULL;
}

/* Whether hash is remembered as unknown to the store; remember sets it. */
static int negative(struct srv_cache *c, const uint8_t *hash, int remember) {
  uint8_t *slot = c->negative[tag_of(hash) & (NEGATIVE_SLOTS - 1)];
  pthread_mutex_lock(&c->neg_lock);
  int hit = crypto_verify_32(slot, hash) == 0;
  if (remember)
    memcpy(slot, hash, UC_KEY_HASH_LEN);
  pthread_mutex_unlock(&c->neg_lock);
  return hit;
}

/* The key's type, checksum kind and hash, from the thread's memo when it saw
 * this key lately. Keys are compared zero-padded to 64 bytes in constant time,
 * like the hashes. */
static int parse_key(struct srv_cache *c, struct srv_key_memo *memo, const char *key, size_t n,
                     uc_key_type *type, int *check, uint8_t hash[UC_KEY_HASH_LEN]) {
  struct srv_key_memo *m = &memo[((unsigned char)key[n - 1] + n) % SRV_KEY_MEMO];
  unsigned char padded[sizeof m->key] = {0};
  if (n <= sizeof m->key) {
    memcpy(padded, key, n);
    if (m->n == n && crypto_verify_64(m->key, padded) == 0) {
      *type = m->type, *check = m->check;
      memcpy(hash, m->hash, UC_KEY_HASH_LEN);
      return UC_OK;
    }
  }
  if (uc_key_parse(key, n, c->secret, type, check) != UC_OK)
    return UC_EINVAL;
  uc_key_hash(key, n, hash);
  if (n <= sizeof m->key) { /* a valid key always fits */
    memcpy(m->key, padded, sizeof m->key);
    m->n = n, m->type = *type, m->check = *check;
    memcpy(m->hash, hash, UC_KEY_HASH_LEN);
  }
  return UC_OK;
}

enum srv_auth_result srv_auth_key(struct srv_cache *c, struct srv_worker *w, const char *key,
                                  size_t n, struct srv_auth *out) {
  uc_key_type type;
  uint8_t hash[UC_KEY_HASH_LEN];
  struct uc_key_rec rec;
  int known, check;
  if (n == 0)
    return SRV_AUTH_NONE;
  if (parse_key(c, w->memo, key, n, &type, &check, hash) != UC_OK) /* no store access */
    return SRV_AUTH_INVALID;
  for (int attempt = 0; attempt < 2; attempt++) {
    if (lookup(uc_pub_follow(&c->pub, &w->view), hash, out, &known))
      return SRV_AUTH_OK;
    /* Unknown here: maybe created by another process since the last poll,
     * unless the store already said it has no such key. A legacy checksum is
     * anyone's to compute, and no key is made with one any more: every real
     * one is in the view already (a reload follows any change within 100 ms). */
    if (known || attempt)
      break;
    if (check == UC_KEY_LEGACY) {
      atomic_fetch_add(&c->legacy_refused, 1);
      break;
    }
    if (negative(c, hash, 0)) {
      atomic_fetch_add(&c->negative_hits, 1);
      break;
    }
    atomic_fetch_add(&c->store_lookups, 1);
    int rc = uc_store_key_by_hash(c->st, hash, &rec);
    if (rc == UC_ENOTFOUND)
      negative(c, hash, 1);
    if (rc == UC_EUNAVAILABLE)
      return SRV_AUTH_UNAVAILABLE;
    if (rc != UC_OK || rec.revoked_at)
      break;
    srv_cache_reload(c);
  }
  return SRV_AUTH_INVALID;
}
