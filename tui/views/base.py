"""The protocol between the app and its views: what a view is called, how it is reached, and what it shows.

The app knows views only through this class: it builds a tab, a number key, the view's rows of the key
list and its keys on the bottom line from the class attributes of each registered view (tui.views.VIEWS),
hands messages to the view that OPENS them, asks the view on screen what `w` would write, and keeps the
views' location()s as the history Esc walks back along. It never looks inside a view, so a new view
is one new module and one line in the registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Hashable

from textual.message import Message
from textual.widget import Widget

from engine.analysis.analysed_run import AnalysedRun
from tui.figures import Figure
from tui.review import ReviewBook


@dataclass(frozen=True)
class Runs:
    """What every view is built from: the run on show and, when comparing, the older run, both with their
    names escaped for the terminal (tui.model.for_terminal), what to call them, and the session's label
    review (shared by the views that review)."""

    run: AnalysedRun
    old: AnalysedRun | None = None
    run_name: str = "new"
    old_name: str = "old"
    reviews: ReviewBook | None = None

    @property
    def book(self) -> ReviewBook:
        if self.reviews is None:  # a view built without the app's book: one in memory, shared from now on
            object.__setattr__(self, "reviews", ReviewBook(self.run.cache.labels, self.run.cache.num_classes))
        return self.reviews


class View(Widget):
    """One tab of the app. Subclasses set KEY, TAB and TITLE, and HELP rows for the key list; the state a
    view shows lives in its reactives, bound to the children that show it."""

    DEFAULT_CSS = """
    View {
        layout: vertical;
        width: 1fr;
        height: 1fr;
    }
    """

    KEY: ClassVar[str] = ""  # the number key that shows it
    TAB: ClassVar[str] = ""  # its tab's id (the view's own id is f"{TAB}-view")
    TITLE: ClassVar[str] = ""  # its tab's title, after the key, and its name in the key list
    HELP: ClassVar[list[tuple[str, str]]] = []  # (keys, what they do), in the key list under TITLE
    OPENS: ClassVar[tuple[type[Message], ...]] = ()  # the messages it shows (see open())
    ABSENT: ClassVar[str] = ""  # what its key says when the view is not available in this session
    WRITES: ClassVar[str] = ""  # what `w` writes from it ("class", "confused pair"), for the app to say
    KEYS: ClassVar[tuple[tuple[str, str], ...]] = ()  # (key, what) of its essential keys, for the bottom line

    def __init__(self, runs: Runs, **kwargs) -> None:
        super().__init__(**kwargs)
        self.runs = runs
        self.run = runs.run

    @classmethod
    def available(cls, runs: Runs) -> bool:
        """Whether this session has this view (e.g. Compare only with a second run)."""
        return True

    def activate(self) -> None:
        """Called each time its tab is shown; views that compute something slow start it here, once."""

    def focus_primary(self) -> None:
        """Give the keys to the widget the user works with here (the view itself by default)."""
        self.focus()

    def figure(self) -> Figure | None:
        """The report figure of what is on screen, for `w`; None when there is none."""
        return None

    def open(self, message: Message) -> None:
        """Show what `message` (one of OPENS) asks for; the app then shows this view's tab."""

    def location(self) -> Hashable:
        """Where the view is (its state, small and hashable): the app keeps these for Esc."""
        return None

    def restore(self, location: Hashable) -> None:
        """Go back to a location() this view returned earlier."""

    def remember(self) -> None:
        """Say that the view is about to move on its own (a new class, a zoom): Esc comes back here."""
        from tui.messages import Leaving

        self.post_message(Leaving(self.TAB, self.location()))

    @property
    def shown(self) -> bool:
        """Whether its tab is the one on screen (work finished in a thread asks before taking the keys)."""
        return all(node.display for node in self.ancestors_with_self if isinstance(node, Widget))
