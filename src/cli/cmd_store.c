/* usercleaning store migrate --from URL --to URL: copies one store into
 * another (any two backends) with uc_store_copy; the CLI only opens, calls
 * and reports. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static void store_usage(FILE *f) {
  fprintf(f, "usage: usercleaning store migrate --from URL --to URL\n\n"
             "Copies everything of one store into another, which must hold no account yet:\n"
             "accounts, keys, settings, domain lists, usage, bans, alias memory, the audit\n"
             "trail, the installation secrets, batch tasks and batch usage, ids and times\n"
             "kept. Any two backends, e.g.\n"
             "  usercleaning store migrate --from sqlite:///var/lib/usercleaning/store.db \\\n"
             "                             --to redis://:PASSWORD@10.0.0.5:6379/0\n"
             "Stop the servers first: changes made during the copy may be missed. The files\n"
             "of batch tasks stay in batch_dir: give the new servers the same directory.\n");
}

static void print_copied(const struct uc_store_copied *n, const char *from, const char *to) {
  printf("copied %s -> %s:\n"
         "  %zu accounts, %zu keys, %zu settings, %zu list entries, %zu usage days,\n"
         "  %zu bans and counters, %zu alias spellings, %zu audit rows, %zu secrets,\n"
         "  %zu batch tasks, %zu batch usage days\n",
         from, to, n->accounts, n->keys, n->settings, n->lists, n->usage, n->bans, n->aliases,
         n->audit, n->secrets, n->batch_tasks, n->batch_usage);
}

static int migrate(const char *from_url, const char *to_url) {
  char err[512], shown[UC_STORE_URL_MAX];
  uc_store *from = NULL, *to = NULL;
  struct uc_store_copied n;
  int rc = uc_store_open(from_url, 0, &from, err, sizeof err);
  if (rc) {
    uc_store_url_redact(from_url, shown, sizeof shown);
    fprintf(stderr, "usercleaning: --from %s: %s\n", shown, err);
    return 1;
  }
  if ((rc = uc_store_open(to_url, UC_STORE_CREATE, &to, err, sizeof err)) != UC_OK) {
    uc_store_url_redact(to_url, shown, sizeof shown);
    fprintf(stderr, "usercleaning: --to %s: %s\n", shown, err);
    uc_store_close(from);
    return 1;
  }
  rc = uc_store_copy(from, to, &n, err, sizeof err);
  if (rc)
    fprintf(stderr, "usercleaning: migrate: %s\n", err);
  else
    print_copied(&n, uc_store_where(from), uc_store_where(to));
  uc_store_close(from);
  uc_store_close(to);
  return rc ? 1 : 0;
}

int cmd_store(int argc, char **argv) {
  const char *from = NULL, *to = NULL;
  if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
    return store_usage(stdout), 0;
  if (argc < 2 || strcmp(argv[1], "migrate") != 0) {
    store_usage(stderr);
    return 2;
  }
  for (int i = 2; i < argc; i++) {
    const char **slot = strcmp(argv[i], "--from") == 0 ? &from
                        : strcmp(argv[i], "--to") == 0 ? &to
                                                       : NULL;
    if (!slot || i + 1 >= argc || *slot) {
      store_usage(stderr);
      return 2;
    }
    *slot = argv[++i];
  }
  if (!from || !to) {
    store_usage(stderr);
    return 2;
  }
  return migrate(from, to);
}
