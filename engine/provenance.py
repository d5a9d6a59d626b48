"""Which model produced a vector: one JSON-ready record per run (``run.json`` beside the outputs).

API (other commands call it too — corpus extraction, image folders — so the signature is fixed)::

    from engine.provenance import provenance
    record = provenance(config, stages)   # config: engine.config.Config; stages: the built stages (or [])
    write_json_atomic(path, record)       # temp file + rename: a reader never sees half a file

The record (all plain JSON types)::

    schema          "a2v-provenance/1"
    a2v_version     the package version (pyproject / installed metadata), git commit when in a checkout
    created         UTC time, ISO 8601
    device          config.device and the resolved device the stages ran on (when known)
    mode            A2V trunk mode: "parity" (original resolution, the official numbers) | "fast"
    a2v             enabled, mode, fast_long_side, stride, fp16, pasta_off (reason, or None when PaSta ran),
                    checkpoint {spec, file, path, size, sha256, loaded}, language {requested, used, dim,
                    vector_dim, official, note}
    pose            backend (config value), description (what ran)
    tracker         the tracker settings and its one-line description
    config          the full config as a dict (Config.to_dict())
    platform        python, implementation, system, machine, numpy / torch versions

Stages are read duck-typed by ``stage.name``: a stage with a ``provenance() -> dict`` method supplies its
own section (the A2V stage does: it knows which files it actually loaded); any other stage contributes
``describe()``. Without an A2V stage (a caller that only has a config) the checkpoint and language are
resolved from the config without loading any model.

The checkpoint's sha256 is cached in memory and in ``<weights cache>/sha256.json`` keyed by the file's
resolved path, size and mtime, so a 200 MB file is hashed once, not once per run or frame.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform as _platform
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Iterable, Optional

SCHEMA = "a2v-provenance/1"

_HASH_LOCK = threading.Lock()
_HASH_MEMO: dict[tuple[str, int, int], str] = {}
_HASH_INDEX = "sha256.json"


# ------------------------------------------------------------------------------------------------ version

def a2v_version() -> str:
    """The package version: installed metadata, else ``version = "..."`` in the checkout's pyproject."""
    try:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("a2v")
        except PackageNotFoundError:
            pass
    except ImportError:  # pragma: no cover - importlib.metadata is standard since 3.8
        pass
    from engine.paths import ROOT

    pyproject = ROOT / "pyproject.toml"
    try:
        text = pyproject.read_text(encoding="utf-8")[:20000]
    except OSError:
        return "unknown"
    match = re.search(r'^version\s*=\s*"([^"]+)"', text, flags=re.M)
    return match.group(1) if match else "unknown"


def git_commit() -> Optional[str]:
    """The checkout's commit (with ``+dirty`` when files changed), or None outside a git checkout."""
    from engine.paths import ROOT

    if not (ROOT / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=5, check=False)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = head.stdout.strip()
    return commit + ("+dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")


# ------------------------------------------------------------------------------------------------ hashing

def _index_path() -> Path:
    from engine.weights.store import cache_dir

    return cache_dir() / _HASH_INDEX


