"""The Python API for notebooks and scripts: a2v as a backbone, one call per image, folder or video.

::

    from engine import Predictor
    predictor = Predictor()                      # configs/default.yaml; device "auto"
    results = predictor("photos/")               # a folder of unrelated images → one Result per image
    results[0].persons[0].actions                # (157,) action probabilities (None without A2V weights)
    annotated = results[0].plot()                # (H, W, 3) BGR uint8, the image `run` writes
    for result in predictor("clip.mp4"):         # a video: a generator, frame by frame, tracked
        print(result.index, [p.track_id for p in result.persons])

Inputs: an image path, a folder / glob / ``.txt`` list of images, an (H, W, 3) BGR uint8 array (also
(H, W) grey or (H, W, 4) BGRA, as ``cv2.imread`` gives), an (N, H, W, 3) stack, a list of any of those
images, or a video file / URL / webcam index. Independent images (arrays, single images and folders that
are not a numbered frame sequence; see ``source.images``) are each posed on their own, persons are
numbered 1..N from left to right, and the call returns a list. Videos and numbered frame sequences are
tracked exactly as ``python main.py run`` tracks them, and the call returns a generator (each call starts
new tracks at ID 1). ``stream=True`` / ``False`` forces a generator / a list.

This is the same code as ``run``: the stages come from :func:`engine.stages.build_stages`, the drawing
from :func:`engine.stages.default_renderer`, the dicts from :class:`engine.io.sinks.ResultRecords` (the
``results.jsonl`` format) and ``save`` from :class:`engine.io.sinks.ImageSink`. The stages run one after
another in the caller's thread (no pipeline threads: exceptions surface where you called, and an
abandoned generator leaves nothing running); with ``pose.batch_size`` > 1 several images go through each
stage that batches (Keypoint R-CNN, A2V) in one call, as in the pipeline.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence, Union

import numpy as np

__all__ = ["Predictor", "Result"]

ImageLike = Union[str, Path, np.ndarray]


class Result:
    """One image or video frame.

    Attributes:
        image: the input (H, W, 3) BGR uint8 image (kept for :meth:`plot`).
        file: the image's path relative to its input root (a folder's images: ``"sub/a.jpg"``; a single
            image: its name); None for arrays and video frames.
        path: the image file (absolute), or None.
        index: the frame index in its video / sequence / list.
        frame: the :class:`engine.types.FrameResult` the stages filled (``persons``, ``timings`` ms,
            ``info``).
        persons: ``frame.persons``: :class:`engine.types.Person` with ``track_id`` (1..N per independent
            image, left to right; the track ID in a video), ``box`` (4,) xyxy pixels, ``score``,
            ``keypoints`` (17, 3) COCO-17 x, y, confidence, ``part_boxes`` (10, 4), ``pasta`` (93,),
            ``actions`` (157,), ``visual`` (3072,), ``language`` (768,) or (1536,), ``vector`` (their
            concatenation); the A2V arrays are None when PaSta is off (``frame.info["pasta_off"]`` says why).
    """

    def __init__(self, image: np.ndarray, frame, predictor: "Predictor", still: bool,
                 path: Optional[Path] = None) -> None:
        self.image = image
        self.frame = frame
        self.path = path
        self.still = still
        self._predictor = predictor

    @property
    def persons(self) -> list:
        return self.frame.persons

    @property
    def file(self) -> Optional[str]:
        return self.frame.info.get("file")

    @property
    def index(self) -> int:
        return self.frame.index

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.frame.image_size

    def to_dict(self, vectors: bool = False) -> dict:
        """The ``results.jsonl`` line of this image as a dict (``file``, ``frame``, ``size``, ``persons``
        with ``id``, ``box``, ``keypoints``, ``part_boxes``, ``pasta_top``, ``actions_top``, ...). With
        ``vectors``, each person also gets ``pasta``, ``actions``, ``visual`` and ``language`` as lists
        (None when PaSta is off)."""
        record = self._predictor._records.frame_record(self.frame)
        if vectors:
            for person, entry in zip(self.frame.persons, record["persons"]):
                for key in ("pasta", "actions", "visual", "language"):
                    value = getattr(person, key)
                    entry[key] = None if value is None else np.asarray(value, np.float32).tolist()
        return record

    def plot(self) -> np.ndarray:
        """The annotated image, (H, W, 3) BGR uint8 (wider with ``render.sidebar``), drawn by the same
        renderer as ``run``: for an independent image it equals the file ``run`` writes to ``images/``
        (pixel for pixel for PNG)."""
        return self._predictor._renderer(self.still)(self.image, self.frame)

    def save(self, folder: Union[str, Path]) -> Path:
        """Write :meth:`plot` to ``folder/<file>`` (same relative name and format as the input;
        ``frame_000123.png`` for arrays and video frames), as ``run --images`` does; returns the path."""
        from engine.io.sinks import ImageSink

        sink = ImageSink(folder)
        target = sink.target(self.frame)
        sink.write(self.plot(), self.frame)
        return target if target.exists() else target.with_name(target.name + ".png")

    def __repr__(self) -> str:
        name = self.file or f"frame {self.index}"
        ids = [p.track_id for p in self.persons]
        return f"<Result {name} {self.size[0]}x{self.size[1]}: {len(ids)} persons {ids}>"


class Predictor:
    """a2v as a callable: ``Predictor(config=None, device="auto")(source)`` → results (module docstring).

    Args:
        config: None (``configs/default.yaml``), an :class:`engine.config.Config`, a YAML file path, or a
            dict of dotted overrides on the defaults (``{"pose.backend": "mediapipe", "a2v.stride": 2}``).
        device: "auto" | "cpu" | "cuda" | "cuda:N"; overrides ``config.device`` (None keeps it).

    The models are built once here and reused by every call; :meth:`close` (or ``with Predictor() as p``)
    releases them.
    """

    def __init__(self, config=None, device: Optional[str] = "auto") -> None:
        from engine.io.sinks import ResultRecords
        from engine.stages import build_stages
        from engine.vocab import load_vocab

        self.config = _load_config(config)
        if device is not None:
            from engine.config import apply_override

            apply_override(self.config, f"device={device}")
        self.stages = build_stages(self.config, still_images=True)
        self._still = True
        self._records = ResultRecords(load_vocab())
        self._renderers: dict[bool, object] = {}
        self.closed = False

    # ------------------------------------------------------------------------------------------ calling
    def __call__(self, source, stream: Optional[bool] = None):
        """Results for ``source`` (see the module docstring): a list for independent images, a generator
        for videos and frame sequences; ``stream`` forces one or the other."""
        if self.closed:
            raise RuntimeError("this Predictor is closed; make a new one")
        results, lazy = self._dispatch(source)
        if stream is None:
            stream = lazy
        return results if stream else list(results)

    predict = __call__

    def _dispatch(self, source) -> tuple[Iterator[Result], bool]:
        from engine.io.sources import open_source

        if isinstance(source, np.ndarray):
            if source.ndim == 4:
                return self._images([("array", image) for image in source]), False
            return self._images([("array", source)]), False
        if isinstance(source, (list, tuple)):
            return self._images([self._list_item(item, i) for i, item in enumerate(source)]), False
        opened = open_source(source, self.config.source)
        if getattr(opened, "independent", False):
            return self._images([("source", opened)]), False
        return self._video(opened), True

    def _list_item(self, item, position: int):
        from engine.io.sources import open_source

        if isinstance(item, np.ndarray):
            return ("array", item)
        opened = open_source(item, self.config.source)
        if opened.kind != "images":
            opened.close()
            raise ValueError(f"{item}: item {position} of the list is a {opened.kind} source, not an image; "
                             f"call the predictor on it alone (it yields its frames one by one)")
        if not getattr(opened, "independent", False):
            opened.close()
            raise ValueError(f"{item}: item {position} of the list is a numbered frame sequence; call the "
                             f"predictor on it alone to track it, or set source.images=independent")
        return ("source", opened)

    def _images(self, items: Sequence) -> Iterator[Result]:
        """Independent images: ``items`` are ("array", image) or ("source", ImageSource) pairs."""
        def frames():
            offset = 0  # index = position in the flattened input, so a skipped image leaves a gap (as in run)
            for kind, item in items:
                if kind == "array":
                    image = _array_image(item, offset)
                    yield image, _frame_result(offset, 0.0, image), None
                    offset += 1
                    continue
                with item:
                    for frame in item:
                        result = _frame_result(offset + frame.index, frame.timestamp, frame.image)
                        result.info["file"] = frame.file
                        yield frame.image, result, item.paths[frame.index].absolute()
                offset += len(item.paths)

        self._set_mode(still=True)
        return self._run(frames(), still=True)

    def _video(self, source) -> Iterator[Result]:
        """A video, stream or frame sequence, tracked from ID 1 as ``run`` tracks it."""
        from engine.types import FrameResult

        def frames():
            with source:
                for frame in source:
                    height, width = frame.image.shape[:2]
                    result = FrameResult(index=frame.index, timestamp=float(frame.timestamp),
                                         image_size=(int(width), int(height)))
                    path = None
                    if frame.file is not None:
                        result.info["file"] = frame.file
                        path = source.paths[frame.index].absolute()
                    yield frame.image, result, path

        def generate():
            self._set_mode(still=False, restart=True)
            yield from self._run(frames(), still=False, live=bool(getattr(source, "is_live", False)))

        return generate()

    def _run(self, frames: Iterable, still: bool, live: bool = False) -> Iterator[Result]:
        """Each frame through every stage in order (batches of ``pose.batch_size`` for stages with
        ``process_batch``, as the pipeline does for file sources), timed into ``frame.timings``."""
        limit = 1 if live else max(1, int(self.config.pose.batch_size))
        batch: list = []
        for item in frames:
            batch.append(item)
            if len(batch) >= limit:
                yield from self._run_batch(batch, still)
                batch = []
        if batch:
            yield from self._run_batch(batch, still)

    def _run_batch(self, batch: list, still: bool) -> Iterator[Result]:
        if still != self._still:  # another call switched the stages meanwhile (interleaved generators)
            self._set_mode(still)
        images = [image for image, _, _ in batch]
        results = [result for _, result, _ in batch]
        for stage in self.stages:
            process_batch = getattr(stage, "process_batch", None)
            start = time.perf_counter()
            if process_batch is not None and len(batch) > 1:
                process_batch(images, results)
                share = (time.perf_counter() - start) * 1000.0 / len(batch)
                for result in results:
                    result.timings[stage.name] = share
                continue
            for image, result in zip(images, results):
                start = time.perf_counter()
                stage(image, result)
                result.timings[stage.name] = (time.perf_counter() - start) * 1000.0
        for image, result, path in batch:
            yield Result(image, result, self, still, path)

    def _set_mode(self, still: bool, restart: bool = False) -> None:
        """Switch the stages between still images and video; ``restart`` starts fresh tracks (IDs from 1,
        mediapipe's video tracking and the A2V carry forgotten) for a new video."""
        from engine.stages import set_still_images

        if restart and not still and not self._still:
            set_still_images(self.stages, True)  # a mode switch is the stages' "start afresh"
            self._still = True
        if still != self._still:
            set_still_images(self.stages, still)
            self._still = still

    def _renderer(self, still: bool):
        if still not in self._renderers:
            from engine.stages import default_renderer

            self._renderers[still] = default_renderer(self.config, still=still)
        return self._renderers[still]

    # ------------------------------------------------------------------------------------------ the rest
    def describe(self) -> str:
        """One line per stage: what runs, on what."""
        return "\n".join(f"{stage.name}: {stage.describe()}" for stage in self.stages)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            for stage in self.stages:
                stage.close()

    def __enter__(self) -> "Predictor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Predictor device={self.config.device} stages={[s.name for s in self.stages]}>"


def _load_config(config):
    from engine.config import Config, apply_override, load_config

    if config is None:
        return load_config()
    if isinstance(config, Config):
        return config
    if isinstance(config, (str, Path)):
        return load_config(config)
    if isinstance(config, dict):
        loaded = load_config()
        for key, value in config.items():
            apply_override(loaded, f"{key}={_yaml_scalar(value)}")
        return loaded
    raise TypeError(f"config: expected None, a Config, a YAML path or a dict of overrides, got "
                    f"{type(config).__name__}")


def _yaml_scalar(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(str(v) for v in value) + "]"
    return str(value)


def _array_image(array: np.ndarray, index: int) -> np.ndarray:
    from engine.io.sources import to_bgr8
    from engine.io.sources.files import MIN_IMAGE_SIDE

    try:
        image = to_bgr8(array)
    except ValueError as exc:
        raise ValueError(f"image {index}: {exc}; give an (H, W, 3) BGR uint8 array as cv2.imread returns") \
            from None
    if min(image.shape[:2]) < MIN_IMAGE_SIDE:
        raise ValueError(f"image {index}: {image.shape[1]}x{image.shape[0]} pixels is too small "
                         f"(at least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE})")
    return image


def _frame_result(index: int, timestamp: float, image: np.ndarray):
    from engine.types import FrameResult

    height, width = image.shape[:2]
    return FrameResult(index=index, timestamp=timestamp, image_size=(int(width), int(height)))
