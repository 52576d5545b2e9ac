/* uc_batch_clean: finds the email column, counts the rows and the last
 * occurrence of each address, then checks and writes every row (two reads of
 * the file: a sample and the count, which keeps the rows in the rows file for
 * the work). The engine as a batch check. */
#include "uc/batch.h"
#include "batch_int.h"
#include "uc/buf.h"
#include "uc/error.h"
#include "uc/result.h"
#include "uc/table.h"

#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

const char *const uc_batch_extra_names[UC_BATCH_EXTRA] = {"category", "domain_type", "mx_record",
                                                          "did_you_mean"};

static const char *const format_names[] = {"csv", "tsv", "txt", "xlsx"};

int uc_batch_format_of(const char *name, enum uc_batch_format *out) {
  const char *dot = name ? strrchr(name, '.') : NULL;
  for (int i = 0; dot && i < 4; i++)
    if (strcasecmp(dot + 1, format_names[i]) == 0)
      return *out = (enum uc_batch_format)i, UC_OK;
  return UC_EINVAL;
}

const char *uc_batch_format_name(enum uc_batch_format f) {
  return (unsigned)f < 4 ? format_names[f] : "csv";
}

const char *uc_batch_format_mime(enum uc_batch_format f) {
  switch (uc_batch_result_format(f)) {
  case UC_BATCH_TSV:
    return "text/tab-separated-values; charset=utf-8";
  case UC_BATCH_XLSX:
    return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
  default:
    return "text/csv; charset=utf-8";
  }
}

enum uc_batch_format uc_batch_result_format(enum uc_batch_format in) {
  return in == UC_BATCH_TXT ? UC_BATCH_CSV : in;
}

int uc_batch_header_is_email(const char *p, size_t n) {
  static const char *const names[] = {"email", "emails", "emailaddress", "mail", "mailaddress"};
  char s[32];
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    char c = p[i];
    if (c == ' ' || c == '-' || c == '_' || c == '\t')
      continue;
    if (k == sizeof s - 1)
      return 0;
    s[k++] = (char)(c >= 'A' && c <= 'Z' ? c | 0x20 : c);
  }
  s[k] = 0;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(s, names[i]) == 0)
      return 1;
  return 0;
}

/* ---- the job ---- */

/* Per column, over the sample: cells with something in them, and with an '@'. */
struct col_stat {
  uint32_t filled, at;
};

/* An address seen while counting: 96 bits of a seeded hash (the tag and h),
 * never the text, and its row; 16 bytes. XXH3 (xxHash's 128-bit hash) with a
 * random seed per job: a sixth of SipHash's cost on an address. Two
 * addresses with the same 96 bits would count as one; by chance that is
 * about n² / 2^97 (a billion rows: one chance in 10^11), and a list made to
 * collide (the seed is secret and new for every job) could only drop rows
 * from its own uploader's result. */
struct seen {
  uint32_t tag;
  uint32_t last; /* row index */
  uint64_t h;
};
#define UC_BATCH_DEDUPE_ROWS UINT32_MAX

/* Deduplication without a cache miss per address: while counting, each
 * address's struct seen is appended to one of BUCKETS buffers by the tag's
 * top byte (in row order); after counting, each bucket goes through one small
 * table (a 256th of the addresses: a million fit in L2) that keeps the last
 * row of each hash and drops the rows before it. */
#define BUCKETS 256

