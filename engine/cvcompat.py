"""Import OpenCV without breaking PyQt5.

A non-headless OpenCV wheel sets ``QT_QPA_PLATFORM_PLUGIN_PATH`` to its own Qt plugins on import, which
makes PyQt5 windows abort. Everything in the project imports cv2 from here.
"""
import os

_before = os.environ.get("QT_QPA_PLATFORM_PLUGIN_PATH")
import cv2  # noqa: E402

if _before is None:
    os.environ.pop("QT_QPA_PLATFORM_PLUGIN_PATH", None)
else:
    os.environ["QT_QPA_PLATFORM_PLUGIN_PATH"] = _before

__all__ = ["cv2"]
