"""Uncertainty for the claims the tool makes: bootstrap intervals over images, seeded so a report is the same
every time it is written.

Every statistic a recommendation or a ranking rests on is compared with its baseline (the same statistic on
a reference set of images: correct predictions, or the model's own top-1 vs top-2) and carries a 95% interval;
a claim is made only when its interval clears the baseline's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RESAMPLES = 1000
LEVEL = 0.95
SEED = 0
BLOCK_DRAWS = 1_000_000  # the same draws in any block size: a small group takes one block


@dataclass(frozen=True)
class Estimate:
    """A share (or mean) over n images and its 95% bootstrap interval."""

    value: float
    low: float
    high: float
    n: int

    def above(self, other: "Estimate") -> bool:
        """This estimate's interval lies wholly above the other's: the difference is not noise."""
        return self.n > 0 and other.n > 0 and self.low > other.high


def estimate(values: np.ndarray, resamples: int = RESAMPLES, seed: int = SEED) -> Estimate:
    """The mean of values (0/1 flags give a share) with a percentile bootstrap interval over images."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if n == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    block = max(100, BLOCK_DRAWS // n)  # at most BLOCK_DRAWS draws (or 100 resamples) in memory at once
    for start in range(0, resamples, block):
        stop = min(resamples, start + block)
        means[start:stop] = values[rng.integers(0, n, (stop - start, n))].mean(axis=1)
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Estimate(float(values.mean()), float(low), float(high), n)
