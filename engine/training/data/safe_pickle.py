"""Unpickling of the official HAKE data without running arbitrary code.

The official LMDB values are ``pickle(obj)`` (v1, EasyDict annotations) or ``base64(pickle(obj))`` (v0),
and the official ``gt_*_data.pkl`` / ``loss_weights.npy`` are pickles too. A pickle can name any
callable, so ``loads`` here resolves only plain containers, numbers, strings, numpy arrays/scalars and
EasyDict-like dict subclasses (read as ``AttrDict``); anything else raises ``UnsafePickleError``.
"""
from __future__ import annotations

import base64
import binascii
import builtins
import collections
import copyreg
import io
import pickle

import numpy as np

from engine.training.data.records import DataError


class UnsafePickleError(DataError):
    pass


class AttrDict(dict):
    """Stands in for EasyDict and similar attribute dicts: a dict whose keys are also attributes."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setstate__(self, state):  # EasyDict pickles its attribute dict too; the items already hold it
        if isinstance(state, dict):
            for key, value in state.items():
                self.setdefault(key, value)


_BUILTINS = {"dict", "list", "tuple", "set", "frozenset", "bytearray", "bytes", "str", "int", "float",
             "bool", "complex", "slice", "object"}
_NUMPY = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
}
_ATTR_DICTS = {("easydict", "EasyDict"), ("yacs.config", "CfgNode"), ("addict", "Dict"),
               ("addict.addict", "Dict")}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module in ("builtins", "__builtin__") and name in _BUILTINS:
            return getattr(builtins, name)
        if (module, name) in _NUMPY:
            if name == "ndarray":
                return np.ndarray
            if name == "dtype":
                return np.dtype
            if name == "_reconstruct":
                return np.core.multiarray._reconstruct
            if name == "scalar":
                return np.core.multiarray.scalar
            return np.core.numeric._frombuffer
        if module == "numpy" and name.startswith(("float", "int", "uint", "bool")):
            return getattr(np, name)  # dtype classes in newer pickles
        if module.startswith("numpy.dtypes") and name.endswith("DType"):
            return type(np.dtype(name[:-5].lower()))
        if (module, name) in _ATTR_DICTS:
            return AttrDict
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("copyreg", "_reconstructor"):
            return copyreg._reconstructor  # only ever receives classes that passed this check
        raise UnsafePickleError(f"refusing to load {module}.{name} from a pickle (only plain data is allowed)")


def loads(data: bytes):
    """Unpickle ``data`` (plain pickle or base64 of a pickle) with the restricted class list."""
    if not data:
        raise DataError("empty value (expected a pickle)")
    raw = bytes(data)
    if raw[:1] != b"\x80":  # protocol >= 2 starts with PROTO; otherwise try the v0 base64 wrapping
        try:
            decoded = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            decoded = None
        if decoded:
            raw = decoded
    try:
        return _RestrictedUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except UnsafePickleError:
        raise
    except Exception as exc:  # any malformed pickle: one message, no traceback for the user
        raise DataError(f"not a readable pickle ({type(exc).__name__}: {exc})") from None


def load_file(path) -> object:
    """Unpickle a file; ``.npy`` files holding a pickled object (official ``loss_weights.npy``) too."""
    with open(path, "rb") as handle:
        head = handle.read(6)
        handle.seek(0)
        if head == b"\x93NUMPY":
            version = np.lib.format.read_magic(handle)
            shape, _, dtype = np.lib.format._read_array_header(handle, version)
            if dtype.hasobject:
                obj = loads(handle.read())
                if isinstance(obj, np.ndarray) and obj.dtype.hasobject and obj.ndim == 0:
                    obj = obj.item()  # np.save(dict) stores a 0-d object array
                return obj
            handle.seek(0)
            return np.load(handle, allow_pickle=False)
        return loads(handle.read())
