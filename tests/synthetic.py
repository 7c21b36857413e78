"""A small, fully synthetic RunCache built with numpy alone, for tests of everything after the cache."""

from __future__ import annotations

import dataclasses

import numpy as np

from engine.store import RunCache


def synthetic_cache(n_per_class: int = 12, num_classes: int = 8, k: int = 5, seed: int = 0,
                    contrast: bool = True) -> RunCache:
    """Images are coloured squares; predictions are right ~70% of the time, with class 1 often read as 0.
    contrast=False: a cache from before the contrastive maps were stored (no cam_contrast)."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(num_classes), n_per_class)
    n = len(labels)
    logits = rng.normal(0, 1, (n, num_classes))
    logits[np.arange(n), labels] += 2.5
    confuse = (labels == 1) & (rng.random(n) < 0.5)
    logits[confuse, 0] += 4.0
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs = (probs / probs.sum(1, keepdims=True)).astype(np.float32)
    topk = np.argsort(-probs, axis=1, kind="stable")[:, : min(k, num_classes)]
    images = np.zeros((n, 32, 32, 3), dtype=np.uint8)
    images[:] = rng.integers(0, 80, (n, 1, 1, 3), dtype=np.uint8)
    masks = np.zeros((n, 32, 32), dtype=bool)
    cams_t = np.zeros((n, 8, 8), dtype=np.float32)
    cams_k = rng.random((n, topk.shape[1], 8, 8)).astype(np.float32)
    for i, c in enumerate(labels):
        y, x = 4 + (c % 4) * 4, 4 + (c // 4) * 8
        images[i, y : y + 10, x : x + 10] = (200, 40 + 20 * c, 90)
        masks[i, y : y + 10, x : x + 10] = True
        cams_t[i, y // 4 : y // 4 + 3, x // 4 : x // 4 + 3] = 1.0 + rng.random()
    wrong = topk[:, 0] != labels
    cams_c = np.where(wrong[:, None, None], np.maximum(cams_k[:, 0] - cams_t, 0.0), 0.0).astype(np.float32)
    names = [f"class_{c}" if c != 3 else "odd/na me<b>" for c in range(num_classes)]
    supers = ["group_a", "group_b"]
    c2s = (np.arange(num_classes) >= num_classes // 2).astype(np.int64)
    meta = {
        "tool_version": "test",
        "model": {"arch": "synthetic", "checkpoint": "none", "checkpoint_sha256": ""},
        "data": {"source": "synthetic", "num_images": n},
        "normalisation": {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
        "target_layer": "layer3",
        "cam_method": "gradcam",
        "device": "cpu",
        "timings": {},
    }
    return RunCache(
        images=images,
        labels=labels.astype(np.int64),
        probs=probs,
        topk_classes=topk.astype(np.int64),
        cam_true=cams_t,
        cam_topk=cams_k,
        class_names=names,
        meta=meta,
        superclass_names=supers,
        class_to_superclass=c2s,
        masks=masks,
        logits=logits.astype(np.float32),
        cam_contrast=cams_c if contrast else None,
    )


def with_logits(cache: RunCache, logits: np.ndarray) -> RunCache:
    """The same images and maps scored by another model: probabilities and top-k follow (every analysis is
    computed from them); the contrastive maps, which belong to the old predictions, are dropped."""
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs = (probs / probs.sum(1, keepdims=True)).astype(np.float32)
    topk = np.argsort(-probs, 1, kind="stable")[:, : cache.topk_classes.shape[1]]
    return dataclasses.replace(cache, logits=logits, probs=probs, topk_classes=topk.astype(np.int64), cam_contrast=None)


def cured_copy(cache: RunCache) -> tuple[RunCache, int]:
    """A later run on the same test set with class 1's confusion with class 0 mostly cured; and how many
    images it fixes."""
    logits = cache.logits.copy()
    fix = (cache.labels == 1) & (cache.preds == 0)
    fix[np.nonzero(fix)[0][::2]] = False
    logits[fix, 1] += 10
    return with_logits(cache, logits), int(fix.sum())


def random_image_folder(root, classes: tuple[str, ...], per_class: int, hw: tuple[int, int], seed: int = 0) -> None:
    """An ImageFolder of random RGB PNGs: root/<class>/<NN>.png, per_class images of height x width hw."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (*hw, 3), dtype=np.uint8)).save(root / c / f"{i:02d}.png")


def temporaries(names) -> list[str]:
    """The hidden names among `names` (a folder, or names in one) other than the folder's record of the
    files the tool wrote: temporary files or folders that an interrupted or refused write left behind."""
    from pathlib import Path

    from engine.store.written_files import MANIFEST_NAME

    if isinstance(names, Path):
        names = [p.name for p in names.iterdir()]
    return sorted(n for n in names if n.startswith(".") and n != MANIFEST_NAME)


def with_probs(cache: RunCache, probs: np.ndarray) -> RunCache:
    """The same images and maps with other predictions (`probs` renormalised; the logits dropped, so the
    calibration is measured from these probabilities; the contrastive maps of the old predictions dropped)."""
    probs = (probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)
    topk = np.argsort(-probs, axis=1, kind="stable")[:, : cache.topk_classes.shape[1]]
    return dataclasses.replace(cache, probs=probs, topk_classes=topk.astype(np.int64), logits=None, cam_contrast=None)


def subset(cache: RunCache, keep: np.ndarray) -> RunCache:
    """The cache of the images selected by the boolean mask `keep` (names and metadata unchanged)."""
    from engine.store.schema import PER_IMAGE

    per_image = PER_IMAGE
    return dataclasses.replace(
        cache, **{name: None if getattr(cache, name) is None else getattr(cache, name)[keep] for name in per_image}
    )


def with_any_class(cache: RunCache, kind: str = "activations", channels: int = 32, twins: tuple[int, int] = (3, 50),
                   seed: int = 3) -> RunCache:
    """The cache with what a linear-head run stores beside it: pooled features (N, k) in which image
    twins[1] is a copy of twins[0], and any class's maps as the layer's activations with the head's weights
    (kind "activations") or every class's map ("maps")."""
    rng = np.random.default_rng(seed)
    n, c = cache.num_images, cache.num_classes
    h, w = cache.cam_true.shape[1:]
    act = rng.random((n, channels, h, w)).astype(np.float32)
    act[twins[1]] = act[twins[0]]
    extra = {"features": act.mean(axis=(2, 3)).astype(np.float16)}
    if kind == "activations":
        extra |= {"cam_activations": act.astype(np.float16),
                  "head_weights": rng.normal(size=(c, channels)).astype(np.float32)}
    else:
        extra["cam_all"] = rng.random((n, c, h, w)).astype(np.float16)
        extra["cam_all_scale"] = rng.uniform(0.5, 2.0, n).astype(np.float32)
    return dataclasses.replace(cache, **extra, meta={**cache.meta, "cam_path": "linear-head"})
