"""engine.provenance: the run record (which model produced a vector), the cached checkpoint hash, and the
A2V stage's language choice as the GUI and run summary see it."""
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from engine import provenance as prov
from engine.config import Config
from engine.provenance import file_sha256, provenance, write_json_atomic


@pytest.fixture
def home() -> Path:
    path = Path(os.environ["A2V_HOME"])
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    from engine.a2v.net import PastaNet, save_checkpoint

    torch.manual_seed(0)
    return save_checkpoint(PastaNet().eval(), tmp_path_factory.mktemp("ckpt") / "a2v_random.pth",
                           note="random weights for tests")


def test_record_of_a_config_without_stages_is_plain_json():
    config = Config()
    record = provenance(config, [])
    assert json.loads(json.dumps(record)) == record
    assert record["schema"] == "a2v-provenance/1" and record["a2v_version"] == "0.1.0"
    assert record["config"] == config.to_dict() and record["mode"] == "fast"
    assert record["created"].endswith("+00:00")
    assert record["platform"]["python"] and record["platform"]["numpy"] == np.__version__
    # No weights in the (empty) test cache: said, not hidden.
    assert record["a2v"]["checkpoint"]["sha256"] is None and "not in the cache" in record["a2v"]["checkpoint"]["error"]
    assert record["a2v"]["language"]["used"] == "minilm" and record["a2v"]["language"]["vector_dim"] == 3840
    assert record["tracker"] == {"parity": False, "max_age": 30, "min_hits": 3, "iou_threshold": 0.3,
                                 "second_pass": True, "high_score": 0.5, "low_score": 0.1}
    config.tracker.parity = True
    config.a2v.mode = "parity"
    record = provenance(config, [])
    assert record["tracker"] == {"parity": True, "max_age": 1, "min_hits": 3, "iou_threshold": 0.3,
                                 "second_pass": False}
    assert record["mode"] == "parity" and record["a2v"]["mode"] == "parity"


def test_record_of_built_stages_names_checkpoint_hash_and_official_language(home, checkpoint):
    from engine.stages.a2v import A2VStage
    from engine.stages.tracker import TrackerStage
    from engine.types import FrameResult, Person

    official = np.random.default_rng(0).standard_normal((93, 1536)).astype(np.float32)
    np.save(home / "pasta_language_matrix.npy", official)       # the registered official file, cached
    config = Config()
    config.device = "cpu"
    config.a2v.checkpoint = str(checkpoint)
    stages = [TrackerStage(config), A2VStage(config)]
    record = provenance(config, stages)

    ckpt = record["a2v"]["checkpoint"]
    assert ckpt["file"] == "a2v_random.pth" and ckpt["loaded"] is True
    assert ckpt["sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert ckpt["size"] == checkpoint.stat().st_size
    language = record["a2v"]["language"]
    assert (language["requested"], language["used"], language["dim"], language["vector_dim"],
            language["official"]) == ("auto", "official", 1536, 4608, True)
    assert record["a2v"]["pasta_off"] is None and record["a2v"]["device"] == "CPU"
    assert record["tracker"]["description"].startswith("SORT person video")
    assert set(record["stages"]) == {"tracker", "a2v"}

    # The same choice reaches the GUI (FrameResult.info) and the stage description.
    a2v = stages[1]
    assert "official pasta_language_matrix.npy (1536-d; A2V vector 4,608-d)" in a2v.describe()
    image = np.zeros((96, 128, 3), np.uint8)
    keypoints = np.zeros((17, 3), np.float32)
    result = FrameResult(index=0, timestamp=0.0, image_size=(128, 96),
                         persons=[Person(box=np.array([10, 10, 60, 90], np.float32), score=0.9, keypoints=keypoints)])
    a2v(image, result)
    assert result.info["a2v_language"] == "official pasta_language_matrix.npy (1536-d; A2V vector 4,608-d) [auto]"
    assert result.persons[0].vector.shape == (4608,)
    a2v.close()


def test_stage_without_an_official_matrix_says_the_vector_is_not_official(home, checkpoint):
    from engine.stages.a2v import A2VStage

    config = Config()
    config.device = "cpu"
    config.a2v.checkpoint = str(checkpoint)
    stage = A2VStage(config)                                    # auto, nothing cached: MiniLM
    assert "3,840-d" in stage.describe() and "not the official" in stage.describe()
    assert stage.provenance()["language"]["vector_dim"] == 3840
    stage.close()


def test_checkpoint_hash_is_computed_once_and_redone_when_the_file_changes(home, tmp_path, monkeypatch):
    path = tmp_path / "weights.pth"
    path.write_bytes(b"a" * 5000)
    calls = []
    real = hashlib.sha256

    def counting(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(prov.hashlib, "sha256", counting)
    prov._HASH_MEMO.clear()
    first = file_sha256(path)
    assert first == real(b"a" * 5000).hexdigest() and len(calls) == 1
    assert file_sha256(path) == first and len(calls) == 1                 # memory
    prov._HASH_MEMO.clear()
    assert file_sha256(path) == first and len(calls) == 1                 # <cache>/sha256.json (next run)
    assert str(path.resolve()) in json.loads((home / "sha256.json").read_text())
    path.write_bytes(b"b" * 5000)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10_000_000))
    assert file_sha256(path) == real(b"b" * 5000).hexdigest() and len(calls) == 2


def test_write_json_atomic_replaces_whole_files(tmp_path):
    target = tmp_path / "sub" / "run.json"
    write_json_atomic(target, {"a": 1})
    write_json_atomic(target, {"b": [1, 2]})
    assert json.loads(target.read_text()) == {"b": [1, 2]}
    assert [p.name for p in target.parent.iterdir()] == ["run.json"]          # no temp file left
    with pytest.raises(TypeError):
        write_json_atomic(target, {"bad": object()})
    assert json.loads(target.read_text()) == {"b": [1, 2]} and len(list(target.parent.iterdir())) == 1
