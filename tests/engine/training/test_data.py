"""HAKE data: official LMDB layouts, the JSON format and converter, safe unpickling, bad data messages."""
import base64
import json
import pickle

import numpy as np
import pytest

from engine.training.data import safe_pickle
from engine.training.data.convert import convert, read_records
from engine.training.data.dataset import (
    HakeImages,
    build_batch,
    choose_persons,
    label_vectors,
)
from engine.training.data.lmdb_hake import open_env
from engine.training.data.records import DataError, ImageRecord, PersonRecord
from engine.training.data.synthetic import generate
from engine.vocab import load_vocab


def _official_person(**over):
    """A per-person dict exactly as the official v1 Trainval_HAKE stores it (EasyDict fields)."""
    anno = {"gt_flag": 1, "human_bbox": [10.0, 20.0, 110.0, 220.0],
            "part_bboxes": np.concatenate([np.zeros((10, 1)), np.tile([[20, 30, 40, 50]], (10, 1))], 1),
            "keypoints": list(np.arange(51, dtype=float)), "verbs": [36],
            "pasta": {"foot": [0], "leg": [], "hip": [5], "hand": [0, 3], "arm": [], "head": [1],
                      "binary": [1, 0, 0, 1, 1, 1, 1, 0, 0, 1]}}
    anno.update(over)
    return anno


def _put(path, items):
    env = open_env(path, write=True)
    with env.begin(write=True) as txn:
        for key, value in items:
            txn.put(key.encode(), value)
    env.close()


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("synth"), n_train=6, n_test=3, size=64, seed=1)


def test_official_layout_plain_and_base64_pickles(tmp_path):
    value = pickle.dumps([_official_person(), _official_person(gt_flag=0, part_bboxes=None, keypoints=None)])
    _put(tmp_path / "db", [("hico-train/a.jpg", value), ("vcoco/b.jpg", base64.b64encode(value))])
    result = read_records(tmp_path / "db")
    assert [r.key for r in result.records] == ["hico-train/a.jpg", "vcoco/b.jpg"] and not result.skipped
    first, negative = result.records[0].persons
    assert first.part_boxes.shape == (10, 4) and first.part_boxes[0].tolist() == [20, 30, 40, 50]
    assert first.keypoints.shape == (17, 3) and first.keypoints[1, 0] == 3
    assert first.pasta["hand"] == [0, 3] and first.verbs == [36] and first.gt
    assert negative.part_boxes is None and negative.keypoints is None and not negative.gt
    only_vcoco = read_records(tmp_path / "db", splits=["vcoco"])
    assert [r.key for r in only_vcoco.records] == ["vcoco/b.jpg"]


def test_labels_follow_the_official_rules():
    vocab = load_vocab()
    person = PersonRecord(box=np.zeros(4, np.float32), verbs=[], pasta={"foot": [2], "hand": [0, 3]})
    pasta, verbs = label_vectors(person, vocab.group_slices)
    assert pasta.shape == (93,) and verbs.shape == (157,)
    assert pasta[2] == 1 and pasta[37] == 1 and pasta[40] == 1
    assert pasta[30] == 1 and pasta[36] == 1 and pasta[78] == 1 and pasta[92] == 1  # empty groups -> no_int
    assert pasta.sum() == 3 + 4 and verbs[57] == 1 and verbs.sum() == 1
    negative = PersonRecord(box=np.zeros(4, np.float32), verbs=[36], pasta={"foot": [2]}, gt=False)
    pasta, verbs = label_vectors(negative, vocab.group_slices)
    assert np.flatnonzero(pasta).tolist() == list(vocab.pasta_no_interaction) and np.flatnonzero(verbs).tolist() == [57]


def test_sampling_keeps_all_annotated_persons_and_few_negatives():
    persons = [PersonRecord(box=np.zeros(4, np.float32), gt=i < 2) for i in range(30)]
    chosen = choose_persons(ImageRecord("k", persons), humans_per_image=10, rng=np.random.default_rng(0))
    assert chosen[:2] == [0, 1] and len(chosen) == 2 + 9 and len(set(chosen)) == len(chosen)


def test_batch_tiles_missing_part_boxes_clips_and_scales():
    vocab = load_vocab()
    person = PersonRecord(box=np.array([-10, 0, 50, 80], np.float32))
    batch = build_batch(ImageRecord("k", [person]), 0, [0], (100, 60), 0.5, vocab.group_slices)
    assert batch.image_size == (50, 30)
    assert batch.boxes[0].tolist() == [-5, 0, 25, 40]  # person box scaled, not clipped
    assert batch.part_boxes[0, 3].tolist() == [0, 0, 25, 30]  # tiled person box, clipped to the image
    assert not batch.has_pose[0] and np.all(batch.keypoints == 0)


def test_json_and_lmdb_convert_both_ways_without_loss(tmp_path, synthetic):
    written, skipped = convert(synthetic.train, tmp_path / "train.json")
    assert written == 6 and skipped == []
    text = (tmp_path / "train.json").read_text()
    assert json.loads(text)["format"] == "a2v-hake/1"
    convert(tmp_path / "train.json", tmp_path / "back")
    original = read_records(synthetic.train).records
    back = read_records(tmp_path / "back").records
    for a, b in zip(original, back):
        pa, pb = a.persons[0], b.persons[0]
        assert a.key == b.key and pa.pasta == pb.pasta and pa.verbs == pb.verbs
        np.testing.assert_array_equal(pa.box, pb.box)
        np.testing.assert_array_equal(pa.part_boxes, pb.part_boxes)
        np.testing.assert_array_equal(pa.keypoints, pb.keypoints)
    preds, _ = convert(synthetic.test_pred, tmp_path / "pred.json", kind="pred")
    assert preds == 3 and read_records(tmp_path / "pred.json", kind="pred").records[0].persons[0].score >= 0.9


