/* The server's batch machinery: worker threads that run tasks at low
 * priority (never on an HTTP thread), the intake thread that makes uploads
 * durable before they are answered, and who runs what: a worker claims a
 * task in the store before it runs it. On a shared store (several servers,
 * one batch_dir) the keeper thread renews the claims of the tasks this server
 * runs and adopts tasks nobody holds (uploads waiting, tasks of a server that
 * died) when a worker is idle; on a store only this server uses, the tasks
 * found processing at start-up run again (docs/internals/batch.md). */
#include "http.h"

#include <dirent.h>
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define STALE_PARTS 3600 /* seconds: an upload part untouched this long was abandoned */
#define ADOPT_LOOK 64    /* tasks looked at per adoption */

struct task_id {
  char id[UC_BATCH_ID_LEN + 1];
  char from[UC_BATCH_OWNER_MAX + 1]; /* the owner whose lease ended; "" */
};

struct intake_job {
  void (*fn)(void *arg);
  void *arg;
};

/* One worker: the task it runs (its claim's owner name is its own). */
struct slot {
  struct srv_batch *b;
  char owner[UC_BATCH_OWNER_MAX + 1]; /* INSTANCE/wN */
  char id[UC_BATCH_ID_LEN + 1];       /* "" while idle; under b->lock */
  _Atomic int stop;                   /* the server stops, or the task was lost */
  _Atomic int lost;                   /* the keeper could not renew the claim */
  pthread_t thread;
};

struct srv_batch {
  struct srv *s;
  pthread_mutex_t lock;
  pthread_mutex_t claims; /* a renewal and a release never cross (see release) */
  pthread_cond_t work, intake, keep;
  struct uc_buf tasks; /* struct task_id, first in first out from head */
  size_t head;
  struct uc_buf jobs; /* struct intake_job */
  _Atomic int stop;
  struct slot *slots;
  unsigned nworkers;
  unsigned lease_ms; /* 0: a store only this server uses (no keeper) */
  pthread_t intake_thread, keeper;
  int intake_started, keeper_started;
  char instance[UC_BATCH_OWNER_MAX - 8]; /* host:pid:nonce, in owner names and logs */
  time_t warned_at;                      /* of the last "upload not here" warning */
  _Atomic uint64_t completed, failed, rows, taken_over, lost;
};

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void enqueue(struct srv_batch *b, const char *id, const char *from) {
  struct task_id t;
  snprintf(t.id, sizeof t.id, "%s", id);
  snprintf(t.from, sizeof t.from, "%s", from);
  pthread_mutex_lock(&b->lock);
  if (b->head && b->head == UC_BUF_COUNT(&b->tasks, struct task_id))
    uc_buf_reset(&b->tasks), b->head = 0;
  if (uc_buf_add(&b->tasks, &t, sizeof t) != UC_OK) /* runs at the next start-up, or adopted */
    fprintf(stderr, "usercleaning: batch queue full; task %s waits\n", id);
  pthread_cond_signal(&b->work);
  pthread_mutex_unlock(&b->lock);
}

void srv_batch_enqueue(struct srv_batch *b, const char *id) {
  enqueue(b, id, "");
}

/* With b->lock held: whether a worker runs id. */
static int running(const struct srv_batch *b, const char *id) {
  for (unsigned i = 0; i < b->nworkers; i++)
    if (strcmp(b->slots[i].id, id) == 0)
      return 1;
  return 0;
}

/* The next task id for w, waiting for one; 0 when stopping. An id another
 * worker runs already is passed over (an upload adopted twice). */
static int next_task(struct slot *w, struct task_id *out) {
  struct srv_batch *b = w->b;
  int got = 0;
  pthread_mutex_lock(&b->lock);
  w->id[0] = 0;
  while (!got) {
    while (!atomic_load(&b->stop) && b->head == UC_BUF_COUNT(&b->tasks, struct task_id))
      pthread_cond_wait(&b->work, &b->lock);
    if (atomic_load(&b->stop))
      break;
    *out = UC_BUF_AT(&b->tasks, struct task_id, b->head++);
    got = !running(b, out->id);
  }
  if (got) {
    memcpy(w->id, out->id, sizeof w->id);
    atomic_store(&w->stop, 0), atomic_store(&w->lost, 0);
  }
  pthread_mutex_unlock(&b->lock);
  return got;
}

