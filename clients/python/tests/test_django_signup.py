"""The example site's sign-up view with Django's test client against the real
server: the three outcomes, bans, spoofed proxies, fail-open, the checks."""
import logging
import subprocess
import sys
import time

from django.core import checks
from django.core.management import CommandError, call_command
import pytest

BAN = "Your IP address is banned. Contact the service administrator to unlock access."


def signup(client, email, ip="203.0.113.5", **extra):
    return client.post("/", {"name": "Jo", "email": email}, REMOTE_ADDR=ip, **extra)


def test_disposable_is_rejected_with_the_message(site, client):
    r = signup(client, "someone@mailinator.com")
    assert r.status_code == 400
    assert "This email address cannot be used to sign up" in r.content.decode()


def test_relay_passes_as_grey_with_email_check(site, client):
    r = signup(client, "me@duck.com")
    assert r.status_code == 200
    assert "One more step" in r.content.decode()
    check = r.context["form"].email_check
    assert check.category == "grey" and check.type == "multi-alias services"
    assert check.remaining_attempts_before_ban == 5


def test_normal_address_passes(site, client):
    r = signup(client, "jane.doe@gmail.com")
    assert r.status_code == 200 and "Welcome, Jo!" in r.content.decode()
    assert r.context["form"].email_check.category == "white"


def test_grey_policy_reject(site, client, settings):
    settings.USER_CLEANING_GREY_POLICY = "reject"
    r = signup(client, "me@duck.com")
    assert r.status_code == 400 and "forwarding alias" in r.content.decode()


def test_custom_message(site, client, settings):
    settings.USER_CLEANING_MESSAGES = {"black": "Nope."}
    assert "Nope." in signup(client, "x@mailinator.com").content.decode()


def test_ban_after_five_from_one_ip_other_ip_still_works(site, client):
    for _ in range(5):
        assert signup(client, "someone@mailinator.com").status_code == 400
    r = signup(client, "jane.doe@gmail.com")
    assert r.status_code == 400 and BAN in r.content.decode()
    r = signup(client, "jane.doe@gmail.com", ip="198.51.100.99")
    assert r.status_code == 200 and "Welcome" in r.content.decode()


def test_spoofed_forwarded_for_is_still_banned(site, client, settings):
    settings.USER_CLEANING_TRUSTED_PROXIES = 1  # one proxy appends the real client IP
    real, proxy = "198.51.100.23", "10.0.0.2"
    for i in range(5):
        signup(client, "someone@mailinator.com", ip=proxy,
               HTTP_X_FORWARDED_FOR=f"192.0.2.{i}, {real}")
    r = signup(client, "jane.doe@gmail.com", ip=proxy,
               HTTP_X_FORWARDED_FOR=f"192.0.2.200, {real}")  # a new forged value on the left
    assert BAN in r.content.decode()
    r = signup(client, "jane.doe@gmail.com", ip=proxy, HTTP_X_FORWARDED_FOR="198.51.100.24")
    assert "Welcome" in r.content.decode()


def test_forwarded_for_without_setting_raises_a_system_check(site, client, monkeypatch):
    import user_cleaning.ip
    monkeypatch.setattr(user_cleaning.ip, "_seen_forwarded_without_setting", False)
    assert "user_cleaning.W001" not in [m.id for m in checks.run_checks()]
    signup(client, "jane.doe@gmail.com", HTTP_X_FORWARDED_FOR="192.0.2.1")
    assert "user_cleaning.W001" in [m.id for m in checks.run_checks()]


def test_server_down_sign_up_succeeds_and_is_logged(site, client, caplog):
    site.stop()
    caplog.set_level(logging.WARNING, logger="user_cleaning")
    t = time.monotonic()
    r = signup(client, "someone@mailinator.com")
    assert time.monotonic() - t < 10  # the timeout, not a hang
    assert r.status_code == 200 and "Welcome" in r.content.decode()
    assert r.context["form"].email_check.failed is True
    assert "failing open" in caplog.text


def test_fail_closed(site, client, settings):
    settings.USER_CLEANING_FAIL_MODE = "closed"
    site.stop()
    r = signup(client, "jane.doe@gmail.com")
    assert r.status_code == 400 and "could not verify" in r.content.decode()


def test_wrong_key_does_not_block_people(site, client, settings, caplog):
    settings.USER_CLEANING_API_KEY = "ucl_live_wrong"
    caplog.set_level(logging.ERROR, logger="user_cleaning")
    r = signup(client, "someone@mailinator.com")
    assert r.status_code == 200
    assert "MISCONFIGURED" in caplog.text


