/* Internal to libuc: confusable domains (lib/confusable.c), for the engine. */
#ifndef UC_LIB_SPOOF_H
#define UC_LIB_SPOOF_H

#include <stddef.h>

#include "uc/email.h"
#include "uc/lists.h"

enum {
  UC_CONFUSABLE_MIXED = 1,    /* a label mixes scripts (UTS #39 "highly restrictive" fails) */
  UC_CONFUSABLE_SKELETON = 2, /* looks like targets[i] (same UTS #39 skeleton), *match */
};

/* Whether the Unicode (display) form of an internationalised domain,
 * display[0..n) in UTF-8, is confusable: 0, or one of the values above.
 * Thread-safe; reads no state but ICU's confusables data. */
int uc__confusable(const char *display, size_t n, const struct uc_typo_target *targets,
                   size_t count, const char **match);

#endif
