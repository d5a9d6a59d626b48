"""Text retrieval, measured: every PaSta and action name and 60 paraphrases as queries against synthetic
persons that each have one concept high (the table in docs/search.md comes from these numbers)."""
import numpy as np
import pytest

from engine.search.paraphrases import PARAPHRASES
from engine.search.text import Concepts, SearchError, TextEncoder, concept_weights, score_person_frames
from engine.vocab import load_vocab


def recall(encoder: TextEncoder, queries, targets, ks=(1, 5), seed=0):
    """Recall@k of ``queries`` (each with a set of acceptable concept indices) against one synthetic
    person per concept whose probability of that concept is 0.9 and of everything else U(0, 0.1)."""
    n = encoder.concepts.size
    rng = np.random.default_rng(seed)
    probabilities = rng.uniform(0, 0.1, (n, n)).astype(np.float32)
    probabilities[np.arange(n), np.arange(n)] = 0.9
    found = {k: 0 for k in ks}
    for vector, accept in zip(encoder.embed(queries), targets):
        weights = concept_weights(encoder.concept_vectors @ vector)
        scores = score_person_frames(probabilities, weights)
        rank = min(int((scores > scores[t]).sum()) for t in accept)
        for k in ks:
            found[k] += rank < k
    return {k: found[k] / len(queries) for k in ks}


@pytest.fixture(scope="module")
def minilm():
    return TextEncoder("minilm")


def _name_queries(encoder):
    vocab, c = encoder.vocab, encoder.concepts
    queries = [vocab.pasta_label(int(k)) for k in c.pasta_index] + [vocab.actions[int(a)] for a in c.action_index]
    return queries, [[i] for i in range(c.size)]


def _paraphrase_queries(encoder):
    index = {label: i for i, label in enumerate(encoder.concepts.labels)}
    return [q for q, _ in PARAPHRASES], [[index[t] for t in targets] for _, targets in PARAPHRASES]


def test_concepts_cover_every_state_and_action_but_no_interaction():
    vocab = load_vocab()
    concepts = Concepts.of(vocab)
    assert concepts.size == len(vocab.pasta) - len(vocab.groups) + len(vocab.actions) - 1
    assert "hand: hold" in concepts.labels and "action: ride" in concepts.labels
    assert not any("no_interaction" in label for label in concepts.labels)
    assert len(PARAPHRASES) >= 40
    assert all(t in concepts.labels for _, targets in PARAPHRASES for t in targets)


def test_every_name_finds_its_person_with_minilm(minilm):
    queries, targets = _name_queries(minilm)
    result = recall(minilm, queries, targets)
    print(f"names ({len(queries)}): recall@1 {result[1]:.3f}, recall@5 {result[5]:.3f}")
    assert result[1] >= 0.98 and result[5] >= 0.99


def test_paraphrases_find_their_person_with_minilm(minilm):
    queries, targets = _paraphrase_queries(minilm)
    result = recall(minilm, queries, targets)
    print(f"paraphrases ({len(queries)}): recall@1 {result[1]:.3f}, recall@5 {result[5]:.3f}")
    assert result[1] >= 0.9 and result[5] >= 0.95


def test_paraphrases_with_bert_when_cached():
    from engine.weights.store import WeightsError, locate

    try:
        locate("bert-base-uncased")
    except WeightsError:
        pytest.skip("bert-base-uncased is not cached here (python main.py weights fetch bert-base-uncased)")
    bert = TextEncoder("bert-base-uncased")
    queries, targets = _paraphrase_queries(bert)
    result = recall(bert, queries, targets)
    print(f"bert paraphrases: recall@1 {result[1]:.3f}, recall@5 {result[5]:.3f}")
    assert result[5] >= 0.5


def test_weights_are_a_distribution_over_few_concepts(minilm):
    weights = minilm.weights("kicking a ball")
    assert weights.shape == (minilm.concepts.size,)
    assert np.isclose(weights.sum(), 1.0) and (weights > 0).sum() <= 5
    assert minilm.explain(weights, 1)[0][0] in ("action: kick", "foot: kick")
    with pytest.raises(SearchError, match="empty query"):
        minilm.weights("   ")


def test_concept_vectors_are_cached_on_disk(minilm, tmp_path, monkeypatch):
    first = TextEncoder("minilm")
    path = first._cache_path()
    vectors = first.concept_vectors
    assert path.is_file()
    np.testing.assert_array_equal(np.load(path), vectors)
