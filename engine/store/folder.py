"""The cache as a folder, for runs too large for one .npz.

Layout: `cache/manifest.json` (format name, schema version, number of images, and every member's dtype
and shape) plus one `<member>.npy` per member, with the same members as cache.npz. Per-image members
(images, probabilities, CAMs, ...) are written row block by row block at their offsets while the pass
runs, so the engine never holds them in memory; readers open every member with np.load(mmap_mode="r"),
so the TUI pages in only what it shows.

Atomic like the .npz: everything is written into a temporary folder next to the target, the manifest
last, then the folder is renamed into place (an existing cache folder is first renamed aside and removed
only after the new one is in place; if the swap is interrupted the old one is renamed back).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Iterator

import numpy as np

from engine.errors import CacheError, UserError, WriteFailed
from engine.store.atomic import current_umask
from engine.store.npy import file_header
from engine.store.run_cache import RunCache
from engine.store.schema import BY_NAME, HOW_TO_MAKE, PER_IMAGE, REQUIRED, SCHEMA_VERSION, header_members
from engine.store.validate import check, check_version, validated

MANIFEST = "manifest.json"
FORMAT = "gradcam-cache-folder"


def is_cache_folder(path: Path) -> bool:
    """A folder whose manifest.json names this format (a user's folder that happens to hold a file of that
    name is not one)."""
    path = Path(path)
    if not path.is_dir() or path.is_symlink() or not (path / MANIFEST).is_file():
        return False
    try:
        read_manifest(path)
    except (OSError, ValueError, RecursionError):
        return False
    return True


def has_manifest(path: Path) -> bool:
    """A folder with a manifest.json, valid or not (what load_cache reads as a cache folder, so a damaged
    one is reported as damaged)."""
    return Path(path).is_dir() and (Path(path) / MANIFEST).is_file()


def check_cache_folder_target(target: Path) -> None:
    """Refuse, before the pass, to replace something at the cache folder's place that is not a cache folder
    (publishing a cache folder replaces what is there)."""
    target = Path(target)
    if (target.exists() or target.is_symlink()) and not is_cache_folder(target):
        raise UserError(f"{target} exists and is not a gradcam cache folder; move it away or choose another --out.")


def _header_dict(shape: tuple[int, ...], dtype: np.dtype) -> dict:
    return {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": tuple(shape)}


class NpyWriter:
    """One .npy file of known shape and dtype, filled by row blocks at any offset (os.pwrite)."""

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.path, self.shape, self.dtype = Path(path), tuple(int(s) for s in shape), np.dtype(dtype)
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        with open(self.path, "wb") as fh:
            np.lib.format.write_array_header_2_0(fh, _header_dict(self.shape, self.dtype))
            self.offset = fh.tell()
            fh.truncate(self.offset + self.row_bytes * self.shape[0])
        self._fd: int | None = os.open(self.path, os.O_WRONLY)

    def write(self, start: int, values: np.ndarray) -> None:
        values = np.ascontiguousarray(values, dtype=self.dtype)
        if values.shape[1:] != self.shape[1:] or start < 0 or start + len(values) > self.shape[0]:
            raise ValueError(f"{self.path.name}: rows {start}..{start + len(values)} of shape {values.shape[1:]} do not fit {self.shape}")
        data = memoryview(values.reshape(-1).view(np.uint8))
        pos, done = self.offset + start * self.row_bytes, 0
        while done < len(data):
            done += os.pwrite(self._fd, data[done:], pos + done)  # type: ignore[arg-type]

    def close(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None


@contextmanager
def _refused_writes(target: Path) -> Iterator[None]:
    """A write the file system refuses (full disk, read-only, permissions) becomes one sentence."""
    try:
        yield
    except WriteFailed:
        raise
    except OSError as exc:
        kept = "the previous cache is unchanged" if target.exists() else "nothing was written there"
        raise WriteFailed(f"Could not write the cache folder {target}: {exc.strerror or type(exc).__name__}; {kept}.") from None


class FolderCacheWriter:
    """Writes a cache folder into a temporary sibling of `target`; `publish()` renames it into place.
    Used as a context manager: leaving it without publishing (an error, Ctrl-C) deletes the temporary folder."""

    def __init__(self, target: Path, num_images: int) -> None:
        self.target, self.num_images = Path(target), int(num_images)
        with _refused_writes(self.target):
            self.target.parent.mkdir(parents=True, exist_ok=True)
            self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.", suffix=".tmp", dir=self.target.parent))
            os.chmod(self.tmp, 0o777 & ~current_umask())
        self._rows: dict[str, NpyWriter] = {}
        self._members: dict[str, dict] = {}

    def write_rows(self, name: str, start: int, values: np.ndarray) -> None:
        """Rows start..start+len(values) of a per-image member (first axis = image), created on first use."""
        values = np.asarray(values)
        with _refused_writes(self.target):
            if name not in self._rows:
                self._rows[name] = NpyWriter(self.tmp / f"{name}.npy", (self.num_images, *values.shape[1:]), values.dtype)
            self._rows[name].write(start, values)

    def save(self, name: str, array: np.ndarray) -> None:
        """A whole member at once (names, tables, metadata)."""
        array = np.asarray(array)
        with _refused_writes(self.target), open(self.tmp / f"{name}.npy", "wb") as fh:
            np.save(fh, array, allow_pickle=False)
            fh.flush()
            os.fsync(fh.fileno())
        self._members[name] = {"dtype": np.lib.format.dtype_to_descr(array.dtype), "shape": list(array.shape)}

    def rows_written(self) -> dict[str, np.ndarray]:
        """The per-image members written so far, closed and opened read-only as memory maps."""
        out = {}
        for name, w in self._rows.items():
            with _refused_writes(self.target):
                w.close()
            self._members[name] = {"dtype": np.lib.format.dtype_to_descr(w.dtype), "shape": list(w.shape)}
            out[name] = open_member(self.tmp / f"{name}.npy")
        return out

    def publish(self, schema_version: int) -> Path:
        """Write the manifest (last), then swap the folder into place."""
        self.rows_written()
        manifest = {"format": FORMAT, "schema_version": schema_version, "num_images": self.num_images,
                    "members": dict(sorted(self._members.items()))}
        path = self.tmp / MANIFEST
        with _refused_writes(self.target):
            with open(path, "w", encoding="utf-8") as fh:
                json.dump(manifest, fh, indent=1)
                fh.flush()
                os.fsync(fh.fileno())
            swap_into_place(self.tmp, self.target)
        self._published = True
        return self.target

    def discard(self) -> None:
        for w in self._rows.values():
            try:
                w.close()
            except OSError:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> "FolderCacheWriter":
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if not getattr(self, "_published", False):
            self.discard()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def swap_into_place(tmp: Path, target: Path) -> None:
    """Rename tmp to target; an existing target is renamed aside first and removed once tmp is in place."""
    aside = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
    moved = False
    try:
        if target.exists() or target.is_symlink():
            os.rename(target, aside)
            moved = True
        os.rename(tmp, target)
    except BaseException:
        if moved and not target.exists():
            os.rename(aside, target)
        raise
    if moved:
        _remove(aside)


def open_member(path: Path) -> np.ndarray:
    """A .npy member memory-mapped read-only (plain-loaded when empty or 0-d, which cannot be mapped), its
    header checked against the file first (engine.store.npy)."""
    header = file_header(path)
    if len(header.shape) == 0 or header.count == 0:
        return np.load(path, allow_pickle=False)
    return np.load(path, mmap_mode="r", allow_pickle=False)


def read_manifest(folder: Path) -> dict:
    """The parsed manifest.json; ValueError if it is not a gradcam cache-folder manifest."""
    manifest = json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(manifest.get("members"), dict):
        raise ValueError("manifest.json is not a gradcam cache-folder manifest")
    return manifest


def open_members(folder: Path, manifest: dict) -> dict[str, np.ndarray]:
    """Every member the schema names that the manifest lists, memory-mapped, each checked against its
    listed dtype and shape (members the schema does not name are never opened)."""
    out = {}
    for name, spec in manifest["members"].items():
        if name not in BY_NAME:
            continue
        if not isinstance(spec, dict):
            raise ValueError(f"bad manifest entry for {name}")
        arr = open_member(Path(folder) / f"{name}.npy")
        if np.lib.format.dtype_to_descr(arr.dtype) != spec.get("dtype") or list(arr.shape) != spec.get("shape"):
            raise ValueError(f"{name}.npy is {arr.dtype} {arr.shape}, the manifest says {spec}")
        out[name] = arr
    return out


def finish_cache_folder(writer: FolderCacheWriter, cache: RunCache) -> Path:
    """Add the members that are not per image (names, metadata) and publish the folder."""
    for name, array in header_members(cache).items():
        writer.save(name, array)
    return writer.publish(SCHEMA_VERSION)


def save_folder(cache: RunCache, target: Path) -> Path:
    """A whole in-memory RunCache as a cache folder, atomically (a run writes its rows during the pass)."""
    with FolderCacheWriter(Path(target), cache.num_images) as writer:
        for name in PER_IMAGE:
            value = getattr(cache, name)
            if value is not None:
                writer.write_rows(name, 0, np.asarray(value, dtype=BY_NAME[name].dtype))
        return finish_cache_folder(writer, cache)


def load_folder(path: Path) -> RunCache:
    """A cache folder, every member memory-mapped: opening a run reads only what is shown."""
    try:
        manifest = read_manifest(path)
        check_version(manifest.get("schema_version"), path)
        data = open_members(path, manifest)
        missing = [m for m in REQUIRED if m not in data]
        check(not missing, path, f"missing {', '.join(missing)}")
        check(data["labels"].ndim == 1 and manifest.get("num_images") == data["labels"].shape[0], path,
              "manifest.json's image count disagrees with labels.npy")
    except CacheError:
        raise
    except (OSError, ValueError, EOFError, KeyError, RuntimeError, TypeError, AttributeError, RecursionError,
            MemoryError) as exc:
        raise CacheError(f"{path} could not be read as a gradcam cache folder ({type(exc).__name__}: {exc}); "
                         f"{HOW_TO_MAKE}.") from None
    return validated(data, path)
