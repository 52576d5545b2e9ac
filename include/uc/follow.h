/* Publishing a refcounted object to many threads, and following it: the one
 * mechanism behind the list snapshot holder and the server's key/account
 * view (docs/internals/holder.md).
 *
 * A publisher owns one reference to the current object. uc_pub_get hands out
 * a new reference under a mutex; a follower (one per thread) keeps its own
 * reference and only takes the mutex when the publication number moved, so
 * the common case is one uncontended atomic load. An object stays alive until
 * the last follower has moved past it. */
#ifndef UC_FOLLOW_H
#define UC_FOLLOW_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

struct uc_pub {
  pthread_mutex_t lock; /* guards cur and the reference it owns */
  void *cur;
  _Atomic uint64_t gen;     /* bumped after each swap, under lock */
  void *(*ref)(void *obj);  /* takes a reference, returns obj */
  void (*unref)(void *obj); /* drops one; NULL must be accepted */
};

/* initial: a reference the publisher takes over (may be NULL). */
void uc_pub_init(struct uc_pub *p, void *initial, void *(*ref)(void *), void (*unref)(void *));
/* Drops the current object. Followers must have dropped theirs first. */
void uc_pub_release(struct uc_pub *p);
/* A new reference to the current object (NULL if none): unref it. */
void *uc_pub_get(struct uc_pub *p);
/* Publishes next (taking over the caller's reference); the old object goes
 * when its last follower moves on. */
void uc_pub_swap(struct uc_pub *p, void *next);

/* One thread's reference. Zero-initialise it; not shared between threads. */
struct uc_follower {
  void *cur;
  uint64_t gen;
};
/* The current object, valid until the next call on f or uc_follower_drop. */
void *uc_pub_follow(struct uc_pub *p, struct uc_follower *f);
void uc_follower_drop(struct uc_pub *p, struct uc_follower *f);

#endif
