"""`usercleaning lists learn-infrastructure` end to end against dnsmasq: a few
hundred listed disposable domains on three "farms", free-provider domains on
their own hosts and one host both use; the learned file keeps the farms only,
and a fresh unlisted domain on a farm is then "masked legitimate"."""
import os
import subprocess
import sys

import pytest

from conftest import BIN

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
from dnsfix import ZONE, DnsFixture  # noqa: E402

Z = ZONE


def fixture_lists(tmp):
    disposable, free, records = [], [], []
    for i in range(300):
        d = f"temp{i}.{Z}"
        disposable.append(d)
        farm = ["farm-a", "farm-b", "farm-c"][i % 3]
        records.append(f"mx-host={d},mx.{farm}.{Z},10")
    for farm, ip in [("farm-a", "203.0.113.1"), ("farm-b", "203.0.113.2"), ("farm-c", "203.0.113.3")]:
        records.append(f"host-record=mx.{farm}.{Z},{ip}")
    for i in range(2):  # a host only two disposable domains use: under K = 3
        d = f"rare{i}.{Z}"
        disposable.append(d)
        records.append(f"mx-host={d},mx.rare.{Z},10")
    records.append(f"host-record=mx.rare.{Z},203.0.113.9")
    for i in range(5):  # disposable and free domains on one host: never a fingerprint
        records.append(f"mx-host=mixed{i}.{Z},mx.mixedhost.{Z},10")
        disposable.append(f"mixed{i}.{Z}")
    records.append(f"host-record=mx.mixedhost.{Z},198.51.100.20")
    for i in range(20):
        d = f"freemail{i}.{Z}"
        free.append(d)
        records.append(f"mx-host={d},{'mx.mixedhost' if i == 0 else 'mx.freemail'}.{Z},10")
    records.append(f"host-record=mx.freemail.{Z},198.51.100.21")
    for i in range(4):  # disposable domains on curated shared hosting
        records.append(f"mx-host=onshared{i}.{Z},mx.bigshared.{Z},10")
        disposable.append(f"onshared{i}.{Z}")
    records.append(f"host-record=mx.bigshared.{Z},198.51.100.30")
    for i in range(10):  # listed, but gone: NXDOMAIN
        disposable.append(f"gone{i}.{Z}")
    records.append(f"mx-host=fresh.{Z},mx.farm-b.{Z},10")  # unlisted, on a farm
    (tmp / "disposable.txt").write_text("\n".join(disposable) + "\n")
    (tmp / "free.txt").write_text("\n".join(free) + "\n")
    (tmp / "m.ini").write_text(
        "[fix-disposable]\nfile = disposable.txt\nkind = disposable\nversion = 1\ndate = 2026-01-01\n"
        "[fix-free]\nfile = free.txt\nkind = free\nversion = 1\ndate = 2026-01-01\n")
    snap = tmp / "fix.snap"
    subprocess.run([BIN, "lists", "build", str(tmp / "m.ini"), str(snap), str(tmp)], check=True,
                   capture_output=True, timeout=60)
    (tmp / "curated.txt").write_text(f"shared mx bigshared.{Z}\n")
    return snap, records


@pytest.fixture
def farm(tmp_path):
    snap, records = fixture_lists(tmp_path)
    d = DnsFixture(tmp_path, records)
    yield tmp_path, snap, d
    d.stop()


def test_learns_the_farms_and_nothing_else(farm, make_server):
    tmp, snap, dns = farm
    out = tmp / "learned.txt"
    p = subprocess.run([BIN, "lists", "learn-infrastructure", "--lists", str(snap),
                        "--dns-server", dns.server, "--infrastructure-curated",
                        str(tmp / "curated.txt"), "--out", str(out), "--concurrency", "32"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "resolved 321 disposable and 20 free/guard domains" in p.stdout
    assert "10 NXDOMAIN" in p.stdout
    lines = [line.split() for line in out.read_text().splitlines() if not line.startswith("#")]
    assert sorted(lines) == sorted([
        ["disposable", "mx", f"mx.farm-a.{Z}", "100"], ["disposable", "mx", f"mx.farm-b.{Z}", "100"],
        ["disposable", "mx", f"mx.farm-c.{Z}", "100"], ["disposable", "ip", "203.0.113.1", "100"],
        ["disposable", "ip", "203.0.113.2", "100"], ["disposable", "ip", "203.0.113.3", "100"]])
    # the mixed host and its address; the shared host and its address
    assert "left out: 2 also used by free or guard domains, 2 shared hosting or relays" in p.stdout

    s = make_server("--dns-server", dns.server, "--infrastructure", str(out), "--lists", str(snap))
    b = s.check(f"someone@fresh.{Z}").json()
    assert (b["category"], b["type"]) == ("black", "masked legitimate")
    assert b["details"]["matched"]["evidence"] == "MX host shared by 100 listed disposable domains"
    assert s.check(f"ceo@freemail3.{Z}").json()["type"] == "legitimate"


def test_bad_arguments(farm):
    tmp, snap, dns = farm
    p = subprocess.run([BIN, "lists", "learn-infrastructure", "--min-domains", "0"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "usage" in p.stderr
