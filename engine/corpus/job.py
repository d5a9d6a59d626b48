"""The ``extract`` job: items → engine → Parquet files, manifest, progress bar and summary.

:func:`extract` is what the command runs and what a notebook or test calls: it collects the items, takes
the output folder's lock, refuses a folder made with other settings, skips the items a previous run
finished, hands the rest to the local or Ray engine and appends each record to the manifest as it comes.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from engine.corpus.items import Item, collect_items
from engine.corpus.manifest import FolderLock, Manifest, ManifestError, check_settings, remove_stale_temporaries

log = logging.getLogger(__name__)
ENGINES = ("local", "ray")


@dataclass
class Summary:
    """What one ``extract`` run did. ``records``: this run's manifest records (done and failed), in the
    order they finished; ``skipped``: the records of items a previous run had finished."""

    items: int
    seconds: float = 0.0
    records: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    engine: str = "local"
    workers: Optional[int] = None

    def _status(self, status: str) -> list:
        return [r for r in self.records if r.get("status") == status]

    @property
    def done(self) -> list:
        return self._status("done")

    @property
    def failed(self) -> list:
        return self._status("failed")

    @property
    def frames(self) -> int:
        return sum(int(r.get("frames", 0)) for r in self.records)

    @property
    def exit_code(self) -> int:
        """0: every item is done (now or before); 1: at least one failed."""
        return 1 if self.failed else 0

    def table(self) -> str:
        """The end-of-run summary: one row per status, then one line per failed item."""
        rows = [("done", self.done), ("skipped", self.skipped), ("failed", self.failed)]
        lines = [f"{'status':<8} {'items':>6} {'frames':>8} {'rows':>9} {'seconds':>9}"]
        for name, records in rows:
            frames = sum(int(r.get("frames", 0)) for r in records)
            person_rows = sum(int(r.get("rows", 0)) for r in records)
            seconds = sum(float(r.get("seconds", 0.0)) for r in records) if name != "skipped" else 0.0
            shown = f"{seconds:9.1f}" if name != "skipped" else f"{'-':>9}"
            lines.append(f"{name:<8} {len(records):>6} {frames:>8} {person_rows:>9} {shown}")
        rate = ""
        if self.records and self.seconds > 0:
            rate = (f"; {len(self.records) / self.seconds:.2f} items/s, {self.frames / self.seconds:.1f} frames/s "
                    f"({self.engine}, {_workers_text(self.workers)})")
        lines.append(f"{len(self.records)} items processed in {self.seconds:.1f} s{rate}")
        for record in self.failed:
            lines.append(f"failed: {_error_text(record)}")
        if self.failed:
            lines.append("a rerun with the same --out retries the failed items and skips the done ones")
        return "\n".join(lines)


def _workers_text(workers: Optional[int]) -> str:
    if workers is None:
        return "default workers"
    return f"{workers} worker{'s' if workers != 1 else ''}"


class _Progress:
    """One tqdm bar over items (fractions of items in flight from their frames) with frames and fps."""

    def __init__(self, total: int, enabled: bool, verbose: bool) -> None:
        self.bar = None
        self.verbose = verbose
        self.started = time.perf_counter()
        self.frames_done = 0  # frames of finished items
        self.in_flight: dict[int, tuple[Optional[int], int]] = {}  # index → (frame count, frames done)
        self.position = 0.0
        if enabled and total:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="item", file=sys.stderr, dynamic_ncols=True, smoothing=0.05,
                            bar_format="{l_bar}{bar}| {n:.1f}/{total} items [{elapsed}<{remaining}{postfix}]")

    def _frames(self) -> int:
        return self.frames_done + sum(done for _, done in self.in_flight.values())

    def _advance(self, completed: float) -> None:
        target = completed + sum(min(0.99, done / count) for count, done in self.in_flight.values() if count)
        if self.bar is not None and target > self.position:
            frames = self._frames()
            fps = frames / max(time.perf_counter() - self.started, 1e-9)
            self.bar.set_postfix_str(f"{frames} frames, {fps:.1f} fps", refresh=False)
            self.bar.update(target - self.position)
        self.position = max(self.position, target)

    def event(self, kind: str, index: int, payload, completed: int) -> None:
        if kind == "start":
            self.in_flight[index] = (payload if payload else None, 0)
        elif kind == "frames":
            count, _ = self.in_flight.get(index, (None, 0))
            self.in_flight[index] = (count, int(payload))
        elif kind == "record":
            self.in_flight.pop(index, None)
            self.frames_done += int(payload.get("frames", 0))
            if self.verbose:
                self.write(_item_line(payload))
        self._advance(completed)

    def write(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _error_text(record: dict) -> str:
    """``item: error``, without naming the item twice (source errors start with it already)."""
    error = record.get("error") or "unknown error"
    return error if error.startswith(record["item"]) else f"{record['item']}: {error}"


def _item_line(record: dict) -> str:
    what = f"{record.get('frames', 0)} frames, {record.get('rows', 0)} rows, {float(record.get('seconds', 0)):.1f} s"
    if record.get("status") == "failed":
        return f"a2v: failed ({what}): {_error_text(record)}"
    return f"a2v: {record.get('status', '?')}: {record['item']} ({what})"


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ManifestError(f"{out_dir}: --out must be a folder (it is a file); give a folder name, e.g. features/")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ManifestError(f"{out_dir}: cannot create the output folder ({exc.strerror or exc}); choose a "
                            f"writable --out") from None
    if not os.access(out_dir, os.W_OK):
        raise ManifestError(f"{out_dir}: the output folder is not writable; choose another --out")


def extract(inputs: Iterable[str] = (), out_dir: str | os.PathLike = "features", config=None, *,
            list_file: Optional[str] = None, items: Optional[list[Item]] = None, engine: str = "local",
            workers: Optional[int] = None, address: Optional[str] = None, progress: bool = True,
            verbose: bool = False) -> Summary:
    """Extract every item of ``inputs`` (and ``list_file``, or the given ``items``) into ``out_dir``.

    ``config``: an :class:`engine.config.Config` (default: ``configs/default.yaml``). ``engine``: "local"
    (worker processes; ``workers`` = how many, default one per GPU or one on a CPU) or "ray" (a Ray Data job;
    ``address`` of a cluster, None = a local one). Returns the :class:`Summary`; raises ``ValueError`` /
    ``RuntimeError`` with one line for a bad input, folder or setting.
    """
    from engine.config import load_config

    if engine not in ENGINES:
        raise ValueError(f"--engine {engine!r}: use one of {', '.join(ENGINES)}")
    if workers is not None and workers < 1:
        raise ValueError(f"--workers {workers}: must be at least 1")
    from engine.corpus.process import preflight

    config = config if config is not None else load_config(None, [])
    items = list(items) if items is not None else collect_items(inputs, list_file)
    out = Path(out_dir).expanduser()
    _check_out_dir(out)
    preflight(config)
    summary = Summary(items=len(items), engine=engine, workers=workers)
    with FolderLock(out):
        check_settings(out, config.to_dict())
        manifest = Manifest(out)
        remove_stale_temporaries(out, [item.output for item in items])
        todo: list[Item] = []
        for item in items:
            record = manifest.finished(item)
            if record is not None:
                summary.skipped.append(record)
            else:
                todo.append(item)
        if summary.skipped:
            log.info("%d of %d items already done in %s; %d to do", len(summary.skipped), len(items), out,
                     len(todo))
        bar = _Progress(len(todo), enabled=progress, verbose=verbose)
        completed = 0

        def on_event(kind: str, index: int, payload) -> None:
            nonlocal completed
            if kind == "record":
                manifest.append(payload)
                summary.records.append(payload)
                completed += 1
            bar.event(kind, index, payload, completed)

        start = time.perf_counter()
        try:
            if todo and engine == "local":
                from engine.corpus.local import run_local

                run_local(todo, out, config, on_event, workers=workers, verbose=verbose)
            elif todo:
                from engine.corpus.ray_engine import run_ray

                run_ray(todo, out, config, on_event, workers=workers, address=address, verbose=verbose)
        finally:
            bar.close()
            manifest.close()
            summary.seconds = time.perf_counter() - start
    return summary
