"""Language matrix: built offline (bundled MiniLM; a tiny BERT saved here = the bert-base-uncased path),
cached by encoder and vocabulary, and the official .npy shape-checked on load."""
import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.a2v import language as lang
from engine.a2v.language import (
    LanguageError,
    build_language_matrix,
    cache_file,
    language_matrix,
    pasta_phrases,
)
from engine.vocab import load_vocab


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    """A random 1-layer BERT (hidden 16) with a word-level vocabulary, saved like bert-base-uncased."""
    from transformers import BertConfig, BertModel, BertTokenizer

    folder = tmp_path_factory.mktemp("tiny-bert")
    words = sorted({w for pair in pasta_phrases(load_vocab()) for phrase in pair for w in phrase.split()})
    vocab_file = folder / "vocab.txt"
    vocab_file.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words) + "\n")
    BertTokenizer(str(vocab_file)).save_pretrained(str(folder))
    config = BertConfig(vocab_size=5 + len(words), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32)
    torch.manual_seed(0)
    BertModel(config).eval().save_pretrained(str(folder))
    return folder


def _reference_embedding(folder: Path, phrase: str) -> np.ndarray:
    """Sum of the last-layer token vectors of one phrase, [CLS] and [SEP] excluded, computed directly."""
    from transformers import BertModel, BertTokenizer

    tokenizer = BertTokenizer.from_pretrained(str(folder))
    model = BertModel.from_pretrained(str(folder)).eval()
    ids = tokenizer(phrase, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**ids).last_hidden_state[0]
    return hidden[1:-1].sum(0).numpy()


def test_tiny_bert_matrix_is_part_then_state_token_sums(tiny_bert):
    vocab = load_vocab()
    matrix = build_language_matrix(str(tiny_bert), vocab)
    assert matrix.shape == (93, 32) and matrix.dtype == np.float32
    k = vocab.pasta.index("no_interaction")               # foot: no_interaction (two-token phrase)
    np.testing.assert_allclose(matrix[k, :16], _reference_embedding(tiny_bert, "foot"), atol=1e-5)
    np.testing.assert_allclose(matrix[k, 16:], _reference_embedding(tiny_bert, "no interaction"), atol=1e-5)
    hold = [i for i, name in enumerate(vocab.pasta) if name == "hold"][0]
    np.testing.assert_allclose(matrix[hold, :16], _reference_embedding(tiny_bert, "hand"), atol=1e-5)
    np.testing.assert_allclose(matrix[hold, 16:], _reference_embedding(tiny_bert, "hold"), atol=1e-5)


def test_built_matrix_is_cached_by_encoder_and_vocabulary(tiny_bert, monkeypatch):
    vocab = load_vocab()
    first = build_language_matrix(str(tiny_bert), vocab)
    path = cache_file(str(tiny_bert), vocab)
    assert path.is_file() and path.parent == Path(os.environ["A2V_HOME"]) / "language"
    assert vocab.fingerprint() in path.name and path.name.startswith("tiny-bert")

    def no_model(*args, **kwargs):
        raise AssertionError("the cached matrix should have been used")

    monkeypatch.setattr(lang, "embed_phrases", no_model)
    np.testing.assert_array_equal(build_language_matrix(str(tiny_bert), vocab), first)
    changed = dataclasses.replace(vocab, pasta=("stamp on",) + vocab.pasta[1:])
    assert cache_file(str(tiny_bert), changed) != path
    with pytest.raises(AssertionError, match="cached"):
        build_language_matrix(str(tiny_bert), changed)


def test_bundled_minilm_builds_offline():
    vocab = load_vocab()
    matrix = language_matrix("minilm", vocab)
    assert matrix.shape == (93, 768)
    foot = vocab.group_slices[0]
    # Same part → same first half; same state phrase in two groups → same second half.
    np.testing.assert_array_equal(matrix[foot.start, :384], matrix[foot.stop - 1, :384])
    ends = list(vocab.pasta_no_interaction)
    np.testing.assert_allclose(matrix[ends[0], 384:], matrix[ends[-1], 384:], atol=1e-5)
    assert not np.allclose(matrix[ends[0], :384], matrix[ends[-1], :384])
    assert cache_file("minilm", vocab).is_file()


