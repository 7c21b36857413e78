"""Similar images by the model's own eyes: cosine similarity of the Grad-CAM layer's pooled features.

The features (the layer's spatial mean, what a linear head reads) are centred on the test set's mean
before the cosine: after a ReLU every feature is positive, so raw cosines crowd near 1 for any two images,
while centred ones spread over [-1, 1] and a high one means "the model sees these two alike". Near-duplicates
are pairs of test images with centred cosine >= DUPLICATE_COSINE = 0.98. Measured on CIFAR-100 with
ResNet-56: the test set's two exact copies score 1.00 (and carry different labels: otter/seal, baby/girl),
a copy made 10 levels brighter 0.998 (median; 0.989 for the lowest 5%), shifted by one pixel 0.98; the 19
other pairs above 0.98 are near-identical photos of one class (0.980-0.989), and about one image in ten
has a neighbour above 0.93, so a lower threshold lists look-alikes rather than copies. The search is a
blocked float32 matrix product: memory stays at a block of rows; test sets above MAX_IMAGES are not searched
(every pair of a million images is hours of work), the nearest images of one image always are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DUPLICATE_COSINE = 0.98
NEAREST = 20
BLOCK = 2048  # rows of the similarity matrix computed at once
MAX_PAIRS = 10_000  # near-duplicate pairs kept (the closest)
MAX_IMAGES = 100_000  # all pairs of up to this many images are compared (about a minute on two cores)


def searchable(num_images: int) -> bool:
    """Whether near-duplicates are searched for in a test set of this size (every pair: N^2 / 2)."""
    return num_images <= MAX_IMAGES


def unit_features(features: np.ndarray) -> np.ndarray:
    """(N, k) float32: features centred on their mean, each row scaled to length 1 (a zero row stays 0)."""
    f = np.asarray(features, dtype=np.float32)
    f = f - f.mean(axis=0, keepdims=True, dtype=np.float64).astype(np.float32)
    norms = np.linalg.norm(f, axis=1, keepdims=True)
    return f / np.maximum(norms, 1e-12)


def nearest(unit: np.ndarray, i: int, k: int = NEAREST) -> tuple[np.ndarray, np.ndarray]:
    """The k images most like image i (itself left out), most similar first, and their cosines."""
    sims = unit @ unit[i]
    sims[i] = -np.inf
    k = min(k, len(sims) - 1)
    if k <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    top = np.argpartition(-sims, k - 1)[:k]
    top = top[np.lexsort((top, -sims[top]))]
    return top.astype(np.int64), sims[top].astype(np.float32)


@dataclass(frozen=True)
class Duplicates:
    """Near-duplicate pairs (a < b), closest first, with their cosines; `total`: pairs above the threshold
    before the cap of MAX_PAIRS."""

    a: np.ndarray
    b: np.ndarray
    cosine: np.ndarray
    threshold: float
    total: int

    def __len__(self) -> int:
        return len(self.a)

    def images(self) -> tuple[np.ndarray, np.ndarray]:
        """Every image in some pair, in the order of its closest pair, and the cosine of that pair."""
        flat = np.stack([self.a, self.b], axis=1).reshape(-1)
        cos = np.repeat(self.cosine, 2)
        first = np.unique(flat, return_index=True)[1]
        keep = np.sort(first)
        return flat[keep].astype(np.int64), cos[keep].astype(np.float32)


def near_duplicates(unit: np.ndarray, threshold: float = DUPLICATE_COSINE, block: int = BLOCK,
                    max_pairs: int = MAX_PAIRS) -> Duplicates:
    """Every pair of rows of `unit` (unit_features) with cosine >= threshold, one block of rows at a time
    against the rows after it."""
    n = len(unit)
    a_parts, b_parts, c_parts, total = [], [], [], 0
    for start in range(0, n, block):
        stop = min(n, start + block)
        sims = unit[start:stop] @ unit[start:].T  # (rows, n - start): this block against itself and the rest
        np.fill_diagonal(sims, -np.inf)  # an image and itself
        hit = np.nonzero(sims.max(axis=1) >= threshold)[0]  # most rows have none: search only the others
        r, cols = np.nonzero(sims[hit] >= threshold)
        rows = hit[r]
        cols_abs = cols + start
        rows_abs = rows + start
        keep = np.nonzero(cols_abs > rows_abs)[0]
        total += len(keep)
        cos = sims[rows[keep], cols[keep]]
        if len(keep) > max_pairs:  # a block of near-identical rows: keep its closest, memory stays bounded
            best = np.argpartition(-cos, max_pairs - 1)[:max_pairs]
            keep, cos = keep[best], cos[best]
        a_parts.append(rows_abs[keep])
        b_parts.append(cols_abs[keep])
        c_parts.append(cos)
    a = np.concatenate(a_parts) if a_parts else np.zeros(0, dtype=np.int64)
    b = np.concatenate(b_parts) if b_parts else np.zeros(0, dtype=np.int64)
    cos = np.concatenate(c_parts) if c_parts else np.zeros(0, dtype=np.float32)
    order = np.lexsort((b, a, -cos))[:max_pairs]
    return Duplicates(a[order].astype(np.int64), b[order].astype(np.int64), cos[order].astype(np.float32),
                      float(threshold), total)
