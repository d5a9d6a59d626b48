"""Item 8 (training data, checkpoints, pickles): a truncated or damaged LMDB is one line, never a Bus error;
bad records are reported and skipped; a tiny pickle cannot allocate a GiB; a checkpoint holding Python
objects, /dev/zero or a huge file is one line. Readers are fuzzed."""
from __future__ import annotations

import json
import pickle
import resource
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.training.data import safe_pickle
from engine.training.data.convert import read_records
from engine.training.data.lmdb_hake import open_env
from engine.training.data.records import DataError
from tests.reliability._util import ROOT


def _person(**over):
    anno = {"gt_flag": 1, "human_bbox": [10.0, 20.0, 110.0, 220.0], "part_bboxes": None, "keypoints": None,
            "verbs": [36], "pasta": {"foot": [0], "hand": [0, 3], "binary": [1, 0, 0, 1, 1, 1, 1, 0, 0, 1]}}
    anno.update(over)
    return anno


def _lmdb(path, values: dict) -> None:
    env = open_env(path, write=True, map_size=1 << 24)
    with env.begin(write=True) as txn:
        for key, value in values.items():
            txn.put(key.encode(), value)
    env.close()


def _read_in_child(path) -> subprocess.CompletedProcess:
    """Read in a child process: a SIGBUS there fails this test instead of killing pytest."""
    code = ("import sys; from engine.training.data.convert import read_records\n"
            "from engine.training.data.records import DataError\n"
            f"try:\n    r = read_records({str(path)!r}); print('records', len(r.records))\n"
            "except DataError as e:\n    print('error', e); sys.exit(2)\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9])
def test_truncated_lmdb_is_one_line_not_a_bus_error(tmp_path, keep):
    db = tmp_path / "db"
    _lmdb(db, {f"s/{i}.jpg": pickle.dumps([_person()]) + bytes(3000) for i in range(8)})
    data = db / "data.mdb"
    data.write_bytes(data.read_bytes()[: int(data.stat().st_size * keep)])
    proc = _read_in_child(db)
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "truncated" in proc.stdout and str(db) in proc.stdout and "Traceback" not in proc.stderr


@pytest.mark.parametrize("damage", ["zeros", "noise", "noise-1", "noise-2"])
def test_damaged_lmdb_pages_are_one_line(tmp_path, damage):
    db = tmp_path / "db"
    _lmdb(db, {f"s/{i}.jpg": pickle.dumps([_person()]) for i in range(8)})
    data = bytearray((db / "data.mdb").read_bytes())
    rng = np.random.default_rng(int(damage[-1]) if damage[-1].isdigit() else 0)
    start = 2 * 4096  # past the two meta pages: the tree itself
    data[start:] = bytes(len(data) - start) if damage == "zeros" else rng.bytes(len(data) - start)
    (db / "data.mdb").write_bytes(bytes(data))
    proc = _read_in_child(db)
    assert proc.returncode in (0, 2) and "Traceback" not in proc.stderr, proc.stderr
    if proc.returncode == 0:
        assert int(proc.stdout.split()[-1]) <= 8  # never more records than the file holds


def test_bad_records_are_reported_and_skipped(tmp_path):
    db = tmp_path / "db"
    _lmdb(db, {"s/good.jpg": pickle.dumps([_person()]),
               "s/inf_verbs.jpg": pickle.dumps([_person(verbs=[float("inf")])]),
               "s/dict_binary.jpg": pickle.dumps([_person(pasta={"binary": {"a": 1}})]),
               "s/gt_text.jpg": pickle.dumps([_person(gt_flag="false")]),
               "s/nan_keypoints.jpg": pickle.dumps([_person(keypoints=[float("nan")] * 51)]),
               "s/fraction_verb.jpg": pickle.dumps([_person(verbs=[2.5])])})
    result = read_records(db)
    assert [r.key for r in result.records] == ["s/good.jpg"]
    text = "\n".join(result.skipped)
    for key in ("inf_verbs", "dict_binary", "gt_text", "nan_keypoints", "fraction_verb"):
        assert f"s/{key}.jpg" in text


def test_json_gt_false_string_is_reported_not_read_as_true(tmp_path):
    path = tmp_path / "d.json"
    person = {"box": [1, 2, 30, 40], "gt": "false", "verbs": [], "pasta": {}}
    path.write_text(json.dumps({"format": "a2v-hake/1", "kind": "train",
                                "images": {"s/a.jpg": [person], "s/b.jpg": [dict(person, gt=False)]}}))
    result = read_records(path)
    assert [r.key for r in result.records] == ["s/b.jpg"] and result.records[0].persons[0].gt is False
    assert "s/a.jpg[0].gt" in result.skipped[0]


@pytest.mark.parametrize("payload", [
    b"\x80\x02c__builtin__\nbytearray\nJ\x00\x00\x00@\x85R.",  # bytearray(1 GiB): 33 bytes
    b"\x80\x02c__builtin__\nbytes\nJ\x00\x00\x00@\x85R.",
    b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nJ\x00\x00\x00@\x85C\x01b\x87R.",
])
def test_tiny_pickle_cannot_allocate_a_gib(payload):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(safe_pickle.UnsafePickleError, match="bytes"):
        safe_pickle.loads(payload)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # kB


def test_real_pickles_still_load():
    value = {"a": np.arange(1000.0), "b": [1, 2, "x"], "c": bytearray(b"abc"), "d": (1.5, None)}
    for protocol in (4, 5):  # (protocol 2 stores bytearray through _codecs.encode, which stays refused)
        loaded = safe_pickle.loads(pickle.dumps(value, protocol=protocol))
        np.testing.assert_array_equal(loaded["a"], value["a"])
        assert loaded["c"] == bytearray(b"abc")


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=64))
def test_fuzz_restricted_unpickler_raw_bytes(data):
    try:
        safe_pickle.loads(b"\x80\x02" + data)
    except DataError:
        pass


