"""Overlays in the HAKE demo look, per tracked person: pure functions of (frame, FrameResult, style) → frame.

``annotate(frame, result, style, vocab)`` returns a new annotated BGR uint8 frame. It composes the
single-purpose annotators below, which the GUI can call on its own :class:`Canvas`:

- :func:`draw_person_boxes` / :func:`draw_id_badges`: box and "ID n" badge in the track's colour
  (:func:`engine.colors.track_color`; unconfirmed persons in grey, only with ``style.show_unconfirmed``);
- :func:`draw_skeletons`: COCO-17 limbs; joints under ``style.keypoint_threshold`` and the limbs touching
  them are skipped;
- :func:`draw_part_boxes`: the 10 part boxes in their group's colour (foot green, leg cyan, hip yellow,
  hand orange, arm magenta, head red);
- :func:`draw_part_states`: per group, its most likely state other than no_interaction, when it passes
  ``style.state_threshold``, on a label in the group's colour next to the group's part boxes;
- :func:`draw_actions` (beside each person) or :func:`draw_sidebar` (a panel right of the frame): the
  top ``style.top_k_actions`` actions over ``style.action_threshold``; no_interaction is never shown;
- :func:`draw_hud`: one line (wrapped when the frame is narrow) with fps, per-stage milliseconds, dropped
  frames, the pose backend and "PaSta off: <reason>".

Improvements over the demo: colours follow track IDs (the demo ranked people per frame, so IDs jumped;
persons are also drawn in track-ID order, so the layout is stable); cv2 drawing and cached text sprites
instead of PIL layers (a few ms per 720p frame with 5 persons, ``a2v bench render``); every label is
placed greedily so it stays inside the frame and avoids labels already drawn, action blocks also keep off
other people and the person's own head (people close together get their labels stacked, not piled up);
sizes follow the frame size (:mod:`engine.render_style`). Labels are opaque (no blending), which reads
better over busy video and costs one array copy per row.

Every string drawn can be observed through the ``on_text(text, (x1, y1, x2, y2))`` callback (tests use
it to check what is printed and where).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np

from engine.colors import (BGR, HUD_WARNING, WHITE, group_color, text_color_on, track_color)
from engine.config import RenderConfig
from engine.cvcompat import cv2
from engine.render_style import (Metrics, display_name, draw_text_row, metrics_for, row_width,
                                 sidebar_width)
from engine.types import FrameResult, Person
from engine.vocab import Vocabulary, load_vocab

TextHook = Callable[[str, tuple[int, int, int, int]], None]

# COCO-17 limbs as joint index pairs: face, shoulders, arms, torso, hips, legs.
COCO_LIMBS: tuple[tuple[int, int], ...] = (
    (0, 1), (0, 2), (1, 3), (2, 4),
    (5, 6), (5, 7), (7, 9), (6, 8), (8, 10),
    (5, 11), (6, 12), (11, 12),
    (11, 13), (13, 15), (12, 14), (14, 16),
)

# Where each group's state label goes first, relative to the group's part boxes; sides alternate between
# groups so labels of one person spread out instead of competing for one spot.
_GROUP_SIDES: dict[str, tuple[str, ...]] = {
    "head": ("above", "right", "left"),
    "arm": ("right", "left", "above"),
    "hand": ("left", "right", "below"),
    "hip": ("right", "left", "below"),
    "leg": ("left", "right", "below"),
    "foot": ("below", "left", "right"),
}
_DEFAULT_SIDES = ("right", "left", "above", "below")

_PANEL = (28, 28, 28)      # background of action blocks and the HUD
_SEPARATOR = (150, 150, 150)
_MAX_SHIFT_STEPS = 8  # a label that collides everywhere slides up/down by up to this many steps (rows)
_SHIFT_STEPS = np.array([0.0] + [k * sign for k in range(1, _MAX_SHIFT_STEPS + 1) for sign in (1.0, -1.0)])


# ------------------------------------------------------------------------------------------- placement

class LabelPlacer:
    """Greedy label placement: each label takes the first candidate spot, clamped inside the area, that
    overlaps no label placed before (nor, when given, the ``avoid`` areas such as person boxes); if every
    spot collides, the candidates slide up and down by the label's height, and the spot with the least
    overlap with labels wins (then the least with ``avoid``, then the earliest).

    Rectangles are ``(x1, y1, x2, y2)`` int pixels, x2/y2 exclusive.
    """

    def __init__(self, width: int, height: int, shift_step: int = 0) -> None:
        self.width = int(width)
        self.height = int(height)
        self.shift_step = int(shift_step)  # slide distance; 0 = the label's height
        self._rects = np.zeros((64, 4), np.int32)
        self._count = 0
        self._taken: list[tuple[int, int, int, int]] = []  # the same rectangles, for the pure-Python path

    @property
    def rects(self) -> np.ndarray:
        """(N, 4) int32 rectangles placed or reserved so far."""
        return self._rects[: self._count]

    def reserve(self, rect: Sequence[int]) -> None:
        """Mark an area as taken (e.g. the HUD) so later labels avoid it."""
        if self._count == len(self._rects):
            self._rects = np.concatenate([self._rects, np.zeros_like(self._rects)])
        self._rects[self._count] = rect
        self._count += 1
        self._taken.append(tuple(int(v) for v in rect))

    def place(self, w: int, h: int, candidates: Sequence[tuple[float, float]],
              avoid: Sequence[Sequence[int]] = ()) -> tuple[int, int, int, int]:
        """Choose where a ``w × h`` label goes among ``candidates`` (top-left corners, best first),
        keeping off ``avoid`` rectangles when it can."""
        w, h = int(w), int(h)
        max_x, max_y = max(0, self.width - w), max(0, self.height - h)
        # Fast path in plain Python: usually one of the first spots is free, and numpy's per-call overhead
        # would cost more than these few comparisons.
        blocked = self._taken + list(avoid) if len(avoid) else self._taken
        for cx, cy in candidates:
            x = min(max(int(round(cx)), 0), max_x)
            y = min(max(int(round(cy)), 0), max_y)
            x2, y2 = x + w, y + h
            for a, b, c, d in blocked:
                if x < c and a < x2 and y < d and b < y2:
                    break
            else:
                return self._take(x, y, w, h)
        return self._place_shifted(w, h, candidates, max_x, max_y, avoid)

    def _place_shifted(self, w: int, h: int, candidates, max_x: int, max_y: int,
                       avoid: Sequence[Sequence[int]]) -> tuple[int, int, int, int]:
        """Every candidate slid by 1..``_MAX_SHIFT_STEPS`` steps (the label's height, at most
        ``shift_step``) down and up, in that order of preference; the spot with the least overlap wins
        (overlap with labels weighs more than the whole area, so ``avoid`` only breaks ties)."""
        # (np.clip and np.tile are avoided: their Python wrappers cost more than the arithmetic here.)
        step = min(h, self.shift_step or h)  # tall blocks slide by rows, so they stay near what they label
        base_x = [min(max(int(round(x)), 0), max_x) for x, _ in candidates]
        base_y = np.array([y for _, y in candidates], dtype=np.float64)
        xs = np.array(base_x * len(_SHIFT_STEPS), dtype=np.float64)
        ys = np.minimum(np.maximum(np.rint(base_y[None, :] + _SHIFT_STEPS[:, None] * step), 0), max_y).ravel()
        taken = self._taken + list(avoid)
        rects = np.array(taken, dtype=np.float64)
        weights = np.ones(len(taken))
        weights[: len(self._taken)] = float(self.width * self.height + 1)
        ix = np.minimum(xs[:, None] + w, rects[:, 2]) - np.maximum(xs[:, None], rects[:, 0])
        iy = np.minimum(ys[:, None] + h, rects[:, 3]) - np.maximum(ys[:, None], rects[:, 1])
        np.maximum(ix, 0, out=ix)
        np.maximum(iy, 0, out=iy)
        best = int(np.argmin((ix * iy) @ weights))  # the first minimum: the most preferred spot
        return self._take(int(xs[best]), int(ys[best]), w, h)

    def _take(self, x: int, y: int, w: int, h: int) -> tuple[int, int, int, int]:
        rect = (x, y, x + w, y + h)
        self.reserve(rect)
        return rect


# ---------------------------------------------------------------------------------------------- canvas

class Canvas:
    """An image being drawn on in place, with the sizes for its frame and the labels placed so far.

    ``image`` is (H, W', 3) BGR uint8; the frame occupies columns ``[0, frame_width)`` (W' is wider when a
    sidebar is attached). Sizes (:class:`engine.render_style.Metrics`) follow the frame, not the sidebar.
    Text is drawn as opaque rows (:func:`engine.render_style.draw_text_row`).
    """

    def __init__(self, image: np.ndarray, frame_width: Optional[int] = None, text_scale: float = 1.0,
                 on_text: Optional[TextHook] = None) -> None:
        self.image = image
        self.height = int(image.shape[0])
        self.frame_width = int(frame_width if frame_width is not None else image.shape[1])
        self.metrics: Metrics = metrics_for(self.frame_width, self.height, text_scale)
        self.placer = LabelPlacer(self.frame_width, self.height, shift_step=self.metrics.line_height)
        self.on_text = on_text

    def text_size(self, text: str) -> tuple[int, int]:
        """(width, height) of one label row holding ``text``, padding included."""
        return row_width(text, self.metrics), self.metrics.line_height

    def put_row(self, text: str, x: int, y: int, color: BGR, background: BGR,
                width: Optional[int] = None) -> int:
        """Draw an opaque text row with its top-left corner at (x, y); returns its width."""
        drawn = draw_text_row(self.image, text, x, y, color, background, self.metrics, width)
        if self.on_text is not None:
            self.on_text(text, (x, y, x + self.text_size(text)[0], y + self.metrics.line_height))
        return drawn

    def fill(self, rect: Sequence[int], color: BGR) -> None:
        """Fill the xyxy ``rect`` (x2, y2 exclusive) with ``color``, clipped to the image."""
        x1, y1 = max(0, rect[0]), max(0, rect[1])
        x2, y2 = min(self.image.shape[1], rect[2]), min(self.height, rect[3])
        if x2 > x1 and y2 > y1:
            cv2.rectangle(self.image, (x1, y1), (x2 - 1, y2 - 1), color, -1)

    def label(self, lines: Sequence[tuple[str, BGR]], candidates: Sequence[tuple[float, float]],
              background: BGR, stripe: Optional[BGR] = None,
              avoid: Sequence[Sequence[int]] = ()) -> tuple[int, int, int, int]:
        """Place and draw a block of opaque text rows (each ``(text, colour)``) on ``background``.

        ``candidates`` are top-left corners, best first (see :class:`LabelPlacer`); ``stripe`` adds a bar
        of that colour on the block's left edge; ``avoid`` areas are kept clear when possible. Returns the
        block's rectangle.
        """
        m = self.metrics
        stripe_w = m.pad if stripe is not None else 0
        row_w = max(self.text_size(text)[0] for text, _ in lines)
        rect = self.placer.place(row_w + stripe_w, m.line_height * len(lines), candidates, avoid)
        for row, (text, color) in enumerate(lines):
            self.put_row(text, rect[0] + stripe_w, rect[1] + row * m.line_height, color, background, row_w)
        if stripe is not None:
            self.fill((rect[0], rect[1], rect[0] + stripe_w, rect[3]), stripe)
        return rect


# --------------------------------------------------------------------------------------------- helpers

def draw_outline(image: np.ndarray, box: tuple[int, int, int, int], color: BGR, width: int) -> None:
    """A ``width``-px rectangle outline centred on the xyxy ``box`` edges.

    Drawn as nested 1-px rectangles: OpenCV's thick rectangles go through its polygon filler and cost
    about 5× more.
    """
    x1, y1, x2, y2 = box
    lo = -(width // 2)
    for offset in range(lo, lo + width):
        cv2.rectangle(image, (x1 + offset, y1 + offset), (x2 - offset, y2 - offset), color, 1, cv2.LINE_8)


def visible_persons(persons: Sequence[Person], style: RenderConfig) -> list[Person]:
    """Persons to draw, ordered by track ID (so the layout is stable from frame to frame); unconfirmed
    ones (``track_id == -1``) only with ``style.show_unconfirmed``, after the confirmed ones."""
    shown = [p for p in persons if p.track_id >= 0 or style.show_unconfirmed]
    return sorted(shown, key=lambda p: (p.track_id < 0, p.track_id))


def _int_box(box: np.ndarray) -> Optional[tuple[int, int, int, int]]:
    """A finite, non-empty xyxy box as ints, else None."""
    x1, y1, x2, y2 = box.tolist()
    if not (x2 > x1 and y2 > y1) or not math.isfinite(x2 - x1 + y2 - y1):
        return None
    return round(x1), round(y1), round(x2), round(y2)


def top_actions(person: Person, vocab: Vocabulary, k: int, threshold: float) -> list[tuple[int, float]]:
    """The person's ``k`` most likely actions with probability >= ``threshold``, as (action index, prob),
    best first; no_interaction is never among them. Empty when the person has no actions (PaSta off)."""
    if person.actions is None or k <= 0:
        return []
    probs = np.asarray(person.actions, dtype=np.float32)
    if probs.shape != (len(vocab.actions),):
        raise ValueError(f"Person.actions has shape {probs.shape}, the vocabulary has {len(vocab.actions)} "
                         "actions; use the vocabulary the model was built with")
    probs = probs.copy()
    probs[vocab.action_no_interaction] = -1.0
    order = np.argsort(-probs, kind="stable")[:k]
    return [(int(i), float(probs[i])) for i in order if probs[i] >= threshold]


def _group_table(vocab: Vocabulary) -> np.ndarray:
    """(groups, longest group - 1) int: each group's PaSta indices without its no_interaction, padded
    with 93 (an index past the end, read as probability -1)."""
    table = _GROUP_TABLES.get(id(vocab))
    if table is None or table[0] is not vocab:
        sizes = [sl.stop - sl.start - 1 for sl in vocab.group_slices]
        index = np.full((len(sizes), max(sizes)), len(vocab.pasta), np.int64)
        for g, sl in enumerate(vocab.group_slices):
            index[g, : sizes[g]] = np.arange(sl.start, sl.stop - 1)
        table = (vocab, index)
        _GROUP_TABLES[id(vocab)] = table
    return table[1]


_GROUP_TABLES: dict[int, tuple[Vocabulary, np.ndarray]] = {}


def group_states(person: Person, vocab: Vocabulary, threshold: float) -> list[tuple[int, int, float]]:
    """Per PaSta group, its most likely state other than no_interaction, when its probability is >=
    ``threshold``: a list of (group index, global PaSta index, prob). Empty when the person has no PaSta."""
    if person.pasta is None:
        return []
    probs = np.asarray(person.pasta, dtype=np.float32)
    if probs.shape != (len(vocab.pasta),):
        raise ValueError(f"Person.pasta has shape {probs.shape}, the vocabulary has {len(vocab.pasta)} "
                         "states; use the vocabulary the model was built with")
    table = _group_table(vocab)
    per_group = np.append(probs, np.float32(-1.0))[table]
    best = per_group.argmax(axis=1)
    best_prob = per_group[np.arange(len(table)), best]
    return [(g, int(table[g, best[g]]), float(best_prob[g]))
            for g in np.flatnonzero(best_prob >= threshold).tolist()]


def _side_candidates(anchor: tuple[int, int, int, int], w: int, h: int, gap: int,
                     sides: Sequence[str]) -> list[tuple[int, int]]:
    x1, y1, x2, y2 = anchor
    spots = {
        "above": (x1, y1 - h - gap),
        "below": (x1, y2 + gap),
        "right": (x2 + gap, y1),
        "left": (x1 - gap - w, y1),
        "inside": (x1 + gap, y1 + gap),
    }
    return [spots[s] for s in sides] + [spots["inside"]]


# ------------------------------------------------------------------------------------------ annotators

def draw_person_boxes(canvas: Canvas, persons: Sequence[Person]) -> None:
    """Each person's box in its track colour, ``metrics.line_width`` thick."""
    lw = canvas.metrics.line_width
    for person in persons:
        box = _int_box(person.box)
        if box is not None:
            draw_outline(canvas.image, box, track_color(person.track_id), lw)


