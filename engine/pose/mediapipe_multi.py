"""Every person on a CPU from the models bundled in ``mediapipe==0.10.21`` (no download, no detector weights).

mediapipe's legacy ``Pose`` solution keeps only the first detection of its person detector. Its binary also
registers the two subgraphs behind it, and this backend drives them itself through
``mediapipe.python.solution_base.SolutionBase`` one-node graphs:

- ``PoseDetectionCpu`` (``pose_detection.tflite``; ``IMAGE`` → ``DETECTIONS``) returns **every** detection.
  It sees a 224×224 letterboxed view, so small people in a large frame are missed; the frame is therefore
  looked at whole and as overlapping ``n × n`` tiles (``tile_grids``, ``tile_overlap``), and the detections
  of all views are merged by non-maximum suppression.
- ``PoseLandmarkByRoiCpu`` (``pose_landmark_full.tflite``, ``MODEL_COMPLEXITY`` 1; ``IMAGE`` + ``ROI`` →
  ``LANDMARKS``) returns the 33 landmarks of the one person in a rotated square ROI, or nothing when the
  model's pose-presence score is under 0.5.

Detection → ROI follows the installed ``PoseDetectionToRoi`` subgraph (read from the binary with
``ValidatedGraphConfig``): the detection's keypoint 0 (hip midpoint) is the centre; the vector to keypoint 1
(a point on the body's enclosing circle) gives size (twice its length) and rotation (so the vector points
up); the square is scaled by 1.25. Between detector runs a person's ROI comes from its last landmarks by the
same rule on the model's two auxiliary landmarks (``PoseLandmarksToRoi``). The tiled detector runs every
``detector_interval`` frames, at once when the scene changes (a cut), and on every frame in still-image
mode; on the frame after a tracked person is lost it looks again where they were (the whole frame and the
tiles holding their last hip point); while nobody is tracked the whole-frame view runs on each of the other
frames, so a person walking in is found at once, as the legacy solution does.

A pose counts only if it passes the checks measured on the sample clip's phantoms (walls, railings,
blurred cars; constants below): detector score ``score_threshold``, body tilt at most 100°, landmark ROI
agreeing with the ROI asked about, visible landmarks spanning a tenth of it, pose presence 0.9; two results
with the same hips or the same face are one person.

Output per person: COCO-17 keypoints (by name from the 33 BlazePose landmarks; confidence = landmark
``visibility``, a probability in [0, 1]), a box around the visible landmarks widened by 10 %, and the
model's pose-presence probability as the score. ``last_timings`` holds the last call's milliseconds per
frame by stage (``detector``, ``landmarks``), ``last_detector_views`` how many views the detector saw on
the last frame, ``last_detector_reason`` why, and ``tiled_runs`` on how many frames the tiled detector ran.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from engine.pose.base import BasePoseBackend, check_frame, make_persons
from engine.pose.mediapipe_pose import MODEL_COMPLEXITY, landmark_box, to_coco
from engine.types import Person

log = logging.getLogger(__name__)

ROI_SCALE = 1.25  # PoseDetectionToRoi / PoseLandmarksToRoi: RectTransformationCalculator scale_x = scale_y
# The same person found twice (two views, or a track and a detection) has nearly the same hip midpoint;
# two people do not, unless one stands right behind the other. Fraction of the larger body ROI side.
SAME_PERSON_HIP_DISTANCE = 0.2
# Mean absolute difference of 32×32 grey thumbnails (0-255) above which a frame starts a new shot. On the
# sample clip the five cuts score 44-81 and motion within a shot stays at or under 19 (a car crossing the
# view; measured with scene_change_score over all 249 frame pairs).
SCENE_CHANGE = 25.0
MIN_VIEW_PIXELS = 32
# A pose is kept only when the body ROI its landmarks give agrees with the ROI it was asked about: side
# within a factor 2, hip midpoint within half a side (a guard for ROIs that drift off a person between
# detector runs; on true people the two agree within 20 % in size and 15 % in place).
ROI_AGREEMENT = 2.0
# ... and when the landmarks it calls visible inside the image span at least this fraction of the ROI side
# (people cut by the frame edge at the chest span 0.15-0.35 of it: Grace Hopper, the suit man in the sample
# clip; a phantom on the sample clip's white wall collapses to 0.02).
MIN_VISIBLE_EXTENT = 0.1
# Detections of a body more than 100° from upright (head well below the hips) are dropped: on the sample
# clip every such detection is a phantom (bikes, cars, railings) and a person lying down is at about 90°.
MAX_TILT = math.radians(100)
# Landmark pose-presence a person needs, new or followed (the model's own gate is 0.5). On the sample clip
# the phantoms that pass the other checks score 0.53-0.98 and fade (a railing post: 0.97, 0.93, 0.89 on
# three frames, which would make a confirmed track at 0.8); true people score 0.98-1.0 when well in view.
# Measured on the whole clip: 0.5 → 3 phantom frames, 0.8 → 3, 0.9 → 2 (the 2 the legacy solution also
# shows), with the cyclist found on 40 frames at each.
MIN_PRESENCE = 0.9


@dataclass
class BodyRoi:
    """A rotated square around one body, in pixels of the full frame: centre, side length, rotation in
    radians (mediapipe's convention: positive turns the crop so the body's up vector points up)."""

    cx: float
    cy: float
    size: float
    rotation: float

    def to_normalized_rect(self, width: int, height: int):
        from mediapipe.framework.formats import rect_pb2

        return rect_pb2.NormalizedRect(x_center=self.cx / width, y_center=self.cy / height,
                                       width=self.size / width, height=self.size / height,
                                       rotation=self.rotation)


def alignment_roi(center: Sequence[float], scale_point: Sequence[float]) -> BodyRoi:
    """The body ROI from two alignment points in pixels (mediapipe's AlignmentPointsRectsCalculator with
    target angle 90° + RectTransformationCalculator scale 1.25, square on the long side).

    Side = 2 × |scale_point − center| × 1.25; rotation = π/2 − atan2(−dy, dx), wrapped to [−π, π), so a
    scale point straight above the centre (upright body) gives rotation 0.
    """
    cx, cy = float(center[0]), float(center[1])
    dx, dy = float(scale_point[0]) - cx, float(scale_point[1]) - cy
    size = 2.0 * math.hypot(dx, dy) * ROI_SCALE
    rotation = math.pi / 2 - math.atan2(-dy, dx)
    rotation -= 2 * math.pi * math.floor((rotation + math.pi) / (2 * math.pi))
    return BodyRoi(cx, cy, size, rotation)


def tile_views(width: int, height: int, grids: Sequence[int], overlap: float) -> list[tuple[int, int, int, int]]:
    """Integer ``(x1, y1, x2, y2)`` pixel windows: for each ``n`` in ``grids`` an ``n × n`` grid of equal
    tiles covering the frame, neighbours overlapping by ``overlap`` of a tile (``n = 1`` is the whole frame).
    Duplicates (and tiles under :data:`MIN_VIEW_PIXELS`) are dropped."""
    views: list[tuple[int, int, int, int]] = []
    for n in grids:
        n = int(n)
        tw = width / (n - (n - 1) * overlap)
        th = height / (n - (n - 1) * overlap)
        if n > 1 and (tw < MIN_VIEW_PIXELS or th < MIN_VIEW_PIXELS):
            continue
        for row in range(n):
            for col in range(n):
                x1 = int(round(col * tw * (1 - overlap)))
                y1 = int(round(row * th * (1 - overlap)))
                view = (x1, y1, min(width, int(round(x1 + tw))), min(height, int(round(y1 + th))))
                if view not in views:
                    views.append(view)
    return views


def scene_change_score(previous: Optional[np.ndarray], thumb: np.ndarray) -> float:
    """Mean absolute difference (0-255) of two grey thumbnails; infinite when there is no previous one
    or the shapes differ."""
    if previous is None or previous.shape != thumb.shape:
        return float("inf")
    return float(np.mean(np.abs(previous.astype(np.int16) - thumb.astype(np.int16))))


def thumbnail(frame_bgr: np.ndarray) -> np.ndarray:
    from engine.cvcompat import cv2

    grey = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
    return cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA)


@dataclass
class Detection:
    """One detector hit in full-frame pixels: score, the detector's (head) box xyxy (4,) and its four
    keypoints (4, 2): hip midpoint, full-body circle point, shoulder midpoint, upper-body circle point."""

    score: float
    box: np.ndarray
    keypoints: np.ndarray

    @property
    def roi(self) -> BodyRoi:
        return alignment_roi(self.keypoints[0], self.keypoints[1])


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def same_person(hip_a: Sequence[float], size_a: float, hip_b: Sequence[float], size_b: float) -> bool:
    """Two hip midpoints (pixels) closer than :data:`SAME_PERSON_HIP_DISTANCE` of the larger ROI side."""
    distance = math.hypot(hip_a[0] - hip_b[0], hip_a[1] - hip_b[1])
    return distance < SAME_PERSON_HIP_DISTANCE * max(size_a, size_b)


def visible_extent(points33: np.ndarray, width: int, height: int) -> float:
    """Longest side (pixels) of the box around the landmarks with visibility > 0.5 inside the image; 0 when
    fewer than 4 are."""
    x, y, v = points33[:, 0], points33[:, 1], points33[:, 2]
    seen = (v > 0.5) & (x >= 0) & (x <= width) & (y >= 0) & (y <= height)
    if seen.sum() < 4:
        return 0.0
    return float(max(x[seen].max() - x[seen].min(), y[seen].max() - y[seen].min()))


def rois_agree(asked: BodyRoi, found: BodyRoi) -> bool:
    """The landmarks' ROI ``found`` is the body ROI ``asked`` about (:data:`ROI_AGREEMENT`)."""
    if asked.size <= 0 or found.size <= 0:
        return False
    ratio = found.size / asked.size
    shift = math.hypot(found.cx - asked.cx, found.cy - asked.cy)
    return 1 / ROI_AGREEMENT <= ratio <= ROI_AGREEMENT and shift <= 0.5 * asked.size


