/* Builds a list snapshot from the sources named in an INI manifest. */
#include "lists_build_int.h"
#include "snapshot.h"
#include "sync_int.h"
#include "uc/email.h"
#include "uc/error.h"
#include "uc/lists.h"
#include "uc/sync.h"

#include <errno.h>
#include <ini.h>
#include <jansson.h>
#include <libpsl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct build {
  struct uc__manifest m;
  struct uc__strtab_builder dom, loc;
  struct uc_buf typo; /* uint32_t pool offsets of typo targets, in popularity order */
  const psl_ctx_t *psl;
  /* Provenance: per source, the day each entry first appeared in our lists
   * (read from the history beside the snapshot, then completed), and the
   * snapshot being replaced (its dates are the floor for entries the
   * history does not know yet). */
  struct uc__strtab_builder hist[UC_LISTS_MAX_SOURCES];
  uc_lists *old;
};

/* Source names name files beside the snapshot: no '/', no leading dot. */
static int name_ok(const char *n) {
  if (!*n || *n == '.' || *n == '-')
    return 0;
  for (; *n; n++)
    if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') || (*n >= '0' && *n <= '9') ||
          *n == '.' || *n == '_' || *n == '-'))
      return 0;
  return 1;
}

unsigned uc__list_kind_flag(const char *kind) {
  static const struct {
    const char *kind;
    unsigned flag;
  } kinds[] = {{"disposable", UC_LF_DISPOSABLE},
               {"multi-alias", UC_LF_RELAY},
               {"guard", UC_LF_GUARD},
               {"free", UC_LF_FREE},
               {"premium", UC_LF_PREMIUM},
               {"typo", UC_LF_TYPO_TARGET},
               {"role", UC_LF_ROLE}};
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    if (strcmp(kind, kinds[i].kind) == 0)
      return kinds[i].flag;
  return 0;
}

static int on_ini(void *user, const char *section, const char *key, const char *value) {
  struct uc__manifest *m = user;
  if (m->bad)
    return 0;
  if (m->nsrc == 0 || strcmp(m->src[m->nsrc - 1].name, section) != 0) {
    if (m->nsrc == UC_LISTS_MAX_SOURCES || strlen(section) >= sizeof m->src[0].name) {
      snprintf(m->bad_msg, sizeof m->bad_msg, "too many sources or name too long: [%s]", section);
      return m->bad = 1, 0;
    }
    if (!name_ok(section)) {
      snprintf(m->bad_msg, sizeof m->bad_msg,
               "[%s]: a source name is letters, digits, '.', '_' and '-'", section);
      return m->bad = 1, 0;
    }
    snprintf(m->src[m->nsrc++].name, sizeof m->src[0].name, "%s", section);
  }
  struct uc__list_source *s = &m->src[m->nsrc - 1];
  size_t vlen = strlen(value);
  if (strcmp(key, "file") == 0 && vlen < sizeof s->file)
    memcpy(s->file, value, vlen + 1);
  else if (strcmp(key, "url") == 0 && vlen < sizeof s->url &&
           (strncmp(value, "http://", 7) == 0 || strncmp(value, "https://", 8) == 0))
    memcpy(s->url, value, vlen + 1);
  else if (strcmp(key, "kind") == 0 && uc__list_kind_flag(value))
    snprintf(s->kind, sizeof s->kind, "%s", value), s->flag = uc__list_kind_flag(value);
  else if (strcmp(key, "version") == 0 && vlen < sizeof s->version)
    memcpy(s->version, value, vlen + 1);
  else if (strcmp(key, "date") == 0 && uc_date_parse(value, vlen))
    s->date = uc_date_parse(value, vlen);
  else if (strcmp(key, "license") != 0 && strcmp(key, "comment") != 0) {
    snprintf(m->bad_msg, sizeof m->bad_msg, "[%s] %s = %s: unknown key or bad value", section, key,
             value);
    return m->bad = 1, 0;
  }
  return 1;
}

/* What ini_parse*() returned (-1: cannot open, -2: out of memory, > 0: the
 * first bad line) as our error, the same for a file and a string. */
static int manifest_result(const struct uc__manifest *m, const char *name, int line, char *err,
                           size_t es) {
  if (line == -2)
    return uc_errorf(err, es, UC_ENOMEM, "%s: out of memory", name);
  if (line < 0)
    return uc_errorf(err, es, UC_EIO, "%s: cannot open", name);
  if (line > 0 || m->bad)
    return uc_errorf(err, es, UC_EFORMAT, "%s:%d: %s", name, line, m->bad ? m->bad_msg : "syntax");
  return UC_OK;
}

