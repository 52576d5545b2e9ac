/* usercleaning serve: wiring (store, lists, cache, HTTP daemon), the background
 * thread (cache refresh, usage flush, log flush), signals and graceful stop. */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum MHD_Result srv_on_request(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **ctx);
void srv_on_completed(void *cls, struct MHD_Connection *c, void **ctx,
                      enum MHD_RequestTerminationCode toe);
void srv_on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
                       enum MHD_ConnectionNotificationCode code);

/* "host:port" or "[v6]:port" into a socket address. */
static int parse_listen(const char *spec, struct sockaddr_storage *ss, char *err, size_t es) {
  char host[128];
  const char *colon = strrchr(spec, ':');
  if (!colon || colon == spec)
    return uc_errorf(err, es, UC_EINVAL, "listen '%s': expected ADDR:PORT", spec);
  size_t hn = (size_t)(colon - spec);
  if (spec[0] == '[' && spec[hn - 1] == ']')
    spec++, hn -= 2;
  if (hn >= sizeof host)
    return uc_errorf(err, es, UC_EINVAL, "listen '%s': address too long", spec);
  memcpy(host, spec, hn);
  host[hn] = 0;
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (*end || port < 0 || port > 65535 || colon[1] == 0)
    return uc_errorf(err, es, UC_EINVAL, "listen '%s': bad port", spec);
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET, v4->sin_port = htons((uint16_t)port);
  } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6, v6->sin6_port = htons((uint16_t)port);
  } else {
    return uc_errorf(err, es, UC_EINVAL, "listen '%s': '%s' is not an IPv4 or IPv6 address", spec,
                     host);
  }
  return 0;
}

static int count_account(void *arg, const struct uc_account_rec *a) {
  (void)a;
  ++*(int *)arg;
  return 1;
}

/* How to name the store from any directory: the absolute path of a SQLite
 * file (a --db flag), else the URL as given, its password never printed (a
 * --store flag: type the password in). */
static const char *store_name(struct srv *s, char *out, size_t size) {
  char abs[PATH_MAX];
  int file = strcmp(uc_store_backend(s->store), "sqlite") == 0 &&
             realpath(uc_store_where(s->store), abs) != NULL;
  if (file)
    snprintf(out, size, "%s", abs);
  else
    uc_store_url_redact(s->cfg.store, out, size);
  return file ? "--db" : "--store";
}

/* First start on an empty store: a default account with an active key (for
 * integrations: printed first, with the curl line that uses it) and an admin
 * key (the dashboard's). The key text is printed once; the store keeps its hash. */
static int bootstrap(struct srv *s, const char *base_url) {
  int accounts = 0;
  struct uc_account_rec acc;
  struct uc_key_rec rec;
  char admin[UC_KEY_MAX + 1], live[UC_KEY_MAX + 1], self[PATH_MAX], where[PATH_MAX];
  if (uc_store_account_each(s->store, count_account, &accounts) || accounts)
    return UC_OK;
  int rc = uc_store_account_create(s->store, "default", &acc);
  if (rc == UC_EEXISTS) /* another server sharing the store made it first */
    return UC_OK;
  if (!rc) /* the admin key is key 1 */
    rc = uc_store_key_create(s->store, acc.id, "default admin", UC_KEY_ADMIN, &rec, admin);
  if (!rc)
    rc = uc_store_key_create(s->store, acc.id, "default", UC_KEY_ACTIVE, &rec, live);
  if (rc)
    return rc;
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  snprintf(self + (n > 0 ? n : 0), sizeof self - (size_t)(n > 0 ? n : 0), "%s",
           n > 0 ? "" : "usercleaning");
  const char *flag = store_name(s, where, sizeof where);
  printf("\nFirst start: created the account 'default' with two keys. They are shown this once\n"
         "(only their hashes are stored): copy them now.\n\n"
         "  active key: %s\n"
         "    for your sign-up form (USER_CLEANING_API_KEY) and the check API\n\n"
         "  admin key:  %s\n"
         "    for the dashboard and the admin API only; a check with it answers 403\n\n"
         "Try the active key:\n\n"
         "  curl -s -X POST %s/v1/email/check \\\n"
         "       -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \\\n"
         "       -d '{\"email\": \"someone@mailinator.com\", \"ip\": \"203.0.113.7\"}'\n\n"
         "Dashboard: %s/dashboard/ (sign in with the admin key); API reference: %s/docs\n"
         "Store: %s\n"
         "Lost a key? Make another (from any directory):\n"
         "  %s keys create --account default --name NAME --type active %s %s\n\n",
         live, admin, base_url, live, base_url, base_url, where, self, flag, where);
  return UC_OK;
}

