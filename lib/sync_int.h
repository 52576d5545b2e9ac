/* Internal: the sync state file (S.d/sync.json) parsed from memory, so that
 * the unit tests and fuzz/fuzz_sync_state.c reach it without files; and the
 * lookup the build uses to find a URL source's copy. */
#ifndef UC_LIB_SYNC_INT_H
#define UC_LIB_SYNC_INT_H

#include <stddef.h>

#include "uc/sync.h"

/* Sources a state keeps (the manifest's, and those a manifest used to have). */
#define UC__SYNC_STATE_MAX 32
/* Entries the guard dropped from a source's last accepted update, kept for `lists why`. */
#define UC__SYNC_DROPS_KEPT 50

/* UC_OK and *out (uc_sync_state_free it); UC_EFORMAT with err saying what
 * is wrong (not JSON, not format 1, a member of the wrong type or too long);
 * UC_ENOMEM. Unknown members are ignored. */
int uc__sync_state_parse(const char *text, size_t len, uc_sync_state **out, char *err, size_t es);
/* The state's JSON text (free() it), or NULL on ENOMEM. */
char *uc__sync_state_dump(const uc_sync_state *s);
/* 1 and *out when the state has a source called name, else 0. */
int uc__sync_state_find(const uc_sync_state *s, const char *name, struct uc_sync_source_state *out);

#endif
