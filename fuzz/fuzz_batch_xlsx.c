/* libFuzzer driver: the XLSX reader (libzip + expat). An input that starts
 * with "PK" is read as the workbook itself; any other is split at the first
 * "\n--\n" into a sheet and its shared strings, packed with a fixed workbook
 * into a real archive (libzip), so that the XML handling is what gets fuzzed
 * rather than the archive's checksums. */
#include "batch_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <zip.h>

static const char workbook[] =
    "<?xml version=\"1.0\"?><workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/"
    "2006/main\" xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\">"
    "<sheets><sheet name=\"S\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>";
static const char rels[] =
    "<?xml version=\"1.0\"?><Relationships xmlns=\"http://schemas.openxmlformats.org/package/"
    "2006/relationships\"><Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/"
    "officeDocument/2006/relationships/worksheet\" Target=\"worksheets/sheet1.xml\"/>"
    "<Relationship Id=\"rId2\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/"
    "relationships/sharedStrings\" Target=\"sharedStrings.xml\"/></Relationships>";

static int add(zip_t *z, const char *name, const void *p, size_t n) {
  zip_source_t *s = zip_source_buffer(z, p, n, 0);
  if (!s || zip_file_add(z, name, s, ZIP_FL_OVERWRITE) < 0) {
    zip_source_free(s);
    return -1;
  }
  return 0;
}

/* The archive of sheet and strings at path; 0 or -1. */
static int pack(const char *path, const unsigned char *data, size_t size) {
  const unsigned char *sep = memmem(data, size, "\n--\n", 4);
  size_t sheet = sep ? (size_t)(sep - data) : size;
  int err = 0;
  zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &err);
  if (!z)
    return -1;
  int rc = add(z, "xl/workbook.xml", workbook, sizeof workbook - 1) ||
           add(z, "xl/_rels/workbook.xml.rels", rels, sizeof rels - 1) ||
           add(z, "xl/worksheets/sheet1.xml", data, sheet) ||
           (sep && add(z, "xl/sharedStrings.xml", sep + 4, size - sheet - 4));
  if (rc) {
    zip_discard(z);
    return -1;
  }
  return zip_close(z) == 0 ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  static char path[64];
  char err[256] = "";
  uint64_t next = 0;
  int rc;
  if (size >= 2 && data[0] == 'P' && data[1] == 'K') {
    rc = uc_batch_read_mem(data, size, UC_BATCH_XLSX, NULL, fuzz_row, &next, err, sizeof err);
  } else {
    if (!path[0])
      snprintf(path, sizeof path, "/tmp/uc-fuzz-xlsx-%d.xlsx", (int)getpid());
    if (pack(path, data, size))
      return 0;
    rc = uc_batch_read(path, UC_BATCH_XLSX, NULL, fuzz_row, &next, err, sizeof err);
  }
  fuzz_expect(rc, err);
  return 0;
}
