"""What a new user meets first: the first start's output (the integration key
first, each key labelled, a command that works from anywhere), a port that
is taken (one true message), and read-only commands run from another
directory (they say where they looked, never create a store, and point at
`make run`'s store when there is one)."""
import os
import re
import shutil
import socket
import subprocess

from conftest import BIN, SNAP, Server


def env_without_settings():
    return {k: v for k, v in os.environ.items() if not k.startswith("USER_CLEANING_")}


def run(*args, cwd=None, binary=BIN):
    return subprocess.run([os.path.abspath(binary), *args], capture_output=True, text=True,
                          timeout=60, cwd=cwd, env=env_without_settings())


def test_first_start_prints_the_integration_key_first_and_labels_each(tmp_path):
    s = Server(tmp_path)
    try:
        out = s.stdout()
        live, admin = out.index("ucl_live_"), out.index("ucl_admin_")
        assert live < admin  # the key to paste into an integration comes first
        assert re.search(r"active key: ucl_live_\S+\n\s+for your sign-up form "
                         r"\(USER_CLEANING_API_KEY\) and the check API", out)
        assert re.search(r"admin key:\s+ucl_admin_\S+\n\s+for the dashboard and the admin API only",
                         out)
        curl = re.search(r"curl .*?\n.*?Bearer (ucl_\w+)", out).group(1)
        assert curl.startswith("ucl_live_")  # the printed curl uses the integration key
        assert f"Store: {s.db}" in out and f"store sqlite {s.db}" in out  # absolute paths
        assert "/docs" in out
        # the printed "Lost a key?" command works as printed, from any directory
        line = re.search(r"Lost a key\?.*\n\s+(\S+ keys create .*)", out).group(1)
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        argv = line.replace("NAME", "mine").split()
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=elsewhere,
                           env=env_without_settings())
        assert p.returncode == 0, p.stderr
        assert p.stdout.strip().splitlines()[-1].startswith("ucl_live_")
        assert s.check("a@gmail.com", key=p.stdout.strip().splitlines()[-1]).status_code == 200
    finally:
        s.stop()


def test_a_taken_port_gets_one_true_message(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        p = run("serve", "--listen", f"127.0.0.1:{port}", "--db", str(tmp_path / "s.db"),
                "--lists", SNAP, "--no-dns")
    assert p.returncode == 1
    lines = p.stderr.strip().splitlines()
    assert lines[0] == f"usercleaning: cannot listen on 127.0.0.1:{port}: Address already in use"
    assert "--listen" in lines[1]
    assert "port 0" not in p.stderr and "Failed to bind" not in p.stderr
    assert "ucl_" not in p.stdout  # no keys were made


def test_read_only_commands_elsewhere_say_where_they_looked(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for args in (("keys", "list"), ("bans", "list"), ("usage",)):
        p = run(*args, cwd=elsewhere)
        assert p.returncode != 0, args
        assert "no store at ./data/usercleaning.db" in p.stderr
        assert f"That is {elsewhere}/data/usercleaning.db" in p.stderr
        assert "relative path is taken from the current directory" in p.stderr
        for hint in ("--db PATH", "--store URL", "USER_CLEANING_DB", "USER_CLEANING_STORE",
                     "Nothing was created"):
            assert hint in p.stderr, hint
    assert list(elsewhere.iterdir()) == []


def test_read_only_commands_point_at_make_runs_store(tmp_path):
    """A binary in build/ whose ../data/usercleaning.db exists (what `make run`
    leaves) names that store when run from another directory."""
    app = tmp_path / "app"
    (app / "build").mkdir(parents=True)
    binary = app / "build" / "usercleaning"
    shutil.copy(BIN, binary)
    store = app / "data" / "usercleaning.db"
    assert run("accounts", "create", "default", "--db", str(store), binary=binary).returncode == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    p = run("keys", "list", cwd=elsewhere, binary=binary)
    assert p.returncode == 1
    assert f"There is a store at {store} (`make run`'s): add --db {store}" in p.stderr
    p = run("keys", "list", "--db", str(store), cwd=elsewhere, binary=binary)
    assert p.returncode == 0, p.stderr
