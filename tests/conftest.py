"""Shared test setup: Qt offscreen, small thread counts, paths to sample media."""
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402

SAMPLE_CLIP = ROOT / "assets" / "sample" / "bikes.mp4"
SHARED = ROOT.parent / "shared"


@pytest.fixture
def sample_clip() -> Path:
    return SAMPLE_CLIP


@pytest.fixture(autouse=True)
def _isolated_weights_home(tmp_path_factory, monkeypatch):
    """Each test sees an empty weights cache unless it sets A2V_HOME itself."""
    if "A2V_HOME" not in os.environ or os.environ.get("A2V_TEST_KEEP_HOME") != "1":
        monkeypatch.setenv("A2V_HOME", str(tmp_path_factory.mktemp("a2v_home")))
    # No test may download: stages fetch public weights on first use unless offline. Tests of downloads
    # delete this and serve the files from 127.0.0.1.
    monkeypatch.setenv("A2V_OFFLINE", "1")
    monkeypatch.delenv("A2V_WEIGHTS_MIRROR", raising=False)
