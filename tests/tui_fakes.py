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


def better_cache(cache):
    """A later run: class 1's confusion with class 0 mostly cured (tests.synthetic.cured_copy), and a regression
    elsewhere so the table has both signs: class 2's first two correct images go to class 3."""
    import numpy as np

    from tests.synthetic import cured_copy, with_logits

    cured, _ = cured_copy(cache)
    logits = cured.logits.copy()
    hurt = np.nonzero((cache.labels == 2) & (cache.preds == 2))[0][:2]
    logits[hurt, 3] += 20
    return with_logits(cache, logits)
