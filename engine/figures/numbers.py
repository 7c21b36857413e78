"""How numbers read, everywhere: figures, report files, the printout and the terminal app say the same."""

from __future__ import annotations

import math


def pct(x: float | None, digits: int = 1) -> str:
    """A share or probability as a percentage; tiny nonzero values read '<0.1%', not '0.0%'; 'n/a' for
    a missing value (None or NaN)."""
    if x is None or (isinstance(x, float) and math.isnan(x)) or x != x:
        return "n/a"
    floor = 0.5 * 10 ** -(digits + 2)
    if 0 < x < floor:
        return f"<{10 ** -digits:.{digits}f}%" if digits else "<1%"
    return f"{x:.{digits}%}"


def accuracy_line(correct: int, support: int) -> str:
    """'Accuracy: 67.0% (67/100 correct)' (n/a when the class has no test images)."""
    acc = pct(correct / support) if support else "n/a"
    return f"Accuracy: {acc} ({correct}/{support} correct)"


def pct_interval(estimate, digits: int = 1) -> str:
    """A share with its 95% interval: '21.3% [19.9%, 22.7%]' (anything with value, low and high)."""
    return f"{pct(estimate.value, digits)} [{pct(estimate.low, digits)}, {pct(estimate.high, digits)}]"
