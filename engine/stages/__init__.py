"""The composition root: which stages a config builds, and the default renderer.

Stage modules (``pose``, ``tracker``, ``a2v``) are imported lazily so that ``engine.pipeline`` and anything
that only needs the protocol (:mod:`engine.stages.base`) stay free of model code.
"""
from __future__ import annotations

from typing import Callable, Optional

from engine.config import Config
from engine.stages.base import Stage


def build_stages(config: Config, progress: Optional[Callable[[str], None]] = None) -> list[Stage]:
    """The model stages for ``config``: pose (unless ``pose.backend: none``), tracker, A2V (if enabled).

    Imported lazily so the pipeline itself needs no model code. ``progress(text)``, when given, is told
    what is being loaded before each stage is built (e.g. "the pose model (pose.backend auto, device
    cpu)"), so a window can say what takes the time.
    """
    say = progress or (lambda text: None)
    stages: list[Stage] = []
    if config.pose.backend != "none":
        from engine.stages.pose import PoseStage

        say(f"the pose model (pose.backend {config.pose.backend}, device {config.device})")
        stages.append(PoseStage(config))
    from engine.stages.tracker import TrackerStage

    say("the tracker")
    stages.append(TrackerStage(config))
    if config.a2v.enabled:
        from engine.stages.a2v import A2VStage

        say(f"the A2V model ({config.a2v.checkpoint}, language {config.a2v.language})")
        stages.append(A2VStage(config))
    return stages


def default_renderer(config: Config):
    """``render(frame, result) -> annotated frame`` drawing with ``config.render`` (read every frame)."""
    from engine.render.annotate import annotate
    from engine.vocab import load_vocab

    vocab = load_vocab()
    return lambda frame, result: annotate(frame, result, config.render, vocab)
