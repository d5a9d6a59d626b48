"""The manifest: what counts as finished, torn lines, settings that may not change, the folder lock."""
import json

import pytest

from engine.corpus.items import Item, output_name
from engine.corpus.manifest import (
    FolderLock,
    Manifest,
    ManifestError,
    check_settings,
    remove_stale_temporaries,
)
from engine.corpus.writer import ParquetItemWriter
from engine.types import FrameResult, Person


def _item(path):
    return Item(path=str(path), kind="video", output=output_name(path))


def _write(folder, item, persons=2):
    writer = ParquetItemWriter(folder / item.output, item.path, 768)
    people = [Person(box=[0, 0, 10, 20], score=0.9, keypoints=[[1, 1, 1]] * 17) for _ in range(persons)]
    writer.write(None, FrameResult(index=0, timestamp=0.0, image_size=(32, 32), persons=people))
    writer.close()
    writer.commit()
    return writer.rows


def test_finished_needs_done_and_the_file_with_the_recorded_rows(tmp_path):
    a, b, c = (_item(tmp_path / n) for n in ("a.mp4", "b.mp4", "c.mp4"))
    manifest = Manifest(tmp_path)
    rows = _write(tmp_path, a)
    manifest.append({"item": a.path, "output": a.output, "status": "done", "rows": rows})
    _write(tmp_path, b, persons=3)
    manifest.append({"item": b.path, "output": b.output, "status": "done", "rows": 2})  # file has 3 rows
    manifest.append({"item": c.path, "output": c.output, "status": "failed", "rows": 0, "error": "bad"})
    manifest.close()
    with open(tmp_path / "manifest.jsonl", "a") as handle:
        handle.write('{"item": "/torn", "sta')  # a crash in the middle of a line
    again = Manifest(tmp_path)
    assert again.finished(a)["rows"] == 2
    assert again.finished(b) is None and again.finished(c) is None
    (tmp_path / a.output).unlink()
    assert again.finished(a) is None
    # The last line of an item wins.
    again.append({"item": c.path, "output": c.output, "status": "done", "rows": _write(tmp_path, c)})
    assert Manifest(tmp_path).finished(c) is not None
    lines = (tmp_path / "manifest.jsonl").read_text().splitlines()
    assert all("finished" in json.loads(line) for line in lines if line.endswith("}"))


def test_settings_that_change_features_are_refused_the_others_not(tmp_path):
    config = {"device": "cpu", "a2v": {"mode": "fast", "fast_long_side": 512}, "render": {"box": True},
              "pipeline": {"queue_size": 4}}
    check_settings(tmp_path, config)
    check_settings(tmp_path, dict(config, device="cuda", render={"box": False}, pipeline={"queue_size": 8}))
    with pytest.raises(ManifestError, match="a2v.mode 'fast' → 'parity'"):
        check_settings(tmp_path, dict(config, a2v={"mode": "parity", "fast_long_side": 512}))


def test_one_extract_per_folder_at_a_time(tmp_path):
    with FolderLock(tmp_path):
        with pytest.raises(ManifestError, match="another extract"):
            with FolderLock(tmp_path):
                pass
    with FolderLock(tmp_path):  # released
        pass


def test_stale_temporaries_of_known_items_are_removed(tmp_path):
    item = _item(tmp_path / "a.mp4")
    (tmp_path / f".{item.output}.1234.tmp").write_bytes(b"half")
    (tmp_path / ".other.parquet.1.tmp").write_bytes(b"not ours")
    assert remove_stale_temporaries(tmp_path, [item.output]) == 1
    assert [p.name for p in tmp_path.iterdir()] == [".other.parquet.1.tmp"]
