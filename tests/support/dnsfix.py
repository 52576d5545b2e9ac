"""A real DNS server on loopback for tests: dnsmasq (Debian's dnsmasq-base)
authoritative for one fixture zone, plus two helpers it forwards to: a
"black hole" (a UDP socket that reads and never answers) and a server that
answers every query with SERVFAIL. Nothing here reaches a resolver outside."""
import os
import signal
import socket
import struct
import subprocess
import threading
import time

ZONE = "dnsfix.net"


def free_udp_port():
    """A port free for UDP and for TCP: dnsmasq listens on both (a port free
    for UDP alone made it exit with "Address already in use" now and then)."""
    for _ in range(50):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            t.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            u.close()
            t.close()
    raise RuntimeError("no port free for both UDP and TCP")


class RcodeServer(threading.Thread):
    """A resolver that answers every query with no records and one RCODE:
    root_rcode for the root zone ("."), rcode for every other name. (3, 3) is
    a resolver that denies everything (sandboxes, filtering resolvers); (0, 3)
    an honest one to which nothing but the root exists."""

    def __init__(self, root_rcode, rcode):
        super().__init__(daemon=True)
        self.root_rcode, self.rcode = root_rcode, rcode
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stopped = False
        self.start()

    @property
    def server(self):
        return f"127.0.0.1:{self.port}"

    def run(self):
        self.sock.settimeout(0.2)
        while not self.stopped:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                continue
            if len(data) < 13:
                continue
            rcode = self.root_rcode if data[12] == 0 else self.rcode  # empty first label: "."
            ident, flags = struct.unpack("!HH", data[:4])
            reply = struct.pack("!HH", ident, 0x8000 | (flags & 0x0100) | 0x0080 | rcode) + \
                data[4:6] + b"\x00\x00\x00\x00\x00\x00" + data[12:]
            self.sock.sendto(reply, peer)

    def stop(self):
        self.stopped = True
        self.sock.close()


class DnsFixture:
    """dnsmasq on a free loopback port. records: dnsmasq config lines for the
    zone (mx-host=, host-record=, cname=, txt-record=, dns-rr=...)."""

    def __init__(self, tmp, records, ttl=60):
        self.tmp = tmp
        self.port = free_udp_port()
        self.hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # reads nothing, ever
        self.hole.bind(("127.0.0.1", 0))
        self.servfail = RcodeServer(root_rcode=2, rcode=2)  # SERVFAIL to everything
        self.records = list(records)
        self.ttl = ttl
        self.proc = None
        for attempt in range(5):  # another suite may take the port before dnsmasq binds it
            try:
                self.start()
                break
            except RuntimeError as e:
                if "Address already in use" not in str(e) or attempt == 4:
                    raise
                self.port = free_udp_port()

    @property
    def server(self):
        return f"127.0.0.1:{self.port}"

    def config(self):
        hole = self.hole.getsockname()[1]
        return "\n".join([
            f"port={self.port}", "listen-address=127.0.0.1", "bind-interfaces", "no-resolv",
            "no-hosts", "no-negcache", f"local-ttl={self.ttl}", f"local=/{ZONE}/",
            f"server=/blackhole.{ZONE}/127.0.0.1#{hole}",
            f"server=/servfail.{ZONE}/127.0.0.1#{self.servfail.port}",
            *self.records, ""])

    def start(self, tries=5):
        """Starts dnsmasq; another process may take the port between the choice
        and dnsmasq's bind: then again on another port (a first start only)."""
        for attempt in range(tries):
            try:
                return self._start()
            except RuntimeError as e:
                if self.proc is None or "Address already in use" not in str(e) or attempt == tries - 1 \
                        or getattr(self, "_started", False):
                    raise
                self.port = free_udp_port()

    def _start(self):
        conf = os.path.join(str(self.tmp), f"dnsmasq-{self.port}.conf")
        with open(conf, "w") as f:
            f.write(self.config())
        self.log = open(os.path.join(str(self.tmp), f"dnsmasq-{self.port}.log"), "w")
        self.proc = subprocess.Popen(["dnsmasq", "--keep-in-foreground", f"--conf-file={conf}",
                                      "--pid-file=", "--log-facility=-"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_up()
        self._started = True

    def _wait_up(self):
        deadline = time.time() + 10
        query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + \
            b"".join(bytes([len(p)]) + p.encode() for p in ZONE.split(".")) + b"\x00\x00\x06\x00\x01"
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self.log.close()
                raise RuntimeError("dnsmasq exited: " + open(self.log.name).read())
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(0.2)
            try:
                s.sendto(query, ("127.0.0.1", self.port))
                s.recvfrom(512)
                return
            except OSError:
                time.sleep(0.05)
            finally:
                s.close()
        raise RuntimeError("dnsmasq did not answer")

    def replace(self, records):
        """Restarts dnsmasq on the same port with other records."""
        self.stop_dnsmasq()
        self.records = list(records)
        self.start()

    def stop_dnsmasq(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)
        self.log.close()

    def stop(self):
        self.stop_dnsmasq()
        self.servfail.stop()
        self.hole.close()
