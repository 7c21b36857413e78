"""Temporary files and folders that a killed command left in an output folder, cleared by the next one.

Every write goes to a hidden temporary name beside its target (engine.store.atomic: `.NAME.XXXXXXXX.tmp`;
a cache folder: `.cache.XXXXXXXX.tmp/`; the preflight's probe `.write-test-XXXXXXXX`), and Ctrl-C, SIGTERM
or SIGHUP removes it on the way out. SIGKILL (the out-of-memory killer, `kill -9`, a lost node) cannot be
caught and leaves it behind, sparse but possibly large. The next command that writes into the folder holds
the folder's lock (engine.store.folder_lock), so no other gradcam command is writing there: whatever has
those names is left from a dead one, and is removed. A cache folder renamed aside for a swap
(`.cache.old-XXXXXXXX`, engine.store.folder) is renamed back when the swap never finished (nothing at its
own name), and removed otherwise.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

_NAME = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"
_RANDOM = r"[a-z0-9_]{8}"  # tempfile's names
_TEMPORARY = re.compile(rf"^\.\.?{_NAME}\.{_RANDOM}\.tmp$|^\.write-test-{_RANDOM}$")
_ASIDE = re.compile(rf"^\.(?P<name>{_NAME})\.old-[0-9a-f]{{8}}$")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def clear_leftovers(folder: Path) -> list[str]:
    """Remove (or, for a cache folder set aside, restore) what killed commands left in `folder`; the names
    handled. Call it holding the folder's lock."""
    handled = []
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return handled
    for name in names:
        path = Path(folder) / name
        try:
            aside = _ASIDE.match(name)
            if aside:
                home = Path(folder) / aside.group("name")
                if home.exists() or home.is_symlink():
                    _remove(path)
                else:
                    os.rename(path, home)
            elif _TEMPORARY.match(name):
                _remove(path)
            else:
                continue
        except OSError:
            continue
        handled.append(name)
    return handled
