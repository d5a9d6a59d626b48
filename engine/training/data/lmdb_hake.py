"""Readers and writers for the official HAKE-Activity2Vec v1 LMDBs (docs/hake_facts.md §6).

- ``Trainval_HAKE`` ("train" kind): key ``"<split>/<file>"``; value = a pickled list of per-person dicts
  (EasyDict in the official files) with ``gt_flag``, ``human_bbox`` [4] xyxy, ``part_bboxes`` (10x5 with a
  leading 0 column, or None), ``keypoints`` (51 floats or None), ``verbs`` (indices into 157; empty = 57),
  ``pasta`` {foot, leg, hip, hand, arm, head: index lists within the group, binary: 10 flags}.
- ``Test_pred_rcnn`` ("pred" kind): same key; per-person ``human_bbox``, ``part_bboxes`` (10x4),
  ``human_score``, ``keypoints``.

Values may be a plain pickle (v1) or base64 of a pickle (v0 style); both are read with the restricted
unpickler of ``engine.training.data.safe_pickle``. A record that cannot be read is reported with its key (logged,
and listed in ``ReadResult.skipped``) and skipped; an empty or missing database is an error.
"""
from __future__ import annotations

import base64
import logging
import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from engine.training.data import safe_pickle
from engine.training.data.records import (
    GROUPS,
    NUM_VERBS,
    DataError,
    ImageRecord,
    PersonRecord,
    RecordError,
    as_bool,
    as_box,
    as_flags,
    as_index_list,
    as_keypoints,
    as_part_boxes,
)

log = logging.getLogger("a2v")

KINDS = ("train", "pred")


@dataclass
class ReadResult:
    records: list[ImageRecord]
    skipped: list[str] = field(default_factory=list)  # "<key>: <problem>" per skipped record


def _group_sizes() -> dict[str, int]:
    from engine.vocab import load_vocab

    vocab = load_vocab()
    return dict(zip(vocab.groups, vocab.group_sizes))


def _get(anno, name, default=None):
    if isinstance(anno, Mapping):
        return anno.get(name, default)
    return getattr(anno, name, default)


def parse_person(anno, kind: str, where: str, group_sizes: Optional[dict[str, int]] = None,
                 num_verbs: int = NUM_VERBS) -> PersonRecord:
    """One official per-person dict -> PersonRecord (raises RecordError naming ``where`` and the field)."""
    if not isinstance(anno, Mapping):
        raise RecordError(f"{where}: expected a dict per person, got {type(anno).__name__} "
                          "(v0 list-style entries are not supported; convert them to the v1 layout)")
    if "human_bbox" not in anno:
        raise RecordError(f"{where}: missing 'human_bbox'")
    box = as_box(anno["human_bbox"], f"{where}.human_bbox")
    parts = as_part_boxes(_get(anno, "part_bboxes"), f"{where}.part_bboxes")
    keypoints = as_keypoints(_get(anno, "keypoints"), f"{where}.keypoints")
    if kind == "pred":
        score = _get(anno, "human_score", 1.0)
        try:
            score = float(np.asarray(score, dtype=np.float64).reshape(-1)[0])
        except (TypeError, ValueError, IndexError):
            raise RecordError(f"{where}.human_score: expected a number, got {score!r}") from None
        if not np.isfinite(score):
            raise RecordError(f"{where}.human_score: expected a finite number, got {score!r}")
        return PersonRecord(box=box, part_boxes=parts, keypoints=keypoints, gt=False, score=score)
    sizes = group_sizes or _group_sizes()
    verbs = as_index_list(_get(anno, "verbs"), f"{where}.verbs", num_verbs)
    pasta_in = _get(anno, "pasta") or {}
    if not isinstance(pasta_in, Mapping):
        raise RecordError(f"{where}.pasta: expected a dict of group -> index list")
    pasta = {g: as_index_list(pasta_in.get(g), f"{where}.pasta.{g}", sizes[g]) for g in GROUPS}
    binary = as_flags(pasta_in.get("binary"), f"{where}.pasta.binary")
    gt = as_bool(_get(anno, "gt_flag", True), f"{where}.gt_flag")
    return PersonRecord(box=box, part_boxes=parts, keypoints=keypoints, verbs=verbs, pasta=pasta,
                        binary=binary, gt=gt, score=1.0)