def same_pose(a: tuple, b: tuple) -> bool:
    """Two landmark results ``(points33, presence, roi, hip)`` of one person: the same hip midpoint
    (:func:`same_person`) or the same head: the face landmarks (BlazePose 0-10: nose, eyes, ears, mouth)
    both call visible lie on average closer than half the larger ear-to-ear distance (two people's
    faces cannot share a place; two poses of one half-visible person can disagree about the hips)."""
    if same_person(a[3], a[2].size, b[3], b[2].size):
        return True
    pa, pb = a[0][:11], b[0][:11]
    both = (pa[:, 2] > 0.5) & (pb[:, 2] > 0.5)
    if both.sum() < 3:
        return False
    head = max(float(np.hypot(*(p[7, :2] - p[8, :2]))) for p in (pa, pb))
    distance = float(np.mean(np.hypot(pa[both, 0] - pb[both, 0], pa[both, 1] - pb[both, 1])))
    return distance < 0.5 * max(head, 1.0)


def merge_detections(detections: list[Detection], nms_threshold: float) -> list[Detection]:
    """Greedy NMS across views, best score first: a detection is dropped when its head box overlaps a kept
    one's by more than ``nms_threshold`` IoU or it names the same hip midpoint (:func:`same_person`;
    a tile edge can cut the head of someone another view sees whole)."""
    kept: list[Detection] = []
    for det in sorted(detections, key=lambda d: d.score, reverse=True):
        roi = det.roi
        if any(_iou(det.box, k.box) > nms_threshold
               or same_person(det.keypoints[0], roi.size, k.keypoints[0], k.roi.size) for k in kept):
            continue
        kept.append(det)
    return kept


