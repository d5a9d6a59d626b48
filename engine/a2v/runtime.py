"""Which runtime runs the A2V network, and the on-disk cache of its exported ONNX graph.

Runtimes (``a2v.runtime``):

- ``torch``: PyTorch (BN-folded, channels-last; :class:`engine.a2v.net.FusedPastaNet`);
- ``onnx``: the exported graph (:mod:`engine.a2v.onnx_export`) run by ONNX Runtime (CPU, or CUDA when
  onnxruntime has its CUDA provider);
- ``openvino``: the same graph run by OpenVINO on the CPU in float32;
- ``auto`` (default): on a CPU the fastest one installed, openvino, else onnx, else torch (issue 20,
  ``python main.py bench a2v``: OpenVINO 1.1-1.2× ONNX Runtime, ONNX Runtime 1.4-1.8× PyTorch, all with
  the same numbers within the parity tolerances); on CUDA onnx when onnxruntime has the CUDA provider,
  else torch. ``$A2V_AUTO_RUNTIME`` (one of torch, onnx, openvino) overrides what auto picks; the test
  suite sets it to torch so that tests which build a stage with random weights do not each export.

Graph cache: ``cache_dir()/onnx/a2v-<weights digest>-<code digest>[-fp16].onnx`` (``cache_dir`` as the
weights store: ``$A2V_HOME``, else ``$XDG_CACHE_HOME/a2v``, else ``~/.cache/a2v``). The weights digest is
a sha256 of every parameter and buffer of the net; the code digest covers the torch, onnx and exporter
versions (the source of the modules that define the graph). A miss exports once (a few seconds) and
writes the file atomically (temporary file + rename); a hit only loads it. A file that cannot be loaded
is exported again, with one warning line. Entries of the same weights for older code are removed.
"""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Optional, Union

import torch

log = logging.getLogger(__name__)

RUNTIMES = ("auto", "torch", "onnx", "openvino")
AUTO_ENV = "A2V_AUTO_RUNTIME"
CACHE_SUBDIR = "onnx"


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def resolve_runtime(requested: str, device: torch.device) -> tuple[str, str]:
    """``(runtime, why)``: the runtime that runs for ``requested`` on ``device`` (``auto`` resolved), and a
    few words on why, for describe() and the provenance record."""
    if requested != "auto":
        if requested == "openvino" and device.type != "cpu":
            raise ValueError(f"a2v.runtime openvino runs on the CPU only, device is {device}; "
                             f"use a2v.runtime auto, torch or onnx")
        return requested, "as configured"
    forced = os.environ.get(AUTO_ENV, "").strip()
    if forced:
        if forced not in RUNTIMES[1:]:
            raise ValueError(f"${AUTO_ENV}={forced!r}: use one of {', '.join(RUNTIMES[1:])}")
        return forced, f"auto, forced by ${AUTO_ENV}"
    if device.type == "cpu":
        if _has("openvino"):
            return "openvino", "auto: fastest installed on a CPU"
        if _has("onnxruntime"):
            return "onnx", "auto: openvino not installed"
        return "torch", "auto: neither openvino nor onnxruntime installed"
    if _has("onnxruntime"):
        import onnxruntime as ort

        if "CUDAExecutionProvider" in ort.get_available_providers():
            return "onnx", "auto: onnxruntime has CUDA"
    return "torch", "auto: onnxruntime has no CUDA provider"


def weights_digest(net: torch.nn.Module) -> str:
    """sha256 (hex) of every parameter and buffer of ``net`` (names, dtypes, shapes, values); aliased
    tensors are hashed once per name, which is stable for one architecture."""
    digest = hashlib.sha256()
    seen: dict[tuple, str] = {}   # storage → first name: the trunk's aliased names are hashed once
    for name, tensor in net.state_dict().items():
        data = tensor.detach().cpu().contiguous()
        key = (data.data_ptr(), data.dtype, tuple(data.shape))
        digest.update(f"{name}:{data.dtype}:{tuple(data.shape)};".encode())
        if key in seen and data.numel():
            digest.update(f"={seen[key]};".encode())
            continue
        seen[key] = name
        digest.update((data.float() if data.dtype == torch.bfloat16 else data).numpy().tobytes())
    return digest.hexdigest()