struct clean {
  const struct uc_batch_job *job;
  char *err;
  size_t es;
  int rc;
  /* what the sample said */
  struct uc_buf stats, first; /* struct col_stat: all sampled rows, and the first row alone */
  uint64_t sampled;
  long named;   /* the column whose header names it, or -1 */
  size_t col;   /* the email column */
  int header;   /* row 0 is a header */
  size_t width; /* cells of the widest row: the added columns start after it */
  int written;  /* the result is CSV/TSV: rows are kept as the writer writes them */
  /* the rows, parsed once (counting) and replayed (checking and writing) */
  struct uc__rows rows;
  /* deduplication: addresses by bucket, then the last row of each, and a bit per row dropped */
  struct uc_buf bucket[BUCKETS]; /* struct seen */
  struct uc_table seen;
  struct uc_buf dropped;
  XXH64_hash_t seed; /* random per job */
  struct uc_buf lower;
  /* writing */
  uc_batch_writer *w;
  struct uc_batch_layout layout;
  struct uc_buf pad; /* struct uc_batch_cell: a short row's cells and the empty ones after */
  struct uc_batch_counts n;
  unsigned every;
  uint64_t next[2]; /* counting, checking: no progress call before this row */
  struct uc_batch_cell category[3], type[UC_TYPE_COUNT]; /* the names, measured once */
  /* CSV/TSV: the added cells as the writer puts them, the last of each
   * category and type without did_you_mean, with its mx_record (len 0: none
   * yet); without DNS every mx_record is "unknown" */
  struct {
    size_t len;
    char mx[48];
    char s[160];
  } tails[3 * UC_TYPE_COUNT];
  struct uc_buf tail; /* the others' */
};

static int say(struct clean *c, int rc, const char *fmt, const char *a) {
  if (!c->rc) {
    c->rc = rc;
    snprintf(c->err, c->es, fmt, a);
  }
  return rc;
}

