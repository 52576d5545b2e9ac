/* Address syntax: split, dot-atom/quoted local part, LDH or IDN domain, limits. */
#include "uc/email.h"
#include "uc/error.h"

#include <idn2.h>
#include <libpsl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int fail(char *reason, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *reason, size_t size, const char *fmt, ...) {
  if (size > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, size, fmt, ap);
    va_end(ap);
  }
  return UC_ESYNTAX;
}

static int is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int is_atext(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
    return 1;
  return c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* Length of the well-formed UTF-8 sequence at s (no overlongs, surrogates or
 * code points above U+10FFFF), or 0 when it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  size_t len;
  unsigned cp, min;
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF)
    len = 2, cp = c & 0x1F, min = 0x80;
  else if (c >= 0xE0 && c <= 0xEF)
    len = 3, cp = c & 0x0F, min = 0x800;
  else if (c >= 0xF0 && c <= 0xF4)
    len = 4, cp = c & 0x07, min = 0x10000;
  else
    return 0;
  if (n < len)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
}

int uc_utf8_valid(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0; i < n;) {
    if (p[i] >= 0x20 && p[i] < 0x80) { /* the common case: printable ASCII */
      i++;
      continue;
    }
    size_t k = p[i] ? utf8_seq(p + i, n - i) : 0;
    if (!k)
      return 0;
    i += k;
  }
  return 1;
}

/* The code point of the well-formed sequence s[0..len). */
static unsigned code_point(const unsigned char *s, size_t len) {
  unsigned cp = len == 1 ? s[0] : len == 2 ? s[0] & 0x1Fu : len == 3 ? s[0] & 0x0Fu : s[0] & 0x07u;
  for (size_t i = 1; i < len; i++)
    cp = (cp << 6) | (s[i] & 0x3Fu);
  return cp;
}

/* Characters that show nothing, or turn the text around, so that what a
 * person reads is not the address (U+202E makes "moc.liamg@x" read as
 * "x@gmail.com"): never part of an address we accept. ZWNJ and ZWJ are left
 * to IDNA in a domain (its CONTEXTJ rule allows them only where a script
 * needs them); before the @-sign nothing decides that, so they are refused. */
static const char *invisible(unsigned cp, int in_domain) {
  static const struct {
    unsigned lo, hi;
    const char *name;
  } ranges[] = {
      {0x00AD, 0x00AD, "U+00AD SOFT HYPHEN"},
      {0x034F, 0x034F, "U+034F COMBINING GRAPHEME JOINER"},
      {0x061C, 0x061C, "U+061C ARABIC LETTER MARK"},
      {0x115F, 0x1160, "a Hangul filler"},
      {0x17B4, 0x17B5, "a Khmer inherent vowel"},
      {0x180B, 0x180F, "a Mongolian variation selector"},
      {0x200B, 0x200B, "U+200B ZERO WIDTH SPACE"},
      {0x200C, 0x200D, "a zero-width joiner"},
      {0x200E, 0x200F, "a left-to-right or right-to-left mark"},
      {0x202A, 0x202E, "a bidirectional embedding or override (U+202A..U+202E)"},
      {0x2060, 0x2064, "U+2060..U+2064 (word joiner, invisible operators)"},
      {0x2066, 0x2069, "a bidirectional isolate (U+2066..U+2069)"},
      {0x206A, 0x206F, "a deprecated format character (U+206A..U+206F)"},
      {0x3164, 0x3164, "U+3164 HANGUL FILLER"},
      {0xFE00, 0xFE0F, "a variation selector"},
      {0xFEFF, 0xFEFF, "U+FEFF ZERO WIDTH NO-BREAK SPACE"},
      {0xFFA0, 0xFFA0, "U+FFA0 HALFWIDTH HANGUL FILLER"},
      {0x1D173, 0x1D17A, "a musical format character"},
      {0xE0000, 0xE007F, "a tag character"},
      {0xE0100, 0xE01EF, "a variation selector"},
  };
  if (cp < 0xAD || (in_domain && (cp == 0x200C || cp == 0x200D)))
    return NULL;
  for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++)
    if (cp >= ranges[i].lo && cp <= ranges[i].hi)
      return ranges[i].name;
  return NULL;
}

/* The first invisible character of s[0..n) (well-formed UTF-8 is checked
 * elsewhere: a bad sequence is skipped here), as a UC_ESYNTAX with reason. */
