"""Client, check_email and get_client_ip against the real server (and against
servers that misbehave: silent, 500s)."""
import http.server
import socket
import threading

import pytest
from django.test import RequestFactory

from user_cleaning import (CheckResult, Client, ConfigurationError, InvalidEmail, check_email,
                           get_client_ip, normalize_ip)


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


def test_invalid_email_and_bad_key(uc):
    with pytest.raises(InvalidEmail) as e:
        Client(uc.key, uc.url).check("jo..hn@example.com")
    assert e.value.reason == "An email address cannot have two periods in a row."
    with pytest.raises(ConfigurationError):
        Client("ucl_live_nope", uc.url).check("a@b.com")


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