struct bg {
  struct srv *s;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  int stop;
};

int srv_store_failed(struct srv *s, int rc, const char *what) {
  if (rc != UC_EUNAVAILABLE)
    return rc != UC_OK;
  if (!atomic_exchange(&s->store_down, 1)) {
    char why[300];
    uc_store_error(s->store, rc, why, sizeof why);
    fprintf(stderr,
            "usercleaning: warning: the store is unavailable (%s, %s): checks answer from the "
            "lists without counting bans, admin changes answer 503, until it is back\n",
            what, why);
  }
  return 1;
}

void srv_store_answered(struct srv *s) {
  if (atomic_load_explicit(&s->store_down, memory_order_relaxed) &&
      atomic_exchange(&s->store_down, 0))
    fprintf(stderr, "usercleaning: the store is back: bans are counted again\n");
}

/* What other processes changed: keys, settings and lists (the view, when
 * the store's version moved) and the change feed (bans and unbans), both
 * every tick: seen within 200 ms. A failure keeps the view as it was. */
static void follow_store(struct srv *s) {
  int rc = srv_cache_poll(s->cache);
  if (rc >= 0)
    rc = uc_bans_sync(s->bans);
  if (rc < 0) {
    atomic_fetch_add(&s->store_failures, 1);
    srv_store_failed(s, rc, "following changes");
  } else {
    srv_store_answered(s);
  }
}

/* Says once why domain age cannot work (the bootstrap did not load), and when it does again. */
static void note_rdap(struct srv *s, char *last, size_t size) {
  struct uc_rdap_stats st;
  if (!s->rdap)
    return;
  uc_rdap_stats(s->rdap, &st);
  if (strcmp(st.bootstrap_error, last) == 0)
    return;
  if (st.bootstrap_error[0])
    fprintf(stderr,
            "usercleaning: domain age: RDAP bootstrap: %s (tried again every 5 minutes; "
            "domain_age is \"unknown\" meanwhile; --no-domain-age turns it off, "
            "--rdap-bootstrap FILE reads a local copy)\n",
            st.bootstrap_error);
  else
    fprintf(stderr, "usercleaning: domain age: RDAP bootstrap loaded (%zu TLDs)\n", st.services);
  snprintf(last, size, "%s", st.bootstrap_error);
}

/* Says loudly when the resolver starts or stops denying every name. */
static void note_dns(struct srv *s, int *last) {
  struct uc_dns_stats st;
  if (!s->dns)
    return;
  uc_dns_stats(s->dns, &st);
  if (st.denying == *last)
    return;
  if (st.denying)
    fprintf(stderr, "usercleaning: warning: the DNS resolver says even the root zone does not "
                    "exist: it denies every name (no network, or a filtering resolver?). Its "
                    "\"does not exist\" answers are ignored: mx_record is \"unknown\" and no "
                    "domain is \"no website\" until it answers truly; set --dns-server to a "
                    "working resolver, or --no-dns\n");
  else if (*last >= 0)
    fprintf(stderr, "usercleaning: the DNS resolver answers truly again\n");
  *last = st.denying;
}

/* Every tick (100 ms): pick up what other processes changed in the store
 * (keys, settings, lists, unbans: seen within 200 ms); every second: flush
 * the access log; every flush_interval, or early when the ban cache is over
 * its bound: write usage and ban counters. */
