/* Helpers shared by the subcommands. */
#include "cli.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

uc_lists *cli_open_lists(const char *path) {
  char buf[PATH_MAX], err[256];
  uc_lists *l = NULL;
  uc_lists_path(path, buf, sizeof buf);
  if (uc_lists_open(buf, &l, err, sizeof err) != UC_OK) {
    fprintf(stderr, "usercleaning: cannot load lists: %s\n", err);
    return NULL;
  }
  return l;
}

/* "--body-limit" -> "body_limit" when it names a setting: 0 not one, 1 one that takes a
 * value, 2 a boolean (alone: true), 3 "--no-" and a boolean (false). */
static int setting_flag(const char *arg, char *name, size_t size) {
  size_t count;
  const struct uc_config_doc *docs = uc_config_docs(&count);
  if (strncmp(arg, "--", 2) != 0 || strlen(arg + 2) >= size)
    return 0;
  size_t n = strlen(arg + 2);
  for (size_t i = 0; i < n; i++)
    name[i] = arg[2 + i] == '-' ? '_' : arg[2 + i];
  name[n] = 0;
  for (size_t i = 0; i < count; i++)
    if (strcmp(docs[i].name, name) == 0)
      return docs[i].is_bool ? 2 : 1;
  for (size_t i = 0; strncmp(name, "no_", 3) == 0 && i < count; i++)
    if (docs[i].is_bool && strcmp(docs[i].name, name + 3) == 0) { /* --no-dns */
      memmove(name, name + 3, strlen(name + 3) + 1);
      return 3;
    }
  return 0;
}

int cli_config(int argc, char **argv, struct uc_config *cfg, char **args, int *nargs) {
  uc_config_defaults(cfg);
  return cli_config_over(argc, argv, cfg, args, nargs);
}

int cli_config_over(int argc, char **argv, struct uc_config *cfg, char **args, int *nargs) {
  char err[512], name[64];
  const char *file = getenv("USER_CLEANING_CONFIG");
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
      file = argv[++i];
  if (file && *file && uc_config_load_file(cfg, file, err, sizeof err) != UC_OK) {
    fprintf(stderr, "usercleaning: config: %s\n", err);
    return -1;
  }
  if (uc_config_load_env(cfg, NULL, err, sizeof err) != UC_OK) {
    fprintf(stderr, "usercleaning: environment: %s\n", err);
    return -1;
  }
  *nargs = 0;
  for (int i = 1; i < argc; i++) {
    const char *eq = strchr(argv[i], '=');
    char flag[80];
    snprintf(flag, sizeof flag, "%.*s", eq ? (int)(eq - argv[i]) : (int)strlen(argv[i]), argv[i]);
    if (strcmp(flag, "--config") == 0) {
      i += !eq;
      continue;
    }
    int kind = setting_flag(flag, name, sizeof name);
    if (!kind) {
      args[(*nargs)++] = argv[i];
      continue;
    }
    const char *value = eq ? eq + 1 : NULL;
    if (!value && kind >= 2) /* a boolean: --dns means true, --no-dns false */
      value = kind == 2 ? "true" : "false";
    if (!value && i + 1 < argc)
      value = argv[++i];
    if (!value || uc_config_set(cfg, name, value, err, sizeof err) != UC_OK) {
      fprintf(stderr, "usercleaning: %s: %s\n", flag, value ? err : "needs a value");
      return -1;
    }
  }
  return 0;
}

void cli_config_help(FILE *f) {
  size_t count;
  const struct uc_config_doc *docs = uc_config_docs(&count);
  for (size_t i = 0; i < count; i++) {
    char flag[64];
    snprintf(flag, sizeof flag, "--%s", docs[i].name);
    for (char *p = flag + 2; *p; p++)
      *p = *p == '_' ? '-' : *p;
    fprintf(f, "  %-22s %s (default: %s)\n", flag, docs[i].help,
            docs[i].def[0] ? docs[i].def : "\"\"");
  }
  fprintf(f, "  %-22s %s\n", "--config FILE", "INI file of the settings above ([server] section)");
}

