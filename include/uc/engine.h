/* Classification: an address + the lists + an account's policy -> category,
 * type, signals and the evidence. */
#ifndef UC_ENGINE_H
#define UC_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "uc/email.h"
#include "uc/lists.h"

typedef enum uc_category { UC_WHITE = 0, UC_GREY = 1, UC_BLACK = 2 } uc_category;

/* In precedence order (SPEC §3): the first that applies wins. */
typedef enum uc_type {
  UC_T_WHITE_LIST,  /* "white": the account's white list */
  UC_T_GREY_LIST,   /* "grey" */
  UC_T_BLACK_LIST,  /* "black" */
  UC_T_DISPOSABLE,  /* "disposable" */
  UC_T_MASKED,      /* "masked legitimate" */
  UC_T_NO_WEBSITE,  /* "no website" */
  UC_T_MULTI_ALIAS, /* "multi-alias services" */
  UC_T_SUSPICIOUS,  /* "suspicious signs" */
  UC_T_YOUNG,       /* "young domain": only when the account's colour for it is not white */
  UC_T_LEGITIMATE,  /* "legitimate" */
  UC_T_INVALID,     /* "invalid" (batch/CLI) */
  UC_T_UNKNOWN,     /* "unknown" (sandbox keys) */
  UC_TYPE_COUNT
} uc_type;

const char *uc_category_name(uc_category c);
const char *uc_type_name(uc_type t);
/* Parse the API spellings above; UC_OK or UC_EINVAL. */
int uc_category_parse(const char *s, uc_category *out);
int uc_type_parse(const char *s, uc_type *out);

/* Signals: independent facts, reported whatever the type. */
enum uc_signal {
  UC_SIG_DISPOSABLE = 1u << 0,
  UC_SIG_MULTI_ALIAS = 1u << 1,
  UC_SIG_SUSPICIOUS = 1u << 2,
  UC_SIG_FREE_PROVIDER = 1u << 3,
  UC_SIG_ROLE_ACCOUNT = 1u << 4,
  UC_SIG_NO_WEBSITE = 1u << 5,
  UC_SIG_CUSTOM_LIST = 1u << 6,
  UC_SIG_PREMIUM = 1u << 7,
  UC_SIG_MAJOR_PROVIDER = 1u << 8,
  UC_SIG_TYPO = 1u << 9,
  UC_SIG_SMTPUTF8 = 1u << 10,
  UC_SIG_IDN = 1u << 11,
  UC_SIG_MASKED = 1u << 12,
  UC_SIG_ALIAS_CHAIN = 1u << 13,
  UC_SIG_YOUNG_DOMAIN = 1u << 14, /* registered fewer than policy young_days days ago (RDAP) */
  UC_SIG_CONFUSABLE = 1u << 15,   /* an IDN domain that mixes scripts or looks like a popular one */
};
#define UC_SIGNAL_COUNT 16
/* JSON name of signal bit i (0 <= i < UC_SIGNAL_COUNT). */
const char *uc_signal_name(unsigned i);

/* An account's own domain list: a set of domains matched with their subdomains. */
typedef struct uc_domset uc_domset;
uc_domset *uc_domset_new(void);
void uc_domset_free(uc_domset *s);
/* Adds a lower-case A-label domain; UC_OK, UC_ENOMEM or UC_EINVAL. */
int uc_domset_add(uc_domset *s, const char *domain, size_t n);
size_t uc_domset_count(const uc_domset *s);

/* An account's policy for one call. Caller-owned; read-only during uc_check. */
struct uc_policy {
  uc_category color[UC_TYPE_COUNT]; /* the colour each type yields */
  const uc_domset *list[3];         /* indexed by uc_category; NULL: empty */
  unsigned parse_opts;              /* enum uc_parse_opt */
  unsigned young_days;              /* a domain registered fewer days ago is young (30) */
};

#define UC_YOUNG_DAYS_DEFAULT 30
#define UC_YOUNG_DAYS_MAX 3650

/* Defaults of SPEC §3 and no account lists. */
void uc_policy_init(struct uc_policy *p);
/* Sets the colour of a configurable type; UC_EINVAL when the SPEC forbids that
 * colour for that type (e.g. disposable is always black). */
int uc_policy_set_color(struct uc_policy *p, uc_type t, uc_category c);
/* Whether colour c is allowed for type t. */
int uc_policy_color_allowed(uc_type t, uc_category c);

