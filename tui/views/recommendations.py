"""Recommendations: engine.reports.recommendations' Markdown, rendered by Textual's Markdown widget.

Built in a thread the first time the tab is shown (it is the one view nobody needs at start-up: the rules
read the calibration, attention and label suspects); both it and the Markdown widget (markdown-it, ~0.1 s of
imports) are imported only then.
"""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.reactive import var
from textual.widgets import Static

from tui.views.base import View


class RecommendationsView(View):
    """A scrollable Markdown document, filled the first time the tab is shown."""

    KEY, TAB, TITLE = "5", "recommendations", "Recommendations"

    DEFAULT_CSS = """
    RecommendationsView Markdown {
        margin: 0 1;
    }
    RecommendationsView #recommendations-wait {
        padding: 1 2;
        color: $text-muted;
    }
    """

    markdown_text: var[str] = var("", init=False)
    asked = False  # whether the text has been asked for (activate() asks once)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="recommendations-scroll"):
            yield Static("Computing recommendations…", id="recommendations-wait")

    def focus_primary(self) -> None:
        self.query_one("#recommendations-scroll").focus()

    def activate(self) -> None:
        if not self.asked:
            self.asked = True
            self._build()

    @work(thread=True, exclusive=True, group="recommendations")
    def _build(self) -> None:
        from engine.console import visible
        from engine.reports import recommendations as words

        try:
            text = words.recommendations_markdown(self.run)
        except Exception as exc:  # a bug there must not take the browser down
            why = words.md_escape(visible(f"Could not be computed: {type(exc).__name__}: {exc}"))
            text = f"# Recommendations\n\n*{why}*"
        self.app.call_from_thread(setattr, self, "markdown_text", text)

    def watch_markdown_text(self, text: str) -> None:
        from textual.widgets import Markdown

        self.query_one("#recommendations-wait").remove()
        self.query_one("#recommendations-scroll").mount(Markdown(text, id="recommendations-md"))
