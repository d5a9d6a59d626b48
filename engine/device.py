"""Device strings from the config or the command line → ``torch.device``.

Accepted: ``"auto"`` (the first CUDA GPU when one is usable, else the CPU), ``"cpu"``, ``"cuda"`` and
``"cuda:N"``. Under ``torchrun`` each process passes its ``LOCAL_RANK`` so ``auto`` and ``cuda`` mean
*this process's* GPU (``cuda:LOCAL_RANK``); an explicit ``cuda:N`` is taken as written.
Asking for CUDA on a machine without it is an error, not a silent fallback, because a user who asked for
the GPU wants to know it is not being used.
"""
from __future__ import annotations

import re

import torch


class DeviceError(ValueError):
    """A device string that cannot be honoured, phrased as one line with the fix."""


_CUDA_RE = re.compile(r"^cuda(?::(\d+))?$")


def resolve_device(spec: str | torch.device | None = "auto", local_rank: int = 0) -> torch.device:
    """``"auto" | "cpu" | "cuda" | "cuda:N"`` (or a ``torch.device``) → a usable ``torch.device``.

    ``local_rank``: the GPU that ``auto`` and a bare ``cuda`` pick (0 in one process; a DDP worker
    passes its ``LOCAL_RANK``). Raises :class:`DeviceError` when the string is unknown, when CUDA is
    asked for but not available, or when GPU ``N`` does not exist.
    """
    if isinstance(spec, torch.device):
        spec = str(spec)
    text = (spec or "auto").strip().lower()
    if text == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        text = f"cuda:{local_rank}"
    elif text == "cuda":
        text = f"cuda:{local_rank}"
    if text == "cpu":
        return torch.device("cpu")
    match = _CUDA_RE.match(text)
    if not match:
        raise DeviceError(f"device {spec!r}: unknown device; use auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise DeviceError(
            f"device {spec!r}: CUDA is not available on this machine (torch {torch.__version__}, "
            f"CUDA build: {torch.version.cuda or 'none'}); use --device cpu or --device auto")
    index = int(match.group(1) or 0)
    count = torch.cuda.device_count()
    if index >= count:
        raise DeviceError(f"device {spec!r}: there is no GPU {index} (this machine has {count}); "
                          f"use cuda:0..cuda:{count - 1}")
    return torch.device(f"cuda:{index}")


def describe_device(device: torch.device) -> str:
    """``"CPU"`` or ``"CUDA:0 NVIDIA H100 ..."`` for logs and the HUD."""
    if device.type == "cuda":
        index = device.index or 0
        return f"CUDA:{index} {torch.cuda.get_device_name(index)}"
    return "CPU"
