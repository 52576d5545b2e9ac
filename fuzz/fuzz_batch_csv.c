/* libFuzzer driver: the CSV/TSV reader (libcsv) from memory; the first byte
 * picks CSV (delimiter sniffed) or TSV. */
#include "batch_check.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  char err[256] = "";
  uint64_t next = 0;
  struct uc_batch_layout layout;
  if (size < 1)
    return 0;
  enum uc_batch_format f = data[0] & 1 ? UC_BATCH_TSV : UC_BATCH_CSV;
  int rc = uc_batch_read_mem(data + 1, size - 1, f, &layout, fuzz_row, &next, err, sizeof err);
  fuzz_expect(rc, err);
  assert(layout.delim == ',' || layout.delim == ';' || layout.delim == '\t');
  return 0;
}
