"""A fresh ``import mediapipe`` must not keep its caller's objects alive (issue 19, item 11).

Each check runs in a new interpreter: the pinning happens only on the first import of mediapipe in a
process, and the test process has imported it already.
"""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

PROGRAM = """
import gc, sys, weakref
sys.path.insert(0, {root!r})

class Model:  # stands for the stages a caller is building when mediapipe is first imported
    pass

def build():
    model = Model()
    {importer}
    return weakref.ref(model)

ref = build()
gc.collect()
module = sys.modules.get("mediapipe.tasks.python.audio.core.audio_record")
kept = getattr(module, "sd_error", None)
print("alive" if ref() is not None else "freed", "kept-error" if kept is not None else "no-kept-error")
"""


def _run(importer: str) -> list[str]:
    code = PROGRAM.format(root=str(ROOT), importer=importer)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.split()


def test_import_mediapipe_leaves_no_caller_pinned():
    state, _ = _run("from engine.pose.mediapipe_import import import_mediapipe; import_mediapipe()")
    assert state == "freed"


def test_plain_import_pins_the_caller_where_mediapipe_keeps_an_import_error():
    """The control: shows what the helper fixes, where this machine triggers it (no PortAudio)."""
    state, kept = _run("import mediapipe")
    if kept == "kept-error":
        assert state == "alive"
    else:  # PortAudio present: mediapipe keeps nothing, so nothing is pinned either way
        assert state == "freed"


def test_release_is_idempotent_and_keeps_the_error_object():
    from engine.pose.mediapipe_import import import_mediapipe, release_import_tracebacks

    import_mediapipe()
    assert release_import_tracebacks() == 0   # already released by the first call
    module = sys.modules.get("mediapipe.tasks.python.audio.core.audio_record")
    error = getattr(module, "sd_error", None)
    if error is not None:
        assert isinstance(error, BaseException) and error.__traceback__ is None
