"""The report files of a run (PNG, CSV, HTML, TXT), written from the cache alone (torch-free).

    write_reports(cache, out_dir)            every file, in parallel, with a progress bar
    write_class_figure(cache, class_id, d)   class_{id:03d}_{name}.png
    write_pair_figure(cache, rank, d)        confused_pair_{rank}_{true}_to_{pred}.png (rank 1-based)
    safe_filename(name)                      the file-name fragment used for class names

One module per file type: confusion (matrix PNG), tables (CSVs), html (interactive page), pairs_chart,
diagnosis (reliability diagram, superclass confusion, label-suspect and attention CSVs),
figures_class, figures_pairs, summary; the figures are composed by sheet (one image, Pillow text) from
panels (engine.cam_display colours); filenames and atomic keep every write inside out_dir and all-or-nothing.

The four names are imported on first use, so `import engine.reports.panels` (the TUI) stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

__all__ = ["write_reports", "write_class_figure", "write_pair_figure", "safe_filename"]
_HOME = {
    "write_reports": "engine.reports.writer",
    "write_class_figure": "engine.reports.figures_class",
    "write_pair_figure": "engine.reports.figures_pairs",
    "safe_filename": "engine.reports.filenames",
}

if TYPE_CHECKING:  # pragma: no cover
    from engine.reports.figures_class import write_class_figure
    from engine.reports.figures_pairs import write_pair_figure
    from engine.reports.filenames import safe_filename
    from engine.reports.writer import write_reports


def __getattr__(name: str):
    if name in _HOME:
        value = getattr(import_module(_HOME[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'engine.reports' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
