"""The CLI's stderr filter drops native library noise and loses nothing else, even at exit."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = r"""
import os, sys
sys.path.insert(0, sys.argv[1])
from engine.cli import native_log_filter
native_log_filter.install()
os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
os.write(2, b"W0000 00:00:1795603617.663240   19828 inference_feedback_manager.cc:114] Feedback manager\n")
os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
print("a2v: kept line", file=sys.stderr)
os.write(2, b"progress 50%\r")
print("a2v: last line before exit", file=sys.stderr)
"""


def test_noise_dropped_and_every_other_line_kept():
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(ROOT)], capture_output=True, timeout=60)
    err = proc.stderr.decode()
    assert proc.returncode == 0
    assert "W0000" not in err and "absl" not in err and "XNNPACK" not in err
    assert "a2v: kept line\n" in err and "progress 50%\r" in err
    assert err.rstrip().endswith("a2v: last line before exit")
