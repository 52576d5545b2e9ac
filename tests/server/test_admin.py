"""The admin API (SPEC §5): admin keys only, validation with clear 422s,
settings and lists that the next check follows, keys, usage, audit, and the
CLI equivalents."""
import sqlite3
import time

import requests


def admin(server, method, path, key=None, **kw):
    headers = {} if key == "" else {"Authorization": f"Bearer {key or server.admin_key}"}
    return requests.request(method, server.url + "/v1/admin" + path, timeout=10, headers=headers,
                            **kw)


def test_admin_key_required(server):
    r = admin(server, "GET", "/settings", key=server.key)
    assert r.status_code == 403 and r.json() == {"detail": "Admin key required."}
    sandbox = server.create_key("sandbox", name="sb")
    assert admin(server, "GET", "/settings", key=sandbox).status_code == 403
    r = admin(server, "GET", "/settings", key="")
    assert r.status_code == 401 and r.json() == {"detail": "No auth provided"}
    assert admin(server, "GET", "/settings", key="ucl_admin_nope").status_code == 401
    assert admin(server, "GET", "/nothing").status_code == 404
    assert admin(server, "POST", "/settings").status_code == 405


def test_settings_get_and_validated_patch(server):
    s = admin(server, "GET", "/settings").json()
    assert s == {"ban_enabled": True, "ban_threshold": 5, "ban_lift_seconds": 0, "ipv6_prefix": 64,
                 "ipv6_aggregate": 8, "ban_loopback": False,
                 "never_ban": [], "alias_chains": True, "alias_window_days": 30,
                 "rate_limit_per_second": 0, "rate_limit_burst": 0,
                 "young_domain_days": 30,
                 "count_typos": False, "activity_emails": False,
                 "colors": {"masked legitimate": "black", "no website": "black",
                            "multi-alias services": "grey", "suspicious signs": "grey",
                            "young domain": "white"}}
    bad = [({"ban_threshold": 0}, "ban_threshold"), ({"ban_threshold": 101}, "ban_threshold"),
           ({"ban_threshold": "5"}, "ban_threshold"), ({"ban_enabled": 1}, "ban_enabled"),
           ({"ipv6_prefix": 129}, "ipv6_prefix"), ({"never_ban": ["10.0.0.0/33"]}, "never_ban[0]"),
           ({"never_ban": "10.0.0.0/8"}, "never_ban"), ({"colors": {"disposable": "grey"}}, "colors.disposable"),
           ({"colors": {"no website": "white"}}, "colors.no website"),
           ({"colors": {"suspicious signs": "red"}}, "colors.suspicious signs"),
           ({"surprise": 1}, "surprise"), ({"rate_limit_per_second": -1}, "rate_limit_per_second"),
           ({"rate_limit_burst": 1000001}, "rate_limit_burst"),
           ({"rate_limit_per_second": "10"}, "rate_limit_per_second"),
           ({"young_domain_days": 0}, "young_domain_days"),
           ({"colors": {"young domain": "red"}}, "colors.young domain")]
    for body, field in bad:
        r = admin(server, "PATCH", "/settings", json=body)
        assert r.status_code == 422, body
        d = r.json()["detail"][0]
        assert d["loc"] == ["body", field] and d["type"] == "value_error" and d["msg"], body
    # all or nothing: a bad member leaves the good ones unapplied
    r = admin(server, "PATCH", "/settings", json={"ban_threshold": 7, "ipv6_prefix": 0})
    assert r.status_code == 422
    assert admin(server, "GET", "/settings").json()["ban_threshold"] == 5
    r = admin(server, "PATCH", "/settings", data=b"{not json")
    assert r.status_code == 400
    r = admin(server, "PATCH", "/settings",
              json={"colors": {"multi-alias services": "black", "suspicious signs": "white"}})
    assert r.status_code == 200 and r.json()["colors"]["multi-alias services"] == "black"


