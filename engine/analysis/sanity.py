"""Random-logit sanity check (Adebayo et al. 2018; Sixt et al. 2020), from the maps the cache already holds.

A saliency method that ignores the class it is asked about draws the same map whatever the logit; then a
map says nothing about why *this* class was chosen. For every image, the predicted-class map is compared
with the maps of the other classes the cache stores (the top-k runners-up; the lowest-ranked one is the
closest stand-in for a random class) and, on errors, with the true-class map, by Spearman rank correlation
over the map's native cells. A class-blind method scores 1.

Verdict: the maps depend on the class when the mean rank correlation with the lowest-ranked stored class
has its 95% bootstrap interval wholly below DEPENDS_MAX.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.analysis.stats import Estimate, estimate

DEPENDS_MAX = 0.8


@dataclass(frozen=True)
class RandomLogitCheck:
    vs_rank: tuple[Estimate, ...]  # mean rank correlation with the k-th stored class's map, k = 2 .. K
    vs_true_on_errors: Estimate  # predicted- vs true-class map, errors only

    @property
    def available(self) -> bool:
        return len(self.vs_rank) > 0 and self.vs_rank[-1].n > 0

    @property
    def lowest(self) -> Estimate:
        """Against the lowest-ranked stored class: the verdict's statistic."""
        return self.vs_rank[-1]

    @property
    def depends_on_class(self) -> bool:
        return self.available and self.lowest.high < DEPENDS_MAX


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks along the last axis (ties share their mean rank, as in scipy.stats.rankdata)."""
    n, m = x.shape
    order = np.argsort(x, axis=1, kind="stable")
    sorted_x = np.take_along_axis(x, order, axis=1)
    ranks = np.empty((n, m))
    pos = np.arange(1, m + 1, dtype=np.float64)
    # average the positions of tied runs: a run's mean is taken from cumulative sums over its span
    new_run = np.ones((n, m), dtype=bool)
    new_run[:, 1:] = sorted_x[:, 1:] != sorted_x[:, :-1]
    run_id = np.cumsum(new_run, axis=1) - 1
    offsets = (np.arange(n) * m)[:, None]
    flat_id = (run_id + offsets).ravel()
    sums = np.bincount(flat_id, weights=np.broadcast_to(pos, (n, m)).ravel(), minlength=n * m)
    counts = np.bincount(flat_id, minlength=n * m)
    mean_rank = (sums / np.maximum(counts, 1))[flat_id].reshape(n, m)
    np.put_along_axis(ranks, order, mean_rank, axis=1)
    return ranks


def rank_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per image: Spearman correlation of two (N, h, w) maps over their cells (0 where either is constant)."""
    cells = a.shape[-2] * a.shape[-1]
    x = _ranks(a.reshape(len(a), cells).astype(np.float64))
    y = _ranks(b.reshape(len(b), cells).astype(np.float64))
    x -= x.mean(axis=1, keepdims=True)
    y -= y.mean(axis=1, keepdims=True)
    den = np.sqrt((x * x).sum(axis=1) * (y * y).sum(axis=1))
    return np.divide((x * y).sum(axis=1), den, out=np.zeros(len(den)), where=den > 0)


def random_logit(cam_topk: np.ndarray, cam_true: np.ndarray, correct: np.ndarray) -> RandomLogitCheck:
    top1 = cam_topk[:, 0]
    vs = tuple(estimate(rank_correlation(top1, cam_topk[:, k])) for k in range(1, cam_topk.shape[1]))
    wrong = ~correct
    return RandomLogitCheck(vs, estimate(rank_correlation(top1[wrong], cam_true[wrong])))


@dataclass(frozen=True)
class ModelRandomisationCheck:
    """Model randomisation (Adebayo et al. 2018): the predicted-class map against the map of the same class
    from a copy of the model whose head and last stage were re-initialised (--faithfulness,
    engine.gradcam.randomisation). Maps that survive re-initialisation show the input, not what was learnt.
    Verdict: the maps depend on the learnt weights when the mean rank correlation's 95% interval lies
    wholly below DEPENDS_MAX (the random-logit check's bound)."""

    corr: Estimate
    reinitialised: str = ""

    @property
    def available(self) -> bool:
        return self.corr.n > 0

    @property
    def depends_on_weights(self) -> bool:
        return self.available and self.corr.high < DEPENDS_MAX


def model_randomisation(corr: np.ndarray | None, meta: dict) -> ModelRandomisationCheck:
    """From the cache's NaN-padded per-image correlations and the run's record of what was re-initialised."""
    values = np.zeros(0) if corr is None else np.asarray(corr, dtype=np.float64)
    done = meta.get("model_randomisation") if isinstance(meta, dict) else None
    what = str(done.get("reinitialised", "")) if isinstance(done, dict) else ""
    return ModelRandomisationCheck(estimate(values[np.isfinite(values)]), what)
