"""Fixtures for the weights tests: throw-away registry entries and a local HTTP server on 127.0.0.1."""
import hashlib
import http.server
import socket
import threading

import pytest

from engine.weights import store as weights
from engine.weights.store import WeightsEntry


@pytest.fixture
def entry_factory():
    """Register throw-away entries and remove them after the test."""
    names = []

    def make(**fields) -> WeightsEntry:
        fields.setdefault("description", "test weights")
        fields.setdefault("licence", "test")
        fields.setdefault("used_by", "tests")
        entry = weights.register(WeightsEntry(**fields))
        names.append(entry.name)
        return entry

    yield make
    for name in names:
        weights.unregister(name)


class Routes:
    """What the test server answers, per path; ``requests`` records ``(path, Range header)`` in order."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple] = {}
        self.requests: list[tuple[str, object]] = []
        self.release = threading.Event()  # set at teardown: a "hang" route stops waiting

    def file(self, path: str, data: bytes, headers: dict | None = None) -> None:
        self.routes[path] = ("file", data, headers or {})

    def drop_once(self, path: str, data: bytes, cut: int) -> None:
        """The first answer announces the whole file, sends ``cut`` bytes and closes; later ones honour Range."""
        self.routes[path] = ("drop", data, cut)

    def redirect(self, path: str, location: str, headers: dict | None = None) -> None:
        self.routes[path] = ("redirect", location, headers or {})

    def status(self, path: str, code: int) -> None:
        self.routes[path] = ("status", code)

    def hang(self, path: str) -> None:
        """Accept the request and never answer."""
        self.routes[path] = ("hang",)

    def paths(self) -> list[str]:
        return [p for p, _ in self.requests]


def _handler(routes: Routes):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802 - http.server's naming
            path = self.path.split("?")[0]
            header = self.headers.get("Range")
            routes.requests.append((path, header))
            route = routes.routes.get(path, ("status", 404))
            kind = route[0]
            if kind == "hang":
                routes.release.wait(10)
                self.close_connection = True
                return
            if kind == "status":
                self.send_response(route[1])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if kind == "redirect":
                self.send_response(302)
                self.send_header("Location", route[1])
                for key, value in route[2].items():
                    self.send_header(key, value)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = route[1]
            if kind == "drop" and not header:
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: route[2]])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            status, start = 200, 0
            if header:
                start = int(header.split("=")[1].split("-")[0])
                status = 206
            self.send_response(status)
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(data) - start))
            for key, value in (route[2].items() if kind == "file" else ()):
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data[start:])

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture
def server(monkeypatch):
    """``(routes, base_url)``: a threaded HTTP server on 127.0.0.1 for this test; downloads allowed."""
    monkeypatch.delenv("A2V_OFFLINE", raising=False)
    routes = Routes()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(routes))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield routes, f"http://127.0.0.1:{httpd.server_address[1]}"
    routes.release.set()
    httpd.shutdown()
    httpd.server_close()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
