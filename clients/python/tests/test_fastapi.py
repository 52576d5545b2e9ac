"""The FastAPI dependency against the real server: the example endpoint
(examples/fastapi_signup under uvicorn, its own process, settings from the
environment): every outcome, the visitor's IP, and the error forms."""
import requests

BAN = "Your IP address is banned. Contact the service administrator to unlock access."


def signup(url, email, ip=None):
    headers = {"X-Forwarded-For": ip} if ip else {}
    return requests.post(url + "/signup", json={"name": "Jo", "email": email}, headers=headers,
                         timeout=30)


def env(uc, **more):
    return {"USER_CLEANING_API_URL": uc.url, "USER_CLEANING_API_KEY": uc.key,
            "USER_CLEANING_TRUSTED_PROXIES": "1", **more}


def test_example_endpoint_outcomes(uc, example):
    url = example("fastapi_signup", env(uc))
    r = signup(url, "jane@gmial.com", ip="203.0.113.30")
    assert r.status_code == 422
    d = r.json()["detail"][0]
    assert d["loc"] == ["body", "email"] and d["msg"] == "Did you mean jane@gmail.com?"
    assert d["ctx"] == {"reason": "typo", "suggestion": "jane@gmail.com"}
    r = signup(url, "someone@mailinator.com", ip="203.0.113.30")
    assert r.status_code == 422 and "cannot be used" in r.json()["detail"][0]["msg"]
    assert signup(url, "me@duck.com").json() == {"status": "confirm", "email": "me@duck.com"}
    assert signup(url, "jane@gmail.com").json() == {"status": "welcome", "name": "Jo"}
    r = signup(url, "jo..hn@example.com")
    assert r.status_code == 422 and r.json()["detail"][0]["ctx"]["reason"] == "invalid"


def test_example_bans_the_visitor_ip(uc, example):
    url = example("fastapi_signup", env(uc))
    for _ in range(5):
        signup(url, "x@mailinator.com", ip="198.51.100.60")
    r = signup(url, "jane@gmail.com", ip="198.51.100.60")
    assert r.status_code == 403 and r.json() == {"detail": BAN}
    assert signup(url, "jane@gmail.com", ip="198.51.100.61").status_code == 200
    bans = requests.get(uc.url + "/v1/admin/bans", timeout=10,
                        headers={"Authorization": f"Bearer {uc.admin_key}"}).json()["bans"]
    assert [b["ip"] for b in bans] == ["198.51.100.60"]  # the visitor's, not the proxy's


def test_example_fails_open_and_closed(uc, example):
    open_url = example("fastapi_signup", env(uc))
    closed_url = example("fastapi_signup", env(uc, USER_CLEANING_FAIL_MODE="closed"))
    uc.stop()
    assert signup(open_url, "someone@mailinator.com").json()["status"] == "welcome"
    r = signup(closed_url, "jane@gmail.com")
    assert r.status_code == 503 and "could not verify" in r.json()["detail"]


def test_example_with_the_admin_key_never_shows_a_ban(uc, example):
    url = example("fastapi_signup", env(uc, USER_CLEANING_API_KEY=uc.admin_key))
    r = signup(url, "jane@gmail.com")
    assert r.status_code == 200 and r.json()["status"] == "welcome"
