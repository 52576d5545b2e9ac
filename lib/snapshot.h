/* Internal: the on-disk snapshot layout (docs/internals/engine.md has it as a table). */
#ifndef UC_LIB_SNAPSHOT_H
#define UC_LIB_SNAPSHOT_H

#include <stdint.h>

#include "strtab.h"

#define UC__SNAP_MAGIC "UCSNAP\0\1"
#define UC__SNAP_FORMAT 2 /* 2: slot hash is the table tag, 0 only when empty */
#define UC__SNAP_DIGEST 32

/* All integers little-endian (the snapshot is built on the machine that runs it). */
struct uc__snap_header {
  char magic[8];
  uint32_t format;
  uint32_t nsources;
  uint32_t dom_mask, dom_count;
  uint32_t loc_mask, loc_count;
  uint32_t typo_count, reserved;
  uint64_t sources_off, dom_off, loc_off, typo_off, pool_off, pool_len, file_len;
  uint8_t digest[UC__SNAP_DIGEST]; /* BLAKE2b-256 of bytes [sizeof header, file_len) */
  char version[32];                /* NUL-terminated "YYYY.MM.DD-xxxxxxxx" */
};

struct uc__snap_source {
  char name[48];
  char kind[16];
  char version[24];
  uint32_t date;
  uint32_t count;
};

#endif
