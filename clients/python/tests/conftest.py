"""A real usercleaning server per test, and Django settings pointing at it."""
import signal

import pytest
from ucserver import Server


@pytest.fixture
def uc(tmp_path):
    s = Server(tmp_path)
    yield s
    s.stop(signal.SIGKILL)


@pytest.fixture
def site(uc, settings):
    """The example site configured for the server (pytest-django's settings fixture)."""
    settings.USER_CLEANING_API_URL = uc.url
    settings.USER_CLEANING_API_KEY = uc.key
    settings.USER_CLEANING_TIMEOUT = 2.0
    return uc


EXAMPLES = __import__("pathlib").Path(__file__).resolve().parents[3] / "examples"


@pytest.fixture
def example(tmp_path):
    """Starts examples/NAME/app.py as a user would (its own process, settings
    from the environment) on a free loopback port; yields its base URL."""
    import os
    import socket
    import subprocess
    import sys
    import time

    import requests
    procs = []

    def start(name, env):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        clean = {k: v for k, v in os.environ.items()
                 if not k.startswith(("USER_CLEANING_", "DJANGO_", "FLASK_"))}
        log = open(tmp_path / f"{name}.log", "w")
        p = subprocess.Popen([sys.executable, str(EXAMPLES / name / "app.py")], stdout=log,
                             stderr=subprocess.STDOUT, env={**clean, **env, "PORT": str(port)})
        procs.append(p)
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                requests.get(url + "/", timeout=2)
                return url
            except requests.ConnectionError:
                if p.poll() is not None:
                    raise RuntimeError(open(tmp_path / f"{name}.log").read())
                time.sleep(0.1)
        raise RuntimeError(f"{name} did not start")

    yield start
    for p in procs:
        p.terminate()
        p.wait(timeout=30)
