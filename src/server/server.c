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
void *srv_on_uri(void *cls, const char *uri, struct MHD_Connection *c);

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

/* ---- threads besides libmicrohttpd's ----
 *
 * tick:   every 100 ms, memory only, never waits for the store: ends
 *         connections past their deadline or for room, ends ban waits past
 *         theirs, flushes the access log.
 * store:  everything that reads or writes the store in the background: new
 *         bans (at once when one is made), other processes' changes (every
 *         100 ms), usage, ban counts and alias memory (every flush_interval).
 *         A store locked for seconds holds up this thread only.
 * jobs:   srv_defer's queue (admin requests), one at a time. */

struct loop {
  struct srv *s;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  int stop, joined;
  pthread_t thread;
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

/* Sleeps up to ms or until woken; 0 when the loop must stop. */
static int loop_wait(struct loop *l, unsigned ms, int *due) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_nsec += (long)ms * 1000000L;
  until.tv_sec += until.tv_nsec / 1000000000L;
  until.tv_nsec %= 1000000000L;
  pthread_mutex_lock(&l->lock);
  while (!l->stop && !(due && *due) && pthread_cond_timedwait(&l->wake, &l->lock, &until) == 0)
    ;
  if (due)
    *due = 0;
  int go = !l->stop;
  pthread_mutex_unlock(&l->lock);
  return go;
}

/* Stops the loop and waits for its thread; again is harmless. */
static void loop_stop(struct loop *l) {
  if (l->joined)
    return;
  pthread_mutex_lock(&l->lock);
  l->stop = 1;
  pthread_cond_broadcast(&l->wake);
  pthread_mutex_unlock(&l->lock);
  pthread_join(l->thread, NULL);
  l->joined = 1;
}

/* Says something about a condition at most once a second. */
static int once_a_second(time_t *last) {
  time_t now = time(NULL);
  if (now == *last)
    return 0;
  *last = now;
  return 1;
}

static void *tick(void *arg) {
  struct loop *l = arg;
  struct srv *s = l->s;
  unsigned ticks = 0;
  time_t said = 0;
  size_t gave_up = 0;
  while (loop_wait(l, 100, NULL)) {
    srv_conns_tick(s->conns);
    gave_up += uc_bans_expire(s->bans, uc_bans_now_ms());
    if (gave_up && once_a_second(&said)) {
      fprintf(stderr,
              "usercleaning: %zu answer(s) gave up waiting for their ban to be stored "
              "(ban_write_timeout); the bans stay in memory and are retried\n",
              gave_up);
      gave_up = 0;
    }
    if (s->log && ++ticks % 10 == 0) {
      pthread_mutex_lock(&s->log_lock);
      fflush(s->log);
      pthread_mutex_unlock(&s->log_lock);
    }
  }
  return NULL;
}

/* uc_bans' cue: a ban waits to be stored. */
static void ban_made(void *arg) {
  struct loop *l = arg;
  pthread_mutex_lock(&l->lock);
  l->s->store_due = 1;
  pthread_cond_signal(&l->wake);
  pthread_mutex_unlock(&l->lock);
}

/* Writes the bans made since last time; says so when the store refuses. */
static void store_bans(struct srv *s, time_t *said, int *failing) {
  struct uc_bans_stats st;
  uc_bans_stats(s->bans, &st);
  if (!st.unstored)
    return;
  int rc = uc_bans_store(s->bans);
  if (rc && once_a_second(said)) {
    char why[256];
    uc_store_error(s->store, rc, why, sizeof why);
    fprintf(stderr, "usercleaning: %zu ban(s) not stored yet: %s; kept in memory, retrying\n",
            st.unstored, why);
  } else if (!rc && *failing) {
    fprintf(stderr, "usercleaning: the store took the waiting ban(s) again\n");
  }
  *failing = rc != UC_OK;
}

static void *store(void *arg) {
  struct loop *l = arg;
  struct srv *s = l->s;
  uint64_t next_flush = srv_now_us() + (uint64_t)s->cfg.flush_interval * 1000000u;
  uint64_t next_second = srv_now_us() + 1000000u;
  char last_rdap_error[256] = "";
  time_t said = 0;
  int failing = 0, last_denying = -1;
  while (loop_wait(l, 100, &s->store_due)) {
    store_bans(s, &said, &failing); /* first: answers wait for these */
    follow_store(s);
    if (srv_now_us() >= next_second) {
      next_second = srv_now_us() + 1000000u;
      srv_lists_watch(s); /* a snapshot replaced on disk is served within a second */
      note_rdap(s, last_rdap_error, sizeof last_rdap_error);
      note_dns(s, &last_denying);
    }
    if (srv_now_us() < next_flush && !uc_bans_flush_wanted(s->bans))
      continue;
    next_flush = srv_now_us() + (uint64_t)s->cfg.flush_interval * 1000000u;
    if (uc_usage_flush(s->usage, s->store))
      fprintf(stderr, "usercleaning: usage flush failed; will retry\n");
    if (uc_bans_flush(s->bans))
      fprintf(stderr, "usercleaning: ban counters flush failed; will retry\n");
    if (uc_aliases_flush(s->aliases, (int64_t)time(NULL)))
      fprintf(stderr, "usercleaning: alias memory flush failed; will retry\n");
    if (uc_activity_flush(s->activity, s->store))
      fprintf(stderr, "usercleaning: activity feed flush failed; will retry\n");
  }
  return NULL;
}

