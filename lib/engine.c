/* uc_check: the matching order of SPEC §3 over the snapshot and the account policy. */
#include "uc/engine.h"
#include "domset_int.h"
#include "spoof.h"
#include "uc/error.h"

#include <idn2.h>
#include <string.h>
#include <strings.h>

static const char *const category_names[] = {"white", "grey", "black"};
static const char *const type_names[UC_TYPE_COUNT] = {"white",
                                                      "grey",
                                                      "black",
                                                      "disposable",
                                                      "masked legitimate",
                                                      "no website",
                                                      "multi-alias services",
                                                      "suspicious signs",
                                                      "young domain",
                                                      "legitimate",
                                                      "invalid",
                                                      "unknown"};
static const char *const signal_names[UC_SIGNAL_COUNT] = {
    "disposable",  "multi_alias", "suspicious",     "free_provider", "role_account", "no_website",
    "custom_list", "premium",     "major_provider", "typo",          "smtputf8",     "idn",
    "masked",      "alias_chain", "young_domain",   "confusable"};

const char *uc_category_name(uc_category c) {
  return (unsigned)c < 3 ? category_names[c] : "white";
}
const char *uc_type_name(uc_type t) {
  return (unsigned)t < UC_TYPE_COUNT ? type_names[t] : "unknown";
}
const char *uc_signal_name(unsigned i) {
  return i < UC_SIGNAL_COUNT ? signal_names[i] : NULL;
}

int uc_category_parse(const char *s, uc_category *out) {
  for (int i = 0; i < 3; i++)
    if (strcmp(s, category_names[i]) == 0)
      return *out = (uc_category)i, UC_OK;
  return UC_EINVAL;
}

int uc_type_parse(const char *s, uc_type *out) {
  for (int i = 0; i < UC_TYPE_COUNT; i++)
    if (strcmp(s, type_names[i]) == 0)
      return *out = (uc_type)i, UC_OK;
  return UC_EINVAL;
}

/* Bit c set: colour c allowed for the type (SPEC §3 "configurable to"). */
static const unsigned allowed_colors[UC_TYPE_COUNT] = {
    [UC_T_WHITE_LIST] = 1u << UC_WHITE,
    [UC_T_GREY_LIST] = 1u << UC_GREY,
    [UC_T_BLACK_LIST] = 1u << UC_BLACK,
    [UC_T_DISPOSABLE] = 1u << UC_BLACK,
    [UC_T_MASKED] = 1u << UC_BLACK | 1u << UC_GREY,
    [UC_T_NO_WEBSITE] = 1u << UC_BLACK | 1u << UC_GREY,
    [UC_T_MULTI_ALIAS] = 7,
    [UC_T_SUSPICIOUS] = 7,
    [UC_T_YOUNG] = 7,
    [UC_T_LEGITIMATE] = 1u << UC_WHITE,
    [UC_T_INVALID] = 1u << UC_BLACK,
    [UC_T_UNKNOWN] = 1u << UC_WHITE};

int uc_policy_color_allowed(uc_type t, uc_category c) {
  return (unsigned)t < UC_TYPE_COUNT && (unsigned)c < 3 && (allowed_colors[t] >> c & 1);
}

void uc_policy_init(struct uc_policy *p) {
  static const uc_category defaults[UC_TYPE_COUNT] = {
      [UC_T_WHITE_LIST] = UC_WHITE, [UC_T_GREY_LIST] = UC_GREY,  [UC_T_BLACK_LIST] = UC_BLACK,
      [UC_T_DISPOSABLE] = UC_BLACK, [UC_T_MASKED] = UC_BLACK,    [UC_T_NO_WEBSITE] = UC_BLACK,
      [UC_T_MULTI_ALIAS] = UC_GREY, [UC_T_SUSPICIOUS] = UC_GREY, [UC_T_YOUNG] = UC_WHITE,
      [UC_T_LEGITIMATE] = UC_WHITE, [UC_T_INVALID] = UC_BLACK,   [UC_T_UNKNOWN] = UC_WHITE};
  memcpy(p->color, defaults, sizeof defaults);
  p->list[0] = p->list[1] = p->list[2] = NULL;
  p->parse_opts = 0;
  p->young_days = UC_YOUNG_DAYS_DEFAULT;
}

