"""per_class_accuracy.csv and most_confused_pairs.csv, straight from the run's metrics; and to_csv_text, which
every CSV the tool writes goes through."""

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


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """A text cell a spreadsheet would run as a formula (`=HYPERLINK(...)`, `+cmd|...`, `@SUM(...)`, and the
    tab and carriage return that hide one) gets a leading `'`, as OWASP recommends: shown as text, never
    run. Numbers, and text that starts otherwise, are unchanged."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value


def to_csv_text(df: pd.DataFrame, float_format: str = "%.6f") -> str:
    """The one way a table becomes a CSV file: class names and other text from the data made
    spreadsheet-safe (spreadsheet_safe), UTF-8 text with '\\n' line endings. A cell holding a carriage
    return or newline is quoted (the csv module quotes only the line terminator's own characters), so a
    name cannot split its row."""
    safe = df.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column].dtype):
            safe[column] = safe[column].map(spreadsheet_safe)
    text = safe.to_csv(index=False, float_format=float_format, lineterminator="\r\n")
    parts = text.split('"')  # the even parts lie outside quoted cells: there "\r\n" ends a row
    parts[0::2] = [part.replace("\r\n", "\n") for part in parts[0::2]]
    return '"'.join(parts)


def write_per_class_csv(run: AnalysedRun, target: Path) -> Path:
    return write_text(target, to_csv_text(per_class_frame(run)))


def write_pairs_csv(run: AnalysedRun, target: Path) -> Path:
    return write_text(target, to_csv_text(pairs_frame(run)))


def faithfulness_frame(run: AnalysedRun) -> pd.DataFrame:
    """One row per class: the sampled images' deletion/insertion AUCs, gap, drop and increase in confidence,
    each with its 95% interval, and the least-faithful rank (0: fewer images than the ranking needs)."""
    return run.faithfulness_per_class.frame.copy()


def write_faithfulness_csv(run: AnalysedRun, target: Path) -> Path:
    return write_text(target, to_csv_text(faithfulness_frame(run)))
