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
    """The same test set with class 1's confusion with class 0 mostly cured (as tests/test_compare.py)."""
    import dataclasses

    import numpy as np

    logits = cache.logits.copy()
    fix = (cache.labels == 1) & (cache.preds == 0)
    fix[np.nonzero(fix)[0][::2]] = False
    logits[fix, 1] += 10
    # and a regression elsewhere, so the table has both signs: class 2's first two correct images go to class 3
    hurt = np.nonzero((cache.labels == 2) & (cache.preds == 2))[0][:2]
    logits[hurt, 3] += 20
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs = (probs / probs.sum(1, keepdims=True)).astype(np.float32)
    topk = np.argsort(-probs, 1, kind="stable")[:, :5]
    return dataclasses.replace(cache, logits=logits, probs=probs, topk_classes=topk, _analysis=None)
