"""``python main.py run`` writes run.json (provenance) beside its outputs and names the language matrix."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "assets" / "sample" / "bikes.mp4"


def test_run_writes_run_json_beside_the_outputs(tmp_path):
    results, tracks = tmp_path / "out" / "r.jsonl", tmp_path / "out" / "t.txt"
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), "run", "--source", str(SAMPLE), "--max-frames",
                           "5", "--results", str(results), "--tracks", str(tracks), "--quiet",
                           "--set", "pose.backend=none", "--set", "tracker.parity=true"],
                          capture_output=True, text=True, timeout=240, cwd=ROOT, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    record = json.loads((tmp_path / "out" / "run.json").read_text())
    assert [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")] == []   # no temp file left
    assert record["schema"] == "a2v-provenance/1" and record["a2v_version"]
    assert record["run"]["frames"] == 5 and record["run"]["status"] == "max-frames"
    assert record["run"]["outputs"]["results"] == str(results)
    assert record["config"]["pose"]["backend"] == "none" and record["pose"]["backend"] == "none"
    assert record["tracker"]["parity"] is True and record["tracker"]["max_age"] == 1
    assert record["tracker"]["description"].startswith("SORT parity")
    # The test cache is empty: PaSta is off and the record says so, with the checkpoint it looked for.
    assert record["a2v"]["checkpoint"]["spec"] == "a2v_v1" and record["a2v"]["checkpoint"]["sha256"] is None
    assert "weights import a2v_v1" in record["a2v"]["pasta_off"]  # tests run offline: the import command
    assert record["a2v"]["language"]["requested"] == "auto" and record["a2v"]["language"]["used_in_run"] is False
    last = proc.stderr.strip().splitlines()[-1]
    assert "run.json" in last and "PaSta off" in last


def test_run_summary_and_record_name_the_checkpoint_and_language(tmp_path):
    import hashlib

    import numpy as np
    import torch

    from engine.a2v.net import PastaNet, save_checkpoint

    home = Path(os.environ["A2V_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    np.save(home / "pasta_language_matrix.npy", np.random.default_rng(0).standard_normal((93, 1536)).astype(np.float32))
    torch.manual_seed(0)
    checkpoint = save_checkpoint(PastaNet().eval(), tmp_path / "mine.pth", note="random weights for tests")
    results = tmp_path / "r.jsonl"
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), "run", "--source", str(SAMPLE), "--max-frames",
                           "3", "--results", str(results), "--quiet", "--device", "cpu", "--set", "pose.backend=none",
                           "--set", f"a2v.checkpoint={checkpoint}", "--set", "a2v.mode=parity"],
                          capture_output=True, text=True, timeout=240, cwd=ROOT, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "A2V language: official pasta_language_matrix.npy (1536-d; A2V vector 4,608-d) [auto]" in last
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["a2v"]["checkpoint"]["file"] == "mine.pth"
    assert record["a2v"]["checkpoint"]["sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert record["a2v"]["language"]["used"] == "official" and record["a2v"]["language"]["vector_dim"] == 4608
    assert record["mode"] == "parity" and record["a2v"]["pasta_off"] is None
