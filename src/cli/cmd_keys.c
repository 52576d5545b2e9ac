/* usercleaning keys create|list|rename|retype|limit|revoke: API keys of an account,
 * over the same operations as the admin API (include/uc/admin.h). */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void keys_usage(FILE *f) {
  fprintf(f,
          "usage: usercleaning keys create --account NAME --name NAME --type active|sandbox|admin\n"
          "       usercleaning keys list [--account NAME] [--json]\n"
          "       usercleaning keys rename --account NAME KEY_ID --name NEW\n"
          "       usercleaning keys retype --account NAME KEY_ID --type active|sandbox\n"
          "       usercleaning keys limit --account NAME KEY_ID --per-second N [--burst M]\n"
          "       usercleaning keys revoke --account NAME KEY_ID\n"
          "All take --store URL or --db PATH. 'create' and 'retype' print the key alone on\n"
          "the last line of stdout: it is shown once and only its hash is stored. A retyped\n"
          "key gets new text (its prefix says its type); the old text stops working.\n"
          "'limit' gives a key a rate limit of its own (N checks a second, M at once; M 0:\n"
          "N); --per-second 0 gives it back its account's (settings rate_limit_*).\n");
}

static const struct uc_actor cli_actor = {0, "cli"};

struct opts {
  const char *account, *name, *type, *id, *per_second, *burst;
  int json;
};

/* Splits "--account X --name Y --type Z" and one positional. -1 on junk. */
static int parse(char **args, int n, struct opts *o) {
  memset(o, 0, sizeof *o);
  for (int i = 1; i < n; i++) {
    const char **slot = strcmp(args[i], "--account") == 0      ? &o->account
                        : strcmp(args[i], "--name") == 0       ? &o->name
                        : strcmp(args[i], "--type") == 0       ? &o->type
                        : strcmp(args[i], "--per-second") == 0 ? &o->per_second
                        : strcmp(args[i], "--burst") == 0      ? &o->burst
                                                               : NULL;
    if (slot && i + 1 < n)
      *slot = args[++i];
    else if (strcmp(args[i], "--json") == 0)
      o->json = 1;
    else if (!slot && !o->id && args[i][0] != '-')
      o->id = args[i];
    else
      return -1;
  }
  return 0;
}

static void fmt_time(int64_t t, char out[20]) {
  if (!t || !uc_time_format(t, "%Y-%m-%d %H:%M", out, 20))
    snprintf(out, 20, "-");
}

static int print_key(void *arg, const struct uc_key_rec *k) {
  char created[20], used[20], revoked[20];
  (void)arg;
  fmt_time(k->created_at, created);
  fmt_time(k->last_used_at, used);
  fmt_time(k->revoked_at, revoked);
  printf("%-6lld %-8lld %-24s %-8s %-15s %-17s %-17s %s\n", (long long)k->id,
         (long long)k->account_id, k->name, uc_key_type_name(k->type), k->prefix, created, used,
         revoked);
  return 0;
}

static int keys_list(uc_store *st, const struct opts *o) {
  struct uc_account_rec a = {0};
  if (o->account && cli_account(st, o->account, &a))
    return 1;
  if (o->json) {
    struct uc_admin ad = {.st = st};
    struct uc_admin_error e;
    char *json = NULL;
    int rc = uc_admin_keys_json(&ad, a.id, 1, &json, &e);
    return rc ? cli_admin_error(rc, &e) : cli_print_json(json);
  }
  printf("%-6s %-8s %-24s %-8s %-15s %-17s %-17s %s\n", "ID", "ACCOUNT", "NAME", "TYPE", "PREFIX",
         "CREATED (UTC)", "LAST USED", "REVOKED");
  return uc_store_key_each(st, a.id, print_key, NULL) ? 1 : 0;
}

static int keys_create(uc_store *st, const struct opts *o) {
  struct uc_account_rec a;
  struct uc_key_rec rec;
  struct uc_admin ad = {.st = st};
  struct uc_admin_error e;
  char key[UC_KEY_MAX + 1];
  uc_key_type t;
  if (!o->account || !o->name || !o->type || o->id) {
    keys_usage(stderr);
    return 2;
  }
  if (uc_key_type_parse(o->type, &t) != UC_OK || !uc_name_valid(o->name)) {
    fprintf(stderr,
            "usercleaning: --type is active, sandbox or admin; --name has 1 to %d "
            "printable characters\n",
            UC_NAME_MAX);
    return 2;
  }
  if (cli_account(st, o->account, &a))
    return 1;
  int rc = uc_admin_key_create(&ad, a.id, &cli_actor, o->name, t, &rec, key, &e);
  if (rc)
    return cli_admin_error(rc, &e);
  printf("created %s key %lld '%s' for account '%s' (shown once, store it now):\n%s\n",
         uc_key_type_name(t), (long long)rec.id, rec.name, a.name, key);
  return 0;
}

