"""Batch verification over HTTP (SPEC §6) against the real server: every route,
status and message; CSV, TSV, TXT and XLSX (written by openpyxl and by
libxlsxwriter) round trips; malformed files; limits and quotas; restarts
in the middle of a task (SIGTERM and kill -9)."""
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile

import openpyxl
import pytest
import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
from dnsfix import ZONE, DnsFixture  # noqa: E402
from ucserver import BIN, SNAP, Server  # noqa: E402

BATCH = "/v1/external-api-requests/batch-check-emails"
NOT_FOUND = "Task does not exist or has not started"
QUOTA = "Storage quota exceeded, please delete old projects."
EXTRA = ["category", "domain_type", "mx_record", "did_you_mean"]


def upload(server, name, data, key=None, project="newsletter", dedupe=None, extra=None):
    fields = {} if project is None else {"project_name": project}
    if dedupe is not None:
        fields["deduplicate"] = dedupe
    fields.update(extra or {})
    files = {"file": (name, data)} if name is not None else None
    return requests.post(server.url + BATCH, headers={"Authorization": f"Bearer {key or server.key}"},
                         data=fields, files=files, timeout=30)


def get(server, path="", key=None, method="GET"):
    return requests.request(method, server.url + BATCH + path,
                            headers={"Authorization": f"Bearer {key or server.key}"}, timeout=30)


def started(server, *args, **kw):
    r = upload(server, *args, **kw)
    assert r.status_code == 200, (r.text, server.stderr())
    body = r.json()
    assert body["status"] == "processing"
    assert body["message"] == "File upload successful. Processing started."
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                        body["task_id"])
    return body["task_id"]


def wait(server, task, key=None, timeout=60, until=("completed", "failed")):
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = get(server, "/" + task, key)
        assert r.status_code == 200, r.text
        if r.json()["status"] in until:
            return r.json()
        time.sleep(0.05)
    raise AssertionError(f"task {task} still {r.json()}")


def clean(server, name, data, **kw):
    """Upload, wait for completion, download: (status, result bytes)."""
    key = kw.get("key")
    task = started(server, name, data, **kw)
    st = wait(server, task, key)
    assert st["status"] == "completed", st
    r = get(server, f"/{task}/download", key)
    assert r.status_code == 200, r.text
    return st, r.content


# ---- formats ----

def test_csv_with_quotes_newlines_bom_and_semicolons_round_trips(server):
    data = ('\ufeffName;E-Mail;Note\r\n'
            '"Smith; Jo";jo@gmail.com;"two\r\nlines"\r\n'
            'Al;al@mailinator.com;"say ""hi"""\r\n'
            '\r\n'
            'Di;not-an-address;x\r\n'
            'Ed;ed@gmial.com;\r\n').encode()
    st, out = clean(server, "users.csv", data)
    assert out.decode() == (
        '\ufeffName;E-Mail;Note;category;domain_type;mx_record;did_you_mean\r\n'
        '"Smith; Jo";jo@gmail.com;"two\r\nlines";white;legitimate;unknown;\r\n'
        'Al;al@mailinator.com;"say ""hi""";black;disposable;unknown;\r\n'
        ';;;;blank;;\r\n'
        'Di;not-an-address;x;black;invalid;unknown;\r\n'
        'Ed;ed@gmial.com;;black;disposable;unknown;ed@gmail.com\r\n')
    assert st["rows_total"] == 5 and st["rows_done"] == 5
    assert st["counts"]["white"] == 1 and st["counts"]["black"] == 3
    assert st["counts"]["blank"] == 1 and st["counts"]["invalid"] == 1
    assert st["counts"]["types"] == {"legitimate": 1, "disposable": 2, "invalid": 1}
    assert st["project_name"] == "newsletter" and st["file_name"] == "users.csv"
    assert st["failure_reason"] is None and st["finished_at"] and st["created_at"]


