"""The tensors of a TorchScript archive, read without running any of its code.

A TorchScript file is a program: `torch.jit.load` compiles the archive's `code/` and runs each module's
`__setstate__`, which can create, map and overwrite files (`torch.from_file(..., shared=True)`) or loop for
ever. So the engine never calls it. An archive stores its module tree as a pickle (`data.pkl`) of
`__torch__.*` objects whose attributes are tensors, with each tensor's bytes in `data/<key>`. This module
reads that pickle with an unpickler that knows a handful of names only: every `__torch__` class becomes an
inert record of its state, tensors are rebuilt here from their bytes (offset, shape and strides checked
against the storage), and any other global in the file is refused. Nothing from the archive is executed.

The result is the archive's parameters and buffers by their dotted names, the same keys `state_dict()`
would give, ready to be loaded into the eager twin of a built-in architecture.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from engine.errors import UserError

MAX_PICKLE_BYTES = 256 << 20  # a module tree's pickle is kilobytes; the tensors live outside it

_STORAGE_DTYPES = {
    "FloatStorage": torch.float32,
    "DoubleStorage": torch.float64,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}


class NotReadable(Exception):
    """The archive is not in the form read here; the message says what was found."""


def is_torchscript(path: Path) -> bool:
    """True for a zip written by torch.jit.save (it carries compiled code or TorchScript constants)."""
    try:
        with zipfile.ZipFile(path) as zf:
            return any(n.endswith("/constants.pkl") or "/code/" in n for n in zf.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


class _Record:
    """What a `__torch__` object becomes: its class name and the state the archive gives it."""

    qualified_name = ""

    def __init__(self, *args: Any) -> None:
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _record_class(qualified_name: str) -> type:
    return type("TorchScriptObject", (_Record,), {"qualified_name": qualified_name})


def _identity(value: Any, *_: Any) -> Any:
    return value


class _Storage:
    def __init__(self, dtype: torch.dtype, data: bytes) -> None:
        self.tensor = torch.frombuffer(bytearray(data), dtype=dtype) if data else torch.empty(0, dtype=dtype)


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, *_: Any) -> torch.Tensor:
    """torch._utils._rebuild_tensor_v2 without trusting its arguments."""
    if not isinstance(storage, _Storage):
        raise NotReadable("a tensor without a storage")
    size, stride = tuple(size), tuple(stride)
    if not (isinstance(offset, int) and offset >= 0 and len(size) == len(stride)
            and all(isinstance(v, int) and v >= 0 for v in (*size, *stride))):
        raise NotReadable("a tensor with an invalid shape")
    flat = storage.tensor
    if all(size):
        extent = offset + sum((n - 1) * s for n, s in zip(size, stride)) + 1
        if extent > flat.numel():
            raise NotReadable("a tensor that reaches past its storage")
    return torch.as_strided(flat, size, stride, offset).clone()


class _Unpickler(pickle.Unpickler):
    _ALLOWED = {
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("collections", "OrderedDict"): OrderedDict,
        ("torch.jit._pickle", "build_intlist"): _identity,
        ("torch.jit._pickle", "build_doublelist"): _identity,
        ("torch.jit._pickle", "build_boollist"): _identity,
        ("torch.jit._pickle", "build_tensorlist"): _identity,
        ("torch.jit._pickle", "build_strlist"): _identity,
        ("torch.jit._pickle", "restore_type_tag"): _identity,
    }

    def __init__(self, data: bytes, zf: zipfile.ZipFile, prefix: str) -> None:
        super().__init__(io.BytesIO(data))
        self.zf, self.prefix = zf, prefix
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("__torch__"):
            return _record_class(f"{module}.{name}")
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        if (module, name) in self._ALLOWED:
            return self._ALLOWED[(module, name)]
        raise NotReadable(f"it refers to {module}.{name}, which a plain TorchScript module does not")

    def persistent_load(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise NotReadable("a tensor record of an unknown kind")
        _, dtype, key, _location, numel = pid
        if not isinstance(dtype, torch.dtype) or not isinstance(key, str) or not isinstance(numel, int):
            raise NotReadable("a tensor record of an unknown kind")
        if key not in self.storages:
            name = f"{self.prefix}data/{key}"
            try:
                info = self.zf.getinfo(name)
            except KeyError:
                raise NotReadable(f"tensor data {key} is missing") from None
            expected = numel * torch.empty(0, dtype=dtype).element_size()
            if numel < 0 or info.file_size != expected:
                raise NotReadable(f"tensor data {key} holds {info.file_size} bytes, not {expected}")
            self.storages[key] = _Storage(dtype, self.zf.read(name))
        return self.storages[key]


def _tensors(obj: Any, prefix: str, out: dict[str, torch.Tensor]) -> None:
    """Tensor attributes of a module record, recursively, as dotted names (a module that keeps a custom
    state, not a dict of attributes, contributes nothing)."""
    state = obj.state if isinstance(obj, _Record) else None
    if not isinstance(state, dict):
        return
    for key, value in state.items():
        if not isinstance(key, str):
            continue
        if torch.is_tensor(value):
            out[prefix + key] = value
        elif isinstance(value, _Record):
            _tensors(value, f"{prefix}{key}.", out)


def read_torchscript_tensors(path: Path) -> dict[str, torch.Tensor]:
    """The parameters and buffers of the TorchScript archive at `path`, executing nothing from it.
    Raises UserError with one sentence when the archive is not in the form this reader knows."""
    try:
        with zipfile.ZipFile(path) as zf:
            pickles = [n for n in zf.namelist() if n.endswith("data.pkl") and n.count("/") == 1]
            if len(pickles) != 1:
                raise NotReadable("it has no single data.pkl record")
            prefix = pickles[0][: -len("data.pkl")]
            order = f"{prefix}byteorder"
            if order in zf.namelist() and zf.read(order).strip() not in (b"little", b""):
                raise NotReadable("its tensors are stored big-endian")
            info = zf.getinfo(pickles[0])
            if info.file_size > MAX_PICKLE_BYTES:
                raise NotReadable(f"its module record is {info.file_size} bytes")
            root = _Unpickler(zf.read(pickles[0]), zf, prefix).load()
    except NotReadable as exc:
        raise UserError(
            f"TorchScript file {path} could not be read as plain weights ({exc}); TorchScript is code and is "
            "never run here: save a state_dict (torch.save(model.state_dict(), ...)) instead."
        ) from None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, TypeError, RecursionError, pickle.UnpicklingError,
            RuntimeError, AttributeError, IndexError, KeyError) as exc:
        raise UserError(f"TorchScript file {path} could not be read: it is damaged ({type(exc).__name__}).") from None
    out: dict[str, torch.Tensor] = {}
    _tensors(root, "", out)
    if not out:
        raise UserError(f"TorchScript file {path} holds no weights this tool can read; save a state_dict instead.")
    return out
