"""The widgets on their own: the figure that builds its panels in a thread and shows only the newest
drawing, and the caption bound to a view's state."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
from rich.text import Text
from textual.app import App, ComposeResult
from textual.reactive import var

from engine.figures.panels import Panel
from tui.figures import Drawing
from tui.widgets.caption import Caption
from tui.widgets.example_figure import ExampleFigure
from tui.widgets.image_panel import ImagePanel


def picture(title: str) -> list[Panel]:
    rgb = np.zeros((8, 8, 3), np.uint8)
    return [Panel(rgb, title, mono=np.zeros((8, 8)))]


def shown_titles(figure: ExampleFigure) -> list[str]:
    return [str(s.query_one(".title").render()) for s in figure.query(ImagePanel) if s.display]


def test_only_the_newest_drawing_is_shown_and_stale_ones_cost_one_build():
    release = threading.Event()
    built: list[str] = []

    def build(title: str) -> list[Panel]:
        built.append(title)
        if title == "first":
            release.wait(5)  # still building while the user moves on
        return picture(title)

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield ExampleFigure()

    async def go():
        app = One()
        async with app.run_test(size=(60, 20)) as pilot:
            figure = app.query_one(ExampleFigure)
            figure.drawing = Drawing(("first",), build, ("first",))
            await asyncio.sleep(0.05)
            for k in range(10):  # a burst while "first" is being built
                figure.drawing = Drawing((f"burst {k}",), build, (f"burst {k}",))
            release.set()
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert shown_titles(figure) == ["burst 9"]
            assert built == ["first", "burst 9"]  # the drawings in between were never built
            figure.drawing = Drawing(("burst 9",), build, ("burst 9",))  # the same picture: nothing to do
            figure.drawing = None  # nothing to draw: cleared at once
            assert shown_titles(figure) == [] and built == ["first", "burst 9"]

    asyncio.run(go())


def test_a_figure_that_fails_to_build_shows_why():
    def broken() -> list[Panel]:
        raise OSError(5, "Input/output error")

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield ExampleFigure()

    async def go():
        app = One()
        async with app.run_test(size=(60, 20)) as pilot:
            figure = app.query_one(ExampleFigure)
            figure.drawing = Drawing(("x",), broken)
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert shown_titles(figure) == ["Cannot draw this example"]

    asyncio.run(go())


def test_a_caption_follows_the_state_it_is_bound_to():
    class Holder(App[None]):
        said: var[Text] = var(lambda: Text("before"))

        def compose(self) -> ComposeResult:
            yield Caption(id="said").data_bind(text=Holder.said)

    async def go():
        app = Holder()
        async with app.run_test(size=(40, 5)) as pilot:
            await pilot.pause()
            caption = app.query_one("#said", Caption)
            assert str(caption.render()) == "before"
            app.said = Text("[bold]after[/]")  # a name that looks like markup is shown as written
            await pilot.pause()
            assert str(caption.render()) == "[bold]after[/]"

    asyncio.run(go())


def test_a_table_with_flexible_columns_fits_its_width():
    """Every column, the last included, is drawn whole within the table's width, at any width."""
    from tui.widgets.virtual_table import Column, VirtualTable

    columns = [Column("#", 3, right=True), Column("true", 0), Column("predicted", 0), Column("same sc", 7)]

    class TableApp(App):
        def compose(self) -> ComposeResult:
            yield VirtualTable(columns)

        def on_mount(self) -> None:
            self.query_one(VirtualTable).set_rows(2, lambda k: [str(k), "x" * 80, "y" * 80, "yes"])

    async def go(width: int) -> tuple[str, str]:
        app = TableApp()
        async with app.run_test(size=(width, 10)) as pilot:
            await pilot.pause()
            table = app.query_one(VirtualTable)
            return table.render_line(0).text, table.render_line(1).text

    for width in (60, 61, 120):
        header, row = asyncio.run(go(width))
        assert len(header) == width and header.rstrip().endswith("same sc"), (width, header)
        assert row.rstrip().endswith("yes"), (width, row)
