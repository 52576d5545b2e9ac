/* Living lists (include/uc/sync.h): the sync state beside a snapshot, the
 * update of URL sources behind the poisoning guard, its report, the status
 * the server shows, and `lists why`. Formats: docs/internals/sync.md. */
#include "uc/sync.h"
#include "fetch_int.h"
#include "lists_build_int.h"
#include "strtab.h"
#include "sync_int.h"
#include "uc/date.h"
#include "uc/engine.h"
#include "uc/error.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libpsl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- paths ---- */

int uc_sync_path(const char *snapshot, const char *name, char *buf, size_t size) {
  int n = snprintf(buf, size, "%s.d/%s", snapshot, name);
  return n < 0 || (size_t)n >= size ? UC_ETOOBIG : UC_OK;
}

/* ---- the state ---- */

struct drop_kept {
  char entry[UC_DOMAIN_MAX + 1];
  char reason[24];
};

struct src_state {
  struct uc_sync_source_state pub;
  size_t ndrops;
  struct drop_kept drops[UC__SYNC_DROPS_KEPT];
};

struct uc_sync_state {
  size_t n;
  struct src_state src[UC__SYNC_STATE_MAX];
};

void uc_sync_state_free(uc_sync_state *s) {
  free(s);
}

size_t uc_sync_state_count(const uc_sync_state *s) {
  return s ? s->n : 0;
}

void uc_sync_state_source(const uc_sync_state *s, size_t i, struct uc_sync_source_state *out) {
  *out = s->src[i].pub;
}

static struct src_state *find_src(const uc_sync_state *s, const char *name) {
  for (size_t i = 0; s && i < s->n; i++)
    if (strcmp(s->src[i].pub.name, name) == 0)
      return (struct src_state *)&s->src[i];
  return NULL;
}

int uc__sync_state_find(const uc_sync_state *s, const char *name,
                        struct uc_sync_source_state *out) {
  const struct src_state *x = find_src(s, name);
  if (x)
    *out = x->pub;
  return x != NULL;
}

const char *uc_sync_state_dropped(const uc_sync_state *s, const char *source, const char *entry) {
  const struct src_state *x = find_src(s, source);
  for (size_t i = 0; x && i < x->ndrops; i++)
    if (strcmp(x->drops[i].entry, entry) == 0)
      return x->drops[i].reason;
  return NULL;
}

/* A string member into out[0..size): absent is fine (""), anything but a
 * string that fits is not. */
static int get_str(const json_t *o, const char *key, char *out, size_t size) {
  const json_t *v = json_object_get(o, key);
  out[0] = 0;
  if (!v || json_is_null(v))
    return 0;
  if (!json_is_string(v) || json_string_length(v) >= size ||
      strlen(json_string_value(v)) != json_string_length(v))
    return -1;
  memcpy(out, json_string_value(v), json_string_length(v) + 1);
  return 0;
}

/* An integer member >= 0 (absent: 0). */
static int get_int(const json_t *o, const char *key, int64_t *out) {
  const json_t *v = json_object_get(o, key);
  *out = 0;
  if (!v)
    return 0;
  if (!json_is_integer(v) || json_integer_value(v) < 0)
    return -1;
  *out = json_integer_value(v);
  return 0;
}

static int get_drops(const json_t *o, struct src_state *x) {
  const json_t *arr = json_object_get(o, "dropped"), *d;
  size_t i;
  if (!arr)
    return 0;
  if (!json_is_array(arr))
    return -1;
  json_array_foreach(arr, i, d) {
    if (i >= UC__SYNC_DROPS_KEPT)
      break;
    struct drop_kept *k = &x->drops[x->ndrops];
    if (get_str(d, "entry", k->entry, sizeof k->entry) ||
        get_str(d, "reason", k->reason, sizeof k->reason) || !k->entry[0])
      return -1;
    x->ndrops++;
  }
  return 0;
}

static int get_source(const json_t *o, struct src_state *x) {
  struct uc_sync_source_state *p = &x->pub;
  char day[16];
  int64_t entries;
  if (!json_is_object(o) || get_str(o, "name", p->name, sizeof p->name) || !p->name[0] ||
      get_str(o, "url", p->url, sizeof p->url) || get_str(o, "etag", p->etag, sizeof p->etag) ||
      get_str(o, "last_modified", p->modified, sizeof p->modified) ||
      get_str(o, "version", p->version, sizeof p->version) || get_str(o, "date", day, sizeof day) ||
      get_str(o, "outcome", p->outcome, sizeof p->outcome) ||
      get_str(o, "last_error", p->last_error, sizeof p->last_error) ||
      get_int(o, "entries", &entries) || get_int(o, "last_attempt", &p->last_attempt) ||
      get_int(o, "last_success", &p->last_success) ||
      get_int(o, "last_error_at", &p->last_error_at) || get_drops(o, x))
    return -1;
  p->date = day[0] ? uc_date_parse(day, strlen(day)) : 0;
  p->entries = (size_t)entries;
  return day[0] && !p->date ? -1 : 0;
}

