"""The cache record: ``<cache>/manifest.json`` lists every file fetched, imported or unpacked into the cache.

Layout (JSON, version 1)::

    {"version": 1, "files": {"<path relative to the cache>": {"entry": NAME, "sha256": HEX64, "size": INT,
                                                               "source": URL | "import" | "unpack"}}}

A directory entry (``hf_dir``) has one record per file (``bert-base-uncased/config.json``). ``weights
verify`` checks each cached file against its record; ``weights pack`` copies the records into the
archive, ``weights unpack`` checks every file against them before it installs anything.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

MANIFEST_NAME = "manifest.json"
VERSION = 1
MAX_MANIFEST_BYTES = 4 << 20  # a manifest lists a handful of files; anything larger is not ours


def manifest_path(cache: Path) -> Path:
    return cache / MANIFEST_NAME


def parse(text: bytes | str, source: str) -> dict[str, dict]:
    """``{relative path: record}`` from manifest JSON; ValueError (one line naming ``source``) when malformed."""
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{source} is not valid JSON ({str(exc)[:80]})") from None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        raise ValueError(f"{source} has no 'files' table")
    out = {}
    for rel, record in files.items():
        ok = (isinstance(rel, str) and isinstance(record, dict) and isinstance(record.get("sha256"), str)
              and len(record["sha256"]) == 64 and isinstance(record.get("size"), int) and record["size"] >= 0)
        if not ok:
            raise ValueError(f"{source}: record {str(rel)[:60]!r} lacks a sha256 (64 hex) or a size")
        out[rel] = dict(record)
    return out


def read(cache: Path) -> dict[str, dict]:
    """The records of the cache (empty when there is no manifest; an unreadable one counts as empty)."""
    path = manifest_path(cache)
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            return {}
        return parse(path.read_bytes(), str(path))
    except (OSError, ValueError):
        return {}


def dumps(files: dict[str, dict]) -> str:
    return json.dumps({"version": VERSION, "files": dict(sorted(files.items()))}, indent=1)


def _write(cache: Path, files: dict[str, dict]) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    path = manifest_path(cache)
    tmp = path.with_name(f".{MANIFEST_NAME}.{os.getpid()}.tmp")
    tmp.write_text(dumps(files), encoding="utf-8")
    os.replace(tmp, path)


def record(cache: Path, rel: str, entry: str, sha256: str, size: int, source: str) -> None:
    """Add or replace the record of ``rel`` (a path relative to ``cache``)."""
    files = read(cache)
    files[rel] = {"entry": entry, "sha256": sha256, "size": int(size), "source": source}
    _write(cache, files)


def forget(cache: Path, prefix: str) -> None:
    """Drop the records of ``prefix`` and of everything under ``prefix/`` (a file replaced or removed)."""
    files = read(cache)
    kept = {k: v for k, v in files.items() if k != prefix and not k.startswith(prefix + "/")}
    if len(kept) != len(files):
        _write(cache, kept)


def lookup(cache: Path, rel: str) -> Optional[dict]:
    return read(cache).get(rel)
