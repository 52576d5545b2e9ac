/* Recent checks per account: a ring and today's tops each, found through a
 * published directory (include/uc/activity.h, docs/internals/activity.md). */
#include "uc/activity.h"
#include "uc/error.h"
#include "uc/store.h"
#include "uc/table.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Space-Saving: at most UC_ACTIVITY_TOP names; a new name past that takes
 * the place of the least counted one, inheriting its count as `over`. */
struct top {
  size_t n;
  struct top_item {
    uint32_t hash;
    uint64_t count, over;
    char name[UC_ACTIVITY_TEXT_MAX + 1];
  } items[UC_ACTIVITY_TOP];
};

/* What one thread wrote into a feed: its own ring and tops, so that threads
 * checking for the same account never wait on each other or write the same
 * memory (only the feed's seq counter is shared). Made on the thread's first
 * write. */
struct part {
  size_t head;   /* where the next entry goes */
  size_t filled; /* entries in the ring */
  unsigned day;  /* of the tops */
  uint64_t sent; /* the newest seq a flush wrote to the shared store */
  struct top domains, ips;
  struct uc_activity_entry ring[UC_ACTIVITY_RING];
};

/* One account's feed, in UC_ACTIVITY_PARTS parts by thread (slot % parts).
 * locks[i] guards parts[i]; a writer takes a seq under its part's lock, so a
 * reader holding every lock sees every seq handed out. */
#define UC_ACTIVITY_PARTS 8
struct feed {
  pthread_mutex_t locks[UC_ACTIVITY_PARTS];
  _Atomic int64_t account; /* whose feed it is now (handed over past max_accounts) */
  _Atomic int64_t last_write;
  _Atomic uint64_t seq; /* of the newest entry */
  struct part *parts[UC_ACTIVITY_PARTS];
};

/* The published directory: account id -> feed, immutable once published. */
struct dir {
  atomic_int refs;
  struct uc_table t; /* struct dir_slot */
};
struct dir_slot {
  int64_t account;
  struct feed *feed;
};

struct uc_activity {
  pthread_mutex_t lock;       /* making feeds and directories */
  pthread_mutex_t flush_lock; /* one flush at a time; taken before lock and part locks */
  size_t max, nfeeds;
  struct feed **feeds; /* every feed made, for handing the oldest over */
  struct uc_pub dir;
};

static void *dir_ref(void *d) {
  atomic_fetch_add(&((struct dir *)d)->refs, 1);
  return d;
}

static void dir_unref(void *p) {
  struct dir *d = p;
  if (d && atomic_fetch_sub(&d->refs, 1) == 1) {
    uc_table_release(&d->t);
    free(d);
  }
}

static uint32_t account_hash(int64_t account) {
  return uc_hash(&account, sizeof account, 0x61637476); /* "actv" */
}

static int slot_eq(const void *slot, const void *key) {
  return ((const struct dir_slot *)slot)->account == *(const int64_t *)key;
}

uc_activity *uc_activity_new(size_t max_accounts) {
  uc_activity *a = calloc(1, sizeof *a);
  struct dir *d = calloc(1, sizeof *d);
  if (!a || !d) {
    free(a);
    free(d);
    return NULL;
  }
  a->max = max_accounts ? max_accounts : UC_ACTIVITY_ACCOUNTS_DEFAULT;
  pthread_mutex_init(&a->lock, NULL);
  pthread_mutex_init(&a->flush_lock, NULL);
  atomic_init(&d->refs, 1);
  uc_table_init(&d->t, sizeof(struct dir_slot), UC_TABLE_TAGS_APART);
  uc_pub_init(&a->dir, d, dir_ref, dir_unref);
  return a;
}

static void feed_free(struct feed *f) {
  for (int i = 0; i < UC_ACTIVITY_PARTS; i++) {
    pthread_mutex_destroy(&f->locks[i]);
    free(f->parts[i]);
  }
  free(f);
}

