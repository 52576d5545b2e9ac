/* The capped buffer (lib/buf.c) and publish/follow (lib/follow.c). */
#include "unit.h"

#include "uc/buf.h"
#include "uc/error.h"
#include "uc/follow.h"

#include <pthread.h>
#include <sched.h>

static void assert_content(const struct uc_buf *b, const char *s) {
  assert_int_equal(b->len, strlen(s));
  assert_memory_equal(b->data, s, b->len);
  assert_int_equal(b->data[b->len], 0);
}

/* An add that would pass max fails with UC_ETOOBIG and changes nothing; max itself fits. */
static void test_cap(void **state) {
  (void)state;
  struct uc_buf b;
  uc_buf_init(&b, 10);
  assert_null(b.data);
  assert_int_equal(uc_buf_add(&b, "hello", 5), UC_OK);
  assert_int_equal(uc_buf_add(&b, "world!", 6), UC_ETOOBIG);
  assert_content(&b, "hello");
  assert_int_equal(uc_buf_addstr(&b, "world"), UC_OK);
  assert_content(&b, "helloworld");
  assert_int_equal(uc_buf_add(&b, "x", 1), UC_ETOOBIG);
  assert_int_equal(uc_buf_addstr(&b, "x"), UC_ETOOBIG);
  assert_int_equal(uc_buf_addf(&b, "%d", 1), UC_ETOOBIG);
  assert_int_equal(uc_buf_reserve(&b, 1), UC_ETOOBIG);
  assert_int_equal(uc_buf_add(&b, "", 0), UC_OK);
  assert_content(&b, "helloworld");
  uc_buf_release(&b);
  assert_null(b.data);
  assert_int_equal(b.len, 0);
  assert_int_equal(b.max, 10); /* reusable with the same cap */
  assert_int_equal(uc_buf_addstr(&b, "again"), UC_OK);
  assert_content(&b, "again");
  uc_buf_release(&b);
}

/* Through many reallocations: every byte kept, a NUL after the data, binary data too. */
static void test_growth_and_nul(void **state) {
  (void)state;
  struct uc_buf b;
  char chunk[100];
  uc_buf_init(&b, 100 * sizeof chunk);
  for (int i = 0; i < 100; i++) {
    memset(chunk, 'a' + i % 26, sizeof chunk);
    chunk[i % sizeof chunk] = 0; /* a NUL inside is data like any byte */
    assert_int_equal(uc_buf_add(&b, chunk, sizeof chunk), UC_OK);
    assert_int_equal(b.len, (size_t)(i + 1) * sizeof chunk);
    assert_int_equal(b.data[b.len], 0);
    assert_true(b.len <= b.cap);
  }
  assert_int_equal(uc_buf_add(&b, chunk, 1), UC_ETOOBIG);
  for (int i = 0; i < 100; i++) {
    memset(chunk, 'a' + i % 26, sizeof chunk);
    chunk[i % sizeof chunk] = 0;
    assert_memory_equal(b.data + (size_t)i * sizeof chunk, chunk, sizeof chunk);
  }
  uc_buf_release(&b);
}

/* The caller's storage is used first, then the content moves to the heap intact. */
static void test_fixed_then_heap(void **state) {
  (void)state;
  char storage[16];
  struct uc_buf b;
  uc_buf_init_fixed(&b, 1000, storage, sizeof storage);
  assert_ptr_equal(b.data, storage);
  assert_int_equal(storage[0], 0);
  assert_int_equal(uc_buf_addstr(&b, "0123456789"), UC_OK);
  assert_int_equal(uc_buf_addstr(&b, "abcde"), UC_OK); /* 15 bytes and the NUL: still fits */
  assert_ptr_equal(b.data, storage);
  assert_content(&b, "0123456789abcde");
  assert_int_equal(uc_buf_addstr(&b, "X"), UC_OK);
  assert_ptr_not_equal(b.data, storage);
  assert_content(&b, "0123456789abcdeX");
  uc_buf_release(&b); /* frees the heap copy, never the storage */
  assert_ptr_equal(b.data, storage);
  assert_int_equal(b.len, 0);
  assert_int_equal(storage[0], 0);
  assert_int_equal(uc_buf_addstr(&b, "back"), UC_OK);
  assert_ptr_equal(b.data, storage);
  uc_buf_release(&b);
}

