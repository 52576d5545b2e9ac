/* Batch lists: the readers (CSV/TSV/TXT from memory, XLSX through the writer
 * and back), the column finder, uc_batch_clean with the real engine, bounds,
 * cancelling, and the task helpers. */
#include "batch_int.h"
#include "unit.h"

#include <csv.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- rows as "a|b|c" lines, for comparing ---- */

struct rows {
  char text[8192];
  size_t n;
  int stop_after; /* 0: never */
};

static int collect(void *arg, const struct uc_batch_row *row) {
  struct rows *r = arg;
  size_t len = strlen(r->text);
  for (size_t i = 0; i < row->n; i++)
    len += (size_t)snprintf(r->text + len, sizeof r->text - len, "%s%.*s", i ? "|" : "",
                            (int)row->cells[i].n, row->cells[i].p);
  snprintf(r->text + len, sizeof r->text - len, "\n");
  assert_int_equal(row->index, r->n);
  r->n++;
  return r->stop_after && (int)r->n == r->stop_after ? 7 : 0;
}

static struct rows read_text(const char *text, enum uc_batch_format f, struct uc_batch_layout *l,
                             int expect) {
  struct rows r;
  char err[256] = "";
  memset(&r, 0, sizeof r);
  int rc = uc_batch_read_mem(text, strlen(text), f, l, collect, &r, err, sizeof err);
  if (rc != expect)
    fail_msg("rc %d (%s), wanted %d", rc, err, expect);
  return r;
}

static void test_csv_rfc4180(void **state) {
  (void)state;
  struct uc_batch_layout l;
  struct rows r = read_text("\xEF\xBB\xBFname,email\r\n\"Doe, J\",\"j\"\"x\"\"@a.com\"\r\n"
                            "\"multi\r\nline\",b@c.com\r\n\r\n , c@d.com \r\nlast,no-newline",
                            UC_BATCH_CSV, &l, UC_OK);
  assert_string_equal(r.text, "name|email\nDoe, J|j\"x\"@a.com\nmulti\r\nline|b@c.com\n\n"
                              " | c@d.com \nlast|no-newline\n");
  assert_true(l.bom && l.crlf);
  assert_int_equal(l.delim, ',');
}

static void test_delimiters(void **state) {
  (void)state;
  struct uc_batch_layout l;
  struct rows r = read_text("a;\"b;c\";d,e\n1;2;3\n", UC_BATCH_CSV, &l, UC_OK);
  assert_int_equal(l.delim, ';');
  assert_string_equal(r.text, "a|b;c|d,e\n1|2|3\n");
  read_text("a\tb,c\n", UC_BATCH_CSV, &l, UC_OK);
  assert_int_equal(l.delim, ','); /* a tie: comma */
  r = read_text("a\tb\tc,d\n", UC_BATCH_CSV, &l, UC_OK);
  assert_int_equal(l.delim, '\t');
  r = read_text("x;y\t1\n", UC_BATCH_TSV, &l, UC_OK); /* .tsv: always tab */
  assert_string_equal(r.text, "x;y|1\n");
  assert_false(l.crlf || l.bom);
}

/* A row whose buffer grows under its cells (a cell of 3,000 bytes after
 * short ones): the cells before it move with the bytes, with and without a
 * separator between cells. */
static void test_cells_move_with_their_row(void **state) {
  (void)state;
  static char text[4000], want[4000];
  char big[3001];
  memset(big, 'x', 3000), big[3000] = 0;
  snprintf(text, sizeof text, "ab,cd,%s,ef\ngh\n", big);
  snprintf(want, sizeof want, "ab|cd|%s|ef\ngh\n", big);
  struct rows r = read_text(text, UC_BATCH_CSV, NULL, UC_OK);
  assert_string_equal(r.text, want);
  for (int sep = ','; sep; sep = sep == ',' ? ';' : 0) {
    memset(&r, 0, sizeof r);
    char err[256] = "";
    assert_int_equal(uc__batch_read_mem(text, strlen(text), UC_BATCH_CSV, NULL, sep, collect, &r,
                                        err, sizeof err),
                     UC_OK);
    assert_string_equal(r.text, want);
  }
}