static void *background(void *arg) {
  struct bg *bg = arg;
  unsigned ticks = 0;
  char last_rdap_error[256] = "";
  int last_denying = -1;
  pthread_mutex_lock(&bg->lock);
  while (!bg->stop) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 100 * 1000000L;
    if (until.tv_nsec >= 1000000000L)
      until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&bg->wake, &bg->lock, &until);
    if (bg->stop)
      break;
    pthread_mutex_unlock(&bg->lock);
    struct srv *s = bg->s;
    follow_store(s);
    ticks++;
    if (ticks % (10u * s->cfg.flush_interval) == 0 || uc_bans_flush_wanted(s->bans)) {
      if (uc_usage_flush(s->usage, s->store))
        fprintf(stderr, "usercleaning: usage flush failed; will retry\n");
      if (uc_bans_flush(s->bans))
        fprintf(stderr, "usercleaning: ban counters flush failed; will retry\n");
      if (uc_aliases_flush(s->aliases, (int64_t)time(NULL)))
        fprintf(stderr, "usercleaning: alias memory flush failed; will retry\n");
      if (uc_activity_flush(s->activity, s->store))
        fprintf(stderr, "usercleaning: activity feed flush failed; will retry\n");
    }
    if (ticks % 10 == 0) /* a snapshot replaced on disk is served within a second */
      srv_lists_watch(s);
    if (ticks % 10 == 0)
      note_rdap(s, last_rdap_error, sizeof last_rdap_error);
    if (ticks % 10 == 0)
      note_dns(s, &last_denying);
    if (s->log && ticks % 10 == 0) {
      pthread_mutex_lock(&s->log_lock);
      fflush(s->log);
      pthread_mutex_unlock(&s->log_lock);
    }
    pthread_mutex_lock(&bg->lock);
  }
  pthread_mutex_unlock(&bg->lock);
  return NULL;
}

/* SIGHUP: the lists (even when the file looks the same) and the fingerprints. */
static void reload_lists(struct srv *s) {
  char err[512];
  uc_infra *f = NULL;
  srv_lists_reload(s, "SIGHUP", 1);
  if (uc_infra_open(s->cfg.infrastructure_curated, s->cfg.infrastructure, &f, err, sizeof err)) {
    atomic_fetch_add(&s->reload_failures, 1);
    fprintf(stderr, "usercleaning: SIGHUP: keeping the fingerprints in use: %s\n", err);
    return;
  }
  fprintf(stderr, "usercleaning: SIGHUP: %zu mail-infrastructure fingerprints loaded\n",
          uc_infra_count(f));
  uc_pub_swap(&s->infra, f);
}

/* libmicrohttpd's own messages. While it starts, the server words a failure
 * itself ("Failed to bind to port 0" names the wrong port): the message is
 * only kept; once it serves, messages go to stderr. */
static void mhd_log(void *cls, const char *fmt, va_list ap) {
  struct srv *s = cls;
  if (!atomic_load(&s->serving)) {
    vsnprintf(s->mhd_error, sizeof s->mhd_error, fmt, ap);
    return;
  }
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t n = strlen(msg);
  fprintf(stderr, "usercleaning: libmicrohttpd: %s%s", msg, n && msg[n - 1] == '\n' ? "" : "\n");
}

static struct MHD_Daemon *start_http(struct srv *s, const struct sockaddr_storage *ss) {
  unsigned threads = s->cfg.threads ? s->cfg.threads : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_TURBO |
                   MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME |
                   (ss->ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
  return MHD_start_daemon(
      flags, 0, NULL, NULL, srv_on_request, s, MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)ss,
      MHD_OPTION_THREAD_POOL_SIZE, threads ? threads : 1u, MHD_OPTION_CONNECTION_LIMIT,
      s->cfg.max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT, s->cfg.per_ip_connections,
      MHD_OPTION_CONNECTION_TIMEOUT, s->cfg.idle_timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
      (size_t)s->cfg.header_limit, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
      MHD_OPTION_NOTIFY_COMPLETED, srv_on_completed, s, MHD_OPTION_NOTIFY_CONNECTION,
      srv_on_connection, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s, MHD_OPTION_END);
}

static int open_log(struct srv *s) {
  if (strcmp(s->cfg.access_log, "off") == 0)
    return 0;
  if (strcmp(s->cfg.access_log, "-") == 0) {
    s->log = stdout;
  } else if (!(s->log = fopen(s->cfg.access_log, "a"))) {
    fprintf(stderr, "usercleaning: access_log %s: %s\n", s->cfg.access_log, strerror(errno));
    return -1;
  }
  setvbuf(s->log, NULL, _IOFBF, 1 << 16); /* flushed every second by the background thread */
  return 0;
}

/* SIGTERM: stop accepting, let requests in flight finish (up to drain_timeout).
 * Checks waiting on DNS answer at once from what is known, and no new check
 * waits: libmicrohttpd must not be stopped with a connection suspended. */
