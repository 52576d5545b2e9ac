/* libFuzzer driver: the CSV/TSV reader (libcsv) from memory; the first byte
 * picks CSV (delimiter sniffed) or TSV. The rows it hands over must be those
 * of libcsv reading the whole input at once and keeping every space (the
 * reader lets libcsv trim spaces in chunks where that cannot change a cell:
 * lib/batch_read.c, spaces_harmless); in fuzzing builds its chunks are 1 KiB.
 * Read again with the writer's delimiter between cells (as uc_batch_clean
 * reads), the cells are the same, and the row builder calls a row plain
 * exactly when the writer writes its cells as they lie (uc__writer_encode). */
#include "batch_check.h"
#include "batch_int.h"

#include <csv.h>

/* Rows as bytes: cells ended by 0x1F, rows by 0x1E. */
struct rows {
  struct uc_buf out;
  uint64_t next;
  int cells, last_end;
};

static void put(struct uc_buf *b, const void *p, size_t n, char end) {
  assert(uc_buf_add(b, p, n) == UC_OK && uc_buf_add(b, &end, 1) == UC_OK);
}

static int got_row(void *arg, const struct uc_batch_row *row) {
  struct rows *r = arg;
  fuzz_row(&r->next, row);
  for (size_t i = 0; i < row->n; i++)
    put(&r->out, row->cells[i].p, row->cells[i].n, 0x1f);
  put(&r->out, "", 0, 0x1e);
  return 0;
}

static uc_batch_writer *writer; /* the delimiter and quoting of the CSV/TSV result */

static int written_row(void *arg, const struct uc_batch_row *row) {
  static char slow[2 * UC_BATCH_ROW_MAX + 8 * UC_BATCH_COLUMNS_MAX];
  size_t at = SIZE_MAX;
  int plain = ((const struct uc__row *)(const void *)row)->plain;
  size_t span =
      row->n ? (size_t)(row->cells[row->n - 1].p + row->cells[row->n - 1].n - row->cells[0].p) : 0;
  size_t k = uc__writer_encode(writer, row->cells, row->n, slow, row->n ? row->n - 1 : 0, &at);
  int as_is = k == span && (!row->n || memcmp(slow, row->cells[0].p, span) == 0);
  assert(plain == as_is); /* the builder's judgement is the writer's own */
  if (plain && row->n)    /* and the last cell lies where the writer puts it */
    assert(at == (size_t)(row->cells[row->n - 1].p - row->cells[0].p));
  return got_row(arg, row);
}

static int never_space(unsigned char c) {
  (void)c;
  return 0;
}
static void ref_field(void *p, size_t n, void *arg) {
  struct rows *r = arg;
  put(&r->out, p ? p : "", p ? n : 0, 0x1f);
  r->cells++;
}
static void ref_row(int c, void *arg) { /* the LF of a CR LF is no row of its own */
  struct rows *r = arg;
  int skip = r->cells == 0 && c == '\n' && r->last_end == '\r';
  r->last_end = c, r->cells = 0;
  if (!skip)
    put(&r->out, "", 0, 0x1e);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  char err[256] = "";
  struct uc_batch_layout layout;
  struct rows got = {.next = 0}, want = {.next = 0};
  struct csv_parser p;
  if (size < 1)
    return 0;
  enum uc_batch_format f = data[0] & 1 ? UC_BATCH_TSV : UC_BATCH_CSV;
  uc_buf_init(&got.out, (size_t)1 << 30);
  uc_buf_init(&want.out, (size_t)1 << 30);
  int rc = uc_batch_read_mem(data + 1, size - 1, f, &layout, got_row, &got, err, sizeof err);
  fuzz_expect(rc, err);
  assert(layout.delim == ',' || layout.delim == ';' || layout.delim == '\t');
  size_t skip = layout.bom ? 3 : 0; /* the reference: every byte through libcsv at once */
  assert(csv_init(&p, CSV_REPALL_NL) == 0);
  csv_set_space_func(&p, never_space);
  csv_set_delim(&p, (unsigned char)layout.delim);
  size_t done = csv_parse(&p, data + 1 + skip, size - 1 - skip, ref_field, ref_row, &want);
  if (done == size - 1 - skip)
    csv_fini(&p, ref_field, ref_row, &want);
  csv_free(&p);
  /* the same rows; when the reader stopped (a bound, bad UTF-8), the same rows until then */
  assert(rc == UC_OK ? got.out.len == want.out.len : got.out.len <= want.out.len);
  assert(got.out.len == 0 || memcmp(got.out.data, want.out.data, got.out.len) == 0);
  /* with the writer's delimiter between cells: the same rows, the same stop */
  struct uc_batch_layout plain = layout;
  struct rows apart = {.next = 0};
  char err2[256] = "";
  plain.bom = 0; /* the writer writes to standard output: nothing, but a BOM at once */
  assert(uc_batch_writer_open("-", f, &plain, NULL, 0, &writer, err2, sizeof err2) == UC_OK);
  uc_buf_init(&apart.out, (size_t)1 << 30);
  int rc2 = uc__batch_read_mem(data + 1, size - 1, f, NULL, uc__writer_delim(writer), written_row,
                               &apart, err2, sizeof err2);
  assert(rc2 == rc && strcmp(err2, err) == 0);
  assert(apart.out.len == got.out.len &&
         (got.out.len == 0 || memcmp(apart.out.data, got.out.data, got.out.len) == 0));
  uc_batch_writer_abort(writer);
  uc_buf_release(&apart.out);
  uc_buf_release(&got.out);
  uc_buf_release(&want.out);
  return 0;
}