def draw_id_badges(canvas: Canvas, persons: Sequence[Person]) -> None:
    """An "ID n" badge filled with the track colour on the box's top-left corner (outside when there is
    room, else inside); "?" for unconfirmed persons."""
    m = canvas.metrics
    for person in persons:
        box = _int_box(person.box)
        if box is None:
            continue
        color = track_color(person.track_id)
        text = f"ID {person.track_id}" if person.track_id >= 0 else "?"
        w, h = canvas.text_size(text)
        x1, y1, _, y2 = box
        candidates = [(x1, y1 - h), (x1, y1 + m.line_width), (x1, y2)]
        canvas.label([(text, text_color_on(color))], candidates, color)


def draw_skeletons(canvas: Canvas, persons: Sequence[Person], keypoint_threshold: float) -> None:
    """COCO-17 limbs and joints in the track colour; joints with confidence below ``keypoint_threshold``
    (or not finite) are skipped, and so are the limbs touching them.

    1-px limbs are antialiased; thicker ones are not (OpenCV's thick antialiased lines cost ~2× more, and
    at those sizes the steps are hard to see).
    """
    m = canvas.metrics
    thickness = m.line_width
    line_type = cv2.LINE_AA if thickness == 1 else cv2.LINE_8
    for person in persons:
        kp = person.keypoints
        ok = (kp[:, 2] >= keypoint_threshold) & np.isfinite(kp).all(axis=1)
        if not ok.any():
            continue
        color = track_color(person.track_id)
        pts = np.round(np.where(ok[:, None], kp[:, :2], 0.0)).astype(np.int32).tolist()
        visible = ok.tolist()
        for a, b in COCO_LIMBS:
            if visible[a] and visible[b]:
                cv2.line(canvas.image, pts[a], pts[b], color, thickness, line_type)
        for joint, (x, y) in enumerate(pts):
            if visible[joint]:
                cv2.circle(canvas.image, (x, y), m.joint_radius, color, -1, line_type)


