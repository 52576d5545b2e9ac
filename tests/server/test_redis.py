"""Several `usercleaning serve` instances on one real redis-server (a free
loopback port, a directory of its own, AOF on): bans exact across instances,
changes made through one seen by the others, rate limits exact across them,
kill -9 of an instance, Redis stopped and started again mid-load, and white
checks that never touch Redis."""
import concurrent.futures
import os
import re
import signal
import subprocess
import time

import pytest
import requests

from conftest import BIN, Server
from redisfix import RedisFixture

BANNED = {"detail": "Your IP address is banned. Contact the service administrator to unlock access."}


@pytest.fixture
def redis(tmp_path):
    r = RedisFixture(tmp_path)
    yield r
    r.stop()


@pytest.fixture
def cluster(tmp_path, redis):
    """make(n, *flags): n servers on the Redis fixture; the first makes the keys."""
    servers = []

    def make(n=2, *flags):
        for _ in range(n):
            d = tmp_path / f"s{len(servers)}"
            d.mkdir()
            keys = (servers[0].admin_key, servers[0].key) if servers else None
            servers.append(Server(d, *flags, store=redis.url, keys=keys))
        return servers

    yield make
    for s in servers:
        s.stop(signal.SIGKILL)


def admin(server, method, path, **kw):
    return requests.request(method, server.url + "/v1/admin" + path, timeout=10,
                            headers={"Authorization": f"Bearer {server.admin_key}"}, **kw)


