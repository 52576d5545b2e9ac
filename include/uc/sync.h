/* Living lists: `usercleaning lists update` and serve's scheduled update.
 * A source of the manifest with `url =` is fetched (conditional requests,
 * a deadline, a size cap), checked by the poisoning guard, and kept as a
 * copy beside the snapshot; the snapshot is then rebuilt from every source
 * beside the old one and renamed into place. Sources without a url (and
 * URL sources never fetched, through their `file =`) are read as
 * `uc_lists_build` reads them: the npm-pinned lists stay the offline default.
 *
 * Beside a snapshot S live (docs/internals/sync.md, history.md):
 *   S.d/sync.json          the sync state: validators, versions, last success and error
 *   S.d/sources/NAME.txt   the last accepted copy of each URL source
 *   S.d/history/NAME.txt   the date each entry first appeared in our lists, per source
 *   S.d/lock               held while an update runs (one at a time)
 *
 * The guard, per URL source, before anything is swapped:
 *   - entries that are guard-list or free-provider domains (of the manifest's
 *     guard and free sources) are dropped from disposable and multi-alias
 *     sources, and public suffixes from them; each is reported;
 *   - an update that removes more than max_removed_percent of the previous
 *     copy's entries, or adds more than max_added, is refused (the previous
 *     copy stays) unless force; a first copy (nothing before) has no size rule;
 *   - a failed fetch (network, timeout, HTTP error, over the cap, unreadable)
 *     keeps the previous copy. */
#ifndef UC_SYNC_H
#define UC_SYNC_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "uc/email.h"
#include "uc/engine.h"
#include "uc/lists.h"

struct uc_sync_opts {
  unsigned max_removed_percent; /* 20 */
  unsigned long max_added;      /* 20000 */
  unsigned timeout_s;           /* one fetch (60) */
  size_t max_bytes;             /* one fetched list, decoded (32 MiB) */
  int force;                    /* apply updates the size rules refuse */
  const char *root;             /* `file =` paths are relative to it; NULL: the current directory */
  const atomic_int *cancel;     /* when set and non-zero, a fetch in flight stops (may be NULL) */
};
void uc_sync_opts_init(struct uc_sync_opts *o);

/* What became of one source. */
enum uc_sync_outcome {
  UC_SYNC_OFFLINE,   /* no url: its file, as `lists build` reads it */
  UC_SYNC_UPDATED,   /* fetched, checked and accepted */
  UC_SYNC_FORCED,    /* refused by a size rule, applied because of force */
  UC_SYNC_UNCHANGED, /* 304 Not Modified, or the same entries */
  UC_SYNC_REFUSED,   /* a size rule refused it: the previous copy stays */
  UC_SYNC_FAILED,    /* the fetch failed: the previous copy stays */
};
const char *uc_sync_outcome_name(enum uc_sync_outcome o); /* "updated", ... */

#define UC_SYNC_EXAMPLES 20 /* dropped entries named in a report, per source */

struct uc_sync_drop {
  char entry[UC_DOMAIN_MAX + 1];
  const char *reason; /* "guard list", "free provider", "public suffix" (static) */
};

struct uc_sync_source_report {
  char name[48], kind[16], version[24];
  int has_url;
  enum uc_sync_outcome outcome;
  long http_status; /* 0: no answer */
  size_t entries;   /* in the copy in use afterwards */
  size_t previous;  /* in the copy before (0: none) */
  size_t added, removed, invalid;
  size_t dropped_guard, dropped_free, dropped_suffix;
  size_t ndrops; /* the first UC_SYNC_EXAMPLES dropped entries */
  struct uc_sync_drop drops[UC_SYNC_EXAMPLES];
  char message[512]; /* why it failed or was refused; what force overrode; "" */
};

struct uc_sync_report {
  int nsrc;
  struct uc_sync_source_report src[UC_LISTS_MAX_SOURCES];
  int rebuilt;        /* a new snapshot was renamed into place */
  char version[32];   /* the snapshot's version afterwards ("" when there is none) */
  char build[2048];   /* the build's per-source summary, when rebuilt */
  int64_t started_at; /* unix seconds */
};

/* Updates the URL sources of manifest and, when any changed (or snapshot
 * is missing), rebuilds snapshot. Every decision is in *rep (also on error,
 * as far as it got). UC_OK when the run went through, whatever each source's
 * outcome (a refused or failed source is not an error of the run: see
 * rep); UC_EBUSY when another update holds the lock; another error with err
 * (a manifest that does not parse, an offline source that cannot be read,
 * a snapshot that cannot be written). */
int uc_lists_update(const char *manifest, const char *snapshot, const struct uc_sync_opts *o,
                    struct uc_sync_report *rep, char *err, size_t err_size);