int uc__sync_state_parse(const char *text, size_t len, uc_sync_state **out, char *err, size_t es) {
  json_error_t je;
  json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je), *src;
  const json_t *sources = json_object_get(doc, "sources");
  size_t i;
  int rc = UC_OK;
  *out = NULL;
  if (!doc)
    return uc_errorf(err, es, UC_EFORMAT, "not JSON: %s (line %d)", je.text, je.line);
  uc_sync_state *s = calloc(1, sizeof *s);
  if (!s)
    rc = uc_errorf(err, es, UC_ENOMEM, "out of memory");
  else if (json_integer_value(json_object_get(doc, "format")) != 1 || !json_is_array(sources))
    rc = uc_errorf(err, es, UC_EFORMAT, "not a sync state of format 1");
  json_array_foreach(rc ? NULL : sources, i, src) {
    if (s->n == UC__SYNC_STATE_MAX)
      break;
    if (get_source(src, &s->src[s->n]) || find_src(s, s->src[s->n].pub.name)) {
      rc = uc_errorf(err, es, UC_EFORMAT, "source %zu is malformed", i);
      break;
    }
    s->n++;
  }
  json_decref(doc);
  if (rc) {
    free(s);
    return rc;
  }
  *out = s;
  return UC_OK;
}

static json_t *str_or_null(const char *s) {
  return s && *s ? json_string(s) : json_null();
}

char *uc__sync_state_dump(const uc_sync_state *s) {
  json_t *sources = json_array();
  char day[11];
  for (size_t i = 0; sources && i < s->n; i++) {
    const struct src_state *x = &s->src[i];
    const struct uc_sync_source_state *p = &x->pub;
    json_t *drops = json_array();
    for (size_t k = 0; drops && k < x->ndrops; k++)
      json_array_append_new(
          drops, json_pack("{s:s, s:s}", "entry", x->drops[k].entry, "reason", x->drops[k].reason));
    if (p->date)
      uc_date_format(p->date, day);
    json_array_append_new(
        sources,
        json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:I, s:I, s:I, s:o, s:o*}", "name",
                  p->name, "url", str_or_null(p->url), "etag", str_or_null(p->etag),
                  "last_modified", str_or_null(p->modified), "version", str_or_null(p->version),
                  "date", str_or_null(p->date ? day : NULL), "entries", (json_int_t)p->entries,
                  "outcome", str_or_null(p->outcome), "last_attempt", (json_int_t)p->last_attempt,
                  "last_success", (json_int_t)p->last_success, "last_error_at",
                  (json_int_t)p->last_error_at, "last_error", str_or_null(p->last_error), "dropped",
                  drops));
  }
  json_t *doc = json_pack("{s:i, s:o*}", "format", 1, "sources", sources);
  char *text = doc ? json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER) : NULL;
  json_decref(doc);
  return text;
}

int uc_sync_state_load(const char *snapshot, uc_sync_state **out, char *err, size_t es) {
  char path[1200];
  struct uc_buf b;
  *out = NULL;
  if (uc_sync_path(snapshot, "sync.json", path, sizeof path))
    return uc_errorf(err, es, UC_ETOOBIG, "%s: path too long", snapshot);
  uc_buf_init(&b, 16u << 20);
  int rc = uc_buf_read_file(&b, path);
  if (rc == UC_ENOTFOUND) {
    rc = (*out = calloc(1, sizeof **out)) ? UC_OK : uc_errorf(err, es, UC_ENOMEM, "out of memory");
  } else if (rc) {
    uc_errorf(err, es, rc, "%s: %s", path, rc == UC_EIO ? strerror(errno) : uc_strerror(rc));
  } else {
    char why[256];
    rc = uc__sync_state_parse(b.data ? b.data : "", b.len, out, why, sizeof why);
    if (rc)
      uc_errorf(err, es, rc, "%s: %s", path, why);
  }
  uc_buf_release(&b);
  return rc;
}

/* ---- the update ---- */

void uc_sync_opts_init(struct uc_sync_opts *o) {
  memset(o, 0, sizeof *o);
  o->max_removed_percent = 20;
  o->max_added = 20000;
  o->timeout_s = 60;
  o->max_bytes = 32u << 20;
}

const char *uc_sync_outcome_name(enum uc_sync_outcome o) {
  static const char *const names[] = {"offline",   "updated", "forced",
                                      "unchanged", "refused", "failed"};
  return (unsigned)o < sizeof names / sizeof names[0] ? names[o] : "?";
}

/* One run: what every source's update needs. */
struct run {
  const char *snapshot;
  const struct uc_sync_opts *o;
  struct uc__manifest m;
  uc_sync_state *st;
  struct uc__strtab_builder good; /* guard and free entries (flags) of the manifest */
  const psl_ctx_t *psl;
  int64_t now;
  unsigned today;
};

/* The file a source is read from now: its copy beside the snapshot (when the
 * state has one), else its file; "" when it has neither. 1 for a copy. */
static int current_file(const struct run *u, const struct uc__list_source *s, char *path,
                        size_t size) {
  char name[80];
  struct stat sb;
  const struct src_state *x = find_src(u->st, s->name);
  snprintf(name, sizeof name, "sources/%s.txt", s->name);
  if (s->url[0] && x && x->pub.date && uc_sync_path(u->snapshot, name, path, size) == UC_OK &&
      stat(path, &sb) == 0)
    return 1;
  if (s->file[0])
    snprintf(path, size, "%s%s%s", u->o->root ? u->o->root : "", u->o->root ? "/" : "", s->file);
  else
    path[0] = 0;
  return 0;
}

