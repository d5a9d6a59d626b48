"""Test media made from permissively licensed pictures shipped in PyPI packages.

- skimage ``astronaut`` (Eileen Collins, NASA: public domain);
- matplotlib ``grace_hopper.jpg`` (US Navy photo: public domain);
- frames of ``assets/sample/bikes.mp4`` (see ``assets/sample/LICENSE.md``).
"""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from engine.cvcompat import cv2

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CLIP = ROOT / "assets" / "sample" / "bikes.mp4"


def astronaut_bgr() -> np.ndarray:
    import skimage.data

    return np.ascontiguousarray(skimage.data.astronaut()[:, :, ::-1])


def grace_hopper_bgr() -> np.ndarray:
    import matplotlib.cbook

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
        data = np.frombuffer(handle.read(), np.uint8)
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


def clip_frames(indices) -> dict[int, np.ndarray]:
    """Frames of the sample clip by index, (272, 640, 3) BGR."""
    wanted, out = set(indices), {}
    with av.open(str(SAMPLE_CLIP)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                out[i] = frame.to_ndarray(format="bgr24")
            if len(out) == len(wanted):
                break
    return out


def write_image(path: Path, image: np.ndarray, params=()) -> Path:
    ok, data = cv2.imencode(path.suffix, image, list(params))
    assert ok, path
    path.write_bytes(data.tobytes())
    return path


def unrelated_images(folder: Path) -> dict[str, str]:
    """A folder of unrelated photos of different sizes, PNG and JPEG: one corrupt file, a 1×1 image, one
    picture without people (the clip's first frame: an empty road), one with two people side by side.

    Returns {file name: what it is}.
    """
    folder.mkdir(parents=True, exist_ok=True)
    astronaut, hopper = astronaut_bgr(), grace_hopper_bgr()
    frames = clip_frames([0, 30])
    h = astronaut.shape[0]
    hopper_small = cv2.resize(hopper, (int(round(hopper.shape[1] * h / hopper.shape[0])), h),
                              interpolation=cv2.INTER_AREA)
    write_image(folder / "astronaut.png", astronaut)                        # 512x512 PNG, one person
    write_image(folder / "hopper.jpg", hopper, (cv2.IMWRITE_JPEG_QUALITY, 95))  # 512x600 JPEG
    write_image(folder / "road.jpg", frames[0], (cv2.IMWRITE_JPEG_QUALITY, 90))  # 640x272, no people
    write_image(folder / "bikes_30.png", frames[30])                        # 640x272 PNG
    write_image(folder / "two_people.png", np.hstack([hopper_small, astronaut]))  # ~949x512, two people
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    write_image(folder / "pixel.png", np.zeros((1, 1, 3), np.uint8))       # a 1x1 tracking pixel
    return {"astronaut.png": "person", "hopper.jpg": "person", "road.jpg": "no people",
            "bikes_30.png": "clip frame", "two_people.png": "two people", "broken.jpg": "corrupt",
            "pixel.png": "1x1"}


def numbered_frames(folder: Path, count: int, suffix: str = ".png") -> Path:
    """The first ``count`` frames of the sample clip as ``000001.png`` ... (MOTChallenge naming), lossless."""
    folder.mkdir(parents=True, exist_ok=True)
    with av.open(str(SAMPLE_CLIP)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i >= count:
                break
            write_image(folder / f"{i + 1:06d}{suffix}", frame.to_ndarray(format="bgr24"))
    return folder
