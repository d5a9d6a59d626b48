"""Downloads against a local HTTP server on 127.0.0.1: plain, OneDrive redirect, resume, bad hash, 404, no
answer, mirror, Hugging Face folders, offline (no socket at all), and a stage that fetches once."""
import base64
import io
import json
import logging
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.weights import download as dl
from engine.weights import manifest
from engine.weights import store as weights
from engine.weights.store import WeightsError, WeightsNotFound
from tests.engine.weights.conftest import sha256


def _checkpoint_bytes(seed: int = 0) -> bytes:
    torch.manual_seed(seed)
    buffer = io.BytesIO()
    torch.save({"layer.weight": torch.randn(8, 4), "layer.bias": torch.randn(8)}, buffer)
    return buffer.getvalue()


def _cache_files() -> list[Path]:
    return [p for p in weights.cache_dir().rglob("*") if p.is_file()]


@pytest.fixture
def no_sockets(monkeypatch):
    """Every attempt to open a network connection is recorded and refused."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise AssertionError("a socket was opened")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


# --------------------------------------------------------------------------------------------- plain, hash

def test_plain_file_is_fetched_checked_and_recorded(server, entry_factory):
    routes, base = server
    data = _checkpoint_bytes()
    routes.file("/plain.pth", data)
    entry = entry_factory(name="test_plain", filename="test_plain.pth", url=f"{base}/plain.pth", sha256=sha256(data),
                          expected_keys=(("layer.weight", (8, 4)),))
    path = weights.fetch("test_plain", progress=False)
    assert path == weights.cache_dir() / entry.filename and path.read_bytes() == data
    record = manifest.lookup(weights.cache_dir(), entry.filename)
    assert record == {"entry": "test_plain", "sha256": sha256(data), "size": len(data), "source": f"{base}/plain.pth"}
    summary = weights.verify("test_plain")
    assert "sha256" in summary and "matches the cache record" in summary
    assert weights.fetch("test_plain", progress=False) == path and routes.paths() == ["/plain.pth"]  # cached


def test_wrong_hash_is_rejected_and_nothing_is_left_in_the_cache(server, entry_factory):
    routes, base = server
    routes.file("/x.pth", b"corrupted bytes")
    entry_factory(name="test_bad", filename="test_bad.pth", url=f"{base}/x.pth", sha256="1" * 64)
    with pytest.raises(WeightsError, match="expected 1{64}") as info:
        weights.fetch("test_bad", progress=False)
    assert "nothing was kept" in str(info.value) and ".part" not in str(info.value)
    assert _cache_files() == []
    entry_factory(name="test_bad_prefix", filename="test_bad_prefix-deadbeef.pth", url=f"{base}/x.pth",
                  sha256_prefix="deadbeef")
    with pytest.raises(WeightsError, match="does not start with the published prefix deadbeef"):
        weights.fetch("test_bad_prefix", progress=False)
    assert _cache_files() == []


def test_a_dropped_connection_is_resumed_with_range_and_gives_the_right_file(server, entry_factory):
    routes, base = server
    data = _checkpoint_bytes(1) * 3  # ~10 KB: several reads
    half = len(data) // 2
    routes.drop_once("/big.pth", data, half)
    entry_factory(name="test_resume", filename="test_resume.pth", url=f"{base}/big.pth", sha256=sha256(data))
    path = weights.fetch("test_resume", progress=False)
    assert path.read_bytes() == data
    assert routes.requests == [("/big.pth", None), ("/big.pth", f"bytes={half}-")]
    assert not any(p.name.endswith(".part") for p in _cache_files())


def test_a_partial_file_from_an_earlier_run_is_resumed(server, entry_factory):
    routes, base = server
    data = _checkpoint_bytes(2)
    routes.file("/r.pth", data)
    entry = entry_factory(name="test_resume2", filename="test_resume2.pth", url=f"{base}/r.pth", sha256=sha256(data))
    weights.cache_dir().mkdir(parents=True, exist_ok=True)
    (weights.cache_dir() / (entry.filename + ".part")).write_bytes(data[:100])
    assert weights.fetch("test_resume2", progress=False).read_bytes() == data
    assert routes.requests == [("/r.pth", "bytes=100-")]


# ------------------------------------------------------------------------------------ failures, one line each

def test_404_is_one_line_naming_the_url(server, entry_factory, capsys):
    routes, base = server
    entry_factory(name="test_404", filename="test_404.pth", url=f"{base}/missing.pth", sha256="2" * 64)
    started = time.monotonic()
    with pytest.raises(WeightsNotFound) as info:
        weights.fetch("test_404", progress=False, timeout=2)
    assert time.monotonic() - started < 5
    reason = info.value.reason
    assert "\n" not in reason and f"HTTP 404 Not Found from {base}/missing.pth" in reason
    assert info.value.hint == "python main.py weights fetch test_404"
    assert _cache_files() == []


def test_a_server_that_never_answers_gives_up_in_bounded_time(server, entry_factory):
    routes, base = server
    routes.hang("/slow.pth")
    entry_factory(name="test_slow", filename="test_slow.pth", url=f"{base}/slow.pth", sha256="3" * 64)
    started = time.monotonic()
    with pytest.raises(WeightsNotFound) as info:
        weights.fetch("test_slow", progress=False, timeout=0.5)
    assert time.monotonic() - started < 4
    assert "\n" not in info.value.reason
    assert f"no answer from {base.split('//')[1]} within 0.5 s" in info.value.reason


def test_cli_fetch_failure_is_a_short_block_with_the_right_command(server, entry_factory, capsys, monkeypatch):
    from engine.cli.weights import main

    routes, base = server
    entry_factory(name="test_404", filename="test_404.pth", url=f"{base}/missing.pth", sha256="2" * 64)
    monkeypatch.setenv("A2V_DOWNLOAD_TIMEOUT", "2")
    assert main(["fetch", "test_404", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("weights 'test_404'") and "HTTP 404" in err.splitlines()[0]
    assert "python main.py weights import test_404 /path/to/test_404.pth" in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("a2v: error: test_404: ") and "HTTP 404" in last and "steps above" in last
    assert len(err.splitlines()) <= 9 and ".part" not in err and "Traceback" not in err


# ---------------------------------------------------------------------------------------------- OneDrive

DOCS_EXAMPLE = "https://onedrive.live.com/redir?resid=1231244193912!12&authKey=1201919!12921!1"
DOCS_TOKEN = ("u!aHR0cHM6Ly9vbmVkcml2ZS5saXZlLmNvbS9yZWRpcj9yZXNpZD0xMjMxMjQ0MTkzOTEyITEyJmF1dGhLZXk9"
              "MTIwMTkxOSExMjkyMSEx")


def test_onedrive_api_path_follows_the_documented_encoding(monkeypatch):
    monkeypatch.delenv("A2V_ONEDRIVE_API", raising=False)
    assert dl.onedrive_share_token(DOCS_EXAMPLE) == DOCS_TOKEN  # Microsoft's "Encoding sharing URLs" example
    assert dl.onedrive_api_url(DOCS_EXAMPLE) == f"https://api.onedrive.com/v1.0/shares/{DOCS_TOKEN}/root/content"
    for name in ("a2v_v1", "a2v_v1_language"):
        link = weights.get_entry(name).onedrive
        assert link.startswith("https://1drv.ms/")
        url = dl.onedrive_api_url(link)
        token = url.split("/shares/")[1].split("/root/content")[0]
        assert token.startswith("u!") and "=" not in token and "+" not in token and "/" not in token
        body = token[2:]
        assert base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode() == link
    assert dl.onedrive_share_token(weights.get_entry("a2v_v1").onedrive) == (
        "u!aHR0cHM6Ly8xZHJ2Lm1zL3UvcyFBclVWb1J4cEJwaFlndGRzbG9SeDVDTkJvc1VXLXc_ZT1EenE3cnY")


def _a2v_like_checkpoint() -> bytes:
    expected = dict(weights.get_entry("a2v_v1").expected_keys)
    buffer = io.BytesIO()
    torch.save({"iters": 1, "model_state_dict": {k: torch.zeros(s) for k, s in expected.items()}}, buffer)
    return buffer.getvalue()


def test_onedrive_link_is_fetched_through_the_api_redirect(server, monkeypatch, entry_factory):
    routes, base = server
    monkeypatch.setenv("A2V_ONEDRIVE_API", f"{base}/v1.0")
    link = "https://1drv.ms/u/s!TestLink-a2v?e=abc"
    data = _a2v_like_checkpoint()
    routes.redirect(f"/v1.0/shares/{dl.onedrive_share_token(link)}/root/content", f"{base}/content/blob?token=t")
    routes.file("/content/blob", data)
    entry = weights.get_entry("a2v_v1")
    entry_factory(name="test_onedrive", filename="pretrained_test.pth", onedrive=link,
                  expected_keys=entry.expected_keys, manual=entry.manual)
    path = weights.fetch("test_onedrive", progress=False)
    assert path.read_bytes() == data
    assert routes.paths() == [f"/v1.0/shares/{dl.onedrive_share_token(link)}/root/content", "/content/blob"]
    assert "checked by structure" in weights.verify("test_onedrive")


def test_onedrive_page_instead_of_file_falls_back_to_the_manual_block(server, monkeypatch, entry_factory):
    routes, base = server
    monkeypatch.setenv("A2V_ONEDRIVE_API", f"{base}/v1.0")
    link = "https://1drv.ms/u/s!TestLink-page"
    routes.redirect(f"/v1.0/shares/{dl.onedrive_share_token(link)}/root/content", f"{base}/page")
    routes.file("/page", b"<!DOCTYPE html><html><body>Sign in</body></html>")
    entry = weights.get_entry("a2v_v1")
    entry_factory(name="test_onedrive", filename="pretrained_test.pth", onedrive=link,
                  expected_keys=entry.expected_keys, manual=entry.manual)
    with pytest.raises(WeightsNotFound) as info:
        weights.fetch("test_onedrive", progress=False)
    text = str(info.value)
    assert "web page (HTML)" in text.splitlines()[0]
    assert "python main.py weights import test_onedrive /path/to/pretrained_test.pth" in text
    assert "1drv.ms/u/s!ArUVoRxpBphYgtdsloRx5CNBosUW-w" in text  # the real link, to open in a browser
    assert _cache_files() == []


def test_onedrive_archive_gives_the_language_matrix_out_of_metadata_tar_gz(server, monkeypatch, entry_factory,
                                                                            tmp_path):
    import tarfile

    routes, base = server
    monkeypatch.setenv("A2V_ONEDRIVE_API", f"{base}/v1.0")
    matrix = np.arange(93 * 8, dtype=np.float32).reshape(93, 8)
    np.save(tmp_path / "pasta_language_matrix.npy", matrix)
    (tmp_path / "other.txt").write_text("not it")
    with tarfile.open(tmp_path / "metadata.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "other.txt", "metadata/other.txt")
        tar.add(tmp_path / "pasta_language_matrix.npy", "metadata/pasta_language_matrix.npy")
    link = "https://1drv.ms/u/s!TestLink-metadata"
    routes.redirect(f"/v1.0/shares/{dl.onedrive_share_token(link)}/root/content", f"{base}/blob")
    routes.file("/blob", (tmp_path / "metadata.tar.gz").read_bytes())
    entry_factory(name="test_language", filename="test_language.npy", kind="npy", onedrive=link,
                  archive_name="metadata.tar.gz", archive_member="pasta_language_matrix.npy", array_shape=(93, -1))
    path = weights.fetch("test_language", progress=False)
    np.testing.assert_array_equal(np.load(path), matrix)
    assert [p.name for p in _cache_files() if p.suffix != ".json"] == ["test_language.npy"]  # archive dropped


# ------------------------------------------------------------------------------------------------ mirror

def test_mirror_is_asked_first_then_the_origin(server, monkeypatch, entry_factory):
    routes, base = server
    monkeypatch.setenv("A2V_WEIGHTS_MIRROR", f"{base}/mirror/")
    data = _checkpoint_bytes(3)
    routes.file("/mirror/test_mirror-0.pth", data)
    routes.status("/origin/test_mirror-0.pth", 500)
    entry_factory(name="test_mirror", filename="test_mirror-0.pth", url=f"{base}/origin/test_mirror-0.pth",
                  sha256=sha256(data))
    assert weights.fetch("test_mirror", progress=False).read_bytes() == data
    assert routes.paths() == ["/mirror/test_mirror-0.pth"]
    assert manifest.lookup(weights.cache_dir(), "test_mirror-0.pth")["source"] == f"{base}/mirror/test_mirror-0.pth"
    # Not on the mirror (404) → the entry's own URL, with the same checks.
    routes.file("/origin/test_origin.pth", data)
    entry_factory(name="test_origin", filename="test_origin.pth", url=f"{base}/origin/test_origin.pth",
                  sha256=sha256(data))
    assert weights.fetch("test_origin", progress=False).read_bytes() == data
    assert routes.paths()[-2:] == ["/mirror/test_origin.pth", "/origin/test_origin.pth"]
    # A mirror copy that fails the hash is not kept, and the origin is tried.
    routes.file("/mirror/test_tampered.pth", b"tampered")
    routes.file("/origin/test_tampered.pth", data)
    entry_factory(name="test_tampered", filename="test_tampered.pth", url=f"{base}/origin/test_tampered.pth",
                  sha256=sha256(data))
    assert weights.fetch("test_tampered", progress=False).read_bytes() == data


# ------------------------------------------------------------------------------------------ Hugging Face

def test_hf_folder_files_come_from_resolve_main_and_the_linked_sha256_is_checked(server, entry_factory):
    routes, base = server
    files = {"config.json": b'{"model_type": "bert"}', "vocab.txt": b"[PAD]\n[UNK]\n", "model.safetensors": b"W" * 999}
    for name, data in files.items():
        headers = {"X-Linked-Etag": f'"{sha256(data)}"'} if name == "model.safetensors" else {}
        routes.redirect(f"/org/tiny/resolve/main/{name}", f"{base}/cdn/{name}", headers)
        routes.file(f"/cdn/{name}", data)
    entry_factory(name="test-tiny", filename="test-tiny", kind="hf_dir", url=f"{base}/org/tiny", files=tuple(files))
    folder = weights.fetch("test-tiny", progress=False)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == files
    record = manifest.lookup(weights.cache_dir(), "test-tiny/model.safetensors")
    assert record["sha256"] == sha256(files["model.safetensors"])
    assert "matches the cache record (3 files)" in weights.verify("test-tiny")
    # The CDN serving something else than the hash Hugging Face published: refused, not installed.
    routes.file("/cdn/model.safetensors", b"X" * 999)
    entry_factory(name="test-tiny2", filename="test-tiny2", kind="hf_dir", url=f"{base}/org/tiny", files=tuple(files))
    with pytest.raises(WeightsError, match="the server published"):
        weights.fetch("test-tiny2", progress=False)
    assert not (weights.cache_dir() / "test-tiny2").exists()


# ------------------------------------------------------------------------------------------------ offline

def test_offline_flag_opens_no_socket(server, entry_factory, no_sockets, capsys, monkeypatch):
    import main

    routes, base = server
    entry_factory(name="test_off", filename="test_off.pth", url=f"{base}/off.pth", sha256="4" * 64, auto_fetch=True)
    assert main.main(["--offline", "weights", "fetch", "test_off"]) == 2
    err = capsys.readouterr().err
    assert "downloads are off (--offline / A2V_OFFLINE=1)" in err
    assert "python main.py weights import test_off" in err
    with pytest.raises(WeightsNotFound) as info:  # what a stage calls: the same, in one reason line
        weights.ensure("test_off")
    assert info.value.reason == dl.OFFLINE_REASON
    assert no_sockets == [] and routes.requests == []


def test_a2v_offline_variable_stops_fetch_before_any_socket(no_sockets, entry_factory, monkeypatch):
    monkeypatch.setenv("A2V_OFFLINE", "1")
    entry_factory(name="test_off", filename="test_off.pth", url="http://127.0.0.1:9/off.pth", sha256="4" * 64)
    with pytest.raises(WeightsNotFound, match="downloads are off"):
        weights.fetch("test_off", progress=False)
    with pytest.raises(dl.OfflineError):
        dl.download("http://127.0.0.1:9/x", weights.cache_dir() / "x.part", "x", progress=False)
    assert no_sockets == []


def test_person_detector_offline_falls_back_in_one_line(no_sockets, caplog):
    from engine.pose.person_detector import build_person_detector

    with caplog.at_level(logging.INFO, logger="engine.pose.person_detector"):
        detector, why = build_person_detector("auto", torch.device("cpu"), 0.7, 320)
    assert detector is None and why == "no detector weights cached"
    lines = [r.getMessage() for r in caplog.records if r.name == "engine.pose.person_detector"]
    assert len(lines) == 1 and "\n" not in lines[0] and "downloads are off" in lines[0]
    assert "python main.py weights import fasterrcnn_mobilenet_v3_large_fpn_coco" in lines[0]
    assert no_sockets == []


# ------------------------------------------------------------------------------ a stage fetches once, online

def test_person_detector_weights_are_fetched_on_first_use_and_only_once(server, entry_factory, monkeypatch):
    from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_fpn

    from engine.pose.person_detector import TorchvisionPersonDetector, build_person_detector

    routes, base = server
    torch.manual_seed(0)
    model = fasterrcnn_mobilenet_v3_large_fpn(weights=None, weights_backbone=None)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    data = buffer.getvalue()
    routes.file("/detector.pth", data)
    entry_factory(name="test_detector", filename="test_detector.pth", url=f"{base}/detector.pth", sha256=sha256(data),
                  auto_fetch=True)
    detector, why = build_person_detector("auto", torch.device("cpu"), 0.7, 320, weights="test_detector")
    assert isinstance(detector, TorchvisionPersonDetector) and why.startswith("per person box")
    assert routes.paths() == ["/detector.pth"]
    attempts = []
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: attempts.append(a) or (_ for _ in ()).throw(
        AssertionError("network used on the second run")))
    again, _ = build_person_detector("auto", torch.device("cpu"), 0.7, 320, weights="test_detector")
    assert isinstance(again, TorchvisionPersonDetector) and attempts == [] and routes.paths() == ["/detector.pth"]
    assert json.loads(manifest.manifest_path(weights.cache_dir()).read_text())["files"]["test_detector.pth"]["size"] \
        == len(data)


def test_onedrive_refusing_anonymous_access_gives_the_browser_steps(server, monkeypatch, entry_factory):
    routes, base = server
    monkeypatch.setenv("A2V_ONEDRIVE_API", f"{base}/v1.0")
    link = "https://1drv.ms/u/s!TestLink-401"
    routes.status(f"/v1.0/shares/{dl.onedrive_share_token(link)}/root/content", 401)
    entry = weights.get_entry("a2v_v1")
    entry_factory(name="test_onedrive", filename="pretrained_test.pth", onedrive=link,
                  expected_keys=entry.expected_keys, manual=entry.manual)
    with pytest.raises(WeightsNotFound) as info:
        weights.fetch("test_onedrive", progress=False)
    assert "HTTP 401" in info.value.reason and "signed-in browser" in info.value.reason
    assert "in a browser" in str(info.value) and "weights import test_onedrive" in str(info.value)
    assert "With internet" not in str(info.value)  # the fetch just failed: no advice to run it again


def _tiny_bert(folder: Path) -> Path:
    """A random 1-layer BERT (hidden 16) with a word-level vocabulary of the PaSta phrases."""
    from transformers import BertConfig, BertModel, BertTokenizer

    from engine.a2v.language import pasta_phrases
    from engine.vocab import load_vocab

    folder.mkdir()
    words = sorted({w for pair in pasta_phrases(load_vocab()) for phrase in pair for w in phrase.split()})
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words) + "\n")
    BertTokenizer(str(folder / "vocab.txt")).save_pretrained(str(folder))
    config = BertConfig(vocab_size=5 + len(words), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32)
    torch.manual_seed(0)
    BertModel(config).eval().save_pretrained(str(folder))
    return folder


def test_language_encoder_is_fetched_on_first_use_then_offline_is_enough(server, entry_factory, tmp_path,
                                                                         monkeypatch):
    from engine.a2v.language import language_matrix

    routes, base = server
    folder = _tiny_bert(tmp_path / "tiny")
    files = ("config.json", "vocab.txt", "tokenizer_config.json", "model.safetensors")
    for name in files:
        routes.file(f"/org/tiny-bert/resolve/main/{name}", (folder / name).read_bytes())
    entry_factory(name="test-tiny-bert", filename="test-tiny-bert", kind="hf_dir", url=f"{base}/org/tiny-bert",
                  files=files, auto_fetch=True)
    matrix = language_matrix("test-tiny-bert")
    assert matrix.shape == (93, 32) and len(routes.requests) == len(files)
    monkeypatch.setenv("A2V_OFFLINE", "1")
    np.testing.assert_array_equal(language_matrix("test-tiny-bert"), matrix)
    assert len(routes.requests) == len(files)


def test_bert_offline_is_one_line_with_the_import_command():
    from engine.a2v.language import LanguageError, language_matrix

    with pytest.raises(LanguageError) as info:
        language_matrix("bert-base-uncased")
    text = str(info.value)
    assert "\n" not in text and "downloads are off" in text
    assert "python main.py weights import bert-base-uncased bert-base-uncased/" in text
