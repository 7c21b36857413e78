"""Atomic file writes: a temporary file in the target's folder, then os.replace.

A reader (or a crash, Ctrl-C, a kill, a full disk) sees either the previous file or the complete new one,
never half. A write that the file system refuses (no space left, read-only, permission denied) removes its
temporary file and raises WriteFailed: one sentence naming the file and saying the previous one is intact.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.errors import WriteFailed


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _failed(target: Path, exc: OSError) -> WriteFailed:
    reason = exc.strerror or type(exc).__name__
    kept = "the previous file is unchanged" if target.exists() else "nothing was written there"
    return WriteFailed(f"Could not write {target}: {reason}; {kept}.")


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path next to `target`; on success it replaces `target`, on any error it is removed."""
    target = Path(target)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise _failed(target, exc) from None
    try:
        os.close(fd)
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; give the file the mode a plain open() would
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and not isinstance(exc, WriteFailed):
            raise _failed(target, exc) from None
        raise


def write_bytes(target: Path, data: bytes) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_text(target: Path, text: str) -> Path:
    """UTF-8, '\\n' line endings on every platform. A lone surrogate (a class folder whose name is not
    valid UTF-8 reaches Python as one) is written as its escape, `\\udcff`, as the terminal shows it: it
    has no UTF-8 form, and failing on it would leave the report set half written."""
    return write_bytes(target, text.encode("utf-8", "backslashreplace"))
