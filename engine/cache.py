"""The cache contract: one versioned .npz that fully describes a run (torch-free).

Written atomically (temporary file in the same folder, fsync, rename), read with allow_pickle=False and
validated on load, so a half-written or foreign file gives one clear sentence instead of a traceback.

Large runs use the same members as a folder instead (engine.cache_folder: manifest.json + one .npy per
member, memory-mapped on load). Its validation is bounded: structure, dtypes, shapes and index ranges are
checked, but the stored selections (confusion, worst/best, label suspects) are not recomputed on load as
they are for the .npz; the analysis the TUI shows is computed from the per-image arrays either way.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.analysis import Analysis, analyse
from engine.atomic import atomic_path
from engine.cache_folder import FolderCacheWriter, has_manifest, open_members, read_manifest
from engine.errors import UserError

SCHEMA_VERSION = 1
DEFAULT_CACHE = Path("gradcam_results") / "cache.npz"
FOLDER_NAME = "cache"  # the folder form's name inside an output folder, beside where cache.npz would be
PER_IMAGE = ("images", "labels", "probs", "topk_classes", "cam_true", "cam_topk", "masks", "logits")
SUSPECTS_MAX_VALUES = 50_000_000  # folder caches store the ranked label suspects only up to N x C values
HOW_TO_MAKE = "run `gradcam-batch run ...` (or `gradcam-batch demo`) to create one"


class CacheError(UserError):
    """The cache file is missing, unreadable, of another schema version, or inconsistent."""


@dataclass
class RunCache:
    """Everything the reports and the TUI need about one run; per-image arrays share their first axis N."""

    images: np.ndarray  # uint8 (N, H, W, 3)
    labels: np.ndarray  # int64 (N,)
    probs: np.ndarray  # float32 (N, C) softmax probabilities
    topk_classes: np.ndarray  # int64 (N, K): classes by descending probability; [:, 0] is the prediction
    cam_true: np.ndarray  # float32 (N, h, w): Grad-CAM for the true class at the layer's resolution (ReLU'd)
    cam_topk: np.ndarray  # float32 (N, K, h, w): Grad-CAM for each of topk_classes
    class_names: list[str]
    meta: dict[str, Any]
    superclass_names: list[str] | None = None
    class_to_superclass: np.ndarray | None = None  # int64 (C,)
    masks: np.ndarray | None = None  # bool (N, H, W), where the data set knows the object
    logits: np.ndarray | None = None  # float32 (N, C) raw scores, for calibration (temperature scaling)
    _analysis: Analysis | None = field(default=None, repr=False)
    _diagnostics: Any = field(default=None, repr=False)

    @property
    def num_images(self) -> int:
        return int(self.labels.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def preds(self) -> np.ndarray:
        return self.topk_classes[:, 0]

    @property
    def confidence(self) -> np.ndarray:
        """Probability of the predicted class, per image."""
        return self.probs[np.arange(self.num_images), self.preds]

    @property
    def analysis(self) -> Analysis:
        if self._analysis is None:
            self._analysis = analyse(
                self.labels,
                self.probs,
                self.preds,
                self.topk_classes,
                self.class_names,
                self.superclass_names,
                self.class_to_superclass,
            )
        return self._analysis

    @property
    def diagnostics(self):  # -> engine.diagnostics.Diagnostics (imported lazily: calibration, attention, suspects)
        if self._diagnostics is None:
            from engine.diagnostics import diagnose

            self._diagnostics = diagnose(self)
        return self._diagnostics

    def cam_classes(self, i: int) -> list[int]:
        """Classes whose Grad-CAM the cache holds for image i: the true class, then the top-k predictions."""
        out = [int(self.labels[i])]
        out += [int(c) for c in self.topk_classes[i] if int(c) != out[0]]
        return out

    def cam_for(self, i: int, cls: int) -> np.ndarray | None:
        """Grad-CAM of image i for class cls at the layer's resolution, or None if the cache does not hold it."""
        if cls == int(self.labels[i]):
            return self.cam_true[i]
        hits = np.nonzero(self.topk_classes[i] == cls)[0]
        return self.cam_topk[i, hits[0]] if len(hits) else None


