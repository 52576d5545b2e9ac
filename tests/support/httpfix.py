"""A real HTTP server on loopback for tests (Python's http.server on a thread
of the test process): it serves what the test routes to each path (list
files, an RDAP bootstrap pointing at itself, RDAP answers) and records every
request. Nothing here reaches the internet; the test starts and stops it."""
import datetime
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Route:
    def __init__(self, body=b"", status=200, headers=None, etag=None, delay=0.0, gate=None,
                 content_type="text/plain"):
        self.body = body.encode() if isinstance(body, str) else body
        self.status = status
        self.headers = dict(headers or {})
        self.etag = etag          # answers 304 to a matching If-None-Match
        self.delay = delay        # seconds before answering
        self.gate = gate          # a threading.Event the answer waits for
        self.content_type = content_type


class HTTPFixture:
    def __init__(self):
        self.routes = {}
        self.requests = []  # (method, path, headers as a dict)
        self.lock = threading.Lock()
        fixture = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):  # noqa: N802
                with fixture.lock:
                    fixture.requests.append(("GET", self.path, dict(self.headers.items())))
                    route = fixture.routes.get(self.path)
                if route is None:
                    return self._send(404, b'{"errorCode":404}', {}, "application/json")
                if route.gate is not None:
                    route.gate.wait(60)
                if route.delay:
                    time.sleep(route.delay)
                if route.etag and self.headers.get("If-None-Match") == route.etag:
                    return self._send(304, b"", {"ETag": route.etag}, None)
                headers = dict(route.headers)
                if route.etag:
                    headers["ETag"] = route.etag
                self._send(route.status, route.body, headers, route.content_type)

            def _send(self, status, body, headers, ctype):
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    if ctype:
                        self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)) if status != 304 else "0")
                    self.end_headers()
                    if status != 304:
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout under test)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def route(self, path, body=b"", **kw):
        with self.lock:
            self.routes[path] = Route(body, **kw)
        return self.url(path)

    def count(self, path):
        with self.lock:
            return sum(1 for _, p, _ in self.requests if p == path)

    def last_headers(self, path):
        with self.lock:
            for _, p, h in reversed(self.requests):
                if p == path:
                    return h
        return None

    def close(self):
        with self.lock:
            for r in self.routes.values():
                if r.gate is not None:
                    r.gate.set()
        self.server.shutdown()
        self.server.server_close()

    # ---- RDAP (RFC 9224 bootstrap, RFC 9083 answers) ----

    def rdap_bootstrap(self, tlds=("com", "net")):
        """Serves a bootstrap for tlds that points at this server; returns its URL."""
        doc = {"version": "1.0", "publication": "2026-01-01T00:00:00Z",
               "services": [[list(tlds), [self.url("/rdap/")]]]}
        return self.route("/bootstrap.json", json.dumps(doc), content_type="application/json")

    def rdap_domain(self, domain, registered, **kw):
        """Serves the RDAP answer for domain with a registration date (a datetime.date)."""
        doc = {"objectClassName": "domain", "ldhName": domain.upper(),
               "events": [{"eventAction": "last changed", "eventDate": "2026-01-02T03:04:05Z"},
                          {"eventAction": "registration",
                           "eventDate": registered.isoformat() + "T12:34:56Z"},
                          {"eventAction": "expiration", "eventDate": "2099-01-01T00:00:00Z"}]}
        return self.route("/rdap/domain/" + domain, json.dumps(doc),
                          content_type="application/rdap+json", **kw)


def today():
    return datetime.datetime.now(datetime.timezone.utc).date()
