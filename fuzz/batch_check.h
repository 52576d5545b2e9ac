/* Shared by the batch reader harnesses: every row a reader hands over keeps
 * the bounds of include/uc/batch.h, and every refusal says why. */
#ifndef UC_FUZZ_BATCH_CHECK_H
#define UC_FUZZ_BATCH_CHECK_H

#include "uc/uc.h"

#include <assert.h>
#include <string.h>

static int fuzz_row(void *arg, const struct uc_batch_row *row) {
  uint64_t *next = arg;
  size_t bytes = 0;
  assert(row->index == *next);
  ++*next;
  assert(row->n <= UC_BATCH_COLUMNS_MAX);
  for (size_t i = 0; i < row->n; i++) {
    assert(row->cells[i].n <= UC_BATCH_CELL_MAX);
    assert(uc_utf8_valid(row->cells[i].p, row->cells[i].n));
    assert(row->cells[i].kind <= UC_CELL_BOOL);
    bytes += row->cells[i].n;
  }
  assert(bytes <= UC_BATCH_ROW_MAX);
  return 0;
}

static void fuzz_expect(int rc, const char *err) {
  assert(rc == UC_OK || rc == UC_EFORMAT || rc == UC_ETOOBIG);
  assert(rc == UC_OK || (err[0] && memchr(err, 0, 256)));
}

#endif
