"""Fixtures for black-box tests of the usercleaning binary (UC_BIN)."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))


@pytest.fixture(scope="session")
def binary():
    path = os.path.abspath(os.environ.get("UC_BIN", os.path.join(ROOT, "build", "usercleaning")))
    assert os.access(path, os.X_OK), f"{path} is not built; run make"
    return path


@pytest.fixture(scope="session")
def snapshot():
    return os.path.join(ROOT, "build", "lists.snap")


@pytest.fixture
def run(binary, snapshot):
    """Runs the binary with --lists pointing at the default snapshot."""

    def _run(*args, stdin=None, lists=True, env=None):
        argv = [binary, *args]
        if lists and len(args) >= 1 and args[0] == "check":
            argv[2:2] = ["--lists", snapshot]
        return subprocess.run(argv, input=stdin, capture_output=True, timeout=120,
                              env={**os.environ, **(env or {})})

    return _run
