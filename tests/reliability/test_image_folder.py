"""Item 9 (images): a 1x1 image in a folder is skipped with one warning, as undecodable images are, instead of
stopping the whole run in the pose stage."""
from __future__ import annotations

import numpy as np

from engine.cvcompat import cv2
from engine.io.sources import open_source
from tests.reliability._util import jsonl_lines, run_cli


def _folder(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for name, side in (("a.png", 64), ("b.png", 1), ("c.png", 64), ("d.png", 1)):
        cv2.imwrite(str(folder / name), np.full((side, side + (side > 1), 3), 90, np.uint8))
    return folder


def test_tiny_image_is_skipped_like_an_unreadable_one(tmp_path, caplog):
    source = open_source(_folder(tmp_path))
    frames = list(source)
    assert [f.index for f in frames] == [0, 2] and source.skipped == 2
    assert "skipped" in source.end_reason and "1x1 pixels is too small" in caplog.text


def test_run_over_a_folder_with_a_tiny_image_keeps_going(tmp_path):
    # The real CPU pose model refuses 1x1 inputs: the image must never reach it.
    proc = run_cli("run", "--source", _folder(tmp_path), "--results", tmp_path / "r.jsonl",
                   "--set", "a2v.enabled=false")
    assert proc.returncode == 0, proc.stderr
    assert [line["frame"] for line in jsonl_lines(tmp_path / "r.jsonl")] == [0, 2]
