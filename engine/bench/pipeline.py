"""``python main.py bench [pipeline]``: speed and memory of the whole pipeline.

- ``bench [--source S] [--config F] [--frames N]``: the real stages; per-stage milliseconds (median, p90),
  end-to-end fps and peak RSS, as a table and as JSON (``--json``).
- ``bench --passthrough --stage-ms 10,20,5``: the pipeline's own overhead with sleeping stages of known
  cost on an in-memory source; the end-to-end rate should reach the slowest stage's own rate (threads
  overlap), and RSS is sampled to show it stays flat.
- ``--live [--live-fps 30]``: the frames come from a live source (a :class:`LiveSource` over a producer that
  delivers frames at ``--live-fps``: the pass-through frame, or the first frames of ``--source`` in a loop),
  and the report adds the frame-to-display latency (capture → ``on_frame``; median, p90) and the drops.
"""
from __future__ import annotations

import argparse
import time

from engine.bench.common import add_json_argument, json_output, peak_rss_mb, rss_mb, summarize
from engine.io.sources.synthetic import SyntheticSource


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from engine.cli.common import add_config_arguments
    from engine.paths import SAMPLE_CLIP

    parser.add_argument("--source", default=str(SAMPLE_CLIP), help="source to read (default: sample clip)")
    parser.add_argument("--frames", type=int, default=100, help="frames to process (default 100)")
    parser.add_argument("--passthrough", action="store_true",
                        help="sleeping stages of --stage-ms cost on an in-memory source")
    parser.add_argument("--stage-ms", default="10,20,5", help="pass-through stage costs in ms")
    parser.add_argument("--no-render", action="store_true", help="skip drawing overlays")
    add_json_argument(parser, default="runs/bench/pipeline.json")
    parser.add_argument("--live", action="store_true",
                        help="a live source (frames produced at --live-fps); reports frame-to-display latency")
    parser.add_argument("--live-fps", type=float, default=30.0, help="frame rate of the --live producer")
    add_config_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """The benchmark; ``--json FILE`` as everywhere (:mod:`engine.bench.common`)."""
    with json_output(args.json) as emit:
        return _measure(args, emit)


def _measure(args: argparse.Namespace, emit) -> int:
    from engine.cli.common import config_from_args
    from engine.pipeline import Pipeline
    from engine.stages import build_stages
    from engine.stages.base import PassThroughStage

    config = config_from_args(args)

    if args.passthrough:
        costs = [float(c) for c in args.stage_ms.split(",") if c.strip()]
        stages = [PassThroughStage(f"stage{i}", c) for i, c in enumerate(costs)]
        source = SyntheticSource(args.frames)
        render = None
    else:
        from engine.io.sources import open_source

        source = open_source(args.source, config.source)
        stages = build_stages(config)
        render = None if args.no_render else "default"
    if args.live:
        source = live_source(source, args.live_fps, config)
    latencies: list[float] = []

    samples: dict[str, list[float]] = {}
    finished: list[float] = []
    rss_samples: list[tuple[int, float]] = []
    done = [0]
    # Read while the stages are open: close() at the end of the run drops their models, after which
    # describe() would report e.g. "A2V off" for an A2V stage that ran. Stages know what they run once
    # built (models load in __init__).
    descriptions = {s.name: s.describe() for s in stages}

    def on_frame(frame, annotated, result) -> None:
        for name, ms in result.timings.items():
            samples.setdefault(name, []).append(ms)
        done[0] += 1
        finished.append(time.perf_counter())
        if args.live:  # capture (the live source's clock) → shown
            latencies.append((time.monotonic() - source.clock_origin - result.timestamp) * 1000.0)
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
    table = summarize(samples)
    report = {
        "source": source.name, "frames": done[0], "warmup_frames": warmup, "end_to_end_fps": fps,
        "stages": table, "peak_rss_mb": peak_rss_mb(), "rss_samples_mb": rss_samples,
        "stage_descriptions": descriptions,
    }
    if args.live:
        shown = latencies[warmup:] or latencies
        report["live"] = {"producer_fps": args.live_fps, "dropped": pipe.dropped,
                          "latency_ms": summarize({"latency": shown})["latency"] if shown else None}
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
    if args.live and report["live"]["latency_ms"]:
        lat = report["live"]["latency_ms"]
        print(f"live: frame-to-display latency median {lat['median_ms']:.1f} ms, p90 {lat['p90_ms']:.1f} ms; "
              f"{report['live']['dropped']} frames dropped (producer {args.live_fps:g} fps)")
    if args.passthrough and report["slowest_stage_fps"]:
        print(f"slowest stage alone: {report['slowest_stage_fps']:.1f} fps; pipeline reaches "
              f"{100 * report['fraction_of_slowest_stage_rate']:.1f}% of it")
    emit(report)
    return 0


def live_source(source, fps: float, config, keep: int = 60):
    """A :class:`LiveSource` producing ``source``'s first ``keep`` frames in a loop at ``fps`` (paced by the
    producer itself, like a camera). ``clock_origin`` is the monotonic time its timestamps count from."""
    from engine.io.sources.live import LiveSource

    frames = []
    try:
        while len(frames) < keep:
            frame = source.read()
            if frame is None:
                break
            frames.append(frame.image)
    finally:
        source.close()
    if not frames:
        raise ValueError(f"{source.name}: no frames to replay as a live source")
    period = 1.0 / max(fps, 0.1)
    state = {"next": None, "i": 0}

    def grab():
        now = time.monotonic()
        due = state["next"] if state["next"] is not None else now
        if due > now:
            time.sleep(due - now)
        state["next"] = max(due, now - period) + period  # a camera does not catch up on lost time
        state["i"] += 1
        return frames[state["i"] % len(frames)].copy()

    live = LiveSource(grab, name=f"live {source.name} @ {fps:g} fps", fps=fps, config=config.source)
    live.clock_origin = live._t0
    return live


def main(argv: list[str]) -> int:
    """Stand-alone entry (``python -m``); ``python main.py bench`` uses :func:`add_arguments` and :func:`run`."""
    parser = argparse.ArgumentParser(prog="a2v bench [pose|a2v|render|tracker|pipeline]", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    from engine.cli.common import run_command

    return run_command(run, parser.parse_args(argv))
