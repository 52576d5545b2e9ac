/* libFuzzer driver: the INI manifest of uc_lists_build() from memory. A bad
 * manifest is refused with a reason; a good one gives a bounded source table
 * whose every field is one the build can use. */
#include "lists_build_int.h"
#include "uc/date.h"
#include "uc/uc.h"

#include <assert.h>
#include <string.h>

static void check_source(const struct uc__list_source *s) {
  assert(memchr(s->name, 0, sizeof s->name) && memchr(s->kind, 0, sizeof s->kind));
  assert(memchr(s->version, 0, sizeof s->version) && memchr(s->file, 0, sizeof s->file));
  assert(memchr(s->url, 0, sizeof s->url));
  assert(!s->url[0] || !strncmp(s->url, "http://", 7) || !strncmp(s->url, "https://", 8));
  for (const char *p = s->name; *p; p++) /* names name files: no '/', no leading dot */
    assert(*p != '/' && s->name[0] != '.');
  assert(s->count == 0 && s->skipped_invalid == 0 && s->skipped_suffix == 0);
  assert(s->kind[0] ? uc__list_kind_flag(s->kind) == s->flag && s->flag : s->flag == 0);
  if (s->date) {
    char day[11];
    uc_date_format(s->date, day);
    assert(uc_date_parse(day, 10) == s->date);
  }
  char err[256] = "";
  int rc = uc__list_source_check(s, err, sizeof err);
  int ok = s->flag && (s->file[0] || s->url[0]) && (!s->file[0] || s->date);
  assert(rc == (ok ? UC_OK : UC_EFORMAT));
  assert(rc == UC_OK || err[0]);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  static struct uc__manifest m;
  static char text[8192];
  char err[512];
  if (size >= sizeof text)
    return 0;
  memcpy(text, data, size);
  text[size] = 0;
  memset(&m, 0, sizeof m);
  err[0] = 0;
  int rc = uc__manifest_parse(text, "fuzz", &m, err, sizeof err);
  assert(rc == UC_OK || rc == UC_EFORMAT || rc == UC_ENOMEM);
  assert(m.nsrc >= 0 && m.nsrc <= UC_LISTS_MAX_SOURCES);
  if (rc != UC_OK) {
    assert(strncmp(err, "fuzz", 4) == 0);
    return 0;
  }
  assert(!m.bad);
  for (int i = 0; i < m.nsrc; i++) {
    check_source(&m.src[i]);
    if (i) /* keys of one section land in one source */
      assert(strcmp(m.src[i - 1].name, m.src[i].name) != 0);
  }
  return 0;
}
