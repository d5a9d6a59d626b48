"""``python main.py weights list | fetch NAME | verify [NAME] | import NAME FILE | where [NAME] | pack OUT.tar |
unpack IN.tar``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.cli.common import run_command
from engine.weights.registry import REGISTRY, WeightsEntry, WeightsError, WeightsNotFound, get_entry
from engine.weights.store import (
    cache_dir,
    cache_path,
    fetch,
    find_cached,
    import_file,
    verify,
    verify_path,
)

# ------------------------------------------------------------------------------------------------------ CLI

def _status(entry: WeightsEntry) -> str:
    found = find_cached(entry)
    if found is None:
        return "missing"
    if entry.kind == "package_dir":
        return "packaged"
    return "cached" if str(found).startswith(str(cache_dir())) else "cached (torch hub)"


def _cmd_list(args) -> int:
    rows = [("NAME", "STATUS", "SIZE", "SHA256", "USED BY", "LICENCE")]
    for entry in REGISTRY.values():
        digest = entry.sha256[:12] + "…" if entry.sha256 else (
            f"{entry.sha256_prefix}… (prefix)" if entry.sha256_prefix else
            "per file" if entry.files_sha256 else "HF X-Linked-Etag" if entry.kind == "hf_dir" else
            "none (structure)")
        rows.append((entry.name, _status(entry), entry.size_text, digest, entry.used_by, entry.licence))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4])
        if row is not rows[0]:
            print(" " * (sum(widths) + 8) + "  licence: " + row[5])
    print(f"cache: {cache_dir()}")
    return 0


def _cmd_fetch(args) -> int:
    try:
        path = fetch(args.name, progress=not args.quiet, force=args.force)
    except WeightsNotFound as exc:
        # The manual steps are a short block the user follows; the error itself stays one line, the last.
        print(str(exc), file=sys.stderr)
        reason = exc.reason or "not fetched"
        raise WeightsError(f"{args.name}: {reason}; follow the steps above") from None
    print(verify_path(get_entry(args.name), path))
    return 0


def _cmd_verify(args) -> int:
    names = [args.name] if args.name else [e.name for e in REGISTRY.values() if find_cached(e) is not None]
    if not names:
        print(f"nothing cached in {cache_dir()}; see: python main.py weights list")
        return 0
    failed = []
    for name in names:
        try:
            print(verify(name))
        except WeightsError as exc:
            print(f"{name}: FAILED: {exc}", file=sys.stderr)
            failed.append(name)
    if failed:
        raise WeightsError(f"{len(failed)} of {len(names)} files failed verification ({', '.join(failed)}); "
                           f"fetch them again: python main.py weights fetch NAME --force")
    return 0


def _cmd_import(args) -> int:
    path = import_file(args.name, args.file)
    print(f"imported {args.name} → {path}")
    return 0


def _cmd_pack(args) -> int:
    from engine.weights.archive import pack

    lines = pack(Path(args.out))
    for line in lines:
        print(f"  {line}")
    print(f"packed {len(lines)} files into {args.out}; on the offline machine: python main.py weights unpack "
          f"{Path(args.out).name}")
    return 0


def _cmd_unpack(args) -> int:
    from engine.weights.archive import unpack

    names = unpack(Path(args.archive))
    for name in names:
        print(verify(name))
    print(f"unpacked {len(names)} weights into {cache_dir()}")
    return 0


def _cmd_where(args) -> int:
    if args.name:
        entry = get_entry(args.name)
        print(find_cached(entry) or cache_path(entry))
        return 0
    print(f"cache dir: {cache_dir()}  (set A2V_HOME to move it)")
    for entry in REGISTRY.values():
        found = find_cached(entry)
        print(f"  {entry.name}: {found if found else cache_path(entry)}"
              f"{'' if found else '  (missing)'}")
    return 0


def register_cli(subparsers) -> None:
    """Add ``weights list | fetch NAME | verify [NAME] | import NAME FILE | where [NAME] | pack | unpack``."""
    parser = subparsers.add_parser(
        "weights", help="list, download, check, import, pack and unpack model weights",
        description=f"Model weights cache ({cache_dir()}; set A2V_HOME to move it). Public weights are "
                    f"fetched on first use; --offline or A2V_OFFLINE=1 forbids every download; "
                    f"A2V_WEIGHTS_MIRROR=URL asks URL/<file name> first.")
    sub = parser.add_subparsers(dest="weights_command", metavar="{list,fetch,verify,import,where,pack,unpack}")
    parser.set_defaults(func=(_cmd_list))
    p = sub.add_parser("list", help="every known weights file, cached or not, with size, hash and licence")
    p.set_defaults(func=(_cmd_list))
    p = sub.add_parser("fetch", help="download one file into the cache (with progress, resumable)")
    p.add_argument("name")
    p.add_argument("--force", action="store_true", help="download again even when cached")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=(_cmd_fetch))
    p = sub.add_parser("verify", help="check cached files (sha256 or structure); all cached ones by default")
    p.add_argument("name", nargs="?")
    p.set_defaults(func=(_cmd_verify))
    p = sub.add_parser("import", help="check a file downloaded by hand (or a .tar/.tar.gz holding it) and copy "
                                      "it into the cache")
    p.add_argument("name")
    p.add_argument("file", help="the file, a folder holding it, or an archive such as metadata.tar.gz")
    p.set_defaults(func=(_cmd_import))
    p = sub.add_parser("where", help="the cache dir and where each file is (or would be)")
    p.add_argument("name", nargs="?")
    p.set_defaults(func=(_cmd_where))
    p = sub.add_parser("pack", help="write every cached file and a manifest (sha256, size) into one tar")
    p.add_argument("out", help="the archive to write, e.g. weights.tar")
    p.set_defaults(func=(_cmd_pack))
    p = sub.add_parser("unpack", help="check a `weights pack` archive and install it into the cache")
    p.add_argument("archive")
    p.set_defaults(func=(_cmd_unpack))


def main(argv: list[str]) -> int:
    """``python -m engine.cli.weights ...`` without main.py."""
    parser = argparse.ArgumentParser(prog="a2v")
    register_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["weights", *argv])
    return run_command(args.func, args)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
