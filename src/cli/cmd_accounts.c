/* usercleaning accounts create|list: accounts own keys, settings and usage. */
#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static void accounts_usage(FILE *f) {
  fprintf(f, "usage: usercleaning accounts create NAME [--store URL | --db PATH]\n"
             "       usercleaning accounts list [--store URL | --db PATH]\n"
             "'create' creates the store too when there is none yet.\n");
}

static int print_account(void *arg, const struct uc_account_rec *a) {
  char when[32];
  uc_time_format(a->created_at, "%Y-%m-%d %H:%M", when, sizeof when);
  printf("%-6lld %-32s %s\n", (long long)a->id, a->name, when);
  (void)arg;
  return 0;
}

int cmd_accounts(int argc, char **argv) {
  struct uc_config cfg;
  char *args[32];
  int nargs, rc = 1;
  if (argc > 32 || cli_config(argc, argv, &cfg, args, &nargs))
    return 2;
  int create = nargs == 2 && strcmp(args[0], "create") == 0;
  int list = nargs == 1 && strcmp(args[0], "list") == 0;
  if (!create && !list) {
    accounts_usage(nargs && strcmp(args[0], "--help") == 0 ? stdout : stderr);
    return nargs && strcmp(args[0], "--help") == 0 ? 0 : 2;
  }
  if (create && !uc_name_valid(args[1])) {
    fprintf(stderr, "usercleaning: an account name has 1 to %d printable characters\n",
            UC_NAME_MAX);
    return 2;
  }
  uc_store *st = cli_open_store(&cfg, create ? UC_STORE_CREATE : 0);
  if (!st)
    return 1;
  if (list) {
    printf("%-6s %-32s %s\n", "ID", "NAME", "CREATED (UTC)");
    rc = uc_store_account_each(st, print_account, NULL) ? 1 : 0;
  } else {
    struct uc_account_rec a;
    int r = uc_store_account_create(st, args[1], &a);
    if (r == UC_EEXISTS)
      fprintf(stderr, "usercleaning: account '%s' already exists\n", args[1]);
    else if (r)
      fprintf(stderr, "usercleaning: cannot create account: %s\n", uc_strerror(r));
    else
      printf("created account %lld '%s'\n", (long long)a.id, a.name), rc = 0;
  }
  uc_store_close(st);
  return rc;
}
