"""Pipeline stage ``a2v``: fills ``Person.part_boxes`` always and ``pasta``, ``actions``, ``visual``,
``language`` for every person of a frame in one forward pass of :class:`engine.a2v.api.A2V`.

With ``a2v.stride = k`` it runs every k-th frame; in between, each person carries the last results of its
track (``Person.pasta_age`` = frames since they were computed; persons whose track has none get None).
Independent images (:meth:`A2VStage.set_still_images`): it runs on every image whatever the stride, and
nothing is carried (the per-image numbers 1..N are not tracks). :meth:`A2VStage.process_batch` runs the
frames the pipeline hands over together (``pose.batch_size`` > 1) through :meth:`A2V.infer_batch`: one
trunk forward per image size and the heads once for the persons of all of them.
Without PaSta weights it fills part boxes only and sets ``result.info["pasta_off"]``. With them it sets
``result.info["a2v_language"]``: one line naming the language matrix that ran and the A2V vector's length
(``a2v.language: auto`` picks the official .npy, else bert-base-uncased, else MiniLM; see
:mod:`engine.a2v.language`). :meth:`A2VStage.provenance` is this stage's part of ``run.json``.
"""
from __future__ import annotations

import logging
from typing import Optional

import numpy as np

from engine.a2v.api import A2V, A2VError
from engine.a2v.net import PastaNet
from engine.a2v.parts import clip_boxes, part_boxes

log = logging.getLogger(__name__)

# Shown in the HUD, the GUI status bar and every saved frame: short, and a command that works from here.
PASTA_OFF_NO_WEIGHTS = "no A2V weights: run `python main.py weights fetch a2v_v1` (it prints the steps if it fails)"
PASTA_OFF_NO_WEIGHTS_OFFLINE = ("no A2V weights (offline): run `python main.py weights import a2v_v1 "
                                "pretrained_model.pth` (see README, Weights)")