/* Detach hands over heap bytes as they are, copies fixed ones out; b is empty and reusable. */
static void test_detach(void **state) {
  (void)state;
  char storage[32];
  struct uc_buf b;
  size_t len = 99;
  uc_buf_init_fixed(&b, 100, storage, sizeof storage);
  assert_int_equal(uc_buf_addstr(&b, "in storage"), UC_OK);
  char *p = uc_buf_detach(&b, &len);
  assert_non_null(p);
  assert_ptr_not_equal(p, storage);
  assert_string_equal(p, "in storage");
  assert_int_equal(len, 10);
  assert_int_equal(b.len, 0);
  assert_int_equal(uc_buf_addstr(&b, "reused"), UC_OK);
  assert_content(&b, "reused");
  free(p);
  uc_buf_release(&b);

  uc_buf_init(&b, 100);
  assert_int_equal(uc_buf_addstr(&b, "on the heap"), UC_OK);
  char *data = b.data;
  p = uc_buf_detach(&b, &len);
  assert_ptr_equal(p, data); /* no copy */
  assert_string_equal(p, "on the heap");
  assert_int_equal(len, 11);
  assert_null(b.data);
  assert_int_equal(b.len, 0);
  assert_int_equal(uc_buf_addstr(&b, "more"), UC_OK);
  assert_content(&b, "more");
  free(p); /* the caller's: ASan reports a leak or a double free otherwise */
  uc_buf_release(&b);
  assert_null(uc_buf_detach(&b, &len)); /* nothing held */
  assert_int_equal(len, 0);
}

static void test_addf(void **state) {
  (void)state;
  char storage[8];
  struct uc_buf b;
  uc_buf_init_fixed(&b, 40, storage, sizeof storage);
  assert_int_equal(uc_buf_addf(&b, "%s-%d", "a", 42), UC_OK);
  assert_content(&b, "a-42");
  assert_int_equal(uc_buf_addf(&b, "|%05.1f|%s", 3.14159, "past the storage"), UC_OK);
  assert_content(&b, "a-42|003.1|past the storage");
  assert_int_equal(uc_buf_addf(&b, "%s", "this one would pass the cap"), UC_ETOOBIG);
  assert_content(&b, "a-42|003.1|past the storage");
  assert_int_equal(uc_buf_addf(&b, "%s", ""), UC_OK);
  assert_content(&b, "a-42|003.1|past the storage");
  uc_buf_release(&b);
}

/* Reset forgets the content and keeps the memory. */
static void test_reset(void **state) {
  (void)state;
  struct uc_buf b;
  uc_buf_init(&b, 1000);
  assert_int_equal(uc_buf_addstr(&b, "some text"), UC_OK);
  char *data = b.data;
  size_t cap = b.cap;
  uc_buf_reset(&b);
  assert_ptr_equal(b.data, data);
  assert_int_equal(b.cap, cap);
  assert_content(&b, "");
  assert_int_equal(uc_buf_addstr(&b, "x"), UC_OK);
  assert_content(&b, "x");
  uc_buf_release(&b);
  uc_buf_reset(&b); /* nothing allocated: fine */
  assert_null(b.data);
}

struct rec {
  int id;
  double weight;
};

/* Fixed-size records in a buffer, counted and indexed, under the same cap. */
static void test_records(void **state) {
  (void)state;
  struct uc_buf b;
  uc_buf_init(&b, 3 * sizeof(struct rec));
  assert_int_equal(UC_BUF_COUNT(&b, struct rec), 0);
  for (int i = 0; i < 3; i++) {
    struct rec r = {i, i * 0.5};
    assert_int_equal(uc_buf_add(&b, &r, sizeof r), UC_OK);
  }
  struct rec extra = {3, 1.5};
  assert_int_equal(uc_buf_add(&b, &extra, sizeof extra), UC_ETOOBIG);
  assert_int_equal(UC_BUF_COUNT(&b, struct rec), 3);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(UC_BUF_AT(&b, struct rec, i).id, i);
    assert_true(UC_BUF_AT(&b, struct rec, i).weight == i * 0.5);
  }
  UC_BUF_AT(&b, struct rec, 1).id = 7;
  assert_int_equal(((const struct rec *)(void *)b.data)[1].id, 7);
  uc_buf_release(&b);
}

/* ---- publish and follow, over a refcounted object that counts its frees ---- */

#define MAGIC 0x5eed5eedu

struct obj {
  atomic_int refs;
  unsigned magic;
  int id;
};

static atomic_int created, freed;

static struct obj *obj_new(int id) {
  struct obj *o = malloc(sizeof *o);
  assert_non_null(o);
  atomic_init(&o->refs, 1);
  o->magic = MAGIC, o->id = id;
  atomic_fetch_add(&created, 1);
  return o;
}

static void *obj_ref(void *p) {
  atomic_fetch_add(&((struct obj *)p)->refs, 1);
  return p;
}

static void obj_unref(void *p) {
  struct obj *o = p;
  if (!o || atomic_fetch_sub(&o->refs, 1) != 1)
    return;
  o->magic = 0;
  free(o);
  atomic_fetch_add(&freed, 1);
}

