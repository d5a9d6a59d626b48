"""The items of a corpus: what ``extract`` processes, one output file each.

An item is a video file, an image folder (a folder with images directly in it) or a single image. A folder
without images directly in it is a corpus folder: every video file and every image folder below it is an
item. ``--list FILE`` names one item per line (``#`` comments and blank lines ignored; relative paths are
relative to the list file).

Each item's output name is ``<stem>-<hash>.parquet``: the readable stem of the item's name plus the first
12 hex digits of the SHA-1 of its absolute path, so two items called ``clip.mp4`` in different folders never
collide, and the same item always maps to the same file (which is what makes a second run resume).
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Optional

from engine.io.sources.base import IMAGE_SUFFIXES

# Containers PyAV/FFmpeg reads that people keep clips in (a corpus folder is searched for these).
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".ts", ".wmv", ".flv",
                  ".3gp", ".mts")
_STEM_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


class ItemError(ValueError):
    """An input that cannot become an item; one line naming it and the fix."""


@dataclass(frozen=True)
class Item:
    """One unit of work. ``path``: the item as a string (absolute); ``kind``: "video" | "images" | "image" |
    "missing" (a ``--list`` entry that does not exist: it is recorded as failed, not fatal); ``output``: the
    Parquet file name under the output folder."""

    path: str
    kind: str
    output: str

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Item":
        return cls(path=str(data["path"]), kind=str(data["kind"]), output=str(data["output"]))


def output_name(path: str | os.PathLike) -> str:
    """``<stem>-<12 hex of sha1(absolute path)>.parquet``; the stem keeps only ``[A-Za-z0-9._-]`` (≤ 60)."""
    absolute = os.path.abspath(os.fspath(path))
    name = Path(absolute).name
    stem = Path(name).stem if Path(name).suffix.lower() in VIDEO_SUFFIXES + IMAGE_SUFFIXES else name
    stem = _STEM_CHARS.sub("_", stem).strip("._") or "item"
    digest = hashlib.sha1(absolute.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return f"{stem[:60]}-{digest}.parquet"


def _has_images(folder: Path) -> bool:
    try:
        return any(p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() for p in folder.iterdir())
    except OSError:
        return False


def _make(path: Path, kind: str) -> Item:
    absolute = os.path.abspath(os.fspath(path))
    return Item(path=absolute, kind=kind, output=output_name(absolute))


def _walk_corpus(folder: Path) -> list[Item]:
    """Every video file and every image folder below ``folder`` (sorted, symlinked folders not followed)."""
    items: list[Item] = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        root_path = Path(root)
        if root_path != folder and any(Path(f).suffix.lower() in IMAGE_SUFFIXES for f in files):
            items.append(_make(root_path, "images"))
            dirs.clear()  # an image folder is one item; its sub-folders are its own business
            continue
        for name in sorted(files):
            if Path(name).suffix.lower() in VIDEO_SUFFIXES:
                items.append(_make(root_path / name, "video"))
    return items


def classify(path: Path) -> list[Item]:
    """The item(s) ``path`` stands for; raises :class:`ItemError` for a path that is no item."""
    if path.is_dir():
        if _has_images(path):
            return [_make(path, "images")]
        found = _walk_corpus(path)
        if not found:
            raise ItemError(f"{path}: no images, videos ({', '.join(VIDEO_SUFFIXES[:4])}, ...) or image folders "
                            f"in this folder; give video files, image folders or images")
        return found
    if path.suffix.lower() == ".txt":
        raise ItemError(f"{path}: a .txt input is ambiguous; give a list of items with --list {path}")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return [_make(path, "image")]
    # Anything else is tried as a video: a bad one fails as an item (recorded), not the whole run.
    return [_make(path, "video")]


def read_list(list_file: str | os.PathLike) -> list[str]:
    """The entries of a ``--list`` file (bounded to 64 MiB; UTF-8; one path per line)."""
    path = Path(list_file).expanduser()
    try:
        if path.stat().st_size > 64 << 20:
            raise ItemError(f"{path}: the list is over 64 MiB; split it into several --list files")
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ItemError(f"{path}: --list file not found; check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ItemError(f"{path}: cannot read the --list file ({exc}); give a UTF-8 text file with one "
                        f"video, image folder or image per line") from None
    entries = []
    for line in lines:
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        entry_path = Path(entry).expanduser()
        if not entry_path.is_absolute():
            entry_path = path.parent / entry_path
        entries.append(os.fspath(entry_path))
    return entries


def collect_items(inputs: Iterable[str], list_file: Optional[str] = None) -> list[Item]:
    """Inputs (command line) and ``--list`` entries → unique items in the order given.

    A command-line input that does not exist is an error (a typo should stop the run at once); a ``--list``
    entry that does not exist becomes an item of kind "missing", recorded as failed with the others done.
    """
    items: list[Item] = []
    seen: set[str] = set()

    def add(found: Iterable[Item]) -> None:
        for item in found:
            if item.path not in seen:
                seen.add(item.path)
                items.append(item)

    for text in inputs:
        path = Path(text).expanduser()
        if not path.exists():
            raise ItemError(f"{text}: no such file or folder; check the path (give video files, image folders, "
                            f"images, or --list FILE)")
        add(classify(path))
    for entry in read_list(list_file) if list_file else []:
        path = Path(entry)
        if not path.exists():
            add([_make(path, "missing")])
            continue
        try:
            add(classify(path))
        except ItemError:
            add([_make(path, "video")])  # tried, and recorded as failed with the reason
    if not items:
        raise ItemError("no items: give video files, image folders or images (or --list FILE)")
    return items
