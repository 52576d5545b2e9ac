/* The server's batch machinery: worker threads that run tasks at low
 * priority (never on an HTTP thread), the intake thread that makes uploads
 * durable before they are answered, and the restart rule: tasks found
 * processing at start-up run again from their upload (docs/internals/batch.md). */
#include "http.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

struct task_id {
  char id[UC_BATCH_ID_LEN + 1];
};

struct intake_job {
  void (*fn)(void *arg);
  void *arg;
};

struct srv_batch {
  struct srv *s;
  pthread_mutex_t lock;
  pthread_cond_t work, intake;
  struct uc_buf tasks; /* struct task_id, first in first out from head */
  size_t head;
  struct uc_buf jobs; /* struct intake_job */
  _Atomic int stop;
  pthread_t *workers;
  unsigned nworkers;
  pthread_t intake_thread;
  int intake_started;
  _Atomic uint64_t completed, failed, rows;
};

void srv_batch_enqueue(struct srv_batch *b, const char *id) {
  struct task_id t;
  snprintf(t.id, sizeof t.id, "%s", id);
  pthread_mutex_lock(&b->lock);
  if (b->head && b->head == UC_BUF_COUNT(&b->tasks, struct task_id))
    uc_buf_reset(&b->tasks), b->head = 0;
  if (uc_buf_add(&b->tasks, &t, sizeof t) != UC_OK) /* runs at the next start-up */
    fprintf(stderr, "usercleaning: batch queue full; task %s waits for a restart\n", id);
  pthread_cond_signal(&b->work);
  pthread_mutex_unlock(&b->lock);
}

/* The next task id, waiting for one; 0 when stopping. */
static int next_task(struct srv_batch *b, struct task_id *out) {
  pthread_mutex_lock(&b->lock);
  while (!atomic_load(&b->stop) && b->head == UC_BUF_COUNT(&b->tasks, struct task_id))
    pthread_cond_wait(&b->work, &b->lock);
  int got = !atomic_load(&b->stop);
  if (got)
    *out = UC_BUF_AT(&b->tasks, struct task_id, b->head++);
  pthread_mutex_unlock(&b->lock);
  return got;
}

/* One task with the account's policy as it is now, the lists and (when the
 * server has DNS and batch_dns is on) the resolver: this thread may wait. */
static void run_one(struct srv_batch *b, const char *id) {
  struct srv *s = b->s;
  struct uc_batch_rec t;
  const struct srv_account *acc = NULL;
  if (uc_store_batch_get(s->store, 0, id, &t) != UC_OK || t.status != UC_BATCH_PROCESSING)
    return; /* deleted, or finished by an earlier run */
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
  int rc = uc_batch_task_run(s->store, s->cfg.batch_dir, &t, &k, &b->stop);
  if (rc == UC_OK) {
    atomic_fetch_add(t.status == UC_BATCH_COMPLETED ? &b->completed : &b->failed, 1);
    atomic_fetch_add(&b->rows, t.counts.rows_done);
  } else if (rc != UC_ECANCELED) {
    fprintf(stderr, "usercleaning: batch task %s: %s; it runs again at the next start-up\n", id,
            uc_strerror(rc));
  }
  uc_infra_unref(infra);
  uc_lists_unref(l);
  srv_view_release(view);
}

static void *worker(void *arg) {
  struct srv_batch *b = arg;
  struct task_id t;
  /* Below the HTTP threads: batch work takes what checks leave. */
  setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
  while (next_task(b, &t))
    run_one(b, t.id);
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

struct recover {
  struct srv_batch *b;
  struct uc_buf ids; /* struct task_id, newest first */
};

static int collect(void *arg, const struct uc_batch_rec *t) {
  struct recover *r = arg;
  struct task_id id;
  if (t->status != UC_BATCH_PROCESSING)
    return 0;
  snprintf(id.id, sizeof id.id, "%s", t->id);
  return uc_buf_add(&r->ids, &id, sizeof id) != UC_OK;
}

/* Uploads cut short by a stop never became tasks: their parts go. */
static void clear_parts(const char *root) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/tmp", root);
  uc_batch_rmtree(dir);
  if (uc_batch_mkdirs(dir) != UC_OK)
    fprintf(stderr, "usercleaning: batch_dir %s: cannot create %s: %s\n", root, dir,
            strerror(errno));
}

/* Tasks left processing by the last run (SIGTERM or a crash) run again, oldest first. */
static void recover(struct srv_batch *b) {
  struct recover r = {b, {0}};
  uc_buf_init(&r.ids, (size_t)64 << 20);
  clear_parts(b->s->cfg.batch_dir);
  int rc = uc_store_batch_each(b->s->store, 0, collect, &r);
  char why[300];
  if (rc != UC_OK) /* e.g. "the redis store has no batch tasks" */
    fprintf(stderr, "usercleaning: batch tasks cannot be resumed: %s\n",
            (uc_store_error(b->s->store, rc, why, sizeof why), why));
  size_t n = UC_BUF_COUNT(&r.ids, struct task_id);
  if (n)
    fprintf(stderr, "usercleaning: resuming %zu batch task(s)\n", n);
  for (size_t i = n; i-- > 0;)
    srv_batch_enqueue(b, UC_BUF_AT(&r.ids, struct task_id, i).id);
  uc_buf_release(&r.ids);
}

struct srv_batch *srv_batch_start(struct srv *s) {
  struct srv_batch *b = calloc(1, sizeof *b);
  if (!b)
    return NULL;
  b->s = s;
  pthread_mutex_init(&b->lock, NULL);
  pthread_cond_init(&b->work, NULL);
  pthread_cond_init(&b->intake, NULL);
  uc_buf_init(&b->tasks, (size_t)64 << 20);
  uc_buf_init(&b->jobs, (size_t)16 << 20);
  recover(b);
  b->workers = calloc(s->cfg.batch_workers, sizeof *b->workers);
  for (unsigned i = 0; b->workers && i < s->cfg.batch_workers; i++)
    if (pthread_create(&b->workers[b->nworkers], NULL, worker, b) == 0)
      b->nworkers++;
  b->intake_started = pthread_create(&b->intake_thread, NULL, intake, b) == 0;
  if (!b->nworkers || !b->intake_started) {
    srv_batch_stop(b);
    return NULL;
  }
  return b;
}

/* Workers stop at their next row; what they ran stays processing for the next start. */
void srv_batch_stop(struct srv_batch *b) {
  if (!b)
    return;
  pthread_mutex_lock(&b->lock);
  atomic_store(&b->stop, 1);
  pthread_cond_broadcast(&b->work);
  pthread_cond_broadcast(&b->intake);
  pthread_mutex_unlock(&b->lock);
  for (unsigned i = 0; i < b->nworkers; i++)
    pthread_join(b->workers[i], NULL);
  if (b->intake_started)
    pthread_join(b->intake_thread, NULL);
  free(b->workers);
  uc_buf_release(&b->tasks);
  uc_buf_release(&b->jobs);
  pthread_mutex_destroy(&b->lock);
  pthread_cond_destroy(&b->work);
  pthread_cond_destroy(&b->intake);
  free(b);
}

void srv_batch_stats(struct srv_batch *b, uint64_t *queued, uint64_t *completed, uint64_t *failed,
                     uint64_t *rows) {
  pthread_mutex_lock(&b->lock);
  *queued = UC_BUF_COUNT(&b->tasks, struct task_id) - b->head;
  pthread_mutex_unlock(&b->lock);
  *completed = atomic_load(&b->completed);
  *failed = atomic_load(&b->failed);
  *rows = atomic_load(&b->rows);
}
