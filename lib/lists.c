/* Loading, checking and querying list snapshots; the holder for hot swaps. */
#include "uc/lists.h"
#include "snapshot.h"
#include "spoof.h"
#include "uc/buf.h"
#include "uc/error.h"
#include "uc/follow.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct uc_lists {
  atomic_int refs;
  void *map; /* the whole file */
  size_t map_len;
  const struct uc__snap_header *hdr;
  const struct uc__snap_source *sources;
  struct uc__strtab dom, loc;
  struct uc_typo_target *typo; /* typo_count, names in the pool */
  /* their UTS #39 skeletons, made at the first internationalised domain
   * checked (ICU's confusables data is loaded only then) */
  pthread_mutex_t skel_lock;
  atomic_int skel_ready;
  struct uc_skeleton *skel; /* typo_count */
  char *skel_text;
};

static int range_ok(uint64_t off, uint64_t len, uint64_t total) {
  return off <= total && len <= total - off;
}

/* Every slot must point inside the pool at a NUL-terminated key. */
static int table_ok(const struct uc__strtab *t, uint64_t pool_len) {
  uint32_t used = 0;
  for (uint32_t i = 0; i < uc_table_capacity(&t->t); i++) {
    const struct uc__entry *e = uc_table_slot(&t->t, i);
    if (e->hash == 0)
      continue;
    if (e->len == 0)
      return 0;
    if (!range_ok(e->off, (uint64_t)e->len + 1, pool_len) || t->pool[e->off + e->len] != 0)
      return 0;
    used++;
  }
  /* at least one empty slot, or lookups of absent keys would never end */
  return used == t->t.count && used <= t->t.mask;
}

static int check_header(const struct uc__snap_header *h, size_t len, char *err, size_t es) {
  if (len < sizeof *h || memcmp(h->magic, UC__SNAP_MAGIC, 8) != 0)
    return uc_errorf(err, es, UC_EFORMAT, "not a list snapshot");
  if (h->format != UC__SNAP_FORMAT)
    return uc_errorf(err, es, UC_EFORMAT, "snapshot format %u, this build reads %u", h->format,
                     UC__SNAP_FORMAT);
  if (h->file_len != len)
    return uc_errorf(err, es, UC_EFORMAT, "snapshot truncated (%zu of %llu bytes)", len,
                     (unsigned long long)h->file_len);
  if (h->nsources > UC_LISTS_MAX_SOURCES || memchr(h->version, 0, sizeof h->version) == NULL ||
      ((uint64_t)h->dom_mask + 1) & h->dom_mask || ((uint64_t)h->loc_mask + 1) & h->loc_mask ||
      !range_ok(h->sources_off, (uint64_t)h->nsources * sizeof(struct uc__snap_source), len) ||
      !range_ok(h->dom_off, ((uint64_t)h->dom_mask + 1) * sizeof(struct uc__entry), len) ||
      !range_ok(h->loc_off, ((uint64_t)h->loc_mask + 1) * sizeof(struct uc__entry), len) ||
      !range_ok(h->typo_off, (uint64_t)h->typo_count * 4, len) ||
      !range_ok(h->pool_off, h->pool_len, len) || h->pool_len == 0 ||
      (h->sources_off | h->dom_off | h->loc_off | h->typo_off) % 8)
    return uc_errorf(err, es, UC_EFORMAT, "snapshot header is inconsistent");
  return UC_OK;
}

