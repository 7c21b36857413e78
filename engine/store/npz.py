"""The cache as one .npz: written atomically, read with allow_pickle=False, member by member.

Only the members the schema names are read, and each one's .npy header is checked against the bytes the
archive really holds before anything is allocated: a member that claims terabytes in a small file, or an
unused huge member, costs nothing. The engine writes the archive uncompressed, so each per-image member is
memory-mapped straight from the file, as the folder form's are: opening a run costs reading its headers,
and the TUI pages in only the images it shows. A compressed member (an archive another tool wrote) is read
whole instead.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import numpy as np

from engine.errors import CacheError
from engine.store.atomic import atomic_path
from engine.store.npy import read_header
from engine.store.run_cache import RunCache
from engine.store.schema import BY_NAME, HOW_TO_MAKE, REQUIRED, header_members, per_image_members
from engine.store.validate import check, check_version, validated


def save_npz(cache: RunCache, path: Path) -> Path:
    """Write atomically: an interrupted write leaves any previous file at `path` as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    members = {**header_members(cache), **per_image_members(cache)}
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **members)
    return path


LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, ..., file name length, extra field length


def _member(path: Path, zf: zipfile.ZipFile, npz, name: str, info: zipfile.ZipInfo, per_image: bool):
    """The member's array, checked against the bytes it holds; memory-mapped when it is stored
    uncompressed and is per image."""
    with zf.open(info) as fh:
        header = read_header(fh, f"member {name}")
    declared, held = header.nbytes, info.file_size - header.offset
    if declared != held:
        raise CacheError(f"{path} is not a valid gradcam cache (member {name} claims {declared} bytes but holds "
                         f"{held}); {HOW_TO_MAKE}.")
    if not (per_image and info.compress_type == zipfile.ZIP_STORED and not header.fortran_order and header.count):
        return npz[name]
    with open(path, "rb") as fh:
        fh.seek(info.header_offset)
        signature, name_len, extra_len = LOCAL_HEADER.unpack(fh.read(LOCAL_HEADER.size))
    if signature != b"PK\x03\x04":
        raise ValueError(f"member {name} has no local header")
    offset = info.header_offset + LOCAL_HEADER.size + name_len + extra_len + header.offset
    return np.memmap(path, dtype=header.dtype, mode="r", offset=offset, shape=header.shape)


def load_npz(path: Path) -> RunCache:
    try:
        with zipfile.ZipFile(path) as zf, np.load(path, allow_pickle=False) as npz:
            infos = {i.filename[: -len(".npy")]: i for i in zf.infolist() if i.filename.endswith(".npy")}
            if "schema_version" not in infos:
                raise CacheError(f"{path} is not a gradcam cache (no schema version); {HOW_TO_MAKE}.")
            version = _member(path, zf, npz, "schema_version", infos["schema_version"], False)
            check_version(int(version) if version.ndim == 0 and version.dtype.kind == "i" else None, path)
            missing = [m for m in REQUIRED if m not in infos]
            check(not missing, path, f"missing {', '.join(missing)}")
            data = {name: _member(path, zf, npz, name, infos[name], BY_NAME[name].per_image)
                    for name in BY_NAME if name in infos}
    except CacheError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, RuntimeError, TypeError, SyntaxError,
            MemoryError, RecursionError) as exc:
        raise CacheError(f"{path} could not be read as a gradcam cache ({type(exc).__name__}); {HOW_TO_MAKE}.") from None
    return validated(data, path)
