"""``python main.py bench extract``: items/s and frames/s of ``extract`` with local workers and with Ray.

::

    python main.py bench extract                          # 4 clips of 20 frames + 10 images; local 1, 2; ray 1, 2
    python main.py bench extract --runs local:1,ray:2 --items 8 --long-side 512 --json extract.json

The corpus is made from the sample clip: ``--items`` copies of a ``--frames``-frame cut (from frame 112,
where the cyclist is in view) and one folder of ``--images`` PNG frames. Every run extracts the whole
corpus into a fresh folder with the real stages (mediapipe pose, SORT, A2V): with the ``a2v_v1`` weights
when they are cached, else a random-weight checkpoint built here (same cost, meaningless numbers — the
table says which). ``--long-side`` is ``a2v.fast_long_side`` (64 keeps a CPU run short; the default
config uses 512). Wall time includes starting the workers and loading the models in each (what a user
waits for); Ray's cluster start is timed apart and not included in its runs, so "Ray overhead" is what
the Ray Data job costs on top of the local engine for the same work and the same number of workers (it
compares with the mean of the local runs with that many workers; repeat runs, e.g. ``--runs
local:1,ray:1,local:1,ray:1``, to see the spread on a shared machine). "item s" sums each item's wall time in its
worker; "item CPU s" sums the worker's CPU time during its items, the cost that does not grow when other
programs share the cores.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

FIRST_FRAME = 112


def _runs(text: str) -> list[tuple[str, int]]:
    runs = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        engine, _, count = part.partition(":")
        if engine not in ("local", "ray") or not count.isdigit() or int(count) < 1:
            raise argparse.ArgumentTypeError(f"--runs {text!r}: expected ENGINE:WORKERS,... e.g. local:1,ray:2")
        runs.append((engine, int(count)))
    if not runs:
        raise argparse.ArgumentTypeError("--runs: give at least one ENGINE:WORKERS")
    return runs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=_runs, default=_runs("local:1,local:2,ray:1,ray:2"),
                        help="engine:workers pairs to time (default local:1,local:2,ray:1,ray:2)")
    parser.add_argument("--items", type=int, default=4, help="video clips in the corpus (default 4)")
    parser.add_argument("--frames", type=int, default=20, help="frames per clip (default 20)")
    parser.add_argument("--images", type=int, default=10, help="images in the corpus's image folder (default 10)")
    parser.add_argument("--long-side", type=int, default=64, help="a2v.fast_long_side (default 64)")
    parser.add_argument("--device", default="cpu", help="device for the models (default cpu)")
    parser.add_argument("--json", metavar="FILE", help="also write the numbers to FILE")


def _make_corpus(folder: Path, items: int, frames: int, images: int) -> int:
    """The corpus under ``folder``; returns its total frame count."""
    import av

    from engine.cvcompat import cv2
    from engine.paths import SAMPLE_CLIP

    folder.mkdir(parents=True, exist_ok=True)
    clip = folder / "clip_0.mp4"
    with av.open(str(SAMPLE_CLIP)) as inp, av.open(str(clip), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 640, 272, "yuv420p"
        written = 0
        for i, frame in enumerate(inp.decode(video=0)):
            if i >= FIRST_FRAME and written < frames:
                out.mux(stream.encode(av.VideoFrame.from_ndarray(frame.to_ndarray(format="bgr24"), format="bgr24")))
                written += 1
            if 32 <= i < 32 + images:
                (folder / "frames").mkdir(exist_ok=True)
                cv2.imwrite(str(folder / "frames" / f"{i:06d}.png"), frame.to_ndarray(format="bgr24"))
            if written >= frames and i >= 32 + images:
                break
        out.mux(stream.encode())
    for n in range(1, items):
        (folder / f"clip_{n}.mp4").write_bytes(clip.read_bytes())
    return items * written + (images if images else 0)


def _weights(folder: Path) -> tuple[list[str], str]:
    """``--set`` overrides for the A2V weights and a label: the real ones when cached, else random ones."""
    from engine.weights.store import WeightsError, locate

    try:
        locate("a2v_v1")
        return [], "a2v_v1 (cached)"
    except WeightsError:
        pass
    import numpy as np
    import torch

    from engine.a2v.net import PastaNet, save_checkpoint

    torch.manual_seed(0)
    checkpoint = save_checkpoint(PastaNet().eval(), folder / "a2v_random.pth", note="random weights: bench only")
    language = folder / "language.npy"
    np.save(language, np.random.default_rng(0).standard_normal((93, 1536)).astype(np.float32))
    return [f"a2v.checkpoint={checkpoint}", f"a2v.language={language}"], "random weights (speed only)"


def run(args: argparse.Namespace) -> int:
    from engine.config import load_config
    from engine.corpus.job import extract

    for name, value in (("--items", args.items), ("--frames", args.frames), ("--long-side", args.long_side)):
        if value < 1:
            raise ValueError(f"{name} {value}: must be at least 1")
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    results = []
    with tempfile.TemporaryDirectory(prefix="a2v-bench-extract-") as tmp:
        base = Path(tmp)
        frames = _make_corpus(base / "corpus", args.items, args.frames, max(0, args.images))
        weights, label = _weights(base)
        overrides = ["pose.backend=mediapipe", f"a2v.fast_long_side={args.long_side}", f"device={args.device}",
                     *weights]
        config = load_config(None, overrides)
        items = args.items + (1 if args.images > 0 else 0)
        ray_start = None
        print(f"bench extract: {items} items, {frames} frames; {label}; a2v.fast_long_side {args.long_side}; "
              f"{os.cpu_count()} CPUs, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", file=sys.stderr)
        for number, (engine, workers) in enumerate(args.runs):
            if engine == "ray" and ray_start is None:
                import ray

                logging.getLogger("ray").setLevel(logging.WARNING)
                start = time.perf_counter()
                ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False,
                         logging_level=logging.WARNING)
                ray_start = time.perf_counter() - start
            start = time.perf_counter()
            summary = extract([str(base / "corpus")], base / f"out_{number}", config, engine=engine,
                              workers=workers, progress=False)
            wall = time.perf_counter() - start
            done = len(summary.done)
            if done != items:
                raise RuntimeError(f"bench extract: {engine}:{workers} finished {done} of {items} items")
            item_seconds = sum(float(r["seconds"]) for r in summary.done)
            cpu_seconds = sum(float(r.get("cpu_seconds", 0.0)) for r in summary.done)
            results.append({"engine": engine, "workers": workers, "wall_s": wall, "items_per_s": items / wall,
                            "frames_per_s": summary.frames / wall, "item_s_sum": item_seconds,
                            "item_cpu_s_sum": cpu_seconds, "rows": sum(int(r["rows"]) for r in summary.done)})
        if ray_start is not None:
            import ray

            ray.shutdown()
    print(f"{'engine':<7} {'workers':>7} {'wall s':>8} {'items/s':>8} {'frames/s':>9} {'rows':>6} "
          f"{'item s (sum)':>13} {'item CPU s':>11}  wall vs local")
    walls: dict[int, list[float]] = {}
    for r in results:
        if r["engine"] == "local":
            walls.setdefault(r["workers"], []).append(r["wall_s"])
    local = {workers: sum(values) / len(values) for workers, values in walls.items()}  # mean of repeats
    for r in results:
        versus = ""
        if r["engine"] == "ray" and r["workers"] in local:
            extra = r["wall_s"] - local[r["workers"]]
            r["overhead_s"] = extra
            versus = f"{extra:+.1f} s ({r['wall_s'] / local[r['workers']]:.2f}×)"
        print(f"{r['engine']:<7} {r['workers']:>7} {r['wall_s']:>8.1f} {r['items_per_s']:>8.2f} "
              f"{r['frames_per_s']:>9.1f} {r['rows']:>6} {r['item_s_sum']:>13.1f} {r['item_cpu_s_sum']:>11.1f}  "
              f"{versus}")
    if ray_start is not None:
        print(f"Ray local cluster start: {ray_start:.1f} s (not in the Ray rows)")
    if args.json:
        Path(args.json).write_text(json.dumps({"items": items, "frames": frames, "weights": label,
                                               "long_side": args.long_side, "cpus": os.cpu_count(),
                                               "load": list(load), "ray_start_s": ray_start, "runs": results},
                                              indent=1) + "\n")
    return 0