struct into_set {
  struct uc__strtab_builder *t;
  unsigned flag;
};

static int into_set(void *arg, const struct uc__list_entry *e) {
  struct into_set *x = arg;
  struct uc__entry *slot = uc__stb_upsert(x->t, e->name, e->len);
  if (!slot)
    return UC_ENOMEM;
  slot->flags |= (uint16_t)x->flag;
  return 0;
}

/* The entries of the file at path into t (with flag); UC_ENOTFOUND when
 * there is no such file. */
static int read_set(const char *path, int role, unsigned flag, struct uc__strtab_builder *t,
                    size_t max_bytes, size_t *invalid) {
  struct uc_buf b;
  struct into_set x = {t, flag};
  uc_buf_init(&b, max_bytes);
  int rc = uc_buf_read_file(&b, path);
  if (!rc && b.len)
    rc = uc__list_body_parse(b.data, b.len, role, into_set, &x, invalid);
  uc_buf_release(&b);
  return rc;
}

/* The guard's "good" set: every entry of the guard and free sources, as read now. */
static int read_good(struct run *u, char *err, size_t es) {
  char path[1200];
  size_t invalid = 0;
  for (int i = 0; i < u->m.nsrc; i++) {
    const struct uc__list_source *s = &u->m.src[i];
    if (!(s->flag & (UC_LF_GUARD | UC_LF_FREE)))
      continue;
    current_file(u, s, path, sizeof path);
    int rc = path[0] ? read_set(path, 0, s->flag, &u->good, SIZE_MAX / 2, &invalid) : UC_OK;
    if (rc && rc != UC_ENOTFOUND)
      return uc_errorf(err, es, rc, "%s: %s", path,
                       rc == UC_EIO ? strerror(errno) : uc_strerror(rc));
  }
  return UC_OK;
}

/* What the guard does with one fetched entry. */
struct accept {
  struct run *u;
  const struct uc__list_source *s;
  struct uc_sync_source_report *r;
  struct src_state *x;
  struct uc__strtab_builder *next; /* the accepted entries */
  struct uc_buf *text;             /* ... as the copy's lines, in the order received */
  struct drop_kept drops[UC__SYNC_DROPS_KEPT];
  size_t ndrops;
};

static void note_drop(struct accept *a, const char *entry, const char *reason, size_t *count) {
  (*count)++;
  if (a->r->ndrops < UC_SYNC_EXAMPLES) {
    struct uc_sync_drop *d = &a->r->drops[a->r->ndrops++];
    snprintf(d->entry, sizeof d->entry, "%s", entry);
    d->reason = reason;
  }
  if (a->ndrops < UC__SYNC_DROPS_KEPT) {
    snprintf(a->drops[a->ndrops].entry, sizeof a->drops[0].entry, "%s", entry);
    snprintf(a->drops[a->ndrops++].reason, sizeof a->drops[0].reason, "%s", reason);
  }
}

static int accept_entry(void *arg, const struct uc__list_entry *e) {
  struct accept *a = arg;
  struct uc__strtab t;
  if (a->s->flag & (UC_LF_DISPOSABLE | UC_LF_RELAY)) { /* what poisoning would block */
    uc__stb_view(&a->u->good, &t);
    const struct uc__entry *g = uc__strtab_find(&t, e->name, e->len);
    if (g && (g->flags & UC_LF_GUARD)) {
      note_drop(a, e->name, "guard list", &a->r->dropped_guard);
      return 0;
    }
    if (g && (g->flags & UC_LF_FREE)) {
      note_drop(a, e->name, "free provider", &a->r->dropped_free);
      return 0;
    }
    if (psl_is_public_suffix2(a->u->psl, e->name, PSL_TYPE_ANY)) {
      note_drop(a, e->name, "public suffix", &a->r->dropped_suffix);
      return 0;
    }
  }
  size_t before = a->next->t.count;
  if (!uc__stb_upsert(a->next, e->name, e->len))
    return UC_ENOMEM;
  if (a->next->t.count == before)
    return 0; /* listed twice */
  return uc_buf_add(a->text, e->name, e->len) || uc_buf_add(a->text, "\n", 1) ? UC_ENOMEM : 0;
}

/* Entries of a not in b. */
static size_t missing_from(const struct uc__strtab_builder *a, const struct uc__strtab_builder *b) {
  struct uc__strtab tb;
  size_t n = 0;
  uc__stb_view(b, &tb);
  for (uint32_t i = 0; i < uc_table_capacity(&a->t); i++) {
    const struct uc__entry *e = uc_table_slot(&a->t, i);
    if (uc_table_used(&a->t, i) && !uc__strtab_find(&tb, a->pool.data + e->off, e->len))
      n++;
  }
  return n;
}

static void failed(struct src_state *x, struct uc_sync_source_report *r, int64_t now,
                   enum uc_sync_outcome o, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void failed(struct src_state *x, struct uc_sync_source_report *r, int64_t now,
                   enum uc_sync_outcome o, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->message, sizeof r->message, fmt, ap);
  va_end(ap);
  r->outcome = o;
  snprintf(x->pub.last_error, sizeof x->pub.last_error, "%s", r->message);
  x->pub.last_error_at = now;
}

