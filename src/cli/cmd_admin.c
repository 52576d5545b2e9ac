/* The admin API's operations for operators, straight on the store:
 *   usercleaning bans list|unban IP|unban --all
 *   usercleaning settings get|set NAME VALUE
 *   usercleaning lists show|add|remove COLOR [DOMAIN...]
 * each with --account NAME (default "default") and --db PATH. A running
 * server sees the change within a second. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "uc/settings.h"

struct admin_args {
  const char *account;
  int all;
  char *pos[16];
  int npos;
};

static int parse_admin(char **args, int n, struct admin_args *a) {
  memset(a, 0, sizeof *a);
  a->account = "default";
  for (int i = 0; i < n; i++) {
    if (strcmp(args[i], "--account") == 0 && i + 1 < n)
      a->account = args[++i];
    else if (strcmp(args[i], "--all") == 0)
      a->all = 1;
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
                              struct uc_account_rec *acc, void (*usage)(FILE *)) {
  struct uc_config cfg;
  char *args[32];
  int nargs;
  if (argc > 32 || cli_config(argc, argv, &cfg, args, &nargs) || parse_admin(args, nargs, a) ||
      a->npos == 0) {
    usage(stderr);
    return NULL;
  }
  uc_store *st = cli_open_store(&cfg);
  if (!st)
    return NULL;
  int rc = st->ops->account_get(st->state, a->account, acc);
  if (rc) {
    fprintf(stderr, "usercleaning: no account '%s'\n", a->account);
    uc_store_close(st);
    return NULL;
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
  fprintf(f, "usage: usercleaning bans list [--account NAME]\n"
             "       usercleaning bans unban IP [--account NAME]\n"
             "       usercleaning bans unban --all [--account NAME]\n"
             "Unbanning resets the IP's counter. All take --db PATH.\n");
}

static int print_ban(void *arg, const struct uc_ban_rec *b) {
  char when[32] = "-";
  time_t t = (time_t)b->banned_at;
  if (b->banned_at)
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", gmtime(&t));
  (void)arg;
  printf("%-42s %8u  %-6s %s\n", b->ip, b->attempts, b->banned_at ? "yes" : "no", when);
  return 0;
}

int cmd_bans(int argc, char **argv) {
  struct admin_args a;
  struct uc_account_rec acc;
  if (argc >= 2 && strcmp(argv[1], "--help") == 0)
    return bans_usage(stdout), 0;
  uc_store *st = open_account(argc, argv, &a, &acc, bans_usage);
  if (!st)
    return 2;
  int rc = 2;
  if (strcmp(a.pos[0], "list") == 0 && a.npos == 1) {
    printf("%-42s %8s  %-6s %s\n", "IP", "ATTEMPTS", "BANNED", "BANNED AT (UTC)");
    rc = st->ops->ban_each(st->state, acc.id, print_ban, NULL) ? 1 : 0;
  } else if (strcmp(a.pos[0], "unban") == 0 && a.all && a.npos == 1) {
    size_t n = 0;
    rc = st->ops->ban_delete_all(st->state, acc.id, &n) ? 1 : 0;
    if (!rc) {
      st->ops->audit_add(st->state, acc.id, 0, "bans.unban_all", "{\"via\":\"cli\"}");
      printf("unbanned %zu IP(s) of account '%s'\n", n, acc.name);
    }
  } else if (strcmp(a.pos[0], "unban") == 0 && !a.all && a.npos == 2) {
    struct uc_settings set;
    struct uc_ip ip;
    load_settings(st, acc.id, &set);
    if (uc_ip_parse(a.pos[1], strlen(a.pos[1]), set.ipv6_prefix, &ip) != UC_OK) {
      fprintf(stderr, "usercleaning: '%s' is not an IP address\n", a.pos[1]);
    } else if ((rc = st->ops->ban_delete(st->state, acc.id, ip.key)) == UC_ENOTFOUND) {
      fprintf(stderr, "usercleaning: %s has no attempts counted in account '%s'\n", ip.key,
              acc.name);
      rc = 1;
    } else if (rc == UC_OK) {
      char detail[128];
      snprintf(detail, sizeof detail, "{\"ip\":\"%s\",\"via\":\"cli\"}", ip.key);
      st->ops->audit_add(st->state, acc.id, 0, "bans.unban", detail);
      printf("unbanned %s\n", ip.key);
    } else {
      rc = 1;
    }
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
          "ipv6_prefix (1-128), never_ban (JSON array of IPs/CIDRs), colors (JSON object),\n"
          "or colors.TYPE with TYPE one of 'masked legitimate', 'no website',\n"
          "'multi-alias services', 'suspicious signs' and VALUE white|grey|black.\n");
}

/* VALUE as JSON when it parses (numbers, booleans, arrays), else as a string. */
static json_t *value_of(const char *text) {
  json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
  return v ? v : json_string(text);
}

