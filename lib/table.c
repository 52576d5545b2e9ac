/* Open-addressing (linear probing) string table; load factor kept <= 3/4. */
#include "table.h"

#include <stdlib.h>
#include <string.h>

uint32_t uc__hash(const char *s, size_t n) {
  /* FNV-1a, then a final avalanche so the low bits used for the slot mix well. */
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * 16777619u;
  h ^= h >> 16;
  h *= 0x7feb352dU;
  h ^= h >> 15;
  return h;
}

const struct uc__entry *uc__table_find(const struct uc__table *t, const char *s, size_t n) {
  if (!t->slots)
    return NULL;
  uint32_t h = uc__hash(s, n);
  for (uint32_t i = h & t->mask;; i = (i + 1) & t->mask) {
    const struct uc__entry *e = &t->slots[i];
    if (e->len == 0)
      return NULL;
    if (e->hash == h && e->len == n && memcmp(t->pool + e->off, s, n) == 0)
      return e;
  }
}

void uc__tb_init(struct uc__table_builder *b) {
  memset(b, 0, sizeof *b);
}

void uc__tb_release(struct uc__table_builder *b) {
  free(b->slots);
  free(b->pool);
  uc__tb_init(b);
}

static int grow(struct uc__table_builder *b) {
  uint32_t size = b->slots ? (b->mask + 1) * 2 : 64;
  struct uc__entry *slots = calloc(size, sizeof *slots);
  if (!slots)
    return -1;
  for (uint32_t i = 0; b->slots && i <= b->mask; i++) {
    if (b->slots[i].len == 0)
      continue;
    uint32_t j = b->slots[i].hash & (size - 1);
    while (slots[j].len)
      j = (j + 1) & (size - 1);
    slots[j] = b->slots[i];
  }
  free(b->slots);
  b->slots = slots;
  b->mask = size - 1;
  return 0;
}

static int pool_add(struct uc__table_builder *b, const char *s, size_t n, uint32_t *off) {
  if (b->pool_len + n + 1 > UINT32_MAX)
    return -1;
  if (b->pool_len + n + 1 > b->pool_cap) {
    size_t cap = b->pool_cap ? b->pool_cap * 2 : 4096;
    while (cap < b->pool_len + n + 1)
      cap *= 2;
    char *p = realloc(b->pool, cap);
    if (!p)
      return -1;
    b->pool = p;
    b->pool_cap = cap;
  }
  memcpy(b->pool + b->pool_len, s, n);
  b->pool[b->pool_len + n] = 0;
  *off = (uint32_t)b->pool_len;
  b->pool_len += n + 1;
  return 0;
}

struct uc__entry *uc__tb_upsert(struct uc__table_builder *b, const char *s, size_t n) {
  if (n == 0 || n > 0xFFFF)
    return NULL;
  if ((!b->slots || (b->count + 1) * 4 > (b->mask + 1) * 3) && grow(b))
    return NULL;
  uint32_t h = uc__hash(s, n);
  uint32_t i = h & b->mask;
  for (; b->slots[i].len; i = (i + 1) & b->mask) {
    struct uc__entry *e = &b->slots[i];
    if (e->hash == h && e->len == n && memcmp(b->pool + e->off, s, n) == 0)
      return e;
  }
  struct uc__entry *e = &b->slots[i];
  if (pool_add(b, s, n, &e->off))
    return NULL;
  e->hash = h;
  e->len = (uint16_t)n;
  e->flags = e->sources = e->date = 0;
  b->count++;
  return e;
}

void uc__tb_view(const struct uc__table_builder *b, struct uc__table *t) {
  t->slots = b->slots;
  t->mask = b->mask;
  t->count = b->count;
  t->pool = b->pool;
}
