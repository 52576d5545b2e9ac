/* Internal: string-keyed tables over uc_table, shared by the list snapshot
 * (a read-only view of the file) and account domain sets. Keys live in a pool
 * of NUL-terminated strings; a slot holds the key's hash (the table's tag),
 * its place in the pool and the list facts. See docs/internals/engine.md. */
#ifndef UC_LIB_STRTAB_H
#define UC_LIB_STRTAB_H

#include <stddef.h>
#include <stdint.h>

#include "uc/buf.h"
#include "uc/table.h"

/* One slot; 16 bytes, stored as-is in the snapshot. hash == 0 marks an empty slot. */
struct uc__entry {
  uint32_t hash;    /* uc_table_tag(uc_hash(key)): the table's tag, never 0 when used */
  uint32_t off;     /* key offset in the pool (NUL-terminated there) */
  uint16_t len;     /* key length in bytes */
  uint16_t flags;   /* enum uc_list_flag */
  uint16_t sources; /* bit i: source i lists this key */
  uint16_t date;    /* days since 1970-01-01 the key entered our lists; 0: none */
};

/* A read-only view: a table of uc__entry slots and the pool they point into. */
struct uc__strtab {
  struct uc_table t;
  const char *pool;
};

uint32_t uc__str_hash(const char *s, size_t n);
/* The slot holding key s[0..n), or NULL. */
const struct uc__entry *uc__strtab_find(const struct uc__strtab *t, const char *s, size_t n);
/* A view of mask + 1 slots laid out in memory someone else owns. */
void uc__strtab_view(struct uc__strtab *t, const void *slots, uint32_t mask, uint32_t count,
                     const char *pool);

/* A growable table: keys are copied into its pool (at most 4 GiB: offsets are 32-bit). */
struct uc__strtab_builder {
  struct uc_table t;
  struct uc_buf pool;
};

void uc__stb_init(struct uc__strtab_builder *b);
void uc__stb_release(struct uc__strtab_builder *b);
/* The slot for s[0..n), inserting a zeroed one if absent; NULL on ENOMEM or
 * n == 0 or n > 0xFFFF. The pointer is valid until the next upsert. */
struct uc__entry *uc__stb_upsert(struct uc__strtab_builder *b, const char *s, size_t n);
/* A view of b, valid until b changes. */
void uc__stb_view(const struct uc__strtab_builder *b, struct uc__strtab *t);

#endif
