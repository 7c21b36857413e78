"""Recommendations: engine.reports.recommendations' Markdown, rendered by Textual's Markdown widget, then
the places its evidence names (tui.evidence): each line opens a slice, a pair's images, a class or a
superclass's block of the confusion matrix. The view opens on the text; the first ↓ goes to the links.

Built in a thread the first time the tab is shown (it is the one view nobody needs at start-up: the rules
read the calibration, attention and label suspects); both it and the Markdown widget (markdown-it, ~0.1 s of
imports) are imported only then.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.reactive import var
from textual.widgets import Static

from tui.views.base import View
from tui.widgets.link_list import LinkList


class RecommendationsView(View):
    """A scrollable Markdown document, then the evidence's links, filled the first time the tab is shown."""

    KEY, TAB, TITLE = "5", "recommendations", "Recommendations"
    KEYS = (("↑↓", "link"), ("Enter", "open the evidence"), ("pgup pgdn", "scroll"))
    HELP = [("↑ ↓  Enter", "choose · open what a recommendation's evidence names (its images, pairs, classes)")]

    DEFAULT_CSS = """
    RecommendationsView Markdown {
        margin: 0 1;
    }
    RecommendationsView #recommendations-wait {
        padding: 1 2;
        color: $text-muted;
    }
    RecommendationsView LinkList {
        margin: 1 2 0 2;
    }
    """

    markdown_text: var[str] = var("", init=False)
    asked = False  # whether the text has been asked for (activate() asks once)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="recommendations-scroll"):
            yield Static("Computing recommendations…", id="recommendations-wait")

    def focus_primary(self) -> None:
        links = self.query(LinkList)
        (links.first() if links else self.query_one("#recommendations-scroll")).focus(scroll_visible=False)

    def activate(self) -> None:
        if not self.asked:
            self.asked = True
            self._build()

    @work(thread=True, exclusive=True, group="recommendations")
    def _build(self) -> None:
        from engine.console import visible
        from engine.reports import recommendations as words
        from tui.evidence import evidence_links

        try:
            text = words.recommendations_markdown(self.run)
            links = evidence_links(self.run)
        except Exception as exc:  # a bug there must not take the browser down
            why = words.md_escape(visible(f"Could not be computed: {type(exc).__name__}: {exc}"))
            text, links = f"# Recommendations\n\n*{why}*", []
        self.app.call_from_thread(self._built, text, links)

    def _built(self, text: str, links) -> None:
        self.links = links
        self.markdown_text = text

    def watch_markdown_text(self, text: str) -> None:
        from textual.widgets import Markdown

        self.query_one("#recommendations-wait").remove()
        scroll = self.query_one("#recommendations-scroll")
        links = getattr(self, "links", [])
        scroll.mount(Markdown(text, id="recommendations-md"))
        if links:
            lines = [Text(f"{link.number}. ", style="bold") + Text(link.label) for link in links]
            header = Text("Open the evidence of the recommendations above (↑ ↓, Enter):", style="bold")
            scroll.mount(LinkList(lines, [link.message for link in links], header=header, cursor=-1,
                                  id="evidence-links"))
        if self.shown:
            self.focus_primary()

    @on(LinkList.Opened)
    def _opened(self, event: LinkList.Opened) -> None:
        event.stop()
        self.post_message(event.message)