def test_colours_take_effect_on_the_next_check(server):
    assert server.check("me@duck.com").json()["category"] == "grey"
    assert server.check("j+x@gmail.com").json()["category"] == "grey"
    admin(server, "PATCH", "/settings",
          json={"colors": {"multi-alias services": "black", "suspicious signs": "white"}})
    b = server.check("me@duck.com").json()
    assert (b["category"], b["type"]) == ("black", "multi-alias services")
    assert server.check("j+x@gmail.com").json()["category"] == "white"
    admin(server, "PATCH", "/settings", json={"colors": {"multi-alias services": "white"}})
    assert server.check("me@duck.com").json()["category"] == "white"


def test_lists_add_remove_replace_and_effect(server):
    r = admin(server, "PUT", "/lists/black/Example.COM")
    assert r.status_code == 201 and r.json() == {"color": "black", "domain": "example.com"}
    assert admin(server, "PUT", "/lists/black/example.com").status_code == 200  # already there
    b = server.check("a@mail.example.com").json()  # subdomains match
    assert (b["category"], b["type"]) == ("black", "black")
    assert b["details"]["matched"] == {"entry": "example.com", "list": "account:black"}
    assert b["details"]["signals"]["custom_list"] is True
    # white beats a disposable listing; grey lists work the same way
    admin(server, "PUT", "/lists/white/mailinator.com")
    admin(server, "PUT", "/lists/grey/bücher.de")
    assert server.check("x@mailinator.com").json()["type"] == "white"
    assert server.check("x@shop.bücher.de").json()["category"] == "grey"
    assert admin(server, "GET", "/lists/grey").json() == {"color": "grey", "domains": ["xn--bcher-kva.de"]}
    r = admin(server, "DELETE", "/lists/black/example.com")
    assert r.status_code == 200
    assert server.check("a@mail.example.com").json()["type"] == "legitimate"
    assert admin(server, "DELETE", "/lists/black/example.com").status_code == 404
    r = admin(server, "PUT", "/lists/black/co.uk")
    assert r.status_code == 422 and "public suffix" in r.json()["detail"][0]["msg"]
    assert admin(server, "PUT", "/lists/black/bad..name").status_code == 422
    assert admin(server, "GET", "/lists/purple").status_code == 404
    # bulk replace: all valid or nothing, the bad line named by its index
    r = admin(server, "PUT", "/lists/black?all=true", json={"domains": ["a.com", "b.org", "nope", "c.net"]})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "domains[2]"]
    assert admin(server, "GET", "/lists/black").json()["domains"] == []
    r = admin(server, "PUT", "/lists/black?all=true", json={"domains": ["a.com", "B.org", "a.com"]})
    assert r.status_code == 200 and r.json()["domains"] == ["a.com", "b.org"]
    assert server.check("x@b.org").json()["category"] == "black"


def test_keys_lifecycle(server):
    r = admin(server, "POST", "/keys", json={"name": "checkout", "type": "active"})
    assert r.status_code == 201
    k = r.json()
    assert k["key"].startswith("ucl_live_") and k["prefix"] == k["key"][:14]
    assert server.check("a@gmail.com", key=k["key"]).status_code == 200
    listing = admin(server, "GET", "/keys").json()["keys"]
    assert {"checkout", "default", "default admin"} <= {x["name"] for x in listing}
    assert all("key" not in x for x in listing)  # shown once, at creation
    r = admin(server, "PATCH", f"/keys/{k['id']}", json={"name": "renamed", "type": "sandbox"})
    assert r.status_code == 200
    # A retyped key gets text whose prefix says its type; the old text stops working.
    new = r.json()
    assert new["name"] == "renamed" and new["type"] == "sandbox" and new["id"] == k["id"]
    assert new["key"].startswith("ucl_test_") and new["prefix"] == new["key"][:14]
    assert server.check("a@gmail.com", key=k["key"]).status_code == 401
    assert server.check("x@mailinator.com", key=new["key"]).json()["type"] == "unknown"  # sandbox
    r = admin(server, "PATCH", f"/keys/{k['id']}", json={"name": "again"})
    assert r.status_code == 200 and "key" not in r.json()  # a rename keeps the text
    assert server.check("a@gmail.com", key=new["key"]).status_code == 200
    k = new
    assert admin(server, "PATCH", f"/keys/{k['id']}", json={"type": "admin"}).status_code == 422
    assert admin(server, "PATCH", f"/keys/{k['id']}", json={"name": ""}).status_code == 422
    assert admin(server, "POST", "/keys", json={"name": "x", "type": "gold"}).status_code == 422
    assert admin(server, "POST", "/keys", json={"type": "active"}).status_code == 422
    r = admin(server, "DELETE", f"/keys/{k['id']}")
    assert r.status_code == 200 and r.json()["revoked"] is True
    assert server.check("a@gmail.com", key=k["key"]).status_code == 401
    assert admin(server, "DELETE", f"/keys/{k['id']}").status_code == 404
    assert admin(server, "DELETE", "/keys/999").status_code == 404
    me = [x for x in listing if x["name"] == "default admin"][0]
    assert admin(server, "DELETE", f"/keys/{me['id']}").status_code == 409  # not itself