@dataclass
class _Tracked:
    """A person followed between frames: its ROI for the next frame and its hip midpoint (pixels)."""

    roi: BodyRoi
    hip: tuple[float, float]


def _one_node_graph(calculator: str, inputs: list[str], outputs: list[str], side: list[str]):
    from mediapipe.framework import calculator_pb2

    graph = calculator_pb2.CalculatorGraphConfig()
    node = graph.node.add()
    node.calculator = calculator
    node.input_stream.extend(inputs)
    node.output_stream.extend(outputs)
    node.input_side_packet.extend(side)
    graph.input_stream.extend(inputs)
    graph.output_stream.extend(outputs)
    graph.input_side_packet.extend(side)
    return graph


def _output_name(stream: str) -> str:
    return stream.split(":")[-1]


def prune_graph(graph):
    """Drop the nodes of an expanded ``CalculatorGraphConfig`` none of whose outputs (streams or side
    packets) feed another node or a graph output, until none is left; returns ``graph``, changed in place.

    ``PoseLandmarkByRoiCpu`` also computes the segmentation mask (warped back to full-frame size) and the
    world landmarks, which this backend never reads: without them one landmark call takes about 5 % less
    CPU (11.1 vs 11.7 ms on the four-person clip, quiet 2-core box)."""
    while True:
        needed = {_output_name(s) for s in graph.output_stream}
        needed |= {_output_name(s) for node in graph.node for s in node.input_stream}
        needed_side = {_output_name(s) for node in graph.node for s in node.input_side_packet}
        keep = [node for node in graph.node
                if not (node.output_stream or node.output_side_packet)
                or any(_output_name(s) in needed for s in node.output_stream)
                or any(_output_name(s) in needed_side for s in node.output_side_packet)]
        if len(keep) == len(graph.node):
            return graph
        del graph.node[:]
        graph.node.extend(keep)


