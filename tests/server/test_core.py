"""The core seams every front end stands on: the store chosen by URL, unbans
from any path reaching a running server, the negative key cache, the CLI as a
thin shell over the admin operations (usage, audit, keys), and read-only
commands that never create a store."""
import hashlib
import json
import os
import secrets
import signal
import sqlite3
import subprocess
import time

import requests

from conftest import BIN, SNAP, Server

B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def admin(server, method, path, key=None, **kw):
    return requests.request(method, server.url + "/v1/admin" + path, timeout=10,
                            headers={"Authorization": f"Bearer {key or server.admin_key}"}, **kw)


def remaining(server, email, ip):
    r = server.check(email, ip=ip)
    return "banned" if r.status_code == 403 else r.json()["remaining_attempts_before_ban"]


def metric(server, name):
    text = requests.get(server.url + "/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def forged_key():
    """A well-formed active key with a valid legacy checksum that no store
    knows: anyone can make one (that checksum is public), so it must be cheap.
    (Keys made now carry a checksum keyed by the installation's secret.)"""
    body = "ucl_live_" + "".join(secrets.choice(B62) for _ in range(32))
    h = hashlib.blake2b(body.encode(), digest_size=16, key=b"usercleaning key checksum v1").digest()
    v = int.from_bytes(h[:8], "big")
    check = ""
    for _ in range(6):
        check += B62[v % 62]
        v //= 62
    return body + check


def cli(*args, env=None):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def test_cli_unban_resets_a_count_not_yet_written(make_server):
    # Counts are written behind (never, here): only the running server knows them.
    server = make_server("--flush-interval", "3600")
    ip = "203.0.113.50"
    assert [remaining(server, "x@mailinator.com", ip) for _ in range(2)] == [4, 3]
    p = server.cli("bans", "unban", ip)
    assert p.returncode == 0 and f"unbanned {ip}" in p.stdout
    time.sleep(0.5)  # a running server applies other processes' changes within 200 ms
    assert remaining(server, "x@mailinator.com", ip) == 4  # threshold - 1: the counter restarted
    assert remaining(server, "x@mailinator.com", ip) == 3


def test_api_unban_resets_the_counter_at_once(make_server):
    server = make_server("--flush-interval", "3600")
    ip = "203.0.113.51"
    for _ in range(3):
        server.check("x@mailinator.com", ip=ip)
    assert admin(server, "DELETE", f"/bans/{ip}").json() == {"unbanned": ip}
    assert remaining(server, "x@mailinator.com", ip) == 4
    time.sleep(0.5)  # its own change comes back through the feed: not applied twice
    assert remaining(server, "x@mailinator.com", ip) == 3


def test_cli_unban_all_reaches_the_server(make_server):
    server = make_server("--flush-interval", "3600")
    ips = [f"198.51.100.{i}" for i in range(60, 64)]
    for ip in ips:
        for _ in range(5):
            server.check("x@mailinator.com", ip=ip)
        assert remaining(server, "a@gmail.com", ip) == "banned"
    assert "unbanned" in server.cli("bans", "unban", "--all").stdout
    time.sleep(0.5)
    assert [remaining(server, "a@gmail.com", ip) for ip in ips] == [5] * 4


def test_forged_keys_cost_no_store_read(server):
    """Distinct forged keys (valid public checksum) used to cost a store read
    each; now they are refused from memory, and keys made since carry a
    checksum nobody without the installation's secret can compute."""
    keys = [forged_key() for _ in range(20)] + [forged_key()] * 20
    for key in keys:
        r = server.check("a@gmail.com", key=key)
        assert r.status_code == 401 and r.json() == {"detail": "Invalid API key."}
    assert metric(server, "usercleaning_key_store_lookups_total") == 0
    assert metric(server, "usercleaning_key_legacy_refused_total") == 40
    # A key made by the CLI after that is usable at once (its checksum is keyed: when the
    # view has not reloaded yet, the store is asked).
    assert server.check("a@gmail.com", key=server.create_key()).status_code == 200
    assert metric(server, "usercleaning_key_store_lookups_total") <= 1


def test_keys_made_before_keyed_checksums_still_work(server):
    old = forged_key()  # the legacy checksum, as every key had before
    with sqlite3.connect(server.db) as c:
        c.execute("INSERT INTO keys(account_id, name, type, prefix, hash, created_at) "
                  "VALUES (1, 'old', 'active', ?, ?, 1)",
                  (old[:14], hashlib.blake2b(old.encode(), digest_size=32).digest()))
    deadline = time.time() + 5  # the server reloads its view when the store changed
    while time.time() < deadline and server.check("a@gmail.com", key=old).status_code != 200:
        time.sleep(0.1)
    r = server.check("x@mailinator.com", key=old)
    assert r.status_code == 200 and r.json()["category"] == "black"
    new = server.create_key()
    assert new != old and server.check("a@gmail.com", key=new).status_code == 200


def test_store_by_url_and_environment(tmp_path):
    path = tmp_path / "by-url" / "store.db"
    s = Server(tmp_path, "--store", f"sqlite://{path}")  # sqlite:///abs/path
    try:
        assert s.check("a@gmail.com").status_code == 200
        assert path.exists()
        assert "usercleaning" in s.stdout() and f"store sqlite {path}" in s.stdout()  # the file
        p = cli("keys", "list", "--store", f"sqlite://{path}")
        assert p.returncode == 0 and "default admin" in p.stdout
        p = cli("keys", "list", env={"USER_CLEANING_STORE": f"sqlite://{path}"})
        assert p.returncode == 0 and "default admin" in p.stdout
    finally:
        s.stop(signal.SIGKILL)


def test_unknown_store_scheme_is_a_clear_error(tmp_path):
    p = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0", "--no-dns", "--no-domain-age", "--store", "mongodb://x/y",
                        "--lists", SNAP], capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert "unknown store scheme 'mongodb'" in p.stderr and "known: sqlite" in p.stderr
    p = cli("keys", "list", "--store", "postgres://db/x")
    assert p.returncode != 0 and "unknown store scheme 'postgres'" in p.stderr


