"""Build hook: ship ``assets/`` and ``configs/`` inside the wheel as ``engine/_data/``.

The checkout keeps them at the top level (where a contributor looks for them and where ``configs/*.yaml``
are easy to pass with ``--config``); ``engine/paths.py`` looks there first and falls back to
``engine/_data/``, which is where an installed wheel has them. A ``build_py`` step copies the two folders
into the build tree, so the wheel carries them without moving files in the repository or listing each
one. Editable installs skip the copy: there ``engine/paths.py`` finds the checkout itself.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
DATA_DIRS = ("assets", "configs")


class build_py_with_data(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "engine" / "_data"
        for name in DATA_DIRS:
            destination = target / name
            if destination.exists():
                shutil.rmtree(destination)
            shutil.copytree(ROOT / name, destination, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": build_py_with_data})
