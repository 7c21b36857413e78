"""per_class_accuracy.csv and most_confused_pairs.csv, straight from the run's metrics."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from engine.analysis.analysed_run import AnalysedRun
from engine.store.atomic import write_text

PER_CLASS_COLUMNS = [
    "class_id",
    "class_name",
    "superclass",
    "support",
    "correct",
    "accuracy",
    "precision",
    "recall",
    "f1",
    "mean_confidence",
    "mean_confidence_correct",
    "mean_confidence_wrong",
    "top_wrong_prediction",
    "top_wrong_count",
]
PAIR_COLUMNS = [
    "rank",
    "true_id",
    "true_name",
    "pred_id",
    "pred_name",
    "count",
    "share_of_true",
    "mean_confidence",
    "same_superclass",
]


def per_class_frame(run: AnalysedRun) -> pd.DataFrame:
    """One row per class; shares in [0, 1]; empty cells where a value is undefined (e.g. no wrong answers)."""
    return run.metrics.per_class.frame[PER_CLASS_COLUMNS].copy()


def pairs_frame(run: AnalysedRun) -> pd.DataFrame:
    """The top-15 confused pairs; same_superclass is empty when the run has no superclasses."""
    df = run.metrics.confused_pairs.frame[PAIR_COLUMNS].copy()
    if run.cache.class_to_superclass is None:
        df["same_superclass"] = ""
    return df


def to_csv_text(df: pd.DataFrame) -> str:
    return df.to_csv(index=False, float_format="%.6f", lineterminator="\n")


def write_per_class_csv(run: AnalysedRun, target: Path) -> Path:
    return write_text(target, to_csv_text(per_class_frame(run)))


def write_pairs_csv(run: AnalysedRun, target: Path) -> Path:
    return write_text(target, to_csv_text(pairs_frame(run)))
