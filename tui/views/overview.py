"""Overview: what was run, how well it did, and where to look first (worst classes, top confusions,
the spread of per-class accuracy, superclasses). Every row that names a class, a pair or a superclass opens
it (Enter). Everything is a few aligned texts over the metrics' numpy columns: the first screen never waits
for pandas to import."""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Grid, Vertical, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from engine.analysis.analysed_run import AnalysedRun
from engine.figures.numbers import pct
from engine.figures.panels import layer_grid
from tui.messages import OpenClass, OpenConfusion, OpenPair
from tui.views.base import View
from tui.widgets.accuracy_histogram import AccuracyHistogram
from tui.widgets.link_list import LinkList

WORST_SHOWN = 10
PAIRS_SHOWN = 10


def _get(meta: dict[str, Any], *keys: str, default: str = "?") -> str:
    value: Any = meta
    for k in keys:
        if not isinstance(value, dict) or k not in value:
            return default
        value = value[k]
    return str(value) if value not in (None, "") else default


CHECKS_PENDING = "computing the sanity checks and faithfulness intervals…"


def has_checks(run: AnalysedRun) -> bool:
    return run.faithfulness.available or run.model_randomisation.available


def summary_text(run: AnalysedRun, checks: str | None = None) -> Text:
    """Model, data, Grad-CAM settings and headline accuracy; `checks`: the Checks line (default: computed
    here, which takes about a second of bootstrap on a 10,000-image run)."""
    cache = run.cache
    m, a = cache.meta, run.metrics
    model = m.get("model")
    arch = _get(m, "model", "arch") if isinstance(model, dict) else str(model or "?")
    ckpt = _get(m, "model", "checkpoint", default="")
    data = m.get("data")
    source = _get(m, "data", "source") if isinstance(data, dict) else str(data or "?")
    n_sc = len(cache.superclass_names or [])
    text = Text()
    text.append("Model  ", style="bold")
    text.append(arch + (f" · checkpoint {ckpt}" if ckpt else "") + "\n")
    text.append("Data   ", style="bold")
    text.append(
        f"{source} · {cache.num_images:,} images · {cache.num_classes} classes"
        + (f" in {n_sc} superclasses" if n_sc else "")
        + "\n"
    )
    text.append("CAM    ", style="bold")
    grid = layer_grid(m)
    where = (f" ({grid[0]}x{grid[1]} {_get(m, 'target_layer_map', 'layout')}, {_get(m, 'cam_path')})"
             if grid is not None else "")  # the map's grid, layout and CAM path
    text.append(
        f"{_get(m, 'cam_method')} at {_get(m, 'target_layer')}{where} · device {_get(m, 'device')} · "
        f"tool {_get(m, 'tool_version')}\n"
    )
    text.append("Top-1  ", style="bold")
    text.append(f"{pct(a.top1)}", style="bold")
    text.append(f" ({a.num_correct:,}/{a.num_images:,} correct)   ")
    text.append("Top-5 ", style="bold")
    text.append(pct(a.top5), style="bold")
    if a.errors_within_superclass is not None:
        text.append(f"   errors inside the true superclass: {pct(a.errors_within_superclass)}")
    checks = checks_line(run) if checks is None else checks
    if checks:
        text.append("\nChecks ", style="bold")
        text.append(checks)
    return text


def checks_line(run: AnalysedRun) -> str:
    """The sanity verdicts and the faithfulness numbers, for runs with --faithfulness (else empty)."""
    f, r = run.faithfulness, run.model_randomisation
    if not has_checks(run):
        return ""
    iv = lambda e: f"{e.value:.2f} [{e.low:.2f}, {e.high:.2f}]"  # noqa: E731
    parts = []
    if run.sanity.available:
        parts.append(f"random-logit {'PASSED' if run.sanity.depends_on_class else 'FAILED'} "
                     f"(rank corr {iv(run.sanity.lowest)})")
    if r.available:
        parts.append(f"model randomisation {'PASSED' if r.depends_on_weights else 'FAILED'} "
                     f"(rank corr {iv(r.corr)}, {r.corr.n} images)")
    if f.available:
        s = f.summary()
        parts.append(f"faithfulness on {s['gap'].n:,} images: deletion AUC {iv(s['deletion_auc'])}, insertion AUC "
                     f"{iv(s['insertion_auc'])}, average drop {pct(s['drop'].value)}, increase "
                     f"{pct(s['increase'].value)} (/ least faithful maps)")
    return " · ".join(parts)


Table = tuple[Text, list[Text], list[Message | None]]  # header, lines, what each line opens


