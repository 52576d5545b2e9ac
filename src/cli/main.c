/* usercleaning: dispatches to the subcommands. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const struct {
  const char *name;
  int (*fn)(int, char **);
  const char *help;
} commands[] = {
    {"check", cmd_check, "classify addresses (arguments or stdin), one JSON line each"},
    {"clean", cmd_clean, "check a CSV, TSV, TXT or XLSX list and write it cleaned"},
    {"serve", cmd_serve, "serve the HTTP API"},
    {"accounts", cmd_accounts, "create and list accounts"},
    {"keys", cmd_keys, "create, list and revoke API keys"},
    {"lists", cmd_lists, "build or inspect list snapshots; an account's domain lists"},
    {"bans", cmd_bans, "list and unban an account's banned IPs"},
    {"settings", cmd_settings, "show and change an account's settings"},
    {"usage", cmd_usage, "checks answered per day, category and key"},
    {"audit", cmd_audit, "an account's audit trail"},
    {"store", cmd_store, "copy one store into another (migrate --from URL --to URL)"},
};

static void usage(FILE *f) {
  fprintf(f, "usage: usercleaning COMMAND [ARGS]\n\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
  fprintf(f, "  %-10s %s\n", "version", "print the version");
  fprintf(f, "\nRun 'usercleaning COMMAND --help' for the options of a command.\n");
}

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
      strcmp(argv[1], "-h") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
    printf("usercleaning %s\n", UC_VERSION);
    return 0;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(argv[1], commands[i].name) == 0)
      return commands[i].fn(argc - 1, argv + 1);
  fprintf(stderr, "usercleaning: unknown command '%s'\n\n", argv[1]);
  usage(stderr);
  return 2;
}
