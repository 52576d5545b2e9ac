#!/usr/bin/env python3
"""bench/http: wrk against our check endpoint (realistic mix, valid key), nginx
answering a fixed JSON body of the same size, and a Node.js server using the
mailchecker package; same run, alternating, 64 keep-alive connections.

Prints each server's requests/s (best of the rounds) and p99 latency, the
ratios ours/nginx (goal >= 0.9) and ours/node (goal >= 1.5), and the ratio to
nginx round by round (each nginx run follows ours at once: the fairest pairs on
a shared, noisy machine).
With --store redis (or --store redis://HOST:PORT/DB to use a Redis of your
own; "redis" starts a redis-server of its own, AOF on as docs/deploy.md says)
it compares stores instead: ours on SQLite and ours on Redis, each with a
white-only mix and a black-heavy mix (every black answer is one Redis round
trip), alternating in the same run, and prints the ratios Redis / SQLite.
With --domain-age, ours also runs with RDAP domain age on (a bootstrap file and
an RDAP server on loopback answering every domain; all cached after the
warm-up) and the ratio to domain age off is printed.

--activity-off adds a run of ours with the activity feed off (--activity-accounts
0, on port 18093) and prints the ratio feed on / feed off: what recording every
check for the Activity page costs.

Usage: bench/http/run.py [--seconds S] [--rounds R] [--connections C]
                         [--dns | --domain-age | --activity-off | --store redis]"""
import argparse
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, "build", "usercleaning")
HERE = os.path.join(ROOT, "bench", "http")


