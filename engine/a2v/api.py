"""A2V: frame + persons → part boxes, skeleton maps, PaSta, actions and the A2V vector.

Public API (code outside the project calls this)::

    from engine.a2v.api import A2V
    a2v = A2V.from_files(checkpoint=PATH, language_matrix=PATH_OR_ARRAY, device="cpu")
    out = a2v.infer(image_bgr, boxes, keypoints)
    # image_bgr (H, W, 3) uint8; boxes (N, 4) float xyxy pixels; keypoints (N, 17, 3) COCO-17 x, y, conf
    # out: dict of numpy float32 arrays: part_boxes (N, 10, 4) (clipped one-sided as the official
    #      loaders: x1, y1 >= 0, x2 <= W, y2 <= H, so a part wholly outside the image is inverted; as fed
    #      to the network), skeleton_maps (N, 64, 64), pasta (N, 93), actions (N, 157), visual (N, 3072),
    #      language (N, 1536) (N, 768 with the MiniLM matrix)

``checkpoint``: the official ``pretrained_model.pth`` (``{"model_state_dict": ...}``), a checkpoint saved
by this project, or a registered name (``a2v_v1``). ``language_matrix``: a ``.npy`` path, an array, or a
name understood by :func:`engine.a2v.language.language_matrix` (default ``auto``: the official .npy when
cached, else bert-base-uncased by the official recipe when cached, else the bundled MiniLM — then the
vector is 3,840-d, not the official 4,608-d; ``a2v.language_choice`` says which ran).

Modes: ``parity`` runs the trunk at the original resolution (the official test path: the official
numbers); ``fast`` first downscales the frame so its long side is at most ``fast_long_side`` (512 = the
official *training* scale) and scales the boxes alike; on a CPU that is the lever, since the trunk is most
of the cost. fp16 autocast is used on CUDA when ``fp16`` is true. With ``fuse_bn`` (default) inference
runs a copy of the trunk with BatchNorm folded into the convs (same numbers up to float32 rounding).

Runtimes (:mod:`engine.a2v.runtime`): ``auto`` (default: on a CPU OpenVINO, else ONNX Runtime, else
PyTorch, whichever is installed first; on CUDA ONNX Runtime when it has CUDA, else PyTorch), ``torch``,
``onnx`` (ONNX Runtime) or ``openvino``. The two graph runtimes run the whole network exported to one
ONNX graph (:mod:`engine.a2v.onnx_export`), cached on disk per weights (only the first start exports);
same numbers within the parity tolerances, faster convolutions on a CPU (``python main.py bench a2v``).
``onnx_model`` = an exported file to run instead (``python main.py export onnx``). ``runtime`` says what
runs, ``runtime_reason`` why.

The pipeline stage around this model is :class:`engine.stages.a2v.A2VStage`.
"""
from __future__ import annotations

import logging
import os
from contextlib import nullcontext
from typing import Optional, Union

import numpy as np
import torch

from engine.a2v.net import (
    NUM_PASTA,
    NUM_VERBS,
    FusedPastaNet,
    PastaNet,
    fuse_for_inference,
    preprocess,
)
from engine.a2v.parts import clip_boxes, part_boxes, repair_keypoints, skeleton_maps

log = logging.getLogger(__name__)

