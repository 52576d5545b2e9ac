"""DNS-backed detection through the API and `check --dns`, against a real
dnsmasq on loopback (tests/support/dnsfix.py): mx_record, "no website",
"masked legitimate" by MX host and by MX address, relay MX, shared hosting,
CNAME'd MX hosts, IDN, TTL expiry, SERVFAIL, and a zone that never answers."""
import concurrent.futures
import json
import signal
import os
import subprocess
import sys
import time

import pytest
import requests

from conftest import BIN, SNAP, Server

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
from dnsfix import ZONE, DnsFixture, RcodeServer  # noqa: E402

Z = ZONE
RECORDS = [
    # a normal mail domain: two MX hosts, the lower preference first
    f"mx-host=example.{Z},mail.example.{Z},10", f"mx-host=example.{Z},mail2.example.{Z},5",
    f"host-record=mail.example.{Z},192.0.2.10", f"host-record=mail2.example.{Z},192.0.2.11",
    f"host-record=aonly.{Z},192.0.2.5",                        # implicit MX (RFC 5321 5.1)
    f'txt-record=nothing.{Z},"v=spf1 -all"',                   # exists: no MX, no address
    f"dns-rr=nullmx.{Z},15,000000",                            # MX 0 . (RFC 7505)
    # rotating temp-mail domains on one provider's MX host and address
    f"mx-host=fresh1.{Z},mx.tempfarm.{Z},10", f"host-record=mx.tempfarm.{Z},203.0.113.77",
    f"mx-host=fresh2.{Z},in.other.{Z},10", f"host-record=in.other.{Z},203.0.113.77",
    # a CNAME'd MX host whose address is the fingerprint
    f"mx-host=fresh3.{Z},alias.{Z},10", f"cname=alias.{Z},real.{Z}",
    f"host-record=real.{Z},203.0.113.77",
    # shared hosting that disposable and real domains both use: never a fingerprint
    f"mx-host=company.{Z},mx.sharedhost.{Z},10", f"host-record=mx.sharedhost.{Z},198.51.100.50",
    # a relay service's MX: someone's own domain behind an alias service
    f"mx-host=mine.{Z},mx1.relaysvc.{Z},10",
    # an IDN domain, looked up by its A-label (bücher)
    f"mx-host=xn--bcher-kva.{Z},mx.books.{Z},10",
    # the TTL test's domain
    f"mx-host=moving.{Z},old.moving.{Z},10",
]

CURATED = f"""# test fingerprints
disposable mx tempfarm.{Z}      # the farm's MX host
disposable mx sharedhost.{Z}    # wrongly learned: shared hosting must still win
shared mx sharedhost.{Z}        # shared hosting
relay mx relaysvc.{Z}           # an alias service
"""
LEARNED = "disposable ip 203.0.113.77 57\n"


@pytest.fixture
def dns(tmp_path):
    d = DnsFixture(tmp_path, RECORDS, ttl=60)
    yield d
    d.stop()


@pytest.fixture
def fingerprints(tmp_path):
    curated, learned = tmp_path / "curated.txt", tmp_path / "learned.txt"
    curated.write_text(CURATED)
    learned.write_text(LEARNED)
    return ["--infrastructure-curated", str(curated), "--infrastructure", str(learned)]


@pytest.fixture
def server(make_server, dns, fingerprints):
    return make_server("--dns-server", dns.server, "--dns-timeout", "300", *fingerprints)


def body(server, email):
    r = server.check(email)
    assert r.status_code == 200, r.text
    return r.json()


