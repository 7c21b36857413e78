"""Which files in an output folder this tool wrote, so that it removes its own stale files and nothing else
.

A class or pair figure can change its name from one run to the next (another class order, another top
pair); the old one must go, or the folder mixes two runs. But an output folder is the user's folder too:
`class_2024_holiday_photo.png` or `confused_pair_9_cats_to_dogs.png` may well be theirs. So the folder
keeps `.gradcam-files.json`, written atomically after every write, listing each file the tool wrote there
with its size and modification time. A file is removed as stale only if the list names it, it is one of
the tool's own kinds (a report file, a cache), and it is exactly as the tool left it (same size and
modification time). A file the list does not name is never touched, whatever its name.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from engine.store.atomic import write_text

MANIFEST_NAME = ".gradcam-files.json"
FORMAT = "gradcam-written-files"
MAX_MANIFEST_BYTES = 4 << 20
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def _stamp(path: Path) -> dict | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "folder": path.is_dir()}


@dataclass
class WrittenFiles:
    """The record of one output folder: file name -> {size, mtime_ns, folder} as the tool left it."""

    folder: Path
    files: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: Path) -> "WrittenFiles":
        """The folder's record; a missing, damaged or foreign one counts as empty (nothing is ours)."""
        folder = Path(folder)
        files: dict[str, dict] = {}
        try:
            path = folder / MANIFEST_NAME
            if path.is_file() and not path.is_symlink() and path.stat().st_size <= MAX_MANIFEST_BYTES:
                doc = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(doc, dict) and doc.get("format") == FORMAT and isinstance(doc.get("files"), dict):
                    files = {k: v for k, v in doc["files"].items()
                             if isinstance(k, str) and _PLAIN_NAME.match(k) and isinstance(v, dict)}
        except (OSError, ValueError, RecursionError):
            files = {}
        return cls(folder, files)

    def record(self, path: Path) -> None:
        """Note a file (or cache folder) this tool has just written in the folder."""
        path = Path(path)
        stamp = _stamp(path)
        if stamp is not None and path.parent.resolve() == self.folder.resolve():
            self.files[path.name] = stamp

    def unchanged(self, name: str) -> bool:
        """The folder holds `name` exactly as this tool last wrote it."""
        want = self.files.get(name)
        path = self.folder / name
        if want is None or path.is_symlink():
            return False
        return _stamp(path) == {k: want.get(k) for k in ("size", "mtime_ns", "folder")}

    def remove(self, name: str) -> bool:
        """Delete `name` if it is ours and unchanged (a file, or a folder the tool wrote); forget it."""
        removed = False
        if self.unchanged(name):
            path = self.folder / name
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed = not path.exists()
        self.files.pop(name, None)
        return removed

    def remove_stale(self, kept: set[str], is_kind: "callable[[str], bool]") -> list[str]:
        """Remove every recorded file of a kind (is_kind(name)) that this write did not produce again."""
        stale = [name for name in self.files if is_kind(name) and name not in kept]
        return [name for name in stale if self.remove(name)]

    def save(self) -> None:
        doc = {"format": FORMAT, "version": 1, "files": dict(sorted(self.files.items()))}
        write_text(self.folder / MANIFEST_NAME, json.dumps(doc, indent=1) + "\n")
