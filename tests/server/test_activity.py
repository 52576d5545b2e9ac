"""GET /v1/admin/activity: the account's last 200 checks (domains unless the
account shows whole addresses), a cursor for live refresh, today's most
blocked domains and IPs, nothing from dry runs, other accounts or invalid
input, and a server that keeps none when told so."""
import time

import requests


def admin(server, method, path, key=None, **kw):
    return requests.request(method, server.url + "/v1/admin" + path, timeout=10,
                            headers={"Authorization": f"Bearer {key or server.admin_key}"}, **kw)


def activity(server, since=None, key=None):
    r = admin(server, "GET", "/activity" + (f"?since={since}" if since is not None else ""), key=key)
    assert r.status_code == 200, r.text
    return r.json()


def test_checks_show_newest_first_with_domain_key_and_ip(server):
    sandbox = server.create_key("sandbox", name="tests")
    server.check("jane@gmail.com", ip="203.0.113.1")
    server.check("x@mailinator.com", ip="203.0.113.2")
    server.check("test@disposable.com", key=sandbox)
    assert server.check("jo..hn@example.com").status_code == 422  # not a check: not shown
    admin(server, "POST", "/try", json={"email": "dry@mailinator.com", "ip": "203.0.113.3"})
    a = activity(server)
    assert a["day"] == time.strftime("%Y-%m-%d", time.gmtime()) and a["emails_shown"] is False
    assert a["last_seq"] == 3
    rows = [(c["seq"], c["domain"], c["email"], c["category"], c["type"], c["key"]["name"],
             c["key"]["type"], c["ip"]) for c in a["checks"]]
    assert rows == [
        (3, "disposable.com", None, "black", "disposable", "tests", "sandbox", None),
        (2, "mailinator.com", None, "black", "disposable", "default", "active", "203.0.113.2"),
        (1, "gmail.com", None, "white", "legitimate", "default", "active", "203.0.113.1"),
    ]
    assert all(c["at"].endswith("Z") for c in a["checks"])
    # the sandbox check is shown but blocks nothing
    assert a["top_domains"] == [{"domain": "mailinator.com", "count": 1, "over": 0}]
    assert a["top_ips"] == [{"ip": "203.0.113.2", "count": 1, "over": 0}]
    # the cursor: only what is newer
    server.check("me@duck.com")
    newer = activity(server, since=3)
    assert [c["domain"] for c in newer["checks"]] == ["duck.com"] and newer["last_seq"] == 4
    assert activity(server, since=4)["checks"] == []
    bad = admin(server, "GET", "/activity?since=-1")
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "since"]
    assert admin(server, "GET", "/activity", key=server.key).status_code == 403
    assert admin(server, "POST", "/activity").status_code == 405


def test_whole_addresses_only_when_the_account_says_so(server):
    server.check("first@gmail.com")
    assert admin(server, "PATCH", "/settings", json={"activity_emails": True}).status_code == 200
    server.check("Second+x@Gmail.com")
    a = activity(server)
    assert a["emails_shown"] is True
    assert [(c["domain"], c["email"]) for c in a["checks"]] == \
        [("gmail.com", "Second+x@gmail.com"), ("gmail.com", None)]  # the first was not kept
    admin(server, "PATCH", "/settings", json={"activity_emails": False})
    assert [c["email"] for c in activity(server)["checks"]] == [None, None]  # hidden again


def test_bans_and_tops(server):
    ip = "198.51.100.9"
    for d in ["a.mailinator.com", "mailinator.com", "mailinator.com", "yopmail.com", "mailinator.com"]:
        server.check(f"x@{d}", ip=ip)
    assert server.check("jane@gmail.com", ip=ip).status_code == 403
    assert server.check("jane@gmail.com", ip="2001:db8::1").status_code == 200
    a = activity(server)
    banned = a["checks"][1]
    assert (banned["category"], banned["type"], banned["domain"], banned["ip"]) == \
        ("banned", None, "gmail.com", ip)
    assert a["top_domains"][:2] == [{"domain": "mailinator.com", "count": 3, "over": 0},
                                    {"domain": "a.mailinator.com", "count": 1, "over": 0}]
    assert a["top_ips"] == [{"ip": ip, "count": 6, "over": 0}]  # 5 black and the 403


def test_bounded_to_the_last_200(server):
    for i in range(230):
        server.check(f"user{i}@example{i}.com")
    a = activity(server)
    assert len(a["checks"]) == 200 and a["last_seq"] == 230
    assert a["checks"][0]["domain"] == "example229.com"
    assert a["checks"][-1]["domain"] == "example30.com"


def test_accounts_see_only_their_own(server):
    server.cli("accounts", "create", "other")
    other_key = server.create_key("active", account="other", name="o")
    other_admin = server.create_key("admin", account="other", name="oa")
    server.check("mine@gmail.com")
    server.check("theirs@yahoo.com", key=other_key)
    assert [c["domain"] for c in activity(server)["checks"]] == ["gmail.com"]
    assert [c["domain"] for c in activity(server, key=other_admin)["checks"]] == ["yahoo.com"]


def test_off_when_the_server_keeps_none(make_server):
    s = make_server("--activity-accounts", "0")
    s.check("a@gmail.com")
    r = admin(s, "GET", "/activity")
    assert r.status_code == 503
    assert "activity_accounts" in r.json()["detail"]
