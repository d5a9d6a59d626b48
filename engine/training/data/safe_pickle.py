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


def _count(shape) -> int:
    total = 1
    for n in (shape if isinstance(shape, (tuple, list)) else (shape,)):
        total *= max(int(n), 0)
    return total


class _RestrictedUnpickler(pickle.Unpickler):
    """``find_class`` allows plain data only; the constructors that take a *size* (``bytearray(n)``,
    ``bytes(n)``, numpy's ``_reconstruct(cls, shape, dtype)``, ``copyreg._reconstructor(bytearray, ...)``) are
    wrapped so that a few bytes of pickle cannot make them allocate more than ``limit`` bytes."""

    def __init__(self, file, limit: int, **kwargs) -> None:
        super().__init__(file, **kwargs)
        self.limit = limit

    def _refuse_size(self, what: str, size: int) -> None:
        if size > self.limit:
            raise UnsafePickleError(f"refusing to load a pickle whose {what} asks for {size:,} bytes "
                                    f"(more than {self.limit:,} for this input)")

    def _sized(self, kind):
        def make(*args):
            if args and isinstance(args[0], int) and not isinstance(args[0], bool):
                self._refuse_size(f"{kind.__name__}(n)", args[0])
            return kind(*args)

        return make

    def _reconstruct(self, subtype, shape, dtype):
        self._refuse_size("array", _count(shape) * np.dtype(dtype).itemsize)
        return np.core.multiarray._reconstruct(subtype, shape, dtype)

    def _reconstructor(self, cls, base, state):
        if base in (bytes, bytearray) and isinstance(state, int):
            self._refuse_size(f"{base.__name__}(n)", state)
        return copyreg._reconstructor(cls, base, state)

    def find_class(self, module, name):
        if module in ("builtins", "__builtin__") and name in ("bytearray", "bytes"):
            return self._sized(getattr(builtins, name))
        if module in ("builtins", "__builtin__") and name in _BUILTINS:
            return getattr(builtins, name)
        if (module, name) in _NUMPY:
            if name == "ndarray":
                return np.ndarray
            if name == "dtype":
                return np.dtype
            if name == "_reconstruct":
                return self._reconstruct
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
            return self._reconstructor  # only ever receives classes that passed this check
        raise UnsafePickleError(f"refusing to load {module}.{name} from a pickle (only plain data is allowed)")


MIN_ALLOCATION_LIMIT = 64 << 20


def loads(data: bytes, limit: int | None = None):
    """Unpickle ``data`` (plain pickle or base64 of a pickle) with the restricted class list.

    ``limit``: the most bytes one sized constructor may allocate (default 64 MiB or 8 × the input, whichever
    is larger: real arrays carry their bytes in the pickle, so only a hostile one asks for more).
    """
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
    limit = limit if limit is not None else max(MIN_ALLOCATION_LIMIT, 8 * len(raw))
    try:
        return _RestrictedUnpickler(io.BytesIO(raw), limit, encoding="latin1").load()
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
