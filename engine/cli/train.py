"""``python main.py train`` and ``train-combine``: retrain A2V heads; merge heads trained separately."""
from __future__ import annotations

import argparse

from engine.training.trainer import combine_checkpoints, train


def register_cli(subparsers) -> None:
    parser = subparsers.add_parser(
        "train", help="train A2V heads on HAKE-format data (torchrun for several GPUs/nodes)",
        description="Train the chosen PaSta heads and/or the verb head with the trunk frozen. Run under "
                    "torchrun for several GPUs or nodes (NCCL on CUDA, Gloo on CPUs).")
    parser.add_argument("--config", required=True, metavar="FILE", help="training config (configs/train/*.yaml)")
    parser.add_argument("--set", dest="overrides", metavar="KEY=VALUE", action="append", default=[],
                        help="override one config value, e.g. --set train.lr=0.001 (repeatable)")
    parser.add_argument("--device", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=train_command)

    combine = subparsers.add_parser(
        "train-combine", help="merge heads trained separately into one checkpoint",
        description="Take each named module's weights from its checkpoint (the official recipe trains each "
                    "PaSta group alone, then the verb head on the combined model).")
    combine.add_argument("output", help="checkpoint to write, e.g. runs/train/pasta_combined.pt")
    combine.add_argument("modules", nargs="+", metavar="MODULE=CHECKPOINT",
                         help="e.g. foot=runs/train/foot/last.pt hand=runs/train/hand/last.pt")
    combine.add_argument("--base", help="checkpoint for all other weights (default: the first one named)")
    combine.set_defaults(func=combine_command)


def combine_command(args: argparse.Namespace) -> int:
    modules = {}
    for item in args.modules:
        if "=" not in item:
            raise ValueError(f"{item!r}: expected MODULE=CHECKPOINT, e.g. foot=runs/train/foot/last.pt")
        name, path = item.split("=", 1)
        modules[name.strip()] = path.strip()
    path = combine_checkpoints(args.output, modules, args.base)
    print(f"wrote {path}")
    return 0


def train_command(args: argparse.Namespace) -> int:
    from engine.training.config import load_train_config

    overrides = list(args.overrides)
    if args.device:
        overrides.append(f"device={args.device}")
    # Errors (ConfigError, DataError, TrainError, CheckpointError, Ctrl-C) follow engine.cli.common's policy.
    config = load_train_config(args.config, overrides)
    result = train(config, progress=False if args.quiet else None)
    if result.checkpoint is not None:
        print(f"trained {result.iters} iterations; checkpoint {result.checkpoint}")
    if result.benchmark is not None:
        from engine.training.evaluate import format_table

        print(format_table(result.benchmark))
    return 0
