"""Everything issue-6 diagnosis needs, computed once from a cache (torch-free): calibration, attention
figures per image / class / confused pair, label suspects and the superclass (coarse) confusion matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine import attention
from engine.calibration import Calibration, calibrate
from engine.label_suspects import label_suspects


@dataclass(frozen=True)
class Diagnostics:
    calibration: Calibration
    attention: attention.Attention
    attention_per_class: pd.DataFrame
    attention_per_pair: pd.DataFrame
    suspects: pd.DataFrame
    coarse_confusion: np.ndarray | None  # (S, S) rows true superclass, columns predicted superclass


def logits_of(cache) -> np.ndarray:
    """The cache's logits, or log-probabilities (equal up to a per-image constant) for older caches."""
    if cache.logits is not None:
        return cache.logits
    return np.log(np.clip(cache.probs.astype(np.float64), 1e-30, 1.0))


def coarse_confusion(labels: np.ndarray, preds: np.ndarray, class_to_superclass: np.ndarray, n_super: int) -> np.ndarray:
    flat = class_to_superclass[labels] * n_super + class_to_superclass[preds]
    return np.bincount(flat, minlength=n_super * n_super).reshape(n_super, n_super)


def diagnose(cache) -> Diagnostics:
    labels, preds = cache.labels, cache.preds
    correct = labels == preds
    att = attention.measure(cache.cam_topk[:, 0], cache.cam_true, correct, tuple(cache.images.shape[1:3]), cache.masks)
    coarse = None
    if cache.superclass_names is not None and cache.class_to_superclass is not None:
        coarse = coarse_confusion(labels, preds, cache.class_to_superclass, len(cache.superclass_names))
    return Diagnostics(
        calibration=calibrate(logits_of(cache), labels),
        attention=att,
        attention_per_class=attention.per_class(att, labels, preds, cache.class_names),
        attention_per_pair=attention.per_pair(att, labels, preds, cache.analysis.confused_pairs),
        suspects=label_suspects(cache.probs.astype(np.float64), labels, cache.class_names),
        coarse_confusion=coarse,
    )