def pasta_off_no_weights() -> str:
    """The PaSta-off reason without A2V weights; offline, fetching is no use, so it says how to import."""
    from engine.weights.download import offline

    return PASTA_OFF_NO_WEIGHTS_OFFLINE if offline() else PASTA_OFF_NO_WEIGHTS


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
        self.still_images = False
        self.language_choice = None                           # engine.a2v.language.LanguageChoice once loaded
        self.checkpoint_path = None
        self._language_line = ""
        if not cfg.enabled:
            self.pasta_off = "A2V disabled (a2v.enabled: false)"
            return
        try:
            checkpoint = locate(cfg.checkpoint)
        except WeightsNotFound as exc:
            self.pasta_off = pasta_off_no_weights() if cfg.checkpoint == "a2v_v1" else \
                f"no A2V weights '{cfg.checkpoint}': {exc.hint}"
            log.warning("PaSta and actions are off. %s", str(exc))  # a string: a kept record must not pin frames
            return
        except WeightsError as exc:
            raise A2VError(f"a2v.checkpoint: {exc}") from None
        net = PastaNet()
        try:
            net.load_checkpoint(checkpoint)
        except WeightsError as exc:  # a junk file: one line naming it and what is wrong, never a bare KeyError
            raise A2VError(f"a2v.checkpoint: {exc}") from None
        self.checkpoint_path = checkpoint
        matrix, self.language_choice = self._language(cfg.language)
        self.model = A2V(net, matrix, device=config.device, mode=cfg.mode, fast_long_side=cfg.fast_long_side,
                         fp16=cfg.fp16, runtime=cfg.runtime)
        self._language_line = self.language_choice.summary()
        log.info("A2V language matrix: %s", self._language_line)

    def _language(self, spec: str):
        """(matrix, LanguageChoice) for ``a2v.language``; an unavailable explicit choice falls back to MiniLM."""
        from dataclasses import replace

        from engine.a2v.language import AUTO, MINILM_NOTE, LanguageError, load_language

        try:
            return load_language(spec)
        except LanguageError as exc:
            if spec in ("minilm", AUTO):
                raise A2VError(f"a2v.language: {exc}") from None
            log.warning("a2v.language %r is not available (%s); using the bundled MiniLM matrix", spec, str(exc))
            matrix, choice = load_language("minilm")
            return matrix, replace(choice, requested=spec, note=f"{spec} unavailable, using MiniLM; {MINILM_NOTE}")

    def set_still_images(self, still: bool) -> None:
        """Independent images: run on every image (no stride) and carry nothing between images."""
        self.still_images = bool(still)
        self._carried.clear()
        self._calls = 0

    @property
    def batch_size(self) -> int:
        """Frames per A2V forward: ``config.pose.batch_size`` (the frames the pose stage batched travel on
        together), read live as the pose stage reads it."""
        return max(1, int(self.config.pose.batch_size))

    def process_batch(self, frames, results) -> None:
        """Several frames (same length lists) in one :meth:`A2V.infer_batch` call when every one of them is
        due (stride 1 or independent images); otherwise frame by frame, so the stride carry sees the frames
        in order."""
        if len(frames) != len(results):
            raise ValueError(f"process_batch: {len(frames)} frames but {len(results)} results")
        if self.model is None or (self.stride > 1 and not self.still_images):
            for frame, result in zip(frames, results):
                self(frame, result)
            return
        boxes = [np.stack([p.box for p in r.persons]).astype(np.float32) if r.persons else np.zeros((0, 4))
                 for r in results]
        keypoints = [np.stack([p.keypoints for p in r.persons]).astype(np.float32) if r.persons else
                     np.zeros((0, 17, 3)) for r in results]
        outs = self.model.infer_batch(list(frames), boxes, keypoints)
        for result, out in zip(results, outs):
            self._calls += 1
            result.info["a2v_language"] = self._language_line
            self._store(result, out)

    def _store(self, result, out: dict) -> None:
        """Fill the persons of ``result`` from one image's :meth:`A2V.infer` output."""
        for i, person in enumerate(result.persons):
            person.part_boxes = out["part_boxes"][i]
            arrays = {k: out[k][i] for k in ("pasta", "actions", "visual", "language")}
            self._fill(person, arrays, 0)
            if person.track_id >= 0 and not self.still_images:
                self._carried[person.track_id] = (result.index, arrays)
        if not self.still_images:
            self._forget_old(result.index)

    def __call__(self, frame: np.ndarray, result) -> None:
        persons = result.persons
        height, width = frame.shape[:2]
        if self.pasta_off is not None:
            result.info["pasta_off"] = self.pasta_off
        else:
            result.info["a2v_language"] = self._language_line
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
        run_now = self.still_images or self._calls % self.stride == 0
        self._calls += 1
        if run_now:
            self._store(result, self.model.infer(frame, boxes, keypoints))
            return
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
        else:
            result.info["a2v_language"] = self._language_line
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

    def reset(self) -> None:
        """A new source starts: no results carried along tracks, the stride counts from its first frame."""
        self._carried.clear()
        self._calls = 0

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
        via = m.onnx.label if m.onnx is not None else "PyTorch"
        runtime = f" via {via} (runtime {m.runtime}, {m.runtime_reason})"
        return f"A2V v1 {mode}{runtime} on {describe_device(m.device)}{stride}; language {self._language_line}"

    def provenance(self) -> dict:
        """This stage's section of the run's provenance record (:func:`engine.provenance.provenance`):
        what actually ran — checkpoint file and sha256, language matrix and its size, mode, device."""
        from engine.provenance import checkpoint_record, language_record

        cfg = self.config.a2v
        section = {"enabled": bool(cfg.enabled), "mode": cfg.mode, "fast_long_side": int(cfg.fast_long_side),
                   "stride": self.stride, "fp16": bool(cfg.fp16), "pasta_off": self.pasta_off}
        if self.model is not None:
            from engine.device import describe_device

            section["checkpoint"] = checkpoint_record(cfg.checkpoint, self.checkpoint_path, loaded=True)
            section["language"] = {**self.language_choice.as_dict(), "summary": self._language_line}
            section["device"] = describe_device(self.model.device)
            section["runtime"] = self.model.runtime
            section["runtime_requested"] = cfg.runtime
            section["runtime_reason"] = self.model.runtime_reason
        else:
            section["checkpoint"] = checkpoint_record(cfg.checkpoint, None, loaded=False,
                                                      error=self.pasta_off if not cfg.enabled else None)
            section["language"] = {**language_record(cfg.language), "used_in_run": False}
        return section
