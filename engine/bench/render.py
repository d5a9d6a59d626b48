"""``python main.py bench render [--size 1280x720] [--persons 5] [--frames 200]``: overlay drawing time.

Draws synthetic but realistic results (standing persons with all 17 joints, 10 part boxes, PaSta and
actions, HUD) over a noise frame and prints the per-frame milliseconds of :func:`engine.render.annotate.annotate`
(median and p90 wall-clock, and the median CPU time of the drawing thread, which a busy machine
disturbs less). :func:`synthetic_result` is also used by the tests and the README's example image.
"""
from __future__ import annotations

import argparse
import time
from typing import Optional

import numpy as np

from engine.bench.common import add_json_argument, json_output, parse_size
from engine.config import RenderConfig
from engine.types import FrameResult, Person
from engine.vocab import Vocabulary, load_vocab

# A standing person's COCO-17 joints in box-relative coordinates (x, y in [0, 1]).
STANDING_POSE = np.array([
    [0.50, 0.08], [0.54, 0.06], [0.46, 0.06], [0.58, 0.08], [0.42, 0.08],    # nose, eyes, ears
    [0.70, 0.22], [0.30, 0.22], [0.78, 0.40], [0.22, 0.40], [0.80, 0.56],    # shoulders, elbows, wrists
    [0.20, 0.56], [0.62, 0.55], [0.38, 0.55], [0.64, 0.76], [0.36, 0.76],    # hips, knees
    [0.65, 0.96], [0.35, 0.96],                                              # ankles
], dtype=np.float32)

# Part centre joints (COCO-17) in vocabulary part order: right_foot, right_leg, left_leg, left_foot, hip,
# head, right_hand, right_arm, left_arm, left_hand (hip and head are joint means; see parts.tsv).
_PART_CENTRES = ((16,), (14,), (13,), (15,), (11, 12), (1, 2), (10,), (6,), (5,), (9,))


def part_boxes_from_keypoints(keypoints: np.ndarray, box: np.ndarray) -> np.ndarray:
    """(10, 4) xyxy squares centred on each part's joint(s), side 1/7 of the box height (display only)."""
    half = (box[3] - box[1]) / 14.0
    centres = np.array([keypoints[list(j), :2].mean(axis=0) for j in _PART_CENTRES], dtype=np.float32)
    return np.concatenate([centres - half, centres + half], axis=1).astype(np.float32)


def synthetic_person(box: np.ndarray, track_id: int, vocab: Vocabulary, rng: np.random.Generator,
                     with_pasta: bool = True) -> Person:
    """A standing person in ``box`` (xyxy) with part boxes and, if ``with_pasta``, PaSta and actions
    where a few states/actions are likely (and no_interaction is the most likely of all)."""
    box = np.asarray(box, dtype=np.float32)
    size = box[2:] - box[:2]
    xy = box[:2] + STANDING_POSE * size
    keypoints = np.concatenate([xy, rng.uniform(0.5, 1.0, (17, 1))], axis=1).astype(np.float32)
    person = Person(box=box, score=0.9, keypoints=keypoints, track_id=track_id,
                    part_boxes=part_boxes_from_keypoints(keypoints, box))
    if with_pasta:
        pasta = rng.uniform(0.0, 0.2, len(vocab.pasta)).astype(np.float32)
        for sl in vocab.group_slices:
            pasta[rng.integers(sl.start, sl.stop - 1)] = rng.uniform(0.4, 0.95)
            pasta[sl.stop - 1] = 0.99
        actions = rng.uniform(0.0, 0.05, len(vocab.actions)).astype(np.float32)
        actions[rng.choice(len(vocab.actions), 4, replace=False)] = rng.uniform(0.3, 0.9, 4)
        actions[vocab.action_no_interaction] = 0.99
        person.pasta, person.actions = pasta, actions
    return person


