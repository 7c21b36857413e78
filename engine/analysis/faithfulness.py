"""Faithfulness of the predicted-class maps, from the probabilities --faithfulness stored (the model side is
engine.gradcam.faithfulness; definitions in docs/definitions.md).

Per sampled image:
- deletion AUC: area under the predicted class's probability as the map's top cells are replaced by the
  baseline, over the fraction of cells removed (trapezoid rule on [0, 1]); low = faithful;
- insertion AUC: the same as the top cells are revealed from the baseline; high = faithful;
- faithfulness gap: insertion AUC - deletion AUC (the one number classes are ranked by; above 0 means the
  map's order of cells matters more to the model than the reverse order does);
- drop in confidence: max(0, Y - O) / Y, with Y the probability on the image and O on the image times its
  map (Chattopadhay et al. 2018 average this over images as "average drop"; low = faithful);
- increase in confidence: 1 where O > Y (its mean is their "increase in confidence"; high = faithful).
Means per class (by given label) and per confused pair carry 95% bootstrap intervals (engine.analysis.stats);
a class is ranked among the least faithful when it has >= MIN_IMAGES sampled images.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from engine.analysis.stats import Estimate, estimate
from engine.analysis.tables import Table

MIN_IMAGES = 5
METRICS = ("deletion_auc", "insertion_auc", "gap", "drop", "increase")


def auc(curves: np.ndarray) -> np.ndarray:
    """Per row: the trapezoid-rule area under a curve sampled at S + 1 equal steps of [0, 1]."""
    c = np.asarray(curves, dtype=np.float64)
    steps = c.shape[1] - 1
    return (c.sum(axis=1) - (c[:, 0] + c[:, -1]) / 2) / steps


@dataclass(frozen=True)
class Faithfulness:
    """Per sampled image (in image-id order): its id and the five measures."""

    index: np.ndarray  # int64 (M,)
    deletion_auc: np.ndarray
    insertion_auc: np.ndarray
    drop: np.ndarray
    increase: np.ndarray
    steps: int

    @property
    def available(self) -> bool:
        return len(self.index) > 0

    @property
    def gap(self) -> np.ndarray:
        return self.insertion_auc - self.deletion_auc

    def values(self, name: str) -> np.ndarray:
        return getattr(self, name)

    def summary(self, where: np.ndarray | None = None) -> dict[str, Estimate]:
        """Each measure's mean over the sampled images (those with `where`, a mask over the sample)."""
        keep = slice(None) if where is None else np.asarray(where, dtype=bool)
        return {name: estimate(self.values(name)[keep]) for name in METRICS}


NONE = Faithfulness(np.zeros(0, np.int64), *(np.zeros(0) for _ in range(4)), steps=0)


def measure(deletion: np.ndarray | None, insertion: np.ndarray | None, masked: np.ndarray | None) -> Faithfulness:
    """From the cache's NaN-padded members (None: the run had no --faithfulness)."""
    if deletion is None or insertion is None or masked is None:
        return NONE
    deletion, insertion = np.asarray(deletion, dtype=np.float64), np.asarray(insertion, dtype=np.float64)
    index = np.nonzero(np.isfinite(deletion).all(axis=1) & np.isfinite(insertion).all(axis=1)
                       & np.isfinite(np.asarray(masked)))[0].astype(np.int64)
    d, i, o = deletion[index], insertion[index], np.asarray(masked, dtype=np.float64)[index]
    y = d[:, 0]
    drop = np.divide(np.maximum(0.0, y - o), y, out=np.zeros(len(y)), where=y > 0)
    return Faithfulness(index, auc(d), auc(i), drop, (o > y).astype(np.float64), steps=deletion.shape[1] - 1)


def _columns(groups: list[np.ndarray], f: Faithfulness) -> dict[str, list]:
    out: dict[str, list] = {"n": [int(len(g)) for g in groups]}
    for name in METRICS:
        est = [estimate(f.values(name)[g]) for g in groups]
        out[name], out[f"{name}_low"], out[f"{name}_high"] = ([getattr(e, k) for e in est] for k in ("value", "low", "high"))
    return out


