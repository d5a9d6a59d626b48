"""One item's rows → one Parquet file, written under a temporary name and renamed when whole.

Rows: one person in one frame. Columns (fixed-size lists are float32, row-major):

================  ==============================  ==========================================================
``item``          string                          the item's absolute path
``frame``         int64                           frame index in the item (image folders: image index)
``time``          float64                         seconds from the item's start
``track_id``      int64                           -1 = not (yet) on a confirmed track
``pasta_age``     int64                           frames since PaSta was computed (> 0 with ``a2v.stride``)
``box``           fixed_size_list<float32>[4]     x1, y1, x2, y2 image pixels
``score``         float32                         detection score
``keypoints``     fixed_size_list<float32>[51]    COCO-17 × (x, y, confidence), pixels
``part_boxes``    fixed_size_list<float32>[40]    10 parts × xyxy pixels (order of assets/vocab/parts.tsv)
``pasta``         fixed_size_list<float32>[93]    PaSta probabilities
``actions``       fixed_size_list<float32>[157]   action probabilities
``visual``        fixed_size_list<float32>[3072]  visual half of the A2V vector
``language``      fixed_size_list<float32>[L]     language half (L = 1536 official / BERT, 768 MiniLM)
================  ==============================  ==========================================================

``part_boxes`` … ``language`` hold NaN for a person without them (A2V disabled, or a person whose track
carries no result yet with ``a2v.stride`` > 1), as ``vectors.npz`` does; no column is ever null (pyarrow
before 25 cannot read null fixed-size lists back from Parquet). With A2V disabled the language column is
``list<float32>`` with empty lists (no matrix, no width). The file's schema metadata holds
``a2v.provenance`` (JSON: model, sha256, language matrix, mode, config), ``a2v.item`` and ``a2v.format``.

Memory: rows are buffered ``chunk_rows`` at a time (≈ 19.5 KB per row with L = 1536; 1024 rows ≈ 20 MB)
and written as one row group each, so memory stays bounded however long the item.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import numpy as np

from engine.io.sinks import SinkBase

FORMAT = "a2v-features/1"
WIDTHS = {"box": 4, "keypoints": 51, "part_boxes": 40, "pasta": 93, "actions": 157, "visual": 3072}
VECTOR_KEYS = ("part_boxes", "pasta", "actions", "visual", "language")
META_PROVENANCE = b"a2v.provenance"
META_ITEM = b"a2v.item"
META_FORMAT = b"a2v.format"


def schema(language_dim: int, provenance: Optional[dict] = None, item: str = ""):
    """The Arrow schema for ``language_dim`` (0 = no language column width: A2V off)."""
    import pyarrow as pa

    def fixed(width: int):
        return pa.list_(pa.float32(), width)

    fields = [
        pa.field("item", pa.string(), nullable=False),
        pa.field("frame", pa.int64(), nullable=False),
        pa.field("time", pa.float64(), nullable=False),
        pa.field("track_id", pa.int64(), nullable=False),
        pa.field("pasta_age", pa.int64(), nullable=False),
        pa.field("box", fixed(4), nullable=False),
        pa.field("score", pa.float32(), nullable=False),
        pa.field("keypoints", fixed(51), nullable=False),
        pa.field("part_boxes", fixed(40), nullable=False),
        pa.field("pasta", fixed(93), nullable=False),
        pa.field("actions", fixed(157), nullable=False),
        pa.field("visual", fixed(3072), nullable=False),
        pa.field("language", fixed(language_dim) if language_dim > 0 else pa.list_(pa.float32()), nullable=False),
    ]
    metadata = {META_FORMAT: FORMAT.encode(), META_ITEM: item.encode("utf-8", "surrogateescape"),
                META_PROVENANCE: json.dumps(provenance or {}, sort_keys=True, default=str).encode()}
    return pa.schema(fields, metadata=metadata)


def _fixed_array(rows: list, key: str, width: int, arrow_type):
    """A fixed-size-list column from per-row arrays; a row without one holds NaN (never null: pyarrow < 25
    cannot read null fixed-size lists back from Parquet, apache/arrow#35692)."""
    import pyarrow as pa

    n = len(rows)
    if width == 0:  # the variable-size language column of a run without A2V: empty lists
        return pa.array([[] for _ in range(n)], arrow_type)
    values = np.full((n, width), np.nan, np.float32)
    for i, row in enumerate(rows):
        if row[key] is not None:
            values[i] = row[key]
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), width)