def parse_value(key: str, value: bytes, kind: str, group_sizes=None) -> ImageRecord:
    """Decode one LMDB value (pickle or base64 pickle of a list of person dicts)."""
    try:
        annos = safe_pickle.loads(value)
    except DataError as exc:
        raise RecordError(f"{key}: {exc}") from None
    if isinstance(annos, Mapping):  # tolerate a single person stored without the list
        annos = [annos]
    if not isinstance(annos, (list, tuple)):
        raise RecordError(f"{key}: expected a list of persons, got {type(annos).__name__}")
    persons = []
    for i, anno in enumerate(annos):
        try:
            persons.append(parse_person(anno, kind, f"{key}[{i}]", group_sizes))
        except RecordError:
            raise
        except (TypeError, ValueError, OverflowError, AttributeError, KeyError) as exc:  # odd types in a field
            raise RecordError(f"{key}[{i}]: unreadable field ({type(exc).__name__}: {exc})") from None
    return ImageRecord(key=key, persons=persons)


_META_MAGIC = 0xBEEFC0DE


def check_data_file(data_file: Path, what: Path) -> None:
    """Refuse a ``data.mdb`` shorter than its own meta pages say (LMDB reads it through ``mmap``: touching a
    page past the end of a truncated file is a SIGBUS that kills the process, not an exception).

    The file starts with two meta pages (64-bit layout: 16-byte page header, then magic u32, version u32,
    address, mapsize, two 48-byte DB records whose first u32 in the free DB is the page size, last_pg u64,
    txnid u64); the one with the larger txnid is current and ``(last_pg + 1) * page_size`` bytes must exist.
    """
    import struct

    try:
        size = data_file.stat().st_size
        with open(data_file, "rb") as handle:
            head = handle.read(16 + 152)
            metas = [head]
            if len(head) == 168:
                page_size = struct.unpack_from("<I", head, 40)[0]
                if 512 <= page_size <= 1 << 16:
                    handle.seek(page_size)
                    metas.append(handle.read(168))
    except OSError as exc:
        raise DataError(f"{what}: cannot read the LMDB ({exc.strerror or exc}); check the path") from None
    best = None
    for meta in metas:
        if len(meta) < 168 or struct.unpack_from("<I", meta, 16)[0] != _META_MAGIC:
            continue
        page_size = struct.unpack_from("<I", meta, 40)[0]
        last_page, txnid = struct.unpack_from("<QQ", meta, 136)
        if best is None or txnid > best[2]:
            best = (page_size, last_page, txnid)
    if best is None:
        raise DataError(f"{what}: not an LMDB (no LMDB header in {data_file.name}); point the config at an "
                        "LMDB folder (the one holding data.mdb)")
    page_size, last_page, _ = best
    needed = (last_page + 1) * page_size
    if not 512 <= page_size <= 1 << 16 or size < needed:
        raise DataError(f"{what}: the LMDB is truncated or damaged ({data_file.name} has {size:,} bytes, its "
                        f"header needs {needed:,}); copy or rebuild the database again")


# Run in a child interpreter (only lmdb imported): walks every record and copies its value, so a damaged
# tree that points past the end of data.mdb crashes the child with SIGBUS instead of this process.
_PROBE = """
import sys, lmdb
env = lmdb.open(sys.argv[1], subdir=sys.argv[2] == "1", readonly=True, lock=False, readahead=False)
with env.begin() as txn:
    entries = txn.stat()["entries"]
    for count, (key, value) in enumerate(txn.cursor(), start=1):
        if count > entries:
            sys.exit(3)
        bytes(key); bytes(value)
"""


