/* Usage counters and their roll-up (include/uc/usage.h). Requests add to a
 * cell (key, day) of their thread's own shard, so that threads never wait on
 * each other's lock; a flush moves each shard's sums to the store in one
 * transaction (the store adds them up). */
#include "uc/usage.h"
#include "uc/buf.h"
#include "uc/date.h"
#include "uc/error.h"
#include "uc/table.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SHARDS 16

struct cell {
  int64_t key_id;
  unsigned day;
  uint64_t n[UC_USAGE_OUTCOMES];
  int64_t last_used;
};

struct shard {
  pthread_mutex_t lock;
  struct uc_table t; /* struct cell */
};

struct uc_usage {
  struct shard shards[SHARDS];
};

struct cell_key {
  int64_t key_id;
  unsigned day;
};

static int cell_eq(const void *slot, const void *k) {
  const struct cell *c = slot;
  const struct cell_key *key = k;
  return c->key_id == key->key_id && c->day == key->day;
}

static uint32_t cell_hash(int64_t key_id, unsigned day) {
  return uc_hash(&key_id, sizeof key_id, day);
}

uc_usage *uc_usage_new(void) {
  uc_usage *u = calloc(1, sizeof *u);
  for (int i = 0; u && i < SHARDS; i++) {
    pthread_mutex_init(&u->shards[i].lock, NULL);
    uc_table_init(&u->shards[i].t, sizeof(struct cell), UC_TABLE_TAGS_APART);
  }
  return u;
}

void uc_usage_free(uc_usage *u) {
  if (!u)
    return;
  for (int i = 0; i < SHARDS; i++) {
    uc_table_release(&u->shards[i].t);
    pthread_mutex_destroy(&u->shards[i].lock);
  }
  free(u);
}

static void add(uc_usage *u, unsigned slot, int64_t key, unsigned day,
                const uint64_t n[UC_USAGE_OUTCOMES], int64_t when) {
  struct shard *s = &u->shards[slot % SHARDS];
  struct cell_key k = {key, day};
  pthread_mutex_lock(&s->lock);
  struct cell *c = uc_table_insert(&s->t, cell_hash(key, day), cell_eq, &k, NULL);
  if (c) { /* out of memory: that check goes uncounted rather than unanswered */
    c->key_id = key, c->day = day;
    for (int i = 0; i < UC_USAGE_OUTCOMES; i++)
      c->n[i] += n[i];
    if (when > c->last_used)
      c->last_used = when;
  }
  pthread_mutex_unlock(&s->lock);
}

void uc_usage_count(uc_usage *u, unsigned slot, int64_t key_id, unsigned outcome, int64_t now) {
  uint64_t n[UC_USAGE_OUTCOMES] = {0};
  if (outcome >= UC_USAGE_OUTCOMES)
    return;
  n[outcome] = 1;
  add(u, slot, key_id, (unsigned)(now / 86400), n, now);
}

/* Writes one shard's cells (taken out of it first, so counting goes on). */
static int flush_shard(uc_usage *u, int i, uc_store *st) {
  struct shard *s = &u->shards[i];
  struct uc_table cells;
  struct uc_buf d;
  pthread_mutex_lock(&s->lock);
  cells = s->t;
  uc_table_init(&s->t, sizeof(struct cell), UC_TABLE_TAGS_APART); /* requests start afresh */
  pthread_mutex_unlock(&s->lock);
  uc_buf_init(&d, (size_t)1 << 30);
  int rc = UC_OK;
  for (uint32_t j = 0; rc == UC_OK && j < uc_table_capacity(&cells); j++) {
    const struct cell *c = uc_table_slot(&cells, j);
    for (unsigned o = 0; uc_table_used(&cells, j) && o < UC_USAGE_OUTCOMES && rc == UC_OK; o++) {
      struct uc_usage_delta delta = {c->key_id, c->day, o, c->n[o], c->last_used};
      if (c->n[o])
        rc = uc_buf_add(&d, &delta, sizeof delta);
    }
  }
  if (rc == UC_OK)
    rc = uc_store_usage_add(st, (const void *)d.data, UC_BUF_COUNT(&d, struct uc_usage_delta));
  for (uint32_t j = 0; rc && j < uc_table_capacity(&cells); j++) { /* keep them for next time */
    const struct cell *c = uc_table_slot(&cells, j);
    if (uc_table_used(&cells, j))
      add(u, (unsigned)i, c->key_id, c->day, c->n, c->last_used);
  }
  uc_buf_release(&d);
  uc_table_release(&cells);
  return rc;
}

int uc_usage_flush(uc_usage *u, uc_store *st) {
  int rc = UC_OK;
  for (int i = 0; i < SHARDS; i++) {
    int r = flush_shard(u, i, st);
    rc = rc ? rc : r;
  }
  return rc;
}

/* ---- the report ---- */

struct build {
  struct uc_usage_report *r;
  struct uc_buf days, keys; /* struct uc_usage_day, struct uc_usage_key */
  int failed;
};

static int add_key(void *arg, const struct uc_key_rec *k) {
  struct build *b = arg;
  struct uc_usage_key key;
  memset(&key, 0, sizeof key);
  key.id = k->id, key.type = k->type, key.revoked = k->revoked_at != 0;
  snprintf(key.name, sizeof key.name, "%s", k->name);
  return b->failed = uc_buf_add(&b->keys, &key, sizeof key) != UC_OK;
}

static struct uc_usage_key *key_of(struct build *b, int64_t id) {
  for (size_t i = 0; i < UC_BUF_COUNT(&b->keys, struct uc_usage_key); i++)
    if (UC_BUF_AT(&b->keys, struct uc_usage_key, i).id == id)
      return &UC_BUF_AT(&b->keys, struct uc_usage_key, i);
  return NULL;
}

