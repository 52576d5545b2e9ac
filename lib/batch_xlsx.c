/* Reading an XLSX workbook with libzip + expat: the first sheet (found
 * through xl/workbook.xml and its relationships), its shared strings kept in
 * one bounded pool, and the sheet itself streamed row by row: never the
 * whole sheet in memory. */
#include "batch_int.h"
#include "uc/error.h"

#include <expat.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#define XML_CHUNK (1u << 16)
#define META_MAX ((uint64_t)16 << 20) /* bytes of workbook.xml, its rels */
#define SHEET_MAX ((uint64_t)1 << 30) /* bytes of a sheet or of the shared strings, inflated */
#define PATH_MAX_XLSX 512

struct sref {
  size_t off, n;
};

struct xlsx {
  zip_t *z;
  struct uc__rowb *b;
  XML_Parser p;
  /* workbook.xml and its relationships */
  char sheet_rid[128], sheet_path[PATH_MAX_XLSX], sst_path[PATH_MAX_XLSX];
  int seen_sheet;
  /* shared strings: their bytes back to back, and where each one is */
  struct uc_buf pool, sst;
  size_t si_start;
  int in_si;
  /* the cell being read */
  unsigned rph; /* inside <rPh> (phonetic runs): not part of the text */
  int in_text;  /* inside <v>, or <t> of a string: characters are the value */
  int in_row;
  uint64_t row;    /* 1-based number of the last row handed over */
  uint64_t cur;    /* of the row being read */
  size_t col;      /* 0-based column of the next cell */
  size_t cell_col; /* of the cell being read */
  char type[16];   /* its t attribute */
  struct uc_buf value;
};

static const char *local(const char *name) {
  const char *bar = strrchr(name, '|');
  return bar ? bar + 1 : name;
}

static const char *attr(const char **atts, const char *name) {
  for (size_t i = 0; atts[i]; i += 2)
    if (strcmp(local(atts[i]), name) == 0)
      return atts[i + 1];
  return NULL;
}

static int fail(struct xlsx *x, int rc, const char *msg, const char *what) {
  uc__rowb_fail(x->b, rc, "%s: %s", what, msg);
  if (x->p)
    XML_StopParser(x->p, XML_FALSE);
  return rc;
}

/* A relationship's target, relative to xl/ unless absolute. */
static void target_path(char *out, const char *target) {
  if (target[0] == '/')
    snprintf(out, PATH_MAX_XLSX, "%s", target + 1);
  else
    snprintf(out, PATH_MAX_XLSX, "xl/%s", target);
}

/* ---- workbook.xml and xl/_rels/workbook.xml.rels ---- */

static void XMLCALL on_workbook(void *ud, const char *name, const char **atts) {
  struct xlsx *x = ud;
  if (x->seen_sheet || strcmp(local(name), "sheet") != 0)
    return;
  for (size_t i = 0; atts[i]; i += 2) /* r:id: the namespaced "id" */
    if (strchr(atts[i], '|') && strcmp(local(atts[i]), "id") == 0)
      snprintf(x->sheet_rid, sizeof x->sheet_rid, "%s", atts[i + 1]);
  x->seen_sheet = 1;
}

static void XMLCALL on_rels(void *ud, const char *name, const char **atts) {
  struct xlsx *x = ud;
  const char *id = attr(atts, "Id"), *type = attr(atts, "Type"), *target = attr(atts, "Target");
  if (strcmp(local(name), "Relationship") != 0 || !target)
    return;
  size_t tn = type ? strlen(type) : 0;
  if (id && x->sheet_rid[0] && strcmp(id, x->sheet_rid) == 0)
    target_path(x->sheet_path, target);
  else if (tn >= 14 && strcmp(type + tn - 14, "/sharedStrings") == 0)
    target_path(x->sst_path, target);
}

/* ---- shared strings ---- */

