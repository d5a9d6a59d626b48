"""The achieved playback rate the status bar shows (Qt-free): "0.4× real time, A2V every 5th frame".

Fed with every result the window receives (:meth:`PlaybackRate.note`); the rate is media time over wall
time across the last ``RATE_WINDOW_S`` seconds of arrivals, and "every Nth frame" counts the frames whose
``info["carried"]`` names a stage (the pipeline's player mode skipped it there). A seek or a replay
starts the measurement again. ``stage_ms`` keeps each stage's last computed time (a carried frame's ~0 ms
is not what the stage costs).
"""
from __future__ import annotations

import collections
import time

RATE_WINDOW_S = 3.0
STAGE_NAMES = {"a2v": "A2V", "pose": "pose"}


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


class PlaybackRate:
    def __init__(self) -> None:
        # (wall clock, media time, stages that carried) per frame received
        self.samples: collections.deque = collections.deque(maxlen=600)
        self.stage_ms: dict[str, float] = {}

    def clear(self) -> None:
        self.samples.clear()

    def note(self, now: float, result) -> None:
        samples = self.samples
        if samples and not (0.0 < result.timestamp - samples[-1][1] < 1.0):
            samples.clear()  # a seek or a replay: the rate starts again
        carried = tuple(result.info.get("carried", ()))
        samples.append((now, float(result.timestamp), carried))
        for name, ms in result.timings.items():
            if name not in carried:
                self.stage_ms[name] = ms

    def text(self, pipe, source, speed) -> str:
        """The status text for ``pipe`` playing ``source`` at ``speed`` (None = "max")."""
        if pipe is None or source is None:
            return ""
        if source.is_live:
            return f"live, {int(pipe.dropped)} frames dropped" if pipe.dropped else "live"
        if pipe.running and pipe.paused and not pipe.at_end:
            return "paused"
        ended = pipe.at_end or not pipe.running
        last = self.samples[-1][0] if self.samples else time.monotonic()
        samples = [s for s in self.samples if last - s[0] <= RATE_WINDOW_S]
        if len(samples) < 2 or samples[-1][0] - samples[0][0] < 0.5:
            return "" if ended else "measuring the rate…"
        rate = (samples[-1][1] - samples[0][1]) / max(samples[-1][0] - samples[0][0], 1e-6)
        shown = f"{rate:.2f}" if rate < 0.095 else f"{rate:.1f}"  # a slow machine's 0.06× is not "0.0×"
        parts = [f"{shown}× real time" if speed is not None else f"max speed: {shown}× real time, every frame"]
        if ended:
            parts[0] = "end: " + parts[0]
        counts = collections.Counter(name for s in samples for name in s[2])
        for name, carried in sorted(counts.items()):
            ran = len(samples) - carried
            every = round(len(samples) / ran) if ran else len(samples)
            if every > 1:
                parts.append(f"{STAGE_NAMES.get(name, name)} every {ordinal(every)} frame")
        return ", ".join(parts)
