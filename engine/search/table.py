"""Person-frames to search: one table whatever produced them (a ``run`` folder, an ``extract`` folder,
or rows the GUI collected live).

:class:`PersonFrames` holds M rows: ``item`` (M,) str (the source a row came from), ``frame`` (M,) int64,
``time`` (M,) float64 seconds, ``track`` (M,) int64, ``box`` (M, 4) float32 xyxy pixels, ``pasta`` (M, 93),
``actions`` (M, 157), ``visual`` (M, 3072) and ``language`` (M, L) float32 (visual/language may have
0 columns when a producer saved none). ``sources`` maps an item to the media file it came from (for
thumbnails), ``encoder`` names the text encoder of the run's language matrix when known.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from engine.search.text import SearchError

RUN_VECTORS = "vectors.npz"


@dataclass
class PersonFrames:
    item: np.ndarray
    frame: np.ndarray
    time: np.ndarray
    track: np.ndarray
    box: np.ndarray
    pasta: np.ndarray
    actions: np.ndarray
    visual: np.ndarray
    language: np.ndarray
    sources: dict = field(default_factory=dict)
    encoder: Optional[str] = None

    def __len__(self) -> int:
        return int(self.frame.shape[0])

    @classmethod
    def empty(cls) -> "PersonFrames":
        z = np.zeros
        return cls(z(0, object), z(0, np.int64), z(0), z(0, np.int64), z((0, 4), np.float32),
                   z((0, 93), np.float32), z((0, 157), np.float32), z((0, 0), np.float32), z((0, 0), np.float32))

    @classmethod
    def concat(cls, parts: Iterable["PersonFrames"]) -> "PersonFrames":
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        widths = {p.visual.shape[1] for p in parts}, {p.language.shape[1] for p in parts}

        def stack(name, ok=True):
            return np.concatenate([getattr(p, name) for p in parts]) if ok else \
                np.zeros((sum(len(p) for p in parts), 0), np.float32)

        sources: dict = {}
        for p in parts:
            sources.update(p.sources)
        encoders = {p.encoder for p in parts if p.encoder}
        return cls(stack("item"), stack("frame"), stack("time"), stack("track"), stack("box"), stack("pasta"),
                   stack("actions"), stack("visual", len(widths[0]) == 1), stack("language", len(widths[1]) == 1),
                   sources, encoders.pop() if len(encoders) == 1 else None)

    def rows_of(self, item: str, track: int) -> np.ndarray:
        """Row indices of one track of one item, in frame order."""
        rows = np.flatnonzero((self.item == item) & (self.track == track))
        return rows[np.argsort(self.frame[rows], kind="stable")]


def _encoder_from_provenance(folder: Path) -> Optional[str]:
    """The text encoder behind the run's language matrix, from ``run.json`` when it says."""
    path = folder / "run.json"
    if not path.is_file() or path.stat().st_size > 4 << 20:
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    language = record.get("language") if isinstance(record, dict) else None
    name = language.get("name") if isinstance(language, dict) else language
    if not isinstance(name, str):
        return None
    if name in ("official", "a2v_v1_language", "bert-base-uncased") or "bert" in name:
        return "bert-base-uncased"   # the official matrix was built with bert-base-uncased
    return "minilm" if "minilm" in name.lower() else None


def _run_source(folder: Path) -> Optional[str]:
    path = folder / "run.json"
    try:
        record = json.loads(path.read_text()) if path.is_file() and path.stat().st_size < 4 << 20 else {}
    except (OSError, ValueError):
        record = {}
    source = record.get("source") if isinstance(record, dict) else None
    if isinstance(source, str) and Path(source).exists():
        return source
    annotated = folder / "annotated.mp4"
    return str(annotated) if annotated.is_file() else None


