"""Verdicts on test labels, made in the terminal app: saved next to the cache, exported as a CSV.

A verdict says what a person decided about image i's given label: `wrong` (with the label it should have),
`right`, or `ambiguous`. They live in one JSON file beside the cache (cache.npz -> cache.reviews.json),
rewritten atomically on every verdict (engine.store.atomic), so a crash, a kill or a full disk leaves the
previous file whole. The file records a fingerprint of the labels it was made on; a file from another test
set, or one that is damaged, is refused with one sentence and never written over.

The CSV (label_reviews.csv) is for a training pipeline: one row per reviewed image with the given label, the
verdict and the label to train with (`label_to_use`: the suggested label when the verdict is wrong, the
given one when it is right, empty when ambiguous: leave the image out or send it for another look).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping

import numpy as np

from engine.errors import UserError
from engine.store.atomic import write_text

FORMAT = "gradcam-label-reviews"
VERSION = 1
WRONG, RIGHT, AMBIGUOUS = "wrong", "right", "ambiguous"
VERDICTS = (WRONG, RIGHT, AMBIGUOUS)
SUFFIX = ".reviews.json"
CSV_NAME = "label_reviews.csv"
CSV_COLUMNS = ["image", "given_id", "given", "verdict", "suggested_id", "suggested", "label_to_use_id",
               "label_to_use", "reviewed_at"]
MAX_BYTES = 64 << 20  # a reviews file larger than this is not one we wrote


class ReviewsError(UserError):
    """A reviews file that cannot be used: damaged, of another format, or made on another test set."""


@dataclass(frozen=True)
class Verdict:
    """What a person decided about image `image`'s given label `given`; `suggested` is the label it should
    have (a class id) when the verdict is wrong, else None."""

    image: int
    verdict: str
    given: int
    suggested: int | None = None
    at: str = ""  # ISO 8601, UTC

    @property
    def label_to_use(self) -> int | None:
        if self.verdict == WRONG:
            return self.suggested
        return self.given if self.verdict == RIGHT else None


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def reviews_path(cache_path: str | os.PathLike) -> Path:
    """The reviews file of a cache: beside it, named after it (cache.npz and cache/ -> cache.reviews.json)."""
    p = Path(cache_path)
    stem = p.stem if p.suffix == ".npz" else p.name
    return p.with_name(stem + SUFFIX)


def fingerprint(labels: np.ndarray) -> str:
    """SHA-256 of the labels as int64: the same test set in the same order gives the same fingerprint."""
    return hashlib.sha256(np.ascontiguousarray(labels, dtype=np.int64).tobytes()).hexdigest()


def _refuse(path: Path, why: str) -> ReviewsError:
    return ReviewsError(f"The reviews file {path} {why}; it is left as it is and this session's verdicts are "
                        "not saved over it.")


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _verdict(path: Path, entry: object, labels: np.ndarray, num_classes: int) -> Verdict:
    if not isinstance(entry, dict):
        raise _refuse(path, "holds an entry that is not a verdict")
    i, given, suggested = _int(entry.get("image")), _int(entry.get("given")), entry.get("suggested")
    verdict, at = entry.get("verdict"), entry.get("at", "")
    if i is None or not 0 <= i < len(labels):
        raise _refuse(path, f"names an image outside this test set ({str(entry.get('image'))[:40]})")
    if verdict not in VERDICTS:
        raise _refuse(path, f"holds an unknown verdict ({str(verdict)[:40]})")
    if given != int(labels[i]):
        raise _refuse(path, f"was made on other labels (image {i} is labelled {int(labels[i])} here)")
    if suggested is not None and (_int(suggested) is None or not 0 <= suggested < num_classes):
        raise _refuse(path, f"suggests a class outside this run ({str(suggested)[:40]})")
    if not isinstance(at, str):
        raise _refuse(path, "holds a verdict whose time is not text")
    return Verdict(i, verdict, given, suggested if verdict == WRONG else None, at[:40])


def load_reviews(path: str | os.PathLike, labels: np.ndarray, num_classes: int) -> dict[int, Verdict]:
    """The verdicts saved at `path` for these labels ({} when there is no file yet). A damaged file, one of
    another format, or one made on other labels raises ReviewsError (one sentence)."""
    path = Path(path)
    try:
        if not path.exists():
            return {}
        if path.stat().st_size > MAX_BYTES:
            raise _refuse(path, "is too large to be a reviews file")
        data = json.loads(path.read_text(encoding="utf-8"))
    except ReviewsError:
        raise
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "is not valid JSON"
        raise _refuse(path, f"cannot be read ({why})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise _refuse(path, "is not a gradcam-tui reviews file")
    if data.get("version") != VERSION:
        raise _refuse(path, f"has version {str(data.get('version'))[:20]}, this tool reads {VERSION}")
    if data.get("labels_sha256") != fingerprint(labels) or data.get("num_images") != len(labels):
        raise _refuse(path, "was made on another test set (its labels differ from this cache's)")
    entries = data.get("verdicts")
    if not isinstance(entries, list):
        raise _refuse(path, "holds no list of verdicts")
    out: dict[int, Verdict] = {}
    for entry in entries:
        v = _verdict(path, entry, labels, num_classes)
        out[v.image] = v
    return out


def reviews_json(verdicts: Mapping[int, Verdict], labels: np.ndarray) -> str:
    entries = [{"image": v.image, "verdict": v.verdict, "given": v.given, "suggested": v.suggested, "at": v.at}
               for _, v in sorted(verdicts.items())]
    doc = {"format": FORMAT, "version": VERSION, "num_images": int(len(labels)),
           "labels_sha256": fingerprint(labels), "verdicts": entries}
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


def save_reviews(path: str | os.PathLike, verdicts: Mapping[int, Verdict], labels: np.ndarray) -> Path:
    """Write every verdict atomically: an interrupted save leaves the previous file as it was."""
    return write_text(Path(path), reviews_json(verdicts, labels))


def reviews_csv(verdicts: Mapping[int, Verdict], class_names: list[str]) -> str:
    def name(c: int | None) -> str:
        return "" if c is None else class_names[c]

    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(CSV_COLUMNS)
    for _, v in sorted(verdicts.items()):
        use = v.label_to_use
        out.writerow([v.image, v.given, name(v.given), v.verdict, "" if v.suggested is None else v.suggested,
                      name(v.suggested), "" if use is None else use, name(use), v.at])
    return buf.getvalue()


def export_csv(target: str | os.PathLike, verdicts: Mapping[int, Verdict], class_names: list[str]) -> Path:
    """label_reviews.csv (atomically): one row per reviewed image, in image order."""
    return write_text(Path(target), reviews_csv(verdicts, class_names))
