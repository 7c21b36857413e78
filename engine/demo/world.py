"""The demo world: a procedural 32x32 RGB image set whose truth is known (numpy only).

Every image is an object (silhouette + colour + surface texture) on a background (colour + texture), with
pixel noise, colour jitter and clutter, plus a pixel mask of the object. The silhouette is the superclass
(discs, boxes, kites, crosses, triangles), colour and texture pick the class inside it: 20 classes in 5
superclasses.

Three failure patterns are planted on purpose, so the analysis has something true to find:

1. Look-alikes inside a superclass (LOOKALIKE_PAIRS): same silhouette, same colour, the only difference a
   fine, low-contrast surface detail (spots vs stripes, horizontal vs vertical stripes, stripes vs checks),
   which is washed out entirely in LOOKALIKE_FADE of their images. These pairs should dominate the
   most-confused pairs.
2. A spurious background (SPURIOUS_CLASS on SPURIOUS_BACKGROUND): in the training split that class appears
   on that background SPURIOUS_TRAIN_RATE of the time, and the background is rare for every other class;
   its object is half transparent (camouflaged), so the background is the easier cue. In the test split
   every class sees every background equally often, so the shortcut shows up as errors in which that
   class's Grad-CAM sits on the background (other classes on grass called grey_triangle, grey triangles
   elsewhere missed).
3. Over-confidence: nothing in the world; the demo model is trained without label smoothing, to a low
   training loss (engine.demo.train), and some of its errors come at >= 90% confidence.

Each image is drawn from its own random stream, seeded by (seed, split, class, index), so a smaller world
(n_per_class) is exactly a per-class prefix of a larger one and the same arguments give identical arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from engine.sources.imageset import ImageSet

SIZE = 32
TEST_PER_CLASS = 100  # 2,000 test images
TRAIN_PER_CLASS = 200  # the train split's default size; engine.demo.train uses the first 100 per class
SPLITS = ("train", "test")

BACKGROUNDS = ("grass", "sand", "water", "snow", "brick")
SUPERCLASSES = ("discs", "boxes", "kites", "crosses", "triangles")

_RGB = {
    "red": (200, 45, 40),
    "blue": (55, 85, 215),
    "yellow": (235, 205, 45),
    "orange": (235, 135, 35),
    "purple": (135, 55, 175),
    "magenta": (215, 50, 160),
    "cyan": (45, 200, 215),
    "pink": (240, 125, 175),
    "black": (35, 30, 35),
    "lime": (165, 225, 60),
    "brown": (120, 70, 30),
    "teal": (25, 125, 115),
    "grey": (150, 150, 150),
}


@dataclass(frozen=True)
class ClassSpec:
    name: str
    superclass: str
    colour: str
    texture: str  # plain, spots, stripes, hstripes, vstripes, checks, rim, dot
    texture_contrast: float = 0.5  # how dark the texture marks are (0 = invisible, 1 = black)
    scale: float = 1.0  # object size relative to the usual
    fade: float = 0.0  # share of images in which the texture is washed out entirely
    opacity: float = 1.0  # below 1 the background shows through the object (camouflage)


def _spec(
    superclass: str,
    colour: str,
    texture: str,
    contrast: float = 0.5,
    scale: float = 1.0,
    fade: float = 0.0,
    opacity: float = 1.0,
) -> ClassSpec:
    noun = {"discs": "disc", "boxes": "box", "kites": "kite", "crosses": "cross", "triangles": "triangle"}[superclass]
    name = f"{colour}_{noun}" if texture == "plain" else f"{colour}_{noun}_{texture}"
    return ClassSpec(name, superclass, colour, texture, contrast, scale, fade, opacity)


# the look-alikes differ only in faint marks, and in LOOKALIKE_FADE of their images not even in those: the
# pair is then truly indistinguishable, so the confusion does not vanish however long the model trains
LOOKALIKE_CONTRAST = 0.25
LOOKALIKE_FADE = 0.4

CLASSES: tuple[ClassSpec, ...] = (
    _spec("discs", "red", "spots", LOOKALIKE_CONTRAST, fade=LOOKALIKE_FADE),
    _spec("discs", "red", "stripes", LOOKALIKE_CONTRAST, fade=LOOKALIKE_FADE),
    _spec("discs", "blue", "plain"),
    _spec("discs", "yellow", "rim"),
    _spec("boxes", "orange", "hstripes", LOOKALIKE_CONTRAST, fade=LOOKALIKE_FADE),
    _spec("boxes", "orange", "vstripes", LOOKALIKE_CONTRAST, fade=LOOKALIKE_FADE),
    _spec("boxes", "purple", "plain"),
    _spec("boxes", "magenta", "dot"),
    _spec("kites", "cyan", "stripes", LOOKALIKE_CONTRAST, fade=LOOKALIKE_FADE),
    _spec("kites", "cyan", "spots", LOOKALIKE_CONTRAST, fade=LOOKALIKE_FADE),
    _spec("kites", "pink", "plain"),
    _spec("kites", "black", "plain"),
    _spec("crosses", "lime", "stripes", LOOKALIKE_CONTRAST, fade=LOOKALIKE_FADE),
    _spec("crosses", "lime", "checks", LOOKALIKE_CONTRAST, fade=LOOKALIKE_FADE),
    _spec("crosses", "brown", "plain"),
    _spec("crosses", "teal", "rim"),
    _spec("triangles", "grey", "plain", scale=0.9, opacity=0.5),
    _spec("triangles", "red", "plain"),
    _spec("triangles", "blue", "stripes"),
    _spec("triangles", "yellow", "plain"),
)
CLASS_NAMES: tuple[str, ...] = tuple(c.name for c in CLASSES)
CLASS_TO_SUPERCLASS = np.array([SUPERCLASSES.index(c.superclass) for c in CLASSES], dtype=np.int64)

# the planted look-alike pairs, as class-index pairs (unordered)
LOOKALIKE_PAIRS: tuple[tuple[int, int], ...] = ((0, 1), (4, 5), (8, 9), (12, 13))
# the class that learns the background shortcut, and that background
SPURIOUS_CLASS = CLASS_NAMES.index("grey_triangle")
SPURIOUS_BACKGROUND = BACKGROUNDS.index("grass")
SPURIOUS_TRAIN_RATE = 0.95  # training images of SPURIOUS_CLASS on SPURIOUS_BACKGROUND
OTHERS_ON_SPURIOUS_BACKGROUND = 0.01  # training images of any other class on it

NOISE_SIGMA = 20.0  # per-pixel Gaussian noise, on 0..255
_SPLIT_CODE = {"train": 1, "test": 2}


@lru_cache(maxsize=1)
def _grid() -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    yy.setflags(write=False)
    xx.setflags(write=False)
    return yy, xx


def _silhouette(superclass: str, cy: float, cx: float, s: float) -> np.ndarray:
    yy, xx = _grid()
    dy, dx = yy - cy, xx - cx
    if superclass == "discs":
        return dy * dy + dx * dx <= s * s
    if superclass == "boxes":
        h = 0.85 * s
        return (np.abs(dy) <= h) & (np.abs(dx) <= h)
    if superclass == "kites":
        return np.abs(dy) / 1.3 + np.abs(dx) / 1.05 <= s
    if superclass == "crosses":
        arm, half = s, 0.48 * s
        return ((np.abs(dy) <= arm) & (np.abs(dx) <= half)) | ((np.abs(dx) <= arm) & (np.abs(dy) <= half))
    if superclass == "triangles":
        top, bottom = cy - 1.05 * s, cy + 0.85 * s
        return (yy >= top) & (yy <= bottom) & (np.abs(dx) <= 0.62 * (yy - top))
    raise ValueError(superclass)


def _erode(mask: np.ndarray, steps: int) -> np.ndarray:
    out = mask.copy()
    for _ in range(steps):
        inner = out.copy()
        inner[1:, :] &= out[:-1, :]
        inner[:-1, :] &= out[1:, :]
        inner[:, 1:] &= out[:, :-1]
        inner[:, :-1] &= out[:, 1:]
        inner[0, :] = inner[-1, :] = inner[:, 0] = inner[:, -1] = False
        out = inner
    return out


def _texture(kind: str, mask: np.ndarray, cy: float, cx: float, s: float, rng: np.random.Generator) -> np.ndarray:
    """Where the texture's dark marks are, as a float field in [0, 1] (only meaningful inside the mask)."""
    yy, xx = _grid()
    period = 4.0
    py, px = rng.uniform(0, period, size=2)
    y, x = yy - cy + py, xx - cx + px
    if kind == "plain":
        return np.zeros_like(yy)
    if kind == "spots":
        fy, fx = np.mod(y, period) - period / 2, np.mod(x, period) - period / 2
        return (fy * fy + fx * fx <= 1.45**2).astype(np.float32)
    if kind == "stripes":  # diagonal
        return (np.mod(x + y, period) < period / 2).astype(np.float32)
    if kind == "hstripes":
        return (np.mod(y, period) < period / 2).astype(np.float32)
    if kind == "vstripes":
        return (np.mod(x, period) < period / 2).astype(np.float32)
    if kind == "checks":
        return ((np.floor(y / (period / 2)) + np.floor(x / (period / 2))) % 2).astype(np.float32)
    if kind == "rim":
        return (mask & ~_erode(mask, 2)).astype(np.float32)
    if kind == "dot":
        d2 = (yy - cy) ** 2 + (xx - cx) ** 2
        return (d2 <= (0.4 * s) ** 2).astype(np.float32)
    raise ValueError(kind)