static int map_tables(uc_lists *l, char *err, size_t es) {
  const struct uc__snap_header *h = l->hdr;
  const char *base = l->map;
  unsigned char digest[UC__SNAP_DIGEST];
  crypto_generichash(digest, sizeof digest, (const unsigned char *)base + sizeof *h,
                     h->file_len - sizeof *h, NULL, 0);
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION /* let the fuzzer reach the checks below */
  if (sodium_memcmp(digest, h->digest, sizeof digest) != 0)
    return uc_errorf(err, es, UC_EFORMAT, "snapshot digest mismatch (corrupt file)");
#endif
  l->sources = (const void *)(base + h->sources_off);
  uc__strtab_view(&l->dom, base + h->dom_off, h->dom_mask, h->dom_count, base + h->pool_off);
  uc__strtab_view(&l->loc, base + h->loc_off, h->loc_mask, h->loc_count, base + h->pool_off);
  if (!table_ok(&l->dom, h->pool_len) || !table_ok(&l->loc, h->pool_len))
    return uc_errorf(err, es, UC_EFORMAT, "snapshot table points outside its pool");
  for (uint32_t i = 0; i < h->nsources; i++)
    if (!memchr(l->sources[i].name, 0, sizeof l->sources[i].name) ||
        !memchr(l->sources[i].kind, 0, sizeof l->sources[i].kind) ||
        !memchr(l->sources[i].version, 0, sizeof l->sources[i].version))
      return uc_errorf(err, es, UC_EFORMAT, "snapshot source %u is malformed", i);
  l->typo = calloc(h->typo_count + 1, sizeof *l->typo);
  if (!l->typo)
    return uc_errorf(err, es, UC_ENOMEM, "out of memory");
  const uint32_t *offs = (const void *)(base + h->typo_off);
  for (uint32_t i = 0; i < h->typo_count; i++) {
    if (offs[i] >= h->pool_len || !memchr(l->dom.pool + offs[i], 0, h->pool_len - offs[i]))
      return uc_errorf(err, es, UC_EFORMAT, "snapshot typo target %u is malformed", i);
    const char *name = l->dom.pool + offs[i];
    l->typo[i] = (struct uc_typo_target){name, strlen(name), uc_char_classes(name, strlen(name))};
  }
  return UC_OK;
}

/* Lookups land anywhere in a few megabytes: on 2 MiB pages they do not also
 * miss the TLB. The advice is only advice; plain pages work the same. */
static void *alloc_tables(size_t len) {
  const size_t huge = 2u << 20;
  void *p = NULL;
  if (len >= huge && posix_memalign(&p, huge, (len + huge - 1) & ~(huge - 1)) == 0) {
    madvise(p, (len + huge - 1) & ~(huge - 1), MADV_HUGEPAGE);
    return p;
  }
  return malloc(len);
}

static void free_lists(uc_lists *l);

int uc_lists_open(const char *path, uc_lists **out, char *err, size_t es) {
  int rc, fd = -1;
  struct stat st;
  uc_lists *l = NULL;
  *out = NULL;
  if (sodium_init() < 0)
    return uc_errorf(err, es, UC_EIO, "libsodium failed to initialise");
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || fstat(fd, &st) < 0) {
    rc = uc_errorf(err, es, UC_EIO, "%s: %s", path, strerror(errno));
    goto out;
  }
  l = calloc(1, sizeof *l);
  if (l)
    pthread_mutex_init(&l->skel_lock, NULL);
  if (!l) {
    rc = uc_errorf(err, es, UC_ENOMEM, "out of memory");
    goto out;
  }
  if ((size_t)st.st_size < sizeof(struct uc__snap_header)) {
    rc = uc_errorf(err, es, UC_EFORMAT, "%s: not a list snapshot", path);
    goto out;
  }
  /* Read, not mmap'd: a file rewritten in place (cp over it) would turn the
   * lookups of a mapping into SIGBUS. */
  l->map_len = (size_t)st.st_size;
  l->map = alloc_tables(l->map_len);
  if (!l->map) {
    rc = uc_errorf(err, es, UC_ENOMEM, "%s: out of memory", path);
    goto out;
  }
  for (size_t got = 0; got < l->map_len;) {
    ssize_t n = read(fd, (char *)l->map + got, l->map_len - got);
    if (n <= 0) {
      rc = uc_errorf(err, es, n == 0 ? UC_EFORMAT : UC_EIO, "%s: %s", path,
                     n == 0 ? "file shrank while read" : strerror(errno));
      goto out;
    }
    got += (size_t)n;
  }
  l->hdr = l->map;
  rc = check_header(l->hdr, l->map_len, err, es);
  if (!rc)
    rc = map_tables(l, err, es);
  if (rc)
    goto out;
  atomic_init(&l->refs, 1);
  *out = l;
  l = NULL;
