/* The list snapshot on disk while serving: reloads (SIGHUP, a new file seen
 * by the background thread, the scheduled update), the sync state shown by
 * /metrics and the dashboard, and the scheduled `lists update`. Requests
 * never wait for any of it: a reload publishes a new snapshot that each
 * thread picks up on its next request (docs/internals/holder.md). */
#include "server.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static struct srv_file_sig sig_of(const char *path) {
  struct stat st;
  struct srv_file_sig g = {0};
  if (stat(path, &st) != 0)
    return g;
  g.dev = (unsigned long long)st.st_dev, g.ino = (unsigned long long)st.st_ino;
  g.size = (unsigned long long)st.st_size;
  g.mtime_ns = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
  g.exists = 1;
  return g;
}

static int sig_eq(const struct srv_file_sig *a, const struct srv_file_sig *b) {
  return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
         a->mtime_ns == b->mtime_ns;
}

/* With the lock held: the state beside the snapshot again, when it changed. */
static void read_state(struct srv *s, const char *snapshot) {
  char path[PATH_MAX], err[512];
  uc_sync_state *st = NULL;
  if (uc_sync_path(snapshot, "sync.json", path, sizeof path))
    return;
  struct srv_file_sig g = sig_of(path);
  if (sig_eq(&g, &s->sync.state_sig) && s->sync.state)
    return;
  s->sync.state_sig = g;
  if (uc_sync_state_load(snapshot, &st, err, sizeof err) != UC_OK) {
    fprintf(stderr, "usercleaning: lists: %s\n", err);
    return; /* the last good one stays */
  }
  uc_sync_state_free(s->sync.state);
  s->sync.state = st;
}

int srv_lists_reload(struct srv *s, const char *why, int force) {
  char path[PATH_MAX], err[512];
  uc_lists *l = NULL;
  int ret = -1;
  uc_lists_path(s->cfg.lists, path, sizeof path);
  pthread_mutex_lock(&s->sync.lock);
  struct srv_file_sig g = sig_of(path); /* before the read: a later change is seen next time */
  if (sig_eq(&g, &s->sync.refused)) {   /* that version did not open: it will not now */
    if (force)
      fprintf(stderr, "usercleaning: %s: keeping the lists in use: %s was refused before\n", why,
              path);
  } else if (force || !sig_eq(&g, &s->sync.loaded)) {
    if (uc_lists_open(path, &l, err, sizeof err) != UC_OK) {
      s->sync.refused = g;
      atomic_fetch_add(&s->reload_failures, 1);
      fprintf(stderr, "usercleaning: %s: keeping the lists in use: %s\n", why, err);
      ret = 0;
    } else {
      s->sync.loaded = g;
      fprintf(stderr, "usercleaning: %s: lists %s loaded from %s\n", why, uc_lists_version(l),
              path);
      uc_lists_holder_swap(s->lists, l); /* requests move to it on their next check */
      atomic_fetch_add(&s->reloads, 1);
      ret = 1;
    }
  }
  read_state(s, path);
  pthread_mutex_unlock(&s->sync.lock);
  return ret;
}

void srv_lists_loaded(struct srv *s) {
  char path[PATH_MAX];
  uc_lists_path(s->cfg.lists, path, sizeof path);
  pthread_mutex_lock(&s->sync.lock);
  s->sync.loaded = sig_of(path);
  read_state(s, path);
  pthread_mutex_unlock(&s->sync.lock);
}

void srv_lists_watch(struct srv *s) {
  srv_lists_reload(s, "lists changed on disk", 0);
}

char *srv_lists_status(struct srv *s) {
  uc_lists *l = uc_lists_holder_get(s->lists);
  pthread_mutex_lock(&s->sync.lock);
  char *json = uc_sync_status_json(l, s->sync.state);
  pthread_mutex_unlock(&s->sync.lock);
  uc_lists_unref(l);
  return json;
}

/* ---- the schedule ---- */

static void log_report(const struct uc_sync_report *rep) {
  for (int i = 0; i < rep->nsrc; i++) {
    const struct uc_sync_source_report *r = &rep->src[i];
    if (r->has_url)
      fprintf(stderr, "usercleaning: lists update: %s: %s, %zu entries (+%zu -%zu)%s%s\n", r->name,
              uc_sync_outcome_name(r->outcome), r->entries, r->added, r->removed,
              r->message[0] ? ": " : "", r->message);
  }
}

static void run_update(struct srv *s) {
  struct uc_sync_opts o;
  struct uc_sync_report *rep = malloc(sizeof *rep);
  char path[PATH_MAX], err[512];
  if (!rep)
    return;
  uc_config_sync(&s->cfg, &o);
  o.cancel = &s->sync.cancel;
  uc_lists_path(s->cfg.lists, path, sizeof path);
  int rc = uc_lists_update(s->cfg.lists_sources, path, &o, rep, err, sizeof err);
  atomic_store(&s->sync.last_update_at, (int64_t)time(NULL));
  if (rc) {
    atomic_fetch_add(&s->sync.updates_failed, 1);
    fprintf(stderr, "usercleaning: lists update: %s\n", err);
  } else {
    atomic_fetch_add(uc_sync_report_problems(rep) ? &s->sync.updates_failed : &s->sync.updates_ok,
                     1);
    log_report(rep);
  }
  srv_lists_reload(s, "lists update", 0); /* a rebuilt snapshot, and the state in any case */
  free(rep);
}

/* Runs an update at start and then every lists_update_interval seconds. */
static void *scheduler(void *arg) {
  struct srv *s = arg;
  pthread_mutex_lock(&s->sync.lock);
  while (!s->sync.stop) {
    pthread_mutex_unlock(&s->sync.lock);
    run_update(s);
    pthread_mutex_lock(&s->sync.lock);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += s->cfg.lists_update_interval;
    while (!s->sync.stop && pthread_cond_timedwait(&s->sync.wake, &s->sync.lock, &until) == 0)
      ;
  }
  pthread_mutex_unlock(&s->sync.lock);
  return NULL;
}

int srv_lists_start(struct srv *s) {
  if (!s->cfg.lists_update_interval)
    return 0;
  if (pthread_create(&s->sync.thread, NULL, scheduler, s) != 0) {
    fprintf(stderr, "usercleaning: cannot start the lists update: %s\n", strerror(errno));
    return -1;
  }
  s->sync.running = 1;
  return 0;
}

void srv_lists_stop(struct srv *s) {
  if (s->sync.running) {
    atomic_store(&s->sync.cancel, 1); /* a fetch in flight gives up */
    pthread_mutex_lock(&s->sync.lock);
    s->sync.stop = 1;
    pthread_cond_signal(&s->sync.wake);
    pthread_mutex_unlock(&s->sync.lock);
    pthread_join(s->sync.thread, NULL);
    s->sync.running = 0;
  }
  uc_sync_state_free(s->sync.state);
  s->sync.state = NULL;
}
