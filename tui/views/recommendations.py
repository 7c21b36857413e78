"""Recommendations: engine.recommendations' Markdown, rendered by Textual's Markdown widget.

Built on first view in a thread (it is the one view nobody needs at start-up); both it and the Markdown
widget (markdown-it, ~0.1 s of imports) are imported only then.
"""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from engine.cache import RunCache


class RecommendationsView(VerticalScroll):
    """A scrollable Markdown document, filled by load()."""

    DEFAULT_CSS = """
    RecommendationsView > Markdown {
        margin: 0 1;
    }
    RecommendationsView > #recommendations-wait {
        padding: 1 2;
        color: $text-muted;
    }
    """

    def __init__(self, cache: RunCache, **kwargs) -> None:
        super().__init__(**kwargs)
        self.cache = cache
        self.loaded = False
        self.markdown_text = ""

    def compose(self) -> ComposeResult:
        yield Static("Computing recommendations…", id="recommendations-wait")

    def focus_primary(self) -> None:
        self.focus()

    def load(self) -> None:
        if not self.loaded:
            self.loaded = True
            self._build()

    @work(thread=True, exclusive=True, group="recommendations")
    def _build(self) -> None:
        from engine.console import visible
        from engine.recommendations import md_escape, recommendations_markdown

        try:
            text = recommendations_markdown(self.cache)
        except Exception as exc:  # a bug there must not take the browser down
            text = f"# Recommendations\n\n*{md_escape(visible(f'Could not be computed: {type(exc).__name__}: {exc}'))}*"
        self.app.call_from_thread(self._show, text)

    async def _show(self, text: str) -> None:
        from textual.widgets import Markdown

        self.markdown_text = text
        await self.query_one("#recommendations-wait").remove()
        await self.mount(Markdown(text, id="recommendations-md"))