/* The size rules: "" when the update may go, else why not. */
static int too_big_a_change(const struct run *u, const struct uc_sync_source_report *r, char *why,
                            size_t size) {
  unsigned long pct = u->o->max_removed_percent;
  why[0] = 0;
  if (!r->previous) /* a first copy: nothing to compare with */
    return 0;
  if ((unsigned long long)r->removed * 100 > (unsigned long long)pct * r->previous)
    snprintf(why, size, "it removes %zu of %zu entries (%.1f%%; the limit is %lu%%)", r->removed,
             r->previous, 100.0 * (double)r->removed / (double)r->previous, pct);
  else if (r->added > u->o->max_added)
    snprintf(why, size, "it adds %zu entries (the limit is %lu)", r->added, u->o->max_added);
  return why[0] != 0;
}

/* Writes the accepted copy and records it in the state. */
static int keep_copy(struct run *u, struct accept *a, char *err, size_t es) {
  char name[80], path[1200], day[11];
  unsigned char digest[4];
  struct src_state *x = a->x;
  snprintf(name, sizeof name, "sources/%s.txt", a->s->name);
  if (uc_sync_path(u->snapshot, name, path, sizeof path) ||
      uc_file_replace(path, a->text->data ? a->text->data : "", a->text->len))
    return uc_errorf(err, es, UC_EIO, "%s: %s", path, strerror(errno));
  crypto_generichash(digest, sizeof digest,
                     (const unsigned char *)(a->text->data ? a->text->data : ""), a->text->len,
                     NULL, 0);
  uc_date_format(u->today, day);
  snprintf(x->pub.version, sizeof x->pub.version, "%.4s.%.2s.%.2s-%02x%02x%02x%02x", day, day + 5,
           day + 8, digest[0], digest[1], digest[2], digest[3]);
  x->pub.date = u->today;
  x->pub.entries = a->next->t.count;
  memcpy(x->drops, a->drops, sizeof a->drops);
  x->ndrops = a->ndrops;
  return UC_OK;
}

/* The fetched body through the guard into a decision. */
static int judge(struct run *u, struct accept *a, const struct uc__fetch *f,
                 const struct uc__strtab_builder *prev, int had_copy, char *err, size_t es) {
  struct uc_sync_source_report *r = a->r;
  struct src_state *x = a->x;
  char why[256];
  int rc = uc__list_body_parse(f->body.data ? f->body.data : "", f->body.len,
                               a->s->flag == UC_LF_ROLE, accept_entry, a, &r->invalid);
  if (rc == UC_EFORMAT) {
    failed(x, r, u->now, UC_SYNC_FAILED, "%s: not a list (a JSON array that does not parse)",
           f->url);
    return UC_OK;
  }
  if (rc)
    return uc_errorf(err, es, rc, "%s: %s", a->s->name, uc_strerror(rc));
  r->added = missing_from(a->next, prev), r->removed = missing_from(prev, a->next);
  if (too_big_a_change(u, r, why, sizeof why)) {
    if (!u->o->force) {
      failed(x, r, u->now, UC_SYNC_REFUSED,
             "refused: %s; the previous copy stays. Check %s, then run with --force to apply it",
             why, f->url);
      return UC_OK;
    }
    snprintf(r->message, sizeof r->message, "forced: %s", why);
  }
  x->pub.last_success = u->now;
  snprintf(x->pub.etag, sizeof x->pub.etag, "%s", f->new_etag);
  snprintf(x->pub.modified, sizeof x->pub.modified, "%s", f->new_modified);
  if (had_copy && !r->added && !r->removed) {
    r->outcome = UC_SYNC_UNCHANGED;
    memcpy(x->drops, a->drops, sizeof a->drops), x->ndrops = a->ndrops;
    return UC_OK;
  }
  r->outcome = r->message[0] ? UC_SYNC_FORCED : UC_SYNC_UPDATED;
  if (!r->previous && !r->message[0])
    snprintf(r->message, sizeof r->message,
             "first copy: the size rules have nothing to compare with");
  return keep_copy(u, a, err, es);
}

/* The state row of source s, made when new. NULL when the state is full. */
static struct src_state *state_row(uc_sync_state *st, const struct uc__list_source *s) {
  struct src_state *x = find_src(st, s->name);
  if (!x && st->n < UC__SYNC_STATE_MAX) {
    x = &st->src[st->n++];
    memset(x, 0, sizeof *x);
    snprintf(x->pub.name, sizeof x->pub.name, "%s", s->name);
  }
  if (x)
    snprintf(x->pub.url, sizeof x->pub.url, "%s", s->url);
  return x;
}

