/* usercleaning lists build|info: make and inspect list snapshots. */
#include "cli.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void lists_usage(FILE *f) {
  fprintf(
      f, "usage: usercleaning lists build MANIFEST OUT [ROOT]\n"
         "       usercleaning lists info [SNAPSHOT]\n"
         "       usercleaning lists update [--sources FILE] [--lists SNAPSHOT] [--force] [--json]\n"
         "       usercleaning lists why DOMAIN [--lists SNAPSHOT] [--account NAME] [--json]\n"
         "       usercleaning lists learn-infrastructure [--dns-server S] [--out FILE] ...\n");
  cli_lists_admin_usage(f);
  fprintf(f,
          "\nbuild  reads the sources named in MANIFEST (paths relative to ROOT,\n"
          "       default the current directory) and writes the snapshot OUT\n"
          "info   prints the version, sources and sizes of a snapshot\n"
          "update fetches the sources with a url, checks them (the poisoning guard) and\n"
          "       rebuilds the snapshot when one changed (--help for more)\n"
          "why    every source that lists DOMAIN or a parent, since when, and what overrides it\n"
          "show, add, remove: an account's own white/grey/black domain lists\n");
}

/* ---- update ---- */

static void update_usage(FILE *f) {
  fprintf(
      f, "usage: usercleaning lists update [--sources FILE] [--lists SNAPSHOT] [--force] [--json]\n"
         "          [--lists-max-removed PERCENT] [--lists-max-added N]\n"
         "          [--lists-fetch-timeout SECONDS] [--lists-max-bytes BYTES]\n\n"
         "Fetches every source of FILE (default lists/sources.ini) that has a url, with\n"
         "If-None-Match / If-Modified-Since, and puts each through the poisoning guard:\n"
         "guard-list and free-provider domains and public suffixes are dropped from\n"
         "disposable and multi-alias sources (and reported); an update that removes more\n"
         "than PERCENT (20) of a source's entries or adds more than N (20000) is refused\n"
         "unless --force; a failed fetch keeps the previous copy. When a source changed,\n"
         "SNAPSHOT (default: the one serve uses) is rebuilt beside the old one and renamed\n"
         "into place; a running serve picks it up within a second.\n"
         "Exit status: 0 all went through; 3 a source was refused or failed (the report\n"
         "says which and why); 1 the update could not run; 2 bad arguments.\n");
}

static int update(int argc, char **argv) {
  struct uc_config cfg;
  struct uc_sync_opts o;
  struct uc_sync_report *rep = NULL;
  char *args[64], err[512], path[PATH_MAX];
  int nargs, json = 0, rc = 1;
  uc_config_defaults(&cfg);
  if (argc > 64 || cli_config_over(argc, argv, &cfg, args, &nargs))
    return 2;
  uc_config_sync(&cfg, &o);
  for (int i = 0; i < nargs; i++) {
    if (strcmp(args[i], "--sources") == 0 && i + 1 < nargs)
      snprintf(cfg.lists_sources, sizeof cfg.lists_sources, "%s", args[++i]);
    else if (strcmp(args[i], "--force") == 0)
      o.force = 1;
    else if (strcmp(args[i], "--json") == 0)
      json = 1;
    else
      return update_usage(strcmp(args[i], "--help") ? stderr : stdout),
             strcmp(args[i], "--help") ? 2 : 0;
  }
  if (!(rep = malloc(sizeof *rep)))
    return 1;
  uc_lists_path(cfg.lists, path, sizeof path);
  int ret = uc_lists_update(cfg.lists_sources, path, &o, rep, err, sizeof err);
  if (json) {
    char *text = uc_sync_report_json(rep);
    if (text)
      printf("%s\n", text);
    free(text);
  } else {
    uc_sync_report_print(rep, stdout);
  }
  if (ret)
    fprintf(stderr, "usercleaning: lists update: %s\n", err);
  else
    rc = uc_sync_report_problems(rep) ? 3 : 0;
  free(rep);
  return rc;
}