int uc__manifest_parse(const char *text, const char *name, struct uc__manifest *m, char *err,
                       size_t es) {
  return manifest_result(m, name, ini_parse_string(text, on_ini, m), err, es);
}

int uc__list_source_check(const struct uc__list_source *s, char *err, size_t es) {
  if (!s->flag || (!s->url[0] && !s->file[0]) || (s->file[0] && !s->date))
    return uc_errorf(err, es, UC_EFORMAT, "[%s] needs a kind, and a file with its date or a url",
                     s->name);
  return UC_OK;
}

static void merge(struct uc__entry *e, unsigned flag, int bit, unsigned date) {
  e->flags |= (uint16_t)flag;
  e->sources |= (uint16_t)(1u << bit);
  if (date && (!e->date || date < e->date))
    e->date = (uint16_t)date;
}

/* The next field of p[*i..n): a run of bytes other than space, tab, CR, LF. */
static size_t next_field(const char *p, size_t n, size_t *i, const char **field) {
  static const char sep[] = " \t\r\n";
  while (*i < n && memchr(sep, p[*i], sizeof sep - 1))
    ++*i;
  *field = p + *i;
  size_t start = *i;
  while (*i < n && !memchr(sep, p[*i], sizeof sep - 1))
    ++*i;
  return *i - start;
}

int uc__list_line_parse(const char *line, size_t len, int role, struct uc__list_entry *out) {
  len = strnlen(line, len);
  const char *hash = memchr(line, '#', len);
  size_t n = hash ? (size_t)(hash - line) : len, i = 0;
  const char *entry, *when;
  size_t elen = next_field(line, n, &i, &entry);
  if (!elen)
    return UC__LINE_EMPTY;
  size_t wlen = next_field(line, n, &i, &when);
  out->date = wlen ? uc_date_parse(when, wlen) : 0;
  if (elen >= sizeof out->name)
    return UC__LINE_INVALID;
  if (role) {
    for (size_t k = 0; k < elen; k++)
      out->name[k] = (char)((entry[k] >= 'A' && entry[k] <= 'Z') ? entry[k] | 0x20 : entry[k]);
    out->name[elen] = 0;
    out->len = elen;
    return UC__LINE_ENTRY;
  }
  /* Domains go through the same parser as addresses: one notion of "valid". */
  char addr[UC_EMAIL_INPUT_MAX + 3];
  struct uc_email em;
  snprintf(addr, sizeof addr, "x@%.*s", (int)elen, entry);
  if (uc_email_parse(addr, strlen(addr), 0, &em, NULL, 0) != UC_OK)
    return UC__LINE_INVALID;
  memcpy(out->name, em.domain, em.domain_len + 1);
  out->len = em.domain_len;
  return UC__LINE_ENTRY;
}

static unsigned min_day(unsigned a, unsigned b) {
  return !a ? b : !b ? a : a < b ? a : b;
}

/* The day entry le of source bit first appeared in our lists: the earliest
 * of its history, the snapshot being replaced and its own line's date; else
 * (new to us) the source's date. Recorded in the history. NULL on ENOMEM. */
static struct uc__entry *first_seen(struct build *b, int bit, const struct uc__list_entry *le) {
  struct uc__entry *h = uc__stb_upsert(&b->hist[bit], le->name, le->len);
  struct uc_list_hit hit;
  if (!h)
    return NULL;
  unsigned first = min_day(h->date, le->date);
  if (b->old && uc_lists_find_domain(b->old, le->name, le->len, &hit))
    first = min_day(first, hit.date);
  h->date = (uint16_t)(first ? first : b->m.src[bit].date);
  return h;
}