out:
  if (fd >= 0)
    close(fd);
  if (l)
    free_lists(l);
  return rc;
}

static void free_lists(uc_lists *l) {
  free(l->map);
  free(l->typo);
  free(l->skel);
  free(l->skel_text);
  pthread_mutex_destroy(&l->skel_lock);
  free(l);
}

uc_lists *uc_lists_ref(uc_lists *l) {
  atomic_fetch_add_explicit(&l->refs, 1, memory_order_relaxed);
  return l;
}

void uc_lists_unref(uc_lists *l) {
  if (!l || atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel) != 1)
    return;
  free_lists(l);
}

int uc_lists_default_path(char *buf, size_t size) {
  const char *env = getenv("USER_CLEANING_LISTS");
  if (env && *env) {
    snprintf(buf, size, "%s", env);
    return UC_OK;
  }
  return uc_path_beside_exe("lists.snap", buf, size);
}

int uc_path_beside_exe(const char *name, char *buf, size_t size) {
  ssize_t n = readlink("/proc/self/exe", buf, size);
  if (n <= 0 || (size_t)n >= size)
    return UC_ENOTFOUND;
  buf[n] = 0;
  char *slash = strrchr(buf, '/');
  size_t dir = slash ? (size_t)(slash + 1 - buf) : 0;
  if (dir + strlen(name) + 1 > size)
    return UC_ENOTFOUND;
  memcpy(buf + dir, name, strlen(name) + 1);
  return UC_OK;
}

void uc_lists_path(const char *configured, char *buf, size_t size) {
  if (configured && *configured)
    snprintf(buf, size, "%s", configured);
  else if (uc_lists_default_path(buf, size) != UC_OK)
    snprintf(buf, size, "lists.snap");
}

const char *uc_lists_version(const uc_lists *l) {
  return l->hdr->version;
}
size_t uc_lists_domain_count(const uc_lists *l) {
  return l->dom.t.count;
}
size_t uc_lists_local_count(const uc_lists *l) {
  return l->loc.t.count;
}
size_t uc_lists_source_count(const uc_lists *l) {
  return l->hdr->nsources;
}

void uc_lists_source(const uc_lists *l, size_t i, struct uc_list_source *src) {
  const struct uc__snap_source *s = &l->sources[i];
  *src = (struct uc_list_source){s->name, s->kind, s->version, s->date, s->count};
}

static int fill_hit(const struct uc__strtab *t, const struct uc__entry *e,
                    struct uc_list_hit *hit) {
  if (!e)
    return 0;
  *hit = (struct uc_list_hit){t->pool + e->off, e->len, e->flags, e->sources, e->date};
  return 1;
}

void uc_lists_each_domain(const uc_lists *l, uc_list_hit_cb cb, void *arg) {
  struct uc_list_hit hit;
  for (uint32_t i = 0; i < uc_table_capacity(&l->dom.t); i++)
    if (uc_table_used(&l->dom.t, i) && fill_hit(&l->dom, uc_table_slot(&l->dom.t, i), &hit) &&
        cb(arg, &hit))
      return;
}

int uc_lists_find_domain(const uc_lists *l, const char *d, size_t n, struct uc_list_hit *hit) {
  return fill_hit(&l->dom, uc__strtab_find(&l->dom, d, n), hit);
}

int uc_lists_find_local(const uc_lists *l, const char *s, size_t n, struct uc_list_hit *hit) {
  return fill_hit(&l->loc, uc__strtab_find(&l->loc, s, n), hit);
}