def _expanded(graph):
    from mediapipe.framework import calculator_pb2
    from mediapipe.python._framework_bindings import validated_graph_config

    validated = validated_graph_config.ValidatedGraphConfig()
    validated.initialize(graph_config=graph)
    expanded = calculator_pb2.CalculatorGraphConfig()
    expanded.ParseFromString(validated.binary_config)
    return expanded


def set_inference_threads(graph, threads: int):
    """Give every TFLite inference node of ``graph`` ``threads`` XNNPACK threads (mediapipe's default on
    Linux is 1); returns ``graph``, changed in place."""
    from mediapipe.calculators.tensor import inference_calculator_pb2

    ext = inference_calculator_pb2.InferenceCalculatorOptions.ext
    for node in graph.node:
        if node.calculator.startswith("InferenceCalculator"):
            node.options.Extensions[ext].delegate.xnnpack.num_threads = int(threads)
    return graph


def _detector_graph(threads: int = 1):
    """``PoseDetectionCpu`` expanded to its calculators (``image`` → ``detections``)."""
    graph = _expanded(_one_node_graph("PoseDetectionCpu", ["IMAGE:image"], ["DETECTIONS:detections"], []))
    return set_inference_threads(graph, threads)


def _landmark_graph(threads: int = 1):
    """``PoseLandmarkByRoiCpu`` expanded to its calculators, with the internal pose-presence score also
    made a graph output (name ``presence``; absent if a mediapipe release renames the stream) and the
    parts nobody reads pruned (:func:`prune_graph`)."""
    graph = _one_node_graph("PoseLandmarkByRoiCpu", ["IMAGE:image", "ROI:roi"],
                            ["LANDMARKS:landmarks", "AUXILIARY_LANDMARKS:auxiliary"],
                            ["MODEL_COMPLEXITY:model_complexity"])
    expanded = _expanded(graph)
    presence = [_output_name(s) for node in expanded.node for s in node.output_stream
                if _output_name(s).endswith("pose_presence_score")]
    if not presence:
        return set_inference_threads(graph, threads), None
    expanded.output_stream.append(presence[0])
    return set_inference_threads(prune_graph(expanded), threads), presence[0]


