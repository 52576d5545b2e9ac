#!/usr/bin/env python3
"""bench/batch: a 1M-row CSV through `usercleaning clean` (no DNS) and through
the API (upload -> completed -> downloaded), in the same run as `usercleaning
check --format tsv` on the same addresses (the baseline); then the p99 of live
checks (wrk, bench/http/post.lua) with and without 1M-row tasks running.

Prints rows/s of each (best of the rounds, alternating), the ratio
clean / check-tsv (goal >= 0.5), peak RSS of each process, and the two p99s.
Run it under the benchmark lock: flock /tmp/uc-bench.lock bench/batch/run.py
Usage: bench/batch/run.py [--rows N] [--rounds R] [--seconds S] [--connections C]"""
import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, "build", "usercleaning")
SNAP = os.path.join(ROOT, "build", "lists.snap")
LUA = os.path.join(ROOT, "bench", "http", "post.lua")
BATCH = "/v1/external-api-requests/batch-check-emails"

# A realistic mix: mostly real providers and company domains, some disposable,
# relays, tags, typos and a few invalid lines; 1 in 20 addresses repeats.
DOMAINS = ["gmail.com", "outlook.com", "yahoo.com", "acme-corp.com", "startup.io", "qq.com",
           "mailinator.com", "guerrillamail.com", "10minutemail.com", "duck.com",
           "privaterelay.appleid.com", "gmial.com", "corp.net", "example.org", "icloud.com",
           "web.de"]


def make_files(tmp, rows):
    csv_path, txt_path = os.path.join(tmp, "list.csv"), os.path.join(tmp, "list.txt")
    with open(csv_path, "w") as c, open(txt_path, "w") as t:
        c.write("id,name,email,signed_up\n")
        for i in range(rows):
            n = i if i % 20 else i // 2  # every 20th row repeats an earlier address
            d = DOMAINS[n % len(DOMAINS)]
            local = f"user.{n}" if n % 7 else f"user{n}+news"
            email = f"{local}@{d}" if n % 997 else f"broken..{n}@{d}"
            c.write(f"{i},Person {i},{email},2025-0{1 + i % 9}-1{i % 10}\n")
            t.write(email + "\n")
    return csv_path, txt_path


def run_measured(argv, stdin=None, stdout=subprocess.DEVNULL):
    """Wall seconds, CPU seconds (user + sys) and peak RSS (KiB) of one process,
    as GNU time sees them (a forked Python's own pages never count)."""
    with tempfile.NamedTemporaryFile("r") as t, \
            (open(stdin, "rb") if stdin else open(os.devnull, "rb")) as inp:
        p = subprocess.run(["/usr/bin/time", "-o", t.name, "-f", "%e %U %S %M", *argv], stdin=inp,
                           stdout=stdout, stderr=subprocess.PIPE)
        if p.returncode != 0:
            raise RuntimeError(f"{argv[1]} failed: {p.stderr.decode()}")
        wall, user, sys_, kib = t.read().split()[-4:]
    return float(wall), float(user) + float(sys_), int(kib)


def start_server(tmp):
    out = open(os.path.join(tmp, "server.out"), "w+")
    proc = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0", "--db", os.path.join(tmp, "s.db"),
                             "--lists", SNAP, "--no-dns", "--access-log", "off",
                             "--batch-dir", os.path.join(tmp, "batch"), "--batch-quota", "0"],
                            stdout=out, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        out.seek(0)
        text = out.read()
        m = re.search(r"listening on (http://[0-9.]+:\d+)", text)
        if m:
            key = re.search(r"active key:\s+(\S+)", text).group(1)
            admin = re.search(r"admin key:\s+(\S+)", text).group(1)
            return proc, m.group(1), key, admin
        time.sleep(0.05)
    raise RuntimeError("server did not start")


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1))


def api_round(url, key, csv_path, out_path):
    """Upload -> completed -> downloaded: wall seconds."""
    h = {"Authorization": f"Bearer {key}"}
    t0 = time.perf_counter()
    with open(csv_path, "rb") as f:
        r = requests.post(url + BATCH, headers=h, files={"file": ("list.csv", f)},
                          data={"project_name": "bench"}, timeout=600)
    r.raise_for_status()
    task = r.json()["task_id"]
    while True:
        st = requests.get(f"{url}{BATCH}/{task}", headers=h, timeout=30).json()
        if st["status"] != "processing":
            break
        time.sleep(0.02)
    assert st["status"] == "completed", st
    with requests.get(f"{url}{BATCH}/{task}/download", headers=h, stream=True, timeout=600) as r:
        with open(out_path, "wb") as f:
            for chunk in r.iter_content(1 << 20):
                f.write(chunk)
    wall = time.perf_counter() - t0
    requests.delete(f"{url}{BATCH}/{task}", headers=h, timeout=30)
    return wall


