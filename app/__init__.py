"""The PyQt5 application (the only package that imports Qt).

OpenCV is imported first through ``engine.cvcompat``: a non-headless cv2 imported after PyQt5 would point
Qt at its own plugins and break the window.
"""
from engine.cvcompat import cv2  # noqa: F401
