"""The deployment samples of docs/deploy.md, checked with the real tools:
contrib/nginx.conf with `nginx -t` and then in front of two servers on one
Redis, and contrib/usercleaning@.service with `systemd-analyze verify`."""
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from conftest import BIN, ROOT, Server
from redisfix import RedisFixture, free_tcp_port

NGINX_CONF = os.path.join(ROOT, "contrib", "nginx.conf")
UNIT = os.path.join(ROOT, "contrib", "usercleaning@.service")


def nginx_main(tmp, include):
    """A main nginx.conf of the test's own (pid, logs, temp files in tmp) that
    includes the sample at http level, where it belongs."""
    conf = tmp / "main.conf"
    conf.write_text(f"""pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log {tmp}/access.log;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  include {include};
}}
""")
    return conf


def test_nginx_sample_passes_nginx_t(tmp_path):
    if not shutil.which("nginx"):
        pytest.fail("nginx is missing: scripts/deps.sh installs nginx-light")
    conf = nginx_main(tmp_path, NGINX_CONF)
    p = subprocess.run(["nginx", "-t", "-c", str(conf), "-p", str(tmp_path)], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0 and "syntax is ok" in p.stderr, p.stderr


def post(port, path, body, key, source="127.0.0.5"):
    """A request from another loopback address, so that nginx's client and
    nginx itself differ in the servers' logs."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    c.request("POST", path, json.dumps(body), {"Authorization": f"Bearer {key}",
                                               "Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, json.loads(data)


def test_nginx_sample_in_front_of_two_servers(tmp_path):
    redis = RedisFixture(tmp_path)
    servers, nginx = [], None
    try:
        for i in range(2):
            d = tmp_path / f"s{i}"
            d.mkdir()
            keys = (servers[0].admin_key, servers[0].key) if servers else None
            servers.append(Server(d, "--forwarded-for", store=redis.url, keys=keys))
        ports = [int(s.url.rsplit(":", 1)[1]) for s in servers]
        front = free_tcp_port()
        text = open(NGINX_CONF).read()  # the sample, with the test's ports
        text = text.replace("listen 80;", f"listen 127.0.0.1:{front};")
        text = text.replace("127.0.0.1:8081", f"127.0.0.1:{ports[0]}")
        text = text.replace("127.0.0.1:8082", f"127.0.0.1:{ports[1]}")
        (tmp_path / "site.conf").write_text(text)
        conf = nginx_main(tmp_path, tmp_path / "site.conf")
        nginx = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(tmp_path), "-g", "daemon off;"])
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", front, timeout=2)
                c.request("GET", "/healthz")
                health = c.getresponse()
                body = json.loads(health.read())
                break
            except OSError:
                time.sleep(0.05)
        assert health.status == 200 and body["store"] == "ok"
        ip = "203.0.113.61"
        answers = [post(front, "/v1/email/check", {"email": "x@mailinator.com", "ip": ip},
                        servers[0].key) for _ in range(8)]
        assert [a[0] for a in answers] == [200] * 5 + [403] * 3  # one ban count behind nginx
        def log_lines(s):  # access log lines (flushed every second) of the checks
            return [x for x in s.stdout().splitlines() if re.match(r"\d{4}-.* POST /v1/email/check", x)]
        deadline = time.time() + 20
        while time.time() < deadline and sum(len(log_lines(s)) for s in servers) < 8:
            time.sleep(0.1)
        lines = [log_lines(s) for s in servers]
        assert all(lines) and sum(map(len, lines)) == 8  # both servers answered some
        assert all(" 127.0.0.5 POST " in x for x in lines[0] + lines[1])  # the client nginx saw
        servers[0].stop(signal.SIGKILL)  # one server gone: nginx uses the other
        for _ in range(6):
            status, b = post(front, "/v1/email/check", {"email": "a@gmail.com"}, servers[0].key)
            assert status == 200 and b["category"] == "white"
    finally:
        if nginx:
            nginx.send_signal(signal.SIGQUIT)
            nginx.wait(timeout=30)
        for s in servers:
            s.stop(signal.SIGKILL)
        redis.stop()


def test_systemd_unit_verifies(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed here (the systemd package)")
    unit = tmp_path / "usercleaning@.service"  # the sample, pointing at the binary built
    unit.write_text(open(UNIT).read().replace("/usr/local/bin/usercleaning", os.path.abspath(BIN)))
    p = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "usercleaning@8081.service")],
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stderr.strip() == "", p.stderr  # warnings (an unknown key, a bad value) fail it too
    assert re.search(r"^ExecStart=\S+ serve ", open(UNIT).read(), re.M)


def test_forwarded_for_in_the_access_log(make_server):
    on, off = make_server("--forwarded-for"), make_server()
    cases = [("198.51.100.3", "198.51.100.3"), ("1.2.3.4, 198.51.100.4", "198.51.100.4"),
             ("198.51.100.5, not-an-ip", "127.0.0.1"), ("::ffff:198.51.100.6", "198.51.100.6"),
             ("2001:DB8::7", "2001:db8::7"), ("\x7f'\" evil", "127.0.0.1")]
    for header, _ in cases:
        for s in (on, off):
            r = s.post("/v1/email/check", s.key, json={"email": "a@gmail.com"},
                       headers={"X-Forwarded-For": header.encode("latin-1")})
            assert r.status_code == 200

    def seen(s):
        lines = []
        deadline = time.time() + 20
        while time.time() < deadline and len(lines) < len(cases):
            lines = [x.split()[1] for x in s.stdout().splitlines()
                     if re.match(r"\d{4}-.* POST /v1/email/check", x)]
            time.sleep(0.1)
        return lines

    assert seen(on) == [want for _, want in cases]  # parsed and written again, or the peer
    assert seen(off) == ["127.0.0.1"] * len(cases)  # off: the header changes nothing
