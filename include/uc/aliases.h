/* Alias chains (SPEC §3): per account, how many distinct spellings of one
 * mailbox were checked with live keys within a window. A second spelling
 * (jane.doe@gmail.com, then janedoe+2@gmail.com or j.a.n.e.doe@googlemail.com)
 * is a chain: the decision answers grey "suspicious signs". Only keyed hashes
 * are kept (BLAKE2b keyed by an installation secret kept in the store), never
 * an address. Memory is bounded like the ban cache (docs/internals/aliases.md);
 * what leaves it stays in the store and is read back when needed. Thread-safe. */
#ifndef UC_ALIASES_H
#define UC_ALIASES_H

#include <stddef.h>
#include <stdint.h>

#include "uc/email.h"
#include "uc/store.h"

#define UC_ALIAS_SPELLINGS 8 /* spellings remembered per mailbox (the oldest go) */
#define UC_ALIASES_MAX_DEFAULT 65536
#define UC_ALIAS_WINDOW_MAX 366 /* days */

typedef struct uc_aliases uc_aliases;

/* Reads the installation secret and the spellings seen in the last
 * UC_ALIAS_WINDOW_MAX days (up to max mailboxes; 0: the default). */
int uc_aliases_open(uc_store *st, size_t max, uc_aliases **out, char *err, size_t err_size);
void uc_aliases_free(uc_aliases *a); /* NULL is fine; does not flush */

/* Records that account checked e (normalized: its canonical mailbox) at now,
 * and returns how many distinct spellings of that mailbox the account
 * checked in the last window_days, this one included: 1 for a mailbox first
 * seen (or the same spelling again), 2 and more for a chain. 0 when e's
 * provider has no sub-addressing (no chain is possible). */
unsigned uc_aliases_note(uc_aliases *a, int64_t account, const struct uc_email *e,
                         const char *normalized, int64_t now, unsigned window_days);
/* Writes what changed since the last flush, then trims memory to its bound
 * and the store to the longest window. */
int uc_aliases_flush(uc_aliases *a, int64_t now);

struct uc_aliases_stats {
  size_t mailboxes, max;
  uint64_t evicted, store_reads, write_errors;
};
void uc_aliases_stats(uc_aliases *a, struct uc_aliases_stats *out);

#endif
