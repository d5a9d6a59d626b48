"""A2V: frame + persons → part boxes, skeleton maps, PaSta, actions and the A2V vector.

Public API (code outside the project calls this)::

    from engine.a2v import A2V
    a2v = A2V.from_files(checkpoint=PATH, language_matrix=PATH_OR_ARRAY, device="cpu")
    out = a2v.infer(image_bgr, boxes, keypoints)
    # image_bgr (H, W, 3) uint8; boxes (N, 4) float xyxy pixels; keypoints (N, 17, 3) COCO-17 x, y, conf
    # out: dict of numpy float32 arrays: part_boxes (N, 10, 4) (clipped to the image, as fed to the
    #      network), skeleton_maps (N, 64, 64), pasta (N, 93), actions (N, 157), visual (N, 3072),
    #      language (N, 1536) (N, 768 with the MiniLM matrix)

``checkpoint``: the official ``pretrained_model.pth`` (``{"model_state_dict": ...}``), a checkpoint saved
by this project, or a registered name (``a2v_v1``). ``language_matrix``: a ``.npy`` path, an array, or a
name understood by :func:`engine.language.language_matrix` (default ``minilm``).

Modes: ``parity`` runs the trunk at the original resolution (the official test path: the official
numbers); ``fast`` first downscales the frame so its long side is at most ``fast_long_side`` (512 = the
official *training* scale) and scales the boxes alike; on a CPU that is the lever, since the trunk is most
of the cost. fp16 autocast is used on CUDA when ``fp16`` is true. With ``fuse_bn`` (default) inference
runs a copy of the trunk with BatchNorm folded into the convs (same numbers up to float32 rounding).

:class:`A2VStage` is the pipeline stage (``name = "a2v"``): it fills ``Person.part_boxes`` always and
``pasta``, ``actions``, ``visual``, ``language`` for every person of a frame in one forward pass. With
``a2v.stride = k`` it runs every k-th frame; in between, each person carries the last results of its track
(``Person.pasta_age`` = frames since they were computed; persons whose track has none get None). Without
PaSta weights it fills part boxes only and sets ``result.info["pasta_off"]``.
"""
from __future__ import annotations

import logging
import os
from contextlib import nullcontext
from typing import Optional, Union

import numpy as np
import torch

from engine.parts import clip_boxes, part_boxes, skeleton_maps
from engine.pasta_net import NUM_PASTA, NUM_VERBS, PastaNet, fuse_for_inference, preprocess

log = logging.getLogger(__name__)

MODES = ("parity", "fast")


class A2VError(ValueError):
    """Bad input or configuration of the A2V stage, phrased as one line with the fix."""


def _resize_long_side(image: np.ndarray, long_side: int) -> tuple[np.ndarray, float]:
    """Downscale (never upscale) so max(H, W) <= long_side; returns the image and the scale applied."""
    from engine.cvcompat import cv2

    h, w = image.shape[:2]
    scale = min(1.0, long_side / float(max(h, w)))
    if scale >= 1.0:
        return image, 1.0
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR), scale


