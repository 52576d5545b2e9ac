/* Builds a list snapshot from the sources named in an INI manifest. */
#include "lists_build_int.h"
#include "snapshot.h"
#include "uc/email.h"
#include "uc/error.h"
#include "uc/lists.h"

#include <errno.h>
#include <ini.h>
#include <libpsl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct build {
  struct uc__manifest m;
  struct uc__strtab_builder dom, loc;
  struct uc_buf typo; /* uint32_t pool offsets of typo targets, in popularity order */
  const psl_ctx_t *psl;
};

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
    snprintf(m->src[m->nsrc++].name, sizeof m->src[0].name, "%s", section);
  }
  struct uc__list_source *s = &m->src[m->nsrc - 1];
  size_t vlen = strlen(value);
  if (strcmp(key, "file") == 0 && vlen < sizeof s->file)
    memcpy(s->file, value, vlen + 1);
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
  if (!s->flag || !s->file[0] || !s->date)
    return uc_errorf(err, es, UC_EFORMAT, "[%s] needs file, kind and date", s->name);
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

/* One line of source number bit into the tables. */
static int add_line(struct build *b, int bit, const char *line) {
  struct uc__list_source *s = &b->m.src[bit];
  struct uc__list_entry le;
  int kind = uc__list_line_parse(line, strlen(line), s->flag == UC_LF_ROLE, &le);
  if (kind == UC__LINE_EMPTY)
    return 0;
  if (kind == UC__LINE_INVALID) {
    s->skipped_invalid++;
    return 0;
  }
  unsigned date = le.date ? le.date : s->date;
  if (s->flag == UC_LF_ROLE) {
    struct uc__entry *e = uc__stb_upsert(&b->loc, le.name, le.len);
    if (!e)
      return UC_ENOMEM;
    merge(e, s->flag, bit, 0);
    s->count++;
    return 0;
  }
  if (s->flag == UC_LF_DISPOSABLE && psl_is_public_suffix2(b->psl, le.name, PSL_TYPE_ANY)) {
    s->skipped_suffix++; /* a listed public suffix must never black-list all under it */
    return 0;
  }
  struct uc__entry *e = uc__stb_upsert(&b->dom, le.name, le.len);
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

static int read_source(struct build *b, int bit, const char *root, char *err, size_t es) {
  struct uc__list_source *s = &b->m.src[bit];
  char path[1100], line[UC__LIST_LINE_MAX];
  int rc = uc__list_source_check(s, err, es);
  if (rc)
    return rc;
  snprintf(path, sizeof path, "%s%s%s", root ? root : "", root ? "/" : "", s->file);
  FILE *f = fopen(path, "r");
  if (!f)
    return uc_errorf(err, es, UC_EIO, "%s: %s", path, strerror(errno));
  while (!rc && fgets(line, sizeof line, f)) {
    if (!strchr(line, '\n') && !feof(f)) {
      int c; /* an over-long line is skipped whole */
      while ((c = fgetc(f)) != EOF && c != '\n')
        ;
      s->skipped_invalid++;
      continue;
    }
    rc = add_line(b, bit, line);
  }
  if (!rc && ferror(f))
    rc = uc_errorf(err, es, UC_EIO, "%s: read error", path);
  else if (rc)
    uc_errorf(err, es, rc, "%s: %s", path, uc_strerror(rc));
  fclose(f);
  return rc;
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

  char tmp[1100];
  snprintf(tmp, sizeof tmp, "%s.tmp", out_path);
  FILE *f = fopen(tmp, "wb");
  int rc = UC_OK;
  if (!f || fwrite(buf, 1, h.file_len, f) != h.file_len || fclose(f) != 0 ||
      rename(tmp, out_path) != 0) /* readers see the old file or the new, never half */
    rc = uc_errorf(err, es, UC_EIO, "%s: %s", out_path, strerror(errno));
  free(buf);
  return rc;
}

int uc_lists_build(const char *manifest, const char *root, const char *out_path, FILE *report,
                   char *err, size_t es) {
  struct build *b = calloc(1, sizeof *b);
  int rc = UC_OK;
  if (!b || sodium_init() < 0)
    return uc_errorf(err, es, UC_ENOMEM, "out of memory");
  uc__stb_init(&b->dom);
  uc__stb_init(&b->loc);
  uc_buf_init(&b->typo, 1u << 20);
  b->psl = psl_latest(NULL);
  if (!b->psl)
    b->psl = psl_builtin();
  rc = manifest_result(&b->m, manifest, ini_parse(manifest, on_ini, &b->m), err, es);
  if (rc)
    goto out;
  for (int i = 0; i < b->m.nsrc && !rc; i++)
    rc = read_source(b, i, root, err, es);
  if (rc)
    goto out;
  rc = write_snapshot(b, out_path, err, es);
  for (int i = 0; report && !rc && i < b->m.nsrc; i++)
    fprintf(report, "%-36s %-11s %-8s %7u entries, %u invalid, %u public suffixes skipped\n",
            b->m.src[i].name, b->m.src[i].kind, b->m.src[i].version, b->m.src[i].count,
            b->m.src[i].skipped_invalid, b->m.src[i].skipped_suffix);
out:
  if (b->psl != psl_builtin())
    psl_free((psl_ctx_t *)b->psl);
  uc__stb_release(&b->dom);
  uc__stb_release(&b->loc);
  uc_buf_release(&b->typo);
  free(b);
  return rc;
}
