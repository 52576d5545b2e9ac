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

/* A UTS #39 skeleton; text NULL when ICU made none. */
struct uc_skeleton {
  const char *text;
  size_t len;
};

/* The skeleton of s[0..n) (UTF-8) into out: its length, or -1. */
int uc__skeleton(const char *s, size_t n, char *out, size_t cap);

/* The skeletons of l's typo targets (uc_lists_typo_targets' order), made
 * at the first call and kept with the snapshot; NULL when they could not be
 * made. Thread-safe. */
const struct uc_skeleton *uc__lists_typo_skeletons(const uc_lists *l);

/* Whether the Unicode (display) form of an internationalised domain,
 * display[0..n) in UTF-8, is confusable: 0, or one of the values above.
 * skels: the targets' skeletons (NULL: made here, one by one). Thread-safe;
 * reads no state but ICU's confusables data. */
int uc__confusable(const char *display, size_t n, const struct uc_typo_target *targets,
                   const struct uc_skeleton *skels, size_t count, const char **match);

#endif
