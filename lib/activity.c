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

/* One account's feed. Its lock guards everything but `account`'s first
 * assignment, which happens before the feed is published. */
struct feed {
  pthread_mutex_t lock;
  int64_t account; /* whose feed it is now (a feed is handed over past max_accounts) */
  int64_t last_write;
  uint64_t seq;  /* of the newest entry */
  size_t head;   /* where the next entry goes */
  size_t filled; /* entries in the ring */
  unsigned day;  /* of the tops */
  struct top domains, ips;
  struct uc_activity_entry ring[UC_ACTIVITY_RING];
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
  pthread_mutex_t lock; /* making feeds and directories */
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
  atomic_init(&d->refs, 1);
  uc_table_init(&d->t, sizeof(struct dir_slot), UC_TABLE_TAGS_APART);
  uc_pub_init(&a->dir, d, dir_ref, dir_unref);
  return a;
}

void uc_activity_free(uc_activity *a) {
  if (!a)
    return;
  uc_pub_release(&a->dir);
  for (size_t i = 0; i < a->nfeeds; i++) {
    pthread_mutex_destroy(&a->feeds[i]->lock);
    free(a->feeds[i]);
  }
  free(a->feeds);
  pthread_mutex_destroy(&a->lock);
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

/* The feed longest unwritten, handed over to account at now (its entries go). */
static struct feed *hand_over(uc_activity *a, int64_t account, int64_t now, int64_t *previous) {
  struct feed *oldest = a->feeds[0];
  for (size_t i = 1; i < a->nfeeds; i++)
    if (a->feeds[i]->last_write < oldest->last_write)
      oldest = a->feeds[i];
  pthread_mutex_lock(&oldest->lock);
  *previous = oldest->account;
  size_t keep = offsetof(struct feed, account); /* the lock stays */
  memset((char *)oldest + keep, 0, sizeof *oldest - keep);
  oldest->account = account;
  oldest->last_write = now; /* not the next one handed over */
  pthread_mutex_unlock(&oldest->lock);
  return oldest;
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
    if (grown && (f = calloc(1, sizeof *f)) != NULL) {
      pthread_mutex_init(&f->lock, NULL);
      f->account = account;
      a->feeds[a->nfeeds++] = f;
    }
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

static void top_add(struct top *t, const char *name, size_t n) {
  char key[UC_ACTIVITY_TEXT_MAX + 1];
  copy_text(key, sizeof key, name, n);
  uint32_t h = uc_hash(key, strlen(key), 0);
  size_t least = 0;
  for (size_t i = 0; i < t->n; i++) {
    if (t->items[i].hash == h && strcmp(t->items[i].name, key) == 0) {
      t->items[i].count++;
      return;
    }
    if (t->items[i].count < t->items[least].count)
      least = i;
  }
  struct top_item *it = t->n < UC_ACTIVITY_TOP ? &t->items[t->n++] : &t->items[least];
  it->over = it->name[0] ? it->count : 0; /* a newcomer may have been among the dropped */
  it->count = it->over + 1;
  it->hash = h;
  memcpy(it->name, key, strlen(key) + 1);
}

static void write_entry(struct feed *f, const struct uc_activity_note *n) {
  struct uc_activity_entry *e = &f->ring[f->head];
  e->seq = ++f->seq;
  e->at = n->at, e->key_id = n->key_id, e->key_type = n->key_type;
  e->outcome = n->outcome, e->type = n->type, e->is_address = n->is_address;
  copy_text(e->text, sizeof e->text, n->text, n->text_len);
  copy_text(e->ip, sizeof e->ip, n->ip, n->ip ? n->ip_len : 0);
  f->head = (f->head + 1) % UC_ACTIVITY_RING;
  if (f->filled < UC_ACTIVITY_RING)
    f->filled++;
  f->last_write = n->at;
}

/* Today's tops: live keys' black answers (domain and IP) and bans (IP). */
static void count_blocked(struct feed *f, const struct uc_activity_note *n) {
  unsigned day = (unsigned)(n->at / 86400);
  if (n->key_type != UC_KEY_ACTIVE || (n->outcome != UC_BLACK && n->outcome != UC_USAGE_BANNED))
    return;
  if (day != f->day) {
    memset(&f->domains, 0, sizeof f->domains);
    memset(&f->ips, 0, sizeof f->ips);
    f->day = day;
  }
  if (n->outcome == UC_BLACK && n->text) {
    const char *d = n->text;
    size_t len = n->text_len;
    const char *at = n->is_address ? memrchr(d, '@', len) : NULL;
    if (at)
      len -= (size_t)(at + 1 - d), d = at + 1;
    top_add(&f->domains, d, len);
  }
  if (n->ip_key)
    top_add(&f->ips, n->ip_key, strlen(n->ip_key));
}

void uc_activity_note(uc_activity *a, struct uc_follower *fl, int64_t account,
                      const struct uc_activity_note *n) {
  if (!a)
    return;
  struct dir *d = uc_pub_follow(&a->dir, fl);
  struct dir_slot *s = d ? uc_table_find(&d->t, account_hash(account), slot_eq, &account) : NULL;
  struct feed *f = s ? s->feed : NULL;
  for (int tries = 0; tries < 2; tries++) {
    if (!f && !(f = feed_make(a, account, n->at)))
      return;
    pthread_mutex_lock(&f->lock);
    if (f->account == account) { /* not handed over since this thread's directory */
      write_entry(f, n);
      count_blocked(f, n);
      pthread_mutex_unlock(&f->lock);
      return;
    }
    pthread_mutex_unlock(&f->lock);
    f = NULL;
  }
}

static int by_count(const void *x, const void *y) {
  const struct uc_activity_top *a = x, *b = y;
  if (a->count != b->count)
    return a->count > b->count ? -1 : 1;
  return strcmp(a->name, b->name);
}

static size_t top_copy(const struct top *t, struct uc_activity_top *out) {
  struct uc_activity_top all[UC_ACTIVITY_TOP];
  for (size_t i = 0; i < t->n; i++) {
    memcpy(all[i].name, t->items[i].name, sizeof all[i].name);
    all[i].count = t->items[i].count, all[i].over = t->items[i].over;
  }
  qsort(all, t->n, sizeof all[0], by_count);
  size_t n = t->n < UC_ACTIVITY_TOP_SHOWN ? t->n : UC_ACTIVITY_TOP_SHOWN;
  memcpy(out, all, n * sizeof all[0]);
  return n;
}

void uc_activity_read(uc_activity *a, int64_t account, uint64_t since, unsigned today,
                      struct uc_activity_view *out) {
  out->last_seq = 0, out->n = 0, out->day = today, out->ndomains = out->nips = 0;
  struct dir *d = a ? uc_pub_get(&a->dir) : NULL;
  struct dir_slot *s = d ? uc_table_find(&d->t, account_hash(account), slot_eq, &account) : NULL;
  struct feed *f = s ? s->feed : NULL;
  dir_unref(d);
  if (!f)
    return;
  pthread_mutex_lock(&f->lock);
  if (f->account == account) {
    out->last_seq = f->seq;
    for (size_t i = 0; i < f->filled; i++) { /* newest first */
      const struct uc_activity_entry *e =
          &f->ring[(f->head + UC_ACTIVITY_RING - 1 - i) % UC_ACTIVITY_RING];
      if (e->seq <= since)
        break;
      out->entries[out->n++] = *e;
    }
    if (f->day == today) {
      out->ndomains = top_copy(&f->domains, out->domains);
      out->nips = top_copy(&f->ips, out->ips);
    }
  }
  pthread_mutex_unlock(&f->lock);
}
