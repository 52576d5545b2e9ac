/* usercleaning check: classify arguments or stdin lines, one JSON object each. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void check_usage(FILE *f) {
  fprintf(f,
          "usage: usercleaning check [--lists FILE] [--format json|tsv] [--explain] [--quoted]\n"
          "                          [--dns [--dns-server HOST[:PORT]]... [--dns-timeout MS]\n"
          "                           [--infrastructure FILE]] [EMAIL...]\n\n"
          "Classifies each EMAIL, or every line of standard input when none is given\n"
          "(blank lines are skipped), and prints one JSON object per line with the fields\n"
          "of the API's 200 body. For a CSV, TSV or XLSX list: usercleaning clean.\n\n"
          "  --lists FILE        list snapshot (default: $USER_CLEANING_LISTS, else\n"
          "                      lists.snap beside the executable)\n"
          "  --format tsv        print \"category<TAB>type<TAB>email\" lines instead of JSON\n"
          "  --explain           print a readable account instead of JSON\n"
          "  --quoted            accept quoted local parts (\"john doe\"@example.com)\n"
          "  --dns               look up MX records as serve does: mx_record, \"no website\",\n"
          "                      \"masked legitimate\" (off by default here; --no-dns)\n"
          "  --dns-server S      ask S (HOST[:PORT]) instead of /etc/resolv.conf (repeatable)\n"
          "  --dns-timeout MS    wait at most MS per address (default 400)\n"
          "  --infrastructure F  learned fingerprints (default ./data/infrastructure.learned)\n");
}

struct checker {
  const uc_lists *lists;
  struct uc_policy policy;
  enum { OUT_JSON, OUT_TSV, OUT_EXPLAIN } out;
  struct uc_result r;
  uc_dns *dns; /* NULL: --no-dns */
  uc_infra *infra;
  unsigned dns_timeout;      /* ms */
  struct uc_dns_facts facts; /* of the address being checked */
  int have_dns;
};

/* The DNS facts of the checked address's domain, waiting at most dns_timeout. */
static void look_up(struct checker *c) {
  c->have_dns = 0;
  if (!c->dns || !c->r.valid)
    return;
  uc_dns_lookup_sync(c->dns, c->r.email.domain, c->dns_timeout, &c->facts);
  c->have_dns = 1;
}

/* One JSON line per address, a single write each. */
static int print_json(struct checker *c, const char *s, size_t n) {
  static char buf[UC_RESULT_BODY_MAX + 1];
  struct uc_result_ctx ctx = {s, n, -1, c->have_dns ? &c->facts : NULL, NULL};
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
  struct uc_facts facts = {0};
  uc_check_lists(c->lists, &c->policy, s, n, &c->r);
  look_up(c);
  if (c->have_dns && uc_check_wants_facts(&c->r))
    uc_infra_facts(c->infra, &c->facts, &facts);
  uc_check_decide(&c->policy, &facts, &c->r);
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

/* One line without its end (\n, \r\n), at most LINE_CAP bytes of it. A blank
 * line (nothing but spaces and tabs) is no address: skipped, never invalid. */
static int check_line(struct checker *c, const char *s, size_t n) {
  if (n > 0 && s[n - 1] == '\r')
    n--;
  size_t i = 0;
  while (i < n && (s[i] == ' ' || s[i] == '\t'))
    i++;
  if (i == n)
    return 0;
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

/* --dns and its settings: the resolver and the fingerprints. 0, or 1 after saying why not. */
static int start_dns(struct checker *c, const struct uc_config *cfg) {
  struct uc_dns_config dc;
  char err[512];
  c->dns_timeout = cfg->dns_timeout;
  if (uc_config_dns(cfg, &dc, err, sizeof err) ||
      uc_infra_open(cfg->infrastructure_curated, cfg->infrastructure, &c->infra, err, sizeof err) ||
      uc_dns_open(&dc, &c->dns, err, sizeof err)) {
    fprintf(stderr, "usercleaning check: %s\n", err);
    return 1;
  }
  return 0;
}

int cmd_check(int argc, char **argv) {
  static const struct option opts[] = {
      {"lists", required_argument, 0, 'l'},  {"explain", no_argument, 0, 'e'},
      {"format", required_argument, 0, 'f'}, {"quoted", no_argument, 0, 'q'},
      {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
  struct checker c = {0};
  struct uc_config cfg;
  char *args[256];
  int nargs, opt, rc = 0;
  const char *lists_path = NULL;
  /* Settings first (--dns, --dns-server, --dns-timeout, --infrastructure...),
   * with check's own default: no DNS unless asked. */
  if (argc > 255)
    return check_usage(stderr), 2;
  uc_config_defaults(&cfg);
  cfg.dns = 0;
  if (cli_config_over(argc, argv, &cfg, args + 1, &nargs))
    return 2;
  args[0] = argv[0];
  argc = nargs + 1, argv = args;
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
  if (!lists_path && cfg.lists[0])
    lists_path = cfg.lists;
  uc_lists *l = cli_open_lists(lists_path);
  if (!l)
    return 1;
  if (cfg.dns && start_dns(&c, &cfg)) {
    uc_lists_unref(l);
    uc_infra_unref(c.infra);
    return 1;
  }
  c.lists = l;
  if (optind == argc)
    rc = check_stdin(&c);
  for (int i = optind; i < argc && !rc; i++)
    rc = check_one(&c, argv[i], strlen(argv[i]));
  if (fflush(stdout) != 0)
    rc = 1;
  uc_dns_free(c.dns);
  uc_infra_unref(c.infra);
  uc_lists_unref(l);
  return rc;
}
