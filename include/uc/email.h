/* Email address syntax (RFC 5321 mailbox in practical form, SMTPUTF8, IDNA2008/UTS#46)
 * and provider-aware normalisation of the mailbox. */
#ifndef UC_EMAIL_H
#define UC_EMAIL_H

#include <stddef.h>

#define UC_EMAIL_INPUT_MAX 1024 /* bytes of raw input looked at; longer is rejected */
#define UC_LOCAL_MAX 64         /* octets, RFC 5321 4.5.3.1.1 */
#define UC_ADDRESS_MAX 254      /* octets of local@domain (A-label form) */
#define UC_DOMAIN_MAX 253       /* octets of the A-label domain */
#define UC_LABEL_MAX 63
#define UC_DISPLAY_MAX 1024 /* Unicode domain form, UTF-8 */
#define UC_REASON_MAX 200

/* Parse options. */
enum uc_parse_opt {
  UC_PARSE_QUOTED = 1u << 0, /* accept "quoted local parts" */
};

/* What the parser learnt about the address. */
enum uc_email_flag {
  UC_EMAIL_QUOTED = 1u << 0,     /* local part was quoted */
  UC_EMAIL_UTF8_LOCAL = 1u << 1, /* local part has non-ASCII (needs SMTPUTF8) */
  UC_EMAIL_IDN = 1u << 2,        /* domain is internationalised */
};

/* A parsed address. Caller-owned, no heap: all strings are NUL-terminated copies. */
struct uc_email {
  char local[UC_LOCAL_MAX + 1]; /* as given (case kept) */
  size_t local_len;
  char domain[UC_DOMAIN_MAX + 1]; /* lower-case A-label form: the lookup key */
  size_t domain_len;
  char display[UC_DISPLAY_MAX + 1]; /* lower-cased; Unicode when it was given in Unicode */
  size_t display_len;
  unsigned flags; /* enum uc_email_flag */
  size_t plus_at; /* index of the first '+' of a dot-atom local part, or local_len */
  unsigned dots;  /* '.' in a dot-atom local part */
};

/* Parses s[0..len) (surrounding ASCII whitespace ignored) into *out.
 * Returns UC_OK, or UC_ESYNTAX with a sentence for people in reason (always
 * NUL-terminated when reason_size > 0). Never allocates except through libidn2
 * for internationalised domains. Thread-safe. */
int uc_email_parse(const char *s, size_t len, unsigned opts, struct uc_email *out, char *reason,
                   size_t reason_size);

/* A domain as an account lists it: the same rules as the part after the @
 * (surrounding ASCII whitespace ignored), and not a public suffix (co.uk).
 * Writes the lower-case A-label form to out. UC_OK or UC_ESYNTAX with reason,
 * worded for a domain on its own ("The domain ..."), never for an address. */
int uc_domain_parse(const char *s, size_t n, char out[UC_DOMAIN_MAX + 1], char *reason,
                    size_t reason_size);

/* Facts about the local part used by classification. */
struct uc_local_info {
  size_t base_len; /* length of the local part before a '+' tag */
  int plus_tag;    /* has a '+' */
  int dots;        /* number of '.' in the local part */
};
void uc_email_local_info(const struct uc_email *e, struct uc_local_info *info);

/* Whether s[0..n) is well-formed UTF-8 (no overlongs, surrogates or code
 * points past U+10FFFF) without NUL bytes. */
int uc_utf8_valid(const char *s, size_t n);

#define UC_NORMALIZED_MAX (UC_LOCAL_MAX + 1 + UC_DISPLAY_MAX)

/* Writes the canonical mailbox of e into out (NUL-terminated): provider rules
 * (Gmail dots and +tags, googlemail->gmail, Outlook/iCloud/Proton/Fastmail/...
 * +tags, Yahoo -tags), lower-cased domain in display form. Returns its length.
 * out must hold UC_NORMALIZED_MAX + 1 bytes. */
size_t uc_email_normalize(const struct uc_email *e, char *out);

/* Whether e's provider gives one mailbox several spellings (dots, +tags,
 * -keywords, googlemail): the addresses alias chains are looked for in. */
int uc_email_sub_addressing(const struct uc_email *e);

#endif
