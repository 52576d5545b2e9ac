/* String-keyed tables over uc_table (lib/strtab.h). */
#include "strtab.h"

#include <stdint.h>
#include <string.h>

_Static_assert(sizeof(struct uc__entry) == 16, "the snapshot stores entries as they are");

uint32_t uc__str_hash(const char *s, size_t n) {
  return uc_hash(s, n, 0);
}

struct key {
  const char *s;
  size_t n;
  const char *pool;
};

static int eq(const void *slot, const void *k) {
  const struct uc__entry *e = slot;
  const struct key *key = k;
  return e->len == key->n && memcmp(key->pool + e->off, key->s, key->n) == 0;
}

const struct uc__entry *uc__strtab_find(const struct uc__strtab *t, const char *s, size_t n) {
  struct key k = {s, n, t->pool};
  return uc_table_find_as(&t->t, uc__str_hash(s, n), eq, &k, sizeof(struct uc__entry),
                          sizeof(struct uc__entry));
}

void uc__strtab_view(struct uc__strtab *t, const void *slots, uint32_t mask, uint32_t count,
                     const char *pool) {
  uc_table_view(&t->t, slots, sizeof(struct uc__entry), offsetof(struct uc__entry, hash), mask,
                count);
  t->pool = pool;
}

void uc__stb_init(struct uc__strtab_builder *b) {
  uc_table_init(&b->t, sizeof(struct uc__entry), offsetof(struct uc__entry, hash));
  uc_buf_init(&b->pool, UINT32_MAX);
}

void uc__stb_release(struct uc__strtab_builder *b) {
  uc_table_release(&b->t);
  uc_buf_release(&b->pool);
}

struct uc__entry *uc__stb_upsert(struct uc__strtab_builder *b, const char *s, size_t n) {
  if (n == 0 || n > 0xFFFF)
    return NULL;
  struct key k = {s, n, b->pool.data};
  int created;
  size_t off = b->pool.len;
  if (uc_buf_reserve(&b->pool, n + 1) != 0) /* before the insert: no entry without its key */
    return NULL;
  k.pool = b->pool.data;
  struct uc__entry *e = uc_table_insert(&b->t, uc__str_hash(s, n), eq, &k, &created);
  if (!e || !created)
    return e;
  uc_buf_add(&b->pool, s, n);  /* reserved above: neither can fail */
  uc_buf_add(&b->pool, "", 1); /* the key's NUL is part of the pool */
  e->off = (uint32_t)off;
  e->len = (uint16_t)n;
  return e;
}

void uc__stb_view(const struct uc__strtab_builder *b, struct uc__strtab *t) {
  uc_table_view(&t->t, b->t.slots, sizeof(struct uc__entry), offsetof(struct uc__entry, hash),
                b->t.mask, b->t.count);
  t->pool = b->pool.data;
}