/* The address cell of a row, trimmed; NULL when the row has none (a blank row). */
static const char *address_of(const struct clean *c, const struct uc_batch_row *row, size_t *n) {
  if (c->col >= row->n)
    return NULL;
  const char *p = row->cells[c->col].p;
  size_t k = row->cells[c->col].n;
  while (k && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
    p++, k--;
  while (k && (p[k - 1] == ' ' || p[k - 1] == '\t' || p[k - 1] == '\r' || p[k - 1] == '\n'))
    k--;
  *n = k;
  return k ? p : NULL;
}

static int progress(struct clean *c, enum uc_batch_phase phase, int force) {
  if (c->job->stop && atomic_load_explicit(c->job->stop, memory_order_relaxed))
    return say(c, UC_ECANCELED, "%s", "canceled");
  uint64_t at = phase == UC_BATCH_COUNTING ? c->n.rows_total : c->n.rows_done;
  if (!c->job->progress)
    return 0;
  if (!force) { /* at % every == 0, divided only from the next multiple on */
    if (at < c->next[phase != UC_BATCH_COUNTING] || at % c->every)
      return 0;
    c->next[phase != UC_BATCH_COUNTING] = at + c->every;
  }
  if (c->job->progress(c->job->progress_ctx, phase, &c->n))
    return say(c, UC_ECANCELED, "%s", "canceled");
  return 0;
}

/* ---- pass 0: which column, and is there a header ---- */

static int sample_row(void *arg, const struct uc_batch_row *row) {
  struct clean *c = arg;
  size_t have = UC_BUF_COUNT(&c->stats, struct col_stat);
  if (row->index == 0)
    for (size_t j = 0; j < row->n && c->named < 0; j++)
      if (uc_batch_header_is_email(row->cells[j].p, row->cells[j].n))
        c->named = (long)j;
  if (row->n > have) {
    struct col_stat zero = {0, 0};
    for (size_t j = have; j < row->n; j++)
      if (uc_buf_add(&c->stats, &zero, sizeof zero) || uc_buf_add(&c->first, &zero, sizeof zero))
        return say(c, UC_ENOMEM, "%s", "out of memory");
  }
  for (size_t j = 0; j < row->n; j++) {
    struct col_stat *s = &UC_BUF_AT(&c->stats, struct col_stat, j);
    struct col_stat *f = &UC_BUF_AT(&c->first, struct col_stat, j);
    int filled = row->cells[j].n > 0, at = memchr(row->cells[j].p, '@', row->cells[j].n) != NULL;
    s->filled += filled, s->at += at;
    if (row->index == 0)
      f->filled = filled, f->at = at;
  }
  return ++c->sampled > UC_BATCH_SAMPLE_ROWS ? 1 : 0;
}

/* The first column whose cells mostly hold an '@' (the first row left out
 * when there are others: it may be a header). */
static int pick_column(struct clean *c) {
  size_t cols = UC_BUF_COUNT(&c->stats, struct col_stat);
  if (c->named >= 0) {
    c->col = (size_t)c->named, c->header = 1;
    return UC_OK;
  }
  for (size_t j = 0; j < cols; j++) {
    struct col_stat s = UC_BUF_AT(&c->stats, struct col_stat, j);
    struct col_stat f = UC_BUF_AT(&c->first, struct col_stat, j);
    if (c->sampled > 1)
      s.filled -= f.filled, s.at -= f.at;
    if (s.at && s.at * 2 > s.filled) {
      c->col = j;
      c->header = c->sampled > 1 && f.filled && !f.at;
      return UC_OK;
    }
  }
  if (!c->sampled)
    return say(c, UC_EFORMAT, "%s", "the file has no rows");
  return say(c, UC_EFORMAT, "%s",
             "no column holds email addresses: name it 'email' in a header row, or put one "
             "address per cell");
}

static int find_column(struct clean *c) {
  int rc = uc_batch_read(c->job->in, c->job->in_format, &c->layout, sample_row, c, c->err, c->es);
  if (rc < 0)
    return c->rc ? c->rc : (c->rc = rc);
  if (c->job->in_format == UC_BATCH_TXT) { /* one address per line */
    c->col = 0, c->header = c->named == 0;
    return c->sampled ? UC_OK : say(c, UC_EFORMAT, "%s", "the file has no rows");
  }
  return pick_column(c);
}

/* ---- pass 1: rows, width, last occurrences ---- */

static int seen_eq(const void *slot, const void *h) {
  return ((const struct seen *)slot)->h == *(const uint64_t *)h;
}

/* Marks row i dropped: a later row has its address. */
static int drop_row(struct clean *c, uint64_t i) {
  static const char zeros[4096];
  while (c->dropped.len <= i / 8)
    if (uc_buf_add(&c->dropped, zeros, sizeof zeros))
      return say(c, UC_ENOMEM, "%s", "out of memory");
  c->dropped.data[i / 8] |= (char)(1u << (i % 8));
  return UC_OK;
}

static int is_dropped(const struct clean *c, uint64_t i) {
  return i / 8 < c->dropped.len && (c->dropped.data[i / 8] >> (i % 8) & 1);
}

/* d[0..n) = p[0..n) with ASCII capitals made small, 8 bytes at a time
 * where it can (bytes of 0x80 and above are left as they are). */
static void fold_case(char *d, const char *p, size_t n) {
  const uint64_t lows = 0x7f7f7f7f7f7f7f7fu, highs = 0x8080808080808080u;
  size_t i = 0;
  for (uint64_t v; i + 8 <= n; i += 8) {
    memcpy(&v, p + i, 8);
    uint64_t seven = v & lows;
    uint64_t from_a = seven + 0x3f3f3f3f3f3f3f3fu, past_z = seven + 0x2525252525252525u;
    v |= ((from_a ^ past_z) & ~v & highs) >> 2; /* 'A'..'Z' get 0x20 */
    memcpy(d + i, &v, 8);
  }
  for (; i < n; i++)
    d[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] | 0x20 : p[i]);
}

/* Notes that row i has the address p[0..n) (ASCII case folded). */
static int note_address(struct clean *c, const char *p, size_t n, uint64_t i) {
  char small[320];
  char *low = small;
  struct seen e;
  if (i >= UC_BATCH_DEDUPE_ROWS)
    return say(c, UC_ETOOBIG, "%s", "more than 4294967295 rows cannot be deduplicated");
  if (n > sizeof small) {
    uc_buf_reset(&c->lower);
    if (uc_buf_reserve(&c->lower, n))
      return say(c, UC_ENOMEM, "%s", "out of memory");
    low = c->lower.data;
  }
  fold_case(low, p, n);
  XXH128_hash_t d = XXH3_128bits_withSeed(low, n, c->seed);
  e.tag = (uint32_t)(d.high64 >> 32);
  e.h = d.low64;
  e.last = (uint32_t)i;
  if (uc_buf_add(&c->bucket[e.tag >> 24], &e, sizeof e))
    return say(c, UC_ENOMEM, "%s", "out of memory");
  return UC_OK;
}