def load_run(folder: str | os.PathLike) -> PersonFrames:
    """A ``run`` output folder (its ``vectors.npz``): item = the folder's name."""
    folder = Path(folder)
    path = folder / RUN_VECTORS
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise SearchError(f"{path}: not a readable vectors.npz ({exc}); point search at a run output folder") \
            from None
    missing = [k for k in ("frame", "track_id", "pasta", "actions") if k not in arrays]
    if missing:
        raise SearchError(f"{path}: no {', '.join(missing)}; was it written by `python main.py run`?")
    m = arrays["frame"].shape[0]
    item = folder.name or str(folder)
    source = _run_source(folder)
    return PersonFrames(
        item=np.full(m, item, dtype=object), frame=arrays["frame"].astype(np.int64),
        time=arrays.get("time", np.zeros(m)).astype(np.float64), track=arrays["track_id"].astype(np.int64),
        box=arrays.get("box", np.zeros((m, 4))).astype(np.float32),
        pasta=np.nan_to_num(arrays["pasta"].astype(np.float32)),
        actions=np.nan_to_num(arrays["actions"].astype(np.float32)),
        visual=np.nan_to_num(arrays.get("visual", np.zeros((m, 0))).astype(np.float32)),
        language=np.nan_to_num(arrays.get("language", np.zeros((m, 0))).astype(np.float32)),
        sources={item: source} if source else {}, encoder=_encoder_from_provenance(folder))


def _list_column(table, name: str, width: int) -> np.ndarray:
    """A fixed-size-list (or list) column as an (M, width) float32 array."""
    import pyarrow as pa

    column = table.column(name).combine_chunks()
    if pa.types.is_fixed_size_list(column.type) or pa.types.is_list(column.type):
        values = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
        return values.reshape(len(column), -1) if len(column) else np.zeros((0, width), np.float32)
    return np.asarray(column.to_pylist(), np.float32).reshape(len(column), -1)


def load_parquet(path: str | os.PathLike) -> PersonFrames:
    """One ``extract`` Parquet file (one row per person-frame; vectors as fixed-size lists)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise SearchError("reading extract folders needs pyarrow: pip install pyarrow") from None
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:
        raise SearchError(f"{path}: not a readable Parquet file ({exc})") from None
    names = set(table.column_names)
    missing = [c for c in ("frame", "track_id", "pasta", "actions") if c not in names]
    if missing:
        raise SearchError(f"{path}: no column {', '.join(missing)}; was it written by `python main.py extract`?")
    m = table.num_rows
    item = table.column("item").to_pylist() if "item" in names else [Path(path).stem] * m

    def col(name, width):
        return _list_column(table, name, width) if name in names else np.zeros((m, 0), np.float32)

    box = col("box", 4)
    frames = PersonFrames(
        item=np.asarray(item, dtype=object), frame=np.asarray(table.column("frame").to_pylist(), np.int64),
        time=np.asarray(table.column("time").to_pylist() if "time" in names else np.zeros(m), np.float64),
        track=np.asarray(table.column("track_id").to_pylist(), np.int64),
        box=box if box.shape[1] == 4 else np.zeros((m, 4), np.float32),
        pasta=np.nan_to_num(col("pasta", 93)), actions=np.nan_to_num(col("actions", 157)),
        visual=np.nan_to_num(col("visual", 3072)), language=np.nan_to_num(col("language", 0)))
    frames.sources = {i: i for i in set(item) if isinstance(i, str) and Path(i).exists()}
    return frames


def load_folder(folder: str | os.PathLike) -> PersonFrames:
    """A ``run`` folder (``vectors.npz``), an ``extract`` folder (``*.parquet``), or a folder of run folders."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SearchError(f"{folder}: no such folder; give a run output folder (with vectors.npz) or an "
                          f"extract folder (with .parquet files)")
    if (folder / RUN_VECTORS).is_file():
        return load_run(folder)
    parquet = sorted(folder.glob("*.parquet"))
    runs = sorted(p.parent for p in folder.glob(f"*/{RUN_VECTORS}"))
    if not parquet and not runs:
        raise SearchError(f"{folder}: no vectors.npz and no .parquet files; run `python main.py run` (with "
                          f"PaSta weights) or `python main.py extract` first")
    return PersonFrames.concat([load_parquet(p) for p in parquet] + [load_run(r) for r in runs])
