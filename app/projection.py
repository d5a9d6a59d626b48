"""2-D map of A2V vectors: PCA (top two principal axes), kept steady from one refresh to the next (Qt-free)."""
from __future__ import annotations

import collections
import time
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
    does not mirror between refreshes either. The decomposition of the pool (128 × 4608 by default) is the costly
    part, so the basis is refitted at most every ``refit_s`` seconds; projecting with it is cheap.
    """

    def __init__(self, pool_size: int = 128, refit_s: float = 2.0, clock=time.monotonic) -> None:
        self.pool: collections.deque = collections.deque(maxlen=pool_size)
        self.refit_s = refit_s
        self.clock = clock
        self.fits = 0
        self._basis: Optional[tuple[np.ndarray, np.ndarray]] = None  # (mean (D,), axes (2, D))
        self._fitted_at = float("-inf")

    def add(self, vector: np.ndarray) -> None:
        self.pool.append(np.asarray(vector, np.float32))

    def _fit(self, dim: int) -> Optional[tuple[np.ndarray, np.ndarray]]:
        pool = [v for v in self.pool if v.shape == (dim,)]
        if len(pool) < 2:
            return None
        data = np.stack(pool)
        mean = data.mean(axis=0)
        centred = data - mean
        # The right singular vectors of the centred pool (N × D, N ≪ D) from the N × N Gram matrix: same
        # axes as np.linalg.svd, ~15× faster at N = 128, D = 4608.
        eigenvalues, eigenvectors = np.linalg.eigh(centred @ centred.T)
        order = np.argsort(eigenvalues)[::-1][:2]
        if eigenvalues[order[0]] <= 1e-8:
            return None
        axes = np.zeros((2, dim), np.float32)
        for row, k in enumerate(order):
            if eigenvalues[k] > 1e-8 * eigenvalues[order[0]]:  # only one direction of variation so far
                axes[row] = eigenvectors[:, k] @ centred / np.sqrt(eigenvalues[k])
        loading = np.abs(axes).argmax(axis=1)
        signs = np.sign(axes[np.arange(2), loading])
        signs[signs == 0] = 1.0
        self.fits += 1
        return mean, (axes * signs[:, None]).astype(np.float32)

    def project(self, vectors: np.ndarray) -> np.ndarray:
        """``vectors`` (N, D) → (N, 2) coordinates; all zeros when the pool cannot define the axes yet."""
        vectors = np.asarray(vectors, np.float32)
        if vectors.ndim != 2 or len(vectors) == 0:
            return np.zeros((0, 2), np.float32)
        now = self.clock()
        basis = self._basis
        if basis is None or basis[0].shape[0] != vectors.shape[1] or now - self._fitted_at >= self.refit_s:
            basis = self._fit(vectors.shape[1])
            if basis is not None:
                self._basis, self._fitted_at = basis, now
        if basis is None:
            return np.zeros((len(vectors), 2), np.float32)
        mean, axes = basis
        return ((vectors - mean) @ axes.T).astype(np.float32)
