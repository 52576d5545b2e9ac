"""Fixtures: the real `usercleaning serve` (tests/support/ucserver.py)."""
import os
import signal
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
from ucserver import BIN, ROOT, SNAP, Server  # noqa: E402,F401


@pytest.fixture
def make_server(tmp_path):
    servers = []

    def _make(*flags, **kw):
        d = tmp_path / f"s{len(servers)}"
        d.mkdir()
        s = Server(d, *flags, **kw)
        servers.append(s)
        return s

    yield _make
    for s in servers:
        s.stop(signal.SIGKILL)


@pytest.fixture
def server(make_server):
    return make_server()
