"""The output folder, checked before the long work starts.

What can be known before the forward pass is checked here, so the user hears it in seconds rather than
after minutes: the path is (or can become) a folder, a file can be created and written in it, and, when the
caller can estimate the size of the run's files, the file system has room for them. What cannot be known
in advance (the disk fills up while the run writes) is handled by engine.store.atomic: the previous file stays,
no temporary file is left, and the error is one sentence.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from engine.errors import UserError
from engine.store.folder_lock import locked_folder

PROBE_BYTES = 64 * 1024  # written and fsynced: a full disk fails here, not only at the cache write
MARGIN = 1.1  # free space asked for beyond the estimate (file system overheads, the temporary copy's rename)


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def _file_in_the_way(path: Path) -> Path | None:
    """The first existing ancestor of `path` (or path itself) that is not a folder."""
    for p in [path, *path.parents]:
        if p.exists() or p.is_symlink():
            return None if p.is_dir() else p
    return None


def _reason(exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "no space left on the device"
    if exc.errno == errno.EROFS:
        return "it is on a read-only file system"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return (exc.strerror or type(exc).__name__).rstrip(".").lower()


def estimate_run_bytes(
    num_images: int,
    height: int,
    width: int,
    num_classes: int,
    *,
    topk: int = 5,
    cam_size: tuple[int, int] = (8, 8),
    masks: bool = False,
    reports: bool = True,
) -> int:
    """Bytes a run writes: cache.npz (uncompressed members, per image: image, probabilities and logits,
    top-k, true-class and top-k maps, mask) plus the reports (about 300 KiB per class figure, 6 MiB for the
    HTML page and the other files). CIFAR-100 test split: 55 MB cache + 31 MB reports, as measured."""
    per_image = height * width * 3 + num_classes * 4 * 2 + topk * 8 + 8 + (1 + topk) * cam_size[0] * cam_size[1] * 4
    if masks:
        per_image += height * width
    total = num_images * per_image + num_classes * num_classes * 8 + num_classes * 64
    if reports:
        total += num_classes * 300 * 1024 + 6 * 1024 * 1024
    return int(total)


def check_output_folder(out_dir: Path, needed_bytes: int = 0) -> None:
    """Fail with one sentence, before the long work, if out_dir cannot hold the run's files."""
    out_dir = Path(out_dir)
    blocker = _file_in_the_way(out_dir)
    if blocker is not None:
        what = "a file" if blocker.is_file() else "not a folder"
        if blocker == out_dir:
            raise UserError(f"The output folder {out_dir} is {what}; choose another --out.")
        raise UserError(f"Cannot create the output folder {out_dir}: {blocker} is {what}.")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"Cannot create the output folder {out_dir}: {_reason(exc)}.") from None
    try:
        fd, probe = tempfile.mkstemp(dir=out_dir, prefix=".write-test-")
    except OSError as exc:
        raise UserError(f"Cannot write to the output folder {out_dir}: {_reason(exc)}.") from None
    try:
        try:
            os.write(fd, b"\0" * PROBE_BYTES)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise UserError(f"Cannot write to the output folder {out_dir}: {_reason(exc)}.") from None
    finally:
        try:
            os.unlink(probe)
        except OSError:
            pass
    if needed_bytes > 0:
        free = shutil.disk_usage(out_dir).free
        if free < needed_bytes * MARGIN:
            raise UserError(
                f"The output folder {out_dir} has {_size(free)} free but this run writes about "
                f"{_size(needed_bytes)}; free some space or choose another --out."
            )


@contextmanager
def writing_into(out_dir: Path, needed_bytes: int = 0) -> Iterator[Path]:
    """check_output_folder, then the folder's lock for the body (engine.store.folder_lock): what every command
    that writes into an output folder does first."""
    check_output_folder(out_dir, needed_bytes)
    with locked_folder(out_dir):
        yield Path(out_dir)