def _str_array(names: list[str] | None) -> np.ndarray:
    return np.array(list(names or []), dtype=np.str_)


def cache_members(cache: RunCache, per_image: bool = True, suspects: bool = True) -> dict[str, np.ndarray]:
    """The members a cache is made of, per-image ones (PER_IMAGE) only if asked."""
    a = cache.analysis
    members: dict[str, np.ndarray] = {
        "schema_version": np.array(SCHEMA_VERSION, dtype=np.int64),
        "meta_json": np.array(json.dumps(cache.meta, sort_keys=True)),
        "class_names": _str_array(cache.class_names),
        "superclass_names": _str_array(cache.superclass_names),
        "class_to_superclass": (
            np.asarray(cache.class_to_superclass, dtype=np.int64)
            if cache.class_to_superclass is not None
            else np.full(cache.num_classes, -1, dtype=np.int64)
        ),
    }
    if per_image:
        members.update({
            "images": np.ascontiguousarray(cache.images, dtype=np.uint8),
            "labels": np.asarray(cache.labels, dtype=np.int64),
            "probs": np.asarray(cache.probs, dtype=np.float32),
            "topk_classes": np.asarray(cache.topk_classes, dtype=np.int64),
            "cam_true": np.asarray(cache.cam_true, dtype=np.float32),
            "cam_topk": np.asarray(cache.cam_topk, dtype=np.float32),
        })
        if cache.masks is not None:
            members["masks"] = np.asarray(cache.masks, dtype=bool)
        if cache.logits is not None:
            members["logits"] = np.asarray(cache.logits, dtype=np.float32)
    members.update({"confusion": a.confusion, "worst_idx": a.worst_idx, "worst_kind": a.worst_kind, "best_idx": a.best_idx})
    if suspects:
        members["suspect_image"], members["suspect_class"] = _ranked_suspects(cache)
    return members


