/* Canonical mailbox per provider: the sub-addressing rules each provider documents. */
#include "uc/email.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum {
  R_DOTS = 1u << 0,   /* dots in the local part are ignored (Gmail) */
  R_PLUS = 1u << 1,   /* "+tag" is a sub-address */
  R_HYPHEN = 1u << 2, /* "-keyword" is a disposable address (Yahoo) */
};

struct provider {
  const char *domain;
  const char *canonical; /* domain to print, NULL: the domain itself */
  unsigned rules;
};

/* Sorted by domain (bsearch). Sources: each provider's help pages on
 * sub-addressing: Gmail "dots don't matter" and "+"; Microsoft "plus addressing
 * in Outlook.com"; Yahoo "disposable addresses" (base-keyword); Apple iCloud
 * Mail, Proton, Fastmail, Zoho, Yandex, HEY: "+" sub-addressing. */
static const struct provider providers[] = {
    {"fastmail.com", NULL, R_PLUS},
    {"fastmail.fm", NULL, R_PLUS},
    {"gmail.com", NULL, R_DOTS | R_PLUS},
    {"googlemail.com", "gmail.com", R_DOTS | R_PLUS},
    {"hey.com", NULL, R_PLUS},
    {"hotmail.co.uk", NULL, R_PLUS},
    {"hotmail.com", NULL, R_PLUS},
    {"hotmail.de", NULL, R_PLUS},
    {"hotmail.es", NULL, R_PLUS},
    {"hotmail.fr", NULL, R_PLUS},
    {"hotmail.it", NULL, R_PLUS},
    {"icloud.com", NULL, R_PLUS},
    {"live.co.uk", NULL, R_PLUS},
    {"live.com", NULL, R_PLUS},
    {"live.de", NULL, R_PLUS},
    {"live.fr", NULL, R_PLUS},
    {"mac.com", NULL, R_PLUS},
    {"me.com", NULL, R_PLUS},
    {"msn.com", NULL, R_PLUS},
    {"outlook.com", NULL, R_PLUS},
    {"outlook.de", NULL, R_PLUS},
    {"outlook.es", NULL, R_PLUS},
    {"outlook.fr", NULL, R_PLUS},
    {"pm.me", NULL, R_PLUS},
    {"proton.me", NULL, R_PLUS},
    {"protonmail.ch", NULL, R_PLUS},
    {"protonmail.com", NULL, R_PLUS},
    {"rocketmail.com", NULL, R_HYPHEN},
    {"ya.ru", NULL, R_PLUS},
    {"yahoo.co.uk", NULL, R_HYPHEN},
    {"yahoo.com", NULL, R_HYPHEN},
    {"yahoo.de", NULL, R_HYPHEN},
    {"yahoo.es", NULL, R_HYPHEN},
    {"yahoo.fr", NULL, R_HYPHEN},
    {"yahoo.it", NULL, R_HYPHEN},
    {"yandex.com", NULL, R_PLUS},
    {"yandex.ru", NULL, R_PLUS},
    {"ymail.com", NULL, R_HYPHEN},
    {"zoho.com", NULL, R_PLUS},
    {"zohomail.com", NULL, R_PLUS},
};

static int cmp_provider(const void *key, const void *elem) {
  return strcmp(key, ((const struct provider *)elem)->domain);
}

static char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? (char)(c | 0x20) : c;
}

/* Bit c - 'a' set: some provider's domain starts with letter c (a cheap "no"
 * before the search, for the many domains that are not providers). */
static uint32_t first_letters(void) {
  uint32_t m = 0;
  for (size_t i = 0; i < sizeof providers / sizeof providers[0]; i++)
    m |= 1u << (providers[i].domain[0] - 'a');
  return m;
}

/* The provider whose rules apply to e, or NULL. */
static const struct provider *provider_of(const struct uc_email *e) {
  static _Atomic uint32_t cached; /* 0 until computed; racing threads store the same value */
  uint32_t letters = atomic_load_explicit(&cached, memory_order_relaxed);
  if (!letters)
    atomic_store_explicit(&cached, letters = first_letters(), memory_order_relaxed);
  unsigned c0 = (unsigned char)e->domain[0] - 'a';
  return (e->flags & UC_EMAIL_QUOTED) || c0 >= 26 || !(letters >> c0 & 1)
             ? NULL
             : bsearch(e->domain, providers, sizeof providers / sizeof providers[0],
                       sizeof providers[0], cmp_provider);
}

int uc_email_sub_addressing(const struct uc_email *e) {
  return provider_of(e) != NULL;
}

size_t uc_email_normalize(const struct uc_email *e, char *out) {
  const struct provider *p = provider_of(e);
  size_t n = 0;
  if (!p) {
    memcpy(out, e->local, e->local_len);
    n = e->local_len;
  } else {
    for (size_t i = 0; i < e->local_len; i++) {
      char c = e->local[i];
      if ((p->rules & R_PLUS) && c == '+')
        break;
      if ((p->rules & R_HYPHEN) && c == '-' && i > 0)
        break;
      if ((p->rules & R_DOTS) && c == '.')
        continue;
      out[n++] = lower(c);
    }
  }
  out[n++] = '@';
  const char *d = p && p->canonical ? p->canonical : e->display;
  size_t dlen = strlen(d);
  memcpy(out + n, d, dlen);
  n += dlen;
  out[n] = 0;
  return n;
}
