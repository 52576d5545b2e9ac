"""GET /openapi.json is kept true: every operation it documents is called on
the real server, every documented status is produced, and every real answer
is validated against the documented schema (Debian's python3-jsonschema,
Draft 2020-12 as OpenAPI 3.1 uses). Every route the server's routing tables
name is documented, and the served document is docs/openapi.json."""
import json
import os
import re
import socket
import sys
import time

import jsonschema
import pytest
import requests

from conftest import ROOT

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
from dnsfix import ZONE, DnsFixture  # noqa: E402
from redisfix import RedisFixture  # noqa: E402

DOC_PATH = os.path.join(ROOT, "docs", "openapi.json")
DOC = json.load(open(DOC_PATH))
RESOLVER = jsonschema.RefResolver.from_schema(DOC)
FORMATS = jsonschema.Draft202012Validator.FORMAT_CHECKER
METHODS = ("get", "post", "put", "patch", "delete")


def documented():
    return {(path, m) for path, item in DOC["paths"].items() for m in item if m in METHODS}


class Api:
    """Calls the server and checks each answer against the document."""

    def __init__(self, server):
        self.s = server
        self.seen = set()  # (path template, method, status)

    def call(self, method, template, path=None, key="admin", expect=None, **kw):
        headers = kw.pop("headers", {})
        if key == "admin":
            headers["Authorization"] = f"Bearer {self.s.admin_key}"
        elif key:
            headers["Authorization"] = f"Bearer {key}"
        r = requests.request(method, self.s.url + (path or template), headers=headers, timeout=15,
                             allow_redirects=False, **kw)
        item = DOC["paths"][template]
        status = str(r.status_code)
        if expect is not None:
            assert r.status_code == expect, f"{method} {template}: {r.status_code} {r.text}"
        # a 405 answers a method the path does not have: each of its operations documents it
        ops = [m for m in item if m in METHODS] if status == "405" else [method.lower()]
        for m in ops:
            op = item[m]
            assert status in op["responses"], f"{m} {template}: {status} is not documented: {r.text}"
            self.validate(op["responses"][status], r, f"{method} {template} {status}")
            self.seen.add((template, m, status))
        return r

    @staticmethod
    def validate(doc_resp, r, where):
        content = doc_resp.get("content")
        if not content:
            assert not r.content, f"{where}: documented without a body"
            return
        ctype = r.headers.get("Content-Type", "").split(";")[0]
        if r.status_code == 431 and not ctype:  # libmicrohttpd's own answer names no type
            assert r.content.startswith(b"<html>"), where
            ctype = "text/html"
        assert ctype in content, f"{where}: {ctype} is not documented ({list(content)})"
        for name, h in doc_resp.get("headers", {}).items():
            assert name in r.headers, f"{where}: header {name} missing"
        if ctype != "application/json" or r.request.method == "HEAD":
            return
        body = r.json()
        v = jsonschema.Draft202012Validator(content[ctype]["schema"], resolver=RESOLVER,
                                            format_checker=FORMATS)
        errors = sorted(v.iter_errors(body), key=lambda e: list(e.path))
        assert not errors, f"{where}: " + "; ".join(
            f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:5])


@pytest.fixture
def dns(tmp_path):
    d = DnsFixture(tmp_path, [f"mx-host=example.{ZONE},mail.example.{ZONE},10",
                              f"host-record=mail.example.{ZONE},192.0.2.10"], ttl=60)
    yield d
    d.stop()


def test_the_document_is_openapi_3_1_with_valid_schemas(server):
    assert DOC["openapi"] == "3.1.0"
    for name, schema in DOC["components"]["schemas"].items():
        jsonschema.Draft202012Validator.check_schema(schema)
    for path, item in DOC["paths"].items():
        for method, op in item.items():
            assert op["responses"] and op["summary"] and op["operationId"], (path, method)
            for status in op["responses"]:
                assert re.fullmatch(r"[1-5]\d\d", status), (path, method, status)
    served = requests.get(server.url + "/openapi.json", timeout=10)
    assert served.status_code == 200 and served.json() == DOC
    assert served.headers["Access-Control-Allow-Origin"] == "*"
    assert requests.get(server.url + "/openapi.json", timeout=10,
                        headers={"If-None-Match": served.headers["ETag"]}).status_code == 304


