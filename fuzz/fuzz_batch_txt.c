/* libFuzzer driver: the TXT reader (one address per line) from memory. */
#include "batch_check.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  char err[256] = "";
  uint64_t next = 0;
  int rc = uc_batch_read_mem(data, size, UC_BATCH_TXT, NULL, fuzz_row, &next, err, sizeof err);
  fuzz_expect(rc, err);
  return 0;
}