def code_digest() -> str:
    """sha256 (hex) of what shapes the exported graph besides the weights: torch and onnx versions and the
    source of the modules that define it."""
    from engine.a2v import net as net_module
    from engine.a2v import onnx_export, roi

    digest = hashlib.sha256(f"torch {torch.__version__}; opset {onnx_export.OPSET};".encode())
    try:
        import onnx

        digest.update(f"onnx {onnx.__version__};".encode())
    except ImportError:
        pass
    for module in (onnx_export, net_module, roi):
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()


def graph_cache_dir() -> Path:
    from engine.weights.store import cache_dir

    return cache_dir() / CACHE_SUBDIR


def cached_graph_path(net: torch.nn.Module, fp16: bool = False, folder: Optional[Path] = None) -> Path:
    """Where the exported graph of ``net`` is (or will be) cached."""
    folder = graph_cache_dir() if folder is None else Path(folder)
    suffix = "-fp16" if fp16 else ""
    return folder / f"a2v-{weights_digest(net)[:20]}-{code_digest()[:12]}{suffix}.onnx"


def _export_atomically(net: torch.nn.Module, target: Path, fp16: bool) -> Path:
    from engine.a2v.onnx_export import export_onnx

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.stem + ".", suffix=".part", dir=target.parent)
    os.close(fd)
    try:
        export_onnx(net, tmp, size=(128, 96), dynamic=True, fp16=fp16)
        os.chmod(tmp, 0o644)        # mkstemp makes it 0600; a cache entry is as readable as the weights
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    # The same weights exported by older code (another torch or exporter version): no longer used.
    weights_part = target.name.split("-")[1]
    for old in target.parent.glob(f"a2v-{weights_part}-*.onnx"):
        if old != target and old.name.endswith("-fp16.onnx") == target.name.endswith("-fp16.onnx"):
            try:
                old.unlink()
            except OSError:
                pass
    return target


def ensure_graph(net: torch.nn.Module, fp16: bool = False, folder: Optional[Path] = None,
                 refresh: bool = False) -> tuple[Path, bool]:
    """``(path, exported)``: the cached exported graph of ``net``, exported first on a miss (or when
    ``refresh``). A cache folder that cannot be written falls back to a temporary folder (warned)."""
    target = cached_graph_path(net, fp16, folder)
    if target.is_file() and not refresh:
        return target, False
    try:
        return _export_atomically(net, target, fp16), True
    except OSError as exc:
        fallback = Path(tempfile.mkdtemp(prefix="a2v-onnx-")) / target.name
        log.warning("A2V: cannot write the ONNX graph cache %s (%s); exporting to %s instead",
                    target.parent, exc.strerror or exc, fallback.parent)
        return _export_atomically(net, fallback, fp16), True


def _load(runtime: str, path: Union[str, os.PathLike], device: torch.device):
    from engine.a2v.onnx_export import OnnxA2VRunner, OpenVinoA2VRunner

    if runtime == "openvino":
        return OpenVinoA2VRunner(path)
    return OnnxA2VRunner(path, device)


def build_runner(runtime: str, net: torch.nn.Module, device: torch.device, fp16: bool = False,
                 model_path: Optional[Union[str, os.PathLike]] = None):
    """A runner of the exported graph for ``runtime`` (onnx or openvino): ``model_path`` when given, else
    the cached export of ``net`` (exported on a miss; a cached file that fails to load is exported again
    with one warning line). Raises ImportError when the runtime's package is missing, RuntimeError
    (one line) when a given ``model_path`` cannot be loaded."""
    from engine.a2v.onnx_export import GraphLoadError

    if model_path is not None:
        return _load(runtime, model_path, device)
    if runtime == "onnx":
        import onnxruntime as ort

        # fp16 only pays on a GPU; without onnxruntime's CUDA provider the graph would run on the CPU.
        fp16 = fp16 and device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers()
    else:
        import openvino  # noqa: F401 - fail early with ImportError when it is not installed

        fp16 = False
    path, exported = ensure_graph(net, fp16)
    try:
        runner = _load(runtime, path, device)
    except GraphLoadError as exc:
        if exported:
            raise
        log.warning("A2V: cached ONNX graph %s cannot be loaded (%s); exporting it again", path, exc.reason)
        path, exported = ensure_graph(net, fp16, refresh=True)
        runner = _load(runtime, path, device)
    runner.graph_path, runner.exported = path, exported   # for describe() and the bench: hit or miss
    return runner
