"""Names of the report files, and a safe file-name fragment for any class name.

Class names come from data sets and checkpoints we do not control ("a/b", "..", "<script>", unicode), so
every name that reaches the file system goes through `safe_filename`, and `inside` checks the result.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import Path

CONFUSION_MATRIX = "confusion_matrix_full.png"
PER_CLASS_CSV = "per_class_accuracy.csv"
PER_CLASS_HTML = "per_class_accuracy_interactive.html"
PAIRS_CSV = "most_confused_pairs.csv"
PAIRS_CHART = "top_confused_pairs.png"
SUMMARY_TXT = "analysis_summary.txt"
RECOMMENDATIONS_TXT = "recommendations.txt"
RELIABILITY_DIAGRAM = "reliability_diagram.png"
SUPERCLASS_CONFUSION = "superclass_confusion.png"
SUSPECTS_CSV = "label_suspects.csv"
ATTENTION_CSV = "attention_per_class.csv"
ATTENTION_FLAGS_CSV = "attention_flags.csv"
HIGH_CONFIDENCE_ERRORS_CSV = "high_confidence_errors.csv"
NEAR_DUPLICATES_CSV = "near_duplicates.csv"
FAITHFULNESS_CSV = "faithfulness_by_class.csv"

MAX_FRAGMENT = 60
FIXED_NAMES = frozenset({
    CONFUSION_MATRIX, PER_CLASS_CSV, PER_CLASS_HTML, PAIRS_CSV, PAIRS_CHART, SUMMARY_TXT, RECOMMENDATIONS_TXT,
    RELIABILITY_DIAGRAM, SUPERCLASS_CONFUSION, SUSPECTS_CSV, ATTENTION_CSV, ATTENTION_FLAGS_CSV,
    HIGH_CONFIDENCE_ERRORS_CSV, NEAR_DUPLICATES_CSV,
    HIGH_CONFIDENCE_ERRORS_CSV, FAITHFULNESS_CSV,
})
# the names class_figure_name and pair_figure_name produce
_FIGURE_NAME = re.compile(r"^(class_[0-9]{3,}_[A-Za-z0-9_-]+|confused_pair_[0-9]+_[A-Za-z0-9_-]+_to_[A-Za-z0-9_-]+)\.png$")

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def safe_filename(name: str) -> str:
    """A fragment of [A-Za-z0-9_-] only: accents folded to ASCII, everything else (/, .., spaces, <, >, ...)
    turned into single underscores, at most 60 characters. A name with nothing usable left (e.g. all CJK)
    becomes "u" + 8 hex digits of its SHA-1, so different names still get different fragments."""
    text = unicodedata.normalize("NFKD", str(name))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = _UNSAFE.sub("_", text).strip("_-")
    text = re.sub(r"_{2,}", "_", text)[:MAX_FRAGMENT].strip("_-")
    if not text:
        text = "u" + hashlib.sha1(str(name).encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return text


def class_figure_name(class_id: int, class_name: str) -> str:
    return f"class_{class_id:03d}_{safe_filename(class_name)}.png"


def pair_figure_name(rank: int, true_name: str, pred_name: str) -> str:
    return f"confused_pair_{rank}_{safe_filename(true_name)}_to_{safe_filename(pred_name)}.png"


def is_report_name(name: str) -> bool:
    """A name write_reports gives a file (the tool removes such a file as stale only where it wrote it)."""
    return name in FIXED_NAMES or bool(_FIGURE_NAME.match(name))


def inside(out_dir: Path, file_name: str) -> Path:
    """out_dir / file_name, refusing a name that is not a plain file name (defence in depth). The name itself
    is not resolved: a symbolic link the user left at a report file's name is replaced by the file, like any
    earlier version of it (atomic writes rename over the link), and whatever it points to is never written."""
    out = Path(out_dir).resolve()
    if file_name in ("", ".", "..") or Path(file_name).name != file_name or "\\" in file_name:
        raise ValueError(f"refusing to write {file_name!r} outside {out}")
    return out / file_name