/* One entry of source number bit into the tables. */
static int add_entry(struct build *b, int bit, const struct uc__list_entry *le) {
  struct uc__list_source *s = &b->m.src[bit];
  unsigned date = 0;
  if (s->flag == UC_LF_ROLE) {
    struct uc__entry *e = uc__stb_upsert(&b->loc, le->name, le->len);
    if (!e)
      return UC_ENOMEM;
    merge(e, s->flag, bit, 0);
    s->count++;
    return 0;
  }
  if (s->flag == UC_LF_DISPOSABLE && psl_is_public_suffix2(b->psl, le->name, PSL_TYPE_ANY)) {
    s->skipped_suffix++; /* a listed public suffix must never black-list all under it */
    return 0;
  }
  struct uc__entry *h = first_seen(b, bit, le);
  if (!h)
    return UC_ENOMEM;
  date = h->date;
  struct uc__entry *e = uc__stb_upsert(&b->dom, le->name, le->len);
  if (!e)
    return UC_ENOMEM;
  if (s->flag == UC_LF_TYPO_TARGET && !(e->flags & UC_LF_TYPO_TARGET)) {
    uint32_t off = e->off;
    int rc = uc_buf_add(&b->typo, &off, sizeof off);
    if (rc)
      return rc;
  }
  merge(e, s->flag, bit, (s->flag & (UC_LF_DISPOSABLE | UC_LF_RELAY)) ? date : 0);
  s->count++;
  return 0;
}

/* ---- a list as fetched: lines, or a JSON array of strings ---- */

static int body_lines(const char *p, size_t n, int role, uc__list_entry_cb cb, void *arg,
                      size_t *invalid) {
  struct uc__list_entry le;
  while (n) {
    const char *nl = memchr(p, '\n', n);
    size_t len = nl ? (size_t)(nl - p) : n;
    /* the line parser stops at a NUL: one inside a line ends that line only */
    int kind = len < UC__LIST_LINE_MAX ? uc__list_line_parse(p, len, role, &le) : UC__LINE_INVALID;
    int rc = kind == UC__LINE_ENTRY ? cb(arg, &le) : 0;
    if (rc)
      return rc;
    *invalid += kind == UC__LINE_INVALID;
    p += len + (nl != NULL), n -= len + (nl != NULL);
  }
  return UC_OK;
}

static int body_json(const char *p, size_t n, int role, uc__list_entry_cb cb, void *arg,
                     size_t *invalid) {
  struct uc__list_entry le;
  size_t i;
  json_t *v, *doc = json_loadb(p, n, JSON_REJECT_DUPLICATES, NULL);
  int rc = json_is_array(doc) ? UC_OK : UC_EFORMAT;
  json_array_foreach(rc ? NULL : doc, i, v) {
    const char *str = json_string_value(v);
    size_t len = str ? json_string_length(v) : 0;
    int kind = str && len < UC__LIST_LINE_MAX && !memchr(str, '\n', len)
                   ? uc__list_line_parse(str, len, role, &le)
                   : UC__LINE_INVALID;
    if (kind == UC__LINE_ENTRY && (rc = cb(arg, &le)) != 0)
      break;
    *invalid += kind != UC__LINE_ENTRY;
  }
  json_decref(doc);
  return rc;
}

int uc__list_body_parse(const char *data, size_t len, int role, uc__list_entry_cb cb, void *arg,
                        size_t *invalid) {
  size_t i = len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
  while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n'))
    i++;
  return i < len && data[i] == '[' ? body_json(data + i, len - i, role, cb, arg, invalid)
                                   : body_lines(data + i, len - i, role, cb, arg, invalid);
}

/* One line of source number bit into the tables. */
static int add_line(struct build *b, int bit, const char *line) {
  struct uc__list_source *s = &b->m.src[bit];
  struct uc__list_entry le;
  int kind = uc__list_line_parse(line, strlen(line), s->flag == UC_LF_ROLE, &le);
  if (kind == UC__LINE_INVALID)
    s->skipped_invalid++;
  return kind == UC__LINE_ENTRY ? add_entry(b, bit, &le) : 0;
}

/* Calls add(b, bit, line) for each line of path (an over-long line counts as
 * invalid and is skipped whole). UC_OK, UC_ENOTFOUND, or an error with err. */
static int each_line(struct build *b, int bit, const char *path,
                     int (*add)(struct build *b, int bit, const char *line), char *err, size_t es) {
  struct uc__list_source *s = &b->m.src[bit];
  char line[UC__LIST_LINE_MAX];
  int rc = UC_OK;
  FILE *f = fopen(path, "r");
  if (!f)
    return errno == ENOENT ? UC_ENOTFOUND
                           : uc_errorf(err, es, UC_EIO, "%s: %s", path, strerror(errno));
  while (!rc && fgets(line, sizeof line, f)) {
    if (!strchr(line, '\n') && !feof(f)) {
      int c; /* an over-long line is skipped whole */
      while ((c = fgetc(f)) != EOF && c != '\n')
        ;
      s->skipped_invalid++;
      continue;
    }
    rc = add(b, bit, line);
  }
  if (!rc && ferror(f))
    rc = uc_errorf(err, es, UC_EIO, "%s: read error", path);
  else if (rc)
    uc_errorf(err, es, rc, "%s: %s", path, uc_strerror(rc));
  fclose(f);
  return rc;
}

