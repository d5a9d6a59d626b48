"""A contact sheet: one thumbnail per segment (its peak frame, the person boxed), with score and time.

Frames come from each item's media (``PersonFrames.sources``: the run's source or its annotated mp4, an
extract item's video or image); an item whose media is gone gets a grey tile that says so.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from engine.cvcompat import cv2
from engine.render.colors import track_color
from engine.search.segments import Segment
from engine.search.table import PersonFrames

TILE_W, TILE_H, CAPTION_H = 240, 200, 36


def _read_frame(source: str, index: int) -> Optional[np.ndarray]:
    from engine.io.sources import SourceError, open_source

    try:
        with open_source(source) as media:
            if index > 0:
                media.seek(index)
            frame = media.read()
    except (SourceError, OSError, ValueError, RuntimeError):
        return None
    return None if frame is None else frame.image


def _thumbnail(image: Optional[np.ndarray], box: np.ndarray, color) -> np.ndarray:
    tile = np.full((TILE_H, TILE_W, 3), 60, np.uint8)
    if image is None:
        cv2.putText(tile, "media not found", (12, TILE_H // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (200, 200, 200), 1,
                    cv2.LINE_AA)
        return tile
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    # A crop around the person (half its size again on each side) shows what they are doing with what.
    pad_x, pad_y = 0.5 * (x2 - x1), 0.25 * (y2 - y1)
    cx1, cy1 = int(max(0, x1 - pad_x)), int(max(0, y1 - pad_y))
    cx2, cy2 = int(min(w, x2 + pad_x)), int(min(h, y2 + pad_y))
    if cx2 - cx1 < 2 or cy2 - cy1 < 2:
        cx1, cy1, cx2, cy2 = 0, 0, w, h
    crop = image[cy1:cy2, cx1:cx2].copy()
    cv2.rectangle(crop, (int(x1 - cx1), int(y1 - cy1)), (int(x2 - cx1), int(y2 - cy1)), color, 2)
    scale = min(TILE_W / crop.shape[1], TILE_H / crop.shape[0])
    resized = cv2.resize(crop, (max(1, int(crop.shape[1] * scale)), max(1, int(crop.shape[0] * scale))),
                         interpolation=cv2.INTER_AREA)
    oy, ox = (TILE_H - resized.shape[0]) // 2, (TILE_W - resized.shape[1]) // 2
    tile[oy:oy + resized.shape[0], ox:ox + resized.shape[1]] = resized
    return tile


def contact_sheet(segments: Sequence[Segment], table: PersonFrames, title: str = "",
                  columns: int = 4) -> np.ndarray:
    """(H, W, 3) BGR uint8: a grid of segment thumbnails, best first, each captioned
    ``#rank score · item id N · start–end s``."""
    columns = max(1, min(columns, max(1, len(segments))))
    rows = max(1, -(-len(segments) // columns))
    title_h = 30 if title else 0
    sheet = np.full((title_h + rows * (TILE_H + CAPTION_H), columns * TILE_W, 3), 24, np.uint8)
    if title:
        cv2.putText(sheet, title[:80], (8, 21), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (240, 240, 240), 1, cv2.LINE_AA)
    cache: dict[tuple[str, int], Optional[np.ndarray]] = {}
    for rank, segment in enumerate(segments):
        source = table.sources.get(segment.item)
        key = (str(source), segment.peak_frame)
        if key not in cache:
            cache[key] = _read_frame(source, segment.peak_frame) if source else None
        tile = _thumbnail(cache[key], table.box[segment.peak_row], track_color(segment.track))
        r, c = divmod(rank, columns)
        y, x = title_h + r * (TILE_H + CAPTION_H), c * TILE_W
        sheet[y:y + TILE_H, x:x + TILE_W] = tile
        line1 = f"#{rank + 1}  {segment.peak_score:.2f}  {segment.item[:18]}  id {segment.track}"
        line2 = f"{segment.start_time:.1f}-{segment.end_time:.1f} s  (peak {segment.peak_time:.1f} s)"
        for j, text in enumerate((line1, line2)):
            cv2.putText(sheet, text, (x + 6, y + TILE_H + 14 + 16 * j), cv2.FONT_HERSHEY_SIMPLEX, 0.42,
                        (230, 230, 230), 1, cv2.LINE_AA)
    return sheet


def write_sheet(path: str | os.PathLike, image: np.ndarray) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix or '.png'}")
    if not cv2.imwrite(str(tmp), image):
        raise OSError(f"{path}: cannot write the contact sheet (use a .png or .jpg name in a writable folder)")
    os.replace(tmp, path)
    return path
