/* Confusable domains (UTS #39, through ICU: Debian's libicu is the one
 * library there with the Unicode confusables data and skeletons; libidn2
 * and libunistring have neither). A domain is confusable when one of its
 * labels mixes scripts outside UTS #39's "highly restrictive" combinations,
 * or when its skeleton is the skeleton of a popular mail domain while the
 * domain itself is another (gmаil.com with a Cyrillic а). Only
 * internationalised domains are looked at: an ASCII look-alike (gmial.com)
 * is a typo, the did_you_mean signal's business. */
#include "spoof.h"

#include <pthread.h>
#include <string.h>
#include <unicode/uscript.h>
#include <unicode/uspoof.h>
#include <unicode/utf8.h>

static USpoofChecker *checker;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* A configured checker is safe to share between threads (ICU's uspoof.h). */
static void open_checker(void) {
  UErrorCode st = U_ZERO_ERROR;
  USpoofChecker *sc = uspoof_open(&st);
  if (U_SUCCESS(st))
    uspoof_setChecks(sc, USPOOF_CONFUSABLE, &st);
  if (U_FAILURE(st)) {
    uspoof_close(sc);
    return;
  }
  checker = sc;
}

/* Bit of a script among those that may share a label (UTS #39 5.2 "highly
 * restrictive": Latin with Han and Hiragana and Katakana, or with Han and
 * Bopomofo, or with Han and Hangul); any other script counts as "other". */
enum { LATN = 1, HANI = 2, HIRA = 4, KANA = 8, BOPO = 16, HANG = 32, OTHER = 64 };

static unsigned script_bit(UScriptCode sc) {
  switch (sc) {
  case USCRIPT_LATIN:
    return LATN;
  case USCRIPT_HAN:
    return HANI;
  case USCRIPT_HIRAGANA:
    return HIRA;
  case USCRIPT_KATAKANA:
    return KANA;
  case USCRIPT_BOPOMOFO:
    return BOPO;
  case USCRIPT_HANGUL:
    return HANG;
  default:
    return OTHER;
  }
}

/* Whether the label s[0..n) (UTF-8) mixes scripts beyond those combinations. */
static int mixed_label(const char *s, size_t n) {
  unsigned seen = 0;
  UScriptCode other = USCRIPT_INVALID_CODE;
  for (int32_t i = 0; i < (int32_t)n;) {
    UChar32 c;
    UErrorCode st = U_ZERO_ERROR;
    U8_NEXT(s, i, (int32_t)n, c);
    if (c < 0)
      return 0; /* not UTF-8: the syntax check's business */
    UScriptCode sc = uscript_getScript(c, &st);
    if (U_FAILURE(st) || sc == USCRIPT_COMMON || sc == USCRIPT_INHERITED)
      continue; /* digits, hyphens, marks: any script */
    unsigned bit = script_bit(sc);
    if (bit == OTHER) {
      if (other != USCRIPT_INVALID_CODE && other != sc)
        return 1; /* two scripts outside the combinations */
      other = sc;
    }
    seen |= bit;
  }
  if (seen & OTHER) /* Cyrillic, Greek, Arabic...: alone in a label */
    return (seen & ~(unsigned)OTHER) != 0;
  return (seen & (LATN | HANI | HIRA | KANA)) != seen && (seen & (LATN | HANI | BOPO)) != seen &&
         (seen & (LATN | HANI | HANG)) != seen;
}

static int skeleton(const char *s, size_t n, char *out, size_t cap) {
  UErrorCode st = U_ZERO_ERROR;
  int32_t len = uspoof_getSkeletonUTF8(checker, 0, s, (int32_t)n, out, (int32_t)cap, &st);
  return U_SUCCESS(st) && len >= 0 && (size_t)len < cap ? len : -1;
}

int uc__skeleton(const char *s, size_t n, char *out, size_t cap) {
  pthread_once(&once, open_checker);
  return checker ? skeleton(s, n, out, cap) : -1;
}

int uc__confusable(const char *display, size_t n, const struct uc_typo_target *targets,
                   const struct uc_skeleton *skels, size_t count, const char **match) {
  char mine[4 * UC_DISPLAY_MAX + 1], theirs[4 * UC_DOMAIN_MAX + 1];
  *match = NULL;
  pthread_once(&once, open_checker);
  int len = checker ? skeleton(display, n, mine, sizeof mine) : -1;
  for (size_t t = 0; len >= 0 && t < count; t++) { /* the look-alike first: it says of what */
    /* a target's skeleton is made once per snapshot (uc__lists_typo_skeletons):
     * making each on every check cost 8,000 instructions a check on average */
    const char *ts = skels ? skels[t].text : theirs;
    int tl = skels ? (skels[t].text ? (int)skels[t].len : -1)
                   : skeleton(targets[t].name, targets[t].len, theirs, sizeof theirs);
    if (tl == len && memcmp(mine, ts, (size_t)len) == 0 &&
        (targets[t].len != n || memcmp(targets[t].name, display, n) != 0)) {
      *match = targets[t].name;
      return UC_CONFUSABLE_SKELETON;
    }
  }
  for (size_t start = 0, i = 0; i <= n; i++) /* label by label */
    if (i == n || display[i] == '.') {
      if (mixed_label(display + start, i - start))
        return UC_CONFUSABLE_MIXED;
      start = i + 1;
    }
  return 0;
}
