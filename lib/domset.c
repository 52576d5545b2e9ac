/* Account domain lists: an in-memory string table matched with parents. */
#include "domset_int.h"
#include "strtab.h"
#include "uc/engine.h"
#include "uc/error.h"

#include <stdlib.h>
#include <string.h>

struct uc_domset {
  struct uc__strtab_builder tb;
};

uc_domset *uc_domset_new(void) {
  uc_domset *s = calloc(1, sizeof *s);
  if (s)
    uc__stb_init(&s->tb);
  return s;
}

void uc_domset_free(uc_domset *s) {
  if (!s)
    return;
  uc__stb_release(&s->tb);
  free(s);
}

int uc_domset_add(uc_domset *s, const char *domain, size_t n) {
  if (n == 0 || n > UC_DOMAIN_MAX)
    return UC_EINVAL;
  return uc__stb_upsert(&s->tb, domain, n) ? UC_OK : UC_ENOMEM;
}

size_t uc_domset_count(const uc_domset *s) {
  return s ? s->tb.t.count : 0;
}

const char *uc__domset_match(const uc_domset *s, const char *d, size_t n) {
  struct uc__strtab t;
  if (!s || s->tb.t.count == 0)
    return NULL;
  uc__stb_view(&s->tb, &t);
  for (;;) {
    const struct uc__entry *e = uc__strtab_find(&t, d, n);
    if (e)
      return t.pool + e->off;
    const char *dot = memchr(d, '.', n);
    if (!dot)
      return NULL;
    n -= (size_t)(dot + 1 - d);
    d = dot + 1;
  }
}
