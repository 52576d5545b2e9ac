/* usercleaning clean: a list file through uc_batch_clean locally, with a
 * progress bar on a terminal and a summary table at the end. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void clean_usage(FILE *f) {
  fprintf(f, "usage: usercleaning clean FILE [-o OUT] [--no-dedupe] [--format csv|tsv|xlsx]\n"
             "                          [--lists FILE] [--quoted] [--dns|--no-dns]\n"
             "                          [--dns-server HOST[:PORT]]... [--dns-timeout MS]\n\n"
             "Checks every address of a CSV, TSV, TXT or XLSX list and writes it again with\n"
             "the columns category, domain_type, mx_record and did_you_mean added: every\n"
             "row and column kept in order, blank rows kept and marked.\n\n"
             "  -o, --output OUT    where to write (default: FILE_cleaned.EXT; '-': stdout)\n"
             "  --no-dedupe         keep every occurrence of an address (default: only the\n"
             "                      last, compared without case)\n"
             "  --format F          csv, tsv or xlsx (default: the input's; TXT gives CSV)\n"
             "  --lists FILE        list snapshot (default: lists.snap beside the executable)\n"
             "  --quoted            accept quoted local parts\n"
             "  --dns               look up MX records (off by default here): mx_record,\n"
             "                      \"no website\", \"masked legitimate\"\n");
}

struct bar {
  int on;          /* stderr is a terminal */
  double t0, last; /* seconds */
  FILE *out;
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "[#####-----]  42%  420000/1000000 rows  350000 rows/s  ETA 2s", at most 10 times a second. */
static int draw(void *ctx, enum uc_batch_phase phase, const struct uc_batch_counts *n) {
  struct bar *b = ctx;
  double t = now_s();
  int last = phase == UC_BATCH_CHECKING && n->rows_done == n->rows_total; /* always drawn */
  if (!b->on || (t - b->last < 0.1 && !last))
    return 0;
  b->last = t;
  if (phase == UC_BATCH_COUNTING) {
    fprintf(stderr, "\r\033[Kreading: %llu rows", (unsigned long long)n->rows_total);
    return 0;
  }
  double frac = n->rows_total ? (double)n->rows_done / (double)n->rows_total : 1;
  double rate = n->rows_done / (t - b->t0 > 1e-3 ? t - b->t0 : 1e-3);
  double eta = rate > 0 ? (double)(n->rows_total - n->rows_done) / rate : 0;
  char bar[31];
  int fill = (int)(frac * 30);
  for (int i = 0; i < 30; i++)
    bar[i] = i < fill ? '#' : '-';
  bar[30] = 0;
  fprintf(stderr, "\r\033[K[%s] %3d%%  %llu/%llu rows  %.0f rows/s  ETA %.0fs", bar,
          (int)(frac * 100), (unsigned long long)n->rows_done, (unsigned long long)n->rows_total,
          rate, eta);
  return 0;
}

static void summary(FILE *f, const char *out, const struct uc_batch_counts *n, double secs) {
  fprintf(f, "%s: %llu rows in %.1f s\n\n", out, (unsigned long long)n->rows_total, secs);
  fprintf(f, "  %-22s %10s\n", "category", "rows");
  for (int c = 0; c < 3; c++)
    fprintf(f, "  %-22s %10llu\n", uc_category_name((uc_category)c),
            (unsigned long long)n->category[c]);
  fprintf(f, "\n  %-22s %10s\n", "domain_type", "rows");
  for (int t = 0; t < UC_TYPE_COUNT; t++)
    if (n->type[t])
      fprintf(f, "  %-22s %10llu\n", uc_type_name((uc_type)t), (unsigned long long)n->type[t]);
  fprintf(f, "\n  %-22s %10llu\n  %-22s %10llu\n  %-22s %10llu\n", "invalid rows",
          (unsigned long long)n->type[UC_T_INVALID], "blank rows (kept)",
          (unsigned long long)n->blank, "duplicates removed", (unsigned long long)n->duplicates);
}

/* FILE_cleaned.EXT beside FILE, EXT the result's. */
static void default_output(const char *in, enum uc_batch_format f, char *out, size_t size) {
  const char *dot = strrchr(in, '.'), *slash = strrchr(in, '/');
  int stem = dot && (!slash || dot > slash) ? (int)(dot - in) : (int)strlen(in);
  snprintf(out, size, "%.*s_cleaned.%s", stem, in, uc_batch_format_name(f));
}

struct clean_opts {
  const char *in, *out, *lists;
  int dedupe, quoted, format; /* format -1: the input's */
};

