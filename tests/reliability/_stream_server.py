"""An MJPEG-over-HTTP camera on 127.0.0.1 (multipart/x-mixed-replace, what IP cameras serve) that a test can
kill (every connection dropped at once) and start again on the same port."""
from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

BOUNDARY = "a2vframe"


def _jpeg(number: int) -> bytes:
    from engine.cvcompat import cv2

    image = np.full((120, 160, 3), 40, np.uint8)
    cv2.putText(image, str(number), (10, 80), cv2.FONT_HERSHEY_SIMPLEX, 2.0, (255, 255, 255), 3)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return data.tobytes()


class MjpegServer:
    def __init__(self, port: int = 0, fps: float = 25.0, end_after: int = 0) -> None:
        self.fps = fps
        self.end_after = end_after  # > 0: each response ends cleanly (EOF) after this many frames
        self.port = port
        self.frames_sent = 0
        self._alive = threading.Event()
        self._httpd = None
        self._thread = None
        self._connections: list[socket.socket] = []
        self._jpegs = [_jpeg(i) for i in range(10)]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def start(self) -> "MjpegServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                server._connections.append(self.connection)
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace;boundary={BOUNDARY}")
                self.end_headers()
                sent = 0
                try:
                    while server._alive.is_set() and not (server.end_after and sent >= server.end_after):
                        sent += 1
                        jpeg = server._jpegs[server.frames_sent % len(server._jpegs)]
                        self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                                         f"Content-Length: {len(jpeg)}\r\n\r\n".encode() + jpeg + b"\r\n")
                        server.frames_sent += 1
                        time.sleep(1.0 / server.fps)
                except OSError:
                    pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._alive.set()
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until every response so far has ended (after ``end_after`` frames)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(c.fileno() != -1 for c in self._connections):
            time.sleep(0.02)

    def kill(self) -> None:
        """Like a crashed camera: stop listening and drop every open connection."""
        self._alive.clear()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        for connection in self._connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
                connection.close()
            except OSError:
                pass
        self._connections.clear()
