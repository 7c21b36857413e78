"""Stand-ins shared by the TUI tests (kept out of conftest.py, which other work owns)."""

from __future__ import annotations

import sys


def fake_recommendations(monkeypatch, fn) -> None:
    """Make the app show `fn(cache)` as recommendations, whether or not engine.recommendations exists."""
    try:
        import engine.recommendations as module
    except ImportError:
        module = type(sys)("engine.recommendations")
        monkeypatch.setitem(sys.modules, "engine.recommendations", module)
    monkeypatch.setattr(module, "recommendations_markdown", fn, raising=False)