def draw_part_boxes(canvas: Canvas, persons: Sequence[Person], vocab: Vocabulary) -> None:
    """The 10 part boxes ((10, 4) xyxy, vocabulary part order) in their group's colour."""
    lw = canvas.metrics.part_width
    colors = [group_color(vocab.groups[g], g) for g in vocab.part_group]
    for person in persons:
        if person.part_boxes is None:
            continue
        for part, box in enumerate(person.part_boxes):
            ibox = _int_box(box)
            if ibox is not None:
                draw_outline(canvas.image, ibox, colors[part], lw)


def _group_anchor(person: Person, vocab: Vocabulary, group: int) -> Optional[tuple[int, int, int, int]]:
    """The union of the group's valid part boxes, else the person box."""
    if person.part_boxes is not None:
        boxes = [b for b in (_int_box(person.part_boxes[p]) for p in vocab.group_parts[group]) if b]
        if boxes:
            return (min(b[0] for b in boxes), min(b[1] for b in boxes),
                    max(b[2] for b in boxes), max(b[3] for b in boxes))
    return _int_box(person.box)


def draw_part_states(canvas: Canvas, persons: Sequence[Person], vocab: Vocabulary,
                     state_threshold: float) -> None:
    """Each group's shown state (:func:`group_states`) on a label in the group colour next to the group's
    part boxes. Persons without PaSta get none."""
    gap = canvas.metrics.gap
    for person in persons:
        for group, state, _prob in group_states(person, vocab, state_threshold):
            anchor = _group_anchor(person, vocab, group)
            if anchor is None:
                continue
            name = vocab.groups[group]
            color = group_color(name, group)
            text = display_name(vocab.pasta[state])
            w, h = canvas.text_size(text)
            sides = _GROUP_SIDES.get(name, _DEFAULT_SIDES)
            canvas.label([(text, text_color_on(color))], _side_candidates(anchor, w, h, gap, sides), color)