/* An entry or rule that can decide a type, and where it comes from. */
struct uc_match {
  const char *entry;    /* NULL: none */
  const char *list;     /* a source name, "account:black", "rule", ... */
  unsigned sources;     /* all sources listing the entry (bits) */
  unsigned date;        /* days since 1970-01-01 it entered our lists; 0: none */
  const char *evidence; /* for people, when the entry alone does not say why (NULL) */
};

/* What was learnt about the domain outside the lists (DNS), for the
 * decision. Zero-initialised: nothing known (DNS off, not asked, or timed
 * out), and the decision is made from the lists alone. */
struct uc_facts {
  int known;                /* the facts below were looked up */
  int no_website;           /* NXDOMAIN, neither MX nor A/AAAA, or a null MX */
  struct uc_match masked;   /* an MX host/address fingerprint of disposable mail */
  struct uc_match relay;    /* an MX of a relay (alias) service */
  unsigned alias_spellings; /* distinct spellings of this mailbox lately (2+: a chain) */
  /* The registration of the domain (RDAP), known or not, apart from the DNS facts. */
  int age_known;
  unsigned domain_age;     /* whole days since the registration */
  unsigned domain_created; /* days since 1970-01-01 of the registration */
};

/* The result of one check. Caller-owned, no heap. Pointers into the lists
 * (matched, matched_list, did_you_mean) are valid while those lists are held. */
struct uc_result {
  uc_category category;
  uc_type type;
  uint32_t signals; /* enum uc_signal */
  int valid;        /* syntax passed; when 0, reason says why */
  char reason[UC_REASON_MAX];
  struct uc_email email;
  char normalized[UC_NORMALIZED_MAX + 1];
  const char *matched;          /* the entry or rule that decided the type; NULL */
  const char *matched_list;     /* where it comes from: a source name or "account:black"... */
  const char *matched_evidence; /* why the entry counts, when it is a fingerprint; NULL */
  unsigned matched_sources;     /* all sources listing the matched entry (bits) */
  const char *did_you_mean;     /* a suggested domain or NULL */
  unsigned date_added;          /* days since 1970-01-01; 0: not added */
  int premium;                  /* 1, 0, or -1 unknown */
  /* What the list phase found, for the decision (uc_check_decide). */
  int account_list;         /* the uc_category of the account list that matched, or -1 */
  unsigned alias_spellings; /* from the facts: 0 not tracked, 1 first, 2+ a chain */
  int age_known;            /* from the facts: domain_age and domain_created are set */
  unsigned domain_age, domain_created;
  struct uc_match account, disposable, relay, rule, confusable;
};

/* A check is two steps: the list phase (syntax, normalisation, every list
 * and the account's own lists) and the decision (the type table of SPEC §3,
 * in one place) from what the list phase found and the facts learnt since.
 * A caller with no facts (or no wish to wait for them) decides at once;
 * the server can suspend a request between the two while DNS answers.
 * Never fails: invalid syntax yields type invalid. Thread-safe, no allocation
 * except libidn2 for internationalised domains. */
void uc_check_lists(const uc_lists *lists, const struct uc_policy *policy, const char *addr,
                    size_t len, struct uc_result *r);
/* Whether facts could change the decision of r: the address is valid and
 * neither an account list nor a listing (disposable, relay, major or free
 * provider, paid service) has decided it already. */
int uc_check_wants_facts(const struct uc_result *r);
/* Sets type, category and the matched evidence of r. facts may be NULL. */
void uc_check_decide(const struct uc_policy *policy, const struct uc_facts *facts,
                     struct uc_result *r);
/* Both steps with no facts. */
void uc_check(const uc_lists *lists, const struct uc_policy *policy, const char *addr, size_t len,
              struct uc_result *r);

/* What a sandbox key answers (SPEC §2): test@disposable.com, test@multi-alias.com
 * and test@gmail.com classify; every other address is white / unknown. Sets
 * type, category, signals and matched of r (after uc_check_lists). */
void uc_check_sandbox(const char *addr, size_t n, struct uc_result *r);

/* Whether r looks like a person's slip on a popular domain: a did_you_mean
 * one edit away (gmial.com for gmail.com). A black answer that is one costs
 * the IP no attempt unless the account counts typos (SPEC §4). A suggestion
 * two edits away (yopmail.com: hotmail.com?) is still shown, but a known
 * disposable service that merely resembles a popular domain is no slip. */
int uc_check_is_typo(const struct uc_result *r);

/* Damerau (optimal string alignment) distance of a and b, capped at max + 1. */
unsigned uc_edit_distance(const char *a, size_t an, const char *b, size_t bn, unsigned max);

#endif