class A2V:
    """The A2V model: a :class:`PastaNet` + a language matrix + pre/post-processing (module docstring)."""

    def __init__(self, net: PastaNet, language: Optional[np.ndarray], device: Union[str, torch.device] = "cpu",
                 mode: str = "parity", fast_long_side: int = 512, fp16: bool = True, fuse_bn: bool = True) -> None:
        from engine.device import resolve_device

        if mode not in MODES:
            raise A2VError(f"a2v mode {mode!r}: use one of {', '.join(MODES)}")
        self.device = resolve_device(device)
        self.net = net.to(self.device).eval()
        # BN folded into the trunk's convs: same numbers up to float32 rounding, less CPU time.
        self.runner = fuse_for_inference(self.net) if fuse_bn else self.net
        if fuse_bn and self.device.type == "cuda":
            self.runner.use_channels_last()
        self.language = None if language is None else np.ascontiguousarray(language, dtype=np.float32)
        if self.language is not None and self.language.shape[0] != NUM_PASTA:
            raise A2VError(f"language matrix has shape {self.language.shape}, expected ({NUM_PASTA}, 2D)")
        self.mode = mode
        self.fast_long_side = int(fast_long_side)
        self.fp16 = bool(fp16)

    @classmethod
    def from_files(cls, checkpoint: Union[str, os.PathLike, dict], language_matrix=None,
                   device: Union[str, torch.device] = "cpu", mode: str = "parity", fast_long_side: int = 512,
                   fp16: bool = True, fuse_bn: bool = True) -> "A2V":
        """Build from a checkpoint (path, registered name or state dict) and a language matrix
        (path, array or name; None = the bundled MiniLM matrix)."""
        from engine.language import language_matrix as load_language

        net = PastaNet()
        net.load_checkpoint(checkpoint if isinstance(checkpoint, dict) else os.fspath(checkpoint))
        matrix = load_language("minilm" if language_matrix is None else language_matrix)
        return cls(net, matrix, device=device, mode=mode, fast_long_side=fast_long_side, fp16=fp16,
                   fuse_bn=fuse_bn)

    @property
    def language_dim(self) -> int:
        return 0 if self.language is None else int(self.language.shape[1])

    def _autocast(self):
        if self.fp16 and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.float16)
        return nullcontext()

    def infer(self, image_bgr: np.ndarray, boxes, keypoints) -> dict[str, np.ndarray]:
        """All persons of one image in one forward pass; see the module docstring for shapes."""
        image = np.asarray(image_bgr)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise A2VError(f"image_bgr must be an (H, W, 3) uint8 BGR image, got {image.shape} {image.dtype}")
        height, width = image.shape[:2]
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        keypoints = np.asarray(keypoints, dtype=np.float32)
        if keypoints.shape != (boxes.shape[0], 17, 3):
            raise A2VError(f"keypoints must have shape (N, 17, 3) with N = {boxes.shape[0]} boxes, "
                           f"got {keypoints.shape}")
        n = boxes.shape[0]
        parts = clip_boxes(part_boxes(keypoints, boxes), (width, height))
        skeletons = skeleton_maps(keypoints, (width, height))
        out = {"part_boxes": parts, "skeleton_maps": skeletons}
        if n == 0:
            out.update(pasta=np.zeros((0, NUM_PASTA), np.float32), actions=np.zeros((0, NUM_VERBS), np.float32),
                       visual=np.zeros((0, 3072), np.float32),
                       language=np.zeros((0, self.language_dim), np.float32))
            return out
        scale = 1.0
        if self.mode == "fast":
            image, scale = _resize_long_side(image, self.fast_long_side)
        with torch.inference_mode(), self._autocast():
            tensor = preprocess(image, self.device)
            human = torch.from_numpy(boxes * scale).to(self.device)
            part = torch.from_numpy(parts * scale).to(self.device)
            skel = torch.from_numpy(skeletons).to(self.device)
            result = self.runner(tensor, human, part, skel)
            # One device → host copy for all three outputs.
            packed = torch.cat([result.pasta_probs.float(), result.verb_probs.float(), result.visual.float()], 1)
            packed = packed.cpu().numpy()
            pasta, actions, visual = np.split(packed, [NUM_PASTA, NUM_PASTA + NUM_VERBS], axis=1)
            pasta, actions, visual = (np.ascontiguousarray(a) for a in (pasta, actions, visual))
        out.update(pasta=pasta, actions=actions, visual=visual)
        out["language"] = (pasta @ self.language).astype(np.float32) if self.language is not None else \
            np.zeros((n, 0), np.float32)
        return out


# ------------------------------------------------------------------------------------------------ the stage

PASTA_OFF_NO_WEIGHTS = "no A2V weights: run `python main.py weights fetch a2v_v1` (or `weights import`)"


class A2VStage:
    """Pipeline stage ``a2v`` (engine.stage protocol); see the module docstring."""

    name = "a2v"

    def __init__(self, config) -> None:
        from engine.weights import WeightsError, WeightsNotFound, locate

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
        from engine.language import LanguageError, language_matrix

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
            boxes_out = clip_boxes(part_boxes(keypoints, boxes), (width, height))
            for person, pb in zip(persons, boxes_out):
                person.part_boxes = pb
                carried = self._carried.get(person.track_id) if person.track_id >= 0 else None
                if carried is not None:
                    self._fill(person, carried[1], result.index - carried[0])
        self._forget_old(result.index)

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
