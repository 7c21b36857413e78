"""An arrays folder: test_images.npy (uint8 N x H x W x 3), test_fine_labels.npy, optional
test_coarse_labels.npy, and meta.json with fine_label_names (or class_names), coarse_label_names and
fine_to_coarse. The images stay in their file and are read batch by batch during the pass.

Everything here comes from someone else's files, so each piece is checked for what it must be before the
pass starts (engine.sources.meta for meta.json, engine.sources.checks for labels): a wrong one is one
sentence, and nothing is silently coerced into a different meaning (69.7 is not class 69, a string is not
a list of names).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.errors import UserError
from engine.sources.checks import checked, integer_labels
from engine.sources.imageset import ImageSet
from engine.sources.lazy import NpyImages
from engine.sources.meta import read_meta
from engine.store.npy import load_small

EXPECTED_FILES = "test_images.npy, test_fine_labels.npy, meta.json"


def is_arrays_folder(path: Path) -> bool:
    return (path / "test_images.npy").exists()


def _label_file(path: Path, what: str) -> np.ndarray:
    """A label .npy file as int64 (N,), its header checked before it is read (engine.store.npy)."""
    try:
        raw = load_small(path, max_bytes=1 << 31)
    except (ValueError, OSError, EOFError) as exc:
        raise UserError(f"Could not read {path}: {exc}.") from None
    return integer_labels(raw, path, what)


def open_arrays(path: Path) -> ImageSet:
    meta_path = path / "meta.json"
    labels_path = path / "test_fine_labels.npy"
    for required in (labels_path, meta_path):
        if not required.exists():
            raise UserError(f"{path} has test_images.npy but no {required.name}; an arrays folder holds {EXPECTED_FILES}.")
    images = NpyImages(path / "test_images.npy")  # read batch by batch during the pass
    labels = _label_file(labels_path, "labels")
    meta = read_meta(meta_path)
    c2s = meta.fine_to_coarse
    coarse_path = path / "test_coarse_labels.npy"
    if meta.coarse_names is not None and c2s is None:
        if not coarse_path.exists():
            raise UserError(f"{meta_path} names superclasses ('coarse_label_names') but gives no 'fine_to_coarse' "
                            f"list and {path} has no test_coarse_labels.npy; add one of them, or drop the names.")
        coarse = _label_file(coarse_path, "superclass labels")
        c2s = fine_to_coarse_table(labels, coarse, len(meta.names), len(meta.coarse_names), coarse_path)
    return checked(ImageSet(images, labels, meta.names, f"arrays:{path}", meta.coarse_names, c2s), path)


def fine_to_coarse_table(fine: np.ndarray, coarse: np.ndarray, n: int, n_coarse: int | None = None,
                         where: Path | None = None) -> np.ndarray:
    """Each class's superclass from per-image fine and coarse labels. With `where` (a file to name) every
    label is checked: as many coarse labels as images, each a superclass index, one superclass per class.
    A class without images gets superclass 0 (nothing says which it belongs to)."""
    if where is not None:
        if coarse.shape != fine.shape:
            raise UserError(f"{where} holds {coarse.shape[0]} superclass labels but there are {fine.shape[0]} images.")
        if len(coarse) and (coarse.min() < 0 or (n_coarse is not None and coarse.max() >= n_coarse)):
            raise UserError(f"Superclass labels in {where} range over {coarse.min()}..{coarse.max()}, but there are "
                            f"{n_coarse} superclass names.")
        if len(fine) and (fine.min() < 0 or fine.max() >= n):
            return np.zeros(n, dtype=np.int64)  # the fine labels' own range check names the problem
    table = np.full(n, -1, dtype=np.int64)
    table[fine] = coarse
    if where is not None:
        split = np.nonzero(table[fine] != coarse)[0]
        if len(split):
            i = int(split[0])
            raise UserError(f"{where} puts class {int(fine[i])} in two superclasses ({int(coarse[i])} and "
                            f"{int(table[fine[i]])}); each class belongs to one superclass.")
    table[table < 0] = 0
    return table