static void test_txt_lines(void **state) {
  (void)state;
  struct rows r = read_text("\xEF\xBB\xBF"
                            "a@b.com\r\n\n  \nc,d@e.com",
                            UC_BATCH_TXT, NULL, UC_OK);
  assert_string_equal(r.text, "a@b.com\n\n  \nc,d@e.com\n");
  assert_int_equal(r.n, 4);
}

static void test_bounds_and_utf8(void **state) {
  (void)state;
  size_t big = UC_BATCH_CELL_MAX + 10;
  char *text = malloc(big + 16), err[256];
  struct rows r;
  memset(text, 'x', big);
  strcpy(text + big, "\nok\n");
  memset(&r, 0, sizeof r);
  assert_int_equal(
      uc_batch_read_mem(text, strlen(text), UC_BATCH_TXT, NULL, collect, &r, err, sizeof err),
      UC_ETOOBIG);
  assert_non_null(strstr(err, "line 1 is longer than"));
  memset(&r, 0, sizeof r);
  assert_int_equal(
      uc_batch_read_mem(text, strlen(text), UC_BATCH_CSV, NULL, collect, &r, err, sizeof err),
      UC_ETOOBIG);
  assert_non_null(strstr(err, "a cell is longer than 1048576 bytes"));
  memset(text, ',', UC_BATCH_COLUMNS_MAX + 1);
  strcpy(text + UC_BATCH_COLUMNS_MAX + 1, "\n");
  memset(&r, 0, sizeof r);
  assert_int_equal(
      uc_batch_read_mem(text, strlen(text), UC_BATCH_CSV, NULL, collect, &r, err, sizeof err),
      UC_ETOOBIG);
  assert_non_null(strstr(err, "more than 16384 columns"));
  free(text);
  r = read_text("email\na\x00@b\n", UC_BATCH_CSV, NULL, UC_OK); /* strlen stops at the NUL */
  memset(&r, 0, sizeof r);
  assert_int_equal(
      uc_batch_read_mem("a\nb\xC3\x28\n", 7, UC_BATCH_CSV, NULL, collect, &r, err, sizeof err),
      UC_EFORMAT);
  assert_string_equal(err, "row 2, column 1 is not valid UTF-8 text (save the file as UTF-8)");
  memset(&r, 0, sizeof r);
  assert_int_equal(
      uc_batch_read_mem("a\nb\0c\n", 6, UC_BATCH_TXT, NULL, collect, &r, err, sizeof err),
      UC_EFORMAT);
}

/* ---- the CSV reader against libcsv keeping every space ---- */

/* Rows as bytes: cells ended by 0x1F, rows by 0x1E. */
static void put_cell_bytes(struct uc_buf *out, const void *p, size_t n) {
  assert_int_equal(uc_buf_add(out, p, n), UC_OK);
  assert_int_equal(uc_buf_add(out, "\x1f", 1), UC_OK);
}

static int serialize(void *arg, const struct uc_batch_row *row) {
  for (size_t i = 0; i < row->n; i++)
    put_cell_bytes(arg, row->cells[i].p, row->cells[i].n);
  assert_int_equal(uc_buf_add(arg, "\x1e", 1), UC_OK);
  return 0;
}

/* The reference: the whole text through libcsv in one call with a space test
 * that says no (every space kept), the LF of a CR LF not a row of its own. */
struct ref {
  struct uc_buf *out;
  int cells, last_end;
};
static int never_space(unsigned char c) {
  (void)c;
  return 0;
}
static void ref_field(void *p, size_t n, void *arg) {
  struct ref *r = arg;
  put_cell_bytes(r->out, p ? p : "", p ? n : 0);
  r->cells++;
}
static void ref_row(int c, void *arg) {
  struct ref *r = arg;
  int skip = r->cells == 0 && c == '\n' && r->last_end == '\r';
  r->last_end = c;
  r->cells = 0;
  if (!skip)
    assert_int_equal(uc_buf_add(r->out, "\x1e", 1), UC_OK);
}

static void reference(const char *text, size_t n, unsigned char delim, struct uc_buf *out) {
  struct csv_parser p;
  struct ref r = {out, 0, 0};
  assert_int_equal(csv_init(&p, CSV_REPALL_NL), 0);
  csv_set_space_func(&p, never_space);
  csv_set_delim(&p, delim);
  assert_int_equal(csv_parse(&p, text, n, ref_field, ref_row, &r), n);
  assert_int_equal(csv_fini(&p, ref_field, ref_row, &r), 0);
  csv_free(&p);
}