def test_json_accepts_names(tmp_path):
    data = {"format": "a2v-hake/1", "kind": "train", "images": {"x/1.jpg": [
        {"box": [0, 0, 10, 10], "verbs": ["ride"], "pasta": {"hand": ["hold"], "foot": [1]}}]}}
    (tmp_path / "d.json").write_text(json.dumps(data))
    person = read_records(tmp_path / "d.json").records[0].persons[0]
    vocab = load_vocab()
    assert person.verbs == [vocab.actions.index("ride")]
    assert person.pasta["hand"] == [vocab.pasta[vocab.group_slices[3]].index("hold")] and person.pasta["foot"] == [1]


def test_bad_record_is_reported_with_its_key_and_skipped(tmp_path, caplog):
    good = pickle.dumps([_official_person()])
    wrong_shape = pickle.dumps([_official_person(part_bboxes=np.zeros((9, 5)))])
    out_of_range = pickle.dumps([_official_person(pasta={"hip": [6]})])
    _put(tmp_path / "db", [("s/good.jpg", good), ("s/shape.jpg", wrong_shape), ("s/range.jpg", out_of_range),
                           ("s/garbage.jpg", b"not a pickle")])
    result = read_records(tmp_path / "db")
    assert [r.key for r in result.records] == ["s/good.jpg"]
    text = "\n".join(result.skipped)
    assert "s/shape.jpg[0].part_bboxes: expected shape 10x4 (or official 10x5), got 9x5" in text
    assert "s/range.jpg[0].pasta.hip: index 6 out of range 0..5" in text
    assert "s/garbage.jpg" in text
    assert "s/shape.jpg" in caplog.text


def test_pickles_naming_code_are_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            import os
            return (os.system, ("echo pwned",))

    with pytest.raises(safe_pickle.UnsafePickleError, match="posix.system|os.system"):
        safe_pickle.loads(pickle.dumps(Evil()))
    _put(tmp_path / "db", [("s/evil.jpg", pickle.dumps([Evil()])), ("s/good.jpg", pickle.dumps([_official_person()]))])
    result = read_records(tmp_path / "db")
    assert len(result.records) == 1 and "refusing to load" in result.skipped[0]


def test_easydict_like_values_are_read():
    class EasyDict(dict):  # pickled under this module's name, mapped by name only
        pass

    EasyDict.__module__ = "easydict"
    EasyDict.__qualname__ = "EasyDict"
    import sys
    import types

    module = types.ModuleType("easydict")
    module.EasyDict = EasyDict
    sys.modules["easydict"] = module
    try:
        value = EasyDict(human_bbox=[1, 2, 3, 4])
        value.__dict__["human_bbox"] = [1, 2, 3, 4]
        data = pickle.dumps([value])
    finally:
        del sys.modules["easydict"]
    loaded = safe_pickle.loads(data)
    assert loaded[0]["human_bbox"] == [1, 2, 3, 4] and loaded[0].human_bbox == [1, 2, 3, 4]


def test_official_loss_weights_npy_is_read_safely(tmp_path):
    weights = {"foot": np.linspace(0.5, 2, 16, dtype=np.float32), "verb": np.ones(157, np.float32)}
    np.save(tmp_path / "loss_weights.npy", weights, allow_pickle=True)
    loaded = safe_pickle.load_file(tmp_path / "loss_weights.npy")
    np.testing.assert_array_equal(loaded["foot"], weights["foot"])


def test_empty_lmdb_is_a_clear_error(tmp_path):
    _put(tmp_path / "empty", [])
    with pytest.raises(DataError, match="the LMDB is empty"):
        read_records(tmp_path / "empty")


def test_missing_database_names_the_path_and_the_setting(tmp_path):
    with pytest.raises(DataError, match=r"nowhere: LMDB not found; check the path in the config"):
        read_records(tmp_path / "nowhere")
    with pytest.raises(DataError, match="JSON data file not found"):
        read_records(tmp_path / "nowhere.json")
    with pytest.raises(DataError, match="no data path given"):
        read_records("")


def test_missing_image_is_reported_and_skipped(tmp_path, synthetic):
    records = read_records(synthetic.train).records
    (synthetic.image_root / records[0].key).rename(tmp_path / "moved.png")
    try:
        images = HakeImages(records, synthetic.image_root)
        assert len(images) == len(records) - 1
        assert images.skipped[0].startswith(f"{records[0].key}: image missing at ")
        with pytest.raises(DataError, match="no image found under .*check data.image_root"):
            HakeImages(records[:1], synthetic.image_root)
        with pytest.raises(DataError, match="data.image_root is not set"):
            HakeImages(records, "")
    finally:
        (tmp_path / "moved.png").rename(synthetic.image_root / records[0].key)


def test_synthetic_states_are_painted_in_the_part_boxes(synthetic):
    from engine.cvcompat import cv2
    from engine.training.data.synthetic import PART_GROUP, STATE_COLORS

    record = read_records(synthetic.train).records[0]
    person = record.persons[0]
    image = cv2.imread(str(synthetic.image_root / record.key))
    vocab = load_vocab()
    for part, (x1, y1, x2, y2) in enumerate(person.part_boxes):
        group = vocab.groups[PART_GROUP[part]]
        state = person.pasta[group][0]
        centre = image[int((y1 + y2) / 2), int((x1 + x2) / 2)].astype(int)
        if state == vocab.group_sizes[PART_GROUP[part]] - 1:
            assert tuple(centre) == (150, 170, 190)  # no_interaction: plain body colour
        else:
            assert np.abs(centre - np.array(STATE_COLORS[state])).max() <= 25
