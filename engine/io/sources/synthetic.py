"""An in-memory source for benchmarks and tests: copies of one frame, as fast as they are asked for."""
from __future__ import annotations

import numpy as np


class SyntheticSource:
    """An in-memory file-like source: ``frames`` copies of one (H, W, 3) BGR frame, as fast as asked."""

    kind = "synthetic"
    is_live = False
    can_seek = False
    dropped = 0
    end_reason = "end of synthetic source"

    def __init__(self, frames: int, size: tuple[int, int] = (640, 480), fps: float = 25.0) -> None:
        from engine.io.sources.base import Frame

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

    def seek(self, index: int) -> None:
        from engine.io.sources.base import SourceError

        raise SourceError(f"{self.name}: this source cannot seek")

    def close(self) -> None:
        pass


