"""The wheel carries the vocabulary, the sample clip and the configs, and finds them from any folder.

Builds with ``pip wheel --no-deps`` (no install; a few seconds) from a copy of the project's files, so the
checkout gets no ``build/`` folder.
"""
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT_FILES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "requirements.txt",
                 "requirements-test.txt", "main.py", "app", "engine", "trackers", "assets", "configs")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    pytest.importorskip("setuptools", minversion="77")
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    source.mkdir()
    for name in PROJECT_FILES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, source / name)
    out = work / "dist"
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
                           "-q", "-w", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (built,) = out.glob("a2v-*.whl")
    return built


def test_wheel_ships_assets_and_configs_as_package_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("engine/_data/assets/vocab/a2v_vocab.yaml", "engine/_data/assets/sample/bikes.mp4",
                   "engine/_data/assets/sample/LICENSE.md", "engine/_data/configs/default.yaml",
                   "engine/_data/configs/gpu.yaml", "engine/_data/configs/train/hand.yaml",
                   "main.py", "engine/paths.py", "trackers/sort.py", "app/cli.py"):
        assert needed in names, needed
    assert not any(n.startswith("tests/") for n in names)
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read("engine/_data/assets/sample/bikes.mp4") == (ROOT / "assets/sample/bikes.mp4").read_bytes()
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        entry_points = archive.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    requires = [line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert "numpy<2,>=1.26" in requires or "numpy>=1.26,<2" in requires, requires
    assert not any(r.startswith(("pytest", "ruff", "motmetrics", "filterpy")) for r in requires), requires
    assert "a2v = main:main" in entry_points


def test_unpacked_wheel_finds_its_data_from_another_folder(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "empty"
    elsewhere.mkdir()
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import engine.paths as p; "
            "from engine.vocab import load_vocab; print(p.ROOT); "
            "print(p.SAMPLE_CLIP.is_file(), p.DEFAULT_CONFIG.is_file(), len(load_vocab().pasta))")
    proc = subprocess.run([sys.executable, "-c", code, str(site)], cwd=elsewhere, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    root, checks = proc.stdout.splitlines()
    assert Path(root) == site / "engine" / "_data"
    assert checks == "True True 93"
