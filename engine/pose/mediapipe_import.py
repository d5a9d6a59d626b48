"""``import mediapipe`` without pinning the importer's stack (and the models on it) for the process's life.

mediapipe 0.10.21 imports its audio tasks at package import; ``mediapipe.tasks.python.audio.core.
audio_record`` tries ``import sounddevice`` and, where PortAudio is missing (servers, containers, this
project's CI), keeps the ``OSError`` in the module global ``sd_error``. That exception's traceback holds the
frames of the whole import chain, and through their ``f_back`` links every caller's frame: the pose
backend's ``__init__``, ``build_stages``, the window's ``open_source`` with its ``prepared`` stages. The
first set of models built in a process (pose, tracker, A2V: hundreds of MB) therefore stayed alive after
their run was closed (found for issue 19, item 11, with ``python main.py bench gui-memory``).

:func:`import_mediapipe` imports the package and cuts the tracebacks of such kept import errors (the error
objects stay, so mediapipe's own "sounddevice is not available" message still works).
"""
from __future__ import annotations

import sys
from types import ModuleType

# module name → globals holding an import error kept for later (mediapipe 0.10.x)
_KEPT_IMPORT_ERRORS = {"mediapipe.tasks.python.audio.core.audio_record": ("sd_error",)}


def import_mediapipe() -> ModuleType:
    """``import mediapipe`` (raises ImportError as usual), then :func:`release_import_tracebacks`."""
    import mediapipe

    release_import_tracebacks()
    return mediapipe


def release_import_tracebacks() -> int:
    """Drop the tracebacks (and those of chained errors) of the import errors mediapipe keeps in module
    globals; returns how many tracebacks were dropped. Safe to call any number of times."""
    dropped = 0
    for module_name, names in _KEPT_IMPORT_ERRORS.items():
        module = sys.modules.get(module_name)
        for name in names:
            error = getattr(module, name, None) if module is not None else None
            seen = set()
            while isinstance(error, BaseException) and id(error) not in seen:
                seen.add(id(error))
                if error.__traceback__ is not None:
                    error.__traceback__ = None
                    dropped += 1
                error = error.__cause__ or error.__context__
    return dropped
