/* The admin API's operations for operators, over include/uc/admin.h:
 *   usercleaning bans list|unban IP|unban --all
 *   usercleaning settings get|set NAME VALUE...
 *   usercleaning lists show|add|remove COLOR [DOMAIN...]
 *   usercleaning usage [--days N] [--json]
 *   usercleaning audit [--limit N]
 * each with --account NAME (default "default") and --store URL / --db PATH.
 * A running server sees each change within a fraction of a second. */
#include "cli.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct uc_actor cli_actor = {0, "cli"};

struct admin_args {
  const char *account;
  const char *q; /* bans list --q TEXT */
  int all, json;
  long number; /* --days / --limit; -1: not given */
  char *pos[16];
  int npos;
};

static int parse_admin(char **args, int n, struct admin_args *a) {
  memset(a, 0, sizeof *a);
  a->account = "default";
  a->number = -1;
  for (int i = 0; i < n; i++) {
    char *end;
    if (strcmp(args[i], "--account") == 0 && i + 1 < n)
      a->account = args[++i];
    else if (strcmp(args[i], "--q") == 0 && i + 1 < n)
      a->q = args[++i];
    else if (strcmp(args[i], "--all") == 0)
      a->all = 1;
    else if (strcmp(args[i], "--json") == 0)
      a->json = 1;
    else if ((strcmp(args[i], "--days") == 0 || strcmp(args[i], "--limit") == 0) && i + 1 < n &&
             (a->number = strtol(args[i + 1], &end, 10)) > 0 && !*end)
      i++;
    else if (args[i][0] == '-' && args[i][1] == '-')
      return -1;
    else if (a->npos < 16)
      a->pos[a->npos++] = args[i];
    else
      return -1;
  }
  return 0;
}

/* Opens the store and finds the account; prints why not. */
static uc_store *open_account(int argc, char **argv, struct admin_args *a,
                              struct uc_account_rec *acc, void (*usage)(FILE *), int need_pos) {
  struct uc_config cfg;
  char *args[32];
  int nargs;
  if (argc > 32 || cli_config(argc, argv, &cfg, args, &nargs) || parse_admin(args, nargs, a) ||
      a->npos < need_pos) {
    usage(stderr);
    return NULL;
  }
  uc_store *st = cli_open_store(&cfg, 0);
  if (st && cli_account(st, a->account, acc)) {
    uc_store_close(st);
    st = NULL;
  }
  return st;
}

/* The account's settings; a stored row that no longer validates gives the defaults. */
static void load_settings(uc_store *st, int64_t account, struct uc_settings *set) {
  char why[200];
  uc_settings_load(st, account, set, why, sizeof why);
}

/* ---- bans ---- */

static void bans_usage(FILE *f) {
  fprintf(f, "usage: usercleaning bans list [--q TEXT] [--limit N] [--account NAME] [--json]\n"
             "       usercleaning bans unban IP [--account NAME]\n"
             "       usercleaning bans unban --all [--account NAME]\n"
             "list shows every IP with attempts counted or a ban (--q: those whose key holds\n"
             "TEXT; --limit: the first N). IP is an address or a key as listed\n"
             "(2001:db8::/64). Unbanning resets the IP's counter, also in a running server.\n"
             "All take --store URL or --db PATH.\n");
}

/* Every page (or the first `limit` rows) into one array, taken over by *out. */
static int bans_all(uc_store *st, const struct uc_account_rec *acc, const char *q, long limit,
                    json_t **out) {
  struct uc_admin a = {.st = st};
  struct uc_admin_error e;
  struct uc_settings set;
  char cursor[UC_IP_KEY_MAX] = "";
  json_t *all = json_array();
  load_settings(st, acc->id, &set);
  for (;;) {
    long left = limit < 0 ? UC_ADMIN_BANS_PAGE_MAX : limit - (long)json_array_size(all);
    struct uc_ban_query page = {
        cursor[0] ? cursor : NULL, q,
        (size_t)(left < UC_ADMIN_BANS_PAGE_MAX ? left : UC_ADMIN_BANS_PAGE_MAX), 0, 0};
    char *json = NULL;
    if (left <= 0)
      break;
    int rc = uc_admin_bans_json(&a, acc->id, &set, &page, &json, &e);
    if (rc) {
      json_decref(all);
      return cli_admin_error(rc, &e);
    }
    json_t *doc = json_loads(json, 0, NULL);
    free(json);
    json_array_extend(all, json_object_get(doc, "bans"));
    const char *next = json_string_value(json_object_get(doc, "next_cursor"));
    snprintf(cursor, sizeof cursor, "%s", next ? next : "");
    json_decref(doc);
    if (!next)
      break;
  }
  *out = all;
  return 0;
}