static int parse(int argc, char **argv, struct clean_opts *o) {
  static const struct option opts[] = {{"output", required_argument, 0, 'o'},
                                       {"no-dedupe", no_argument, 0, 'n'},
                                       {"format", required_argument, 0, 'f'},
                                       {"lists", required_argument, 0, 'l'},
                                       {"quoted", no_argument, 0, 'q'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  enum uc_batch_format f;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "o:f:l:qh", opts, NULL)) != -1) {
    if (opt == 'o')
      o->out = optarg;
    else if (opt == 'n')
      o->dedupe = 0;
    else if (opt == 'l')
      o->lists = optarg;
    else if (opt == 'q')
      o->quoted = 1;
    else if (opt == 'h')
      return clean_usage(stdout), 1;
    else if (opt == 'f') {
      char name[16];
      snprintf(name, sizeof name, "x.%s", optarg);
      if (uc_batch_format_of(name, &f) || f == UC_BATCH_TXT) {
        fprintf(stderr, "usercleaning clean: --format must be csv, tsv or xlsx, not '%s'\n",
                optarg);
        return 2;
      }
      o->format = (int)f;
    } else {
      return clean_usage(stderr), 2;
    }
  }
  if (optind != argc - 1)
    return clean_usage(stderr), 2;
  o->in = argv[optind];
  return 0;
}

/* The resolver and fingerprints for --dns; 0, or 1 after saying why not. */
static int start_dns(struct uc_batch_checker *k, const struct uc_config *cfg, uc_dns **dns,
                     uc_infra **infra) {
  struct uc_dns_config dc;
  char err[512];
  if (uc_config_dns(cfg, &dc, err, sizeof err) ||
      uc_infra_open(cfg->infrastructure_curated, cfg->infrastructure, infra, err, sizeof err) ||
      uc_dns_open(&dc, dns, err, sizeof err)) {
    fprintf(stderr, "usercleaning clean: %s\n", err);
    return 1;
  }
  k->dns = *dns, k->infra = *infra, k->dns_timeout = cfg->dns_timeout;
  return 0;
}

static int run(const struct clean_opts *o, const struct uc_config *cfg) {
  enum uc_batch_format in;
  struct uc_policy policy;
  struct uc_batch_checker k = {0};
  struct uc_batch_counts n;
  char out[4096], err[512];
  uc_dns *dns = NULL;
  uc_infra *infra = NULL;
  int rc = 1;
  if (uc_batch_format_of(o->in, &in)) {
    fprintf(stderr, "usercleaning clean: %s: Invalid file extension (.csv, .tsv, .txt or .xlsx)\n",
            o->in);
    return 2;
  }
  enum uc_batch_format of = uc_batch_result_format(in), named;
  if (o->format >= 0) /* --format, else the extension of -o, else the input's */
    of = (enum uc_batch_format)o->format;
  else if (o->out && uc_batch_format_of(o->out, &named) == UC_OK)
    of = uc_batch_result_format(named);
  if (o->out)
    snprintf(out, sizeof out, "%s", o->out);
  else
    default_output(o->in, of, out, sizeof out);
  uc_lists *l = cli_open_lists(o->lists ? o->lists : cfg->lists[0] ? cfg->lists : NULL);
  if (!l)
    return 1;
  uc_policy_init(&policy);
  policy.parse_opts = o->quoted ? UC_PARSE_QUOTED : 0;
  k.lists = l, k.policy = &policy;
  if (cfg->dns && start_dns(&k, cfg, &dns, &infra))
    goto out;
  struct bar b = {isatty(STDERR_FILENO), now_s(), 0, NULL};
  struct uc_batch_job job = {
      o->in, in,   out, of,   o->dedupe, NULL, uc_batch_check,
      &k,    draw, &b,  8192, NULL,      0}; /* a command's output: not synced, like cp's */
  int e = uc_batch_clean(&job, &n, err, sizeof err);
  if (b.on)
    fprintf(stderr, "\r\033[K");
  if (e) {
    fprintf(stderr, "usercleaning clean: %s: %s\n", o->in, err);
    goto out;
  }
  summary(strcmp(out, "-") == 0 ? stderr : stdout, out, &n, now_s() - b.t0);
  rc = 0;
out:
  uc_dns_free(dns);
  uc_infra_unref(infra);
  uc_lists_unref(l);
  return rc;
}

int cmd_clean(int argc, char **argv) {
  struct uc_config cfg;
  struct clean_opts o = {NULL, NULL, NULL, 1, 0, -1};
  char *args[256];
  int nargs;
  if (argc > 255)
    return clean_usage(stderr), 2;
  uc_config_defaults(&cfg);
  cfg.dns = 0; /* as check: no DNS unless asked */
  if (cli_config_over(argc, argv, &cfg, args + 1, &nargs))
    return 2;
  args[0] = argv[0];
  int rc = parse(nargs + 1, args, &o);
  if (rc)
    return rc == 1 ? 0 : rc;
  return run(&o, &cfg);
}
