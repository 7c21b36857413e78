"""The gradcam-tui app: one tab per registered view over one AnalysedRun, number keys to switch, `/` to open
anything by name, Esc to go back, `w` to write the figure on screen. Started with a second, older cache
(`gradcam-tui OLD NEW`) the registry adds Compare.

The app owns navigation only, and knows views only through tui.views.base.View: tabs, number keys, the key
list and the bottom line are built by iterating the registry (tui.views.VIEWS); views post tui.messages and
the app hands each to the view that OPENS it, after remembering where the user was (each view's
location()), so Esc walks back along that history. `w` asks the view on screen for its figure(). Only the
first view is built at start-up, from numpy alone (pandas is imported in a thread worker after the first
frame); each other view is mounted the first time its tab opens, so the first screen pays for one view, not
nine. PNG writing (~0.2-1 s) runs in a thread worker so the UI stays live, and imports engine.reports only
then. SIGTERM ends the app as `q` does, so the terminal is restored.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Hashable

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.message import Message
from textual.widgets import TabbedContent, TabPane

from engine.analysis.analysed_run import AnalysedRun
from engine.console import visible
from tui.figures import Figure
from tui.keys import keymap, nothing_to_write
from tui.messages import FigureWritten, Leaving, OpenClass, OpenConfusion, OpenPair, OpenSlice, WriteFigure
from tui.model import for_terminal
from tui.review import ReviewBook
from tui.screens.help import HelpScreen
from tui.views import VIEWS, Runs, View, registered
from tui.widgets.key_bar import KeyBar

_WRITE_LOCK = threading.Lock()  # one figure at a time (the folder lock lets this process's own writers in)
HISTORY_LIMIT = 200


class GradCamApp(App[None]):
    """Browse one analysis run: overview, classes, a class's examples, confused pairs, recommendations,
    label suspects, the confusion matrix, any slice of images (and, with an older run, what changed)."""

    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute, so subclasses elsewhere find it
    TITLE = "gradcam-tui"
    VERTICAL_BREAKPOINTS = [(0, "-short"), (34, "-tall")]
    ENABLE_COMMAND_PALETTE = False  # `/` is the way to open anything

    BINDINGS = [
        *(Binding(view.KEY, f"show('{view.TAB}')", view.TITLE, show=False) for view in VIEWS),
        Binding("slash", "find", "Find", show=False),
        Binding("escape,backspace", "back", "Back", show=False),
        Binding("w", "write_png", "Write PNG", show=False),
        Binding("E", "export_reviews", "Export reviews", show=False),
        Binding("question_mark", "help", "Keys", show=False),
        Binding("q", "quit", "Quit", show=False),
    ]

    def __init__(
        self,
        run: AnalysedRun,
        out_dir: Path | str = ".",
        cache_path: Path | str | None = None,
        old_run: AnalysedRun | None = None,
        old_path: Path | str | None = None,
    ) -> None:
        """`run` is the run browsed; with `old_run` (an earlier run on the same test set) a Compare tab
        shows what changed from it to `run`. The views get the runs as for_terminal() shows them; the PNGs
        `w` writes use the real names. Label verdicts are kept beside `cache_path` (in memory without one)."""
        super().__init__()
        self.source_run = run
        self.out_dir = Path(out_dir)
        self.cache_path = Path(cache_path) if cache_path else None
        self.written: list[Path] = []
        self.terminated = False  # ended by SIGTERM
        self.history: list[tuple[str, Hashable]] = []
        self.reviews = ReviewBook(run.cache.labels, run.cache.num_classes, self.cache_path)
        self.runs = Runs(
            run=for_terminal(run),
            old=None if old_run is None else for_terminal(old_run),
            run_name=visible(cache_path) if cache_path else "new",
            old_name=visible(old_path) if old_path else "old",
            reviews=self.reviews,
        )
        self.view_classes = registered(self.runs)
        if cache_path:
            self.sub_title = visible(f"{old_path} → {cache_path}" if old_path else cache_path)

    def compose(self) -> ComposeResult:
        first = self.view_classes[0]
        with TabbedContent(initial=first.TAB):
            for view in self.view_classes:
                with TabPane(f"{view.KEY} {view.TITLE}", id=view.TAB):
                    if view is first:
                        yield self._make(view)
        yield KeyBar()

    def on_mount(self) -> None:
        self._bring_up(self.query_one(f"#{self.view_classes[0].TAB}-view", View))
        if not self.is_headless:  # a real terminal: SIGTERM quits as `q` does, restoring it
            import asyncio

            try:
                asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, self._terminate)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - not on this platform / thread
                pass
        if self.reviews.problem and self.cache_path:
            self.notify(self.reviews.problem, severity="warning", timeout=10, markup=False)

    def _terminate(self) -> None:
        self.terminated = True
        self.exit()

    def on_ready(self) -> None:
        self._warm_up()

    @work(thread=True, group="warm-up", exit_on_error=False)
    def _warm_up(self) -> None:
        """Import pandas (~0.35 s) and compute the per-class faithfulness once the first screen is up, so the
        first screen does not wait for them and the table views, which need them, open at once when asked."""
        import pandas  # noqa: F401

        for run in filter(None, (self.runs.run, self.runs.old)):
            if run.faithfulness.available:  # the Classes view's faithfulness column: bootstrap intervals
                run.faithfulness_per_class

    # --- views ---------------------------------------------------------------------------------------

    def _make(self, view: type[View]) -> View:
        return view(self.runs, id=f"{view.TAB}-view")

    async def _ensure(self, view: type[View], pane: TabPane | None = None) -> View:
        """The view of class `view`, mounting it in its tab (`pane`, else found by id) on first use."""
        try:
            return self.query_one(f"#{view.TAB}-view", View)
        except NoMatches:
            made = self._make(view)
            await (pane or self.query_one(f"TabPane#{view.TAB}", TabPane)).mount(made)
            return made

    @property
    def active_view(self) -> str:
        """The tab on screen (its view's TAB)."""
        return self.query_one(TabbedContent).active

    def _on_screen(self) -> View | None:
        try:
            return self.query_one(f"#{self.active_view}-view", View)
        except NoMatches:
            return None

    def _bring_up(self, view: View) -> None:
        """What showing a tab means to its view, however the tab was reached (key, click, message)."""
        view.activate()
        view.focus_primary()
        bar = self.query_one(KeyBar)
        bar.keys, bar.where = view.KEYS, f"{view.KEY} {view.TITLE}"

    async def _switch(self, view_class: type[View]) -> View:
        shown = await self._ensure(view_class)
        self.query_one(TabbedContent).active = view_class.TAB
        self._bring_up(shown)
        return shown

    async def action_show(self, tab: str) -> None:
        view = next((v for v in self.view_classes if v.TAB == tab), None)
        if view is None:  # a view this session does not have: its key says why
            absent = next(v for v in VIEWS if v.TAB == tab)
            self.notify(absent.ABSENT, severity="warning", markup=False)
            return
        if tab != self.active_view:
            self._remember()
        await self._switch(view)

    @on(TabbedContent.TabActivated)
    async def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        """A tab came up. One that another tab has replaced since (a burst of keys) is left alone: bringing
        it up would focus its view, whose pane would then ask for its tab back, and two such stale requests
        would hand the tabs back and forth for ever."""
        if event.pane.id != self.active_view:
            return
        view = next((v for v in self.view_classes if v.TAB == event.pane.id), None)
        if view is not None and event.pane.is_attached:  # not while the app is closing
            self._bring_up(await self._ensure(view, event.pane))

    @on(OpenClass)
    @on(OpenPair)
    @on(OpenSlice)
    @on(OpenConfusion)
    async def _open(self, message: Message) -> None:
        """A view asked to see something: remember where the user is, then the view that OPENS such
        messages shows it, on its tab."""
        view = next((v for v in self.view_classes if isinstance(message, v.OPENS)), None)
        if view is not None:
            self._remember()
            shown = await self._ensure(view)
            shown.open(message)
            await self._switch(view)

    # --- history -------------------------------------------------------------------------------------

    def _remember(self, tab: str | None = None, location: Hashable = None, given: bool = False) -> None:
        if not given:
            view = self._on_screen()
            if view is None:
                return
            tab, location = view.TAB, view.location()
        if self.history and self.history[-1] == (tab, location):
            return
        self.history.append((tab, location))
        del self.history[:-HISTORY_LIMIT]

    @on(Leaving)
    def _leaving(self, message: Leaving) -> None:
        self._remember(message.tab, message.location, given=True)

    async def action_back(self) -> None:
        """Esc: back to where the user was before the last move (views keep their own Esc first: a zoom,
        a filter)."""
        while self.history:
            tab, location = self.history.pop()
            view = next((v for v in self.view_classes if v.TAB == tab), None)
            if view is None:
                continue
            shown = await self._switch(view)
            shown.restore(location)
            return
        self.notify("Nothing to go back to.", timeout=2, markup=False)

    # --- screens -------------------------------------------------------------------------------------

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(keymap(self.view_classes)))

    def action_find(self) -> None:
        from tui.screens.finder import FinderScreen

        if not isinstance(self.screen, FinderScreen):
            self.push_screen(FinderScreen(self.runs.run), self._found)

    def _found(self, message: Message | None) -> None:
        if message is not None:
            self.post_message(message)

    # --- writing PNGs --------------------------------------------------------------------------------

    def figure_on_screen(self) -> Figure | None:
        """The figure of what the view on screen shows, else None."""
        view = self._on_screen()
        return None if view is None else view.figure()

    def action_write_png(self) -> None:
        figure = self.figure_on_screen()
        if figure is None:
            self.notify(nothing_to_write(self.view_classes), severity="warning", markup=False)
            return
        self._write_figure(figure)

    @on(WriteFigure)
    def _write_asked(self, message: WriteFigure) -> None:
        self._write_figure(message.figure)

    def _write_figure(self, figure: Figure) -> None:
        self.notify(visible(f"Writing the {figure.what} to {self.out_dir}/ …"), timeout=2, markup=False)
        self._write(figure)

    @work(thread=True, group="write")
    def _write(self, figure: Figure) -> None:
        from engine.store.folder_lock import locked_folder

        try:
            with _WRITE_LOCK:
                self.out_dir.mkdir(parents=True, exist_ok=True)
                with locked_folder(self.out_dir):  # a run writing into this folder: say so, write nothing
                    path = figure.write(self.source_run, self.out_dir)
        except Exception as exc:  # disk full, permissions, a busy folder: say so, keep browsing
            self.call_from_thread(self.notify, visible(f"Could not write the PNG: {exc}"), severity="error",
                                  timeout=8, markup=False)
            return
        self.call_from_thread(self._written, Path(path), figure.what)

    def _written(self, path: Path, what: str = "figure") -> None:
        self.written.append(path)
        self.notify(visible(f"The {what} is in {path}"), title="PNG written", timeout=6, markup=False)
        self.post_message(FigureWritten(path))

    # --- reviews -------------------------------------------------------------------------------------

    def action_export_reviews(self) -> None:
        if not self.reviews.verdicts:
            self.notify("No verdicts yet: review images in the Suspects or Images view (x c a).",
                        severity="warning", markup=False)
            return
        self._export()

    @work(thread=True, group="write")
    def _export(self) -> None:
        from engine.store.reviews import CSV_NAME, export_csv

        try:
            self.reviews.save()
            self.out_dir.mkdir(parents=True, exist_ok=True)
            path = export_csv(self.out_dir / CSV_NAME, dict(self.reviews.verdicts), self.source_run.class_names)
        except Exception as exc:  # noqa: BLE001 - said, browsing goes on
            self.call_from_thread(self.notify, visible(f"Could not export the verdicts: {exc}"), severity="error",
                                  timeout=8, markup=False)
            return
        n = len(self.reviews.verdicts)
        self.call_from_thread(self.notify, visible(f"{n} verdict{'s' if n != 1 else ''} exported to {path}"),
                              title="Verdicts exported", timeout=8, markup=False)
        self.call_from_thread(self.written.append, Path(path))
