"""Overlays: draw known FrameResults and check pixels and the strings printed (engine/render/)."""
from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from engine.bench.render import (
    STANDING_POSE,
    part_boxes_from_keypoints,
    synthetic_result,
)
from engine.bench.render import main as bench_main
from engine.config import RenderConfig, load_config
from engine.render.annotate import (
    LabelPlacer,
    annotate,
    group_states,
    output_width,
    top_actions,
)
from engine.render.colors import (
    GROUP_COLORS,
    TRACK_PALETTE,
    UNCONFIRMED_COLOR,
    track_color,
)
from engine.render.style import MIN_FONT_SCALE, metrics_for, sidebar_width
from engine.types import FrameResult, Person
from engine.vocab import load_vocab

VOCAB = load_vocab()
QUIET = RenderConfig(hud=False)  # most tests look at persons only


def person(box, track_id=1, keypoints=None, part_boxes=None, pasta=None, actions=None) -> Person:
    if keypoints is None:
        keypoints = np.zeros((17, 3), np.float32)  # all joints invisible: no skeleton
    return Person(box=np.array(box, np.float32), score=0.9, keypoints=keypoints, track_id=track_id,
                  part_boxes=part_boxes, pasta=pasta, actions=actions)


def result(persons, size=(640, 480), **info) -> FrameResult:
    return FrameResult(index=0, timestamp=0.0, image_size=size, persons=list(persons), info=info)


def black(size=(640, 480)) -> np.ndarray:
    return np.zeros((size[1], size[0], 3), np.uint8)


def standing_keypoints(box, confidence=0.9) -> np.ndarray:
    box = np.asarray(box, np.float32)
    xy = box[:2] + STANDING_POSE * (box[2:] - box[:2])
    return np.concatenate([xy, np.full((17, 1), confidence, np.float32)], axis=1)


def pasta_with(**states: float) -> np.ndarray:
    """PaSta probabilities: every group's no_interaction at 0.99, the named ``group_state`` ones as given
    (e.g. ``hand_hold=0.8``), the rest 0.01."""
    probs = np.full(len(VOCAB.pasta), 0.01, np.float32)
    for k in VOCAB.pasta_no_interaction:
        probs[k] = 0.99
    for key, value in states.items():
        group, state = key.split("_", 1)
        sl = VOCAB.group_slices[VOCAB.groups.index(group)]
        probs[sl.start + list(VOCAB.pasta[sl]).index(state.replace("_", " "))] = value
    return probs


def actions_with(**named: float) -> np.ndarray:
    probs = np.full(len(VOCAB.actions), 0.01, np.float32)
    probs[VOCAB.action_no_interaction] = 0.99
    for name, value in named.items():
        probs[VOCAB.actions.index(name)] = value
    return probs


class TextLog:
    """The ``on_text`` hook: every string drawn and its rectangle."""

    def __init__(self):
        self.items: list[tuple[str, tuple[int, int, int, int]]] = []

    def __call__(self, text, rect):
        self.items.append((text, rect))

    @property
    def texts(self) -> list[str]:
        return [t for t, _ in self.items]


def overlap(a, b) -> int:
    return max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))


# ------------------------------------------------------------------------------------------ boxes, IDs

def test_box_edge_has_the_track_colour_and_the_colour_is_fixed_per_id():
    out = annotate(black(), result([person((100, 120, 300, 420), track_id=7)]), QUIET, VOCAB)
    color = list(track_color(7))
    for x, y in ((100, 300), (300, 300), (200, 420)):
        assert out[y, x].tolist() == color, (x, y)
    assert out[300, 200].tolist() == [0, 0, 0]  # inside the box nothing is drawn
    # The same ID keeps its colour in another frame, wherever the person is; other IDs differ.
    again = annotate(black(), result([person((400, 50, 500, 300), track_id=7)]), QUIET, VOCAB)
    assert again[200, 400].tolist() == color
    assert len({track_color(i) for i in range(len(TRACK_PALETTE))}) == len(TRACK_PALETTE)
    assert track_color(8) != track_color(7)


def test_id_badge_is_printed_in_the_track_colour():
    log = TextLog()
    out = annotate(black(), result([person((100, 120, 300, 420), track_id=12)]), QUIET, VOCAB, on_text=log)
    assert log.texts == ["ID 12"]
    x1, y1, x2, y2 = log.items[0][1]
    assert (out[y1 + 1, x1 + 1] == track_color(12)).all()  # badge background