/* Drops every row whose address a later row has, bucket by bucket. */
static int find_duplicates(struct clean *c) {
  for (size_t b = 0; b < BUCKETS; b++) {
    const struct seen *e = (const struct seen *)(void *)c->bucket[b].data;
    uint32_t n = (uint32_t)UC_BUF_COUNT(&c->bucket[b], struct seen);
    if (!n)
      continue;
    uc_table_clear(&c->seen);
    if (uc_table_reserve(&c->seen, n))
      return say(c, UC_ENOMEM, "%s", "out of memory");
    for (uint32_t k = 0; k < n; k++) {
      int created;
      struct seen *s = uc_table_insert(&c->seen, e[k].tag, seen_eq, &e[k].h, &created);
      if (!s)
        return say(c, UC_ENOMEM, "%s", "out of memory");
      if (created)
        s->h = e[k].h;
      else if (drop_row(c, s->last))
        return c->rc;
      s->last = e[k].last;
    }
    uc_buf_release(&c->bucket[b]);
  }
  return UC_OK;
}

static int count_row(void *arg, const struct uc_batch_row *row) {
  struct clean *c = arg;
  size_t n = 0;
  const char *addr = address_of(c, row, &n);
  /* the count pass reads with the writer's delimiter apart (uc__batch_read): its rows are
   * struct uc__row */
  int plain = c->written && ((const struct uc__row *)(const void *)row)->plain;
  int rc = c->written
               ? uc__rows_add_encoded(&c->rows, c->w, row, plain, c->col, addr, n, c->err, c->es)
               : uc__rows_add(&c->rows, row, c->err, c->es);
  if (rc)
    return c->rc = rc;
  if (row->n > c->width)
    c->width = row->n;
  if (c->header && row->index == 0)
    return 0;
  c->n.rows_total++;
  if (addr && c->job->deduplicate && note_address(c, addr, n, row->index))
    return c->rc;
  return progress(c, UC_BATCH_COUNTING, 0);
}

/* ---- pass 2: check and write ---- */

/* Writes the row's cells padded to the width, then extra. */
static int put_row(struct clean *c, const struct uc_batch_row *row,
                   const struct uc_batch_cell *extra) {
  size_t n = row->n > c->width ? row->n : c->width;
  if (n == row->n) { /* nothing to pad: the row's own cells */
    int rc = uc_batch_writer_row(c->w, row->cells, n, extra, UC_BATCH_EXTRA, c->err, c->es);
    return rc ? (c->rc = rc) : UC_OK;
  }
  uc_buf_reset(&c->pad);
  if (uc_buf_reserve(&c->pad, n * sizeof(struct uc_batch_cell)))
    return say(c, UC_ENOMEM, "%s", "out of memory");
  struct uc_batch_cell *cells = (struct uc_batch_cell *)(void *)c->pad.data;
  for (size_t i = 0; i < n; i++)
    cells[i] = i < row->n ? row->cells[i] : (struct uc_batch_cell){"", 0, UC_CELL_TEXT};
  int rc = uc_batch_writer_row(c->w, cells, n, extra, UC_BATCH_EXTRA, c->err, c->es);
  return rc ? (c->rc = rc) : UC_OK;
}

static int put_header(struct clean *c, const struct uc_batch_row *row) {
  struct uc_batch_cell extra[UC_BATCH_EXTRA];
  for (int i = 0; i < UC_BATCH_EXTRA; i++)
    extra[i] = (struct uc_batch_cell){uc_batch_extra_names[i], strlen(uc_batch_extra_names[i]),
                                      UC_CELL_TEXT};
  if (row)
    return put_row(c, row, extra);
  struct uc_batch_cell email = {"email", 5, UC_CELL_TEXT}; /* TXT without a header */
  struct uc_batch_row named = {&email, 1, 0};
  return put_row(c, &named, extra);
}

/* The added cells of a row with the address addr[0..n) (NULL: a blank row),
 * counted; they may point into v. Returns the verdict's slot in c->tails
 * when only its category and type are filled in, else -1. */
