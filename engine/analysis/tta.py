"""The plain view against the averaged views of a `--tta flip` run: accuracy and calibration of each, from
the cache's `probs` (the averaged views) and `probs_plain` (the original view alone), and what the mirror
cost, from the run's timings. None for a run without test-time augmentation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.analysis.calibration import ece_mce
from engine.store import RunCache


@dataclass(frozen=True)
class ViewFigures:
    top1: float
    ece: float


@dataclass(frozen=True)
class TTAFigures:
    mode: str  # "flip"
    plain: ViewFigures  # the original view alone
    averaged: ViewFigures  # the cache's probabilities
    pass_s: float | None  # the whole pass with the mirror
    mirror_s: float | None  # of which the mirrored forward passes

    @property
    def plain_pass_s(self) -> float | None:
        """The pass without the mirror: the pass less the mirror's measured time."""
        return None if self.pass_s is None or self.mirror_s is None else self.pass_s - self.mirror_s

    def lines(self) -> list[str]:
        """The figures in words (the run's printout and analysis_summary.txt)."""
        out = [f"Test-time augmentation ({self.mode}): logits of each image and its mirror averaged; maps from the "
               f"original view.",
               f"  Top-1 accuracy: {self.averaged.top1:.2%} averaged, {self.plain.top1:.2%} plain view "
               f"({(self.averaged.top1 - self.plain.top1) * 100:+.2f} points)",
               f"  ECE (15 bins):  {self.averaged.ece:.4f} averaged, {self.plain.ece:.4f} plain view"]
        plain_s = self.plain_pass_s
        if plain_s is not None and plain_s > 0:
            out.append(f"  Cost: the pass took {self.pass_s:.1f} s, of which {self.mirror_s:.1f} s in the mirrored "
                       f"forward; about {plain_s:.1f} s without it (x{self.pass_s / plain_s:.2f})")
        return out


def view_figures(probs: np.ndarray, labels: np.ndarray) -> ViewFigures:
    if len(labels) == 0:
        return ViewFigures(float("nan"), float("nan"))
    pred = probs.argmax(axis=1)
    conf = probs[np.arange(len(labels)), pred].astype(np.float64)
    correct = pred == labels
    return ViewFigures(float(correct.mean()), ece_mce(conf, correct)[0])


def tta_figures(cache: RunCache) -> TTAFigures | None:
    mode = cache.meta.get("tta", "none")
    if mode == "none" or cache.probs_plain is None:
        return None
    timings = cache.meta.get("timings") or {}
    number = lambda v: float(v) if isinstance(v, (int, float)) else None  # noqa: E731
    return TTAFigures(str(mode), view_figures(cache.probs_plain, cache.labels), view_figures(cache.probs, cache.labels),
                      number(timings.get("forward_and_cam_s")), number(timings.get("tta_mirror_s")))
