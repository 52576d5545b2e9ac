/* usercleaning check: classify arguments or stdin lines, one JSON object each. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void check_usage(FILE *f) {
  fprintf(f, "usage: usercleaning check [--lists FILE] [--format json|tsv] [--explain] [--quoted]\n"
             "                          [EMAIL...]\n\n"
             "Classifies each EMAIL, or every line of standard input when none is given,\n"
             "and prints one JSON object per line with the fields of the API's 200 body.\n\n"
             "  --lists FILE  list snapshot (default: $USER_CLEANING_LISTS, else lists.snap\n"
             "                beside the executable)\n"
             "  --format tsv  print \"category<TAB>type<TAB>email\" lines instead of JSON\n"
             "  --explain     print a readable account instead of JSON\n"
             "  --quoted      accept quoted local parts (\"john doe\"@example.com)\n");
}

struct checker {
  const uc_lists *lists;
  struct uc_policy policy;
  enum { OUT_JSON, OUT_TSV, OUT_EXPLAIN } out;
  struct uc_result r;
};

/* One JSON line per address, a single write each. */
static int print_json(struct checker *c, const char *s, size_t n) {
  static char buf[UC_RESULT_BODY_MAX + 1];
  struct uc_result_ctx ctx = {s, n, -1, NULL, NULL};
  size_t len = uc_result_write(&c->r, c->lists, &ctx, buf, sizeof buf - 1);
  if (len == 0) { /* cannot happen for lines under UC_RESULT_INPUT_MAX */
    fprintf(stderr, "usercleaning: result too large\n");
    return -1;
  }
  buf[len++] = '\n';
  fwrite(buf, 1, len, stdout);
  return 0;
}

static int check_one(struct checker *c, const char *s, size_t n) {
  if (n > UC_RESULT_INPUT_MAX) /* far past any valid address: echo its start only */
    n = UC_RESULT_INPUT_MAX;
  uc_check(c->lists, &c->policy, s, n, &c->r);
  switch (c->out) {
  case OUT_EXPLAIN:
    printf("%.*s\n", (int)n, s);
    uc_result_explain(&c->r, c->lists, stdout);
    return 0;
  case OUT_TSV: {
    char line[64 + UC_RESULT_INPUT_MAX]; /* one write per address */
    const char *cat = uc_category_name(c->r.category), *type = uc_type_name(c->r.type);
    size_t a = strlen(cat), b = strlen(type);
    memcpy(line, cat, a);
    line[a] = '\t';
    memcpy(line + a + 1, type, b);
    line[a + 1 + b] = '\t';
    memcpy(line + a + b + 2, s, n);
    line[a + b + 2 + n] = '\n';
    fwrite(line, 1, a + b + 3 + n, stdout);
    return 0;
  }
  default:
    return print_json(c, s, n);
  }
}

#define LINE_CAP (UC_EMAIL_INPUT_MAX + 64)

/* One line without its end (\n, \r\n), at most LINE_CAP bytes of it. */
static int check_line(struct checker *c, const char *s, size_t n) {
  if (n > 0 && s[n - 1] == '\r')
    n--;
  return check_one(c, s, n < LINE_CAP ? n : LINE_CAP);
}

/* Streams stdin in constant memory: lines are cut out of one fixed buffer; a
 * line longer than LINE_CAP is checked by its first bytes (which fail as too
 * long) and the rest of it is skipped. */
static int check_stdin(struct checker *c) {
  static char buf[1 << 16];
  size_t have = 0;
  int skipping = 0;
  for (;;) {
    ssize_t got = read(STDIN_FILENO, buf + have, sizeof buf - have);
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0)
      return 1;
    have += (size_t)got;
    size_t start = 0;
    for (char *nl; (nl = memchr(buf + start, '\n', have - start)) != NULL;) {
      size_t n = (size_t)(nl - (buf + start));
      if (!skipping && check_line(c, buf + start, n))
        return 1;
      skipping = 0;
      start += n + 1;
    }
    size_t rest = have - start;
    if (got == 0) /* end of input: a last line without its newline */
      return rest && !skipping ? check_line(c, buf + start, rest) : 0;
    if (rest >= LINE_CAP) {
      if (!skipping && check_line(c, buf + start, rest))
        return 1;
      skipping = 1, rest = 0, start = have;
    }
    memmove(buf, buf + start, rest);
    have = rest;
  }
}

int cmd_check(int argc, char **argv) {
  static const struct option opts[] = {
      {"lists", required_argument, 0, 'l'},  {"explain", no_argument, 0, 'e'},
      {"format", required_argument, 0, 'f'}, {"quoted", no_argument, 0, 'q'},
      {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
  struct checker c = {0};
  const char *lists_path = NULL;
  int opt, rc = 0;
  uc_policy_init(&c.policy);
  optind = 1;
  while ((opt = getopt_long(argc, argv, "l:ef:qh", opts, NULL)) != -1) {
    switch (opt) {
    case 'l':
      lists_path = optarg;
      break;
    case 'e':
      c.out = OUT_EXPLAIN;
      break;
    case 'f':
      if (strcmp(optarg, "json") != 0 && strcmp(optarg, "tsv") != 0) {
        fprintf(stderr, "usercleaning check: --format must be json or tsv, not '%s'\n", optarg);
        return 2;
      }
      c.out = strcmp(optarg, "tsv") == 0 ? OUT_TSV : OUT_JSON;
      break;
    case 'q':
      c.policy.parse_opts |= UC_PARSE_QUOTED;
      break;
    case 'h':
      check_usage(stdout);
      return 0;
    default:
      check_usage(stderr);
      return 2;
    }
  }
  uc_lists *l = cli_open_lists(lists_path);
  if (!l)
    return 1;
  c.lists = l;
  if (optind == argc)
    rc = check_stdin(&c);
  for (int i = optind; i < argc && !rc; i++)
    rc = check_one(&c, argv[i], strlen(argv[i]));
  if (fflush(stdout) != 0)
    rc = 1;
  uc_lists_unref(l);
  return rc;
}
