"""`usercleaning lists update` and `lists why` against list files served by a
local HTTP server (tests/support/httpfix.py): conditional requests, the
poisoning guard, refusals, timeouts, size caps, provenance dates."""
import json
import os
import subprocess

import pytest

from httpfix import HTTPFixture, today

N = 200  # entries of the living list


def domains(n, start=0):
    return [f"temp{i}-mailbox.net" for i in range(start, start + n)]


@pytest.fixture
def http():
    h = HTTPFixture()
    yield h
    h.close()


@pytest.fixture
def lists(tmp_path, http, binary):
    """A manifest with a guard, a free list, and a living disposable source
    (offline file dated 2026-01-01 + a url on the fixture); its snapshot is
    first built offline, as `make` does."""
    (tmp_path / "guard.txt").write_text("gmail.com\noutlook.com\n")
    (tmp_path / "free.txt").write_text("gmx.net\nyahoo.com\n")
    (tmp_path / "living.txt").write_text("\n".join(domains(N)) + "\n")
    url = http.url("/list.txt")
    (tmp_path / "sources.ini").write_text(
        "[guard]\nfile = guard.txt\nkind = guard\nversion = 1\ndate = 2026-01-01\n\n"
        "[free]\nfile = free.txt\nkind = free\nversion = 1\ndate = 2026-01-01\n\n"
        f"[living]\nfile = living.txt\nurl = {url}\nkind = disposable\nversion = 0\n"
        "date = 2026-01-01\n")
    snap = tmp_path / "lists.snap"
    p = subprocess.run([binary, "lists", "build", "sources.ini", str(snap)], cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return tmp_path


def update(binary, d, *flags):
    p = subprocess.run([binary, "lists", "update", "--sources", "sources.ini", "--lists",
                        str(d / "lists.snap"), "--json", *flags], cwd=d, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode in (0, 3), p.stderr
    rep = json.loads(p.stdout)
    return p.returncode, rep, {s["name"]: s for s in rep["sources"]}


def check(binary, d, *emails):
    p = subprocess.run([binary, "check", "--lists", str(d / "lists.snap"), *emails],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return [json.loads(x) for x in p.stdout.splitlines()]


def version(binary, d):
    p = subprocess.run([binary, "lists", "info", str(d / "lists.snap")], capture_output=True,
                       text=True, timeout=60)
    return p.stdout.splitlines()[0].split()[1]


def dmy(day):
    return day.strftime("%d.%m.%Y")


def test_update_adds_new_entries_dated_today_and_keeps_old_dates(binary, lists, http):
    http.route("/list.txt", "\n".join(domains(N + 5)) + "\n", etag='"v1"')
    rc, rep, src = update(binary, lists)
    assert rc == 0 and rep["rebuilt"] and not rep["problems"]
    s = src["living"]
    assert (s["outcome"], s["entries"], s["previous"], s["added"], s["removed"]) == \
        ("updated", N + 5, N, 5, 0)
    assert src["guard"]["outcome"] == "offline" and src["guard"]["url"] is False
    old, new = check(binary, lists, "a@temp0-mailbox.net", f"a@temp{N + 2}-mailbox.net")
    assert (old["type"], new["type"]) == ("disposable", "disposable")
    # date_added: the day the entry first appeared in our lists, kept across updates
    assert old["date_added"] == "01.01.2026" and old["details"]["date_added"] == "2026-01-01"
    assert new["date_added"] == dmy(today()) and new["details"]["date_added"] == today().isoformat()
    assert new["details"]["matched"]["list"] == "living"
    assert (lists / "lists.snap.d" / "sources" / "living.txt").read_text().count("\n") == N + 5


def test_not_modified_keeps_everything(binary, lists, http):
    http.route("/list.txt", "\n".join(domains(N + 1)) + "\n", etag='"v1"')
    update(binary, lists)
    before = version(binary, lists)
    rc, rep, src = update(binary, lists)
    assert http.last_headers("/list.txt").get("If-None-Match") == '"v1"'
    assert rc == 0 and src["living"]["outcome"] == "unchanged" and src["living"]["http_status"] == 304
    assert not rep["rebuilt"] and version(binary, lists) == before
    state = json.loads((lists / "lists.snap.d" / "sync.json").read_text())
    (living,) = [s for s in state["sources"] if s["name"] == "living"]
    assert living["etag"] == '"v1"' and living["last_success"] > 0 and living["outcome"] == "unchanged"


def test_guard_domains_free_providers_and_public_suffixes_are_dropped_and_reported(binary, lists,
                                                                                  http):
    poisoned = domains(N) + ["gmail.com", "gmx.net", "co.uk", "GMAIL.COM"]
    http.route("/list.txt", json.dumps(poisoned), content_type="application/json")  # JSON array
    rc, rep, src = update(binary, lists)
    s = src["living"]
    # nothing left to add once they are dropped: the first copy has the file's entries
    assert rc == 0 and (s["outcome"], s["added"], s["removed"]) == ("updated", 0, 0)
    assert s["dropped"] == {"guard list": 2, "free provider": 1, "public suffix": 1}
    assert {(d["entry"], d["reason"]) for d in s["dropped_entries"]} == {
        ("gmail.com", "guard list"), ("gmx.net", "free provider"), ("co.uk", "public suffix")}
    g, x = check(binary, lists, "someone@gmail.com", "someone@gmx.net")
    assert g["category"] == "white" and x["category"] == "white"
    p = subprocess.run([binary, "lists", "why", "gmail.com", "--lists", str(lists / "lists.snap"),
                        "--db", str(lists / "none.db")], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "gmail.com is on the guard list" in p.stdout
    assert "the poisoning guard dropped gmail.com from living's last update (guard list)" in p.stdout


def test_a_list_truncated_to_a_tenth_is_refused_unless_forced(binary, lists, http):
    http.route("/list.txt", "\n".join(domains(N // 10)) + "\n")
    before = version(binary, lists)
    rc, rep, src = update(binary, lists)
    s = src["living"]
    assert rc == 3 and rep["problems"] and s["outcome"] == "refused"
    assert (s["removed"], s["previous"]) == (N - N // 10, N)
    assert "removes 180 of 200 entries (90.0%; the limit is 20%)" in s["message"]
    assert "--force" in s["message"]
    assert not rep["rebuilt"] and version(binary, lists) == before
    (last,) = check(binary, lists, f"a@temp{N - 1}-mailbox.net")  # the previous copy stays
    assert last["type"] == "disposable"
    state = json.loads((lists / "lists.snap.d" / "sync.json").read_text())
    (living,) = [x for x in state["sources"] if x["name"] == "living"]
    assert "refused" in living["last_error"] and living["last_error_at"] > 0
    # a limit of 95% lets it through; so does --force
    rc, rep, src = update(binary, lists, "--lists-max-removed", "95")
    assert rc == 0 and src["living"]["outcome"] == "updated"
    (gone,) = check(binary, lists, f"a@temp{N - 1}-mailbox.net")
    assert gone["type"] == "legitimate"


def test_force_applies_a_refused_update(binary, lists, http):
    http.route("/list.txt", "\n".join(domains(30000)) + "\n")
    rc, rep, src = update(binary, lists)
    assert rc == 3 and src["living"]["outcome"] == "refused"
    assert "adds 29800 entries (the limit is 20000)" in src["living"]["message"]
    rc, rep, src = update(binary, lists, "--force")
    assert rc == 0 and src["living"]["outcome"] == "forced" and rep["rebuilt"]
    assert src["living"]["message"].startswith("forced: ")
    (o,) = check(binary, lists, "a@temp20000-mailbox.net")
    assert o["type"] == "disposable"


def test_a_timeout_keeps_the_previous_copy(binary, lists, http):
    http.route("/list.txt", "\n".join(domains(5)) + "\n", delay=4)
    rc, rep, src = update(binary, lists, "--lists-fetch-timeout", "1")
    s = src["living"]
    assert rc == 3 and s["outcome"] == "failed" and "the previous copy stays" in s["message"]
    assert "imeout" in s["message"] or "timed out" in s["message"]
    (o,) = check(binary, lists, f"a@temp{N - 1}-mailbox.net")
    assert o["type"] == "disposable"


def test_an_oversize_list_is_refused_whole(binary, lists, http):
    http.route("/list.txt", "\n".join(domains(N + 500)) + "\n")
    rc, rep, src = update(binary, lists, "--lists-max-bytes", "4096")
    s = src["living"]
    assert rc == 3 and s["outcome"] == "failed" and "larger than 4096 bytes" in s["message"]
    assert not rep["rebuilt"]
    (o,) = check(binary, lists, f"a@temp{N + 100}-mailbox.net")
    assert o["type"] == "legitimate"


def test_http_errors_and_garbage_keep_the_previous_copy(binary, lists, http):
    http.route("/list.txt", "oops", status=500)
    rc, rep, src = update(binary, lists)
    assert rc == 3 and "HTTP 500" in src["living"]["message"]
    http.route("/list.txt", '["temp1-mailbox.net", ', content_type="application/json")
    rc, rep, src = update(binary, lists)
    assert rc == 3 and "not a list" in src["living"]["message"]
    (o,) = check(binary, lists, f"a@temp{N - 1}-mailbox.net")
    assert o["type"] == "disposable"


def test_human_report_and_why(binary, lists, http):
    http.route("/list.txt", "\n".join(domains(N) + ["new-one.net", "outlook.com"]) + "\n")
    p = subprocess.run([binary, "lists", "update", "--sources", "sources.ini", "--lists",
                        str(lists / "lists.snap")], cwd=lists, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    assert "living (disposable): updated: 201 entries (was 200: +1 -0)" in p.stdout
    assert "dropped 1 (guard list 1, free provider 0, public suffix 0): outlook.com (guard list)" \
        in p.stdout
    assert "snapshot rebuilt: " in p.stdout
    p = subprocess.run([binary, "lists", "why", "x.new-one.net", "--lists",
                        str(lists / "lists.snap"), "--json", "--db", str(lists / "none.db")],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    w = json.loads(p.stdout)
    assert w["listed"] == [{"entry": "new-one.net", "source": "living", "kind": "disposable",
                            "since": today().isoformat()}]
    assert w["date_added"] == dmy(today()) and (w["category"], w["type"]) == ("black", "disposable")
    p = subprocess.run([binary, "lists", "why", "temp3-mailbox.net", "--lists",
                        str(lists / "lists.snap"), "--db", str(lists / "none.db")],
                       capture_output=True, text=True, timeout=60)
    assert "temp3-mailbox.net" in p.stdout and "living" in p.stdout and "since 2026-01-01" in p.stdout


def test_why_says_when_an_account_list_overrides(binary, lists, tmp_path):
    db = str(tmp_path / "store.db")
    assert subprocess.run([binary, "accounts", "create", "default", "--db", db],
                          capture_output=True, timeout=60).returncode == 0
    p = subprocess.run([binary, "lists", "add", "white", "temp7-mailbox.net", "--db", db],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    p = subprocess.run([binary, "lists", "why", "a.temp7-mailbox.net", "--lists",
                        str(lists / "lists.snap"), "--db", db], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    assert "account default: its white list entry temp7-mailbox.net overrides the lists: " \
        "white / white" in p.stdout
    p = subprocess.run([binary, "lists", "why", "not a domain", "--lists", str(lists / "lists.snap")],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "is not a domain" in p.stderr


def test_a_url_source_without_a_file_waits_for_its_first_copy(binary, tmp_path, http):
    url = http.route("/only.json", json.dumps(domains(3)), content_type="application/json")
    (tmp_path / "m.ini").write_text(f"[only]\nurl = {url}\nkind = disposable\n")
    p = subprocess.run([binary, "lists", "build", "m.ini", "out.snap"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "no copy yet" in p.stdout, p.stderr
    p = subprocess.run([binary, "lists", "update", "--sources", "m.ini", "--lists", "out.snap",
                        "--json"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    rep = json.loads(p.stdout)
    (s,) = rep["sources"]
    assert p.returncode == 0 and s["outcome"] == "updated" and s["entries"] == 3
    assert s["message"].startswith("first copy")
    assert os.path.exists(tmp_path / "out.snap.d" / "history" / "only.txt")


def test_bad_manifests_are_clear_errors(binary, tmp_path):
    (tmp_path / "m.ini").write_text("[x/y]\nurl = http://127.0.0.1:1/\nkind = disposable\n")
    p = subprocess.run([binary, "lists", "update", "--sources", "m.ini", "--lists", "o.snap"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "a source name is letters, digits" in p.stderr
    (tmp_path / "m.ini").write_text("[x]\nurl = ftp://example.net/list\nkind = disposable\n")
    p = subprocess.run([binary, "lists", "update", "--sources", "m.ini", "--lists", "o.snap"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "url = ftp://example.net/list: unknown key or bad value" in p.stderr
    p = subprocess.run([binary, "lists", "update", "--frobnicate"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 2 and "usage: usercleaning lists update" in p.stderr