static int verdict(struct clean *c, const char *addr, size_t n, struct uc_batch_verdict *v,
                   struct uc_batch_cell extra[UC_BATCH_EXTRA]) {
  for (int i = 0; i < UC_BATCH_EXTRA; i++)
    extra[i] = (struct uc_batch_cell){"", 0, 0};
  if (!addr) {
    extra[1] = (struct uc_batch_cell){UC_BATCH_BLANK_TYPE, strlen(UC_BATCH_BLANK_TYPE), 0};
    c->n.blank++;
    return -1;
  }
  v->mx_record[0] = v->did_you_mean[0] = 0;
  c->job->check(c->job->check_ctx, addr, n, v);
  unsigned cat = (unsigned)v->category < 3 ? (unsigned)v->category : UC_WHITE;
  unsigned type = v->type < UC_TYPE_COUNT ? (unsigned)v->type : UC_T_UNKNOWN;
  extra[0] = c->category[cat];
  extra[1] = c->type[type];
  extra[2] = (struct uc_batch_cell){v->mx_record, strlen(v->mx_record), 0};
  extra[3] = (struct uc_batch_cell){v->did_you_mean, strlen(v->did_you_mean), 0};
  c->n.category[v->category % 3]++;
  c->n.type[type]++;
  return extra[3].n || extra[2].n >= sizeof c->tails[0].mx ? -1 : (int)(cat * UC_TYPE_COUNT + type);
}

/* The added cells as the writer puts them (slot: verdict's answer). */
static int written_tail(struct clean *c, const struct uc_batch_cell extra[UC_BATCH_EXTRA], int slot,
                        const char **p, size_t *n) {
  if (slot >= 0 && c->tails[slot].len && strcmp(c->tails[slot].mx, extra[2].p) == 0) {
    *p = c->tails[slot].s, *n = c->tails[slot].len;
    return UC_OK;
  }
  uc_buf_reset(&c->tail);
  if (uc_buf_reserve(&c->tail, uc__writer_encode_room(extra, UC_BATCH_EXTRA)))
    return say(c, UC_ENOMEM, "%s", "out of memory");
  *n = c->tail.len = uc__writer_encode(c->w, extra, UC_BATCH_EXTRA, c->tail.data, SIZE_MAX, NULL);
  c->tail.data[c->tail.len] = 0;
  *p = c->tail.data;
  if (slot >= 0 && *n <= sizeof c->tails[slot].s) {
    memcpy(c->tails[slot].mx, extra[2].p, extra[2].n + 1);
    memcpy(c->tails[slot].s, *p, *n), c->tails[slot].len = *n;
  }
  return UC_OK;
}

/* Row `index`, with its address: 1 when it is the header row, written already
 * (or failed: c->rc) and not to be checked; after a TXT's first row, the
 * header it lacks. 0: check it. */
static int header_first(struct clean *c, uint64_t index, const struct uc_batch_row *header) {
  if (index != 0 || !(c->header || c->job->in_format == UC_BATCH_TXT))
    return 0;
  return put_header(c, header) || c->header;
}

/* A row whose address a later row has goes (and is counted); 1 then. */
static int dropped_here(struct clean *c, const char *addr, uint64_t index) {
  if (!addr || !is_dropped(c, index))
    return 0;
  c->n.duplicates++, c->n.rows_done++;
  return 1;
}

static int work_row(void *arg, const struct uc_batch_row *row) {
  struct clean *c = arg;
  struct uc_batch_verdict v;
  struct uc_batch_cell extra[UC_BATCH_EXTRA];
  size_t n = 0;
  if (header_first(c, row->index, c->header ? row : NULL))
    return c->rc;
  const char *addr = address_of(c, row, &n);
  if (dropped_here(c, addr, row->index))
    return progress(c, UC_BATCH_CHECKING, 0);
  verdict(c, addr, n, &v, extra);
  if (put_row(c, row, extra))
    return c->rc;
  c->n.rows_done++;
  return progress(c, UC_BATCH_CHECKING, 0);
}

