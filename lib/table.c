/* The open-addressing table (include/uc/table.h, docs/internals/table.md). */
#include "uc/table.h"
#include "uc/error.h"

#include <stdlib.h>
#include <string.h>

static void set_tag(struct uc_table *t, uint32_t i, uint32_t tag) {
  memcpy(t->tags + (size_t)i * t->tag_stride, &tag, sizeof tag);
}

void uc_table_init(struct uc_table *t, size_t esize, size_t tag_off) {
  memset(t, 0, sizeof *t);
  t->esize = esize;
  t->tag_off = tag_off;
  t->tag_stride = tag_off == UC_TABLE_TAGS_APART ? sizeof(uint32_t) : esize;
}

void uc_table_view(struct uc_table *t, const void *slots, size_t esize, size_t tag_off,
                   uint32_t mask, uint32_t count) {
  uc_table_init(t, esize, tag_off);
  t->slots = (unsigned char *)slots;
  t->tags = slots ? t->slots + tag_off : NULL; /* views always carry their tags inside */
  t->mask = mask, t->count = count, t->view = 1;
}

void uc_table_release(struct uc_table *t) {
  if (!t->view) {
    if (t->tag_off == UC_TABLE_TAGS_APART)
      free(t->tags);
    free(t->slots);
  }
  uc_table_init(t, t->esize, t->tag_off);
}

void uc_table_clear(struct uc_table *t) {
  if (!t->slots)
    return;
  memset(t->slots, 0, ((size_t)t->mask + 1) * t->esize);
  if (t->tag_off == UC_TABLE_TAGS_APART)
    memset(t->tags, 0, ((size_t)t->mask + 1) * sizeof(uint32_t));
  t->count = 0;
}

/* Moves every entry into a table of size slots. */
static int resize(struct uc_table *t, uint32_t size) {
  struct uc_table n;
  uc_table_init(&n, t->esize, t->tag_off);
  n.slots = calloc(size, t->esize);
  n.tags =
      t->tag_off == UC_TABLE_TAGS_APART ? calloc(size, sizeof(uint32_t)) : n.slots + t->tag_off;
  if (!n.slots || !n.tags) {
    free(n.slots);
    if (t->tag_off == UC_TABLE_TAGS_APART)
      free(n.tags);
    return UC_ENOMEM;
  }
  n.mask = size - 1;
  for (uint32_t i = 0; t->slots && i <= t->mask; i++) {
    uint32_t tag = uc__table_tag_at(t, i);
    if (!tag)
      continue;
    uint32_t j = tag & n.mask;
    while (uc__table_tag_at(&n, j))
      j = (j + 1) & n.mask;
    memcpy(uc_table_slot(&n, j), uc_table_slot(t, i), t->esize);
    set_tag(&n, j, tag);
  }
  n.count = t->count;
  uc_table_release(t);
  *t = n;
  return UC_OK;
}

int uc_table_reserve(struct uc_table *t, uint32_t n) {
  uint64_t size = t->slots ? (uint64_t)t->mask + 1 : 16;
  while ((uint64_t)n * 4 > size * 3)
    size *= 2;
  if (size > UC_TABLE_MAX_SLOTS)
    return UC_ENOMEM;
  return t->slots && size == (uint64_t)t->mask + 1 ? UC_OK : resize(t, (uint32_t)size);
}

void *uc_table_insert(struct uc_table *t, uint32_t hash, uc_table_eq eq, const void *key,
                      int *created) {
  void *slot = uc_table_find(t, hash, eq, key);
  if (created)
    *created = slot == NULL;
  if (slot || t->view || uc_table_reserve(t, t->count + 1) != UC_OK)
    return slot;
  uint32_t tag = uc_table_tag(hash), i = tag & t->mask;
  while (uc__table_tag_at(t, i))
    i = (i + 1) & t->mask;
  slot = uc_table_slot(t, i);
  memset(slot, 0, t->esize);
  set_tag(t, i, tag);
  t->count++;
  return slot;
}

void uc_table_remove(struct uc_table *t, void *slot) {
  uint32_t i = (uint32_t)(((unsigned char *)slot - t->slots) / t->esize);
  /* Backward shift: an entry further along the run moves into the hole when
   * its home slot is not between the hole and itself (cyclically). */
  for (uint32_t j = (i + 1) & t->mask;; j = (j + 1) & t->mask) {
    uint32_t tag = uc__table_tag_at(t, j);
    if (!tag)
      break;
    uint32_t home = tag & t->mask;
    if (((j - home) & t->mask) >= ((j - i) & t->mask)) {
      memcpy(uc_table_slot(t, i), uc_table_slot(t, j), t->esize);
      set_tag(t, i, tag);
      i = j;
    }
  }
  memset(uc_table_slot(t, i), 0, t->esize);
  set_tag(t, i, 0);
  t->count--;
}

int uc_table_shrink(struct uc_table *t) {
  uint64_t size = 16;
  while ((uint64_t)t->count * 4 > size * 3)
    size *= 2;
  if (!t->slots || t->view || size >= (uint64_t)t->mask + 1)
    return UC_OK;
  return resize(t, (uint32_t)size);
}

uint32_t uc_table_pick(const struct uc_table *t, uint32_t *hand, uint32_t n, uc_table_score score,
                       void *ctx) {
  uint32_t cap = uc_table_capacity(t), best = UINT32_MAX;
  int64_t lowest = INT64_MAX;
  for (uint32_t k = 0; cap && k < n && k < cap; k++) {
    uint32_t i = (*hand + k) & t->mask;
    if (!uc_table_used(t, i))
      continue;
    int64_t v = score(uc_table_slot(t, i), ctx);
    if (v >= 0 && v < lowest)
      lowest = v, best = i;
  }
  *hand += n;
  return best;
}

void uc_gone_add(struct uc_gone *g, uint32_t hash) {
  uint32_t i = hash % UC_GONE_BITS;
  if (++g->added > UC_GONE_BITS / 2) { /* half full: a new generation */
    g->cur ^= 1;
    memset(g->bits[g->cur], 0, sizeof g->bits[g->cur]);
    g->added = 1;
  }
  g->bits[g->cur][i / 64] |= 1ull << (i % 64);
}

int uc_gone_maybe(const struct uc_gone *g, uint32_t hash) {
  uint32_t i = hash % UC_GONE_BITS;
  uint64_t bit = 1ull << (i % 64);
  return ((g->bits[0][i / 64] | g->bits[1][i / 64]) & bit) != 0;
}