class ParquetItemWriter(SinkBase):
    """Pipeline sink (``write(result, annotated)``, ``close()``) that writes ``path`` atomically.

    Rows go to ``.<name>.<pid>.tmp`` beside ``path``; :meth:`close` (called by the pipeline on every stop
    path) finishes that file, :meth:`commit` renames it to ``path`` (fsync'd first) and :meth:`discard`
    deletes it. ``path`` therefore only ever exists whole. ``rows`` counts the rows written.
    """

    name = "parquet"

    def __init__(self, path: str | os.PathLike, item: str, language_dim: int, provenance: Optional[dict] = None,
                 chunk_rows: int = 1024) -> None:
        self.path = Path(path)
        self.item = item
        self.language_dim = int(language_dim)
        self.schema = schema(self.language_dim, provenance, item)
        self.chunk_rows = max(1, int(chunk_rows))
        self.tmp_path = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self.rows = 0
        self.closed = False
        self._pending: list[dict] = []
        self._writer = None

    def write(self, annotated, result) -> None:
        if self.closed:
            raise RuntimeError(f"{self.path}: write after close")
        for person in result.persons:
            language = person.language
            if language is not None and np.size(language) != self.language_dim:
                raise ValueError(f"{self.item}: language vector has {np.size(language)} values, the file's "
                                 f"column has {self.language_dim}")
            self._pending.append({
                "frame": int(result.index), "time": float(result.timestamp), "track_id": int(person.track_id),
                "pasta_age": int(person.pasta_age), "box": np.asarray(person.box, np.float32),
                "score": float(person.score), "keypoints": np.asarray(person.keypoints, np.float32).reshape(-1),
                "part_boxes": None if person.part_boxes is None else
                np.asarray(person.part_boxes, np.float32).reshape(-1),
                "pasta": person.pasta, "actions": person.actions, "visual": person.visual, "language": language,
            })
        if len(self._pending) >= self.chunk_rows:
            self._flush()

    def _table(self, rows: list[dict]):
        import pyarrow as pa

        n = len(rows)
        columns = {
            "item": pa.array([self.item] * n, pa.string()),
            "frame": pa.array([r["frame"] for r in rows], pa.int64()),
            "time": pa.array([r["time"] for r in rows], pa.float64()),
            "track_id": pa.array([r["track_id"] for r in rows], pa.int64()),
            "pasta_age": pa.array([r["pasta_age"] for r in rows], pa.int64()),
            "box": _fixed_array(rows, "box", 4, self.schema.field("box").type),
            "score": pa.array([r["score"] for r in rows], pa.float32()),
            "keypoints": _fixed_array(rows, "keypoints", 51, self.schema.field("keypoints").type),
        }
        for key in VECTOR_KEYS:
            width = self.language_dim if key == "language" else WIDTHS[key]
            columns[key] = _fixed_array(rows, key, width, self.schema.field(key).type)
        return pa.Table.from_arrays(list(columns.values()), schema=self.schema)

    def _open(self) -> None:
        import pyarrow.parquet as pq

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = pq.ParquetWriter(str(self.tmp_path), self.schema)

    def _flush(self) -> None:
        if self._writer is None:
            self._open()
        if self._pending:
            self._writer.write_table(self._table(self._pending))
            self.rows += len(self._pending)
            self._pending.clear()

    def close(self) -> None:
        """Finish the temporary file (idempotent); an item without persons gives a valid 0-row file."""
        if self.closed:
            return
        self.closed = True
        self._flush()
        self._writer.close()
        self._writer = None

    def commit(self) -> Path:
        """Move the finished file into place (after :meth:`close`); returns ``path``."""
        if not self.closed:
            self.close()
        with open(self.tmp_path, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(self.tmp_path, self.path)
        return self.path

    def discard(self) -> None:
        """Drop the temporary file (a failed item leaves no output)."""
        try:
            if not self.closed:
                self.closed = True
                self._pending.clear()
                if self._writer is not None:
                    self._writer.close()
        except Exception:  # noqa: BLE001 - the file is being thrown away anyway
            pass
        self.tmp_path.unlink(missing_ok=True)


def read_rows_count(path: str | os.PathLike) -> Optional[int]:
    """Rows in a finished Parquet file from its footer, or None when it is missing or unreadable."""
    import pyarrow.parquet as pq

    try:
        return int(pq.read_metadata(str(path)).num_rows)
    except (OSError, ValueError, Exception):  # noqa: BLE001 - pyarrow raises ArrowInvalid for a bad footer
        return None


def read_provenance(path: str | os.PathLike) -> dict:
    """The provenance record stored in one output file's metadata."""
    import pyarrow.parquet as pq

    metadata = pq.read_schema(str(path)).metadata or {}
    return json.loads(metadata.get(META_PROVENANCE, b"{}"))