/* work_row for a row kept as the writer writes it. */
static int work_written(void *arg, const struct uc__enc_row *row) {
  struct clean *c = arg;
  struct uc_batch_verdict v;
  struct uc_batch_cell extra[UC_BATCH_EXTRA];
  int rc;
  const char *tail;
  size_t tail_len;
  if (row->index == 0 && c->header) {
    for (int i = 0; i < UC_BATCH_EXTRA; i++)
      extra[i] = (struct uc_batch_cell){uc_batch_extra_names[i], strlen(uc_batch_extra_names[i]),
                                        UC_CELL_TEXT};
    if (written_tail(c, extra, -1, &tail, &tail_len))
      return c->rc;
    rc = uc__writer_encoded_row(c->w, row->enc, row->len, row->cells, c->width, tail, tail_len,
                                c->err, c->es);
    return rc ? (c->rc = rc) : UC_OK;
  }
  if (header_first(c, row->index, NULL))
    return c->rc;
  if (dropped_here(c, row->addr, row->index))
    return progress(c, UC_BATCH_CHECKING, 0);
  int slot = verdict(c, row->addr, row->addr_len, &v, extra);
  if (written_tail(c, extra, slot, &tail, &tail_len))
    return c->rc;
  if ((rc = uc__writer_encoded_row(c->w, row->enc, row->len, row->cells, c->width, tail, tail_len,
                                   c->err, c->es)) != UC_OK)
    return c->rc = rc;
  c->n.rows_done++;
  return progress(c, UC_BATCH_CHECKING, 0);
}

/* Where the rows file goes: tmpdir, else beside the output, else $TMPDIR or /tmp. */
static void rows_dir(const struct uc_batch_job *j, char *out, size_t size) {
  const char *slash = strrchr(j->out, '/'), *tmp = getenv("TMPDIR");
  if (j->tmpdir)
    snprintf(out, size, "%s", j->tmpdir);
  else if (strcmp(j->out, "-") == 0)
    snprintf(out, size, "%s", tmp && *tmp ? tmp : "/tmp");
  else if (slash)
    snprintf(out, size, "%.*s", slash == j->out ? 1 : (int)(slash - j->out), j->out);
  else
    snprintf(out, size, ".");
}

/* Pass 1 (reading): every row parsed once into the rows file, counted, its
 * address noted; then the duplicates found. */
static int count(struct clean *c) {
  const struct uc_batch_job *j = c->job;
  char dir[4096];
  rows_dir(j, dir, sizeof dir);
  int rc = uc__rows_open(&c->rows, dir, c->err, c->es);
  if (!rc)
    rc = uc__batch_read(j->in, j->in_format, &c->layout, c->written ? uc__writer_delim(c->w) : -1,
                        count_row, c, c->err, c->es);
  if (!rc && j->deduplicate)
    rc = find_duplicates(c);
  if (!rc)
    rc = progress(c, UC_BATCH_COUNTING, 1);
  return c->rc ? c->rc : rc;
}

static int run(struct clean *c) {
  const struct uc_batch_job *j = c->job;
  int rc = find_column(c); /* which also reads the layout the writer keeps */
  if (!rc)
    rc = uc_batch_writer_open(j->out, j->out_format, &c->layout, j->tmpdir,
                              j->sync ? UC_BATCH_WRITE_SYNC : 0, &c->w, c->err, c->es);
  c->written = j->out_format != UC_BATCH_XLSX;
  if (!rc)
    rc = count(c);
  if (!rc) /* the checking phase starts with every row counted */
    rc = progress(c, UC_BATCH_CHECKING, 1);
  if (!rc)
    rc = c->written ? uc__rows_replay_encoded(&c->rows, work_written, c, c->err, c->es)
                    : uc__rows_replay(&c->rows, work_row, c, c->err, c->es);
  if (!rc)
    rc = progress(c, UC_BATCH_CHECKING, 1);
  if (!rc) {
    uc_batch_writer *w = c->w;
    c->w = NULL;
    rc = uc_batch_writer_close(w, c->err, c->es);
  }
  return c->rc ? c->rc : rc;
}

