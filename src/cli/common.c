/* Helpers shared by the subcommands. */
#include "cli.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

uc_lists *cli_open_lists(const char *path) {
  char buf[PATH_MAX + 16], err[256];
  uc_lists *l = NULL;
  if (!path)
    path = getenv("USER_CLEANING_LISTS");
  if (!path || !*path) {
    ssize_t n = readlink("/proc/self/exe", buf, PATH_MAX);
    if (n <= 0) {
      fprintf(stderr, "usercleaning: cannot find the executable's directory; use --lists FILE\n");
      return NULL;
    }
    buf[n] = 0;
    char *slash = strrchr(buf, '/');
    snprintf(slash ? slash + 1 : buf, 16, "lists.snap");
    path = buf;
  }
  if (uc_lists_open(path, &l, err, sizeof err) != UC_OK) {
    fprintf(stderr, "usercleaning: cannot load lists: %s\n", err);
    return NULL;
  }
  return l;
}
