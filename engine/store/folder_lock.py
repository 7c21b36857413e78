"""One writer per output folder at a time.

Two runs into the same folder would each replace the other's files and remove the other's figures as
stale. So every command that writes into an output folder holds an exclusive lock on it for as long as it
writes: `.gradcam.lock` in the folder, locked with flock(2) and holding the holder's pid, host, command and
start time, which a second command names in its one-sentence refusal. The operating system releases a
flock when its process ends, however it ends (Ctrl-C, a crash, SIGKILL), so a lock left by a dead process
is never mistaken for a live one: the next command simply takes it. Locks nest within one process (the CLI
locks early, before the data loads, and the run and the report writer lock again).
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from engine.errors import FolderBusy, UserError

LOCK_NAME = ".gradcam.lock"

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock; the pid check below is all there is
    fcntl = None  # type: ignore[assignment]

_HELD: dict[Path, tuple[int, int]] = {}  # folder -> (file descriptor, nesting depth), in this process


def _holder(path: Path) -> dict:
    try:
        info = json.loads(path.read_text(encoding="utf-8", errors="replace")[:4096])
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _busy(folder: Path, path: Path) -> FolderBusy:
    info = _holder(path)
    who = []
    if isinstance(info.get("pid"), int):
        who.append(f"pid {info['pid']}" + (f" on {info['host']}" if info.get("host") not in (None, socket.gethostname()) else ""))
    if isinstance(info.get("started"), str):
        who.append(f"started {info['started']}")
    if isinstance(info.get("command"), str):
        who.append(info["command"][:160])
    named = f" ({', '.join(who)})" if who else ""
    return FolderBusy(
        f"Another gradcam command is writing into {folder}{named}; wait for it to finish or choose another --out."
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _acquire(folder: Path) -> int:
    """An open, flock-ed descriptor of the folder's lock file (retrying if another process replaced the
    file between our open and our lock), or FolderBusy."""
    path = folder / LOCK_NAME
    for _ in range(20):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as exc:
                    if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                        raise _busy(folder, path) from None
                    raise  # no locking on this file system: reported by locked_folder
            else:  # pragma: no cover
                info = _holder(path)
                if isinstance(info.get("pid"), int) and info["pid"] != os.getpid() and _pid_alive(info["pid"]):
                    raise _busy(folder, path)
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # the holder removed the file as we opened it: try the new one
    raise _busy(folder, path)


def _describe(fd: int) -> None:
    """Who holds the lock, for the sentence a second command prints (best effort: the flock is the lock)."""
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:400] if sys.argv else "",
    }
    data = json.dumps(info).encode("utf-8", "replace")
    try:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, data)
    except OSError:
        pass


def held_here(folder: Path) -> bool:
    """This process holds the folder's lock already (an outer locked_folder)."""
    try:
        return Path(folder).resolve() in _HELD
    except OSError:
        return False


@contextmanager
def locked_folder(folder: Path) -> Iterator[None]:
    """Hold the output folder's lock (the folder must exist) for the body; FolderBusy if another process
    holds it. Re-entering in the same process is free."""
    key = Path(folder).resolve()
    if key in _HELD:
        fd, depth = _HELD[key]
        _HELD[key] = (fd, depth + 1)
        try:
            yield
        finally:
            fd, depth = _HELD[key]
            _HELD[key] = (fd, depth - 1)
        return
    try:
        fd = _acquire(key)
        _describe(fd)
    except FolderBusy:
        raise
    except OSError as exc:
        raise UserError(f"Cannot lock the output folder {folder}: {exc.strerror or type(exc).__name__}.") from None
    _HELD[key] = (fd, 1)
    try:
        yield
    finally:
        del _HELD[key]
        try:
            os.unlink(key / LOCK_NAME)  # while still locked: a waiting opener sees the inode change and retries
        except OSError:
            pass
        os.close(fd)
