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


@pytest.fixture(scope="session", autouse=True)
def _session_weights_home(tmp_path_factory):
    """Module- and session-scoped fixtures run before the per-test home below: they get an empty cache of
    the session, never the user's ~/.cache/a2v (an exported ONNX graph is ~190 MB)."""
    os.environ.setdefault("A2V_AUTO_RUNTIME", "torch")      # see _isolated_weights_home
    if "A2V_HOME" in os.environ and os.environ.get("A2V_TEST_KEEP_HOME") == "1":
        yield
        return
    before = os.environ.get("A2V_HOME")
    os.environ["A2V_HOME"] = str(tmp_path_factory.mktemp("a2v_session_home"))
    yield
    if before is None:
        os.environ.pop("A2V_HOME", None)
    else:
        os.environ["A2V_HOME"] = before


@pytest.fixture(autouse=True)
def _isolated_weights_home(tmp_path_factory, monkeypatch):
    """Each test sees an empty weights cache unless it sets A2V_HOME itself."""
    if "A2V_HOME" not in os.environ or os.environ.get("A2V_TEST_KEEP_HOME") != "1":
        monkeypatch.setenv("A2V_HOME", str(tmp_path_factory.mktemp("a2v_home")))
    # No test may download: stages fetch public weights on first use unless offline. Tests of downloads
    # delete this and serve the files from 127.0.0.1.
    monkeypatch.setenv("A2V_OFFLINE", "1")
    monkeypatch.delenv("A2V_WEIGHTS_MIRROR", raising=False)
    # a2v.runtime auto means torch in tests (engine/a2v/runtime.py): a stage built with random weights
    # would otherwise export its ONNX graph into this test's empty cache, seconds per test. The tests of
    # the graph runtimes ask for them by name, and the tests of auto delete this.
    monkeypatch.setenv("A2V_AUTO_RUNTIME", "torch")