void uc_activity_free(uc_activity *a) {
  if (!a)
    return;
  uc_pub_release(&a->dir);
  for (size_t i = 0; i < a->nfeeds; i++)
    feed_free(a->feeds[i]);
  free(a->feeds);
  pthread_mutex_destroy(&a->lock);
  pthread_mutex_destroy(&a->flush_lock);
  free(a);
}

void uc_activity_follower_drop(uc_activity *a, struct uc_follower *f) {
  if (a)
    uc_follower_drop(&a->dir, f);
}

/* A copy of the current directory with account -> feed and without the
 * feed's previous account; NULL on ENOMEM. Under a->lock. */
static struct dir *dir_with(uc_activity *a, int64_t account, struct feed *feed, int64_t previous) {
  struct dir *cur = uc_pub_get(&a->dir), *next = calloc(1, sizeof *next);
  int ok = next != NULL;
  if (ok) {
    atomic_init(&next->refs, 1);
    uc_table_init(&next->t, sizeof(struct dir_slot), UC_TABLE_TAGS_APART);
    ok = uc_table_reserve(&next->t, cur->t.count + 1) == UC_OK;
  }
  for (uint32_t i = 0; ok && i < uc_table_capacity(&cur->t); i++) {
    const struct dir_slot *s = uc_table_slot(&cur->t, i);
    if (uc_table_used(&cur->t, i) && s->account != previous)
      *(struct dir_slot *)uc_table_insert(&next->t, account_hash(s->account), slot_eq, &s->account,
                                          NULL) = *s;
  }
  struct dir_slot *mine =
      ok ? uc_table_insert(&next->t, account_hash(account), slot_eq, &account, NULL) : NULL;
  dir_unref(cur);
  if (!mine) {
    dir_unref(next);
    return NULL;
  }
  mine->account = account, mine->feed = feed;
  return next;
}

static void lock_all(struct feed *f) {
  for (int i = 0; i < UC_ACTIVITY_PARTS; i++)
    pthread_mutex_lock(&f->locks[i]);
}

static void unlock_all(struct feed *f) {
  for (int i = UC_ACTIVITY_PARTS; i-- > 0;)
    pthread_mutex_unlock(&f->locks[i]);
}

/* The feed longest unwritten, handed over to account at now (its entries go;
 * the parts' memory stays for the new owner). */
static struct feed *hand_over(uc_activity *a, int64_t account, int64_t now, int64_t *previous) {
  struct feed *oldest = a->feeds[0];
  for (size_t i = 1; i < a->nfeeds; i++)
    if (atomic_load(&a->feeds[i]->last_write) < atomic_load(&oldest->last_write))
      oldest = a->feeds[i];
  lock_all(oldest);
  *previous = atomic_load(&oldest->account);
  for (int i = 0; i < UC_ACTIVITY_PARTS; i++)
    if (oldest->parts[i])
      memset(oldest->parts[i], 0, sizeof *oldest->parts[i]);
  atomic_store(&oldest->seq, 0);
  atomic_store(&oldest->account, account);
  atomic_store(&oldest->last_write, now); /* not the next one handed over */
  unlock_all(oldest);
  return oldest;
}

static struct feed *feed_new(int64_t account, int64_t now) {
  struct feed *f = calloc(1, sizeof *f);
  if (!f)
    return NULL;
  for (int i = 0; i < UC_ACTIVITY_PARTS; i++)
    pthread_mutex_init(&f->locks[i], NULL);
  atomic_init(&f->account, account);
  atomic_init(&f->last_write, now);
  atomic_init(&f->seq, 0);
  return f;
}

/* The account's feed, made (or handed over) and published when it has none.
 * NULL on ENOMEM. */
