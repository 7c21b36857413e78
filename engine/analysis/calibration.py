"""Calibration of the predicted confidences: ECE/MCE (Guo et al. 2017, 15 equal-width bins),
NLL, Brier score, and temperature scaling fitted by NLL with 2-fold cross-fitting, so the "after" figures
are measured on images the temperature was not fitted on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_BINS = 15
HIGH_CONFIDENCE = 0.9


@dataclass(frozen=True)
class Reliability:
    """Per-bin counts, mean confidence and accuracy of a reliability diagram."""

    edges: np.ndarray  # (B+1,)
    counts: np.ndarray  # (B,)
    confidence: np.ndarray  # (B,) mean confidence in the bin (nan where empty)
    accuracy: np.ndarray  # (B,) accuracy in the bin (nan where empty)


@dataclass(frozen=True)
class Calibration:
    ece: float
    mce: float
    nll: float
    brier: float
    reliability: Reliability
    temperature_folds: tuple[float, float]  # T fitted on each half
    temperature: float  # T fitted on all images (what a user would apply)
    ece_after: float  # held-out ECE after scaling, pooled over both halves
    nll_after: float
    high_conf_errors: np.ndarray  # image indices of errors with confidence >= 0.9, most confident first


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits.astype(np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def reliability(confidence: np.ndarray, correct: np.ndarray, n_bins: int = N_BINS) -> Reliability:
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # bins are (lo, hi], the first one also takes 0, as in Guo et al.'s reference code
    idx = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    counts = np.bincount(idx, minlength=n_bins)
    conf_sum = np.bincount(idx, weights=confidence, minlength=n_bins)
    acc_sum = np.bincount(idx, weights=correct.astype(np.float64), minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return Reliability(edges, counts, conf_sum / counts, acc_sum / counts)


def ece_mce(confidence: np.ndarray, correct: np.ndarray, n_bins: int = N_BINS) -> tuple[float, float]:
    r = reliability(confidence, correct, n_bins)
    gaps = np.abs(np.nan_to_num(r.accuracy) - np.nan_to_num(r.confidence))
    n = max(int(r.counts.sum()), 1)
    return float((r.counts / n * gaps).sum()), float(gaps[r.counts > 0].max(initial=0.0))


def nll(probs: np.ndarray, labels: np.ndarray) -> float:
    p = probs[np.arange(len(labels)), labels]
    return float(-np.log(np.clip(p, 1e-12, 1.0)).mean())


def brier(probs: np.ndarray, labels: np.ndarray) -> float:
    onehot = np.zeros_like(probs, dtype=np.float64)
    onehot[np.arange(len(labels)), labels] = 1.0
    return float(((probs - onehot) ** 2).sum(axis=1).mean())


def _nll_at(logits: np.ndarray, labels: np.ndarray, t: float) -> float:
    z = logits.astype(np.float64) / t
    zmax = z.max(axis=1)
    lse = zmax + np.log(np.exp(z - zmax[:, None]).sum(axis=1))
    return float((lse - z[np.arange(len(labels)), labels]).mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T minimising NLL (golden-section search on log T in [0.05, 20]; NLL is unimodal in T)."""
    lo, hi = np.log(0.05), np.log(20.0)
    g = (np.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = _nll_at(logits, labels, np.exp(a)), _nll_at(logits, labels, np.exp(b))
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = _nll_at(logits, labels, np.exp(a))
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = _nll_at(logits, labels, np.exp(b))
    return float(np.exp((lo + hi) / 2))


def calibrate(logits: np.ndarray, labels: np.ndarray, seed: int = 0) -> Calibration:
    """All calibration figures of a run; temperature scaling is judged on held-out halves."""
    labels = np.asarray(labels, dtype=np.int64)
    probs = softmax(logits)
    preds = probs.argmax(axis=1)
    conf = probs.max(axis=1)
    correct = preds == labels
    ece, mce = ece_mce(conf, correct)
    perm = np.random.default_rng(seed).permutation(len(labels))
    halves = (perm[: len(perm) // 2], perm[len(perm) // 2 :])
    held_out = np.empty_like(probs)
    temps = []
    for fit_idx, eval_idx in (halves, halves[::-1]):
        t = fit_temperature(logits[fit_idx], labels[fit_idx])
        temps.append(t)
        held_out[eval_idx] = softmax(logits[eval_idx], t)
    ece_after, _ = ece_mce(held_out.max(axis=1), held_out.argmax(axis=1) == labels)
    wrong_hi = np.nonzero(~correct & (conf >= HIGH_CONFIDENCE))[0]
    wrong_hi = wrong_hi[np.argsort(-conf[wrong_hi], kind="stable")]
    return Calibration(
        ece=ece,
        mce=mce,
        nll=nll(probs, labels),
        brier=brier(probs, labels),
        reliability=reliability(conf, correct),
        temperature_folds=(temps[0], temps[1]),
        temperature=fit_temperature(logits, labels),
        ece_after=ece_after,
        nll_after=nll(held_out, labels),
        high_conf_errors=wrong_hi,
    )
