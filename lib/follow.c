/* Refcounted publication and per-thread followers (include/uc/follow.h). */
#include "uc/follow.h"

void uc_pub_init(struct uc_pub *p, void *initial, void *(*ref)(void *), void (*unref)(void *)) {
  pthread_mutex_init(&p->lock, NULL);
  p->cur = initial;
  atomic_init(&p->gen, 0);
  p->ref = ref, p->unref = unref;
}

void uc_pub_release(struct uc_pub *p) {
  p->unref(p->cur);
  p->cur = NULL;
  pthread_mutex_destroy(&p->lock);
}

void *uc_pub_get(struct uc_pub *p) {
  pthread_mutex_lock(&p->lock);
  void *obj = p->cur ? p->ref(p->cur) : NULL;
  pthread_mutex_unlock(&p->lock);
  return obj;
}

void uc_pub_swap(struct uc_pub *p, void *next) {
  pthread_mutex_lock(&p->lock);
  void *old = p->cur;
  p->cur = next;
  atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
  pthread_mutex_unlock(&p->lock);
  p->unref(old);
}

/* Reading gen before get: a swap in between leaves f with the newer object
 * under the older number, which only costs one more get next time. */
void *uc_pub_follow(struct uc_pub *p, struct uc_follower *f) {
  uint64_t gen = atomic_load_explicit(&p->gen, memory_order_acquire);
  if (f->cur && gen == f->gen)
    return f->cur;
  void *obj = uc_pub_get(p);
  p->unref(f->cur);
  f->cur = obj, f->gen = gen;
  return obj;
}

void uc_follower_drop(struct uc_pub *p, struct uc_follower *f) {
  p->unref(f->cur);
  f->cur = NULL;
}