static struct feed *feed_make(uc_activity *a, int64_t account, int64_t now) {
  pthread_mutex_lock(&a->lock);
  struct dir *cur = uc_pub_get(&a->dir);
  struct dir_slot *s = uc_table_find(&cur->t, account_hash(account), slot_eq, &account);
  struct feed *f = s ? s->feed : NULL;
  dir_unref(cur);
  int64_t previous = 0;
  if (!f && a->nfeeds < a->max) {
    struct feed **grown = realloc(a->feeds, (a->nfeeds + 1) * sizeof *grown);
    if (grown)
      a->feeds = grown;
    if (grown && (f = feed_new(account, now)) != NULL)
      a->feeds[a->nfeeds++] = f;
  } else if (!f) {
    f = hand_over(a, account, now, &previous);
  }
  struct dir *next = f ? dir_with(a, account, f, previous) : NULL;
  if (next)
    uc_pub_swap(&a->dir, next);
  pthread_mutex_unlock(&a->lock);
  return next ? f : NULL;
}

/* Copies s[0..n) into out (size bytes with its NUL): control bytes become
 * '?', and a cut never splits a UTF-8 sequence. */
static void copy_text(char *out, size_t size, const char *s, size_t n) {
  size_t k = s ? (n < size - 1 ? n : size - 1) : 0;
  if (k < n) /* cut: back up over continuation bytes to a sequence start */
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
      k--;
  for (size_t i = 0; i < k; i++) {
    unsigned char c = (unsigned char)s[i];
    out[i] = c < 0x20 || c == 0x7F ? '?' : (char)c;
  }
  out[k] = 0;
}

/* Counts name (n->count hits; over: how much of it may be someone else's). */
static void top_add(struct top *t, const char *name, uint64_t count, uint64_t over) {
  uint32_t h = uc_hash(name, strlen(name), 0);
  size_t least = 0;
  for (size_t i = 0; i < t->n; i++) {
    if (t->items[i].hash == h && strcmp(t->items[i].name, name) == 0) {
      t->items[i].count += count, t->items[i].over += over;
      return;
    }
    if (t->items[i].count < t->items[least].count)
      least = i;
  }
  struct top_item *it = t->n < UC_ACTIVITY_TOP ? &t->items[t->n++] : &t->items[least];
  uint64_t inherited = it->name[0] ? it->count : 0; /* a newcomer may have been among the dropped */
  it->count = inherited + count, it->over = inherited + over;
  it->hash = h;
  memcpy(it->name, name, strlen(name) + 1);
}

/* The new entry, at the ring's head. */
static struct uc_activity_entry *write_entry(struct part *p, uint64_t seq,
                                             const struct uc_activity_note *n) {
  struct uc_activity_entry *e = &p->ring[p->head];
  e->seq = seq;
  e->at = n->at, e->key_id = n->key_id, e->key_type = n->key_type;
  e->outcome = n->outcome, e->type = n->type, e->is_address = n->is_address;
  copy_text(e->text, sizeof e->text, n->text, n->text_len);
  copy_text(e->ip, sizeof e->ip, n->ip, n->ip ? n->ip_len : 0);
  copy_text(e->ip_key, sizeof e->ip_key, n->ip_key, n->ip_key ? strlen(n->ip_key) : 0);
  p->head = (p->head + 1) % UC_ACTIVITY_RING;
  if (p->filled < UC_ACTIVITY_RING)
    p->filled++;
  return e;
}

/* What e adds to its day's tops: the domain of a live key's black answer,
 * the IP of its black and banned answers (NULL: nothing). */
static const char *top_domain(const struct uc_activity_entry *e) {
  if (e->key_type != UC_KEY_ACTIVE || e->outcome != UC_BLACK)
    return NULL;
  const char *at = e->is_address ? strrchr(e->text, '@') : NULL;
  const char *dom = at ? at + 1 : e->text;
  return *dom ? dom : NULL;
}

static const char *top_ip(const struct uc_activity_entry *e) {
  int blocked = e->outcome == UC_BLACK || e->outcome == UC_USAGE_BANNED;
  return e->key_type == UC_KEY_ACTIVE && blocked && e->ip_key[0] ? e->ip_key : NULL;
}

