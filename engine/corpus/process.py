"""One worker's job: the real pipeline stages, loaded once, run over item after item.

:class:`ItemProcessor` builds the stages of ``run`` (:func:`engine.stages.build_stages`) once and, for
each item, opens the item with :func:`engine.io.sources.open_source`, resets the stages' per-source state
(tracks, mediapipe's tracked person, A2V's stride carry; a stage without ``reset()`` is rebuilt instead),
and runs :class:`engine.pipeline.Pipeline` with a :class:`ParquetItemWriter` as its only sink. So the rows
are the numbers ``run`` gives for that item, and decoding overlaps inference as in ``run`` (source thread,
one thread per stage). Every local worker process and every Ray actor holds one ``ItemProcessor``.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable, Optional

from engine.corpus.items import Item
from engine.corpus.writer import ParquetItemWriter

log = logging.getLogger(__name__)

# ``on_progress(event, item, value)``: event "start" (value = frame count or None) or "frames" (frames done).
ProgressCallback = Callable[[str, Item, Optional[int]], None]


class FatalError(RuntimeError):
    """A problem with the settings, not with one item (e.g. no A2V weights): the whole run stops."""


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def preflight(config) -> None:
    """Checks that need no model, run before any worker starts (a worker takes seconds to load): the
    device string, and that the A2V checkpoint is there when A2V is enabled. Raises :class:`FatalError`."""
    from engine.device import resolve_device
    from engine.weights.store import WeightsError, WeightsNotFound, locate

    try:
        resolve_device(config.device)
    except ValueError as exc:
        raise FatalError(one_line(exc)) from None
    if not config.a2v.enabled:
        return
    try:
        locate(config.a2v.checkpoint)
    except WeightsNotFound:
        from engine.stages.a2v import PASTA_OFF_NO_WEIGHTS

        reason = PASTA_OFF_NO_WEIGHTS if config.a2v.checkpoint == "a2v_v1" else \
            f"no A2V weights '{config.a2v.checkpoint}' (python main.py weights list)"
        raise FatalError(f"A2V cannot run: {reason}; or extract poses and part boxes only with "
                         f"--set a2v.enabled=false") from None
    except WeightsError as exc:
        raise FatalError(f"a2v.checkpoint: {one_line(exc)}") from None


class _Borrowed:
    """A stage lent to one pipeline run: everything is forwarded but ``close`` (the pipeline closes its
    stages when a run ends; these are kept for the next item)."""

    def __init__(self, stage) -> None:
        self._stage = stage

    def __call__(self, frame, result) -> None:
        self._stage(frame, result)

    def __getattr__(self, name):  # name, describe, process_batch (only when the stage has it), ...
        return getattr(self._stage, name)

    def close(self) -> None:
        pass


class ItemProcessor:
    """Loads the models for ``config`` once; :meth:`process` runs one item to its Parquet file.

    Raises :class:`FatalError` when A2V is enabled but cannot run (no weights): a corpus without PaSta
    would be a silent waste of hours; ``--set a2v.enabled=false`` extracts poses and part boxes only.
    """

    def __init__(self, config) -> None:
        from engine.provenance import provenance
        from engine.stages import build_stages

        self.config = config
        self.stages = build_stages(config)
        a2v = next((s for s in self.stages if getattr(s, "name", "") == "a2v"), None)
        if config.a2v.enabled and (a2v is None or getattr(a2v, "model", None) is None):
            reason = getattr(a2v, "pasta_off", None) or "the A2V stage did not load"
            self.close()
            raise FatalError(f"A2V cannot run: {reason}; or extract poses and part boxes only with "
                             f"--set a2v.enabled=false")
        self.language_dim = int(a2v.model.language_dim) if a2v is not None and a2v.model is not None else 0
        self.provenance = provenance(config, self.stages)
        self._used = False

    def describe(self) -> list[str]:
        return [f"{s.name} stage: {s.describe()}" for s in self.stages]

    def _fresh_stages(self) -> None:
        """Make the stages forget the previous item (or rebuild them when one cannot)."""
        if not self._used:
            self._used = True
            return
        if all(callable(getattr(s, "reset", None)) for s in self.stages):
            for stage in self.stages:
                stage.reset()
            return
        from engine.stages import build_stages

        log.debug("a stage has no reset(); rebuilding the stages for the next item")
        for stage in self.stages:
            stage.close()
        self.stages = build_stages(self.config)

    def process(self, item: Item, out_dir: str | Path, on_progress: Optional[ProgressCallback] = None) -> dict:
        """Run ``item`` → ``out_dir/item.output``; returns its manifest record (never raises for a bad item)."""
        from engine.io.sources import open_source
        from engine.pipeline import Pipeline
        from engine.stages import set_still_images

        start, cpu_start = time.perf_counter(), time.process_time()
        record = {"item": item.path, "output": item.output, "kind": item.kind, "status": "failed", "rows": 0,
                  "frames": 0, "seconds": 0.0, "cpu_seconds": 0.0, "error": "", "note": ""}
        writer: Optional[ParquetItemWriter] = None
        try:
            source = open_source(item.path, self.config.source)
        except (ValueError, OSError, RuntimeError) as exc:  # SourceError is a ValueError
            record.update(error=one_line(exc), seconds=round(time.perf_counter() - start, 3))
            return record
        try:
            if on_progress is not None:
                on_progress("start", item, source.frame_count)
            self._fresh_stages()
            # Photos in an image folder are unrelated (as in `run`): detector on each, no tracking.
            set_still_images(self.stages, bool(getattr(source, "independent", False)))
            writer = ParquetItemWriter(Path(out_dir) / item.output, item.path, self.language_dim, self.provenance)
            pipe = Pipeline(source, [_Borrowed(s) for s in self.stages], sinks=[writer], config=self.config,
                            render=None)
            pipe.run(None if on_progress is None else (lambda done: on_progress("frames", item, done)))
            record["frames"] = pipe.stats["frames"]
            reason = pipe.stop_reason or ""
            if "damaged" in reason or "truncated" in reason:
                # The frames before the damage were read, but a half item would pass for a whole one later.
                raise _ItemFailed(reason)
            if getattr(source, "skipped", 0):
                record["note"] = reason
            writer.commit()
            record.update(status="done", rows=writer.rows)
        except KeyboardInterrupt:
            if writer is not None:
                writer.discard()
            raise
        except Exception as exc:  # noqa: BLE001 - one bad item is recorded; the others go on
            if writer is not None:
                writer.discard()
            record["error"] = one_line(exc)
            log.debug("item %s failed", item.path, exc_info=exc)
        finally:
            source.close()
        record["seconds"] = round(time.perf_counter() - start, 3)
        # CPU time of the whole worker process (all its threads) during the item: a cost that, unlike
        # wall time, does not grow when other programs share the cores.
        record["cpu_seconds"] = round(time.process_time() - cpu_start, 3)
        return record

    def close(self) -> None:
        for stage in self.stages:
            try:
                stage.close()
            except Exception:  # noqa: BLE001
                log.exception("closing stage %s failed", getattr(stage, "name", stage))
        self.stages = []


class _ItemFailed(RuntimeError):
    pass
