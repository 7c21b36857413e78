"""The gradcam-tui app: six views in tabs over one RunCache, number keys to switch, `w` to write PNGs.
Started with a second, older cache (`gradcam-tui OLD NEW`) it adds a seventh tab, Compare (key 7).

The app owns navigation only: views post tui.messages (OpenClass, OpenPair) and the app chooses the tab;
views never reach into each other. Only the Overview is built at start-up, from numpy alone (pandas is
imported in a thread worker after the first frame); each other view is mounted the
first time its tab opens, so the first screen pays for one view, not five. PNG writing (~0.2-1 s) runs in a
thread worker so the UI stays live, and imports engine.reports only then, so start-up pays nothing for it.
"""

from __future__ import annotations

import threading
from pathlib import Path

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.widget import Widget
from textual.widgets import Footer, TabbedContent, TabPane

from engine.cache import RunCache
from engine.console import visible
from tui.messages import FigureWritten, OpenClass, OpenPair
from tui.model import for_terminal
from tui.screens.help import HelpScreen
from tui.views.class_view import ClassView
from tui.views.classes import ClassesView
from tui.views.compare import CompareView
from tui.views.overview import OverviewView
from tui.views.pairs import PairsView
from tui.views.recommendations import RecommendationsView
from tui.views.suspects import SuspectsView

VIEWS = ("overview", "classes", "class", "pairs", "recommendations", "suspects")
TAB_TITLES = ("1 Overview", "2 Classes", "3 Class", "4 Pairs", "5 Recommendations", "6 Suspects")
COMPARE_VIEW, COMPARE_TITLE = "compare", "7 Compare"  # a seventh tab, only when started with two caches
_WRITE_LOCK = threading.Lock()  # matplotlib is not thread-safe: one figure at a time


