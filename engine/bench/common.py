"""Helpers every benchmark shares: ``--size`` parsing, ``--json FILE``, memory readings and statistics.

``--json FILE`` means the same in every benchmark: write the numbers as one JSON document to FILE
(folders created); ``-`` writes it to stdout, and then the human-readable table goes to stderr so the
JSON can be piped. A benchmark without a default file writes no JSON unless asked; ``--json ''`` turns
a default file off.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import resource
import sys
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np


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


def summarize(samples: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    """Per key: median, p90 and mean milliseconds and the sample count."""
    table = {}
    for stage, values in samples.items():
        array = np.asarray(values, dtype=np.float64)
        table[stage] = {"median_ms": float(np.median(array)), "p90_ms": float(np.percentile(array, 90)),
                        "mean_ms": float(array.mean()), "n": int(array.size)}
    return table


def add_json_argument(parser: argparse.ArgumentParser, default: Optional[str] = None) -> None:
    """``--json FILE`` (see the module docstring); ``default``: a file written unless ``--json ''``."""
    where = f"default {default}; '' = none" if default else "default: none"
    parser.add_argument("--json", metavar="FILE", default=default,
                        help=f"write the numbers as JSON to FILE ('-' = stdout, the table then goes to stderr; "
                             f"{where})")


def write_json(report: object, target: Optional[str], stdout=None) -> Optional[Path]:
    """Write ``report`` to ``target`` (``None``/``''``: nothing; ``'-'``: ``stdout``); the file written."""
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


@contextlib.contextmanager
def json_output(target: Optional[str]) -> Iterator[Callable[[object], Optional[Path]]]:
    """``with json_output(args.json) as emit: ...; emit(report)``: with ``--json -`` whatever the block
    prints goes to stderr and only ``emit``'s JSON reaches stdout."""
    stdout = sys.stdout
    redirect = contextlib.redirect_stdout(sys.stderr) if target == "-" else contextlib.nullcontext()
    with redirect:
        yield lambda report: write_json(report, target, stdout)
