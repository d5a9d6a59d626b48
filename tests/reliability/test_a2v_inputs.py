"""Item 9 (A2V): one NaN joint no longer makes a person's PaSta, actions and vector NaN; the joint is treated
as missing, counted and warned about once. Part boxes and A2V.infer are fuzzed (a random full-size
PastaNet on tiny images: no weights needed)."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from engine.a2v.api import A2V
from engine.a2v.net import PastaNet
from engine.a2v.parts import clip_boxes, part_boxes, skeleton_maps


@pytest.fixture(scope="module")
def a2v():
    torch.manual_seed(0)
    return A2V(PastaNet().eval(), np.random.default_rng(0).normal(size=(93, 8)).astype(np.float32),
               mode="fast", fast_long_side=64, fuse_bn=False)


def _person(rng):
    keypoints = np.zeros((17, 3), np.float32)
    keypoints[:, 0] = rng.uniform(10, 50, 17)
    keypoints[:, 1] = rng.uniform(5, 40, 17)
    keypoints[:, 2] = 0.9
    return np.array([5, 2, 55, 46], np.float32), keypoints


def test_one_nan_joint_is_repaired_counted_and_warned_once(a2v, caplog):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    box, keypoints = _person(rng)
    clean = a2v.infer(image, box[None], keypoints[None])
    broken = keypoints.copy()
    broken[9, 0] = np.nan  # the left wrist's x
    caplog.set_level(logging.WARNING)
    for _ in range(3):
        out = a2v.infer(image, box[None], broken[None])
        for key in ("pasta", "actions", "visual", "language", "part_boxes", "skeleton_maps"):
            assert np.isfinite(out[key]).all(), key
    assert a2v.repaired_joints == 3
    assert sum("NaN or infinite" in r.message for r in caplog.records) == 1
    # The repaired joint is a missing one: the same as giving it score 0 at (0, 0).
    missing = keypoints.copy()
    missing[9] = 0
    np.testing.assert_allclose(out["pasta"], a2v.infer(image, box[None], missing[None])["pasta"], atol=1e-5)
    assert not np.allclose(clean["part_boxes"], out["part_boxes"])  # the wrist part did change


def test_nan_person_box_uses_its_keypoints(a2v):
    rng = np.random.default_rng(2)
    image = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    _, keypoints = _person(rng)
    out = a2v.infer(image, np.array([[np.nan, 0, np.inf, 40]], np.float32), keypoints[None])
    assert np.isfinite(out["pasta"]).all() and a2v.repaired_boxes >= 1


_values = st.floats(allow_nan=True, allow_infinity=True, width=32)
_finite = st.floats(-1e4, 1e4, width=32)


@settings(max_examples=200, deadline=None)
@given(keypoints=arrays(np.float32, st.tuples(st.integers(0, 4), st.just(17), st.just(3)), elements=_values),
       size=st.tuples(st.integers(1, 4000), st.integers(1, 4000)))
def test_fuzz_part_boxes_and_skeletons(keypoints, size):
    boxes = np.tile(np.array([[0, 0, 10, 10]], np.float32), (len(keypoints), 1))
    parts = clip_boxes(part_boxes(keypoints, boxes), size)
    assert parts.shape == (len(keypoints), 10, 4) and np.isfinite(parts).all()
    maps = skeleton_maps(keypoints, size)
    assert maps.shape == (len(keypoints), 64, 64) and np.isfinite(maps).all()


@settings(max_examples=200, deadline=None)
@given(keypoints=arrays(np.float64, st.tuples(st.integers(1, 3), st.just(17), st.just(3)), elements=_finite),
       boxes=arrays(np.float64, st.tuples(st.just(1), st.just(4)), elements=_finite))
def test_fuzz_part_boxes_finite_in_finite_out(keypoints, boxes):
    boxes = np.tile(boxes, (len(keypoints), 1))
    assert np.isfinite(part_boxes(keypoints, boxes)).all()


@settings(max_examples=25, deadline=None)
@given(keypoints=arrays(np.float32, st.tuples(st.integers(0, 2), st.just(17), st.just(3)), elements=_values),
       data=st.data())
def test_fuzz_a2v_infer_outputs_are_finite(a2v, keypoints, data):
    n = len(keypoints)
    boxes = data.draw(arrays(np.float32, (n, 4), elements=_values))
    image = np.full((40, 56, 3), 128, np.uint8)
    out = a2v.infer(image, boxes, keypoints)
    assert out["pasta"].shape == (n, 93) and out["actions"].shape == (n, 157)
    for key, value in out.items():
        assert np.isfinite(value).all(), key
