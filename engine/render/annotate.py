"""Overlays in the HAKE demo look, per tracked person: pure functions of (frame, FrameResult, style) → frame.

``annotate(frame, result, style, vocab)`` returns a new annotated BGR uint8 frame. It composes the
single-purpose annotators below, which the GUI can call on its own :class:`Canvas`:

- :func:`draw_person_boxes` / :func:`draw_id_badges`: box and "ID n" badge in the track's colour
  (:func:`engine.render.colors.track_color`; unconfirmed persons in grey, only with ``style.show_unconfirmed``);
- :func:`draw_skeletons`: COCO-17 limbs; joints under ``style.keypoint_threshold`` and the limbs touching
  them are skipped;
- :func:`draw_part_boxes`: the 10 part boxes in their group's colour (foot green, leg cyan, hip yellow,
  hand orange, arm magenta, head red);
- :func:`draw_part_states`: per group, its most likely state other than no_interaction, when it passes
  ``style.state_threshold``, as "part: state" (e.g. "hand: hold") on a label in the group's colour, beside
  the person at the height of the group's part boxes where there is room (off every person box), else
  next to the part boxes;
- :func:`draw_actions` (beside each person) or :func:`draw_sidebar` (a panel right of the frame): the
  top ``style.top_k_actions`` actions over ``style.action_threshold``; no_interaction is never shown;
- :func:`draw_hud`: one line (wrapped when the frame is narrow) with fps, per-stage milliseconds, dropped
  frames, the pose backend and "PaSta off: <reason>".

Improvements over the demo: colours follow track IDs (the demo ranked people per frame, so IDs jumped;
persons are also drawn in track-ID order, so the layout is stable); cv2 drawing and cached text sprites
instead of PIL layers (a few ms per 720p frame with 5 persons, ``a2v bench render``); every label is
placed greedily so it stays inside the frame and avoids labels already drawn, action blocks also keep off
other people and the person's own head (people close together get their labels stacked, not piled up);
sizes follow the frame size (:mod:`engine.render.style`). Labels are opaque (no blending), which reads
better over busy video and costs one array copy per row.

Every string drawn can be observed through the ``on_text(text, (x1, y1, x2, y2))`` callback (tests use
it to check what is printed and where).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from engine.config import RenderConfig
from engine.cvcompat import cv2
from engine.render.colors import (
    BGR,
    HUD_WARNING,
    WHITE,
    group_color,
    text_color_on,
    track_color,
)
from engine.render.layout import Canvas, LabelPlacer, TextHook, draw_outline  # noqa: F401  (Canvas, LabelPlacer: public here too)
from engine.render.style import (
    display_name,
    sidebar_width,
)
from engine.types import FrameResult, Person
from engine.vocab import Vocabulary, load_vocab

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


def part_state_text(vocab: Vocabulary, group: int, state: int) -> str:
    """The label of a shown part state: "<group>: <state>", e.g. "hand: hold"."""
    return f"{vocab.groups[group]}: {display_name(vocab.pasta[state])}"


def draw_part_states(canvas: Canvas, persons: Sequence[Person], vocab: Vocabulary,
                     state_threshold: float) -> None:
    """Each group's shown state (:func:`group_states`) as "part: state" on a label in the group colour.

    First choices are beside the person box (the side nearer the part, then the other) at the height of
    the group's part boxes, so labels do not cover the person; then around the part boxes. Every person
    box is kept clear when the frame has room. Persons without PaSta get none."""
    gap = canvas.metrics.gap
    person_boxes = [b for b in (_int_box(p.box) for p in persons) if b is not None]
    for person in persons:
        box = _int_box(person.box)
        for group, state, _prob in group_states(person, vocab, state_threshold):
            anchor = _group_anchor(person, vocab, group)
            if anchor is None:
                continue
            name = vocab.groups[group]
            color = group_color(name, group)
            text = part_state_text(vocab, group, state)
            w, h = canvas.text_size(text)
            sides = _GROUP_SIDES.get(name, _DEFAULT_SIDES)
            candidates = _side_candidates(anchor, w, h, gap, sides)
            if box is not None:
                left, right = (box[0] - gap - w, anchor[1]), (box[2] + gap, anchor[1])
                nearer_left = (anchor[0] + anchor[2]) / 2 < (box[0] + box[2]) / 2
                candidates = [left, right] if nearer_left else [right, left]
                candidates += _side_candidates(anchor, w, h, gap, sides)
            canvas.label([(text, text_color_on(color))], candidates, color, avoid=person_boxes)


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
    """The heads-up line's pieces, each ``(text, colour)``: fps, per-stage ms, dropped frames, persons
    the pose stage found, pose backend and, when PaSta is off, "PaSta off: <reason>" in amber."""
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
    if "persons" in info:
        count = int(info["persons"])
        segments.append((f"{count} person{'' if count == 1 else 's'} in view", WHITE))
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
    """Width of :func:`annotate`'s output: the frame's, plus :func:`engine.render.style.sidebar_width`
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