/* ---- why ---- */

/* The account's verdict, when there is a store to ask (--account, or the
 * default store when it exists). 0, or 1 after saying why not. */
static int why_account(struct uc_why *w, const uc_lists *l, const struct uc_config *cfg,
                       const char *account) {
  struct uc_account_rec acc;
  struct uc_account_policy p;
  char err[512];
  uc_store *st = NULL;
  int rc = uc_store_open(cfg->store, 0, &st, err, sizeof err);
  if (rc == UC_ENOTFOUND && !account)
    return 0; /* no store here: the lists alone */
  if (rc) {
    fprintf(stderr, "usercleaning: store %s: %s\n", cfg->store, err);
    return 1;
  }
  if (cli_account(st, account ? account : "default", &acc)) {
    uc_store_close(st);
    return account ? 1 : 0;
  }
  rc = uc_account_policy_load(st, acc.id, &p);
  if (rc == UC_OK)
    uc_why_account(w, l, acc.name, &p.policy);
  else
    fprintf(stderr, "usercleaning: %s\n", (uc_store_error(st, rc, err, sizeof err), err));
  uc_account_policy_release(&p);
  uc_store_close(st);
  return rc ? 1 : 0;
}

static int why(int argc, char **argv) {
  struct uc_config cfg;
  struct uc_why w;
  char *args[64], err[512], path[PATH_MAX];
  const char *domain = NULL, *account = NULL;
  int nargs, json = 0, rc = 1;
  uc_config_defaults(&cfg);
  if (argc > 64 || cli_config_over(argc, argv, &cfg, args, &nargs))
    return 2;
  for (int i = 0; i < nargs; i++) {
    if (strcmp(args[i], "--account") == 0 && i + 1 < nargs)
      account = args[++i];
    else if (strcmp(args[i], "--json") == 0)
      json = 1;
    else if (args[i][0] != '-' && !domain)
      domain = args[i];
    else
      domain = NULL, i = nargs;
  }
  if (!domain) {
    fprintf(stderr, "usage: usercleaning lists why DOMAIN [--lists SNAPSHOT] [--account NAME]\n"
                    "          [--db PATH | --store URL] [--json]\n");
    return 2;
  }
  uc_lists_path(cfg.lists, path, sizeof path);
  uc_lists *l = cli_open_lists(path);
  if (!l)
    return 1;
  if (uc_lists_why(l, path, domain, &w, err, sizeof err)) {
    fprintf(stderr, "usercleaning: lists why: %s\n", err);
    rc = 2;
  } else if (why_account(&w, l, &cfg, account) == 0) {
    char *text = json ? uc_why_json(&w) : NULL;
    if (json && text)
      printf("%s\n", text);
    else if (!json)
      uc_why_print(&w, stdout);
    free(text);
    rc = json && !text;
  }
  uc_lists_unref(l);
  return rc;
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

/* ---- learn-infrastructure ---- */

static void learn_usage(FILE *f) {
  fprintf(f,
          "usage: usercleaning lists learn-infrastructure [--lists SNAPSHOT] [--dns-server S]...\n"
          "          [--out FILE] [--min-domains K] [--concurrency N] [--dns-timeout MS]\n\n"
          "Resolves the MX of every disposable domain in the lists and of every free-provider\n"
          "and guard domain, and writes the MX hosts and addresses that at least K (3) listed\n"
          "disposable domains use and no free or guard domain uses (nor curated shared\n"
          "hosting or relays) to FILE (default ./data/infrastructure.learned), which serve\n"
          "and check --dns read. --dns-timeout is each domain's deadline (default 3000 ms);\n"
          "--concurrency the lookups in flight (default 256). Aim it at a resolver you may\n"
          "load (--dns-server), not at someone else's.\n");
}

static void progress(void *arg, size_t done, size_t total) {
  const uint64_t *t0 = arg;
  double secs = (double)(uc_dns_now_ms() - *t0) / 1000.0, rate = secs > 0 ? done / secs : 0;
  fprintf(stderr, "\r  %zu/%zu domains  %.0f/s  ETA %.0f s   ", done, total, rate,
          rate > 0 ? (double)(total - done) / rate : 0.0);
  if (done == total)
    fputc('\n', stderr);
}

static int learn(int argc, char **argv) {
  struct uc_config cfg;
  struct uc_learn_opts o;
  struct uc_learn_report rep;
  struct uc_dns_config dc;
  char *args[64], err[512];
  const char *out = NULL;
  int nargs, rc = 1;
  uc_dns *d = NULL;
  uc_infra *curated = NULL;
  uint64_t t0 = uc_dns_now_ms();
  uc_learn_opts_init(&o);
  uc_config_defaults(&cfg);
  cfg.dns_timeout = 3000;
  if (argc > 64 || cli_config_over(argc, argv, &cfg, args, &nargs))
    return 2;
  o.timeout_ms = cfg.dns_timeout;
  for (int i = 0; i < nargs; i++) {
    char *end;
    long v = i + 1 < nargs ? strtol(args[i + 1], &end, 10) : -1;
    if (strcmp(args[i], "--out") == 0 && i + 1 < nargs)
      out = args[++i];
    else if (strcmp(args[i], "--min-domains") == 0 && v >= 1 && !*end)
      o.min_domains = (unsigned)v, i++;
    else if (strcmp(args[i], "--concurrency") == 0 && v >= 1 && v <= 65536 && !*end)
      o.concurrency = (unsigned)v, i++;
    else
      return learn_usage(strcmp(args[i], "--help") ? stderr : stdout),
             strcmp(args[i], "--help") ? 2 : 0;
  }
  if (!out)
    out = cfg.infrastructure;
  uc_lists *l = cli_open_lists(cfg.lists);
  if (!l)
    return 1;
  if (uc_config_dns(&cfg, &dc, err, sizeof err) ||
      uc_infra_open(cfg.infrastructure_curated, "", &curated, err, sizeof err) ||
      (dc.cache_max = 4096, uc_dns_open(&dc, &d, err, sizeof err))) {
    fprintf(stderr, "usercleaning: %s\n", err);
    goto done;
  }
  if (isatty(STDERR_FILENO))
    o.progress = progress, o.progress_arg = &t0;
  if (uc_learn_infrastructure(l, d, curated, &o, out, &rep, err, sizeof err)) {
    fprintf(stderr, "usercleaning: learn-infrastructure: %s\n", err);
    goto done;
  }
  printf("resolved %zu disposable and %zu free/guard domains in %.1f s "
         "(%zu answered, %zu NXDOMAIN, %zu failed)\n"
         "MX hosts seen %zu, kept %zu; MX addresses seen %zu, kept %zu (K = %u)\n"
         "left out: %zu also used by free or guard domains, %zu shared hosting or relays\n"
         "wrote %s\n",
         rep.disposable, rep.good, rep.seconds, rep.answered, rep.nxdomain, rep.failed,
         rep.hosts_seen, rep.hosts_kept, rep.addrs_seen, rep.addrs_kept, o.min_domains,
         rep.dropped_good, rep.dropped_curated, out);
  rc = 0;
done:
  uc_dns_free(d);
  uc_infra_unref(curated);
  uc_lists_unref(l);
  return rc;
}

int cmd_lists(int argc, char **argv) {
  char err[512];
  if (argc >= 2 && strcmp(argv[1], "update") == 0)
    return update(argc - 1, argv + 1);
  if (argc >= 2 && strcmp(argv[1], "why") == 0)
    return why(argc - 1, argv + 1);
  if (argc >= 2 && strcmp(argv[1], "learn-infrastructure") == 0)
    return learn(argc - 1, argv + 1);
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