/* The reader reads the same cells as the reference, whether libcsv's own
 * space test or ours is used for a chunk: random texts of spaces, TABs,
 * quotes, delimiters and line ends, some past several 64 KiB chunks, and
 * spaces put on both sides of chunk boundaries. */
static void test_csv_spaces_as_libcsv_keeps_them(void **state) {
  (void)state;
  static const char alphabet[] = "  \t\t\"\",;\r\n\nab.@xy";
  uint32_t seed = 12345;
  size_t cap = 3 << 16;
  char *text = malloc(cap), err[256];
  assert_non_null(text);
  for (int round = 0; round < 400; round++) {
    size_t n = round % 5 == 0 ? cap - (size_t)(round % 7) : 1 + (size_t)(round * 37 % 3000);
    if (round % 2) { /* rows of cells with spaces only inside them, now and then one at an end */
      for (size_t i = 0; i < n;) {
        seed = seed * 1103515245u + 12345u;
        unsigned r = seed >> 16;
        const char *piece = r % 9 == 0     ? (r >> 4) % 2 ? "\r\n" : "\n"
                            : r % 9 == 1   ? "\"q,\"\"q r\""
                            : r % 9 < 5    ? (r >> 4) % 3 ? "," : "\t"
                            : r % 500 == 7 ? (r >> 4) % 2 ? " x" : "x "
                            : (r >> 4) % 2 ? "ab cd"
                                           : "e";
        for (size_t k = 0; piece[k] && i < n; k++)
          text[i++] = piece[k];
      }
    } else {
      for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        text[i] = (seed >> 16) % 8 ? "abcdefgh ij"[(seed >> 20) % 11]
                                   : alphabet[(seed >> 20) % (sizeof alphabet - 1)];
      }
    }
    if (round % 5 == 0) { /* a space just before, or just after, a chunk boundary */
      static const char *const around[] = {" ,", ", x", "x y", "\" a"};
      for (size_t at = (size_t)1 << 16; at + 2 < n; at += (size_t)1 << 16) {
        const char *a = around[(size_t)round / 5 % 4];
        memcpy(text + at - 1, a, strlen(a));
      }
    }
    for (int tsv = 0; tsv < 2; tsv++) {
      struct uc_batch_layout l;
      struct uc_buf got, want;
      uc_buf_init(&got, (size_t)1 << 30);
      uc_buf_init(&want, (size_t)1 << 30);
      int rc = uc_batch_read_mem(text, n, tsv ? UC_BATCH_TSV : UC_BATCH_CSV, &l, serialize, &got,
                                 err, sizeof err);
      if (rc != UC_OK)
        fail_msg("round %d: %s", round, err);
      reference(text, n, (unsigned char)l.delim, &want);
      if (got.len != want.len || memcmp(got.data, want.data, got.len) != 0)
        fail_msg("round %d (%s, %zu bytes): the cells differ", round, tsv ? "TSV" : "CSV", n);
      uc_buf_release(&got);
      uc_buf_release(&want);
    }
  }
  free(text);
}

static void test_callback_stops_the_reader(void **state) {
  (void)state;
  struct rows r;
  memset(&r, 0, sizeof r);
  r.stop_after = 2;
  assert_int_equal(uc_batch_read_mem("a\nb\nc\nd\n", 8, UC_BATCH_CSV, NULL, collect, &r, NULL, 0),
                   7);
  assert_int_equal(r.n, 2);
}

static void test_header_names(void **state) {
  (void)state;
  const char *yes[] = {"email",   "E-Mail", "Email Address", "email_address",
                       " EMAIL ", "Mail",   "emails"};
  const char *no[] = {"", "e", "emailx", "address", "contact", "courriel e-mail"};
  for (size_t i = 0; i < COUNT(yes); i++)
    assert_true(uc_batch_header_is_email(yes[i], strlen(yes[i])));
  for (size_t i = 0; i < COUNT(no); i++)
    assert_false(uc_batch_header_is_email(no[i], strlen(no[i])));
}

/* ---- cleaning with the real engine ---- */

