"""``python main.py bench search``: query time of text search and "more like this" over N person-frames.

Synthetic person-frames (random PaSta/action probabilities and 3072-d visual vectors, tracks of 100
frames) stand in for a corpus; the MiniLM encoder embeds the queries. Reports the median ms per query
(text: embedding + scoring + segments; like: exact numpy scan vs the faiss IVF index, with its one-off
build time) and the peak RSS.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rows", type=int, default=100_000, help="person-frames (default 100000)")
    parser.add_argument("--repeats", type=int, default=5, help="queries timed per kind (median; default 5)")
    parser.add_argument("--json", metavar="FILE", help="also write the numbers to FILE ('-' = stdout)")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from engine.bench.common import peak_rss_mb
    from engine.search.searcher import Searcher
    from engine.search.table import PersonFrames

    if args.rows < 100 or args.repeats < 1:
        raise ValueError("--rows must be at least 100 and --repeats at least 1")
    rng = np.random.default_rng(0)
    m = args.rows
    frame = np.arange(m, dtype=np.int64) % 100
    table = PersonFrames(item=np.full(m, "synthetic", dtype=object), frame=frame, time=frame / 25.0,
                         track=np.arange(m, dtype=np.int64) // 100, box=np.zeros((m, 4), np.float32),
                         pasta=rng.uniform(0, 0.2, (m, 93)).astype(np.float32),
                         actions=rng.uniform(0, 0.2, (m, 157)).astype(np.float32),
                         visual=rng.standard_normal((m, 3072), dtype=np.float32), language=np.zeros((m, 0), np.float32))
    searcher = Searcher(table)
    searcher.text("warm up the encoder")
    queries = ["riding a bicycle", "hand holds something", "sitting on a chair", "talking on the phone", "kicking"]
    text_ms = []
    for i in range(args.repeats):
        start = time.perf_counter()
        searcher.text(queries[i % len(queries)])
        text_ms.append(1000 * (time.perf_counter() - start))
    embed_ms = []
    for i in range(args.repeats):
        start = time.perf_counter()
        searcher.encoder.embed([queries[i % len(queries)]])
        embed_ms.append(1000 * (time.perf_counter() - start))
    report = {"rows": m, "text_ms": statistics.median(text_ms), "query_embedding_ms": statistics.median(embed_ms)}
    for label, limit in (("exact", m + 1), ("faiss", 0)):
        s = Searcher(table, brute_force_limit=limit)
        start = time.perf_counter()
        s.like("synthetic", 0, 1.0)                 # the first query builds the index (faiss)
        first = 1000 * (time.perf_counter() - start)
        times = []
        for i in range(args.repeats):
            start = time.perf_counter()
            s.like("synthetic", int(i * 7 % (m // 100)), 1.0)
            times.append(1000 * (time.perf_counter() - start))
        report[f"like_{label}_ms"] = statistics.median(times)
        report[f"like_{label}_first_ms"] = first
    report["peak_rss_mb"] = peak_rss_mb()
    print(f"search over {m} person-frames: text {report['text_ms']:.1f} ms/query (of which embedding the query "
          f"{report['query_embedding_ms']:.1f} ms); like exact "
          f"{report['like_exact_ms']:.1f} ms/query; like faiss {report['like_faiss_ms']:.1f} ms/query "
          f"(index build {report['like_faiss_first_ms'] / 1000:.1f} s, once); peak RSS {report['peak_rss_mb']:.0f} MiB")
    if args.json == "-":
        print(json.dumps(report))
    elif args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle)
    return 0
