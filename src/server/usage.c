/* Usage counters: requests add to an in-memory cell (key, day) in their
 * thread's own shard, so that threads never wait on each other's lock; a
 * background flush moves each shard's sums to the store in one transaction
 * (the store adds them up). Nothing counted is dropped: a failed flush puts
 * its sums back. */
#include "server.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SHARDS 16

struct cell {
  int64_t key_id; /* 0: empty */
  unsigned day;
  uint64_t n[3];
  int64_t last_used;
};

struct shard {
  pthread_mutex_t lock;
  struct cell *cells;
  size_t mask, used;
};

struct srv_usage {
  struct shard shards[SHARDS];
};

struct srv_usage *srv_usage_new(void) {
  struct srv_usage *u = calloc(1, sizeof *u);
  for (int i = 0; u && i < SHARDS; i++)
    pthread_mutex_init(&u->shards[i].lock, NULL);
  return u;
}

void srv_usage_free(struct srv_usage *u) {
  if (!u)
    return;
  for (int i = 0; i < SHARDS; i++) {
    free(u->shards[i].cells);
    pthread_mutex_destroy(&u->shards[i].lock);
  }
  free(u);
}

static size_t hash_cell(int64_t key, unsigned day) {
  uint64_t h = (uint64_t)key * 0x9E3779B97F4A7C15ull ^ day;
  return (size_t)(h ^ h >> 29);
}

static struct cell *find_or_add(struct shard *s, int64_t key, unsigned day) {
  if ((s->used + 1) * 2 > s->mask + 1 || !s->cells) {
    size_t size = s->cells ? (s->mask + 1) * 2 : 64;
    struct cell *cells = calloc(size, sizeof *cells);
    if (!cells)
      return NULL;
    for (size_t i = 0; s->cells && i <= s->mask; i++) {
      if (!s->cells[i].key_id)
        continue;
      size_t j = hash_cell(s->cells[i].key_id, s->cells[i].day) & (size - 1);
      while (cells[j].key_id)
        j = (j + 1) & (size - 1);
      cells[j] = s->cells[i];
    }
    free(s->cells);
    s->cells = cells, s->mask = size - 1;
  }
  size_t i = hash_cell(key, day) & s->mask;
  for (; s->cells[i].key_id; i = (i + 1) & s->mask)
    if (s->cells[i].key_id == key && s->cells[i].day == day)
      return &s->cells[i];
  s->cells[i].key_id = key, s->cells[i].day = day, s->used++;
  return &s->cells[i];
}

static void add(struct srv_usage *u, unsigned slot, int64_t key, unsigned day, const uint64_t n[3],
                int64_t when) {
  struct shard *s = &u->shards[slot % SHARDS];
  pthread_mutex_lock(&s->lock);
  struct cell *c = find_or_add(s, key, day);
  if (c) {
    for (int i = 0; i < 3; i++)
      c->n[i] += n[i];
    if (when > c->last_used)
      c->last_used = when;
  }
  pthread_mutex_unlock(&s->lock);
}

void srv_usage_count(struct srv_usage *u, unsigned slot, int64_t key_id, uc_category c) {
  time_t now = time(NULL);
  uint64_t n[3] = {0, 0, 0};
  n[c] = 1;
  add(u, slot, key_id, (unsigned)(now / 86400), n, (int64_t)now);
}

int srv_usage_flush(struct srv_usage *u, uc_store *st) {
  int rc = UC_OK;
  for (int i = 0; i < SHARDS; i++) {
    struct shard *s = &u->shards[i];
    pthread_mutex_lock(&s->lock);
    struct cell *cells = s->cells;
    size_t size = cells ? s->mask + 1 : 0;
    s->cells = NULL, s->mask = 0, s->used = 0; /* requests start a fresh table */
    pthread_mutex_unlock(&s->lock);
    if (!cells)
      continue;
    struct uc_usage_delta *d = calloc(size * 3, sizeof *d);
    size_t n = 0;
    for (size_t j = 0; d && j < size; j++)
      for (int c = 0; c < 3; c++)
        if (cells[j].key_id && cells[j].n[c])
          d[n++] = (struct uc_usage_delta){cells[j].key_id, cells[j].day, (uc_category)c,
                                           cells[j].n[c], cells[j].last_used};
    int r = d ? st->ops->usage_add(st->state, d, n) : UC_ENOMEM;
    if (r) { /* keep the sums for the next flush */
      rc = r;
      for (size_t j = 0; j < size; j++)
        if (cells[j].key_id)
          add(u, (unsigned)i, cells[j].key_id, cells[j].day, cells[j].n, cells[j].last_used);
    }
    free(d);
    free(cells);
  }
  return rc;
}
