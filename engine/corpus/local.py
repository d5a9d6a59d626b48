"""``--engine local``: worker processes on this machine, each holding the models (loaded once).

Processes are started with ``spawn`` (CUDA and mediapipe's threads do not survive ``fork``). On CUDA
there is one worker per GPU by default, worker *i* on ``cuda:i``; on a CPU one worker, and with ``N``
workers each gets ``cpu_count // N`` torch threads (unless ``OMP_NUM_THREADS`` says otherwise). Each
worker takes one item at a time from its own queue, so no item waits behind a long one while another
worker is idle, and reports progress and its manifest record on one shared event queue.

Failure handling: a bad item is a failed record (the worker goes on). A worker that dies (segfault, OOM
kill) fails the item it held — recorded as such — and is replaced while items remain. A worker that cannot
load the models stops the run with its one-line reason (:class:`FatalError`). Workers watch their parent:
when the coordinating process is killed, they exit within a second instead of running on unobserved.
"""
from __future__ import annotations

import collections
import logging
import os
import queue
import signal
import threading
import time
from pathlib import Path
from typing import Callable, Optional

from engine.corpus.items import Item
from engine.corpus.manifest import remove_stale_temporaries
from engine.corpus.process import FatalError, one_line

log = logging.getLogger(__name__)

EventCallback = Callable[[str, int, object], None]  # (event, item index, payload)
_POLL_S = 0.25
_JOIN_S = 30.0


def worker_devices(device: str, workers: Optional[int]) -> list[str]:
    """The device of each worker: ``cuda:i`` round-robin over the GPUs on CUDA, else the config's device."""
    from engine.device import resolve_device

    resolved = resolve_device(device)
    if resolved.type == "cuda":
        import torch

        gpus = torch.cuda.device_count()
        count = workers or gpus
        if (device or "auto").strip().lower() in ("auto", "cuda"):
            return [f"cuda:{i % gpus}" for i in range(count)]
        return [str(resolved)] * count
    return [str(resolved)] * (workers or 1)


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(1.0)
        if os.getppid() != parent_pid:
            os._exit(3)  # the coordinator is gone: nobody would record what we write


def _worker_main(worker_id: int, config, device: str, out_dir: str, tasks, events, parent_pid: int,
                 threads: int, log_level: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="a2v-watch-parent", daemon=True).start()
    logging.basicConfig(level=log_level, format="a2v: %(message)s")
    for noisy in ("matplotlib", "PIL", "urllib3", "filelock", "absl"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if threads > 0:
        import torch

        torch.set_num_threads(threads)
    from engine.corpus.process import ItemProcessor

    config.device = device
    try:
        processor = ItemProcessor(config)
    except Exception as exc:  # noqa: BLE001 - the reason goes to the user as one line
        events.put(("fatal", worker_id, -1, one_line(exc)))
        return
    events.put(("ready", worker_id, -1, processor.describe()))
    while True:
        task = tasks.get()
        if task is None:
            break
        index, data = task
        item = Item.from_dict(data)

        def progress(event: str, _item: Item, value, index=index) -> None:
            events.put((event, worker_id, index, value))

        record = processor.process(item, out_dir, progress)
        events.put(("record", worker_id, index, record))
    processor.close()


class _Worker:
    """One worker process, its task queue and the item it holds (``current``)."""

    def __init__(self, ctx, worker_id: int, device: str, common: dict) -> None:
        self.id = worker_id
        self.device = device
        self.tasks = ctx.Queue()
        self.current: Optional[int] = None
        self.ready = False
        self.stopping = False
        self.process = ctx.Process(
            target=_worker_main, name=f"a2v-extract-{worker_id}", daemon=True,
            args=(worker_id, common["config"], device, common["out_dir"], self.tasks, common["events"],
                  common["parent_pid"], common["threads"], common["log_level"]))
        self.process.start()


def run_local(items: list[Item], out_dir: str | Path, config, on_event: EventCallback,
              workers: Optional[int] = None, verbose: bool = False) -> None:
    """Process ``items`` with worker processes; ``on_event(event, index, payload)`` is called in this
    process for "start" (frame count or None), "frames" (frames done) and "record" (the manifest record)."""
    import multiprocessing as mp

    devices = worker_devices(config.device, workers)
    count = min(len(devices), max(1, len(items)))
    threads = 0 if "OMP_NUM_THREADS" in os.environ else max(1, (os.cpu_count() or 1) // count)
    ctx = mp.get_context("spawn")
    events = ctx.Queue()
    log_level = logging.INFO if verbose else logging.WARNING
    common = {"config": config, "out_dir": os.fspath(out_dir), "events": events, "parent_pid": os.getpid(),
              "threads": threads, "log_level": log_level}
    pool: dict[int, _Worker] = {}
    next_id = 0

    def spawn(device: str) -> None:
        nonlocal next_id
        pool[next_id] = _Worker(ctx, next_id, device, common)
        next_id += 1

    for device in devices[:count]:
        spawn(device)
    pending = collections.deque(range(len(items)))
    described = False

    def assign(worker: _Worker) -> None:
        if pending and not worker.stopping:
            index = pending.popleft()
            worker.current = index
            worker.tasks.put((index, items[index].to_dict()))
        elif not worker.stopping:
            worker.stopping = True
            worker.tasks.put(None)

    try:
        while any(w.current is not None for w in pool.values()) or pending:
            try:
                event, worker_id, index, payload = events.get(timeout=_POLL_S)
            except queue.Empty:
                _reap(pool, items, out_dir, on_event, spawn, bool(pending))
                continue
            worker = pool.get(worker_id)
            if event == "fatal":
                raise FatalError(str(payload))
            if worker is None:
                continue
            if event == "ready":
                worker.ready = True
                if verbose and not described:
                    described = True
                    for line in payload:
                        log.info("%s", line)
                assign(worker)
            elif event in ("start", "frames"):
                on_event(event, index, payload)
            elif event == "record":
                worker.current = None
                on_event("record", index, payload)
                assign(worker)
        for worker in pool.values():
            if not worker.stopping:
                worker.stopping = True
                worker.tasks.put(None)
        deadline = time.monotonic() + _JOIN_S
        for worker in pool.values():
            worker.process.join(max(0.0, deadline - time.monotonic()))
    finally:
        _stop_all(pool)
        remove_stale_temporaries(out_dir, [item.output for item in items])


def _reap(pool: dict, items: list[Item], out_dir, on_event: EventCallback, spawn, more: bool) -> None:
    """Workers that died: fail the item each held, replace them while items remain."""
    for worker_id, worker in list(pool.items()):
        code = worker.process.exitcode
        if code is None or worker.stopping and worker.current is None:
            continue
        del pool[worker_id]
        if not worker.ready:
            raise FatalError(f"an extract worker exited with code {code} before loading the models; run with "
                             f"-v for its log")
        if worker.current is not None:
            item = items[worker.current]
            remove_stale_temporaries(out_dir, [item.output])
            on_event("record", worker.current, {
                "item": item.path, "output": item.output, "kind": item.kind, "status": "failed", "rows": 0,
                "frames": 0, "seconds": 0.0, "note": "",
                "error": f"the worker process died (exit code {code}) while extracting this item; a rerun "
                         f"retries it"})
        if more:
            spawn(worker.device)


def _stop_all(pool: dict) -> None:
    for worker in pool.values():
        if worker.process.is_alive():
            worker.process.terminate()
    for worker in pool.values():
        worker.process.join(5.0)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join(5.0)
