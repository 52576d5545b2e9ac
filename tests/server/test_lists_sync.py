"""Living lists in a running server: a snapshot replaced by `lists update`
is served within a second, with no failed request under load and no signal;
the scheduled update (--lists-update-interval); each source's version, size,
last success and last error in /metrics and /v1/admin/sources."""
import json
import os
import re
import subprocess
import threading
import time

import pytest
import requests

from conftest import BIN, SNAP
from httpfix import HTTPFixture


@pytest.fixture
def http():
    h = HTTPFixture()
    yield h
    h.close()


def manifest(d, url, guard=("gmail.com",)):
    """Absolute paths: the server reads it from its own working directory."""
    (d / "guard.txt").write_text("\n".join(guard) + "\n")
    (d / "sources.ini").write_text(
        f"[guard]\nfile = {d / 'guard.txt'}\nkind = guard\nversion = 1\ndate = 2026-01-01\n\n"
        f"[living]\nurl = {url}\nkind = disposable\n")
    return d / "sources.ini"


def admin(s, path):
    return requests.get(s.url + "/v1/admin" + path, headers={"Authorization": f"Bearer {s.admin_key}"},
                        timeout=10)


def wait_for(pred, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    return pred()


def kind_of(s, email):
    return s.check(email).json()["type"]


def test_a_snapshot_replaced_under_load_is_served_without_a_failed_request(make_server, tmp_path,
                                                                           http):
    lists = tmp_path / "lists.snap"
    lists.write_bytes(open(SNAP, "rb").read())
    s = make_server(lists=str(lists))
    src = manifest(tmp_path, http.url("/list.txt"))
    http.route("/list.txt", "fresh-temp-domain.net\nanother-temp.net\n")
    assert kind_of(s, "a@fresh-temp-domain.net") == "legitimate"
    stop, failures, count = threading.Event(), [], [0]

    def load():
        sess = requests.Session()
        while not stop.is_set():
            try:
                r = sess.post(s.url + "/v1/email/check", json={"email": "x@fresh-temp-domain.net"},
                              headers={"X-API-Key": s.key}, timeout=10)
                if r.status_code != 200 or r.json()["type"] not in ("legitimate", "disposable"):
                    failures.append((r.status_code, r.text))
            except requests.RequestException as e:
                failures.append(repr(e))
            count[0] += 1

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.3)
        p = subprocess.run([BIN, "lists", "update", "--sources", str(src), "--lists", str(lists),
                            "--force"], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stdout + p.stderr
        assert wait_for(lambda: kind_of(s, "a@fresh-temp-domain.net") == "disposable")
        time.sleep(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert failures == [] and count[0] > 50
    assert "lists changed on disk: lists " in s.stderr()  # no SIGHUP was sent
    m = requests.get(s.url + "/metrics", timeout=10).text
    assert 'usercleaning_lists_reloads_total{result="ok"} 1' in m
    assert re.search(r'usercleaning_lists_source_entries\{source="living",version="\d{4}\.\d\d\.\d\d-'
                     r'[0-9a-f]{8}"\} 2', m)


def test_a_broken_file_on_disk_is_refused_once(make_server, tmp_path):
    lists = tmp_path / "lists.snap"
    lists.write_bytes(open(SNAP, "rb").read())
    s = make_server(lists=str(lists))
    lists.write_bytes(b"garbage")
    assert wait_for(lambda: "keeping the lists in use" in s.stderr())
    time.sleep(2.5)  # the watcher looks every second: the same broken file is not read again
    assert s.stderr().count("keeping the lists in use") == 1
    assert kind_of(s, "a@mailinator.com") == "disposable"


def test_scheduled_update_and_what_metrics_and_the_admin_api_show(make_server, tmp_path, http):
    lists = tmp_path / "lists.snap"
    lists.write_bytes(open(SNAP, "rb").read())
    src = manifest(tmp_path, http.url("/list.txt"))
    http.route("/list.txt", "scheduled-temp.net\ngmail.com\n", etag='"a"')
    s = make_server("--lists-update-interval", "1", "--lists-sources", str(src), lists=str(lists))
    assert wait_for(lambda: kind_of(s, "a@scheduled-temp.net") == "disposable")
    assert kind_of(s, "a@gmail.com") == "legitimate"  # dropped by the guard
    assert wait_for(lambda: http.count("/list.txt") >= 2)  # again a second later ...
    assert http.last_headers("/list.txt").get("If-None-Match") == '"a"'  # ... conditionally
    body = admin(s, "/sources").json()
    (living,) = [x for x in body["sources"] if x["name"] == "living"]
    assert living["url"] == http.url("/list.txt") and living["entries"] == 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", living["last_success"])
    assert living["last_error"] is None and body["domains"] > 0
    assert {x["name"] for x in body["sources"]} == {"guard", "living"}
    # the source breaks: the copy stays, the error shows
    http.route("/list.txt", "down", status=503)
    assert wait_for(lambda: (admin(s, "/sources").json()["sources"][1]["last_error"] or "")
                    .endswith("HTTP 503"))
    assert kind_of(s, "a@scheduled-temp.net") == "disposable"
    m = requests.get(s.url + "/metrics", timeout=10).text
    assert re.search(r'usercleaning_lists_source_last_success_timestamp_seconds\{source="living"\} '
                     r'[1-9]\d+', m)
    assert re.search(r'usercleaning_lists_source_last_error_timestamp_seconds\{source="living"\} '
                     r'[1-9]\d+', m)
    assert re.search(r'usercleaning_lists_source_last_error_info\{source="living",error="fetch '
                     r'failed, the previous copy stays: http://127\.0\.0\.1:\d+/list\.txt: HTTP '
                     r'503"\} 1', m)
    assert re.search(r'usercleaning_lists_updates_total\{result="failed"\} [1-9]', m)
    assert re.search(r'usercleaning_lists_updates_total\{result="ok"\} [1-9]', m)
    assert admin(s, "/sources/living").status_code == 404
    assert requests.post(s.url + "/v1/admin/sources", timeout=10,
                         headers={"Authorization": f"Bearer {s.admin_key}"}).status_code == 405
    assert requests.get(s.url + "/v1/admin/sources", timeout=10,
                        headers={"Authorization": f"Bearer {s.key}"}).status_code in (401, 403)
    assert s.stop() == 0  # the schedule stops with the server


def test_sources_without_a_sync_state(server):
    body = admin(server, "/sources").json()
    assert body["version"] and len(body["sources"]) >= 10
    mc = [x for x in body["sources"] if x["name"] == "mailchecker"][0]
    assert (mc["kind"], mc["version"], mc["url"], mc["last_success"]) == \
        ("disposable", "6.0.21", None, None)
    assert mc["entries"] > 1000 and mc["date"] == "2026-07-18"
