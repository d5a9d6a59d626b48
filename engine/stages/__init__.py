"""The composition root: which stages a config builds, and the default renderer.

Stage modules (``pose``, ``tracker``, ``a2v``) are imported lazily so that ``engine.pipeline`` and anything
that only needs the protocol (:mod:`engine.stages.base`) stay free of model code.
"""
from __future__ import annotations

from typing import Callable, Optional

from engine.config import Config
from engine.stages.base import Stage


def build_stages(config: Config, still_images: bool = False,
                 progress: Optional[Callable[[str], None]] = None) -> list[Stage]:
    """The model stages for ``config``: pose (unless ``pose.backend: none``), tracker, A2V (if enabled).

    ``still_images``: the frames are unrelated photos (an image folder in ``independent`` mode): pose runs
    its detector on every image, nothing is tracked (persons are numbered per image) and A2V runs on every
    image. Stages with ``set_still_images(still)`` can be switched later (``engine.api.Predictor`` does).
    ``progress(text)``, when given, is told what is being loaded before each stage is built (e.g. "the pose
    model (pose.backend auto, device cpu)"), so a window can say what takes the time.
    Imported lazily so the pipeline itself needs no model code.
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
    set_still_images(stages, still_images)
    return stages


def set_still_images(stages, still: bool) -> None:
    """Tell every stage that has ``set_still_images`` whether the next frames are unrelated photos."""
    for stage in stages:
        setter = getattr(stage, "set_still_images", None)
        if setter is not None:
            setter(bool(still))


_VIDEO_ONLY_INFO = ("fps", "dropped")


def default_renderer(config: Config, still: bool = False):
    """``render(frame, result) -> annotated frame`` drawing with ``config.render`` (read every frame).

    ``still``: independent images. Their HUD leaves out fps, per-stage milliseconds and dropped frames
    (they describe a video run, not a photo, and would make the same photo render differently on every
    run); the pose backend and a "PaSta off" reason stay.
    """
    from engine.render.annotate import annotate
    from engine.vocab import load_vocab

    vocab = load_vocab()
    if not still:
        return lambda frame, result: annotate(frame, result, config.render, vocab)

    def render_still(frame, result):
        import dataclasses

        info = {k: v for k, v in result.info.items() if k not in _VIDEO_ONLY_INFO}
        return annotate(frame, dataclasses.replace(result, timings={}, info=info), config.render, vocab)

    return render_still
