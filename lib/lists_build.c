/* Builds a list snapshot from the sources named in an INI manifest. */
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

#define LINE_MAX_LEN 1024

struct source {
  char name[48], kind[16], version[24], file[512];
  unsigned date, flag, count, skipped_invalid, skipped_suffix;
};

struct build {
  struct source src[UC_LISTS_MAX_SOURCES];
  int nsrc;
  int bad; /* set by the INI handler on an unknown key or too many sources */
  char bad_msg[160];
  struct uc__strtab_builder dom, loc;
  struct uc_buf typo; /* uint32_t pool offsets of typo targets, in popularity order */
  const psl_ctx_t *psl;
};

static unsigned kind_flag(const char *kind) {
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
  struct build *b = user;
  if (b->bad)
    return 0;
  if (b->nsrc == 0 || strcmp(b->src[b->nsrc - 1].name, section) != 0) {
    if (b->nsrc == UC_LISTS_MAX_SOURCES || strlen(section) >= sizeof b->src[0].name) {
      snprintf(b->bad_msg, sizeof b->bad_msg, "too many sources or name too long: [%s]", section);
      return b->bad = 1, 0;
    }
    snprintf(b->src[b->nsrc++].name, sizeof b->src[0].name, "%s", section);
  }
  struct source *s = &b->src[b->nsrc - 1];
  size_t vlen = strlen(value);
  if (strcmp(key, "file") == 0 && vlen < sizeof s->file)
    memcpy(s->file, value, vlen + 1);
  else if (strcmp(key, "kind") == 0 && kind_flag(value))
    snprintf(s->kind, sizeof s->kind, "%s", value), s->flag = kind_flag(value);
  else if (strcmp(key, "version") == 0 && vlen < sizeof s->version)
    memcpy(s->version, value, vlen + 1);
  else if (strcmp(key, "date") == 0 && uc_date_parse(value, vlen))
    s->date = uc_date_parse(value, vlen);
  else if (strcmp(key, "license") != 0 && strcmp(key, "comment") != 0) {
    snprintf(b->bad_msg, sizeof b->bad_msg, "[%s] %s = %s: unknown key or bad value", section, key,
             value);
    return b->bad = 1, 0;
  }
  return 1;
}

static void merge(struct uc__entry *e, unsigned flag, int bit, unsigned date) {
  e->flags |= (uint16_t)flag;
  e->sources |= (uint16_t)(1u << bit);
  if (date && (!e->date || date < e->date))
    e->date = (uint16_t)date;
}

/* One line of a source: "entry [YYYY-MM-DD] [# comment]". */
static int add_line(struct build *b, int bit, char *line) {
  struct source *s = &b->src[bit];
  char *hash = strchr(line, '#');
  if (hash)
    *hash = 0;
  char *entry = strtok_r(line, " \t\r\n", &hash);
  if (!entry)
    return 0;
  char *when = strtok_r(NULL, " \t\r\n", &hash);
  unsigned date = when ? uc_date_parse(when, strlen(when)) : 0;
  if (!date)
    date = s->date;
  if (s->flag == UC_LF_ROLE) {
    size_t n = strlen(entry);
    for (size_t i = 0; i < n; i++)
      entry[i] = (char)((entry[i] >= 'A' && entry[i] <= 'Z') ? entry[i] | 0x20 : entry[i]);
    struct uc__entry *e = uc__stb_upsert(&b->loc, entry, n);
    if (!e)
      return UC_ENOMEM;
    merge(e, s->flag, bit, 0);
    s->count++;
    return 0;
  }
  /* Domains go through the same parser as addresses: one notion of "valid". */
  char addr[UC_EMAIL_INPUT_MAX + 3];
  struct uc_email em;
  snprintf(addr, sizeof addr, "x@%s", entry);
  if (uc_email_parse(addr, strlen(addr), 0, &em, NULL, 0) != UC_OK) {
    s->skipped_invalid++;
    return 0;
  }
  if (s->flag == UC_LF_DISPOSABLE && psl_is_public_suffix2(b->psl, em.domain, PSL_TYPE_ANY)) {
    s->skipped_suffix++; /* a listed public suffix must never black-list all under it */
    return 0;
  }
  struct uc__entry *e = uc__stb_upsert(&b->dom, em.domain, em.domain_len);
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
  struct source *s = &b->src[bit];
  char path[1100], line[LINE_MAX_LEN];
  if (!s->flag || !s->file[0] || !s->date)
    return uc_errorf(err, es, UC_EFORMAT, "[%s] needs file, kind and date", s->name);
  snprintf(path, sizeof path, "%s%s%s", root ? root : "", root ? "/" : "", s->file);
  FILE *f = fopen(path, "r");
  if (!f)
    return uc_errorf(err, es, UC_EIO, "%s: %s", path, strerror(errno));
  int rc = 0;
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
  h.nsources = (uint32_t)b->nsrc;
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
  h.dom_off = align8(h.sources_off + (uint64_t)b->nsrc * sizeof(struct uc__snap_source));
  h.loc_off = h.dom_off + ((uint64_t)dom.t.mask + 1) * sizeof(struct uc__entry);
  h.typo_off = h.loc_off + ((uint64_t)loc.t.mask + 1) * sizeof(struct uc__entry);
  h.pool_off = align8(h.typo_off + UC_BUF_COUNT(&b->typo, uint32_t) * 4);
  h.pool_len = b->dom.pool.len + b->loc.pool.len; /* local parts follow the domains */
  h.file_len = h.pool_off + h.pool_len;
  unsigned char *buf = calloc(1, h.file_len);
  if (!buf)
    return uc_errorf(err, es, UC_ENOMEM, "out of memory");
  unsigned latest = 0;
  for (int i = 0; i < b->nsrc; i++) {
    struct uc__snap_source *d = (void *)(buf + h.sources_off + i * sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", b->src[i].name);
    snprintf(d->kind, sizeof d->kind, "%s", b->src[i].kind);
    snprintf(d->version, sizeof d->version, "%s", b->src[i].version);
    d->date = b->src[i].date, d->count = b->src[i].count;
    latest = b->src[i].date > latest ? b->src[i].date : latest;
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
  int line = ini_parse(manifest, on_ini, b);
  if (line < 0) {
    rc = uc_errorf(err, es, UC_EIO, "%s: cannot open", manifest);
    goto out;
  }
  if (line > 0 || b->bad) {
    rc =
        uc_errorf(err, es, UC_EFORMAT, "%s:%d: %s", manifest, line, b->bad ? b->bad_msg : "syntax");
    goto out;
  }
  for (int i = 0; i < b->nsrc && !rc; i++)
    rc = read_source(b, i, root, err, es);
  if (rc)
    goto out;
  rc = write_snapshot(b, out_path, err, es);
  for (int i = 0; report && !rc && i < b->nsrc; i++)
    fprintf(report, "%-36s %-11s %-8s %7u entries, %u invalid, %u public suffixes skipped\n",
            b->src[i].name, b->src[i].kind, b->src[i].version, b->src[i].count,
            b->src[i].skipped_invalid, b->src[i].skipped_suffix);
out:
  if (b->psl != psl_builtin())
    psl_free((psl_ctx_t *)b->psl);
  uc__stb_release(&b->dom);
  uc__stb_release(&b->loc);
  uc_buf_release(&b->typo);
  free(b);
  return rc;
}
