/* The open-addressing table (lib/table.c) against a plain array, in both tag layouts. */
#include "unit.h"

#include "uc/error.h"
#include "uc/table.h"

/* Every slot starts with the key, then a value; the inline layout keeps its tag after them. */
struct apart_slot {
  uint32_t key, val;
};
struct inline_slot {
  uint32_t key, val, tag;
};

enum layout { APART, INLINE };

static void init(struct uc_table *t, enum layout l) {
  if (l == APART)
    uc_table_init(t, sizeof(struct apart_slot), UC_TABLE_TAGS_APART);
  else
    uc_table_init(t, sizeof(struct inline_slot), offsetof(struct inline_slot, tag));
}

static uint32_t key_of(const void *slot) {
  uint32_t k;
  memcpy(&k, slot, sizeof k);
  return k;
}

static uint32_t val_of(const void *slot) {
  uint32_t v;
  memcpy(&v, (const char *)slot + 4, sizeof v);
  return v;
}

static void set_val(void *slot, uint32_t key, uint32_t val) {
  memcpy(slot, &key, sizeof key);
  memcpy((char *)slot + 4, &val, sizeof val);
}

static int eq(const void *slot, const void *key) {
  return key_of(slot) == *(const uint32_t *)key;
}

/* How keys hash: well spread, all homes in one slot (long runs that wrap around the end of the
 * table), or only three hash values (equal tags, told apart by eq). */
enum spread { SPREAD, SAME_LOW_BITS, FEW_HASHES };