static int settings_set(uc_store *st, const struct uc_account_rec *acc, char **pos, int npos) {
  struct uc_settings set;
  char field[96], msg[200];
  json_t *patch = json_object();
  load_settings(st, acc->id, &set);
  for (int i = 0; i + 1 < npos; i += 2) {
    if (strncmp(pos[i], "colors.", 7) == 0) {
      json_t *colors = json_object_get(patch, "colors");
      if (!colors)
        json_object_set_new(patch, "colors", colors = json_object());
      json_object_set_new(colors, pos[i] + 7, json_string(pos[i + 1]));
    } else {
      json_object_set_new(patch, pos[i], value_of(pos[i + 1]));
    }
  }
  int rc = uc_settings_patch(&set, patch, field, sizeof field, msg, sizeof msg);
  if (rc) {
    fprintf(stderr, "usercleaning: %s: %s\n", field, msg);
    json_decref(patch);
    return 2;
  }
  char *detail = json_dumps(patch, JSON_COMPACT);
  rc = uc_settings_save(st, acc->id, &set);
  if (!rc) {
    st->ops->audit_add(st->state, acc->id, 0, "settings.update", detail);
    json_t *doc = uc_settings_to_json(&set);
    json_dumpf(doc, stdout, JSON_INDENT(2)), putchar('\n');
    json_decref(doc);
  }
  free(detail);
  json_decref(patch);
  return rc ? 1 : 0;
}

int cmd_settings(int argc, char **argv) {
  struct admin_args a;
  struct uc_account_rec acc;
  if (argc >= 2 && strcmp(argv[1], "--help") == 0)
    return settings_usage(stdout), 0;
  uc_store *st = open_account(argc, argv, &a, &acc, settings_usage);
  if (!st)
    return 2;
  int rc = 2;
  if (strcmp(a.pos[0], "get") == 0 && a.npos == 1) {
    struct uc_settings set;
    load_settings(st, acc.id, &set);
    json_t *doc = uc_settings_to_json(&set);
    json_dumpf(doc, stdout, JSON_INDENT(2));
    putchar('\n');
    json_decref(doc);
    rc = 0;
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
  fprintf(f, "       usercleaning lists show white|grey|black [--account NAME]\n"
             "       usercleaning lists add white|grey|black DOMAIN... [--account NAME]\n"
             "       usercleaning lists remove white|grey|black DOMAIN... [--account NAME]\n"
             "A listed domain also matches its subdomains. All take --db PATH.\n");
}

static void lists_admin_usage(FILE *f) {
  fprintf(f, "usage:\n");
  cli_lists_admin_usage(f);
}

struct show {
  uc_category color;
};

static int print_domain(void *arg, const struct uc_list_rec *l) {
  if (l->color == ((struct show *)arg)->color)
    printf("%s\n", l->domain);
  return 0;
}

int cli_lists_admin(int argc, char **argv) {
  struct admin_args a;
  struct uc_account_rec acc;
  uc_category color;
  uc_store *st = open_account(argc, argv, &a, &acc, lists_admin_usage);
  if (!st)
    return 2;
  int rc = 2;
  if (a.npos < 2 || uc_category_parse(a.pos[1], &color) != UC_OK) {
    lists_admin_usage(stderr);
  } else if (strcmp(a.pos[0], "show") == 0 && a.npos == 2) {
    struct show sh = {color};
    rc = st->ops->list_each(st->state, acc.id, print_domain, &sh) ? 1 : 0;
  } else if (a.npos >= 3 && (strcmp(a.pos[0], "add") == 0 || strcmp(a.pos[0], "remove") == 0)) {
    int add = strcmp(a.pos[0], "add") == 0;
    rc = 0;
    for (int i = 2; i < a.npos; i++) {
      char name[UC_DOMAIN_MAX + 1], reason[UC_REASON_MAX], detail[400];
      if (uc_domain_parse(a.pos[i], strlen(a.pos[i]), name, reason, sizeof reason) != UC_OK) {
        fprintf(stderr, "usercleaning: %s: %s\n", a.pos[i], reason);
        rc = 1;
        continue;
      }
      int r = add ? st->ops->list_add(st->state, acc.id, color, name)
                  : st->ops->list_remove(st->state, acc.id, color, name);
      if (r == UC_OK) {
        snprintf(detail, sizeof detail, "{\"color\":\"%s\",\"domain\":\"%s\",\"via\":\"cli\"}",
                 a.pos[1], name);
        st->ops->audit_add(st->state, acc.id, 0, add ? "lists.add" : "lists.remove", detail);
        printf("%s %s %s the %s list\n", add ? "added" : "removed", name, add ? "to" : "from",
               a.pos[1]);
      } else if (r == UC_EEXISTS || r == UC_ENOTFOUND) {
        printf("%s is %s on the %s list\n", name, add ? "already" : "not", a.pos[1]);
      } else {
        rc = 1;
      }
    }
  } else {
    lists_admin_usage(stderr);
  }
  uc_store_close(st);
  return rc;
}