/* A whole number from 0 to UC_RATE_MAX; -1 when absent, -2 when not one. */
static long rate_arg(const char *v) {
  char *end;
  if (!v)
    return -1;
  long n = strtol(v, &end, 10);
  return *v && !*end && n >= 0 && n <= UC_RATE_MAX ? n : -2;
}

static int keys_limit(uc_store *st, const struct opts *o) {
  struct uc_account_rec a;
  struct uc_key_rec rec;
  struct uc_admin ad = {.st = st};
  struct uc_admin_error e;
  char *end, new_key[UC_KEY_MAX + 1];
  struct uc_admin_key_rate rate = {rate_arg(o->per_second), rate_arg(o->burst)};
  long long id = o->id ? strtoll(o->id, &end, 10) : 0;
  if (!o->account || !o->id || *end || id <= 0 || rate.per_second < 0 || rate.burst < -1) {
    fprintf(stderr,
            "usercleaning: keys limit needs --account, KEY_ID and --per-second N "
            "(0 to %d; --burst likewise)\n",
            UC_RATE_MAX);
    return 2;
  }
  if (cli_account(st, o->account, &a))
    return 1;
  int rc = uc_admin_key_update(&ad, a.id, &cli_actor, id, NULL, -1, &rate, &rec, new_key, &e);
  if (rc)
    return cli_admin_error(rc, &e);
  if (rec.rate_per_second)
    printf("key %lld of account '%s': at most %u checks a second, %u at once\n", id, a.name,
           rec.rate_per_second, rec.rate_burst ? rec.rate_burst : rec.rate_per_second);
  else
    printf("key %lld of account '%s' follows its account's rate limit\n", id, a.name);
  return 0;
}

/* rename, retype and revoke: one key of one account. */
static int keys_change(uc_store *st, const char *what, const struct opts *o) {
  struct uc_account_rec a;
  struct uc_key_rec rec;
  struct uc_admin ad = {.st = st};
  struct uc_admin_error e;
  char *end, new_key[UC_KEY_MAX + 1] = "";
  uc_key_type t = UC_KEY_ACTIVE;
  long long id = o->id ? strtoll(o->id, &end, 10) : 0;
  int rename = strcmp(what, "rename") == 0, retype = strcmp(what, "retype") == 0;
  if (!o->account || !o->id || *end || id <= 0 || (rename && !o->name) ||
      (retype && (!o->type || uc_key_type_parse(o->type, &t) != UC_OK))) {
    keys_usage(stderr);
    return 2;
  }
  if (cli_account(st, o->account, &a))
    return 1;
  int rc = rename || retype
               ? uc_admin_key_update(&ad, a.id, &cli_actor, id, rename ? o->name : NULL,
                                     retype ? (int)t : -1, NULL, &rec, new_key, &e)
               : uc_admin_key_revoke(&ad, a.id, &cli_actor, id, &e);
  if (rc)
    return cli_admin_error(rc, &e);
  if (!rename && !retype)
    printf("revoked key %lld of account '%s'\n", id, a.name);
  else if (new_key[0])
    printf("key %lld of account '%s' is now %s; its new text (shown once, the old one no longer "
           "works):\n%s\n",
           id, a.name, uc_key_type_name(rec.type), new_key);
  else
    printf("key %lld of account '%s' is now '%s' (%s)\n", id, a.name, rec.name,
           uc_key_type_name(rec.type));
  return 0;
}

int cmd_keys(int argc, char **argv) {
  static const char *const verbs[] = {"create", "list", "rename", "retype", "limit", "revoke"};
  struct uc_config cfg;
  struct opts o;
  char *args[32];
  int nargs, rc, known = 0;
  if (argc > 32 || cli_config(argc, argv, &cfg, args, &nargs))
    return 2;
  for (size_t i = 0; nargs && i < sizeof verbs / sizeof verbs[0]; i++)
    known |= strcmp(args[0], verbs[i]) == 0;
  if (!known || parse(args, nargs, &o)) {
    int help = nargs && strcmp(args[0], "--help") == 0;
    keys_usage(help ? stdout : stderr);
    return help ? 0 : 2;
  }
  uc_store *st = cli_open_store(&cfg, 0);
  if (!st)
    return 1;
  if (strcmp(args[0], "create") == 0)
    rc = keys_create(st, &o);
  else if (strcmp(args[0], "list") == 0)
    rc = keys_list(st, &o);
  else if (strcmp(args[0], "limit") == 0)
    rc = keys_limit(st, &o);
  else
    rc = keys_change(st, args[0], &o);
  uc_store_close(st);
  return rc;
}
