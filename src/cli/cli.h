/* The usercleaning program: one entry point per subcommand. */
#ifndef UC_CLI_H
#define UC_CLI_H

#include "uc/uc.h"

#include "uc/config.h"
#include "uc/store.h"

int cmd_check(int argc, char **argv);
int cmd_clean(int argc, char **argv);
int cmd_lists(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_accounts(int argc, char **argv);
int cmd_keys(int argc, char **argv);
int cmd_bans(int argc, char **argv);
int cmd_settings(int argc, char **argv);
int cmd_usage(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_store(int argc, char **argv);
/* lists show|add|remove (account lists), dispatched from cmd_lists. */
int cli_lists_admin(int argc, char **argv);
void cli_lists_admin_usage(FILE *f);

/* Settings for a command: defaults, then --config FILE (or $USER_CLEANING_CONFIG),
 * then USER_CLEANING_* variables, then --setting-name VALUE flags. Flags that
 * are not settings, and positional arguments, are left in args[0..*nargs) in
 * order. Prints the problem and returns -1 on a bad setting. */
int cli_config(int argc, char **argv, struct uc_config *cfg, char **args, int *nargs);
/* The same over a cfg the command has set up already (its own defaults). */
int cli_config_over(int argc, char **argv, struct uc_config *cfg, char **args, int *nargs);
/* Prints "  --name VALUE  help" for every setting. */
void cli_config_help(FILE *f);
/* Opens the store named by cfg->store (--store URL or --db PATH). Commands
 * that only read or change what is there pass flags 0: a missing store is
 * then an error that says which path was looked at and how to point
 * elsewhere, never a fresh empty one. Prints why and returns NULL on failure. */
uc_store *cli_open_store(const struct uc_config *cfg, unsigned flags);
/* The account called name; prints why not (and how to create it). */
int cli_account(uc_store *st, const char *name, struct uc_account_rec *out);
/* Prints an admin operation's error ("usercleaning: field: msg") and returns
 * the exit status: 2 for invalid input, 1 otherwise. */
int cli_admin_error(int rc, const struct uc_admin_error *e);
/* Prints JSON text indented (the CLI's --json and settings output); frees it. */
int cli_print_json(char *json);

/* Opens the snapshot at path, or (path NULL) $USER_CLEANING_LISTS, or
 * lists.snap beside the executable. Prints the reason and returns NULL on error. */
uc_lists *cli_open_lists(const char *path);

#endif
