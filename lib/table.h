/* Internal: the open-addressing string table shared by the snapshot (read from
 * an mmap'd file) and by in-memory domain sets. See docs/internals/engine.md. */
#ifndef UC_LIB_TABLE_H
#define UC_LIB_TABLE_H

#include <stddef.h>
#include <stdint.h>

/* One slot; 16 bytes, stored as-is in the snapshot. len == 0 marks an empty slot. */
struct uc__entry {
  uint32_t hash;    /* uc__hash of the key */
  uint32_t off;     /* key offset in the pool (NUL-terminated there) */
  uint16_t len;     /* key length in bytes */
  uint16_t flags;   /* enum uc_list_flag */
  uint16_t sources; /* bit i: source i lists this key */
  uint16_t date;    /* days since 1970-01-01 the key entered our lists; 0: none */
};

/* A read-only view: slots has mask + 1 entries (a power of two). */
struct uc__table {
  const struct uc__entry *slots;
  uint32_t mask;
  uint32_t count;
  const char *pool;
};

uint32_t uc__hash(const char *s, size_t n);

/* The slot holding key s[0..n), or NULL. */
const struct uc__entry *uc__table_find(const struct uc__table *t, const char *s, size_t n);

/* A growable table: keys are copied into its pool. */
struct uc__table_builder {
  struct uc__entry *slots;
  uint32_t mask;
  uint32_t count;
  char *pool;
  size_t pool_len, pool_cap;
};

void uc__tb_init(struct uc__table_builder *b);
void uc__tb_release(struct uc__table_builder *b);
/* The slot for s[0..n), inserting a zeroed one if absent; NULL on ENOMEM or
 * n == 0 or n > 0xFFFF. The pointer is valid until the next upsert. */
struct uc__entry *uc__tb_upsert(struct uc__table_builder *b, const char *s, size_t n);
/* A view of b, valid until b changes. */
void uc__tb_view(const struct uc__table_builder *b, struct uc__table *t);

#endif