static int bans_list(uc_store *st, const struct uc_account_rec *acc, const struct admin_args *a) {
  json_t *bans = NULL, *b;
  size_t i;
  int rc = bans_all(st, acc, a->q, a->number, &bans);
  if (rc)
    return rc;
  if (a->json) {
    json_t *doc = json_pack("{s:o}", "bans", bans);
    return cli_print_json(json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER)), json_decref(doc), 0;
  }
  printf("%-42s %8s %9s  %-6s %s\n", "IP", "ATTEMPTS", "REMAINING", "BANNED", "BANNED AT (UTC)");
  json_array_foreach(bans, i, b) {
    const char *at = json_string_value(json_object_get(b, "banned_at"));
    printf("%-42s %8lld %9lld  %-6s %s%s\n", json_string_value(json_object_get(b, "ip")),
           (long long)json_integer_value(json_object_get(b, "attempts")),
           (long long)json_integer_value(json_object_get(b, "remaining")),
           json_is_true(json_object_get(b, "banned")) ? "yes" : "no", at ? at : "-",
           json_is_true(json_object_get(b, "aggregate")) ? "  (a /48 of banned prefixes)" : "");
  }
  json_decref(bans);
  return 0;
}

static int bans_unban(uc_store *st, const struct uc_account_rec *acc, const char *ip) {
  struct uc_admin a = {.st = st};
  struct uc_admin_error e;
  struct uc_settings set;
  char key[UC_IP_KEY_MAX];
  load_settings(st, acc->id, &set);
  int rc = uc_admin_unban(&a, acc->id, &cli_actor, ip, set.ipv6_prefix, key, &e);
  if (rc == UC_EINVAL) {
    fprintf(stderr, "usercleaning: '%s' is not an IP address (nor a key as 'bans list' shows)\n",
            ip);
    return 2;
  }
  if (rc && rc != UC_ENOTFOUND)
    return cli_admin_error(rc, &e);
  /* Not stored is not an error: a running server may be counting it in memory,
   * and the unban reaches it through the store. */
  printf("unbanned %s%s\n", key,
         rc == UC_ENOTFOUND ? " (nothing was stored for it; a running "
                              "server resets any count it holds)"
                            : "");
  return 0;
}

int cmd_bans(int argc, char **argv) {
  struct admin_args a;
  struct uc_account_rec acc;
  struct uc_admin_error e;
  if (argc >= 2 && strcmp(argv[1], "--help") == 0)
    return bans_usage(stdout), 0;
  uc_store *st = open_account(argc, argv, &a, &acc, bans_usage, 1);
  if (!st)
    return 2;
  int rc = 2;
  if (strcmp(a.pos[0], "list") == 0 && a.npos == 1) {
    rc = bans_list(st, &acc, &a);
  } else if (strcmp(a.pos[0], "unban") == 0 && a.all && a.npos == 1) {
    struct uc_admin ad = {.st = st};
    size_t n = 0;
    rc = uc_admin_unban_all(&ad, acc.id, &cli_actor, &n, &e);
    if (rc)
      rc = cli_admin_error(rc, &e);
    else
      printf("unbanned %zu IP(s) of account '%s' (a running server resets every count too)\n", n,
             acc.name);
  } else if (strcmp(a.pos[0], "unban") == 0 && !a.all && a.npos == 2) {
    rc = bans_unban(st, &acc, a.pos[1]);
  } else {
    bans_usage(stderr);
  }
  uc_store_close(st);
  return rc;
}

/* ---- settings ---- */

static void settings_usage(FILE *f) {
  fprintf(f,
          "usage: usercleaning settings get [--account NAME]\n"
          "       usercleaning settings set NAME VALUE [NAME VALUE...] [--account NAME]\n\n"
          "NAME: ban_enabled (true|false), ban_threshold (1-100), ban_lift_seconds (0 = never),\n"
          "ipv6_prefix (1-128), ipv6_aggregate (0-256), ban_loopback (true|false),\n"
          "never_ban (JSON array of IPs/CIDRs), colors (JSON object),\n"
          "or colors.TYPE with TYPE one of 'masked legitimate', 'no website',\n"
          "'multi-alias services', 'suspicious signs' and VALUE white|grey|black.\n");
}