static int add_row(void *arg, const struct uc_usage_row *u) {
  struct build *b = arg;
  struct uc_usage_key *k = key_of(b, u->key_id);
  size_t nday = UC_BUF_COUNT(&b->days, struct uc_usage_day), i = 0;
  while (i < nday && UC_BUF_AT(&b->days, struct uc_usage_day, i).day != u->day)
    i++;
  if (i == nday) {
    struct uc_usage_day d = {u->day, {0}};
    if (uc_buf_add(&b->days, &d, sizeof d))
      return b->failed = 1;
  }
  for (int c = 0; c < UC_USAGE_OUTCOMES; c++) {
    UC_BUF_AT(&b->days, struct uc_usage_day, i).n[c] += u->count[c];
    if (k)
      k->n[c] += u->count[c];
    b->r->total[c] += u->count[c];
  }
  return 0;
}

static int add_batch_row(void *arg, const struct uc_usage_row *u) {
  struct uc_usage_report *r = arg;
  for (int c = 0; c < 3; c++)
    r->batch[c] += u->count[c];
  return 0;
}

static int by_day(const void *a, const void *b) {
  unsigned x = ((const struct uc_usage_day *)a)->day, y = ((const struct uc_usage_day *)b)->day;
  return x < y ? -1 : x > y;
}

int uc_usage_report(uc_store *st, int64_t account, unsigned days, unsigned today,
                    struct uc_usage_report *r) {
  struct build b = {r, {0}, {0}, 0};
  memset(r, 0, sizeof *r);
  if (days < 1 || days > UC_USAGE_DAYS_MAX || days > today + 1)
    return UC_EINVAL;
  r->days = days, r->today = today;
  uc_buf_init(&b.days, UC_USAGE_DAYS_MAX * sizeof(struct uc_usage_day));
  uc_buf_init(&b.keys, (size_t)1 << 26);
  int rc = uc_store_key_each(st, account, add_key, &b);
  if (!rc && !b.failed)
    rc = uc_store_usage_each(st, account, today - days + 1, add_row, &b);
  if (!rc && !b.failed) /* a store without batch tasks has no batch usage */
    if ((rc = uc_store_batch_usage_each(st, account, today - days + 1, add_batch_row, r)) ==
        UC_EUNAVAILABLE)
      rc = UC_OK;
  if (!rc && b.failed)
    rc = UC_ENOMEM;
  if (rc) {
    uc_buf_release(&b.days);
    uc_buf_release(&b.keys);
    return rc;
  }
  r->nday = UC_BUF_COUNT(&b.days, struct uc_usage_day);
  r->by_day = (void *)uc_buf_detach(&b.days, NULL);
  if (r->nday)
    qsort(r->by_day, r->nday, sizeof *r->by_day, by_day);
  size_t n = 0, nkey = UC_BUF_COUNT(&b.keys, struct uc_usage_key);
  for (size_t i = 0; i < nkey; i++) { /* keys that answered checks in the window */
    const struct uc_usage_key *k = &UC_BUF_AT(&b.keys, struct uc_usage_key, i);
    if (k->n[0] + k->n[1] + k->n[2] + k->n[UC_USAGE_BANNED])
      UC_BUF_AT(&b.keys, struct uc_usage_key, n++) = *k;
  }
  r->nkey = n;
  r->by_key = (void *)uc_buf_detach(&b.keys, NULL);
  return UC_OK;
}

void uc_usage_report_release(struct uc_usage_report *r) {
  free(r->by_day);
  free(r->by_key);
  memset(r, 0, sizeof *r);
}

static json_t *counts(const uint64_t n[UC_USAGE_OUTCOMES]) {
  return json_pack("{s:I, s:I, s:I, s:I, s:I}", "white", (json_int_t)n[0], "grey", (json_int_t)n[1],
                   "black", (json_int_t)n[2], "banned", (json_int_t)n[UC_USAGE_BANNED], "total",
                   (json_int_t)(n[0] + n[1] + n[2] + n[UC_USAGE_BANNED]));
}

/* A batch task's rows have a category, never a ban. */
static json_t *batch_counts(const uint64_t n[3]) {
  return json_pack("{s:I, s:I, s:I, s:I}", "white", (json_int_t)n[0], "grey", (json_int_t)n[1],
                   "black", (json_int_t)n[2], "total", (json_int_t)(n[0] + n[1] + n[2]));
}

char *uc_usage_report_json(const struct uc_usage_report *r) {
  json_t *days = json_array(), *keys = json_array();
  char date[11];
  for (size_t i = 0; days && i < r->nday; i++) {
    json_t *d = counts(r->by_day[i].n);
    uc_date_format(r->by_day[i].day, date);
    json_object_set_new(d, "date", json_string(date));
    json_array_append_new(days, d);
  }
  for (size_t i = 0; keys && i < r->nkey; i++) {
    json_t *k = counts(r->by_key[i].n);
    json_object_set_new(k, "id", json_integer(r->by_key[i].id));
    json_object_set_new(k, "name", json_string(r->by_key[i].name));
    json_object_set_new(k, "type", json_string(uc_key_type_name(r->by_key[i].type)));
    json_object_set_new(k, "revoked", json_boolean(r->by_key[i].revoked));
    json_array_append_new(keys, k);
  }
  json_t *doc =
      json_pack("{s:i, s:o*, s:o*, s:o*, s:o*}", "days", (int)r->days, "by_day", days, "by_key",
                keys, "total", counts(r->total), "batch", batch_counts(r->batch));
  char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(doc);
  return text;
}
