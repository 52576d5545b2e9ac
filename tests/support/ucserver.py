"""The real `usercleaning serve` on a free port with a fresh SQLite store, for
every black-box suite (tests/server, clients/python/tests)."""
import os
import re
import signal
import subprocess
import time

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("UC_BIN", os.path.join(ROOT, "build", "usercleaning"))
SNAP = os.path.join(ROOT, "build", "lists.snap")


class Server:
    def __init__(self, tmp, *flags, lists=SNAP, env=None, keys=None, store=None):
        """keys: (admin, active) of an existing store, which prints none.
        store: a store URL (e.g. a Redis fixture's) instead of a fresh SQLite file."""
        self.tmp = tmp
        self.db = str(tmp / "store.db")
        self.store = ["--store", store] if store else ["--db", self.db]
        self.out = open(tmp / "stdout.log", "w")
        self.err = open(tmp / "stderr.log", "w")
        # No test reaches a resolver outside: DNS is off unless a test names a
        # fixture server (--dns-server) in flags.
        dns = [] if any(f.startswith("--dns") for f in flags) else ["--no-dns"]
        # Nor an RDAP server: domain age is off unless a test names a fixture
        # bootstrap (--rdap-bootstrap).
        if not any(f.startswith("--rdap") or f.startswith("--domain-age") for f in flags):
            dns.append("--no-domain-age")
        # Batch files stay in the test's directory, not in ./data of the checkout.
        self.batch_dir = str(tmp / "batch")
        batch = [] if any(f.startswith("--batch-dir") for f in flags) else \
            ["--batch-dir", self.batch_dir]
        argv = [BIN, "serve", "--listen", "127.0.0.1:0", *self.store, "--lists", lists, *dns,
                *batch, "--flush-interval", "1", *flags]
        self.proc = subprocess.Popen(argv, stdout=self.out, stderr=self.err,
                                     env={**os.environ, **(env or {})})
        deadline = time.time() + 30
        while time.time() < deadline:
            text = self.stdout()
            m = re.search(r"listening on (http://[0-9.]+:\d+)", text)
            if m:
                self.url = m.group(1)
                break
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.stderr()}")
            time.sleep(0.05)
        else:
            raise RuntimeError("server did not start")
        text = self.stdout()
        if keys:
            self.admin_key, self.key = keys
        else:
            self.admin_key = re.search(r"admin key:\s+(\S+)", text).group(1)
            self.key = re.search(r"active key:\s+(\S+)", text).group(1)

    def stdout(self):
        self.out.flush()
        with open(self.out.name) as f:
            return f.read()

    def stderr(self):
        with open(self.err.name) as f:
            return f.read()

    def cli(self, *args, check=True):
        p = subprocess.run([BIN, *args, *self.store], capture_output=True, text=True,
                           timeout=60)
        if check:
            assert p.returncode == 0, p.stderr
        return p

    def create_key(self, kind="active", account="default", name="test"):
        p = self.cli("keys", "create", "--account", account, "--name", name, "--type", kind)
        return p.stdout.strip().splitlines()[-1]

    def post(self, path, key=None, header="Authorization", **kw):
        headers = kw.pop("headers", {})
        if key is not None:
            headers[header] = f"Bearer {key}" if header == "Authorization" else key
        return requests.post(self.url + path, headers=headers, timeout=10, **kw)

    def check(self, email, key=None, ip=None):
        body = {"email": email}
        if ip is not None:
            body["ip"] = ip
        return self.post("/v1/email/check", key or self.key, json=body)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode
