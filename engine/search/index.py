"""Nearest person-frames by vector: brute force in numpy up to ``BRUTE_FORCE_LIMIT`` rows, faiss beyond.

Where the switch is and why: an exact scan of M rows × 3072 floats is one matrix-vector product
(100k rows: 1.2 GB of vectors, about 0.1 s per query on two cores) and gives every row a score, which
segment merging wants. Past 100k rows the scan's memory and time grow with every clip added, so an inverted-file
index (faiss ``IndexIVFFlat``: k-means cells over a sample, inner product on unit vectors = cosine, the
``nprobe`` nearest cells searched) answers the ``neighbours`` nearest rows in milliseconds; only those
rows get scores (the rest are ``-inf``). HNSW was measured first and dropped: on 3072-d rows its build
took 25 s per 5,000 rows here, about 8 minutes for 100k. The index is built once per
folder and vector kind and saved under ``<folder>/.a2v_search/``, keyed by a fingerprint of the rows, so
a later search of the same folder reuses it.
"""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Optional

import numpy as np

log = logging.getLogger(__name__)

BRUTE_FORCE_LIMIT = 100_000
TRAIN_POINTS_PER_CELL = 30   # faiss asks for >= 39 per cell; 30 keeps training short and cells still useful


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """(M, D) float32 rows scaled to length 1 (zero rows stay zero)."""
    vectors = np.asarray(vectors, np.float32)
    # Norms accumulated in float64 without a float64 copy of the rows (100k × 3072 would be 2.4 GB).
    norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors, dtype=np.float64))[:, None]
    return vectors / np.maximum(norms, 1e-12).astype(np.float32)


class VectorIndex:
    """Cosine similarity of a query vector to M rows.

    ``vectors`` (M, D); ``folder``: where a faiss index may be cached (None = not cached);
    ``brute_force_limit``: rows up to which the exact scan is used.
    """

    def __init__(self, vectors: np.ndarray, folder: Optional[Path] = None, kind: str = "visual",
                 brute_force_limit: int = BRUTE_FORCE_LIMIT) -> None:
        self.rows = unit_rows(vectors)
        self.folder, self.kind = folder, kind
        self.exact = self.rows.shape[0] <= brute_force_limit
        self._faiss = None

    @property
    def method(self) -> str:
        return "exact numpy scan" if self.exact else "faiss IVF"

    def _fingerprint(self) -> str:
        digest = hashlib.sha256(f"{self.kind}:{self.rows.shape}".encode())
        step = max(1, self.rows.shape[0] // 1024)          # a sample of rows: cheap and changes with the data
        digest.update(np.ascontiguousarray(self.rows[::step]).tobytes())
        return digest.hexdigest()[:16]

    def _index(self):
        if self._faiss is not None:
            return self._faiss
        import faiss

        path = None
        if self.folder is not None:
            path = Path(self.folder) / ".a2v_search" / f"{self.kind}-{self._fingerprint()}.faiss"
            if path.is_file():
                try:
                    self._faiss = faiss.read_index(str(path))
                    log.info("search: reusing the %s index %s", self.kind, path)
                    return self._faiss
                except RuntimeError:
                    log.warning("search: %s is unreadable; rebuilding it", path)
        m, d = self.rows.shape
        cells = int(min(4096, max(1, round(np.sqrt(m)))))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, cells, faiss.METRIC_INNER_PRODUCT)
        index.cp.niter = 10
        index.cp.min_points_per_centroid = 1   # small folders (tests) train on what they have, without warnings
        sample = np.random.default_rng(0).permutation(m)[:TRAIN_POINTS_PER_CELL * cells]
        index.train(self.rows[np.sort(sample)])
        index.add(self.rows)
        index.nprobe = max(8, cells // 16)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                faiss.write_index(index, str(tmp))
                os.replace(tmp, path)
            except OSError as exc:   # a read-only folder still searches, it just rebuilds next time
                log.warning("search: cannot save the index in %s (%s)", path.parent, exc)
        self._faiss = index
        return index

    def similarity(self, query: np.ndarray, neighbours: int = 2000) -> np.ndarray:
        """(M,) cosine similarity of every row to ``query`` (D,); with faiss, rows beyond the
        ``neighbours`` nearest are ``-inf``."""
        q = unit_rows(np.asarray(query, np.float32)[None])[0]
        if self.exact:
            return self.rows @ q
        index = self._index()
        import faiss

        faiss.omp_set_num_threads(1)  # one query: threads only add start-up cost (and spin on a busy machine)
        k = min(int(neighbours), self.rows.shape[0])
        scores, ids = index.search(q[None], k)
        out = np.full(self.rows.shape[0], -np.inf, np.float32)
        valid = ids[0] >= 0
        out[ids[0][valid]] = scores[0][valid]
        return out