def test_admin_key_as_the_integration_key_never_shows_the_ban_message(site, client, settings,
                                                                      caplog):
    """The first hour's trap: the admin key printed by `make run` pasted into
    USER_CLEANING_API_KEY. Every check gets 403; people must not see a ban."""
    settings.USER_CLEANING_API_KEY = site.admin_key
    caplog.set_level(logging.ERROR, logger="user_cleaning")
    r = signup(client, "jane@gmail.com")
    assert r.status_code == 200 and "Welcome" in r.content.decode()
    assert BAN not in r.content.decode()
    assert "MISCONFIGURED" in caplog.text and "admin key" in caplog.text
    assert "user_cleaning.E002" in [m.id for m in checks.run_checks()]


def test_typo_shows_the_suggestion_and_costs_no_attempt(site, client):
    for _ in range(7):
        r = signup(client, "jane@gmial.com")
        assert r.status_code == 400
        assert "Did you mean jane@gmail.com?" in r.content.decode()
        assert "cannot be used" not in r.content.decode()
    r = signup(client, "jane@gmail.com")  # seven typos later the IP is not banned
    assert r.status_code == 200 and r.context["form"].email_check.remaining_attempts_before_ban == 5


def test_system_checks_report_the_configuration(site, settings):
    from user_cleaning.django.checks import IDS
    ids = lambda: [m.id for m in checks.run_checks()]  # noqa: E731
    assert not [i for i in ids() if i in IDS.values()]
    settings.USER_CLEANING_API_KEY = site.admin_key
    assert "user_cleaning.E002" in ids()
    settings.USER_CLEANING_API_KEY = "ucl_live_" + "a" * 37  # cut short
    assert "user_cleaning.E003" in ids()
    settings.USER_CLEANING_API_KEY = "ucl_live_" + "a" * 38  # whole: the service refuses it
    assert "user_cleaning.E004" in ids()
    settings.USER_CLEANING_API_KEY = " " + site.key
    assert "user_cleaning.E003" in ids()
    settings.USER_CLEANING_API_KEY = site.key
    settings.USER_CLEANING_API_URL = "http://127.0.0.1:9"  # discard: nothing listens
    settings.USER_CLEANING_TIMEOUT = 1.0
    assert "user_cleaning.W003" in ids()
    settings.USER_CLEANING_CHECK_SERVICE = False  # the probe can be turned off
    assert "user_cleaning.W003" not in ids()


def manage_check(env):
    """`manage.py check` of the example site, as a user runs it."""
    here = __import__("pathlib").Path(__file__).resolve()
    manage = here.parents[3] / "examples" / "django_signup" / "manage.py"
    clean = {k: v for k, v in __import__("os").environ.items()
             if not k.startswith(("USER_CLEANING_", "DJANGO_SETTINGS"))}
    return subprocess.run([sys.executable, str(manage), "check"], capture_output=True, text=True,
                          timeout=120, env={**clean, **env})


def test_manage_py_check_against_the_real_server(uc):
    p = manage_check({"USER_CLEANING_API_URL": uc.url, "USER_CLEANING_API_KEY": uc.admin_key})
    assert p.returncode == 1
    assert "user_cleaning.E002" in p.stderr and "admin key" in p.stderr
    p = manage_check({"USER_CLEANING_API_URL": uc.url, "USER_CLEANING_API_KEY": uc.key[:-1]})
    assert p.returncode == 1 and "user_cleaning.E003" in p.stderr
    p = manage_check({"USER_CLEANING_API_URL": "http://127.0.0.1:9", "USER_CLEANING_API_KEY": uc.key})
    assert p.returncode == 0 and "user_cleaning.W003" in p.stderr  # a warning: runserver starts
    p = manage_check({"USER_CLEANING_API_URL": uc.url, "USER_CLEANING_API_KEY": uc.key})
    assert p.returncode == 0 and "System check identified no issues" in p.stdout, p.stderr


def test_management_command(site, capsys):
    call_command("user_cleaning_check", "x@mailinator.com", "--ip", "203.0.113.1")
    out = capsys.readouterr().out
    assert "black / disposable" in out and '"remaining_attempts_before_ban": 4' in out
    with pytest.raises(CommandError, match="not a valid address"):
        call_command("user_cleaning_check", "not-an-address")


def test_management_command_reports_a_bad_key(site, settings):
    settings.USER_CLEANING_API_KEY = "ucl_live_wrong"
    with pytest.raises(CommandError, match="misconfigured: .*not a whole key"):
        call_command("user_cleaning_check", "x@gmail.com")
    settings.USER_CLEANING_API_KEY = site.admin_key
    with pytest.raises(CommandError, match="admin key"):
        call_command("user_cleaning_check", "x@gmail.com")


def test_validator(site):
    from django.core.exceptions import ValidationError
    from user_cleaning.django.validators import validate_email_not_disposable
    validate_email_not_disposable("jane@gmail.com")
    with pytest.raises(ValidationError):
        validate_email_not_disposable("x@mailinator.com")
    with pytest.raises(ValidationError) as e:
        validate_email_not_disposable("jane@gmial.com")
    assert e.value.messages == ["Did you mean jane@gmail.com?"] and e.value.code == "typo"
