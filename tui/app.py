"""The gradcam-tui app: one tab per registered view over one AnalysedRun, number keys to switch, `w` to
write the PNG of what is on screen. Started with a second, older cache (`gradcam-tui OLD NEW`) the registry
adds Compare.

The app owns navigation only, and knows views only through tui.views.base.View: tabs, number keys and the
key list are built by iterating the registry (tui.views.VIEWS); views post tui.messages and the app hands
each to the view that OPENS it; `w` asks the view on screen for its figure(). Only the first view is built
at start-up, from numpy alone (pandas is imported in a thread worker after the first frame); each other view
is mounted the first time its tab opens, so the first screen pays for one view, not six. PNG writing
(~0.2-1 s) runs in a thread worker so the UI stays live, and imports engine.reports only then.
"""

from __future__ import annotations

import threading
from pathlib import Path

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.widgets import Footer, TabbedContent, TabPane

from engine.analysis.analysed_run import AnalysedRun
from engine.console import visible
from tui.figures import Figure
from tui.keys import keymap, nothing_to_write
from tui.messages import FigureWritten, OpenClass, OpenPair
from tui.model import for_terminal
from tui.screens.help import HelpScreen
from tui.views import VIEWS, Runs, View, registered

_WRITE_LOCK = threading.Lock()  # one figure at a time (the folder lock lets this process's own writers in)


class GradCamApp(App[None]):
    """Browse one analysis run: overview, classes, a class's examples, confused pairs, recommendations,
    label suspects (and, with an older run, what changed)."""

    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute, so subclasses elsewhere find it
    TITLE = "gradcam-tui"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]

    BINDINGS = [
        *(Binding(view.KEY, f"show('{view.TAB}')", view.TITLE, show=False) for view in VIEWS),
        Binding("w", "write_png", "Write PNG"),
        Binding("question_mark", "help", "Keys"),
        Binding("q", "quit", "Quit"),
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
        `w` writes use the real names."""
        super().__init__()
        self.source_run = run
        self.out_dir = Path(out_dir)
        self.cache_path = Path(cache_path) if cache_path else None
        self.written: list[Path] = []
        self.runs = Runs(
            run=for_terminal(run),
            old=None if old_run is None else for_terminal(old_run),
            run_name=visible(cache_path) if cache_path else "new",
            old_name=visible(old_path) if old_path else "old",
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
        yield Footer()

    def on_mount(self) -> None:
        self._bring_up(self.query_one(f"#{self.view_classes[0].TAB}-view", View))

    def on_ready(self) -> None:
        self._warm_up()

    @work(thread=True, group="warm-up", exit_on_error=False)
    def _warm_up(self) -> None:
        """Import pandas (~0.35 s) once the first screen is up, so the first screen does not wait for it and
        the table views, which need it, open at once when asked."""
        import pandas  # noqa: F401

    # --- views ---------------------------------------------------------------------------------------

    def _make(self, view: type[View]) -> View:
        return view(self.runs, id=f"{view.TAB}-view")

    async def _ensure(self, view: type[View]) -> View:
        """The view of class `view`, mounting it in its tab on first use."""
        try:
            return self.query_one(f"#{view.TAB}-view", View)
        except NoMatches:
            made = self._make(view)
            await self.query_one(f"TabPane#{view.TAB}", TabPane).mount(made)
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

    @staticmethod
    def _bring_up(view: View) -> None:
        """What showing a tab means to its view, however the tab was reached (key, click, message)."""
        view.activate()
        view.focus_primary()

    async def action_show(self, tab: str) -> None:
        view = next((v for v in self.view_classes if v.TAB == tab), None)
        if view is None:  # a view this session does not have: its key says why
            absent = next(v for v in VIEWS if v.TAB == tab)
            self.notify(absent.ABSENT, severity="warning", markup=False)
            return
        shown = await self._ensure(view)
        self.query_one(TabbedContent).active = tab
        self._bring_up(shown)

    @on(TabbedContent.TabActivated)
    async def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        view = next((v for v in self.view_classes if v.TAB == event.pane.id), None)
        if view is not None:
            self._bring_up(await self._ensure(view))

    @on(OpenClass)
    @on(OpenPair)
    async def _open(self, message: OpenClass | OpenPair) -> None:
        """A view asked to see something: the view that OPENS such messages shows it, on its tab."""
        view = next((v for v in self.view_classes if isinstance(message, v.OPENS)), None)
        if view is not None:
            (await self._ensure(view)).open(message)
            await self.action_show(view.TAB)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(keymap(self.view_classes)))

    # --- writing PNGs --------------------------------------------------------------------------------

    def figure_on_screen(self) -> Figure | None:
        """The report figure of what the view on screen shows, else None."""
        view = self._on_screen()
        return None if view is None else view.figure()

    def action_write_png(self) -> None:
        figure = self.figure_on_screen()
        if figure is None:
            self.notify(nothing_to_write(self.view_classes), severity="warning", markup=False)
            return
        self.notify(visible(f"Writing the {figure.kind} figure to {self.out_dir}/ …"), timeout=2, markup=False)
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
        self.call_from_thread(self._written, Path(path))

    def _written(self, path: Path) -> None:
        self.written.append(path)
        self.notify(visible(path), title="PNG written", timeout=6, markup=False)
        self.post_message(FigureWritten(path))
