/* usercleaning lists build|info: make and inspect list snapshots. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static void lists_usage(FILE *f) {
  fprintf(f, "usage: usercleaning lists build MANIFEST OUT [ROOT]\n"
             "       usercleaning lists info [SNAPSHOT]\n");
  cli_lists_admin_usage(f);
  fprintf(f, "\nbuild  reads the sources named in MANIFEST (paths relative to ROOT,\n"
             "       default the current directory) and writes the snapshot OUT\n"
             "info   prints the version, sources and sizes of a snapshot\n"
             "show, add, remove: an account's own white/grey/black domain lists\n");
}

static int lists_info(const char *path) {
  uc_lists *l = cli_open_lists(path);
  if (!l)
    return 1;
  struct uc_list_source s;
  char day[11];
  printf("version  %s\ndomains  %zu\nlocals   %zu\n", uc_lists_version(l), uc_lists_domain_count(l),
         uc_lists_local_count(l));
  for (size_t i = 0; i < uc_lists_source_count(l); i++) {
    uc_lists_source(l, i, &s);
    uc_date_format(s.date, day);
    printf("source   %-36s %-11s %-8s %s %7u\n", s.name, s.kind, s.version, day, s.count);
  }
  uc_lists_unref(l);
  return 0;
}

int cmd_lists(int argc, char **argv) {
  char err[512];
  if (argc >= 2 && strcmp(argv[1], "info") == 0 && argc <= 3)
    return lists_info(argc == 3 ? argv[2] : NULL);
  if (argc >= 4 && argc <= 5 && strcmp(argv[1], "build") == 0) {
    if (uc_lists_build(argv[2], argc == 5 ? argv[4] : NULL, argv[3], stdout, err, sizeof err)) {
      fprintf(stderr, "usercleaning: lists build: %s\n", err);
      return 1;
    }
    return 0;
  }
  if (argc >= 2 && (strcmp(argv[1], "show") == 0 || strcmp(argv[1], "add") == 0 ||
                    strcmp(argv[1], "remove") == 0))
    return cli_lists_admin(argc, argv);
  if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    lists_usage(stdout);
    return 0;
  }
  lists_usage(stderr);
  return 2;
}