static void drain(struct srv *s) {
  atomic_store(&s->draining, 1);
  MHD_socket fd = MHD_quiesce_daemon(s->daemon);
  if (fd != MHD_INVALID_SOCKET)
    close(fd);
  if (s->dns)
    uc_dns_stop_waiting(s->dns);
  uint64_t deadline = srv_now_us() + (uint64_t)s->cfg.drain_timeout * 1000000u;
  while (srv_workers_inflight(s) > 0 && srv_now_us() < deadline)
    usleep(2000);
}

static int serve(struct srv *s, const struct sockaddr_storage *ss) {
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM), sigaddset(&sigs, SIGINT), sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* every thread started from here inherits it */
  signal(SIGPIPE, SIG_IGN);
  /* Before listening: batch_dir/tmp exists, and the tasks left processing are queued. */
  if (!(s->batch = srv_batch_start(s))) {
    fprintf(stderr, "usercleaning: cannot start the batch workers\n");
    return 1;
  }
  errno = 0;
  s->daemon = start_http(s, ss);
  if (!s->daemon) {
    int e = errno;
    fprintf(stderr, "usercleaning: cannot listen on %s: %s\n", s->cfg.listen,
            e                 ? strerror(e)
            : s->mhd_error[0] ? s->mhd_error
                              : "libmicrohttpd would not start");
    if (e == EADDRINUSE)
      fprintf(stderr, "usercleaning: another program (another usercleaning serve?) has that port; "
                      "choose another with --listen ADDR:PORT\n");
    srv_batch_stop(s->batch);
    s->batch = NULL;
    return 1;
  }
  atomic_store(&s->serving, 1);
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
  char host[128], base[160];
  snprintf(host, sizeof host, "%.*s", (int)(strrchr(s->cfg.listen, ':') - s->cfg.listen),
           s->cfg.listen);
  snprintf(base, sizeof base, "http://%s:%u", host, info ? info->port : 0);
  if (bootstrap(s, base) != UC_OK) {
    fprintf(stderr, "usercleaning: cannot create the default account\n");
    srv_batch_stop(s->batch);
    s->batch = NULL;
    MHD_stop_daemon(s->daemon);
    return 1;
  }
  srv_cache_reload(s->cache);
  uc_lists *l = uc_lists_holder_get(s->lists);
  char where[PATH_MAX];
  store_name(s, where, sizeof where);
  printf("usercleaning %s listening on %s (lists %s, store %s %s); dashboard: %s/dashboard/\n",
         UC_VERSION, base, uc_lists_version(l), uc_store_backend(s->store), where, base);
  uc_lists_unref(l);
  fflush(stdout);
  struct bg bg = {s, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
  pthread_t bg_thread;
  pthread_create(&bg_thread, NULL, background, &bg);
  srv_lists_start(s);
  for (int sig = 0; sig != SIGTERM && sig != SIGINT;) {
    if (sigwait(&sigs, &sig) == 0 && sig == SIGHUP)
      reload_lists(s);
  }
  fprintf(stderr, "usercleaning: stopping: draining %ld request(s)\n", srv_workers_inflight(s));
  drain(s);
  srv_batch_stop(s->batch); /* uploads held by the intake are answered first */
  s->batch = NULL;
  MHD_stop_daemon(s->daemon);
  srv_lists_stop(s);
  pthread_mutex_lock(&bg.lock);
  bg.stop = 1;
  pthread_cond_signal(&bg.wake);
  pthread_mutex_unlock(&bg.lock);
  pthread_join(bg_thread, NULL);
  int rc = uc_usage_flush(s->usage, s->store) || uc_bans_flush(s->bans) ||
                   uc_aliases_flush(s->aliases, (int64_t)time(NULL))
               ? 1
               : 0;
  if (rc) /* nothing counted is lost on a clean stop, unless the store refuses it */
    fprintf(stderr, "usercleaning: final flush of usage or ban counters failed\n");
  if (uc_activity_flush(s->activity, s->store)) /* the feed is best kept, not counted */
    fprintf(stderr, "usercleaning: final flush of the activity feed failed\n");
  return rc;
}

static void *infra_ref(void *f) {
  return uc_infra_ref(f);
}
static void infra_unref(void *f) {
  uc_infra_unref(f);
}

/* The resolver (unless --no-dns) and the fingerprints its answers are read with. */
static int start_dns(struct srv *s, char *err, size_t es) {
  struct uc_dns_config dc;
  uc_infra *f = NULL;
  int rc = uc_infra_open(s->cfg.infrastructure_curated, s->cfg.infrastructure, &f, err, es);
  if (rc)
    return rc;
  uc_pub_swap(&s->infra, f);
  if (!s->cfg.dns)
    return UC_OK;
  if ((rc = uc_config_dns(&s->cfg, &dc, err, es)) != UC_OK)
    return rc;
  return uc_dns_open(&dc, &s->dns, err, es);
}

