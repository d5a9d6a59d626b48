"""a2v's engine. ``from engine import Predictor`` is the Python API (:mod:`engine.api`); it is imported on
first use (module ``__getattr__``), so ``import engine`` stays cheap (no torch, no cv2, no mediapipe)."""

__all__ = ["Predictor", "Result"]


def __getattr__(name: str):
    if name in __all__:
        from engine import api

        return getattr(api, name)
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