def port_free(port):
    import socket
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: TIME_WAIT is free
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def wait_up(url, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


# The unlisted domains of post.lua, answered by a dnsmasq fixture for the DNS
# run (never the machine's resolver).
BENCH_ZONES = ["acme-corp.com", "startup.io", "example.org", "corp.net", "xn--bcher-kva.de"]


def start_dnsmasq(tmp):
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    lines = [f"port={port}", "listen-address=127.0.0.1", "bind-interfaces", "no-resolv",
             "no-hosts", "local-ttl=3600"]
    for z in BENCH_ZONES:
        lines += [f"local=/{z}/", f"mx-host={z},mx.{z},10", f"host-record=mx.{z},192.0.2.25"]
    conf = os.path.join(tmp, "dnsmasq.conf")
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    p = subprocess.Popen(["dnsmasq", "--keep-in-foreground", f"--conf-file={conf}", "--pid-file="])
    time.sleep(0.3)
    return p, f"127.0.0.1:{port}"


def start_rdap(tmp):
    """An RDAP server on loopback that knows every domain (registered 2001-02-03),
    and a bootstrap file sending every TLD of post.lua to it."""
    import sys
    sys.path.insert(0, os.path.join(ROOT, "tests", "support"))
    from httpfix import HTTPFixture
    fix = HTTPFixture()
    for d in ["gmail.com", "mailinator.com", "appleid.com", "outlook.com", "guerrillamail.com",
              "acme-corp.com", "yahoo.com", "10minutemail.com", "qq.com", "gmial.com", "startup.io",
              "duck.com", "example.org", "xn--bcher-kva.de", "corp.net"]:
        fix.rdap_domain(d, datetime.date(2001, 2, 3))
    boot = os.path.join(tmp, "rdap-bootstrap.json")
    with open(boot, "w") as f:
        json.dump({"services": [[["com", "io", "org", "de", "net"], [fix.url("/rdap/")]]]}, f)
    return fix, boot


def start_ours(tmp, port=18090, dns=None, store=None, rdap_bootstrap=None, extra=()):
    out = open(os.path.join(tmp, f"ours-{port}.log"), "w+")
    dns_flags = ["--dns-server", dns] if dns else ["--no-dns"]
    age_flags = ["--rdap-bootstrap", rdap_bootstrap, "--rdap-server-interval", "0"] \
        if rdap_bootstrap else ["--no-domain-age"]
    store = store or os.path.join(tmp, f"bench-{port}.db")
    p = subprocess.Popen([BIN, "serve", "--listen", f"127.0.0.1:{port}", "--store", store,
                          "--access-log", "off",
                          "--lists", os.path.join(ROOT, "build", "lists.snap"), *age_flags,
                          *dns_flags, *extra],
                         stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_up(f"http://127.0.0.1:{port}/healthz")
        deadline = time.time() + 20  # the keys are printed with the "listening on" line
        while "listening on" not in open(out.name).read() and time.time() < deadline:
            time.sleep(0.05)
        text = open(out.name).read()
        key = re.search(r"active key:\s+(\S+)", text).group(1)
        ADMIN[port] = re.search(r"admin key:\s+(\S+)", text).group(1)
        raise_threshold(ADMIN[port], port)
    except Exception:
        p.kill()  # never left behind on a bench port
        p.wait()
        raise
    return p, key


ADMIN = {}  # port -> admin key of the server there


def unban_all(port):
    """Counters back to zero between runs: no IP reaches its ban, so every run
    measures answered checks (and a black answer's ban accounting), not 403s."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/admin/bans", method="DELETE",
                                 headers={"Authorization": f"Bearer {ADMIN[port]}"})
    urllib.request.urlopen(req).read()


def raise_threshold(admin_key, port=18090):
    """Bans stay on (their accounting is measured), but 65,521 IPs sending a
    mix stay under 100 black answers each: the run measures checks, not 403s."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/admin/settings",
                                 data=b'{"ban_threshold": 100}', method="PATCH",
                                 headers={"Authorization": f"Bearer {admin_key}"})
    urllib.request.urlopen(req).read()


def sample_body(key):
    req = urllib.request.Request("http://127.0.0.1:18090/v1/email/check",
                                 data=b'{"email": "someone@mailinator.com", "ip": "203.0.113.1"}',
                                 headers={"Authorization": f"Bearer {key}"}, method="POST")
    return urllib.request.urlopen(req).read()


def start_nginx(tmp, body):
    conf = os.path.join(tmp, "nginx.conf")
    escaped = body.decode().replace("\\", "\\\\").replace("'", "\\'")
    with open(conf, "w") as f:
        f.write(f"""worker_processes 2;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path {tmp}/body;
  server {{
    listen 127.0.0.1:18091;
    location / {{ default_type application/json; return 200 '{escaped}'; }}
  }}
}}
""")
    p = subprocess.Popen(["nginx", "-c", conf, "-g", "daemon off;"])
    wait_up("http://127.0.0.1:18091/")
    return p


def start_node():
    p = subprocess.Popen(["node", os.path.join(HERE, "mailchecker-server.js"), "18092"])
    wait_up("http://127.0.0.1:18092/")
    return p


def wrk(url, key, seconds, conns, mix="realistic"):
    out = subprocess.run(["wrk", "-t2", f"-c{conns}", f"-d{seconds}s", "--latency", "-s",
                          os.path.join(HERE, "post.lua"), url],
                         capture_output=True, text=True,
                         env={**os.environ, "UC_KEY": key, "UC_MIX": mix}, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99 = float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, p99, int(errors.group(1)) if errors else 0


def start_redis(tmp):
    """A redis-server of the bench's own: a free port, AOF on (appendfsync
    everysec, Redis's default; docs/deploy.md), no RDB snapshots."""
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    d = os.path.join(tmp, "redis")
    os.makedirs(d)
    p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", d,
                          "--appendonly", "yes", "--save", "", "--logfile",
                          os.path.join(d, "redis.log")])
    deadline = time.time() + 20
    while time.time() < deadline:
        r = subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True)
        if r.stdout.strip() == "PONG":
            return p, f"redis://127.0.0.1:{port}/0?prefix=bench"
        time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def compare_stores(args, tmp, procs):
    """Ours on SQLite (18090) and on Redis (18093), white-only and black-heavy
    mixes, alternating; the ratios Redis / SQLite per mix."""
    url = args.store
    if url == "redis":
        if not shutil.which("redis-server"):
            raise SystemExit("bench/http --store redis needs redis-server: run scripts/deps.sh")
        redis, url = start_redis(tmp)
        procs.append(redis)
    sqlite, key_s = start_ours(tmp, 18090)
    procs.append(sqlite)
    ours_r, key_r = start_ours(tmp, 18093, store=url)
    procs.append(ours_r)
    targets = {"sqlite": ("http://127.0.0.1:18090", key_s), "redis": ("http://127.0.0.1:18093", key_r)}
    mixes = ["white", "black"]
    results = {(m, t): [] for m in mixes for t in targets}
    port = {t: int(u.rsplit(":", 1)[1]) for t, (u, _) in targets.items()}
    for m in mixes:
        for t, (u, k) in targets.items():
            if args.warmup:
                wrk(u, k, args.warmup, args.connections, m)
    for r in range(args.rounds):
        for m in mixes:
            order = list(targets.items())  # who goes first alternates: no side always fresher
            for t, (u, k) in order if r % 2 == 0 else reversed(order):
                unban_all(port[t])
                results[(m, t)].append(wrk(u, k, args.seconds, args.connections, m))
    shown = re.sub(r"//[^@/]*@", "//***@", url)
    print(f"stores compared: sqlite (a file) and {shown}; {args.connections} keep-alive "
          f"connections, wrk -t2, {args.seconds}s x {args.rounds} rounds after {args.warmup}s of "
          f"warm-up each, {os.cpu_count()} cores shared (Redis on the same machine)")
    for m in mixes:
        best = {}
        for t in targets:
            runs = results[(m, t)]
            rps, p99, _ = max(runs)
            best[t] = rps
            bad = sum(r[2] for r in runs)
            name = f"{m}-only" if m == "white" else "black-heavy"
            print(f"  {name:12s} {t:7s} {rps:12,.0f} req/s   p99 {p99:7.2f} ms   non-2xx {bad}")
        per_round = sorted(a[0] / b[0] for a, b in zip(results[(m, "redis")], results[(m, "sqlite")]))
        print(f"  ratio redis / sqlite ({m}): {best['redis'] / best['sqlite']:.2f}; per round " +
              " ".join(f"{x:.2f}" for x in per_round) + f"; median {per_round[len(per_round) // 2]:.2f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--warmup", type=int, default=3,
                    help="seconds of untimed load per server first (ours meets 16,381 new IPs)")
    ap.add_argument("--store", metavar="redis|URL",
                    help="compare stores instead: ours on SQLite and on Redis ('redis' starts its "
                         "own redis-server; or a redis:// URL), white-only and black-heavy mixes")
    ap.add_argument("--dns", action="store_true",
                    help="also run ours with DNS on (a dnsmasq fixture; every domain cached after "
                         "the warm-up) and print its ratio to DNS off")
    ap.add_argument("--domain-age", action="store_true",
                    help="also run ours with RDAP domain age on (a loopback RDAP server; every "
                         "domain cached after the warm-up) and print its ratio to domain age off")
    ap.add_argument("--activity-off", action="store_true",
                    help="also run ours with the activity feed off (--activity-accounts 0) and "
                         "print the ratio feed on / feed off")
    args = ap.parse_args()
    if sum(map(bool, (args.dns, args.domain_age, args.activity_off, args.store))) > 1:
        raise SystemExit("bench/http: one of --dns, --domain-age, --activity-off, --store (one "
                         "spare port, 18093)")
    for tool in ("wrk",) if args.store else ("wrk", "nginx", "node"):
        if not shutil.which(tool):
            raise SystemExit(f"bench/http needs {tool}: run scripts/deps.sh --bench")
    busy = [p for p in (18090, 18091, 18092, 18093) if not port_free(p)]
    if busy:
        raise SystemExit(f"bench/http: port(s) {busy} on 127.0.0.1 are in use; stop what listens there")
    tmp = tempfile.mkdtemp(prefix="uc-bench-http-")
    procs, fixtures = [], []
    if args.store:
        try:
            compare_stores(args, tmp, procs)
        finally:
            stop_all(procs, tmp)
        return
    try:
        ours, key = start_ours(tmp)
        procs.append(ours)
        body = sample_body(key)
        procs.append(start_nginx(tmp, body))
        procs.append(start_node())
        targets = {"usercleaning": "http://127.0.0.1:18090",
                   "nginx (fixed body)": "http://127.0.0.1:18091",
                   "node + mailchecker": "http://127.0.0.1:18092"}
        keys = {name: key for name in targets}
        if args.dns:
            dnsmasq, server = start_dnsmasq(tmp)
            procs.append(dnsmasq)
            ours_dns, keys["usercleaning, DNS on"] = start_ours(tmp, 18093, server)
            procs.append(ours_dns)
            targets["usercleaning, DNS on"] = "http://127.0.0.1:18093"
        if args.domain_age:
            fix, boot = start_rdap(tmp)
            fixtures.append(fix)
            ours_age, keys["usercleaning, age on"] = start_ours(tmp, 18093, rdap_bootstrap=boot)
            procs.append(ours_age)
            targets["usercleaning, age on"] = "http://127.0.0.1:18093"
        if args.activity_off:
            ours_off, keys["usercleaning, no feed"] = start_ours(tmp, 18093,
                                                                 extra=["--activity-accounts", "0"])
            procs.append(ours_off)
            targets["usercleaning, no feed"] = "http://127.0.0.1:18093"
        results = {name: [] for name in targets}
        for name, url in targets.items():  # first contact: tables grow, pages fault in, JIT warms
            if args.warmup:
                wrk(url, keys[name], args.warmup, args.connections)
        for _ in range(args.rounds):  # alternate: each round runs all of them
            for name, url in targets.items():
                results[name].append(wrk(url, keys[name], args.seconds, args.connections))
        print(f"{args.connections} keep-alive connections, wrk -t2, {args.seconds}s x "
              f"{args.rounds} rounds after {args.warmup}s of warm-up each, body {len(body)} bytes, "
              f"{os.cpu_count()} cores shared")
        best = {}
        for name, runs in results.items():
            if os.environ.get("UC_BENCH_VERBOSE"):
                print(f"  {name}: " + " ".join(f"{r[0]:,.0f}" for r in runs))
            rps, p99, errors = max(runs)
            best[name] = rps
            bad = sum(r[2] for r in runs)
            print(f"{name:22s} {rps:12,.0f} req/s   p99 {p99:7.2f} ms   non-2xx {bad}")
        print(f"ratio usercleaning / nginx          {best['usercleaning'] / best['nginx (fixed body)']:.2f}  (goal >= 0.9)")
        per_round = sorted(a[0] / b[0] for a, b in zip(results["usercleaning"],
                                                       results["nginx (fixed body)"]))
        print("  per round (ours / the nginx run right after it): " +
              " ".join(f"{x:.2f}" for x in per_round) +
              f"; median {per_round[len(per_round) // 2]:.2f}")
        print(f"ratio usercleaning / node+mailchecker {best['usercleaning'] / best['node + mailchecker']:.2f}  (goal >= 1.5)")
        if args.dns:
            on, off = results["usercleaning, DNS on"], results["usercleaning"]
            print(f"ratio DNS on (cached) / DNS off        {best['usercleaning, DNS on'] / best['usercleaning']:.2f}  (goal >= 0.95)")
            rounds = sorted(a[0] / b[0] for a, b in zip(on, off))
            print("  per round: " + " ".join(f"{x:.2f}" for x in rounds) +
                  f"; median {rounds[len(rounds) // 2]:.2f}")
        if args.domain_age:
            on, off = results["usercleaning, age on"], results["usercleaning"]
            ages = json.loads(urllib.request.urlopen(urllib.request.Request(
                "http://127.0.0.1:18093/v1/email/check", data=b'{"email": "a@acme-corp.com"}',
                headers={"Authorization": f"Bearer {keys['usercleaning, age on']}"},
                method="POST")).read())["domain_age"]
            print(f"ratio domain age on (cached) / off    {best['usercleaning, age on'] / best['usercleaning']:.2f}"
                  f"  (acme-corp.com's domain_age: {ages})")
        if args.activity_off:
            on, off = results["usercleaning"], results["usercleaning, no feed"]
            print(f"ratio feed on / feed off              {best['usercleaning'] / best['usercleaning, no feed']:.2f}  (goal >= 0.97)")
            rounds = sorted(a[0] / b[0] for a, b in zip(on, off))
            print("  per round: " + " ".join(f"{x:.2f}" for x in rounds) +
                  f"; median {rounds[len(rounds) // 2]:.2f}")
    finally:
        for fix in fixtures:
            fix.close()
        stop_all(procs, tmp)


def stop_all(procs, tmp):
    for p in reversed(procs):  # the servers before the Redis they use
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