/* Today's tops: what the part's newest entry e adds. */
static void count_blocked(struct part *p, const struct uc_activity_entry *e) {
  unsigned day = (unsigned)(e->at / 86400);
  const char *dom = top_domain(e), *ip = top_ip(e);
  if (!dom && !ip)
    return;
  if (day != p->day) {
    memset(&p->domains, 0, sizeof p->domains);
    memset(&p->ips, 0, sizeof p->ips);
    p->day = day;
  }
  if (dom)
    top_add(&p->domains, dom, 1, 0);
  if (ip)
    top_add(&p->ips, ip, 1, 0);
}

/* Writes n into part i of f when f is still account's; 0 when it was handed over. */
static int write_part(struct feed *f, unsigned i, int64_t account,
                      const struct uc_activity_note *n) {
  int mine = 0;
  pthread_mutex_lock(&f->locks[i]);
  if (atomic_load_explicit(&f->account, memory_order_relaxed) == account) {
    if (!f->parts[i])
      f->parts[i] = calloc(1, sizeof *f->parts[i]); /* NULL: this note is dropped */
    if (f->parts[i]) {
      count_blocked(f->parts[i], write_entry(f->parts[i], atomic_fetch_add(&f->seq, 1) + 1, n));
    }
    if (atomic_load_explicit(&f->last_write, memory_order_relaxed) < n->at)
      atomic_store_explicit(&f->last_write, n->at, memory_order_relaxed);
    mine = 1;
  }
  pthread_mutex_unlock(&f->locks[i]);
  return mine;
}

void uc_activity_note(uc_activity *a, struct uc_follower *fl, unsigned slot, int64_t account,
                      const struct uc_activity_note *n) {
  if (!a)
    return;
  struct dir *d = uc_pub_follow(&a->dir, fl);
  struct dir_slot *s = d ? uc_table_find(&d->t, account_hash(account), slot_eq, &account) : NULL;
  struct feed *f = s ? s->feed : NULL;
  for (int tries = 0; tries < 2; tries++) {
    if (!f && !(f = feed_make(a, account, n->at)))
      return;
    if (write_part(f, slot % UC_ACTIVITY_PARTS, account, n))
      return;
    f = NULL; /* handed over since this thread's directory: ask again */
  }
}

static int by_count(const void *x, const void *y);

static int by_count(const void *x, const void *y) {
  const struct uc_activity_top *a = x, *b = y;
  if (a->count != b->count)
    return a->count > b->count ? -1 : 1;
  return strcmp(a->name, b->name);
}

static int by_seq_desc(const void *x, const void *y) {
  uint64_t a = ((const struct uc_activity_entry *)x)->seq;
  uint64_t b = ((const struct uc_activity_entry *)y)->seq;
  return a < b ? 1 : a > b ? -1 : 0;
}

/* Merging the parts' tops keeps Space-Saving's promise: a name absent from a
 * full part may still have up to that part's least count there, so that much
 * is added to its count and to its over. */
struct merged {
  size_t n;
  struct uc_activity_top *items; /* UC_ACTIVITY_PARTS * UC_ACTIVITY_TOP */
};

static int by_name(const void *x, const void *y) {
  return strcmp(((const struct uc_activity_top *)x)->name,
                ((const struct uc_activity_top *)y)->name);
}

static uint64_t least(const struct top *t) {
  uint64_t m = UINT64_MAX;
  for (size_t i = 0; i < t->n; i++)
    m = t->items[i].count < m ? t->items[i].count : m;
  return m;
}

static int has(const struct top *t, const char *name) {
  for (size_t i = 0; i < t->n; i++)
    if (strcmp(t->items[i].name, name) == 0)
      return 1;
  return 0;
}

