"""A2V over a corpus: ``extract`` thousands of videos and image folders into Parquet, resumably.

- :mod:`engine.corpus.items` — what an item is and its collision-free output name;
- :mod:`engine.corpus.writer` — one item's rows → one Parquet file (schema in its docstring), atomically;
- :mod:`engine.corpus.manifest` — ``DIR/manifest.jsonl``, resume, the folder's settings and lock;
- :mod:`engine.corpus.process` — the real pipeline stages, loaded once, run item after item;
- :mod:`engine.corpus.local` / :mod:`engine.corpus.ray_engine` — worker processes / a Ray Data job;
- :mod:`engine.corpus.job` — :func:`extract`, progress and the summary.

Reading back: :func:`load_features` (``DIR`` → one ``pyarrow.Table``; ``.to_pandas()`` for pandas).
Heavy imports (pyarrow, torch, ray) happen inside the functions, so importing this package is cheap.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence


def extract(*args, **kwargs):
    """See :func:`engine.corpus.job.extract`."""
    from engine.corpus.job import extract as run

    return run(*args, **kwargs)


def feature_files(folder: str | os.PathLike, done_only: bool = True) -> list[Path]:
    """The finished Parquet files of an ``extract`` folder, sorted by name. With ``done_only`` only files
    the manifest records as done are listed (a file a killed run wrote but did not record is left out)."""
    from engine.corpus.manifest import MANIFEST, Manifest

    root = Path(folder).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not an extract folder; give the --out folder of `extract`")
    files = sorted(p for p in root.glob("*.parquet") if not p.name.startswith("."))
    if done_only and (root / MANIFEST).exists():
        done = {r.get("output") for r in Manifest(root).records.values() if r.get("status") == "done"}
        files = [p for p in files if p.name in done]
    return files


def load_features(folder: str | os.PathLike, columns: Optional[Sequence[str]] = None, done_only: bool = True):
    """Every person-frame row of an ``extract`` folder as one ``pyarrow.Table`` (schema: see
    :mod:`engine.corpus.writer`; ``columns`` reads only those). The table's metadata holds the first
    file's provenance (``a2v.provenance``); every file has its own (:func:`engine.corpus.writer.read_provenance`).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from engine.corpus.writer import META_FORMAT, META_PROVENANCE, schema

    files = feature_files(folder, done_only=done_only)
    if not files:
        empty = schema(0)
        if columns:
            empty = pa.schema([empty.field(c) for c in columns])
        return empty.empty_table()
    tables = [pq.read_table(p, columns=list(columns) if columns else None) for p in files]
    first_meta = tables[0].schema.metadata or {}
    tables = [t.replace_schema_metadata(None) for t in tables]
    table = pa.concat_tables(tables)
    keep = {k: v for k, v in first_meta.items() if k in (META_FORMAT, META_PROVENANCE)}
    return table.replace_schema_metadata(keep)
