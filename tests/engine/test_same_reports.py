"""Today's engine writes the numbers it wrote before its code was reorganised into one folder per stage:
the CSV and TXT reports of the demo and of the shared ResNet-56 on CIFAR-100 against the copies kept in
tests/fixtures/reports_before (see its README; the Run section of analysis_summary.txt, which holds paths,
dates and timings, is left out of the comparison). One change is on purpose: every report now reads a
nonzero probability below 0.05% as "<0.1%" (engine.figures.numbers.pct, the one formatter), where
recommendations.txt used to print "0.0%". Another is too: the label suspects are the same images with the
same figures, ranked by the given label's probability against its class's threshold instead of by margin
(engine.analysis.label_suspects), so label_suspects.csv is compared row by row whatever the order, and the top
suspects that the summary and the recommendations name are left out. CSV cells are numbers compared to one
unit in their last printed place: a value that lands on a rounding boundary prints one digit apart under
another numpy/torch build (the same computation, a different summation order), which is not a changed number."""

from __future__ import annotations

import csv
import gzip
import io
import re
from pathlib import Path

import pytest

from engine.reports import writer

LAST_PLACE = 1.5e-6  # the CSVs print six decimals: one unit in the last place, and the float's own error

BEFORE = Path(__file__).resolve().parents[1] / "fixtures" / "reports_before"
FILES = ["per_class_accuracy.csv", "most_confused_pairs.csv", "label_suspects.csv", "attention_per_class.csv",
         "attention_flags.csv", "high_confidence_errors.csv", "analysis_summary.txt", "recommendations.txt"]
WRITERS = {name: write for name, write in writer._FIXED.values()}


def before(run_name: str, name: str) -> str:
    path = BEFORE / run_name / name
    if not path.exists():
        return gzip.decompress(path.with_name(name + ".gz").read_bytes()).decode("utf-8")
    return path.read_text(encoding="utf-8")


def comparable(name: str, text: str) -> str:
    if name == "analysis_summary.txt":
        kept = [line for line in text.split("\nRun\n---")[0].rstrip("\n").split("\n")
                if not re.match(r"^ *\d+\. image \d+: ", line)]  # the top suspects, now in another order
        return "\n".join(kept)
    if name == "label_suspects.csv":  # the same rows without their rank, in image order
        head, *rows = text.rstrip("\n").split("\n")
        return "\n".join([head.partition(",")[2], *sorted(r.partition(",")[2] for r in rows)])
    if name == "recommendations.txt":  # the same paragraphs, rewrapped where "<0.1%" is longer than "0.0%"
        text = " ".join(text.replace("<0.1%", "0.0%").split())
        return re.sub(r"image \d+ \S+ → \S+ \([^)]*\)", "image (a top suspect)", text)  # now in another order
    return text


def assert_same(name: str, now: str, then: str) -> None:
    """Text files must match exactly; CSV files cell by cell, numbers to one unit in their last place."""
    now, then = comparable(name, now), comparable(name, then)
    if not name.endswith(".csv") or now == then:
        assert now == then
        return
    rows_now, rows_then = list(csv.reader(io.StringIO(now))), list(csv.reader(io.StringIO(then)))
    assert len(rows_now) == len(rows_then), f"{len(rows_now)} rows now, {len(rows_then)} before"
    for k, (a_row, b_row) in enumerate(zip(rows_now, rows_then)):
        assert len(a_row) == len(b_row), f"row {k}: {a_row} vs {b_row}"
        for a, b in zip(a_row, b_row):
            if a != b:
                try:
                    close = abs(float(a) - float(b)) <= LAST_PLACE * max(1.0, abs(float(b)))
                except ValueError:
                    close = False
                assert close, f"row {k}: {a!r} now, {b!r} before ({a_row} vs {b_row})"


@pytest.fixture(scope="module")
def demo_reports(tmp_path_factory) -> Path:
    """The CSV and TXT reports of `gradcam-batch demo` (the shipped model on the full test world)."""
    from rich.console import Console

    from engine.config import RunConfig
    from engine.demo import open_subject
    from engine.run import analyse

    config = RunConfig(data="demo", out=None, reports=False, device="cpu")
    quiet = Console(file=io.StringIO())
    run = analyse(open_subject(config, bars=quiet), config, console=quiet)
    out = tmp_path_factory.mktemp("demo_reports")
    for name in FILES:
        WRITERS[name](run, out / name)
    return out


@pytest.mark.parametrize("name", FILES)
def test_the_demo_reports_are_as_before(demo_reports, name):
    assert_same(name, (demo_reports / name).read_text(encoding="utf-8"), before("demo", name))


@pytest.mark.parametrize("name", FILES)
def test_the_resnet56_reports_are_as_before(cifar_run, name):
    proc, out = cifar_run(56)
    assert proc.returncode == 0, proc.stderr
    assert_same(name, (out / name).read_text(encoding="utf-8"), before("resnet56", name))
