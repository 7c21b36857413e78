"""An arrays folder: test_images.npy (uint8 N x H x W x 3), test_fine_labels.npy, optional
test_coarse_labels.npy, and meta.json with fine_label_names (or class_names), coarse_label_names and
fine_to_coarse. The images stay in their file and are read batch by batch during the pass."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from engine.errors import UserError
from engine.sources.checks import checked
from engine.sources.imageset import ImageSet
from engine.sources.lazy import NpyImages

EXPECTED_FILES = "test_images.npy, test_fine_labels.npy, meta.json"


def is_arrays_folder(path: Path) -> bool:
    return (path / "test_images.npy").exists()


def open_arrays(path: Path) -> ImageSet:
    meta_path = path / "meta.json"
    labels_path = path / "test_fine_labels.npy"
    for required in (labels_path, meta_path):
        if not required.exists():
            raise UserError(f"{path} has test_images.npy but no {required.name}; an arrays folder holds {EXPECTED_FILES}.")
    images = NpyImages(path / "test_images.npy")  # read batch by batch during the pass
    try:
        labels = np.load(labels_path, allow_pickle=False).astype(np.int64)
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (ValueError, OSError, json.JSONDecodeError) as exc:
        raise UserError(f"Could not read the arrays in {path}: {exc}.") from None
    names = meta.get("fine_label_names") or meta.get("class_names")
    if not names:
        raise UserError(f"{meta_path} has no 'fine_label_names' (or 'class_names') list.")
    coarse_names = meta.get("coarse_label_names")
    fine_to_coarse = meta.get("fine_to_coarse")
    c2s = None
    if coarse_names and fine_to_coarse is not None:
        c2s = np.asarray(fine_to_coarse, dtype=np.int64)
    elif coarse_names and (path / "test_coarse_labels.npy").exists():
        coarse = np.load(path / "test_coarse_labels.npy", allow_pickle=False).astype(np.int64)
        c2s = fine_to_coarse_table(labels, coarse, len(names))
    return checked(
        ImageSet(images, labels, [str(n) for n in names], f"arrays:{path}", coarse_names, c2s), path
    )


def fine_to_coarse_table(fine: np.ndarray, coarse: np.ndarray, n: int) -> np.ndarray:
    table = np.full(n, -1, dtype=np.int64)
    table[fine] = coarse
    if (table < 0).any():
        table[table < 0] = 0
    return table