static void XMLCALL sst_start(void *ud, const char *name, const char **atts) {
  struct xlsx *x = ud;
  const char *n = local(name);
  (void)atts;
  if (strcmp(n, "si") == 0)
    x->in_si = 1, x->si_start = x->pool.len;
  else if (strcmp(n, "rPh") == 0)
    x->rph++;
  else if (strcmp(n, "t") == 0 && x->in_si && !x->rph)
    x->in_text = 1;
}

static void XMLCALL sst_end(void *ud, const char *name) {
  struct xlsx *x = ud;
  const char *n = local(name);
  if (strcmp(n, "rPh") == 0 && x->rph)
    x->rph--;
  else if (strcmp(n, "t") == 0)
    x->in_text = 0;
  else if (strcmp(n, "si") == 0 && x->in_si) {
    struct sref s = {x->si_start, x->pool.len - x->si_start};
    x->in_si = 0;
    if (uc_buf_add(&x->sst, &s, sizeof s) != UC_OK)
      fail(x, UC_ETOOBIG, "too many shared strings", "xl/sharedStrings.xml");
  }
}

static void XMLCALL sst_text(void *ud, const char *s, int len) {
  struct xlsx *x = ud;
  if (x->in_text && uc_buf_add(&x->pool, s, (size_t)len) != UC_OK)
    fail(x, UC_ETOOBIG, "the shared strings are larger than 256 MiB", "xl/sharedStrings.xml");
}

/* ---- the sheet ---- */

/* "BC12" -> 54 (0-based column); -1 when ref has no letters. */
static long column_of(const char *ref) {
  long col = 0;
  size_t i = 0;
  for (; ref[i] >= 'A' && ref[i] <= 'Z' && col <= UC_BATCH_COLUMNS_MAX; i++)
    col = col * 26 + (ref[i] - 'A' + 1);
  return i ? col - 1 : -1;
}

static uint64_t number_of(const char *s) {
  uint64_t n = 0;
  for (; s && *s >= '0' && *s <= '9' && n <= UC_BATCH_XLSX_ROWS; s++)
    n = n * 10 + (uint64_t)(*s - '0');
  return n;
}

static void row_start(struct xlsx *x, const char **atts) {
  uint64_t r = number_of(attr(atts, "r"));
  if (r <= x->row) /* missing or out of order: the next one */
    r = x->row + 1;
  if (r > UC_BATCH_XLSX_ROWS) {
    fail(x, UC_ETOOBIG, "more rows than XLSX allows", "the sheet");
    return;
  }
  while (x->row + 1 < r && !x->b->rc) /* rows left out are blank rows */
    x->row++, uc__rowb_emit(x->b);
  if (x->b->rc)
    XML_StopParser(x->p, XML_FALSE);
  x->cur = r, x->col = 0, x->in_row = 1;
}

static void cell_start(struct xlsx *x, const char **atts) {
  const char *ref = attr(atts, "r"), *t = attr(atts, "t");
  long col = ref ? column_of(ref) : -1;
  size_t c = col >= 0 && (size_t)col >= x->col ? (size_t)col : x->col;
  if (c >= UC_BATCH_COLUMNS_MAX) {
    uc__rowb_fail(x->b, UC_ETOOBIG, "row %llu has more than %d columns", (unsigned long long)x->cur,
                  UC_BATCH_COLUMNS_MAX);
    XML_StopParser(x->p, XML_FALSE);
    return;
  }
  for (; x->col < c && !x->b->rc; x->col++) /* cells left out are empty */
    uc__rowb_cell(x->b, "", 0, UC_CELL_TEXT);
  snprintf(x->type, sizeof x->type, "%s", t ? t : "n");
  x->cell_col = c;
  uc_buf_reset(&x->value);
}

static void XMLCALL sheet_start(void *ud, const char *name, const char **atts) {
  struct xlsx *x = ud;
  const char *n = local(name);
  if (strcmp(n, "row") == 0)
    row_start(x, atts);
  else if (strcmp(n, "c") == 0 && x->in_row)
    cell_start(x, atts);
  else if (strcmp(n, "rPh") == 0)
    x->rph++;
  else if ((strcmp(n, "v") == 0 || strcmp(n, "t") == 0) && x->in_row && !x->rph)
    x->in_text = 1;
}

