"""Alias chains through the API: a second spelling of a mailbox checked lately
is grey "suspicious signs" (signal alias_chain, details.alias_spellings), per
account, with live keys only, kept across restarts as keyed hashes."""
import signal
import sqlite3

import requests

from conftest import Server


def check(server, email, key=None):
    r = server.check(email, key=key)
    assert r.status_code == 200, r.text
    return r.json()


def verdict(b):
    return b["category"], b["type"], b["details"]["alias_spellings"]


def test_a_second_spelling_is_a_chain(server):
    assert verdict(check(server, "jane.doe@gmail.com")) == ("white", "legitimate", 1)
    assert verdict(check(server, "Jane.Doe@gmail.com")) == ("white", "legitimate", 1)  # same
    b = check(server, "janedoe@gmail.com")
    assert verdict(b) == ("grey", "suspicious signs", 2)
    assert b["details"]["signals"]["alias_chain"] is True
    assert b["details"]["matched"] == {"entry": "alias_chain", "list": "rule"}
    assert verdict(check(server, "janedoe+2@gmail.com")) == ("grey", "suspicious signs", 3)
    assert verdict(check(server, "j.a.n.e.doe@googlemail.com")) == ("grey", "suspicious signs", 4)
    assert verdict(check(server, "other.person@gmail.com")) == ("white", "legitimate", 1)


def test_only_providers_with_sub_addressing(server):
    b = check(server, "jane.doe@example.org")
    assert b["details"]["alias_spellings"] is None
    assert verdict(check(server, "janedoe@example.org"))[:2] == ("white", "legitimate")


def test_accounts_never_see_each_other(server):
    server.cli("accounts", "create", "other")
    other = server.create_key("active", account="other")
    check(server, "sam.smith@gmail.com")
    assert verdict(check(server, "samsmith@gmail.com", key=other)) == ("white", "legitimate", 1)
    assert verdict(check(server, "samsmith@gmail.com"))[:2] == ("grey", "suspicious signs")


def test_sandbox_keys_are_not_remembered(server):
    sandbox = server.create_key("sandbox")
    check(server, "kim.lee@gmail.com", key=sandbox)
    assert check(server, "kimlee@gmail.com", key=sandbox)["type"] == "unknown"
    assert verdict(check(server, "kimlee@gmail.com")) == ("white", "legitimate", 1)


def test_the_account_can_turn_it_off(server):
    r = requests.patch(server.url + "/v1/admin/settings", timeout=10,
                       headers={"Authorization": f"Bearer {server.admin_key}"},
                       json={"alias_chains": False})
    assert r.status_code == 200 and r.json()["alias_chains"] is False
    check(server, "max.mu@gmail.com")
    assert verdict(check(server, "maxmu@gmail.com")) == ("white", "legitimate", None)
    r = requests.patch(server.url + "/v1/admin/settings", timeout=10,
                       headers={"Authorization": f"Bearer {server.admin_key}"},
                       json={"alias_window_days": 0})
    assert r.status_code == 422


def test_remembered_across_restarts_as_keyed_hashes_only(tmp_path):
    s = Server(tmp_path)
    try:
        check(s, "ana.bell@gmail.com")
    finally:
        assert s.stop(signal.SIGTERM) == 0  # the memory is written on the way out
    with sqlite3.connect(s.db) as c:
        rows = list(c.execute("SELECT mailbox, spelling FROM aliases"))
        dump = "\n".join(c.iterdump())
    assert len(rows) == 1 and all(len(m) == 16 and len(sp) == 16 for m, sp in rows)
    assert "ana" not in dump and "bell" not in dump
    t = Server(tmp_path, keys=(s.admin_key, s.key))  # the same store, a new process
    try:
        assert verdict(check(t, "anabell@gmail.com")) == ("grey", "suspicious signs", 2)
    finally:
        t.stop(signal.SIGKILL)
