"""Part-box clipping by the official loaders' one-sided rule (REFERENCE.md §1.5 item 5), hand-computed, and
the ROI crop's handling of the inverted boxes that rule produces (REFERENCE.md §1.8)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.a2v.parts import clip_boxes
from engine.a2v.roi import roi_crop, roi_crop_official

W, H = 640, 272

# (box in, box out) with x1, y1 >= 0 and x2 <= W, y2 <= H applied to each coordinate on its own side only.
CASES = {
    "inside": ([10, 20, 100, 200], [10, 20, 100, 200]),
    "touching every edge": ([0, 0, W, H], [0, 0, W, H]),
    "crossing left": ([-5, 20, 30, 60], [0, 20, 30, 60]),
    "crossing top": ([10, -8, 40, 30], [10, 0, 40, 30]),
    "crossing right": ([620, 20, 700, 60], [620, 20, 640, 60]),
    "crossing bottom": ([10, 250, 50, 300], [10, 250, 50, 272]),
    "crossing all four": ([-5, -2, 700, 300], [0, 0, 640, 272]),
    # Wholly outside: only the coordinate on the image's side moves, so the box comes out inverted.
    "wholly left": ([-50, 20, -10, 60], [0, 20, -10, 60]),
    "wholly above": ([10, -40, 50, -5], [10, 0, 50, -5]),
    "wholly right": ([700, 20, 760, 60], [700, 20, 640, 60]),
    "wholly below (a foot under the frame)": ([10, 300, 50, 340], [10, 300, 50, 272]),
    "wholly below and right": ([700, 300, 760, 340], [700, 300, 640, 272]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_clip_boxes_is_the_official_one_sided_rule(name):
    box, expected = CASES[name]
    out = clip_boxes(np.array([box], dtype=np.float64), (W, H))
    assert out.dtype == np.float32 and out.shape == (1, 4)
    np.testing.assert_array_equal(out[0], np.array(expected, dtype=np.float32))


def test_clip_boxes_keeps_shape_and_does_not_touch_its_input():
    boxes = np.array([box for box, _ in CASES.values()], dtype=np.float32).reshape(2, -1, 4)
    before = boxes.copy()
    out = clip_boxes(boxes, (W, H))
    assert out.shape == boxes.shape
    np.testing.assert_array_equal(boxes, before)
    np.testing.assert_array_equal(out.reshape(-1, 4), np.array([e for _, e in CASES.values()], np.float32))


def test_a2v_feeds_the_network_the_inverted_box_of_a_part_outside_the_image():
    """End to end through A2V.infer's part boxes: a person whose ankles are below the frame."""
    from engine.a2v.parts import part_boxes

    kps = np.zeros((1, 17, 3), np.float32)
    kps[0, :, 2] = 1.0
    kps[0, :, 0] = 100.0
    kps[0, :, 1] = np.linspace(150, 330, 17)          # ankles (15, 16) at y = 318.75 / 330 > H
    person = np.array([[60, 140, 140, 340]], np.float32)
    raw = part_boxes(kps, person)[0]
    clipped = clip_boxes(raw[None], (W, H))[0]
    right_foot = raw[0]                                 # centred on r_ank (y 330)
    assert right_foot[1] > H                            # its top is already below the frame
    np.testing.assert_array_equal(clipped[0], [right_foot[0], right_foot[1], right_foot[2], H])
    assert clipped[0, 3] < clipped[0, 1]                # inverted, as the original gives it


# ----------------------------------------------------------------------------------------- ROI crop

def _hand_theta(box, fw, fh, stride=16):
    """REFERENCE.md §1.8 written out: box / 16, theta = [(x2−x1)/(W−1), 0, (x1+x2−W+1)/(W−1); ...]."""
    x1, y1, x2, y2 = (float(v) / stride for v in box)
    return torch.tensor([[[(x2 - x1) / (fw - 1), 0.0, (x1 + x2 - fw + 1) / (fw - 1)],
                          [0.0, (y2 - y1) / (fh - 1), (y1 + y2 - fh + 1) / (fh - 1)]]], dtype=torch.float32)


def _hand_crop(features, box):
    """The official crop of one box with torch's affine_grid + grid_sample, no project code involved."""
    fh, fw = features.shape[-2:]
    grid = F.affine_grid(_hand_theta(box, fw, fh), [1, 1, 7, 7], align_corners=False)
    return F.grid_sample(features, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def test_roi_crop_reads_inverted_boxes_as_the_official_affine_grid_crop():
    """The crop takes the clipped box as it is (no re-sorting, no abs, no error): an inverted box gives
    the official affine_grid crop — a mirrored 7×7 window — and a box wholly outside the image reads
    only the zero padding, so its features are exactly 0 as in the original."""
    torch.manual_seed(0)
    fh, fw = 17, 40                                    # the stride-16 conv4 map of a 640×272 frame
    features = torch.rand(1, 8, fh, fw) + 0.5         # strictly positive, so zeros can only be padding
    boxes = clip_boxes(np.array([box for box, _ in CASES.values()], np.float32), (W, H))
    ours = roi_crop(features, torch.from_numpy(boxes))
    for i, (name, box) in enumerate(zip(CASES, boxes)):
        expected = _hand_crop(features, box.tolist())
        torch.testing.assert_close(ours[i:i + 1], expected, atol=1e-6, rtol=0, msg=name)
        torch.testing.assert_close(roi_crop_official(features, torch.from_numpy(box)), expected, atol=1e-6,
                                   rtol=0, msg=name)

    # Inverted in y = the upright box's crop flipped vertically (theta's y scale changes sign only).
    x1, y1, x2, y2 = 10.0, 300.0, 50.0, 120.0         # y2 < y1
    inverted = roi_crop(features, torch.tensor([[x1, y1, x2, y2]]))
    upright = roi_crop(features, torch.tensor([[x1, y2, x2, y1]]))
    torch.testing.assert_close(inverted, upright.flip(-2), atol=1e-6, rtol=0)

    # Wholly right of / below the image (x1 = 700 → 43.75 cells, x2 = 640 → 40; y1 = 300 → 18.75): every
    # sample is beyond the last column / row by more than one cell, so bilinear reads only padding.
    for name in ("wholly right", "wholly below (a foot under the frame)", "wholly below and right"):
        i = list(CASES).index(name)
        assert torch.count_nonzero(ours[i]) == 0, name
    # Wholly left / above: x2 = -10 clips nothing, x1 → 0: the window spans [-10, 0] px, i.e. up to the
    # first cell's left edge, so part of each bilinear sample still touches column 0 — not all zero,
    # exactly as in the original (its features of such a part are a faint copy of the border).
    i = list(CASES).index("wholly left")
    assert torch.count_nonzero(ours[i]) > 0