def test_official_matrix_is_loaded_and_shape_checked():
    home = Path(os.environ["A2V_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    with pytest.raises(LanguageError, match="metadata"):
        language_matrix("official")                         # not there: the manual steps
    official = np.random.default_rng(0).standard_normal((93, 1536)).astype(np.float32)
    np.save(home / "pasta_language_matrix.npy", official)
    np.testing.assert_array_equal(language_matrix("official"), official)
    np.save(home / "pasta_language_matrix.npy", official[:, :768])
    with pytest.raises(LanguageError, match=r"expected \(93, 1536\)"):
        language_matrix("official")


def test_matrix_files_and_arrays_are_checked(tmp_path):
    good = tmp_path / "mine.npy"
    np.save(good, np.ones((93, 20), np.float32))
    assert language_matrix(str(good)).shape == (93, 20)
    bad = tmp_path / "bad.npy"
    np.save(bad, np.ones((92, 20), np.float32))
    with pytest.raises(LanguageError, match=r"\(93, 2D\)"):
        language_matrix(str(bad))
    with pytest.raises(LanguageError, match=r"\(93, 2D\)"):
        language_matrix(np.ones((10, 4)))


def test_unknown_encoder_is_a_clear_error():
    with pytest.raises(LanguageError, match="not available"):
        language_matrix("bert-base-uncased")                 # registered, not in the (empty) cache


# ------------------------------------------------------------------------------------------- auto order

def _install_as_bert_base_uncased(tiny_bert: Path, home: Path) -> Path:
    """The tiny BERT put where the registry expects bert-base-uncased (a stand-in of the same format:
    the selection rule looks at the cache, not at the model's size)."""
    from transformers import BertTokenizerFast

    target = home / "bert-base-uncased"
    target.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "model.safetensors", "vocab.txt"):
        (target / name).write_bytes((tiny_bert / name).read_bytes())
    BertTokenizerFast.from_pretrained(str(tiny_bert)).save_pretrained(str(target))   # tokenizer.json + config
    return target


def test_auto_order_official_then_bert_then_minilm(tiny_bert, caplog):
    from engine.a2v.language import load_language, resolve_language

    home = Path(os.environ["A2V_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    vocab = load_vocab()

    # 1. Nothing cached: the bundled MiniLM, with the one-line note that the vector is not the official one.
    choice = resolve_language("auto")
    assert (choice.used, choice.dim, choice.vector_dim, choice.official) == ("minilm", 768, 3840, False)
    assert "3,840-d" in choice.note and "not the official" in choice.note and "\n" not in choice.note
    matrix, loaded = load_language("auto", vocab)
    assert matrix.shape == (93, 768) and loaded == choice
    np.testing.assert_array_equal(matrix, language_matrix("minilm", vocab))
    assert loaded.summary().startswith("MiniLM (768-d) [auto]: A2V vector is 3,840-d (MiniLM language rows), "
                                       "not the official 4,608-d one; neither")

    # 2. bert-base-uncased cached: built by the official recipe (here the tiny stand-in, 2 × 16 columns).
    _install_as_bert_base_uncased(tiny_bert, home)
    assert resolve_language("auto").used == "bert-base-uncased"
    matrix, loaded = load_language("auto", vocab)
    assert loaded.used == "bert-base-uncased" and not loaded.official and loaded.dim == 32
    np.testing.assert_array_equal(matrix, build_language_matrix("bert-base-uncased", vocab))
    np.testing.assert_array_equal(matrix, build_language_matrix(str(tiny_bert), vocab, use_cache=False))

    # 3. The official .npy cached: it wins.
    official = np.random.default_rng(1).standard_normal((93, 1536)).astype(np.float32)
    np.save(home / "pasta_language_matrix.npy", official)
    matrix, loaded = load_language("auto", vocab)
    assert (loaded.used, loaded.official, loaded.dim, loaded.vector_dim, loaded.note) == ("official", True, 1536,
                                                                                          4608, "")
    np.testing.assert_array_equal(matrix, official)
    np.testing.assert_array_equal(language_matrix("auto", vocab), official)
    assert loaded.summary() == "official pasta_language_matrix.npy (1536-d; A2V vector 4,608-d) [auto]"

    # A cached official file that is unusable is skipped with a warning, not a crash.
    np.save(home / "pasta_language_matrix.npy", official[:, :100])
    matrix, loaded = load_language("auto", vocab)
    assert loaded.used == "bert-base-uncased" and "official unusable" in loaded.note
    assert "cached but unusable" in caplog.text
    # An explicit choice still fails loudly.
    with pytest.raises(LanguageError, match=r"expected \(93, 1536\)"):
        load_language("official", vocab)


def test_defaults_auto_language_fast_on_cpu_parity_on_gpu():
    from engine.config import Config, load_config
    from engine.paths import CONFIGS

    assert Config().a2v.language == "auto" and load_config().a2v.language == "auto"
    assert load_config().a2v.mode == "fast"
    gpu = load_config(CONFIGS / "gpu.yaml")
    assert gpu.a2v.mode == "parity" and gpu.a2v.language == "auto"