/* Fetches source i and decides. UC_OK whatever the source's outcome. */
static int sync_one(struct run *u, int i, struct uc_sync_report *rep, char *err, size_t es) {
  const struct uc__list_source *s = &u->m.src[i];
  struct uc_sync_source_report *r = &rep->src[i];
  struct src_state *x = state_row(u->st, s);
  struct uc__strtab_builder prev, next;
  struct uc_buf text;
  struct uc__fetch f;
  char path[1200];
  size_t ignored = 0;
  if (!x)
    return uc_errorf(err, es, UC_ETOOBIG, "the sync state holds %d sources at most",
                     UC__SYNC_STATE_MAX);
  uc__stb_init(&prev), uc__stb_init(&next);
  uc_buf_init(&text, SIZE_MAX / 2);
  int had_copy = current_file(u, s, path, sizeof path);
  int rc =
      path[0] ? read_set(path, s->flag == UC_LF_ROLE, 0, &prev, SIZE_MAX / 2, &ignored) : UC_OK;
  if (rc == UC_ENOTFOUND)
    rc = UC_OK;
  r->previous = prev.t.count;
  uc__fetch_init(&f, s->url, u->o->max_bytes, (long)u->o->timeout_s * 1000);
  f.cancel = u->o->cancel;
  if (had_copy) /* validators only for a copy we still have */
    snprintf(f.etag, sizeof f.etag, "%s", x->pub.etag),
        snprintf(f.modified, sizeof f.modified, "%s", x->pub.modified);
  x->pub.last_attempt = u->now;
  int got = rc ? rc : uc__fetch_run(&f);
  r->http_status = f.status;
  struct accept a = {.u = u, .s = s, .r = r, .x = x, .next = &next, .text = &text};
  if (rc) {
    uc_errorf(err, es, rc, "%s: %s", path, uc_strerror(rc));
  } else if (got) {
    failed(x, r, u->now, UC_SYNC_FAILED, "fetch failed, the previous copy stays: %s", f.error);
  } else if (f.status == 304 && had_copy) {
    r->outcome = UC_SYNC_UNCHANGED, x->pub.last_success = u->now;
  } else if (f.status != 200) {
    failed(x, r, u->now, UC_SYNC_FAILED, "fetch failed, the previous copy stays: %s: HTTP %ld",
           f.url, f.status);
  } else {
    rc = judge(u, &a, &f, &prev, had_copy, err, es);
  }
  snprintf(x->pub.outcome, sizeof x->pub.outcome, "%s", uc_sync_outcome_name(r->outcome));
  snprintf(r->version, sizeof r->version, "%s", x->pub.date ? x->pub.version : s->version);
  r->entries =
      r->outcome == UC_SYNC_UPDATED || r->outcome == UC_SYNC_FORCED ? next.t.count : r->previous;
  uc__fetch_release(&f);
  uc_buf_release(&text);
  uc__stb_release(&prev), uc__stb_release(&next);
  return rc;
}

/* mkdir of S.d and S.d/sources, and the lock: one update at a time. The
 * lock's descriptor, or -1 (UC_EBUSY in *rc when another update holds it). */
static int lock_dir(const char *snapshot, int *rc, char *err, size_t es) {
  char path[1200];
  if (uc_sync_path(snapshot, "", path, sizeof path) ||
      (mkdir(path, 0755) != 0 && errno != EEXIST) ||
      uc_sync_path(snapshot, "sources", path, sizeof path) ||
      (mkdir(path, 0755) != 0 && errno != EEXIST) ||
      uc_sync_path(snapshot, "lock", path, sizeof path)) {
    *rc = uc_errorf(err, es, UC_EIO, "%s: %s", path, strerror(errno));
    return -1;
  }
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int busy = fd >= 0 && errno == EWOULDBLOCK;
    *rc = uc_errorf(err, es, busy ? UC_EBUSY : UC_EIO, "%s: %s", path,
                    busy ? "another list update is running" : strerror(errno));
    if (fd >= 0)
      close(fd);
    return -1;
  }
  return fd;
}

static int write_state(const struct run *u, char *err, size_t es) {
  char path[1200];
  char *text = uc__sync_state_dump(u->st);
  int rc = UC_OK;
  if (!text)
    return uc_errorf(err, es, UC_ENOMEM, "out of memory");
  if (uc_sync_path(u->snapshot, "sync.json", path, sizeof path) ||
      uc_file_replace(path, text, strlen(text)))
    rc = uc_errorf(err, es, UC_EIO, "%s: %s", path, strerror(errno));
  free(text);
  return rc;
}

static int read_manifest(struct run *u, const char *manifest, char *err, size_t es) {
  struct uc_buf b;
  uc_buf_init(&b, 1u << 20);
  int rc = uc_buf_read_file(&b, manifest);
  if (rc)
    uc_errorf(err, es, rc, "%s: %s", manifest, rc == UC_EIO ? strerror(errno) : uc_strerror(rc));
  else
    rc = uc__manifest_parse(b.data ? b.data : "", manifest, &u->m, err, es);
  for (int i = 0; !rc && i < u->m.nsrc; i++)
    rc = uc__list_source_check(&u->m.src[i], err, es);
  uc_buf_release(&b);
  return rc;
}

/* The snapshot's build, its report kept in rep->build. */
static int rebuild(const char *manifest, const struct run *u, struct uc_sync_report *rep, char *err,
                   size_t es) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  int rc = uc_lists_build(manifest, u->o->root, u->snapshot, f, err, es);
  if (f)
    fclose(f);
  snprintf(rep->build, sizeof rep->build, "%s", text ? text : "");
  free(text);
  rep->rebuilt = rc == UC_OK;
  return rc;
}

static void init_report(const struct run *u, struct uc_sync_report *rep) {
  rep->nsrc = u->m.nsrc;
  for (int i = 0; i < u->m.nsrc; i++) {
    const struct uc__list_source *s = &u->m.src[i];
    struct uc_sync_source_report *r = &rep->src[i];
    snprintf(r->name, sizeof r->name, "%s", s->name);
    snprintf(r->kind, sizeof r->kind, "%s", s->kind);
    snprintf(r->version, sizeof r->version, "%s", s->version);
    r->has_url = s->url[0] != 0;
    r->outcome = UC_SYNC_OFFLINE;
  }
}