/* Gives w's task up in the store: the slot is emptied first, under the lock
 * the keeper renews under, so that a renewal already on its way cannot claim
 * the task again after the release (it would then wait for the lease). */
static void release(struct slot *w, const char *id) {
  struct srv_batch *b = w->b;
  pthread_mutex_lock(&b->claims);
  pthread_mutex_lock(&b->lock);
  w->id[0] = 0;
  pthread_mutex_unlock(&b->lock);
  uc_store_batch_release(b->s->store, id, w->owner);
  pthread_mutex_unlock(&b->claims);
}

/* Why a run ended, for operators (a finished task says nothing). */
static void ran(struct slot *w, const struct uc_batch_rec *t, int rc) {
  struct srv_batch *b = w->b;
  char why[300];
  if (rc == UC_OK) {
    atomic_fetch_add(t->status == UC_BATCH_COMPLETED ? &b->completed : &b->failed, 1);
    atomic_fetch_add(&b->rows, t->counts.rows_done);
  } else if (rc == UC_EBUSY || (rc == UC_ECANCELED && atomic_load(&w->lost))) {
    atomic_fetch_add(&b->lost, 1);
    fprintf(stderr,
            "usercleaning: batch task %s: another server took it over (this one could not renew "
            "its claim within batch_lease); stopped here\n",
            t->id);
  } else if (rc == UC_ECANCELED) { /* stopping (or deleted): another server may take it at once */
    if (atomic_load(&b->stop))
      release(w, t->id);
  } else {
    uc_store_error(b->s->store, rc, why, sizeof why);
    fprintf(stderr, "usercleaning: batch task %s: %s; it runs again %s\n", t->id, why,
            b->lease_ms ? "on the next free worker" : "at the next start-up");
    release(w, t->id);
  }
}

/* Claims one task and runs it with the account's policy as it is now, the
 * lists and (when the server has DNS and batch_dns is on) the resolver: this
 * thread may wait. */
static void run_one(struct slot *w, const struct task_id *id) {
  struct srv_batch *b = w->b;
  struct srv *s = b->s;
  struct uc_batch_rec t;
  const struct srv_account *acc = NULL;
  char why[300];
  int rc = uc_store_batch_claim(s->store, id->id, w->owner, wall_ms(), b->lease_ms, &t);
  if (rc == UC_EBUSY || rc == UC_ENOTFOUND)
    return; /* another server's, finished, or deleted */
  if (rc) {
    uc_store_error(s->store, rc, why, sizeof why);
    fprintf(stderr, "usercleaning: batch task %s cannot be claimed: %s\n", id->id, why);
    return;
  }
  if (id->from[0]) {
    atomic_fetch_add(&b->taken_over, 1);
    fprintf(stderr, "usercleaning: batch task %s: taken over from %s (its claim ran out)\n", id->id,
            id->from);
  }
  void *view = srv_cache_account(s->cache, t.account_id, &acc);
  uc_lists *l = uc_lists_holder_get(s->lists);
  uc_infra *infra = uc_pub_get(&s->infra);
  struct uc_policy defaults;
  uc_policy_init(&defaults);
  struct uc_batch_checker k = {l,
                               acc ? &acc->policy : &defaults,
                               s->cfg.batch_dns ? s->dns : NULL,
                               infra,
                               s->cfg.dns_timeout,
                               t.key_type == UC_KEY_SANDBOX};
  ran(w, &t, uc_batch_task_run(s->store, s->cfg.batch_dir, &t, &k, &w->stop));
  uc_infra_unref(infra);
  uc_lists_unref(l);
  srv_view_release(view);
}

static void *worker(void *arg) {
  struct slot *w = arg;
  struct task_id t;
  /* Below the HTTP threads: batch work takes what checks leave. */
  setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
  while (next_task(w, &t)) {
    run_one(w, &t);
    pthread_cond_signal(&w->b->keep); /* idle: the keeper may adopt a task */
  }
  return NULL;
}