def columns_lines(headers: list[str], rows: list[list[str]], right: tuple[int, ...] = ()) -> tuple[Text, list[Text]]:
    """A plain aligned table: its header and one Text per row (far cheaper for Textual to measure and paint
    than a rich Table, and identical in every terminal). `right` lists right-aligned columns."""
    widths = [max([len(h)] + [len(r[k]) for r in rows]) for k, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        padded = (c.rjust(w) if k in right else c.ljust(w) for k, (c, w) in enumerate(zip(cells, widths)))
        return "  ".join(padded).rstrip()

    return Text(line(headers), style="bold"), [Text(line(r)) for r in rows]


def worst_classes_table(run: AnalysedRun) -> Table:
    """The worst classes; each row opens its class."""
    pc = run.metrics.per_class
    order = np.lexsort((pc["class_id"], pc["accuracy"]))[:WORST_SHOWN]  # accuracy ascending, NaN last
    rows = [
        [
            str(pc["class_id"][k]),
            str(pc["class_name"][k]),
            pct(pc["accuracy"][k]),
            f"{pc['top_wrong_prediction'][k]} ({pc['top_wrong_count'][k]})" if pc["top_wrong_prediction"][k] else "",
        ]
        for k in order
    ]
    header, lines = columns_lines(["id", "class", "acc", "most often read as"], rows, right=(0, 2))
    return header, lines, [OpenClass(int(pc["class_id"][k])) for k in order]


def confused_pairs_table(run: AnalysedRun) -> Table:
    """The top pairs; each row opens its pair."""
    cp = run.metrics.confused_pairs
    if not len(cp):
        return Text(""), [Text("No misclassifications.")], [None]
    shown = range(min(PAIRS_SHOWN, len(cp)))
    rows = [
        [
            str(cp["rank"][k]),
            f"{cp['true_name'][k]} → {cp['pred_name'][k]}" + (" *" if cp["same_superclass"][k] else ""),
            str(cp["count"][k]),
            pct(cp["mean_confidence"][k]),
        ]
        for k in shown
    ]
    header, lines = columns_lines(["#", "true → predicted", "n", "conf"], rows, right=(0, 2, 3))
    return header, lines, [OpenPair(int(cp["rank"][k])) for k in shown]


def superclass_table(run: AnalysedRun) -> Table:
    """The superclasses, worst first; each row opens its block of the confusion matrix."""
    sc = run.metrics.superclass
    if sc is None:
        return Text(""), [Text("This cache has no superclasses.")], [None]
    order = np.lexsort((sc["superclass_id"], sc["accuracy"]))
    rows = [
        [
            str(sc["superclass"][k]),
            pct(sc["accuracy"][k]),
            pct(sc["superclass_accuracy"][k]),
            str(sc["errors"][k]),
            str(sc["errors_within_superclass"][k]),
        ]
        for k in order
    ]
    header, lines = columns_lines(["superclass", "acc", "super acc", "errors", "inside"], rows, right=(1, 2, 3, 4))
    c2s = run.cache.class_to_superclass
    first = {int(s): int(np.nonzero(c2s == s)[0][0]) for s in np.unique(c2s)}
    return header, lines, [OpenConfusion(first.get(int(sc["superclass_id"][k]), -1), first.get(
        int(sc["superclass_id"][k]), -1), zoom=True) for k in order]


class OverviewView(View):
    """Summary lines, then four boxes in a grid (two columns on wide terminals), scrolling as one."""

    KEY, TAB, TITLE = "1", "overview", "Overview"
    KEYS = (("↑↓", "row"), ("tab", "next box"), ("Enter", "open"))
    HELP = [
        ("↑ ↓  tab", "move through the rows of the boxes · to the next box"),
        ("Enter", "open what the row names: the class, the pair, the superclass's block of the confusion matrix"),
    ]

    DEFAULT_CSS = """
    OverviewView #overview-grid {
        grid-size: 1;
        grid-gutter: 0 1;
        grid-rows: auto;
        height: auto;
    }
    OverviewView .box {
        height: auto;
        border: round $primary 50%;
        border-title-color: $text;
        border-title-style: bold;
        padding: 0 1;
    }
    OverviewView #summary {
        padding: 0 1 1 1;
    }
    """

    def compose(self) -> ComposeResult:
        run = self.run
        with VerticalScroll(id="overview-scroll", can_focus=False):
            # the Checks line bootstraps its intervals: filled in by a worker after the first screen
            yield Static(summary_text(run, CHECKS_PENDING if has_checks(run) else ""), id="summary")
            with Grid(id="overview-grid"):
                yield self._box(f"{WORST_SHOWN} worst classes (Enter: open)", self._links(worst_classes_table(run),
                                                                                          "worst-links"))
                yield self._box("Most confused pairs (* same superclass)",
                                self._links(confused_pairs_table(run), "pairs-links"), id="box-pairs")
                yield self._box("Per-class accuracy", AccuracyHistogram(run.metrics.per_class["accuracy"]))
                yield self._box("Superclasses (worst first; Enter: its block)",
                                self._links(superclass_table(run), "superclass-links"))

    def on_mount(self) -> None:
        if has_checks(self.run):
            self.call_after_refresh(self._fill_checks)  # after the first frame: not competing with it

    @work(thread=True, group="overview-checks", exit_on_error=False)
    def _fill_checks(self) -> None:
        text = summary_text(self.run)
        self.app.call_from_thread(lambda: self.query_one("#summary", Static).update(text))

    def _links(self, table: Table, id: str) -> LinkList:
        header, lines, messages = table
        self._widest = max([getattr(self, "_widest", 0), header.cell_len, *(line.cell_len for line in lines)])
        return LinkList(lines, messages, header=header if header.plain else None, id=id)

    def on_resize(self) -> None:
        """Two columns of boxes only where the widest row fits in one (border and padding: 4 cells)."""
        grid = self.query_one("#overview-grid", Grid)
        columns = 2 if self.size.width >= 2 * (self._widest + 4) + 1 else 1
        if grid.styles.grid_size_columns != columns:
            grid.styles.grid_size_columns = columns

    def focus_primary(self) -> None:
        if not isinstance(self.screen.focused, LinkList) or self not in self.screen.focused.ancestors:
            self.query_one(LinkList).focus()

    @on(LinkList.Opened)
    def _opened(self, event: LinkList.Opened) -> None:
        event.stop()
        self.post_message(event.message)

    @staticmethod
    def _box(title: str, body: Widget, id: str | None = None) -> Vertical:
        box = Vertical(body, classes="box", id=id)
        box.border_title = title
        return box
