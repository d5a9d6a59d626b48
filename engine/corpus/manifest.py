"""``DIR/manifest.jsonl``: one JSON line per finished (or failed) item; what a second run resumes from.

Each line: ``item`` (absolute path), ``output`` (Parquet file name in DIR), ``kind``, ``status``
("done" | "failed"), ``rows``, ``frames``, ``seconds`` (wall time of the item in its worker), ``error``
(one line, "" when done), ``note`` (e.g. undecodable images skipped), ``cpu_seconds`` (CPU time of the
worker process during the item) and ``finished`` (UTC ISO time).
Lines are only appended, by the one coordinating process, and flushed and fsync'd one by one, so a crash
loses at most the line being written; a torn last line is ignored. The last line of an item wins.

An item is finished when its last line says "done" and its Parquet file is there with the recorded row
count (read from the file's footer); everything else (failed, never started, killed half-way) is redone.

``DIR/extract.json`` holds the settings the folder was made with; a later run with different settings
(anything that changes the numbers) is refused, so one folder never mixes features of two models.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Iterable, Optional

from engine.corpus.items import Item
from engine.corpus.writer import read_rows_count

MANIFEST = "manifest.jsonl"
SETTINGS = "extract.json"
LOCK = ".extract.lock"
# Config sections that do not change a feature (how it is drawn, queue sizes, which device computed it).
_NEUTRAL_KEYS = ("device", "render", "pipeline")


class ManifestError(ValueError):
    """The output folder cannot be used; one line naming it and the fix."""


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Manifest:
    """Read and append ``DIR/manifest.jsonl`` (see the module docstring)."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.path = self.folder / MANIFEST
        self.records: dict[str, dict] = {}
        self._handle = None
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        with open(self.path, "rb") as handle:
            for raw in handle:
                try:
                    record = json.loads(raw)
                except ValueError:
                    continue  # a line torn by a crash
                if isinstance(record, dict) and isinstance(record.get("item"), str):
                    self.records[record["item"]] = record

    def finished(self, item: Item) -> Optional[dict]:
        """The "done" record of ``item`` when its file is present with that row count, else None."""
        record = self.records.get(item.path)
        if not record or record.get("status") != "done" or record.get("output") != item.output:
            return None
        rows = read_rows_count(self.folder / item.output)
        return record if rows is not None and rows == record.get("rows") else None

    def append(self, record: dict) -> None:
        record = dict(record)
        record.setdefault("finished", utc_now())
        if self._handle is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._handle = open(self.path, "a", encoding="utf-8")
            if self._handle.tell() > 0 and not self._ends_with_newline():
                self._handle.write("\n")  # a line torn by a crash stays alone, not glued to ours
        self._handle.write(json.dumps(record, sort_keys=True) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self.records[record["item"]] = record

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as handle:
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) == b"\n"

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def _flatten(data: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def feature_settings(config_dict: dict) -> dict:
    """The config values that change features (``device``, ``render``, ``pipeline`` dropped), flattened."""
    return {k: v for k, v in _flatten(config_dict).items() if k.split(".")[0] not in _NEUTRAL_KEYS}


def check_settings(folder: str | os.PathLike, config_dict: dict) -> None:
    """Record the settings of a new folder, or refuse a folder made with different ones."""
    path = Path(folder) / SETTINGS
    settings = feature_settings(config_dict)
    if path.exists():
        try:
            previous = json.loads(path.read_text(encoding="utf-8")).get("settings", {})
        except (OSError, ValueError) as exc:
            raise ManifestError(f"{path}: unreadable ({exc}); delete it to reuse {folder} with the current "
                                f"settings") from None
        changed = [key for key in sorted(set(previous) | set(settings)) if previous.get(key) != settings.get(key)]
        if changed:
            shown = ", ".join(f"{k} {previous.get(k)!r} → {settings.get(k)!r}" for k in changed[:3])
            more = f" (+{len(changed) - 3} more)" if len(changed) > 3 else ""
            raise ManifestError(f"{folder}: was extracted with other settings ({shown}{more}); use another --out "
                                f"folder, or the same --config/--set as before")
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{SETTINGS}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"settings": settings, "created": utc_now()}, indent=1, sort_keys=True) + "\n",
                   encoding="utf-8")
    os.replace(tmp, path)


class FolderLock:
    """An exclusive ``flock`` on ``DIR/.extract.lock``: two extracts never write one folder at once."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self._handle = None

    def __enter__(self) -> "FolderLock":
        import fcntl

        self.folder.mkdir(parents=True, exist_ok=True)
        self._handle = open(self.folder / LOCK, "a")
        try:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._handle.close()
            self._handle = None
            raise ManifestError(f"{self.folder}: another extract is writing this folder; wait for it to end "
                                f"or use another --out") from None
        return self

    def __exit__(self, *exc) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def remove_stale_temporaries(folder: str | os.PathLike, names: Iterable[str]) -> int:
    """Delete ``.<name>.<pid>.tmp`` files left by a killed run (we hold the folder lock); returns how many."""
    wanted = set(names)
    removed = 0
    for path in Path(folder).glob(".*.tmp"):
        base = path.name[1:].rsplit(".", 2)[0]
        if base in wanted:
            path.unlink(missing_ok=True)
            removed += 1
    return removed