struct job {
  void (*fn)(void *arg);
  void *arg;
  struct job *next;
};

struct srv_jobs {
  struct loop loop;
  struct job *head, **tail;
};

static void *jobs(void *arg) {
  struct srv_jobs *q = arg;
  pthread_mutex_lock(&q->loop.lock);
  for (;;) {
    while (!q->head && !q->loop.stop)
      pthread_cond_wait(&q->loop.wake, &q->loop.lock);
    struct job *j = q->head;
    if (!j)
      break;
    if (!(q->head = j->next))
      q->tail = &q->head;
    pthread_mutex_unlock(&q->loop.lock);
    j->fn(j->arg);
    free(j);
    pthread_mutex_lock(&q->loop.lock);
  }
  pthread_mutex_unlock(&q->loop.lock);
  return NULL;
}

int srv_defer(struct srv *s, void (*fn)(void *arg), void *arg) {
  struct srv_jobs *q = s->jobs;
  struct job *j = q ? malloc(sizeof *j) : NULL;
  if (!j)
    return -1;
  *j = (struct job){fn, arg, NULL};
  pthread_mutex_lock(&q->loop.lock);
  int ok = !q->loop.stop;
  if (ok) {
    *q->tail = j, q->tail = &j->next;
    pthread_cond_signal(&q->loop.wake);
  }
  pthread_mutex_unlock(&q->loop.lock);
  if (!ok)
    free(j);
  return ok ? 0 : -1;
}

