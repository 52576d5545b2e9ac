#!/usr/bin/env python3
"""bench/dns: do checks of cached domains keep their latency while many cold
lookups wait on a zone that never answers? Everything on loopback: dnsmasq
answers the cached zone and forwards a "black hole" zone to a UDP socket that
never replies.

Phase A: wrk on cached domains alone. Phase B: the same while N requests for
black-holed domains (a new domain each, so each waits its whole deadline) are
kept in flight. Prints p50/p99 of both and the rate ratio B/A.
Usage: bench/dns/run.py [--seconds S] [--waiting N] [--connections C] [--deadline MS]"""
import argparse
import concurrent.futures
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, "build", "usercleaning")
HERE = os.path.join(ROOT, "bench", "dns")
ZONE = "benchzone.net"


def free_port(kind):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_dnsmasq(tmp, hole_port):
    port = free_port(socket.SOCK_DGRAM)
    lines = [f"port={port}", "listen-address=127.0.0.1", "bind-interfaces", "no-resolv",
             "no-hosts", "local-ttl=3600", "dns-forward-max=100000", f"local=/{ZONE}/",
             f"server=/hole.{ZONE}/127.0.0.1#{hole_port}"]
    for d in ["alpha", "bravo", "charlie", "delta", "echo"]:
        lines += [f"mx-host={d}.{ZONE},mx.{d}.{ZONE},10", f"host-record=mx.{d}.{ZONE},192.0.2.9"]
    conf = os.path.join(tmp, "dnsmasq.conf")
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    p = subprocess.Popen(["dnsmasq", "--keep-in-foreground", f"--conf-file={conf}", "--pid-file="])
    time.sleep(0.3)
    return p, f"127.0.0.1:{port}"


def start_server(tmp, dns, deadline):
    port = free_port(socket.SOCK_STREAM)
    out = open(os.path.join(tmp, "server.log"), "w+")
    p = subprocess.Popen([BIN, "serve", "--listen", f"127.0.0.1:{port}", "--db",
                          os.path.join(tmp, "bench.db"), "--access-log", "off", "--lists",
                          os.path.join(ROOT, "build", "lists.snap"), "--dns-server", dns,
                          "--dns-timeout", str(deadline)], stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1)
            break
        except OSError:
            time.sleep(0.05)
    out.flush()
    key = re.search(r"active key:\s+(\S+)", open(out.name).read()).group(1)
    return p, url, key


def check(url, key, email):
    req = urllib.request.Request(url + "/v1/email/check", method="POST",
                                 data=('{"email": "%s"}' % email).encode(),
                                 headers={"Authorization": f"Bearer {key}",
                                          "Content-Type": "application/json"})
    return urllib.request.urlopen(req, timeout=10).read()


def wrk(url, key, seconds, conns):
    out = subprocess.run(["wrk", "-t2", f"-c{conns}", f"-d{seconds}s", "--latency", "-s",
                          os.path.join(HERE, "cached.lua"), url], capture_output=True, text=True,
                         env={**os.environ, "UC_KEY": key}, check=True).stdout

    def ms(label):
        m = re.search(label + r"\s+([\d.]+)(us|ms|s)", out)
        return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return rps, ms("50%"), ms("99%")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--waiting", type=int, default=50)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--deadline", type=int, default=400)
    args = ap.parse_args()
    for tool in ("wrk", "dnsmasq"):
        if not shutil.which(tool):
            raise SystemExit(f"bench/dns needs {tool}: run scripts/deps.sh --bench")
    tmp = tempfile.mkdtemp(prefix="uc-bench-dns-")
    hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    hole.bind(("127.0.0.1", 0))
    procs = []
    stop = threading.Event()
    try:
        dnsmasq, dns = start_dnsmasq(tmp, hole.getsockname()[1])
        procs.append(dnsmasq)
        server, url, key = start_server(tmp, dns, args.deadline)
        procs.append(server)
        for d in ["alpha", "bravo", "charlie", "delta", "echo"]:  # warm: cached from now on
            check(url, key, f"warm@{d}.{ZONE}")
        a = wrk(url, key, args.seconds, args.connections)
        counter = iter(range(10**9))
        waited = []

        def cold():
            while not stop.is_set():
                t0 = time.time()
                check(url, key, f"u@d{next(counter)}.hole.{ZONE}")
                waited.append(time.time() - t0)

        pool = concurrent.futures.ThreadPoolExecutor(args.waiting)
        futures = [pool.submit(cold) for _ in range(args.waiting)]
        time.sleep(args.deadline / 1000 * 2)  # let the waits pile up
        b = wrk(url, key, args.seconds, args.connections)
        stop.set()
        for f in futures:
            f.result()
        pool.shutdown()
        waited.sort()
        print(f"cached checks, wrk -t2 -c{args.connections}, {args.seconds}s, "
              f"deadline {args.deadline} ms, {os.cpu_count()} cores shared")
        print(f"A alone                    {a[0]:10,.0f} req/s  p50 {a[1]:6.2f} ms  p99 {a[2]:6.2f} ms")
        print(f"B with {args.waiting} waits in flight  {b[0]:10,.0f} req/s  p50 {b[1]:6.2f} ms  "
              f"p99 {b[2]:6.2f} ms")
        print(f"ratio B/A (rate)            {b[0] / a[0]:.2f}")
        print(f"black-holed checks: {len(waited)} answered, median wait "
              f"{waited[len(waited) // 2] * 1000:.0f} ms, max {waited[-1] * 1000:.0f} ms "
              f"(each waited its deadline, then answered without DNS)")
    finally:
        stop.set()
        for p in procs:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        hole.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
