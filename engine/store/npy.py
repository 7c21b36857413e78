""".npy headers read without trusting them, for every reader of .npy data (the cache's members, an arrays
folder's files).

A header is a few bytes that anyone can write: it may claim terabytes over a 3 MB file, hold a dtype of
Python objects (which only pickle can read), or be garbage that numpy's parser answers with a TokenError,
SyntaxError or RecursionError rather than a ValueError. So the header is parsed first, every failure
becomes a ValueError, and the bytes it declares are compared with the bytes the file holds before anything
is allocated or mapped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


@dataclass(frozen=True)
class NpyHeader:
    shape: tuple[int, ...]
    fortran_order: bool
    dtype: np.dtype
    offset: int  # where the data starts, counted from the start of the .npy bytes

    @property
    def count(self) -> int:
        n = 1
        for side in self.shape:
            n *= int(side)
        return n

    @property
    def nbytes(self) -> int:
        """The bytes of data the header declares (exact integers: no overflow whatever the shape)."""
        return self.count * self.dtype.itemsize


def read_header(fh: BinaryIO, name: str) -> NpyHeader:
    """The header at fh's position; ValueError (naming `name`) for anything that is not a plain array's."""
    start = fh.tell() if hasattr(fh, "tell") else 0
    try:
        version = np.lib.format.read_magic(fh)
        reader = _READERS.get(version)
        if reader is None:
            raise ValueError(f".npy format version {version} is not supported")
        shape, fortran, dtype = reader(fh)
    except Exception as exc:  # noqa: BLE001 - the parser raises TokenError, SyntaxError, RecursionError ...
        raise ValueError(f"{name} has a damaged .npy header ({type(exc).__name__})") from None
    if dtype.hasobject:
        raise ValueError(f"{name} holds Python objects")
    if any(int(side) < 0 for side in shape):
        raise ValueError(f"{name} has a negative size in its header")
    span = max(1, dtype.itemsize)
    for side in shape:
        span *= max(1, int(side))
    if span >= 2**63:  # numpy cannot even describe it, whether or not a zero side leaves it empty
        raise ValueError(f"{name} declares a shape {tuple(shape)} larger than any array")
    return NpyHeader(tuple(int(s) for s in shape), bool(fortran), dtype, fh.tell() - start)


def file_header(path: Path) -> NpyHeader:
    """The header of the .npy file at `path`, checked against the file's size (ValueError if it declares
    more data than the file holds)."""
    path = Path(path)
    with open(path, "rb") as fh:
        header = read_header(fh, path.name)
    held = path.stat().st_size - header.offset
    if header.nbytes > held:
        raise ValueError(f"{path.name} claims {header.nbytes} bytes of data but holds {held}")
    return header


def load_small(path: Path, max_bytes: int = 1 << 30) -> np.ndarray:
    """A whole .npy file read into memory, after its header is checked against the file (and against
    `max_bytes`, so a label file cannot ask for more memory than labels need)."""
    header = file_header(path)
    if header.nbytes > max_bytes:
        raise ValueError(f"{Path(path).name} declares {header.nbytes} bytes, more than a file of this kind holds")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, EOFError, OSError):
        raise
    except Exception as exc:  # noqa: BLE001 - numpy's reader, like its parser, raises more than ValueError
        raise ValueError(f"{Path(path).name} could not be read ({type(exc).__name__})") from None
