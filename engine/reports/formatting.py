"""How numbers read in every report file (one place, so PNG, TXT and HTML say the same thing)."""

from __future__ import annotations

import math


def pct(x: float) -> str:
    """A share or probability as a percentage; tiny nonzero probabilities read '<0.1%', not '0.0%'."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return "<0.1%" if 0 < x < 0.0005 else f"{x:.1%}"


def accuracy_line(correct: int, support: int) -> str:
    """'Accuracy: 67.0% (67/100 correct)' (n/a when the class has no test images)."""
    acc = pct(correct / support) if support else "n/a"
    return f"Accuracy: {acc} ({correct}/{support} correct)"