static int refuse_invisible(const unsigned char *s, size_t n, int in_domain, char *reason,
                            size_t rsize) {
  for (size_t i = 0; i < n; i++) {
    if (s[i] < 0x80)
      continue;
    size_t k = utf8_seq(s + i, n - i);
    if (!k)
      continue;
    const char *what = invisible(code_point(s + i, k), in_domain);
    if (what)
      return fail(reason, rsize,
                  "The email address contains an invisible or direction-changing character %s "
                  "the @-sign: %s.",
                  in_domain ? "after" : "before", what);
    i += k - 1;
  }
  return UC_OK;
}

/* Appends the printable form of byte c to the list of bad characters once. */
static void note_bad(char *bad, size_t size, unsigned char c) {
  char item[16];
  if (c > 0x20 && c < 0x7F)
    snprintf(item, sizeof item, "'%c'", c);
  else if (c == ' ')
    snprintf(item, sizeof item, "SPACE");
  else
    snprintf(item, sizeof item, "0x%02X", c);
  if (strstr(bad, item))
    return;
  size_t used = strlen(bad);
  snprintf(bad + used, size - used, "%s%s", used ? ", " : "", item);
}

static int check_quoted(const unsigned char *s, size_t n, unsigned *flags, char *reason,
                        size_t rsize) {
  for (size_t i = 1; i + 1 < n; i++) {
    unsigned char c = s[i];
    if (c == '\\') {
      if (i + 2 >= n || s[i + 1] < 0x20 || s[i + 1] > 0x7E)
        return fail(reason, rsize, "The quoted part before the @-sign has a dangling backslash.");
      i++;
    } else if (c == '"' || c < 0x20 || c == 0x7F) {
      return fail(reason, rsize, "The quoted part before the @-sign contains invalid characters.");
    } else if (c >= 0x80) {
      size_t k = utf8_seq(s + i, n - 1 - i);
      if (!k)
        return fail(reason, rsize, "The email address is not valid UTF-8 before the @-sign.");
      *flags |= UC_EMAIL_UTF8_LOCAL;
      i += k - 1;
    }
  }
  *flags |= UC_EMAIL_QUOTED;
  return UC_OK;
}

static int check_dot_atom(const unsigned char *s, size_t n, struct uc_email *out, char *reason,
                          size_t rsize) {
  char bad[64] = "";
  out->plus_at = n;
  if (s[0] == '.')
    return fail(reason, rsize, "An email address cannot start with a period.");
  if (s[n - 1] == '.')
    return fail(reason, rsize,
                "An email address cannot have a period immediately before the @-sign.");
  for (size_t i = 0; i < n; i++) {
    unsigned char c = s[i];
    if (c == '.') {
      if (s[i + 1] == '.')
        return fail(reason, rsize, "An email address cannot have two periods in a row.");
      out->dots++;
    } else if (c >= 0x80) {
      size_t k = utf8_seq(s + i, n - i);
      if (!k)
        return fail(reason, rsize, "The email address is not valid UTF-8 before the @-sign.");
      out->flags |= UC_EMAIL_UTF8_LOCAL;
      i += k - 1;
    } else if (c == '+') {
      if (out->plus_at == n)
        out->plus_at = i;
    } else if (!is_atext(c)) {
      note_bad(bad, sizeof bad, c);
    }
  }
  if (bad[0])
    return fail(reason, rsize,
                "The email address contains invalid characters before the @-sign: %s.", bad);
  return UC_OK;
}

static int check_local(const unsigned char *s, size_t n, unsigned opts, struct uc_email *out,
                       char *reason, size_t rsize) {
  int rc;
  if (n == 0)
    return fail(reason, rsize, "There must be something before the @-sign.");
  if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
    if (!(opts & UC_PARSE_QUOTED))
      return fail(reason, rsize, "Quoted text before the @-sign is not allowed here.");
    rc = check_quoted(s, n, &out->flags, reason, rsize);
    out->plus_at = n; /* tags and dots mean nothing inside quotes */
  } else {
    rc = check_dot_atom(s, n, out, reason, rsize);
  }
  if (rc)
    return rc;
  if (n > UC_LOCAL_MAX)
    return fail(reason, rsize,
                "The email address is too long before the @-sign (%zu character%s too many).",
                n - UC_LOCAL_MAX, n - UC_LOCAL_MAX == 1 ? "" : "s");
  memcpy(out->local, s, n);
  out->local[n] = 0;
  out->local_len = n;
  return UC_OK;
}

