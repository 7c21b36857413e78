"""Overview: what was run, how well it did, and where to look first (worst classes, top confusions,
the spread of per-class accuracy, superclasses). Everything is a few aligned texts over the metrics' numpy
columns: the first screen never waits for pandas to import."""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid, Vertical, VerticalScroll
from textual.widgets import Static

from engine.analysis.analysed_run import AnalysedRun
from engine.figures.numbers import pct
from tui.views.base import View
from tui.widgets.accuracy_histogram import AccuracyHistogram

WORST_SHOWN = 10
PAIRS_SHOWN = 10


def _get(meta: dict[str, Any], *keys: str, default: str = "?") -> str:
    value: Any = meta
    for k in keys:
        if not isinstance(value, dict) or k not in value:
            return default
        value = value[k]
    return str(value) if value not in (None, "") else default


def summary_text(run: AnalysedRun) -> Text:
    """Model, data, Grad-CAM settings and headline accuracy."""
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
    text.append(
        f"{_get(m, 'cam_method')} at {_get(m, 'target_layer')} · device {_get(m, 'device')} · "
        f"tool {_get(m, 'tool_version')}\n"
    )
    text.append("Top-1  ", style="bold")
    text.append(f"{pct(a.top1)}", style="bold")
    text.append(f" ({a.num_correct:,}/{a.num_images:,} correct)   ")
    text.append("Top-5 ", style="bold")
    text.append(pct(a.top5), style="bold")
    if a.errors_within_superclass is not None:
        text.append(f"   errors inside the true superclass: {pct(a.errors_within_superclass)}")
    return text


def columns_text(headers: list[str], rows: list[list[str]], right: tuple[int, ...] = ()) -> Text:
    """A plain aligned table as one Text: far cheaper for Textual to measure and paint than a rich Table,
    and identical in every terminal. `right` lists right-aligned columns."""
    widths = [max([len(h)] + [len(r[k]) for r in rows]) for k, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        padded = (c.rjust(w) if k in right else c.ljust(w) for k, (c, w) in enumerate(zip(cells, widths)))
        return "  ".join(padded).rstrip()

    text = Text(line(headers), style="bold")
    for r in rows:
        text.append("\n" + line(r))
    return text


def worst_classes_table(run: AnalysedRun) -> Text:
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
    return columns_text(["id", "class", "acc", "most often read as"], rows, right=(0, 2))


def confused_pairs_table(run: AnalysedRun) -> Text:
    cp = run.metrics.confused_pairs
    if not len(cp):
        return Text("No misclassifications.")
    rows = [
        [
            str(cp["rank"][k]),
            f"{cp['true_name'][k]} → {cp['pred_name'][k]}" + (" *" if cp["same_superclass"][k] else ""),
            str(cp["count"][k]),
            pct(cp["mean_confidence"][k]),
        ]
        for k in range(min(PAIRS_SHOWN, len(cp)))
    ]
    return columns_text(["#", "true → predicted", "n", "conf"], rows, right=(0, 2, 3))


def superclass_table(run: AnalysedRun) -> Text:
    sc = run.metrics.superclass
    if sc is None:
        return Text("This cache has no superclasses.")
    rows = [
        [
            str(sc["superclass"][k]),
            pct(sc["accuracy"][k]),
            pct(sc["superclass_accuracy"][k]),
            str(sc["errors"][k]),
            str(sc["errors_within_superclass"][k]),
        ]
        for k in np.lexsort((sc["superclass_id"], sc["accuracy"]))
    ]
    return columns_text(["superclass", "acc", "super acc", "errors", "inside"], rows, right=(1, 2, 3, 4))


class OverviewView(View):
    """Summary lines, then four boxes in a grid (two columns on wide terminals), scrolling as one."""

    KEY, TAB, TITLE = "1", "overview", "Overview"

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
        with VerticalScroll(id="overview-scroll"):
            yield Static(summary_text(run), id="summary")
            with Grid(id="overview-grid"):
                yield self._box(f"{WORST_SHOWN} worst classes", Static(worst_classes_table(run)))
                yield self._box(
                    "Most confused pairs (* same superclass)", Static(confused_pairs_table(run)), id="box-pairs"
                )
                yield self._box("Per-class accuracy", AccuracyHistogram(run.metrics.per_class["accuracy"]))
                yield self._box("Superclasses (worst first)", Static(superclass_table(run)))

    def focus_primary(self) -> None:
        self.query_one("#overview-scroll").focus()

    @staticmethod
    def _box(title: str, body: Static, id: str | None = None) -> Vertical:
        box = Vertical(body, classes="box", id=id)
        box.border_title = title
        return box
