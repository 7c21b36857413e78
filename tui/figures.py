"""What a view asks to be drawn (a Drawing) and what `w` writes (a Figure): descriptions, not pictures.

The panels themselves come from engine.figures.panels, the builder the PNG reports use, so the terminal
shows the PNGs' pixels. A Drawing names the builder and its arguments; the ExampleFigure widget runs it in a
thread and shows the result only if it is still the drawing asked for. A Figure names a report figure; the
app writes it with the real (unescaped) run. No Textual here, and engine.reports is imported only when a
PNG is written, so start-up pays nothing for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

from engine.console import visible
from engine.figures.panels import Panel

if TYPE_CHECKING:
    from engine.analysis.analysed_run import AnalysedRun


def safely(build: Callable[..., list[Panel]], *args: Any) -> list[Panel]:
    """`build(*args)`'s panels, or one panel saying why they could not be drawn: a damaged cache entry
    costs its picture, never the session."""
    try:
        return build(*args)
    except Exception as exc:  # noqa: BLE001 - shown to the user in place of the figure
        return [Panel(None, "Cannot draw this example", note=visible(f"{type(exc).__name__}: {exc}")[:200])]


@dataclass(frozen=True)
class Drawing:
    """The panels `build(*args)` makes. Two drawings with the same `key` are the same picture, so setting
    an equal one again draws nothing; the builder and its arguments take no part in the comparison (they
    hold the cache, whose arrays do not compare)."""

    key: tuple
    build: Callable[..., list[Panel]] = field(compare=False)
    args: tuple = field(compare=False, default=())

    def panels(self) -> list[Panel]:
        return safely(self.build, *self.args)


@dataclass(frozen=True)
class Figure:
    """A report figure `w` can write: the page of class `number`, or of confused pair `number` (1-based)."""

    kind: Literal["class", "pair"]
    number: int

    def write(self, run: AnalysedRun, out_dir: Path) -> Path:
        """Writes it with the reports' own writer (engine.reports is imported only now)."""
        if self.kind == "class":
            from engine.reports.class_figure import write_class_figure

            return write_class_figure(run, self.number, out_dir)
        from engine.reports.pair_figure import write_pair_figure

        return write_pair_figure(run, self.number, out_dir)
