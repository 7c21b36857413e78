"""tui_image_*.png: one example exactly as the terminal app draws it (its panels, the Grad-CAM target on
screen), with the lines that say what it is, as one image. The terminal app's `w` writes it; the panels
come from engine.figures.panels, the builder the terminal and every report figure use.

Its names all begin with `tui_`, which no report file does, so writing one never replaces a report figure.
"""

from __future__ import annotations

from pathlib import Path

from engine.figures.colours import jet_bar
from engine.figures.panels import Panel
from engine.reports.filenames import inside, is_report_name, safe_filename
from engine.reports.sheet import GREY, INK, RED, Legend, Row, Sheet, Text, save_png

PREFIX = "tui_"
TONES = {"true": INK, "pred": RED, "low": (170, 100, 0), "best": (20, 120, 40)}


def example_name(image: int, *parts: str) -> str:
    """tui_image_{id:05d}_{part}_{part}....png, each part a class name or a word, made safe for a file name."""
    tail = "_".join(safe_filename(p) for p in parts if p)
    return f"{PREFIX}image_{image:05d}" + (f"_{tail}" if tail else "") + ".png"


def example_sheet(heading: str, lines: list[str], panels: list[Panel]) -> Sheet:
    sheet = Sheet().add(Text(heading, 18, True))
    for line in lines:
        sheet.add(Text(line, 13, color=GREY))
    sheet.add(Legend("Grad-CAM (min-max per image, overlays at alpha 0.5):", jet_bar(160, 12), "low", "high"), 8)
    return sheet.add(Row(label=[], panels=panels, tones=TONES))


def write_example_figure(heading: str, lines: list[str], panels: list[Panel], out_dir: Path, name: str) -> Path:
    """Write the example as `name` (a tui_ name: never a report file's) into out_dir; returns its path."""
    if not name.startswith(PREFIX) or is_report_name(name):
        raise ValueError(f"refusing to write the example over a report file name ({name!r})")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return save_png(example_sheet(heading, lines, panels).render(), inside(out_dir, name))