/* The cell's text from its type and value. */
static void cell_end(struct xlsx *x) {
  const char *v = x->value.data ? x->value.data : "";
  size_t n = x->value.len;
  uint8_t kind = UC_CELL_TEXT;
  if (strcmp(x->type, "s") == 0) {
    uint64_t i = number_of(v);
    if (!n || i >= UC_BUF_COUNT(&x->sst, struct sref)) {
      uc__rowb_fail(x->b, UC_EFORMAT, "row %llu: cell %zu names a shared string that is not there",
                    (unsigned long long)x->cur, x->cell_col + 1);
      XML_StopParser(x->p, XML_FALSE);
      return;
    }
    struct sref s = UC_BUF_AT(&x->sst, struct sref, i);
    v = x->pool.data ? x->pool.data + s.off : "", n = s.n;
  } else if (strcmp(x->type, "b") == 0) {
    kind = UC_CELL_BOOL;
  } else if (strcmp(x->type, "n") == 0 && n) {
    kind = UC_CELL_NUMBER;
  }
  if (uc__rowb_cell(x->b, v, n, kind))
    XML_StopParser(x->p, XML_FALSE);
  x->col = x->cell_col + 1;
}

static void XMLCALL sheet_end(void *ud, const char *name) {
  struct xlsx *x = ud;
  const char *n = local(name);
  if (strcmp(n, "v") == 0 || strcmp(n, "t") == 0)
    x->in_text = 0;
  else if (strcmp(n, "rPh") == 0 && x->rph)
    x->rph--;
  else if (strcmp(n, "c") == 0 && x->in_row)
    cell_end(x);
  else if (strcmp(n, "row") == 0 && x->in_row) {
    x->in_row = 0, x->row = x->cur;
    if (uc__rowb_emit(x->b))
      XML_StopParser(x->p, XML_FALSE);
  }
}

static void XMLCALL sheet_text(void *ud, const char *s, int len) {
  struct xlsx *x = ud;
  if (x->in_text && uc_buf_add(&x->value, s, (size_t)len) != UC_OK) {
    uc__rowb_fail(x->b, UC_ETOOBIG, "row %llu: a cell is longer than %u bytes",
                  (unsigned long long)x->cur, UC_BATCH_CELL_MAX);
    XML_StopParser(x->p, XML_FALSE);
  }
}

/* ---- one part of the package through expat ---- */

struct part {
  const char *name;
  uint64_t max; /* inflated bytes */
  XML_StartElementHandler start;
  XML_EndElementHandler end;
  XML_CharacterDataHandler text;
};

static int xml_fail(struct xlsx *x, const char *name) {
  char msg[256];
  snprintf(msg, sizeof msg, "line %lu: %s (the XML is damaged)",
           (unsigned long)XML_GetCurrentLineNumber(x->p), XML_ErrorString(XML_GetErrorCode(x->p)));
  return uc__rowb_fail(x->b, UC_EFORMAT, "%s: %s", name, msg);
}

static int feed(struct xlsx *x, zip_file_t *f, const struct part *pt, char *buf) {
  uint64_t total = 0;
  for (;;) {
    zip_int64_t n = zip_fread(f, buf, XML_CHUNK);
    if (n < 0)
      return uc__rowb_fail(x->b, UC_EFORMAT, "%s: %s (the file is damaged or cut short)", pt->name,
                           zip_file_strerror(f));
    if ((total += (uint64_t)n) > pt->max)
      return uc__rowb_fail(x->b, UC_ETOOBIG, "%s: larger than %llu bytes uncompressed", pt->name,
                           (unsigned long long)pt->max);
    if (XML_Parse(x->p, buf, (int)n, n == 0) == XML_STATUS_ERROR)
      return x->b->rc ? x->b->rc : xml_fail(x, pt->name);
    if (n == 0 || x->b->rc)
      return x->b->rc;
  }
}