_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-2, 200), st.floats(), st.text(max_size=4)),
                       lambda c: st.one_of(st.lists(c, max_size=12), st.dictionaries(st.text(max_size=6), c,
                                                                                     max_size=4)), max_leaves=20)
_fields = st.fixed_dictionaries({}, optional={
    "gt_flag": _values, "human_bbox": _values, "part_bboxes": _values, "keypoints": _values, "verbs": _values,
    "pasta": st.one_of(_values, st.fixed_dictionaries({}, optional={g: _values for g in
                                                                     ("foot", "hand", "head", "binary")})),
    "human_score": _values})


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(persons=st.lists(_fields, max_size=3), kind=st.sampled_from(["train", "pred"]))
def test_fuzz_lmdb_records(tmp_path_factory, persons, kind):
    from engine.training.data.lmdb_hake import parse_value
    from engine.training.data.records import RecordError

    try:
        record = parse_value("s/x.jpg", pickle.dumps(persons), kind)
    except RecordError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("s/x.jpg")
        return
    for person in record.persons:
        assert np.isfinite(person.box).all() and isinstance(person.gt, bool)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(persons=st.lists(st.fixed_dictionaries({"box": _values}, optional={
    "gt": _values, "score": _values, "verbs": _values, "pasta": _values, "keypoints": _values,
    "part_boxes": _values}), min_size=1, max_size=3))
def test_fuzz_json_records(tmp_path, persons):
    path = tmp_path / "d.json"
    path.write_text(json.dumps({"format": "a2v-hake/1", "kind": "train", "images": {"s/a.jpg": persons}}))
    try:
        result = read_records(path)
    except DataError as exc:
        assert "\n" not in str(exc)
        return
    for person in result.records[0].persons:
        assert np.isfinite(person.box).all() and isinstance(person.gt, bool)


# ------------------------------------------------------------------------------------------- checkpoints

class _Opaque:
    pass


@pytest.mark.parametrize("make", ["python object", "module", "dev zero", "fifo", "not a checkpoint"])
def test_bad_checkpoint_is_one_line(tmp_path, make):
    import os

    from engine.training.model import _torch_load
    from engine.weights.registry import WeightsError
    from engine.weights.store import load_state_dict

    path = tmp_path / "ck.pth"
    if make == "python object":
        torch.save({"w": torch.zeros(2), "extra": _Opaque()}, path)
    elif make == "module":
        torch.save(torch.nn.Linear(2, 2), path)
    elif make == "dev zero":
        path = "/dev/zero"
    elif make == "fifo":
        os.mkfifo(path)
    else:
        path.write_bytes(b"\0" * 4096)
    with pytest.raises(WeightsError) as info:
        load_state_dict(path)
    with pytest.raises(DataError) as train_info:
        _torch_load(path)
    for message in (str(info.value), str(train_info.value)):
        assert "\n" not in message and str(path) in message and "weights_only=False" not in message, message
