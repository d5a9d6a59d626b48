"""``python main.py bench``: speed and memory of the whole pipeline or of one part.

- ``bench [--source S] [--config F] [--frames N]``: the real stages; per-stage milliseconds (median, p90),
  end-to-end fps and peak RSS, as a table and as JSON (``--json``).
- ``bench --passthrough --stage-ms 10,20,5``: the pipeline's own overhead with sleeping stages of known
  cost on an in-memory source; the end-to-end rate should reach the slowest stage's own rate (threads
  overlap), and RSS is sampled to show it stays flat.
- ``bench pose|a2v|render|tracker|gui ...``: the benchmarks of those parts (their own ``--help``).
"""
from __future__ import annotations

import argparse
import importlib
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

PART_BENCHES = {
    "pose": "engine.pose.bench",
    "a2v": "engine.a2v_bench",
    "render": "engine.render_bench",
    "tracker": "trackers.bench",
    "gui": "app.gui_bench",
}


def register_cli(subparsers) -> None:
    parser = subparsers.add_parser(
        "bench", add_help=False, help="measure speed and memory (whole pipeline, or: pose, a2v, render, tracker)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # Everything after "bench" goes to the chosen benchmark's own parser (it has its own --help).
    parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.set_defaults(func=bench_command)


def bench_command(args: argparse.Namespace) -> int:
    rest = list(args.rest)
    if rest and rest[0] in PART_BENCHES:
        return int(importlib.import_module(PART_BENCHES[rest[0]]).main(rest[1:]) or 0)
    if rest and rest[0] == "pipeline":
        rest = rest[1:]
    return pipeline_bench(rest)


def parse_size(text: str, minimum: int = 16) -> tuple[int, int]:
    """``"1280x720"`` -> ``(1280, 720)``: the ``--size WxH`` option of the benchmarks."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--size {text!r}: expected WIDTHxHEIGHT, e.g. 640x480") from None
    if width < minimum or height < minimum:
        raise argparse.ArgumentTypeError(f"--size {text!r}: at least {minimum}x{minimum}")
    return width, height


def rss_mb() -> float:
    """Current resident set size in MiB (Linux /proc; peak RSS elsewhere)."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return peak_rss_mb()


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


class SyntheticSource:
    """An in-memory file-like source: ``frames`` copies of one (H, W, 3) BGR frame, as fast as asked."""

    kind = "synthetic"
    is_live = False
    can_seek = False
    dropped = 0
    end_reason = "end of synthetic source"

    def __init__(self, frames: int, size: tuple[int, int] = (640, 480), fps: float = 25.0) -> None:
        from engine.sources import Frame

        self._frame_type = Frame
        self.frame_count = frames
        self.fps = fps
        self.size = size
        self.name = f"synthetic {size[0]}x{size[1]}"
        rng = np.random.default_rng(0)
        self._image = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
        self._next = 0

    def read(self):
        if self._next >= self.frame_count:
            return None
        index = self._next
        self._next += 1
        return self._frame_type(index=index, timestamp=index / self.fps, image=self._image.copy())

    def close(self) -> None:
        pass


def _summarize(samples: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    table = {}
    for stage, values in samples.items():
        array = np.asarray(values, dtype=np.float64)
        table[stage] = {"median_ms": float(np.median(array)), "p90_ms": float(np.percentile(array, 90)),
                        "mean_ms": float(array.mean()), "n": int(array.size)}
    return table


def pipeline_bench(argv: list[str]) -> int:
    from engine.cli_run import SAMPLE_CLIP, add_config_arguments, config_from_args
    from engine.pipeline import Pipeline, build_stages
    from engine.stage import PassThroughStage

    parser = argparse.ArgumentParser(prog="a2v bench [pose|a2v|render|tracker|pipeline]", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default=str(SAMPLE_CLIP), help="source to read (default: sample clip)")
    parser.add_argument("--frames", type=int, default=100, help="frames to process (default 100)")
    parser.add_argument("--passthrough", action="store_true",
                        help="sleeping stages of --stage-ms cost on an in-memory source")
    parser.add_argument("--stage-ms", default="10,20,5", help="pass-through stage costs in ms")
    parser.add_argument("--no-render", action="store_true", help="skip drawing overlays")
    parser.add_argument("--json", metavar="FILE", default="runs/bench/pipeline.json",
                        help="where to write the numbers (default runs/bench/pipeline.json)")
    add_config_arguments(parser)
    args = parser.parse_args(argv)
    config = config_from_args(args)

    if args.passthrough:
        costs = [float(c) for c in args.stage_ms.split(",") if c.strip()]
        stages = [PassThroughStage(f"stage{i}", c) for i, c in enumerate(costs)]
        source = SyntheticSource(args.frames)
        render = None
    else:
        from engine.sources import open_source

        source = open_source(args.source, config.source)
        stages = build_stages(config)
        render = None if args.no_render else "default"

    samples: dict[str, list[float]] = {}
    finished: list[float] = []
    rss_samples: list[tuple[int, float]] = []
    done = [0]

    def on_frame(frame, annotated, result) -> None:
        for name, ms in result.timings.items():
            samples.setdefault(name, []).append(ms)
        done[0] += 1
        finished.append(time.perf_counter())
        if done[0] % max(1, args.frames // 20) == 0:
            rss_samples.append((done[0], rss_mb()))

    # Warm-up frames (model initialisation, first CUDA kernels) are excluded from the timing.
    warmup = 0 if args.passthrough else min(5, max(0, args.frames // 10))
    pipe = Pipeline(source, stages, config=config, render=render, on_frame=on_frame,
                    max_frames=args.frames + warmup)
    t0 = time.perf_counter()
    pipe.run()
    # Rate between the first timed frame's completion and the last one's (warm-up excluded).
    timed = finished[warmup:] if len(finished) > warmup + 1 else finished
    if len(timed) > 1:
        fps = (len(timed) - 1) / max(timed[-1] - timed[0], 1e-9)
    else:
        fps = len(finished) / max(time.perf_counter() - t0, 1e-9)
    for name in list(samples):
        samples[name] = samples[name][warmup:] or samples[name]
    table = _summarize(samples)
    report = {
        "source": source.name, "frames": done[0], "warmup_frames": warmup, "end_to_end_fps": fps,
        "stages": table, "peak_rss_mb": peak_rss_mb(), "rss_samples_mb": rss_samples,
        "stage_descriptions": {s.name: s.describe() for s in stages},
    }
    if args.passthrough:
        slowest = max(costs) if costs else 0.0
        report["slowest_stage_fps"] = 1000.0 / slowest if slowest else None
        report["fraction_of_slowest_stage_rate"] = fps / report["slowest_stage_fps"] if slowest else None

    print(f"{'stage':<14}{'median ms':>11}{'p90 ms':>9}{'n':>7}")
    for name, row in table.items():
        print(f"{name:<14}{row['median_ms']:>11.2f}{row['p90_ms']:>9.2f}{row['n']:>7}")
    print(f"end-to-end: {fps:.1f} fps over {done[0]} frames; peak RSS {report['peak_rss_mb']:.0f} MiB")
    if rss_samples:
        print(f"RSS first/last sample: {rss_samples[0][1]:.0f} / {rss_samples[-1][1]:.0f} MiB")
    if args.passthrough and report["slowest_stage_fps"]:
        print(f"slowest stage alone: {report['slowest_stage_fps']:.1f} fps; pipeline reaches "
              f"{100 * report['fraction_of_slowest_stage_rate']:.1f}% of it")
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2))
        print(f"wrote {path}")
    return 0
