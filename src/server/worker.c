/* Per-thread state of the HTTP workers (see struct srv_worker). A worker is
 * made on its thread's first request and lives until the server stops. */
#include "server.h"

#include <stdlib.h>

static __thread struct srv_worker *mine;

struct srv_worker *srv_worker_get(struct srv *s) {
  if (mine && mine->srv == s)
    return mine;
  struct srv_worker *w = calloc(1, sizeof *w);
  if (!w)
    return NULL;
  w->srv = s;
  pthread_mutex_lock(&s->workers_lock);
  w->index = atomic_fetch_add(&s->nworkers, 1);
  w->next = atomic_load(&s->workers);
  atomic_store_explicit(&s->workers, w, memory_order_release); /* readers see w whole */
  pthread_mutex_unlock(&s->workers_lock);
  return mine = w;
}

uint64_t srv_workers_sum(struct srv *s, size_t offset) {
  uint64_t sum = 0;
  for (struct srv_worker *w = atomic_load_explicit(&s->workers, memory_order_acquire); w;
       w = w->next)
    sum += atomic_load_explicit((_Atomic uint64_t *)(void *)((char *)&w->n + offset),
                                memory_order_relaxed);
  return sum;
}

long srv_workers_inflight(struct srv *s) {
  /* completed first: a request that starts and ends between the two loads
   * can only make the figure too high, never hide one in flight */
  uint64_t done = srv_workers_sum(s, offsetof(struct srv_counters, completed));
  uint64_t started = srv_workers_sum(s, offsetof(struct srv_counters, started));
  return started > done ? (long)(started - done) : 0;
}

/* After the HTTP threads have stopped. */
void srv_workers_free(struct srv *s) {
  struct srv_worker *w = atomic_load(&s->workers);
  while (w) {
    struct srv_worker *next = w->next;
    uc_lists_follower_drop(&w->lists);
    if (s->cache)
      srv_view_follower_drop(s->cache, &w->view);
    uc_follower_drop(&s->infra, &w->infra);
    uc_activity_follower_drop(s->activity, &w->activity);
    free(w);
    w = next;
  }
  atomic_store(&s->workers, NULL);
}