/* The domain's messages in two wordings: for the part after the @-sign of an
 * address (python-email-validator's words, which integrations match), and for
 * a domain on its own (a list entry), which has no @-sign to speak of. */
enum dom_msg {
  D_EMPTY,
  D_BRACKET,
  D_TOO_LONG,
  D_LEADING_DOT,
  D_TRAILING_DOT,
  D_TWO_DOTS,
  D_LONG_LABEL,
  D_HYPHEN,
  D_BAD_CHARS,
  D_NO_PERIOD,
  D_NUMERIC_TLD,
  D_RESERVED,
  D_NOT_UTF8,
  D_BAD_IDN,
  D_BAD_IDN_WHY,
};
enum { IN_ADDRESS, ALONE };
static const char *const dom_msgs[][2] = {
    [D_EMPTY] = {"There must be something after the @-sign.", "The domain is empty."},
    [D_BRACKET] = {"The part after the @-sign cannot be a bracketed IP address.",
                   "A domain cannot be a bracketed IP address."},
    [D_TOO_LONG] = {"The email address is too long after the @-sign.",
                    "The domain is too long (at most 253 characters)."},
    [D_LEADING_DOT] = {"An email address cannot have a period immediately after the @-sign.",
                       "A domain cannot start with a period."},
    [D_TRAILING_DOT] = {"An email address cannot end with a period.",
                        "A domain cannot end with a period."},
    [D_TWO_DOTS] = {"An email address cannot have two periods in a row.",
                    "A domain cannot have two periods in a row."},
    [D_LONG_LABEL] = {"The part after the @-sign has a label longer than 63 characters.",
                      "The domain has a label longer than 63 characters."},
    [D_HYPHEN] = {"A label after the @-sign cannot start or end with a hyphen.",
                  "A label of the domain cannot start or end with a hyphen."},
    [D_BAD_CHARS] = {"The part after the @-sign contains invalid characters: %s.",
                     "The domain contains invalid characters: %s."},
    [D_NO_PERIOD] = {"The part after the @-sign is not valid. It should have a period.",
                     "The domain is not valid. It should have a period."},
    [D_NUMERIC_TLD] = {"The part after the @-sign is not valid. It is not within a valid "
                       "top-level domain.",
                       "The domain is not valid. It is not within a valid top-level domain."},
    [D_RESERVED] = {"The part after the @-sign is a special-use or reserved name that cannot be "
                    "used with email.",
                    "The domain is a special-use or reserved name (.example, .test, .local, "
                    "...) that cannot be used with email."},
    [D_NOT_UTF8] = {"The part after the @-sign is not valid UTF-8.",
                    "The domain is not valid UTF-8."},
    [D_BAD_IDN] = {"The part after the @-sign is not a valid internationalized domain name.",
                   "The domain is not a valid internationalized domain name."},
    [D_BAD_IDN_WHY] = {"The part after the @-sign is not a valid internationalized domain name "
                       "(%s).",
                       "The domain is not a valid internationalized domain name (%s)."},
};
/* The message m in wording w, as a printf format. */
#define DMSG(m) dom_msgs[m][w]

