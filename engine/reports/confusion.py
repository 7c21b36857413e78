"""confusion_matrix_full.png: the full class-by-class matrix (20x18 in), grouped by superclass when known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import LogNorm

from engine.analysis.analysed_run import AnalysedRun
from engine.store import RunCache
from engine.reports.mpl import new_figure, plain, save_figure

DPI = 100


def class_order(cache: RunCache) -> tuple[np.ndarray, list[tuple[int, int, str]]]:
    """Classes ordered by superclass (then id) and the superclass blocks as (start, stop, name); without
    superclasses: id order and no blocks."""
    n = cache.num_classes
    if cache.class_to_superclass is None or cache.superclass_names is None:
        return np.arange(n), []
    c2s = np.asarray(cache.class_to_superclass)
    order = np.lexsort((np.arange(n), c2s))
    blocks, start = [], 0
    for k in range(1, n + 1):
        if k == n or c2s[order[k]] != c2s[order[start]]:
            blocks.append((start, k, cache.superclass_names[int(c2s[order[start]])]))
            start = k
    return order, blocks


def write_confusion_matrix(run: AnalysedRun, target: Path) -> Path:
    cache, a = run.cache, run.metrics
    order, blocks = class_order(cache)
    m = a.confusion[np.ix_(order, order)]
    n = len(order)
    fig = new_figure(20, 18, DPI)
    ax = fig.add_axes((0.1, 0.1, 0.72, 0.8))
    cax = fig.add_axes((0.95, 0.1, 0.012, 0.8))
    # log colours with empty cells white: a single confusion is visible next to a 90-image diagonal
    cmap = colormaps["YlOrRd"].with_extremes(bad="white")
    shown = np.ma.masked_equal(m, 0)
    img = ax.imshow(shown, cmap=cmap, norm=LogNorm(vmin=1, vmax=max(int(m.max()), 2)), interpolation="nearest")
    cb = fig.colorbar(img, cax=cax)
    ticks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000) if t <= max(int(m.max()), 2)]
    cb.set_ticks(ticks, labels=[str(t) for t in ticks], fontsize=11)
    cb.minorticks_off()
    cb.set_label("images (log colour scale; white = none)", fontsize=12)
    labels = [plain(cache.class_names[c]) for c in order]
    size = float(np.clip(700 / max(n, 1), 5, 12))
    ax.set_xticks(np.arange(n), labels, rotation=90, fontsize=size)
    ax.set_yticks(np.arange(n), labels, fontsize=size)
    ax.tick_params(length=2, pad=1)
    ax.set_xlabel("Predicted class", fontsize=14)
    ax.set_ylabel("True class", fontsize=14)
    title = f"Confusion matrix: {n} classes, {a.num_images} images, top-1 accuracy {a.top1:.1%}"
    if blocks:
        title += f"\nclasses grouped by superclass ({len(blocks)} blocks, outlined)"
    fig.suptitle(title, fontsize=16, y=0.975)
    # light grid between cells when they are big enough to see one
    if n <= 40:
        ax.set_xticks(np.arange(-0.5, n, 1), minor=True)
        ax.set_yticks(np.arange(-0.5, n, 1), minor=True)
        ax.grid(which="minor", color="0.9", linewidth=0.5)
        ax.tick_params(which="minor", length=0)
        dark = max(int(m.max()), 2) ** 0.6  # on a log scale, the upper ~40% of colours are dark
        for i, j in zip(*np.nonzero(m)):
            ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=size,
                    color="white" if m[i, j] >= dark else "black")
    for start, stop, name in blocks:
        lo, hi = start - 0.5, stop - 0.5
        if start:
            ax.axhline(lo, color="0.35", linewidth=0.8)
            ax.axvline(lo, color="0.35", linewidth=0.8)
        ax.add_patch(_square(lo, hi))
        ax.text(n - 0.5 + n * 0.01, (lo + hi) / 2, plain(name), va="center", ha="left", fontsize=size + 1,
                color="0.25", clip_on=False)
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_ylim(n - 0.5, -0.5)
    return save_figure(fig, target)


def _square(lo: float, hi: float):
    from matplotlib.patches import Rectangle

    return Rectangle((lo, lo), hi - lo, hi - lo, fill=False, edgecolor="navy", linewidth=1.4)