def test_unconfirmed_person_only_with_show_unconfirmed_and_grey():
    frame = result([person((100, 120, 300, 420), track_id=-1)])
    assert not annotate(black(), frame, QUIET, VOCAB).any()
    out = annotate(black(), frame, dataclasses.replace(QUIET, show_unconfirmed=True), VOCAB)
    assert out[300, 100].tolist() == list(UNCONFIRMED_COLOR)


def test_each_element_can_be_switched_off():
    box = (150, 120, 350, 420)
    p = person(box, keypoints=standing_keypoints(box), pasta=pasta_with(hand_hold=0.9),
               actions=actions_with(ride=0.9))
    p.part_boxes = part_boxes_from_keypoints(p.keypoints, p.box)
    off = RenderConfig(box=False, id_badge=False, skeleton=False, part_boxes=False, part_states=False,
                       actions=False, hud=False)
    frame = result([p], fps=25.0)
    assert not annotate(black(), frame, off, VOCAB).any()
    for name in ("box", "id_badge", "skeleton", "part_boxes", "part_states", "actions", "hud"):
        assert annotate(black(), frame, dataclasses.replace(off, **{name: True}), VOCAB).any(), name


# ---------------------------------------------------------------------------------------------- skeleton

def test_joint_below_threshold_and_its_limbs_are_not_drawn():
    box = (100, 60, 260, 420)
    kp = standing_keypoints(box)
    kp[9] = (520, 400, 0.1)  # left wrist, far from everything, below the 0.3 threshold
    style = RenderConfig(box=False, id_badge=False, hud=False)
    out = annotate(black(), result([person(box, keypoints=kp)]), style, VOCAB)
    assert not out[385:416, 505:536].any()               # no joint
    elbow = kp[7, :2]
    mid = ((elbow + kp[9, :2]) / 2).round().astype(int)
    assert not out[mid[1] - 3: mid[1] + 4, mid[0] - 3: mid[0] + 4].any()  # no limb elbow→wrist
    ex, ey = elbow.round().astype(int)
    assert out[ey, ex].any()                              # the elbow itself is drawn
    # Everything drawn lies around the joints that passed: no limb to the skipped joint, wherever it is.
    ys, xs = np.nonzero(out.any(axis=2))
    shown = np.delete(kp, 9, axis=0)[:, :2]
    margin = 8
    assert xs.min() >= shown[:, 0].min() - margin and xs.max() <= shown[:, 0].max() + margin
    assert ys.min() >= shown[:, 1].min() - margin and ys.max() <= shown[:, 1].max() + margin
    # The same joint passes a lower threshold: the check above can fail.
    low = annotate(black(), result([person(box, keypoints=kp)]),
                   dataclasses.replace(style, keypoint_threshold=0.05), VOCAB)
    assert low[400, 520].any()


# -------------------------------------------------------------------------------------------- part boxes