int uc_policy_set_color(struct uc_policy *p, uc_type t, uc_category c) {
  if (!uc_policy_color_allowed(t, c))
    return UC_EINVAL;
  p->color[t] = c;
  return UC_OK;
}

unsigned uc_edit_distance(const char *a, size_t an, const char *b, size_t bn, unsigned max) {
  /* Optimal string alignment over three rolling rows, restricted to the band
   * |i - j| <= max (cells outside it cannot lead to a distance <= max). */
  enum { INF = 0xFFFF };
  unsigned rows[3][UC_DOMAIN_MAX + 2], *pp = rows[0], *prev = rows[1], *cur = rows[2];
  if (an > UC_DOMAIN_MAX || bn > UC_DOMAIN_MAX || (an > bn ? an - bn : bn - an) > max)
    return max + 1;
  for (size_t j = 0; j <= bn; j++)
    pp[j] = cur[j] = INF, prev[j] = j <= max ? (unsigned)j : INF;
  for (size_t i = 1; i <= an; i++) {
    size_t lo = i > max ? i - max : 1, hi = i + max < bn ? i + max : bn;
    cur[lo - 1] = lo == 1 && i <= max ? (unsigned)i : INF;
    unsigned best = cur[lo - 1];
    for (size_t j = lo; j <= hi; j++) {
      unsigned v = prev[j - 1] + (a[i - 1] != b[j - 1]);
      if (prev[j] + 1 < v)
        v = prev[j] + 1;
      if (cur[j - 1] + 1 < v)
        v = cur[j - 1] + 1;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && pp[j - 2] + 1 < v)
        v = pp[j - 2] + 1;
      cur[j] = v;
      best = v < best ? v : best;
    }
    if (hi < bn)
      cur[hi + 1] = INF;
    if (best > max)
      return max + 1;
    unsigned *t = pp;
    pp = prev, prev = cur, cur = t;
  }
  return prev[bn] > max ? max + 1 : prev[bn];
}

/* A popular domain d is probably a typo of, or NULL. Long targets tolerate two edits. */
static const char *suggest(const uc_lists *l, const char *d, size_t n) {
  const struct uc_typo_target *t;
  size_t count = uc_lists_typo_targets(l, &t);
  const char *best = NULL;
  unsigned best_dist = 3;
  uint64_t dm = uc_char_classes(d, n);
  for (size_t i = 0; i < count; i++) {
    unsigned max = t[i].len >= 10 ? 2 : 1;
    if ((t[i].len > n ? t[i].len - n : n - t[i].len) > max ||
        (unsigned)__builtin_popcountll(dm ^ t[i].classes) > 2 * max)
      continue;
    unsigned dist = uc_edit_distance(d, n, t[i].name, t[i].len, max);
    if (dist > 0 && dist <= max && dist < best_dist)
      best = t[i].name, best_dist = dist;
  }
  return best;
}

struct walk {
  struct uc_list_hit exact, disposable, relay;
  int found_exact, found_disposable, found_relay, guard;
};

/* Looks up the domain and each parent above its top-level label. Public
 * suffixes never carry the disposable flag (dropped when the snapshot is built). */
static void walk_domain(const uc_lists *l, const char *d, size_t n, struct walk *w) {
  memset(w, 0, sizeof *w);
  struct uc_list_hit hit;
  for (int depth = 0;; depth++) {
    const char *dot = memchr(d, '.', n);
    if (!dot)
      break;
    if (uc_lists_find_domain(l, d, n, &hit)) {
      if (depth == 0)
        w->exact = hit, w->found_exact = 1;
      if ((hit.flags & UC_LF_DISPOSABLE) && !w->found_disposable)
        w->disposable = hit, w->found_disposable = 1;
      if ((hit.flags & UC_LF_RELAY) && !w->found_relay)
        w->relay = hit, w->found_relay = 1;
      w->guard |= (hit.flags & UC_LF_GUARD) != 0;
    }
    n -= (size_t)(dot + 1 - d);
    d = dot + 1;
  }
}

