"""SVG snapshots of every view at 80x24 and 160x50 on the synthetic run (pytest-textual-snapshot).

Regenerate after an intended change with `pytest tests/tui/test_snapshots.py --snapshot-update`, look at
the report, and commit the SVGs under tests/tui/__snapshots__/. The Recommendations view is shown with a
fixed Markdown text, so the snapshot tests the TUI, not the engine's wording.
"""

from __future__ import annotations

import pytest

from tui.app import GradCamApp

SIZES = {"80x24": (80, 24), "160x50": (160, 50)}
VIEWS = {
    "overview": [],
    "classes": ["2"],
    "class": ["3"],
    "pairs": ["4"],
    "recommendations": ["5"],
    "suspects": ["6"],
    "confusion": ["7"],
    "images": ["8"],
}

FIXED_RECOMMENDATIONS = """# Recommendations

1. **class_1 is read as class_0** in 5 of 12 images: look at the Grad-CAM of both.
2. Most errors stay inside the true superclass: the model gets the coarse category right.
"""


@pytest.fixture(autouse=True)
def fixed_recommendations(use_recommendations):
    use_recommendations(lambda run: FIXED_RECOMMENDATIONS)


def keys_then_settle(*steps: list[str]):
    """Press each step's keys, then wait for the thread workers (figures, suspects, recommendations) and
    the repaint."""

    async def run_before(pilot) -> None:
        for keys in steps:
            for key in keys:
                await pilot.press(key)
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("view", VIEWS)
def test_view(snap_compare, small_run, tmp_path, view, size):
    app = GradCamApp(small_run, out_dir=tmp_path)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=keys_then_settle(VIEWS[view]))


def test_class_view_other_target_and_example(snap_compare, small_run, tmp_path):
    app = GradCamApp(small_run, out_dir=tmp_path)
    assert snap_compare(app, terminal_size=(120, 40), run_before=keys_then_settle(["3", "j", "t"]))


def test_class_view_best_example(snap_compare, small_run, tmp_path):
    app = GradCamApp(small_run, out_dir=tmp_path)
    assert snap_compare(app, terminal_size=(120, 40), run_before=keys_then_settle(["3", "k"]))


def test_suspects_view_with_an_image(snap_compare, small_run, tmp_path):
    """The cursor on the second suspect: the image with the Grad-CAMs of the given and the suggested label."""
    app = GradCamApp(small_run, out_dir=tmp_path)
    assert snap_compare(app, terminal_size=(120, 40), run_before=keys_then_settle(["6"], ["down"]))


def test_a_review_in_the_images_view(snap_compare, small_run, tmp_path):
    """Two verdicts given (label wrong, label right): their marks in the table, the progress below it."""
    app = GradCamApp(small_run, out_dir=tmp_path)
    assert snap_compare(app, terminal_size=(120, 40), run_before=keys_then_settle(["8"], ["x"], ["c"]))


def test_the_confusion_view_zoomed_into_a_block(snap_compare, small_run, tmp_path):
    app = GradCamApp(small_run, out_dir=tmp_path)
    assert snap_compare(app, terminal_size=(120, 40), run_before=keys_then_settle(["7"], ["down", "z"]))


def test_the_finder(snap_compare, small_run, tmp_path):
    """`/` over the Class view, `class_1>class_0` typed: the pair's cell offered first."""
    app = GradCamApp(small_run, out_dir=tmp_path)
    assert snap_compare(app, terminal_size=(120, 40),
                        run_before=keys_then_settle(["3"], ["slash", *"class_1>class_0"]))


def test_help(snap_compare, small_run, tmp_path):
    app = GradCamApp(small_run, out_dir=tmp_path)
    assert snap_compare(app, terminal_size=(120, 40), run_before=keys_then_settle(["question_mark"]))


def test_class_view_no_color(snap_compare, small_run, tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = GradCamApp(small_run, out_dir=tmp_path)
    assert snap_compare(app, terminal_size=(80, 24), run_before=keys_then_settle(["3"]))


@pytest.mark.parametrize("size", SIZES)
def test_compare_view(snap_compare, small_run, later_run, tmp_path, size):
    """gradcam-tui OLD NEW: the ninth tab, summary and per-class deltas (worst regression first)."""
    app = GradCamApp(later_run, out_dir=tmp_path, old_run=small_run)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=keys_then_settle(["9"]))
