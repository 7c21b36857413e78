"""Two runs on the same test set: per-class accuracy deltas, images fixed and broken, calibration and
attention changes. The "re-train, then re-run to verify" loop as numbers (engine.reports words them).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from engine.analysis.analysed_run import AnalysedRun
from engine.analysis.tables import Table
from engine.errors import UserError
from engine.store import RunCache


@dataclass(frozen=True)
class Comparison:
    per_class: Table  # class, old/new accuracy, delta, fixed, broken
    images: Table  # every image whose correctness changed: image, class, old/new prediction, status
    summary: dict[str, float]  # overall figures old/new


def _fingerprint(cache: RunCache) -> str:
    return hashlib.sha256(np.ascontiguousarray(cache.images).tobytes()).hexdigest()[:16]


def not_comparable(old: RunCache, new: RunCache) -> str | None:
    """Why two caches are not runs on one test set, from the cheap checks (image count, labels, class
    names), or None."""
    if old.num_images != new.num_images or not np.array_equal(old.labels, new.labels):
        if old.num_images != new.num_images:
            return (f"The two caches are not on the same test set ({old.num_images} vs {new.num_images} images); "
                    "compare two runs of the same data set.")
        return "The two caches are not on the same test set (other labels); compare two runs of the same data set."
    if list(old.class_names) != list(new.class_names):
        return "The two caches use different class names; compare runs of the same data set."
    return None


def check_same_test_set(old: RunCache, new: RunCache) -> None:
    """Refuse (one sentence) two caches that are not runs on the same images with the same labels and classes."""
    why = not_comparable(old, new)
    if why:
        raise UserError(why)
    if _fingerprint(old) != _fingerprint(new):
        raise UserError("The two caches hold different images (same labels, other pixels); compare runs of the same data set.")


def compare(old_run: AnalysedRun, new_run: AnalysedRun) -> Comparison:
    """Both runs must describe the same images with the same labels and classes."""
    old, new = old_run.cache, new_run.cache
    check_same_test_set(old, new)
    labels = old.labels
    ok_old, ok_new = old.preds == labels, new.preds == labels
    fixed, broken = ~ok_old & ok_new, ok_old & ~ok_new
    a_old, a_new = old_run.metrics.per_class, new_run.metrics.per_class
    n_cls = old.num_classes
    per_class = Table(
        {
            "class_id": np.arange(n_cls),
            "class_name": list(old.class_names),
            "superclass": a_old["superclass"],
            "support": a_old["support"],
            "accuracy_old": a_old["accuracy"],
            "accuracy_new": a_new["accuracy"],
            "delta": a_new["accuracy"] - a_old["accuracy"],
            "fixed": np.bincount(labels[fixed], minlength=n_cls),
            "broken": np.bincount(labels[broken], minlength=n_cls),
        }
    )
    changed = np.nonzero(fixed | broken)[0]
    images = Table(
        {
            "image": changed,
            "class_name": [old.class_names[c] for c in labels[changed]],
            "status": np.where(fixed[changed], "fixed", "broken").tolist(),
            "old_prediction": [old.class_names[c] for c in old.preds[changed]],
            "old_confidence": old.confidence[changed],
            "new_prediction": [new.class_names[c] for c in new.preds[changed]],
            "new_confidence": new.confidence[changed],
        }
    )
    # each run's own analyses (computed once per run, shared with its reports and the TUI)
    cal_old, cal_new = old_run.calibration, new_run.calibration
    att_old, att_new = old_run.attention, new_run.attention
    summary = {
        "top1_old": old_run.metrics.top1,
        "top1_new": new_run.metrics.top1,
        "top5_old": old_run.metrics.top5,
        "top5_new": new_run.metrics.top5,
        "fixed": int(fixed.sum()),
        "broken": int(broken.sum()),
        "ece_old": cal_old.ece,
        "ece_new": cal_new.ece,
        "high_conf_errors_old": len(cal_old.high_conf_errors),
        "high_conf_errors_new": len(cal_new.high_conf_errors),
        "background_focus_errors_old": float(att_old.background_focus[~ok_old].mean()) if (~ok_old).any() else float("nan"),
        "background_focus_errors_new": float(att_new.background_focus[~ok_new].mean()) if (~ok_new).any() else float("nan"),
        "diffuseness_old": float(att_old.diffuseness.mean()),
        "diffuseness_new": float(att_new.diffuseness.mean()),
    }
    return Comparison(per_class, images, summary)
