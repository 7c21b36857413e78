"""What to change before the next training run, each point backed by numbers from this run (torch-free).

Every rule looks for one pattern in the cache (predictions, confusions, Grad-CAM maps) and speaks only when
the pattern is there, with the counts that show it. Recommendations are ranked by the share of this run's
errors they address; shares overlap (one error can be a near miss *and* a sibling-class confusion).
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field

import numpy as np

from engine.attention import BACKGROUND_FLAG, RING_FRACTION
from engine.cache import RunCache
from engine.label_suspects import STRONG_MARGIN
from engine.cam_display import display_cam

# thresholds: a pattern must be at least this strong before anything is advised
MIN_ERRORS = 5  # never advise on fewer errors than this
WITHIN_SUPERCLASS_MIN = 0.25  # share of errors inside the true superclass
SAME_REGION_CORR = 0.7  # true- and predicted-class maps this correlated: same place
OTHER_REGION_CORR = 0.3  # ... this little correlated: somewhere else
CAM_PATTERN_MIN = 0.15  # share of errors showing a Grad-CAM pattern
BORDER_RATIO_MIN = 1.25  # errors must show a background pattern this much more often than correct answers
PAIR_SHARE_MIN = 0.10  # a pair matters when it takes this share of the true class
MUTUAL_SHARE_MIN = 0.05  # both directions at least this share of their true class (and 3 images)
WEAK_CLASS_STD = 1.5  # weak class: accuracy this many standard deviations below the mean ...
WEAK_CLASS_GAP = 0.10  # ... and at least 10 points below it
OVERCONFIDENT = 0.9  # a wrong answer with at least this confidence is overconfident
OVERCONFIDENT_MIN = 0.10  # share of errors
NEAR_MISS_MIN = 0.5  # share of errors whose true class is in the top 5
LIST_LIMIT = 5  # names listed in one piece of evidence


@dataclass(frozen=True)
class Recommendation:
    key: str  # stable identifier of the rule that fired
    title: str
    evidence: str  # what this run shows, with its numbers
    advice: str  # what to change
    share_of_errors: float  # share of this run's errors the advice addresses, in [0, 1]
    errors_addressed: int
    classes: tuple[int, ...] = field(default=())  # class ids worth opening (class_XXX figures, TUI)


def _pct(x: float) -> str:
    return f"{x:.1%}"


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _counted(cache: RunCache, ids: list[int], counts: np.ndarray) -> str:
    """'boy (40), girl (35), ...': the first LIST_LIMIT classes with their counts."""
    return ", ".join(f"{cache.class_names[i]} ({int(counts[i])})" for i in ids[:LIST_LIMIT])


@dataclass
class _Run:
    """Per-run quantities the rules share, computed once."""

    cache: RunCache
    wrong: np.ndarray  # bool (N,)
    n_errors: int
    conf: np.ndarray  # confidence of the prediction

    @classmethod
    def of(cls, cache: RunCache) -> "_Run":
        wrong = cache.labels != cache.preds
        return cls(cache, wrong, int(wrong.sum()), cache.confidence.astype(np.float64))

    def pred_maps(self, mask: np.ndarray) -> np.ndarray:
        """Displayed Grad-CAM of the predicted class for the selected images, (n, H, W) in [0, 1]."""
        c = self.cache
        return display_cam(c.cam_topk[mask, 0], tuple(c.images.shape[1:3]))


def _near_misses(r: _Run) -> Recommendation | None:
    c = r.cache
    k = min(5, c.topk_classes.shape[1])
    if k < 2:
        return None
    in_topk = (c.topk_classes[r.wrong, :k] == c.labels[r.wrong, None]).any(axis=1)
    second = c.topk_classes[r.wrong, 1] == c.labels[r.wrong]
    n, n2 = int(in_topk.sum()), int(second.sum())
    if n < MIN_ERRORS or n / r.n_errors < NEAR_MISS_MIN:
        return None
    return Recommendation(
        "near_misses",
        "Most errors are near misses: the true class is a close runner-up",
        f"In {n} of {r.n_errors} errors ({_pct(n / r.n_errors)}) the true class is among the top {k} "
        f"predictions; in {n2} ({_pct(n2 / r.n_errors)}) it is ranked second. Top-1 accuracy is "
        f"{_pct(c.analysis.top1)}, top-{k} {_pct(c.analysis.top5)}.",
        "The model has the right candidates but ranks them wrongly. Things that sharpen decisions between "
        "close candidates usually pay off here: train longer or with stronger regularising augmentation "
        "(mixup/CutMix), distil from a larger model, or ensemble / use test-time augmentation. Where the "
        "application allows it, showing the top few classes instead of one recovers these cases.",
        n / r.n_errors,
        n,
    )


def _within_superclass(r: _Run) -> Recommendation | None:
    c, a = r.cache, r.cache.analysis
    if a.superclass is None or a.errors_within_superclass is None or c.class_to_superclass is None:
        return None
    share = a.errors_within_superclass
    n = int(round(share * r.n_errors))
    sizes = np.bincount(c.class_to_superclass, minlength=len(c.superclass_names or []))
    # the share a uniformly random wrong class would land in the true superclass
    chance = float((sizes * (sizes - 1)).sum() / max(1, (sizes * (c.num_classes - 1)).sum()))
    if n < MIN_ERRORS or share < max(WITHIN_SUPERCLASS_MIN, 2 * chance):
        return None
    sc = a.superclass.sort_values(["errors_within_superclass", "superclass_id"], ascending=[False, True])
    top = [
        f"{row.superclass} ({row.errors_within_superclass} of its {row.errors} errors)"
        for row in sc.head(3).itertuples()
        if row.errors_within_superclass > 0
    ]
    worst_members = [int(i) for i in np.nonzero(np.isin(c.class_to_superclass, sc.head(1)["superclass_id"]))[0]]
    return Recommendation(
        "within_superclass",
        "Errors stay among sibling classes of the same superclass",
        f"{n} of {r.n_errors} errors ({_pct(share)}) predict another class of the true superclass, "
        f"against about {_pct(chance)} if wrong answers were random. Most such errors: {'; '.join(top)}.",
        "The coarse category is learnt; the fine distinctions inside it are not. Add or oversample training "
        "images of the sibling classes, use augmentations that keep the fine detail (avoid heavy blur and "
        "crops that cut the object), and consider a superclass-aware loss or an auxiliary coarse head. Open "
        "the confused-pair figures of these superclasses to see which parts the model mixes up.",
        share,
        n,
        tuple(worst_members),
    )


def _map_correlation(r: _Run) -> np.ndarray:
    """Per error: Pearson correlation of the displayed true-class and predicted-class Grad-CAMs."""
    c = r.cache
    size = tuple(c.images.shape[1:3])
    t = display_cam(c.cam_true[r.wrong], size).reshape(r.n_errors, -1).astype(np.float64)
    p = r.pred_maps(r.wrong).reshape(r.n_errors, -1).astype(np.float64)
    t -= t.mean(axis=1, keepdims=True)
    p -= p.mean(axis=1, keepdims=True)
    den = np.sqrt((t * t).sum(axis=1) * (p * p).sum(axis=1))
    return np.divide((t * p).sum(axis=1), den, out=np.zeros(len(den)), where=den > 0)


def _top_classes(r: _Run, selected: np.ndarray) -> tuple[list[int], str]:
    """True classes of the selected errors, most frequent first, and 'name (count), ...' of the first few."""
    labels = r.cache.labels[r.wrong][selected]
    counts = np.bincount(labels, minlength=r.cache.num_classes)
    ids = [int(i) for i in np.lexsort((np.arange(len(counts)), -counts)) if counts[i] > 0]
    return ids, _counted(r.cache, ids, counts)


def _cam_agreement(r: _Run, corr: np.ndarray) -> list[Recommendation]:
    out = []
    same = corr >= SAME_REGION_CORR
    n = int(same.sum())
    if n >= MIN_ERRORS and n / r.n_errors >= CAM_PATTERN_MIN:
        classes, listed = _top_classes(r, same)
        out.append(
            Recommendation(
                "same_region",
                "Grad-CAM: the model looks at the right object but names it wrongly",
                f"In {n} of {r.n_errors} errors ({_pct(n / r.n_errors)}) the Grad-CAM maps of the true and "
                f"the predicted class highlight the same region (correlation ≥ {SAME_REGION_CORR}). Most such "
                f"errors: {listed}.",
                "Where the model looks is fine; what it sees there is not discriminative enough. Help it with "
                "detail: higher input resolution or less downsampling early in the network, a larger model or "
                "longer training, and more varied examples of these classes. Location-changing augmentation "
                "(crops, translations) will help less here.",
                n / r.n_errors,
                n,
                tuple(classes[:LIST_LIMIT]),
            )
        )
    other = corr < OTHER_REGION_CORR
    n = int(other.sum())
    if n >= MIN_ERRORS and n / r.n_errors >= CAM_PATTERN_MIN:
        classes, listed = _top_classes(r, other)
        out.append(
            Recommendation(
                "other_region",
                "Grad-CAM: when wrong, the model often looks somewhere else",
                f"In {n} of {r.n_errors} errors ({_pct(n / r.n_errors)}) the predicted-class Grad-CAM "
                f"highlights a different region than the true-class map (correlation < {OTHER_REGION_CORR}). "
                f"Most such errors: {listed}.",
                "The decision comes from another part of the image: a second object, the background, or a "
                "mislabelled image. Look at these classes' figures; if several objects are common, consider "
                "multi-label targets or cleaner labels, and train with random erasing / CutMix so no single "
                "region can carry the decision.",
                n / r.n_errors,
                n,
                tuple(classes[:LIST_LIMIT]),
            )
        )
    return out


def _background(r: _Run) -> Recommendation | None:
    """Grad-CAM mostly off the object (with masks) or in the outer ring (without), as cache.diagnostics
    measures it, more often on errors than on right answers."""
    c = r.cache
    att = c.diagnostics.attention
    off = att.background_focus > BACKGROUND_FLAG
    if att.uses_masks:
        what = "less than half of the predicted-class Grad-CAM lies on the object (data-set masks)"
    else:
        h, w = c.images.shape[1:3]
        b = max(1, round(min(h, w) * RING_FRACTION))
        what = f"more than half of the predicted-class Grad-CAM lies in the outer {b}-pixel ring of the image"
    n = int(off[r.wrong].sum())
    rate_err = n / r.n_errors
    n_right = int((~r.wrong).sum())
    rate_right = float(off[~r.wrong].mean()) if n_right else 0.0
    if n < MIN_ERRORS or rate_err < CAM_PATTERN_MIN or rate_err < BORDER_RATIO_MIN * rate_right:
        return None
    classes, listed = _top_classes(r, off[r.wrong])
    return Recommendation(
        "background",
        "Grad-CAM: wrong answers come from the background more often than right ones",
        f"In {n} of {r.n_errors} errors ({_pct(rate_err)}) {what}, against {_pct(rate_right)} of correct "
        f"predictions. Most such errors: {listed}.",
        "The model uses context instead of the object when it fails. Vary backgrounds in training (random "
        "resized crops, random erasing, pasting objects onto other scenes), check whether these classes are "
        "photographed in one typical setting, and collect examples in other settings.",
        rate_err,
        n,
        tuple(classes[:LIST_LIMIT]),
    )


def _strong_pairs(r: _Run) -> Recommendation | None:
    pairs = r.cache.analysis.confused_pairs
    strong = pairs[(pairs["share_of_true"] >= PAIR_SHARE_MIN) & (pairs["count"] >= 3)]
    n = int(strong["count"].sum())
    if strong.empty or n < MIN_ERRORS:
        return None
    listed = "; ".join(
        f"{p.true_name} → {p.pred_name}: {p.count} ({_pct(p.share_of_true)} of {p.true_name})"
        for p in strong.head(LIST_LIMIT).itertuples()
    )
    more = f" and {_plural(len(strong) - LIST_LIMIT, 'more pair')}" if len(strong) > LIST_LIMIT else ""
    classes = tuple(dict.fromkeys(int(x) for p in strong.itertuples() for x in (p.true_id, p.pred_id)))
    return Recommendation(
        "strong_pairs",
        "A few class pairs take a large bite out of single classes",
        f"At least {_pct(PAIR_SHARE_MIN)} of the true class goes to one wrong class in "
        f"{_plural(len(strong), 'pair')}: {listed}{more}. "
        f"Together: {n} of {r.n_errors} errors ({_pct(n / r.n_errors)}).",
        "Target these pairs directly: add training images that show what separates them, oversample them or "
        "mine them as hard negatives, and check the confused_pair figures to see whether the model attends to "
        "the object or to shared context.",
        n / r.n_errors,
        n,
        classes,
    )


def _mutual_pairs(r: _Run) -> Recommendation | None:
    a = r.cache.analysis
    conf = a.confusion
    support = np.maximum(conf.sum(axis=1), 1)
    share = conf / support[:, None]
    ok = (conf >= 3) & (share >= MUTUAL_SHARE_MIN)
    np.fill_diagonal(ok, False)
    both = np.triu(ok & ok.T)
    ij = sorted(zip(*np.nonzero(both)), key=lambda t: (-(conf[t] + conf[t[::-1]]), t))
    n = int(sum(conf[i, j] + conf[j, i] for i, j in ij))
    if not ij or n < MIN_ERRORS:
        return None
    names = r.cache.class_names
    listed = "; ".join(f"{names[i]} ↔ {names[j]}: {conf[i, j]} and {conf[j, i]}" for i, j in ij[:LIST_LIMIT])
    more = f" and {len(ij) - LIST_LIMIT} more" if len(ij) > LIST_LIMIT else ""
    return Recommendation(
        "mutual_pairs",
        "Some classes are confused in both directions",
        f"Mistaken for each other in both directions (at least 3 images and {_pct(MUTUAL_SHARE_MIN)} of the "
        f"class each way): {_plural(len(ij), 'class pair')}, {listed}{more}. Together: {n} of {r.n_errors} errors "
        f"({_pct(n / r.n_errors)}).",
        "Mutual confusion points at classes that overlap, visually or in how they were labelled. Review a "
        "sample of their training labels for mistakes and borderline images; if the labels hold, these pairs "
        "need more discriminative examples (see the confused_pair figures); if they do not, a clearer "
        "labelling rule or merging the classes may be the honest fix.",
        n / r.n_errors,
        n,
        tuple(dict.fromkeys(int(x) for t in ij for x in t)),
    )


def _weak_classes(r: _Run) -> Recommendation | None:
    pc = r.cache.analysis.per_class
    acc = pc["accuracy"]
    valid = acc.notna() & (pc["support"] >= 10)
    if valid.sum() < 3:
        return None
    mean, std = float(acc[valid].mean()), float(acc[valid].std())
    cut = min(mean - WEAK_CLASS_STD * std, mean - WEAK_CLASS_GAP)
    weak = pc[valid & (acc < cut)].sort_values(["accuracy", "class_id"])
    n = int((weak["support"] - weak["correct"]).sum())
    if weak.empty or n < MIN_ERRORS:
        return None
    listed = ", ".join(f"{w.class_name} {_pct(w.accuracy)}" for w in weak.head(LIST_LIMIT).itertuples())
    more = f" and {len(weak) - LIST_LIMIT} more" if len(weak) > LIST_LIMIT else ""
    return Recommendation(
        "weak_classes",
        "A handful of classes lag far behind the rest",
        f"Accuracy is below {_pct(cut)} (mean {_pct(mean)}, standard deviation {_pct(std)}) for "
        f"{_plural(len(weak), 'class', 'classes')}: {listed}{more}. Their errors: {n} of {r.n_errors} "
        f"({_pct(n / r.n_errors)}).",
        "Give these classes individual attention: more (and cleaner) training images, class-balanced sampling "
        "or loss weights, and a look at their class figures to see whether one confusion or one kind of image "
        "dominates.",
        n / r.n_errors,
        n,
        tuple(int(i) for i in weak["class_id"]),
    )


def _overconfidence(r: _Run) -> Recommendation | None:
    """Confidently wrong answers, with the calibration figures of cache.diagnostics (the reports' numbers)."""
    cal = r.cache.diagnostics.calibration
    n = len(cal.high_conf_errors)
    if n < MIN_ERRORS or n / r.n_errors < OVERCONFIDENT_MIN:
        return None
    right = ~r.wrong
    mean_right = float(r.conf[right].mean()) if right.any() else float("nan")
    return Recommendation(
        "overconfidence",
        "The model is often confidently wrong: calibrate its confidence",
        f"ECE {cal.ece:.3f} ({len(cal.reliability.counts)} bins); temperature T={cal.temperature:.2f} brings it "
        f"to {cal.ece_after:.3f} on held-out halves; {n} errors at >= {OVERCONFIDENT:.0%} confidence "
        f"({n} of {r.n_errors} errors, {_pct(n / r.n_errors)}). Mean confidence: {_pct(float(r.conf[r.wrong].mean()))} when wrong, {_pct(mean_right)} "
        f"when right.",
        f"Confidence is not yet a reliable error signal. Calibrate it: divide the logits by T={cal.temperature:.2f} "
        "(temperature scaling, fitted on a held-out set), and consider label smoothing or mixup in training; "
        "look at the high-confidence mistakes in the class figures, since confident errors are also where "
        "mislabelled test images hide.",
        n / r.n_errors,
        n,
        tuple(dict.fromkeys(int(r.cache.labels[i]) for i in cal.high_conf_errors))[:LIST_LIMIT],
    )


def _label_noise(r: _Run) -> Recommendation | None:
    """Test images whose given label the model all but excludes (strong label suspects); each one is an error.

    Only the strong suspects (margin >= 0.9) count as evidence: a model that is often confidently wrong
    makes many weaker candidates, and those say more about the model than about the labels."""
    sus = r.cache.diagnostics.suspects
    strong = sus[sus["strong"]]
    n = len(strong)
    if n < MIN_ERRORS:
        return None
    listed = "; ".join(
        f"image {s.image} {s.given} → {s.suggested} ({_pct(s.p_given)} vs {_pct(s.p_suggested)})"
        for s in strong.head(LIST_LIMIT).itertuples()
    )
    return Recommendation(
        "label_noise",
        "Some test labels may be wrong: review the strongest label suspects",
        f"{_plural(n, 'image')} ({_pct(n / r.cache.num_images)} of the test set) are strong label suspects: another class "
        f"clears its own confidence threshold and beats the given label by at least {STRONG_MARGIN:.0%} "
        f"(confident learning; {len(sus)} candidates in all, strong or weak). Largest margins: {listed}.",
        "Review these images before trusting per-class numbers (label_suspects.csv, the Suspects view of "
        "gradcam-tui): relabel or drop the wrong ones, and if many share a class pair, check the labelling "
        "rule for those classes, in the training set too. Some will be the model's own confident mistakes.",
        n / r.n_errors,
        n,
        tuple(dict.fromkeys(int(x) for x in strong["given_id"]))[:LIST_LIMIT],
    )


def recommendations(cache: RunCache) -> list[Recommendation]:
    """Every recommendation this run's evidence supports, ranked by the share of errors it addresses."""
    r = _Run.of(cache)
    if r.n_errors < MIN_ERRORS:
        return []
    found: list[Recommendation | None] = [
        _near_misses(r),
        _within_superclass(r),
        *_cam_agreement(r, _map_correlation(r)),
        _background(r),
        _strong_pairs(r),
        _mutual_pairs(r),
        _weak_classes(r),
        _overconfidence(r),
        _label_noise(r),
    ]
    recs = [x for x in found if x is not None]
    return sorted(recs, key=lambda x: (-x.share_of_errors, x.key))


def _intro(cache: RunCache) -> str:
    a = cache.analysis
    errors = a.num_images - a.num_correct
    return (
        f"{errors} errors in {a.num_images} images (top-1 accuracy {_pct(a.top1)}). Each recommendation below "
        f"rests on numbers from this run and is ranked by the share of errors it addresses; shares overlap, "
        f"since one error can show several patterns."
    )


def _nothing(cache: RunCache) -> str:
    a = cache.analysis
    errors = a.num_images - a.num_correct
    if errors < MIN_ERRORS:
        return f"Only {errors} errors in {a.num_images} images: too few to base any advice on."
    return "No pattern in this run's errors is strong enough to base advice on."


def recommendations_text(cache: RunCache, recs: list[Recommendation] | None = None) -> str:
    """recommendations.txt: plain text, wrapped at 100 columns."""
    recs = recommendations(cache) if recs is None else recs
    wrap = textwrap.TextWrapper(width=100, subsequent_indent="   ", break_on_hyphens=False)
    para = textwrap.TextWrapper(width=100, initial_indent="   ", subsequent_indent="   ", break_on_hyphens=False)
    lines = ["RECOMMENDATIONS", "=" * 15, "", *textwrap.wrap(_intro(cache), 100), ""]
    if not recs:
        lines += [_nothing(cache), ""]
    for k, rec in enumerate(recs, 1):
        lines += wrap.wrap(f"{k}. {rec.title}")
        lines.append(f"   Addresses {_pct(rec.share_of_errors)} of errors ({rec.errors_addressed}).")
        lines += para.wrap("Evidence: " + rec.evidence)
        lines += para.wrap("Advice: " + rec.advice)
        lines.append("")
    return "\n".join(lines)


_MD_SPECIAL = re.compile(r"([!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])")


def md_escape(text: str) -> str:
    """Backslash-escape every ASCII punctuation character: CommonMark then shows the text literally."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def recommendations_markdown(cache: RunCache, recs: list[Recommendation] | None = None) -> str:
    """The same recommendations as Markdown (for the TUI); all data-derived text escaped."""
    recs = recommendations(cache) if recs is None else recs
    parts = ["# Recommendations", "", md_escape(_intro(cache)), ""]
    if not recs:
        parts += [md_escape(_nothing(cache)), ""]
    for k, rec in enumerate(recs, 1):
        parts += [
            f"## {k}\\. {md_escape(rec.title)}",
            "",
            f"*Addresses {md_escape(_pct(rec.share_of_errors))} of errors ({rec.errors_addressed})\\.*",
            "",
            f"**Evidence\\.** {md_escape(rec.evidence)}",
            "",
            f"**Advice\\.** {md_escape(rec.advice)}",
            "",
        ]
    return "\n".join(parts)
