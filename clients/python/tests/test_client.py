"""Client, check_email and get_client_ip against the real server (and against
servers that misbehave: silent, 500s)."""
import http.server
import logging
import socket
import threading

import pytest
import requests
from django.test import RequestFactory

from user_cleaning import (CheckResult, Client, ConfigurationError, InvalidEmail, check_email,
                           decide, get_client_ip, key_problem, normalize_ip)


def test_typed_result(uc):
    r = Client(uc.key, uc.url).check("someone@x.mailinator.com", "203.0.113.1")
    assert isinstance(r, CheckResult)
    assert (r.category, r.type, r.domain) == ("black", "disposable", "x.mailinator.com")
    assert r.remaining_attempts_before_ban == 4 and r.is_black and not r.banned
    assert r.details["matched"]["entry"] == "mailinator.com"
    r = Client(uc.key, uc.url).check("jane@gmial.com")
    assert r.did_you_mean == "gmail.com" and r.remaining_attempts_before_ban is None


def test_banned_outcome(uc):
    c = Client(uc.key, uc.url)
    for _ in range(5):
        c.check("x@mailinator.com", "198.51.100.1")
    r = c.check("jane@gmail.com", "198.51.100.1")
    assert r.banned and r.category == "banned"
    assert r.message.startswith("Your IP address is banned.")
    assert r.as_guide_dict() == {"category": "banned", "message": r.message}


def test_invalid_email_and_bad_key(uc, caplog):
    with pytest.raises(InvalidEmail) as e:
        Client(uc.key, uc.url).check("jo..hn@example.com")
    assert e.value.reason == "An email address cannot have two periods in a row."
    caplog.set_level(logging.ERROR, logger="user_cleaning")
    r = Client("ucl_live_nope", uc.url).check("x@mailinator.com")  # a key the server refuses
    assert r.failed and r.misconfigured and r.category == "white" and not r.banned
    assert "401" in r.message and "MISCONFIGURED" in caplog.text
    with pytest.raises(ConfigurationError, match="not a whole key"):
        Client("ucl_live_nope", uc.url).verify()


def test_only_the_ban_answer_means_banned(uc, caplog):
    """An admin key pasted as USER_CLEANING_API_KEY gets 403 for every check:
    that is our misconfiguration, logged loudly and failed open, never a ban."""
    caplog.set_level(logging.ERROR, logger="user_cleaning")
    r = Client(uc.admin_key, uc.url).check("jane@gmail.com", "203.0.113.1")
    assert not r.banned and r.failed and r.misconfigured and r.category == "white"
    assert "This is an admin key" in r.message and "admin key (ucl_admin_)" in r.message
    assert "MISCONFIGURED" in caplog.text and "fails open" in caplog.text
    r = Client(uc.admin_key, uc.url, fail_mode="closed").check("jane@gmail.com")
    assert r.failed and r.category == "black" and not r.banned
    # a revoked key: 401, the same
    made = requests.post(uc.url + "/v1/admin/keys", json={"name": "gone", "type": "active"},
                         headers={"Authorization": f"Bearer {uc.admin_key}"}, timeout=10).json()
    requests.delete(uc.url + f"/v1/admin/keys/{made['id']}", timeout=10,
                    headers={"Authorization": f"Bearer {uc.admin_key}"})
    r = Client(made["key"], uc.url).check("x@mailinator.com", "203.0.113.1")
    assert r.failed and r.misconfigured and r.category == "white" and "401" in r.message
    assert Client(made["key"], uc.url).problems()[0].id == "refused_key"


