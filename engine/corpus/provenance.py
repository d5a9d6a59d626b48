"""Which model produced a vector: the record stored in every output file's metadata.

TODO(lead): issue 12 adds ``engine/provenance.py`` with ``provenance(config, stages) -> dict``; when it is on
this branch, replace this module's body with ``from engine.provenance import provenance`` (same signature;
``engine.corpus.process`` is the only caller).
"""
from __future__ import annotations

import functools
import os
from pathlib import Path


@functools.lru_cache(maxsize=8)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    from engine.weights.store import sha256_of

    return sha256_of(Path(path))


def _file_record(name_or_path: str) -> dict:
    """``{"name", "file", "sha256"}`` of a registered name or path (sha256 "" when it is not on disk)."""
    from engine.weights.store import WeightsError, locate

    record = {"name": str(name_or_path), "file": "", "sha256": ""}
    try:
        path = locate(name_or_path)
    except (WeightsError, OSError, ValueError):
        return record
    record["file"] = path.name
    if path.is_file():
        stat = path.stat()
        record["sha256"] = _sha256(os.fspath(path.resolve()), stat.st_size, stat.st_mtime_ns)
    return record


def provenance(config, stages) -> dict:
    """``config`` (:class:`engine.config.Config`) and the built ``stages`` → a JSON-able record:
    a2v version, A2V checkpoint (name, file, sha256), language matrix (spec, file, sha256, width), mode,
    each stage's description, and the whole config."""
    from importlib import metadata

    try:
        version = metadata.version("a2v")
    except metadata.PackageNotFoundError:
        version = "0.1.0+source"
    a2v_stage = next((s for s in stages if getattr(s, "name", "") == "a2v"), None)
    model = getattr(a2v_stage, "model", None)
    record = {
        "a2v_version": version,
        "stages": {getattr(s, "name", type(s).__name__): s.describe() for s in stages},
        "a2v": None,
        "config": config.to_dict(),
    }
    if model is not None:
        language = _file_record(config.a2v.language) if Path(config.a2v.language).suffix == ".npy" else \
            {"name": config.a2v.language, "file": "", "sha256": ""}
        language["dim"] = int(model.language_dim)
        record["a2v"] = {"checkpoint": _file_record(config.a2v.checkpoint), "language": language,
                         "mode": model.mode, "fast_long_side": int(model.fast_long_side), "stride": config.a2v.stride}
    return record