static int settings_set(uc_store *st, const struct uc_account_rec *acc, char **pos, int npos) {
  struct uc_admin a = {.st = st};
  struct uc_admin_error e;
  struct uc_settings set;
  char *patch = uc_settings_patch_from_pairs((const char *const *)pos, (size_t)npos);
  if (!patch) {
    fprintf(stderr, "usercleaning: out of memory\n");
    return 1;
  }
  int rc = uc_admin_settings_update(&a, acc->id, &cli_actor, patch, strlen(patch), &set, &e);
  free(patch);
  return rc ? cli_admin_error(rc, &e) : cli_print_json(uc_settings_to_json(&set));
}

int cmd_settings(int argc, char **argv) {
  struct admin_args a;
  struct uc_account_rec acc;
  if (argc >= 2 && strcmp(argv[1], "--help") == 0)
    return settings_usage(stdout), 0;
  uc_store *st = open_account(argc, argv, &a, &acc, settings_usage, 1);
  if (!st)
    return 2;
  int rc = 2;
  if (strcmp(a.pos[0], "get") == 0 && a.npos == 1) {
    struct uc_settings set;
    load_settings(st, acc.id, &set);
    rc = cli_print_json(uc_settings_to_json(&set));
  } else if (strcmp(a.pos[0], "set") == 0 && a.npos >= 3 && a.npos % 2 == 1) {
    rc = settings_set(st, &acc, a.pos + 1, a.npos - 1);
  } else {
    settings_usage(stderr);
  }
  uc_store_close(st);
  return rc;
}

/* ---- domain lists ---- */

void cli_lists_admin_usage(FILE *f) {
  fprintf(f, "       usercleaning lists show white|grey|black [--account NAME] [--json]\n"
             "       usercleaning lists add white|grey|black DOMAIN... [--account NAME]\n"
             "       usercleaning lists remove white|grey|black DOMAIN... [--account NAME]\n"
             "A listed domain also matches its subdomains. All take --store URL or --db PATH.\n");
}

static void lists_admin_usage(FILE *f) {
  fprintf(f, "usage:\n");
  cli_lists_admin_usage(f);
}

static int lists_show(uc_store *st, int64_t account, uc_category color, int as_json) {
  struct uc_admin a = {.st = st};
  struct uc_admin_error e;
  char *json = NULL;
  int rc = uc_admin_list_json(&a, account, color, &json, &e);
  if (rc)
    return cli_admin_error(rc, &e);
  if (as_json)
    return cli_print_json(json);
  json_t *doc = json_loads(json, 0, NULL), *d;
  size_t i;
  free(json);
  json_array_foreach(json_object_get(doc, "domains"), i, d) printf("%s\n", json_string_value(d));
  json_decref(doc);
  return 0;
}

/* add or remove each domain; the exit status is the worst of them. */
static int lists_change(uc_store *st, int64_t account, uc_category color, int add, char **domains,
                        int n) {
  struct uc_admin a = {.st = st};
  struct uc_admin_error e;
  int worst = 0;
  for (int i = 0; i < n; i++) {
    char name[UC_DOMAIN_MAX + 1];
    int rc = add ? uc_admin_list_add(&a, account, &cli_actor, color, domains[i], name, &e)
                 : uc_admin_list_remove(&a, account, &cli_actor, color, domains[i], name, &e);
    if (rc == UC_OK)
      printf("%s %s %s the %s list\n", add ? "added" : "removed", name, add ? "to" : "from",
             uc_category_name(color));
    else if (rc == UC_EEXISTS || rc == UC_ENOTFOUND)
      printf("%s is %s on the %s list\n", name, add ? "already" : "not", uc_category_name(color));
    else if (rc == UC_EINVAL)
      fprintf(stderr, "usercleaning: %s: %s\n", domains[i], e.msg), worst = worst ? worst : 1;
    else
      worst = cli_admin_error(rc, &e);
  }
  return worst;
}