static int is_special_use_tld(const char *tld, size_t n) {
  static const struct {
    const char *name;
    size_t len;
  } names[] = {{"alt", 3},   {"arpa", 4},      {"example", 7}, {"internal", 8}, {"invalid", 7},
               {"local", 5}, {"localhost", 9}, {"onion", 5},   {"test", 4}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (names[i].len == n && memcmp(names[i].name, tld, n) == 0)
      return 1;
  return 0;
}

/* Checks the lower-case ASCII domain d[0..n) label by label (RFC 1035 LDH). */
static int check_ldh(const char *d, size_t n, int w, char *reason, size_t rsize) {
  char bad[64] = "";
  size_t labels = 0, start = 0;
  if (n == 0) /* IDNA can map a domain to nothing (U+00AD, soft hyphen, alone) */
    return fail(reason, rsize, "There must be something after the @-sign.");
  if (d[0] == '.')
    return fail(reason, rsize, "%s", DMSG(D_LEADING_DOT));
  if (d[n - 1] == '.')
    return fail(reason, rsize, "%s", DMSG(D_TRAILING_DOT));
  for (size_t i = 0; i <= n; i++) {
    if (i < n && d[i] != '.') {
      unsigned char c = (unsigned char)d[i];
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
        note_bad(bad, sizeof bad, c);
      continue;
    }
    size_t len = i - start;
    if (len == 0)
      return fail(reason, rsize, "%s", DMSG(D_TWO_DOTS));
    if (len > UC_LABEL_MAX)
      return fail(reason, rsize, "%s", DMSG(D_LONG_LABEL));
    if (d[start] == '-' || d[i - 1] == '-')
      return fail(reason, rsize, "%s", DMSG(D_HYPHEN));
    labels++;
    start = i + 1;
  }
  if (bad[0])
    return fail(reason, rsize, DMSG(D_BAD_CHARS), bad);
  if (labels < 2)
    return fail(reason, rsize, "%s", DMSG(D_NO_PERIOD));
  const char *tld = strrchr(d, '.') + 1;
  size_t tlen = (size_t)(d + n - tld);
  if (strspn(tld, "0123456789") == tlen)
    return fail(reason, rsize, "%s", DMSG(D_NUMERIC_TLD));
  if (is_special_use_tld(tld, tlen))
    return fail(reason, rsize, "%s", DMSG(D_RESERVED));
  if (n > UC_DOMAIN_MAX)
    return fail(reason, rsize, "%s", DMSG(D_TOO_LONG));
  return UC_OK;
}

static int needs_idna(const unsigned char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (s[i] >= 0x80)
      return 1;
    if ((i == 0 || s[i - 1] == '.') && i + 4 <= n && (s[i] | 0x20) == 'x' &&
        (s[i + 1] | 0x20) == 'n' && s[i + 2] == '-' && s[i + 3] == '-')
      return 1;
  }
  return 0;
}

/* IDNA2008 + UTS#46 (non-transitional) through libidn2: fills domain (A-labels)
 * and display (U-labels when the input had Unicode). */
static int check_idn(const unsigned char *s, size_t n, int w, struct uc_email *out, char *reason,
                     size_t rsize) {
  char in[UC_EMAIL_INPUT_MAX + 1];
  char *ascii = NULL, *uni = NULL;
  int rc = UC_OK, had_unicode = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < 0x80)
      continue;
    size_t k = utf8_seq(s + i, n - i);
    if (!k)
      return fail(reason, rsize, "%s", DMSG(D_NOT_UTF8));
    had_unicode = 1;
    i += k - 1;
  }
  memcpy(in, s, n);
  in[n] = 0;
  int irc = idn2_lookup_u8((const uint8_t *)in, (uint8_t **)&ascii,
                           IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
  if (irc != IDN2_OK) {
    rc = fail(reason, rsize, DMSG(D_BAD_IDN_WHY), idn2_strerror(irc));
    goto out;
  }
  size_t alen = strlen(ascii);
  if (alen > UC_DOMAIN_MAX) {
    rc = fail(reason, rsize, "%s", DMSG(D_TOO_LONG));
    goto out;
  }
  for (size_t i = 0; i < alen; i++)
    out->domain[i] = (char)((ascii[i] >= 'A' && ascii[i] <= 'Z') ? ascii[i] | 0x20 : ascii[i]);
  out->domain[alen] = 0;
  out->domain_len = alen;
  rc = check_ldh(out->domain, alen, w, reason, rsize);
  if (rc)
    goto out;
  if (had_unicode) {
    if (idn2_to_unicode_8z8z(out->domain, &uni, 0) != IDN2_OK || strlen(uni) > UC_DISPLAY_MAX) {
      rc = fail(reason, rsize, "%s", DMSG(D_BAD_IDN));
      goto out;
    }
    out->display_len = strlen(uni);
    memcpy(out->display, uni, out->display_len + 1);
  } else {
    memcpy(out->display, out->domain, alen + 1);
    out->display_len = alen;
  }
  out->flags |= UC_EMAIL_IDN;
out:
  idn2_free(ascii);
  idn2_free(uni);
  return rc;
}

