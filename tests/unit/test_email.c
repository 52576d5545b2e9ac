/* Address syntax and normalisation (lib/email.c, lib/normalize.c). */
#include "unit.h"

struct syntax_case {
  const char *in;
  unsigned opts;
  const char *reason; /* NULL: valid; else a substring of the reason */
  const char *domain; /* expected lookup domain when valid */
  const char *display;
};

static const struct syntax_case cases[] = {
    {"john@example.com", 0, NULL, "example.com", "example.com"},
    {"  John.Doe@Example.COM \r\n", 0, NULL, "example.com", "example.com"},
    {"a!#$%&'*+-/=?^_`{|}~b@example.org", 0, NULL, "example.org", "example.org"},
    {"x@sub.domain.co.uk", 0, NULL, "sub.domain.co.uk", "sub.domain.co.uk"},
    {"x@1-2.3com.io", 0, NULL, "1-2.3com.io", "1-2.3com.io"},
    /* UTF-8 local parts (SMTPUTF8) and IDN domains (UTS#46 maps case and width) */
    {"用户@例子.广告", 0, NULL, "xn--fsqu00a.xn--4rr70v", "例子.广告"},
    {"jörg@Bücher.DE", 0, NULL, "xn--bcher-kva.de", "bücher.de"},
    {"x@xn--bcher-kva.de", 0, NULL, "xn--bcher-kva.de", "xn--bcher-kva.de"},
    {"ñoño@correo.es", 0, NULL, "correo.es", "correo.es"},
    {"x@faß.de", 0, NULL, "xn--fa-hia.de", "faß.de"},
    /* limits: 64 octets local part, 63 per label, 254 in all */
    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@x.com", 0, NULL, "x.com",
     "x.com"},
    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@x.com", 0,
     "too long before the @-sign (1 character too many)", NULL, NULL},
    {"x@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com", 0, NULL, NULL, NULL},
    {"x@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com", 0, "longer than 63",
     NULL, NULL},
    /* quoted local parts only when configured */
    {"\"john doe\"@example.com", 0, "Quoted text", NULL, NULL},
    {"\"john doe\"@example.com", UC_PARSE_QUOTED, NULL, "example.com", "example.com"},
    {"\"john\\\"doe\"@example.com", UC_PARSE_QUOTED, NULL, "example.com", "example.com"},
    {"\"bad\"quote\"@example.com", UC_PARSE_QUOTED, "invalid characters", NULL, NULL},
    /* rejections, each with its own reason */
    {"", 0, "empty", NULL, NULL},
    {"   ", 0, "empty", NULL, NULL},
    {"john.example.com", 0, "must have an @-sign", NULL, NULL},
    {"@example.com", 0, "something before the @-sign", NULL, NULL},
    {"john@", 0, "something after the @-sign", NULL, NULL},
    /* IDNA maps a lone soft hyphen to nothing (found by fuzz/fuzz_list_body.c) */
    {"john@\xc2\xad", 0, "SOFT HYPHEN", NULL, NULL}, /* refused before IDNA maps it to nothing */
    {".john@example.com", 0, "cannot start with a period", NULL, NULL},
    {"john.@example.com", 0, "period immediately before the @-sign", NULL, NULL},
    {"jo..hn@example.com", 0, "two periods in a row", NULL, NULL},
    {"jo hn@example.com", 0, "invalid characters before the @-sign: SPACE", NULL, NULL},
    {"jo(h)n@example.com", 0, "invalid characters before the @-sign: '(', ')'", NULL, NULL},
    {"a@b@example.com", 0, "invalid characters before the @-sign: '@'", NULL, NULL},
    {"john@localhost", 0, "should have a period", NULL, NULL},
    {"john@example", 0, "should have a period", NULL, NULL},
    {"john@.example.com", 0, "period immediately after the @-sign", NULL, NULL},
    {"john@example.com.", 0, "cannot end with a period", NULL, NULL},
    {"john@exa..mple.com", 0, "two periods in a row", NULL, NULL},
    {"john@-example.com", 0, "start or end with a hyphen", NULL, NULL},
    {"john@example-.com", 0, "start or end with a hyphen", NULL, NULL},
    {"john@exa_mple.com", 0, "invalid characters: '_'", NULL, NULL},
    {"john@[192.0.2.1]", 0, "bracketed IP address", NULL, NULL},
    {"john@192.0.2.1", 0, "not within a valid top-level domain", NULL, NULL},
    {"john@printer.local", 0, "special-use or reserved", NULL, NULL},
    {"john@site.test", 0, "special-use or reserved", NULL, NULL},
    {"jo\xffhn@example.com", 0, "not valid UTF-8 before", NULL, NULL},
    {"jo\xc0\xafhn@example.com", 0, "not valid UTF-8 before", NULL, NULL},   /* overlong '/' */
    {"jo\xed\xa0\x80@example.com", 0, "not valid UTF-8 before", NULL, NULL}, /* surrogate */
    {"john@ex\xffmple.com", 0, "not valid UTF-8", NULL, NULL},
    {"john@xn--zz.com", 0, "internationalized domain name", NULL, NULL},
    {"john@☃.com\xe2\x80\x8b", 0, "invisible or direction-changing character after", NULL,
     NULL}, /* ZWSP */
    /* invisible and bidirectional characters: what a person reads is not the address */
    {"us\u202Eer@gmail.com", 0, "direction-changing character before the @-sign: a bidirectional",
     NULL, NULL},
    {"user@g\u200Bmail.com", 0, "after the @-sign: U+200B ZERO WIDTH SPACE", NULL, NULL},
    {"user@gmail.com\u2066", 0, "bidirectional isolate", NULL, NULL},
    {"\uFEFFuser@gmail.com", 0, "U+FEFF", NULL, NULL},
    {"us\u200Der@gmail.com", 0, "zero-width joiner", NULL, NULL},
    {"us\u00ADer@gmail.com", 0, "SOFT HYPHEN", NULL, NULL},
    {"user@gma\u00ADil.com", 0, "SOFT HYPHEN", NULL, NULL}, /* UTS #46 would map it away */
    {"user@exa\u034Fmple.com", 0, "GRAPHEME JOINER", NULL, NULL},
    {"a\U000E0041@gmail.com", 0, "tag character", NULL, NULL},
    {"\"a\u202Eb\"@example.com", UC_PARSE_QUOTED, "direction-changing", NULL, NULL},
    /* a ZWNJ where Persian needs it is IDNA's to allow (CONTEXTJ): not refused as invisible */
    {"x@\u0645\u06CC\u200C\u062E\u0648\u0627\u0647\u0645.ir", 0, NULL, NULL, NULL},
};

