/* Domain and local-part lists: a versioned, read-only snapshot built at `make`
 * time from lists/sources.ini, read whole at start-up, swappable at run time. */
#ifndef UC_LISTS_H
#define UC_LISTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "uc/date.h"
#include "uc/follow.h"

/* What a list entry is; a domain can carry several. */
enum uc_list_flag {
  UC_LF_DISPOSABLE = 1u << 0,  /* a disposable / temporary mail service */
  UC_LF_RELAY = 1u << 1,       /* a multi-alias / forwarding service */
  UC_LF_GUARD = 1u << 2,       /* a major mailbox provider: never disposable by upstream lists */
  UC_LF_FREE = 1u << 3,        /* a free mailbox provider */
  UC_LF_PREMIUM = 1u << 4,     /* a paid mailbox service */
  UC_LF_TYPO_TARGET = 1u << 5, /* a popular domain that typos are suggested towards */
  UC_LF_ROLE = 1u << 6,        /* (local parts) a role account such as admin@ */
};

#define UC_LISTS_MAX_SOURCES 16

typedef struct uc_lists uc_lists;

/* A found entry. Pointers stay valid while the uc_lists is referenced. */
struct uc_list_hit {
  const char *entry; /* NUL-terminated */
  size_t len;
  unsigned flags;   /* enum uc_list_flag */
  unsigned sources; /* bit i: uc_lists_source(l, i) lists it */
  unsigned date;    /* days since 1970-01-01 it entered our lists; 0: none */
};

struct uc_list_source {
  const char *name;    /* e.g. "mailchecker" */
  const char *kind;    /* "disposable", "multi-alias", "guard", "free", "premium", "typo", "role" */
  const char *version; /* e.g. "6.0.21" */
  unsigned date;       /* release date, days since 1970-01-01 */
  unsigned count;      /* entries it contributed after filtering */
};

/* Maps the snapshot at path and checks it whole (header, bounds, digest).
 * On error returns a negative uc_err, *out is NULL and err says why. The
 * result has one reference. */
int uc_lists_open(const char *path, uc_lists **out, char *err, size_t err_size);
uc_lists *uc_lists_ref(uc_lists *l);
void uc_lists_unref(uc_lists *l); /* NULL is fine; unmaps at the last reference */

const char *uc_lists_version(const uc_lists *l);
size_t uc_lists_domain_count(const uc_lists *l);
size_t uc_lists_local_count(const uc_lists *l);
size_t uc_lists_source_count(const uc_lists *l);
/* i < uc_lists_source_count(l); the strings live as long as l. */
void uc_lists_source(const uc_lists *l, size_t i, struct uc_list_source *src);

/* path of a file called name in the running executable's directory. UC_OK
 * or UC_ENOTFOUND. */
int uc_path_beside_exe(const char *name, char *buf, size_t size);
/* The default snapshot path: $USER_CLEANING_LISTS, else lists.snap beside the
 * running executable. UC_OK, or UC_ENOTFOUND when neither can be had. */
int uc_lists_default_path(char *buf, size_t size);
/* The one answer to "which snapshot": configured when not NULL or empty,
 * else the default path, else "lists.snap" in the current directory. */
void uc_lists_path(const char *configured, char *buf, size_t size);

/* Calls cb for every domain entry (in table order); non-zero from cb stops. */
typedef int (*uc_list_hit_cb)(void *arg, const struct uc_list_hit *hit);
void uc_lists_each_domain(const uc_lists *l, uc_list_hit_cb cb, void *arg);

/* Exact lookups; 1 and *hit filled when found, 0 otherwise. Lock-free. */
int uc_lists_find_domain(const uc_lists *l, const char *d, size_t n, struct uc_list_hit *hit);
int uc_lists_find_local(const uc_lists *l, const char *s, size_t n, struct uc_list_hit *hit);
/* A typo target with what the suggestion search needs precomputed. */
struct uc_typo_target {
  const char *name;
  size_t len;
  uint64_t classes; /* uc_char_classes(name, len) */
};
/* Typo targets in popularity order. */
size_t uc_lists_typo_targets(const uc_lists *l, const struct uc_typo_target **targets);

/* Which of 64 character classes occur in s. One edit changes at most two
 * bits (a substitution removes one character and adds another), so strings
 * within k edits differ in at most 2k bits: a cheap test before a distance. */
uint64_t uc_char_classes(const char *s, size_t n);

/* Builds a snapshot from an INI manifest (one section per source: file, kind,
 * version, date, license). Paths in it are relative to root (NULL: cwd).
 * A one-line summary per source goes to report (may be NULL). */
int uc_lists_build(const char *manifest, const char *root, const char *out_path, FILE *report,
                   char *err, size_t err_size);

/* Holds the current snapshot for many threads; swap publishes a new one
 * without disturbing readers of the old one. */
typedef struct uc_lists_holder uc_lists_holder;
uc_lists_holder *uc_lists_holder_new(uc_lists *initial); /* takes the reference; NULL on ENOMEM */
void uc_lists_holder_free(uc_lists_holder *h);
uc_lists *uc_lists_holder_get(uc_lists_holder *h); /* a new reference: uc_lists_unref it */
void uc_lists_holder_swap(uc_lists_holder *h, uc_lists *next); /* takes the reference */

/* One thread's own reference to the holder's snapshot (uc_follower of
 * include/uc/follow.h): one uncontended atomic load per use instead of a lock
 * and two refcount writes; it moves to a swapped-in snapshot on its next use
 * and keeps the old one alive until then. Zero-initialise it.
 * The current snapshot, valid until the next call on f or the drop: */
uc_lists *uc_lists_holder_follow(uc_lists_holder *h, struct uc_follower *f);
void uc_lists_follower_drop(struct uc_follower *f);

#endif
