"""From a cache's members to a RunCache, checked: dtypes, shapes that agree with each other, index ranges.

Checks only: nothing is recomputed, so validating costs a scan of the two label arrays (read a block of
rows at a time, so a memory-mapped member is never copied whole). Any problem is one CacheError sentence.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from engine.errors import CacheError
from engine.store.names import unicode_name
from engine.store.run_cache import RunCache
from engine.store.schema import FAITHFULNESS, HOW_TO_MAKE, READABLE_VERSIONS, SCHEMA_VERSION


def check(cond: bool, path: Path, what: str) -> None:
    if not cond:
        raise CacheError(f"{path} is not a valid gradcam cache ({what}); {HOW_TO_MAKE}.")


def check_version(version: object, path: Path) -> None:
    check(isinstance(version, int), path, "no schema version")
    if version not in READABLE_VERSIONS:
        newer = version > SCHEMA_VERSION  # type: ignore[operator]
        raise CacheError(
            f"{path} has cache schema version {version}, but this gradcam-tui reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}; "
            + ("upgrade gradcam-tui to read it." if newer else f"re-create it: {HOW_TO_MAKE}.")
        )


def _min_max(a: np.ndarray, rows: int = 1 << 18) -> tuple[int, int]:
    lo, hi = None, None
    for start in range(0, a.shape[0], rows):
        block = np.asarray(a[start : start + rows])
        if block.size:
            lo = int(block.min()) if lo is None else min(lo, int(block.min()))
            hi = int(block.max()) if hi is None else max(hi, int(block.max()))
    return (lo, hi) if lo is not None else (0, 0)


def _names(member: np.ndarray) -> list[str]:
    return [unicode_name(str(s)) for s in member.tolist()] if member.ndim == 1 else []


def validated(d: dict[str, np.ndarray], path: Path) -> RunCache:
    """The RunCache of members `d` (already checked for presence and version)."""
    try:
        meta = json.loads(str(d["meta_json"]))
    except (json.JSONDecodeError, TypeError, ValueError, RecursionError):
        meta = None
    check(isinstance(meta, dict), path, "metadata is not a JSON object")
    class_names = _names(d["class_names"])
    c = len(class_names)
    check(c >= 1, path, "no class names")
    images, labels, probs = d["images"], d["labels"], d["probs"]
    topk, cam_true, cam_topk = d["topk_classes"], d["cam_true"], d["cam_topk"]
    check(images.dtype == np.uint8 and images.ndim == 4 and images.shape[-1] == 3, path, "images")
    check(0 not in images.shape[1:3], path, "images of no pixels")
    n = images.shape[0]
    check(n > 0, path, "no images")
    check(labels.shape == (n,) and labels.dtype.kind == "i", path, "labels")
    check(probs.shape == (n, c) and probs.dtype.kind == "f", path, "probabilities")
    check(topk.ndim == 2 and topk.shape[0] == n and 1 <= topk.shape[1] <= c and topk.dtype.kind == "i", path, "top-k")
    check(cam_true.ndim == 3 and cam_true.shape[0] == n and cam_true.dtype.kind == "f", path, "true-class CAMs")
    check(0 not in cam_true.shape[1:], path, "CAMs of no cells")
    check(cam_topk.shape == (n, topk.shape[1], *cam_true.shape[1:]), path, "top-k CAMs")
    lo, hi = _min_max(labels)
    check(lo >= 0 and hi < c, path, "labels out of range")
    lo, hi = _min_max(topk)
    check(lo >= 0 and hi < c, path, "top-k classes out of range")
    sc_names = _names(d["superclass_names"])
    c2s = d["class_to_superclass"]
    check(c2s.shape == (c,) and c2s.dtype.kind == "i", path, "superclass table")
    if sc_names:
        check(c2s.min() >= 0 and c2s.max() < len(sc_names), path, "superclass table out of range")
    masks = d.get("masks")
    if masks is not None:
        check(masks.shape == images.shape[:3] and masks.dtype == bool, path, "masks")
    logits = d.get("logits")
    if logits is not None:
        check(logits.shape == (n, c) and logits.dtype.kind == "f", path, "logits")
    contrast = d.get("cam_contrast")
    if contrast is not None:
        check(contrast.shape == cam_true.shape and contrast.dtype.kind == "f", path, "contrastive CAMs")
    extra = _any_class_members(d, n, c, cam_true.shape[1:], path)
    probs_plain = d.get("probs_plain")
    if probs_plain is not None:
        check(probs_plain.shape == (n, c) and probs_plain.dtype.kind == "f", path, "plain-view probabilities")
    faith = {name: d.get(name) for name in FAITHFULNESS}
    curves = [faith[k] for k in ("faith_deletion", "faith_insertion") if faith[k] is not None]
    for curve in curves:
        check(curve.ndim == 2 and curve.shape[0] == n and curve.shape[1] >= 2 and curve.dtype.kind == "f", path,
              "faithfulness curves")
    check(len(curves) in (0, 2) and (not curves or curves[0].shape == curves[1].shape), path, "faithfulness curves")
    for k in ("faith_masked", "sanity_randomised_corr"):
        check(faith[k] is None or (faith[k].shape == (n,) and faith[k].dtype.kind == "f"), path, k)
    check((faith["faith_masked"] is None) == (not curves), path, "faithfulness members")
    return RunCache(
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
        cam_contrast=None if contrast is None else contrast.astype(np.float32, copy=False),
        **extra,
        probs_plain=None if probs_plain is None else probs_plain.astype(np.float32, copy=False),
        **{k: None if v is None else v.astype(np.float32, copy=False) for k, v in faith.items()},
    )


def _any_class_members(d: dict[str, np.ndarray], n: int, c: int, grid: tuple[int, ...], path: Path) -> dict:
    """The optional members of similar images and any class's map, checked against each other: features
    (N, k); the layer's activations (N, k, h, w) with the head's weights (C, k), never one without the other;
    every class's map (N, C, h, w)."""
    features, act, head, every = (d.get(m) for m in ("features", "cam_activations", "head_weights", "cam_all"))
    if features is not None:
        check(features.ndim == 2 and features.shape[0] == n and features.shape[1] >= 1 and features.dtype.kind == "f",
              path, "features")
    check((act is None) == (head is None), path, "layer activations without the head's weights, or the reverse")
    if act is not None:
        k = act.shape[1] if act.ndim == 4 else -1
        check(act.ndim == 4 and act.shape[0] == n and k >= 1 and tuple(act.shape[2:]) == tuple(grid)
              and act.dtype.kind == "f", path, "layer activations")
        check(head.shape == (c, k) and head.dtype.kind == "f", path, "head weights")
        check(features is None or features.shape[1] == k, path, "features and activations of different widths")
    scale = d.get("cam_all_scale")
    if every is not None:
        check(every.shape == (n, c, *grid) and every.dtype.kind == "f", path, "every class's CAMs")
    check(scale is None or (every is not None and scale.shape == (n,) and scale.dtype.kind == "f"), path,
          "the scale of every class's CAMs")
    return {"features": features, "cam_activations": act, "cam_all": every,
            "cam_all_scale": None if scale is None else np.asarray(scale, dtype=np.float32),
            "head_weights": None if head is None else np.asarray(head, dtype=np.float32)}
