"""``python main.py extract INPUT... --out DIR``: A2V features of a whole corpus, one Parquet file per item.

Resumable (a second run with the same ``--out`` skips what is done), one failing item never stops the
others, and the exit code says whether any failed (0 all done, 1 some failed, 2 bad usage or settings).
"""
from __future__ import annotations

import argparse
import logging
import sys

from engine.cli.common import add_config_arguments, config_from_args

log = logging.getLogger("a2v")


def register_cli(subparsers) -> None:
    parser = subparsers.add_parser(
        "extract", help="A2V features of many videos / image folders → Parquet, resumable (local or Ray)",
        description="Run pose, tracking and A2V over every item (a video file, an image folder or an image;\n"
                    "a folder of videos is searched for them) and write one Parquet file per item, one row\n"
                    "per person per frame, plus DIR/manifest.jsonl. Run it again with the same --out to\n"
                    "resume. Read the results with engine.corpus.load_features(DIR).",
        epilog="examples:\n  python main.py extract clips/*.mp4 --out features/\n"
               "  python main.py extract --list corpus.txt --out features/ --workers 2\n"
               "  python main.py extract videos/ --out /shared/features --engine ray --address ray://head:10001",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="video files, image folders, images, or "
                                                                   "folders holding them")
    parser.add_argument("--list", dest="list_file", metavar="FILE",
                        help="a text file with one item per line (relative to the file; # comments)")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (created; reused to resume)")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="worker processes / Ray actors (default: one per GPU; on a CPU 1 local worker, or "
                             "one actor per CPU of the Ray cluster)")
    parser.add_argument("--engine", choices=("local", "ray"), default="local",
                        help="local worker processes (default) or a Ray Data job")
    parser.add_argument("--address", metavar="ADDR", help="Ray cluster address, e.g. ray://head:10001 "
                                                          "(default: start a local Ray cluster)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("-v", "--verbose", dest="item_lines", action="store_true",
                        help="one line per item as it finishes, and the stages each worker loaded")
    add_config_arguments(parser)
    parser.set_defaults(func=extract_command)


def extract_command(args: argparse.Namespace) -> int:
    from engine.corpus.job import extract

    if not args.inputs and not args.list_file:
        raise ValueError("extract: no items; give video files, image folders or images, or --list FILE")
    if args.address and args.engine != "ray":
        raise ValueError(f"--address {args.address}: only used with --engine ray; add --engine ray")
    config = config_from_args(args)
    verbose = bool(args.item_lines or getattr(args, "verbose", False))
    summary = extract(args.inputs, args.out, config, list_file=args.list_file, engine=args.engine,
                      workers=args.workers, address=args.address, progress=not args.quiet, verbose=verbose)
    print(summary.table(), file=sys.stderr)
    return summary.exit_code
