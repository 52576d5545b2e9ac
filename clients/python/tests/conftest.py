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
