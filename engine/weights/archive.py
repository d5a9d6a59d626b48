"""Tar archives of weights: pick one file out of a download (``metadata.tar.gz``), pack and unpack the cache.

Reading is safe and bounded: only regular-file members are read (links, devices and FIFOs are refused),
member names must be relative without ``..``, member counts and sizes are capped, and nothing is written
outside the cache. ``weights pack OUT.tar`` writes ``manifest.json`` (sha256 and size of every file, see
:mod:`engine.weights.manifest`) and the cached files; ``weights unpack IN.tar`` checks every member
against that manifest and the registry's own checks before it installs anything.
"""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
import time
from pathlib import Path, PurePosixPath
from typing import Optional

from engine.weights import manifest
from engine.weights.registry import REGISTRY, WeightsError, get_entry

MAX_MEMBERS = 200_000       # metadata.tar.gz holds a few thousand files; far more is not a weights archive
MAX_MEMBER_BYTES = 8 << 30  # the largest weights file we know is ~0.5 GiB
_BLOCK = 1 << 20


def _kind(info: tarfile.TarInfo) -> str:
    if info.issym():
        return "symbolic link"
    if info.islnk():
        return "hard link"
    if info.isdir():
        return "directory"
    if info.ischr() or info.isblk():
        return "device"
    if info.isfifo():
        return "FIFO"
    return "special member"


def safe_name(name: str) -> Optional[str]:
    """A member name as a clean relative POSIX path, or None if absolute, with ``..``, or otherwise odd."""
    if not name or "\\" in name or "\x00" in name or name.startswith("/"):
        return None
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts) or ":" in parts[0]:
        return None
    return "/".join(parts)


def _copy_bounded(source, out_path: Path, size: int, digest=None) -> None:
    """Copy exactly ``size`` bytes from a member's file object; fewer means the archive is cut short."""
    left = size
    with open(out_path, "wb") as out:
        while left > 0:
            block = source.read(min(_BLOCK, left))
            if not block:
                raise EOFError(f"archive ends {left} bytes before the member does")
            out.write(block)
            if digest is not None:
                digest.update(block)
            left -= len(block)


def _unreadable(shown: str, exc: BaseException) -> WeightsError:
    text = " ".join(str(exc).split())[:100] or type(exc).__name__
    return WeightsError(f"{shown} is not a readable tar archive (truncated or corrupt: {text})")


def extract_member(archive: Path, basename: str, out: Path, shown: str,
                   max_bytes: int = MAX_MEMBER_BYTES) -> str:
    """Copy the first regular member called ``basename`` (in any folder) of ``archive`` to ``out``.

    Returns the member's name. Raises :class:`WeightsError` (one line naming ``shown``) when the archive
    is unreadable, holds no such member, or the member is a link or larger than ``max_bytes``.
    """
    try:
        with tarfile.open(archive, "r:*") as tar:
            for count, info in enumerate(tar, 1):
                if count > MAX_MEMBERS:
                    raise WeightsError(f"{shown}: no {basename} in its first {MAX_MEMBERS} entries")
                if PurePosixPath(info.name).name != basename:
                    continue
                if not info.isreg():
                    raise WeightsError(f"{shown}: {info.name} is a {_kind(info)}, not a file; refused")
                if info.size > max_bytes:
                    raise WeightsError(f"{shown}: {info.name} is {info.size} bytes, more than {max_bytes}; refused")
                try:
                    _copy_bounded(tar.extractfile(info), out, info.size)
                except BaseException:
                    out.unlink(missing_ok=True)
                    raise
                return info.name
    except WeightsError:
        raise
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise _unreadable(shown, exc) from None
    raise WeightsError(f"{shown} holds no {basename}")


# -------------------------------------------------------------------------------------------- pack, unpack

def pack(out: Path) -> list[str]:
    """Write every cached weights file (and a manifest with their sha256 and size) into the tar ``out``.

    Returns one line per file. Files that no longer match their cache record or published hash are
    refused (pack would spread a corrupt file).
    """
    from engine.weights import store

    cache = store.cache_dir()
    records = manifest.read(cache)
    files: dict[str, dict] = {}
    paths: list[tuple[str, Path]] = []
    for entry in REGISTRY.values():
        if entry.kind == "package_dir":
            continue
        found = store.find_cached(entry)
        if found is None:
            continue
        for rel in store._relative_files(entry):
            path = found / PurePosixPath(rel).name if entry.is_dir else found
            digest, size = store.sha256_of(path), path.stat().st_size
            record = records.get(rel) if store._in_cache(path) else None
            if record is not None and (record["sha256"] != digest or record["size"] != size):
                raise WeightsError(f"cannot pack: {path} changed since it was recorded; check it with "
                                   f"python main.py weights verify {entry.name}")
            if not entry.is_dir:
                store._check_hash(entry, digest, str(path))
            files[rel] = {"entry": entry.name, "sha256": digest, "size": size,
                          "source": (record or {}).get("source", "pack")}
            paths.append((rel, path))
    if not files:
        raise WeightsError(f"nothing to pack: no weights are cached in {cache} (see python main.py weights list)")
    out = Path(out).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    now = time.time()
    try:
        with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
            data = manifest.dumps(files).encode("utf-8")
            info = tarfile.TarInfo(manifest.MANIFEST_NAME)
            info.size, info.mtime, info.mode = len(data), now, 0o644
            tar.addfile(info, io.BytesIO(data))
            for rel, path in paths:
                info = tarfile.TarInfo(rel)
                info.size, info.mtime, info.mode = files[rel]["size"], now, 0o644
                with open(path, "rb") as handle:
                    tar.addfile(info, handle)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return [f"{rel}  {files[rel]['size']} bytes  sha256 {files[rel]['sha256'][:16]}…" for rel, _ in paths]