struct fx {
  char dir[64];
  uc_lists *lists;
  struct uc_policy policy;
  struct uc_batch_checker k;
};

static int fx_setup(void **state) {
  struct fx *f = calloc(1, sizeof *f);
  snprintf(f->dir, sizeof f->dir, "/tmp/uc-batch-XXXXXX");
  if (!mkdtemp(f->dir))
    return -1;
  f->lists = unit_default_lists();
  uc_policy_init(&f->policy);
  f->k = (struct uc_batch_checker){f->lists, &f->policy, NULL, NULL, 0, 0};
  *state = f;
  return 0;
}

static int fx_teardown(void **state) {
  struct fx *f = *state;
  uc_batch_rmtree(f->dir);
  free(f); /* the default lists are shared by every test */
  return 0;
}

static char *path_in(struct fx *f, const char *name) {
  static char p[2][128];
  static int i;
  i = !i;
  snprintf(p[i], sizeof p[i], "%s/%s", f->dir, name);
  return p[i];
}

static void put(const char *path, const char *text) {
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  fputs(text, fp);
  fclose(fp);
}

static char *slurp(const char *path) {
  static char buf[1 << 16];
  FILE *fp = fopen(path, "r");
  assert_non_null(fp);
  size_t n = fread(buf, 1, sizeof buf - 1, fp);
  buf[n] = 0;
  fclose(fp);
  return buf;
}

static int run_job(struct fx *f, const char *in, enum uc_batch_format fi, const char *out,
                   enum uc_batch_format fo, int dedupe, struct uc_batch_counts *n, char *err) {
  struct uc_batch_job job = {in,    fi,   out,  fo, dedupe, f->dir, uc_batch_check,
                             &f->k, NULL, NULL, 0,  NULL,   1};
  return uc_batch_clean(&job, n, err, 256);
}

static void test_clean_csv(void **state) {
  struct fx *f = *state;
  struct uc_batch_counts n;
  char err[256];
  put(path_in(f, "in.csv"),
      "id;Mail;x\n1;A@Gmail.com;q\n2;b@mailinator.com\n3;a@gmail.com;\"r;s\"\n"
      "\n4;;\n5;jo@gmial.com;t\n");
  assert_int_equal(run_job(f, path_in(f, "in.csv"), UC_BATCH_CSV, path_in(f, "out.csv"),
                           UC_BATCH_CSV, 1, &n, err),
                   UC_OK);
  assert_string_equal(slurp(path_in(f, "out.csv")),
                      "id;Mail;x;category;domain_type;mx_record;did_you_mean\n"
                      "2;b@mailinator.com;;black;disposable;unknown;\n"
                      "3;a@gmail.com;\"r;s\";white;legitimate;unknown;\n"
                      ";;;;blank;;\n"
                      "4;;;;blank;;\n"
                      "5;jo@gmial.com;t;black;disposable;unknown;jo@gmail.com\n");
  assert_int_equal(n.rows_total, 6);
  assert_int_equal(n.rows_done, 6);
  assert_int_equal(n.duplicates, 1);
  assert_int_equal(n.blank, 2);
  assert_int_equal(n.category[UC_BLACK], 2);
  assert_int_equal(n.type[UC_T_DISPOSABLE], 2);
  assert_int_equal(n.type[UC_T_LEGITIMATE], 1);
}

/* ---- rows kept written (batch_rows.c, batch_write.c): what comes out of
 * the rows file and uc__writer_encoded_row is what uc_batch_writer_row
 * writes for the same cells ---- */

struct wrow {
  const char *cells[6];
  uint8_t kind[6];
  size_t n, col; /* the address: cells[col] trimmed of spaces */
};

static const struct wrow wrows[] = {
    {{"1", "Jo", "jo@gmail.com", "2025"}, {0}, 4, 2},
    {{"2", "smith, jr", "a@b.com"}, {0}, 3, 2},               /* the delimiter in a cell */
    {{"3", "say \"hi\"", "  x@y.org \t"}, {0}, 3, 2},         /* a quote; spaces around */
    {{"4", "line\nbreak", "\"q\"@y.org"}, {0}, 3, 2},         /* LF; the address quoted */
    {{"5", "", "", ""}, {0}, 4, 2},                           /* empty cells, no address */
    {{0}, {0}, 0, 2},                                         /* a blank row */
    {{"1", "z@y.org"}, {UC_CELL_BOOL, 0}, 2, 1},              /* a boolean: TRUE */
    {{"6", "tab\there", "t@y.org", "semi;colon"}, {0}, 4, 2}, /* the other delimiters */
    {{"7", "cr\r\nlf", "u@y.org"}, {0}, 3, 2},
};