int uc_lists_update(const char *manifest, const char *snapshot, const struct uc_sync_opts *o,
                    struct uc_sync_report *rep, char *err, size_t es) {
  struct run *u = calloc(1, sizeof *u);
  struct stat sb;
  uc_lists *l = NULL;
  char why[256];
  int rc = UC_OK, fd = -1, changed = 0;
  memset(rep, 0, sizeof *rep);
  rep->started_at = (int64_t)time(NULL);
  if (!u || sodium_init() < 0) {
    free(u);
    return uc_errorf(err, es, UC_ENOMEM, "out of memory");
  }
  u->snapshot = snapshot, u->o = o, u->now = rep->started_at, u->today = uc_date_of(u->now);
  uc__stb_init(&u->good);
  u->psl = psl_latest(NULL);
  if (!u->psl)
    u->psl = psl_builtin();
  if ((rc = read_manifest(u, manifest, err, es)) != UC_OK ||
      (fd = lock_dir(snapshot, &rc, err, es)) < 0)
    goto out;
  init_report(u, rep);
  rc = uc_sync_state_load(snapshot, &u->st, err, es);
  if (rc == UC_EFORMAT) /* a damaged state costs validators and history of errors, not the update */
    rc =
        (u->st = calloc(1, sizeof *u->st)) ? UC_OK : uc_errorf(err, es, UC_ENOMEM, "out of memory");
  if (rc)
    goto out;
  if ((rc = read_good(u, err, es)) != UC_OK)
    goto out;
  for (int i = 0; !rc && i < u->m.nsrc; i++) {
    if (!u->m.src[i].url[0])
      continue;
    rc = sync_one(u, i, rep, err, es);
    changed |= rep->src[i].outcome == UC_SYNC_UPDATED || rep->src[i].outcome == UC_SYNC_FORCED;
  }
  if (!rc)
    rc = write_state(u, err, es);
  if (!rc && (changed || stat(snapshot, &sb) != 0))
    rc = rebuild(manifest, u, rep, err, es);
  if (uc_lists_open(snapshot, &l, why, sizeof why) == UC_OK)
    snprintf(rep->version, sizeof rep->version, "%s", uc_lists_version(l));
  uc_lists_unref(l);
out:
  if (fd >= 0)
    close(fd); /* and the lock with it */
  if (u->psl != psl_builtin())
    psl_free((psl_ctx_t *)u->psl);
  uc__stb_release(&u->good);
  uc_sync_state_free(u->st);
  free(u);
  return rc;
}

int uc_sync_report_problems(const struct uc_sync_report *rep) {
  for (int i = 0; i < rep->nsrc; i++)
    if (rep->src[i].outcome == UC_SYNC_REFUSED || rep->src[i].outcome == UC_SYNC_FAILED)
      return 1;
  return 0;
}

/* ---- the report ---- */

void uc_sync_report_print(const struct uc_sync_report *rep, FILE *f) {
  for (int i = 0; i < rep->nsrc; i++) {
    const struct uc_sync_source_report *r = &rep->src[i];
    if (!r->has_url)
      continue;
    fprintf(f, "%s (%s): %s", r->name, r->kind, uc_sync_outcome_name(r->outcome));
    if (r->outcome == UC_SYNC_UPDATED || r->outcome == UC_SYNC_FORCED)
      fprintf(f, ": %zu entries (was %zu: +%zu -%zu)", r->entries, r->previous, r->added,
              r->removed);
    else if (r->outcome == UC_SYNC_REFUSED)
      fprintf(f, " (+%zu -%zu of %zu)", r->added, r->removed, r->previous);
    else
      fprintf(f, ": %zu entries", r->entries);
    if (r->invalid)
      fprintf(f, "; %zu lines not a domain", r->invalid);
    size_t dropped = r->dropped_guard + r->dropped_free + r->dropped_suffix;
    if (dropped) {
      fprintf(f, "; dropped %zu (guard list %zu, free provider %zu, public suffix %zu):", dropped,
              r->dropped_guard, r->dropped_free, r->dropped_suffix);
      for (size_t k = 0; k < r->ndrops; k++)
        fprintf(f, " %s (%s)", r->drops[k].entry, r->drops[k].reason);
      if (dropped > r->ndrops)
        fprintf(f, " ...");
    }
    fprintf(f, "\n");
    if (r->message[0])
      fprintf(f, "  %s\n", r->message);
  }
  if (rep->rebuilt)
    fprintf(f, "snapshot rebuilt: %s\n", rep->version);
  else
    fprintf(f, "snapshot unchanged: %s\n", rep->version[0] ? rep->version : "(none)");
}

