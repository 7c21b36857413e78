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
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from engine.errors import UserError
from engine.store.folder_lock import held_here, locked_folder
from engine.store.leftovers import clear_leftovers
from engine.store.written_files import WrittenFiles

PROBE_BYTES = 64 * 1024  # written and fsynced: a full disk fails here, not only at the cache write
IN_FLIGHT_BYTES = 8 << 20  # report files being replaced at once (the pool's figures, the 5 MB HTML page)
KIB = 1024


@dataclass(frozen=True)
class RunBytes:
    """What a run will write into its output folder: its cache, and its report files (0 without reports)."""

    cache: int
    reports: int = 0

    @property
    def total(self) -> int:
        return self.cache + self.reports


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
    feature_channels: int = 0,
    any_class_bytes: int = 0,
) -> RunBytes:
    """Bytes a run writes. The cache: its uncompressed members (per image: image, probabilities and logits,
    top-k, true-class, top-k and contrastive maps, mask; the layer's pooled features at fp16, feature_channels
    each) and any_class_bytes for any class's maps (engine.gradcam.any_class). The reports: each class figure
    about 24 KiB plus 31 KiB per example it shows (at most 8: 5 worst, 3 best), five pair figures of at most
    170 KiB, and 6 MiB for the HTML page and the other files. Measured on the CIFAR-100 test split (ResNet-56,
    without the any-class members): 57.1 MB cache + 34.3 MB reports for 10,000 images, 0.30 + 10.3 MB for 50."""
    per_image = height * width * 3 + num_classes * 4 * 2 + topk * 8 + 8 + (2 + topk) * cam_size[0] * cam_size[1] * 4
    if masks:
        per_image += height * width
    per_image += 2 * feature_channels
    cache = num_images * per_image + num_classes * num_classes * 8 + num_classes * 64 + any_class_bytes
    if not reports:
        return RunBytes(int(cache))
    examples = min(8.0, num_images / max(1, num_classes))
    report_bytes = num_classes * (24 + 31 * examples) * KIB + 5 * 170 * KIB + 6 * 1024 * KIB
    return RunBytes(int(cache), int(report_bytes))


def _bytes_of(path: Path) -> int:
    if path.is_symlink() or not path.is_dir():
        return path.lstat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def replaced_bytes(out_dir: Path, cache_names: tuple[str, ...] = ("cache.npz", "cache")) -> tuple[int, int]:
    """(cache, reports): the bytes of the files an earlier run of this tool wrote in out_dir, as its record
    lists them (engine.store.written_files): a new run replaces them, so their space comes back as it writes."""
    record = WrittenFiles.load(out_dir)
    cache = reports = 0
    for name in record.files:
        try:
            if not record.unchanged(name):
                continue
            size = _bytes_of(out_dir / name)
        except OSError:
            continue
        if name in cache_names:
            cache += size
        else:
            reports += size
    return cache, reports


def room_needed(out_dir: Path, writes: RunBytes) -> tuple[int, int]:
    """(the free space a run needs at its peak, the bytes of earlier files it replaces). The new cache is
    written beside the old one, which goes when the new one is renamed into place; then each report file
    replaces the earlier one of its name, so only the files in flight need room twice."""
    old_cache, old_reports = replaced_bytes(out_dir)
    if not writes.reports:
        old_reports = 0
    after_cache = writes.cache - old_cache
    peak = max(writes.cache, after_cache + writes.reports - old_reports + min(old_reports, IN_FLIGHT_BYTES))
    return peak, old_cache + old_reports


def check_output_folder(out_dir: Path, needed_bytes: "int | RunBytes" = 0) -> None:
    """Fail with one sentence, before the long work, if out_dir cannot hold the run's files."""
    out_dir = Path(out_dir)
    try:
        blocker = _file_in_the_way(out_dir)
    except OSError as exc:  # a name too long for the file system, a folder that cannot be searched
        raise UserError(f"Cannot create the output folder {out_dir}: {_reason(exc)}.") from None
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
    writes = needed_bytes if isinstance(needed_bytes, RunBytes) else RunBytes(int(needed_bytes))
    if writes.total > 0:
        free = shutil.disk_usage(out_dir).free
        needed, replaced = room_needed(out_dir, writes)
        if free < needed:
            how = f"writes about {_size(writes.total)}"
            if replaced:
                how = f"needs about {_size(needed)} (it {how}, in place of {_size(replaced)} an earlier run wrote there)"
            raise UserError(f"The output folder {out_dir} has {_size(free)} free but this run {how}; free some "
                            "space or choose another --out.")


@contextmanager
def writing_into(out_dir: Path, needed_bytes: "int | RunBytes" = 0) -> Iterator[Path]:
    """check_output_folder, then the folder's lock for the body (engine.store.folder_lock), with what killed
    commands left there cleared first (engine.store.leftovers): what every command that writes into an
    output folder does first."""
    check_output_folder(out_dir, needed_bytes)
    first = not held_here(out_dir)
    with locked_folder(out_dir):
        if first:
            clear_leftovers(Path(out_dir))
        yield Path(out_dir)
