"""Convert between the official LMDBs and the ``a2v-hake/1`` JSON format, both ways.

    python -m engine.training.data.convert SRC DST [--kind train|pred] [--splits hico-train,vcoco] [--base64]

A path ending in ``.json`` is the JSON format; anything else is an LMDB folder. ``read_records`` is the
one entry point the trainer and the benchmark use to read either format.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Iterable

from engine.training.data.json_format import read_json, write_json
from engine.training.data.lmdb_hake import ReadResult, read_lmdb, write_lmdb
from engine.training.data.records import DataError


def is_json(path: str | Path) -> bool:
    return str(path).lower().endswith(".json")


def read_records(path: str | Path, kind: str = "train", splits: Iterable[str] = ()) -> ReadResult:
    """Read an official LMDB (folder) or an ``a2v-hake/1`` JSON file; bad records are skipped and listed."""
    if not str(path).strip():
        raise DataError("no data path given; set data.train / data.test_gt / data.test_pred in the config")
    if is_json(path):
        return read_json(path, kind=kind, splits=splits)
    return read_lmdb(path, kind=kind, splits=splits)


def convert(src: str | Path, dst: str | Path, kind: str = "train", splits: Iterable[str] = (),
            encoding: str = "pickle") -> tuple[int, list[str]]:
    """Copy every readable record of ``src`` to ``dst``; returns (records written, skipped messages)."""
    result = read_records(src, kind=kind, splits=splits)
    if is_json(dst):
        written = write_json(dst, result.records, kind=kind)
    else:
        written = write_lmdb(dst, result.records, kind=kind, encoding=encoding)
    return written, result.skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.training.data.convert",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("src", help="official LMDB folder or .json file")
    parser.add_argument("dst", help="output .json file or LMDB folder")
    parser.add_argument("--kind", choices=("train", "pred"), default="train",
                        help="train = Trainval_HAKE annotations, pred = Test_pred_rcnn detections")
    parser.add_argument("--splits", default="", help="comma list of key prefixes to keep (default: all)")
    parser.add_argument("--base64", action="store_true", help="write LMDB values base64-wrapped (v0 style)")
    args = parser.parse_args(argv)
    try:
        written, skipped = convert(args.src, args.dst, args.kind, args.splits.split(","),
                                   "base64" if args.base64 else "pickle")
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {written} images to {args.dst}; skipped {len(skipped)} bad records")
    return 0


if __name__ == "__main__":
    sys.exit(main())
