"""The query engine: text queries and "more like this" over a table of person-frames → ranked segments.

::

    from engine.search import Searcher
    searcher = Searcher.open("runs/bikes")             # a run folder, an extract folder, or PersonFrames
    hits = searcher.text("hand holds something", top=5)
    same = searcher.like("bikes", track=3, time=4.2)    # cosine on the visual (3072) vector
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import numpy as np

from engine.search.index import BRUTE_FORCE_LIMIT, VectorIndex
from engine.search.segments import Segment, segments_from_scores
from engine.search.table import PersonFrames, load_folder
from engine.search.text import SearchError, TextEncoder, score_person_frames

MIN_TEXT_SCORE = 0.1      # below this expected probability a frame does not "do" the query
RELATIVE_TEXT_SCORE = 0.5  # ... nor below half of the best frame's score for this query
LIKE_THRESHOLD = 0.9      # cosine similarity a frame needs to be "like" the example


@dataclass
class SearchResult:
    """Ranked ``segments``; ``meaning`` says what the query was read as ([(concept, weight)]) or which
    person-frame was the example; ``method`` how the rows were scored."""

    segments: list[Segment]
    meaning: list = field(default_factory=list)
    method: str = ""
    scores: Optional[np.ndarray] = None   # (M,) per person-frame, for the GUI's live highlighting

    def to_dict(self) -> dict:
        return {"segments": [s.to_dict() for s in self.segments], "meaning": self.meaning, "method": self.method}


class Searcher:
    def __init__(self, table: PersonFrames, folder: Optional[Path] = None, encoder: Optional[str] = None,
                 brute_force_limit: int = BRUTE_FORCE_LIMIT) -> None:
        self.table, self.folder = table, folder
        self.encoder_name = encoder or table.encoder or "minilm"
        self.brute_force_limit = brute_force_limit
        self._encoder: Optional[TextEncoder] = None
        self._concept_probabilities: Optional[np.ndarray] = None
        self._indexes: dict[str, VectorIndex] = {}

    @classmethod
    def open(cls, source: Union[str, os.PathLike, PersonFrames], **kwargs) -> "Searcher":
        if isinstance(source, PersonFrames):
            return cls(source, **kwargs)
        return cls(load_folder(source), folder=Path(source), **kwargs)

    @property
    def encoder(self) -> TextEncoder:
        if self._encoder is None:
            self._encoder = TextEncoder(self.encoder_name)
        return self._encoder

    def concept_probabilities(self) -> np.ndarray:
        if self._concept_probabilities is None:
            self._concept_probabilities = self.encoder.concepts.probabilities(self.table.pasta, self.table.actions)
        return self._concept_probabilities

    def _segments(self, scores: np.ndarray, threshold: float, top: int, max_gap: int) -> list[Segment]:
        t = self.table
        return segments_from_scores(t.item, t.track, t.frame, t.time, scores, threshold, max_gap)[:top]

    def text(self, query: str, top: int = 10, threshold: Optional[float] = None, max_gap: int = 2) -> SearchResult:
        """Segments where people do what ``query`` says (rule: :mod:`engine.search.text`)."""
        weights = self.encoder.weights(query)
        scores = score_person_frames(self.concept_probabilities(), weights) if len(self.table) else \
            np.zeros(0, np.float32)
        if threshold is None:
            best = float(scores.max()) if scores.size else 0.0
            threshold = max(MIN_TEXT_SCORE, RELATIVE_TEXT_SCORE * best)
        return SearchResult(self._segments(scores, threshold, top, max_gap), self.encoder.explain(weights),
                            f"text ({self.encoder_name}), exact over {len(self.table)} person-frames", scores)

    def example_row(self, item: str, track: int, time: float) -> int:
        """The row of ``track`` in ``item`` nearest to ``time`` seconds."""
        rows = self.table.rows_of(item, track)
        if rows.size == 0:
            items = sorted({str(i) for i in self.table.item})
            raise SearchError(f"--like {item}:{track}:{time:g}: no track {track} in item {item!r} "
                              f"(items: {', '.join(items[:5])}{' …' if len(items) > 5 else ''})")
        return int(rows[np.argmin(np.abs(self.table.time[rows] - time))])

    def _vectors(self, kind: str) -> np.ndarray:
        t = self.table
        if kind == "visual":
            vectors = t.visual
        elif kind == "full":
            vectors = np.concatenate([t.visual, t.language], axis=1)
        else:
            raise SearchError(f"--by {kind}: use visual or full")
        if vectors.shape[1] == 0:
            raise SearchError("these outputs hold no A2V vectors (PaSta was off); run with PaSta weights")
        return vectors

    def like(self, item: str, track: int, time: float, top: int = 10, by: str = "visual",
             threshold: float = LIKE_THRESHOLD, max_gap: int = 2) -> SearchResult:
        """Segments that look like ``track`` of ``item`` at ``time`` seconds (cosine on ``by`` vectors)."""
        row = self.example_row(item, track, time)
        if by not in self._indexes:
            self._indexes[by] = VectorIndex(self._vectors(by), self.folder, by, self.brute_force_limit)
        index = self._indexes[by]
        scores = index.similarity(index.rows[row])
        scores[row] = max(float(scores[row]), 1.0)   # the example is itself, whatever float rounding says
        example = {"item": item, "track": int(track), "frame": int(self.table.frame[row]),
                   "time": float(self.table.time[row])}
        return SearchResult(self._segments(scores, threshold, top, max_gap), [example],
                            f"like ({by}, {index.method}) over {len(self.table)} person-frames", scores)


def parse_like(text: str) -> tuple[str, int, float]:
    """``ITEM:TRACK:TIME`` (TIME in seconds) → (item, track, time); ITEM may itself contain ':'."""
    parts = str(text).rsplit(":", 2)
    try:
        item, track, time = parts[0], int(parts[1]), float(parts[2])
    except (IndexError, ValueError):
        raise SearchError(f"--like {text!r}: expected ITEM:TRACK:SECONDS, e.g. bikes:3:4.2") from None
    return item, track, time
