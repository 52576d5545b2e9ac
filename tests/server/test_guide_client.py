"""The integration guide's Django helper, as published (only the base URL and
the key source changed), against our server: the drop-in promise."""
import requests

API_URL = None  # set per test: the guide hard-codes the hosted service's URL
API_KEY = None


# --- the guide's helper -------------------------------------------------------
def check_email(email, client_ip):
    url = f"{API_URL}/v1/email/check"
    headers = {
        "Authorization": f"Bearer {API_KEY}",
        "Content-Type": "application/json",
    }
    data = {"email": email, "ip": client_ip}
    try:
        response = requests.post(url, json=data, headers=headers, timeout=5)
        if response.status_code == 403:
            return {"category": "banned", "message": response.json().get("detail")}
        response.raise_for_status()
        return response.json()
    except requests.RequestException:
        return {"category": "white"}  # fail open: never block sign-up on our account
# ------------------------------------------------------------------------------


def test_guide_helper_gets_black_grey_white(server):
    global API_URL, API_KEY
    API_URL, API_KEY = server.url, server.key
    assert check_email("someone@mailinator.com", "203.0.113.7")["category"] == "black"
    assert check_email("someone@sub.guerrillamail.com", "203.0.113.7")["category"] == "black"
    assert check_email("me@privaterelay.appleid.com", "203.0.113.8")["category"] == "grey"
    assert check_email("jane+shop@gmail.com", "203.0.113.8")["category"] == "grey"
    assert check_email("jane.doe@gmail.com", "203.0.113.9")["category"] == "white"
    assert check_email("jane.doe@outlook.com", "unknown")["category"] == "white"
    r = check_email("jane.doe@gmail.com", "203.0.113.9")
    assert r["type"] == "legitimate" and "details" in r


def test_guide_helper_fails_open(server):
    global API_URL, API_KEY
    API_URL, API_KEY = server.url, "ucl_live_wrong"
    assert check_email("someone@mailinator.com", "1.2.3.4") == {"category": "white"}  # 401
    API_URL = server.url
    API_KEY = server.key
    server.stop()
    assert check_email("someone@mailinator.com", "1.2.3.4") == {"category": "white"}  # down