def unpack(archive: Path) -> list[str]:
    """Check and install a ``weights pack`` archive into the cache; returns the installed entry names.

    Every member must be a regular file with a safe relative name, listed in the archive's manifest with
    the same size, belong to a registered entry, and match its manifest sha256 and the entry's own checks.
    All of it is staged and checked first; nothing is installed unless everything passes.
    """
    from engine.weights import store

    archive = Path(archive).expanduser()
    shown = str(archive)
    if not archive.is_file():
        raise WeightsError(f"cannot unpack: {archive} does not exist")
    staged: list[tuple] = []
    try:
        with tarfile.open(archive, "r:*") as tar:
            members: dict[str, tarfile.TarInfo] = {}
            for count, info in enumerate(tar, 1):
                if count > MAX_MEMBERS:
                    raise WeightsError(f"{shown} has more than {MAX_MEMBERS} members; not a weights archive")
                name = safe_name(info.name)
                if name is None:
                    raise WeightsError(f"{shown}: member {info.name[:80]!r} has an unsafe path (absolute or '..'); "
                                       f"refused, nothing was installed")
                if info.isdir():
                    continue
                if not info.isreg():
                    raise WeightsError(f"{shown}: member {name} is a {_kind(info)}, not a file; refused, nothing "
                                       f"was installed")
                if name in members:
                    raise WeightsError(f"{shown}: member {name} appears twice; refused, nothing was installed")
                members[name] = info
            info = members.pop(manifest.MANIFEST_NAME, None)
            if info is None:
                raise WeightsError(f"{shown} has no {manifest.MANIFEST_NAME}; make it with python main.py weights "
                                   f"pack OUT.tar")
            if info.size > manifest.MAX_MANIFEST_BYTES:
                raise WeightsError(f"{shown}: {manifest.MANIFEST_NAME} is {info.size} bytes; not a weights manifest")
            try:
                records = manifest.parse(tar.extractfile(info).read(manifest.MAX_MANIFEST_BYTES),
                                         f"{shown}:{manifest.MANIFEST_NAME}")
            except ValueError as exc:
                raise WeightsError(str(exc)) from None
            unlisted = sorted(set(members) - set(records))
            if unlisted:
                raise WeightsError(f"{shown}: {unlisted[0]} is not in its manifest; refused, nothing was installed")
            absent = sorted(set(records) - set(members))
            if absent:
                raise WeightsError(f"{shown}: its manifest lists {absent[0]}, which the archive lacks (cut short?)")
            groups: dict[str, list[str]] = {}
            for name, member in members.items():
                if member.size != records[name]["size"] or member.size > MAX_MEMBER_BYTES:
                    raise WeightsError(f"{shown}: {name} is {member.size} bytes, its manifest says "
                                       f"{records[name]['size']}")
                entry = store.entry_for_relative(name)
                if entry is None:
                    raise WeightsError(f"{shown}: {name} is not a known weights file (see python main.py weights "
                                       f"list); refused, nothing was installed")
                groups.setdefault(entry.name, []).append(name)
            for entry_name, names in groups.items():
                entry = get_entry(entry_name)
                if sorted(names) != sorted(store._relative_files(entry)):
                    raise WeightsError(f"{shown}: '{entry.name}' is incomplete (has {', '.join(sorted(names))})")
                target = store.cache_path(entry)
                target.parent.mkdir(parents=True, exist_ok=True)
                part = store._part_of(target)
                _remove(part)
                if entry.is_dir:
                    part.mkdir()
                staged.append((entry, part, target))
                for name in names:
                    dest = part / PurePosixPath(name).name if entry.is_dir else part
                    digest = hashlib.sha256()
                    _copy_bounded(tar.extractfile(members[name]), dest, members[name].size, digest)
                    if digest.hexdigest() != records[name]["sha256"]:
                        raise WeightsError(f"{shown}: {name} has sha256 {digest.hexdigest()}, its manifest says "
                                           f"{records[name]['sha256']} (corrupt archive); nothing was installed")
                store.verify_path(entry, part, shown=f"{shown}:{names[0] if not entry.is_dir else entry.filename}",
                                  record=False)
    except WeightsError:
        for _, part, _ in staged:
            _remove(part)
        raise
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        for _, part, _ in staged:
            _remove(part)
        raise _unreadable(shown, exc) from None
    for entry, part, target in staged:
        store._install(entry, part, target, source="unpack")
    return [entry.name for entry, _, _ in staged]


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