static int parse_part(struct xlsx *x, const struct part *pt) {
  zip_file_t *f = zip_fopen(x->z, pt->name, 0);
  char *buf = malloc(XML_CHUNK);
  int rc;
  if (!f || !buf) {
    free(buf);
    if (f)
      zip_fclose(f);
    return f ? uc__rowb_fail(x->b, UC_ENOMEM, "out of memory")
             : uc__rowb_fail(x->b, UC_EFORMAT, "not an XLSX workbook: %s is missing", pt->name);
  }
  x->p = XML_ParserCreateNS(NULL, '|');
  if (!x->p) {
    rc = uc__rowb_fail(x->b, UC_ENOMEM, "out of memory");
  } else {
    XML_SetUserData(x->p, x);
    XML_SetElementHandler(x->p, pt->start, pt->end);
    XML_SetCharacterDataHandler(x->p, pt->text);
    rc = feed(x, f, pt, buf);
    XML_ParserFree(x->p);
    x->p = NULL;
  }
  zip_fclose(f);
  free(buf);
  return rc;
}

static int open_zip(struct xlsx *x, const char *path, const void *mem, size_t len) {
  zip_error_t ze;
  int code = 0;
  zip_error_init(&ze);
  if (path) {
    x->z = zip_open(path, ZIP_RDONLY, &code);
    zip_error_init_with_code(&ze, code);
  } else {
    zip_source_t *src = zip_source_buffer_create(mem, len, 0, &ze);
    if (src && !(x->z = zip_open_from_source(src, ZIP_RDONLY, &ze)))
      zip_source_free(src);
  }
  int rc = x->z ? UC_OK
                : uc__rowb_fail(x->b, UC_EFORMAT, "not a valid XLSX file (zip: %s)",
                                zip_error_strerror(&ze));
  zip_error_fini(&ze);
  return rc;
}

int uc__read_xlsx(const char *path, const void *mem, size_t len, struct uc__rowb *b) {
  struct xlsx x;
  memset(&x, 0, sizeof x);
  x.b = b;
  uc_buf_init(&x.pool, UC_BATCH_STRINGS_MAX);
  uc_buf_init(&x.sst, UC_BATCH_STRINGS_MAX);
  uc_buf_init(&x.value, UC_BATCH_CELL_MAX);
  const struct part workbook = {"xl/workbook.xml", META_MAX, on_workbook, NULL, NULL};
  const struct part rels = {"xl/_rels/workbook.xml.rels", META_MAX, on_rels, NULL, NULL};
  int rc = open_zip(&x, path, mem, len);
  if (!rc)
    rc = parse_part(&x, &workbook);
  if (!rc && zip_name_locate(x.z, rels.name, 0) >= 0)
    rc = parse_part(&x, &rels);
  if (!x.sheet_path[0]) /* no relationship says where: the usual place */
    snprintf(x.sheet_path, sizeof x.sheet_path, "xl/worksheets/sheet1.xml");
  if (!x.sst_path[0] && x.z && zip_name_locate(x.z, "xl/sharedStrings.xml", 0) >= 0)
    snprintf(x.sst_path, sizeof x.sst_path, "xl/sharedStrings.xml");
  const struct part sst = {x.sst_path, SHEET_MAX, sst_start, sst_end, sst_text};
  const struct part sheet = {x.sheet_path, SHEET_MAX, sheet_start, sheet_end, sheet_text};
  if (!rc && x.sst_path[0])
    rc = parse_part(&x, &sst);
  x.in_text = 0, x.rph = 0;
  if (!rc)
    rc = parse_part(&x, &sheet);
  if (x.z)
    zip_discard(x.z);
  uc_buf_release(&x.pool);
  uc_buf_release(&x.sst);
  uc_buf_release(&x.value);
  return rc ? rc : b->rc;
}