/* The domain s[0..n) into out->domain/display, worded w (IN_ADDRESS, ALONE). */
static int check_domain(const unsigned char *s, size_t n, int w, struct uc_email *out, char *reason,
                        size_t rsize) {
  if (n == 0)
    return fail(reason, rsize, "%s", DMSG(D_EMPTY));
  if (s[0] == '[')
    return fail(reason, rsize, "%s", DMSG(D_BRACKET));
  if (needs_idna(s, n))
    return check_idn(s, n, w, out, reason, rsize);
  if (n > UC_DOMAIN_MAX)
    return fail(reason, rsize, "%s", DMSG(D_TOO_LONG));
  for (size_t i = 0; i < n; i++)
    out->domain[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] | 0x20 : s[i]);
  out->domain[n] = 0;
  out->domain_len = n;
  int rc = check_ldh(out->domain, n, w, reason, rsize);
  if (rc)
    return rc;
  memcpy(out->display, out->domain, n + 1);
  out->display_len = n;
  return UC_OK;
}

int uc_email_parse(const char *str, size_t len, unsigned opts, struct uc_email *out, char *reason,
                   size_t rsize) {
  const unsigned char *s = (const unsigned char *)str;
  if (rsize > 0)
    reason[0] = 0;
  out->flags = 0;
  out->dots = 0;
  out->local_len = out->domain_len = out->display_len = out->plus_at = 0;
  out->local[0] = out->domain[0] = out->display[0] = 0;
  while (len > 0 && is_space(s[0]))
    s++, len--;
  while (len > 0 && is_space(s[len - 1]))
    len--;
  if (len == 0)
    return fail(reason, rsize, "The email address is empty.");
  if (len > UC_EMAIL_INPUT_MAX)
    return fail(reason, rsize, "The email address is too long (%zu characters too many).",
                len - UC_ADDRESS_MAX);
  if (memchr(s, 0, len))
    return fail(reason, rsize, "The email address contains a NUL character.");
  const unsigned char *at = NULL;
  for (size_t i = len; i-- > 0;)
    if (s[i] == '@') {
      at = s + i;
      break;
    }
  if (!at)
    return fail(reason, rsize, "An email address must have an @-sign.");
  size_t llen = (size_t)(at - s);
  int rc = refuse_invisible(s, llen, 0, reason, rsize);
  if (!rc)
    rc = refuse_invisible(at + 1, len - llen - 1, 1, reason, rsize);
  if (!rc)
    rc = check_local(s, llen, opts, out, reason, rsize);
  if (!rc)
    rc = check_domain(at + 1, len - llen - 1, IN_ADDRESS, out, reason, rsize);
  if (!rc && out->local_len + 1 + out->domain_len > UC_ADDRESS_MAX) {
    size_t over = out->local_len + 1 + out->domain_len - UC_ADDRESS_MAX;
    rc = fail(reason, rsize, "The email address is too long (%zu character%s too many).", over,
              over == 1 ? "" : "s");
  }
  return rc;
}

void uc_email_local_info(const struct uc_email *e, struct uc_local_info *info) {
  info->plus_tag = e->plus_at < e->local_len;
  info->base_len = e->plus_at;
  info->dots = (int)e->dots;
}

int uc_domain_parse(const char *str, size_t n, char out[UC_DOMAIN_MAX + 1], char *reason,
                    size_t rsize) {
  const unsigned char *s = (const unsigned char *)str;
  struct uc_email e;
  const int w = ALONE;
  if (rsize > 0)
    reason[0] = 0;
  while (n > 0 && is_space(s[0]))
    s++, n--;
  while (n > 0 && is_space(s[n - 1]))
    n--;
  if (n == 0)
    return fail(reason, rsize, "%s", DMSG(D_EMPTY));
  if (n > UC_EMAIL_INPUT_MAX)
    return fail(reason, rsize, "%s", DMSG(D_TOO_LONG));
  if (memchr(s, '@', n))
    return fail(reason, rsize, "Not a domain name (no @-sign, just the part after it).");
  if (memchr(s, 0, n))
    return fail(reason, rsize, "The domain contains a NUL character.");
  if (check_domain(s, n, ALONE, &e, reason, rsize) != UC_OK)
    return UC_ESYNTAX;
  static const psl_ctx_t *psl;
  if (!psl) /* psl_builtin() is a static table: the race is benign */
    psl = psl_builtin();
  if (psl_is_public_suffix2(psl, e.domain, PSL_TYPE_ANY))
    return fail(reason, rsize,
                "%s is a public suffix: listing it would match every domain under it.", e.domain);
  memcpy(out, e.domain, e.domain_len + 1);
  return UC_OK;
}
