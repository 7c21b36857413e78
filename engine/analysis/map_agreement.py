"""Where the true-class and predicted-class maps of an error agree, against the model's own baseline.

With a linear head every class map is a weighted sum of the same feature channels, so two classes' maps of
one image are alike by default. The statistic on errors (Pearson correlation of the displayed true-class
and predicted-class maps) is therefore compared with the same statistic on correct predictions, between
their top-1 and top-2 maps (the two classes the model weighed last); a share of errors is only called a
pattern when its 95% bootstrap interval lies wholly above that baseline's.

- same region: correlation >= SAME_REGION_CORR ("looks at the right object but names it wrongly");
- other region: correlation < OTHER_REGION_CORR ("looks somewhere else").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.analysis.cam_maps import display_cam
from engine.analysis.stats import Estimate, estimate

SAME_REGION_CORR = 0.7
OTHER_REGION_CORR = 0.3
CHUNK = 2048


@dataclass(frozen=True)
class MapAgreement:
    corr_errors: np.ndarray  # (E,) per error, in image order: true-class vs predicted-class map
    corr_baseline: np.ndarray  # (R,) per correct prediction: top-1 vs top-2 map (empty without a top-2 map)
    same_errors: Estimate  # share of errors with corr >= SAME_REGION_CORR
    same_baseline: Estimate
    other_errors: Estimate  # share of errors with corr < OTHER_REGION_CORR
    other_baseline: Estimate

    @property
    def same_beats_baseline(self) -> bool:
        return self.same_errors.above(self.same_baseline)

    @property
    def other_beats_baseline(self) -> bool:
        return self.other_errors.above(self.other_baseline)


def map_correlation(a: np.ndarray, b: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """Per image: Pearson correlation of two sets of native maps as displayed (0 where either map is flat)."""
    out = np.zeros(len(a))
    for s in range(0, len(a), CHUNK):
        x = display_cam(a[s : s + CHUNK], image_size).reshape(len(a[s : s + CHUNK]), -1).astype(np.float64)
        y = display_cam(b[s : s + CHUNK], image_size).reshape(len(x), -1).astype(np.float64)
        x -= x.mean(axis=1, keepdims=True)
        y -= y.mean(axis=1, keepdims=True)
        den = np.sqrt((x * x).sum(axis=1) * (y * y).sum(axis=1))
        out[s : s + len(x)] = np.divide((x * y).sum(axis=1), den, out=np.zeros(len(den)), where=den > 0)
    return out


def measure(
    cam_true: np.ndarray, cam_topk: np.ndarray, correct: np.ndarray, image_size: tuple[int, int]
) -> MapAgreement:
    """Map agreement of the errors and of the correct predictions' top-1 vs top-2 maps."""
    wrong = ~correct
    corr_e = map_correlation(cam_true[wrong], cam_topk[wrong, 0], image_size)
    if cam_topk.shape[1] >= 2:
        corr_b = map_correlation(cam_topk[correct, 0], cam_topk[correct, 1], image_size)
    else:
        corr_b = np.zeros(0)
    return MapAgreement(
        corr_errors=corr_e,
        corr_baseline=corr_b,
        same_errors=estimate(corr_e >= SAME_REGION_CORR),
        same_baseline=estimate(corr_b >= SAME_REGION_CORR),
        other_errors=estimate(corr_e < OTHER_REGION_CORR),
        other_baseline=estimate(corr_b < OTHER_REGION_CORR),
    )
