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


def _mpegts(frames: int, fps: int = 25) -> bytes:
    """``frames`` numbered frames as an MPEG-TS byte string (MPEG-2 video), encoded with PyAV in memory."""
    import io

    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mpegts") as container:
        stream = container.add_stream("mpeg2video", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for number in range(frames):
            from engine.cvcompat import cv2

            image = cv2.imdecode(np.frombuffer(_jpeg(number % 10), np.uint8), cv2.IMREAD_COLOR)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


class MjpegServer:
    """``kind="mjpeg"``: an endless (or ``end_after``-frame) multipart JPEG response per client.
    ``kind="ts"``: ``end_after`` frames of MPEG-TS per response, paced in real time, then the response ends
    cleanly: the client sees a plain EOF, as when a streaming server restarts."""

    def __init__(self, port: int = 0, fps: float = 25.0, end_after: int = 0, kind: str = "mjpeg") -> None:
        self.kind = kind
        self.fps = fps
        self.end_after = end_after  # > 0: each response ends cleanly (EOF) after this many frames
        self.port = port
        self.frames_sent = 0
        self._alive = threading.Event()
        self._httpd = None
        self._thread = None
        self._connections: list[socket.socket] = []
        self._jpegs = [_jpeg(i) for i in range(10)]
        self._ts = _mpegts(end_after or 40) if kind == "ts" else b""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.{'ts' if self.kind == 'ts' else 'mjpg'}"

    def start(self) -> "MjpegServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                server._connections.append(self.connection)
                if server.kind == "ts":
                    self.send_response(200)
                    self.send_header("Content-Type", "video/mp2t")
                    self.end_headers()
                    pieces = 20
                    step = -(-len(server._ts) // pieces)
                    try:
                        for start in range(0, len(server._ts), step):
                            if not server._alive.is_set():
                                break
                            self.wfile.write(server._ts[start:start + step])
                            server.frames_sent += (server.end_after or 40) // pieces
                            time.sleep((server.end_after or 40) / server.fps / pieces)
                    except OSError:
                        pass
                    self.close_connection = True
                    return
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


class TcpTsServer:
    """MPEG-TS over a raw TCP socket (``tcp://``): ``frames`` frames per connection, paced in real time, then
    the socket is closed, which the client reads as a clean EOF (no HTTP error code in between)."""

    def __init__(self, frames: int = 30, fps: float = 25.0) -> None:
        self.frames, self.fps = frames, fps
        self._ts = _mpegts(frames)
        self._sock = None
        self._alive = threading.Event()
        self.port = 0

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def start(self) -> "TcpTsServer":
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", self.port))
        self._sock.listen(4)
        self.port = self._sock.getsockname()[1]
        self._alive.set()
        threading.Thread(target=self._serve, daemon=True).start()
        return self

    def _serve(self) -> None:
        while self._alive.is_set():
            try:
                connection, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._send, args=(connection,), daemon=True).start()

    def _send(self, connection: socket.socket) -> None:
        pieces = 20
        step = -(-len(self._ts) // pieces)
        try:
            for start in range(0, len(self._ts), step):
                connection.sendall(self._ts[start:start + step])
                time.sleep(self.frames / self.fps / pieces)
        except OSError:
            pass
        finally:
            connection.close()

    def kill(self) -> None:
        self._alive.clear()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