def _graph_class():
    """:class:`SolutionBase` with :meth:`process` split in two (``submit`` adds the inputs, ``collect``
    waits and reads the outputs), so that calls to several graphs run at the same time: each graph runs
    its calculators on its own mediapipe threads, and ``wait_until_idle`` releases the GIL. Uses
    SolutionBase's private members as of mediapipe 0.10.21 (pinned in requirements.txt)."""
    import collections

    from mediapipe.python import packet_creator
    from mediapipe.python._framework_bindings import image_frame
    from mediapipe.python._framework_bindings import packet as packet_module
    from mediapipe.python.solution_base import SolutionBase

    class _Graph(SolutionBase):
        def submit(self, inputs: dict) -> None:
            """Add one set of inputs (numpy RGB image, proto, or a ready :class:`Packet`)."""
            self._graph_outputs.clear()
            self._simulated_timestamp += 33333
            for stream, data in inputs.items():
                if not isinstance(data, packet_module.Packet):
                    data = self._make_packet(self._input_stream_type_info[stream], data)
                self._graph.add_packet_to_input_stream(stream=stream, packet=data.at(self._simulated_timestamp))

        def collect(self):
            """Wait for the submitted inputs; the outputs as ``SolutionBase.process`` returns them."""
            self._graph.wait_until_idle()
            names = list(self._output_stream_type_info)
            out = collections.namedtuple("Outputs", names)(*(
                self._get_packet_content(self._output_stream_type_info[n], self._graph_outputs[n])
                if n in self._graph_outputs else None for n in names))
            return out

    def image_packet(rgb: np.ndarray):
        """One ImageFrame packet of a (H, W, 3) uint8 RGB frame, shared by every call on that frame."""
        return packet_creator.create_image_frame(data=rgb, image_format=image_frame.ImageFormat.SRGB)

    return _Graph, image_packet


class GraphPool:
    """Copies of one mediapipe graph that use up to ``cores`` CPU cores. :meth:`run` spreads a frame's
    calls (detector views, one landmark call per person) over ``cores`` one-thread copies working at the
    same time; a lone call goes to one more copy whose model runs on ``cores`` XNNPACK threads instead
    (``solo_threads``: False = the lone call runs on one of the one-thread copies).
    Measured on the quiet 2-core box (four-person clip, one landmark call 11.7 ms on one thread): 4 calls
    side by side 33 ms instead of 51, one call on 2 threads 7.3 ms.

    Args:
        make_graph: ``make_graph(threads)`` → a graph with ``submit``/``collect`` (:func:`_graph_class`).
        cores: 1 = a single one-thread copy, every call in turn.
        solo_threads: give the lone call ``cores`` threads (worth it for the landmark model: 11.7 → 7.3 ms;
            not for the detector: 7.3 → 6-7 ms, within the noise, at 1.4x the CPU time).
    """

    def __init__(self, make_graph, cores: int, solo_threads: bool = True) -> None:
        cores = max(1, int(cores))
        self.graphs = [make_graph(1) for _ in range(cores)]
        self.solo = make_graph(cores) if cores > 1 and solo_threads else self.graphs[0]

    def run(self, calls: Sequence[dict]) -> list:
        """Outputs of each call (dict of input stream → data), in order."""
        results = []
        width = len(self.graphs)
        for start in range(0, len(calls), width):
            batch = calls[start:start + width]
            graphs = [self.solo] if len(batch) == 1 else self.graphs[:len(batch)]
            for graph, inputs in zip(graphs, batch):
                graph.submit(inputs)
            results += [graph.collect() for graph in graphs]
        return results

    def close(self) -> None:
        for graph in {id(g): g for g in self.graphs + [self.solo]}.values():
            graph.close()
        self.graphs, self.solo = [], None


