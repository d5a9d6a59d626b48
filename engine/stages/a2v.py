"""Pipeline stage ``a2v``: fills ``Person.part_boxes`` always and ``pasta``, ``actions``, ``visual``,
``language`` for every person of a frame in one forward pass of :class:`engine.a2v.api.A2V`.

With ``a2v.stride = k`` it runs every k-th frame; in between, each person carries the last results of its
track (``Person.pasta_age`` = frames since they were computed; persons whose track has none get None).
Without PaSta weights it fills part boxes only and sets ``result.info["pasta_off"]``.
"""
from __future__ import annotations

import logging
from typing import Optional

import numpy as np

from engine.a2v.api import A2V, A2VError
from engine.a2v.net import PastaNet
from engine.a2v.parts import clip_boxes, part_boxes

log = logging.getLogger(__name__)

PASTA_OFF_NO_WEIGHTS = "no A2V weights: run `python main.py weights fetch a2v_v1` (or `weights import`)"


class A2VStage:
    """Pipeline stage ``a2v`` (:class:`engine.stages.base.Stage` protocol); see the module docstring."""

    name = "a2v"

    def __init__(self, config) -> None:
        from engine.weights.store import WeightsError, WeightsNotFound, locate

        self.config = config
        cfg = config.a2v
        self.stride = max(1, int(cfg.stride))
        self.model: Optional[A2V] = None
        self.pasta_off: Optional[str] = None
        self._calls = 0
        self._carried: dict[int, tuple[int, dict]] = {}       # track_id → (frame index, per-person arrays)
        self._language_note = ""
        if not cfg.enabled:
            self.pasta_off = "A2V disabled (a2v.enabled: false)"
            return
        try:
            checkpoint = locate(cfg.checkpoint)
        except WeightsNotFound as exc:
            self.pasta_off = PASTA_OFF_NO_WEIGHTS if cfg.checkpoint == "a2v_v1" else \
                f"no A2V weights '{cfg.checkpoint}': see the log for the manual steps"
            log.warning("PaSta and actions are off. %s", exc)
            return
        except WeightsError as exc:
            raise A2VError(f"a2v.checkpoint: {exc}") from None
        net = PastaNet()
        net.load_checkpoint(checkpoint)
        matrix = self._language(cfg.language)
        self.model = A2V(net, matrix, device=config.device, mode=cfg.mode, fast_long_side=cfg.fast_long_side,
                         fp16=cfg.fp16)

    def _language(self, spec: str) -> Optional[np.ndarray]:
        from engine.a2v.language import LanguageError, language_matrix

        try:
            return language_matrix(spec)
        except LanguageError as exc:
            if spec == "minilm":
                raise A2VError(f"a2v.language: {exc}") from None
            log.warning("a2v.language %r is not available (%s); using the bundled MiniLM matrix", spec, exc)
            self._language_note = f"language {spec} unavailable, using minilm"
            return language_matrix("minilm")

    def __call__(self, frame: np.ndarray, result) -> None:
        persons = result.persons
        height, width = frame.shape[:2]
        if self.pasta_off is not None:
            result.info["pasta_off"] = self.pasta_off
        if not persons:
            self._calls += 1
            return
        boxes = np.stack([p.box for p in persons]).astype(np.float32)
        keypoints = np.stack([p.keypoints for p in persons]).astype(np.float32)
        if self.model is None:
            boxes_out = clip_boxes(part_boxes(keypoints, boxes), (width, height))
            for person, pb in zip(persons, boxes_out):
                person.part_boxes = pb
            self._calls += 1
            return
        run_now = self._calls % self.stride == 0
        self._calls += 1
        if run_now:
            out = self.model.infer(frame, boxes, keypoints)
            for i, person in enumerate(persons):
                person.part_boxes = out["part_boxes"][i]
                arrays = {k: out[k][i] for k in ("pasta", "actions", "visual", "language")}
                self._fill(person, arrays, 0)
                if person.track_id >= 0:
                    self._carried[person.track_id] = (result.index, arrays)
        else:
            self._carry_tracks(persons, boxes, keypoints, (width, height), result.index)
        self._forget_old(result.index)

    def carry(self, frame: np.ndarray, result) -> None:
        """Without the network: part boxes from this frame's keypoints, and each tracked person's last
        results (as between strides). The pipeline's player mode calls this for frames it skips."""
        if self.model is None:
            self(frame, result)  # part boxes only: already cheap
            return
        if self.pasta_off is not None:
            result.info["pasta_off"] = self.pasta_off
        persons = result.persons
        if persons:
            boxes = np.stack([p.box for p in persons]).astype(np.float32)
            keypoints = np.stack([p.keypoints for p in persons]).astype(np.float32)
            self._carry_tracks(persons, boxes, keypoints, frame.shape[1::-1], result.index)

    def _carry_tracks(self, persons, boxes: np.ndarray, keypoints: np.ndarray, size, index: int) -> None:
        boxes_out = clip_boxes(part_boxes(keypoints, boxes), (int(size[0]), int(size[1])))
        for person, pb in zip(persons, boxes_out):
            person.part_boxes = pb
            carried = self._carried.get(person.track_id) if person.track_id >= 0 else None
            if carried is not None:
                self._fill(person, carried[1], abs(index - carried[0]))  # abs: after a seek back

    @staticmethod
    def _fill(person, arrays: dict, age: int) -> None:
        person.pasta = arrays["pasta"]
        person.actions = arrays["actions"]
        person.visual = arrays["visual"]
        person.language = arrays["language"]
        person.pasta_age = int(age)

    def _forget_old(self, index: int) -> None:
        horizon = max(30, 4 * self.stride)
        for track_id in [t for t, (i, _) in self._carried.items() if index - i > horizon]:
            del self._carried[track_id]

    def close(self) -> None:
        self._carried.clear()
        self.model = None

    def describe(self) -> str:
        if self.model is None:
            return f"A2V off: part boxes only ({self.pasta_off})"
        from engine.device import describe_device

        m = self.model
        mode = "parity (full resolution)" if m.mode == "parity" else f"fast (long side {m.fast_long_side})"
        stride = f", every {self.stride} frames" if self.stride > 1 else ""
        note = f"; {self._language_note}" if self._language_note else ""
        return (f"A2V v1 {mode} on {describe_device(m.device)}{stride}; language "
                f"{self.config.a2v.language} ({m.language_dim}-d){note}")
