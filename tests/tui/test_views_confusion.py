"""Confusion: the whole matrix in half blocks (100 classes in 100 columns and 50 lines), grouped by
superclass, a cursor over its cells, the zoom into a superclass block with its counts, Enter listing the
cell's images, Esc leaving the zoom and then going back."""

from __future__ import annotations

import asyncio

import numpy as np

from engine.figures.examples import pair_examples
from tests.tui.helpers import SIZE, settle, text_of
from tui.app import GradCamApp
from tui.halfblock import UPPER_HALF
from tui.messages import OpenConfusion
from tui.slices import CELL, SliceSpec
from tui.views.confusion import ConfusionView
from tui.views.images import ImagesView
from tui.widgets.confusion_grid import LABEL, ConfusionGrid


def line_text(grid: ConfusionGrid, y: int) -> str:
    return "".join(s.text for s in grid.render_line(y))


def test_a_hundred_classes_fit_a_160_column_terminal(make_run, tmp_path):
    run = make_run(num_classes=100, n_per_class=4)

    async def go():
        app = GradCamApp(run, out_dir=tmp_path)
        async with app.run_test(size=(160, 50)) as pilot:
            await pilot.press("7")
            await settle(app, pilot)
            grid = app.query_one(ConfusionGrid)
            assert grid.size.width >= LABEL + 100  # every predicted class has its column
            for y in range(1, grid.size.height):
                assert line_text(grid, y).count(UPPER_HALF) == 100  # two true classes per line
            lines = -(-100 // 2)
            assert grid.size.height - 1 < lines + 1  # (the last lines scroll into view with the cursor)
            for _ in range(99):
                await pilot.press("down")
            await pilot.pause()
            assert grid.cursor == (99, 0) and line_text(grid, grid.size.height - 1).count(UPPER_HALF) == 100

    asyncio.run(go())


def test_in_80_columns_the_matrix_scrolls_sideways_with_the_cursor(make_run, tmp_path):
    """100 classes in a 66-column matrix area: the cursor's column is always on screen, labels kept."""
    from tui.widgets.confusion_grid import CURSOR

    run = make_run(num_classes=100, n_per_class=4)

    def cursor_column(grid: ConfusionGrid) -> int | None:
        """The screen column of the cursor's cell on the cursor's line, or None if it is not drawn."""
        y = grid._line_of(grid.cursor[0]) - grid.top + 1
        x = 0
        for seg in grid.render_line(y):
            for _ in seg.text:
                if seg.style and seg.style.color and seg.style.color.triplet == CURSOR \
                        or seg.style and seg.style.bgcolor and seg.style.bgcolor.triplet == CURSOR:
                    return x
                x += 1
        return None

    async def go():
        app = GradCamApp(run, out_dir=tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("7")
            await settle(app, pilot)
            grid = app.query_one(ConfusionGrid)
            assert grid.size.width < LABEL + 100
            assert cursor_column(grid) == LABEL
            labels = line_text(grid, 1)[:LABEL]
            for _ in range(99):
                await pilot.press("right")
            await pilot.pause()
            assert grid.cursor == (0, 99) and grid.left > 0
            assert cursor_column(grid) == grid.size.width - 1  # the last column, at the right edge
            assert line_text(grid, 1)[:LABEL] == labels and labels.strip()  # the row labels stay
            for _ in range(99):
                await pilot.press("left")
            await pilot.pause()
            assert grid.left == 0 and cursor_column(grid) == LABEL

    asyncio.run(go())


def test_the_cursor_says_what_its_cell_holds_and_enter_lists_its_images(small_run, tmp_path):
    m = small_run.metrics.confusion
    cp = small_run.metrics.confused_pairs
    t, p = int(cp["true_id"][0]), int(cp["pred_id"][0])

    async def go():
        app = GradCamApp(small_run, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("7")
            await settle(app, pilot)
            view = app.query_one(ConfusionView)
            grid = view.matrix
            assert grid.cell == (int(grid.grid.order[0]), int(grid.grid.order[0]))
            app.post_message(OpenConfusion(t, p))
            await settle(app, pilot)
            assert grid.cell == (t, p)
            info = text_of(view.query_one("#confusion-info"))
            names = small_run.class_names
            assert f"true {names[t]} (group_" in info and f"predicted {names[p]}" in info
            assert f": {int(m[t, p])} images" in info
            await pilot.press("enter")
            await settle(app, pilot)
            images = app.query_one("#images-view", ImagesView)
            assert app.active_view == "images" and images.spec == SliceSpec(CELL, t, p)
            assert list(images.slice.images) == pair_examples(small_run.cache, t, p)
            await pilot.press("escape")
            await settle(app, pilot)
            assert app.active_view == "confusion" and grid.cell == (t, p)

    asyncio.run(go())


def test_blocks_follow_the_superclasses_and_the_zoom_shows_a_block_counts(small_run, tmp_path):
    c = small_run.cache
    m = small_run.metrics.confusion

    async def go():
        app = GradCamApp(small_run, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("7")
            await settle(app, pilot)
            grid = app.query_one(ConfusionGrid)
            g = grid.grid
            assert [name for _, _, name in g.blocks] == ["group_a", "group_b"]
            assert [int(c.class_to_superclass[k]) for k in g.order] == sorted(c.class_to_superclass)
            await pilot.press("J")  # to the next block's first class
            assert g.block_of[grid.cursor[0]] == 1 and grid.cursor[1] == 0
            await pilot.press("L", "z")
            await pilot.pause()
            assert grid.zoomed
            rows = [line_text(grid, y) for y in range(grid.size.height)]
            members = [int(k) for k in g.order if c.class_to_superclass[k] == 1]
            assert rows[0].startswith("group_b")
            for r, k in enumerate(members, 1):  # one line per true class: its name, then its counts
                cells = rows[r][LABEL:].split()
                assert rows[r].startswith(small_run.class_names[k][: LABEL - 1])
                assert cells == [str(int(m[k, j])) if m[k, j] else "·" for j in members]
            await pilot.press("escape")  # out of the zoom first ...
            await pilot.pause()
            assert not grid.zoomed and app.active_view == "confusion"
            await pilot.press("escape")  # ... then back to where the session was
            await pilot.pause()
            assert app.active_view == "overview"

    asyncio.run(go())


def test_no_color_draws_the_matrix_with_glyphs_one_class_a_line(small_run, tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")

    async def go():
        app = GradCamApp(small_run, out_dir=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("7")
            await settle(app, pilot)
            grid = app.query_one(ConfusionGrid)
            s = grid.scale  # each class's cell: s glyphs wide, s lines high
            lines = [line_text(grid, 1 + k * s)[LABEL:] for k in range(8)]
            assert all(UPPER_HALF not in line for line in lines)
            assert lines[0][:s] == "@" * s  # the cursor, on the diagonal
            assert all(line[k * s:(k + 1) * s] == "#" * s for k, line in enumerate(lines) if k and np.diag(
                small_run.metrics.confusion)[grid.grid.order[k]])

    asyncio.run(go())


def test_a_few_classes_get_square_cells_that_fill_the_screen(small_run, tmp_path):
    """A matrix far smaller than the terminal is drawn with cells several characters a side; a click on any
    character of a cell selects that cell."""
    from tui.widgets.confusion_grid import MAX_SCALE

    n = len(small_run.class_names)

    async def go():
        app = GradCamApp(small_run, out_dir=tmp_path)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("7")
            await settle(app, pilot)
            grid = app.query_one(ConfusionGrid)
            s = grid.scale
            assert 1 < s <= MAX_SCALE and LABEL + n * s <= grid.size.width
            assert line_text(grid, 1)[LABEL:].count(UPPER_HALF) == n * s
            assert grid._cell_at(LABEL + 2 * s + s - 1, 1 + (3 * s + 1) // 2) == (3, 2)  # a line inside row 3

    asyncio.run(go())
