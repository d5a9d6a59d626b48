"""Drop the native libraries' log lines that users cannot act on from the CLI's stderr.

mediapipe's C++ core (TFLite, absl) writes lines such as ``W0000 00:00:... inference_feedback_manager.cc``
straight to file descriptor 2, before Python's logging can see them, and no environment variable turns
them off. :func:`install` puts a pipe in front of fd 2: a thread copies every line to the real stderr
except those matching :data:`NOISE`. :func:`uninstall` (also run at exit) restores fd 2 and forwards what
is still buffered, so nothing else is lost. Only the CLI installs it; library users keep their stderr.
"""
from __future__ import annotations

import atexit
import os
import re
import sys
import threading
from typing import Optional

NOISE = re.compile(
    rb"^(?:[WI]\d{4} [\d:. ]+\s*\d+ \S+\.cc:\d+\]"  # absl/glog "W0000 00:00:1795... file.cc:114] ..."
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.)"
)

_state: Optional[dict] = None


def _pump(read_fd: int, out_fd: int) -> None:
    pending = b""
    while True:
        try:
            chunk = os.read(read_fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        pending += chunk
        # Forward complete lines at once and partial ones (progress bars redraw with \r) as they come.
        *lines, pending = pending.split(b"\n")
        kept = [line for line in lines if not NOISE.match(line)]
        data = b"".join(line + b"\n" for line in kept)
        if pending and not NOISE.match(pending) and b"\r" in pending:
            data += pending
            pending = b""
        if data:
            os.write(out_fd, data)
    if pending and not NOISE.match(pending):
        os.write(out_fd, pending)
    os.close(read_fd)


def install() -> None:
    """Filter fd 2 for the rest of the process (idempotent)."""
    global _state
    if _state is not None:
        return
    try:
        sys.stderr.flush()
        original = os.dup(2)
        read_fd, write_fd = os.pipe()
        os.dup2(write_fd, 2)
        os.close(write_fd)
    except OSError:
        return  # no usable fd 2 (embedded interpreters): leave stderr as it is
    thread = threading.Thread(target=_pump, args=(read_fd, original), name="a2v-stderr-filter", daemon=True)
    thread.start()
    _state = {"original": original, "thread": thread}
    atexit.register(uninstall)


def uninstall() -> None:
    """Give fd 2 back to the real stderr and forward everything still in the pipe."""
    global _state
    if _state is None:
        return
    state, _state = _state, None
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os.dup2(state["original"], 2)  # closes the pipe's last write end: the pump sees EOF
    state["thread"].join(timeout=2.0)
    os.close(state["original"])