int uc_batch_clean(const struct uc_batch_job *job, struct uc_batch_counts *counts, char *err,
                   size_t es) {
  struct clean c;
  char ignored[8];
  memset(&c, 0, sizeof c);
  c.job = job, c.err = es ? err : ignored, c.es = es ? es : sizeof ignored;
  c.named = -1;
  c.every = job->progress_every ? job->progress_every : 4096;
  for (int i = 0; i < 3; i++)
    c.category[i] = (struct uc_batch_cell){uc_category_name((uc_category)i),
                                           strlen(uc_category_name((uc_category)i)), 0};
  for (int i = 0; i < UC_TYPE_COUNT; i++)
    c.type[i] =
        (struct uc_batch_cell){uc_type_name((uc_type)i), strlen(uc_type_name((uc_type)i)), 0};
  uc_buf_init(&c.stats, UC_BATCH_COLUMNS_MAX * sizeof(struct col_stat));
  uc_buf_init(&c.first, UC_BATCH_COLUMNS_MAX * sizeof(struct col_stat));
  uc_buf_init(&c.lower, UC_BATCH_CELL_MAX + 1);
  uc_buf_init(&c.pad, (UC_BATCH_COLUMNS_MAX + 1) * sizeof(struct uc_batch_cell));
  uc_buf_init(&c.tail, 1u << 20); /* four cells: two names, an MX host, an address */
  uc_table_init(&c.seen, sizeof(struct seen), offsetof(struct seen, tag));
  uc_buf_init(&c.dropped, (size_t)1 << 32); /* a bit per row */
  for (size_t b = 0; b < BUCKETS; b++)
    uc_buf_init(&c.bucket[b], (size_t)UC_BATCH_DEDUPE_ROWS * sizeof(struct seen));
  uc__rows_init(&c.rows);
  if (sodium_init() < 0)
    return uc_errorf(err, es, UC_EIO, "libsodium failed to initialise");
  randombytes_buf(&c.seed, sizeof c.seed);
  int rc = run(&c);
  if (rc > 0) /* a reader stopped by a callback that had no error to say */
    rc = UC_ECANCELED;
  uc_batch_writer_abort(c.w);
  uc_buf_release(&c.stats);
  uc_buf_release(&c.first);
  uc_buf_release(&c.lower);
  uc_buf_release(&c.pad);
  uc_buf_release(&c.tail);
  uc_table_release(&c.seen);
  uc_buf_release(&c.dropped);
  for (size_t b = 0; b < BUCKETS; b++)
    uc_buf_release(&c.bucket[b]);
  uc__rows_release(&c.rows);
  if (counts)
    *counts = c.n;
  return rc;
}

/* ---- the engine as a batch check ---- */

void uc_batch_check(void *ctx, const char *addr, size_t n, struct uc_batch_verdict *v) {
  const struct uc_batch_checker *k = ctx;
  struct uc_result r;
  struct uc_facts facts = {0};
  struct uc_dns_facts dns;
  int have_dns = 0;
  uc_check_lists(k->lists, k->policy, addr, n, &r);
  if (r.valid && k->sandbox) {
    uc_check_sandbox(addr, n, &r);
  } else {
    if (r.valid && k->dns) {
      uc_dns_lookup_sync(k->dns, r.email.domain, k->dns_timeout, &dns);
      have_dns = 1;
      if (uc_check_wants_facts(&r))
        uc_infra_facts(k->infra, &dns, &facts);
    }
    uc_check_decide(k->policy, &facts, &r);
  }
  v->category = r.category, v->type = r.type;
  const char *mx = uc_result_mx_record(have_dns ? &dns : NULL);
  size_t mn = strnlen(mx, sizeof v->mx_record - 1);
  memcpy(v->mx_record, mx, mn);
  v->mx_record[mn] = 0;
  v->did_you_mean[0] = 0;
  if (r.did_you_mean)
    snprintf(v->did_you_mean, sizeof v->did_you_mean, "%.*s@%s", (int)r.email.local_len,
             r.email.local, r.did_you_mean);
}
