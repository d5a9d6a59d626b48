"""Search over a run folder made by the real pipeline: a scripted pose stage (two people walking),
the real tracker, the real A2V stage with a random-weight checkpoint and the real sinks. A last stage
controls the PaSta probabilities so that track A "holds" something in frames 10-30 and B "kicks" in 5-15."""
import json
import subprocess
import sys

import numpy as np
import pytest

from engine.config import load_config
from engine.io.sinks import open_sinks
from engine.io.sources.synthetic import SyntheticSource
from engine.pipeline import Pipeline
from engine.search.searcher import Searcher
from engine.search.text import SearchError
from engine.stages import build_stages
from engine.types import Person
from engine.vocab import load_vocab
from tests.conftest import ROOT

FRAMES, W, H = 40, 320, 240
STANDING = np.array([[0.5, 0.08], [0.54, 0.06], [0.46, 0.06], [0.58, 0.08], [0.42, 0.08], [0.7, 0.22],
                     [0.3, 0.22], [0.78, 0.4], [0.22, 0.4], [0.8, 0.56], [0.2, 0.56], [0.62, 0.55],
                     [0.38, 0.55], [0.64, 0.76], [0.36, 0.76], [0.65, 0.96], [0.35, 0.96]], np.float32)


class ScriptedPose:
    """Two people: A walks right from x=20, B stands at x=200."""

    name = "pose"

    def __call__(self, frame, result):
        for x in (20.0 + 2 * result.index, 200.0):
            box = np.array([x, 40, x + 60, 200], np.float32)
            kp = np.ones((17, 3), np.float32)
            kp[:, 0] = box[0] + STANDING[:, 0] * 60
            kp[:, 1] = box[1] + STANDING[:, 1] * 160
            result.persons.append(Person(box=box, score=0.9, keypoints=kp))

    def close(self):
        pass

    def describe(self):
        return "scripted"


class ControlledPasta:
    """Low probabilities for everything; 'hand: hold' for the person on the left in frames 10-30,
    'foot: kick' + action kick for the one on the right in frames 5-15."""

    name = "control"

    def __init__(self):
        vocab = load_vocab()
        self.hold = next(k for k in range(len(vocab.pasta)) if vocab.pasta_label(k) == "hand: hold")
        self.kick = next(k for k in range(len(vocab.pasta)) if vocab.pasta_label(k) == "foot: kick")
        self.kick_action = vocab.actions.index("kick")

    def __call__(self, frame, result):
        for person in result.persons:
            if person.pasta is None:
                continue
            person.pasta = np.full(93, 0.02, np.float32)
            person.actions = np.full(157, 0.02, np.float32)
            left = person.box[0] < 150
            if left and 10 <= result.index <= 30:
                person.pasta[self.hold] = 0.95
            if not left and 5 <= result.index <= 15:
                person.pasta[self.kick] = 0.9
                person.actions[self.kick_action] = 0.9

    def close(self):
        pass

    def describe(self):
        return "controlled PaSta"


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    from engine.a2v.net import PastaNet, save_checkpoint

    folder = tmp_path_factory.mktemp("search") / "walkers"
    folder.mkdir()
    checkpoint = save_checkpoint(PastaNet(), folder.parent / "random.pth", note="random weights for tests")
    config = load_config(None, [f"a2v.checkpoint={checkpoint}", "a2v.mode=fast", "a2v.fast_long_side=256",
                                "pose.backend=none", "tracker.min_hits=1"])
    stages = [ScriptedPose()] + build_stages(config) + [ControlledPasta()]
    sinks = open_sinks(results=folder / "results.jsonl", vectors=folder / "vectors.npz", vocab=load_vocab())
    Pipeline(SyntheticSource(FRAMES, (W, H), fps=10.0), stages, sinks=sinks, config=config, render=None).run()
    return folder


def _track_at(folder, left: bool) -> int:
    with np.load(folder / "vectors.npz") as data:
        rows = (data["box"][:, 0] < 150) == left
        return int(np.bincount(data["track_id"][rows][data["track_id"][rows] >= 0]).argmax())


def test_text_query_returns_the_holding_segment_first(run_folder):
    searcher = Searcher.open(run_folder)
    result = searcher.text("hand holds something", top=5)
    first = result.segments[0]
    assert (first.item, first.track) == ("walkers", _track_at(run_folder, left=True))
    assert (first.start_frame, first.end_frame) == (10, 30)
    assert result.meaning[0][0] == "hand: hold"
    kick = searcher.text("kicking", top=5).segments[0]
    assert kick.track == _track_at(run_folder, left=False) and (kick.start_frame, kick.end_frame) == (5, 15)


def test_like_returns_itself_first(run_folder):
    searcher = Searcher.open(run_folder)
    track = _track_at(run_folder, left=True)
    result = searcher.like("walkers", track, 2.0, top=3)
    first = result.segments[0]
    assert first.track == track and first.start_frame <= 20 <= first.end_frame
    assert first.peak_score == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(SearchError, match="no track 999"):
        searcher.like("walkers", 999, 1.0)


def test_faiss_index_gives_the_same_first_segment_and_is_reused(run_folder):
    exact = Searcher.open(run_folder).like("walkers", _track_at(run_folder, left=True), 2.0, top=1)
    indexed = Searcher.open(run_folder, brute_force_limit=10)
    result = indexed.like("walkers", _track_at(run_folder, left=True), 2.0, top=1)
    assert "faiss" in result.method
    assert (result.segments[0].track, result.segments[0].peak_frame) == \
        (exact.segments[0].track, exact.segments[0].peak_frame)
    saved = list((run_folder / ".a2v_search").glob("visual-*.faiss"))
    assert len(saved) == 1
    mtime = saved[0].stat().st_mtime_ns
    Searcher.open(run_folder, brute_force_limit=10).like("walkers", _track_at(run_folder, left=True), 2.0)
    assert saved[0].stat().st_mtime_ns == mtime


def _cli(*args):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), "search", *map(str, args)], capture_output=True,
                          text=True, timeout=240, cwd=ROOT)


def test_search_command_table_json_sheet_and_errors(run_folder, tmp_path):
    proc = _cli(run_folder, "hand holds something", "--json", "--top", "3", "--sheet", tmp_path / "sheet.png")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert (data["segments"][0]["start_frame"], data["segments"][0]["end_frame"]) == (10, 30)
    from engine.cvcompat import cv2

    sheet = cv2.imread(str(tmp_path / "sheet.png"))
    assert sheet is not None and sheet.shape[0] > 100 and sheet.std() > 5
    track = _track_at(run_folder, left=True)
    proc = _cli(run_folder, "--like", f"walkers:{track}:2.0", "--top", "2")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[1].split()[3] == str(track)
    for args, fragment in (((tmp_path / "nope", "sit"), "no such folder"), ((run_folder,), "give either"),
                           ((run_folder, "--like", "walkers:x:1"), "expected ITEM:TRACK:SECONDS")):
        proc = _cli(*args)
        assert proc.returncode == 2 and fragment in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