int srv_batch_intake(struct srv_batch *b, void (*fn)(void *arg), void *arg) {
  struct intake_job j = {fn, arg};
  pthread_mutex_lock(&b->lock);
  int rc = atomic_load(&b->stop) ? UC_EUNAVAILABLE : uc_buf_add(&b->jobs, &j, sizeof j);
  pthread_cond_signal(&b->intake);
  pthread_mutex_unlock(&b->lock);
  return rc;
}

/* Runs the jobs in order; those left at a stop still run (they hold requests). */
static void *intake(void *arg) {
  struct srv_batch *b = arg;
  pthread_mutex_lock(&b->lock);
  for (;;) {
    while (!atomic_load(&b->stop) && b->jobs.len == 0)
      pthread_cond_wait(&b->intake, &b->lock);
    if (b->jobs.len == 0)
      break;
    struct intake_job j = UC_BUF_AT(&b->jobs, struct intake_job, 0);
    memmove(b->jobs.data, b->jobs.data + sizeof j, b->jobs.len - sizeof j);
    b->jobs.len -= sizeof j;
    pthread_mutex_unlock(&b->lock);
    j.fn(j.arg);
    pthread_mutex_lock(&b->lock);
  }
  pthread_mutex_unlock(&b->lock);
  return NULL;
}

/* ---- the keeper (shared stores): renewing claims, adopting free tasks ---- */

/* Renews the claim of every task a worker runs; a claim that cannot be
 * renewed because another server holds the task (or it is gone) stops its
 * run at the next row. A store that does not answer changes nothing: the
 * run's own writes are refused if the task moves meanwhile. */
static void renew(struct srv_batch *b) {
  for (unsigned i = 0; i < b->nworkers; i++) {
    struct slot *w = &b->slots[i];
    char id[UC_BATCH_ID_LEN + 1];
    pthread_mutex_lock(&b->claims);
    pthread_mutex_lock(&b->lock);
    memcpy(id, w->id, sizeof id);
    pthread_mutex_unlock(&b->lock);
    if (!id[0] || atomic_load(&b->stop)) {
      pthread_mutex_unlock(&b->claims);
      continue;
    }
    struct uc_batch_rec t;
    int rc = uc_store_batch_claim(b->s->store, id, w->owner, wall_ms(), b->lease_ms, NULL);
    if (rc == UC_ENOTFOUND && uc_store_batch_get(b->s->store, 0, id, &t) == UC_OK &&
        strcmp(t.owner, w->owner) != 0)
      rc = UC_EBUSY; /* finished by the server that took it over */
    pthread_mutex_lock(&b->lock);
    if ((rc == UC_EBUSY || rc == UC_ENOTFOUND) && strcmp(w->id, id) == 0) /* still that run */
      atomic_store(&w->lost, rc == UC_EBUSY), atomic_store(&w->stop, 1);
    pthread_mutex_unlock(&b->lock);
    pthread_mutex_unlock(&b->claims);
  }
}

struct adopt {
  struct srv_batch *b;
  unsigned want; /* idle workers */
  struct task_id ids[ADOPT_LOOK];
  unsigned n;
  int missing; /* tasks whose upload this server cannot see */
};

/* A free task this server can run: its upload is in our batch_dir (with a
 * batch_dir that is not shared, only the server that took the upload can). */
static int consider(void *arg, const struct uc_batch_rec *t) {
  struct adopt *a = arg;
  char path[4096];
  if (uc_batch_task_file(a->b->s->cfg.batch_dir, t, 0, path, sizeof path) != UC_OK ||
      access(path, R_OK) != 0) {
    a->missing++;
    return 0;
  }
  snprintf(a->ids[a->n].id, sizeof a->ids[a->n].id, "%s", t->id);
  snprintf(a->ids[a->n].from, sizeof a->ids[a->n].from, "%s", t->owner);
  return ++a->n == a->want;
}