def grid_part_boxes(x0=60, y0=80, size=40, step=100) -> np.ndarray:
    """10 separate squares in two rows of five."""
    boxes = []
    for i in range(10):
        x, y = x0 + (i % 5) * step, y0 + (i // 5) * step
        boxes.append((x, y, x + size, y + size))
    return np.array(boxes, np.float32)


def test_part_box_edges_have_their_group_colour():
    parts = grid_part_boxes()
    p = person((20, 40, 620, 460), part_boxes=parts)
    out = annotate(black(), result([p]), QUIET, VOCAB)
    for i, (x1, y1, x2, y2) in enumerate(parts.astype(int)):
        expected = list(GROUP_COLORS[VOCAB.part_group[i]])
        assert out[(y1 + y2) // 2, x1].tolist() == expected, VOCAB.parts[i]
        assert out[y2, (x1 + x2) // 2].tolist() == expected, VOCAB.parts[i]
    # demo colours, by name: foot green, leg cyan, hip yellow, hand orange, arm magenta, head red (BGR)
    named = dict(zip(VOCAB.groups, GROUP_COLORS))
    assert named == {"foot": (0, 255, 0), "leg": (255, 255, 0), "hip": (0, 255, 255),
                     "hand": (0, 165, 255), "arm": (255, 0, 255), "head": (0, 0, 255)}


# ------------------------------------------------------------------------------------ states and actions

def test_group_shows_its_best_state_other_than_no_interaction_over_threshold():
    p = person((100, 60, 300, 440), part_boxes=grid_part_boxes(120, 100, 30, 35),
               pasta=pasta_with(hand_hold=0.6, hand_carry=0.4, head_eat=0.2, foot_stand_on=0.5))
    log = TextLog()
    annotate(black(), result([p]), QUIET, VOCAB, on_text=log)
    assert "hand: hold" in log.texts and "foot: stand on" in log.texts   # the part is named
    assert "hand: carry" not in log.texts       # not the best of its group
    assert "head: eat" not in log.texts         # under state_threshold 0.3
    assert [VOCAB.pasta[k] for _, k, _ in group_states(p, VOCAB, 0.3)] == ["stand on", "hold"]
    # Each state label has its group's colour as background.
    rect = dict(log.items)["hand: hold"]
    out = annotate(black(), result([p]), QUIET, VOCAB)
    assert out[rect[1] + 1, rect[0] + 1].tolist() == list(GROUP_COLORS[VOCAB.groups.index("hand")])


def test_part_state_labels_keep_off_the_person_when_there_is_room():
    p = busy_person((500, 150, 640, 600), 1)
    log = TextLog()
    annotate(black((1280, 720)), result([p], size=(1280, 720)), QUIET, VOCAB, on_text=log)
    states = [(t, r) for t, r in log.items if ": " in t]
    assert len(states) == 6 and {t.split(":")[0] for t, _ in states} == set(VOCAB.groups)
    for text, rect in states:
        assert not overlap(rect, (500, 150, 640, 600)), text


def test_the_hud_is_off_by_default_in_saved_frames():
    from engine.config import load_config

    assert RenderConfig().hud is False and load_config().render.hud is False
    log = TextLog()
    annotate(black((1280, 720)), result([], fps=25.0, pose_backend="mediapipe"), load_config().render, VOCAB,
             on_text=log)
    assert not [t for t in log.texts if "fps" in t or "pose:" in t]


def test_no_interaction_is_never_printed():
    # no_interaction is the most likely state of every group and the most likely action
    p = person((100, 60, 300, 440), part_boxes=grid_part_boxes(120, 100, 30, 35),
               pasta=pasta_with(leg_straddle=0.5), actions=actions_with(ride=0.8, hold=0.5))
    for sidebar in (False, True):
        log = TextLog()
        style = dataclasses.replace(RenderConfig(), sidebar=sidebar, top_k_actions=10, action_threshold=0.0,
                                    state_threshold=0.0)
        annotate(black(), result([p], fps=30.0), style, VOCAB, on_text=log)
        assert log.texts, "something must be printed"
        assert not [t for t in log.texts if "no_interaction" in t or "no interaction" in t]
        assert any(t.startswith("ride ") for t in log.texts)
    assert VOCAB.action_no_interaction not in [i for i, _ in top_actions(p, VOCAB, 157, 0.0)]


def test_top_k_actions_best_first_over_threshold():
    p = person((100, 60, 300, 440), actions=actions_with(ride=0.8, hold=0.5, sit_on=0.3, jump=0.05))
    log = TextLog()
    annotate(black(), result([p]), dataclasses.replace(QUIET, top_k_actions=3, action_threshold=0.1), VOCAB,
             on_text=log)
    assert [t for t in log.texts if t.endswith("%")] == ["ride 80%", "hold 50%", "sit on 30%"]


def test_result_without_pasta_draws_no_states_or_actions():
    box = (150, 80, 350, 440)
    p = person(box, keypoints=standing_keypoints(box))
    p.part_boxes = part_boxes_from_keypoints(p.keypoints, p.box)
    frame = result([p], pasta_off="no PaSta weights (run `a2v weights fetch`)")
    log = TextLog()
    drawn = annotate(black(), frame, QUIET, VOCAB, on_text=log)
    assert log.texts == ["ID 1"]
    plain = annotate(black(), frame, dataclasses.replace(QUIET, part_states=False, actions=False), VOCAB)
    assert np.array_equal(drawn, plain)


# --------------------------------------------------------------------------------------------- placement

def busy_person(box, track_id) -> Person:
    kp = standing_keypoints(box)
    p = person(box, track_id=track_id, keypoints=kp,
               pasta=pasta_with(foot_stand_on=0.9, leg_walk_with=0.8, hip_sit_on=0.7, hand_hold=0.9,
                                arm_swing=0.6, head_eat=0.5),
               actions=actions_with(ride=0.9, hold=0.8, walk=0.7))
    p.part_boxes = part_boxes_from_keypoints(kp, p.box)
    return p


@pytest.mark.parametrize("box", [(560, 0, 640, 200), (0, 250, 70, 360), (-30, -20, 100, 380),
                                 (600, 300, 700, 420)])
def test_labels_stay_inside_the_frame_for_a_person_at_the_border(box):
    log = TextLog()
    annotate(black((640, 360)), result([busy_person(box, 3)], size=(640, 360), fps=25.0), RenderConfig(),
             VOCAB, on_text=log)
    assert len(log.items) >= 10
    for text, (x1, y1, x2, y2) in log.items:
        assert 0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= 360, (text, (x1, y1, x2, y2))


def test_labels_of_people_close_together_do_not_pile_up():
    people = [busy_person((300 + 130 * i, 150, 430 + 130 * i, 550), i + 1) for i in range(3)]
    log = TextLog()
    annotate(black((1280, 720)), result(people, size=(1280, 720), fps=25.0), RenderConfig(hud=True), VOCAB,
             on_text=log)
    rects = [r for t, r in log.items]
    assert len(rects) == 3 * (1 + 6 + 3) + 1  # badges, states, actions, HUD
    pile = [(a, b) for i, a in enumerate(log.items) for b in log.items[i + 1:] if overlap(a[1], b[1])]
    # HUD pieces abut on one row; no other label touches another
    assert not pile


def test_label_placer_slides_when_every_candidate_is_taken():
    placer = LabelPlacer(200, 200)
    first = placer.place(50, 20, [(10, 10)])
    second = placer.place(50, 20, [(10, 10)])
    assert first == (10, 10, 60, 30) and second == (10, 30, 60, 50)
    assert placer.place(500, 20, [(100, 190)]) == (0, 180, 500, 200)  # clamped; wider than the area


# ------------------------------------------------------------------------------------- HUD and sidebar

def test_hud_says_how_many_persons_the_pose_stage_found():
    from engine.render.annotate import hud_segments

    frame = FrameResult(index=0, timestamp=0.0, image_size=(640, 480),
                        info={"persons": 4, "pose_backend": "mediapipe_multi (CPU)"})
    assert [text for text, _ in hud_segments(frame)] == ["4 persons in view", "pose: mediapipe_multi (CPU)"]
    frame.info = {"persons": 1}
    assert [text for text, _ in hud_segments(frame)] == ["1 person in view"]


def test_hud_line_shows_fps_stage_ms_dropped_backend_and_pasta_off():
    frame = result([], fps=24.66, dropped=3, pose_backend="rtmpose-m", pasta_off="no PaSta weights")
    frame.timings = {"pose": 11.24, "tracker": 0.41}
    log = TextLog()
    annotate(black((1280, 720)), frame, RenderConfig(hud=True), VOCAB, on_text=log)
    line = " ".join(log.texts)
    assert line == "24.7 fps | pose 11.2, tracker 0.4 ms | dropped 3 | pose: rtmpose-m | PaSta off: no PaSta weights"
    assert all(r[1] == 0 for _, r in log.items)  # one row at the top of a 1280-px frame
    log = TextLog()
    annotate(black((320, 180)), dataclasses.replace(frame, image_size=(320, 180)), RenderConfig(hud=True), VOCAB,
             on_text=log)
    assert len({r[1] for _, r in log.items}) > 1  # wrapped on a narrow frame
    assert all(r[2] <= 320 for _, r in log.items)


def test_sidebar_widens_the_frame_and_holds_the_actions():
    p = person((100, 60, 300, 440), track_id=4, actions=actions_with(ride=0.8))
    frame = np.full((480, 640, 3), 90, np.uint8)
    style = dataclasses.replace(QUIET, sidebar=True)
    log = TextLog()
    out = annotate(frame, result([p]), style, VOCAB, on_text=log)
    assert out.shape == (480, output_width(640, 480, style), 3) == (480, 640 + sidebar_width(640, 480), 3)
    assert np.array_equal(out[:, :95], frame[:, :95])  # frame left of the person untouched
    ride = dict(log.items)["ride 80%"]
    assert ride[0] >= 640 and ride[2] <= out.shape[1]
    assert "ID 4" in log.texts


def test_annotate_returns_a_new_frame_and_rejects_bad_input():
    frame = np.full((100, 120, 3), 7, np.uint8)
    out = annotate(frame, result([person((10, 10, 60, 90))], size=(120, 100)), QUIET, VOCAB)
    assert out is not frame and (frame == 7).all() and out.dtype == np.uint8 and out.shape == frame.shape
    with pytest.raises(ValueError, match="BGR uint8"):
        annotate(frame.astype(np.float32), result([]), QUIET, VOCAB)
    with pytest.raises(ValueError, match="pasta"):
        annotate(frame, result([person((10, 10, 60, 90), pasta=np.zeros(5))]), QUIET, VOCAB)


# ----------------------------------------------------------------------------------- sizes, config, bench

def test_text_size_follows_the_frame_from_320_to_4k():
    small, hd, uhd = metrics_for(320, 180), metrics_for(1280, 720), metrics_for(3840, 2160)
    assert small.font_scale >= MIN_FONT_SCALE and small.text_height >= 9
    assert small.font_scale < hd.font_scale < uhd.font_scale
    assert uhd.text_height >= 2.5 * hd.text_height and uhd.line_width >= 3 * hd.line_width
    assert metrics_for(1280, 720, 2.0).font_scale == pytest.approx(2 * hd.font_scale)
    for size in ((320, 180), (3840, 2160)):
        people = [busy_person(np.array([0.1, 0.1, 0.4, 0.9]) * (size * 2), 1)]
        log = TextLog()
        annotate(black(size), result(people, size=size, fps=30.0), RenderConfig(), VOCAB, on_text=log)
        assert all(0 <= r[0] and r[2] <= size[0] and r[3] <= size[1] for _, r in log.items)


def test_render_section_of_default_config_matches_the_dataclass():
    assert load_config().render == RenderConfig()


def test_render_bench_prints_median_and_p90(capsys):
    assert bench_main(["--size", "320x180", "--persons", "2", "--frames", "5", "--json", "-"]) == 0
    report = json.loads(capsys.readouterr().out)  # --json -: stdout is the JSON alone
    for key in ("median_ms", "p90_ms", "cpu_median_ms"):
        assert math.isfinite(report[key]) and report[key] > 0, (key, report)
    assert report["median_ms"] <= report["p90_ms"] and report["frames"] == 5


def test_synthetic_result_drives_every_element():
    log = TextLog()
    frame = synthetic_result(1280, 720, 5)
    annotate(black((1280, 720)), frame, RenderConfig(), VOCAB, on_text=log)
    assert sum(t.startswith("ID ") for t in log.texts) == 5
    assert sum(t.endswith("%") for t in log.texts) == 15


def test_action_blocks_keep_off_other_people_and_their_own_head():
    boxes = [(200, 150, 360, 600), (380, 150, 540, 600), (560, 150, 720, 600)]
    people = [person(b, track_id=i + 1, actions=actions_with(ride=0.9, hold=0.6)) for i, b in enumerate(boxes)]
    log = TextLog()
    annotate(black((1280, 720)), result(people, size=(1280, 720)), QUIET, VOCAB, on_text=log)
    rows = [r for t, r in log.items if t.endswith("%")]
    assert len(rows) == 6
    for k, rect in enumerate(rows):
        own = k // 2
        for i, b in enumerate(boxes):
            if i != own:
                assert not overlap(rect, b), (k, rect, b)
        head = (boxes[own][0], boxes[own][1], boxes[own][2], boxes[own][1] + 180)
        assert not overlap(rect, head)


def test_text_sprite_cache_stays_within_its_budget(monkeypatch):
    from engine.render import style as render_style

    monkeypatch.setattr(render_style._words, "limit_bytes", 20_000)
    render_style._words.clear()
    m = metrics_for(1280, 720)
    image = black((1280, 720))
    for i in range(300):
        render_style.draw_text_row(image, f"w{i}", 10, 10, (255, 255, 255), (0, 0, 0), m)
        assert render_style._words._bytes <= 20_000
    assert image[10: 10 + m.line_height, 10:60].max() > 200  # the text is there
    render_style._words.clear()