/* Domain age (unless --no-domain-age): its cache lives in the store. */
static int start_rdap(struct srv *s, char *err, size_t es) {
  struct uc_rdap_config rc;
  if (!s->cfg.domain_age)
    return UC_OK;
  uc_config_rdap(&s->cfg, &rc);
  return uc_rdap_open(&rc, s->store, &s->rdap, err, es);
}

int srv_run(const struct uc_config *cfg) {
  struct srv *s = calloc(1, sizeof *s);
  char err[512], path[PATH_MAX];
  struct sockaddr_storage ss;
  uc_lists *l = NULL;
  int rc = 1;
  if (!s)
    return 1;
  s->cfg = *cfg;
  s->started = time(NULL);
  uc_pub_init(&s->infra, NULL, infra_ref, infra_unref);
  pthread_mutex_init(&s->log_lock, NULL);
  pthread_mutex_init(&s->workers_lock, NULL);
  pthread_mutex_init(&s->sync.lock, NULL);
  pthread_cond_init(&s->sync.wake, NULL);
  atomic_init(&s->sync.cancel, 0);
  pthread_mutex_init(&s->touch_lock, NULL);
  if (parse_listen(cfg->listen, &ss, err, sizeof err)) {
    fprintf(stderr, "usercleaning: %s\n", err);
    goto out;
  }
  uc_lists_path(cfg->lists, path, sizeof path);
  srv_lists_loaded(s); /* before the read: a file replaced meanwhile is loaded next */
  if (uc_lists_open(path, &l, err, sizeof err) != UC_OK) {
    fprintf(stderr, "usercleaning: cannot load lists: %s\n", err);
    goto out;
  }
  s->lists = uc_lists_holder_new(l);
  if (uc_store_open(cfg->store, UC_STORE_CREATE, &s->store, err, sizeof err) != UC_OK) {
    fprintf(stderr, "usercleaning: store: %s\n", err);
    goto out;
  }
  if (uc_bans_open(s->store, cfg->ban_memory, &s->bans, err, sizeof err) != UC_OK) {
    fprintf(stderr, "usercleaning: %s\n", err);
    goto out;
  }
  if (cfg->activity_accounts && !(s->activity = uc_activity_new(cfg->activity_accounts))) {
    fprintf(stderr, "usercleaning: out of memory\n");
    goto out;
  }
  s->admin = (struct uc_admin){s->store, s->bans, s->activity};
  if (uc_aliases_open(s->store, 0, &s->aliases, err, sizeof err) != UC_OK) {
    fprintf(stderr, "usercleaning: %s\n", err);
    goto out;
  }
  if (start_dns(s, err, sizeof err) != UC_OK || start_rdap(s, err, sizeof err) != UC_OK) {
    fprintf(stderr, "usercleaning: %s\n", err);
    goto out;
  }
  s->cache = srv_cache_new(s->store);
  s->usage = uc_usage_new();
  s->rate = uc_ratelimit_new(s->store, 0);
  if (!s->lists || !s->cache || !s->usage || !s->rate || open_log(s))
    goto out;
  rc = serve(s, &ss);
out:
  if (s->log && s->log != stdout)
    fclose(s->log);
  else if (s->log)
    fflush(s->log);
  srv_workers_free(s); /* their references to views and lists go first */
  srv_lists_stop(s);
  uc_rdap_free(s->rdap);
  uc_dns_free(s->dns);
  uc_pub_release(&s->infra);
  uc_usage_free(s->usage);
  uc_ratelimit_free(s->rate);
  uc_bans_free(s->bans);
  uc_aliases_free(s->aliases);
  uc_activity_free(s->activity);
  srv_cache_free(s->cache);
  uc_store_close(s->store);
  if (s->lists)
    uc_lists_holder_free(s->lists);
  else
    uc_lists_unref(l);
  pthread_mutex_destroy(&s->log_lock);
  pthread_mutex_destroy(&s->workers_lock);
  pthread_mutex_destroy(&s->sync.lock);
  pthread_cond_destroy(&s->sync.wake);
  pthread_mutex_destroy(&s->touch_lock);
  free(s);
  return rc;
}
