"""``python main.py extract`` over a small corpus the test makes from the sample clip.

The corpus: a 12-frame clip with the cyclist in view, a byte-identical copy with the same file name in a
sub-folder (the output names must not collide), a folder of 6 PNG frames, and a truncated video. The
stages are the real ones (mediapipe pose, SORT, A2V with a random-weight checkpoint and a random language
matrix built here, trunk at 64 px so a frame costs little), so the vectors are real numbers and every
comparison with ``run`` can fail.
"""
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "assets" / "sample" / "bikes.mp4"
VECTOR_COLUMNS = ("pasta", "actions", "visual", "language")


def _write_clip(path: Path, start: int, frames: int, faststart: bool = False) -> None:
    """Frames ``start .. start+frames-1`` of the sample clip, re-encoded to H.264."""
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(SAMPLE)) as inp, av.open(str(path), "w", options=options) as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 640, 272, "yuv420p"
        for i, frame in enumerate(inp.decode(video=0)):
            if i >= start + frames:
                break
            if i >= start:
                image = frame.to_ndarray(format="bgr24")
                out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        out.mux(stream.encode())


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """The corpus, the random A2V files, an empty weights home and the common ``--set`` options."""
    import torch

    from engine.a2v.net import PastaNet, save_checkpoint
    from engine.cvcompat import cv2

    base = tmp_path_factory.mktemp("extract")
    corpus = base / "corpus"
    (corpus / "sub").mkdir(parents=True)
    (corpus / "frames").mkdir()
    _write_clip(corpus / "clip_a.mp4", 112, 12)
    (corpus / "sub" / "clip_a.mp4").write_bytes((corpus / "clip_a.mp4").read_bytes())
    with av.open(str(SAMPLE)) as inp:
        for i, frame in enumerate(inp.decode(video=0)):
            if i >= 38:
                break
            if i >= 32:
                cv2.imwrite(str(corpus / "frames" / f"{i:06d}.png"), frame.to_ndarray(format="bgr24"))
    whole = base / "whole.mp4"
    _write_clip(whole, 100, 40, faststart=True)  # index first: the cut file decodes up to the damage
    data = whole.read_bytes()
    (corpus / "cut.mp4").write_bytes(data[: len(data) // 2])

    torch.manual_seed(0)
    checkpoint = save_checkpoint(PastaNet().eval(), base / "a2v_random.pth", note="random weights for tests")
    language = base / "language.npy"
    np.save(language, np.random.default_rng(0).standard_normal((93, 1536)).astype(np.float32))
    home = base / "a2v_home"
    home.mkdir()
    overrides = ["pose.backend=mediapipe", f"a2v.checkpoint={checkpoint}", f"a2v.language={language}",
                 "a2v.fast_long_side=64"]
    options = [arg for o in overrides for arg in ("--set", o)] + ["--device", "cpu"]
    return {"base": base, "corpus": corpus, "checkpoint": checkpoint, "options": options,
            "overrides": overrides + ["device=cpu"],
            "env": {"A2V_HOME": str(home), "OMP_NUM_THREADS": "1", "A2V_OFFLINE": "1"}}


def run_cli(workspace, *args, timeout=300):
    env = dict(os.environ, **workspace["env"])
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env=env)


def manifest(folder: Path) -> dict:
    records = {}
    for line in (folder / "manifest.jsonl").read_text().splitlines():
        record = json.loads(line)
        records[record["item"]] = record
    return records


def read(path: Path) -> dict:
    table = pq.read_table(path)
    return {name: table.column(name).to_pylist() for name in table.column_names}


@pytest.fixture(scope="module")
def extracted(workspace):
    """One uninterrupted extract of the corpus with one local worker."""
    out = workspace["base"] / "features"
    proc = run_cli(workspace, "extract", workspace["corpus"], "--out", out, *workspace["options"], "-v")
    return {"out": out, "proc": proc}


def test_corpus_gives_one_parquet_per_good_item_and_records_the_bad_one(workspace, extracted):
    proc, out, corpus = extracted["proc"], extracted["out"], workspace["corpus"]
    assert proc.returncode == 1, proc.stderr          # one item failed
    assert "Traceback" not in proc.stderr, proc.stderr
    records = manifest(out)
    good = [corpus / "clip_a.mp4", corpus / "sub" / "clip_a.mp4", corpus / "frames"]
    assert set(records) == {str(p) for p in good + [corpus / "cut.mp4"]}
    bad = records[str(corpus / "cut.mp4")]
    assert bad["status"] == "failed" and "cut.mp4" in bad["error"]
    assert "damaged" in bad["error"] or "truncated" in bad["error"]
    assert bad["frames"] > 0  # it decoded up to the damage, and still counts as failed (no half file)
    files = sorted(p.name for p in out.glob("*.parquet"))
    assert len(files) == 3 and len(set(files)) == 3   # the two clip_a.mp4 do not collide
    assert not list(out.glob(".*.tmp"))
    for path in good:
        record = records[str(path)]
        assert record["status"] == "done" and record["rows"] > 0
        assert pq.read_metadata(out / record["output"]).num_rows == record["rows"]
    assert records[str(corpus / "clip_a.mp4")]["frames"] == 12
    assert records[str(corpus / "frames")]["frames"] == 6
    # The summary table and the per-item lines (-v).
    assert "failed" in proc.stderr and "cut.mp4" in proc.stderr
    status_rows = [line.split() for line in proc.stderr.splitlines() if line.split()[:1] in (["done"], ["failed"])]
    assert ["done", "3"] == status_rows[0][:2] and ["failed", "1"] == status_rows[1][:2]
    assert sum("a2v: done:" in line for line in proc.stderr.splitlines()) == 3


def _run_vectors(workspace, source: Path, tmp_path: Path) -> dict:
    vectors = tmp_path / f"{source.name}.npz"
    proc = run_cli(workspace, "run", "--source", source, "--vectors", vectors, "--quiet", *workspace["options"])
    assert proc.returncode == 0, proc.stderr
    with np.load(vectors) as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize("name", ["sub/clip_a.mp4", "frames"])
def test_rows_equal_what_run_gives_for_the_same_item(workspace, extracted, tmp_path, name):
    """Same persons, same vectors. sub/clip_a.mp4 is extracted last by the one worker (after clip_a.mp4, the
    cut video and the frames), so this also shows that the reused stages start each item fresh (track IDs
    from 1, no tracked person or stride phase carried over)."""
    source = workspace["corpus"] / name
    record = manifest(extracted["out"])[str(source)]
    rows = read(extracted["out"] / record["output"])
    expected = _run_vectors(workspace, source, tmp_path)
    assert len(rows["frame"]) == len(expected["frame"]) > 0
    assert rows["frame"] == expected["frame"].tolist()
    assert rows["track_id"] == expected["track_id"].tolist()
    assert max(rows["track_id"]) >= 1
    assert set(rows["item"]) == {str(source)}
    np.testing.assert_allclose(np.array(rows["box"]), expected["box"], rtol=0, atol=1e-3)
    np.testing.assert_allclose(np.array(rows["score"]), expected["score"], atol=1e-6)
    np.testing.assert_allclose(np.array(rows["time"]), expected["time"], atol=1e-9)
    for key in VECTOR_COLUMNS:
        got = np.array(rows[key], np.float32)
        assert got.shape == expected[key].shape and np.isfinite(got).all()
        np.testing.assert_allclose(got, expected[key], rtol=1e-4, atol=1e-5)
    assert np.array(rows["keypoints"]).shape == (len(rows["frame"]), 51)
    assert np.array(rows["part_boxes"]).shape == (len(rows["frame"]), 40)


def test_provenance_is_in_the_file_metadata(workspace, extracted):
    from engine.corpus.writer import read_provenance

    path = next(extracted["out"].glob("clip_a-*.parquet"))
    record = read_provenance(path)
    digest = hashlib.sha256(workspace["checkpoint"].read_bytes()).hexdigest()
    assert record["a2v"]["checkpoint"]["sha256"] == digest
    assert record["a2v"]["checkpoint"]["file"] == "a2v_random.pth"
    assert record["a2v"]["language"]["dim"] == 1536 and record["a2v"]["mode"] == "fast"
    assert record["config"]["a2v"]["fast_long_side"] == 64
    assert "mediapipe" in record["stages"]["pose"]


def test_load_features_and_the_readme_query(workspace, extracted):
    from engine.corpus import load_features

    table = load_features(extracted["out"])
    records = manifest(extracted["out"])
    assert table.num_rows == sum(r["rows"] for r in records.values())
    assert table.schema.field("visual").type.list_size == 3072
    assert table.schema.field("language").type.list_size == 1536
    # The README's three lines: the mean A2V vector (visual ‖ language) of every track.
    df = load_features(extracted["out"], columns=["item", "track_id", "visual", "language"]).to_pandas()
    df["a2v"] = [np.concatenate(pair) for pair in zip(df.visual, df.language)]
    means = df[df.track_id >= 1].groupby(["item", "track_id"])["a2v"].apply(lambda v: np.mean(np.stack(v), axis=0))
    assert len(means) >= 3 and all(v.shape == (4608,) for v in means)
    one = df[(df.item == str(workspace["corpus"] / "clip_a.mp4")) & (df.track_id == 1)]
    np.testing.assert_allclose(means[(str(workspace["corpus"] / "clip_a.mp4"), 1)],
                               np.mean(np.stack(one.a2v), axis=0), rtol=1e-6)


def test_sigkill_half_way_then_resume_skips_finished_items(workspace, extracted):
    out = workspace["base"] / "features_resumed"
    env = dict(os.environ, **workspace["env"])
    args = [sys.executable, str(ROOT / "main.py"), "extract", str(workspace["corpus"]), "--out", str(out),
            "--quiet", *workspace["options"]]
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.time() + 240
    done = []
    try:
        while time.time() < deadline and proc.poll() is None:
            if (out / "manifest.jsonl").exists():
                done = [r for r in manifest(out).values() if r["status"] == "done"]
                if len(done) >= 2:
                    break
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the coordinator and its worker, as a crash or OOM kill would
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed half-way"
    finished = {r["item"]: r for r in manifest(out).values() if r["status"] == "done"}
    assert 2 <= len(finished) < 3, "killed after the last good item: the machine is too slow for this test"
    mtimes = {item: (out / r["output"]).stat().st_mtime_ns for item, r in finished.items()}

    second = run_cli(workspace, "extract", workspace["corpus"], "--out", out, "--workers", "2",
                     *workspace["options"])
    assert second.returncode == 1, second.stderr  # cut.mp4 still fails
    skipped = [line.split() for line in second.stderr.splitlines() if line.startswith("skipped")]
    assert skipped and int(skipped[0][1]) == len(finished)
    for item, record in finished.items():
        assert (out / record["output"]).stat().st_mtime_ns == mtimes[item], f"{item} was rewritten"
    assert not list(out.glob(".*.tmp"))
    reference = extracted["out"]
    assert sorted(p.name for p in out.glob("*.parquet")) == sorted(p.name for p in reference.glob("*.parquet"))
    for path in reference.glob("*.parquet"):
        got, want = read(out / path.name), read(path)
        assert got.keys() == want.keys()
        for key in want:
            if key in VECTOR_COLUMNS or key in ("box", "keypoints", "part_boxes", "score", "time"):
                np.testing.assert_allclose(np.array(got[key], np.float64), np.array(want[key], np.float64),
                                           rtol=1e-4, atol=1e-5, err_msg=f"{path.name}:{key}")
            else:
                assert got[key] == want[key], f"{path.name}:{key}"


def test_ray_engine_on_a_local_cluster_gives_the_same_rows_as_local(workspace, extracted, monkeypatch):
    ray = pytest.importorskip("ray")
    from engine.config import load_config
    from engine.corpus import extract, load_features

    for key, value in workspace["env"].items():
        monkeypatch.setenv(key, value)  # the Ray workers inherit this process's environment
    config = load_config(None, workspace["overrides"])
    out = workspace["base"] / "features_ray"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        inputs = [str(workspace["corpus"] / name) for name in ("clip_a.mp4", "frames", "cut.mp4")]
        summary = extract(inputs, out, config, engine="ray", progress=False)
    finally:
        ray.shutdown()
    assert len(summary.done) == 2 and len(summary.failed) == 1 and summary.exit_code == 1
    assert "cut.mp4" in summary.failed[0]["item"]
    columns = ["item", "frame", "track_id", "box", "pasta", "actions", "visual", "language"]
    order = [("item", "ascending"), ("frame", "ascending")]
    got = load_features(out, columns=columns).sort_by(order)
    want = load_features(extracted["out"], columns=columns)
    want = want.filter(pc.is_in(want.column("item"), value_set=pa.array(inputs[:2]))).sort_by(order)
    assert got.num_rows == want.num_rows > 0
    for key in ("item", "frame", "track_id"):
        assert got.column(key).to_pylist() == want.column(key).to_pylist()
    for key in ("box", "pasta", "actions", "visual", "language"):
        np.testing.assert_allclose(np.array(got.column(key).to_pylist(), np.float32),
                                   np.array(want.column(key).to_pylist(), np.float32), rtol=1e-4, atol=1e-5)


def test_without_a2v_weights_the_run_stops_with_one_line(workspace, tmp_path):
    clip = workspace["corpus"] / "clip_a.mp4"
    proc = run_cli(workspace, "extract", clip, "--out", tmp_path / "f", "--set", "pose.backend=mediapipe",
                   "--set", "a2v.fast_long_side=64", "--device", "cpu", "--quiet")
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("a2v: error:")]
    assert len(errors) == 1 and "weights fetch a2v_v1" in errors[0] and "a2v.enabled=false" in errors[0]
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("make_args, needles", [
    (lambda d: [d / "missing.mp4", "--out", d / "f"], ["missing.mp4", "no such file"]),
    (lambda d: (d / "file").write_text("x") and [SAMPLE, "--out", d / "file"], ["--out must be a folder"]),
    (lambda d: [SAMPLE, "--out", d / "f", "--address", "ray://x:1"], ["--engine ray"]),
    (lambda d: ["--out", d / "f"], ["no items"]),
    (lambda d: [SAMPLE, "--out", d / "f", "--workers", "0"], ["--workers 0"]),
])
def test_bad_usage_is_one_line_before_any_worker_starts(workspace, tmp_path, make_args, needles):
    proc = run_cli(workspace, "extract", *make_args(tmp_path), timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("a2v: error:")]
    assert len(errors) == 1, proc.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]


def test_settings_change_on_the_same_folder_is_refused(workspace, extracted):
    proc = run_cli(workspace, "extract", workspace["corpus"], "--out", extracted["out"], *workspace["options"],
                   "--set", "a2v.fast_long_side=96", timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "a2v.fast_long_side 64 → 96" in proc.stderr
