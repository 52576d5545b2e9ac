/* libFuzzer driver: one line of a list source ("entry [YYYY-MM-DD] [# comment]")
 * as uc_lists_build() reads it, for domain sources and for role sources. What
 * it accepts is what the snapshot will hold, so its shape is asserted. */
#include "lists_build_int.h"
#include "uc/date.h"
#include "uc/uc.h"

#include <assert.h>
#include <string.h>

static int is_sep(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void check_entry(const struct uc__list_entry *e, int role) {
  assert(e->len > 0 && e->len < sizeof e->name && strlen(e->name) == e->len);
  for (size_t i = 0; i < e->len; i++)
    assert(!(e->name[i] >= 'A' && e->name[i] <= 'Z') && !is_sep(e->name[i]) && e->name[i] != '#');
  if (e->date) { /* a date the line gave: it survives the text form */
    char day[11];
    uc_date_format(e->date, day);
    assert(uc_date_parse(day, 10) == e->date);
  }
  if (role)
    return;
  assert(e->len <= UC_DOMAIN_MAX && memchr(e->name, '.', e->len));
  for (size_t i = 0; i < e->len; i++) /* an A-label: ASCII only */
    assert((unsigned char)e->name[i] > 0x20 && (unsigned char)e->name[i] < 0x7f);
  struct uc__list_entry again; /* the stored form is a fixed point */
  assert(uc__list_line_parse(e->name, e->len, 0, &again) == UC__LINE_ENTRY);
  assert(again.len == e->len && memcmp(again.name, e->name, e->len) == 0 && again.date == 0);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  static struct uc__list_entry dom, loc, dom2, loc2;
  static char line[UC__LIST_LINE_MAX + 16];
  const char *p = (const char *)data;
  int rd = uc__list_line_parse(p, size, 0, &dom);
  int rl = uc__list_line_parse(p, size, 1, &loc);
  assert(rd == UC__LINE_EMPTY || rd == UC__LINE_INVALID || rd == UC__LINE_ENTRY);
  assert((rd == UC__LINE_EMPTY) == (rl == UC__LINE_EMPTY)); /* one tokenizer for both kinds */
  assert(rl != UC__LINE_INVALID || size >= UC__LIST_LINE_MAX);
  if (rd == UC__LINE_ENTRY)
    check_entry(&dom, 0);
  if (rl == UC__LINE_ENTRY) {
    check_entry(&loc, 1);
    assert(loc.len <= size);
    if (rd == UC__LINE_ENTRY)
      assert(dom.date == loc.date);
  }
  /* Blanks in front and a comment behind change nothing. */
  size_t n = strnlen(p, size);
  if (n + 9 > sizeof line)
    return 0;
  memcpy(line, " \t", 2);
  memcpy(line + 2, p, n);
  memcpy(line + 2 + n, " #x Y\r\n", 7);
  assert(uc__list_line_parse(line, n + 9, 0, &dom2) == rd);
  assert(uc__list_line_parse(line, n + 9, 1, &loc2) == rl);
  if (rd == UC__LINE_ENTRY)
    assert(dom2.len == dom.len && !memcmp(dom2.name, dom.name, dom.len) && dom2.date == dom.date);
  if (rl == UC__LINE_ENTRY)
    assert(loc2.len == loc.len && !memcmp(loc2.name, loc.name, loc.len) && loc2.date == loc.date);
  return 0;
}
