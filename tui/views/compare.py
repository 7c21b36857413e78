"""Compare: the run on show (NEW) against an earlier run (OLD) on the same test set, from engine.compare.

A summary of the overall figures (top-1, images fixed/broken, ECE, high-confidence errors, Grad-CAM focus)
and a table of per-class accuracy deltas, worst regression first; `s`/`r` change the sort like the Classes
view, Enter opens the class in the Class view of the new run. compare() takes a few seconds on 10,000
images (calibration and attention of both caches), so it runs in a thread behind a loading indicator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.reactive import reactive
from textual.widgets import LoadingIndicator, Static

from engine.cache import RunCache
from engine.console import visible
from tui.model import pct
from tui.views.class_table import SortableClassTable

if TYPE_CHECKING:  # annotations only: pandas is imported when a table is built, not at start-up
    import pandas as pd

# (header, frame column used for sorting)
COLUMNS = [
    ("class", "class_name"),
    ("superclass", "superclass"),
    ("old acc", "accuracy_old"),
    ("new acc", "accuracy_new"),
    ("delta", "delta"),
    ("fixed", "fixed"),
    ("broken", "broken"),
]
DELTA_COLUMN = 4


def _arrow(old: float, new: float, fmt: str) -> str:
    return f"{format(old, fmt)} → {format(new, fmt)}"


def summary_lines(summary: dict, old_name: str, new_name: str) -> list[str]:
    """The Comparison.summary figures, worded (plain text)."""
    s = summary
    d = (s["top1_new"] - s["top1_old"]) * 100
    net = s["fixed"] - s["broken"]
    return [
        f"{old_name} → {new_name}",
        f"Top-1  {pct(s['top1_old'])} → {pct(s['top1_new'])} ({d:+.1f} points)",
        f"Images fixed {s['fixed']} · broken {s['broken']} (net {net:+d})",
        f"ECE  {_arrow(s['ece_old'], s['ece_new'], '.4f')} · errors at ≥90% confidence "
        f"{s['high_conf_errors_old']} → {s['high_conf_errors_new']}",
        f"Grad-CAM background focus on errors {_arrow(s['background_focus_errors_old'], s['background_focus_errors_new'], '.3f')}"
        f" · diffuseness {_arrow(s['diffuseness_old'], s['diffuseness_new'], '.3f')}",
    ]


class CompareView(SortableClassTable):
    """Summary on top, the per-class delta table below, a status line saying how it is sorted."""

    COLUMNS = COLUMNS
    TABLE_ID = "compare-table"

    DEFAULT_CSS = """
    CompareView > LoadingIndicator {
        height: 3;
    }
    CompareView > #compare-summary {
        height: auto;
        padding: 0 1;
    }
    CompareView > DataTable {
        height: 1fr;
    }
    CompareView > .caption {
        height: 1;
        padding: 0 1;
        color: $text-muted;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    sort_column: reactive[int] = reactive(DELTA_COLUMN)

    def __init__(self, old: RunCache, new: RunCache, old_name: str = "old", new_name: str = "new", **kwargs) -> None:
        super().__init__(**kwargs)
        self.old, self.new = old, new
        self.old_name, self.new_name = old_name, new_name
        self.comparison = None  # engine.compare.Comparison, once computed
        self.frame: pd.DataFrame | None = None

    def compose(self) -> ComposeResult:
        yield Static("Comparing the two runs (calibration, attention of both)…", id="compare-status", classes="caption")
        yield LoadingIndicator()
        yield Static(id="compare-summary")
        table = self.make_table()
        table.display = False
        yield table
        yield Static(id="compare-sort", classes="caption")

    def on_mount(self) -> None:
        self._compute()

    @work(thread=True, exclusive=True, group="compare")
    def _compute(self) -> None:
        from engine.compare import compare
        from engine.errors import UserError

        try:
            cmp = compare(self.old, self.new)
        except UserError as exc:
            self.app.call_from_thread(self._failed, visible(exc))
            return
        except Exception as exc:  # a bug there must not take the browser down
            self.app.call_from_thread(self._failed, visible(f"Could not compare the runs: {type(exc).__name__}: {exc}"))
            return
        self.app.call_from_thread(self._fill, cmp)

    def _failed(self, text: str) -> None:
        self.query_one(LoadingIndicator).remove()
        self.query_one("#compare-status", Static).update(Text(text))  # paths and names are never markup

    def _fill(self, cmp) -> None:
        self.comparison = cmp
        self.frame = cmp.per_class
        self.query_one(LoadingIndicator).remove()
        lines = summary_lines(cmp.summary, self.old_name, self.new_name)
        self.query_one("#compare-status", Static).update(Text(lines[0]))  # paths: never markup
        self.query_one("#compare-summary", Static).update(Text("\n".join(lines[1:])))
        self.table.display = True
        self.refill()
        if getattr(self.app, "active_view", None) == "compare":  # still on this tab: the table takes the keys
            self.table.focus()

    def row_cells(self, r) -> list[str]:
        superclass = r.superclass if isinstance(r.superclass, str) else ""
        return [r.class_name, superclass, pct(r.accuracy_old), pct(r.accuracy_new), f"{r.delta * 100:+.1f}",
                str(r.fixed), str(r.broken)]

    def update_status(self, shown: pd.DataFrame, arrow: str) -> None:
        self.query_one("#compare-sort", Static).update(Text(
            f"{len(shown)} classes · sorted by {COLUMNS[self.sort_column][0]} {arrow} · "
            "s sort · r reverse · Enter open in the new run"
        ))