/* With idle workers and nothing queued: the oldest tasks nobody holds. */
static void adopt(struct srv_batch *b) {
  struct adopt a;
  memset(&a, 0, sizeof a);
  a.b = b;
  pthread_mutex_lock(&b->lock);
  for (unsigned i = 0; i < b->nworkers; i++)
    a.want += !b->slots[i].id[0];
  if (b->head != UC_BUF_COUNT(&b->tasks, struct task_id))
    a.want = 0; /* the queue comes first */
  pthread_mutex_unlock(&b->lock);
  if (!a.want)
    return;
  int rc = uc_store_batch_stale(b->s->store, wall_ms(), ADOPT_LOOK, consider, &a);
  if (rc == UC_OK && a.missing && time(NULL) - b->warned_at >= 60) {
    b->warned_at = time(NULL);
    fprintf(stderr,
            "usercleaning: warning: %d batch task(s) wait whose upload is not in this server's "
            "batch_dir (%s): give every server the same batch_dir (docs/deploy.md)\n",
            a.missing, b->s->cfg.batch_dir);
  }
  for (unsigned i = 0; i < a.n; i++)
    enqueue(b, a.ids[i].id, a.ids[i].from);
}

static void *keeper(void *arg) {
  struct srv_batch *b = arg;
  unsigned tick = b->lease_ms / 3 < 1000 ? b->lease_ms / 3 : 1000;
  pthread_mutex_lock(&b->lock);
  while (!atomic_load(&b->stop)) {
    pthread_mutex_unlock(&b->lock);
    renew(b);
    adopt(b);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += (long)tick * 1000000;
    until.tv_sec += until.tv_nsec / 1000000000, until.tv_nsec %= 1000000000;
    pthread_mutex_lock(&b->lock);
    if (!atomic_load(&b->stop)) /* a worker going idle wakes it early */
      pthread_cond_timedwait(&b->keep, &b->lock, &until);
  }
  pthread_mutex_unlock(&b->lock);
  return NULL;
}

/* ---- start-up ---- */

/* Uploads cut short by a stop never became tasks: their parts go. With a
 * shared batch_dir, another server may be receiving one right now: only
 * parts nobody wrote to for an hour go then. */
static void clear_parts(const char *root, int shared) {
  char dir[4096], path[4096 + 256];
  struct stat sb;
  snprintf(dir, sizeof dir, "%s/tmp", root);
  DIR *d = opendir(dir);
  struct dirent *e;
  while (d && (e = readdir(d)))
    if (e->d_name[0] != '.' && snprintf(path, sizeof path, "%s/%s", dir, e->d_name) > 0 &&
        (!shared || (stat(path, &sb) == 0 && time(NULL) - sb.st_mtime > STALE_PARTS)))
      unlink(path);
  if (d)
    closedir(d);
  if (uc_batch_mkdirs(dir) != UC_OK)
    fprintf(stderr, "usercleaning: batch_dir %s: cannot create %s: %s\n", root, dir,
            strerror(errno));
}

struct recover {
  struct srv_batch *b;
  struct uc_buf ids; /* struct task_id, newest first */
};

static int collect(void *arg, const struct uc_batch_rec *t) {
  struct recover *r = arg;
  struct task_id id = {"", ""};
  if (t->status != UC_BATCH_PROCESSING)
    return 0;
  snprintf(id.id, sizeof id.id, "%s", t->id);
  return uc_buf_add(&r->ids, &id, sizeof id) != UC_OK;
}

/* A store only this server uses: tasks left processing by the last run
 * (SIGTERM or a crash) run again, oldest first. (On a shared store the
 * keeper finds them once their claim runs out.) */
static void recover(struct srv_batch *b) {
  struct recover r = {b, {0}};
  char why[300];
  uc_buf_init(&r.ids, (size_t)64 << 20);
  int rc = uc_store_batch_each(b->s->store, 0, collect, &r);
  if (rc != UC_OK)
    fprintf(stderr, "usercleaning: batch tasks cannot be resumed: %s\n",
            (uc_store_error(b->s->store, rc, why, sizeof why), why));
  size_t n = UC_BUF_COUNT(&r.ids, struct task_id);
  if (n)
    fprintf(stderr, "usercleaning: resuming %zu batch task(s)\n", n);
  for (size_t i = n; i-- > 0;)
    srv_batch_enqueue(b, UC_BUF_AT(&r.ids, struct task_id, i).id);
  uc_buf_release(&r.ids);
}

/* host:pid:nonce: who claims, in the store and in logs. */
static void name_instance(struct srv_batch *b) {
  char host[64] = "";
  gethostname(host, sizeof host - 1);
  snprintf(b->instance, sizeof b->instance, "%.32s:%ld:%08x", host[0] ? host : "?", (long)getpid(),
           randombytes_random());
}