def save_cache(cache: RunCache, path: str | os.PathLike) -> Path:
    """Write atomically: an interrupted write leaves any previous file at `path` as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    members = cache_members(cache)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **members)
    return path


def finish_cache_folder(writer: FolderCacheWriter, cache: RunCache) -> Path:
    """Add the members that are not per image (names, metadata, selections) and publish the folder.
    The label-suspect ranking (an N x C float64 computation) is stored only up to SUSPECTS_MAX_VALUES."""
    small_enough = cache.num_images * cache.num_classes <= SUSPECTS_MAX_VALUES
    for name, array in cache_members(cache, per_image=False, suspects=small_enough).items():
        writer.save(name, array)
    return writer.publish(SCHEMA_VERSION)


def save_cache_folder(cache: RunCache, path: str | os.PathLike) -> Path:
    """A whole in-memory RunCache as a cache folder, atomically (the engine writes large runs incrementally)."""
    with FolderCacheWriter(Path(path), cache.num_images) as writer:
        for name in PER_IMAGE:
            value = getattr(cache, name)
            if value is not None:
                writer.write_rows(name, 0, value)
        return finish_cache_folder(writer, cache)


def resolve_cache_path(path: str | os.PathLike) -> Path:
    """The cache a user means by PATH: a cache file or cache folder as given; an output folder that holds
    one (cache.npz or cache/, the newer if both); or, for a cache.npz that is absent, the cache/ folder a
    large run wrote in its place."""
    p = Path(path)
    if p.is_dir() and not has_manifest(p):
        found = [c for c in (p / "cache.npz", p / FOLDER_NAME) if c.is_file() or has_manifest(c)]
        if found:
            return max(found, key=lambda c: c.stat().st_mtime)
    elif not p.exists() and p.suffix == ".npz" and has_manifest(p.with_suffix("")):
        return p.with_suffix("")
    return p


def _ranked_suspects(cache: RunCache) -> tuple[np.ndarray, np.ndarray]:
    """Label suspects, most likely first: image indices and the class the model suggests instead."""
    from engine.label_suspects import suspect_columns

    sus = suspect_columns(cache.probs.astype(np.float64), cache.labels, cache.class_names)
    return sus["image"].astype(np.int64), sus["suggested_id"].astype(np.int64)


REQUIRED = (
    "schema_version meta_json class_names superclass_names class_to_superclass images labels probs "
    "topk_classes cam_true cam_topk confusion worst_idx worst_kind best_idx"
).split()


def _check(cond: bool, path: Path, what: str) -> None:
    if not cond:
        raise CacheError(f"{path} is not a valid gradcam cache ({what}); {HOW_TO_MAKE}.")


def load_cache(path: str | os.PathLike = DEFAULT_CACHE) -> RunCache:
    """Read and validate a cache file or cache folder; any problem becomes a CacheError with one clear sentence."""
    path = Path(path)
    if not path.exists():
        raise CacheError(f"No cache at {path}; {HOW_TO_MAKE}.")
    if path.is_dir():
        if not has_manifest(path):
            raise CacheError(f"{path} is a folder, not a cache file; {HOW_TO_MAKE}.")
        return _load_folder(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            names = set(npz.files)
            if "schema_version" not in names:
                raise CacheError(f"{path} is not a gradcam cache (no schema version); {HOW_TO_MAKE}.")
            _check_version(int(npz["schema_version"]), path)
            missing = [m for m in REQUIRED if m not in names]
            _check(not missing, path, f"missing {', '.join(missing)}")
            data = {m: npz[m] for m in names}
    except CacheError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, RuntimeError, TypeError) as exc:
        raise CacheError(f"{path} could not be read as a gradcam cache ({type(exc).__name__}); {HOW_TO_MAKE}.")
    return _validated(data, path)


def _check_version(version: int, path: Path) -> None:
    if version != SCHEMA_VERSION:
        newer = version > SCHEMA_VERSION
        raise CacheError(
            f"{path} has cache schema version {version}, but this gradcam-tui reads version "
            f"{SCHEMA_VERSION}; "
            + ("upgrade gradcam-tui to read it." if newer else f"re-create it: {HOW_TO_MAKE}.")
        )


def _load_folder(path: Path) -> RunCache:
    """A cache folder, memory-mapped; checks are bounded (see the module docstring)."""
    try:
        manifest = read_manifest(path)
        version = manifest.get("schema_version")
        _check(isinstance(version, int), path, "no schema version in manifest.json")
        _check_version(version, path)
        data = open_members(path, manifest)
        missing = [m for m in REQUIRED if m not in data]
        _check(not missing, path, f"missing {', '.join(missing)}")
        _check(data["labels"].ndim == 1 and manifest.get("num_images") == data["labels"].shape[0], path,
               "manifest.json's image count disagrees with labels.npy")
    except CacheError:
        raise
    except (OSError, ValueError, EOFError, KeyError, RuntimeError, TypeError, AttributeError) as exc:
        raise CacheError(f"{path} could not be read as a gradcam cache folder ({type(exc).__name__}: {exc}); {HOW_TO_MAKE}.") from None
    return _validated(data, path, verify_selections=False)


def _min_max(a: np.ndarray, rows: int = 1 << 18) -> tuple[int, int]:
    """min and max of an integer array, a block of rows at a time (a memory map is never copied whole)."""
    lo, hi = None, None
    for start in range(0, a.shape[0], rows):
        block = np.asarray(a[start : start + rows])
        lo = int(block.min()) if lo is None else min(lo, int(block.min()))
        hi = int(block.max()) if hi is None else max(hi, int(block.max()))
    return (lo, hi) if lo is not None else (0, 0)


def _validated(d: dict[str, np.ndarray], path: Path, verify_selections: bool = True) -> RunCache:
    """Shapes, dtypes and ranges; with verify_selections (the .npz) also the stored selections recomputed."""
    try:
        meta = json.loads(str(d["meta_json"]))
    except (json.JSONDecodeError, TypeError, ValueError):
        meta = None
    _check(isinstance(meta, dict), path, "metadata is not JSON")
    class_names = [str(s) for s in d["class_names"].tolist()] if d["class_names"].ndim == 1 else []
    c = len(class_names)
    _check(c >= 1, path, "no class names")
    images, labels, probs = d["images"], d["labels"], d["probs"]
    topk, cam_true, cam_topk = d["topk_classes"], d["cam_true"], d["cam_topk"]
    _check(images.dtype == np.uint8 and images.ndim == 4 and images.shape[-1] == 3, path, "images")
    n = images.shape[0]
    _check(labels.shape == (n,) and labels.dtype.kind == "i", path, "labels")
    _check(probs.shape == (n, c) and probs.dtype.kind == "f", path, "probabilities")
    _check(topk.ndim == 2 and topk.shape[0] == n and 1 <= topk.shape[1] <= c and topk.dtype.kind == "i", path, "top-k")
    _check(cam_true.ndim == 3 and cam_true.shape[0] == n and cam_true.dtype.kind == "f", path, "true-class CAMs")
    _check(cam_topk.shape == (n, topk.shape[1], *cam_true.shape[1:]), path, "top-k CAMs")
    if n:
        lo, hi = _min_max(labels)
        _check(lo >= 0 and hi < c, path, "labels out of range")
        lo, hi = _min_max(topk)
        _check(lo >= 0 and hi < c, path, "top-k classes out of range")
    sc_names = [str(s) for s in d["superclass_names"].tolist()] if d["superclass_names"].ndim == 1 else []
    c2s = d["class_to_superclass"]
    _check(c2s.shape == (c,) and c2s.dtype.kind == "i", path, "superclass table")
    if sc_names:
        _check(c2s.min() >= 0 and c2s.max() < len(sc_names), path, "superclass table out of range")
    masks = d.get("masks")
    if masks is not None:
        _check(masks.shape == images.shape[:3] and masks.dtype == bool, path, "masks")
    logits = d.get("logits")
    if logits is not None:
        _check(logits.shape == (n, c) and logits.dtype.kind == "f", path, "logits")
    cache = RunCache(
        images=images,
        labels=labels.astype(np.int64, copy=False),
        probs=probs.astype(np.float32, copy=False),
        topk_classes=topk.astype(np.int64, copy=False),
        cam_true=cam_true.astype(np.float32, copy=False),
        cam_topk=cam_topk.astype(np.float32, copy=False),
        class_names=class_names,
        meta=meta,
        superclass_names=sc_names or None,
        class_to_superclass=c2s.astype(np.int64, copy=False) if sc_names else None,
        masks=masks,
        logits=None if logits is None else logits.astype(np.float32, copy=False),
    )
    if not verify_selections:
        for name, shape in (("confusion", (c, c)), ("worst_idx", None), ("worst_kind", None), ("best_idx", None)):
            _check(d[name].dtype.kind == "i" and (shape is None or d[name].shape == shape) and d[name].shape[0] == c,
                   path, f"stored {name}")
        return cache
    a = cache.analysis
    for name in ("confusion", "worst_idx", "worst_kind", "best_idx"):
        _check(np.array_equal(d[name], getattr(a, name)), path, f"stored {name} disagrees with the predictions")
    if "suspect_image" in d:  # the ranked label-suspect list (optional: caches from before it was stored)
        image, cls = _ranked_suspects(cache)
        _check(np.array_equal(d["suspect_image"], image) and np.array_equal(d.get("suspect_class"), cls), path,
               "stored label suspects disagree with the probabilities")
    return cache