def wait_for(predicate, timeout=10.0):
    """Polls until predicate() is true; the seconds it took (None: never)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if predicate():
            return time.monotonic() - t0
        time.sleep(0.01)
    return None


def note(what, value):
    """Measured figures go to build/redis-proof.txt (for the report), never into an assert."""
    path = os.path.join(os.path.dirname(BIN), "redis-proof.txt")
    with open(path, "a") as f:
        f.write(f"{what}: {value}\n")


def test_bans_exact_across_three_instances(cluster):
    servers = cluster(3)
    ip = "203.0.113.77"

    def one(i):
        r = servers[i % 3].check("x@mailinator.com", ip=ip)
        return r.status_code, r.json()

    with concurrent.futures.ThreadPoolExecutor(max_workers=30) as pool:
        answers = list(pool.map(one, range(300)))
    ok = [body for status, body in answers if status == 200]
    assert len(ok) == 5  # the default threshold, across all instances
    assert sorted(b["remaining_attempts_before_ban"] for b in ok) == [0, 1, 2, 3, 4]
    assert all(status == 403 and body == BANNED for status, body in answers if status != 200)
    for s in servers:  # every one of them knows, also for white checks (from memory)
        assert wait_for(lambda s=s: s.check("a@gmail.com", ip=ip).status_code == 403) is not None
    bans = admin(servers[1], "GET", "/bans").json()["bans"]
    assert [(b["ip"], b["attempts"], b["banned"]) for b in bans] == [(ip, 5, True)]


def test_changes_through_one_instance_reach_the_others(cluster):
    a, b = cluster(2)
    ip = "198.51.100.9"
    for _ in range(5):
        assert a.check("x@mailinator.com", ip=ip).status_code == 200
    assert wait_for(lambda: b.check("a@gmail.com", ip=ip).status_code == 403) is not None
    assert admin(a, "DELETE", f"/bans/{ip}").json() == {"unbanned": ip}
    took = wait_for(lambda: b.check("a@gmail.com", ip=ip).status_code == 200)
    assert took is not None  # B lets the IP through, its counter started over
    note("unban on A -> B lets the IP through (s)", f"{took:.3f}")
    r = b.check("x@mailinator.com", ip=ip)
    assert r.status_code == 200 and r.json()["remaining_attempts_before_ban"] == 4
    key = a.create_key(name="shared")
    assert b.check("a@gmail.com", key=key).status_code == 200  # B asks the store for a new key
    kid = [k["id"] for k in admin(a, "GET", "/keys").json()["keys"] if k["name"] == "shared"][0]
    assert admin(a, "DELETE", f"/keys/{kid}").status_code == 200
    took = wait_for(lambda: b.check("a@gmail.com", key=key).status_code == 401)
    assert took is not None  # revoked on A, refused by B
    note("key revoked on A -> refused by B (s)", f"{took:.3f}")
    assert admin(a, "PUT", "/lists/black/blocked-shop.com").status_code == 201
    took = wait_for(lambda: b.check("bob@blocked-shop.com").json()["category"] == "black")
    assert took is not None
    note("black list entry added on A -> applied by B (s)", f"{took:.3f}")
    assert admin(a, "PATCH", "/settings", json={"colors": {"multi-alias services": "black"}}).ok
    took = wait_for(lambda: b.check("me@duck.com").json()["category"] == "black")
    assert took is not None
    note("settings changed on A -> applied by B (s)", f"{took:.3f}")
    p = subprocess.run([BIN, "bans", "unban", "--all", "--store", a.store[1]], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0, p.stderr  # the CLI is one more process on the store


def redis_micros(redis):
    sec, usec = redis.cli("TIME").stdout.split()
    return int(sec) * 1_000_000 + int(usec)


def test_rate_limit_exact_across_instances(cluster, redis):
    a, b = cluster(2)
    r = admin(a, "PATCH", "/settings", json={"rate_limit_per_second": 10, "rate_limit_burst": 10})
    assert r.status_code == 200
    assert wait_for(lambda: admin(b, "GET", "/settings").json()["rate_limit_per_second"] == 10)
    t0 = redis_micros(redis)
    with concurrent.futures.ThreadPoolExecutor(max_workers=40) as pool:
        answers = list(pool.map(lambda i: (a, b)[i % 2].check("a@gmail.com"), range(40)))
    elapsed = (redis_micros(redis) - t0) / 1e6
    ok = sum(1 for x in answers if x.status_code == 200)
    limited = [x for x in answers if x.status_code == 429]
    assert ok + len(limited) == 40
    # Exactly the burst, plus what the rate refilled while the 40 ran (by
    # Redis's clock); two separate buckets would let 20 through at once.
    note("rate limit 10/s burst 10, 40 at once over 2 instances: 200s, elapsed (s)",
         f"{ok}, {elapsed:.3f}")
    assert 10 <= ok <= 10 + int(elapsed * 10)
    for x in limited:
        assert x.json() == {"detail": "Rate limit exceeded."}
        assert int(x.headers["Retry-After"]) >= 1
    text = requests.get(a.url + "/metrics").text + requests.get(b.url + "/metrics").text
    limited_total = sum(int(v) for v in re.findall(r"usercleaning_rate_limited_total (\d+)", text))
    assert limited_total == len(limited)


def test_kill9_after_a_ban(cluster, tmp_path, redis):
    a, b = cluster(2)
    ip = "192.0.2.99"
    answers = [a.check("x@mailinator.com", ip=ip) for _ in range(5)]
    assert answers[-1].json()["remaining_attempts_before_ban"] == 0
    a.stop(signal.SIGKILL)  # right after the answer that banned
    assert wait_for(lambda: b.check("a@gmail.com", ip=ip).status_code == 403) is not None
    d = tmp_path / "restarted"
    d.mkdir()
    again = Server(d, store=redis.url, keys=(a.admin_key, a.key))
    try:
        r = again.check("a@gmail.com", ip=ip)  # loaded at start: no black answer needed
        assert r.status_code == 403 and r.json() == BANNED
    finally:
        again.stop(signal.SIGKILL)


def metric(server, name):
    m = re.search(rf"^{name}(?:{{[^}}]*}})? (\d+)", requests.get(server.url + "/metrics").text, re.M)
    return int(m.group(1)) if m else None


def test_redis_stopped_mid_load_and_back(cluster, redis):
    a, b = cluster(2)
    banned = "198.51.100.66"
    for _ in range(5):
        a.check("x@mailinator.com", ip=banned)
    assert wait_for(lambda: b.check("a@gmail.com", ip=banned).status_code == 403) is not None
    statuses, stop = [], False

    def load(i):  # black and white checks, a new IP each (none reaches a ban)
        n = 0
        while not stop:
            n += 1
            s = (a, b)[i % 2]
            email = ("x@mailinator.com", "a@gmail.com")[i % 2]
            r = s.check(email, ip=f"100.{64 + i}.{n // 250 % 250}.{n % 250}")
            statuses.append((r.status_code, r.json().get("remaining_attempts_before_ban")))

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(load, i) for i in range(4)]
        time.sleep(0.3)
        redis.stop(signal.SIGKILL)
        assert wait_for(lambda: metric(a, "usercleaning_store_up") == 0)
        during = len(statuses)
        time.sleep(0.5)
        # Admin writes answer 503 with a JSON detail; checks go on.
        r = admin(b, "PUT", "/lists/black/down-shop.com")
        assert r.status_code == 503 and "redis" in r.json()["detail"]
        assert admin(a, "PATCH", "/settings", json={"ban_threshold": 3}).status_code == 503
        r = a.check("x@mailinator.com", ip="203.0.113.200")
        assert r.status_code == 200 and r.json()["remaining_attempts_before_ban"] is None
        assert b.check("a@gmail.com", ip=banned).status_code == 403  # bans held in memory
        stop = True
        for f in futures:
            f.result()
    assert len(statuses) > during
    assert all(code == 200 for code, _ in statuses), {c for c, _ in statuses}  # none failed
    assert metric(a, "usercleaning_ban_hits_uncounted_total") + \
        metric(b, "usercleaning_ban_hits_uncounted_total") > 0
    assert "the store is unavailable" in a.stderr() + b.stderr()
    assert a.proc.poll() is None and b.proc.poll() is None  # no crash
    redis.start()  # same port and directory: the AOF comes back
    assert wait_for(lambda: metric(a, "usercleaning_store_up") == 1)
    assert wait_for(lambda: metric(b, "usercleaning_store_up") == 1)
    assert "the store is back" in a.stderr()
    bans = {x["ip"]: x for x in admin(b, "GET", "/bans", params={"q": banned}).json()["bans"]}
    assert bans[banned]["banned"] and bans[banned]["attempts"] == 5  # intact
    r = a.check("x@mailinator.com", ip="203.0.113.201")
    assert r.status_code == 200 and r.json()["remaining_attempts_before_ban"] == 4  # counted again
    assert admin(b, "PUT", "/lists/black/down-shop.com").status_code == 201


def test_white_checks_never_touch_redis(cluster, redis):
    """MONITOR while only white checks run: the only commands are the
    background's polls (the version, the change feed, and once a second the
    batch keeper's look for tasks nobody runs); the same with rate limiting
    on or a black answer shows their scripts, so the watch works."""
    (a,) = cluster(1, "--flush-interval", "3600")
    a.check("warm@gmail.com", ip="192.0.2.1")
    mon = redis.monitor()
    for i in range(300):
        assert a.check(f"user{i}@gmail.com", ip=f"192.0.2.{i % 250}").status_code == 200
    seen = mon.stop()
    polls = [c for c in seen if c[:1] == ["EVALSHA"]]
    others = [c for c in seen if c[:1] != ["EVALSHA"]]
    assert all(c == ["MGET", "uc:version", "uc:schema"] for c in others), others[:5]
    # The feed script (one SHA, the prefix and a cursor) and the batch keeper's
    # listing (the prefix, a limit and the task fields it reads).
    keeper = [c for c in polls if len(c) > 6 and c[3] == "uc" and c[5:7] == ["account_id", "key_id"]]
    feed = [c for c in polls if c not in keeper]
    assert len({c[1] for c in feed}) <= 1 and len({c[1] for c in keeper}) <= 1
    assert all(len(c) == 5 and c[3] == "uc" and c[4].isdigit() for c in feed), feed[:5]
    note("commands Redis saw during 300 white checks (background polls only)", len(seen))
    mon = redis.monitor()
    a.check("x@mailinator.com", ip="192.0.2.250")  # a black answer: the ban script
    assert admin(a, "PATCH", "/settings", json={"rate_limit_per_second": 1000}).ok
    a.check("ok@gmail.com")  # rate limiting on: its script
    seen = mon.stop()
    scripts = [c for c in seen if c[:1] == ["EVALSHA"] and not (len(c) == 5 and c[4].isdigit())]
    assert any(len(c) == 10 for c in scripts)  # ban hit: prefix + 6 arguments
    assert any(len(c) == 7 for c in scripts)   # rate take: prefix + 3 arguments


def test_migrate_sqlite_to_redis_and_back(tmp_path, redis):
    d = tmp_path / "single"
    d.mkdir()
    one = Server(d)  # SQLite
    ip = "192.0.2.123"
    for _ in range(5):
        one.check("x@mailinator.com", ip=ip)
    assert admin(one, "PUT", "/lists/black/blocked-shop.com").status_code == 201
    assert admin(one, "GET", "/usage").ok  # usage written: the keys' last_used_at moved
    before = {p: admin(one, "GET", p).json() for p in ("/keys", "/bans", "/lists/black", "/settings")}
    assert one.stop() == 0  # a clean stop writes what memory held
    p = subprocess.run([BIN, "store", "migrate", "--from", f"sqlite://{one.db}", "--to", redis.url],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert re.search(r"1 accounts, 2 keys, .* 1 list entries", p.stdout), p.stdout
    d = tmp_path / "on-redis"
    d.mkdir()
    two = Server(d, store=redis.url, keys=(one.admin_key, one.key))  # the same keys work
    try:
        after = {p: admin(two, "GET", p).json() for p in before}
        for view in (before, after):  # admin calls move the admin key's last use: no data
            for k in view["/keys"]["keys"]:
                if k["type"] == "admin":
                    k.pop("last_used_at")
        assert after == before
        assert two.check("a@gmail.com", ip=ip).status_code == 403  # the ban came along
        assert two.check("bob@blocked-shop.com").json()["category"] == "black"
    finally:
        two.stop()
    back = tmp_path / "back.db"
    p = subprocess.run([BIN, "store", "migrate", "--from", redis.url, "--to", f"sqlite://{back}"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    p = subprocess.run([BIN, "store", "migrate", "--from", redis.url, "--to", f"sqlite://{back}"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "empty store" in p.stderr  # never over a store in use
    p = subprocess.run([BIN, "keys", "list", "--db", str(back)], capture_output=True, text=True,
                       timeout=60)
    assert "default admin" in p.stdout
    p = subprocess.run([BIN, "store", "migrate", "--from", redis.url], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2 and "usage: usercleaning store migrate" in p.stderr


def test_redis_losing_its_data_keeps_the_view(cluster, redis):
    """A Redis without persistence restarted empty (here: FLUSHALL) must not
    look like a store whose keys were all revoked: servers keep the view."""
    (a,) = cluster(1)
    assert a.check("a@gmail.com").status_code == 200
    redis.cli("FLUSHALL")
    assert wait_for(lambda: metric(a, "usercleaning_store_up") == 0)
    assert "holds no store any more" in a.stderr()
    for _ in range(20):  # well past a poll: the key still works
        assert a.check("a@gmail.com").status_code == 200


def activity(server, since=None):
    r = admin(server, "GET", "/activity" + (f"?since={since}" if since is not None else ""))
    assert r.status_code == 200, r.text
    return r.json()


def test_activity_of_every_instance_through_redis(cluster, tmp_path, redis):
    """The Activity page of one instance shows the checks every instance
    answered (each writes its own in batches, with usage), numbered by Redis;
    today's tops add up across instances; a restart keeps the feed."""
    a, b = cluster(2, "--flush-interval", "1")
    a.check("jane@gmail.com", ip="203.0.113.1")
    b.check("x@mailinator.com", ip="203.0.113.2")
    a.check("y@mailinator.com", ip="203.0.113.3")
    assert admin(b, "POST", "/try", json={"email": "dry@yopmail.com"}).status_code == 200
    # a's own checks are there at once (a read flushes them); b's within its flush interval
    assert wait_for(lambda: activity(a)["last_seq"] == 3), activity(a)
    feed = activity(a)
    assert sorted(c["domain"] for c in feed["checks"]) == ["gmail.com", "mailinator.com",
                                                           "mailinator.com"]
    assert [c["seq"] for c in feed["checks"]] == [3, 2, 1]  # newest first, one numbering
    assert all(c["key"]["name"] == "default" for c in feed["checks"])
    assert {c["ip"] for c in feed["checks"]} == {"203.0.113.1", "203.0.113.2", "203.0.113.3"}
    assert feed["top_domains"] == [{"domain": "mailinator.com", "count": 2, "over": 0}]
    assert sorted(t["ip"] for t in feed["top_ips"]) == ["203.0.113.2", "203.0.113.3"]
    assert activity(b)["checks"] == feed["checks"]  # the same feed from either instance
    # the cursor, live: only what is newer, from whichever instance answered it
    b.check("me@duck.com")
    assert wait_for(lambda: activity(a, since=3)["checks"])
    newer = activity(a, since=3)
    assert [c["domain"] for c in newer["checks"]] == ["duck.com"] and newer["last_seq"] == 4
    # whole addresses only when the account says so (the setting reaches b through Redis)
    assert admin(a, "PATCH", "/settings", json={"activity_emails": True}).status_code == 200
    assert wait_for(lambda: admin(b, "GET", "/settings").json()["activity_emails"] is True)
    b.check("Shown@Gmail.com")
    assert wait_for(lambda: activity(a)["last_seq"] == 5)
    assert activity(a)["checks"][0]["email"] == "Shown@gmail.com"
    # a clean stop writes what is left; a new instance reads the same feed
    b.check("last@mailinator.com", ip="203.0.113.2")
    b.stop()
    d = tmp_path / "s-new"
    d.mkdir()
    c = Server(d, store=redis.url, keys=(a.admin_key, a.key))
    try:
        feed = activity(c)
        assert feed["last_seq"] == 6 and feed["checks"][0]["domain"] == "mailinator.com"
        assert feed["top_domains"][0] == {"domain": "mailinator.com", "count": 3, "over": 0}
    finally:
        c.stop()
