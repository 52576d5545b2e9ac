/* libFuzzer driver: a list as `lists update` fetches it (uc__list_body_parse):
 * lines, or a JSON array of strings. Every entry handed over is one the
 * snapshot can hold (a domain in the address parser's form), for domain and
 * role sources; a malformed array is refused, never half-read. */
#include "lists_build_int.h"
#include "uc/uc.h"

#include <assert.h>
#include <string.h>

struct seen {
  size_t n;
  int role;
};

static int check_entry(void *arg, const struct uc__list_entry *e) {
  struct seen *s = arg;
  assert(e->len > 0 && e->len < sizeof e->name && e->name[e->len] == 0);
  assert(strlen(e->name) == e->len);
  if (!s->role) { /* a domain: lower-case, with a dot, that parses again to itself */
    struct uc__list_entry again;
    assert(e->len <= UC_DOMAIN_MAX && strchr(e->name, '.'));
    for (size_t i = 0; i < e->len; i++)
      assert(!(e->name[i] >= 'A' && e->name[i] <= 'Z'));
    assert(uc__list_line_parse(e->name, e->len, 0, &again) == UC__LINE_ENTRY);
    assert(strcmp(again.name, e->name) == 0);
  }
  s->n++;
  return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  for (int role = 0; role < 2; role++) {
    struct seen s = {0, role};
    size_t invalid = 0;
    int rc = uc__list_body_parse((const char *)data, size, role, check_entry, &s, &invalid);
    assert(rc == UC_OK || rc == UC_EFORMAT);
    assert(s.n + invalid <= size + 1); /* each entry or refusal costs at least a byte */
    if (rc == UC_EFORMAT)
      assert(s.n == 0); /* a JSON array that does not parse gives nothing */
  }
  return 0;
}
