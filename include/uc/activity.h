/* The recent checks of each account, for the dashboard's Activity page: the
 * last UC_ACTIVITY_RING answers (time, domain or whole address, outcome,
 * type, key, IP) and today's most blocked domains and IPs.
 *
 * Memory is bounded: per account, for each of up to 8 threads that answered
 * its checks, a ring of UC_ACTIVITY_RING entries and two top tables of
 * UC_ACTIVITY_TOP entries (about 120 KB), for at most max_accounts accounts (a
 * new account past that takes over the feed of the one written to longest
 * ago). On a store that is not shared it lives in the server's memory only (a
 * restart starts afresh); on a shared one (Redis) uc_activity_flush also
 * writes it to the store in batches, where every server's checks meet
 * (uc_store_activity_*), and the dashboard reads them there.
 *
 * Today's tops count, per UTC day, the domains of black answers and the IPs
 * of black and 403 "banned" answers of live keys, with the Space-Saving
 * algorithm per part, merged: exact while a day has at most UC_ACTIVITY_TOP
 * distinct names, past that a count may be too high by at most the `over` it
 * shows, and is never too low.
 *
 * Threads: a check writes into its thread's part of the account's feed,
 * under that part's own lock, and takes the entry's number from the feed's
 * counter (the one shared write); the feed is found through a published
 * directory each thread follows (include/uc/follow.h). A read takes every
 * part's lock at once and merges them.
 * Layout and bounds: docs/internals/activity.md. */
#ifndef UC_ACTIVITY_H
#define UC_ACTIVITY_H

#include <stddef.h>
#include <stdint.h>

#include "uc/engine.h"
#include "uc/follow.h"
#include "uc/ip.h"
#include "uc/keys.h"

#define UC_ACTIVITY_RING 200
#define UC_ACTIVITY_TOP 64 /* names each top table tracks per day */
#define UC_ACTIVITY_TOP_SHOWN 10
#define UC_ACTIVITY_TOP_SHARED 512 /* names a shared store's top tracks per day */
#define UC_ACTIVITY_TEXT_MAX 254   /* bytes of a domain or address kept (longer: cut) */
#define UC_ACTIVITY_IP_MAX 64      /* bytes of the ip as sent kept */
#define UC_ACTIVITY_ACCOUNTS_DEFAULT 256

typedef struct uc_activity uc_activity;

/* NULL on ENOMEM. max_accounts 0: the default. */
uc_activity *uc_activity_new(size_t max_accounts);
/* After every follower was dropped. NULL is fine. */
void uc_activity_free(uc_activity *a);
void uc_activity_follower_drop(uc_activity *a, struct uc_follower *f);

/* One answer, as the check route saw it. Strings are (pointer, length),
 * any bytes: control characters are kept as '?', and a text longer than the
 * bound is cut at a character boundary. */
struct uc_activity_note {
  int64_t at; /* unix seconds */
  int64_t key_id;
  uc_key_type key_type;
  unsigned outcome; /* a uc_category, or UC_USAGE_BANNED (store.h) */
  uc_type type;     /* for categories; ignored for banned */
  const char *text; /* the domain, or the whole address when the account shows them */
  size_t text_len;
  int is_address; /* text is the whole address */
  const char *ip; /* as sent; NULL or "" when none */
  size_t ip_len;
  const char *ip_key; /* canonical (uc_ip_parse), or NULL when ip is not an address */
};

/* Records n for account (f: the calling thread's follower; slot: its index,
 * so that threads write into parts of their own). Drops it silently on ENOMEM. */
void uc_activity_note(uc_activity *a, struct uc_follower *f, unsigned slot, int64_t account,
                      const struct uc_activity_note *n);

struct uc_activity_entry {
  uint64_t seq; /* 1, 2, ... per account: the feed's cursor */
  int64_t at;
  int64_t key_id;
  uc_key_type key_type;
  unsigned outcome;
  uc_type type;
  int is_address;
  char text[UC_ACTIVITY_TEXT_MAX + 1];
  char ip[UC_ACTIVITY_IP_MAX + 1];
  char ip_key[UC_ACTIVITY_IP_MAX + 1]; /* canonical, for the tops ("": none) */
};

struct uc_activity_top {
  char name[UC_ACTIVITY_TEXT_MAX + 1];
  uint64_t count;
  uint64_t over; /* how much count may exceed the truth (0: exact) */
};

/* What uc_activity_read copies out: caller-owned (about 90 KB: allocate it). */
struct uc_activity_view {
  uint64_t last_seq; /* the newest entry's seq (0: none yet); pass it as since next time */
  size_t n;          /* entries newer than since, newest first */
  struct uc_activity_entry entries[UC_ACTIVITY_RING];
  unsigned day; /* the UTC day of the tops (today's, else they are empty) */
  size_t ndomains, nips;
  struct uc_activity_top domains[UC_ACTIVITY_TOP_SHOWN], ips[UC_ACTIVITY_TOP_SHOWN];
};

/* The account's entries with seq > since and today's tops (most first).
 * An account with no feed reads as empty. Never fails. */
void uc_activity_read(uc_activity *a, int64_t account, uint64_t since, unsigned today,
                      struct uc_activity_view *out);

struct uc_store;
/* On a shared store (uc_store_shared): writes every entry noted since the
 * last successful flush to the account's feed in st (one uc_store_activity_add
 * per account with news). Entries the ring overwrote before a flush got them
 * out are lost (the feed is bounded). On a store that is not shared, or a
 * NULL a: UC_OK, nothing written. Otherwise UC_OK or the store's error (what
 * failed is tried again next time). Flushes are one at a time. */
int uc_activity_flush(uc_activity *a, struct uc_store *st);

#endif