/* tops[0..n): the parts' tables of today. The most counted first into out. */
static size_t tops_merged(const struct top *const *tops, size_t n, struct merged *m,
                          struct uc_activity_top *out) {
  m->n = 0;
  for (size_t p = 0; p < n; p++)
    for (size_t i = 0; i < tops[p]->n; i++) {
      struct uc_activity_top *t = &m->items[m->n++];
      memcpy(t->name, tops[p]->items[i].name, sizeof t->name);
      t->count = tops[p]->items[i].count, t->over = tops[p]->items[i].over;
    }
  qsort(m->items, m->n, sizeof *m->items, by_name);
  size_t k = 0;
  for (size_t i = 0; i < m->n; i++) { /* one row per name: counts and overs add up */
    if (k && strcmp(m->items[k - 1].name, m->items[i].name) == 0) {
      m->items[k - 1].count += m->items[i].count, m->items[k - 1].over += m->items[i].over;
      continue;
    }
    m->items[k++] = m->items[i];
  }
  m->n = k;
  for (size_t p = 0; p < n; p++) {
    uint64_t low = tops[p]->n == UC_ACTIVITY_TOP ? least(tops[p]) : 0;
    for (size_t i = 0; low && i < m->n; i++)
      if (!has(tops[p], m->items[i].name))
        m->items[i].count += low, m->items[i].over += low;
  }
  qsort(m->items, m->n, sizeof *m->items, by_count);
  size_t shown = m->n < UC_ACTIVITY_TOP_SHOWN ? m->n : UC_ACTIVITY_TOP_SHOWN;
  memcpy(out, m->items, shown * sizeof *out);
  return shown;
}

/* Every part's entries newer than since, newest first, at most a ring's
 * worth (scratch: room for every part's ring), and today's tops merged. */
static void read_parts(struct feed *f, uint64_t since, unsigned today,
                       struct uc_activity_entry *scratch, struct merged *m,
                       struct uc_activity_view *out) {
  const struct top *domains[UC_ACTIVITY_PARTS], *ips[UC_ACTIVITY_PARTS];
  size_t n = 0, nt = 0;
  for (int i = 0; i < UC_ACTIVITY_PARTS; i++) {
    const struct part *p = f->parts[i];
    for (size_t k = 0; p && k < p->filled; k++) { /* newest first */
      const struct uc_activity_entry *e =
          &p->ring[(p->head + UC_ACTIVITY_RING - 1 - k) % UC_ACTIVITY_RING];
      if (e->seq <= since)
        break;
      scratch[n++] = *e;
    }
    if (p && p->day == today)
      domains[nt] = &p->domains, ips[nt++] = &p->ips;
  }
  qsort(scratch, n, sizeof *scratch, by_seq_desc);
  out->n = n < UC_ACTIVITY_RING ? n : UC_ACTIVITY_RING;
  memcpy(out->entries, scratch, out->n * sizeof *scratch);
  out->ndomains = tops_merged(domains, nt, m, out->domains);
  out->nips = tops_merged(ips, nt, m, out->ips);
}

void uc_activity_read(uc_activity *a, int64_t account, uint64_t since, unsigned today,
                      struct uc_activity_view *out) {
  out->last_seq = 0, out->n = 0, out->day = today, out->ndomains = out->nips = 0;
  struct dir *d = a ? uc_pub_get(&a->dir) : NULL;
  struct dir_slot *s = d ? uc_table_find(&d->t, account_hash(account), slot_eq, &account) : NULL;
  struct feed *f = s ? s->feed : NULL;
  dir_unref(d);
  struct uc_activity_entry *scratch =
      f ? malloc(UC_ACTIVITY_PARTS * UC_ACTIVITY_RING * sizeof *scratch) : NULL;
  struct merged m = {0, scratch ? malloc(UC_ACTIVITY_PARTS * UC_ACTIVITY_TOP * sizeof *m.items)
                                : NULL};
  if (m.items) {
    lock_all(f); /* every seq handed out is written: last_seq hides nothing */
    if (atomic_load(&f->account) == account) {
      out->last_seq = atomic_load(&f->seq);
      read_parts(f, since, today, scratch, &m, out);
    }
    unlock_all(f);
  }
  free(m.items);
  free(scratch);
}

