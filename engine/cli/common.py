"""What every command shares: ``--config`` / ``--set`` / ``--device`` and turning them into a Config."""
from __future__ import annotations

import argparse

from engine.config import Config, load_config


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, systemd, Docker, job schedulers), raised in the main thread so that it stops a run
    exactly like Ctrl-C: outputs are finalized, then the command exits with 143."""


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """``--config``, ``--set`` and ``--device``, shared by every command that runs models."""
    parser.add_argument("--config", metavar="FILE", help="YAML config applied over configs/default.yaml")
    parser.add_argument("--set", dest="overrides", metavar="KEY=VALUE", action="append", default=[],
                        help="override one config value, e.g. --set tracker.max_age=40 (repeatable)")
    parser.add_argument("--device", help="auto | cpu | cuda | cuda:N (overrides config 'device')")


def config_from_args(args: argparse.Namespace) -> Config:
    overrides = list(getattr(args, "overrides", []) or [])
    if getattr(args, "device", None):
        overrides.append(f"device={args.device}")
    return load_config(getattr(args, "config", None), overrides)
