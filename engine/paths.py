"""Where the project's own files are: one place, so a source checkout and an installed wheel agree.

In a checkout, ``assets/`` and ``configs/`` sit beside ``engine/``. An installed wheel carries them as
package data under ``engine/_data/`` (see ``pyproject.toml``); the first location that exists wins.
"""
from __future__ import annotations

from pathlib import Path

_ENGINE = Path(__file__).resolve().parent


def _data_root() -> Path:
    for candidate in (_ENGINE.parent, _ENGINE / "_data"):
        if (candidate / "assets" / "vocab").is_dir():
            return candidate
    return _ENGINE.parent


ROOT = _data_root()
ASSETS = ROOT / "assets"
CONFIGS = ROOT / "configs"
SAMPLE_CLIP = ASSETS / "sample" / "bikes.mp4"
DEFAULT_CONFIG = CONFIGS / "default.yaml"
VOCAB_PATH = ASSETS / "vocab" / "a2v_vocab.yaml"
