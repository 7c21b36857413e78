"""The cache contract: one run's measurements as plain arrays, in one .npz or a folder of .npy files.

    load_cache(path) -> RunCache        read and check (never recompute) a cache file or folder
    save_cache(cache, path)             atomically; a path ending .npz is one file, any other a folder
    resolve_cache_path(path)            the cache a user means by a file, a cache folder or an output folder

Numpy and json only; nothing here knows the analysis (engine.analysis) or the engine's other stages.
Besides the cache, the output folder's own bookkeeping lives here: the preflight (output_folder), the
lock (folder_lock), the record of written files (written_files) and atomic writes (atomic).
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.errors import CacheError
from engine.store.folder import has_manifest, load_folder, save_folder
from engine.store.npz import load_npz, save_npz
from engine.store.run_cache import RunCache
from engine.store.schema import HOW_TO_MAKE, SCHEMA_VERSION

DEFAULT_CACHE = Path("gradcam_results") / "cache.npz"
NPZ_NAME = "cache.npz"
FOLDER_NAME = "cache"  # the folder form's name inside an output folder, beside where cache.npz would be

__all__ = ["RunCache", "load_cache", "save_cache", "resolve_cache_path", "SCHEMA_VERSION", "DEFAULT_CACHE",
           "NPZ_NAME", "FOLDER_NAME"]


def save_cache(cache: RunCache, path: str | os.PathLike) -> Path:
    """Write atomically: an interrupted write leaves any previous cache at `path` as it was."""
    path = Path(path)
    return save_npz(cache, path) if path.suffix == ".npz" else save_folder(cache, path)


def load_cache(path: str | os.PathLike = DEFAULT_CACHE) -> RunCache:
    """Read and check a cache file or cache folder; any problem becomes a CacheError with one clear sentence."""
    path = Path(path)
    try:
        exists, is_dir = path.exists(), path.is_dir()
    except OSError as exc:  # e.g. a name too long for the file system
        raise CacheError(f"No cache at {path} ({exc.strerror or type(exc).__name__}); {HOW_TO_MAKE}.") from None
    if not exists:
        raise CacheError(f"No cache at {path}; {HOW_TO_MAKE}.")
    if is_dir:
        if not has_manifest(path):
            raise CacheError(f"{path} is a folder, not a cache file; {HOW_TO_MAKE}.")
        return load_folder(path)
    return load_npz(path)


def resolve_cache_path(path: str | os.PathLike) -> Path:
    """The cache a user means by PATH: a cache file or cache folder as given; an output folder that holds
    one (cache.npz or cache/, the newer if both); or, for a cache.npz that is absent, the cache/ folder a
    large run wrote in its place."""
    p = Path(path)
    try:
        if p.is_dir() and not has_manifest(p):
            found = [c for c in (p / NPZ_NAME, p / FOLDER_NAME) if c.is_file() or has_manifest(c)]
            if found:
                return max(found, key=lambda c: c.stat().st_mtime)
        elif not p.exists() and p.suffix == ".npz" and has_manifest(p.with_suffix("")):
            return p.with_suffix("")
    except OSError:
        pass  # load_cache says what is wrong with the path
    return p
