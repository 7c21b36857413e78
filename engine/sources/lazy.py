"""Image sets too large to hold in memory: (N, H, W, 3) uint8 array-likes whose pixels are read on demand.

They behave like a numpy array where the pipeline needs it to: `shape`, `dtype`, `len`, slicing gives a
lazy view (as numpy slicing gives a view), `images[i]` and `np.asarray(view)` read pixels. The engine's
DataLoader reads one batch (a contiguous view) at a time, in worker processes, so memory stays bounded
however many images there are. Numpy only: the resize/crop step is handed in as an object with
`pil(image) -> array` and `batch(array) -> array` (engine.sources.preprocess).

- NpyImages: a .npy file read with positioned reads (os.pread), not a memory map, so the pages read
  do not accumulate in the process's resident memory;
- FolderImages: image files decoded (and resized/cropped) one by one with PIL;
- TransformedImages: any of these, or an in-memory array, passed through a resize/crop.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Protocol, Sequence

import numpy as np

from engine.errors import UserError, brief
from engine.store.npy import read_header


class Resizer(Protocol):
    size: int

    def pil(self, image: Any) -> np.ndarray: ...

    def batch(self, images: np.ndarray) -> np.ndarray: ...


class LazyImages:
    """Base: subclasses set `shape` and implement `read(start, stop)`."""

    dtype = np.dtype(np.uint8)
    ndim = 4
    shape: tuple[int, int, int, int]
    needs_workers = False  # True where reading costs CPU (decoding, resizing): the DataLoader gets workers

    def read(self, start: int, stop: int) -> np.ndarray:
        raise NotImplementedError

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: int | slice) -> Any:
        n = len(self)
        if isinstance(key, slice):
            start, stop, step = key.indices(n)
            if step != 1:
                raise TypeError("lazy image sets support contiguous slices only")
            return _View(self, start, max(start, stop))
        i = int(key)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"image index {key} out of range for {n} images")
        return self.read(i, i + 1)[0]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self.read(0, len(self))
        return out if dtype is None else out.astype(dtype)


class _View(LazyImages):
    def __init__(self, base: LazyImages, start: int, stop: int) -> None:
        self.base, self.start = base, start
        self.shape = (stop - start, *base.shape[1:])  # type: ignore[assignment]
        self.needs_workers = base.needs_workers

    def read(self, start: int, stop: int) -> np.ndarray:
        return self.base.read(self.start + start, self.start + stop)


class NpyImages(LazyImages):
    """Rows of a C-ordered uint8 (N, H, W, 3) .npy file, read with os.pread (a worker opens its own fd)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            with open(self.path, "rb") as fh:
                header = read_header(fh, self.path.name)
        except (OSError, ValueError) as exc:
            raise UserError(f"{self.path} is not a readable .npy file ({exc}).") from None
        shape, dtype = header.shape, header.dtype
        if dtype != np.uint8 or len(shape) != 4 or shape[-1] != 3 or header.fortran_order:
            raise UserError(
                f"{self.path} holds {dtype} {tuple(shape)}{' (Fortran order)' if header.fortran_order else ''}; "
                "expected uint8 N x H x W x 3 (RGB), C order."
            )
        self.shape = shape  # type: ignore[assignment]
        self.offset = header.offset
        self.row_bytes = int(np.prod(self.shape[1:]))
        expected = self.offset + header.nbytes
        if self.path.stat().st_size < expected:
            raise UserError(f"{self.path} is truncated: {self.path.stat().st_size} bytes, expected {expected}.")
        self._fd: int | None = None
        self._pid = -1

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_fd": None, "_pid": -1}

    def _handle(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            self._fd, self._pid = os.open(self.path, os.O_RDONLY), os.getpid()
        return self._fd

    def read(self, start: int, stop: int) -> np.ndarray:
        count = max(0, stop - start)
        buf = bytearray(count * self.row_bytes)
        view, done, fd = memoryview(buf), 0, self._handle()
        while done < len(buf):
            got = os.preadv(fd, [view[done:]], self.offset + start * self.row_bytes + done)
            if got == 0:
                raise UserError(f"{self.path} ended early while reading images {start}..{stop - 1}.")
            done += got
        return np.frombuffer(buf, dtype=np.uint8).reshape(count, *self.shape[1:])


@contextmanager
def _decoding(file: str) -> Iterator[None]:
    """An image file that PIL cannot or will not decode is one sentence naming it: PIL refuses a header that
    claims more pixels than its decompression-bomb limit, and its decoders raise many kinds of errors for
    damaged files (OSError, ValueError, SyntaxError, struct.error ...)."""
    from PIL import Image

    try:
        yield
    except Image.DecompressionBombError:
        raise UserError(f"Image {file} is refused: its header claims more pixels than PIL decodes "
                        f"({Image.MAX_IMAGE_PIXELS * 2:,}), the mark of a decompression bomb.") from None
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - see above
        raise UserError(f"Image {file} could not be read: {brief(exc)}.") from None


class FolderImages(LazyImages):
    """Image files decoded with PIL as RGB, resized and center-cropped when a Resizer is given. Without one
    every image must have the first image's size (checked as each image is read)."""

    needs_workers = True

    def __init__(self, files: Sequence[str], resizer: Resizer | None = None) -> None:
        from PIL import Image

        self.files, self.resizer = list(files), resizer
        if resizer is not None:
            self.shape = (len(self.files), resizer.size, resizer.size, 3)
        else:
            with _decoding(self.files[0]):
                with Image.open(self.files[0]) as im:
                    w, h = im.size
            self.shape = (len(self.files), h, w, 3)

    def read(self, start: int, stop: int) -> np.ndarray:
        from PIL import Image

        out = np.empty((max(0, stop - start), *self.shape[1:]), dtype=np.uint8)
        for k, file in enumerate(self.files[start:stop]):
            with _decoding(file):
                with Image.open(file) as im:
                    rgb = im.convert("RGB")
            arr = self.resizer.pil(rgb) if self.resizer is not None else np.asarray(rgb, dtype=np.uint8)
            if arr.shape != out.shape[1:]:
                raise UserError(
                    f"Image {file} is {arr.shape[1]}x{arr.shape[0]} but the first image is "
                    f"{self.shape[2]}x{self.shape[1]}; pass --image-size S to resize and center-crop every image."
                )
            out[k] = arr
        return out


class TransformedImages(LazyImages):
    """Another image set (lazy or in memory) with the resize/crop applied batch by batch as it is read."""

    needs_workers = True

    def __init__(self, base: Any, resizer: Resizer) -> None:
        self.base, self.resizer = base, resizer
        self.shape = (len(base), resizer.size, resizer.size, 3)  # type: ignore[assignment]

    def read(self, start: int, stop: int) -> np.ndarray:
        return self.resizer.batch(np.asarray(self.base[start:stop]))


def read_batch(images: Any, start: int, stop: int) -> np.ndarray:
    """Pixels of images[start:stop] from an in-memory array or a lazy image set."""
    return np.ascontiguousarray(np.asarray(images[start:stop]), dtype=np.uint8)
