"""A torchvision CIFAR-100 root (cifar-100-python/ with test and meta), read by torchvision's own class;
the superclasses come from the official pickles (torchvision reads only the fine labels)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from engine.errors import UserError
from engine.sources.arrays import fine_to_coarse_table
from engine.sources.checks import checked
from engine.sources.imageset import ImageSet


def cifar_root(path: Path) -> Path | None:
    """The folder that holds cifar-100-python/, whether given it or the cifar-100-python folder itself."""
    if (path / "cifar-100-python" / "test").exists():
        return path
    if path.name == "cifar-100-python" and (path / "test").exists():
        return path.parent
    return None


def open_cifar100(root: Path, download: bool) -> ImageSet:
    from torchvision.datasets import CIFAR100

    try:
        ds = CIFAR100(root=str(root), train=False, download=download)
    except RuntimeError as exc:
        why = str(exc).strip().rstrip(".").replace("use download=True", "pass --download")
        raise UserError(f"CIFAR-100 at {root} could not be read: {why}.") from None
    except OSError as exc:
        raise UserError(f"CIFAR-100 at {root} could not be read or downloaded: {exc}.") from None
    images = np.asarray(ds.data, dtype=np.uint8)
    labels = np.asarray(ds.targets, dtype=np.int64)
    coarse_names, c2s = _cifar_coarse(Path(root) / "cifar-100-python", labels, len(ds.classes))
    return checked(ImageSet(images, labels, list(ds.classes), f"cifar100:{root}", coarse_names, c2s), Path(root))


def _cifar_coarse(folder: Path, fine: np.ndarray, n: int) -> tuple[list[str] | None, np.ndarray | None]:
    """Superclasses from the official pickles (torchvision's class reads only the fine labels)."""
    try:
        with open(folder / "meta", "rb") as fh:
            meta = pickle.load(fh, encoding="latin1")  # the data set's own format, as torchvision reads it
        with open(folder / "test", "rb") as fh:
            test = pickle.load(fh, encoding="latin1")
        coarse = np.asarray(test["coarse_labels"], dtype=np.int64)
        return list(meta["coarse_label_names"]), fine_to_coarse_table(fine, coarse, n)
    except (OSError, KeyError, pickle.UnpicklingError, EOFError):
        return None, None
