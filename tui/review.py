"""The verdicts of this session's review, shared by every view that reviews (Images, Suspects).

The file format and its atomic write are engine.store.reviews'; this is the session's copy: loaded once at
start (a file that cannot be used is left untouched and said so), changed by one key per verdict, and saved
after each change from a thread, the newest state winning (a save never replaces a newer one with an older
one). Without a cache path (an embedded app, a test) the verdicts live in memory only.
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import numpy as np

from engine.console import visible
from engine.store.reviews import (
    AMBIGUOUS,
    RIGHT,
    WRONG,
    Verdict,
    load_reviews,
    now,
    reviews_path,
    save_reviews,
)
from engine.errors import UserError

MARKS = {WRONG: "✗", RIGHT: "✓", AMBIGUOUS: "?"}
WORDS = {WRONG: "label wrong", RIGHT: "label right", AMBIGUOUS: "ambiguous"}


class ReviewBook:
    """Verdicts by image. `problem` says why they are not being saved (None while they are)."""

    def __init__(self, labels: np.ndarray, num_classes: int, cache_path: Path | str | None = None) -> None:
        self.labels = np.asarray(labels)
        self.num_classes = num_classes
        self.path = reviews_path(cache_path) if cache_path else None
        self.verdicts: dict[int, Verdict] = {}
        self.problem: str | None = None if self.path else "no cache file: verdicts are kept for this session only"
        self.version = 0  # bumped by each change
        self.saved = 0  # the version on disk
        self._lock = threading.Lock()
        if self.path is not None:
            try:
                self.verdicts = load_reviews(self.path, self.labels, num_classes)
            except UserError as exc:  # damaged or another test set's: never written over
                self.problem = visible(exc)
                self.path = None

    # --- verdicts --------------------------------------------------------------------------------------

    def get(self, image: int) -> Verdict | None:
        return self.verdicts.get(int(image))

    def mark(self, image: int, verdict: str, suggested: int | None = None) -> Verdict:
        v = Verdict(int(image), verdict, int(self.labels[image]), None if verdict != WRONG else int(suggested), now())
        self.verdicts[v.image] = v
        self.version += 1
        return v

    def clear(self, image: int) -> bool:
        if self.verdicts.pop(int(image), None) is None:
            return False
        self.version += 1
        return True

    def progress(self, images: np.ndarray) -> tuple[int, Counter]:
        """(how many of `images` have a verdict, verdict counts among them)."""
        counts = Counter(self.verdicts[int(i)].verdict for i in images if int(i) in self.verdicts)
        return sum(counts.values()), counts

    def first_unreviewed(self, images: np.ndarray, start: int = 0) -> int | None:
        """The position of the first image from `start` on (wrapping round) without a verdict."""
        n = len(images)
        for k in range(n):
            if int(images[(start + k) % n]) not in self.verdicts:
                return (start + k) % n
        return None

    # --- saving ----------------------------------------------------------------------------------------

    @property
    def dirty(self) -> bool:
        return self.path is not None and self.saved != self.version

    def save(self) -> Path | None:
        """Write the newest verdicts (thread-safe; a save that finds a newer one already written does
        nothing). Raises engine.errors.WriteFailed when the file system refuses."""
        with self._lock:
            if not self.dirty:
                return None
            version, snapshot = self.version, dict(self.verdicts)
            path = save_reviews(self.path, snapshot, self.labels)
            self.saved = max(self.saved, version)
            self.problem = None  # a save that failed before (a full disk) has now caught up
            return path