/* Whether any source of rep failed or was refused. */
int uc_sync_report_problems(const struct uc_sync_report *rep);
/* rep for people (one paragraph per source) and as JSON text (free() it; NULL on ENOMEM). */
void uc_sync_report_print(const struct uc_sync_report *rep, FILE *f);
char *uc_sync_report_json(const struct uc_sync_report *rep);

/* ---- the sync state (S.d/sync.json), read by serve and `lists why` ---- */

struct uc_sync_source_state {
  char name[48];
  char url[1024];
  char etag[256], modified[64]; /* the validators of the copy */
  char version[24];             /* "YYYY.MM.DD-xxxxxxxx": day and digest of the copy */
  unsigned date;                /* days since 1970 the copy last changed; 0: no copy */
  size_t entries;               /* in the copy */
  char outcome[16];             /* of the last attempt (uc_sync_outcome_name) */
  int64_t last_attempt, last_success, last_error_at; /* unix seconds; 0: never */
  char last_error[512];
};

typedef struct uc_sync_state uc_sync_state;
/* Reads the state beside snapshot: UC_OK (no file yet: an empty state);
 * UC_EFORMAT when the file is not a sync state (err says why); UC_EIO. */
int uc_sync_state_load(const char *snapshot, uc_sync_state **out, char *err, size_t err_size);
void uc_sync_state_free(uc_sync_state *s);
size_t uc_sync_state_count(const uc_sync_state *s);
/* The i-th source (i < count); UC_OK. */
void uc_sync_state_source(const uc_sync_state *s, size_t i, struct uc_sync_source_state *out);
/* The reason the guard dropped entry from source's last accepted update, or NULL. */
const char *uc_sync_state_dropped(const uc_sync_state *s, const char *source, const char *entry);

/* {"version","domains","sources":[{"name","kind","version","date","entries","url",
 * "last_success","last_error","last_error_at","outcome"}]} for the admin API and the
 * dashboard: the snapshot in use l and the state st (may be NULL). free() it. */
char *uc_sync_status_json(const uc_lists *l, const uc_sync_state *st);

/* The paths beside a snapshot: "S.d/sync.json" and the like. UC_OK, or
 * UC_ETOOBIG when they do not fit in size. */
int uc_sync_path(const char *snapshot, const char *name, char *buf, size_t size);

/* ---- provenance: `usercleaning lists why DOMAIN` ---- */

#define UC_WHY_MAX 64

struct uc_why_listing {
  char entry[UC_DOMAIN_MAX + 1]; /* the listed name: the domain or a parent */
  char source[48], kind[16];
  unsigned since; /* days since 1970 this source first listed it in our lists; 0 unknown */
};

struct uc_why {
  char domain[UC_DOMAIN_MAX + 1]; /* the domain asked about, A-label */
  size_t n;
  struct uc_why_listing at[UC_WHY_MAX];
  char guard[UC_DOMAIN_MAX + 1]; /* a guard-list name on the walk (disposable listings ignored) */
  char relay[UC_DOMAIN_MAX + 1]; /* a multi-alias name on the walk (it wins over disposable) */
  unsigned date_added;           /* what a check answers as date_added; 0: not added */
  size_t ndropped;               /* the guard dropped the domain or a parent from updates: */
  struct {
    char entry[UC_DOMAIN_MAX + 1], source[48], reason[24];
  } dropped[UC_LISTS_MAX_SOURCES];
  /* What a check says, with no account list or with an account's (uc_why_account). */
  char account[UC_DOMAIN_MAX + 1]; /* the account's name; "" when none was consulted */
  const char *category, *type;     /* static */
  char account_list[16];           /* "white", "grey", "black": the account list that decides */
  char account_entry[UC_DOMAIN_MAX + 1]; /* ... and its entry; "" when none */
};

/* Every source of l that lists domain or a parent of it, since when (the
 * history beside snapshot), and what overrides a disposable listing. UC_OK;
 * UC_EINVAL when domain is not a domain. The account part of the answer is
 * the caller's (a check with the account's policy). */
int uc_lists_why(const uc_lists *l, const char *snapshot, const char *domain, struct uc_why *out,
                 char *err, size_t err_size);
/* The verdict of w's domain with an account's policy p (its lists and
 * colours): whether one of its lists overrides the listings. */
void uc_why_account(struct uc_why *w, const uc_lists *l, const char *account,
                    const struct uc_policy *p);
/* w for people, and as JSON text (free() it; NULL on ENOMEM). */
void uc_why_print(const struct uc_why *w, FILE *f);
char *uc_why_json(const struct uc_why *w);

#endif
