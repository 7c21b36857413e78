"""top_confused_pairs.png: the most confused pairs as horizontal bars (largest at the top)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.analysis.analysed_run import AnalysedRun
from engine.figures.numbers import pct
from engine.reports.mpl import new_figure, plain, save_figure

SAME, OTHER = "#d95f02", "#4a7fb5"


def write_pairs_chart(run: AnalysedRun, target: Path) -> Path:
    cache, pairs = run.cache, run.metrics.confused_pairs.frame
    n = len(pairs)
    fig = new_figure(11, 1.8 + 0.42 * max(n, 3), 100)
    ax = fig.add_axes((0.34, 0.1 if n > 6 else 0.2, 0.6, 0.78 if n > 6 else 0.62))
    title = f"Most confused pairs (top {n}): true class → predicted class"
    if n == 0:
        ax.text(0.5, 0.5, "No misclassified images: nothing to show.", ha="center", va="center", fontsize=13)
        ax.set_axis_off()
        fig.suptitle(title, fontsize=14)
        return save_figure(fig, target)
    y = np.arange(n)
    know_super = cache.class_to_superclass is not None
    colours = [SAME if s else OTHER for s in pairs["same_superclass"]] if know_super else [OTHER] * n
    ax.barh(y, pairs["count"], color=colours, height=0.7)
    labels = [f"{r.rank}. {plain(r.true_name)} → {plain(r.pred_name)}" for r in pairs.itertuples()]
    ax.set_yticks(y, labels, fontsize=11)
    ax.invert_yaxis()
    top = float(pairs["count"].max())
    for yi, r in zip(y, pairs.itertuples()):
        note = f" {r.count}  ({pct(r.share_of_true)} of {plain(r.true_name)}, conf {pct(r.mean_confidence)})"
        ax.text(r.count, yi, note, va="center", ha="left", fontsize=9.5, color="0.2")
    ax.set_xlim(0, top * 1.75)
    ax.set_xlabel("misclassified images", fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    if know_super:
        from matplotlib.patches import Patch

        ax.legend(
            handles=[Patch(color=SAME, label="same superclass"), Patch(color=OTHER, label="different superclass")],
            loc="lower right",
            fontsize=10,
            frameon=False,
        )
    fig.suptitle(title, fontsize=14)
    return save_figure(fig, target)