def probe(path: Path, subdir: bool) -> None:
    """Read the whole database once in a child process; :class:`DataError` if that crashes or runs away.

    A corrupt LMDB can hold page numbers or value sizes that reach past the end of ``data.mdb``; LMDB reads
    through ``mmap``, where that is a SIGBUS ("Bus error") no Python code can catch. One extra pass over a
    file the page cache then holds is cheap next to a training run killed without a word.
    """
    import subprocess
    import sys

    try:
        proc = subprocess.run([sys.executable, "-c", _PROBE, str(path), "1" if subdir else "0"],
                              capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.debug("LMDB probe of %s not run: %s", path, exc)
        return
    if proc.returncode < 0:
        import signal

        name = signal.Signals(-proc.returncode).name if -proc.returncode in signal.Signals._value2member_map_ \
            else str(-proc.returncode)
        raise DataError(f"{path}: the LMDB is damaged (reading it crashes with {name}: a record points past the "
                        f"end of its data file); copy or rebuild the database again")
    if proc.returncode == 3:
        raise DataError(f"{path}: the LMDB is damaged (its cursor yields more records than its header holds); "
                        "copy or rebuild the database again")


def open_env(path: str | Path, write: bool = False, map_size: int = 1 << 30):
    """Open an LMDB directory (or single file) with a clear error when it is not there."""
    import lmdb

    path = Path(path)
    if not write and not path.exists():
        raise DataError(f"{path}: LMDB not found; check the path in the config (data.train / data.test_*)")
    subdir = path.is_dir() or (write and not path.suffix)
    if not write:
        data_file = path / "data.mdb" if subdir else path
        if subdir and not data_file.is_file():
            raise DataError(f"{path}: no data.mdb in this folder; point the config at the LMDB folder")
        check_data_file(data_file, path)
        probe(path, subdir)
    try:
        if write:
            path.mkdir(parents=True, exist_ok=True) if subdir else path.parent.mkdir(parents=True, exist_ok=True)
            return lmdb.open(str(path), subdir=subdir, map_size=map_size, readonly=False, lock=True)
        return lmdb.open(str(path), subdir=subdir, readonly=True, lock=False, readahead=False,
                         max_readers=512)
    except lmdb.Error as exc:
        raise DataError(f"{path}: cannot open as LMDB ({exc}); point the config at the LMDB folder "
                        "(the one holding data.mdb)") from None


def read_lmdb(path: str | Path, kind: str = "train", splits: Iterable[str] = ()) -> ReadResult:
    """All records of an official LMDB. ``splits``: keep only keys ``"<split>/..."`` (empty = all)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    splits = tuple(s.strip().rstrip("/") for s in splits if s.strip())
    sizes = _group_sizes()
    result = ReadResult(records=[])
    import lmdb

    env = open_env(path)
    total = 0
    try:
        with env.begin(write=False) as txn:
            entries = int(txn.stat()["entries"])
            for raw_key, value in txn.cursor():
                total += 1
                if total > entries:  # a damaged tree can walk into garbage pages and yield "records" forever
                    raise DataError(f"{path}: the LMDB is damaged (its cursor yields more than the {entries} "
                                    "records its header holds); copy or rebuild the database again")
                key = raw_key.decode("utf-8", errors="replace")
                if splits and key.split("/", 1)[0] not in splits:
                    continue
                try:
                    result.records.append(parse_value(key, value, kind, sizes))
                except RecordError as exc:
                    result.skipped.append(str(exc))
                    log.warning("skipping record %s", exc)
    except lmdb.Error as exc:
        raise DataError(f"{path}: the LMDB is damaged ({type(exc).__name__}: {' '.join(str(exc).split())}); "
                        "copy or rebuild the database again") from None
    finally:
        env.close()
    if total == 0:
        raise DataError(f"{path}: the LMDB is empty; rebuild it or point the config at the right database")
    if not result.records:
        why = f"none of its {total} records is in splits {list(splits)}" if splits and not result.skipped \
            else f"all {total} records are unreadable (first: {result.skipped[0] if result.skipped else '?'})"
        raise DataError(f"{path}: no usable records: {why}")
    return result


def person_to_official(person: PersonRecord, kind: str) -> dict:
    """PersonRecord -> the official per-person dict (plain dict, numpy arrays)."""
    parts = None
    if person.part_boxes is not None:
        parts = np.asarray(person.part_boxes, dtype=np.float32)
        if kind == "train":  # official training LMDB keeps the leading batch-index column
            parts = np.concatenate([np.zeros((10, 1), np.float32), parts], axis=1)
    keypoints = None if person.keypoints is None else np.asarray(person.keypoints, np.float32).reshape(-1).tolist()
    out = {"human_bbox": np.asarray(person.box, np.float32).tolist(), "part_bboxes": parts, "keypoints": keypoints}
    if kind == "pred":
        out["human_score"] = float(person.score)
        return out
    pasta = {g: list(person.pasta.get(g, [])) for g in GROUPS}
    pasta["binary"] = None if person.binary is None else np.asarray(person.binary, np.float32).tolist()
    out.update(gt_flag=int(person.gt), verbs=list(person.verbs), pasta=pasta)
    return out


def write_lmdb(path: str | Path, records: Iterable[ImageRecord], kind: str = "train",
               encoding: str = "pickle") -> int:
    """Write records in the official layout (``encoding`` "pickle" = v1, "base64" = v0 wrapping).

    Returns the number of records written. An existing database at ``path`` is added to / overwritten
    key by key.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    items = []
    for record in records:
        value = pickle.dumps([person_to_official(p, kind) for p in record.persons], protocol=4)
        if encoding == "base64":
            value = base64.b64encode(value)
        items.append((record.key.encode("utf-8"), value))
    size = sum(len(k) + len(v) for k, v in items)
    env = open_env(path, write=True, map_size=max(1 << 24, 4 * size + (1 << 20)))
    try:
        with env.begin(write=True) as txn:
            for key, value in items:
                txn.put(key, value)
    finally:
        env.close()
    return len(items)
