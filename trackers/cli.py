"""``track`` and ``track-eval`` commands (standard library, numpy, ``lap``; scipy in parity mode).

- ``track --dets det.txt --out tracks.txt [--max-age N] [--min-hits N] [--iou-threshold X] [--parity]``:
  MOTChallenge detections in (``frame,-1,x,y,w,h,score,...``), MOTChallenge tracks out
  (``frame,id,x,y,w,h,score,-1,-1,-1``; the box is the Kalman posterior, as SORT writes it). With
  ``--parity`` the file is the original SORT's own: same rows, IDs, order and ``1`` as the score.
- ``track-eval --gt gt.txt --tracks tracks.txt [--json]``: MOTA, IDF1, HOTA (with DetA, AssA), MOTP,
  recall, precision, FP, FN, ID switches, fragmentations, MT/PT/ML (see :mod:`trackers.metrics`).
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from trackers.mot_io import (
    MotFileError,
    format_track_line,
    frames_of,
    read_mot,
    write_tracks,
    xywh_to_xyxy,
)
from trackers.sort import PARITY_SETTINGS, SortTracker


def register_cli(subparsers) -> None:
    defaults = SortTracker()
    track = subparsers.add_parser(
        "track", help="track MOTChallenge detections (SORT; --parity for the original's behaviour)",
        description="Run the tracker over a MOTChallenge detection file and write MOTChallenge tracks.")
    track.add_argument("--dets", required=True, help="detections: frame,-1,x,y,w,h,score,... per line")
    track.add_argument("--out", required=True, help="tracks file to write")
    track.add_argument("--max-age", type=int, default=None,
                       help=f"frames a track survives unmatched (default {defaults.max_age}; "
                            f"parity {PARITY_SETTINGS['max_age']})")
    track.add_argument("--min-hits", type=int, default=None,
                       help=f"matches before a track is reported (default {defaults.min_hits}; "
                            f"parity {PARITY_SETTINGS['min_hits']})")
    track.add_argument("--iou-threshold", type=float, default=None,
                       help=f"minimum IoU for a match (default {defaults.iou_threshold}; "
                            f"parity {PARITY_SETTINGS['iou_threshold']})")
    track.add_argument("--parity", action="store_true",
                       help="behave exactly as the original SORT (reproduces its published MOT15 numbers)")
    track.add_argument("--parity-solver", choices=("scipy", "lap"), default="scipy",
                       help="assignment solver in parity mode (scipy; lap = the original with lap installed; "
                            "they differ only where the optimal assignment is tied)")
    track.add_argument("--no-second-pass", action="store_true",
                       help="do not match low-score detections in a second pass (person-video mode)")
    track.add_argument("--high-score", type=float, default=defaults.high_score,
                       help="detections at or above this score are matched first and start tracks")
    track.add_argument("--low-score", type=float, default=defaults.low_score,
                       help="detections from here up to --high-score are only used in the second pass")
    track.set_defaults(func=track_command)

    evaluate = subparsers.add_parser(
        "track-eval", help="score MOTChallenge tracks against ground truth (MOTA, IDF1, HOTA, ...)",
        description="Score a MOTChallenge tracks file against a ground-truth file: CLEAR MOT (devkit "
                    "rules), IDF1 and HOTA, boxes matched at IoU >= 0.5.")
    evaluate.add_argument("--gt", required=True, help="ground truth: frame,id,x,y,w,h,consider,... per line")
    evaluate.add_argument("--tracks", required=True, help="tracks: frame,id,x,y,w,h,... per line")
    evaluate.add_argument("--json", action="store_true", help="print the scores as one JSON object")
    evaluate.set_defaults(func=track_eval_command)


def build_tracker(args: argparse.Namespace) -> SortTracker:
    """The tracker the ``track`` options describe (unset options keep the mode's defaults)."""
    chosen = {k: v for k, v in (("max_age", args.max_age), ("min_hits", args.min_hits),
                                ("iou_threshold", args.iou_threshold)) if v is not None}
    if args.parity:
        return SortTracker.parity(solver=args.parity_solver, **chosen)
    return SortTracker(second_pass=not args.no_second_pass, high_score=args.high_score,
                       low_score=args.low_score, **chosen)


def track_file(tracker: SortTracker, detections, num_frames: int | None = None) -> list[str]:
    """Track an (L, 7) detection table frame by frame -> MOTChallenge track lines.

    In parity mode the lines are the original SORT's file, byte for byte: per frame the newest track
    first (tracks are numbered at creation, so that is descending ID) and ``1`` in the score column.
    """
    lines = []
    parity = tracker.parity_mode
    for frame, rows in frames_of(detections, num_frames):
        outputs = tracker.update(xywh_to_xyxy(rows[:, 2:6]), rows[:, 6])
        if parity:
            outputs.sort(key=_newest_first)
        for out in outputs:
            lines.append(format_track_line(frame, out.track_id, out.box, 1.0 if parity else out.score))
    return lines


def _newest_first(output) -> int:
    return -output.track_id


def track_command(args: argparse.Namespace) -> int:
    if args.max_age is not None and args.max_age < 0 or args.min_hits is not None and args.min_hits < 0:
        raise ValueError("--max-age and --min-hits must be 0 or more")
    if args.iou_threshold is not None and not 0.0 <= args.iou_threshold <= 1.0:
        raise ValueError(f"--iou-threshold must be between 0 and 1, got {args.iou_threshold}")
    detections = read_mot(args.dets, "detections file")
    tracker = build_tracker(args)
    start = time.perf_counter()
    lines = track_file(tracker, detections)
    elapsed = time.perf_counter() - start
    count = write_tracks(args.out, lines)
    frames = int(detections[:, 0].max()) if len(detections) else 0
    ids = len({line.split(",", 2)[1] for line in lines})
    rate = f", {frames / elapsed:.0f} frames/s" if elapsed > 0 and frames else ""
    mode = "parity" if args.parity else "person-video"
    print(f"track: {frames} frames, {len(detections)} detections -> {count} track boxes, {ids} IDs "
          f"({mode} mode{rate}) written to {args.out}")
    return 0


def track_eval_command(args: argparse.Namespace) -> int:
    from trackers.metrics import evaluate, format_summary

    gt = read_mot(args.gt, "ground-truth file")
    if len(gt) == 0:
        raise MotFileError(f"ground-truth file {args.gt} has no boxes; pass a MOTChallenge gt.txt")
    tracks = read_mot(args.tracks, "tracks file")
    scores = evaluate(gt, tracks)
    if args.json:
        print(json.dumps({k: (round(v, 6) if isinstance(v, float) else v) for k, v in scores.items()}))
    else:
        print(format_summary(scores))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``track`` / ``track-eval`` without main.py: ``python -m trackers.cli track ...``."""
    parser = argparse.ArgumentParser(prog="a2v")
    register_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return run_command(args.func, args)


def run_command(handler, args: argparse.Namespace) -> int:
    """The error policy of ``engine/cli/common.py`` (one line ``a2v: error: ...``, exit 2; Ctrl-C 130),
    restated for the stand-alone entries because trackers/ runs without engine/."""
    try:
        return int(handler(args) or 0)
    except KeyboardInterrupt:
        print("a2v: interrupted", file=sys.stderr)
        return 130
    except (ValueError, RuntimeError, OSError, LookupError) as exc:
        print(f"a2v: error: {' '.join(str(exc).split()) or type(exc).__name__}", file=sys.stderr)
        return 2

if __name__ == "__main__":
    sys.exit(main())