def test_usage_by_day_category_and_key(server):
    second = admin(server, "POST", "/keys", json={"name": "second", "type": "active"}).json()
    for email in ["a@mailinator.com", "b@mailinator.com", "c@gmail.com", "me@duck.com"]:
        server.check(email)
    server.check("c@gmail.com", key=second["key"])
    u = admin(server, "GET", "/usage?days=30").json()  # counted now, not after a flush
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert u["days"] == 30
    assert u["by_day"] == [{"date": today, "white": 2, "grey": 1, "black": 2, "banned": 0,
                            "total": 5}]
    by_key = {k["name"]: k for k in u["by_key"]}
    assert by_key["default"]["total"] == 4 and by_key["second"]["white"] == 1
    assert u["total"] == {"white": 2, "grey": 1, "black": 2, "banned": 0, "total": 5}
    assert admin(server, "GET", "/usage?days=0").status_code == 422


def test_admin_key_last_used_follows_admin_calls(server):
    keys = admin(server, "GET", "/keys").json()["keys"]  # this very call counts
    me = [k for k in keys if k["type"] == "admin"][0]
    assert me["last_used_at"] is not None
    used = time.strptime(me["last_used_at"], "%Y-%m-%dT%H:%M:%SZ")
    assert abs(time.mktime(used) - time.mktime(time.gmtime())) < 120
    check_key = [k for k in keys if k["type"] == "active"][0]
    assert check_key["last_used_at"] is None  # a check key's comes from its checks
    server.check("a@gmail.com")
    admin(server, "GET", "/usage?days=1")  # flushes the usage counts, which advance it
    keys = admin(server, "GET", "/keys").json()["keys"]
    assert [k for k in keys if k["type"] == "active"][0]["last_used_at"] is not None
    time.sleep(1.1)  # a later admin call within the minute writes nothing new
    again = [k for k in admin(server, "GET", "/keys").json()["keys"] if k["id"] == me["id"]][0]
    assert again["last_used_at"] == me["last_used_at"]