/* A real mail domain never gets a typo suggestion; a listed disposable one can
 * (typo-squatting domains such as gmial.com are on the disposable lists). */
static int known_mail_domain(const struct walk *w) {
  unsigned f = w->found_exact ? w->exact.flags : 0;
  if (w->guard || w->found_relay || (f & (UC_LF_PREMIUM | UC_LF_TYPO_TARGET)))
    return 1;
  return (f & UC_LF_FREE) && !(f & UC_LF_DISPOSABLE);
}

static const char *source_name(const uc_lists *l, unsigned sources) {
  struct uc_list_source src;
  for (size_t i = 0; i < uc_lists_source_count(l); i++)
    if (sources >> i & 1) {
      uc_lists_source(l, i, &src);
      return src.name;
    }
  return NULL;
}

static struct uc_match match_of(const uc_lists *l, const struct uc_list_hit *h) {
  return (struct uc_match){h->entry, source_name(l, h->sources), h->sources, h->date, NULL};
}

static void match_account_lists(struct uc_result *r, const struct uc_policy *p) {
  static const char *const names[3] = {"account:white", "account:grey", "account:black"};
  for (int c = 0; c < 3; c++) {
    const char *m = uc__domset_match(p->list[c], r->email.domain, r->email.domain_len);
    if (m) {
      r->signals |= UC_SIG_CUSTOM_LIST;
      r->account_list = c;
      r->account = (struct uc_match){m, names[c], 0, 0, NULL};
      return;
    }
  }
}

static void collect_signals(struct uc_result *r, const uc_lists *l, const struct walk *w,
                            const struct uc_local_info *li) {
  struct uc_list_hit hit;
  if (r->email.flags & UC_EMAIL_UTF8_LOCAL)
    r->signals |= UC_SIG_SMTPUTF8;
  if (r->email.flags & UC_EMAIL_IDN)
    r->signals |= UC_SIG_IDN;
  if (w->found_disposable && !w->found_relay && !w->guard) {
    r->signals |= UC_SIG_DISPOSABLE;
    r->disposable = match_of(l, &w->disposable);
  }
  if (w->found_relay) {
    r->signals |= UC_SIG_MULTI_ALIAS;
    r->relay = match_of(l, &w->relay);
  }
  if (w->guard)
    r->signals |= UC_SIG_MAJOR_PROVIDER;
  if (w->found_exact && (w->exact.flags & UC_LF_FREE))
    r->signals |= UC_SIG_FREE_PROVIDER;
  if (w->found_exact && (w->exact.flags & UC_LF_PREMIUM))
    r->signals |= UC_SIG_PREMIUM;
  if (li->plus_tag || li->dots > 3) {
    r->signals |= UC_SIG_SUSPICIOUS;
    r->rule = (struct uc_match){li->plus_tag ? "plus_tag" : "many_dots", "rule", 0, 0, NULL};
  }
  char base[UC_LOCAL_MAX];
  for (size_t i = 0; i < li->base_len; i++) {
    char c = r->email.local[i];
    base[i] = (char)((c >= 'A' && c <= 'Z') ? c | 0x20 : c);
  }
  if (li->base_len && uc_lists_find_local(l, base, li->base_len, &hit) && (hit.flags & UC_LF_ROLE))
    r->signals |= UC_SIG_ROLE_ACCOUNT;
  if (r->signals & UC_SIG_PREMIUM)
    r->premium = 1;
  else if (r->signals & (UC_SIG_FREE_PROVIDER | UC_SIG_DISPOSABLE | UC_SIG_MULTI_ALIAS))
    r->premium = 0;
}

/* An internationalised domain that mixes scripts in a label, or looks like a
 * popular mail domain it is not (UTS #39, lib/confusable.c). */
