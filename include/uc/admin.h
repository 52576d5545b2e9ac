/* Account administration (SPEC §5): keys, settings, domain lists, unbans.
 * Each operation is one function that validates, writes, and records the
 * audit row; the admin API, the dashboard and the CLI only translate to and
 * from it. Output for people or programs is JSON text (free() it).
 *
 * Results: UC_OK; UC_EINVAL with e->field and e->msg (a 422); UC_ENOTFOUND
 * with e->msg (a 404); UC_EDENIED with e->msg (a 409: e.g. the last admin
 * key); UC_EEXISTS where said; else the store's error with e->msg. */
#ifndef UC_ADMIN_H
#define UC_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "uc/activity.h"
#include "uc/bans.h"
#include "uc/settings.h"
#include "uc/store.h"

/* Where the operations act: the store, and the server's ban cache when there
 * is one (the CLI has none: a running server learns of its unbans through
 * the store's change feed). */
struct uc_admin {
  uc_store *st;
  uc_bans *bans;         /* may be NULL */
  uc_activity *activity; /* the server's recent checks; NULL in the CLI */
};

/* Who acts, for the audit trail. */
struct uc_actor {
  int64_t key_id;  /* the admin key; 0 for the CLI */
  const char *via; /* "api", "cli" */
};

struct uc_admin_error {
  char field[96]; /* the input that is wrong, for a 422 ("name", "domains[3]") */
  char msg[256];
};

/* ---- settings ---- */

/* Applies patch (JSON object text) to the account's stored settings, stores
 * them and writes the result into *out. */
int uc_admin_settings_update(const struct uc_admin *a, int64_t account, const struct uc_actor *who,
                             const char *patch, size_t len, struct uc_settings *out,
                             struct uc_admin_error *e);

/* ---- domain lists ---- */

/* {"color":"black","domains":[...]} */
int uc_admin_list_json(const struct uc_admin *a, int64_t account, uc_category c, char **json,
                       struct uc_admin_error *e);
/* Adds domain (as typed) to the list; UC_EEXISTS when it was there.
 * name receives the stored form (lower-case A-label). */
int uc_admin_list_add(const struct uc_admin *a, int64_t account, const struct uc_actor *who,
                      uc_category c, const char *domain, char name[UC_DOMAIN_MAX + 1],
                      struct uc_admin_error *e);
int uc_admin_list_remove(const struct uc_admin *a, int64_t account, const struct uc_actor *who,
                         uc_category c, const char *domain, char name[UC_DOMAIN_MAX + 1],
                         struct uc_admin_error *e);
/* The whole list at once (all or nothing; at most UC_ADMIN_LIST_MAX). */
#define UC_ADMIN_LIST_MAX 100000
int uc_admin_list_replace(const struct uc_admin *a, int64_t account, const struct uc_actor *who,
                          uc_category c, const char *const *domains, size_t n,
                          struct uc_admin_error *e);

/* ---- keys ---- */

/* {"keys":[{"id","name","type","prefix","created_at","last_used_at","revoked",
 * "rate_limit_per_second","rate_limit_burst"}]}
 * (live keys), or every key with revoked ones when all. */
int uc_admin_keys_json(const struct uc_admin *a, int64_t account, int all, char **json,
                       struct uc_admin_error *e);
/* One key's JSON object; key_text (the key itself, shown once) may be NULL. */
char *uc_admin_key_json(const struct uc_key_rec *k, const char *key_text);
int uc_admin_key_create(const struct uc_admin *a, int64_t account, const struct uc_actor *who,
                        const char *name, uc_key_type type, struct uc_key_rec *rec,
                        char key[UC_KEY_MAX + 1], struct uc_admin_error *e);
/* A key's own rate limit as a change: a field < 0 stays as it is; a
 * per_second of 0 gives the key its account's limit back (settings
 * rate_limit_*); burst 0: as many as per second. Each 0..UC_RATE_MAX. */
struct uc_admin_key_rate {
  long per_second, burst;
};

/* Renames (name not NULL), retypes (type >= 0) and/or sets the rate limit
 * (rate not NULL) of a live key, all or nothing. A key whose type changes
 * gets new text with the matching prefix (written to new_key, shown once;
 * the old text stops working at once); otherwise new_key is "". The last
 * admin key of an account cannot be demoted (UC_EDENIED). */