static int loop_start(struct loop *l, struct srv *s, void *(*fn)(void *)) {
  l->s = s;
  pthread_mutex_init(&l->lock, NULL);
  pthread_cond_init(&l->wake, NULL);
  l->stop = l->joined = 0;
  return pthread_create(&l->thread, NULL, fn, l);
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

/* libmicrohttpd's own limit on a request's head is the connection's memory
 * pool; it answers an overflow with its HTML 414/431. The pool is twice
 * header_limit, so that every head up to that size reaches us and gets the
 * JSON 431/414 (http.c); only heads past it get libmicrohttpd's page. */
static size_t pool_size(const struct uc_config *cfg) {
  return (size_t)cfg->header_limit * 2 + 4096;
}

static struct MHD_Daemon *start_http(struct srv *s, const struct sockaddr_storage *ss) {
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_TURBO |
                   MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME |
                   (ss->ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
  return MHD_start_daemon(
      flags, 0, srv_conns_accept, s->conns, srv_on_request, s, MHD_OPTION_SOCK_ADDR,
      (const struct sockaddr *)ss, MHD_OPTION_THREAD_POOL_SIZE, s->nthreads,
      MHD_OPTION_CONNECTION_LIMIT, s->cfg.max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
      s->cfg.idle_timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool_size(&s->cfg),
      MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_URI_LOG_CALLBACK, srv_on_uri, s,
      MHD_OPTION_NOTIFY_COMPLETED, srv_on_completed, s, MHD_OPTION_NOTIFY_CONNECTION,
      srv_on_connection, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s, MHD_OPTION_END);
}

/* trusted_proxies ("10.0.0.1,192.168.0.0/16") into s->trusted. */
static int parse_trusted(struct srv *s, char *err, size_t es) {
  char list[sizeof s->cfg.trusted_proxies], *save = NULL;
  snprintf(list, sizeof list, "%s", s->cfg.trusted_proxies);
  for (char *t = strtok_r(list, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
    if (s->ntrusted == UC_TRUSTED_MAX)
      return uc_errorf(err, es, UC_EINVAL, "trusted_proxies: at most %d entries", UC_TRUSTED_MAX);
    if (uc_cidr_parse(t, &s->trusted[s->ntrusted], NULL) != UC_OK)
      return uc_errorf(err, es, UC_EINVAL,
                       "trusted_proxies: '%s' is not an IP address or CIDR range", t);
    s->ntrusted++;
  }
  return UC_OK;
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
 * waits: libmicrohttpd must not be stopped with a connection suspended.
 * Returns the listening socket, which is ours to close once the daemon has
 * stopped: a worker thread that saw the quiesce late still removes it from
 * its epoll set, and libmicrohttpd (0.9.75) takes any failure of that but
 * ENOENT as fatal, so closing it here aborted the server now and then
 * (EBADF). Shut down, it refuses new connections all the same. */
static MHD_socket drain(struct srv *s) {
  atomic_store(&s->draining, 1);
  MHD_socket fd = MHD_quiesce_daemon(s->daemon);
  if (fd != MHD_INVALID_SOCKET)
    shutdown(fd, SHUT_RDWR);
  if (s->dns)
    uc_dns_stop_waiting(s->dns);
  uc_bans_expire(s->bans, INT64_MAX); /* see below */
  uint64_t deadline = srv_now_us() + (uint64_t)s->cfg.drain_timeout * 1000000u;
  while (srv_workers_inflight(s) > 0 && srv_now_us() < deadline)
    usleep(2000);
  /* Nor with an admin request or a ban's wait suspended: the jobs thread
   * runs what is queued and ends (later ones run where they arrive), and
   * answers still waiting for a ban's write go out without announcing it
   * (new ones no longer wait: draining). */
  if (s->jobs)
    loop_stop(&s->jobs->loop);
  uc_bans_expire(s->bans, INT64_MAX);
  deadline = srv_now_us() + 2000000u;
  while (srv_workers_inflight(s) > 0 && srv_now_us() < deadline)
    usleep(2000);
  return fd;
}

/* After the daemon stopped: what is only in memory goes to the store. */
static int final_writes(struct srv *s) {
  struct uc_bans_stats st;
  uc_bans_stats(s->bans, &st);
  int rc = (st.unstored && uc_bans_store(s->bans)) || uc_usage_flush(s->usage, s->store) ||
                   uc_bans_flush(s->bans) || uc_aliases_flush(s->aliases, (int64_t)time(NULL))
               ? 1
               : 0;
  uc_bans_stats(s->bans, &st);
  if (st.unstored) /* never silently: these bans were made and could not be kept */
    fprintf(stderr, "usercleaning: %zu ban(s) could not be stored before stopping\n", st.unstored);
  if (rc) /* nothing counted is lost on a clean stop, unless the store refuses it */
    fprintf(stderr, "usercleaning: final flush of usage or ban counters failed\n");
  if (uc_activity_flush(s->activity, s->store)) /* the feed is best kept, not counted */
    fprintf(stderr, "usercleaning: final flush of the activity feed failed\n");
  return rc;
}

/* Serves until SIGTERM/SIGINT, then drains and stops the daemon. */
static int run_daemon(struct srv *s, const struct sockaddr_storage *ss, sigset_t *sigs) {
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
  srv_lists_start(s);
  for (int sig = 0; sig != SIGTERM && sig != SIGINT;) {
    if (sigwait(sigs, &sig) == 0 && sig == SIGHUP)
      reload_lists(s);
  }
  fprintf(stderr, "usercleaning: stopping: draining %ld request(s)\n", srv_workers_inflight(s));
  MHD_socket listen_fd = drain(s);
  srv_batch_stop(s->batch); /* uploads held by the intake are answered first */
  s->batch = NULL;
  MHD_stop_daemon(s->daemon);
  if (listen_fd != MHD_INVALID_SOCKET)
    close(listen_fd);
  srv_lists_stop(s);
  return 0;
}

/* The threads around the HTTP daemon: started before it, stopped after it. */
static int serve(struct srv *s, const struct sockaddr_storage *ss) {
  struct loop tick_loop, store_loop;
  struct srv_jobs q = {.head = NULL};
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM), sigaddset(&sigs, SIGINT), sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* every thread started from here inherits it */
  signal(SIGPIPE, SIG_IGN);
  q.tail = &q.head;
  s->jobs = &q;
  uc_bans_notify(s->bans, ban_made, &store_loop);
  if (loop_start(&tick_loop, s, tick) || loop_start(&store_loop, s, store) ||
      loop_start(&q.loop, s, jobs)) {
    fprintf(stderr, "usercleaning: cannot start the server's threads\n");
    exit(1);
  }
  int rc = run_daemon(s, ss, &sigs);
  loop_stop(&q.loop); /* after the daemon: no request is left to defer */
  s->jobs = NULL;
  loop_stop(&store_loop);
  loop_stop(&tick_loop);
  uc_bans_notify(s->bans, NULL, NULL);
  return rc ? rc : final_writes(s);
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
  if (parse_listen(cfg->listen, &ss, err, sizeof err) || parse_trusted(s, err, sizeof err)) {
    fprintf(stderr, "usercleaning: %s\n", err);
    goto out;
  }
  s->nthreads = cfg->threads ? cfg->threads : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
  s->nthreads = s->nthreads ? s->nthreads : 1;
  if (!(s->conns = srv_conns_new(cfg, s->trusted, s->ntrusted, s->nthreads)))
    goto out;
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
  srv_conns_free(s->conns);
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
