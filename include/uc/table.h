/* The one open-addressing hash table of libuc and its programs: the list
 * snapshot (a read-only view of a file), account domain lists, IP bans, usage
 * counters and the key cache are all this table over their own slot type.
 *
 * Slots are esize bytes. Each slot has a 32-bit tag: the key's hash, with 0
 * reserved for "empty" (uc_table_tag). The tag lives either inside the slot
 * (at byte tag_off: the snapshot's 16-byte entries, found in one cache line)
 * or in an array beside the slots (UC_TABLE_TAGS_APART: probing a 100-byte
 * ban entry reads 4-byte tags, not entries). Linear probing from tag & mask;
 * the table grows to keep count <= 3/4 of the slots; removal shifts later
 * entries back (no tombstones), so a lookup stops at the first empty slot.
 * Invariants and costs: docs/internals/table.md. Not thread-safe: callers lock. */
#ifndef UC_TABLE_H
#define UC_TABLE_H

#include <stddef.h>
#include <stdint.h>

#define UC_TABLE_TAGS_APART ((size_t)-1)
#define UC_TABLE_MAX_SLOTS (1u << 30)

struct uc_table {
  unsigned char *slots; /* (mask + 1) * esize bytes; NULL while empty */
  unsigned char *tags;  /* tag of slot i at tags + i * tag_stride */
  size_t esize, tag_off, tag_stride;
  uint32_t mask, count;
  int view; /* 1: slots belong to someone else (read-only) */
};

/* 32-bit hash of s[0..n) (FNV-1a with a final avalanche), seeded. Inline:
 * it runs for every lookup of every check. */
static inline uint32_t uc_hash(const void *s, size_t n, uint32_t seed) {
  const unsigned char *p = (const unsigned char *)s;
  uint32_t h = 2166136261u ^ seed;
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 16777619u;
  h ^= h >> 16;
  h *= 0x7feb352dU;
  h ^= h >> 15;
  return h;
}
static inline uint32_t uc_table_tag(uint32_t hash) {
  return hash ? hash : 1;
}

/* An empty table of esize-byte slots, tags at tag_off inside each slot or
 * UC_TABLE_TAGS_APART. */
void uc_table_init(struct uc_table *t, size_t esize, size_t tag_off);
/* A read-only view of slots laid out by someone else (mask + 1 of them). */
void uc_table_view(struct uc_table *t, const void *slots, size_t esize, size_t tag_off,
                   uint32_t mask, uint32_t count);
/* Frees the slots (not a view's); t is empty again with the same layout. */
void uc_table_release(struct uc_table *t);

static inline uint32_t uc__table_tag_at(const struct uc_table *t, uint32_t i) {
  uint32_t v;
  __builtin_memcpy(&v, t->tags + (size_t)i * t->tag_stride, sizeof v);
  return v;
}
static inline void *uc_table_slot(const struct uc_table *t, uint32_t i) {
  return t->slots + (size_t)i * t->esize;
}
/* Number of slots (0 while empty) and whether slot i holds an entry. */
static inline uint32_t uc_table_capacity(const struct uc_table *t) {
  return t->slots ? t->mask + 1 : 0;
}
static inline int uc_table_used(const struct uc_table *t, uint32_t i) {
  return uc__table_tag_at(t, i) != 0;
}

/* eq(slot, key): whether the entry in slot is the one key names. */
typedef int (*uc_table_eq)(const void *slot, const void *key);

/* The slot holding key (whose hash is hash), or NULL, for a caller that
 * knows the layout at compile time (esize and tag_stride constants fold into
 * the probe: the snapshot's lookups, on every check). Same table, same rules. */
static inline void *uc_table_find_as(const struct uc_table *t, uint32_t hash, uc_table_eq eq,
                                     const void *key, size_t esize, size_t tag_stride) {
  if (!t->slots)
    return 0;
  uint32_t tag = uc_table_tag(hash);
  for (uint32_t i = tag & t->mask;; i = (i + 1) & t->mask) {
    uint32_t got;
    __builtin_memcpy(&got, t->tags + (size_t)i * tag_stride, sizeof got);
    if (got == 0)
      return 0;
    if (got == tag && eq(t->slots + (size_t)i * esize, key))
      return t->slots + (size_t)i * esize;
  }
}

/* The slot holding key (whose hash is hash), or NULL. Inline so that a
 * constant eq is inlined too. */
static inline void *uc_table_find(const struct uc_table *t, uint32_t hash, uc_table_eq eq,
                                  const void *key) {
  return uc_table_find_as(t, hash, eq, key, t->esize, t->tag_stride);
}

/* The slot for key, inserting it when absent: a new slot is zeroed except for
 * its tag, and *created (may be NULL) says so. NULL on ENOMEM or when the
 * table would pass UC_TABLE_MAX_SLOTS. A slot pointer is valid until the next
 * insert or remove. */
void *uc_table_insert(struct uc_table *t, uint32_t hash, uc_table_eq eq, const void *key,
                      int *created);
/* Room for n entries in all without growing again. UC_OK or UC_ENOMEM. */
int uc_table_reserve(struct uc_table *t, uint32_t n);
/* Removes the entry in slot (a pointer from find/insert/uc_table_slot); later
 * entries of its probe run move back, so slot pointers are invalidated and an
 * iteration must look at slot i again after removing it. */
void uc_table_remove(struct uc_table *t, void *slot);
/* Sampled eviction, for tables kept under a bound: among n slots from *hand
 * (which moves on by n), the used one with the lowest score(slot, ctx) that
 * is >= 0 (a score < 0 marks a slot that must stay). Its index, or
 * UINT32_MAX when none of them may go. */
typedef int64_t (*uc_table_score)(const void *slot, void *ctx);
uint32_t uc_table_pick(const struct uc_table *t, uint32_t *hand, uint32_t n, uc_table_score score,
                       void *ctx);

/* What left a bounded table: a bit per hash in two generations that take
 * turns, so that the filter never fills up (a key gone long ago is
 * forgotten, and reads as never seen). uc_gone_maybe is 0 for a key never
 * added (since the previous turn), 1 when it may have been. Zero-initialise. */
#define UC_GONE_BITS 16384
struct uc_gone {
  uint64_t bits[2][UC_GONE_BITS / 64];
  uint32_t cur, added;
};
void uc_gone_add(struct uc_gone *g, uint32_t hash);
int uc_gone_maybe(const struct uc_gone *g, uint32_t hash);

/* Empties the table, keeping its memory. */
void uc_table_clear(struct uc_table *t);
/* Gives memory back after many removals: the smallest size that keeps the
 * load under 3/4 (at least 16 slots). UC_OK or UC_ENOMEM (t unchanged). */
int uc_table_shrink(struct uc_table *t);

#endif
