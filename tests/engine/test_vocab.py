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


def test_every_room_takes_groups_and_sizes_from_the_vocabulary():
    """One source: the group names and sizes each room uses are the vocabulary's, in its order."""
    from engine.a2v import net
    from engine.render import annotate, colors
    from engine.training import config as train_config
    from engine.training import model
    from engine.training.data import records

    vocab = load_vocab()
    assert (net.GROUPS, net.GROUP_SIZES, net.GROUP_PARTS) == (vocab.groups, vocab.group_sizes, vocab.group_parts)
    assert (net.NUM_PASTA, net.NUM_VERBS, net.NUM_PARTS) == (93, 157, 10)
    assert model.MODULE_SIZES == {**dict(zip(vocab.groups, vocab.group_sizes)), "verb": len(vocab.actions)}
    assert train_config.MODULES == vocab.groups + ("verb",)
    assert tuple(train_config.TrainLoopConfig().modules) == vocab.groups
    assert records.GROUPS == vocab.groups and records.NUM_VERBS == len(vocab.actions)
    assert list(colors.GROUP_COLOR_BY_NAME) == list(vocab.groups)
    assert set(annotate._GROUP_SIDES) == set(vocab.groups)  # a label side for every group, no stale name
