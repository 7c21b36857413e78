"""Compare: the run on show (NEW) against an earlier run (OLD) on the same test set, from
engine.analysis.compare.

A summary of the overall figures (top-1, images fixed/broken, ECE, high-confidence errors, Grad-CAM focus)
and a table of per-class accuracy deltas, worst regression first; `s`/`r` change the sort like the Classes
view, Enter opens the class in the Class view of the new run. compare() takes a few seconds on 10,000
images (calibration and attention of both runs), so it runs in a thread the first time the tab is shown,
behind a loading indicator. Only a session started with two caches has this view.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.reactive import var
from textual.widgets import LoadingIndicator

from engine.console import visible
from engine.figures.numbers import pct
from tui.views.base import Runs
from tui.views.class_table import SortableClassTable
from tui.widgets.caption import Caption

if TYPE_CHECKING:  # annotations only: pandas is imported when a table is built, not at start-up
    import pandas as pd

    from engine.analysis.compare import Comparison

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
COMPARING = "Comparing the two runs (calibration, attention of both)…"


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

    KEY, TAB, TITLE = "9", "compare", "Compare"
    HELP = [
        ("s  r", "cycle the sort column · reverse it (or click a header)"),
        ("↑ ↓  Enter", "move · open the class in the Class view of the new run"),
    ]
    ABSENT = "Start with two caches (gradcam-tui OLD NEW) to compare runs."
    COLUMNS = COLUMNS
    TABLE_ID = "compare-table"
    STATUS_ID = "compare-sort"

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

    sort_column: var[int] = var(DELTA_COLUMN, init=False)
    comparison: var[Comparison | None] = var(None, init=False)
    heading: var[Text] = var(lambda: Text(COMPARING))  # the runs compared, or why they could not be
    summary: var[Text] = var(Text)
    asked = False  # whether the comparison has been asked for (activate() asks once)

    @classmethod
    def available(cls, runs: Runs) -> bool:
        return runs.old is not None

    def compose(self) -> ComposeResult:
        yield Caption(id="compare-status", classes="caption").data_bind(text=CompareView.heading)
        yield LoadingIndicator()
        yield Caption(id="compare-summary", reflow=True).data_bind(text=CompareView.summary)
        table = self.make_table()
        table.display = False
        yield table
        yield self.make_status(classes="caption")

    def activate(self) -> None:
        if not self.asked:
            self.asked = True
            self._compute()

    @work(thread=True, exclusive=True, group="compare")
    def _compute(self) -> None:
        from engine.analysis.compare import compare
        from engine.errors import UserError

        try:
            cmp = compare(self.runs.old, self.run)
        except UserError as exc:
            self.app.call_from_thread(self._failed, visible(exc))
            return
        except Exception as exc:  # a bug there must not take the browser down
            self.app.call_from_thread(self._failed, visible(f"Could not compare the runs: {type(exc).__name__}: {exc}"))
            return
        cmp.per_class.frame  # noqa: B018 - pandas' DataFrame built here, off the UI thread
        self.app.call_from_thread(setattr, self, "comparison", cmp)

    def _failed(self, text: str) -> None:
        self.query_one(LoadingIndicator).remove()
        self.heading = Text(text)  # paths and names are never markup

    def watch_comparison(self, cmp: Comparison) -> None:
        self.frame = cmp.per_class.frame
        self.query_one(LoadingIndicator).remove()
        lines = summary_lines(cmp.summary, self.runs.old_name, self.runs.run_name)
        self.heading = Text(lines[0])
        self.summary = Text("\n".join(lines[1:]))
        self.table.display = True
        self.refill()
        if self.shown:  # still on this tab: the table takes the keys
            self.table.focus()

    def row_cells(self, r) -> list[str]:
        superclass = r.superclass if isinstance(r.superclass, str) else ""
        return [r.class_name, superclass, pct(r.accuracy_old), pct(r.accuracy_new), f"{r.delta * 100:+.1f}",
                str(r.fixed), str(r.broken)]

    def status_text(self, shown: pd.DataFrame, arrow: str) -> Text:
        return Text(f"{len(shown)} classes · sorted by {COLUMNS[self.sort_column][0]} {arrow} · "
                    "s sort · r reverse · Enter open in the new run")
