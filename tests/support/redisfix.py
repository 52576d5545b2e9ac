"""A real redis-server for the black-box suites: a free loopback port, a
directory of its own, AOF on. It can be killed and started again on the same
port and directory (its AOF is what comes back), and watched with MONITOR."""
import os
import signal
import socket
import subprocess
import threading
import time


def free_tcp_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class RedisFixture:
    def __init__(self, tmp, appendfsync="always"):
        self.dir = tmp / "redis"
        self.dir.mkdir(exist_ok=True)
        self.port = free_tcp_port()
        self.appendfsync = appendfsync
        self.proc = None
        self.start()

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.log = open(self.dir / "redis.log", "a")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.dir), "--appendonly", "yes", "--appendfsync", self.appendfsync,
             "--save", ""], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server exited: " + open(self.dir / "redis.log").read())
            if self.cli("PING", check=False).stdout.strip() == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not answer")

    def cli(self, *args, check=True):
        p = subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True,
                           text=True, timeout=30)
        if check:
            assert p.returncode == 0, p.stderr
        return p

    def stop(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)

    def monitor(self):
        return Monitor(self)


class Monitor:
    """MONITOR in the background: commands seen between start and stop."""

    def __init__(self, redis):
        self.redis = redis
        self.proc = subprocess.Popen(["redis-cli", "-p", str(redis.port), "monitor"],
                                     stdout=subprocess.PIPE, text=True)
        self.lines = []
        first = self.proc.stdout.readline()  # "OK" once MONITOR is on
        assert first.strip() == "OK", first
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def stop(self):
        """Stops once MONITOR has passed on everything before this call (a
        marker command is seen), so that no command is missed."""
        marker = f"uc-monitor-end-{time.monotonic_ns()}"
        self.redis.cli("ECHO", marker)
        deadline = time.time() + 20
        while time.time() < deadline and not any(marker in x for x in self.lines):
            time.sleep(0.01)
        self.lines = [x for x in self.lines if marker not in x]
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=10)
        self.reader.join(timeout=10)
        return self.commands()

    def commands(self):
        """Each command a client sent, as its list of arguments (MONITOR
        quotes them); the commands a script ran ("[0 lua]") are part of the
        EVALSHA that ran it."""
        out = []
        for line in self.lines:
            i = line.find("] ")
            if i < 0 or line[:i].endswith(" lua"):
                continue
            out.append(_split_quoted(line[i + 2:]))
        return out


def _split_quoted(text):
    args, cur, inside, i = [], "", False, 0
    while i < len(text):
        c = text[i]
        if inside and c == "\\" and i + 1 < len(text):
            cur += text[i:i + 2]
            i += 2
            continue
        if c == '"':
            if inside:
                args.append(cur)
                cur = ""
            inside = not inside
        elif inside:
            cur += c
        i += 1
    return args
