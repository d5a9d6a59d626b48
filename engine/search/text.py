"""Text queries over PaSta and actions: what a query means, as weights over the 250 concepts.

A *concept* is one of the 92 PaSta states other than no_interaction (phrased ``"<part> <state>"``, e.g.
``"hand hold"``, the same [part ‖ state] pairing the language matrix uses) or one of the 156 actions other
than no_interaction (``"ride"``, ``"talk on"``; ``_`` read as a space, parentheses kept: they carry
meaning, "close (e.g., a door, a box)").

The rule, and why:

1. The query and every concept are embedded with the *same* text encoder that built the run's language
   matrix, pooled the same way (:func:`engine.a2v.language.embed_phrases`: last-layer token vectors
   summed over the phrase's tokens; cosine makes the sum a mean), so a query lives in the space the A2V
   language vector was built in.
2. ``w = softmax(cos(query, concept) / temperature)`` over the ``top_concepts`` most similar concepts,
   zero elsewhere. A query rarely means one concept exactly ("holding a cup" is *hand hold* and a bit of
   *hand carry*), so several concepts share the weight; the short temperature keeps an exact name
   ("kick") almost all on its own concept, and the cut-off keeps 240 faintly similar concepts from
   adding noise.
3. A person-frame's score is ``Σ_c w_c · p_c`` with ``p`` its PaSta and action probabilities: the expected
   probability of what the query means, in [0, 1], comparable across queries and runs. It needs no
   visual features, so it works on any run that has PaSta, and it is a dot product, so 100k person-frames
   score in about a millisecond.

Measured retrieval (``tests/engine/search/test_text.py`` holds it): see ``docs/search.md``.
"""
from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from engine.vocab import NO_INTERACTION, Vocabulary, load_vocab

log = logging.getLogger(__name__)

TEMPERATURE = 0.05
TOP_CONCEPTS = 5
CONCEPT_RECIPE = "part-state+action/sum-pool/1"


class SearchError(ValueError):
    """A query or a folder that cannot be searched, phrased as one line with the fix."""


def pasta_phrase(vocab: Vocabulary, k: int) -> str:
    return f"{vocab.groups[vocab.pasta_group[k]]} {vocab.pasta[k]}".replace("_", " ")


def action_phrase(vocab: Vocabulary, a: int) -> str:
    return vocab.actions[a].replace("_", " ")


