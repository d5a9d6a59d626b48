"""``python main.py search DIR "query" | --like ITEM:TRACK:SECONDS``: people ranked by what they do."""
from __future__ import annotations

import argparse
import json
import sys


def register_cli(subparsers) -> None:
    parser = subparsers.add_parser(
        "search", help="find people by what they do (text) or by example (--like) in run/extract outputs",
        description="Rank segments (one track, consecutive frames) of a run or extract folder by a text query "
                    "scored against the PaSta and action probabilities, or by cosine similarity to an example "
                    "person (--like). Example: python main.py search runs/bikes \"riding a bicycle\"")
    parser.add_argument("folder", metavar="DIR", help="a run output folder, an extract folder, or a folder of runs")
    parser.add_argument("query", nargs="?", help="what people do, e.g. \"hand holds something\"")
    parser.add_argument("--like", metavar="ITEM:TRACK:SECONDS", help="more like this person at this time")
    parser.add_argument("--by", choices=("visual", "full"), default="visual",
                        help="vector for --like: visual (3072) or full (visual ‖ language)")
    parser.add_argument("--top", type=int, default=10, help="segments to show (default 10)")
    parser.add_argument("--threshold", type=float, help="score a frame needs (default: text max(0.1, half the "
                                                         "best score); --like 0.9 cosine)")
    parser.add_argument("--max-gap", type=int, default=2, help="frames a segment may skip (default 2)")
    parser.add_argument("--encoder", help="text encoder (default: the one behind the run's language matrix, "
                                          "else minilm)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--sheet", metavar="OUT.png", help="write a contact sheet of the segments' peak frames")
    parser.set_defaults(func=search_command)


def _table(result) -> str:
    rows = [("#", "score", "item", "id", "frames", "seconds", "peak")]
    for rank, s in enumerate(result.segments, 1):
        rows.append((str(rank), f"{s.peak_score:.3f}", s.item, str(s.track), f"{s.start_frame}-{s.end_frame}",
                     f"{s.start_time:.2f}-{s.end_time:.2f}", f"{s.peak_time:.2f} s"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows)


def search_command(args: argparse.Namespace) -> int:
    from engine.search.searcher import Searcher, parse_like
    from engine.search.text import SearchError

    if bool(args.query) == bool(args.like):
        raise SearchError("search: give either a text query or --like ITEM:TRACK:SECONDS (not both, not neither)")
    if args.top < 1:
        raise SearchError(f"--top {args.top}: must be at least 1")
    searcher = Searcher.open(args.folder, encoder=args.encoder)
    if args.like:
        item, track, time = parse_like(args.like)
        kwargs = {} if args.threshold is None else {"threshold": args.threshold}
        result = searcher.like(item, track, time, top=args.top, by=args.by, max_gap=args.max_gap, **kwargs)
        title = f"like {args.like} ({args.by})"
    else:
        result = searcher.text(args.query, top=args.top, threshold=args.threshold, max_gap=args.max_gap)
        title = f"\"{args.query}\""
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        if result.meaning and not args.like:
            print("read as: " + ", ".join(f"{label} ({w:.2f})" for label, w in result.meaning))
        print(_table(result) if result.segments else "no segment passes the threshold")
        print(f"({result.method})", file=sys.stderr)
    if args.sheet:
        from engine.search.sheet import contact_sheet, write_sheet

        path = write_sheet(args.sheet, contact_sheet(result.segments, searcher.table, title))
        print(f"wrote {path}", file=sys.stderr)
    return 0
