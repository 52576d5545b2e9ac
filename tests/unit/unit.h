/* Shared by the unit tests: cmocka and small helpers. */
#ifndef UC_TESTS_UNIT_H
#define UC_TESTS_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "uc/uc.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The default snapshot built by make (UC_TEST_SNAPSHOT), opened once. */
static inline uc_lists *unit_default_lists(void) {
  static uc_lists *l;
  char err[256];
  if (!l) {
    const char *path = getenv("UC_TEST_SNAPSHOT");
    if (!path)
      path = "build/lists.snap";
    if (uc_lists_open(path, &l, err, sizeof err) != UC_OK) {
      fprintf(stderr, "cannot open %s: %s\n", path, err);
      abort();
    }
  }
  return l;
}

#endif
