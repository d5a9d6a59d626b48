"""The local engine's bookkeeping: a worker that dies fails only its item and is replaced."""
import pytest

from engine.corpus.items import Item, output_name
from engine.corpus.local import _reap, worker_devices
from engine.corpus.process import FatalError


class _Process:
    def __init__(self, exitcode):
        self.exitcode = exitcode


class _Worker:
    def __init__(self, exitcode, current, ready=True, stopping=False, device="cpu"):
        self.process, self.current, self.ready, self.stopping, self.device = \
            _Process(exitcode), current, ready, stopping, device


def _items(tmp_path, n):
    return [Item(path=str(tmp_path / f"{i}.mp4"), kind="video", output=output_name(tmp_path / f"{i}.mp4"))
            for i in range(n)]


def test_a_dead_worker_fails_its_item_leaves_no_temp_file_and_is_replaced(tmp_path):
    items = _items(tmp_path, 3)
    (tmp_path / f".{items[1].output}.999.tmp").write_bytes(b"half")
    pool = {0: _Worker(None, 0), 1: _Worker(-9, 1, device="cuda:1"), 2: _Worker(0, None, stopping=True)}
    events, spawned = [], []
    _reap(pool, items, tmp_path, lambda *e: events.append(e), spawned.append, more=True)
    assert set(pool) == {0, 2}                    # the live one and the one that ended as asked stay
    assert spawned == ["cuda:1"]                  # replaced on the same device
    (kind, index, record), = events
    assert kind == "record" and index == 1 and record["status"] == "failed"
    assert "died (exit code -9)" in record["error"] and record["item"] == items[1].path
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_worker_that_dies_before_loading_stops_the_run(tmp_path):
    pool = {0: _Worker(1, None, ready=False)}
    with pytest.raises(FatalError, match="before loading the models"):
        _reap(pool, _items(tmp_path, 1), tmp_path, lambda *e: None, lambda d: None, more=True)


def test_cpu_workers():
    assert worker_devices("cpu", None) == ["cpu"]
    assert worker_devices("cpu", 3) == ["cpu"] * 3
