#!/usr/bin/env python3
"""bench/http/v6flood.py: what a flood of fresh IPv6 /64s costs the server's memory
(issue 15: 717k fresh /64s in 8 s took RSS from 34 to 340 MB, GET /v1/admin/bans
returned 64 MB, unban-all freed nothing).

Black checks, each from a random /64, for --seconds; then prints the server's RSS
before, after and at its peak (VmHWM), the ban cache's counting IPs against its
bound (ban_memory), the evictions, the size of GET /v1/admin/bans (one page), the
RSS after DELETE /v1/admin/bans?all=true, and the store file's size (one row per
/64 counted: counts are kept, SPEC §4).
With --bin an older build, the same flood shows the before (a build from before issue 15
lists every IP in one GET and keeps every counter).
Usage: flock /tmp/uc-bench.lock bench/http/v6flood.py [--seconds S] [--ban-memory N] [--bin PATH]"""
import argparse
import json
import os
import re
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from run import HERE, ROOT, wait_up

PORT = 18093


def mb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) // 1024
    return -1


def http(method, path, key):
    req = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", method=method,
                                 headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.read()


def metrics():
    with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/metrics", timeout=10) as r:
        text = r.read().decode()
    return {m.group(1): float(m.group(2)) for m in
            re.finditer(r'^(usercleaning_ban_cache_\S+) (\S+)$', text, re.M)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--ban-memory", type=int, default=0, help="0: the server's default")
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "usercleaning"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "s.db")
        argv = [args.bin, "serve", "--listen", f"127.0.0.1:{PORT}", "--db", db, "--no-dns",
                "--access-log", "off", "--lists", os.path.join(ROOT, "build", "lists.snap")]
        # an older build (--bin, for a before/after) may lack the newer flags
        known = subprocess.run([args.bin, "serve", "--help"], capture_output=True, text=True).stdout
        if "--no-domain-age" in known:
            argv.append("--no-domain-age")
        if "--batch-dir" in known:
            argv += ["--batch-dir", os.path.join(tmp, "b")]
        if args.ban_memory:
            argv += ["--ban-memory", str(args.ban_memory)]
        log = open(os.path.join(tmp, "server.log"), "w+")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_up(f"http://127.0.0.1:{PORT}/healthz")
            log.seek(0)
            text = log.read()
            key = re.search(r"active key:\s+(\S+)", text).group(1)
            admin = re.search(r"admin key:\s+(\S+)", text).group(1)
            before = mb(p.pid, "VmRSS")
            out = subprocess.run(["wrk", "-t2", f"-c{args.connections}", f"-d{args.seconds}s",
                                  "-s", os.path.join(HERE, "v6flood.lua"),
                                  f"http://127.0.0.1:{PORT}/v1/email/check"],
                                 capture_output=True, text=True, check=True,
                                 env={**os.environ, "UC_KEY": key}).stdout
            sent = int(re.search(r"(\d+) requests in", out).group(1))
            time.sleep(2)  # the flush after the flood, then the trim to the bound
            m = metrics()
            after, peak = mb(p.pid, "VmRSS"), mb(p.pid, "VmHWM")
            page = http("GET", "/v1/admin/bans", admin)
            try:
                unbanned = json.loads(http("DELETE", "/v1/admin/bans?all=true", admin))
            except urllib.error.HTTPError:  # an older build: no all=true
                unbanned = json.loads(http("DELETE", "/v1/admin/bans", admin))
            freed = mb(p.pid, "VmRSS")
            size = sum(os.path.getsize(os.path.join(tmp, f)) for f in os.listdir(tmp)
                       if f.startswith("s.db"))
            print(f"{sent} black checks from random /64s in {args.seconds} s")
            print(f"RSS: {before} MB before, {after} MB after (peak {peak} MB); "
                  f"{freed} MB after unban-all ({unbanned})")
            counting = m.get('usercleaning_ban_cache_ips{state="counting"}', -1)
            print(f"ban cache: {counting:.0f} "
                  f"counting IPs, bound {m.get('usercleaning_ban_cache_limit', -1):.0f}, "
                  f"{m.get('usercleaning_ban_cache_evictions_total', -1):.0f} evicted")
            print(f"GET /v1/admin/bans: {len(page)} bytes (one page); store: {size // 2**20} MB")
        finally:
            p.terminate()
            p.wait()


if __name__ == "__main__":
    main()
