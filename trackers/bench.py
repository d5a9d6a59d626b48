"""``python main.py bench tracker --mot-dir DIR [--repeats N] [--json FILE]``: the tracker's own speed.

Times ``SortTracker.update`` alone (detections are parsed before the clock starts, outputs are not
written) over every ``<seq>/det/det.txt`` under ``--mot-dir`` (e.g. the 11 MOT15 training sequences
SORT was published with; the repository ships none, so the folder is required), in parity mode and in
the person-video default mode.
Reports frames per second over all sequences (total frames / total update time), best of ``--repeats``
runs because on a shared machine the fastest run is the one least disturbed by other processes.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import platform
import sys
import time
from pathlib import Path

from trackers.mot_io import frames_of, read_mot, xywh_to_xyxy
from trackers.sort import SortTracker


def load_sequences(mot_dir: Path) -> dict[str, list]:
    """``{sequence: [(boxes (N, 4) xyxy, scores (N,)) per frame]}`` for every ``*/det/det.txt``."""
    if not Path(mot_dir).is_dir():
        raise FileNotFoundError(f"--mot-dir {mot_dir}: not a folder; pass a folder of MOT15-style sequences "
                                f"(<sequence>/det/det.txt), e.g. MOT15/train")
    files = sorted(Path(mot_dir).glob("*/det/det.txt"))
    if not files:
        raise FileNotFoundError(f"--mot-dir {mot_dir}: no */det/det.txt inside; pass a folder of MOT15-style "
                                f"sequences, e.g. MOT15/train")
    sequences = {}
    for path in files:
        table = read_mot(path, "detections file")
        sequences[path.parent.parent.name] = [(xywh_to_xyxy(rows[:, 2:6]), rows[:, 6])
                                              for _, rows in frames_of(table)]
    return sequences


def time_mode(sequences: dict[str, list], make_tracker) -> dict:
    """One pass over all sequences with a fresh tracker each; seconds spent inside ``update``."""
    per_sequence = {}
    for name, frames in sequences.items():
        tracker = make_tracker()
        clock = time.perf_counter
        start = clock()
        for boxes, scores in frames:
            tracker.update(boxes, scores)
        per_sequence[name] = (len(frames), clock() - start)
    return per_sequence


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mot-dir", type=Path, required=True,
                        help="folder with <sequence>/det/det.txt files, e.g. MOT15/train (required)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per mode; the fastest is reported")
    parser.add_argument("--json", metavar="FILE", default=None,
                        help="write the numbers as JSON to FILE ('-' = stdout, the table then goes to stderr; "
                             "default: none)")


def write_json(report: object, target: str | None, stdout=None) -> Path | None:
    """``--json FILE`` exactly as ``engine.bench.common.write_json`` (trackers/ stands alone: no engine import)."""
    if not target:
        return None
    text = json.dumps(report, indent=2)
    if target == "-":
        print(text, file=stdout or sys.stdout, flush=True)
        return None
    path = Path(target)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise OSError(f"--json {target}: cannot write ({exc.strerror or exc}); pass a writable file or -") from None
    print(f"wrote {path}", file=sys.stderr)
    return path


def run(args: argparse.Namespace) -> int:
    """The benchmark; with ``--json -`` the table goes to stderr and stdout carries only the JSON."""
    stdout = sys.stdout
    redirect = contextlib.redirect_stdout(sys.stderr) if args.json == "-" else contextlib.nullcontext()
    with redirect:
        results = _measure(args)
    write_json(results, args.json, stdout)
    return 0


def _measure(args: argparse.Namespace) -> dict:
    if args.repeats < 1:
        raise ValueError("--repeats must be at least 1")
    sequences = load_sequences(args.mot_dir)
    modes = {"parity": SortTracker.parity, "default": SortTracker}
    results = {}
    for mode, make in modes.items():
        best = None
        for _ in range(args.repeats):
            run = time_mode(sequences, make)
            total = sum(seconds for _, seconds in run.values())
            if best is None or total < best[0]:
                best = (total, run)
        total, run = best
        frames = sum(count for count, _ in run.values())
        results[mode] = {"frames": frames, "seconds": total, "fps": frames / total if total > 0 else float("inf"),
                         "per_sequence_fps": {n: c / s if s > 0 else float("inf") for n, (c, s) in run.items()}}
    print(f"tracker bench: {len(sequences)} sequences from {args.mot_dir}, best of {args.repeats}, "
          f"{platform.processor() or platform.machine()}, Python {platform.python_version()}")
    names = list(sequences)
    width = max(len(n) for n in names + ["all"])
    print(f"{'sequence'.ljust(width)}  frames  parity fps  default fps")
    for name in names:
        print(f"{name.ljust(width)}  {len(sequences[name]):6d}  {results['parity']['per_sequence_fps'][name]:10.0f}"
              f"  {results['default']['per_sequence_fps'][name]:11.0f}")
    print(f"{'all'.ljust(width)}  {results['parity']['frames']:6d}  {results['parity']['fps']:10.0f}"
          f"  {results['default']['fps']:11.0f}")
    return results


def main(argv: list[str]) -> int:
    """Stand-alone entry (``python -m``); ``python main.py bench`` uses :func:`add_arguments` and :func:`run`."""
    parser = argparse.ArgumentParser(prog="a2v bench tracker", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    from trackers.cli import run_command

    return run_command(run, parser.parse_args(argv))