static void test_syntax_table(void **state) {
  (void)state;
  for (size_t i = 0; i < COUNT(cases); i++) {
    const struct syntax_case *c = &cases[i];
    struct uc_email e;
    char reason[UC_REASON_MAX];
    int rc = uc_email_parse(c->in, strlen(c->in), c->opts, &e, reason, sizeof reason);
    if (!c->reason) {
      if (rc != UC_OK)
        fail_msg("case %zu '%s' rejected: %s", i, c->in, reason);
      if (c->domain)
        assert_string_equal(e.domain, c->domain);
      if (c->display)
        assert_string_equal(e.display, c->display);
    } else {
      if (rc != UC_ESYNTAX)
        fail_msg("case %zu '%s' accepted", i, c->in);
      if (!strstr(reason, c->reason))
        fail_msg("case %zu '%s': reason '%s' lacks '%s'", i, c->in, reason, c->reason);
    }
  }
}

static void test_total_length(void **state) {
  (void)state;
  /* 64 + 1 + 189 = 254 fits; one more byte in the domain does not */
  char addr[400], reason[UC_REASON_MAX];
  struct uc_email e;
  memset(addr, 'a', 64);
  addr[64] = '@';
  size_t n = 65;
  for (int label = 0; label < 3; label++) {
    memset(addr + n, 'b', 62);
    n += 62;
    addr[n++] = '.';
  }
  memcpy(addr + n, "com", 3), n += 3; /* domain: 3*63 + 3 = 192 */
  assert_int_equal(n, 64 + 1 + 192);
  assert_int_equal(uc_email_parse(addr, n, 0, &e, reason, sizeof reason), UC_ESYNTAX);
  assert_non_null(strstr(reason, "too long (3 characters too many)"));
  assert_int_equal(uc_email_parse(addr + 3, n - 3, 0, &e, reason, sizeof reason), UC_OK);
  assert_int_equal(e.local_len + 1 + e.domain_len, 254);
  char big[UC_EMAIL_INPUT_MAX + 10];
  memset(big, 'a', sizeof big);
  assert_int_equal(uc_email_parse(big, sizeof big, 0, &e, reason, sizeof reason), UC_ESYNTAX);
  assert_non_null(strstr(reason, "too long"));
}

static void test_flags_and_local_info(void **state) {
  (void)state;
  struct uc_email e;
  struct uc_local_info li;
  assert_int_equal(uc_email_parse("jörg@bücher.de", strlen("jörg@bücher.de"), 0, &e, NULL, 0),
                   UC_OK);
  assert_true(e.flags & UC_EMAIL_UTF8_LOCAL);
  assert_true(e.flags & UC_EMAIL_IDN);
  assert_int_equal(uc_email_parse("a.b.c.d.e+tag@x.com", 19, 0, &e, NULL, 0), UC_OK);
  uc_email_local_info(&e, &li);
  assert_int_equal(li.dots, 4);
  assert_true(li.plus_tag);
  assert_int_equal(li.base_len, 9);
}