def _background(kind: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = _grid()
    name = BACKGROUNDS[kind]
    jitter = rng.normal(0, 10, size=3)
    if name == "grass":  # green with vertical blades
        base = np.array([70, 135, 55]) + jitter
        blades = rng.normal(0, 1, size=(1, SIZE)) * 0.7 + rng.normal(0, 1, size=(SIZE, SIZE)) * 0.5
        light = 22 * blades + 10 * np.sin(yy / 3.0 + rng.uniform(0, 6.3))
        return base + light[..., None] * np.array([0.5, 1.0, 0.4])
    if name == "sand":  # beige with fine grain and a soft dune gradient
        base = np.array([205, 180, 130]) + jitter
        tilt = rng.uniform(-1, 1, size=2)
        light = 0.9 * ((yy - 16) * tilt[0] + (xx - 16) * tilt[1]) + rng.normal(0, 9, size=(SIZE, SIZE))
        return base + light[..., None]
    if name == "water":  # blue with horizontal waves
        base = np.array([45, 95, 170]) + jitter
        f, ph = rng.uniform(0.6, 1.1), rng.uniform(0, 6.3)
        light = 25 * np.sin(yy * f + 0.6 * np.sin(xx / 4.0 + ph) + ph)
        return base + light[..., None] * np.array([0.6, 0.8, 1.0])
    if name == "snow":  # near-white with soft blotches
        base = np.array([222, 228, 236]) + jitter * 0.6
        k = rng.uniform(0, 6.3, size=4)
        light = 9 * np.sin(xx / 5.0 + k[0]) * np.cos(yy / 6.0 + k[1]) + 6 * np.sin((xx + yy) / 7.0 + k[2])
        return base + light[..., None]
    if name == "brick":  # red-brown bricks with light mortar
        base = np.array([150, 72, 52]) + jitter
        oy, ox = rng.integers(0, 6), rng.integers(0, 10)
        row = np.floor((yy + oy) / 6.0)
        mortar = (np.mod(yy + oy, 6.0) < 1.0) | (np.mod(xx + ox + 5 * np.mod(row, 2), 10.0) < 1.0)
        img = np.broadcast_to(base, (SIZE, SIZE, 3)).copy()
        img[mortar] = np.array([190, 180, 165]) + jitter
        return img
    raise ValueError(name)


def _clutter(img: np.ndarray, rng: np.random.Generator) -> None:
    """A few small distractors (specks, short bars) in random colours, drawn before the object."""
    for _ in range(rng.integers(2, 6)):
        colour = rng.uniform(0, 255, size=3)
        y, x = rng.integers(0, SIZE, size=2)
        if rng.random() < 0.5:
            h = w = int(rng.integers(2, 4))
        else:
            h, w = (1, int(rng.integers(4, 8))) if rng.random() < 0.5 else (int(rng.integers(4, 8)), 1)
        img[y : y + h, x : x + w] = colour


def _render(cls: int, background: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    spec = CLASSES[cls]
    img = _background(background, rng)
    _clutter(img, rng)
    s = rng.uniform(7.5, 10.0) * spec.scale
    margin = s + 1
    cy = rng.uniform(max(margin, 9), min(SIZE - margin, SIZE - 9))
    cx = rng.uniform(max(margin, 9), min(SIZE - margin, SIZE - 9))
    mask = _silhouette(spec.superclass, cy, cx, s)
    colour = np.array(_RGB[spec.colour], dtype=np.float32) + rng.normal(0, 20, size=3)
    marks = _texture(spec.texture, mask, cy, cx, s, rng)
    contrast = spec.texture_contrast * (0.0 if rng.random() < spec.fade else rng.uniform(0.5, 1.0))
    shade = 1.0 - contrast * marks
    light = 1.0 + 0.12 * (_grid()[0] - cy) / s * rng.uniform(-1, 1)  # a soft lighting gradient
    obj = colour[None, None, :] * (shade * light)[..., None]
    img[mask] = spec.opacity * obj[mask] + (1.0 - spec.opacity) * img[mask]
    # occasionally a clutter speck lands on the object and hides a few of its pixels
    if rng.random() < 0.3:
        y, x = int(cy + rng.uniform(-s, s)), int(cx + rng.uniform(-s, s))
        img[max(y, 0) : y + 2, max(x, 0) : x + 2] = rng.uniform(0, 255, size=3)
        mask[max(y, 0) : y + 2, max(x, 0) : x + 2] = False
    img = img * rng.uniform(0.85, 1.15) + rng.normal(0, NOISE_SIGMA, size=img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), mask


def _backgrounds_for(split: str, cls: int, n: int, seed: int) -> np.ndarray:
    """Background of each image of class cls: cycled evenly in test; skewed for the spurious class in train."""
    if split == "test":
        return np.arange(n) % len(BACKGROUNDS)
    rng = np.random.default_rng([seed, _SPLIT_CODE[split], 10_000 + cls])
    b = len(BACKGROUNDS)
    p = np.full(b, (1.0 - OTHERS_ON_SPURIOUS_BACKGROUND) / (b - 1))
    p[SPURIOUS_BACKGROUND] = OTHERS_ON_SPURIOUS_BACKGROUND
    if cls == SPURIOUS_CLASS:
        p = np.full(b, (1.0 - SPURIOUS_TRAIN_RATE) / (b - 1))
        p[SPURIOUS_BACKGROUND] = SPURIOUS_TRAIN_RATE
    return rng.choice(b, size=n, p=p)


def make_world(
    split: str = "test",
    n_per_class: int | None = None,
    seed: int = 0,
    *,
    on_progress: Callable[[int], None] | None = None,
) -> ImageSet:
    """The demo world's train or test split: n_per_class images of each class (default: 200 train, 100 test),
    class-major order, with object masks; the same arguments always give identical arrays.
    on_progress(n) is called as images are drawn, with the number drawn since the last call."""
    images, labels, masks, _ = _generate(split, n_per_class, seed, on_progress)
    per = len(labels) // len(CLASSES)
    return ImageSet(
        images=images,
        labels=labels,
        class_names=list(CLASS_NAMES),
        source=f"demo world ({split} split, {per} per class, seed {seed})",
        superclass_names=list(SUPERCLASSES),
        class_to_superclass=CLASS_TO_SUPERCLASS.copy(),
        masks=masks,
    )


def world_backgrounds(split: str = "test", n_per_class: int | None = None, seed: int = 0) -> np.ndarray:
    """The background index (into BACKGROUNDS) of every image of make_world(split, n_per_class, seed)."""
    n = _default_n(split, n_per_class)
    return np.concatenate([_backgrounds_for(split, c, n, seed) for c in range(len(CLASSES))])


def _default_n(split: str, n_per_class: int | None) -> int:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    n = n_per_class if n_per_class is not None else (TRAIN_PER_CLASS if split == "train" else TEST_PER_CLASS)
    if n < 1:
        raise ValueError("n_per_class must be at least 1")
    return int(n)


def _generate(
    split: str, n_per_class: int | None, seed: int, on_progress: Callable[[int], None] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = _default_n(split, n_per_class)
    c = len(CLASSES)
    images = np.empty((c * n, SIZE, SIZE, 3), dtype=np.uint8)
    masks = np.empty((c * n, SIZE, SIZE), dtype=bool)
    labels = np.repeat(np.arange(c, dtype=np.int64), n)
    backgrounds = world_backgrounds(split, n, seed)
    code = _SPLIT_CODE[split]
    for i in range(c * n):
        cls, j = divmod(i, n)
        rng = np.random.default_rng([seed, code, cls, j])
        images[i], masks[i] = _render(cls, int(backgrounds[i]), rng)
        if on_progress is not None and (i + 1) % 100 == 0:
            on_progress(100)
    if on_progress is not None and len(labels) % 100:
        on_progress(len(labels) % 100)
    return images, labels, masks, backgrounds
