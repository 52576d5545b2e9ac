/* Alias-chain memory (include/uc/aliases.h): 16 shards of mailboxes, each
 * with the spellings seen and when; written behind to the store; bounded,
 * with a filter of mailboxes that left memory (read back when seen again). */
#include "uc/aliases.h"
#include "uc/buf.h"
#include "uc/error.h"
#include "uc/table.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SHARDS 16
#define EVICT_SCAN 64

struct spelling {
  uint8_t h[UC_ALIAS_HASH];
  int64_t seen;    /* the newest sighting */
  int64_t written; /* the sighting the store has (0: none) */
  uint8_t dirty;
};

struct entry {
  uint32_t tag;
  uint8_t n; /* spellings in use */
  int64_t account;
  uint8_t mailbox[UC_ALIAS_HASH];
  int64_t last; /* newest sighting: eviction order */
  struct spelling sp[UC_ALIAS_SPELLINGS];
};

struct shard {
  pthread_mutex_t lock;
  struct uc_table t; /* struct entry, tag inside */
  uint32_t hand;
  struct uc_gone gone; /* mailboxes that hash here and left memory */
};

struct uc_aliases {
  uc_store *st;
  uint8_t key[crypto_generichash_KEYBYTES]; /* the installation secret */
  size_t max, max_per_shard;
  pthread_mutex_t flush_lock;
  _Atomic uint64_t evicted, store_reads, write_errors;
  struct shard shards[SHARDS];
};

struct key {
  int64_t account;
  const uint8_t *mailbox;
};

static int eq(const void *slot, const void *k) {
  const struct entry *e = slot;
  const struct key *key = k;
  return e->account == key->account && memcmp(e->mailbox, key->mailbox, UC_ALIAS_HASH) == 0;
}

static uint32_t hash_of(int64_t account, const uint8_t *mailbox) {
  uint32_t h;
  memcpy(&h, mailbox, sizeof h); /* already a keyed hash */
  return h ^ (uint32_t)((uint64_t)account * 0x9E3779B97F4A7C15ull >> 32);
}

static struct shard *shard_of(uc_aliases *a, uint32_t h) {
  return &a->shards[h >> 28];
}

/* Keyed BLAKE2b-128 of text, domain-separated by what it is. */
static void keyed(const uc_aliases *a, const char *what, const char *text, size_t n,
                  uint8_t out[UC_ALIAS_HASH]) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, a->key, sizeof a->key, UC_ALIAS_HASH);
  crypto_generichash_update(&st, (const unsigned char *)what, strlen(what) + 1);
  crypto_generichash_update(&st, (const unsigned char *)text, n);
  crypto_generichash_final(&st, out, UC_ALIAS_HASH);
}

/* With e's shard locked: adds or refreshes a spelling (the oldest goes when
 * full). dirty: a sighting to write (else one read back from the store). */
static void remember(struct entry *e, const uint8_t h[UC_ALIAS_HASH], int64_t when, int dirty) {
  int at = -1, oldest = 0;
  for (int i = 0; i < e->n; i++) {
    if (memcmp(e->sp[i].h, h, UC_ALIAS_HASH) == 0)
      at = i;
    if (e->sp[i].seen < e->sp[oldest].seen)
      oldest = i;
  }
  if (at < 0) { /* a new spelling, in a free place or the oldest's */
    at = e->n < UC_ALIAS_SPELLINGS ? e->n++ : oldest;
    memcpy(e->sp[at].h, h, UC_ALIAS_HASH);
    e->sp[at].seen = e->sp[at].written = 0, e->sp[at].dirty = 0;
  }
  if (!dirty && when > e->sp[at].written) /* read back: the store has it */
    e->sp[at].written = when;
  if (when > e->sp[at].seen) {
    /* a write per hour per spelling at most (the window counts days), measured
     * from the last write, so that a spelling seen every 50 minutes is still
     * written every hour */
    e->sp[at].dirty |= (uint8_t)(dirty && when - e->sp[at].written >= 3600);
    e->sp[at].seen = when;
  }
  if (when > e->last)
    e->last = when;
}

/* Who may leave memory: nothing unwritten; the least recently seen first. */
static int64_t evict_score(const void *slot, void *ctx) {
  const struct entry *e = slot;
  (void)ctx;
  for (int k = 0; k < e->n; k++)
    if (e->sp[k].dirty)
      return -1;
  return e->last;
}