class MediaPipeMultiPoseBackend(BasePoseBackend):
    """Multi-person BlazePose on a CPU from mediapipe's bundled models (module docstring).

    Args:
        video_mode: frames are consecutive (track ROIs between detector runs). False: every frame is an
            independent image and the tiled detector runs on each.
        detector_interval: run the tiled detector every k-th frame (video mode).
        tile_grids: ``n`` of each ``n × n`` tiling the detector sees (1 = the whole frame).
        tile_overlap: overlap of neighbouring tiles as a fraction of a tile.
        score_threshold: minimum detector score (mediapipe's own graph keeps 0.5 and up; the legacy
            solution's default here is 0.8).
        nms_threshold: head-box IoU above which two detections are one person.
        max_persons: most persons followed (best detector scores first).
        cores: CPU cores to use (:class:`GraphPool`): a frame's detector views and per-person landmark
            calls run up to this many side by side, a lone call on this many threads; 1 = one core.
        reason: why this backend was chosen, shown in :meth:`describe`.
    """

    name = "mediapipe_multi"

    def __init__(self, video_mode: bool = True, detector_interval: int = 25, tile_grids: Sequence[int] = (1, 2, 3),
                 tile_overlap: float = 0.25, score_threshold: float = 0.8, nms_threshold: float = 0.3,
                 max_persons: int = 10, cores: int = 2, reason: str = "") -> None:
        from engine.pose.mediapipe_import import import_mediapipe

        import_mediapipe()  # first, so no later mediapipe import pins this stack (engine.pose.mediapipe_import)
        if detector_interval < 1:
            raise ValueError(f"detector_interval must be >= 1, got {detector_interval}")
        if not 0.0 <= tile_overlap < 1.0:
            raise ValueError(f"tile_overlap must be in [0, 1), got {tile_overlap}")
        if cores < 1:
            raise ValueError(f"cores must be >= 1, got {cores}")
        self.video_mode = video_mode
        self.detector_interval = int(detector_interval)
        self.tile_grids = tuple(sorted({int(n) for n in tile_grids} | {1}))
        self.tile_overlap = float(tile_overlap)
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.max_persons = int(max_persons)
        self.reason = reason
        self.cores = int(cores)
        graph_class, self._image_packet = _graph_class()
        self._detector = GraphPool(lambda threads: graph_class(graph_config=_detector_graph(threads)), self.cores,
                                   solo_threads=False)
        self._presence_stream = _landmark_graph()[1]
        outputs = ["landmarks", "auxiliary"] + ([self._presence_stream] if self._presence_stream else [])
        self._landmarker = GraphPool(lambda threads: graph_class(
            graph_config=_landmark_graph(threads)[0], side_inputs={"model_complexity": MODEL_COMPLEXITY},
            outputs=outputs), self.cores)
        self._tracked: list[_Tracked] = []
        self._since_detect = 0
        self._lost_at: list[tuple[float, float]] = []  # hips (pixels) of persons lost on the last frame
        self._thumb: Optional[np.ndarray] = None
        self.last_timings: dict[str, float] = {"detector": 0.0, "landmarks": 0.0}
        self.last_detector_views = 0
        self.last_detector_reason = ""
        self.tiled_runs = 0  # frames the tiled detector ran on, since construction

    # ------------------------------------------------------------------------------------------ detector

    def detect(self, rgb: np.ndarray, views: Sequence[tuple[int, int, int, int]], image=None) -> list[Detection]:
        """Detections of all ``views`` (pixel windows of the (H, W, 3) RGB frame), above the score
        threshold, merged across views (:func:`merge_detections`). ``image``: the whole frame's image
        packet, if already made."""
        found: list[Detection] = []
        whole = (0, 0, rgb.shape[1], rgb.shape[0])
        calls = [{"image": (image if image is not None else self._image_packet(rgb)) if view == whole else
                  self._image_packet(np.ascontiguousarray(rgb[view[1]:view[3], view[0]:view[2]]))}
                 for view in views]
        for (x1, y1, x2, y2), result in zip(views, self._detector.run(calls)):
            w, h = x2 - x1, y2 - y1
            for det in result.detections or []:
                score = float(det.score[0]) if len(det.score) else 0.0
                if score < self.score_threshold:
                    continue
                loc = det.location_data
                rb = loc.relative_bounding_box
                box = np.array([x1 + rb.xmin * w, y1 + rb.ymin * h,
                                x1 + (rb.xmin + rb.width) * w, y1 + (rb.ymin + rb.height) * h], np.float32)
                kps = np.array([(x1 + k.x * w, y1 + k.y * h) for k in loc.relative_keypoints], np.float32)
                if len(kps) < 2:
                    continue
                detection = Detection(score, box, kps)
                if abs(detection.roi.rotation) > MAX_TILT:
                    continue
                found.append(detection)
        return merge_detections(found, self.nms_threshold)

    # ---------------------------------------------------------------------------------------- landmarks

    def landmarks(self, rgb: np.ndarray, rois: Sequence[BodyRoi], image=None) -> list:
        """Per ROI in ``rois``: ``(points33 (33, 3) x, y pixels + visibility, presence, next ROI, hip (x, y))``
        of the person in it, or None when the model says nobody is there (presence < 0.5) or its landmarks
        do not fit the ROI (:func:`rois_agree`). ``image``: the frame's image packet, if already made (one
        packet serves every call on a frame)."""
        height, width = rgb.shape[:2]
        asked = [i for i, roi in enumerate(rois) if roi.size >= 2]
        if asked and image is None:
            image = self._image_packet(rgb)
        outputs = self._landmarker.run([{"image": image, "roi": rois[i].to_normalized_rect(width, height)}
                                        for i in asked])
        results: list = [None] * len(rois)
        for i, out in zip(asked, outputs):
            results[i] = self._read_landmarks(out, rois[i], width, height)
        return results

    def _read_landmarks(self, out, roi: BodyRoi, width: int, height: int):
        if out.landmarks is None or out.auxiliary is None or len(out.auxiliary.landmark) < 2:
            return None
        points = np.array([(lm.x * width, lm.y * height, lm.visibility) for lm in out.landmarks.landmark],
                          np.float32)
        aux = [(lm.x * width, lm.y * height) for lm in out.auxiliary.landmark]
        presence = getattr(out, self._presence_stream) if self._presence_stream else None
        if presence is None:
            presence = float(np.mean(to_coco(points)[:, 2]))
        next_roi = alignment_roi(aux[0], aux[1])
        if not rois_agree(roi, next_roi) or visible_extent(points, width, height) < MIN_VISIBLE_EXTENT * roi.size:
            return None
        return points, float(presence), next_roi, aux[0]

    # ------------------------------------------------------------------------------------------ per frame

    def _detector_reason(self, thumb: np.ndarray) -> str:
        """Why the tiled detector runs on this frame ('' when it does not)."""
        if not self.video_mode:
            return "still image"
        if scene_change_score(self._thumb, thumb) > SCENE_CHANGE:
            return "new scene" if self._thumb is not None else "first frame"
        if self._since_detect >= self.detector_interval:
            return "interval"
        if self._lost_at:
            return "person lost"
        return ""

    def _frame(self, frame: np.ndarray) -> list[Person]:
        height, width = frame.shape[:2]
        from engine.cvcompat import cv2

        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)  # 0.5 ms on 1280x544, a numpy [::-1] copy 2.3 ms
        image = self._image_packet(rgb)  # one packet for every call on this frame
        thumb = thumbnail(frame)
        reason = self._detector_reason(thumb)
        self._thumb = thumb
        if reason in ("new scene", "first frame", "still image"):
            self._tracked = []  # ROIs from another shot (or image) would pose whatever is there now
        detector_ms = 0.0
        views: list[tuple[int, int, int, int]] = []
        if reason == "person lost":
            # Where they were lost: the whole frame and the tiles holding their last hip point (3-5 views,
            # not all 14: a person flickering at the edge of visibility is searched for on every frame).
            points = [(min(max(x, 0.0), width - 1.0), min(max(y, 0.0), height - 1.0)) for x, y in self._lost_at]
            views = [v for v in tile_views(width, height, self.tile_grids, self.tile_overlap)
                     if v == (0, 0, width, height) or any(v[0] <= x < v[2] and v[1] <= y < v[3] for x, y in points)]
        elif reason:
            views = tile_views(width, height, self.tile_grids, self.tile_overlap)
            self._since_detect = 0
            self.tiled_runs += 1
        elif not self._tracked:
            views = [(0, 0, width, height)]  # nobody followed: the cheap whole-frame look, every frame
        self._lost_at = []
        candidates: list[tuple[BodyRoi, tuple[float, float], float]] = []
        if views:
            start = time.perf_counter()
            detections = self.detect(rgb, views, image)
            detector_ms = (time.perf_counter() - start) * 1000.0
            for det in detections:
                roi = det.roi
                if any(same_person(det.keypoints[0], roi.size, t.hip, t.roi.size) for t in self._tracked):
                    continue  # already followed: its landmark ROI is the better one
                candidates.append((roi, (float(det.keypoints[0][0]), float(det.keypoints[0][1])), det.score))
        self.last_detector_views = len(views)
        self.last_detector_reason = reason or ("whole frame (nobody tracked)" if views else "")

        start = time.perf_counter()
        # Followed persons first (they keep their place), then new detections, best score first.
        rois = [t.roi for t in self._tracked]
        rois += [c[0] for c in sorted(candidates, key=lambda c: c[2], reverse=True)][:2 * self.max_persons]
        posed = self.landmarks(rgb, rois, image)
        posed = [p if p is not None and p[1] >= MIN_PRESENCE else None for p in posed]
        lost_at = [t.hip for t, p in zip(self._tracked, posed) if p is None]
        found: list[tuple] = []  # (points33, presence, next roi, hip)
        for result in posed:
            if result is None or len(found) >= self.max_persons:
                continue
            if any(same_pose(result, kept) for kept in found):
                continue  # two ROIs on one person (a track and a detection, or two views): keep the first
            found.append(result)
        landmarks_ms = (time.perf_counter() - start) * 1000.0
        self._lost_at = lost_at if self.video_mode else []
        self._tracked = [_Tracked(f[2], (float(f[3][0]), float(f[3][1]))) for f in found] if self.video_mode else []
        self._since_detect += 1
        self.last_timings = {"detector": detector_ms, "landmarks": landmarks_ms}
        if not found:
            return []
        boxes = np.stack([landmark_box(f[0], width, height) for f in found])
        keypoints = np.stack([to_coco(f[0]) for f in found])
        scores = np.array([f[1] for f in found], np.float32)
        return make_persons(boxes, scores, keypoints, (width, height))

    def estimate(self, frames: Sequence[np.ndarray]) -> list[list[Person]]:
        frames = [check_frame(f) for f in frames]
        results, totals = [], {"detector": 0.0, "landmarks": 0.0}
        for frame in frames:
            results.append(self._frame(frame))
            for key in totals:
                totals[key] += self.last_timings[key]
        if frames:
            self.last_timings = {k: v / len(frames) for k, v in totals.items()}
        return results

    def reset(self) -> None:
        """Forget the followed persons (the next frame runs the tiled detector)."""
        self._tracked, self._thumb, self._lost_at, self._since_detect = [], None, [], 0

    def describe(self) -> str:
        """E.g. "mediapipe_multi (CPU, every person: tiled detector (1, 2x2, 3x3) every 25 frames, landmarks
        per person; no detector weights cached)"."""
        grids = ", ".join("1" if n == 1 else f"{n}x{n}" for n in self.tile_grids)
        when = f"every {self.detector_interval} frames" if self.video_mode else "on every image"
        side = f", {self.cores} cores" if self.cores > 1 else ""
        why = f"; {self.reason}" if self.reason else ""
        return f"mediapipe_multi (CPU, every person: tiled detector ({grids}) {when}, landmarks per person{side}{why})"

    def close(self) -> None:
        for graph in (self._detector, self._landmarker):
            if graph is not None:
                graph.close()
        self._detector = self._landmarker = None
