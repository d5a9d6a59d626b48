"""2-D map of A2V vectors: PCA through numpy's SVD, kept steady from one refresh to the next (Qt-free)."""
from __future__ import annotations

import collections
from typing import Optional

import numpy as np


def balanced_vector(visual: Optional[np.ndarray], language: Optional[np.ndarray]) -> Optional[np.ndarray]:
    """``visual ‖ language`` with each half scaled to unit L2 norm, so both halves count equally.

    The raw visual half (3072 ReLU features) has a much larger norm than the language half; unscaled, the
    map would show the visual half only. Returns (3072 + L,) float32, or None when either half is missing.
    """
    if visual is None or language is None:
        return None
    parts = []
    for half in (visual, language):
        half = np.asarray(half, np.float32).ravel()
        parts.append(half / max(float(np.linalg.norm(half)), 1e-8))
    return np.concatenate(parts)


class VectorProjector:
    """Projects vectors to 2-D with the top two principal components of a pool of recent vectors.

    The basis comes from the last ``pool_size`` vectors seen (not only the current frame's), so the map
    does not jump when people enter or leave; component signs are fixed (largest loading positive) so it
    does not mirror between refreshes either.
    """

    def __init__(self, pool_size: int = 256) -> None:
        self.pool: collections.deque = collections.deque(maxlen=pool_size)

    def add(self, vector: np.ndarray) -> None:
        self.pool.append(np.asarray(vector, np.float32))

    def project(self, vectors: np.ndarray) -> np.ndarray:
        """``vectors`` (N, D) → (N, 2) coordinates; all zeros when the pool cannot define two axes."""
        vectors = np.asarray(vectors, np.float32)
        if vectors.ndim != 2 or len(vectors) == 0:
            return np.zeros((0, 2), np.float32)
        pool = [v for v in self.pool if v.shape == vectors.shape[1:]]
        if len(pool) < 2:
            return np.zeros((len(vectors), 2), np.float32)
        data = np.stack(pool)
        mean = data.mean(axis=0)
        _, singular, components = np.linalg.svd(data - mean, full_matrices=False)
        axes = components[:2]
        if singular[0] <= 1e-8:
            return np.zeros((len(vectors), 2), np.float32)
        signs = np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])
        axes = axes * signs[:, None]
        coords = (vectors - mean) @ axes.T
        if coords.shape[1] < 2:  # only one direction of variation so far
            coords = np.concatenate([coords, np.zeros((len(coords), 2 - coords.shape[1]), np.float32)], axis=1)
        return coords.astype(np.float32)