static int start_threads(struct srv_batch *b) {
  struct srv *s = b->s;
  b->slots = calloc(s->cfg.batch_workers, sizeof *b->slots);
  pthread_mutex_lock(&b->lock); /* workers look at the slots under it */
  for (unsigned i = 0; b->slots && i < s->cfg.batch_workers; i++) {
    struct slot *w = &b->slots[b->nworkers];
    w->b = b;
    snprintf(w->owner, sizeof w->owner, "%s/w%u", b->instance, b->nworkers);
    if (pthread_create(&w->thread, NULL, worker, w) == 0)
      b->nworkers++;
  }
  pthread_mutex_unlock(&b->lock);
  b->intake_started = pthread_create(&b->intake_thread, NULL, intake, b) == 0;
  if (b->lease_ms)
    b->keeper_started = pthread_create(&b->keeper, NULL, keeper, b) == 0;
  return b->nworkers && b->intake_started && (!b->lease_ms || b->keeper_started);
}

struct srv_batch *srv_batch_start(struct srv *s) {
  struct srv_batch *b = calloc(1, sizeof *b);
  if (!b)
    return NULL;
  b->s = s;
  b->lease_ms = uc_store_shared(s->store) ? s->cfg.batch_lease * 1000u : 0;
  pthread_mutex_init(&b->lock, NULL);
  pthread_mutex_init(&b->claims, NULL);
  pthread_cond_init(&b->work, NULL);
  pthread_cond_init(&b->intake, NULL);
  pthread_cond_init(&b->keep, NULL);
  uc_buf_init(&b->tasks, (size_t)64 << 20);
  uc_buf_init(&b->jobs, (size_t)16 << 20);
  name_instance(b);
  clear_parts(s->cfg.batch_dir, b->lease_ms != 0);
  if (b->lease_ms)
    fprintf(stderr,
            "usercleaning: batch tasks: shared store, claims of %u s as %s; batch_dir %s must "
            "be the same directory on every server\n",
            s->cfg.batch_lease, b->instance, s->cfg.batch_dir);
  else
    recover(b);
  if (!start_threads(b)) {
    srv_batch_stop(b);
    return NULL;
  }
  return b;
}

/* Workers stop at their next row; what they ran stays processing, released
 * for another server (or for the next start). */
void srv_batch_stop(struct srv_batch *b) {
  if (!b)
    return;
  pthread_mutex_lock(&b->lock);
  atomic_store(&b->stop, 1);
  for (unsigned i = 0; i < b->nworkers; i++)
    atomic_store(&b->slots[i].stop, 1);
  pthread_cond_broadcast(&b->work);
  pthread_cond_broadcast(&b->intake);
  pthread_cond_broadcast(&b->keep);
  pthread_mutex_unlock(&b->lock);
  for (unsigned i = 0; i < b->nworkers; i++)
    pthread_join(b->slots[i].thread, NULL);
  if (b->intake_started)
    pthread_join(b->intake_thread, NULL);
  if (b->keeper_started)
    pthread_join(b->keeper, NULL);
  free(b->slots);
  uc_buf_release(&b->tasks);
  uc_buf_release(&b->jobs);
  pthread_mutex_destroy(&b->lock);
  pthread_mutex_destroy(&b->claims);
  pthread_cond_destroy(&b->work);
  pthread_cond_destroy(&b->intake);
  pthread_cond_destroy(&b->keep);
  free(b);
}

void srv_batch_stats(struct srv_batch *b, struct srv_batch_stats *out) {
  pthread_mutex_lock(&b->lock);
  out->queued = UC_BUF_COUNT(&b->tasks, struct task_id) - b->head;
  out->running = 0;
  for (unsigned i = 0; i < b->nworkers; i++)
    out->running += b->slots[i].id[0] != 0;
  pthread_mutex_unlock(&b->lock);
  out->completed = atomic_load(&b->completed);
  out->failed = atomic_load(&b->failed);
  out->rows = atomic_load(&b->rows);
  out->taken_over = atomic_load(&b->taken_over);
  out->lost = atomic_load(&b->lost);
}
