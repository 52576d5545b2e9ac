"""Detection hardening (issue 15): invisible and bidirectional characters are
invalid syntax with a reason; a confusable or mixed-script domain is
`suspicious signs` with the signal `confusable`."""
QUERY = "/v1/external-api-requests/check-email"


def test_invisible_and_bidi_characters_are_invalid(server):
    cases = {"us\u202eer@gmail.com": "direction-changing character before the @-sign",
             "user@g\u200bmail.com": "U+200B ZERO WIDTH SPACE",
             "user\u2066@gmail.com": "bidirectional isolate",
             "user@gmail.com\ufeff": "U+FEFF"}
    for email, words in cases.items():
        for r in (server.check(email), server.post(QUERY, server.key, params={"email": email})):
            assert r.status_code == 422, email
            d = r.json()["detail"][0]
            assert d["type"] == "value_error" and words in d["ctx"]["reason"], (email, d)


def test_confusable_domains_are_suspicious(server):
    for email, entry in (("user@gm\u0430il.com", "gmail.com"), ("user@xn--gmil-63d.com", "gmail.com"),
                         ("user@\u0261mail.com", "gmail.com"),
                         ("user@p\u0430ypal-mail.com", "mixed_scripts")):
        b = server.check(email).json()
        assert (b["category"], b["type"]) == ("grey", "suspicious signs"), email
        assert b["details"]["signals"]["confusable"] is True
        assert b["details"]["matched"]["entry"] == entry and b["details"]["matched"]["list"] == "rule"
    for email in ("a@почта.рф", "jörg@bücher.de", "a@gmail.com"):
        b = server.check(email).json()
        assert b["details"]["signals"]["confusable"] is False and b["category"] == "white", email
