"""Compare two runs on the same test set (torch-free): per-class accuracy deltas, images fixed and broken,
calibration and attention changes. The "re-train, then re-run to verify" loop as one command.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from engine.cache import RunCache
from engine.errors import UserError
from engine.reports.atomic import write_text


@dataclass(frozen=True)
class Comparison:
    per_class: pd.DataFrame  # class, old/new accuracy, delta, fixed, broken
    images: pd.DataFrame  # every image whose correctness changed: image, class, old/new prediction, status
    summary: dict[str, float]  # overall figures old/new


def _fingerprint(cache: RunCache) -> str:
    return hashlib.sha256(np.ascontiguousarray(cache.images).tobytes()).hexdigest()[:16]


def compare(old: RunCache, new: RunCache) -> Comparison:
    """Both caches must describe the same images with the same labels and classes."""
    if old.num_images != new.num_images or not np.array_equal(old.labels, new.labels):
        raise UserError(
            f"The two caches are not on the same test set ({old.num_images} vs {new.num_images} images, or other labels)."
        )
    if old.class_names != new.class_names:
        raise UserError("The two caches use different class names; compare runs of the same data set.")
    if _fingerprint(old) != _fingerprint(new):
        raise UserError("The two caches hold different images (same labels, other pixels); compare runs of the same data set.")
    labels = old.labels
    ok_old, ok_new = old.preds == labels, new.preds == labels
    fixed, broken = ~ok_old & ok_new, ok_old & ~ok_new
    a_old, a_new = old.analysis.per_class, new.analysis.per_class
    n_cls = old.num_classes
    per_class = pd.DataFrame(
        {
            "class_id": np.arange(n_cls),
            "class_name": old.class_names,
            "superclass": a_old.superclass,
            "support": a_old.support,
            "accuracy_old": a_old.accuracy,
            "accuracy_new": a_new.accuracy,
            "delta": a_new.accuracy - a_old.accuracy,
            "fixed": np.bincount(labels[fixed], minlength=n_cls),
            "broken": np.bincount(labels[broken], minlength=n_cls),
        }
    )
    changed = np.nonzero(fixed | broken)[0]
    images = pd.DataFrame(
        {
            "image": changed,
            "class_name": [old.class_names[c] for c in labels[changed]],
            "status": np.where(fixed[changed], "fixed", "broken"),
            "old_prediction": [old.class_names[c] for c in old.preds[changed]],
            "old_confidence": old.confidence[changed],
            "new_prediction": [new.class_names[c] for c in new.preds[changed]],
            "new_confidence": new.confidence[changed],
        }
    )
    # each run's own diagnostics (computed once per cache, shared with its reports and the TUI)
    cal_old, cal_new = old.diagnostics.calibration, new.diagnostics.calibration
    att_old, att_new = old.diagnostics.attention, new.diagnostics.attention
    summary = {
        "top1_old": old.analysis.top1,
        "top1_new": new.analysis.top1,
        "top5_old": old.analysis.top5,
        "top5_new": new.analysis.top5,
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


def summary_lines(cmp: Comparison, old_name: str, new_name: str, top: int = 10) -> list[str]:
    """compare_summary.txt line by line (the CLI prints each line through engine.console)."""
    s = cmp.summary
    pc = cmp.per_class.sort_values(["delta", "class_id"], kind="mergesort")
    lines = [
        f"Comparison: {old_name} -> {new_name}",
        f"Top-1 accuracy: {s['top1_old'] * 100:.2f}% -> {s['top1_new'] * 100:.2f}% ({(s['top1_new'] - s['top1_old']) * 100:+.2f} points)",
        f"Top-5 accuracy: {s['top5_old'] * 100:.2f}% -> {s['top5_new'] * 100:.2f}%",
        f"Images fixed: {s['fixed']}, broken: {s['broken']} (net {s['fixed'] - s['broken']:+d})",
        f"ECE (15 bins): {s['ece_old']:.4f} -> {s['ece_new']:.4f}; errors at >= 90% confidence: "
        f"{s['high_conf_errors_old']} -> {s['high_conf_errors_new']}",
        f"Grad-CAM on errors, background focus: {s['background_focus_errors_old']:.3f} -> {s['background_focus_errors_new']:.3f}; "
        f"diffuseness (all images): {s['diffuseness_old']:.3f} -> {s['diffuseness_new']:.3f}",
        "",
        "Classes that improved most:",
        *[f"  {r.class_name:<22} {r.accuracy_old * 100:5.1f}% -> {r.accuracy_new * 100:5.1f}% ({r.delta * 100:+.1f}; fixed {r.fixed}, broken {r.broken})"
          for r in pc[::-1].head(top).itertuples()],
        "Classes that got worse most:",
        *[f"  {r.class_name:<22} {r.accuracy_old * 100:5.1f}% -> {r.accuracy_new * 100:5.1f}% ({r.delta * 100:+.1f}; fixed {r.fixed}, broken {r.broken})"
          for r in pc.head(top).itertuples()],
    ]
    return lines


def summary_text(cmp: Comparison, old_name: str, new_name: str, top: int = 10) -> str:
    return "\n".join(summary_lines(cmp, old_name, new_name, top)) + "\n"


def write_comparison(cmp: Comparison, out_dir: Path, old_name: str, new_name: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "compare_per_class.csv": cmp.per_class.to_csv(index=False, float_format="%.6g"),
        "compare_images.csv": cmp.images.to_csv(index=False, float_format="%.6g"),
        "compare_summary.txt": summary_text(cmp, old_name, new_name),
    }
    paths = []
    for name, text in files.items():
        path = out_dir / name
        write_text(path, text)
        paths.append(path)
    return paths