static void check_confusable(struct uc_result *r, const uc_lists *l) {
  const struct uc_typo_target *t;
  const char *like = NULL;
  char *uni = NULL;
  if (!(r->email.flags & UC_EMAIL_IDN))
    return; /* ASCII: a look-alike there is a typo (did_you_mean) */
  const char *text = r->email.display;
  size_t n = r->email.display_len;
  if (n == r->email.domain_len && memcmp(text, r->email.domain, n) == 0) {
    /* given as A-labels (xn--...): what a mail client shows is the Unicode form */
    if (idn2_to_unicode_8z8z(r->email.domain, &uni, 0) != IDN2_OK)
      return;
    text = uni, n = strlen(uni);
  }
  size_t count = uc_lists_typo_targets(l, &t);
  int kind = uc__confusable(text, n, t, uc__lists_typo_skeletons(l), count, &like);
  idn2_free(uni);
  if (!kind)
    return;
  r->signals |= UC_SIG_CONFUSABLE;
  r->confusable = kind == UC_CONFUSABLE_SKELETON
                      ? (struct uc_match){like, "rule", 0, 0,
                                          "looks like this domain (Unicode confusables, UTS #39)"}
                      : (struct uc_match){"mixed_scripts", "rule", 0, 0,
                                          "a label mixes scripts (UTS #39 restriction levels)"};
}

void uc_check_lists(const uc_lists *l, const struct uc_policy *p, const char *addr, size_t len,
                    struct uc_result *r) {
  static const struct uc_match none = {0};
  struct walk w;
  struct uc_local_info li;
  r->signals = 0;
  r->matched = r->matched_list = r->did_you_mean = r->matched_evidence = NULL;
  r->matched_sources = 0;
  r->date_added = 0;
  r->premium = -1;
  r->normalized[0] = 0;
  r->account_list = -1;
  r->alias_spellings = 0;
  r->age_known = 0, r->domain_age = r->domain_created = 0;
  r->account = r->disposable = r->relay = r->rule = r->confusable = none;
  r->valid =
      uc_email_parse(addr, len, p->parse_opts, &r->email, r->reason, sizeof r->reason) == UC_OK;
  if (!r->valid)
    return;
  r->reason[0] = 0;
  uc_email_normalize(&r->email, r->normalized);
  uc_email_local_info(&r->email, &li);
  walk_domain(l, r->email.domain, r->email.domain_len, &w);
  collect_signals(r, l, &w, &li);
  if (!known_mail_domain(&w)) {
    r->did_you_mean = suggest(l, r->email.domain, r->email.domain_len);
    if (r->did_you_mean)
      r->signals |= UC_SIG_TYPO;
  }
  check_confusable(r, l);
  match_account_lists(r, p);
}

int uc_check_is_typo(const struct uc_result *r) {
  return r->valid && r->did_you_mean &&
         uc_edit_distance(r->email.domain, r->email.domain_len, r->did_you_mean,
                          strlen(r->did_you_mean), 1) == 1;
}

int uc_check_wants_facts(const struct uc_result *r) {
  /* A listed domain is decided by its listing: disposable, a relay, a major or
   * free provider, a paid mail service. DNS cannot change those. */
  const uint32_t listed = UC_SIG_DISPOSABLE | UC_SIG_MULTI_ALIAS | UC_SIG_MAJOR_PROVIDER |
                          UC_SIG_FREE_PROVIDER | UC_SIG_PREMIUM;
  return r->valid && r->account_list < 0 && !(r->signals & listed);
}

static void decide(struct uc_result *r, const struct uc_policy *p, uc_type t,
                   const struct uc_match *m) {
  r->type = t;
  r->category = p->color[t];
  if (m) {
    r->matched = m->entry, r->matched_list = m->list, r->matched_evidence = m->evidence;
    r->matched_sources = m->sources, r->date_added = m->date;
  }
}

