"""``python main.py gui`` (also the default with no command): the window, or a scripted screenshot.

``--source S --screenshot FILE --quit-after-frames N`` opens the window on S, processes N frames, selects
the person seen longest, saves a PNG of the whole window and exits (0, or 2 when the window shows an
error: the screenshot then shows the error too). With ``--screenshot`` and no display, Qt's offscreen
platform is used, so it works on a headless box without Xvfb.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from engine.paths import SAMPLE_CLIP

WINDOW_SIZE = (1600, 1000)
POLL_MS = 50
SCREENSHOT_FRAMES = 100  # --screenshot without --quit-after-frames (a live source never ends by itself)
SPEED_CHOICES = (("0.25", 0.25), ("0.5", 0.5), ("1", 1.0), ("2", 2.0), ("4", 4.0), ("max", None))


def register_cli(subparsers) -> None:
    from engine.cli.common import add_config_arguments

    parser = subparsers.add_parser(
        "gui", help="the window: live view, per-person PaSta timelines, recording (default command)",
        description="Watch a video, webcam, stream or image folder with part states, actions and A2V "
                    "vectors per tracked person. Without --source the bundled sample clip opens.")
    parser.add_argument("--source", help="webcam index, video file, rtsp/http URL, image folder, glob or .txt "
                                         "list (default: the bundled sample clip)")
    parser.add_argument("--screenshot", metavar="FILE.png",
                        help="save a screenshot of the whole window after --quit-after-frames frames and exit")
    parser.add_argument("--quit-after-frames", type=int, metavar="N",
                        help="process N frames, then exit (with --screenshot: save it first; default there "
                             f"{SCREENSHOT_FRAMES})")
    parser.add_argument("--speed", choices=[text for text, _ in SPEED_CHOICES], default="1",
                        help="playback speed of a file: 1 = real time (slow stages skip frames), max = every "
                             "frame as fast as the stages go (default 1)")
    add_config_arguments(parser)
    parser.set_defaults(func=run_gui)


def _has_display() -> bool:
    if sys.platform != "linux":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                or os.environ.get("QT_QPA_PLATFORM"))


def _limit_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives each new thread's allocations their own arena; a window that builds a new pipeline (new
    threads) per opened file then grows by a model's worth of fragmented heap per open/close (measured for
    issue 19: 782 → 969 MiB over 12 cycles, flat at 725 MiB with two arenas). Same as MALLOC_ARENA_MAX=2;
    a no-op where there is no glibc."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return
    try:
        import ctypes
        import ctypes.util

        name = ctypes.util.find_library("c")
        libc = ctypes.CDLL(name) if name else None
        if libc is not None and hasattr(libc, "mallopt"):
            libc.mallopt(-8, int(arenas))  # -8 = M_ARENA_MAX
    except OSError:
        pass


def run_gui(args: argparse.Namespace) -> int:
    """Build the window for ``args`` (see :func:`register_cli`) and run Qt's event loop; the exit code."""
    from engine.cli.common import config_from_args, print_error

    screenshot = getattr(args, "screenshot", None)
    quit_after = getattr(args, "quit_after_frames", None)
    if quit_after is not None and quit_after < 1:
        raise ValueError(f"--quit-after-frames {quit_after}: must be at least 1")
    if screenshot and Path(screenshot).suffix.lower() not in (".png", ".jpg", ".jpeg", ".bmp"):
        raise ValueError(f"{screenshot}: --screenshot must be an image file name ending in .png")
    if screenshot and quit_after is None:
        quit_after = SCREENSHOT_FRAMES
    config = config_from_args(args)
    if not _has_display():
        if not screenshot:
            raise RuntimeError("no display: run the window on a desktop, under Xvfb (xvfb-run -a python main.py "
                               "gui), or use --screenshot FILE.png (works headless)")
        os.environ["QT_QPA_PLATFORM"] = "offscreen"

    _limit_malloc_arenas()
    if config.a2v.enabled:
        # Before any window is shown: loading triton's native library (torchvision → torch._dynamo →
        # triton, for the A2V trunk) after Qt's X11 platform has shown a window crashes the process
        # (segfault in libtriton; seen under Xvfb with Mesa). Loaded first, both work.
        import torchvision.models  # noqa: F401

    from PyQt5.QtCore import QEventLoop, QTimer
    from PyQt5.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.transport import SPEEDS

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "a2v"])
    app.setApplicationName("a2v")
    window = MainWindow(config)
    window.resize(*WINDOW_SIZE)
    speed = dict(SPEED_CHOICES)[getattr(args, "speed", None) or "1"]
    window.speed_combo.setCurrentIndex([value for _, value in SPEEDS].index(speed))  # also sets window.speed
    window.show()
    source = getattr(args, "source", None) or str(SAMPLE_CLIP)
    if not (screenshot or quit_after):
        window.open_source(source, wait=False)  # the window shows at once; models load in the background
        return int(app.exec_())
    window.open_source(source, max_frames=quit_after)

    outcome = {"code": 0}
    target = quit_after or 0

    def finish_when_done() -> None:
        pipe = window.pipeline
        done = pipe is None or not pipe.running or (target and window.frames_received >= target)
        if not done:
            return
        poll.stop()
        window.drain_frames()  # results still queued for the GUI
        _select_longest_seen(window)
        app.processEvents()
        if screenshot:
            Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
            if not window.save_screenshot(screenshot):
                outcome["code"] = 2
            else:
                print(f"a2v: screenshot saved: {screenshot} ({window.frames_received} frames)", file=sys.stderr)
        if window.last_error and outcome["code"] == 0:
            # The CLI policy (engine/cli/common.py): one line, exit 2; the screenshot shows it too.
            outcome["code"] = print_error(f"{window.last_error} (shown in the window)")
        window.close()
        loop.quit()

    # A local event loop, not app.exec_()/app.quit(): quitting the application would leave Qt's event
    # loops closed for good in this process (later windows, e.g. in tests, would get no more events).
    loop = QEventLoop()
    poll = QTimer()
    poll.timeout.connect(finish_when_done)
    poll.start(POLL_MS)
    loop.exec_()
    return outcome["code"]


def _select_longest_seen(window) -> None:
    """Select the person seen longest, preferring those in the last frame (the one the screenshot shows)."""
    tracks = list(window.history.tracks.values())
    in_view = set(window.history.current_ids)
    if tracks and window.panel.selected_track is None:
        best = max(tracks, key=lambda t: (t.track_id in in_view, t.frames_seen))
        window.panel.select_track(best.track_id)
    window.panel.refresh(force=True)
