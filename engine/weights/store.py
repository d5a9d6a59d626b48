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

The entries themselves live in :mod:`engine.weights.registry`; the CLI in :mod:`engine.cli.weights`.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Optional

from engine.weights.registry import (  # noqa: F401
    REGISTRY,
    WeightsEntry,
    WeightsError,
    WeightsNotFound,
    get_entry,
    register,
    unregister,
)

__all__ = [
    "WeightsError", "WeightsNotFound", "WeightsEntry", "REGISTRY", "cache_dir", "get_entry", "register",
    "unregister", "locate", "fetch", "verify", "import_file", "load_state_dict", "load_array", "load_checkpoint",
    "manual_steps", "sha256_of",
]



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


MAX_CHECKPOINT_BYTES = 64 << 30  # far above any model here; a bigger "checkpoint" is a wrong path


def check_loadable_file(path: Path, source: str) -> None:
    """A regular file of a sane size, so no loader reads a device (``/dev/zero``), a FIFO or a huge file."""
    if path.is_dir():
        raise WeightsError(f"{source} is a directory, not a checkpoint file")
    try:
        info = path.stat()
    except OSError as exc:
        raise WeightsError(f"{source} cannot be read ({exc.strerror or exc}); check the path") from None
    import stat

    if not stat.S_ISREG(info.st_mode):
        raise WeightsError(f"{source} is not a regular file (a device, pipe or socket); give a checkpoint file")
    if info.st_size > MAX_CHECKPOINT_BYTES:
        raise WeightsError(f"{source} is {info.st_size / 2**30:.0f} GiB, far larger than any checkpoint here; "
                           f"check the path")


def load_state_dict(name_or_path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a checkpoint safely (``weights_only=True``) and return its ``{name: tensor}`` state dict.

    Unwraps ``{"model_state_dict": ...}`` (the official A2V training checkpoints), ``{"state_dict": ...}``,
    ``{"model": ...}`` and strips a ``module.`` prefix. Raises :class:`WeightsError` with one line when the
    file is truncated or corrupt, holds Python objects that safe loading refuses, or is not a state dict.
    """
    path = locate(name_or_path)
    return _unwrap(load_checkpoint(path, map_location), f"weights file {path}")


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> object:
    """``torch.load(path, weights_only=True)`` of a regular file, every failure one :class:`WeightsError` line
    (Python objects in it, truncated, corrupt, not a checkpoint, a device or a huge file)."""
    import pickle

    import torch

    path = Path(path)
    source = f"weights file {path}"
    check_loadable_file(path, source)
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
    return obj


def load_array(name_or_path: str | os.PathLike):
    """Load a ``.npy`` entry (e.g. ``a2v_v1_language``) with ``allow_pickle=False`` → float32 ndarray."""
    import numpy as np

    path = locate(name_or_path)
    check_loadable_file(path, f"array file {path}")
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