/* The row as the row builder hands it over: cells sep apart in one buffer
 * (sep -1: back to back), or each in its own place (sep -2). */
static size_t lay_out(const struct wrow *w, int sep, char *buf, struct uc_batch_cell *cells,
                      char own[][64]) {
  size_t at = 0;
  for (size_t i = 0; i < w->n; i++) {
    size_t k = strlen(w->cells[i]);
    char *p = sep == -2 ? own[i] : buf + at;
    if (sep >= 0 && i)
      p++, buf[at++] = (char)sep;
    memcpy(p, w->cells[i], k);
    at += k;
    cells[i] = (struct uc_batch_cell){p, k, w->kind[i]};
  }
  return at;
}

static void trimmed(const struct uc_batch_cell *c, const char **p, size_t *n) {
  *p = c->p, *n = c->n;
  while (*n && (**p == ' ' || **p == '\t'))
    ++*p, --*n;
  while (*n && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t'))
    --*n;
}

/* Whether cells[0..n), which lie sep apart, are written as they lie: the
 * row builder's plain. */
static int written_as_is(const uc_batch_writer *w, const struct uc_batch_cell *cells, size_t n) {
  char out[1024];
  size_t span = n ? (size_t)(cells[n - 1].p + cells[n - 1].n - cells[0].p) : 0;
  size_t k = uc__writer_encode(w, cells, n, out, SIZE_MAX, NULL);
  return k == span && (!n || memcmp(out, cells[0].p, span) == 0);
}

struct replay {
  uc_batch_writer *w;
  const struct uc_batch_cell *extra;
  size_t width;
  int sep;
  uint64_t seen;
};

static int replay_row(void *arg, const struct uc__enc_row *row) {
  struct replay *r = arg;
  const struct wrow *w = &wrows[row->index % (sizeof wrows / sizeof wrows[0])];
  char buf[512], own[6][64], tail[256];
  struct uc_batch_cell cells[6];
  const char *a;
  size_t an;
  lay_out(w, r->sep, buf, cells, own);
  if (w->col < w->n)
    trimmed(&cells[w->col], &a, &an);
  else
    a = NULL, an = 0;
  assert_int_equal(row->addr_len, an); /* the address comes back as it went in */
  if (an)
    assert_memory_equal(row->addr, a, an);
  assert_int_equal(row->cells, w->n);
  size_t k = uc__writer_encode(r->w, r->extra, UC_BATCH_EXTRA, tail, SIZE_MAX, NULL);
  assert_int_equal(
      uc__writer_encoded_row(r->w, row->enc, row->len, row->cells, r->width, tail, k, NULL, 0),
      UC_OK);
  r->seen++;
  return 0;
}

static void test_written_rows_are_the_writers(void **state) {
  struct fx *f = *state;
  const char delims[] = {',', ';', '\t'};
  const struct uc_batch_cell extra[UC_BATCH_EXTRA] = {
      {"white", 5, 0}, {"legitimate", 10, 0}, {"mx.y.org", 8, 0}, {"a,\"b\"@y.org", 10, 0}};
  for (size_t d = 0; d < sizeof delims; d++)
    for (int sep = -2; sep <= 1; sep++) { /* apart, back to back, sep apart (1: the delimiter) */
      struct uc_batch_layout l = {.delim = delims[d], .crlf = (int)d == 1};
      enum uc_batch_format fmt = delims[d] == '\t' ? UC_BATCH_TSV : UC_BATCH_CSV;
      uc_batch_writer *wa, *wb;
      struct uc__rows rows;
      char err[256] = "";
      const size_t width = 5, nrows = 3 * sizeof wrows / sizeof wrows[0];
      assert_int_equal(
          uc_batch_writer_open(path_in(f, "a.csv"), fmt, &l, NULL, 0, &wa, err, sizeof err), UC_OK);
      assert_int_equal(
          uc_batch_writer_open(path_in(f, "b.csv"), fmt, &l, NULL, 0, &wb, err, sizeof err), UC_OK);
      int s = sep == 1 ? uc__writer_delim(wb) : sep == 0 ? -1 : sep;
      uc__rows_init(&rows);
      assert_int_equal(uc__rows_open(&rows, f->dir, err, sizeof err), UC_OK);
      for (size_t i = 0; i < nrows; i++) {
        const struct wrow *w = &wrows[i % (sizeof wrows / sizeof wrows[0])];
        char buf[512], own[6][64];
        struct uc_batch_cell cells[6], padded[8];
        const char *a = NULL;
        size_t an = 0;
        lay_out(w, s, buf, cells, own);
        if (w->col < w->n)
          trimmed(&cells[w->col], &a, &an);
        struct uc_batch_row row = {cells, w->n, i};
        int plain = s >= 0 && written_as_is(wb, cells, w->n); /* as the builder says */
        assert_int_equal(uc__rows_add_encoded(&rows, wb, &row, plain, w->col, an ? a : NULL, an,
                                              err, sizeof err),
                         UC_OK);
        for (size_t j = 0; j < width; j++)
          padded[j] = j < w->n ? cells[j] : (struct uc_batch_cell){"", 0, 0};
        assert_int_equal(
            uc_batch_writer_row(wa, padded, width, extra, UC_BATCH_EXTRA, err, sizeof err), UC_OK);
      }
      struct replay r = {wb, extra, width, s, 0};
      assert_int_equal(uc__rows_replay_encoded(&rows, replay_row, &r, err, sizeof err), UC_OK);
      assert_int_equal(r.seen, nrows);
      assert_int_equal(uc_batch_writer_close(wa, err, sizeof err), UC_OK);
      assert_int_equal(uc_batch_writer_close(wb, err, sizeof err), UC_OK);
      struct uc_buf ba, bb;
      uc_buf_init(&ba, 1 << 20), uc_buf_init(&bb, 1 << 20);
      assert_int_equal(uc_buf_read_file(&ba, path_in(f, "a.csv")), UC_OK);
      assert_int_equal(uc_buf_read_file(&bb, path_in(f, "b.csv")), UC_OK);
      assert_int_equal(ba.len, bb.len);
      assert_memory_equal(ba.data, bb.data, ba.len);
      assert_non_null(strstr(ba.data, "TRUE"));
      uc_buf_release(&ba), uc_buf_release(&bb);
      /* a rows file cut short is refused, not read as fewer rows */
      assert_int_equal(ftruncate(rows.fd, 7), 0);
      assert_int_equal(uc__rows_replay_encoded(&rows, replay_row, &r, err, sizeof err), UC_EIO);
      assert_non_null(strstr(err, "damaged"));
      uc__rows_release(&rows);
    }
}

struct lens {
  size_t len[2];
  int n;
};

static int lens_of(void *arg, const struct uc__enc_row *row) {
  struct lens *g = arg;
  assert_int_equal(row->addr_len, 7);
  assert_memory_equal(row->addr, "q@y.org", 7);
  assert_int_equal(row->cells, 3);
  g->len[g->n++] = row->len;
  return 0;
}

/* A row of 3,000 bytes copied as it lies and one of 5,000 written cell by
 * cell: both come back whole, through multi-byte heads. */
static void test_written_long_rows(void **state) {
  struct fx *f = *state;
  static char big[2][5001];
  uc_batch_writer *w;
  struct uc__rows rows;
  char err[256] = "";
  struct uc_batch_layout l = {.delim = ','};
  assert_int_equal(
      uc_batch_writer_open(path_in(f, "long.csv"), UC_BATCH_CSV, &l, NULL, 0, &w, err, sizeof err),
      UC_OK);
  uc__rows_init(&rows);
  assert_int_equal(uc__rows_open(&rows, f->dir, err, sizeof err), UC_OK);
  for (int i = 0; i < 2; i++) {
    size_t n = i ? 5000 : 3000;
    memset(big[i], 'x', n);
    memcpy(big[i] + 10, ",q@y.org,", 9); /* three cells, one copy of the row */
    struct uc_batch_cell cells[3] = {
        {big[i], 10, 0}, {big[i] + 11, 7, 0}, {big[i] + 19, n - 19, 0}};
    struct uc_batch_row row = {cells, 3, (uint64_t)i};
    /* the first as the row builder hands a plain row over, the second cell by cell */
    assert_int_equal(uc__rows_add_encoded(&rows, w, &row, !i, 1, big[i] + 11, 7, err, sizeof err),
                     UC_OK);
  }
  struct lens got = {{0}, 0};
  assert_int_equal(uc__rows_replay_encoded(&rows, lens_of, &got, err, sizeof err), UC_OK);
  assert_int_equal(got.n, 2);
  assert_int_equal(got.len[0], 3000);
  assert_int_equal(got.len[1], 5000);
  uc__rows_release(&rows);
  uc_batch_writer_abort(w);
}

static void test_column_by_at_signs_and_header_guess(void **state) {
  struct fx *f = *state;
  struct uc_batch_counts n;
  char err[256];
  put(path_in(f, "a.csv"), "who,contact\nJo,jo@gmail.com\nAl,al@gmail.com\nnobody,none\n");
  assert_int_equal(
      run_job(f, path_in(f, "a.csv"), UC_BATCH_CSV, path_in(f, "a.out"), UC_BATCH_CSV, 0, &n, err),
      UC_OK);
  assert_string_equal(slurp(path_in(f, "a.out")),
                      "who,contact,category,domain_type,mx_record,did_you_mean\n"
                      "Jo,jo@gmail.com,white,legitimate,unknown,\n"
                      "Al,al@gmail.com,white,legitimate,unknown,\n"
                      "nobody,none,black,invalid,unknown,\n");
  put(path_in(f, "b.csv"), "x,y\n1,2\n");
  assert_int_equal(
      run_job(f, path_in(f, "b.csv"), UC_BATCH_CSV, path_in(f, "b.out"), UC_BATCH_CSV, 0, &n, err),
      UC_EFORMAT);
  assert_non_null(strstr(err, "no column holds email addresses"));
  struct stat sb;
  assert_int_not_equal(stat(path_in(f, "b.out"), &sb), 0); /* nothing left behind */
  assert_int_not_equal(stat(path_in(f, "b.out.part"), &sb), 0);
}

struct collect_all {
  struct rows r;
};

static void test_xlsx_round_trip_keeps_kinds(void **state) {
  struct fx *f = *state;
  struct uc_batch_counts n;
  char err[256];
  put(path_in(f, "in.txt"), "a@gmail.com\n\nb@mailinator.com\n");
  assert_int_equal(run_job(f, path_in(f, "in.txt"), UC_BATCH_TXT, path_in(f, "o.xlsx"),
                           UC_BATCH_XLSX, 1, &n, err),
                   UC_OK);
  struct rows r;
  memset(&r, 0, sizeof r);
  assert_int_equal(
      uc_batch_read(path_in(f, "o.xlsx"), UC_BATCH_XLSX, NULL, collect, &r, err, sizeof err),
      UC_OK);
  /* empty cells of a written row are left out of the sheet: they read back as a short row */
  assert_string_equal(r.text, "email|category|domain_type|mx_record|did_you_mean\n"
                              "a@gmail.com|white|legitimate|unknown\n"
                              "||blank\n"
                              "b@mailinator.com|black|disposable|unknown\n");
  /* numbers and booleans stay numbers and booleans */
  uc_batch_writer *w;
  struct uc_batch_cell cells[3] = {
      {"3.25", 4, UC_CELL_NUMBER}, {"1", 1, UC_CELL_BOOL}, {"x@y.com", 7, UC_CELL_TEXT}};
  assert_int_equal(uc_batch_writer_open(path_in(f, "k.xlsx"), UC_BATCH_XLSX, NULL, f->dir, 0, &w,
                                        err, sizeof err),
                   UC_OK);
  assert_int_equal(uc_batch_writer_row(w, cells, 3, NULL, 0, err, sizeof err), UC_OK);
  assert_int_equal(uc_batch_writer_close(w, err, sizeof err), UC_OK);
  memset(&r, 0, sizeof r);
  assert_int_equal(
      uc_batch_read(path_in(f, "k.xlsx"), UC_BATCH_XLSX, NULL, collect, &r, err, sizeof err),
      UC_OK);
  assert_string_equal(r.text, "3.25|1|x@y.com\n");
}

static int cancel_at(void *ctx, enum uc_batch_phase phase, const struct uc_batch_counts *c) {
  (void)ctx;
  return phase == UC_BATCH_CHECKING && c->rows_done >= 100;
}

static void test_cancel_and_stop(void **state) {
  struct fx *f = *state;
  struct uc_batch_counts n;
  char err[256];
  FILE *fp = fopen(path_in(f, "big.csv"), "w");
  fputs("email\n", fp);
  for (int i = 0; i < 1000; i++)
    fprintf(fp, "user%d@gmail.com\n", i);
  fclose(fp);
  char in[128], out[128];
  snprintf(in, sizeof in, "%s", path_in(f, "big.csv"));
  snprintf(out, sizeof out, "%s", path_in(f, "big.out"));
  struct uc_batch_job job = {in,    UC_BATCH_CSV, out,  UC_BATCH_CSV, 1,    NULL, uc_batch_check,
                             &f->k, cancel_at,    NULL, 10,           NULL, 0};
  assert_int_equal(uc_batch_clean(&job, &n, err, sizeof err), UC_ECANCELED);
  assert_int_equal(n.rows_done, 100);
  assert_int_equal(n.rows_total, 1000);
  struct stat sb;
  assert_int_not_equal(stat(path_in(f, "big.out.part"), &sb), 0);
  _Atomic int stop = 1;
  job.progress = NULL, job.stop = &stop;
  assert_int_equal(uc_batch_clean(&job, &n, err, sizeof err), UC_ECANCELED);
  assert_true(n.rows_total <= 1); /* stopped at the first row it looked at */
  assert_int_equal(n.rows_done, 0);
}

/* ---- task helpers ---- */

static void test_ids_and_names(void **state) {
  (void)state;
  char a[UC_BATCH_ID_LEN + 1], b[UC_BATCH_ID_LEN + 1];
  uc_batch_id_new(a);
  uc_batch_id_new(b);
  assert_true(uc_batch_id_valid(a, strlen(a)));
  assert_string_not_equal(a, b);
  assert_int_equal(a[14], '4');
  assert_false(uc_batch_id_valid("0123", 4));
  assert_false(uc_batch_id_valid("0123456789abcdef0123456789abcdef0123", 36));
  assert_false(uc_batch_id_valid("ABCDEF01-2345-4678-9abc-def012345678", 36));
  assert_true(uc_batch_project_valid("Q3 newsletter", 13));
  assert_true(uc_batch_project_valid("\xC3\xA9t\xC3\xA9", 5));
  assert_false(uc_batch_project_valid("", 0));
  assert_false(uc_batch_project_valid("a\nb", 3));
  assert_false(uc_batch_project_valid("\xFF", 1));
  char long_name[60];
  memset(long_name, 'n', 51);
  assert_false(uc_batch_project_valid(long_name, 51));
  assert_true(uc_batch_project_valid(long_name, 50));
  enum uc_batch_format fmt;
  assert_int_equal(uc_batch_format_of("List.XLSX", &fmt), UC_OK);
  assert_int_equal(fmt, UC_BATCH_XLSX);
  assert_int_equal(uc_batch_format_of("list.xls", &fmt), UC_EINVAL);
  assert_int_equal(uc_batch_format_of("csv", &fmt), UC_EINVAL);
  assert_int_equal(uc_batch_result_format(UC_BATCH_TXT), UC_BATCH_CSV);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_csv_rfc4180),
      cmocka_unit_test(test_delimiters),
      cmocka_unit_test(test_txt_lines),
      cmocka_unit_test(test_cells_move_with_their_row),
      cmocka_unit_test(test_bounds_and_utf8),
      cmocka_unit_test(test_csv_spaces_as_libcsv_keeps_them),
      cmocka_unit_test(test_callback_stops_the_reader),
      cmocka_unit_test(test_header_names),
      cmocka_unit_test_setup_teardown(test_clean_csv, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_written_rows_are_the_writers, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_written_long_rows, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_column_by_at_signs_and_header_guess, fx_setup,
                                      fx_teardown),
      cmocka_unit_test_setup_teardown(test_xlsx_round_trip_keeps_kinds, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_cancel_and_stop, fx_setup, fx_teardown),
      cmocka_unit_test(test_ids_and_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