class GradCamApp(App[None]):
    """Browse one analysis run: overview, classes, a class's examples, confused pairs, recommendations,
    label suspects."""

    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute, so subclasses elsewhere find it
    TITLE = "gradcam-tui"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]

    BINDINGS = [
        Binding("1", "show('overview')", "Overview", show=False),
        Binding("2", "show('classes')", "Classes", show=False),
        Binding("3", "show('class')", "Class", show=False),
        Binding("4", "show('pairs')", "Pairs", show=False),
        Binding("5", "show('recommendations')", "Recommendations", show=False),
        Binding("6", "show('suspects')", "Suspects", show=False),
        Binding("7", "show('compare')", "Compare", show=False),
        Binding("w", "write_png", "Write PNG"),
        Binding("question_mark", "help", "Keys"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        cache: RunCache,
        out_dir: Path | str = ".",
        cache_path: Path | str | None = None,
        old_cache: RunCache | None = None,
        old_path: Path | str | None = None,
    ) -> None:
        """`cache` is the run browsed; with `old_cache` (an earlier run on the same test set) a Compare tab
        shows what changed from it to `cache`. The views get the caches as for_terminal() shows them; the
        PNGs `w` writes use the real names."""
        super().__init__()
        self.source_cache = cache
        self.cache = for_terminal(cache)
        self.old_cache = None if old_cache is None else for_terminal(old_cache)
        self.old_path = Path(old_path) if old_path else None
        self.out_dir = Path(out_dir)
        self.cache_path = Path(cache_path) if cache_path else None
        self.written: list[Path] = []
        if cache_path:
            self.sub_title = visible(cache_path)
            if old_path:
                self.sub_title = visible(f"{old_path} → {cache_path}")

    @property
    def views(self) -> tuple[str, ...]:
        return VIEWS + ((COMPARE_VIEW,) if self.old_cache is not None else ())

    def compose(self) -> ComposeResult:
        with TabbedContent(initial="overview"):
            titles = TAB_TITLES + ((COMPARE_TITLE,) if self.old_cache is not None else ())
            for name, title in zip(self.views, titles):
                with TabPane(title, id=name):
                    if name == "overview":
                        yield OverviewView(self.cache, id="overview-view")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#overview-view").focus()

    def on_ready(self) -> None:
        self._warm_up()

    @work(thread=True, group="warm-up", exit_on_error=False)
    def _warm_up(self) -> None:
        """Import pandas (~0.35 s) once the first screen is up, so the first screen does not wait for it and
        the table views, which need it, open at once when asked."""
        import pandas  # noqa: F401

    def _make_view(self, name: str, class_id: int | None = None) -> Widget:
        cache = self.cache
        if name == "classes":
            return ClassesView(cache, id="classes-view")
        if name == "class":
            if class_id is None:  # start where it hurts most: the least accurate class
                pc = cache.analysis.per_class
                class_id = int(pc.sort_values(["accuracy", "class_id"], kind="mergesort").iloc[0]["class_id"])
            return ClassView(cache, class_id=class_id, id="class-view")
        if name == "pairs":
            return PairsView(cache, id="pairs-view")
        if name == "recommendations":
            return RecommendationsView(cache, id="recommendations-view")
        if name == "suspects":
            return SuspectsView(cache, id="suspects-view")
        if name == COMPARE_VIEW and self.old_cache is not None:
            old_name = visible(self.old_path) if self.old_path else "old"
            new_name = visible(self.cache_path) if self.cache_path else "new"
            return CompareView(self.old_cache, cache, old_name, new_name, id="compare-view")
        return OverviewView(cache, id="overview-view")

    async def ensure_view(self, name: str, class_id: int | None = None) -> tuple[Widget, bool]:
        """The view of tab `name`, mounting it on first use; and whether it was just made."""
        try:
            return self.query_one(f"#{name}-view"), False
        except NoMatches:
            view = self._make_view(name, class_id)
            await self.query_one(f"TabPane#{name}", TabPane).mount(view)
            return view, True

    @property
    def active_view(self) -> str:
        return self.query_one(TabbedContent).active

    def view(self, name: str) -> Widget:
        return self.query_one(f"#{name}-view")

    async def action_show(self, name: str) -> None:
        if name not in self.views:  # 7 without a second cache
            self.notify("Start with two caches (gradcam-tui OLD NEW) to compare runs.", severity="warning", markup=False)
            return
        view, _ = await self.ensure_view(name)
        self.query_one(TabbedContent).active = name
        self._focus_view(view)

    def _focus_view(self, view: Widget) -> None:
        if isinstance(view, (RecommendationsView, SuspectsView)):
            view.load()
        if hasattr(view, "focus_primary"):
            view.focus_primary()
        else:
            view.focus()

    @on(TabbedContent.TabActivated)
    async def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id:
            view, _ = await self.ensure_view(event.pane.id)
            self._focus_view(view)

    async def on_open_class(self, message: OpenClass) -> None:
        view, new = await self.ensure_view("class", message.class_id)
        if not new:
            view.show_class(message.class_id)
        await self.action_show("class")

    async def on_open_pair(self, message: OpenPair) -> None:
        view, _ = await self.ensure_view("pairs")
        view.show_pair(message.rank)
        await self.action_show("pairs")

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def figure_on_screen(self) -> tuple[str, int] | None:
        """('class', class_id) or ('pair', rank) for what the current view shows, else None."""
        name = self.active_view
        if name == "class":
            return "class", self.view("class").class_id
        if name == "classes":
            c = self.view("classes").highlighted_class()
            return ("class", c) if c is not None else None
        if name == "pairs":
            rank = self.view("pairs").rank
            return ("pair", rank) if rank else None
        return None

    def action_write_png(self) -> None:
        what = self.figure_on_screen()
        if what is None:
            self.notify("Open a class (2 or 3) or a confused pair (4) to write its PNG.", severity="warning", markup=False)
            return
        self.notify(visible(f"Writing the {what[0]} figure to {self.out_dir}/ …"), timeout=2, markup=False)
        self._write(*what)

    @work(thread=True, group="write")
    def _write(self, kind: str, key: int) -> None:
        from engine.folder_lock import locked_folder
        from engine.reports import write_class_figure, write_pair_figure

        try:
            with _WRITE_LOCK:
                self.out_dir.mkdir(parents=True, exist_ok=True)
                with locked_folder(self.out_dir):  # a run writing into this folder: say so, write nothing
                    if kind == "class":
                        path = write_class_figure(self.source_cache, key, self.out_dir)
                    else:
                        path = write_pair_figure(self.source_cache, key, self.out_dir)
        except Exception as exc:  # disk full, permissions, a busy folder: say so, keep browsing
            self.call_from_thread(self.notify, visible(f"Could not write the PNG: {exc}"), severity="error",
                                  timeout=8, markup=False)
            return
        self.call_from_thread(self._written, Path(path))

    def _written(self, path: Path) -> None:
        self.written.append(path)
        self.notify(visible(path), title="PNG written", timeout=6, markup=False)
        self.post_message(FigureWritten(path))
