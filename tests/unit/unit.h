/* Shared by the unit tests: cmocka, a per-test timeout and small helpers. */
#ifndef UC_TESTS_UNIT_H
#define UC_TESTS_UNIT_H

#include <setjmp.h>
#include <signal.h>
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

/* ---- per-test timeout ----
 *
 * cmocka 1.1.5 has none, and a test that hangs would hang `make test`. Every
 * group run through cmocka_run_group_tests[_name] runs on a copy of its
 * array whose fixtures are wrapped: setup arms alarm() before the test's own
 * setup, teardown disarms it after the test's own teardown, so the limit
 * covers setup + test + teardown. When it fires, the process says which test
 * and exits 1. The group fixtures get the same limit. The wrappers find the
 * test by counting setups: cmocka runs the array in order and calls every
 * test's setup exactly once (a test filter would break this; none is used).
 * The limit is UNIT_TEST_TIMEOUT seconds, or UC_TEST_TIMEOUT from the
 * environment. */
#ifndef UNIT_TEST_TIMEOUT
#define UNIT_TEST_TIMEOUT 60
#endif

struct unit_run {
  const char *group;
  const struct CMUnitTest *tests; /* the caller's array: names and fixtures */
  size_t count, next, current;
  unsigned timeout;
  CMFixtureFunction group_setup, group_teardown;
  char msg[320]; /* what the alarm handler writes, made when the alarm is armed */
  size_t msg_len;
};

static struct unit_run unit_run;

static inline void unit_on_alarm(int sig) {
  (void)sig;
  ssize_t w = write(STDERR_FILENO, unit_run.msg, unit_run.msg_len);
  (void)w;
  _exit(1);
}

static inline void unit_arm(const char *what, const char *name) {
  snprintf(unit_run.msg, sizeof unit_run.msg, "%s %s timed out after %u s\n", what, name,
           unit_run.timeout);
  unit_run.msg_len = strlen(unit_run.msg);
  alarm(unit_run.timeout);
}

static inline int unit_setup(void **state) {
  unit_run.current = unit_run.next < unit_run.count ? unit_run.next++ : unit_run.count - 1;
  const struct CMUnitTest *t = &unit_run.tests[unit_run.current];
  unit_arm("test", t->name);
  return t->setup_func ? t->setup_func(state) : 0;
}

static inline int unit_teardown(void **state) {
  const struct CMUnitTest *t = &unit_run.tests[unit_run.current];
  int rc = t->teardown_func ? t->teardown_func(state) : 0;
  alarm(0);
  return rc;
}

static inline int unit_group_setup(void **state) {
  unit_arm("group setup of", unit_run.group);
  int rc = unit_run.group_setup(state);
  alarm(0);
  return rc;
}

static inline int unit_group_teardown(void **state) {
  unit_arm("group teardown of", unit_run.group);
  int rc = unit_run.group_teardown(state);
  alarm(0);
  return rc;
}

static inline unsigned unit_timeout(void) {
  const char *s = getenv("UC_TEST_TIMEOUT");
  char *end;
  unsigned long v = s && *s ? strtoul(s, &end, 10) : 0;
  return v > 0 && v < 1000000 && !*end ? (unsigned)v : UNIT_TEST_TIMEOUT;
}

static inline int unit_run_group(const char *name, const struct CMUnitTest *tests, size_t count,
                                 CMFixtureFunction group_setup, CMFixtureFunction group_teardown) {
  struct CMUnitTest *copy = calloc(count ? count : 1, sizeof *copy);
  if (!copy) {
    fprintf(stderr, "%s: out of memory\n", name);
    return 1;
  }
  unit_run = (struct unit_run){.group = name,
                               .tests = tests,
                               .count = count,
                               .timeout = unit_timeout(),
                               .group_setup = group_setup,
                               .group_teardown = group_teardown};
  for (size_t i = 0; i < count; i++) {
    copy[i] = tests[i];
    copy[i].setup_func = unit_setup;
    copy[i].teardown_func = unit_teardown;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = unit_on_alarm;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGALRM, &sa, NULL);
  int rc = _cmocka_run_group_tests(name, copy, count, group_setup ? unit_group_setup : NULL,
                                   group_teardown ? unit_group_teardown : NULL);
  alarm(0);
  free(copy);
  return rc;
}

#undef cmocka_run_group_tests
#undef cmocka_run_group_tests_name
#define cmocka_run_group_tests(group_tests, group_setup, group_teardown)                           \
  unit_run_group(#group_tests, group_tests, COUNT(group_tests), group_setup, group_teardown)
#define cmocka_run_group_tests_name(group_name, group_tests, group_setup, group_teardown)          \
  unit_run_group(group_name, group_tests, COUNT(group_tests), group_setup, group_teardown)

/* ---- helpers ---- */

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