MODES = ("parity", "fast")
RUNTIMES = ("auto", "torch", "onnx", "openvino")


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
                 mode: str = "parity", fast_long_side: int = 512, fp16: bool = True, fuse_bn: bool = True,
                 runtime: str = "auto", onnx_model: Optional[Union[str, os.PathLike]] = None) -> None:
        from engine.device import resolve_device

        if mode not in MODES:
            raise A2VError(f"a2v mode {mode!r}: use one of {', '.join(MODES)}")
        if runtime not in RUNTIMES:
            raise A2VError(f"a2v runtime {runtime!r}: use one of {', '.join(RUNTIMES)}")
        self.device = resolve_device(device)
        self.net = net.to(self.device).eval()
        # BN folded into the trunk's convs: same numbers up to float32 rounding, less CPU time.
        self.runner = fuse_for_inference(self.net) if fuse_bn else self.net
        if fuse_bn:
            # NHWC convolutions: fp16 tensor cores on CUDA; on a CPU oneDNN's NHWC kernels take ~15 % less
            # time on the trunk than NCHW (issue 20, measured), same numbers within float32 rounding.
            self.runner.use_channels_last()
        self.language = None if language is None else np.ascontiguousarray(language, dtype=np.float32)
        if self.language is not None and self.language.shape[0] != NUM_PASTA:
            raise A2VError(f"language matrix has shape {self.language.shape}, expected ({NUM_PASTA}, 2D)")
        self.mode = mode
        # engine.a2v.language.LanguageChoice when built by from_files (which matrix, its size, a note).
        self.language_choice = None
        self.fast_long_side = int(fast_long_side)
        self.fp16 = bool(fp16)
        self.repaired_joints = 0  # NaN/inf joints treated as missing so far (warned about once)
        self.repaired_boxes = 0  # NaN/inf person boxes replaced by their keypoints' extent or the image
        from engine.a2v.runtime import build_runner, resolve_runtime

        try:
            self.runtime, self.runtime_reason = resolve_runtime(runtime, self.device)
        except ValueError as exc:
            raise A2VError(str(exc)) from None
        # The exported graph's runner (ONNX Runtime or OpenVINO; None with torch): the whole network
        # (trunk + ROI features + heads) in one call.
        self.onnx = None
        if self.runtime != "torch":
            try:
                self.onnx = build_runner(self.runtime, self.net, self.device,
                                         fp16=self.fp16 and self.device.type == "cuda", model_path=onnx_model)
            except ImportError:
                package = "onnxruntime" if self.runtime == "onnx" else "openvino"
                raise A2VError(f"a2v.runtime {self.runtime} needs {package}: pip install -r requirements.txt, "
                               f"or use a2v.runtime torch") from None
            except RuntimeError as exc:
                raise A2VError(str(exc)) from None

    @classmethod
    def from_files(cls, checkpoint: Union[str, os.PathLike, dict], language_matrix=None,
                   device: Union[str, torch.device] = "cpu", mode: str = "parity", fast_long_side: int = 512,
                   fp16: bool = True, fuse_bn: bool = True, runtime: str = "auto") -> "A2V":
        """Build from a checkpoint (path, registered name or state dict) and a language matrix
        (path, array or name; None = ``auto``, see the module docstring)."""
        from engine.a2v.language import AUTO, load_language

        net = PastaNet()
        net.load_checkpoint(checkpoint if isinstance(checkpoint, dict) else os.fspath(checkpoint))
        matrix, choice = load_language(AUTO if language_matrix is None else language_matrix)
        model = cls(net, matrix, device=device, mode=mode, fast_long_side=fast_long_side, fp16=fp16,
                    fuse_bn=fuse_bn, runtime=runtime)
        model.language_choice = choice
        return model

    @property
    def language_dim(self) -> int:
        return 0 if self.language is None else int(self.language.shape[1])

    def _autocast(self):
        if self.fp16 and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.float16)
        return nullcontext()

    def _repair(self, keypoints: np.ndarray, boxes: np.ndarray, image_size) -> tuple[np.ndarray, np.ndarray]:
        """Non-finite joints → missing joints; non-finite person boxes → the finite keypoints' extent (or
        the whole image), so one bad value never makes a person's PaSta, actions and vectors all NaN."""
        repaired, count = repair_keypoints(keypoints)
        bad_boxes = ~np.isfinite(boxes).all(axis=1)
        if not count and not bad_boxes.any():
            return keypoints, boxes
        if count:
            if not self.repaired_joints:
                log.warning("A2V: %d keypoint(s) were NaN or infinite; treating them as missing joints "
                            "(counted in A2V.repaired_joints; warned once)", count)
            self.repaired_joints += count
        boxes = boxes.copy()
        for row in np.flatnonzero(bad_boxes):
            seen = repaired[row][repaired[row, :, 2] > 0]
            if len(seen):
                boxes[row] = [seen[:, 0].min(), seen[:, 1].min(), seen[:, 0].max(), seen[:, 1].max()]
            else:
                boxes[row] = [0, 0, image_size[0], image_size[1]]
            if not self.repaired_boxes:
                log.warning("A2V: a person box was NaN or infinite; using its keypoints' extent (warned once)")
            self.repaired_boxes += 1
        return repaired.astype(np.float32), boxes

    def _prepare(self, image_bgr, boxes, keypoints):
        """Check one image's inputs and derive what the network needs: ``(image (H, W, 3) uint8, boxes (N, 4),
        keypoints (N, 17, 3) with non-finite joints repaired, part boxes (N, 10, 4), skeleton maps)``."""
        image = np.asarray(image_bgr)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise A2VError(f"image_bgr must be an (H, W, 3) uint8 BGR image, got {image.shape} {image.dtype}")
        height, width = image.shape[:2]
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        keypoints = np.asarray(keypoints, dtype=np.float32)
        if keypoints.shape != (boxes.shape[0], 17, 3):
            raise A2VError(f"keypoints must have shape (N, 17, 3) with N = {boxes.shape[0]} boxes, "
                           f"got {keypoints.shape}")
        keypoints, boxes = self._repair(keypoints, boxes, (width, height))
        parts = clip_boxes(part_boxes(keypoints, boxes), (width, height))
        skeletons = skeleton_maps(keypoints, (width, height))
        return image, boxes, keypoints, parts, skeletons

    def infer(self, image_bgr: np.ndarray, boxes, keypoints) -> dict[str, np.ndarray]:
        """All persons of one image in one forward pass; see the module docstring for shapes."""
        image, boxes, keypoints, parts, skeletons = self._prepare(image_bgr, boxes, keypoints)
        n = boxes.shape[0]
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
            if self.onnx is not None:
                arrays = self.onnx(tensor, human, part, skel)
                out.update(pasta=arrays["pasta"], actions=arrays["actions"], visual=arrays["visual"])
                out["language"] = self._language_of(arrays["pasta"])
                return out
            result = self.runner(tensor, human, part, skel)
            # One device → host copy for all three outputs.
            packed = torch.cat([result.pasta_probs.float(), result.verb_probs.float(), result.visual.float()], 1)
            packed = packed.cpu().numpy()
            pasta, actions, visual = np.split(packed, [NUM_PASTA, NUM_PASTA + NUM_VERBS], axis=1)
            pasta, actions, visual = (np.ascontiguousarray(a) for a in (pasta, actions, visual))
        out.update(pasta=pasta, actions=actions, visual=visual)
        out["language"] = self._language_of(pasta)
        return out

    def _language_of(self, pasta: np.ndarray) -> np.ndarray:
        """(N, L) language vectors ``pasta @ M`` (L = 0 without a language matrix)."""
        if self.language is None:
            return np.zeros((pasta.shape[0], 0), np.float32)
        return (pasta @ self.language).astype(np.float32)

    def infer_batch(self, images_bgr, boxes_list, keypoints_list) -> list[dict[str, np.ndarray]]:
        """Several images in as few forward passes as their sizes allow; one :meth:`infer`-style dict each.

        ``images_bgr``: a sequence of (H_i, W_i, 3) uint8 BGR images; ``boxes_list[i]`` (N_i, 4) xyxy pixels
        and ``keypoints_list[i]`` (N_i, 17, 3) for image i. Images of one size (after the fast-mode resize;
        all frames of a video) share one trunk forward (a (B, 3, H, W) batch); the heads then run once on
        the persons of every image together. Numbers equal :meth:`infer` image by image up to float
        rounding (a batched convolution may sum in another order). Used on CUDA with ``pose.batch_size``
        > 1, where one large forward beats several small ones.
        """
        if not (len(images_bgr) == len(boxes_list) == len(keypoints_list)):
            raise A2VError(f"infer_batch: {len(images_bgr)} images, {len(boxes_list)} box sets and "
                           f"{len(keypoints_list)} keypoint sets; give one of each per image")
        prepared = []  # per image: (image (resized), scale, boxes, keypoints, parts, skeletons)
        for image, boxes, keypoints in zip(images_bgr, boxes_list, keypoints_list):
            image, boxes, keypoints, parts, skeletons = self._prepare(image, boxes, keypoints)
            scale = 1.0
            if self.mode == "fast" and len(boxes):
                image, scale = _resize_long_side(image, self.fast_long_side)
            prepared.append((image, scale, boxes, parts, skeletons))
        outs = [{"part_boxes": parts, "skeleton_maps": skeletons} for _, _, _, parts, skeletons in prepared]
        groups: dict[tuple[int, int], list[int]] = {}
        for i, (image, _, boxes, _, _) in enumerate(prepared):
            if len(boxes):
                groups.setdefault(image.shape[:2], []).append(i)
        order: list[int] = []  # image of each person row, in the order the features are concatenated
        features = []
        with torch.inference_mode(), self._autocast():
            for members in groups.values():
                tensor = torch.cat([preprocess(prepared[i][0], self.device) for i in members])
                human = torch.from_numpy(np.concatenate([prepared[i][2] * prepared[i][1] for i in members]))
                part = torch.from_numpy(np.concatenate([prepared[i][3] * prepared[i][1] for i in members]))
                index = torch.from_numpy(np.concatenate([np.full(len(prepared[i][2]), j, np.int64)
                                                         for j, i in enumerate(members)]))
                features.append(self._roi_features(tensor, human.to(self.device), part.to(self.device), index))
                order.extend(i for i in members for _ in range(len(prepared[i][2])))
            packed = np.zeros((0, NUM_PASTA + NUM_VERBS + 3072), np.float32)
            if features:
                human, parts, scene = (torch.cat(f) for f in zip(*features))
                skel = torch.from_numpy(np.concatenate([prepared[i][4] for i in dict.fromkeys(order)]))
                result = self._net().heads(human, parts, scene, skel.to(self.device))
                packed = torch.cat([result.pasta_probs.float(), result.verb_probs.float(),
                                    result.visual.float()], 1).cpu().numpy()
        rows = np.asarray(order, dtype=np.int64)
        for i, out in enumerate(outs):
            mine = packed[rows == i] if len(rows) else packed
            pasta, actions, visual = (np.ascontiguousarray(a) for a in
                                      np.split(mine, [NUM_PASTA, NUM_PASTA + NUM_VERBS], axis=1))
            out.update(pasta=pasta, actions=actions, visual=visual)
            out["language"] = self._language_of(pasta)
        return outs

    def _net(self) -> PastaNet:
        return self.runner.net[0] if isinstance(self.runner, FusedPastaNet) else self.runner

    def _roi_features(self, images: torch.Tensor, human: torch.Tensor, part: torch.Tensor,
                      image_index: torch.Tensor):
        """Trunk on a (B, 3, H, W) batch, then the human/part/scene features of every person (see
        :meth:`PastaNet.roi_features`; ``image_index`` (N,) says which image each person is in)."""
        if isinstance(self.runner, FusedPastaNet):
            if self.runner.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            head = self.runner.trunk(images)
            return self._net().roi_features(head, human, part, image_index, layer4=self.runner.layer4)
        head = self.runner.conv4(images)
        return self.runner.roi_features(head, human, part, image_index)