def test_dedupe_keeps_the_last_occurrence_case_insensitively(server):
    data = b"email,n\nA@Gmail.com,1\nb@gmail.com,2\na@gmail.COM,3\n,4\n,5\nb@gmail.com,6\n"
    st, out = clean(server, "d.csv", data)
    rows = [line.split(",")[:2] for line in out.decode().splitlines()]
    assert rows == [["email", "n"], ["a@gmail.COM", "3"], ["", "4"], ["", "5"], ["b@gmail.com", "6"]]
    assert st["counts"]["duplicates"] == 2 and st["counts"]["blank"] == 2  # blanks never deduped
    _, kept = clean(server, "d.csv", data, dedupe="false")
    assert [x.split(",")[1] for x in kept.decode().splitlines()[1:]] == ["1", "2", "3", "4", "5", "6"]


def test_txt_becomes_csv_with_a_header_and_blank_lines_are_marked(server):
    st, out = clean(server, "list.txt", b"a@gmail.com\n\nb@mailinator.com\r\n  \nnope\n")
    assert out.decode().splitlines() == [
        "email," + ",".join(EXTRA), "a@gmail.com,white,legitimate,unknown,", ",,blank,,",
        "b@mailinator.com,black,disposable,unknown,", "  ,,blank,,", "nope,black,invalid,unknown,"]
    assert st["counts"]["blank"] == 2 and st["counts"]["invalid"] == 1


def test_tsv_stays_tsv_and_the_column_is_found_by_its_at_signs(server):
    data = b"id\tcontact\tcity\n1\ta@gmail.com\tParis\n2\tx@mailinator.com\tRome\n"
    st, out = clean(server, "t.tsv", data)
    assert out.decode().splitlines() == [
        "id\tcontact\tcity\t" + "\t".join(EXTRA), "1\ta@gmail.com\tParis\twhite\tlegitimate\tunknown\t",
        "2\tx@mailinator.com\tRome\tblack\tdisposable\tunknown\t"]


def test_csv_without_a_header(server):
    st, out = clean(server, "n.csv", b"Jo,jo@gmail.com\nAl,al@mailinator.com\n")
    assert out.decode().splitlines() == ["Jo,jo@gmail.com,white,legitimate,unknown,",
                                         "Al,al@mailinator.com,black,disposable,unknown,"]


def openpyxl_fixture():
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Members"
    ws.append(["id", "Email Address", "score", "vip"])
    ws.append([1, "jo@gmail.com", 3.5, True])
    ws.append([2, "al@mailinator.com", -2, False])
    ws.append([3, None, "no address", None])
    ws["B6"] = "ed@gmial.com"  # row 5 left out: a blank row
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def rows_of(xlsx):
    return [list(r) for r in openpyxl.load_workbook(io.BytesIO(xlsx)).active.iter_rows(values_only=True)]


def test_xlsx_written_by_openpyxl(server):
    st, out = clean(server, "members.xlsx", openpyxl_fixture())
    assert rows_of(out) == [
        ["id", "Email Address", "score", "vip"] + EXTRA,
        [1, "jo@gmail.com", 3.5, True, "white", "legitimate", "unknown", None],
        [2, "al@mailinator.com", -2, False, "black", "disposable", "unknown", None],
        [3, None, "no address", None, None, "blank", None, None],
        [None, None, None, None, None, "blank", None, None],
        [None, "ed@gmial.com", None, None, "black", "disposable", "unknown", "ed@gmail.com"]]
    assert st["rows_total"] == 5 and st["counts"]["blank"] == 2


