"""Per-key rate limits on one server (SQLite: buckets in memory): off by
default, the account's limit, a key's own, 429 with Retry-After before any
classification, and the CLI and admin API that set them."""
import subprocess
import time

import requests

from conftest import BIN

LIMITED = {"detail": "Rate limit exceeded."}


def admin(server, method, path, **kw):
    return requests.request(method, server.url + "/v1/admin" + path, timeout=10,
                            headers={"Authorization": f"Bearer {server.admin_key}"}, **kw)


def burst(server, n, key=None, email="a@gmail.com", ip=None):
    """n checks back to back: their answers and the seconds they took."""
    t0 = time.monotonic()
    answers = [server.check(email, key=key, ip=ip) for _ in range(n)]
    return answers, time.monotonic() - t0


def test_off_by_default(server):
    answers, _ = burst(server, 60)
    assert all(r.status_code == 200 for r in answers)
    assert "Retry-After" not in answers[-1].headers


def test_account_limit_then_a_keys_own(server):
    r = admin(server, "PATCH", "/settings", json={"rate_limit_per_second": 5, "rate_limit_burst": 5})
    assert r.status_code == 200 and r.json()["rate_limit_per_second"] == 5
    answers, took = burst(server, 20)
    ok = sum(r.status_code == 200 for r in answers)
    assert 5 <= ok <= 5 + int(took * 5)  # the burst, plus what the rate refilled meanwhile
    limited = [r for r in answers if r.status_code == 429]
    assert limited and all(r.json() == LIMITED for r in limited)
    assert all(1 <= int(r.headers["Retry-After"]) <= 1 for r in limited)  # 1/5 s, in whole seconds
    other = server.create_key(name="other")  # a bucket per key
    assert server.check("a@gmail.com", key=other).status_code == 200
    kid = [k for k in admin(server, "GET", "/keys").json()["keys"] if k["name"] == "default"][0]
    assert kid["rate_limit_per_second"] == 0  # follows the account
    r = admin(server, "PATCH", f"/keys/{kid['id']}", json={"rate_limit_per_second": 100000})
    assert r.status_code == 200 and r.json()["rate_limit_per_second"] == 100000
    answers, _ = burst(server, 30)
    assert all(r.status_code == 200 for r in answers)  # its own limit wins
    for bad in ({"rate_limit_per_second": -1}, {"rate_limit_burst": 1000001},
                {"rate_limit_per_second": "5"}):
        r = admin(server, "PATCH", f"/keys/{kid['id']}", json=bad)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"][1] in bad
    r = admin(server, "PATCH", f"/keys/{kid['id']}", json={"rate_limit_per_second": 0})
    assert r.json()["rate_limit_per_second"] == 0  # back to the account's
    audit = admin(server, "GET", "/audit?limit=1").json()["audit"][0]
    assert audit["action"] == "keys.update" and audit["detail"]["changes"] == {"rate_limit_per_second": 0}


def test_limited_checks_count_nothing(server):
    assert admin(server, "PATCH", "/settings", json={"rate_limit_per_second": 1,
                                                     "rate_limit_burst": 1}).ok
    ip = "203.0.113.40"
    first = server.check("x@mailinator.com", ip=ip)
    assert first.json()["remaining_attempts_before_ban"] == 4
    answers, took = burst(server, 10, email="x@mailinator.com", ip=ip)
    limited = [r for r in answers if r.status_code == 429]
    assert len(limited) >= 10 - 1 - int(took)
    time.sleep(1.1)  # the bucket refills: one more may pass
    r = server.check("x@mailinator.com", ip=ip)
    counted = 10 - len(limited)
    assert r.json()["remaining_attempts_before_ban"] == 3 - counted  # 429s were never counted
    usage = admin(server, "GET", "/usage?days=1").json()["total"]
    assert usage["black"] == 2 + counted


def test_cli_sets_limits(server):
    p = server.cli("settings", "set", "rate_limit_per_second", "7", "rate_limit_burst", "9")
    assert '"rate_limit_per_second": 7' in p.stdout and '"rate_limit_burst": 9' in p.stdout
    keys = admin(server, "GET", "/keys").json()["keys"]
    kid = [k["id"] for k in keys if k["name"] == "default"][0]
    p = server.cli("keys", "limit", "--account", "default", str(kid), "--per-second", "3",
                   "--burst", "4")
    assert "at most 3 checks a second, 4 at once" in p.stdout
    k = [k for k in admin(server, "GET", "/keys").json()["keys"] if k["id"] == kid][0]
    assert (k["rate_limit_per_second"], k["rate_limit_burst"]) == (3, 4)
    p = server.cli("keys", "limit", "--account", "default", str(kid), "--per-second", "x",
                   check=False)
    assert p.returncode == 2 and "--per-second" in p.stderr
    p = subprocess.run([BIN, "settings", "set", "rate_limit_burst", "-3", "--db", server.db],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "rate_limit_burst" in p.stderr