static uint32_t hash_of(uint32_t k, enum spread s) {
  switch (s) {
  case SAME_LOW_BITS:
    return k << 16 | 0xFFFF; /* home is the last slot of any table up to 65,536 slots */
  case FEW_HASHES:
    return k % 3; /* 0 too: its tag is 1 */
  default:
    return uc_hash(&k, sizeof k, 7);
  }
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(uint32_t n) { /* xorshift64*, fixed seed: failures repeat */
  rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
  return (uint32_t)((rng * 0x2545F4914F6CDD1Dull) >> 32) % n;
}

/* The reference: which keys are in, and their values. */
struct ref {
  uint32_t nkeys, count;
  uint8_t *in;
  uint32_t *val;
};

static void *find(const struct uc_table *t, uint32_t k, enum spread s) {
  return uc_table_find(t, hash_of(k, s), eq, &k);
}

/* Every key found exactly when the reference has it, with its value; count and tags agree. */
static void check(const struct uc_table *t, const struct ref *r, enum spread s) {
  uint32_t used = 0;
  assert_int_equal(t->count, r->count);
  for (uint32_t k = 0; k < r->nkeys; k++) {
    void *slot = find(t, k, s);
    if (!r->in[k]) {
      assert_null(slot);
      continue;
    }
    assert_non_null(slot);
    assert_int_equal(key_of(slot), k);
    assert_int_equal(val_of(slot), r->val[k]);
  }
  for (uint32_t i = 0; i < uc_table_capacity(t); i++) {
    if (!uc_table_used(t, i))
      continue;
    used++;
    assert_int_equal(uc__table_tag_at(t, i), uc_table_tag(hash_of(key_of(uc_table_slot(t, i)), s)));
  }
  assert_int_equal(used, r->count);
  assert_true(uc_table_capacity(t) == 0 || (uint64_t)t->count * 4 <= (uint64_t)t->mask * 3 + 3);
}

/* One random operation: insert (or update), remove, or find, checked against r. Stretches of
 * 10,000 steps where inserts are likelier (the table grows) alternate with removal ones. */
static void step(struct uc_table *t, struct ref *r, enum spread s, uint32_t n) {
  uint32_t k = rnd(r->nkeys), op = rnd(100), v = rnd(UINT32_MAX);
  int growing = (n / 10000) % 2 == 0, created = -1;
  if (op < (growing ? 60u : 30u)) {
    void *slot = uc_table_insert(t, hash_of(k, s), eq, &k, &created);
    assert_non_null(slot);
    assert_int_equal(created, !r->in[k]);
    if (created) /* zeroed but for its tag */
      assert_true(key_of(slot) == 0 && val_of(slot) == 0);
    else
      assert_int_equal(val_of(slot), r->val[k]);
    set_val(slot, k, v);
    r->count += !r->in[k], r->in[k] = 1, r->val[k] = v;
  } else if (op < 80) {
    void *slot = find(t, k, s);
    assert_int_equal(slot != NULL, r->in[k]);
    if (slot)
      uc_table_remove(t, slot), r->in[k] = 0, r->count--;
  } else {
    void *slot = find(t, k, s);
    assert_int_equal(slot != NULL, r->in[k]);
  }
}

/* ops random operations over nkeys keys, checked in full every 1,000 and shrunk every 7,000. */
static void differential(enum layout l, enum spread s, uint32_t nkeys, uint32_t ops) {
  struct uc_table t;
  struct ref r = {nkeys, 0, calloc(nkeys, 1), calloc(nkeys, sizeof(uint32_t))};
  assert_non_null(r.in);
  assert_non_null(r.val);
  init(&t, l);
  for (uint32_t n = 0; n < ops; n++) {
    step(&t, &r, s, n);
    if (n % 7000 == 6999)
      assert_int_equal(uc_table_shrink(&t), UC_OK);
    if (n % 1000 == 999)
      check(&t, &r, s);
  }
  check(&t, &r, s);
  uc_table_release(&t);
  assert_int_equal(uc_table_capacity(&t), 0);
  free(r.in);
  free(r.val);
}

static void test_random_apart(void **state) {
  (void)state;
  differential(APART, SPREAD, 6000, 200000);
}

static void test_random_inline(void **state) {
  (void)state;
  differential(INLINE, SPREAD, 6000, 200000);
}

/* Backward shift in one long run that wraps around the end, and among equal hashes. */
static void test_random_clustered(void **state) {
  (void)state;
  for (enum layout l = APART; l <= INLINE; l++) {
    differential(l, SAME_LOW_BITS, 400, 20000);
    differential(l, FEW_HASHES, 400, 20000);
  }
}

/* Fills keys [0, n) with value key * 3 + 1. */
static void fill(struct uc_table *t, uint32_t n, enum spread s) {
  for (uint32_t k = 0; k < n; k++) {
    int created = 0;
    void *slot = uc_table_insert(t, hash_of(k, s), eq, &k, &created);
    assert_non_null(slot);
    assert_true(created);
    set_val(slot, k, k * 3 + 1);
  }
}

static void assert_has(const struct uc_table *t, uint32_t k, enum spread s) {
  void *slot = find(t, k, s);
  assert_non_null(slot);
  assert_int_equal(val_of(slot), k * 3 + 1);
}

/* Removing every other key of one clustered run keeps the rest findable. */
static void test_remove_in_run(void **state) {
  (void)state;
  for (enum layout l = APART; l <= INLINE; l++) {
    struct uc_table t;
    init(&t, l);
    fill(&t, 300, SAME_LOW_BITS);
    for (uint32_t k = 0; k < 300; k += 2)
      uc_table_remove(&t, find(&t, k, SAME_LOW_BITS));
    for (uint32_t k = 0; k < 300; k++)
      if (k % 2)
        assert_has(&t, k, SAME_LOW_BITS);
      else
        assert_null(find(&t, k, SAME_LOW_BITS));
    assert_int_equal(t.count, 150);
    uc_table_release(&t);
  }
}

/* After many removals, shrink gives memory back and keeps every key. */
static void test_shrink(void **state) {
  (void)state;
  for (enum layout l = APART; l <= INLINE; l++) {
    struct uc_table t;
    init(&t, l);
    fill(&t, 10000, SPREAD);
    uint32_t big = uc_table_capacity(&t);
    assert_true(big >= 16384);
    for (uint32_t k = 100; k < 10000; k++)
      uc_table_remove(&t, find(&t, k, SPREAD));
    assert_int_equal(uc_table_capacity(&t), big); /* removal alone keeps the memory */
    assert_int_equal(uc_table_shrink(&t), UC_OK);
    assert_int_equal(uc_table_capacity(&t), 256); /* 100 entries: 128 slots would pass 3/4 */
    for (uint32_t k = 0; k < 10000; k++)
      if (k < 100)
        assert_has(&t, k, SPREAD);
      else
        assert_null(find(&t, k, SPREAD));
    assert_int_equal(uc_table_shrink(&t), UC_OK); /* already small: unchanged */
    assert_int_equal(uc_table_capacity(&t), 256);
    uc_table_release(&t);
  }
}

/* Clear empties the table and keeps its memory; it can be filled again. */
static void test_clear(void **state) {
  (void)state;
  for (enum layout l = APART; l <= INLINE; l++) {
    struct uc_table t;
    init(&t, l);
    uc_table_clear(&t); /* empty, never allocated: fine */
    fill(&t, 500, SPREAD);
    uint32_t cap = uc_table_capacity(&t);
    uc_table_clear(&t);
    assert_int_equal(t.count, 0);
    assert_int_equal(uc_table_capacity(&t), cap);
    for (uint32_t i = 0; i < cap; i++)
      assert_false(uc_table_used(&t, i));
    for (uint32_t k = 0; k < 500; k++)
      assert_null(find(&t, k, SPREAD));
    fill(&t, 500, SPREAD);
    assert_has(&t, 499, SPREAD);
    uc_table_release(&t);
  }
}

/* Reserve makes room once: n inserts then never move the slots. */
static void test_reserve(void **state) {
  (void)state;
  for (enum layout l = APART; l <= INLINE; l++) {
    struct uc_table t;
    init(&t, l);
    assert_int_equal(uc_table_reserve(&t, 1000), UC_OK);
    assert_int_equal(uc_table_capacity(&t), 2048); /* 1000 within 3/4 of it; not of 1024 */
    const unsigned char *slots = t.slots;
    fill(&t, 1000, SPREAD);
    assert_ptr_equal(t.slots, slots);
    assert_int_equal(uc_table_reserve(&t, 10), UC_OK); /* never smaller */
    assert_int_equal(uc_table_capacity(&t), 2048);
    assert_int_equal(uc_table_reserve(&t, UC_TABLE_MAX_SLOTS), UC_ENOMEM);
    assert_int_equal(uc_table_capacity(&t), 2048);
    assert_has(&t, 999, SPREAD);
    uc_table_release(&t);
  }
}

/* A view over a copy of an inline-tag table's slots finds the same keys and stays read-only. */
static void test_view(void **state) {
  (void)state;
  struct uc_table t, v;
  init(&t, INLINE);
  fill(&t, 1000, SPREAD);
  size_t bytes = (size_t)uc_table_capacity(&t) * t.esize;
  void *copy = malloc(bytes);
  assert_non_null(copy);
  memcpy(copy, t.slots, bytes);
  uc_table_view(&v, copy, t.esize, t.tag_off, t.mask, t.count);
  uc_table_release(&t);
  for (uint32_t k = 0; k < 2000; k++)
    if (k < 1000)
      assert_has(&v, k, SPREAD);
    else
      assert_null(find(&v, k, SPREAD));
  uint32_t absent = 5000;
  assert_null(uc_table_insert(&v, hash_of(absent, SPREAD), eq, &absent, NULL));
  assert_int_equal(v.count, 1000);
  uc_table_release(&v); /* does not free the copy: ASan would see the free below twice */
  free(copy);
}

/* The seed changes the hash; the tag is the hash, never 0. */
static void test_hash_and_tag(void **state) {
  (void)state;
  uint32_t seen[64];
  for (uint32_t seed = 0; seed < COUNT(seen); seed++) {
    seen[seed] = uc_hash("example.com", 11, seed);
    assert_int_equal(seen[seed], uc_hash("example.com", 11, seed)); /* deterministic */
    for (uint32_t j = 0; j < seed; j++)
      assert_int_not_equal(seen[seed], seen[j]);
  }
  assert_int_not_equal(uc_hash("example.com", 11, 0), uc_hash("example.org", 11, 0));
  assert_int_equal(uc_table_tag(0), 1);
  assert_int_equal(uc_table_tag(1), 1);
  assert_int_equal(uc_table_tag(0xFFFFFFFFu), 0xFFFFFFFFu);
  for (uint32_t i = 0; i < 100000; i++) {
    uint32_t h = rnd(UINT32_MAX);
    assert_int_equal(uc_table_tag(h), h ? h : 1);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_random_apart),     cmocka_unit_test(test_random_inline),
      cmocka_unit_test(test_random_clustered), cmocka_unit_test(test_remove_in_run),
      cmocka_unit_test(test_shrink),           cmocka_unit_test(test_clear),
      cmocka_unit_test(test_reserve),          cmocka_unit_test(test_view),
      cmocka_unit_test(test_hash_and_tag),
  };
  return cmocka_run_group_tests_name("table", tests, NULL, NULL);
}