static json_t *source_report_json(const struct uc_sync_source_report *r) {
  json_t *drops = json_array();
  for (size_t k = 0; drops && k < r->ndrops; k++)
    json_array_append_new(
        drops, json_pack("{s:s, s:s}", "entry", r->drops[k].entry, "reason", r->drops[k].reason));
  return json_pack("{s:s, s:s, s:b, s:s, s:s, s:i, s:I, s:I, s:I, s:I, s:I, "
                   "s:{s:I, s:I, s:I}, s:o*, s:o}",
                   "name", r->name, "kind", r->kind, "url", r->has_url, "outcome",
                   uc_sync_outcome_name(r->outcome), "version", r->version, "http_status",
                   (int)r->http_status, "entries", (json_int_t)r->entries, "previous",
                   (json_int_t)r->previous, "added", (json_int_t)r->added, "removed",
                   (json_int_t)r->removed, "invalid", (json_int_t)r->invalid, "dropped",
                   "guard list", (json_int_t)r->dropped_guard, "free provider",
                   (json_int_t)r->dropped_free, "public suffix", (json_int_t)r->dropped_suffix,
                   "dropped_entries", drops, "message", str_or_null(r->message));
}

char *uc_sync_report_json(const struct uc_sync_report *rep) {
  json_t *sources = json_array();
  for (int i = 0; sources && i < rep->nsrc; i++)
    json_array_append_new(sources, source_report_json(&rep->src[i]));
  json_t *doc = json_pack("{s:b, s:o, s:b, s:o*}", "rebuilt", rep->rebuilt, "version",
                          str_or_null(rep->version), "problems", uc_sync_report_problems(rep),
                          "sources", sources);
  char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(doc);
  return text;
}

/* ---- what the server shows ---- */

static json_t *iso_time(int64_t t) {
  char when[UC_TIME_ISO_MAX];
  return t && uc_time_format(t, UC_TIME_ISO, when, sizeof when) ? json_string(when) : json_null();
}

static json_t *status_source(const struct uc_list_source *s, const uc_sync_state *st) {
  struct uc_sync_source_state x;
  char day[11];
  int have = st && uc__sync_state_find(st, s->name, &x);
  uc_date_format(s->date, day);
  return json_pack(
      "{s:s, s:s, s:s, s:s, s:i, s:o, s:o, s:o, s:o, s:o, s:o}", "name", s->name, "kind", s->kind,
      "version", s->version, "date", day, "entries", (int)s->count, "url",
      str_or_null(have ? x.url : NULL), "outcome", str_or_null(have ? x.outcome : NULL),
      "last_attempt", iso_time(have ? x.last_attempt : 0), "last_success",
      iso_time(have ? x.last_success : 0), "last_error", str_or_null(have ? x.last_error : NULL),
      "last_error_at", iso_time(have ? x.last_error_at : 0));
}

char *uc_sync_status_json(const uc_lists *l, const uc_sync_state *st) {
  struct uc_list_source s;
  json_t *sources = json_array();
  for (size_t i = 0; sources && i < uc_lists_source_count(l); i++) {
    uc_lists_source(l, i, &s);
    json_array_append_new(sources, status_source(&s, st));
  }
  json_t *doc = json_pack("{s:s, s:I, s:I, s:o*}", "version", uc_lists_version(l), "domains",
                          (json_int_t)uc_lists_domain_count(l), "local_parts",
                          (json_int_t)uc_lists_local_count(l), "sources", sources);
  char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(doc);
  return text;
}

/* ---- provenance ---- */

static void why_listing(const uc_lists *l, const char *snapshot, const struct uc_list_hit *hit,
                        struct uc_why *w) {
  struct uc_list_source src;
  for (size_t i = 0; i < uc_lists_source_count(l) && w->n < UC_WHY_MAX; i++) {
    if (!(hit->sources >> i & 1))
      continue;
    uc_lists_source(l, i, &src);
    struct uc_why_listing *at = &w->at[w->n++];
    snprintf(at->entry, sizeof at->entry, "%s", hit->entry);
    snprintf(at->source, sizeof at->source, "%s", src.name);
    snprintf(at->kind, sizeof at->kind, "%s", src.kind);
    at->since = uc__history_find(snapshot, src.name, hit->entry);
  }
  if ((hit->flags & UC_LF_GUARD) && !w->guard[0])
    snprintf(w->guard, sizeof w->guard, "%s", hit->entry);
  if ((hit->flags & UC_LF_RELAY) && !w->relay[0])
    snprintf(w->relay, sizeof w->relay, "%s", hit->entry);
}

/* Names the guard dropped from the last updates of the state's sources. */
static void why_dropped(const uc_sync_state *st, const char *name, struct uc_why *w) {
  for (size_t i = 0; st && i < st->n && w->ndropped < UC_LISTS_MAX_SOURCES; i++) {
    const char *reason = uc_sync_state_dropped(st, st->src[i].pub.name, name);
    if (!reason)
      continue;
    snprintf(w->dropped[w->ndropped].entry, sizeof w->dropped[0].entry, "%s", name);
    snprintf(w->dropped[w->ndropped].source, sizeof w->dropped[0].source, "%s",
             st->src[i].pub.name);
    snprintf(w->dropped[w->ndropped++].reason, sizeof w->dropped[0].reason, "%s", reason);
  }
}