def per_class(f: Faithfulness, labels: np.ndarray, class_names: list[str]) -> Table:
    """One row per class (by given label) with each measure's mean and interval over its sampled images, and
    least_faithful_rank: 1 for the lowest gap among classes with >= MIN_IMAGES images (0: not ranked)."""
    given = np.asarray(labels)[f.index]
    groups = [np.nonzero(given == c)[0] for c in range(len(class_names))]
    cols = {"class_id": list(range(len(class_names))), "class_name": list(class_names), **_columns(groups, f)}
    counted = [c for c in range(len(class_names)) if cols["n"][c] >= MIN_IMAGES]
    order = sorted(counted, key=lambda c: (cols["gap"][c], c))
    rank = [0] * len(class_names)
    for k, c in enumerate(order, 1):
        rank[c] = k
    cols["least_faithful_rank"] = rank
    return Table(cols)


def least_faithful(table: Table) -> list[int]:
    """Class ids of the ranked classes, least faithful (lowest gap) first."""
    ranks = table["least_faithful_rank"]
    return sorted((c for c, r in enumerate(ranks) if r > 0), key=lambda c: ranks[c])


def pair_members(f: Faithfulness, labels: np.ndarray, preds: np.ndarray, true_ids, pred_ids) -> list[np.ndarray]:
    """For each pair (true_ids[k] -> pred_ids[k]): the positions in the sample of its sampled errors."""
    given, predicted = np.asarray(labels, np.int64)[f.index], np.asarray(preds, np.int64)[f.index]
    width = int(max(given.max(initial=0), predicted.max(initial=0), np.max(true_ids, initial=0),
                    np.max(pred_ids, initial=0))) + 1
    keys = given * width + predicted
    order = np.argsort(keys, kind="stable")
    wanted = np.asarray(true_ids, np.int64) * width + np.asarray(pred_ids, np.int64)
    lo, hi = (np.searchsorted(keys[order], wanted, side=s) for s in ("left", "right"))
    return [order[a:b] for a, b in zip(lo, hi)]


def per_pair(f: Faithfulness, labels: np.ndarray, preds: np.ndarray, pairs: Table) -> Table:
    """For each confused pair (true -> predicted, engine.analysis.metrics), its sampled errors' measures."""
    groups = pair_members(f, labels, preds, pairs["true_id"], pairs["pred_id"])
    return Table({"rank": list(pairs["rank"]), "true_name": list(pairs["true_name"]),
                  "pred_name": list(pairs["pred_name"]), **_columns(groups, f)})


@dataclass(frozen=True)
class PairGaps:
    """The faithfulness gap of each of many confused pairs' sampled errors: counts and means of every pair
    at once (enough to sort thousands of pairs), the interval of one pair when it is asked for (a bootstrap
    per pair would cost seconds for every pair of a large run)."""

    members: list[np.ndarray]
    gaps: np.ndarray  # the sample's gaps
    _intervals: dict[int, Estimate] = field(default_factory=dict, compare=False, repr=False)

    @cached_property
    def n(self) -> np.ndarray:
        return np.array([len(m) for m in self.members], dtype=np.int64)

    @cached_property
    def mean(self) -> np.ndarray:
        return np.array([self.gaps[m].mean() if len(m) else np.nan for m in self.members])

    def interval(self, k: int) -> Estimate:
        """Pair k's bootstrap interval, drawn once (a table asks again each time it repaints the row)."""
        if k not in self._intervals:
            self._intervals[k] = estimate(self.gaps[self.members[k]])
        return self._intervals[k]

    def least_faithful_first(self) -> np.ndarray:
        """Pair positions: those with >= MIN_IMAGES sampled errors by mean gap (lowest first), then the
        rest in their given order (too few images to rank)."""
        n, mean = self.n, self.mean
        ranked = np.nonzero(n >= MIN_IMAGES)[0]
        ranked = ranked[np.lexsort((ranked, mean[ranked]))]
        return np.concatenate([ranked, np.nonzero(n < MIN_IMAGES)[0]]).astype(np.int64)


def pair_gaps(f: Faithfulness, labels: np.ndarray, preds: np.ndarray, true_ids, pred_ids) -> PairGaps:
    return PairGaps(pair_members(f, labels, preds, true_ids, pred_ids), f.gap)
