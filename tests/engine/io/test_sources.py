"""Sources: every kind yields BGR uint8 frames; bad input is one clear SourceError; live sources drop stale frames."""
import functools
import http.server
import logging
import re
import socket
import threading
import time
import tracemalloc
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from engine.config import SourceConfig
from engine.cvcompat import cv2
from engine.io.sources import (
    EndOfStream,
    Frame,
    ImageSource,
    LiveSource,
    SourceError,
    VideoFileSource,
    open_source,
    to_bgr8,
)


def _check_frame(frame: Frame, size=None) -> None:
    assert isinstance(frame, Frame)
    image = frame.image
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert image.flags["C_CONTIGUOUS"]
    if size is not None:
        assert (image.shape[1], image.shape[0]) == size


def coded_image(index: int, size=(96, 64)) -> np.ndarray:
    """A frame whose 8 vertical stripes are black/white with the bits of ``index`` (survives compression)."""
    image = np.zeros((size[1], size[0], 3), np.uint8)
    stripe = size[0] // 8
    for bit in range(8):
        if index >> bit & 1:
            image[:, bit * stripe:(bit + 1) * stripe] = 255
    return image


def decode_index(image: np.ndarray) -> int:
    stripe = image.shape[1] // 8
    return sum(1 << bit for bit in range(8) if image[:, bit * stripe:(bit + 1) * stripe].mean() > 128)


def write_test_video(path, frames: int = 40, size=(96, 64), fps: int = 25, options=None, fmt=None) -> None:
    """An H.264 mp4 (PyAV, libx264; ``fmt="mpegts"`` for a stream) whose frame i shows the bits of i."""
    container = av.open(str(path), "w", format=fmt, options=options or {})
    stream = container.add_stream("libx264", rate=Fraction(fps))
    stream.width, stream.height = size
    stream.pix_fmt = "yuv420p"
    stream.options = {"preset": "ultrafast", "crf": "18"}
    for i in range(frames):
        frame = av.VideoFrame.from_ndarray(coded_image(i, size), format="bgr24")
        frame.pts, frame.time_base = i, Fraction(1, fps)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)
    container.close()


# ------------------------------------------------------------------------------------------ video files

def test_video_file_yields_every_frame_with_exact_timestamps(sample_clip):
    with open_source(str(sample_clip)) as source:
        assert isinstance(source, VideoFileSource)
        assert (source.kind, source.is_live, source.can_seek) == ("file", False, True)
        assert source.fps == 25.0 and source.frame_count == 250 and source.size == (640, 272)
        frames = list(source)
        assert source.dropped == 0
        assert "250 frames" in source.end_reason
    assert [f.index for f in frames] == list(range(250))
    assert all(f.timestamp == pytest.approx(f.index / 25.0, abs=1e-6) for f in frames)
    _check_frame(frames[0], (640, 272))
    assert len({f.image[::16, ::16].tobytes() for f in frames[::25]}) == 10  # real, changing content


def test_video_seek_lands_on_the_requested_frame(tmp_path):
    path = tmp_path / "levels.mp4"
    write_test_video(path, frames=60)
    source = open_source(path)
    for target in (45, 3, 0, 59):
        source.seek(target)
        frame = source.read()
        assert frame.index == target and frame.timestamp == pytest.approx(target / 25.0)
        assert decode_index(frame.image) == target
    source.seek(60)
    assert source.read() is None and "damaged" not in source.end_reason
    source.close()
    source.close()  # idempotent


def test_truncated_faststart_mp4_yields_frames_up_to_the_damage_then_explains(tmp_path):
    full = tmp_path / "full.mp4"
    write_test_video(full, frames=60, options={"movflags": "faststart"})
    data = full.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    source = open_source(cut)
    frames = list(source)  # no exception: the damage ends the source
    assert 0 < len(frames) < 60
    assert [f.index for f in frames] == list(range(len(frames)))
    assert [decode_index(f.image) for f in frames] == list(range(len(frames)))
    assert "truncated" in source.end_reason and f"after {len(frames)} of 60 frames" in source.end_reason
    assert str(cut) in source.end_reason


