"""Colours of the overlays, all BGR uint8 triples (OpenCV order).

- ``track_color(track_id)``: a fixed colour per track ID from a 12-colour palette, so a person keeps
  their colour for the whole video (the HAKE demo ranked people per frame, so its colours jumped);
  unconfirmed persons (``track_id == -1``) are grey.
- ``GROUP_COLORS``: one colour per PaSta group in the vocabulary's group order
  (foot, leg, hip, hand, arm, head), the HAKE demo's: foot green, leg cyan, hip yellow, hand orange,
  arm magenta, head red.
- ``text_color_on(bg)``: black or white, whichever reads better on ``bg``.
"""
from __future__ import annotations

from engine.vocab import load_vocab

BGR = tuple[int, int, int]


def _bgr(r: int, g: int, b: int) -> BGR:
    return (b, g, r)


# Neighbouring entries differ strongly in hue, so consecutive track IDs (the common case) never look
# alike; no entry equals a group colour or the unconfirmed grey, so a person's box is never mistaken for
# a part box.
TRACK_PALETTE: tuple[BGR, ...] = (
    _bgr(0, 114, 255),    # azure
    _bgr(255, 64, 129),   # pink
    _bgr(0, 200, 140),    # teal
    _bgr(255, 214, 90),   # sand
    _bgr(150, 100, 255),  # lavender
    _bgr(130, 220, 40),   # lime
    _bgr(200, 0, 120),    # plum
    _bgr(0, 190, 255),    # sky
    _bgr(255, 120, 70),   # coral
    _bgr(40, 60, 200),    # indigo
    _bgr(150, 90, 40),    # brown
    _bgr(255, 150, 220),  # rose
)

UNCONFIRMED_COLOR: BGR = (160, 160, 160)

# Group order of assets/vocab/a2v_vocab.yaml: foot, leg, hip, hand, arm, head.
GROUP_COLORS: tuple[BGR, ...] = (
    _bgr(0, 255, 0),      # foot: green
    _bgr(0, 255, 255),    # leg: cyan
    _bgr(255, 255, 0),    # hip: yellow
    _bgr(255, 165, 0),    # hand: orange
    _bgr(255, 0, 255),    # arm: magenta
    _bgr(255, 0, 0),      # head: red
)
GROUP_COLOR_BY_NAME: dict[str, BGR] = dict(zip(load_vocab().groups, GROUP_COLORS, strict=True))

WHITE: BGR = (255, 255, 255)
BLACK: BGR = (0, 0, 0)
HUD_WARNING: BGR = _bgr(255, 190, 60)  # amber: "PaSta off: ..."


def track_color(track_id: int) -> BGR:
    """The colour of a track for the whole video; grey for unconfirmed persons (``track_id < 0``)."""
    if track_id < 0:
        return UNCONFIRMED_COLOR
    return TRACK_PALETTE[track_id % len(TRACK_PALETTE)]


def group_color(group_name: str, group_index: int) -> BGR:
    """The colour of a PaSta group, by name (demo colours); unknown names fall back to their index."""
    return GROUP_COLOR_BY_NAME.get(group_name, GROUP_COLORS[group_index % len(GROUP_COLORS)])


def text_color_on(background: BGR) -> BGR:
    """Black on light backgrounds, white on dark ones (Rec. 601 luma threshold at mid-grey)."""
    b, g, r = background
    return BLACK if 0.299 * r + 0.587 * g + 0.114 * b >= 140 else WHITE
