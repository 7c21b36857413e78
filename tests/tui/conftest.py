"""Fixtures of the TUI tests: the app's runs, and a fixed recommendations text.

The app is driven with Textual's Pilot. pytest-asyncio is not a dependency, so each test runs its
coroutine with asyncio.run(); Textual's run_test re-raises any exception a handler or worker raised, so a
test that finishes cleanly is also a test that nothing crashed.
"""

from __future__ import annotations

import pytest

from engine.analysis.analysed_run import AnalysedRun
from tests.tui.helpers import better_cache


@pytest.fixture
def use_recommendations(monkeypatch):
    """use_recommendations(fn): the Recommendations view shows fn(run) (the TUI is tested, not the wording)."""
    import engine.reports.recommendations as words

    def use(fn) -> None:
        monkeypatch.setattr(words, "recommendations_markdown", fn)

    return use


@pytest.fixture
def later_run(small_cache) -> AnalysedRun:
    """A later run on the same test set as small_run: class 1 mostly cured, class 2 slightly worse."""
    return AnalysedRun(better_cache(small_cache))