static void test_normalize(void **state) {
  (void)state;
  static const char *const pairs[][2] = {
      {"J.o.H.n+news@GMail.com", "john@gmail.com"},
      {"john.smith+x@googlemail.com", "johnsmith@gmail.com"},
      {"John.Smith+tag@outlook.com", "john.smith@outlook.com"},
      {"jane+a+b@hotmail.co.uk", "jane@hotmail.co.uk"},
      {"jane-shopping@yahoo.com", "jane@yahoo.com"},
      {"-jane@yahoo.com", "-jane@yahoo.com"},
      {"bob+x@icloud.com", "bob@icloud.com"},
      {"bob+x@proton.me", "bob@proton.me"},
      {"bob+x@fastmail.com", "bob@fastmail.com"},
      {"bob+x@yandex.ru", "bob@yandex.ru"},
      /* unknown providers: the mailbox is kept as given, the domain lower-cased */
      {"Bob.Smith+x@Example.COM", "Bob.Smith+x@example.com"},
      {"jörg@Bücher.de", "jörg@bücher.de"},
  };
  for (size_t i = 0; i < COUNT(pairs); i++) {
    struct uc_email e;
    char out[UC_NORMALIZED_MAX + 1];
    assert_int_equal(uc_email_parse(pairs[i][0], strlen(pairs[i][0]), 0, &e, NULL, 0), UC_OK);
    size_t n = uc_email_normalize(&e, out);
    assert_string_equal(out, pairs[i][1]);
    assert_int_equal(n, strlen(pairs[i][1]));
  }
}

/* A list entry is a domain on its own: its errors speak of "the domain", never
 * of an @-sign that is not there, and reserved names are refused as such. */
static void test_domain_wording(void **state) {
  static const struct {
    const char *in, *out, *reason; /* reason NULL: valid, out its stored form */
  } domains[] = {
      {"Spam-Domain.COM", "spam-domain.com", NULL},
      {"  mail.spammer.net \n", "mail.spammer.net", NULL},
      {"Bücher.de", "xn--bcher-kva.de", NULL},
      {"spam.example", NULL, "The domain is a special-use or reserved name"},
      {"bad..domain", NULL, "A domain cannot have two periods in a row."},
      {".lead.com", NULL, "A domain cannot start with a period."},
      {"trail.com.", NULL, "A domain cannot end with a period."},
      {"nodot", NULL, "The domain is not valid. It should have a period."},
      {"-x.com", NULL, "A label of the domain cannot start or end with a hyphen."},
      {"sp ace.com", NULL, "The domain contains invalid characters: SPACE."},
      {"x.123", NULL, "not within a valid top-level domain"},
      {"[1.2.3.4]", NULL, "A domain cannot be a bracketed IP address."},
      {"x@y.com", NULL, "Not a domain name"},
      {"", NULL, "The domain is empty."},
      {"co.uk", NULL, "co.uk is a public suffix"},
      {"xn--zz.com", NULL, "The domain is not a valid internationalized domain name"},
  };
  char out[UC_DOMAIN_MAX + 1], reason[UC_REASON_MAX];
  (void)state;
  for (size_t i = 0; i < sizeof domains / sizeof domains[0]; i++) {
    int rc = uc_domain_parse(domains[i].in, strlen(domains[i].in), out, reason, sizeof reason);
    if (!domains[i].reason) {
      assert_int_equal(rc, UC_OK);
      assert_string_equal(out, domains[i].out);
      continue;
    }
    assert_int_equal(rc, UC_ESYNTAX);
    if (!strstr(reason, domains[i].reason))
      fail_msg("%s: '%s' lacks '%s'", domains[i].in, reason, domains[i].reason);
    if (!strchr(domains[i].in, '@') && strstr(reason, "@-sign"))
      fail_msg("%s: '%s' speaks of an @-sign", domains[i].in, reason);
  }
  /* the longest domain is a domain; one more byte is "too long", not "an address too long" */
  char name[UC_DOMAIN_MAX + 1];
  for (size_t n = UC_DOMAIN_MAX; n <= UC_DOMAIN_MAX + 1; n++) {
    memset(name, 'a', n);
    for (size_t i = 63; i < n; i += 64)
      name[i] = '.';
    memcpy(name + n - 4, ".com", 4);
    int rc = uc_domain_parse(name, n, out, reason, sizeof reason);
    assert_int_equal(rc, n == UC_DOMAIN_MAX ? UC_OK : UC_ESYNTAX);
  }
  assert_non_null(strstr(reason, "The domain is too long"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_syntax_table),         cmocka_unit_test(test_total_length),
      cmocka_unit_test(test_flags_and_local_info), cmocka_unit_test(test_normalize),
      cmocka_unit_test(test_domain_wording),
  };
  return cmocka_run_group_tests_name("email", tests, NULL, NULL);
}