static int id_of(void *p) {
  struct obj *o = p;
  assert_non_null(o);
  assert_int_equal(o->magic, MAGIC);
  return o->id;
}

/* A follower sees a swap on its next call; the old object lives until the last follower left. */
static void test_follow_swap(void **state) {
  (void)state;
  struct uc_pub p;
  struct uc_follower f = {0}, g = {0};
  int freed0 = atomic_load(&freed);
  uc_pub_init(&p, obj_new(1), obj_ref, obj_unref);
  void *first = uc_pub_follow(&p, &f);
  assert_int_equal(id_of(first), 1);
  assert_ptr_equal(uc_pub_follow(&p, &f), first);
  assert_ptr_equal(uc_pub_follow(&p, &g), first);
  uc_pub_swap(&p, obj_new(2));
  assert_int_equal(atomic_load(&freed), freed0); /* f and g still hold it */
  assert_int_equal(id_of(first), 1);
  assert_int_equal(id_of(uc_pub_follow(&p, &f)), 2);
  assert_int_equal(atomic_load(&freed), freed0); /* g still does */
  assert_int_equal(id_of(uc_pub_follow(&p, &g)), 2);
  assert_int_equal(atomic_load(&freed), freed0 + 1);
  void *got = uc_pub_get(&p);
  assert_int_equal(id_of(got), 2);
  obj_unref(got);
  uc_follower_drop(&p, &f);
  uc_follower_drop(&p, &g);
  assert_int_equal(atomic_load(&freed), freed0 + 1); /* the publisher holds the second */
  uc_pub_release(&p);
  assert_int_equal(atomic_load(&freed), freed0 + 2);
}

/* Nothing published yet: NULL for everyone, then the first object. */
static void test_follow_empty(void **state) {
  (void)state;
  struct uc_pub p;
  struct uc_follower f = {0};
  int freed0 = atomic_load(&freed);
  uc_pub_init(&p, NULL, obj_ref, obj_unref);
  assert_null(uc_pub_get(&p));
  assert_null(uc_pub_follow(&p, &f));
  uc_pub_swap(&p, obj_new(5));
  assert_int_equal(id_of(uc_pub_follow(&p, &f)), 5);
  uc_follower_drop(&p, &f);
  uc_pub_release(&p);
  assert_int_equal(atomic_load(&freed), freed0 + 1);
}

#define SWAPS 1000

struct chase {
  struct uc_pub p;
  atomic_int stop;
  atomic_long bad;
};

/* Follows until told to stop: ids never go back, objects are never freed under it, and the
 * last call sees the last swap. */
static void *chaser(void *arg) {
  struct chase *c = arg;
  struct uc_follower f = {0};
  long bad = 0;
  int last = 0;
  while (!atomic_load(&c->stop)) {
    struct obj *o = uc_pub_follow(&c->p, &f);
    bad += !o || o->magic != MAGIC || o->id < last;
    last = o ? o->id : last;
  }
  struct obj *o = uc_pub_follow(&c->p, &f);
  bad += !o || o->id != SWAPS;
  uc_follower_drop(&c->p, &f);
  atomic_fetch_add(&c->bad, bad);
  return NULL;
}

static void test_follow_threads(void **state) {
  (void)state;
  struct chase c;
  pthread_t t[4];
  int created0 = atomic_load(&created), freed0 = atomic_load(&freed);
  atomic_init(&c.stop, 0);
  atomic_init(&c.bad, 0);
  uc_pub_init(&c.p, obj_new(0), obj_ref, obj_unref);
  for (size_t i = 0; i < COUNT(t); i++)
    assert_int_equal(pthread_create(&t[i], NULL, chaser, &c), 0);
  for (int i = 1; i <= SWAPS; i++) {
    uc_pub_swap(&c.p, obj_new(i));
    if (i % 16 == 0)
      sched_yield(); /* let the followers catch up now and then */
  }
  atomic_store(&c.stop, 1);
  for (size_t i = 0; i < COUNT(t); i++)
    pthread_join(t[i], NULL);
  assert_int_equal(atomic_load(&c.bad), 0);
  assert_int_equal(atomic_load(&freed) - freed0, SWAPS); /* all but the current one */
  uc_pub_release(&c.p);
  assert_int_equal(atomic_load(&created) - created0, SWAPS + 1);
  assert_int_equal(atomic_load(&freed) - freed0, SWAPS + 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cap),
      cmocka_unit_test(test_growth_and_nul),
      cmocka_unit_test(test_fixed_then_heap),
      cmocka_unit_test(test_detach),
      cmocka_unit_test(test_addf),
      cmocka_unit_test(test_reset),
      cmocka_unit_test(test_records),
      cmocka_unit_test(test_follow_swap),
      cmocka_unit_test(test_follow_empty),
      cmocka_unit_test(test_follow_threads),
  };
  return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