def test_a_403_that_is_not_the_ban_answer_is_not_a_ban():
    class H(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = b'{"detail": "Forbidden by the proxy."}'
            self.send_response(403)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        r = Client("hosted-format-key", f"http://127.0.0.1:{srv.server_port}").check("a@b.com")
        assert not r.banned and r.failed and r.misconfigured and r.category == "white"
        assert "Forbidden by the proxy." in r.message
    finally:
        srv.shutdown()


@pytest.mark.parametrize("key,problem", [
    ("", "missing_key"), (None, "missing_key"),
    (" ucl_live_x", "malformed_key"), ("ucl_live_x\n", "malformed_key"),
    ("Bearer ucl_live_x", "malformed_key"), ('"ucl_live_x"', "malformed_key"),
    ("ucl_admin_" + "a" * 38, "admin_key"),
    ("ucl_live_abc", "malformed_key"),            # cut short
    ("ucl_live_" + "a" * 39, "malformed_key"),    # too long
    ("ucl_live_" + "a" * 37 + "-", "malformed_key"),  # not a key's character
    # whole, but its checksum is not the public one: keys are made with a checksum keyed by
    # the installation's secret, which only the service can check (problems() asks it)
    ("ucl_live_" + "a" * 38, None),
    ("sk_hosted_0123456789", None),               # another format: the service decides
])
def test_key_problem(key, problem):
    p = key_problem(key)
    assert (p.id if p else None) == problem
    if p:
        assert p.level == "error" and p.message


def test_problems_asks_the_service_and_counts_nothing(uc):
    assert Client(uc.key, uc.url).problems() == []
    assert [p.id for p in Client(uc.admin_key, uc.url).problems()] == ["admin_key"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = Client(uc.key, f"http://127.0.0.1:{port}", timeout=1).problems()
    assert [(x.id, x.level) for x in p] == [("unreachable", "warning")]
    p = Client(uc.key, uc.url + "/v1").problems()  # a base URL one level too deep
    assert [x.id for x in p] == ["not_the_api"]
    usage = requests.get(uc.url + "/v1/admin/usage?days=1", timeout=10,
                         headers={"Authorization": f"Bearer {uc.admin_key}"}).json()
    assert usage["total"]["total"] == 0  # the probes counted nothing


def test_a_typo_is_offered_as_a_suggestion_and_costs_no_attempt(uc):
    c = Client(uc.key, uc.url)
    for _ in range(6):
        r = c.check("Jane.Doe@gmial.com", "203.0.113.70")
        d = decide(r)
        assert not d.ok and d.code == "typo" and d.message == "Did you mean Jane.Doe@gmail.com?"
        assert d.suggestion == "Jane.Doe@gmail.com"
    assert c.check("jane@gmail.com", "203.0.113.70").remaining_attempts_before_ban == 5
    d = decide(c.check("x@mailinator.com"))
    assert d.code == "blocked" and "cannot be used" in d.message and d.suggestion is None


def test_fail_open_on_refused_connection_and_closed_mode():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    r = Client("k", f"http://127.0.0.1:{port}", timeout=1).check("x@mailinator.com")
    assert r.failed and r.category == "white"
    r = Client("k", f"http://127.0.0.1:{port}", timeout=1, fail_mode="closed").check("x@m.com")
    assert r.failed and r.category == "black"


def test_fail_open_on_timeout():
    with socket.socket() as s:  # accepts, never answers
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        r = Client("k", f"http://127.0.0.1:{s.getsockname()[1]}", timeout=0.5).check("x@m.com")
    assert r.failed and r.category == "white" and "Timeout" in r.message


def test_fail_open_on_5xx():
    class H(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.send_response(503)
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        r = Client("k", f"http://127.0.0.1:{srv.server_port}").check("x@mailinator.com")
        assert r.failed and r.category == "white" and "503" in r.message
    finally:
        srv.shutdown()


def test_guide_helper(site):
    assert check_email("someone@mailinator.com", "203.0.113.9")["category"] == "black"
    d = check_email("me@duck.com", "203.0.113.9")
    assert d["category"] == "grey" and d["type"] == "multi-alias services"
    assert check_email("jane@gmail.com", "unknown")["category"] == "white"
    assert check_email("bad..x@gmail.com", "unknown") == {"category": "white"}


def test_guide_helper_reads_the_environment(uc, monkeypatch, settings):
    del settings.USER_CLEANING_API_KEY  # not in Django settings: the environment is read
    del settings.USER_CLEANING_API_URL
    monkeypatch.setenv("USER_CLEANING_API_KEY", uc.key)
    monkeypatch.setenv("USER_CLEANING_API_URL", uc.url)
    assert check_email("someone@mailinator.com", "unknown")["category"] == "black"


@pytest.mark.parametrize("meta,hops,want", [
    ({"HTTP_X_FORWARDED_FOR": "203.0.113.1, 10.0.0.1", "REMOTE_ADDR": "10.0.0.2"}, None, "203.0.113.1"),
    ({"HTTP_X_REAL_IP": "203.0.113.2", "REMOTE_ADDR": "10.0.0.2"}, None, "203.0.113.2"),
    ({"REMOTE_ADDR": "198.51.100.3"}, None, "198.51.100.3"),
    ({}, None, "unknown"),
    ({"HTTP_X_FORWARDED_FOR": "garbage", "REMOTE_ADDR": "198.51.100.3"}, None, "198.51.100.3"),
    ({"HTTP_X_FORWARDED_FOR": "spoof, 203.0.113.4", "REMOTE_ADDR": "10.0.0.2"}, 1, "203.0.113.4"),
    ({"HTTP_X_FORWARDED_FOR": "spoof, 203.0.113.5, 10.0.0.9", "REMOTE_ADDR": "10.0.0.2"}, 2, "203.0.113.5"),
    ({"HTTP_X_FORWARDED_FOR": "203.0.113.6", "REMOTE_ADDR": "10.0.0.2"}, 2, "10.0.0.2"),
    ({"HTTP_X_FORWARDED_FOR": "203.0.113.7", "REMOTE_ADDR": "198.51.100.8"}, 0, "198.51.100.8"),
    ({"HTTP_X_FORWARDED_FOR": "[2001:DB8::1]:443", "REMOTE_ADDR": "10.0.0.2"}, 1, "2001:db8::1"),
    ({"REMOTE_ADDR": "::ffff:192.0.2.9"}, None, "192.0.2.9"),
])
def test_get_client_ip(settings, meta, hops, want):
    if hops is None:
        if hasattr(settings, "USER_CLEANING_TRUSTED_PROXIES"):
            del settings.USER_CLEANING_TRUSTED_PROXIES
    else:
        settings.USER_CLEANING_TRUSTED_PROXIES = hops
    request = RequestFactory().get("/")
    request.META.pop("REMOTE_ADDR", None)
    request.META.update(meta)
    assert get_client_ip(request) == want


def test_normalize_ip():
    assert normalize_ip(" 198.51.100.1:8080 ") == "198.51.100.1"
    assert normalize_ip("unknown") is None and normalize_ip("") is None
