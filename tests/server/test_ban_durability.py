"""An answered ban is never lost, and a locked store stalls no one else (issue
15): the fault test holds SQLite's write lock from another process while bans
happen, kills the server with SIGKILL, restarts it on the same file, and finds
every ban that any answer announced (remaining 0, or 403)."""
import concurrent.futures
import signal
import sqlite3
import time

import requests

from conftest import Server

BANNED = {"detail": "Your IP address is banned. Contact the service administrator to unlock access."}


def check(server, email, ip, timeout=30):
    return requests.post(server.url + "/v1/email/check", json={"email": email, "ip": ip},
                         headers={"Authorization": f"Bearer {server.key}"}, timeout=timeout)


def metric(server, name):
    for line in requests.get(server.url + "/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(name)


class Lock:
    """Another process's write transaction on the store: no write commits meanwhile."""

    def __init__(self, db):
        self.c = sqlite3.connect(db, isolation_level=None, timeout=30)
        self.c.execute("BEGIN IMMEDIATE")

    def release(self):
        self.c.execute("COMMIT")
        self.c.close()


def announced(r):
    """Whether an answer announced the IP's ban."""
    return r.status_code == 403 or (r.status_code == 200 and
                                    r.json()["remaining_attempts_before_ban"] == 0)


def test_locked_store_stalls_no_check_and_announces_no_unstored_ban(make_server, tmp_path):
    s = make_server("--ban-write-timeout", "1000")
    ip, other = "203.0.113.10", "203.0.113.11"
    assert [check(s, "x@mailinator.com", ip).json()["remaining_attempts_before_ban"]
            for _ in range(4)] == [4, 3, 2, 1]
    lock = Lock(s.db)
    try:
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            banning = pool.submit(check, s, "x@mailinator.com", ip)
            time.sleep(0.2)
            # while the banning answer waits for the store, everything else answers at once
            for _ in range(5):
                assert requests.get(s.url + "/healthz", timeout=2).status_code == 200
                r = check(s, "a@gmail.com", other, timeout=2)
                assert r.status_code == 200 and r.json()["remaining_attempts_before_ban"] == 5
            r = banning.result()
        # the store stayed locked past ban_write_timeout: the ban is not announced
        b = r.json()
        assert r.status_code == 200 and b["category"] == "black"
        assert b["remaining_attempts_before_ban"] is None
        assert "could not be stored in time" in b["details"]["ip_warning"]
        r = check(s, "a@gmail.com", ip)  # nor by a 403 while it is in memory only
        assert r.status_code == 200 and r.json()["remaining_attempts_before_ban"] is None
        assert metric(s, 'usercleaning_ip_warnings_total{reason="ban_unstored"}') == 2
        assert metric(s, "usercleaning_ban_wait_timeouts_total") == 2
        assert metric(s, "usercleaning_bans_unstored") == 1
    finally:
        lock.release()
    # the ban was kept and retried: once stored, it is announced
    deadline = time.time() + 20
    while time.time() < deadline and check(s, "a@gmail.com", ip).status_code != 403:
        time.sleep(0.2)
    assert check(s, "a@gmail.com", ip).json() == BANNED
    assert metric(s, "usercleaning_bans_unstored") == 0
    assert "gave up waiting for their ban to be stored" in s.stderr()
    s.proc.send_signal(signal.SIGKILL)
    s.proc.wait()
    s2 = Server(tmp_path / "s0", keys=(s.admin_key, s.key))
    try:
        assert check(s2, "a@gmail.com", ip).json() == BANNED
    finally:
        s2.stop(signal.SIGKILL)


def test_every_announced_ban_survives_kill_9_with_the_store_locked(make_server, tmp_path):
    """The fault test of the issue: bans happen while another process holds the
    write lock (longer than SQLite's 5 s busy timeout), the server is killed
    with SIGKILL before the lock goes, and restarted: every IP that an answer
    announced as banned (remaining 0, or 403) is banned."""
    s = make_server()  # defaults: threshold 5, ban_write_timeout 2 s
    before = "192.0.2.200"  # banned before the lock: announced and stored
    told = {before: [check(s, "x@mailinator.com", before) for _ in range(6)]}
    ips = [f"198.51.100.{i}" for i in range(1, 7)]

    def one(ip):
        return ip, check(s, "x@mailinator.com", ip, timeout=60)

    lock = Lock(s.db)
    try:
        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            for _ in range(7):  # threshold 5, then two more: the 403s
                for ip, r in pool.map(one, ips):
                    told.setdefault(ip, []).append(r)
        assert all(r.status_code in (200, 403) for rs in told.values() for r in rs)
        s.proc.send_signal(signal.SIGKILL)  # while the store is still locked
        s.proc.wait()
    finally:
        lock.release()
    banned_said = {ip for ip, rs in told.items() if any(announced(r) for r in rs)}
    assert before in banned_said
    s2 = Server(tmp_path / "s0", keys=(s.admin_key, s.key))
    try:
        for ip in banned_said:
            assert check(s2, "a@gmail.com", ip).json() == BANNED, ip
    finally:
        s2.stop(signal.SIGKILL)


def test_admin_writes_wait_off_the_check_threads(make_server):
    """An admin write waiting for the lock (5 s busy timeout) holds up no check,
    even on a single HTTP thread."""
    s = make_server("--threads", "1")
    lock = Lock(s.db)
    try:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            write = pool.submit(requests.patch, s.url + "/v1/admin/settings",
                                json={"ban_threshold": 3}, timeout=30,
                                headers={"Authorization": f"Bearer {s.admin_key}"})
            time.sleep(0.3)
            for _ in range(5):
                assert requests.get(s.url + "/healthz", timeout=2).status_code == 200
                assert check(s, "a@gmail.com", "203.0.113.90", timeout=2).status_code == 200
            time.sleep(0.2)
            assert not write.done()  # still waiting for the lock
            lock.release()
            lock = None
            r = write.result()
        assert r.status_code == 200 and r.json()["ban_threshold"] == 3
    finally:
        if lock:
            lock.release()


def test_batch_deletion_waits_off_the_check_threads(make_server):
    """Deleting a batch task is a store write too: waiting for the lock, it
    holds up no check on a single HTTP thread."""
    s = make_server("--threads", "1")
    batch = s.url + "/v1/external-api-requests/batch-check-emails"
    auth = {"Authorization": f"Bearer {s.key}"}
    r = requests.post(batch, headers=auth, data={"project_name": "p"},
                      files={"file": ("a.csv", b"email\r\nx@gmail.com\r\n")}, timeout=30)
    assert r.status_code == 200, r.text
    task = r.json()["task_id"]
    deadline = time.time() + 30
    while requests.get(f"{batch}/{task}", headers=auth, timeout=10).json()["status"] != "completed":
        assert time.time() < deadline
        time.sleep(0.05)
    lock = Lock(s.db)
    try:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            delete = pool.submit(requests.delete, f"{batch}/{task}", headers=auth, timeout=30)
            time.sleep(0.3)
            for _ in range(5):
                assert requests.get(s.url + "/healthz", timeout=2).status_code == 200
                assert check(s, "a@gmail.com", "203.0.113.91", timeout=2).status_code == 200
            time.sleep(0.2)
            assert not delete.done()  # still waiting for the lock
            lock.release()
            lock = None
            r = delete.result()
        assert r.status_code == 200 and r.json() == {"task_id": task, "deleted": True}
        assert requests.get(f"{batch}/{task}", headers=auth, timeout=10).status_code == 404
    finally:
        if lock:
            lock.release()


def test_sigterm_while_a_ban_waits_stops_cleanly_and_keeps_it(make_server, tmp_path):
    """SIGTERM with an answer suspended for a ban's write: the answer goes out
    (without announcing the ban), libmicrohttpd is never stopped with a request
    suspended, and the final write stores the ban once the lock goes."""
    s = make_server("--ban-write-timeout", "10000")
    ip = "203.0.113.33"
    for _ in range(4):
        check(s, "x@mailinator.com", ip)
    lock = Lock(s.db)
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            banning = pool.submit(check, s, "x@mailinator.com", ip)
            time.sleep(0.5)
            s.proc.send_signal(signal.SIGTERM)
            r = banning.result()
            assert r.status_code == 200 and r.json()["remaining_attempts_before_ban"] is None
    finally:
        time.sleep(0.5)
        lock.release()
    assert s.proc.wait(timeout=30) == 0  # not an abort
    s2 = Server(tmp_path / "s0", keys=(s.admin_key, s.key))
    try:
        assert check(s2, "a@gmail.com", ip).json() == BANNED
    finally:
        s2.stop(signal.SIGKILL)