def _action_lines(person: Person, vocab: Vocabulary, top_k: int, threshold: float,
                  max_chars: int) -> list[tuple[str, BGR]]:
    return [(f"{display_name(vocab.actions[i], max_chars)} {p * 100:.0f}%", WHITE)
            for i, p in top_actions(person, vocab, top_k, threshold)]


def draw_actions(canvas: Canvas, persons: Sequence[Person], vocab: Vocabulary, top_k: int,
                 action_threshold: float) -> None:
    """Each person's top actions as a dark block beside its box (right, else left, below, above), with a
    bar in the track colour; blocks of people close together are stacked, never piled up."""
    m = canvas.metrics
    boxes = [_int_box(p.box) for p in persons]
    for index, person in enumerate(persons):
        box = boxes[index]
        lines = _action_lines(person, vocab, top_k, action_threshold, max_chars=24)
        if box is None or not lines:
            continue
        # Keep the block off other people and off this person's head and shoulders (top 40 % of the box).
        head = (box[0], box[1], box[2], box[1] + (box[3] - box[1]) * 2 // 5)
        avoid = [b for i, b in enumerate(boxes) if b is not None and i != index] + [head]
        w = max(canvas.text_size(t)[0] for t, _ in lines) + m.pad
        h = m.line_height * len(lines)
        x1, y1, x2, y2 = box
        candidates = [(x2 + m.gap, y1), (x1 - m.gap - w, y1), (x1, y2 + m.gap),
                      (x1, y1 - h - m.line_height), (x1 + m.gap, y1 + m.line_height)]
        canvas.label(lines, candidates, _PANEL, stripe=track_color(person.track_id), avoid=avoid)


def _fit(canvas: Canvas, text: str, max_width: int) -> str:
    """``text`` cut (with "..") until its label row is at most ``max_width`` px wide."""
    while len(text) > 3 and canvas.text_size(text)[0] > max_width:
        text = text[:-3].rstrip() + ".."
    return text


def draw_sidebar(canvas: Canvas, persons: Sequence[Person], vocab: Vocabulary, top_k: int,
                 action_threshold: float) -> None:
    """The actions panel in the columns right of the frame (``canvas.image`` must be wider than
    ``canvas.frame_width``): per person an "ID n" header in the track colour, its top actions and a rule
    in the track colour; "+n more" when the panel is full."""
    m = canvas.metrics
    x0 = canvas.frame_width
    panel_w = canvas.image.shape[1] - x0
    if panel_w <= 0:
        return
    canvas.fill((x0, 0, x0 + panel_w, canvas.height), (0, 0, 0))
    average_char = max(1, canvas.text_size("n" * 10)[0] - 2 * m.pad) / 10
    name_chars = max(4, int((panel_w - 2 * m.pad) / average_char) - 5)  # room for " 100%"
    y = m.pad
    for n, person in enumerate(persons):
        lines = _action_lines(person, vocab, top_k, action_threshold, max_chars=name_chars)
        if y + m.line_height * (1 + max(1, len(lines))) > canvas.height:
            canvas.put_row(f"+{len(persons) - n} more", x0 + m.pad, y, WHITE, (0, 0, 0))
            break
        color = track_color(person.track_id)
        header = f"ID {person.track_id}" if person.track_id >= 0 else "?"
        canvas.put_row(header, x0 + m.pad, y, text_color_on(color), color)
        y += m.line_height
        for text, text_color in lines or [("-", _SEPARATOR)]:
            canvas.put_row(_fit(canvas, text, panel_w - m.pad), x0 + m.pad, y, text_color, (0, 0, 0))
            y += m.line_height
        rule_y = y + m.pad // 2
        canvas.fill((x0 + m.pad, rule_y, x0 + panel_w - m.pad, rule_y + max(1, m.line_width // 2)), color)
        y += m.pad * 2


@dataclass
class _HudLayout:
    rows: list[list[tuple[str, BGR]]]
    rect: tuple[int, int, int, int]


def hud_segments(result: FrameResult) -> list[tuple[str, BGR]]:
    """The heads-up line's pieces, each ``(text, colour)``: fps, per-stage ms, dropped frames, pose
    backend and, when PaSta is off, "PaSta off: <reason>" in amber."""
    info = result.info or {}
    segments: list[tuple[str, BGR]] = []
    fps = info.get("fps")
    if fps is not None:
        segments.append((f"{float(fps):.1f} fps", WHITE))
    if result.timings:
        stages = ", ".join(f"{name} {ms:.1f}" for name, ms in result.timings.items())
        segments.append((f"{stages} ms", WHITE))
    if "dropped" in info:
        segments.append((f"dropped {int(info['dropped'])}", WHITE))
    if info.get("pose_backend"):
        segments.append((f"pose: {info['pose_backend']}", WHITE))
    if info.get("pasta_off"):
        segments.append((f"PaSta off: {info['pasta_off']}", HUD_WARNING))
    return segments


def _layout_hud(canvas: Canvas, result: FrameResult) -> Optional[_HudLayout]:
    """Split the HUD segments into rows that fit the frame width, with a grey "|" between segments of a
    row; each piece is an opaque text row, so pieces follow each other at their row widths."""
    segments = hud_segments(result)
    if not segments:
        return None
    sep_w = canvas.text_size("|")[0]
    rows: list[list[tuple[str, BGR]]] = [[]]
    widths = [0]
    for text, color in segments:
        w = canvas.text_size(text)[0]
        if rows[-1] and widths[-1] + sep_w + w > canvas.frame_width:
            rows.append([])
            widths.append(0)
        if rows[-1]:
            rows[-1].append(("|", _SEPARATOR))
            widths[-1] += sep_w
        rows[-1].append((text, color))
        widths[-1] += w
    rect = (0, 0, min(canvas.frame_width, max(widths)), canvas.metrics.line_height * len(rows))
    return _HudLayout(rows, rect)


def _draw_hud_layout(canvas: Canvas, hud: _HudLayout) -> None:
    canvas.fill(hud.rect, _PANEL)
    for r, row in enumerate(hud.rows):
        x = hud.rect[0]
        y = hud.rect[1] + r * canvas.metrics.line_height
        for text, color in row:
            x += canvas.put_row(text, x, y, color, _PANEL)


def draw_hud(canvas: Canvas, result: FrameResult) -> None:
    """The heads-up line (:func:`hud_segments`) at the frame's top-left, wrapped to the frame width on a
    dark band; its area is reserved so labels placed afterwards avoid it."""
    hud = _layout_hud(canvas, result)
    if hud is not None:
        canvas.placer.reserve(hud.rect)
        _draw_hud_layout(canvas, hud)


# --------------------------------------------------------------------------------------------- compose

def output_width(frame_width: int, frame_height: int, style: RenderConfig) -> int:
    """Width of :func:`annotate`'s output: the frame's, plus :func:`engine.render_style.sidebar_width`
    when ``style.sidebar`` is on (and actions are shown)."""
    if style.sidebar and style.actions:
        return frame_width + sidebar_width(frame_width, frame_height, style.text_scale)
    return frame_width


def annotate(frame_bgr: np.ndarray, result: FrameResult, style: RenderConfig,
             vocab: Optional[Vocabulary] = None, on_text: Optional[TextHook] = None) -> np.ndarray:
    """Draw ``result`` over a copy of ``frame_bgr`` ((H, W, 3) BGR uint8; the input is not modified).

    Returns (H, W, 3) BGR uint8, or (H, W + sidebar_width(W, H), 3) when ``style.sidebar`` is on (the
    frame at columns [0, W), the actions panel right of it; see :func:`output_width`). Each element is
    switched by ``style`` (box, id_badge, skeleton, part_boxes, part_states, actions, hud). ``vocab``
    defaults to the project's vocabulary. ``on_text(text, (x1, y1, x2, y2))`` is called for every string
    drawn, with its label rectangle in output pixels.
    """
    frame = np.asarray(frame_bgr)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"annotate needs an (H, W, 3) BGR uint8 frame, got shape {frame.shape} "
                         f"dtype {frame.dtype}; convert with cv2.cvtColor / astype(np.uint8)")
    vocab = vocab or load_vocab()
    height, width = frame.shape[:2]
    total_width = output_width(width, height, style)
    if total_width > width:
        image = np.zeros((height, total_width, 3), np.uint8)
        image[:, :width] = frame
    else:
        image = frame.copy()
    canvas = Canvas(image, frame_width=width, text_scale=style.text_scale, on_text=on_text)
    persons = visible_persons(result.persons, style)

    hud = _layout_hud(canvas, result) if style.hud else None
    if hud is not None:
        canvas.placer.reserve(hud.rect)
    if style.box:
        draw_person_boxes(canvas, persons)
    if style.skeleton:
        draw_skeletons(canvas, persons, style.keypoint_threshold)
    if style.part_boxes:
        draw_part_boxes(canvas, persons, vocab)
    if style.id_badge:
        draw_id_badges(canvas, persons)
    if style.actions:
        if style.sidebar:
            draw_sidebar(canvas, persons, vocab, style.top_k_actions, style.action_threshold)
        else:
            draw_actions(canvas, persons, vocab, style.top_k_actions, style.action_threshold)
    if style.part_states:
        draw_part_states(canvas, persons, vocab, style.state_threshold)
    if hud is not None:
        _draw_hud_layout(canvas, hud)
    return image