/* ---- the shared store ---- */

/* Part p's entries newer than p->sent, newest first, into out; *newest: the
 * newest one's seq. */
static size_t unsent(const struct part *p, struct uc_activity_rec *out, uint64_t *newest) {
  size_t n = 0;
  for (size_t k = 0; k < p->filled; k++) {
    const struct uc_activity_entry *e =
        &p->ring[(p->head + UC_ACTIVITY_RING - 1 - k) % UC_ACTIVITY_RING];
    if (e->seq <= p->sent)
      break;
    struct uc_activity_rec *r = &out[n++];
    const char *dom = top_domain(e), *ip = top_ip(e);
    r->e = *e;
    snprintf(r->top_domain, sizeof r->top_domain, "%s", dom ? dom : "");
    snprintf(r->top_ip, sizeof r->top_ip, "%s", ip ? ip : "");
    if (n == 1)
      *newest = e->seq;
  }
  return n;
}

static int by_rec_seq(const void *x, const void *y) {
  uint64_t a = ((const struct uc_activity_rec *)x)->e.seq;
  uint64_t b = ((const struct uc_activity_rec *)y)->e.seq;
  return a < b ? -1 : a > b;
}

/* One feed's news to st, oldest first (recs: room for every part's ring). */
static int flush_feed(struct feed *f, uc_store *st, struct uc_activity_rec *recs) {
  int64_t account = atomic_load(&f->account);
  uint64_t newest[UC_ACTIVITY_PARTS] = {0};
  size_t n = 0;
  for (int i = 0; i < UC_ACTIVITY_PARTS; i++) {
    pthread_mutex_lock(&f->locks[i]);
    if (f->parts[i] && atomic_load(&f->account) == account)
      n += unsent(f->parts[i], recs + n, &newest[i]);
    pthread_mutex_unlock(&f->locks[i]);
  }
  if (n == 0)
    return UC_OK;
  qsort(recs, n, sizeof *recs, by_rec_seq);
  int rc = uc_store_activity_add(st, account, recs, n);
  for (int i = 0; rc == UC_OK && i < UC_ACTIVITY_PARTS; i++) {
    pthread_mutex_lock(&f->locks[i]);
    if (f->parts[i] && atomic_load(&f->account) == account && newest[i] > f->parts[i]->sent)
      f->parts[i]->sent = newest[i];
    pthread_mutex_unlock(&f->locks[i]);
  }
  return rc;
}

int uc_activity_flush(uc_activity *a, uc_store *st) {
  if (!a || !uc_store_shared(st))
    return UC_OK;
  pthread_mutex_lock(&a->flush_lock);
  pthread_mutex_lock(&a->lock); /* feeds are never freed before a; the array may grow */
  size_t nfeeds = a->nfeeds;
  struct feed **feeds = nfeeds ? malloc(nfeeds * sizeof *feeds) : NULL;
  if (feeds)
    memcpy(feeds, a->feeds, nfeeds * sizeof *feeds);
  pthread_mutex_unlock(&a->lock);
  struct uc_activity_rec *recs =
      feeds ? malloc(UC_ACTIVITY_PARTS * UC_ACTIVITY_RING * sizeof *recs) : NULL;
  int rc = nfeeds && !recs ? UC_ENOMEM : UC_OK, first = rc;
  for (size_t i = 0; recs && i < nfeeds; i++)
    if ((rc = flush_feed(feeds[i], st, recs)) != UC_OK && first == UC_OK)
      first = rc; /* the other accounts still go */
  free(recs);
  free(feeds);
  pthread_mutex_unlock(&a->flush_lock);
  return first;
}