@dataclass(frozen=True)
class Concepts:
    """The searchable concepts of a vocabulary, in score-vector order: PaSta first (their global index
    ``pasta_index``), then actions (``action_index``). ``labels`` read ``"hand: hold"`` / ``"action: ride"``."""

    phrases: tuple[str, ...]
    labels: tuple[str, ...]
    pasta_index: np.ndarray     # (P,) int: global PaSta index of concept i (i < P)
    action_index: np.ndarray    # (A,) int: action index of concept P + j

    @property
    def size(self) -> int:
        return len(self.phrases)

    @classmethod
    def of(cls, vocab: Vocabulary) -> "Concepts":
        pasta = [k for k in range(len(vocab.pasta)) if vocab.pasta[k] != NO_INTERACTION]
        actions = [a for a in range(len(vocab.actions)) if vocab.actions[a] != NO_INTERACTION]
        phrases = [pasta_phrase(vocab, k) for k in pasta] + [action_phrase(vocab, a) for a in actions]
        labels = [vocab.pasta_label(k) for k in pasta] + [f"action: {vocab.actions[a]}" for a in actions]
        return cls(tuple(phrases), tuple(labels), np.asarray(pasta, np.int64), np.asarray(actions, np.int64))

    def probabilities(self, pasta: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """(M, C) float32 concept probabilities from ``pasta`` (M, 93) and ``actions`` (M, 157)."""
        return np.concatenate([np.asarray(pasta, np.float32)[:, self.pasta_index],
                               np.asarray(actions, np.float32)[:, self.action_index]], axis=1)


class TextEncoder:
    """Phrases → unit vectors with a Hugging Face encoder (``minilm``, ``bert-base-uncased`` or a folder).

    Concept embeddings are computed once per encoder and vocabulary and cached beside the language
    matrices (``<weights cache>/search/``); queries are embedded on demand.
    """

    def __init__(self, encoder: str = "minilm", vocab: Optional[Vocabulary] = None) -> None:
        from engine.a2v.language import LanguageError, _encoder_dir

        self.name = str(encoder)
        self.vocab = vocab or load_vocab()
        try:
            self.folder = _encoder_dir(encoder)
        except LanguageError as exc:
            raise SearchError(str(exc)) from None
        self.concepts = Concepts.of(self.vocab)
        self._concept_vectors: Optional[np.ndarray] = None

    def embed(self, phrases: Sequence[str]) -> np.ndarray:
        """(P, D) float32 unit vectors."""
        from engine.a2v.language import embed_phrases

        vectors = embed_phrases(self.folder, list(phrases))
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)

    def _cache_path(self) -> Path:
        from engine.weights.store import cache_dir

        digest = hashlib.sha256(CONCEPT_RECIPE.encode())
        config = self.folder / "config.json"
        digest.update(config.read_bytes() if config.is_file() else str(self.folder).encode())
        digest.update("\n".join(self.concepts.phrases).encode())
        stem = Path(self.name).name.replace(os.sep, "_")[:40] or "encoder"
        return cache_dir() / "search" / f"concepts-{stem}-{digest.hexdigest()[:16]}.npy"

    @property
    def concept_vectors(self) -> np.ndarray:
        """(C, D) unit vectors of :attr:`concepts`, cached on disk after the first build."""
        if self._concept_vectors is None:
            path = self._cache_path()
            vectors = None
            if path.is_file():
                try:
                    vectors = np.load(path, allow_pickle=False)
                    if vectors.shape[0] != self.concepts.size:
                        vectors = None
                except (OSError, ValueError):
                    vectors = None
            if vectors is None:
                vectors = self.embed(self.concepts.phrases)
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
                np.save(tmp, vectors)
                os.replace(tmp, path)
            self._concept_vectors = vectors.astype(np.float32, copy=False)
        return self._concept_vectors

    def weights(self, query: str, temperature: float = TEMPERATURE, top: int = TOP_CONCEPTS) -> np.ndarray:
        """(C,) concept weights of ``query`` (sum 1, at most ``top`` non-zero); rule in the module docstring."""
        query = " ".join(str(query).split())
        if not query:
            raise SearchError("empty query; describe what people do, e.g. \"hand holds something\"")
        similarity = self.concept_vectors @ self.embed([query])[0]
        return concept_weights(similarity, temperature, top)

    def explain(self, weights: np.ndarray, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` concepts that carry most of ``weights``: ``[(label, weight), ...]``."""
        order = np.argsort(-weights)[:k]
        return [(self.concepts.labels[i], float(weights[i])) for i in order if weights[i] > 0]


def concept_weights(similarity: np.ndarray, temperature: float = TEMPERATURE, top: int = TOP_CONCEPTS) -> np.ndarray:
    """Softmax of ``similarity / temperature`` over its ``top`` largest entries; zeros elsewhere."""
    similarity = np.asarray(similarity, np.float64)
    top = max(1, min(int(top), similarity.size))
    keep = np.argpartition(-similarity, top - 1)[:top]
    logits = similarity[keep] / max(float(temperature), 1e-6)
    logits -= logits.max()
    weights = np.zeros(similarity.size, np.float32)
    weights[keep] = np.exp(logits) / np.exp(logits).sum()
    return weights


def score_person_frames(concept_probabilities: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(M,) scores ``Σ_c w_c p_c`` from (M, C) concept probabilities and (C,) weights."""
    return np.asarray(concept_probabilities, np.float32) @ np.asarray(weights, np.float32)