/* With s locked: drops the least recently seen mailbox with nothing unwritten
 * among EVICT_SCAN slots; 0 when there was none. */
static int evict_one(uc_aliases *a, struct shard *s) {
  uint32_t best = uc_table_pick(&s->t, &s->hand, EVICT_SCAN, evict_score, NULL);
  if (best == UINT32_MAX)
    return 0;
  struct entry *victim = uc_table_slot(&s->t, best);
  uc_gone_add(&s->gone, victim->tag);
  uc_table_remove(&s->t, victim);
  atomic_fetch_add(&a->evicted, 1);
  return 1;
}

struct load {
  uc_aliases *a;
  struct entry *into; /* NULL: the whole table at open */
};

static int load_one(void *arg, const struct uc_alias_rec *r) {
  struct load *l = arg;
  if (l->into) {
    remember(l->into, r->spelling, r->last_seen, 0);
    return 0;
  }
  uint32_t h = hash_of(r->account_id, r->mailbox);
  struct shard *s = shard_of(l->a, h);
  struct key k = {r->account_id, r->mailbox};
  struct entry *e = uc_table_find(&s->t, h, eq, &k);
  if (!e && s->t.count >= l->a->max_per_shard) {
    uc_gone_add(&s->gone, uc_table_tag(h)); /* stays in the store; read back when seen again */
    return 0;
  }
  if (!e && (e = uc_table_insert(&s->t, h, eq, &k, NULL)) != NULL) {
    e->account = r->account_id;
    memcpy(e->mailbox, r->mailbox, UC_ALIAS_HASH);
  }
  if (e)
    remember(e, r->spelling, r->last_seen, 0);
  return e == NULL;
}

int uc_aliases_open(uc_store *st, size_t max, uc_aliases **out, char *err, size_t es) {
  uc_aliases *a = calloc(1, sizeof *a);
  *out = NULL;
  if (!a)
    return uc_errorf(err, es, UC_ENOMEM, "out of memory");
  a->st = st;
  a->max = max ? max : UC_ALIASES_MAX_DEFAULT;
  a->max_per_shard = (a->max + SHARDS - 1) / SHARDS;
  pthread_mutex_init(&a->flush_lock, NULL);
  for (int i = 0; i < SHARDS; i++) {
    pthread_mutex_init(&a->shards[i].lock, NULL);
    uc_table_init(&a->shards[i].t, sizeof(struct entry), offsetof(struct entry, tag));
  }
  struct load l = {a, NULL};
  int64_t since = (int64_t)time(NULL) - (int64_t)UC_ALIAS_WINDOW_MAX * 86400;
  int rc = uc_store_secret(st, "alias-chains", a->key);
  if (rc == UC_OK)
    rc = uc_store_alias_each(st, 0, NULL, since, load_one, &l);
  if (rc) {
    char why[256];
    uc_store_error(st, rc, why, sizeof why);
    uc_aliases_free(a);
    return uc_errorf(err, es, rc, "cannot load the alias memory: %s", why);
  }
  *out = a;
  return UC_OK;
}

void uc_aliases_free(uc_aliases *a) {
  if (!a)
    return;
  for (int i = 0; i < SHARDS; i++) {
    uc_table_release(&a->shards[i].t);
    pthread_mutex_destroy(&a->shards[i].lock);
  }
  pthread_mutex_destroy(&a->flush_lock);
  sodium_memzero(a->key, sizeof a->key);
  free(a);
}

