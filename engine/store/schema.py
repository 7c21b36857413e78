"""The cache contract's member table: what a cache holds, under which names, in which dtypes.

A cache (one .npz, or a folder of .npy files with the same members) holds what the run measured and
nothing derived from it: the confusion matrix, the worst/best selections, calibration, attention and label
suspects are computed from these members by engine.analysis whenever they are needed, so a cache cannot
disagree with itself and loading it costs reading it.

Version 2 dropped the derived members of version 1 (confusion, worst_idx, worst_kind, best_idx,
suspect_image, suspect_class); a version-1 cache is still read, its derived members are ignored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from engine.store.run_cache import RunCache

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
HOW_TO_MAKE = "run `gradcam-batch run ...` (or `gradcam-batch demo`) to create one"


@dataclass(frozen=True)
class Member:
    name: str
    dtype: str  # numpy dtype it is stored as
    per_image: bool  # first axis is the image
    required: bool = True


MEMBERS = (
    Member("schema_version", "int64", False),
    Member("meta_json", "str", False),
    Member("class_names", "str", False),
    Member("superclass_names", "str", False),
    Member("class_to_superclass", "int64", False),
    Member("images", "uint8", True),
    Member("labels", "int64", True),
    Member("probs", "float32", True),
    Member("topk_classes", "int64", True),
    Member("cam_true", "float32", True),
    Member("cam_topk", "float32", True),
    Member("masks", "bool", True, required=False),
    Member("logits", "float32", True, required=False),
    Member("cam_contrast", "float32", True, required=False),
    Member("features", "float16", True, required=False),
    Member("cam_activations", "float16", True, required=False),
    Member("cam_all", "float16", True, required=False),
    Member("cam_all_scale", "float32", True, required=False),
    Member("head_weights", "float32", False, required=False),
    Member("probs_plain", "float32", True, required=False),  # the original view's, when probs average views
    # --faithfulness (engine.gradcam.faithfulness): NaN rows for images outside the sample
    Member("faith_deletion", "float32", True, required=False),
    Member("faith_insertion", "float32", True, required=False),
    Member("faith_masked", "float32", True, required=False),
    Member("sanity_randomised_corr", "float32", True, required=False),
)
BY_NAME = {m.name: m for m in MEMBERS}
FAITHFULNESS = ("faith_deletion", "faith_insertion", "faith_masked", "sanity_randomised_corr")  # --faithfulness only
PER_IMAGE = tuple(m.name for m in MEMBERS if m.per_image)
REQUIRED = tuple(m.name for m in MEMBERS if m.required)


def _str_array(names: list[str] | None) -> np.ndarray:
    return np.array(list(names or []), dtype=np.str_)


def header_members(cache: RunCache) -> dict[str, np.ndarray]:
    """The members that are not per image: version, metadata, names and the superclass table (and the
    linear head's weights, where the any-class maps are stored as the layer's activations)."""
    out = {
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
    if cache.head_weights is not None:
        out["head_weights"] = np.asarray(cache.head_weights, dtype=np.float32)
    return out


def per_image_members(cache: RunCache) -> dict[str, np.ndarray]:
    """The per-image members present in the cache, in their stored dtypes."""
    out = {}
    for name in PER_IMAGE:
        value = getattr(cache, name)
        if value is not None:
            out[name] = np.asarray(value, dtype=BY_NAME[name].dtype)
    out["images"] = np.ascontiguousarray(out["images"])
    return out
