"""``python main.py eval``: the official HAKE PaSta/verb benchmark of a checkpoint."""
from __future__ import annotations

import argparse
from pathlib import Path

from engine.training.data.records import DataError
from engine.training.evaluate import evaluate, format_table, write_report


def register_cli(subparsers) -> None:
    parser = subparsers.add_parser(
        "eval", help="official HAKE PaSta/verb benchmark of a checkpoint",
        description="Score the test data of a training config with a checkpoint and report per-group "
                    "PaSta mAP (with and without no_interaction), their mean and verb mAP (157, without "
                    "no_interaction, 117 HICO verbs). Writes benchmark.json and benchmark.txt.")
    parser.add_argument("--config", required=True, metavar="FILE", help="training config (configs/train/*.yaml)")
    parser.add_argument("--checkpoint", required=True, metavar="PT", help="checkpoint written by train")
    parser.add_argument("--set", dest="overrides", metavar="KEY=VALUE", action="append", default=[],
                        help="override one config value, e.g. --set data.test_pred=path (repeatable)")
    parser.add_argument("--device", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--out", metavar="DIR", help="report folder (default: eval.output or next to the checkpoint)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=eval_command)


def eval_command(args: argparse.Namespace) -> int:
    from engine.training.config import load_train_config

    # Errors (ConfigError, DataError, CheckpointError) follow engine.cli.common's policy.
    config = load_train_config(args.config, args.overrides)
    if not Path(args.checkpoint).is_file():
        raise DataError(f"{args.checkpoint}: checkpoint not found; pass the .pt written by train")
    result = evaluate(config, args.checkpoint, args.device, progress=not args.quiet)
    folder = args.out or config.eval.output or Path(args.checkpoint).parent / "eval"
    json_path, text_path = write_report(result, folder)
    print(format_table(result))
    print(f"wrote {json_path} and {text_path}")
    return 0