def test_read_only_commands_never_create_a_store(tmp_path):
    missing = tmp_path / "nowhere" / "none.db"
    for args in [("keys", "list"), ("bans", "list"), ("settings", "get"), ("usage",),
                 ("lists", "show", "black"), ("audit",)]:
        p = cli(*args, "--db", str(missing))
        assert p.returncode != 0, args
        assert str(missing) in p.stderr and "--store" in p.stderr and "--db" in p.stderr, p.stderr
    assert not missing.exists() and not missing.parent.exists()


def test_usage_command_matches_the_admin_api(server):
    for email in ["a@mailinator.com", "b@mailinator.com", "c@gmail.com", "me@duck.com"]:
        server.check(email)
    api = admin(server, "GET", "/usage?days=7").json()  # also writes the counts
    p = server.cli("usage", "--days", "7", "--json")
    assert p.returncode == 0
    assert json.loads(p.stdout) == api
    assert api["total"] == {"white": 1, "grey": 1, "black": 2, "banned": 0, "total": 4}
    table = server.cli("usage").stdout
    assert "WHITE" in table and "default" in table
    assert [line.split()[-1] for line in table.splitlines() if line.startswith("total")] == ["4"]
    assert server.cli("usage", "--days", "400", check=False).returncode == 2


def test_cli_writes_are_audited_like_the_api(server):
    server.create_key("sandbox", name="from-cli")
    server.cli("settings", "set", "ban_threshold", "7")
    audit = admin(server, "GET", "/audit?limit=10").json()["audit"]
    actions = [a["action"] for a in audit]
    assert actions[:2] == ["settings.update", "keys.create"]  # newest first
    assert audit[1]["key_id"] == 0 and audit[1]["detail"]["via"] == "cli"
    assert audit[1]["detail"]["name"] == "from-cli"
    out = json.loads(server.cli("audit", "--limit", "1").stdout)
    assert [a["action"] for a in out["audit"]] == ["settings.update"]
    assert admin(server, "GET", "/audit?limit=0").status_code == 422


def test_the_last_admin_key_stays(server):
    keys = admin(server, "GET", "/keys").json()["keys"]
    me = [k for k in keys if k["type"] == "admin"][0]
    r = admin(server, "PATCH", f"/keys/{me['id']}", json={"type": "active"})
    assert r.status_code == 409 and "last admin key" in r.json()["detail"]
    second = admin(server, "POST", "/keys", json={"name": "ops", "type": "admin"}).json()
    r = admin(server, "DELETE", f"/keys/{second['id']}", key=second["key"])
    assert r.status_code == 409  # not itself
    r = admin(server, "PATCH", f"/keys/{second['id']}", json={"type": "active"})
    assert r.status_code == 200 and r.json()["key"].startswith("ucl_live_")  # one admin remains
    assert server.check("a@gmail.com", key=r.json()["key"]).status_code == 200
    p = server.cli("keys", "revoke", "--account", "default", str(me["id"]), check=False)
    assert p.returncode == 1 and "last admin key" in p.stderr


def test_cli_retype_prints_new_text(server):
    key = server.create_key("sandbox", name="trial")
    listing = server.cli("keys", "list", "--json").stdout
    kid = [k["id"] for k in json.loads(listing)["keys"] if k["name"] == "trial"][0]
    p = server.cli("keys", "retype", "--account", "default", str(kid), "--type", "active")
    new = p.stdout.strip().splitlines()[-1]
    assert new.startswith("ucl_live_") and new != key
    assert server.check("a@gmail.com", key=new).status_code == 200
    assert server.check("a@gmail.com", key=key).status_code == 401
    with sqlite3.connect(server.db) as c:
        (changes,) = c.execute("SELECT detail FROM audit WHERE action = 'keys.update'").fetchone()
    assert json.loads(changes)["changes"]["type"] == "active"