int uc_admin_key_update(const struct uc_admin *a, int64_t account, const struct uc_actor *who,
                        int64_t key_id, const char *name, int type,
                        const struct uc_admin_key_rate *rate, struct uc_key_rec *rec,
                        char new_key[UC_KEY_MAX + 1], struct uc_admin_error *e);
/* UC_EDENIED for the caller's own key and for the last admin key. */
int uc_admin_key_revoke(const struct uc_admin *a, int64_t account, const struct uc_actor *who,
                        int64_t key_id, struct uc_admin_error *e);

/* ---- bans ---- */

/* One page of {"bans":[{"ip","attempts","remaining","banned","banned_at",
 * "aggregate"}],"next_cursor":...} with the account's settings s (remaining,
 * lifts): q->limit rows at most (UC_ADMIN_BANS_PAGE_MAX), after q->after,
 * holding q->contains; next_cursor (the last ip, or null) continues. */
#define UC_ADMIN_BANS_PAGE_DEFAULT 100
#define UC_ADMIN_BANS_PAGE_MAX 1000
int uc_admin_bans_json(const struct uc_admin *a, int64_t account, const struct uc_settings *s,
                       const struct uc_ban_query *q, char **json, struct uc_admin_error *e);
/* Lifts the ban of ip (an address, or a key as listed, e.g. "2001:db8::/64")
 * and resets its counter; key receives the canonical key. UC_ENOTFOUND when
 * nothing was counted (with a ban cache) or stored (without: then the unban
 * is still recorded for a running server, which may hold a count). */
int uc_admin_unban(const struct uc_admin *a, int64_t account, const struct uc_actor *who,
                   const char *ip, unsigned v6_prefix, char key[UC_IP_KEY_MAX],
                   struct uc_admin_error *e);
int uc_admin_unban_all(const struct uc_admin *a, int64_t account, const struct uc_actor *who,
                       size_t *unbanned, struct uc_admin_error *e);

/* ---- the admin API's paths ---- */

enum uc_admin_resource {
  UC_ADMIN_SETTINGS, /* settings */
  UC_ADMIN_BANS,     /* bans, bans/IP (IP as listed: may hold a '/') */
  UC_ADMIN_LISTS,    /* lists/COLOR, lists/COLOR/DOMAIN */
  UC_ADMIN_KEYS,     /* keys, keys/ID */
  UC_ADMIN_USAGE,    /* usage */
  UC_ADMIN_AUDIT,    /* audit */
  UC_ADMIN_SOURCES,  /* sources: the server's list sources (uc_sync_status_json) */
  UC_ADMIN_TRY,      /* try: a check that counts nothing */
  UC_ADMIN_ACTIVITY, /* activity: the account's recent checks */
};

#define UC_ADMIN_ITEM_MAX 256

struct uc_admin_path {
  enum uc_admin_resource resource;
  uc_category color;                /* UC_ADMIN_LISTS */
  int has_item;                     /* an item after the collection */
  char item[UC_ADMIN_ITEM_MAX + 1]; /* the IP, domain or key id, as given */
};

/* Parses path[0..len), the part after "/v1/admin/" (already URL-decoded).
 * UC_ENOTFOUND for anything that is not exactly one of the forms above: an
 * empty segment ("bans/", "lists//x"), a NUL byte, a trailing slash or an
 * over-long item never names the collection. */
int uc_admin_path_parse(const char *path, size_t len, struct uc_admin_path *out);

/* ---- activity ---- */

/* {"day","emails_shown","last_seq","checks":[{"seq","at","domain","email","category","type",
 *  "key":{"id","name","type"},"ip"}],"top_domains":[{"domain","count","over"}],
 *  "top_ips":[{"ip","count","over"}]} (docs/api.md): the account's checks newer
 * than since, newest first, and today's tops. "email" is null unless s shows
 * whole addresses (activity_emails) and the check was recorded with it.
 * UC_EUNAVAILABLE (e->msg) without a->activity. */
int uc_admin_activity_json(const struct uc_admin *a, int64_t account, const struct uc_settings *s,
                           uint64_t since, int64_t now, char **json, struct uc_admin_error *e);

/* ---- audit ---- */

/* {"audit":[{"id","at","key_id","action","detail"}]}, newest first. */
int uc_admin_audit_json(const struct uc_admin *a, int64_t account, size_t limit, char **json,
                        struct uc_admin_error *e);

#endif