def synthetic_result(width: int, height: int, persons: int, seed: int = 0,
                     vocab: Optional[Vocabulary] = None, with_pasta: bool = True) -> FrameResult:
    """A FrameResult with ``persons`` standing people side by side (neighbours' boxes touch, so labels
    must avoid each other), HUD info and timings."""
    vocab = vocab or load_vocab()
    rng = np.random.default_rng(seed)
    slot = width / max(1, persons)
    people = []
    for i in range(persons):
        w = min(slot * 0.9, height * 0.35)
        h = min(height * 0.8, w * 2.6)
        x1 = i * slot + (slot - w) / 2
        y1 = height * 0.12 + (i % 2) * height * 0.05
        people.append(synthetic_person(np.array([x1, y1, x1 + w, y1 + h]), i + 1, vocab, rng, with_pasta))
    info = {"fps": 24.7, "dropped": 0, "pose_backend": "synthetic"}
    if not with_pasta:
        info["pasta_off"] = "no PaSta weights"
    return FrameResult(index=0, timestamp=0.0, image_size=(width, height), persons=people,
                       timings={"pose": 11.2, "tracker": 0.4, "a2v": 18.9}, info=info)


def measure(width: int, height: int, persons: int, frames: int, style: Optional[RenderConfig] = None,
            warmup: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame milliseconds of ``annotate`` over ``frames`` frames (after ``warmup`` untimed ones):
    (wall-clock, CPU time of this thread). On a shared machine the CPU time is the steadier number."""
    from engine.render.annotate import annotate

    style = style or RenderConfig()
    vocab = load_vocab()
    frame = np.random.default_rng(1).integers(0, 256, (height, width, 3), dtype=np.uint8)
    results = [synthetic_result(width, height, persons, seed=s, vocab=vocab) for s in range(8)]
    for i in range(warmup):
        annotate(frame, results[i % len(results)], style, vocab)
    wall, cpu = np.empty(frames), np.empty(frames)
    for i in range(frames):
        start, start_cpu = time.perf_counter(), time.thread_time()
        annotate(frame, results[i % len(results)], style, vocab)
        wall[i] = (time.perf_counter() - start) * 1000.0
        cpu[i] = (time.thread_time() - start_cpu) * 1000.0
    return wall, cpu


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", type=parse_size, default=(1280, 720), help="frame WxH (default 1280x720)")
    parser.add_argument("--persons", type=int, default=5, help="persons per frame (default 5)")
    parser.add_argument("--frames", type=int, default=200, help="timed frames (default 200)")
    parser.add_argument("--sidebar", action="store_true", help="actions in the sidebar")
    add_json_argument(parser)


def run(args: argparse.Namespace) -> int:
    """The benchmark; ``--json FILE`` as everywhere (:mod:`engine.bench.common`)."""
    with json_output(args.json) as emit:
        return _measure(args, emit)


def _measure(args: argparse.Namespace, emit) -> int:
    if args.persons < 0 or args.frames < 1:
        raise ValueError("--persons must be >= 0 and --frames >= 1")
    style = RenderConfig(sidebar=args.sidebar)
    width, height = args.size
    wall, cpu = measure(width, height, args.persons, args.frames, style)
    report = {"size": f"{width}x{height}", "persons": args.persons, "frames": args.frames,
              "sidebar": args.sidebar, "median_ms": round(float(np.median(wall)), 3),
              "p90_ms": round(float(np.percentile(wall, 90)), 3),
              "cpu_median_ms": round(float(np.median(cpu)), 3)}
    print(f"render {report['size']}, {args.persons} persons, {args.frames} frames"
          f"{', sidebar' if args.sidebar else ''}: median {report['median_ms']:.2f} ms, "
          f"p90 {report['p90_ms']:.2f} ms (CPU time median {report['cpu_median_ms']:.2f} ms)")
    emit(report)
    return 0


def main(argv: list[str]) -> int:
    """Stand-alone entry (``python -m``); ``python main.py bench`` uses :func:`add_arguments` and :func:`run`."""
    parser = argparse.ArgumentParser(prog="a2v bench render", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    from engine.cli.common import run_command

    return run_command(run, parser.parse_args(argv))


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
