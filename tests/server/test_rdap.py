"""Domain age from RDAP, against a local HTTP server that serves the IANA
bootstrap (pointing at itself) and RDAP answers: the age of a registered
domain, young_domain, an unknown TLD, a 404, a slow server that never
delays a check, the cache in the store across a restart."""
import datetime
import json
import threading
import time

import pytest
import requests

from httpfix import HTTPFixture, today


@pytest.fixture
def http():
    h = HTTPFixture()
    yield h
    h.close()


def start(make_server, http, *flags, **kw):
    return make_server("--rdap-bootstrap", http.rdap_bootstrap(), "--rdap-server-interval", "0",
                       *flags, **kw)


def age_of(s, email):
    b = s.check(email).json()
    return b["domain_age"], b["details"]["domain_created"], b["details"]["signals"]["young_domain"]


def eventually(s, email, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = age_of(s, email)
        if got[0] != "unknown":
            return got
        time.sleep(0.1)
    return age_of(s, email)


def test_a_registered_domain_gets_its_age(make_server, http):
    born = today() - datetime.timedelta(days=4000)
    http.rdap_domain("old-shop.com", born)
    s = start(make_server, http)
    assert age_of(s, "jane@old-shop.com") == ("unknown", None, False)  # first: looked up meanwhile
    assert eventually(s, "jane@old-shop.com") == ("4000", born.isoformat(), False)
    # the registrable domain is what is asked: a subdomain shares the answer
    assert age_of(s, "jane@mail.old-shop.com") == ("4000", born.isoformat(), False)
    assert http.count("/rdap/domain/old-shop.com") == 1
    assert http.count("/rdap/domain/mail.old-shop.com") == 0
    assert http.last_headers("/rdap/domain/old-shop.com")["Accept"] == "application/rdap+json"
    m = requests.get(s.url + "/metrics", timeout=10).text
    assert 'usercleaning_rdap_results_total{result="found"} 1' in m
    assert 'usercleaning_rdap_lookups_total{result="known"} 2' in m  # the last two checks
    assert 'usercleaning_rdap_lookups_total{result="queued"} 1' in m
    assert "usercleaning_rdap_bootstrap_services 2" in m


def test_young_domain_is_a_signal_and_a_colour_an_account_may_choose(make_server, http):
    born = today() - datetime.timedelta(days=10)
    http.rdap_domain("brand-new-shop.com", born)
    s = start(make_server, http)
    s.check("a@brand-new-shop.com")
    assert eventually(s, "a@brand-new-shop.com") == ("10", born.isoformat(), True)
    b = s.check("a@brand-new-shop.com").json()
    assert (b["category"], b["type"]) == ("white", "legitimate")  # a signal, not a verdict
    hdr = {"Authorization": f"Bearer {s.admin_key}"}
    r = requests.patch(s.url + "/v1/admin/settings", headers=hdr, timeout=10,
                       json={"colors": {"young domain": "grey"}})
    assert r.status_code == 200 and r.json()["colors"]["young domain"] == "grey"
    b = s.check("a@brand-new-shop.com").json()
    assert (b["category"], b["type"]) == ("grey", "young domain")
    assert b["details"]["matched"] == {"entry": "young_domain", "list": "rule"}
    r = requests.patch(s.url + "/v1/admin/settings", headers=hdr, timeout=10,
                       json={"young_domain_days": 7})
    assert r.status_code == 200
    b = s.check("a@brand-new-shop.com").json()
    assert (b["type"], b["details"]["signals"]["young_domain"]) == ("legitimate", False)
    # a listed domain keeps its type whatever its age
    http.rdap_domain("mailinator.com", today())
    s.check("a@mailinator.com")
    assert eventually(s, "a@mailinator.com") == ("0", today().isoformat(), True)
    b = s.check("a@mailinator.com").json()
    assert (b["category"], b["type"]) == ("black", "disposable")


def test_a_tld_without_rdap_stays_unknown_and_asks_nobody(make_server, http):
    s = start(make_server, http)
    for _ in range(3):
        assert age_of(s, "a@someone.org") == ("unknown", None, False)
    m = ""
    deadline = time.time() + 10
    while 'usercleaning_rdap_results_total{result="no_service"} 1' not in m and time.time() < deadline:
        m = requests.get(s.url + "/metrics", timeout=10).text
        time.sleep(0.1)
    assert 'usercleaning_rdap_results_total{result="no_service"} 1' in m
    assert 'usercleaning_rdap_requests_total 0' in m
    assert all("/rdap/" not in p for _, p, _ in http.requests)


def test_a_404_is_unknown_and_cached(make_server, http):
    s = start(make_server, http)
    assert age_of(s, "a@never-registered.net") == ("unknown", None, False)
    deadline = time.time() + 10
    while http.count("/rdap/domain/never-registered.net") == 0 and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    for _ in range(5):
        assert age_of(s, "a@never-registered.net") == ("unknown", None, False)
    assert http.count("/rdap/domain/never-registered.net") == 1  # failures are kept (fail_ttl)


def test_a_slow_rdap_server_never_delays_a_check(make_server, http):
    gate = threading.Event()  # the RDAP answer waits for it: the server is "slow" until set
    born = today() - datetime.timedelta(days=365)
    http.rdap_domain("slow-registry.com", born, gate=gate)
    s = start(make_server, http, "--rdap-timeout", "30000")
    try:
        for _ in range(5):  # answered while the lookup is still waiting at the registry
            b = s.check("a@slow-registry.com").json()
            assert b["domain_age"] == "unknown" and b["category"] == "white"
        deadline = time.time() + 10
        while http.count("/rdap/domain/slow-registry.com") == 0 and time.time() < deadline:
            time.sleep(0.05)
        assert http.count("/rdap/domain/slow-registry.com") == 1 and not gate.is_set()
        assert s.check("a@other-domain.net").status_code == 200  # others are not held up either
    finally:
        gate.set()
    assert eventually(s, "a@slow-registry.com") == ("365", born.isoformat(), False)


def test_the_cache_in_the_store_survives_a_restart(make_server, http, tmp_path):
    born = today() - datetime.timedelta(days=1234)
    http.rdap_domain("kept-shop.com", born)
    s = start(make_server, http)
    s.check("a@kept-shop.com")
    assert eventually(s, "a@kept-shop.com")[0] == "1234"
    keys = (s.admin_key, s.key)
    db = s.db
    assert s.stop() == 0
    asked = http.count("/rdap/domain/kept-shop.com")
    assert asked == 1
    d = tmp_path / "again"
    d.mkdir()
    again = start(make_server, http, "--db", db, keys=keys)
    # the first check after the restart already knows: no new request
    assert age_of(again, "a@kept-shop.com") == ("1234", born.isoformat(), False)
    assert http.count("/rdap/domain/kept-shop.com") == asked


def test_an_unreachable_bootstrap_is_said_and_checks_go_on(make_server, http):
    http.route("/bootstrap.json", "down", status=503)
    s = make_server("--rdap-bootstrap", http.url("/bootstrap.json"))
    assert age_of(s, "a@somewhere-shop.com") == ("unknown", None, False)
    deadline = time.time() + 20
    while "RDAP bootstrap: " not in s.stderr() and time.time() < deadline:
        time.sleep(0.1)
    assert f"RDAP bootstrap: {http.url('/bootstrap.json')}: HTTP 503" in s.stderr()
    m = requests.get(s.url + "/metrics", timeout=10).text
    assert "usercleaning_rdap_bootstrap_services 0" in m
    assert 'usercleaning_rdap_bootstrap_error_info{error="http://127.0.0.1:' in m
    assert s.check("a@mailinator.com").json()["type"] == "disposable"


def test_bad_rdap_settings_are_clear_errors(make_server, tmp_path, http):
    from conftest import BIN, SNAP
    import subprocess
    missing = str(tmp_path / "nope.json")
    p = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0", "--no-dns", "--lists", SNAP,
                        "--db", str(tmp_path / "s.db"), "--rdap-bootstrap", missing],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and f"rdap bootstrap {missing}" in p.stderr
    (tmp_path / "bad.json").write_text(json.dumps({"version": "1.0"}))
    p = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0", "--no-dns", "--lists", SNAP,
                        "--db", str(tmp_path / "s.db"), "--rdap-bootstrap",
                        str(tmp_path / "bad.json")], capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "no \"services\" array" in p.stderr
    # a bootstrap file works as well as a URL
    (tmp_path / "boot.json").write_text(json.dumps(
        {"services": [[["com"], [http.url("/rdap/")]]]}))
    http.rdap_domain("file-boot.com", today() - datetime.timedelta(days=3))
    s = make_server("--rdap-bootstrap", str(tmp_path / "boot.json"))
    s.check("a@file-boot.com")
    assert eventually(s, "a@file-boot.com") == ("3", (today() - datetime.timedelta(days=3))
                                                .isoformat(), True)