def wrk_p99(url, key, seconds, conns):
    out = subprocess.run(["wrk", "-t2", f"-c{conns}", f"-d{seconds}s", "--latency", "-s", LUA, url +
                          "/v1/email/check"], capture_output=True, text=True,
                         env={**os.environ, "UC_KEY": key}, timeout=seconds + 60).stdout
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)], rps


def raise_threshold(url, admin):
    """The wrk mix sends disposable addresses from 16k IPs: no bans during the bench."""
    requests.patch(url + "/v1/admin/settings", headers={"Authorization": f"Bearer {admin}"},
                   json={"ban_enabled": False}, timeout=10).raise_for_status()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=5, help="each wrk run")
    ap.add_argument("--connections", type=int, default=16)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="uc-bench-batch-")
    csv_path, txt_path = make_files(tmp, args.rows)
    size_mb = os.path.getsize(csv_path) / 1e6
    print(f"{args.rows:,} rows, {size_mb:.1f} MB CSV; {os.cpu_count()} cores; best of {args.rounds} "
          "rounds, alternating")
    proc, url, key, admin = start_server(tmp)
    results = {"check --format tsv": [], "clean (no DNS)": [], "API upload->download": []}
    cpu = {"check --format tsv": [], "clean (no DNS)": []}
    rss = {}
    try:
        for _ in range(args.rounds):
            for name, argv, stdin in [
                    ("check --format tsv", [BIN, "check", "--lists", SNAP, "--format", "tsv"], txt_path),
                    ("clean (no DNS)", [BIN, "clean", "--lists", SNAP, csv_path, "-o",
                                        os.path.join(tmp, "out.csv")], None)]:
                # each clean writes a new file: the previous round's is removed
                # first (freeing its 83 MB would otherwise count as clean's work)
                if os.path.exists(os.path.join(tmp, "out.csv")):
                    os.unlink(os.path.join(tmp, "out.csv"))
                wall, secs, kib = run_measured(argv, stdin=stdin)
                results[name].append(wall)
                cpu[name].append(secs)
                rss[name] = max(rss.get(name, 0), kib)
            results["API upload->download"].append(api_round(url, key, csv_path,
                                                             os.path.join(tmp, "api.csv")))
        rss["API upload->download"] = peak_rss_kib(proc.pid)
        print(f"\n{'':24s} {'best wall s':>11s} {'rows/s':>12s} {'CPU s':>7s} {'rows/CPU-s':>12s} "
              f"{'peak RSS':>10s}")
        best = {}
        for name, walls in results.items():
            best[name] = min(walls)
            c = min(cpu[name]) if name in cpu else None
            print(f"{name:24s} {best[name]:11.2f} {args.rows / best[name]:12,.0f} " +
                  (f"{c:7.2f} {args.rows / c:12,.0f} " if c else f"{'':7s} {'':12s} ") +
                  f"{rss[name] / 1024:8.1f} MB" + ("  (the whole server)" if name.startswith("API") else ""))
        ratio = best["check --format tsv"] / best["clean (no DNS)"]
        cpu_ratio = min(cpu["check --format tsv"]) / min(cpu["clean (no DNS)"])
        print(f"\nclean / check --format tsv, rows per wall second: {ratio:.2f}x, per CPU second: "
              f"{cpu_ratio:.2f}x  (goal >= 0.5: {'met' if ratio >= 0.5 else 'not met'})")
        print(f"API / check --format tsv, rows per wall second: "
              f"{best['check --format tsv'] / best['API upload->download']:.2f}x")

        raise_threshold(url, admin)
        idle_p99, idle_rps = wrk_p99(url, key, args.seconds, args.connections)
        h = {"Authorization": f"Bearer {key}"}
        tasks = []
        for _ in range(3):  # queued back to back: one is always running during wrk
            with open(csv_path, "rb") as f:
                r = requests.post(url + BATCH, headers=h, files={"file": ("list.csv", f)},
                                  data={"project_name": "load"}, timeout=600)
            tasks.append(r.json()["task_id"])
        busy_p99, busy_rps = wrk_p99(url, key, args.seconds, args.connections)
        still = [requests.get(f"{url}{BATCH}/{t}", headers=h, timeout=30).json() for t in tasks]
        running = sum(1 for s in still if s["status"] == "processing")
        print(f"\nlive checks, wrk -t2 -c{args.connections} {args.seconds}s (bench/http/post.lua):")
        print(f"  no batch task           p99 {idle_p99:7.2f} ms   {idle_rps:10,.0f} req/s")
        label = f"{args.rows // 1000}k-row tasks running" if args.rows < 1_000_000 else \
            f"{args.rows // 1_000_000}M-row tasks running"
        print(f"  {label:23s} p99 {busy_p99:7.2f} ms   {busy_rps:10,.0f} req/s   "
              f"({running} of 3 tasks still processing at the end)")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    sys.exit(main())