unsigned uc_aliases_note(uc_aliases *a, int64_t account, const struct uc_email *e,
                         const char *normalized, int64_t now, unsigned window_days) {
  uint8_t mailbox[UC_ALIAS_HASH], spelling[UC_ALIAS_HASH];
  char written[UC_LOCAL_MAX + 1 + UC_DOMAIN_MAX + 1];
  if (!uc_email_sub_addressing(e))
    return 0;
  /* The spelling: the local part as written (case does not make another
   * mailbox) at the domain as written (googlemail.com is one). */
  size_t n = 0;
  for (size_t i = 0; i < e->local_len; i++)
    written[n++] =
        (char)(e->local[i] >= 'A' && e->local[i] <= 'Z' ? e->local[i] | 0x20 : e->local[i]);
  written[n++] = '@';
  memcpy(written + n, e->domain, e->domain_len), n += e->domain_len;
  keyed(a, "mailbox", normalized, strlen(normalized), mailbox);
  keyed(a, "spelling", written, n, spelling);
  uint32_t h = hash_of(account, mailbox);
  struct shard *s = shard_of(a, h);
  struct key k = {account, mailbox};
  int64_t since = now - (int64_t)window_days * 86400;
  pthread_mutex_lock(&s->lock);
  struct entry *ent = uc_table_find(&s->t, h, eq, &k);
  if (!ent) {
    struct load l = {a, NULL};
    struct entry fresh = {0};
    if (uc_gone_maybe(&s->gone, uc_table_tag(h))) { /* left memory: its spellings are stored */
      l.into = &fresh;
      atomic_fetch_add(&a->store_reads, 1);
      uc_store_alias_each(a->st, account, mailbox, now - (int64_t)UC_ALIAS_WINDOW_MAX * 86400,
                          load_one, &l);
    }
    while (s->t.count >= a->max_per_shard && evict_one(a, s))
      ;
    if ((ent = uc_table_insert(&s->t, h, eq, &k, NULL)) != NULL) {
      memcpy(ent->sp, fresh.sp, sizeof ent->sp);
      ent->n = fresh.n, ent->last = fresh.last;
      ent->account = account;
      memcpy(ent->mailbox, mailbox, UC_ALIAS_HASH);
    }
  }
  unsigned count = 1;
  if (ent) {
    remember(ent, spelling, now, 1);
    count = 0;
    for (int i = 0; i < ent->n; i++)
      count += ent->sp[i].seen >= since;
  }
  pthread_mutex_unlock(&s->lock);
  return count;
}

/* With s locked: copies the unwritten spellings into out, marking them written. */
static int take_dirty(struct shard *s, struct uc_buf *out) {
  for (uint32_t i = 0; i < uc_table_capacity(&s->t); i++) {
    struct entry *e = uc_table_slot(&s->t, i);
    for (int k = 0; uc_table_used(&s->t, i) && k < e->n; k++) {
      if (!e->sp[k].dirty)
        continue;
      struct uc_alias_rec r = {.account_id = e->account, .last_seen = e->sp[k].seen};
      memcpy(r.mailbox, e->mailbox, UC_ALIAS_HASH);
      memcpy(r.spelling, e->sp[k].h, UC_ALIAS_HASH);
      if (uc_buf_add(out, &r, sizeof r))
        return UC_ENOMEM;
      e->sp[k].dirty = 0, e->sp[k].written = e->sp[k].seen;
    }
  }
  return UC_OK;
}

int uc_aliases_flush(uc_aliases *a, int64_t now) {
  struct uc_buf recs;
  int rc = UC_OK;
  uc_buf_init(&recs, (size_t)1 << 30);
  pthread_mutex_lock(&a->flush_lock);
  for (int i = 0; i < SHARDS && rc == UC_OK; i++) {
    pthread_mutex_lock(&a->shards[i].lock);
    rc = take_dirty(&a->shards[i], &recs);
    pthread_mutex_unlock(&a->shards[i].lock);
  }
  if (rc == UC_OK)
    rc = uc_store_alias_put(a->st, (const void *)recs.data,
                            UC_BUF_COUNT(&recs, struct uc_alias_rec));
  if (rc) /* a sighting not written is a chain missed after a restart, no more */
    atomic_fetch_add(&a->write_errors, 1);
  for (int i = 0; i < SHARDS; i++) {
    pthread_mutex_lock(&a->shards[i].lock);
    while (a->shards[i].t.count > a->max_per_shard && evict_one(a, &a->shards[i]))
      ;
    pthread_mutex_unlock(&a->shards[i].lock);
  }
  if (rc == UC_OK)
    rc = uc_store_alias_trim(a->st, now - (int64_t)UC_ALIAS_WINDOW_MAX * 86400, NULL);
  pthread_mutex_unlock(&a->flush_lock);
  uc_buf_release(&recs);
  return rc;
}

void uc_aliases_stats(uc_aliases *a, struct uc_aliases_stats *out) {
  memset(out, 0, sizeof *out);
  for (int i = 0; i < SHARDS; i++) {
    pthread_mutex_lock(&a->shards[i].lock);
    out->mailboxes += a->shards[i].t.count;
    pthread_mutex_unlock(&a->shards[i].lock);
  }
  out->max = a->max;
  out->evicted = atomic_load(&a->evicted);
  out->store_reads = atomic_load(&a->store_reads);
  out->write_errors = atomic_load(&a->write_errors);
}
