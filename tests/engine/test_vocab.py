"""The vocabulary's counts and index layout are the model's output layout."""
import pytest

from engine.vocab import VocabularyError, load_vocab


def test_counts_and_layout():
    vocab = load_vocab()
    assert len(vocab.parts) == 10
    assert vocab.groups == ("foot", "leg", "hip", "hand", "arm", "head")
    assert vocab.group_sizes == (16, 15, 6, 34, 8, 14)
    assert len(vocab.pasta) == 93 and len(vocab.actions) == 157
    assert vocab.pasta_no_interaction == (15, 30, 36, 70, 78, 92)
    assert vocab.action_no_interaction == 57
    assert vocab.group_parts == ((0, 3), (1, 2), (4,), (6, 9), (7, 8), (5,))
    assert vocab.actions[36] == "hold" and vocab.actions[76] == "ride"
    assert vocab.pasta_label(0) == "foot: stand on"


def test_matches_shared_facts():
    import csv
    from pathlib import Path

    shared = Path(__file__).resolve().parents[2] / "shared" / "hake"
    if not shared.exists():
        pytest.skip("../shared/hake is not beside this checkout (only in the developers' workspace)")
    vocab = load_vocab()
    with open(shared / "pasta_classes.tsv") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert [r["name"] for r in rows] == list(vocab.pasta)
    assert [vocab.groups[g] for g in vocab.pasta_group] == [r["part"] for r in rows]
    with open(shared / "action_classes.tsv") as handle:
        assert [r["name"] for r in csv.DictReader(handle, delimiter="\t")] == list(vocab.actions)


def test_malformed_vocab_is_refused(tmp_path):
    path = tmp_path / "v.yaml"
    path.write_text("parts: []\ngroups:\n  - name: foot\n    parts: []\n    states: [a, b]\nactions: [x]\n")
    with pytest.raises(VocabularyError, match="must end with 'no_interaction'"):
        load_vocab(path)