/* The SQLite path a store setting names when it is relative ("data/x.db",
 * "sqlite:data/x.db"), made absolute from the current directory; "" else. */
static void relative_store(const char *store, char *out, size_t size) {
  char cwd[PATH_MAX];
  const char *path = strncmp(store, "sqlite://", 9) == 0 ? store + 9
                     : strncmp(store, "sqlite:", 7) == 0 ? store + 7
                     : strstr(store, "://")              ? "/"
                                                         : store;
  out[0] = 0;
  if (path[0] == '/' || !getcwd(cwd, sizeof cwd))
    return;
  int n = snprintf(out, size, "%s/%s", cwd, strncmp(path, "./", 2) == 0 ? path + 2 : path);
  if (n < 0 || (size_t)n >= size)
    out[0] = 0;
}

/* `make run`'s store, data/usercleaning.db in the directory above the binary's
 * (build/), when it is there: what a user who ran it most likely means. */
static int store_beside_binary(char *out, size_t size) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0)
    return 0;
  self[n] = 0;
  char *slash = strrchr(self, '/');
  if (slash)
    *slash = 0;
  char guess[PATH_MAX + 32];
  int k = snprintf(guess, sizeof guess, "%s/../data/usercleaning.db", self);
  return k > 0 && (size_t)k < sizeof guess && size >= PATH_MAX && realpath(guess, out) != NULL;
}

uc_store *cli_open_store(const struct uc_config *cfg, unsigned flags) {
  char err[512], abs[2 * PATH_MAX], beside[PATH_MAX];
  uc_store *st = NULL;
  int rc = uc_store_open(cfg->store, flags, &st, err, sizeof err);
  if (rc == UC_ENOTFOUND) {
    relative_store(cfg->store, abs, sizeof abs);
    fprintf(stderr, "usercleaning: %s: nothing there yet.\n", err);
    if (abs[0])
      fprintf(stderr, "That is %s: a relative path is taken from the current directory.\n", abs);
    if (store_beside_binary(beside, sizeof beside) && strcmp(beside, abs) != 0)
      fprintf(stderr, "There is a store at %s (`make run`'s): add --db %s\n", beside, beside);
    fprintf(stderr,
            "Point at your store with --db PATH or --store URL (or USER_CLEANING_DB,\n"
            "USER_CLEANING_STORE); `usercleaning serve` prints its store's path when it starts,\n"
            "and creates one on its first start. Nothing was created.\n");
  } else if (rc) {
    char shown[UC_STORE_URL_MAX];
    uc_store_url_redact(cfg->store, shown, sizeof shown);
    fprintf(stderr, "usercleaning: store %s: %s\n", shown, err);
  }
  return st;
}

int cli_account(uc_store *st, const char *name, struct uc_account_rec *out) {
  char why[256];
  int rc = uc_store_account_get(st, name, out);
  if (rc == UC_ENOTFOUND)
    fprintf(stderr,
            "usercleaning: no account '%s' in %s (create it: usercleaning accounts create %s)\n",
            name, uc_store_where(st), name);
  else if (rc)
    fprintf(stderr, "usercleaning: %s\n", (uc_store_error(st, rc, why, sizeof why), why));
  return rc;
}

int cli_admin_error(int rc, const struct uc_admin_error *e) {
  if (e->field[0])
    fprintf(stderr, "usercleaning: %s: %s\n", e->field, e->msg);
  else
    fprintf(stderr, "usercleaning: %s\n", e->msg[0] ? e->msg : uc_strerror(rc));
  return rc == UC_EINVAL ? 2 : 1;
}

int cli_print_json(char *json) {
  json_t *doc = json ? json_loads(json, 0, NULL) : NULL;
  free(json);
  if (!doc) {
    fprintf(stderr, "usercleaning: out of memory\n");
    return 1;
  }
  json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  putchar('\n');
  json_decref(doc);
  return 0;
}
