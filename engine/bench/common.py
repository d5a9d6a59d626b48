"""Helpers every benchmark shares: ``--size`` parsing, memory readings and summary statistics."""
from __future__ import annotations

import argparse
import resource
import sys

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
