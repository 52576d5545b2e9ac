/* The usercleaning program: one entry point per subcommand. */
#ifndef UC_CLI_H
#define UC_CLI_H

#include "uc/uc.h"

int cmd_check(int argc, char **argv);
int cmd_lists(int argc, char **argv);

/* Opens the snapshot at path, or (path NULL) $USER_CLEANING_LISTS, or
 * lists.snap beside the executable. Prints the reason and returns NULL on error. */
uc_lists *cli_open_lists(const char *path);

#endif
