/* usercleaning serve: the HTTP API (src/server). */
#include "../server/server.h"
#include "cli.h"

#include <stdio.h>
#include <string.h>

static void serve_usage(FILE *f) {
  fprintf(f, "usage: usercleaning serve [--config FILE] [--SETTING VALUE ...]\n\n"
             "Serves the check API. Settings come from defaults, then the config file\n"
             "(--config or $USER_CLEANING_CONFIG), then USER_CLEANING_<SETTING> variables\n"
             "(e.g. USER_CLEANING_LISTEN=0.0.0.0:8080), then these flags:\n\n");
  cli_config_help(f);
  fprintf(f, "\nSignals: SIGTERM/SIGINT drain requests in flight and exit 0; SIGHUP reloads\n"
             "the list snapshot without dropping requests. On first start with an empty\n"
             "store it creates the account 'default' with an admin and an active key.\n");
}

int cmd_serve(int argc, char **argv) {
  struct uc_config cfg;
  char *args[64];
  int nargs;
  if (argc > 64) {
    fprintf(stderr, "usercleaning serve: too many arguments\n");
    return 2;
  }
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
      return serve_usage(stdout), 0;
  if (cli_config(argc, argv, &cfg, args, &nargs))
    return 2;
  if (nargs) {
    fprintf(stderr, "usercleaning serve: unknown argument '%s'\n\n", args[0]);
    serve_usage(stderr);
    return 2;
  }
  return srv_run(&cfg);
}
