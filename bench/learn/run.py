#!/usr/bin/env python3
"""bench/learn: how long `usercleaning lists learn-infrastructure` takes over a
list the size of the real ones, against dnsmasq on loopback (never a resolver
outside). The fixture: N listed disposable domains under one zone; every name
there has an address (dnsmasq's address=), so most domains answer NODATA for
MX and then A/AAAA (three queries each, as an A-only domain costs); 3,000 of
them have MX records on five "farms", which the run must keep.
Usage: bench/learn/run.py [--domains N] [--concurrency C]"""
import argparse
import os
import shutil
import socket
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, "build", "usercleaning")
ZONE = "learnzone.net"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--domains", type=int, default=150000)
    ap.add_argument("--concurrency", type=int, default=256)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="uc-bench-learn-")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    lines = [f"port={port}", "listen-address=127.0.0.1", "bind-interfaces", "no-resolv",
             "no-hosts", "local-ttl=3600", "dns-forward-max=100000", "cache-size=0",
             f"local=/{ZONE}/", f"address=/{ZONE}/192.0.2.1"]
    domains = [f"temp{i}.{ZONE}" for i in range(args.domains)]
    for i in range(3000):
        lines.append(f"mx-host={domains[i]},mx.farm{i % 5}.{ZONE},10")
    with open(os.path.join(tmp, "dnsmasq.conf"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(tmp, "disposable.txt"), "w") as f:
        f.write("\n".join(domains) + "\n")
    with open(os.path.join(tmp, "m.ini"), "w") as f:
        f.write("[bench]\nfile = disposable.txt\nkind = disposable\nversion = 1\n"
                "date = 2026-01-01\n")
    snap = os.path.join(tmp, "bench.snap")
    subprocess.run([BIN, "lists", "build", os.path.join(tmp, "m.ini"), snap, tmp], check=True,
                   capture_output=True)
    dnsmasq = subprocess.Popen(["dnsmasq", "--keep-in-foreground",
                                f"--conf-file={os.path.join(tmp, 'dnsmasq.conf')}", "--pid-file="])
    try:
        time.sleep(0.5)
        t0 = time.time()
        p = subprocess.run([BIN, "lists", "learn-infrastructure", "--lists", snap, "--dns-server",
                            f"127.0.0.1:{port}", "--out", os.path.join(tmp, "learned"),
                            "--concurrency", str(args.concurrency)],
                           capture_output=True, text=True)
        took = time.time() - t0
        print(p.stdout.strip() or p.stderr.strip())
        kept = [l for l in open(os.path.join(tmp, "learned")).read().splitlines()
                if not l.startswith("#")] if p.returncode == 0 else []
        print(f"{args.domains} domains in {took:.1f} s ({args.domains / took:,.0f} domains/s, "
              f"concurrency {args.concurrency}); fingerprints kept: {len(kept)}")
    finally:
        dnsmasq.terminate()
        dnsmasq.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
