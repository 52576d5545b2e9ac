"""The `ip` values integrations send (issue 15): host:port, brackets, zone ids,
X-Forwarded-For lists and trailing newlines count like the plain address;
an ip that is given but unusable says why in details.ip_warning and is
counted in a metric; loopback is never banned unless the account says so."""
import requests

QUERY = "/v1/external-api-requests/check-email"


def admin(server, method, path, **kw):
    return requests.request(method, server.url + "/v1/admin" + path, timeout=10,
                            headers={"Authorization": f"Bearer {server.admin_key}"}, **kw)


def metric(server, line_start):
    for line in requests.get(server.url + "/metrics", timeout=10).text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.split()[1])
    raise AssertionError(line_start)


def test_integration_spellings_count_as_the_address(server):
    forms = {
        "198.51.100.1": ["198.51.100.1:1234", "198.51.100.1\n", " 198.51.100.1:80\r\n",
                         "198.51.100.1", "::ffff:198.51.100.1"],
        "2001:db8::/64": ["[2001:db8::1]:443", "[2001:db8::1]", "2001:db8::1%eth0",
                          "[2001:db8::2%25en0]:8443", "2001:db8::3"],
    }
    for key, spellings in forms.items():
        got = []
        for ip in spellings:
            r = server.check("x@mailinator.com", ip=ip)
            assert r.status_code == 200, (ip, r.text)
            assert r.json()["details"]["ip_warning"] is None, ip
            got.append(r.json()["remaining_attempts_before_ban"])
        assert got == [4, 3, 2, 1, 0], key
        assert server.check("a@gmail.com", ip=spellings[0]).status_code == 403
    bans = {b["ip"] for b in admin(server, "GET", "/bans").json()["bans"]}
    assert bans == set(forms)


def test_a_forwarded_for_list_uses_its_first_address_and_says_so(server):
    r = server.check("x@mailinator.com", ip="203.0.113.5, 10.0.0.1, 198.51.100.1")
    b = r.json()
    assert b["remaining_attempts_before_ban"] == 4
    assert "203.0.113.5" in b["details"]["ip_warning"] and "first" in b["details"]["ip_warning"]
    assert server.check("x@mailinator.com", ip="203.0.113.5").json()[
        "remaining_attempts_before_ban"] == 3  # the same counter
    assert metric(server, 'usercleaning_ip_warnings_total{reason="list"}') == 1


def test_unusable_ip_says_why(server):
    cases = {"": "empty", "   ": "empty", "unknown": "unknown", "not-an-ip": "not an IP address",
             "999.1.1.1": "not an IP address", "1.2.3.4:99999": "not an IP address"}
    for ip, words in cases.items():
        for _ in range(6):
            b = server.check("x@mailinator.com", ip=ip).json()
            assert b["remaining_attempts_before_ban"] is None, ip
            assert words in b["details"]["ip_warning"], (ip, b["details"]["ip_warning"])
    r = server.post(QUERY, server.key, params={"email": "x@mailinator.com", "ip": "bogus"})
    assert "not an IP address" in r.json()["details"]["ip_warning"]
    assert metric(server, 'usercleaning_ip_warnings_total{reason="empty"}') == 12
    assert metric(server, 'usercleaning_ip_warnings_total{reason="unknown"}') == 6
    assert metric(server, 'usercleaning_ip_warnings_total{reason="invalid"}') == 19
    # no ip at all: nothing to warn about
    b = server.check("x@mailinator.com").json()
    assert b["details"]["ip_warning"] is None and b["remaining_attempts_before_ban"] is None
    assert admin(server, "GET", "/bans").json()["bans"] == []


def test_loopback_is_never_banned_by_default(server):
    for ip in ("127.0.0.1", "::1", "[::1]:8000", "127.1.2.3"):
        for _ in range(7):
            r = server.check("x@mailinator.com", ip=ip)
            assert r.status_code == 200
            b = r.json()
            assert b["remaining_attempts_before_ban"] is None
            assert "loopback" in b["details"]["ip_warning"]
    assert admin(server, "GET", "/bans").json()["bans"] == []
    assert metric(server, 'usercleaning_ip_warnings_total{reason="loopback"}') == 28
    r = admin(server, "PATCH", "/settings", json={"ban_loopback": True})
    assert r.status_code == 200 and r.json()["ban_loopback"] is True
    got = [server.check("x@mailinator.com", ip="127.0.0.1").json()["remaining_attempts_before_ban"]
           for _ in range(5)]
    assert got == [4, 3, 2, 1, 0]
    assert server.check("a@gmail.com", ip="127.0.0.1").status_code == 403
    assert admin(server, "PATCH", "/settings", json={"ban_loopback": 1}).status_code == 422


def test_placeholder_addresses_are_never_counted(server):
    """0.0.0.0, 255.255.255.255 and :: are no client's address: an integration that
    sends one for every user would otherwise get all its users banned together."""
    for ip in ("0.0.0.0", "255.255.255.255", "::", "[::]:443", "0.0.0.0:80"):
        for _ in range(6):
            b = server.check("x@mailinator.com", ip=ip).json()
            assert b["remaining_attempts_before_ban"] is None, ip
            assert "not a client's address" in b["details"]["ip_warning"], ip
    assert admin(server, "GET", "/bans").json()["bans"] == []
    assert metric(server, 'usercleaning_ip_warnings_total{reason="placeholder"}') == 30
    assert server.check("x@mailinator.com", ip="0.0.0.1").json()["remaining_attempts_before_ban"] is None
    assert server.check("x@mailinator.com", ip="1.0.0.0").json()["remaining_attempts_before_ban"] == 4


def test_repeated_email_parameter_last_wins(server):
    r = server.post(QUERY + "?email=first@gmail.com&email=x@mailinator.com&ip=1.2.3.4&ip=203.0.113.80",
                    server.key)
    b = r.json()
    assert b["email"] == "x@mailinator.com" and b["category"] == "black"
    assert server.check("a@gmail.com", ip="203.0.113.80").json()[
        "remaining_attempts_before_ban"] == 4


def test_non_object_json_bodies_are_422(server):
    for raw in (b"null", b"[]", b"42", b'"a@gmail.com"', b"true", b" null "):
        r = server.post("/v1/email/check", server.key, data=raw,
                        headers={"Content-Type": "application/json"})
        assert r.status_code == 422, raw
        d = r.json()["detail"][0]
        assert d["loc"] == ["body"] and d["type"] == "model_attributes_type", raw