static int read_source(struct build *b, int bit, char *err, size_t es) {
  const struct uc__list_source *s = &b->m.src[bit];
  if (!s->path[0]) /* a URL source never fetched, without a file */
    return UC_OK;
  int rc = each_line(b, bit, s->path, add_line, err, es);
  return rc == UC_ENOTFOUND ? uc_errorf(err, es, UC_EIO, "%s: %s", s->path, strerror(ENOENT)) : rc;
}

/* ---- history ---- */

static int add_history(struct build *b, int bit, const char *line) {
  struct uc__list_entry le;
  if (uc__list_line_parse(line, strlen(line), 0, &le) != UC__LINE_ENTRY || !le.date)
    return 0; /* a damaged line costs its entry's date, nothing else */
  struct uc__entry *h = uc__stb_upsert(&b->hist[bit], le.name, le.len);
  if (!h)
    return UC_ENOMEM;
  h->date = (uint16_t)min_day(h->date, le.date);
  return 0;
}

static int history_path(const char *snapshot, const char *source, char *buf, size_t size) {
  char name[80];
  snprintf(name, sizeof name, "history/%s.txt", source);
  return uc_sync_path(snapshot, name, buf, size);
}

static int read_history(struct build *b, int bit, const char *out_path, char *err, size_t es) {
  char path[1200];
  if (b->m.src[bit].flag == UC_LF_ROLE ||
      history_path(out_path, b->m.src[bit].name, path, sizeof path))
    return UC_OK;
  unsigned invalid = b->m.src[bit].skipped_invalid;
  int rc = each_line(b, bit, path, add_history, err, es);
  b->m.src[bit].skipped_invalid = invalid; /* the history's lines are not the source's */
  return rc == UC_ENOTFOUND ? UC_OK : rc;
}

/* mkdir -p of the directory part of path. */
static int make_dirs(const char *path) {
  char dir[1200];
  snprintf(dir, sizeof dir, "%s", path);
  for (char *p = dir + 1; (p = strchr(p, '/')) != NULL; p++) {
    *p = 0;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
      return UC_EIO;
    *p = '/';
  }
  return UC_OK;
}

/* Every entry a source ever listed, with its first day: the history grows,
 * entries that leave a list keep their date for when they come back. */
static int write_history(struct build *b, int bit, const char *out_path, char *err, size_t es) {
  char path[1200], day[11];
  struct uc_buf text;
  const struct uc__strtab_builder *h = &b->hist[bit];
  if (b->m.src[bit].flag == UC_LF_ROLE || !h->t.count)
    return UC_OK;
  if (history_path(out_path, b->m.src[bit].name, path, sizeof path))
    return uc_errorf(err, es, UC_ETOOBIG, "%s: path too long", out_path);
  uc_buf_init(&text, SIZE_MAX / 2);
  int rc =
      uc_buf_addf(&text, "# first day [%s] listed each entry in our lists\n", b->m.src[bit].name);
  for (uint32_t i = 0; !rc && i < uc_table_capacity(&h->t); i++) {
    const struct uc__entry *e = uc_table_slot(&h->t, i);
    if (!uc_table_used(&h->t, i))
      continue;
    uc_date_format(e->date, day);
    rc = uc_buf_addf(&text, "%s %s\n", (const char *)h->pool.data + e->off, day);
  }
  if (!rc && (make_dirs(path) || uc_file_replace(path, text.data, text.len)))
    rc = uc_errorf(err, es, UC_EIO, "%s: %s", path, strerror(errno));
  uc_buf_release(&text);
  return rc == UC_ENOMEM ? uc_errorf(err, es, rc, "out of memory") : rc;
}