def test_xlsx_written_by_libxlsxwriter(server, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("name,email\nJo,jo@gmail.com\nAl,al@mailinator.com\n")
    made = tmp_path / "made.xlsx"
    p = subprocess.run([BIN, "clean", str(src), "--format", "xlsx", "-o", str(made), "--lists", SNAP],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert b"inlineStr" in zipfile.ZipFile(made).read("xl/worksheets/sheet1.xml")  # inline strings
    st, out = clean(server, "made.xlsx", made.read_bytes(), dedupe="no")
    assert rows_of(out) == [["name", "email"] + EXTRA + EXTRA,
                            ["Jo", "jo@gmail.com", "white", "legitimate", "unknown", None] +
                            ["white", "legitimate", "unknown", None],
                            ["Al", "al@mailinator.com", "black", "disposable", "unknown", None] +
                            ["black", "disposable", "unknown", None]]


# ---- files that cannot be read: a failed task with a reason ----

def broken_xml():
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(openpyxl_fixture())) as src, \
            zipfile.ZipFile(buf, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data[:len(data) // 2]
            dst.writestr(item, data)
    return buf.getvalue()


MALFORMED = [
    ("cut.xlsx", lambda: openpyxl_fixture()[:900], r"not a valid XLSX file"),
    ("broken.xlsx", broken_xml, r"xl/worksheets/sheet1.xml: line \d+: .*damaged"),
    ("latin1.csv", lambda: "email\nj\xf6rg@example.com\n".encode("latin-1"), r"row 2, column 1 is not valid UTF-8"),
    ("long.csv", lambda: b"email\n" + b"x" * (10 << 20) + b"@example.com\n", r"longer than 1048576 bytes"),
    ("open-quote.csv", lambda: b'email\n"a@b.com\n' + b"y" * (2 << 20), r"is a quote left open"),
    ("nocolumn.csv", lambda: b"name,city\nJo,Paris\nAl,Rome\n", r"no column holds email addresses"),
    ("empty.txt", lambda: b"", r"the file has no rows"),
    ("zip.xlsx", lambda: b"PK\x03\x04" + b"\0" * 100, r"not a valid XLSX file"),
]


@pytest.mark.parametrize("name,make,reason", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_files_fail_with_a_reason(server, name, make, reason):
    task = started(server, name, make())
    st = wait(server, task)
    assert st["status"] == "failed", st
    assert re.search(reason, st["failure_reason"]), st["failure_reason"]
    r = get(server, f"/{task}/download")
    assert r.status_code == 404 and r.json()["detail"] == "Task failed: " + st["failure_reason"]
    assert server.proc.poll() is None


# ---- routes, statuses and messages ----

def test_errors_of_the_upload(server):
    r = requests.post(server.url + BATCH, files={"file": ("a.csv", b"x@y.com")},
                      data={"project_name": "p"}, timeout=10)
    assert r.status_code == 401 and r.json() == {"detail": "No auth provided"}
    r = upload(server, "a.csv", b"a@b.com", key="ucl_live_nope")
    assert r.status_code == 401 and r.json() == {"detail": "Invalid API key."}
    for name in ("a.pdf", "a", "a.csv.exe", ""):
        r = upload(server, name, b"a@b.com")
        assert r.status_code == 400 and r.json() == {"detail": "Invalid file extension."}, name
    r = upload(server, None, None)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "file"] and r.json()["detail"][0]["type"] == "missing"
    r = upload(server, "a.csv", b"a@b.com", project=None)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "project_name"]
    r = upload(server, "a.csv", b"a@b.com", project="")
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "string_too_short"
    r = upload(server, "a.csv", b"a@b.com", project="é" * 51)
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "string_too_long"
    assert upload(server, "a.csv", b"a@b.com", project="é" * 50).status_code == 200
    r = upload(server, "a.csv", b"a@b.com", dedupe="maybe")
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "bool_parsing"
    r = requests.post(server.url + BATCH, headers={"Authorization": f"Bearer {server.key}"},
                      json={"file": "a.csv"}, timeout=10)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "file"]
    cut = (b'--XX\r\nContent-Disposition: form-data; name="project_name"\r\n\r\np\r\n'
           b'--XX\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n'
           b'email\na@gmail.com\n')  # no closing boundary: the file may be cut short
    r = requests.post(server.url + BATCH, data=cut, timeout=10,
                      headers={"Authorization": f"Bearer {server.key}",
                               "Content-Type": "multipart/form-data; boundary=XX"})
    assert r.status_code == 400 and r.json() == {"detail": "Malformed multipart/form-data body."}
    r = requests.put(server.url + BATCH, headers={"Authorization": f"Bearer {server.key}"}, timeout=10)
    assert r.status_code == 405 and "POST" in r.headers["Allow"]
    assert parts_left(server) == []  # nothing refused is kept


def parts_left(server):
    """The part files left in batch_dir/tmp, once the requests have completed: a refused
    upload's part goes when its request completes, just after its answer was sent (under ASan
    that can be after the client has read the answer)."""
    tmp = os.path.join(server.batch_dir, "tmp")
    deadline = time.time() + 5
    while os.listdir(tmp) and time.time() < deadline:
        time.sleep(0.02)
    return os.listdir(tmp)


def test_errors_of_the_task_routes(server):
    other = server.cli("accounts", "create", "other")
    assert other.returncode == 0
    other_key = server.create_key(account="other", name="o")
    task = started(server, "a.csv", b"email\na@gmail.com\n")
    wait(server, task)
    for path in ("/" + "0" * 36, "/not-a-task", "/" + task.upper(), f"/{'0' * 36}/download"):
        r = get(server, path)
        assert r.status_code == 404 and r.json() == {"detail": NOT_FOUND}, path
    for path in (f"/{task}", f"/{task}/download"):  # another account's task is not there
        r = get(server, path, other_key)
        assert r.status_code == 404 and r.json() == {"detail": NOT_FOUND}
    assert get(server, f"/{task}", other_key, "DELETE").status_code == 404
    assert get(server, "", other_key).json() == {"tasks": []}
    assert get(server, f"/{task}/extra").status_code == 404
    assert requests.get(server.url + BATCH + "x", timeout=10).status_code == 404
    assert get(server, f"/{task}/download", method="DELETE").status_code == 405
    listed = get(server).json()["tasks"]
    assert [t["task_id"] for t in listed] == [task] and listed[0]["status"] == "completed"


def test_download_is_an_attachment_named_after_the_upload(server):
    task = started(server, "My List.tsv", b"email\na@gmail.com\n")
    wait(server, task)
    r = get(server, f"/{task}/download")
    assert r.headers["Content-Disposition"] == 'attachment; filename="My List_cleaned.tsv"'
    assert r.headers["Content-Type"].startswith("text/tab-separated-values")


def test_upload_limit_is_a_413_and_nothing_is_kept(make_server):
    server = make_server("--batch-upload-limit", "2048")
    r = upload(server, "big.csv", b"email\n" + b"a@gmail.com\n" * 1000)
    assert r.status_code == 413 and r.json() == {"detail": "File too large (limit 2048 bytes)."}
    assert upload(server, "ok.csv", b"email\na@gmail.com\n").status_code == 200
    assert parts_left(server) == []


def test_quota_is_a_413_and_delete_frees_the_storage(make_server):
    # uploads of ~13.6 KB whose results are ~15 KB: the first task keeps ~29 KB, so a
    # second upload fits in 48000 bytes and a third cannot, whether or not the
    # second's result is written yet
    server = make_server("--batch-quota", "48000")
    data = b"email,note\n" + b"".join(b"user%02d@gmail.com,%s\n" % (i, b"n" * 200) for i in range(60))
    first = started(server, "a.csv", data)
    st = wait(server, first)
    assert st["size"] > len(data)  # the upload and its result
    started(server, "b.csv", data)  # still under the quota when it began
    r = upload(server, "c.csv", data)
    assert r.status_code == 413 and r.json() == {"detail": QUOTA}
    task_dir = os.path.join(server.batch_dir, "1", first)
    assert sorted(os.listdir(task_dir)) == ["result.csv", "upload.csv"]
    r = get(server, "/" + first, method="DELETE")
    assert r.status_code == 200 and r.json() == {"task_id": first, "deleted": True}
    assert not os.path.exists(task_dir)
    assert get(server, "/" + first).status_code == 404
    assert upload(server, "c.csv", data).status_code == 200


def test_sandbox_key_classifies_like_a_sandbox_check_and_is_not_billed(server):
    sandbox = server.create_key("sandbox", name="sb")
    st, out = clean(server, "s.csv", b"email\ntest@disposable.com\nsomeone@mailinator.com\nbad\n",
                    key=sandbox)
    assert [x.split(",")[1:3] for x in out.decode().splitlines()[1:]] == [
        ["black", "disposable"], ["white", "unknown"], ["black", "invalid"]]
    r = requests.get(server.url + "/v1/admin/usage", headers={"Authorization": f"Bearer {server.admin_key}"},
                     timeout=10)
    assert r.json()["batch"]["total"] == 0


def test_usage_is_counted_as_batch_not_as_checks(server):
    st, _ = clean(server, "u.csv", b"email\na@gmail.com\nb@mailinator.com\nc@mailinator.com\n\n")
    r = requests.get(server.url + "/v1/admin/usage", headers={"Authorization": f"Bearer {server.admin_key}"},
                     timeout=10)
    u = r.json()
    assert u["batch"] == {"white": 1, "grey": 0, "black": 2, "total": 3}
    assert u["total"]["total"] == 0  # no live check was made


def test_the_admin_key_can_use_batch_for_the_dashboard(server):
    st, out = clean(server, "a.csv", b"email\na@gmail.com\n", key=server.admin_key)
    assert st["status"] == "completed"


def test_metrics_count_batch_tasks(server):
    clean(server, "a.csv", b"email\na@gmail.com\n")
    text = requests.get(server.url + "/metrics", timeout=10).text
    assert 'usercleaning_batch_tasks_total{status="completed"} 1' in text


# ---- DNS, and tasks that outlive the server ----

Z = ZONE


@pytest.fixture
def dns(tmp_path):
    d = DnsFixture(tmp_path, [f"mx-host=example.{Z},mail.example.{Z},10",
                              f"host-record=mail.example.{Z},192.0.2.10"])
    yield d
    d.stop()


def test_mx_record_comes_from_dns_when_the_server_has_it(make_server, dns):
    server = make_server("--dns-server", dns.server, "--dns-timeout", "2000")
    st, out = clean(server, "m.csv", f"email\njo@example.{Z}\nx@mailinator.com\n".encode())
    lines = out.decode().splitlines()
    assert lines[1] == f"jo@example.{Z},white,legitimate,mail.example.{Z},"


def stuck_file(n):
    """Each address of the black-hole zone waits for DNS until its deadline."""
    return ("email\n" + "".join(f"u{i}@blackhole.{Z}\n" for i in range(n)) +
            "".join(f"v{i}@gmail.com\n" for i in range(50))).encode()


def test_download_while_processing_then_kill_9_and_the_task_completes_after_restart(
        tmp_path, dns):
    d = tmp_path / "srv"
    d.mkdir()
    server = Server(d, "--dns-server", dns.server, "--dns-timeout", "60000")
    try:
        task = started(server, "slow.csv", stuck_file(3))
        st = wait(server, task, until=("processing",))
        deadline = time.time() + 30
        while st["rows_total"] != 53 and time.time() < deadline:  # counted, now waiting on DNS
            time.sleep(0.05)
            st = get(server, "/" + task).json()
        assert st["status"] == "processing" and st["rows_total"] == 53
        r = get(server, f"/{task}/download")
        assert r.status_code == 404 and r.json() == {"detail": "Task is still processing"}
        keys = (server.admin_key, server.key)
    finally:
        server.stop(signal.SIGKILL)
    again = Server(d, keys=keys)  # DNS off now: the task runs again from its upload
    try:
        st = wait(again, task)
        assert st["status"] == "completed" and st["rows_done"] == 53
        out = get(again, f"/{task}/download").content.decode().splitlines()
        assert len(out) == 54 and out[1].startswith(f"u0@blackhole.{Z},")
        assert "resuming 1 batch task(s)" in again.stderr()
    finally:
        again.stop(signal.SIGKILL)


def test_sigterm_in_the_middle_of_a_task_and_it_completes_after_restart(tmp_path, dns):
    d = tmp_path / "srv"
    d.mkdir()
    server = Server(d, "--dns-server", dns.server, "--dns-timeout", "1500")
    task = started(server, "slow.csv", stuck_file(20))
    st = wait(server, task, until=("processing",))
    keys = (server.admin_key, server.key)
    time.sleep(0.5)
    assert server.stop(signal.SIGTERM, timeout=30) == 0  # stops at the next row
    again = Server(d, keys=keys)
    try:
        st = wait(again, task)
        assert st["status"] == "completed" and st["rows_done"] == 70
    finally:
        again.stop(signal.SIGKILL)