int cli_lists_admin(int argc, char **argv) {
  struct admin_args a;
  struct uc_account_rec acc;
  uc_category color;
  uc_store *st = open_account(argc, argv, &a, &acc, lists_admin_usage, 2);
  if (!st)
    return 2;
  int rc = 2;
  if (uc_category_parse(a.pos[1], &color) != UC_OK)
    lists_admin_usage(stderr);
  else if (strcmp(a.pos[0], "show") == 0 && a.npos == 2)
    rc = lists_show(st, acc.id, color, a.json);
  else if (a.npos >= 3 && (strcmp(a.pos[0], "add") == 0 || strcmp(a.pos[0], "remove") == 0))
    rc = lists_change(st, acc.id, color, strcmp(a.pos[0], "add") == 0, a.pos + 2, a.npos - 2);
  else
    lists_admin_usage(stderr);
  uc_store_close(st);
  return rc;
}

/* ---- usage ---- */

static void usage_usage(FILE *f) {
  fprintf(f, "usage: usercleaning usage [--account NAME] [--days N] [--json]\n"
             "Checks answered per day and category, per key and in total, over the last N\n"
             "days (default 30, at most 366), as GET /v1/admin/usage shows them. Counts a\n"
             "running server has not written yet (every flush_interval) are not included.\n"
             "Takes --store URL or --db PATH.\n");
}

static void print_counts(const char *label, const uint64_t n[UC_USAGE_OUTCOMES]) {
  printf("%-24s %10llu %10llu %10llu %10llu %10llu\n", label, (unsigned long long)n[0],
         (unsigned long long)n[1], (unsigned long long)n[2], (unsigned long long)n[UC_USAGE_BANNED],
         (unsigned long long)(n[0] + n[1] + n[2] + n[UC_USAGE_BANNED]));
}

static void print_header(const char *first) {
  printf("%-24s %10s %10s %10s %10s %10s\n", first, "WHITE", "GREY", "BLACK", "BANNED", "TOTAL");
}

static void print_report(const struct uc_usage_report *r) {
  char day[11];
  print_header("DAY (UTC)");
  for (size_t i = 0; i < r->nday; i++) {
    uc_date_format(r->by_day[i].day, day);
    print_counts(day, r->by_day[i].n);
  }
  printf("\n");
  print_header("KEY");
  for (size_t i = 0; i < r->nkey; i++)
    print_counts(r->by_key[i].name, r->by_key[i].n);
  printf("\n");
  print_counts("total", r->total);
}

int cmd_usage(int argc, char **argv) {
  struct admin_args a;
  struct uc_account_rec acc;
  struct uc_usage_report rep;
  if (argc >= 2 && strcmp(argv[1], "--help") == 0)
    return usage_usage(stdout), 0;
  uc_store *st = open_account(argc, argv, &a, &acc, usage_usage, 0);
  if (!st)
    return 2;
  int rc = 2;
  long days = a.number < 0 ? 30 : a.number;
  if (a.npos || days > UC_USAGE_DAYS_MAX) {
    usage_usage(stderr);
  } else if ((rc = uc_usage_report(st, acc.id, (unsigned)days, (unsigned)(time(NULL) / 86400),
                                   &rep)) != UC_OK) {
    char why[256];
    uc_store_error(st, rc, why, sizeof why);
    fprintf(stderr, "usercleaning: %s\n", why);
    rc = 1;
  } else {
    if (a.json)
      rc = cli_print_json(uc_usage_report_json(&rep));
    else
      print_report(&rep), rc = 0;
    uc_usage_report_release(&rep);
  }
  uc_store_close(st);
  return rc;
}

/* ---- audit ---- */

static void audit_usage(FILE *f) {
  fprintf(f, "usage: usercleaning audit [--account NAME] [--limit N]\n"
             "The account's audit trail, newest first (default 100 rows), as JSON.\n");
}

int cmd_audit(int argc, char **argv) {
  struct admin_args a;
  struct uc_account_rec acc;
  struct uc_admin_error e;
  if (argc >= 2 && strcmp(argv[1], "--help") == 0)
    return audit_usage(stdout), 0;
  uc_store *st = open_account(argc, argv, &a, &acc, audit_usage, 0);
  if (!st)
    return 2;
  struct uc_admin ad = {.st = st};
  char *json = NULL;
  int rc = a.npos
               ? (audit_usage(stderr), 2)
               : uc_admin_audit_json(&ad, acc.id, a.number < 0 ? 100 : (size_t)a.number, &json, &e);
  if (!a.npos)
    rc = rc ? cli_admin_error(rc, &e) : cli_print_json(json);
  uc_store_close(st);
  return rc;
}
