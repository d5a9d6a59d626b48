"""``python main.py bench pose``: milliseconds per frame of each pose backend on the sample clip.

::

    python main.py bench pose --backend mediapipe --frames 100 --size 640x480
    python main.py bench pose --backend all --device cuda --batch 4
    python main.py bench pose --backend keypoint_rcnn --random-weights   # speed only, no download

Frames come from the sample clip (from frame 80, where the cyclist is; wrapping), resized to ``--size``
(``--size native`` keeps the source's size; a multi-person clip: ``python -m tests.engine.pose.media
four.mp4`` then ``--source four.mp4 --size native``). The first ``--warmup`` calls are not timed (a
tracking backend then starts afresh). Reported per backend: median, p90 and mean ms per frame (a batch's
time divided by its frames), frames per second from the median and from the mean (the mean counts the
frames on which a tracking backend runs its detector), persons found per frame, ms per frame by stage
where the backend says (``mediapipe_multi``: detector, landmarks, and the share of frames the tiled
detector ran on), and the spread
of keypoint confidences (p10/p50/p90 and the fraction at or above the drawing threshold 0.3), which shows
on real weights whether Keypoint R-CNN's logit mapping and mediapipe's visibilities agree in scale. On CUDA the
clock stops after ``torch.cuda.synchronize()``. ``--random-weights`` times Keypoint R-CNN without its
COCO weights and keeps one box per frame (the sample clip shows at most one person at a time), because a
random model keeps arbitrary boxes and the keypoint head's cost grows with each (~7 GFLOP per person).
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

from engine.bench.common import add_json_argument, json_output
from engine.bench.common import parse_size as parse_frame_size
from engine.paths import SAMPLE_CLIP

FIRST_FRAME = 80


def parse_size(text: str) -> tuple[int, int] | None:
    """``WxH``, or ``native`` (None: keep the source's size)."""
    if text.strip().lower() == "native":
        return None
    return parse_frame_size(text, minimum=32)


def load_frames(source: Path, count: int, size: tuple[int, int] | None) -> list[np.ndarray]:
    """``count`` BGR frames of ``source`` from :data:`FIRST_FRAME` on (wrapping), resized to ``size``
    (None: as they are)."""
    from engine.cvcompat import cv2

    capture = cv2.VideoCapture(str(source))
    frames = []
    while len(frames) < FIRST_FRAME + count:  # more is not needed; a shorter clip wraps below
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    if not frames:
        raise SystemExit(f"bench pose: cannot read frames from {source}; pass --source with a video file")
    start = FIRST_FRAME if len(frames) > FIRST_FRAME else 0
    picked = [frames[(start + i) % len(frames)] for i in range(count)]
    if size is None:
        return picked
    return [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in picked]


def time_backend(backend, frames: list[np.ndarray], batch: int, warmup: int, device) -> dict:
    import torch

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for i in range(min(warmup, len(frames))):
        backend.estimate(frames[i:i + batch])
    sync()
    if hasattr(backend, "reset"):
        backend.reset()  # a tracking backend starts afresh: the timed run includes its first detection
    per_frame, persons, confidences = [], [], []
    stage_ms: dict[str, list[float]] = {}
    runs_before = getattr(backend, "tiled_runs", None)
    cpu_before = time.process_time()
    for start in range(0, len(frames), batch):
        chunk = frames[start:start + batch]
        begin = time.perf_counter()
        results = backend.estimate(chunk)
        sync()
        elapsed = (time.perf_counter() - begin) * 1000.0
        per_frame += [elapsed / len(chunk)] * len(chunk)
        persons += [len(r) for r in results]
        confidences += [p.keypoints[:, 2] for r in results for p in r]
        for name, ms in getattr(backend, "last_timings", {}).items():
            stage_ms.setdefault(name, []).append(ms * len(chunk))
    cpu_ms = (time.process_time() - cpu_before) * 1000.0 / len(per_frame)
    median = float(np.median(per_frame))
    mean = float(np.mean(per_frame))
    conf = np.concatenate(confidences) if confidences else np.zeros(0, np.float32)
    return {"median_ms": median, "p90_ms": float(np.percentile(per_frame, 90)), "mean_ms": mean,
            "fps": 1000.0 / median if median > 0 else float("inf"),
            "fps_mean": 1000.0 / mean if mean > 0 else float("inf"),
            # CPU time of this process per frame (all its threads): on a machine shared with other jobs
            # it moves much less with their load than the wall-clock numbers do.
            "cpu_ms_per_frame": cpu_ms,
            "persons_per_frame": float(np.mean(persons)),
            "persons_min_max": [int(min(persons)), int(max(persons))],
            "stage_ms_per_frame": {name: sum(v) / len(per_frame) for name, v in stage_ms.items()},
            "tiled_detector_frames": (None if runs_before is None
                                      else (backend.tiled_runs - runs_before) / len(per_frame)),
            "frames": len(per_frame),
            # How the keypoint confidences spread (checks the logit → probability mapping on real weights).
            "keypoint_conf_p10_p50_p90": [float(v) for v in np.percentile(conf, [10, 50, 90])] if conf.size else [],
            "keypoints_drawn_fraction": float((conf >= 0.3).mean()) if conf.size else 0.0}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", action="append",
                        choices=("mediapipe", "mediapipe_multi", "keypoint_rcnn", "auto", "all"),
                        help="backend to time (repeatable; default all = mediapipe, mediapipe_multi and "
                             "keypoint_rcnn)")
    parser.add_argument("--frames", type=int, default=50, help="timed frames (default 50)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls first (default 3)")
    parser.add_argument("--size", type=parse_size, default=(640, 480),
                        help="frame size WxH, or native (default 640x480)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--batch", type=int, default=1, help="frames per call (Keypoint R-CNN batching)")
    parser.add_argument("--min-size", type=int, help="Keypoint R-CNN input short side (default: config)")
    parser.add_argument("--random-weights", action="store_true",
                        help="Keypoint R-CNN with random weights (speed only; no download)")
    parser.add_argument("--source", type=Path, default=SAMPLE_CLIP, help="video to take frames from")
    parser.add_argument("--config", help="YAML config over configs/default.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    add_json_argument(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="a2v bench pose", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return parser


def main(argv: list[str]) -> int:
    from engine.cli.common import run_command

    return run_command(run, build_parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """The benchmark; ``--json FILE`` as everywhere (:mod:`engine.bench.common`)."""
    with json_output(args.json) as emit:
        return _measure(args, emit)


def _measure(args: argparse.Namespace, emit) -> int:
    logging.basicConfig(level=logging.WARNING)
    from engine import weights as registry
    from engine.config import load_config
    from engine.device import describe_device, resolve_device
    from engine.pose.factory import build_keypoint_rcnn, build_pose_backend

    config = load_config(args.config, args.overrides)  # ConfigError, DeviceError: the CLI's error policy
    device = resolve_device(args.device)
    config.device = str(device)
    if args.min_size:
        config.pose.min_size = args.min_size
    names = args.backend or ["all"]
    if "all" in names:
        names = ["mediapipe", "mediapipe_multi", "keypoint_rcnn"]
    frames = load_frames(args.source, args.frames, args.size)
    height, width = frames[0].shape[:2]
    rows = []
    for name in dict.fromkeys(names):
        config.pose.backend = name
        try:
            if name == "keypoint_rcnn" and args.random_weights:
                from engine.pose.keypoint_rcnn import KeypointRCNNBackend

                backend = KeypointRCNNBackend(device, weights=None, score_threshold=config.pose.score_threshold,
                                              min_size=config.pose.min_size, fp16=config.pose.fp16,
                                              detections_per_img=1)
            elif name == "keypoint_rcnn":
                backend = build_keypoint_rcnn(config, device)
            else:
                backend = build_pose_backend(config, device, video_mode=True)
        except registry.WeightsError as exc:
            print(f"{name}: skipped: {str(exc).splitlines()[0]} (see: python main.py weights list; "
                  f"or time it with --random-weights)", file=sys.stderr)
            continue
        stats = time_backend(backend, frames, max(1, args.batch), args.warmup, device)
        stats.update(backend=name, description=backend.describe(), device=describe_device(device),
                     size=f"{width}x{height}", batch=args.batch)
        backend.close()
        rows.append(stats)
    if not rows:
        raise RuntimeError("pose bench: no backend could be timed (see the lines above); "
                           "fetch the weights or pass --random-weights")
    print(f"pose bench: {args.frames} frames of {args.source.name} at {width}x{height}, "
          f"batch {args.batch}, {describe_device(device)}")
    print(f"{'backend':<17}{'median ms':>10}{'p90 ms':>9}{'mean ms':>9}{'fps':>8}{'fps mean':>9}{'persons':>9}"
          f"{'min-max':>8}{'kp conf p10/50/90':>19}{'>=0.3':>7}  description")
    for row in rows:
        spread = "/".join(f"{v:.2f}" for v in row["keypoint_conf_p10_p50_p90"]) or "-"
        low, high = row["persons_min_max"]
        print(f"{row['backend']:<17}{row['median_ms']:>10.1f}{row['p90_ms']:>9.1f}{row['mean_ms']:>9.1f}"
              f"{row['fps']:>8.1f}{row['fps_mean']:>9.1f}{row['persons_per_frame']:>9.2f}{f'{low}-{high}':>8}"
              f"{spread:>19}{row['keypoints_drawn_fraction']:>7.2f}  {row['description']}")
        if row["stage_ms_per_frame"]:
            stages = ", ".join(f"{name} {ms:.1f}" for name, ms in row["stage_ms_per_frame"].items())
            tiled = row["tiled_detector_frames"]
            share = f"; tiled detector on {100 * tiled:.0f}% of frames" if tiled is not None else ""
            print(f"{'':<17}by stage, ms per frame: {stages}{share}")
        print(f"{'':<17}CPU time {row['cpu_ms_per_frame']:.1f} ms per frame (this process, all threads)")
    emit(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