def test_every_route_of_the_server_is_documented():
    http_c = open(os.path.join(ROOT, "src", "server", "http.c")).read()
    routes = re.findall(r'\{"(/[^"]*)", (?:"[A-Z]+"|NULL), [01], ROUTE_', http_c)
    admin_c = open(os.path.join(ROOT, "lib", "admin.c")).read()
    resources = re.findall(r'\{"([a-z]+)", UC_ADMIN_[A-Z]+\}', admin_c)
    assert len(routes) >= 8 and len(resources) >= 8
    paths = set(DOC["paths"])
    for route in routes:
        if route == "/v1/admin":  # a prefix: its resources are checked below
            continue
        assert route in paths or route.rstrip("/") + "/" in paths or route == "/favicon.ico", route
    for res in resources:
        assert any(p == f"/v1/admin/{res}" or p.startswith(f"/v1/admin/{res}/") for p in paths), res


def test_real_answers_match_the_document(make_server, dns, tmp_path):
    s = make_server("--dns-server", dns.server, "--dns-timeout", "300", "--batch-upload-limit", "4096")
    api = Api(s)
    key, adm = s.key, s.admin_key
    j = "/v1/email/check"
    qe = "/v1/external-api-requests/check-email"

    # ---- the check, both shapes, every answer ----
    api.call("POST", j, key=key, json={"email": "someone@mailinator.com", "ip": "203.0.113.7"}, expect=200)
    api.call("POST", j, key=key, json={"email": f"jane@example.{ZONE}"}, expect=200)  # DNS: mx
    api.call("POST", j, key=key, json={"email": "jane@gmial.com", "ip": None}, expect=200)
    api.call("POST", j, key=key, json={"email": "me@duck.com", "ip": "unknown"}, expect=200)
    api.call("POST", j, key=key, json={"email": "jo..hn@example.com"}, expect=422)
    api.call("POST", j, key=key, json={"ip": "1.2.3.4"}, expect=422)
    api.call("POST", j, key=key, data="{nope", expect=400)
    api.call("POST", j, key=None, json={"email": "a@gmail.com"}, expect=401)
    api.call("POST", j, key="ucl_live_wrong", json={"email": "a@gmail.com"}, expect=401)
    api.call("POST", j, key=adm, json={"email": "a@gmail.com"}, expect=403)
    api.call("GET", j, key=key, expect=405)
    api.call("POST", j, key=key, data="x" * 70000, expect=413)
    api.call("POST", j, key=key, headers={"X-Big": "x" * 40000}, expect=431)
    api.call("POST", qe, key=key, params={"email": "john+news@gmail.com", "ip": "203.0.113.8"}, expect=200)
    api.call("POST", qe, key=key, expect=422)
    for _ in range(5):
        api.call("POST", qe, key=key, params={"email": "x@mailinator.com", "ip": "198.51.100.1"})
    api.call("POST", qe, key=key, params={"email": "a@gmail.com", "ip": "198.51.100.1"}, expect=403)
    api.call("POST", j, key=key, json={"email": "a@gmail.com", "ip": "198.51.100.1"}, expect=403)
    api.call("GET", qe, key=key, expect=405)
    api.call("POST", qe, key=key, params={"email": "a@gmail.com"}, data="{nope", expect=200)
    api.call("POST", qe, key=None, params={"email": "a@gmail.com"}, expect=401)
    api.call("POST", qe, key=key, params={"email": "a@gmail.com"}, data="x" * 70000, expect=413)
    api.call("POST", qe, key=key, params={"email": "a@b.com"}, headers={"X-Big": "x" * 40000}, expect=431)

    # a key's rate limit: the second check within the second answers 429 with Retry-After
    api.call("PATCH", "/v1/admin/settings", json={"rate_limit_per_second": 1, "rate_limit_burst": 1},
             expect=200)
    for path, kw in ((j, {"json": {"email": "a@gmail.com"}}), (qe, {"params": {"email": "a@gmail.com"}})):
        codes = [api.call("POST", path, key=key, **kw).status_code for _ in range(3)]
        assert 429 in codes, codes
    api.call("PATCH", "/v1/admin/settings", json={"rate_limit_per_second": 0, "rate_limit_burst": 0},
             expect=200)

    # ---- the admin API ----
    api.call("GET", "/v1/admin/settings", expect=200)
    api.call("PATCH", "/v1/admin/settings", json={"ban_threshold": 6, "colors": {"no website": "grey"}}, expect=200)
    api.call("PATCH", "/v1/admin/settings", json={"ban_threshold": 0}, expect=422)
    api.call("PATCH", "/v1/admin/settings", data="{nope", expect=400)
    api.call("GET", "/v1/admin/settings", key=key, expect=403)
    api.call("GET", "/v1/admin/settings", key=None, expect=401)
    api.call("POST", "/v1/admin/settings", expect=405)
    api.call("GET", "/v1/admin/bans", expect=200)
    api.call("GET", "/v1/admin/bans", "/v1/admin/bans?limit=1&q=198.51.", expect=200)
    api.call("GET", "/v1/admin/bans", "/v1/admin/bans?limit=0", expect=422)
    api.call("POST", "/v1/admin/bans", expect=405)
    api.call("GET", "/v1/admin/bans", key=key, expect=403)
    api.call("GET", "/v1/admin/bans", key=None, expect=401)
    b = "/v1/admin/bans/{ip}"
    api.call("DELETE", b, "/v1/admin/bans/198.51.100.1", expect=200)
    api.call("DELETE", b, "/v1/admin/bans/198.51.100.1", expect=404)
    api.call("DELETE", b, "/v1/admin/bans/not-an-ip", expect=422)
    api.call("GET", b, "/v1/admin/bans/198.51.100.1", expect=405)
    api.call("DELETE", b, "/v1/admin/bans/198.51.100.1", key=key, expect=403)
    api.call("DELETE", b, "/v1/admin/bans/198.51.100.1", key=None, expect=401)
    api.call("DELETE", "/v1/admin/bans", expect=422)  # the whole collection: all=true confirms
    api.call("DELETE", "/v1/admin/bans", "/v1/admin/bans?all=true", expect=200)
    api.call("DELETE", "/v1/admin/bans", key=key, expect=403)
    api.call("DELETE", "/v1/admin/bans", key=None, expect=401)
    lc, ld = "/v1/admin/lists/{color}", "/v1/admin/lists/{color}/{domain}"
    api.call("PUT", ld, "/v1/admin/lists/black/spam-domain.com", expect=201)
    api.call("PUT", ld, "/v1/admin/lists/black/spam-domain.com", expect=200)
    api.call("PUT", ld, "/v1/admin/lists/black/spam.example", expect=422)
    api.call("PUT", ld, "/v1/admin/lists/blue/x.com", expect=404)
    api.call("GET", ld, "/v1/admin/lists/black/x.com", expect=405)
    api.call("PUT", ld, "/v1/admin/lists/black/x.com", key=key, expect=403)
    api.call("PUT", ld, "/v1/admin/lists/black/x.com", key=None, expect=401)
    api.call("DELETE", ld, "/v1/admin/lists/black/spam-domain.com", expect=200)
    api.call("DELETE", ld, "/v1/admin/lists/black/spam-domain.com", expect=404)
    api.call("DELETE", ld, "/v1/admin/lists/black/bad..domain", expect=422)
    api.call("DELETE", ld, "/v1/admin/lists/black/x.com", key=key, expect=403)
    api.call("DELETE", ld, "/v1/admin/lists/black/x.com", key=None, expect=401)
    api.call("GET", lc, "/v1/admin/lists/grey", expect=200)
    api.call("GET", lc, "/v1/admin/lists/blue", expect=404)
    api.call("POST", lc, "/v1/admin/lists/grey", expect=405)
    api.call("GET", lc, "/v1/admin/lists/grey", key=key, expect=403)
    api.call("GET", lc, "/v1/admin/lists/grey", key=None, expect=401)
    api.call("PUT", lc, "/v1/admin/lists/white?all=true", json={"domains": ["partner.com", "bücher.de"]},
             expect=200)
    api.call("PUT", lc, "/v1/admin/lists/white", json={"domains": []}, expect=422)  # no all=true
    api.call("PUT", lc, "/v1/admin/lists/white?all=true", json={"domains": ["co.uk"]}, expect=422)
    api.call("PUT", lc, "/v1/admin/lists/white?all=true", data="{nope", expect=400)
    api.call("PUT", lc, "/v1/admin/lists/blue?all=true", json={"domains": []}, expect=404)
    api.call("PUT", lc, "/v1/admin/lists/white", key=key, json={"domains": []}, expect=403)
    api.call("PUT", lc, "/v1/admin/lists/white", key=None, json={"domains": []}, expect=401)
    api.call("GET", "/v1/admin/keys", expect=200)
    made = api.call("POST", "/v1/admin/keys", json={"name": "shop", "type": "active"}, expect=201).json()
    api.call("POST", "/v1/admin/keys", json={"name": "", "type": "active"}, expect=422)
    api.call("POST", "/v1/admin/keys", data="{nope", expect=400)
    api.call("PUT", "/v1/admin/keys", expect=405)
    api.call("GET", "/v1/admin/keys", key=key, expect=403)
    api.call("GET", "/v1/admin/keys", key=None, expect=401)
    api.call("POST", "/v1/admin/keys", key=key, json={"name": "x"}, expect=403)
    api.call("POST", "/v1/admin/keys", key=None, json={"name": "x"}, expect=401)
    k = "/v1/admin/keys/{id}"
    api.call("PATCH", k, f"/v1/admin/keys/{made['id']}", json={"type": "sandbox"}, expect=200)
    api.call("PATCH", k, f"/v1/admin/keys/{made['id']}", json={"type": "admin"}, expect=422)
    api.call("PATCH", k, f"/v1/admin/keys/{made['id']}", data="{nope", expect=400)
    api.call("PATCH", k, "/v1/admin/keys/999", json={"name": "x"}, expect=404)
    keys = api.call("GET", "/v1/admin/keys").json()["keys"]
    me = [x for x in keys if x["type"] == "admin"][0]
    api.call("PATCH", k, f"/v1/admin/keys/{me['id']}", json={"type": "active"}, expect=409)
    api.call("DELETE", k, f"/v1/admin/keys/{me['id']}", expect=409)
    api.call("DELETE", k, f"/v1/admin/keys/{made['id']}", expect=200)
    api.call("DELETE", k, f"/v1/admin/keys/{made['id']}", expect=404)
    api.call("GET", k, f"/v1/admin/keys/{made['id']}", expect=405)
    api.call("PATCH", k, "/v1/admin/keys/1", key=key, json={}, expect=403)
    api.call("PATCH", k, "/v1/admin/keys/1", key=None, json={}, expect=401)
    api.call("DELETE", k, "/v1/admin/keys/1", key=key, expect=403)
    api.call("DELETE", k, "/v1/admin/keys/1", key=None, expect=401)
    api.call("GET", "/v1/admin/sources", expect=200)
    api.call("GET", "/v1/admin/usage", params={"days": 7}, expect=200)
    api.call("GET", "/v1/admin/usage", params={"days": 0}, expect=422)
    api.call("POST", "/v1/admin/usage", expect=405)
    api.call("GET", "/v1/admin/usage", key=key, expect=403)
    api.call("GET", "/v1/admin/usage", key=None, expect=401)
    api.call("GET", "/v1/admin/audit", params={"limit": 5}, expect=200)
    api.call("GET", "/v1/admin/audit", params={"limit": "x"}, expect=422)
    api.call("DELETE", "/v1/admin/audit", expect=405)
    api.call("GET", "/v1/admin/audit", key=key, expect=403)
    api.call("GET", "/v1/admin/audit", key=None, expect=401)
    api.call("GET", "/v1/admin/activity", expect=200)
    api.call("GET", "/v1/admin/activity", params={"since": 3}, expect=200)
    api.call("GET", "/v1/admin/activity", params={"since": -1}, expect=422)
    api.call("POST", "/v1/admin/activity", expect=405)
    api.call("GET", "/v1/admin/activity", key=key, expect=403)
    api.call("GET", "/v1/admin/activity", key=None, expect=401)
    t = "/v1/admin/try"
    api.call("POST", t, json={"email": f"jane@example.{ZONE}", "ip": "203.0.113.50"}, expect=200)
    api.call("POST", t, json={"email": "nope"}, expect=422)
    api.call("POST", t, data="{nope", expect=400)
    api.call("POST", t, data="x" * 70000, expect=413)
    api.call("GET", t, expect=405)
    api.call("POST", t, key=key, json={"email": "a@b.com"}, expect=403)
    api.call("POST", t, key=None, json={"email": "a@b.com"}, expect=401)

    # ---- batch: upload, list, follow, download, delete, and each refusal ----
    bc = "/v1/external-api-requests/batch-check-emails"
    bt, bd = bc + "/{task_id}", bc + "/{task_id}/download"
    up = lambda name, body, **form: api.call(  # noqa: E731
        "POST", bc, key=key, files={"file": (name, body)}, data={"project_name": "t", **form})
    task = up("list.csv", b"email,name\na@mailinator.com,A\nb@gmail.com,B\n", expect=200).json()
    tid = task["task_id"]
    deadline = time.time() + 60
    while api.call("GET", bt, f"{bc}/{tid}", key=key).json()["status"] == "processing":
        assert time.time() < deadline
        time.sleep(0.1)
    api.call("GET", bc, key=key, expect=200)
    r = api.call("GET", bd, f"{bc}/{tid}/download", key=key, expect=200)
    assert r.text.startswith("email,name,category,domain_type")
    api.call("GET", bd, f"{bc}/{'0' * 8}-0000-0000-0000-{'0' * 12}/download", key=key, expect=404)
    task_dir = os.path.join(api.s.batch_dir, "1", tid)  # its result gone from this batch_dir: 500
    moved = {}
    for name in os.listdir(task_dir):
        if name.startswith("result"):
            moved[name] = open(os.path.join(task_dir, name), "rb").read()
            os.remove(os.path.join(task_dir, name))
    assert moved
    api.call("GET", bd, f"{bc}/{tid}/download", key=key, expect=500)
    for name, body in moved.items():
        open(os.path.join(task_dir, name), "wb").write(body)
    api.call("GET", bt, f"{bc}/nope", key=key, expect=404)
    api.call("DELETE", bt, f"{bc}/{tid}", key=key, expect=200)
    api.call("DELETE", bt, f"{bc}/{tid}", key=key, expect=404)
    up("list.pdf", b"email\na@b.com\n", expect=400)
    up("big.csv", b"email\n" + b"a@gmail.com\n" * 500, expect=413)
    api.call("POST", bc, key=key, files={"file": ("l.csv", b"email\n")}, expect=422)
    api.call("PUT", bc, key=key, expect=405)
    api.call("POST", bt, f"{bc}/{tid}", key=key, expect=405)
    api.call("POST", bd, f"{bc}/{tid}/download", key=key, expect=405)

    # ---- every operation that takes a key refuses none (401), a wrong one (401) and the
    # other kind (403) as documented; every path refuses a method it does not have (405)
    sample = {"{ip}": "203.0.113.1", "{color}": "black", "{domain}": "x.com", "{id}": "1",
              "{task_id}": tid}
    for template, item in DOC["paths"].items():
        path = template
        for name, value in sample.items():
            path = path.replace(name, value)
        for m, op in item.items():
            if op.get("security") == []:
                continue
            api.call(m.upper(), template, path, key=None, json={}, expect=401)
            api.call(m.upper(), template, path, key="ucl_live_x", json={}, expect=401)
            if template.startswith(bc):
                continue  # batch takes check keys and the admin key alike: no 403
            other = adm if template in (j, qe) else key
            api.call(m.upper(), template, path, key=other, json={"email": "a@b.com"}, expect=403)
        missing = [m for m in ("OPTIONS", "PUT", "PATCH", "DELETE", "POST") if m.lower() not in item]
        if "405" in next(iter(item.values()))["responses"]:
            api.call(missing[0], template, path, key="admin", expect=405)

    # ---- no key ----
    for path in ("/healthz", "/metrics", "/openapi.json", "/docs", "/dashboard/"):
        api.call("GET", path, key=None, expect=200)
    api.call("GET", "/", key=None, expect=302)

    # a server that keeps no activity
    off = Api(make_server("--activity-accounts", "0"))
    off.seen = api.seen
    off.call("GET", "/v1/admin/activity", expect=503)
    # the store down (a Redis stopped under a running server): the batch routes say 503
    redis = RedisFixture(tmp_path)
    try:
        on_redis = Api(make_server(store=redis.url))
        on_redis.seen = api.seen
        redis.stop()
        on_redis.call("POST", bc, key=on_redis.s.key, files={"file": ("a.csv", b"email\na@b.com\n")},
                      data={"project_name": "t"}, expect=503)
        on_redis.call("GET", bc, key=on_redis.s.key, expect=503)
        for path in (bt, bd):
            on_redis.call("GET", path, path.replace("{task_id}", tid), key=on_redis.s.key, expect=503)
        on_redis.call("DELETE", bt, bt.replace("{task_id}", tid), key=on_redis.s.key, expect=503)
    finally:
        redis.stop()

    # every documented operation and status was produced
    ops = {(p, m) for p, m, _ in api.seen}
    assert documented() - ops == set()
    statuses = {(p, m, st) for p, item in DOC["paths"].items() for m, op in item.items()
                for st in op["responses"]}
    assert statuses - api.seen == set()


def test_an_undocumented_field_is_caught(server):
    """The validation is strict: a member the document does not name fails it."""
    op = DOC["paths"]["/v1/email/check"]["post"]["responses"]["200"]
    schema = op["content"]["application/json"]["schema"]
    body = requests.post(server.url + "/v1/email/check", timeout=10, json={"email": "a@gmail.com"},
                         headers={"Authorization": f"Bearer {server.key}"}).json()
    v = jsonschema.Draft202012Validator(schema, resolver=RESOLVER)
    assert not list(v.iter_errors(body))
    body["details"]["surprise"] = 1
    assert list(v.iter_errors(body))
    del body["details"]["surprise"]
    del body["mx_record"]
    assert list(v.iter_errors(body))


def test_docs_page_and_home(server):
    r = requests.get(server.url + "/docs", timeout=10)
    assert r.status_code == 200 and "text/html" in r.headers["Content-Type"]
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    assert "/dashboard/docs.js" in r.text and "<script>" not in r.text
    r = requests.get(server.url + "/", timeout=10, allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"] == "/dashboard/"
    r = requests.get(server.url + "/favicon.ico", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/svg+xml"
    assert r.content.startswith(b"<svg")
    assert requests.get(server.url + "/nothing-here", timeout=10).status_code == 404
