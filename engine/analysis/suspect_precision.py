"""How many label suspects are likely real label errors: the observed count against a calibrated null.

A model flags some of its own confident mistakes as label suspects even when every label is right. To see
how many, the labels are redrawn NULL_DRAWS times from the model's temperature-scaled distribution (clean
labels, as a calibrated copy of the model believes them), and the suspects of each redrawn set are counted:
the spread of those counts is what clean labels produce.

The temperature is fitted by the Brier score, not by NLL: a wrong label costs NLL without bound (its
probability is near zero), so an NLL fit softens the model to explain the very label errors this looks
for, while the Brier score charges each image at most 2.

Excess = observed - null mean; estimated precision = excess / observed, with an interval from the null's
2.5th and 97.5th percentiles, clipped to [0, 1]. Counted for all candidates and for the strong ones. A test
set alone cannot fully tell a wrong label from a confident mistake that a temperature does not explain,
so read the estimate as the evidence, not as a count of wrong labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.analysis.calibration import brier, softmax
from engine.analysis.label_suspects import label_suspects

NULL_DRAWS = 50
SEED = 0


@dataclass(frozen=True)
class NullCount:
    observed: int
    null_mean: float
    null_low: float  # 2.5th percentile of the null counts
    null_high: float  # 97.5th percentile

    @property
    def excess(self) -> float:
        return max(0.0, self.observed - self.null_mean)

    @property
    def precision(self) -> float:
        return self.excess / self.observed if self.observed else float("nan")

    @property
    def precision_low(self) -> float:
        return max(0.0, self.observed - self.null_high) / self.observed if self.observed else float("nan")

    @property
    def precision_high(self) -> float:
        return max(0.0, self.observed - self.null_low) / self.observed if self.observed else float("nan")

    @property
    def beats_null(self) -> bool:
        """More suspects than clean labels would produce, beyond the null's 95% range."""
        return self.observed > self.null_high


@dataclass(frozen=True)
class SuspectPrecision:
    all: NullCount
    strong: NullCount
    draws: int
    temperature: float  # fitted by the Brier score


def fit_temperature_brier(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T minimising the Brier score (golden-section search on log T in [0.05, 20])."""
    def loss(log_t: float) -> float:
        return brier(softmax(logits, float(np.exp(log_t))), labels)

    lo, hi = np.log(0.05), np.log(20.0)
    g = (np.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = loss(a), loss(b)
    for _ in range(40):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = loss(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = loss(b)
    return float(np.exp((lo + hi) / 2))


def null_labels(logits: np.ndarray, temperature: float, rng: np.random.Generator, draws: int) -> np.ndarray:
    """(draws, N) label sets drawn from the temperature-scaled distribution."""
    cum = softmax(logits, temperature).cumsum(axis=1)
    c = cum.shape[1]
    out = np.empty((draws, len(cum)), dtype=np.int64)
    for d in range(draws):
        u = rng.random(len(cum))[:, None] * cum[:, -1:]
        out[d] = np.minimum((cum < u).sum(axis=1), c - 1)
    return out


def _count(observed: int, null: list[int]) -> NullCount:
    low, high = np.percentile(null, [2.5, 97.5]) if null else (float("nan"), float("nan"))
    return NullCount(observed, float(np.mean(null)) if null else float("nan"), float(low), float(high))


def estimate_precision(probs: np.ndarray, logits: np.ndarray, labels: np.ndarray, class_names: list[str],
                       draws: int = NULL_DRAWS, seed: int = SEED) -> SuspectPrecision:
    """Observed suspects (all, strong) against the counts the calibrated null produces."""
    labels = np.asarray(labels, dtype=np.int64)
    observed = label_suspects(probs, labels, class_names)
    n_all, n_strong = [], []
    temperature = fit_temperature_brier(logits, labels) if len(labels) else float("nan")
    if len(labels):
        for y in null_labels(logits, temperature, np.random.default_rng(seed), draws):
            s = label_suspects(probs, y, class_names)
            n_all.append(len(s))
            n_strong.append(int(np.sum(s["strong"])))
    return SuspectPrecision(
        all=_count(len(observed), n_all),
        strong=_count(int(np.sum(observed["strong"])), n_strong),
        draws=draws if len(labels) else 0,
        temperature=temperature,
    )