uint64_t uc_char_classes(const char *s, size_t n) {
  uint64_t m = 0;
  for (size_t i = 0; i < n; i++)
    m |= 1ull << ((unsigned char)s[i] & 63);
  return m;
}

size_t uc_lists_typo_targets(const uc_lists *l, const struct uc_typo_target **targets) {
  *targets = l->typo;
  return l->hdr->typo_count;
}

/* The skeletons once, under the lock; NULL when ICU cannot make them (or
 * out of memory: then every check makes its own, as before). */
static const struct uc_skeleton *make_skeletons(uc_lists *l) {
  size_t count = l->hdr->typo_count;
  char one[4 * UC_DOMAIN_MAX + 1];
  struct uc_buf text; /* the skeletons, each with its NUL */
  struct uc_skeleton *s = calloc(count, sizeof *s);
  size_t *at = calloc(count, sizeof *at);
  int rc = s && at ? UC_OK : UC_ENOMEM;
  uc_buf_init(&text, count * sizeof one);
  for (size_t i = 0; rc == UC_OK && i < count; i++) {
    int n = uc__skeleton(l->typo[i].name, l->typo[i].len, one, sizeof one);
    at[i] = SIZE_MAX; /* no skeleton: matches nothing, as a failed one did */
    if (n >= 0 && (rc = uc_buf_add(&text, one, (size_t)n + 1)) == UC_OK)
      at[i] = text.len - (size_t)n - 1, s[i].len = (size_t)n;
  }
  char *t = rc == UC_OK ? uc_buf_detach(&text, NULL) : NULL; /* NULL too when none was made */
  for (size_t i = 0; t && i < count; i++)                    /* the text no longer moves */
    s[i].text = at[i] == SIZE_MAX ? NULL : t + at[i];
  uc_buf_release(&text);
  free(at);
  if (!t) {
    free(s);
    return NULL;
  }
  l->skel = s, l->skel_text = t;
  return s;
}

const struct uc_skeleton *uc__lists_typo_skeletons(const uc_lists *cl) {
  uc_lists *l = (uc_lists *)cl; /* filled once; readers see it whole (acquire) */
  if (!l->hdr->typo_count)
    return NULL;
  if (atomic_load_explicit(&l->skel_ready, memory_order_acquire))
    return l->skel;
  pthread_mutex_lock(&l->skel_lock);
  const struct uc_skeleton *s = l->skel ? l->skel : make_skeletons(l);
  atomic_store_explicit(&l->skel_ready, 1, memory_order_release);
  pthread_mutex_unlock(&l->skel_lock);
  return s;
}

/* ---- holder: a uc_pub of snapshots ---- */

struct uc_lists_holder {
  struct uc_pub pub;
};

static void *ref_lists(void *l) {
  return uc_lists_ref(l);
}
static void unref_lists(void *l) {
  uc_lists_unref(l);
}

uc_lists_holder *uc_lists_holder_new(uc_lists *initial) {
  uc_lists_holder *h = calloc(1, sizeof *h);
  if (h)
    uc_pub_init(&h->pub, initial, ref_lists, unref_lists);
  return h;
}

void uc_lists_holder_free(uc_lists_holder *h) {
  if (!h)
    return;
  uc_pub_release(&h->pub);
  free(h);
}

uc_lists *uc_lists_holder_get(uc_lists_holder *h) {
  return uc_pub_get(&h->pub);
}

void uc_lists_holder_swap(uc_lists_holder *h, uc_lists *next) {
  uc_pub_swap(&h->pub, next);
}

uc_lists *uc_lists_holder_follow(uc_lists_holder *h, struct uc_follower *f) {
  return uc_pub_follow(&h->pub, f);
}

void uc_lists_follower_drop(struct uc_follower *f) {
  uc_lists_unref(f->cur);
  f->cur = NULL;
}
