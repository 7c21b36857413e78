"""What a view asks to be drawn (a Drawing) and what `w` writes (a Figure): descriptions, not pictures.

The panels themselves come from engine.figures.panels, the builder the PNG reports use, so the terminal
shows the PNGs' pixels. A Drawing names the builder and its arguments; the ExampleFigure widget runs it in a
thread and shows the result only if it is still the drawing asked for. A Figure says how `w` writes what is
on screen, with the real (unescaped) run, always under a `tui_` name (never over a report file). No Textual here, and engine.reports is imported only when a
PNG is written, so start-up pays nothing for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

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
    """A figure `w` can write: `what` it is (for the notice) and how, given the real (unescaped) run and the
    folder. Every name it writes under begins with `tui_`, so `w` never replaces a report file."""

    what: str
    key: tuple  # what it shows, e.g. ("example", image, target): equal figures write the same file
    write_fn: Callable[[AnalysedRun, Path], Path] = field(compare=False)

    def write(self, run: AnalysedRun, out_dir: Path) -> Path:
        return self.write_fn(run, Path(out_dir))


def example_figure(what: str, key: tuple, build: Callable[..., list[Panel]], args: tuple,
                   words: Callable[[AnalysedRun], tuple[str, list[str], list[str]]]) -> Figure:
    """The example on screen: the panels `build(cache, *args)` makes, drawn from the real run; `words(run)`
    gives its heading, the lines under it and the parts of its file name (engine.reports.example_figure)."""

    def write(run: AnalysedRun, out_dir: Path) -> Path:
        from engine.reports.example_figure import example_name, write_example_figure

        heading, lines, parts = words(run)
        panels = build(run.cache, *args)
        return write_example_figure(heading, lines, panels, out_dir, example_name(int(args[0]), *parts))

    return Figure(what, key, write)


def class_page(class_id: int) -> Figure:
    """Class `class_id`'s page (worst and best examples), as the report draws it, under a tui_ name."""

    def write(run: AnalysedRun, out_dir: Path) -> Path:
        from engine.reports.class_figure import write_class_figure
        from engine.reports.filenames import class_figure_name

        name = "tui_" + class_figure_name(class_id, run.class_names[class_id])
        return write_class_figure(run, class_id, out_dir, name=name)

    return Figure(f"page of class {class_id}", ("class", class_id), write)


def confusion_matrix() -> Figure:
    """The whole confusion matrix, as the report draws it, under a tui_ name."""

    def write(run: AnalysedRun, out_dir: Path) -> Path:
        from engine.reports.confusion import write_confusion_matrix
        from engine.reports.filenames import CONFUSION_MATRIX, inside

        out_dir.mkdir(parents=True, exist_ok=True)
        return write_confusion_matrix(run, inside(out_dir, "tui_" + CONFUSION_MATRIX))

    return Figure("confusion matrix", ("confusion",), write)