def _read_index() -> dict:
    try:
        path = _index_path()
        if path.is_file() and path.stat().st_size < (1 << 20):
            data = json.loads(path.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        pass
    return {}


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 hex of a file, computed once per (resolved path, size, mtime) and remembered (memory and
    ``<weights cache>/sha256.json``); a changed file is hashed again."""
    resolved = Path(path).expanduser().resolve()
    stat = resolved.stat()
    key = (str(resolved), int(stat.st_size), int(stat.st_mtime_ns))
    with _HASH_LOCK:
        if key in _HASH_MEMO:
            return _HASH_MEMO[key]
        index = _read_index()
        stored = index.get(key[0])
        if isinstance(stored, dict) and stored.get("size") == key[1] and stored.get("mtime_ns") == key[2] \
                and isinstance(stored.get("sha256"), str):
            _HASH_MEMO[key] = stored["sha256"]
            return stored["sha256"]
        digest = hashlib.sha256()
        with open(resolved, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        value = digest.hexdigest()
        _HASH_MEMO[key] = value
        index[key[0]] = {"size": key[1], "mtime_ns": key[2], "sha256": value}
        try:  # remembering is an optimisation: a read-only cache only costs a rehash next run
            write_json_atomic(_index_path(), index)
        except OSError:
            pass
        return value


# ------------------------------------------------------------------------------------------------ sections

def checkpoint_record(spec: str, path: Optional[str | os.PathLike] = None, loaded: bool = False,
                      error: Optional[str] = None) -> dict:
    """{spec, file, path, size, sha256, loaded[, error]} for an A2V checkpoint. ``path`` None: resolve
    ``spec`` (registered name or path) without loading it."""
    record: dict[str, Any] = {"spec": spec, "file": None, "path": None, "size": None, "sha256": None,
                              "loaded": bool(loaded)}
    if path is None and error is None:
        from engine.weights.store import WeightsError, locate

        try:
            path = locate(spec)
        except WeightsError as exc:
            error = str(exc).splitlines()[0]
    if path is not None:
        p = Path(path)
        record.update(file=p.name, path=str(p.resolve()))
        try:
            record["size"] = p.stat().st_size
            record["sha256"] = file_sha256(p)
        except OSError as exc:
            error = f"cannot read {p}: {exc.strerror or exc}"
    if error:
        record["error"] = error
    return record


def language_record(spec: str) -> dict:
    """What ``a2v.language = spec`` would use (engine.a2v.language.resolve_language), without loading it."""
    try:
        from engine.a2v.language import resolve_language
    except ImportError:  # pragma: no cover - an older engine without the auto order
        return {"requested": spec, "used": None, "dim": None, "vector_dim": None, "official": None,
                "note": "language choice unknown"}
    try:
        return resolve_language(spec).as_dict()
    except Exception as exc:  # noqa: BLE001 - provenance must never stop a run; say what went wrong
        return {"requested": spec, "used": None, "dim": None, "vector_dim": None, "official": None,
                "note": f"cannot resolve: {exc}"}


def _a2v_from_config(config) -> dict:
    cfg = config.a2v
    section = {"enabled": bool(cfg.enabled), "mode": cfg.mode, "fast_long_side": int(cfg.fast_long_side),
               "stride": int(cfg.stride), "fp16": bool(cfg.fp16),
               "pasta_off": None if cfg.enabled else "A2V disabled (a2v.enabled: false)"}
    section["checkpoint"] = checkpoint_record(cfg.checkpoint)
    section["language"] = language_record(cfg.language)
    if cfg.enabled and section["checkpoint"].get("error"):
        section["pasta_off"] = section["checkpoint"]["error"]
    return section


def _tracker_from_config(config) -> dict:
    t = config.tracker
    if t.parity:  # the original SORT's settings; the others are ignored (TrackerConfig.parity)
        return {"parity": True, "max_age": 1, "min_hits": 3, "iou_threshold": 0.3, "second_pass": False}
    return {"parity": False, "max_age": t.max_age, "min_hits": t.min_hits, "iou_threshold": t.iou_threshold,
            "second_pass": t.second_pass, "high_score": t.high_score, "low_score": t.low_score}


def _platform_record() -> dict:
    import numpy

    record = {"python": sys.version.split()[0], "implementation": _platform.python_implementation(),
              "system": _platform.system(), "release": _platform.release(), "machine": _platform.machine(),
              "numpy": numpy.__version__}
    torch = sys.modules.get("torch")  # only when the run imported it: provenance never loads torch itself
    if torch is not None:
        record["torch"] = getattr(torch, "__version__", None)
        cuda = getattr(torch, "version", None)
        record["torch_cuda"] = getattr(cuda, "cuda", None)
    return record


def _jsonable(value):
    """Plain JSON types only (numpy scalars, paths and tuples become numbers, strings and lists)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def provenance(config, stages: Iterable = ()) -> dict:
    """The provenance record of a run with ``config`` and its built ``stages`` (module docstring)."""
    stages = list(stages or ())
    by_name = {getattr(s, "name", type(s).__name__): s for s in stages}
    record: dict[str, Any] = {
        "schema": SCHEMA,
        "a2v_version": a2v_version(),
        "git_commit": git_commit(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "device": {"config": config.device},
    }

    a2v_stage = by_name.get("a2v")
    if a2v_stage is not None and hasattr(a2v_stage, "provenance"):
        a2v = a2v_stage.provenance()
    else:
        a2v = _a2v_from_config(config)
        if a2v_stage is None and config.a2v.enabled:
            a2v["pasta_off"] = a2v.get("pasta_off") or "no a2v stage in this run"
    record["mode"] = a2v.get("mode", config.a2v.mode)
    record["a2v"] = a2v
    if a2v.get("device"):
        record["device"]["used"] = a2v["device"]
    elif "torch" in sys.modules:  # the run has torch loaded already: name the device, never import it here
        try:
            from engine.device import describe_device, resolve_device

            record["device"]["used"] = describe_device(resolve_device(config.device))
        except Exception:  # noqa: BLE001 - a device the run could not use is not the record's problem
            pass

    pose_stage = by_name.get("pose")
    record["pose"] = {"backend": config.pose.backend,
                      "description": pose_stage.describe() if pose_stage is not None else None}
    tracker_stage = by_name.get("tracker")
    tracker = _tracker_from_config(config)
    if tracker_stage is not None:
        tracker["description"] = tracker_stage.describe()
    record["tracker"] = tracker
    record["stages"] = {name: stage.describe() for name, stage in by_name.items() if hasattr(stage, "describe")}
    record["config"] = config.to_dict()
    record["platform"] = _platform_record()
    return _jsonable(record)


def write_json_atomic(path: str | os.PathLike, data) -> Path:
    """Write ``data`` as indented JSON to ``path`` via a temp file in the same folder + rename, so a
    reader never sees a half-written file. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=False)
            handle.write("\n")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