def test_try_checks_without_a_check_key_and_counts_nothing(server):
    ip = "203.0.113.60"
    for _ in range(8):
        r = admin(server, "POST", "/try", json={"email": "x@mailinator.com", "ip": ip})
        assert r.status_code == 200
        body = r.json()
        assert (body["category"], body["type"]) == ("black", "disposable")
        assert body["remaining_attempts_before_ban"] == 5  # shown, never decremented
    assert admin(server, "GET", "/bans").json()["bans"] == []
    assert admin(server, "GET", "/usage?days=1").json()["total"]["total"] == 0
    r = admin(server, "POST", "/try", json={"email": "jane@gmial.com"})
    assert r.json()["details"]["did_you_mean"] == "gmail.com"
    assert r.json()["remaining_attempts_before_ban"] is None
    # the account's own lists and colours apply, as for its live keys
    admin(server, "PUT", "/lists/black/spam-domain.com")
    assert admin(server, "POST", "/try", json={"email": "a@spam-domain.com"}).json()["type"] == "black"
    # an IP banned by real checks: the try shows 0 left instead of a 403
    for _ in range(5):
        server.check("x@mailinator.com", ip=ip)
    assert server.check("jane@gmail.com", ip=ip).status_code == 403
    r = admin(server, "POST", "/try", json={"email": "jane@gmail.com", "ip": ip})
    assert r.status_code == 200 and r.json()["remaining_attempts_before_ban"] == 0
    # errors are the check's own
    r = admin(server, "POST", "/try", json={"email": "jo..hn@example.com"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "email"]
    assert admin(server, "POST", "/try", data="{nope").status_code == 400
    assert admin(server, "GET", "/try").status_code == 405
    assert admin(server, "POST", "/try/x", json={}).status_code == 404
    r = admin(server, "POST", "/try", key=server.key, json={"email": "a@gmail.com"})
    assert r.status_code == 403 and r.json() == {"detail": "Admin key required."}


def test_usage_counts_403_banned_answers(server):
    ip = "203.0.113.200"
    for _ in range(5):
        assert server.check("x@mailinator.com", ip=ip).status_code == 200
    for _ in range(3):  # what a banned visitor keeps trying is seen, not lost
        assert server.check("jane@gmail.com", ip=ip).status_code == 403
    sandbox = admin(server, "POST", "/keys", json={"name": "sb", "type": "sandbox"}).json()["key"]
    server.check("test@disposable.com", key=sandbox, ip=ip)  # sandbox keys count nothing
    u = admin(server, "GET", "/usage?days=1").json()
    assert u["total"] == {"white": 0, "grey": 0, "black": 5, "banned": 3, "total": 8}
    assert u["by_day"][0]["banned"] == 3
    assert [k["banned"] for k in u["by_key"]] == [3]
    table = server.cli("usage", "--days", "1").stdout
    assert "BANNED" in table
    assert [line.split()[1:] for line in table.splitlines() if line.startswith("total")] == \
        [["0", "0", "5", "3", "8"]]


def test_every_write_is_audited(server):
    admin(server, "PATCH", "/settings", json={"ban_threshold": 4})
    admin(server, "PUT", "/lists/black/example.com")
    admin(server, "POST", "/keys", json={"name": "k", "type": "sandbox"})
    admin(server, "DELETE", "/bans?all=true")
    with sqlite3.connect(server.db) as c:
        rows = list(c.execute("SELECT key_id, action, detail FROM audit ORDER BY id"))
    assert [a for _, a, _ in rows] == ["settings.update", "lists.add", "keys.create", "bans.unban_all"]
    assert all(k == 1 for k, _, _ in rows)  # by the admin key (id 1)
    assert '"ban_threshold":4' in rows[0][2]


def test_cli_equivalents_reach_the_server(server):
    out = server.cli("settings", "set", "ban_threshold", "2", "colors.suspicious signs", "black").stdout
    assert '"ban_threshold": 2' in out
    server.cli("lists", "add", "black", "example.org")
    assert "example.org" in server.cli("lists", "show", "black").stdout
    deadline = time.time() + 5
    while time.time() < deadline and server.check("a@example.org").json()["category"] != "black":
        time.sleep(0.1)
    assert server.check("a@example.org").json()["category"] == "black"
    assert server.check("j+t@gmail.com").json()["category"] == "black"
    assert admin(server, "GET", "/settings").json()["ban_threshold"] == 2
    p = server.cli("settings", "set", "ban_threshold", "500", check=False)
    assert p.returncode == 2 and "from 1 to 100" in p.stderr
    p = server.cli("lists", "add", "black", "co.uk", check=False)
    assert p.returncode == 1 and "public suffix" in p.stderr
    server.cli("lists", "remove", "black", "example.org")
    assert "example.org" not in server.cli("lists", "show", "black").stdout
