"""No single client can take the service down (issue 15, Availability): a
per-address connection cap on by default (trusted_proxies exempt), a deadline
for receiving a whole request that a trickling client cannot reset, idle
connections closed first when the slots run out, and a bounded load test on
loopback. Other loopback addresses (127.0.0.2, ...) stand for other clients."""
import socket
import statistics
import threading
import time

import requests


def hostport(server):
    host, port = server.url[7:].split(":")
    return host, int(port)


def connect(server, source="127.0.0.1", timeout=10):
    return socket.create_connection(hostport(server), timeout=timeout, source_address=(source, 0))


def closed_by_server(sock, wait):
    """True when the server closes sock (EOF or reset) within wait seconds."""
    sock.settimeout(wait)
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def metric(server, name):
    text = requests.get(server.url + "/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def healthz_from(server, source):
    """GET /healthz from a given loopback address; (status, seconds). Status 0: not
    served (the server closed or reset the connection: refused at its cap)."""
    t0 = time.monotonic()
    data = b""
    with connect(server, source) as c:
        try:
            c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            while True:
                chunk = c.recv(4096)
                if not chunk:
                    break
                data += chunk
        except (ConnectionResetError, BrokenPipeError):
            data = b""
    return (int(data.split()[1]) if data else 0), time.monotonic() - t0


def test_per_address_cap_is_on_by_default(make_server):
    s = make_server()
    held = [connect(s, "127.0.0.2") for _ in range(128)]  # the default cap
    try:
        time.sleep(0.3)
        extra = connect(s, "127.0.0.2")
        assert closed_by_server(extra, 10)  # refused at accept: closed before any byte
        extra.close()
        assert healthz_from(s, "127.0.0.1")[0] == 200  # another client is served
        assert metric(s, 'usercleaning_connections_refused_total{reason="per_ip"}') >= 1
    finally:
        for c in held:
            c.close()
    deadline = time.time() + 10  # the slots come back as the server sees the closes
    while time.time() < deadline and healthz_from(s, "127.0.0.2")[0] != 200:
        time.sleep(0.1)
    assert healthz_from(s, "127.0.0.2")[0] == 200


def test_trusted_proxies_are_exempt(make_server):
    s = make_server("--per-ip-connections", "4", "--trusted-proxies", "127.0.0.3/32",
                    "--trusted-proxies", "10.0.0.0/8")
    held = [connect(s, "127.0.0.3") for _ in range(20)]
    try:
        time.sleep(0.3)
        assert healthz_from(s, "127.0.0.3")[0] == 200
        capped = [connect(s, "127.0.0.4") for _ in range(4)]
        # Let the server take the four first: worker threads accept in parallel,
        # and a fifth taken by another thread before the fourth is counted
        # would leave the fourth refused instead (seen once under ASan).
        time.sleep(1.0)
        extra = connect(s, "127.0.0.4")
        assert closed_by_server(extra, 10)
        for c in capped + [extra]:
            c.close()
    finally:
        for c in held:
            c.close()


def test_bad_trusted_proxy_is_a_clear_error(tmp_path):
    import subprocess
    from conftest import BIN, SNAP
    p = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0", "--no-dns", "--db",
                        str(tmp_path / "x.db"), "--lists", SNAP, "--trusted-proxies", "proxy.local"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "trusted_proxies: 'proxy.local'" in p.stderr


def test_trickled_head_is_closed_at_the_deadline(make_server):
    """One header byte at a time resets an idle timeout forever; the request
    deadline does not move."""
    s = make_server("--request-timeout", "2", "--idle-timeout", "60")
    c = connect(s, "127.0.0.2")
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
    closed = False
    t0 = time.monotonic()
    for byte in head:  # 0.25 s a byte: 50 s for the whole head, far past the deadline
        try:
            c.sendall(bytes([byte]))
        except OSError:
            closed = True
            break
        if closed_by_server(c, 0.25):
            closed = True
            break
    took = time.monotonic() - t0
    c.close()
    assert closed, "the trickling connection was never closed"
    assert took < 40  # long before the head (or the 60 s idle timeout) could end it
    assert metric(s, 'usercleaning_connections_closed_total{reason="request_timeout"}') >= 1
    assert healthz_from(s, "127.0.0.1")[0] == 200


def test_trickled_body_is_closed_at_the_deadline(make_server):
    s = make_server("--request-timeout", "2", "--idle-timeout", "60")
    c = connect(s, "127.0.0.2")
    c.sendall(b"POST /v1/email/check HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
              b"X-API-Key: " + s.key.encode() + b"\r\n\r\n")
    closed = False
    for _ in range(160):
        try:
            c.sendall(b" ")
        except OSError:
            closed = True
            break
        if closed_by_server(c, 0.25):
            closed = True
            break
    c.close()
    assert closed


def test_idle_connections_give_way_when_slots_run_out(make_server):
    """With every slot held by idle connections, a new client used to wait in
    the backlog until one went away; now the idle ones are closed first."""
    s = make_server("--max-connections", "8", "--threads", "1", "--request-timeout", "0")
    idle = [connect(s, f"127.0.0.{10 + i}") for i in range(8)]
    try:
        status, _ = healthz_from(s, "127.0.0.1")
        assert status == 200
        assert sum(closed_by_server(c, 5) for c in idle) >= 1
        assert metric(s, 'usercleaning_connections_closed_total{reason="slots_full"}') >= 1
    finally:
        for c in idle:
            c.close()


def test_busy_requests_are_not_evicted(make_server):
    """A request being answered is never closed for room: only waiting ones."""
    s = make_server("--max-connections", "4", "--threads", "1", "--request-timeout", "0")
    sess = requests.Session()  # keep-alive, busy between requests only for microseconds
    for _ in range(3):
        assert sess.get(s.url + "/healthz", timeout=10).status_code == 200


def test_second_client_answered_while_one_holds_slow_sockets(make_server, record_property):
    """The attack of the issue, bounded: one client (127.0.0.2) opens 1,200
    sockets and trickles header bytes; another client's /healthz is answered
    throughout. Latencies are reported (record_property), not asserted."""
    s = make_server()  # defaults: 1024 slots, 128 per address, 10 s request deadline
    stop = threading.Event()
    held, refused = [], [0]

    def attacker():
        for _ in range(1200):
            try:
                c = connect(s, "127.0.0.2", timeout=5)
                c.setblocking(False)
                c.send(b"G")
                held.append(c)
            except OSError:
                refused[0] += 1
        while not stop.is_set():
            for c in list(held):
                try:
                    c.send(b"E")
                except OSError:
                    held.remove(c)
                    c.close()
            stop.wait(1.0)

    t = threading.Thread(target=attacker)
    t.start()
    latencies = []
    try:
        time.sleep(1.0)
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            status, took = healthz_from(s, "127.0.0.1")
            assert status == 200
            latencies.append(took)
            time.sleep(0.1)
    finally:
        stop.set()
        t.join()
        for c in held:
            c.close()
    assert latencies
    med = statistics.median(latencies)
    worst = max(latencies)
    record_property("healthz_median_ms", round(med * 1000, 2))
    record_property("healthz_max_ms", round(worst * 1000, 2))
    print(f"\nsecond client under 1,200 slow sockets: {len(latencies)} requests, "
          f"median {med * 1000:.2f} ms, max {worst * 1000:.2f} ms")
    assert metric(s, 'usercleaning_connections_refused_total{reason="per_ip"}') > 0


BATCH = "/v1/external-api-requests/batch-check-emails"


def trickled_upload(server, key, seconds, source="127.0.0.2"):
    """A batch upload whose body arrives over `seconds`; (closed early, answer bytes)."""
    boundary = "XyZ"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"project_name\"\r\n\r\nslow\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n"
            "Content-Type: text/csv\r\n\r\nemail\r\n" + "x@gmail.com\r\n" * 40 +
            f"\r\n--{boundary}--\r\n").encode()
    c = connect(server, source)
    head = (f"POST {BATCH} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {len(body)}\r\n" + (f"Authorization: Bearer {key}\r\n" if key else "") +
            "\r\n").encode()
    c.sendall(head)
    pieces = 20
    step = -(-len(body) // pieces)
    for i in range(0, len(body), step):
        time.sleep(seconds / pieces)
        try:
            c.sendall(body[i:i + step])
        except OSError:
            c.close()
            return True, b""
    c.settimeout(10)
    data = b""
    try:
        while chunk := c.recv(4096):
            data += chunk
    except OSError:
        pass
    c.close()
    return False, data


def test_an_accepted_batch_upload_may_take_longer_than_the_request_deadline(make_server):
    """A file upload can take longer than request_timeout: once its key is
    accepted it is bound by the idle timeout instead (a byte a second here)."""
    s = make_server("--request-timeout", "1", "--idle-timeout", "60")
    early, answer = trickled_upload(s, s.key, 3.0)
    assert not early
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    assert b'"status":"processing"' in answer


def test_an_unauthenticated_batch_upload_holds_no_slot(make_server):
    """Without an accepted key the upload is answered 401 from its head and
    the connection ends: it cannot hold a slot past the deadline either."""
    s = make_server("--request-timeout", "1", "--idle-timeout", "60")
    t0 = time.monotonic()
    early, answer = trickled_upload(s, None, 6.0)
    took = time.monotonic() - t0
    assert early or answer.startswith(b"HTTP/1.1 401"), answer[:300]
    assert took < 5


def _v6_cap_in_netns(binary, snap, tmp):
    """Runs inside `unshare -rn` (a network namespace of its own, with its own
    loopback): addresses of two /64s on lo, the real server on one of them."""
    import subprocess
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    for a in ("2001:db8:7::1", "2001:db8:7::2", "2001:db8:7::3", "2001:db8:8::1"):
        subprocess.run(["ip", "-6", "addr", "add", a + "/128", "dev", "lo", "nodad"], check=True)
    p = subprocess.Popen([binary, "serve", "--listen", "[2001:db8:7::1]:8080", "--no-dns",
                          "--no-domain-age", "--db", tmp + "/s.db", "--lists", snap,
                          "--batch-dir", tmp + "/batch", "--per-ip-connections", "4"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        p.stdout.readline()
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("2001:db8:7::1", 8080), timeout=2).close()
                break
            except OSError:
                time.sleep(0.05)

        def conn(src):
            return socket.create_connection(("2001:db8:7::1", 8080), timeout=10,
                                            source_address=(src, 0))

        def healthz(src):
            with conn(src) as c:
                c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                data = b""
                while chunk := c.recv(4096):
                    data += chunk
            return int(data.split()[1]) if data else 0

        time.sleep(0.5)  # the probe connection above is closed
        held = [conn("2001:db8:7::2") for _ in range(4)]
        time.sleep(0.3)
        extra = conn("2001:db8:7::3")  # another address, the same /64: over the cap
        assert closed_by_server(extra, 10), "a second address of the /64 got a fifth slot"
        assert healthz("2001:db8:8::1") == 200  # another /64 is another client
        for c in held + [extra]:
            c.close()
        print("ok")
    finally:
        p.kill()
        p.wait()


def test_ipv6_clients_are_capped_by_their_64(tmp_path):
    """A host holds a whole /64: capped per address, it could open per_ip_connections
    from each of 2^64 addresses. The test needs addresses of two /64s on loopback, so
    it runs the server and its clients in a network namespace of their own."""
    import os
    import subprocess
    import sys
    from conftest import BIN, SNAP
    import pytest
    if subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare -rn (a network namespace) is not permitted here")
    here = os.path.dirname(os.path.abspath(__file__))
    code = (f"import sys; sys.path[:0] = [{here!r}, {os.path.join(os.path.dirname(here), 'support')!r}]; "
            f"import test_availability as t; t._v6_cap_in_netns({BIN!r}, {SNAP!r}, {str(tmp_path)!r})")
    p = subprocess.run(["unshare", "-rn", sys.executable, "-c", code], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.strip().endswith("ok"), p.stdout + p.stderr
