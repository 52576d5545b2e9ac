/* libFuzzer driver: the two JSON documents of domain age (lib/rdap.c): an
 * RDAP domain answer (the registration date) and the IANA bootstrap (TLD ->
 * base URL). The first input byte picks which. Whatever is accepted has the
 * shape the client relies on. */
#include "rdap_int.h"
#include "uc/date.h"
#include "uc/uc.h"

#include <assert.h>
#include <string.h>

static void answer(const char *p, size_t n) {
  unsigned created = 12345;
  int rc = uc__rdap_parse(p, n, &created);
  assert(rc == UC_OK || rc == UC_ENOTFOUND || rc == UC_EFORMAT);
  if (rc == UC_OK) { /* a real day: it prints and reads back */
    char day[11];
    assert(created > 0);
    uc_date_format(created, day);
    assert(uc_date_parse(day, 10) == created);
  } else {
    assert(created == 12345); /* untouched */
  }
}

static void bootstrap(const char *p, size_t n) {
  struct uc__rdap_bootstrap *b = NULL;
  char err[256] = "";
  static const char *const probes[] = {"example.com", "a.b.example.co.uk", "x.net", "com",
                                       "no-dot",      "a.b.c.d.e.f.g.h"};
  int rc = uc__rdap_bootstrap_parse(p, n, &b, err, sizeof err);
  assert(rc == UC_OK || rc == UC_EFORMAT || rc == UC_ENOMEM);
  assert(rc == UC_OK ? b != NULL : b == NULL && err[0]);
  for (size_t i = 0; b && i < sizeof probes / sizeof probes[0]; i++) {
    const char *url = uc__rdap_bootstrap_find(b, probes[i]);
    assert(!url || ((!strncmp(url, "https://", 8) || !strncmp(url, "http://", 7)) &&
                    url[strlen(url) - 1] == '/'));
  }
  uc__rdap_bootstrap_free(b);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  if (size < 1)
    return 0;
  if (data[0] & 1)
    bootstrap((const char *)data + 1, size - 1);
  else
    answer((const char *)data + 1, size - 1);
  return 0;
}