int uc_lists_why(const uc_lists *l, const char *snapshot, const char *domain, struct uc_why *out,
                 char *err, size_t es) {
  struct uc__list_entry le;
  struct uc_list_hit hit;
  struct uc_policy p;
  struct uc_result r;
  char addr[UC__LIST_LINE_MAX + 4];
  uc_sync_state *st = NULL;
  memset(out, 0, sizeof *out);
  if (uc__list_line_parse(domain, strlen(domain), 0, &le) != UC__LINE_ENTRY || strchr(domain, ' '))
    return uc_errorf(err, es, UC_EINVAL, "'%s' is not a domain", domain);
  snprintf(out->domain, sizeof out->domain, "%.*s", (int)le.len, le.name);
  if (uc_sync_state_load(snapshot, &st, err, es) != UC_OK)
    st = NULL; /* no state: no guard drops to tell */
  for (const char *d = le.name; d && strchr(d, '.'); d = strchr(d, '.') + 1) {
    if (uc_lists_find_domain(l, d, strlen(d), &hit))
      why_listing(l, snapshot, &hit, out);
    why_dropped(st, d, out);
  }
  uc_sync_state_free(st);
  uc_policy_init(&p); /* what a check says, with no account list */
  snprintf(addr, sizeof addr, "x@%.*s", (int)le.len, le.name);
  uc_check(l, &p, addr, strlen(addr), &r);
  out->date_added = r.date_added;
  out->category = uc_category_name(r.category), out->type = uc_type_name(r.type);
  return UC_OK;
}

void uc_why_account(struct uc_why *w, const uc_lists *l, const char *account,
                    const struct uc_policy *p) {
  struct uc_result r;
  char addr[UC_DOMAIN_MAX + 4];
  snprintf(addr, sizeof addr, "x@%s", w->domain);
  uc_check(l, p, addr, strlen(addr), &r);
  snprintf(w->account, sizeof w->account, "%s", account);
  w->category = uc_category_name(r.category), w->type = uc_type_name(r.type);
  w->account_list[0] = w->account_entry[0] = 0;
  if (r.account_list >= 0) {
    snprintf(w->account_list, sizeof w->account_list, "%s",
             uc_category_name((uc_category)r.account_list));
    snprintf(w->account_entry, sizeof w->account_entry, "%s", r.account.entry);
  }
}

static void day_text(unsigned days, char iso[11]) {
  if (days)
    uc_date_format(days, iso);
  else
    snprintf(iso, 11, "unknown");
}

void uc_why_print(const struct uc_why *w, FILE *f) {
  char day[11], dmy[11];
  fprintf(f, "%s\n", w->domain);
  if (!w->n)
    fprintf(f, "  no source lists it or a parent of it\n");
  for (size_t i = 0; i < w->n; i++) {
    day_text(w->at[i].since, day);
    fprintf(f, "  %-28s %-36s %-11s since %s\n", w->at[i].entry, w->at[i].source, w->at[i].kind,
            day);
  }
  if (w->guard[0])
    fprintf(f, "  %s is on the guard list: no disposable listing of it or under it counts\n",
            w->guard);
  if (w->relay[0])
    fprintf(f, "  %s is a multi-alias service: that wins over a disposable listing\n", w->relay);
  for (size_t i = 0; i < w->ndropped; i++)
    fprintf(f, "  the poisoning guard dropped %s from %s's last update (%s)\n", w->dropped[i].entry,
            w->dropped[i].source, w->dropped[i].reason);
  if (w->date_added) {
    uc_date_format(w->date_added, day);
    uc_date_format_dmy(w->date_added, dmy);
    fprintf(f, "  date_added: %s (%s)\n", dmy, day);
  } else {
    fprintf(f, "  date_added: not added\n");
  }
  if (w->account[0] && w->account_list[0])
    fprintf(f, "  account %s: its %s list entry %s overrides the lists: %s / %s\n", w->account,
            w->account_list, w->account_entry, w->category, w->type);
  else if (w->account[0])
    fprintf(f, "  account %s: no list of its matches: %s / %s\n", w->account, w->category, w->type);
  else
    fprintf(f, "  without account lists: %s / %s\n", w->category, w->type);
}

static json_t *day_json(unsigned days) {
  char iso[11];
  if (!days)
    return json_null();
  uc_date_format(days, iso);
  return json_string(iso);
}

char *uc_why_json(const struct uc_why *w) {
  json_t *listed = json_array(), *dropped = json_array();
  char dmy[11] = "not added";
  for (size_t i = 0; listed && i < w->n; i++)
    json_array_append_new(listed, json_pack("{s:s, s:s, s:s, s:o}", "entry", w->at[i].entry,
                                            "source", w->at[i].source, "kind", w->at[i].kind,
                                            "since", day_json(w->at[i].since)));
  for (size_t i = 0; dropped && i < w->ndropped; i++)
    json_array_append_new(dropped,
                          json_pack("{s:s, s:s, s:s}", "entry", w->dropped[i].entry, "source",
                                    w->dropped[i].source, "reason", w->dropped[i].reason));
  if (w->date_added)
    uc_date_format_dmy(w->date_added, dmy);
  json_t *account = w->account[0] ? json_pack("{s:s, s:o, s:o}", "name", w->account, "list",
                                              str_or_null(w->account_list), "entry",
                                              str_or_null(w->account_entry))
                                  : json_null();
  json_t *doc = json_pack("{s:s, s:o*, s:o, s:o, s:o*, s:s, s:o, s:s, s:s, s:o*}", "domain",
                          w->domain, "listed", listed, "guard", str_or_null(w->guard), "relay",
                          str_or_null(w->relay), "dropped_by_guard", dropped, "date_added", dmy,
                          "date_added_iso", day_json(w->date_added), "category", w->category,
                          "type", w->type, "account", account);
  char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
  json_decref(doc);
  return text;
}
