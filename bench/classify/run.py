#!/usr/bin/env python3
"""bench/classify: `usercleaning check` vs the mailchecker npm package on the
same 1M addresses, in the same run, alternating, each pinned to one core.

Prints both rates (addresses/s, best of N), the ratio, the snapshot load time
(median start-up of `check` on empty input) and peak RSS with all lists.
Usage: bench/classify/run.py [--count N] [--rounds R]"""
import argparse
import os
import random
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, "build", "usercleaning")
SNAP = os.path.join(ROOT, "build", "lists.snap")


def generate(path, count, seed=42):
    """A mix of the kinds a sign-up form sees."""
    rnd = random.Random(seed)
    with open(os.path.join(ROOT, "build", "lists", "mailchecker.txt")) as f:
        disposable = [x.strip() for x in f if x.strip()][:20000]
    free = ["gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com", "aol.com",
            "gmx.de", "web.de", "proton.me", "mail.ru", "yandex.ru", "live.com"]
    relay = ["duck.com", "privaterelay.appleid.com", "mozmail.com", "simplelogin.com"]
    typos = ["gmial.com", "gmai.com", "hotmial.com", "yaho.com", "outlok.com", "gmail.con"]
    words = ["acme", "globex", "initech", "umbrella", "hooli", "vandelay", "stark", "wayne",
             "wonka", "tyrell", "cyberdyne", "soylent", "aperture", "blackmesa", "oscorp"]
    tlds = ["com", "net", "org", "io", "de", "fr", "co.uk", "com.br", "nl", "es"]

    def local():
        first = rnd.choice(["john", "jane", "alex", "maria", "li", "sam", "kim", "noah"])
        return f"{first}.{rnd.choice(words)}{rnd.randint(1, 9999)}"

    with open(path, "w") as out:
        for i in range(count):
            r = rnd.random()
            if r < 0.40:
                addr = f"{local()}@{rnd.choice(free)}"
            elif r < 0.60:
                addr = f"{local()}@{rnd.choice(disposable)}"
            elif r < 0.80:
                addr = f"{local()}@{rnd.choice(words)}{rnd.randint(1, 500)}.{rnd.choice(tlds)}"
            elif r < 0.85:
                addr = f"{local()}@{rnd.choice(relay)}"
            elif r < 0.90:
                addr = f"{local()}+news@{rnd.choice(free)}"
            elif r < 0.95:
                addr = f"{local()}@{rnd.choice(typos)}"
            else:
                addr = rnd.choice(["no-at-sign", "a..b@example.com", "x@", "@x.com",
                                   "sp ace@example.com"])
            out.write(addr + "\n")


def timed(argv, stdin_path):
    with open(stdin_path, "rb") as fin:
        t = time.perf_counter()
        subprocess.run(argv, stdin=fin, stdout=subprocess.DEVNULL, check=True)
        return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    os.makedirs(os.path.join(ROOT, "build", "bench"), exist_ok=True)
    data = os.path.join(ROOT, "build", "bench", f"addresses-{args.count}.txt")
    if not os.path.exists(data):
        generate(data, args.count)
    pin = ["taskset", "-c", "0"]
    json_argv = pin + [BIN, "check", "--lists", SNAP]
    tsv_argv = json_argv + ["--format", "tsv"]
    node_argv = pin + ["node", os.path.join(ROOT, "bench", "classify", "mailchecker.js"), data]
    runs = {"json": [], "tsv": [], "node": []}
    for _ in range(args.rounds):  # alternate so all see the same machine state
        runs["json"].append(timed(json_argv, data))
        runs["tsv"].append(timed(tsv_argv, data))
        runs["node"].append(timed(node_argv, "/dev/null"))
    rate = {k: args.count / min(v) for k, v in runs.items()}
    starts = [timed(json_argv, "/dev/null") for _ in range(15)]
    print(f"addresses                    {args.count} (one core each: taskset -c 0)")
    print(f"mailchecker (node)           {rate['node']:12,.0f} addr/s  isValid() per line, a boolean")
    print(f"usercleaning check --format tsv {rate['tsv']:9,.0f} addr/s  category+type per line"
          f"  = {rate['tsv'] / rate['node']:.2f}x  (goal >= 5x)")
    print(f"usercleaning check (JSON)    {rate['json']:12,.0f} addr/s  the full API body per line"
          f"  = {rate['json'] / rate['node']:.2f}x")
    print(f"snapshot load + start        {statistics.median(starts) * 1000:12.1f} ms"
          "  (median of 15 runs on empty input; goal < 150 ms)")
    # peak RSS of ours alone, in a fresh process tree
    rss = subprocess.run([sys.executable, "-c",
                          "import resource,subprocess,sys\n"
                          f"subprocess.run({json_argv!r}, stdin=open({data!r},'rb'),"
                          " stdout=subprocess.DEVNULL, check=True)\n"
                          "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"],
                         capture_output=True, check=True).stdout
    print(f"usercleaning peak RSS        {int(rss) / 1024:12.1f} MiB (all lists; goal < 64 MiB)")


if __name__ == "__main__":
    main()
