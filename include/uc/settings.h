/* An account's settings: ban policy, never-ban ranges, the colour of each
 * configurable type. One JSON form for the admin API, the CLI and the store. */
#ifndef UC_SETTINGS_H
#define UC_SETTINGS_H

#include "uc/engine.h"
#include "uc/ip.h"
#include "uc/store.h"

#define UC_NEVER_BAN_MAX 64
#define UC_THRESHOLD_MAX 100

struct uc_settings {
  int ban_enabled;           /* default on */
  unsigned ban_threshold;    /* black answers before the ban, 1..100, default 5 */
  unsigned ban_lift_seconds; /* a ban lifts itself after this long; 0: never (default) */
  unsigned ipv6_prefix;      /* IPv6 addresses share a ban per prefix, 1..128, default 64 */
  unsigned ipv6_aggregate; /* this many banned prefixes in one /48 ban the /48; 0 off, default 8 */
  int ban_loopback;        /* count and ban 127.0.0.0/8 and ::1 (default off) */
  int alias_chains;        /* look for alias chains (default on) */
  unsigned alias_window_days; /* ... among the spellings of the last N days, 1..366, default 30 */
  /* Requests a second each key of the account may make (0: no limit, the
   * default) and how many at once (0: as many as per second); a key's own
   * limit wins (include/uc/ratelimit.h). */
  unsigned rate_limit_per_second, rate_limit_burst;
  unsigned young_domain_days; /* registered fewer days ago: young_domain, 1..3650, default 30 */
  int count_typos;     /* a black answer with a typo suggestion counts toward a ban (default off) */
  int activity_emails; /* the Activity page shows whole addresses, not domains (default off) */
  uc_category colors[UC_TYPE_COUNT];
  size_t never_ban_count;
  struct uc_cidr never_ban[UC_NEVER_BAN_MAX];
  char never_ban_text[UC_NEVER_BAN_MAX][UC_IP_KEY_MAX]; /* canonical "addr/prefix" */
};

void uc_settings_init(struct uc_settings *s);

/* {"ban_enabled":true,"ban_threshold":5,"ban_lift_seconds":0,"ipv6_prefix":64,
 *  "ipv6_aggregate":8,"ban_loopback":false,
 *  "never_ban":["10.0.0.0/8"],"alias_chains":true,"alias_window_days":30,
 *  "rate_limit_per_second":0,"rate_limit_burst":0,"young_domain_days":30,
 *  "count_typos":false,"activity_emails":false,
 *  "colors":{"masked legitimate":"black",...}}
 * as compact JSON text: free() it. NULL on ENOMEM. */
char *uc_settings_to_json(const struct uc_settings *s);

/* Applies the members present in patch (the JSON text of an object) after
 * validating all of them: on error nothing changes, UC_EINVAL, field names
 * the member (e.g. "ban_threshold" or "colors.suspicious signs"; "body" when
 * the text is not a JSON object) and msg says what is wrong. */
int uc_settings_patch(struct uc_settings *s, const char *patch, size_t len, char *field,
                      size_t field_size, char *msg, size_t msg_size);

/* A patch from NAME VALUE pairs as operators type them (the CLI):
 * "ban_threshold" "3", "never_ban" "[\"10.0.0.0/8\"]", "colors.no website" "grey".
 * VALUE is read as JSON when it parses, else as a string. The JSON text of
 * the patch (free() it), or NULL on ENOMEM. */
char *uc_settings_patch_from_pairs(const char *const *pairs, size_t npairs);

/* Reads an account's settings from the store into s: the defaults, then what
 * is stored. UC_OK; UC_EFORMAT when the stored row no longer validates (s
 * keeps the defaults, why says what is wrong); or the store's error. */
int uc_settings_load(uc_store *st, int64_t account, struct uc_settings *s, char *why,
                     size_t why_size);
/* Stores s as the account's settings. UC_OK or an error. */
int uc_settings_save(uc_store *st, int64_t account, const struct uc_settings *s);

/* Copies the colours and young_domain_days into a policy. */
void uc_settings_policy(const struct uc_settings *s, struct uc_policy *p);

/* An account's policy as its checks see it: its settings and its domain
 * lists, read from the store. */
struct uc_account_policy {
  struct uc_settings settings;
  uc_domset *lists[3]; /* by uc_category */
  struct uc_policy policy;
};
/* UC_OK; stored settings that no longer validate leave the defaults; else
 * the store's error or UC_ENOMEM. Release p whatever it returns. */
int uc_account_policy_load(uc_store *st, int64_t account, struct uc_account_policy *p);
void uc_account_policy_release(struct uc_account_policy *p);

/* Whether ip is in one of the never-ban ranges. */
int uc_settings_never_ban(const struct uc_settings *s, const struct uc_ip *ip);

#endif
