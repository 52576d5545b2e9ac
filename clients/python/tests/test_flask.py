"""The Flask helpers against the real server: the example sign-up form
(examples/flask_signup, its own process, settings from the environment) and
check_signup_email / NotDisposable in an app context."""
import flask
import pytest
import requests
from wtforms import Form, StringField

from user_cleaning.flask import NotDisposable, check_signup_email

BAN = "Your IP address is banned. Contact the service administrator to unlock access."


def signup(url, email, ip=None):
    headers = {"X-Forwarded-For": ip} if ip else {}
    return requests.post(url + "/", data={"name": "Jo", "email": email}, headers=headers, timeout=30)


def test_example_form_outcomes(uc, example):
    url = example("flask_signup", {"USER_CLEANING_API_URL": uc.url, "USER_CLEANING_API_KEY": uc.key})
    r = signup(url, "someone@mailinator.com")
    assert r.status_code == 400 and "cannot be used to sign up" in r.text
    r = signup(url, "jane@gmial.com")
    assert r.status_code == 400 and "Did you mean jane@gmail.com?" in r.text
    r = signup(url, "me@duck.com")
    assert r.status_code == 200 and "One more step" in r.text
    r = signup(url, "jane@gmail.com")
    assert r.status_code == 200 and "Welcome, Jo!" in r.text


def test_example_bans_the_visitor_ip_and_fails_open(uc, example):
    env = {"USER_CLEANING_API_URL": uc.url, "USER_CLEANING_API_KEY": uc.key,
           "USER_CLEANING_TRUSTED_PROXIES": "1"}  # the test client plays the proxy
    url = example("flask_signup", env)
    for _ in range(5):
        signup(url, "x@mailinator.com", ip="198.51.100.40")
    r = signup(url, "jane@gmail.com", ip="198.51.100.40")
    assert r.status_code == 400 and BAN in r.text
    assert "Welcome" in signup(url, "jane@gmail.com", ip="198.51.100.41").text
    uc.stop()
    assert "Welcome" in signup(url, "someone@mailinator.com").text  # fail open


def test_example_with_the_admin_key_never_shows_a_ban(uc, example):
    url = example("flask_signup", {"USER_CLEANING_API_URL": uc.url, "USER_CLEANING_API_KEY": uc.admin_key})
    r = signup(url, "jane@gmail.com")
    assert r.status_code == 200 and "Welcome" in r.text and BAN not in r.text


@pytest.fixture
def app(uc):
    a = flask.Flask("t")
    a.config.update(USER_CLEANING_API_URL=uc.url, USER_CLEANING_API_KEY=uc.key)
    return a


def test_function_and_validator_in_an_app(app):
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "203.0.113.90"}):
        d = check_signup_email("jane@gmial.com")
        assert not d.ok and d.code == "typo" and d.message == "Did you mean jane@gmail.com?"
        assert d.result.remaining_attempts_before_ban == 5  # the IP was sent: counted, not cut
        d = check_signup_email("x@mailinator.com")
        assert d.code == "blocked" and d.result.remaining_attempts_before_ban == 4
        d = check_signup_email("jo..hn@example.com")
        assert d.code == "invalid" and "two periods" in d.message

        class F(Form):
            email = StringField(validators=[NotDisposable()])
        f = F(data={"email": "me@duck.com"})
        assert f.validate() and f.email.email_check.is_grey
        f = F(data={"email": "someone@mailinator.com"})
        assert not f.validate() and "cannot be used" in f.email.errors[0]
    with app.app_context():  # no request: no IP
        d = check_signup_email("x@mailinator.com")
        assert d.code == "blocked" and d.result.remaining_attempts_before_ban is None
    app.config["USER_CLEANING_GREY_POLICY"] = "reject"
    app.config["USER_CLEANING_MESSAGES"] = {"grey": "No relays, please."}
    with app.app_context():
        d = check_signup_email("me@duck.com")
        assert not d.ok and d.message == "No relays, please."
