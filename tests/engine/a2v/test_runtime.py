"""a2v.runtime: what ``auto`` picks, and the on-disk cache of the exported graph (miss → export → hit,
new weights → new entry, older code's entry removed, corrupt file → exported again with one warning)."""
import logging

import numpy as np
import pytest
import torch

from engine.a2v import onnx_export
from engine.a2v.api import A2V, A2VError
from engine.a2v.net import PastaNet
from engine.a2v.runtime import cached_graph_path, resolve_runtime
from engine.bench.a2v_baseline import synthetic_persons


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(1)
    return PastaNet().eval()


@pytest.fixture
def exports(monkeypatch):
    """Counts the exports (the cache's misses)."""
    calls = []
    real = onnx_export.export_onnx

    def counting(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(onnx_export, "export_onnx", counting)
    return calls


def _infer(model, seed=0):
    image = np.random.default_rng(seed).integers(0, 255, (61, 83, 3), dtype=np.uint8)
    return model.infer(image, *synthetic_persons(2, 83, 61, seed=seed))


def test_auto_picks_the_fastest_installed_runtime_and_the_env_forces_it(monkeypatch):
    monkeypatch.delenv("A2V_AUTO_RUNTIME", raising=False)
    assert resolve_runtime("auto", torch.device("cpu")) == ("openvino", "auto: fastest installed on a CPU")
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "openvino" else real(name))
    assert resolve_runtime("auto", torch.device("cpu"))[0] == "onnx"
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert resolve_runtime("auto", torch.device("cpu"))[0] == "torch"
    monkeypatch.setenv("A2V_AUTO_RUNTIME", "onnx")
    assert resolve_runtime("auto", torch.device("cpu")) == ("onnx", "auto, forced by $A2V_AUTO_RUNTIME")
    assert resolve_runtime("torch", torch.device("cpu")) == ("torch", "as configured")
    monkeypatch.setenv("A2V_AUTO_RUNTIME", "tensorrt")
    with pytest.raises(ValueError, match=r"\$A2V_AUTO_RUNTIME='tensorrt': use one of torch, onnx, openvino"):
        resolve_runtime("auto", torch.device("cpu"))
    with pytest.raises(ValueError, match="openvino runs on the CPU only"):
        resolve_runtime("openvino", torch.device("cuda"))


def test_cache_miss_exports_once_then_hits_and_drops_older_code_entries(net, exports, tmp_path, monkeypatch):
    monkeypatch.setenv("A2V_HOME", str(tmp_path))
    monkeypatch.delenv("A2V_AUTO_RUNTIME", raising=False)
    target = cached_graph_path(net)
    assert target.parent == tmp_path / "onnx"
    stale = target.with_name(target.name.rsplit("-", 1)[0] + "-000000000000.onnx")   # older exporter code
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    first = A2V(net, None)                                    # auto → openvino; miss: exports
    assert first.runtime == "openvino" and first.onnx.exported and len(exports) == 1
    assert first.onnx.graph_path == target and target.is_file() and not stale.exists()
    assert not list(target.parent.glob("*.part"))             # the temporary file was renamed
    second = A2V(net, None, runtime="onnx")                   # hit: no export, same file
    assert not second.onnx.exported and len(exports) == 1 and second.onnx.graph_path == target
    ref = A2V(net, None, runtime="torch")
    for model in (first, second):
        assert np.abs(_infer(model)["pasta"] - _infer(ref)["pasta"]).max() <= 1e-4


def test_new_weights_get_a_new_entry_and_a_corrupt_file_is_exported_again(net, exports, tmp_path, monkeypatch,
                                                                          caplog):
    monkeypatch.setenv("A2V_HOME", str(tmp_path))
    other = PastaNet().eval()
    other.load_state_dict(net.state_dict())
    with torch.no_grad():
        other.verb_cls_scores.weight[0, 0] += 1.0
    a, b = cached_graph_path(net), cached_graph_path(other)
    assert a != b and a.parent == b.parent
    A2V(other, None, runtime="onnx")
    assert len(exports) == 1 and b.is_file() and not a.exists()
    with caplog.at_level(logging.WARNING):
        for runtime in ("openvino", "onnx"):                 # both loaders notice and re-export
            b.write_bytes(b"\x00garbage, not a protobuf")    # e.g. a disk that filled up
            assert A2V(other, None, runtime=runtime).onnx.exported
    model = A2V(other, None, runtime="onnx")
    assert not model.onnx.exported
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(exports) == 3, exports              # one miss, then one re-export per corrupt file
    assert len(warnings) == 2 and all("cannot be loaded" in r.getMessage() and "exporting it again"
                                      in r.getMessage() and "\n" not in r.getMessage() for r in warnings)
    assert all(r.exc_info is None for r in warnings)
    assert np.abs(_infer(model)["pasta"] - _infer(A2V(other, None, runtime="torch"))["pasta"]).max() <= 1e-4


def test_unknown_runtime_is_one_line(net):
    with pytest.raises(A2VError, match="a2v runtime 'tvm': use one of auto, torch, onnx, openvino"):
        A2V(net, None, runtime="tvm")