unsigned uc__history_find(const char *snapshot, const char *source, const char *entry) {
  char path[1200], line[UC__LIST_LINE_MAX];
  struct uc__list_entry le;
  unsigned day = 0;
  FILE *f = history_path(snapshot, source, path, sizeof path) ? NULL : fopen(path, "r");
  while (f && fgets(line, sizeof line, f))
    if (uc__list_line_parse(line, strlen(line), 0, &le) == UC__LINE_ENTRY &&
        strcmp(le.name, entry) == 0)
      day = min_day(day, le.date);
  if (f)
    fclose(f);
  return day;
}

static uint64_t align8(uint64_t x) {
  return (x + 7) & ~(uint64_t)7;
}

static int write_snapshot(struct build *b, const char *out_path, char *err, size_t es) {
  struct uc__snap_header h;
  memset(&h, 0, sizeof h);
  memcpy(h.magic, UC__SNAP_MAGIC, 8);
  h.format = UC__SNAP_FORMAT;
  h.nsources = (uint32_t)b->m.nsrc;
  struct uc__strtab dom, loc;
  uc__stb_view(&b->dom, &dom);
  uc__stb_view(&b->loc, &loc);
  if (!dom.t.slots || !loc.t.slots) /* an empty table still needs its empty slots */
    if (uc_table_reserve(&b->dom.t, 1) || uc_table_reserve(&b->loc.t, 1))
      return uc_errorf(err, es, UC_ENOMEM, "out of memory");
  uc__stb_view(&b->dom, &dom);
  uc__stb_view(&b->loc, &loc);
  h.dom_mask = dom.t.mask, h.dom_count = dom.t.count;
  h.loc_mask = loc.t.mask, h.loc_count = loc.t.count;
  h.typo_count = (uint32_t)UC_BUF_COUNT(&b->typo, uint32_t);
  h.sources_off = align8(sizeof h);
  h.dom_off = align8(h.sources_off + (uint64_t)b->m.nsrc * sizeof(struct uc__snap_source));
  h.loc_off = h.dom_off + ((uint64_t)dom.t.mask + 1) * sizeof(struct uc__entry);
  h.typo_off = h.loc_off + ((uint64_t)loc.t.mask + 1) * sizeof(struct uc__entry);
  h.pool_off = align8(h.typo_off + UC_BUF_COUNT(&b->typo, uint32_t) * 4);
  h.pool_len = b->dom.pool.len + b->loc.pool.len; /* local parts follow the domains */
  h.file_len = h.pool_off + h.pool_len;
  unsigned char *buf = calloc(1, h.file_len);
  if (!buf)
    return uc_errorf(err, es, UC_ENOMEM, "out of memory");
  unsigned latest = 0;
  for (int i = 0; i < b->m.nsrc; i++) {
    struct uc__snap_source *d = (void *)(buf + h.sources_off + i * sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", b->m.src[i].name);
    snprintf(d->kind, sizeof d->kind, "%s", b->m.src[i].kind);
    snprintf(d->version, sizeof d->version, "%s", b->m.src[i].version);
    d->date = b->m.src[i].date, d->count = b->m.src[i].count;
    latest = b->m.src[i].date > latest ? b->m.src[i].date : latest;
  }
  memcpy(buf + h.dom_off, dom.t.slots, ((size_t)dom.t.mask + 1) * sizeof(struct uc__entry));
  struct uc__entry *lslots = (void *)(buf + h.loc_off);
  for (uint32_t i = 0; i <= loc.t.mask; i++) {
    lslots[i] = *(const struct uc__entry *)uc_table_slot(&loc.t, i);
    if (lslots[i].hash)
      lslots[i].off += (uint32_t)b->dom.pool.len;
  }
  if (UC_BUF_COUNT(&b->typo, uint32_t))
    memcpy(buf + h.typo_off, b->typo.data, UC_BUF_COUNT(&b->typo, uint32_t) * 4);
  if (b->dom.pool.len)
    memcpy(buf + h.pool_off, b->dom.pool.data, b->dom.pool.len);
  if (b->loc.pool.len)
    memcpy(buf + h.pool_off + b->dom.pool.len, b->loc.pool.data, b->loc.pool.len);
  crypto_generichash(h.digest, sizeof h.digest, buf + sizeof h, h.file_len - sizeof h, NULL, 0);
  char day[11];
  uc_date_format(latest, day);
  snprintf(h.version, sizeof h.version, "%.4s.%.2s.%.2s-%02x%02x%02x%02x", day, day + 5, day + 8,
           h.digest[0], h.digest[1], h.digest[2], h.digest[3]);
  memcpy(buf, &h, sizeof h);

  int rc = UC_OK; /* beside the old one, renamed over it: readers see the old file or the new */
  if (uc_file_replace(out_path, buf, h.file_len) != UC_OK)
    rc = uc_errorf(err, es, UC_EIO, "%s: %s", out_path, strerror(errno));
  free(buf);
  return rc;
}

/* Where each source is read from: a URL source's last accepted copy beside
 * the snapshot (with the version and day the sync state gives it), else its
 * file under root. A damaged state leaves every source to its file. */
static int resolve(struct build *b, const char *root, const char *out_path, char *err, size_t es) {
  uc_sync_state *st = NULL;
  struct uc_sync_source_state ss;
  char why[256], name[80];
  struct stat sb;
  if (uc_sync_state_load(out_path, &st, why, sizeof why) != UC_OK)
    st = NULL;
  int rc = UC_OK;
  for (int i = 0; !rc && i < b->m.nsrc; i++) {
    struct uc__list_source *s = &b->m.src[i];
    if ((rc = uc__list_source_check(s, err, es)) != UC_OK)
      break;
    s->path[0] = 0;
    snprintf(name, sizeof name, "sources/%s.txt", s->name);
    if (s->url[0] && st && uc__sync_state_find(st, s->name, &ss) && ss.date &&
        uc_sync_path(out_path, name, s->path, sizeof s->path) == UC_OK && stat(s->path, &sb) == 0) {
      snprintf(s->version, sizeof s->version, "%s", ss.version);
      s->date = ss.date;
    } else if (s->file[0]) {
      snprintf(s->path, sizeof s->path, "%s%s%s", root ? root : "", root ? "/" : "", s->file);
    } else {
      s->path[0] = 0; /* a URL source never fetched: nothing yet */
    }
  }
  uc_sync_state_free(st);
  return rc;
}

static void report_sources(const struct build *b, FILE *report) {
  for (int i = 0; report && i < b->m.nsrc; i++) {
    const struct uc__list_source *s = &b->m.src[i];
    if (!s->path[0])
      fprintf(report, "%-36s %-11s no copy yet: `usercleaning lists update` fetches %s\n", s->name,
              s->kind, s->url);
    else
      fprintf(report, "%-36s %-11s %-8s %7u entries, %u invalid, %u public suffixes skipped\n",
              s->name, s->kind, s->version, s->count, s->skipped_invalid, s->skipped_suffix);
  }
}

int uc_lists_build(const char *manifest, const char *root, const char *out_path, FILE *report,
                   char *err, size_t es) {
  struct build *b = calloc(1, sizeof *b);
  char why[256];
  int rc = UC_OK;
  if (!b || sodium_init() < 0) {
    free(b);
    return uc_errorf(err, es, UC_ENOMEM, "out of memory");
  }
  uc__stb_init(&b->dom);
  uc__stb_init(&b->loc);
  for (int i = 0; i < UC_LISTS_MAX_SOURCES; i++)
    uc__stb_init(&b->hist[i]);
  uc_buf_init(&b->typo, 1u << 20);
  b->psl = psl_latest(NULL);
  if (!b->psl)
    b->psl = psl_builtin();
  if (uc_lists_open(out_path, &b->old, why, sizeof why) != UC_OK)
    b->old = NULL; /* none yet, or unreadable: the history alone dates entries */
  rc = manifest_result(&b->m, manifest, ini_parse(manifest, on_ini, &b->m), err, es);
  if (!rc)
    rc = resolve(b, root, out_path, err, es);
  for (int i = 0; !rc && i < b->m.nsrc; i++)
    rc = read_history(b, i, out_path, err, es);
  for (int i = 0; !rc && i < b->m.nsrc; i++)
    rc = read_source(b, i, err, es);
  for (int i = 0; !rc && i < b->m.nsrc; i++) /* first: a snapshot never outruns its history */
    rc = write_history(b, i, out_path, err, es);
  if (!rc)
    rc = write_snapshot(b, out_path, err, es);
  if (!rc)
    report_sources(b, report);
  if (b->psl != psl_builtin())
    psl_free((psl_ctx_t *)b->psl);
  uc_lists_unref(b->old);
  uc__stb_release(&b->dom);
  uc__stb_release(&b->loc);
  for (int i = 0; i < UC_LISTS_MAX_SOURCES; i++)
    uc__stb_release(&b->hist[i]);
  uc_buf_release(&b->typo);
  free(b);
  return rc;
}
