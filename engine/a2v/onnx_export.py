"""The A2V network as one ONNX graph (trunk + ROI features + heads), and an ONNX Runtime runner for it.

Graph (opset 17), inputs and outputs all float32::

    image        (1, 3, H, W)      BGR minus PIXEL_MEANS_BGR (engine.a2v.net.preprocess); H, W fixed at export
                                   time unless exported with ``dynamic=True``
    human_boxes  (N, 4)            xyxy pixels of ``image`` (not clipped, as the official test path)
    part_boxes   (N, 10, 4)        xyxy pixels, clipped to the image
    skeletons    (N, 1, 64, 64)    engine.a2v.parts.skeleton_maps
    → pasta (N, 93) probabilities, actions (N, 157) probabilities, visual (N, 3072)

N is always dynamic (N ≥ 1; the caller handles N = 0). The graph is the BN-folded inference view
(:class:`engine.a2v.net.FusedPastaNet`); the ROI crop is the official affine crop written with
elementwise ops + ``GridSample`` (the sampling grid of ``affine_grid(align_corners=False)``: sample j of 7
at normalised x = a·((2j+1)/7 − 1) + c), so no ``AffineGrid`` op (opset 20) is needed. With ``fp16`` the
trunk, layer4 and the heads run in float16 (for CUDA; inputs and outputs stay float32, the crop
coordinates stay float32 since fp16 grid coordinates would move the samples).

Export uses the TorchScript-based exporter (``dynamo=False``), which needs no extra packages.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.a2v.net import NUM_PARTS, FusedPastaNet, PastaNet, fuse_for_inference
from engine.a2v.roi import FEATURE_STRIDE, POOL_SIZE

INPUT_NAMES = ("image", "human_boxes", "part_boxes", "skeletons")
OUTPUT_NAMES = ("pasta", "actions", "visual")
OPSET = 17


class GraphLoadError(RuntimeError):
    """An ONNX file that a runtime cannot load, as one line: what, why (``reason``) and the fix."""

    def __init__(self, name: str, exc: BaseException) -> None:
        # The runtimes' messages span lines (OpenVINO's stack of "Exception from src/..."): keep one.
        self.reason = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
        super().__init__(f"{name} cannot be loaded ({self.reason}); write one with: python main.py export "
                         f"onnx OUT.onnx --dynamic")


def _roi_crop_traceable(head: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """The official crop of R boxes (R, 4) from (1, C, h, w) → (R, C, 7, 7), with h, w read as tensors so
    the exported graph follows the input size. Same formula as :func:`engine.a2v.roi.roi_crop`."""
    from torch.onnx.operators import shape_as_tensor

    shape = shape_as_tensor(head).to(torch.float32)
    hm1 = (shape[2] - 1).clamp(min=1)   # the official formula divides by h − 1 (guarded for h = 1)
    wm1 = (shape[3] - 1).clamp(min=1)
    b = boxes.to(torch.float32) / FEATURE_STRIDE
    x1, y1, x2, y2 = b[:, 0:1], b[:, 1:2], b[:, 2:3], b[:, 3:4]          # (R, 1) each
    base = (torch.arange(POOL_SIZE, dtype=torch.float32) * 2 + 1) / POOL_SIZE - 1   # (7,)
    gx = (x2 - x1) / wm1 * base + (x1 + x2 - shape[3] + 1) / wm1             # (R, 7) along x
    gy = (y2 - y1) / hm1 * base + (y1 + y2 - shape[2] + 1) / hm1             # (R, 7) along y
    r = boxes.shape[0]
    grid = torch.stack([gx.unsqueeze(1).expand(r, POOL_SIZE, POOL_SIZE),
                        gy.unsqueeze(2).expand(r, POOL_SIZE, POOL_SIZE)], dim=-1)   # (R, 7, 7, 2) x, y
    grid = grid.reshape(1, -1, POOL_SIZE, 2)
    crops = F.grid_sample(head.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    c = head.shape[1]
    return crops.reshape(c, -1, POOL_SIZE, POOL_SIZE).transpose(0, 1)


class A2VGraph(nn.Module):
    """What is exported: image + boxes + skeleton maps → (pasta, actions, visual); see the module docstring."""

    def __init__(self, fused: FusedPastaNet, fp16: bool = False) -> None:
        super().__init__()
        net = fused.net[0]
        self.trunk = fused.trunk
        self.layer4 = fused.layer4
        self.pose = net.pool2_flat_pose_maps
        self.fc7 = net.fc7_parts
        self.cls = net.part_cls_scores
        self.verb = net.verb_cls_scores
        self.dtype = torch.float16 if fp16 else torch.float32

    def forward(self, image, human_boxes, part_boxes, skeletons):
        from engine.a2v.net import GROUP_PARTS

        head = self.trunk(image.to(self.dtype))
        boxes = torch.cat([human_boxes.unsqueeze(1), part_boxes], dim=1).reshape(-1, 4)
        crops = _roi_crop_traceable(head, boxes).to(self.dtype)
        crops = crops.reshape(-1, NUM_PARTS + 1, crops.shape[1], POOL_SIZE, POOL_SIZE)
        human = self.layer4(crops[:, 0]).mean(dim=(2, 3))                         # (N, 2048)
        parts = crops[:, 1:].mean(dim=(3, 4))                                     # (N, 10, 1024)
        scene = head.mean(dim=(2, 3)).expand(human.shape[0], -1)                  # (N, 1024)
        skeletons = skeletons.to(self.dtype)
        fc7s, logits = [], []
        for g, part_ids in enumerate(GROUP_PARTS):
            pose = self.pose[g](skeletons).flatten(1)
            fc7 = self.fc7[g](torch.cat([parts[:, i] for i in part_ids] + [human, scene, pose], dim=1))
            fc7s.append(fc7)
            logits.append(self.cls[g](fc7))
        visual = torch.cat(fc7s, dim=1)
        pasta = torch.sigmoid(torch.cat(logits, dim=1).float())
        actions = torch.sigmoid(self.verb(visual).float())
        return pasta, actions, visual.float()


def export_onnx(net: Union[PastaNet, FusedPastaNet], path: Union[str, os.PathLike], size: tuple[int, int] = (1280, 720),
                dynamic: bool = False, fp16: bool = False) -> Path:
    """Write the A2V graph of ``net`` to ``path``. ``size`` (W, H) is the fixed input size (without
    ``dynamic``; with it, only the size the graph is traced at). The number of persons is always dynamic."""
    import copy
    import warnings

    fused = net if isinstance(net, FusedPastaNet) else fuse_for_inference(net)
    graph = A2VGraph(fused, fp16=fp16).eval()
    if fp16:
        graph = copy.deepcopy(graph).half()
    width, height = size
    torch.manual_seed(0)
    n = 2
    image = torch.randn(1, 3, height, width) * 50
    xy = torch.rand(n, 2) * torch.tensor([width / 2, height / 2])
    human = torch.cat([xy, xy + torch.tensor([width / 3, height / 2])], dim=1)
    parts = human.unsqueeze(1).repeat(1, NUM_PARTS, 1)
    skeletons = torch.rand(n, 1, 64, 64)
    axes = {"human_boxes": {0: "persons"}, "part_boxes": {0: "persons"}, "skeletons": {0: "persons"},
            "pasta": {0: "persons"}, "actions": {0: "persons"}, "visual": {0: "persons"}}
    if dynamic:
        axes["image"] = {2: "height", 3: "width"}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of torch.export (which needs onnxscript);
        # its tracer warnings about shape arithmetic are expected here (shapes are read as tensors).
        warnings.simplefilter("ignore")
        with torch.no_grad():
            torch.onnx.export(graph, (image, human, parts, skeletons), str(path), input_names=list(INPUT_NAMES),
                              output_names=list(OUTPUT_NAMES), dynamic_axes=axes, opset_version=OPSET,
                              do_constant_folding=True, dynamo=False)
    return path


def _graph_inputs(image, human_boxes, part_boxes, skeletons, fixed_hw) -> list[np.ndarray]:
    """The four graph inputs (torch tensors or arrays, shapes as in the module docstring) as contiguous
    float32 arrays, skeletons as (N, 1, 64, 64); ``fixed_hw`` (H, W) of a fixed-size graph, else None."""
    arrays = [np.ascontiguousarray(a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else a,
                                   dtype=np.float32) for a in (image, human_boxes, part_boxes, skeletons)]
    if arrays[3].ndim == 3:
        arrays[3] = arrays[3][:, None]
    if fixed_hw is not None and tuple(arrays[0].shape[2:4]) != tuple(fixed_hw):
        raise ValueError(f"this ONNX model takes {fixed_hw[1]}x{fixed_hw[0]} images, got "
                         f"{arrays[0].shape[3]}x{arrays[0].shape[2]}; export it with --dynamic")
    return arrays


class OnnxA2VRunner:
    """Runs an exported A2V graph with ONNX Runtime: ``runner(image, human, parts, skeletons)`` with torch
    or numpy inputs (shapes as in the module docstring) → dict of numpy pasta, actions, visual.

    ``device``: cpu → CPUExecutionProvider; cuda → CUDAExecutionProvider when onnxruntime has it (else CPU).
    ``threads``: intra-op threads (0 = torch's thread count, so both runtimes use the same cores).
    """

    def __init__(self, model: Union[str, os.PathLike, bytes], device: Union[str, torch.device] = "cpu",
                 threads: int = 0) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise RuntimeError("a2v.runtime onnx needs onnxruntime: pip install -r requirements.txt") from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads) or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # No busy-waiting between ops: in the pipeline other stages (pose, tracker, render) need the cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = ["CPUExecutionProvider"]
        if torch.device(device).type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        source = model if isinstance(model, bytes) else os.fspath(model)
        try:
            self.session = ort.InferenceSession(source, options, providers=providers)
        except Exception as exc:  # noqa: BLE001 - onnxruntime's errors are not RuntimeError subclasses
            name = "the exported graph" if isinstance(model, bytes) else f"ONNX model {source}"
            raise GraphLoadError(name, exc) from None
        self.providers = self.session.get_providers()
        self.label = f"ONNX Runtime ({', '.join(self.providers)})"
        self.input_names = [i.name for i in self.session.get_inputs()]
        shape = self.session.get_inputs()[0].shape
        self.fixed_hw = tuple(shape[2:4]) if all(isinstance(s, int) for s in shape[2:4]) else None

    def __call__(self, image, human_boxes, part_boxes, skeletons) -> dict[str, np.ndarray]:
        arrays = _graph_inputs(image, human_boxes, part_boxes, skeletons, self.fixed_hw)
        outputs = self.session.run(list(OUTPUT_NAMES), dict(zip(self.input_names, arrays)))
        return dict(zip(OUTPUT_NAMES, outputs))


class OpenVinoA2VRunner:
    """Runs an exported A2V graph with OpenVINO on the CPU; same call and outputs as :class:`OnnxA2VRunner`.

    Inference precision is forced to float32: on CPUs with AVX-512 BF16 or AMX, OpenVINO would otherwise
    run the convolutions in bfloat16, far outside the parity tolerances. The graph is compiled for each
    image size it meets (static image shape, dynamic persons: 5-10 % faster than one dynamic-shape
    compile, measured in issue 20; a compile takes about 0.2 s), the last ``max_sizes`` sizes kept.
    ``threads``: inference threads (0 = torch's thread count). Threads are not pinned to cores, since
    the pose, tracker and render stages share the cores.
    """

    def __init__(self, model: Union[str, os.PathLike], threads: int = 0, max_sizes: int = 2) -> None:
        try:
            import openvino as ov
        except ImportError:
            raise RuntimeError("a2v.runtime openvino needs openvino: pip install -r requirements.txt") from None
        self.path = os.fspath(model)
        self.core = ov.Core()
        self.config = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1,
                       "INFERENCE_NUM_THREADS": int(threads) or torch.get_num_threads(),
                       "ENABLE_CPU_PINNING": False}
        try:
            parsed = self.core.read_model(self.path)
        except Exception as exc:  # noqa: BLE001 - OpenVINO raises its own types
            raise GraphLoadError(f"ONNX model {self.path}", exc) from None
        self.input_names = [p.get_any_name() for p in parsed.inputs]
        shape = parsed.input("image").get_partial_shape()
        self.fixed_hw = (shape[2].get_length(), shape[3].get_length()) if shape.is_static else None
        self.providers = ["CPU"]
        self.label = "OpenVINO (CPU, f32)"
        self.max_sizes = max(1, int(max_sizes))
        self._compiled: dict = {}        # (H, W) → compiled model, oldest first

    def _compiled_for(self, height: int, width: int):
        key = (height, width)
        if key in self._compiled:
            self._compiled[key] = self._compiled.pop(key)   # most recent last
            return self._compiled[key]
        model = self.core.read_model(self.path)
        model.reshape({"image": [1, 3, height, width]})
        compiled = self.core.compile_model(model, "CPU", self.config)
        while len(self._compiled) >= self.max_sizes:
            self._compiled.pop(next(iter(self._compiled)))
        self._compiled[key] = compiled
        return compiled

    def __call__(self, image, human_boxes, part_boxes, skeletons) -> dict[str, np.ndarray]:
        arrays = _graph_inputs(image, human_boxes, part_boxes, skeletons, self.fixed_hw)
        height, width = arrays[0].shape[2:4]
        compiled = self._compiled_for(int(height), int(width))
        result = compiled(dict(zip(self.input_names, arrays)))
        # Copies: OpenVINO may reuse its output buffers on the next call.
        return {name: np.array(result[compiled.output(name)], dtype=np.float32) for name in OUTPUT_NAMES}