def test_corruption_mid_file_skips_the_bad_packets_and_goes_on(tmp_path):
    path = tmp_path / "scratched.mp4"
    write_test_video(path, frames=60, options={"movflags": "faststart"})
    data = bytearray(path.read_bytes())
    middle = len(data) * 2 // 3
    data[middle:middle + 300] = np.random.default_rng(1).integers(0, 256, 300, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    source = open_source(path)
    frames = list(source)
    assert [decode_index(f.image) for f in frames[:10]] == list(range(10))  # before the damage: intact
    assert 0 < len(frames) < 60 and frames[-1].timestamp >= 55 / 25  # after it, reading went on
    assert "damaged video" in source.end_reason and "skipped" in source.end_reason


def test_sample_cut_in_half_without_index_is_a_clear_error(tmp_path, sample_clip):
    data = sample_clip.read_bytes()
    cut = tmp_path / "bikes_half.mp4"
    cut.write_bytes(data[: len(data) // 2])  # the 'moov' index is at the end: nothing can be located
    with pytest.raises(SourceError) as info:
        open_source(cut)
    message = str(info.value)
    assert str(cut) in message and "truncated" in message and "moov" in message and "\n" not in message


# ------------------------------------------------------------------------------------------------ images

@pytest.fixture
def image_folder(tmp_path):
    """img1 grey 8-bit, img2 BGRA, img10 16-bit grey (natural order 1, 2, 10), plus a non-image file."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    cv2.imwrite(str(folder / "img1.png"), np.full((30, 40), 77, np.uint8))
    bgra = np.zeros((30, 40, 4), np.uint8)
    bgra[..., 0], bgra[..., 1], bgra[..., 2], bgra[..., 3] = 10, 20, 30, 128
    cv2.imwrite(str(folder / "img2.png"), bgra)
    deep = np.full((30, 40), 65535, np.uint16)
    deep[:, :20] = 32768
    cv2.imwrite(str(folder / "img10.png"), deep)
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_image_folder_converts_grey_bgra_and_16bit_to_bgr8_in_natural_order(image_folder):
    source = open_source(str(image_folder), SourceConfig(image_fps=5.0))
    assert isinstance(source, ImageSource)
    assert (source.kind, source.is_live, source.frame_count, source.size) == ("images", False, 3, (40, 30))
    frames = list(source)
    assert [f.index for f in frames] == [0, 1, 2]
    assert [f.timestamp for f in frames] == pytest.approx([0.0, 0.2, 0.4])
    for frame in frames:
        _check_frame(frame, (40, 30))
    assert (frames[0].image == 77).all()
    assert tuple(frames[1].image[0, 0]) == (10, 20, 30)
    assert tuple(frames[2].image[0, 0]) == (128, 128, 128) and tuple(frames[2].image[0, 39]) == (255, 255, 255)
    source.seek(1)
    assert source.read().index == 1


def test_glob_list_file_and_single_image(image_folder, tmp_path):
    globbed = open_source(str(image_folder / "img*.png"))
    assert [p.name for p in globbed.paths] == ["img1.png", "img2.png", "img10.png"]

    listing = tmp_path / "list.txt"
    listing.write_text("# my frames\nimgs/img10.png\n\n" + str(image_folder / "img1.png") + "\n")
    listed = open_source(str(listing))
    frames = list(listed)
    assert [p.name for p in listed.paths] == ["img10.png", "img1.png"] and len(frames) == 2
    assert (frames[1].image == 77).all()

    single = open_source(image_folder / "img2.png")
    assert single.frame_count == 1 and len(list(single)) == 1


def test_undecodable_image_in_a_folder_is_skipped_not_fatal(image_folder):
    (image_folder / "img3.png").write_bytes(b"broken png")
    source = open_source(image_folder)
    frames = list(source)
    assert [f.index for f in frames] == [0, 1, 3]  # frame i is always paths[i]
    assert source.skipped == 1 and "1 unreadable" in source.end_reason


def test_to_bgr8_layouts():
    assert to_bgr8(np.zeros((4, 5, 1), np.uint8)).shape == (4, 5, 3)
    assert to_bgr8(np.full((2, 2), 0.5, np.float32))[0, 0, 0] == 128
    assert to_bgr8(np.full((2, 2, 3), 200.0))[0, 0, 0] == 200
    assert to_bgr8(np.full((2, 2, 4), 1000, np.uint16))[0, 0, 0] == 4
    non_contiguous = np.zeros((6, 8, 3), np.uint8)[:, ::2]
    assert to_bgr8(non_contiguous).flags["C_CONTIGUOUS"]
    with pytest.raises(ValueError):
        to_bgr8(np.zeros((4, 5, 2), np.uint8))


# -------------------------------------------------------------------------------------------- bad input

def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("case", ["missing", "text_as_mp4", "empty_mp4", "empty_folder", "folder_no_images",
                                  "glob_nothing", "list_missing_entry", "empty_list", "url", "webcam"])
def test_bad_input_is_one_line_naming_the_input(case, tmp_path):
    if case == "missing":
        spec, expect = str(tmp_path / "nope.mp4"), "no such file"
    elif case == "text_as_mp4":
        spec, expect = str(tmp_path / "notes.mp4"), "not a video PyAV/OpenCV can decode"
        (tmp_path / "notes.mp4").write_text("this is text, not a video\n" * 20)
    elif case == "empty_mp4":
        spec, expect = str(tmp_path / "zero.mp4"), "empty"
        (tmp_path / "zero.mp4").touch()
    elif case == "empty_folder":
        spec, expect = str(tmp_path / "empty"), "no images"
        (tmp_path / "empty").mkdir()
    elif case == "folder_no_images":
        spec, expect = str(tmp_path / "docs"), "no images"
        (tmp_path / "docs").mkdir()
        (tmp_path / "docs" / "a.txt").write_text("x")
    elif case == "glob_nothing":
        spec, expect = str(tmp_path / "*.jpg"), "matches no images"
    elif case == "list_missing_entry":
        spec, expect = str(tmp_path / "l.txt"), "l.txt:2: image 'gone.png' not found"
        (tmp_path / "l.txt").write_text("# header\ngone.png\n")
    elif case == "empty_list":
        spec, expect = str(tmp_path / "l.txt"), "empty"
        (tmp_path / "l.txt").write_text("\n# nothing\n")
    elif case == "url":
        spec, expect = f"http://127.0.0.1:{_free_port()}/cam.mjpg", "cannot open the stream"
    else:
        spec, expect = "97", "webcam 97: cannot be opened"
    start = time.monotonic()
    with pytest.raises(SourceError) as info:
        open_source(spec)
    assert time.monotonic() - start < 6.0  # bounded, even for a URL
    message = str(info.value)
    assert expect in message and "\n" not in message
    assert spec in message or case in ("webcam", "list_missing_entry")
    assert ";" in message  # the fix follows the problem


# ------------------------------------------------------------------------------------------------- live

class FastProducer:
    """Produces numbered frames every ``period`` s, ``total`` of them, then ends the stream."""

    def __init__(self, total: int, period: float = 0.001, shape=(8, 8, 3)) -> None:
        self.total, self.period, self.shape = total, period, shape
        self.made = 0

    def open(self) -> None:
        pass

    def grab(self):
        if self.made >= self.total:
            raise EndOfStream("all frames sent")
        time.sleep(self.period)
        image = np.empty(self.shape, np.uint8)
        image[...] = self.made % 256
        self.made += 1
        return image

    def close(self) -> None:
        pass


def test_live_consumer_sees_fresh_frames_and_drops_are_counted_exactly():
    producer = FastProducer(total=400, period=0.001)
    source = LiveSource(producer, name="fake", config=SourceConfig(live_buffer=1))
    assert source.is_live and source.kind == "stream"
    indices = []
    while True:
        made_before = producer.made  # frames that existed before this read (the last may be in flight)
        frame = source.read()
        if frame is None:
            break
        # Latest frame wins: never older than the newest frame that existed when we asked.
        assert frame.index >= made_before - 2
        assert frame.image[0, 0, 0] == frame.index % 256
        indices.append(frame.index)
        if len(indices) <= 10:
            time.sleep(0.02)  # a consumer 20× slower than the producer
    assert indices == sorted(indices) and len(set(indices)) == len(indices)
    assert source.dropped >= 10  # frames produced while we slept were skipped...
    assert source.dropped + len(indices) == 400  # ...and every produced frame was read or counted as dropped
    assert "stream ended" in source.end_reason
    source.close()


def test_live_buffer_keeps_the_newest_frames_in_order():
    producer = FastProducer(total=50, period=0.0)
    source = LiveSource(producer, config=SourceConfig(live_buffer=3))
    time.sleep(0.3)  # let the producer finish while nobody reads
    assert source.buffered <= 3
    frames = list(source)
    assert [f.index for f in frames] == [47, 48, 49] and source.dropped == 47


def test_live_memory_stays_bounded_with_a_fast_producer():
    producer = FastProducer(total=300, period=0.0, shape=(512, 512, 3))  # 768 KB frames, 230 MB in total
    tracemalloc.start()
    try:
        source = LiveSource(producer, config=SourceConfig(live_buffer=2))
        reads = 0
        while source.read() is not None:
            reads += 1
            time.sleep(0.02)  # slow consumer
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10 * 512 * 512 * 3  # a handful of frames, not the 300 produced
    assert source.dropped > 200 and source.dropped + reads == 300


class FlakyProducer:
    """Fails ``grab`` from frame ``lose_at``; reopening fails ``failed_opens`` times, then works again."""

    def __init__(self, lose_at: int, failed_opens: int, total: int = 30) -> None:
        self.lose_at, self.failed_opens, self.total = lose_at, failed_opens, total
        self.made, self.opens, self.lost = 0, 0, False

    def open(self) -> None:
        self.opens += 1
        if self.lost:
            if self.failed_opens > 0:
                self.failed_opens -= 1
                raise ConnectionError("camera offline")
            self.lost = False

    def grab(self):
        if self.made >= self.total:
            raise EndOfStream("done")
        if self.made == self.lose_at and not self.lost and self.opens <= 1:
            self.lost = True
        if self.lost:
            return None
        time.sleep(0.002)
        self.made += 1
        return np.full((4, 4), self.made, np.uint8)  # grey: converted to BGR

    def close(self) -> None:
        pass


def test_lost_stream_reconnects_with_backoff_and_continues():
    producer = FlakyProducer(lose_at=10, failed_opens=2)
    source = LiveSource(producer, config=SourceConfig(reconnect_seconds=5.0, live_buffer=100))
    frames = list(source)
    assert source.reconnects == 1 and producer.opens == 4  # initial + 2 failures + success
    assert len(frames) == 30 and frames[-1].image.shape == (4, 4, 3)
    assert "stream ended" in source.end_reason


def test_lost_stream_gives_up_after_reconnect_seconds_and_ends_cleanly():
    producer = FlakyProducer(lose_at=5, failed_opens=10**6)
    source = LiveSource(producer, name="rtsp://cam", config=SourceConfig(reconnect_seconds=0.5, live_buffer=100))
    start = time.monotonic()
    frames = list(source)
    elapsed = time.monotonic() - start
    assert len(frames) == 5 and 0.4 < elapsed < 2.5
    assert "rtsp://cam: stream lost" in source.end_reason and "0.5 s" in source.end_reason
    assert "camera offline" in source.end_reason


def test_close_from_another_thread_wakes_a_blocked_read():
    source = LiveSource(lambda: time.sleep(0.05), config=SourceConfig(reconnect_seconds=30.0))
    threading.Timer(0.2, source.close).start()
    start = time.monotonic()
    assert source.read() is None
    assert time.monotonic() - start < 2.0


def test_stalled_producer_ends_after_stall_seconds():
    gate = threading.Event()

    def hung_grab():
        gate.wait(5.0)
        return None

    source = LiveSource(hung_grab, config=SourceConfig(reconnect_seconds=0.0), stall_seconds=0.3)
    start = time.monotonic()
    assert source.read() is None
    assert time.monotonic() - start < 1.5 and "no frame for 0.3 s" in source.end_reason
    gate.set()
    source.close()


def test_iterable_and_callable_producers():
    images = [np.full((2, 3, 4), i, np.uint8) for i in range(5)]  # BGRA
    source = LiveSource(iter(images), config=SourceConfig(live_buffer=10))
    frames = list(source)
    assert [f.image.shape for f in frames] == [(2, 3, 3)] * 5 and source.size == (3, 2)
    assert "producer finished" in source.end_reason


# ------------------------------------------------------------------------------------------- HTTP stream

class _StreamHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files; ``/cut.ts`` sends half of stream.ts then drops the connection, and 503 after that."""

    cut_served = False

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        if self.path != "/cut.ts":
            return super().do_GET()
        if _StreamHandler.cut_served:
            self.send_error(503, "camera offline")
            return
        _StreamHandler.cut_served = True
        data = (Path(self.directory) / "stream.ts").read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "video/mp2t")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def http_stream(tmp_path):
    write_test_video(tmp_path / "stream.ts", frames=100, fmt="mpegts")
    _StreamHandler.cut_served = False
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(_StreamHandler, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_stream_is_live_and_ends_cleanly(http_stream):  # finite_stream: the end of the file is the end
    source = open_source(f"{http_stream}/stream.ts", SourceConfig(reconnect_seconds=1.0, finite_stream=True))
    assert source.is_live and source.kind == "stream" and source.fps == 25.0
    reads = []
    while (frame := source.read()) is not None:
        _check_frame(frame, (96, 64))
        assert decode_index(frame.image) == frame.index  # the capture number is the stream's frame number
        reads.append(frame.index)
        time.sleep(0.01)  # slower than the server delivers
    assert len(reads) + source.dropped == 100 and source.dropped > 0
    assert "stream ended" in source.end_reason


def test_http_stream_dropped_mid_way_is_retried_then_ends(http_stream):
    source = open_source(f"{http_stream}/cut.ts", SourceConfig(reconnect_seconds=0.6, live_buffer=200))
    frames = list(source)
    assert 0 < len(frames) < 100
    assert "stream lost" in source.end_reason and "0.6 s" in source.end_reason
    attempts = int(re.search(r"\((\d+) attempts\)", source.end_reason).group(1))
    assert attempts >= 1  # it did try to reconnect (the server answered 503)


# ------------------------------------------------------------------------------- independent or sequence

def _write(path, w, h, value=90):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((h, w, 3), value, np.uint8))
    return path


@pytest.mark.parametrize("names, sizes, expected, why", [
    (["000001.jpg", "000002.jpg", "000003.jpg"], None, "sequence", "consecutively numbered"),
    (["frame_7.png", "frame_8.png", "frame_9.png", "frame_10.png"], None, "sequence", "frame_7.png"),
    (["000001.jpg", "000002.jpg", "000004.jpg"], None, "independent", "not consecutive (2 then 4"),
    (["000001.jpg", "000002.jpg"], [(40, 30), (30, 40)], "independent", "of 2 sizes"),
    (["a1.jpg", "b2.jpg"], None, "independent", "one prefix"),
    (["cat.jpg", "dog.png"], None, "independent", "not numbered frames"),
    (["000001.jpg"], None, "independent", "a single image"),
])
def test_auto_takes_a_sequence_only_for_numbered_frames_of_one_size(tmp_path, names, sizes, expected, why):
    for i, name in enumerate(names):
        _write(tmp_path / "in" / name, *(sizes[i] if sizes else (40, 30)))
    source = open_source(tmp_path / "in")
    assert source.mode == expected and source.independent == (expected == "independent")
    assert why in source.mode_reason
    assert ("independent" in source.describe_mode()) == (expected == "independent")


def test_source_images_setting_overrides_auto(tmp_path):
    for i in range(3):
        _write(tmp_path / "in" / f"{i + 1:06d}.png", 40, 30)
    assert open_source(tmp_path / "in", SourceConfig(images="independent")).mode == "independent"
    _write(tmp_path / "other" / "cat.png", 40, 30)
    _write(tmp_path / "other" / "dog.png", 30, 40)
    forced = open_source(tmp_path / "other", SourceConfig(images="sequence"))
    assert forced.mode == "sequence" and "source.images: sequence" in forced.mode_reason


def test_frames_carry_their_name_relative_to_the_input_root(tmp_path):
    _write(tmp_path / "in" / "a.png", 40, 30)
    _write(tmp_path / "in" / "sub" / "b.jpg", 50, 20)
    globbed = open_source(str(tmp_path / "in" / "**" / "*.*"))
    assert [f.file for f in globbed] == ["a.png", "sub/b.jpg"]
    assert [f.file for f in open_source(tmp_path / "in")] == ["a.png"]      # a folder: its own files
    assert [f.file for f in open_source(tmp_path / "in" / "sub" / "b.jpg")] == ["b.jpg"]


def test_unreadable_and_one_pixel_images_are_skipped_with_one_line_each(tmp_path, caplog):
    _write(tmp_path / "in" / "good.png", 40, 30)
    (tmp_path / "in" / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    _write(tmp_path / "in" / "pixel.png", 1, 1)
    source = open_source(tmp_path / "in")
    with caplog.at_level(logging.WARNING):
        frames = list(source)
    assert [f.file for f in frames] == ["good.png"]
    assert source.skipped == 2 and sorted(source.skipped_files) == ["broken.jpg", "pixel.png"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and all("\n" not in w and "skipped" in w for w in warnings)
    assert any("broken.jpg" in w for w in warnings) and any("pixel.png" in w and "1x1" in w for w in warnings)
