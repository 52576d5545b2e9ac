#!/usr/bin/env python3
"""A/B of `usercleaning clean` between two builds by CPU time (user + system,
from wait4), alternating with `check --format tsv` of the same addresses (the
baseline the issue-12 goal is stated against), on bench/batch's 1M-row list.
Each clean writes a new file (the previous one is removed first, outside the
measured process). CPU is steadier than wall time on a shared machine.
Run it under the bench lock:
  flock /tmp/uc-bench.lock /usr/bin/python3 bench/batch/ab_cpu.py OLD_BINARY NEW_BINARY [ROUNDS]"""
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as batch  # noqa: E402  (bench/batch/run.py: the same list)

SNAP = batch.SNAP


def cpu(argv, stdin=None):
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=stdin)
    _, status, ru = os.wait4(p.pid, 0)
    if status != 0:
        raise SystemExit(f"{argv[0]} {argv[1]} failed")
    return ru.ru_utime + ru.ru_stime


def main():
    old, new = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 7
    with tempfile.TemporaryDirectory() as tmp:
        csv_path, txt_path = batch.make_files(tmp, 1_000_000)
        res = {"check": [], "old": [], "new": []}
        for _ in range(rounds):
            with open(txt_path, "rb") as f:
                res["check"].append(cpu([new, "check", "--lists", SNAP, "--format", "tsv",
                                         "--no-dns"], stdin=f))
            for name, binary in (("old", old), ("new", new)):
                out = os.path.join(tmp, f"{name}.csv")
                if os.path.exists(out):
                    os.unlink(out)
                res[name].append(cpu([binary, "clean", "--lists", SNAP, csv_path, "-o", out,
                                      "--no-dns"]))
        c_min, c_med = min(res["check"]), statistics.median(res["check"])
        for name, v in res.items():
            print(f"{name:6s} CPU s: least {min(v):.3f}, median {statistics.median(v):.3f}; "
                  f"check/{name}: {c_min / min(v):.3f} (least), {c_med / statistics.median(v):.3f}"
                  " (median)")


if __name__ == "__main__":
    main()
