"""Per-class accuracy at a glance: a ten-bin text histogram and a sparkline of classes sorted by accuracy.

Plain text (block characters), so it reads the same in any terminal, over SSH, in snapshots and under NO_COLOR.
"""

from __future__ import annotations

import numpy as np
from rich.text import Text
from textual.widgets import Static

SPARKS = "▁▂▃▄▅▆▇█"


def histogram_lines(acc: np.ndarray, width: int = 30) -> list[Text]:
    """One line per 10%-bin: range, bar, class count."""
    acc = acc[~np.isnan(acc)]
    counts = np.histogram(acc, bins=10, range=(0.0, 1.0))[0]
    top = max(int(counts.max()), 1) if len(counts) else 1
    lines = []
    for b, n in enumerate(counts):
        bar = "█" * int(round(width * n / top)) if n else ""
        line = Text(f"{10 * b:3d}-{str(10 * b + 10) + '%':<4} ", style="dim")
        line.append(bar, style="bold")
        line.append(f" {int(n)}")
        lines.append(line)
    return lines


def sparkline(values: np.ndarray, width: int) -> str:
    """Sorted values squeezed into `width` characters, each the mean of its share."""
    values = np.sort(values[~np.isnan(values)])
    if not len(values) or width <= 0:
        return ""
    chunks = np.array_split(values, min(width, len(values)))
    return "".join(SPARKS[min(int(np.mean(c) * len(SPARKS)), len(SPARKS) - 1)] for c in chunks)


class AccuracyHistogram(Static):
    """Histogram plus a sparkline (worst class on the left), of an array of per-class accuracies."""

    DEFAULT_CSS = """
    AccuracyHistogram {
        height: auto;
    }
    """

    def __init__(self, accuracy: np.ndarray, **kwargs) -> None:
        super().__init__(**kwargs)
        self.accuracy = np.asarray(accuracy, dtype=np.float64)
        self._rendered: tuple[int, Text] | None = None

    def render(self) -> Text:
        width = max(self.content_size.width - 12, 10)
        if self._rendered is None or self._rendered[0] != width:  # Textual renders to measure, then to paint
            self._rendered = (width, self._build(width))
        return self._rendered[1]

    def _build(self, width: int) -> Text:
        acc = self.accuracy[~np.isnan(self.accuracy)]
        lines: list[Text] = histogram_lines(acc, width=min(width, 40))
        if len(acc):
            lines.append(Text(""))
            lines.append(Text("sorted: ", style="dim") + Text(sparkline(acc, min(width, 50))))
            lines.append(
                Text(
                    f"min {100 * acc.min():.0f}% · median {100 * np.median(acc):.0f}% · max {100 * acc.max():.0f}%",
                    style="dim",
                )
            )
        return Text("\n").join(lines)
