"""``--engine ray``: the same work as a Ray Data job, for a Ray cluster (or a local one).

``ray.data.from_items`` over the items (one block each, so items spread over the actors), then
``map_batches`` with :class:`ExtractActor`, a class whose instances hold one :class:`ItemProcessor` (the
models, loaded once per actor) and write each item's Parquet file; the driver streams the manifest
records back as items finish and appends them to ``DIR/manifest.jsonl``, so a killed job resumes like a
local one. On a cluster with GPUs each actor asks for ``num_gpus=1`` (Ray gives it its own GPU as
``cuda``); otherwise ``num_cpus=1``. Actors default to one per GPU, or one per CPU of a CPU-only cluster.

``address=None`` starts a local Ray cluster (or joins the one this process already started, as tests
do); ``ray://head:10001`` connects to a cluster. On a cluster, every node needs a2v installed (the same
version) and DIR must be a folder every node can write (a shared file system): actors write the files.
"""
from __future__ import annotations

import copy
import json
import logging
import os
from pathlib import Path
from typing import Optional

from engine.corpus.items import Item
from engine.corpus.process import FatalError, one_line

log = logging.getLogger(__name__)


class ExtractActor:
    """The ``map_batches`` callable class: ``{"index", "item"}`` rows → ``{"index", "record"}`` rows
    (``item`` and ``record`` are JSON strings: an :class:`Item` and its manifest record)."""

    def __init__(self, config, out_dir: str) -> None:
        self.out_dir = out_dir
        self.fatal: Optional[str] = None
        self.processor = None
        try:
            from engine.corpus.process import ItemProcessor

            self.processor = ItemProcessor(config)
        except Exception as exc:  # noqa: BLE001 - reported once by the driver as one line
            self.fatal = one_line(exc)

    def __call__(self, batch: dict) -> dict:
        import numpy as np

        records = []
        for text in batch["item"]:
            item = Item.from_dict(json.loads(str(text)))
            if self.fatal is not None:
                records.append(json.dumps({"fatal": self.fatal}))
                continue
            records.append(json.dumps(self.processor.process(item, self.out_dir)))
        return {"index": np.asarray(batch["index"], dtype=np.int64), "record": np.asarray(records, dtype=object)}


def _quiet_ray(verbose: bool) -> None:
    # Ray's own warnings (token auth, "progress bars disabled", deprecations) are not the user's to act on.
    level = logging.INFO if verbose else logging.ERROR
    for name in ("ray", "ray.data", "ray._private", "ray.util"):
        logging.getLogger(name).setLevel(level)


def run_ray(items: list[Item], out_dir: str | Path, config, on_event, workers: Optional[int] = None,
            address: Optional[str] = None, verbose: bool = False) -> None:
    """Process ``items`` as a Ray Data job; ``on_event("record", index, record)`` for each finished item."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise FatalError("--engine ray needs Ray Data: pip install 'ray[data]' (or use --engine local)") from None

    started = False
    _quiet_ray(verbose)
    if not ray.is_initialized():
        try:
            ray.init(address=address or None, include_dashboard=False, log_to_driver=verbose,
                     logging_level=logging.INFO if verbose else logging.ERROR)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = address or "a local cluster"
            raise FatalError(f"Ray: cannot start or join {where} ({one_line(exc)}); check --address "
                             f"(ray://HEAD:10001) or run without it for a local cluster") from None
        started = True
    elif address:
        log.warning("Ray is already initialised in this process; --address %s is ignored", address)
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # one bar: ours
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        device = (config.device or "auto").strip().lower()
        use_gpu = device != "cpu" and gpus > 0
        if device.startswith("cuda") and gpus == 0:
            raise FatalError(f"device {config.device!r}: the Ray cluster has no GPU; use --device cpu or auto")
        actor_config = copy.deepcopy(config)
        actor_config.device = "cuda" if use_gpu else "cpu"
        count = workers or (gpus if use_gpu else max(1, int(resources.get("CPU", 1))))
        count = max(1, min(count, len(items)))
        rows = [{"index": i, "item": json.dumps(item.to_dict())} for i, item in enumerate(items)]
        dataset = ray.data.from_items(rows, override_num_blocks=len(rows))
        dataset = dataset.map_batches(
            ExtractActor, batch_size=1, compute=ray.data.ActorPoolStrategy(size=count), batch_format="numpy",
            num_gpus=1 if use_gpu else 0, num_cpus=1,
            fn_constructor_kwargs={"config": actor_config, "out_dir": os.fspath(Path(out_dir).resolve())})
        try:
            for row in dataset.iter_rows():
                record = json.loads(str(row["record"]))
                if "fatal" in record:
                    raise FatalError(record["fatal"])
                on_event("record", int(row["index"]), record)
        except ray.exceptions.RayError as exc:
            # e.g. an actor that kept crashing; the items recorded so far stay done, a rerun resumes.
            raise FatalError(f"the Ray job failed: {one_line(exc)[:500]}; a rerun with the same --out resumes") \
                from None
    finally:
        if started:
            ray.shutdown()
