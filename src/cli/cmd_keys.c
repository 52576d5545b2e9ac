/* usercleaning keys create|list|revoke: API keys of an account. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void keys_usage(FILE *f) {
  fprintf(f,
          "usage: usercleaning keys create --account NAME --name NAME --type active|sandbox|admin\n"
          "       usercleaning keys list [--account NAME]\n"
          "       usercleaning keys revoke --account NAME KEY_ID\n"
          "All take --db PATH. 'create' prints the key alone on the last line of stdout:\n"
          "it is shown once and only its hash is stored.\n");
}

struct opts {
  const char *account, *name, *type, *id;
};

/* Splits "--account X --name Y --type Z" and one positional. -1 on junk. */
static int parse(char **args, int n, struct opts *o) {
  memset(o, 0, sizeof *o);
  for (int i = 1; i < n; i++) {
    const char **slot = strcmp(args[i], "--account") == 0 ? &o->account
                        : strcmp(args[i], "--name") == 0  ? &o->name
                        : strcmp(args[i], "--type") == 0  ? &o->type
                                                          : NULL;
    if (slot && i + 1 < n)
      *slot = args[++i];
    else if (!slot && !o->id && args[i][0] != '-')
      o->id = args[i];
    else
      return -1;
  }
  return 0;
}

static void fmt_time(int64_t t, char out[20]) {
  time_t tt = (time_t)t;
  if (!t)
    snprintf(out, 20, "-");
  else
    strftime(out, 20, "%Y-%m-%d %H:%M", gmtime(&tt));
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

static int find_account(uc_store *st, const char *name, struct uc_account_rec *a) {
  int rc = st->ops->account_get(st->state, name, a);
  if (rc == UC_ENOTFOUND)
    fprintf(stderr, "usercleaning: no account '%s' (create it: usercleaning accounts create %s)\n",
            name, name);
  else if (rc)
    fprintf(stderr, "usercleaning: %s\n", uc_strerror(rc));
  return rc;
}

static int keys_create(uc_store *st, const struct opts *o) {
  struct uc_account_rec a;
  struct uc_key_rec rec;
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
  if (find_account(st, o->account, &a))
    return 1;
  int rc = uc_store_key_create(st, a.id, o->name, t, &rec, key);
  if (rc) {
    fprintf(stderr, "usercleaning: cannot create key: %s\n", uc_strerror(rc));
    return 1;
  }
  printf("created %s key %lld '%s' for account '%s' (shown once, store it now):\n%s\n",
         uc_key_type_name(t), (long long)rec.id, rec.name, a.name, key);
  return 0;
}

static int keys_revoke(uc_store *st, const struct opts *o) {
  struct uc_account_rec a;
  char *end;
  long long id = o->id ? strtoll(o->id, &end, 10) : 0;
  if (!o->account || !o->id || *end || id <= 0) {
    keys_usage(stderr);
    return 2;
  }
  if (find_account(st, o->account, &a))
    return 1;
  int rc = st->ops->key_revoke(st->state, a.id, id, (int64_t)time(NULL));
  if (rc == UC_ENOTFOUND)
    fprintf(stderr, "usercleaning: account '%s' has no live key %lld\n", a.name, id);
  else if (rc)
    fprintf(stderr, "usercleaning: %s\n", uc_strerror(rc));
  else
    printf("revoked key %lld of account '%s'\n", id, a.name);
  return rc ? 1 : 0;
}

int cmd_keys(int argc, char **argv) {
  struct uc_config cfg;
  struct opts o;
  char *args[32];
  int nargs, rc;
  if (argc > 32 || cli_config(argc, argv, &cfg, args, &nargs))
    return 2;
  if (nargs == 0 || parse(args, nargs, &o) ||
      (strcmp(args[0], "create") && strcmp(args[0], "list") && strcmp(args[0], "revoke"))) {
    int help = nargs && strcmp(args[0], "--help") == 0;
    keys_usage(help ? stdout : stderr);
    return help ? 0 : 2;
  }
  uc_store *st = cli_open_store(&cfg);
  if (!st)
    return 1;
  if (strcmp(args[0], "create") == 0) {
    rc = keys_create(st, &o);
  } else if (strcmp(args[0], "revoke") == 0) {
    rc = keys_revoke(st, &o);
  } else {
    struct uc_account_rec a = {0};
    rc = o.account ? find_account(st, o.account, &a) : 0;
    if (!rc) {
      printf("%-6s %-8s %-24s %-8s %-15s %-17s %-17s %s\n", "ID", "ACCOUNT", "NAME", "TYPE",
             "PREFIX", "CREATED (UTC)", "LAST USED", "REVOKED");
      rc = st->ops->key_each(st->state, a.id, print_key, NULL) ? 1 : 0;
    }
  }
  uc_store_close(st);
  return rc;
}