void uc_check_decide(const struct uc_policy *p, const struct uc_facts *f, struct uc_result *r) {
  static const uc_type account_types[3] = {UC_T_WHITE_LIST, UC_T_GREY_LIST, UC_T_BLACK_LIST};
  static const struct uc_facts nothing = {0};
  static const struct uc_match chain = {"alias_chain", "rule", 0, 0, NULL};
  static const struct uc_match young = {"young_domain", "rule", 0, 0, NULL};
  if (!f)
    f = &nothing;
  r->alias_spellings = f->alias_spellings;
  if (f->alias_spellings >= 2)
    r->signals |= UC_SIG_ALIAS_CHAIN;
  r->age_known = r->valid && f->age_known;
  r->domain_age = r->age_known ? f->domain_age : 0;
  r->domain_created = r->age_known ? f->domain_created : 0;
  if (r->age_known && f->domain_age < p->young_days)
    r->signals |= UC_SIG_YOUNG_DOMAIN;
  if (!r->valid)
    decide(r, p, UC_T_INVALID, NULL);
  else if (r->account_list >= 0)
    decide(r, p, account_types[r->account_list], &r->account);
  else if (r->signals & UC_SIG_DISPOSABLE)
    decide(r, p, UC_T_DISPOSABLE, &r->disposable);
  else if (f->known && f->masked.entry && !f->relay.entry && !(r->signals & UC_SIG_MULTI_ALIAS))
    r->signals |= UC_SIG_MASKED, decide(r, p, UC_T_MASKED, &f->masked);
  else if (f->known && f->no_website && !(r->signals & UC_SIG_MULTI_ALIAS))
    r->signals |= UC_SIG_NO_WEBSITE, decide(r, p, UC_T_NO_WEBSITE, NULL);
  else if (r->signals & UC_SIG_MULTI_ALIAS)
    decide(r, p, UC_T_MULTI_ALIAS, &r->relay);
  else if (f->known && f->relay.entry)
    r->signals |= UC_SIG_MULTI_ALIAS, decide(r, p, UC_T_MULTI_ALIAS, &f->relay);
  else if (r->signals & UC_SIG_CONFUSABLE) /* before the other signs: the stronger evidence */
    r->signals |= UC_SIG_SUSPICIOUS, decide(r, p, UC_T_SUSPICIOUS, &r->confusable);
  else if (r->signals & UC_SIG_SUSPICIOUS)
    decide(r, p, UC_T_SUSPICIOUS, &r->rule);
  else if (r->signals & UC_SIG_ALIAS_CHAIN) /* a new spelling of a mailbox seen lately */
    r->signals |= UC_SIG_SUSPICIOUS, decide(r, p, UC_T_SUSPICIOUS, &chain);
  else if ((r->signals & UC_SIG_YOUNG_DOMAIN) && p->color[UC_T_YOUNG] != UC_WHITE)
    decide(r, p, UC_T_YOUNG, &young); /* a signal, not a verdict, until the account opts in */
  else
    decide(r, p, UC_T_LEGITIMATE, NULL);
}

void uc_check(const uc_lists *l, const struct uc_policy *p, const char *addr, size_t len,
              struct uc_result *r) {
  uc_check_lists(l, p, addr, len, r);
  uc_check_decide(p, NULL, r);
}

/* Sandbox keys: three test addresses classify, everything else is unknown. */
void uc_check_sandbox(const char *email, size_t n, struct uc_result *res) {
  static const struct {
    const char *addr;
    uc_type type;
    uc_category cat;
    uint32_t signal;
  } tests[] = {{"test@disposable.com", UC_T_DISPOSABLE, UC_BLACK, UC_SIG_DISPOSABLE},
               {"test@multi-alias.com", UC_T_MULTI_ALIAS, UC_GREY, UC_SIG_MULTI_ALIAS},
               {"test@gmail.com", UC_T_LEGITIMATE, UC_WHITE, 0}};
  res->type = UC_T_UNKNOWN, res->category = UC_WHITE;
  res->signals = 0, res->matched = res->matched_list = res->did_you_mean = NULL;
  res->matched_evidence = NULL;
  res->matched_sources = 0, res->date_added = 0;
  while (n && (*email == ' ' || *email == '\t'))
    email++, n--;
  while (n && (email[n - 1] == ' ' || email[n - 1] == '\t'))
    n--;
  for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
    if (strlen(tests[i].addr) == n && strncasecmp(tests[i].addr, email, n) == 0) {
      res->type = tests[i].type, res->category = tests[i].cat, res->signals = tests[i].signal;
      res->matched = tests[i].signal ? tests[i].addr : NULL;
      res->matched_list = tests[i].signal ? "sandbox" : NULL;
    }
}