def metric(server, name):
    for line in requests.get(server.url + "/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def test_mx_record_is_the_primary_host(server):
    b = body(server, f"jane@example.{Z}")
    assert (b["category"], b["type"]) == ("white", "legitimate")
    assert b["mx_record"] == f"mail2.example.{Z}"
    assert b["details"]["mx"] == [{"host": f"mail2.example.{Z}", "preference": 5},
                                  {"host": f"mail.example.{Z}", "preference": 10}]


def test_a_only_domain_is_a_mail_domain(server):
    b = body(server, f"jane@aonly.{Z}")
    assert (b["category"], b["type"], b["mx_record"]) == ("white", "legitimate", "")
    assert b["details"]["mx"] == []


@pytest.mark.parametrize("domain", [f"nothing.{Z}", f"nullmx.{Z}", f"doesnotexist.{Z}"])
def test_no_website(server, domain):
    b = body(server, f"jane@{domain}")
    assert (b["category"], b["type"], b["mx_record"]) == ("black", "no website", "")
    assert b["details"]["signals"]["no_website"] is True


def test_admin_try_waits_for_dns_like_a_check_and_counts_nothing(server):
    """The dashboard's "Try it" (POST /v1/admin/try) goes through the same
    suspended DNS wait as a check, and leaves no attempt behind."""
    r = requests.post(server.url + "/v1/admin/try", timeout=10,
                      headers={"Authorization": f"Bearer {server.admin_key}"},
                      json={"email": f"a@fresh2.{Z}", "ip": "203.0.113.9"})
    assert r.status_code == 200, r.text
    b = r.json()
    assert (b["category"], b["type"], b["mx_record"]) == ("black", "masked legitimate",
                                                          f"in.other.{Z}")
    assert b["remaining_attempts_before_ban"] == 5
    r = server.check(f"a@fresh2.{Z}", ip="203.0.113.9")
    assert r.json()["remaining_attempts_before_ban"] == 4  # the first attempt is the check's


def test_no_website_can_be_grey(server):
    r = requests.patch(server.url + "/v1/admin/settings", timeout=10,
                       headers={"Authorization": f"Bearer {server.admin_key}"},
                       json={"colors": {"no website": "grey"}})
    assert r.status_code == 200
    time.sleep(0.2)
    assert body(server, f"x@doesnotexist.{Z}")["category"] == "grey"


def test_masked_by_mx_host_and_by_mx_address(server):
    by_host = body(server, f"a@fresh1.{Z}")
    assert (by_host["category"], by_host["type"]) == ("black", "masked legitimate")
    assert by_host["details"]["matched"]["entry"] == f"tempfarm.{Z}"
    assert by_host["details"]["signals"]["masked"] is True
    by_addr = body(server, f"a@fresh2.{Z}")
    assert (by_addr["category"], by_addr["type"]) == ("black", "masked legitimate")
    m = by_addr["details"]["matched"]
    assert m["entry"] == "203.0.113.77"
    assert m["evidence"] == "MX address shared by 57 listed disposable domains"
    cnamed = body(server, f"a@fresh3.{Z}")  # the MX host is a CNAME to the farm's address
    assert cnamed["type"] == "masked legitimate" and cnamed["mx_record"] == f"alias.{Z}"


def test_shared_hosting_is_never_a_fingerprint(server):
    b = body(server, f"ceo@company.{Z}")
    assert (b["category"], b["type"]) == ("white", "legitimate")
    assert b["mx_record"] == f"mx.sharedhost.{Z}"


def test_relay_mx_is_multi_alias_not_black(server):
    b = body(server, f"me@mine.{Z}")
    assert (b["category"], b["type"]) == ("grey", "multi-alias services")
    assert b["details"]["matched"]["entry"] == f"relaysvc.{Z}"


def test_idn_domain_is_looked_up_by_its_a_label(server):
    b = body(server, f"leser@bücher.{Z}")
    assert b["domain"] == f"bücher.{Z}" and b["mx_record"] == f"mx.books.{Z}"


def test_servfail_is_unknown_never_no_website(server):
    b = body(server, f"jane@x.servfail.{Z}")
    assert (b["category"], b["type"], b["mx_record"]) == ("white", "legitimate", "unknown")
    assert b["details"]["mx"] is None


def test_a_zone_that_never_answers_costs_one_deadline_not_twenty(server):
    """20 checks of silent domains at once: each waits its 300 ms deadline at
    the same time (no thread waits on DNS), then answers without DNS."""
    emails = [f"u{i}@d{i}.blackhole.{Z}" for i in range(20)]
    start = time.time()
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        bodies = list(pool.map(lambda e: body(server, e), emails))
    elapsed = time.time() - start
    assert all(b["mx_record"] == "unknown" and b["type"] == "legitimate" for b in bodies)
    assert elapsed < 3.0, elapsed  # one after another would be 20 x 0.3 s = 6 s
    assert metric(server, 'usercleaning_dns_lookups_total{result="deadline"}') >= 20


def test_checks_of_known_domains_never_wait(server):
    """Listed domains are decided from the lists: no wait on DNS, even cold."""
    before = metric(server, 'usercleaning_dns_lookups_total{result="waited"}')
    for email in ["a@mailinator.com", "b@gmail.com", "c@duck.com", "d@outlook.com"]:
        server.check(email)
    assert metric(server, 'usercleaning_dns_lookups_total{result="waited"}') == before


def test_identical_lookups_are_coalesced(server):
    before = metric(server, "usercleaning_dns_queries_total")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        bodies = list(pool.map(lambda i: body(server, f"u{i}@example.{Z}"), range(8)))
    assert {b["mx_record"] for b in bodies} == {f"mail2.example.{Z}"}
    assert metric(server, 'usercleaning_dns_lookups_total{result="started"}') == 1
    # one lookup: MX, then A and AAAA of each of the two MX hosts
    assert metric(server, "usercleaning_dns_queries_total") - before == 5


def test_answers_expire_with_their_ttl(make_server, tmp_path, fingerprints):
    d = DnsFixture(tmp_path, RECORDS, ttl=1)
    try:
        s = make_server("--dns-server", d.server, "--dns-ttl-min", "1", "--dns-ttl-max", "1",
                        *fingerprints)
        assert body(s, f"a@moving.{Z}")["mx_record"] == f"old.moving.{Z}"
        d.replace([r for r in RECORDS if "moving" not in r] + [f"mx-host=moving.{Z},new.moving.{Z},10"])
        assert body(s, f"a@moving.{Z}")["mx_record"] == f"old.moving.{Z}"  # cached
        time.sleep(1.3)
        assert body(s, f"a@moving.{Z}")["mx_record"] == f"new.moving.{Z}"
    finally:
        d.stop()


@pytest.mark.parametrize("root_rcode", [3, 0])
def test_a_resolver_that_denies_the_root_is_not_believed(make_server, root_rcode):
    """Some resolvers (sandboxes, filtering networks) say "does not exist"
    for every name. Believed, every unlisted domain would be black "no
    website": every real person refused. The resolver is asked for the root
    zone at start (and every minute): a resolver that denies even the root
    gets its NXDOMAIN answers taken as nothing known, and a warning; one that
    answers the root is believed, even about the first check after start."""
    r = RcodeServer(root_rcode=root_rcode, rcode=3)
    try:
        s = make_server("--dns-server", r.server, "--dns-timeout", "3000")
        b = body(s, f"ceo@company.{Z}")
        denying = root_rcode == 3
        if denying:
            assert (b["category"], b["type"], b["mx_record"]) == ("white", "legitimate", "unknown")
        else:
            assert (b["category"], b["type"], b["mx_record"]) == ("black", "no website", "")
        assert metric(s, "usercleaning_dns_resolver_denying") == (1 if denying else 0)
        assert metric(s, "usercleaning_dns_nxdomain_disbelieved_total") == (1 if denying else 0)
        deadline = time.time() + 10
        while denying and "denies every name" not in s.stderr() and time.time() < deadline:
            time.sleep(0.1)
        assert ("denies every name" in s.stderr()) == denying
        p = subprocess.run([BIN, "check", "--lists", SNAP, "--dns", "--dns-server", r.server,
                            "--dns-timeout", "3000", "--format", "tsv", f"ceo@company.{Z}"],
                           capture_output=True, text=True, timeout=60)
        assert p.stdout.split("\t")[:2] == (["white", "legitimate"] if denying
                                             else ["black", "no website"]), p.stderr
    finally:
        r.stop()


def test_no_dns_means_unknown(make_server):
    s = make_server()  # --no-dns
    b = body(s, f"jane@doesnotexist.{Z}")
    assert (b["type"], b["mx_record"]) == ("legitimate", "unknown")


def test_sandbox_keys_never_look_up(server):
    key = server.create_key("sandbox")
    b = server.check(f"jane@doesnotexist.{Z}", key=key).json()
    assert (b["type"], b["mx_record"]) == ("unknown", "unknown")


def test_check_command_with_dns(dns, fingerprints):
    p = subprocess.run([BIN, "check", "--lists", SNAP, "--dns", "--dns-server", dns.server,
                        *fingerprints, "--format", "tsv", f"a@fresh1.{Z}", f"b@nothing.{Z}",
                        f"c@example.{Z}", f"d@x.servfail.{Z}"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert [line.split("\t")[:2] for line in p.stdout.splitlines()] == [
        ["black", "masked legitimate"], ["black", "no website"], ["white", "legitimate"],
        ["white", "legitimate"]]
    p = subprocess.run([BIN, "check", "--lists", SNAP, "--dns", "--dns-server", dns.server,
                        *fingerprints, f"c@example.{Z}"], capture_output=True, text=True,
                       timeout=60)
    assert json.loads(p.stdout)["mx_record"] == f"mail2.example.{Z}"
    # check is offline by default: no lookup without --dns
    p = subprocess.run([BIN, "check", "--lists", SNAP, f"b@nothing.{Z}"], capture_output=True,
                       text=True, timeout=60)
    assert json.loads(p.stdout)["mx_record"] == "unknown"


def test_bad_dns_server_is_a_clear_error(tmp_path):
    p = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0", "--lists", SNAP, "--db",
                        str(tmp_path / "never.db"), "--dns-server", "not-an-ip",
                        "--no-domain-age"], capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "dns_server 'not-an-ip'" in p.stderr


def test_sigterm_answers_checks_waiting_on_dns_at_once(make_server, dns):
    # Each check would wait for a zone that never answers (longer than the
    # 1 s drain: libmicrohttpd aborted the process here once); SIGTERM makes
    # them answer now from the lists, and the server exits cleanly (never
    # stopping libmicrohttpd with a request suspended).
    s = make_server("--dns-server", dns.server, "--dns-timeout", "30000",
                    "--drain-timeout", "1")
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(s.check, f"u{i}@w{i}.blackhole.{Z}") for i in range(3)]
        deadline = time.time() + 10
        while time.time() < deadline and metric(s, 'usercleaning_dns_lookups_total{result="waited"}') < 3:
            time.sleep(0.05)
        s.proc.send_signal(signal.SIGTERM)
        assert s.proc.wait(timeout=15) == 0  # well before the 30 s deadline
        for f in futures:
            r = f.result(timeout=15)
            assert r.status_code == 200
            assert r.json()["mx_record"] == "unknown"


def test_sighup_reloads_the_fingerprints(make_server, dns, tmp_path):
    learned = tmp_path / "reloaded.learned"
    learned.write_text("# nothing learned yet\n")
    (tmp_path / "none.txt").write_text("")
    s = make_server("--dns-server", dns.server, "--infrastructure", str(learned),
                    "--infrastructure-curated", str(tmp_path / "none.txt"))
    assert body(s, f"a@fresh2.{Z}")["type"] == "legitimate"
    learned.write_text("disposable ip 203.0.113.77 9\n")
    s.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 5
    while time.time() < deadline and "fingerprints loaded" not in s.stderr():
        time.sleep(0.05)
    b = body(s, f"a@fresh2.{Z}")
    assert b["type"] == "masked legitimate"
    assert b["details"]["matched"]["evidence"] == "MX address shared by 9 listed disposable domains"


# Every fixture case, the same through the API and through `check --dns`.
CASES = [
    (f"a@example.{Z}", "white", "legitimate", f"mail2.example.{Z}"),
    (f"a@aonly.{Z}", "white", "legitimate", ""),
    (f"a@nothing.{Z}", "black", "no website", ""),
    (f"a@nullmx.{Z}", "black", "no website", ""),
    (f"a@doesnotexist.{Z}", "black", "no website", ""),
    (f"a@fresh1.{Z}", "black", "masked legitimate", f"mx.tempfarm.{Z}"),
    (f"a@fresh2.{Z}", "black", "masked legitimate", f"in.other.{Z}"),
    (f"a@fresh3.{Z}", "black", "masked legitimate", f"alias.{Z}"),
    (f"a@company.{Z}", "white", "legitimate", f"mx.sharedhost.{Z}"),
    (f"a@mine.{Z}", "grey", "multi-alias services", f"mx1.relaysvc.{Z}"),
    (f"a@bücher.{Z}", "white", "legitimate", f"mx.books.{Z}"),
    (f"a@x.servfail.{Z}", "white", "legitimate", "unknown"),
    (f"a@x.blackhole.{Z}", "white", "legitimate", "unknown"),
]


def test_api_and_check_command_agree(server, dns, fingerprints):
    api = [(e, *(lambda b: (b["category"], b["type"], b["mx_record"]))(body(server, e)))
           for e, *_ in CASES]
    p = subprocess.run([BIN, "check", "--lists", SNAP, "--dns", "--dns-server", dns.server,
                        "--dns-timeout", "300", *fingerprints, *[c[0] for c in CASES]],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    cli = [(b["email"], b["category"], b["type"], b["mx_record"])
           for b in map(json.loads, p.stdout.splitlines())]
    assert api == CASES
    assert cli == CASES
