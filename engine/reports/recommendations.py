"""The words of the recommendations: recommendations.txt and the TUI's Markdown, one entry per rule.

engine.analysis.recommendations finds the patterns and their numbers; each function here turns one kind
of Finding into its title, its evidence (the numbers of this run) and its advice.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from typing import Callable

from engine.analysis.analysed_run import AnalysedRun
from engine.analysis.recommendations.base import LIST_LIMIT, MIN_ERRORS, Finding
from engine.analysis.recommendations.pairs import MUTUAL_SHARE_MIN, PAIR_SHARE_MIN
from engine.figures.numbers import pct, pct_interval
from engine.reports.recommendations_checks import (faithfulness_sentences, map_agreement_sentences,
                                                   randomisation_sentence, sanity_sentence, suspect_sentences)


@dataclass(frozen=True)
class Recommendation:
    """A Finding in words."""

    finding: Finding
    title: str
    evidence: str
    advice: str

    @property
    def key(self) -> str:
        return self.finding.key


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _share(n: int, of: int) -> str:
    return f"{n} of {of} errors ({pct(n / of)})"


def _counted(names: list[str], counts: list[tuple[int, int]]) -> str:
    """'boy (40), girl (35), ...'."""
    return ", ".join(f"{names[c]} ({k})" for c, k in counts[:LIST_LIMIT])


Words = tuple[str, str, str]  # title, evidence, advice


def _near_misses(f: dict, names: list[str], sc: list[str]) -> Words:
    e = f["errors"]
    return (
        "Most errors are near misses: the true class is a close runner-up",
        f"In {f['in_topk']} of {e} errors ({pct(f['in_topk'] / e)}) the true class is among the top {f['k']} "
        f"predictions; in {f['second']} ({pct(f['second'] / e)}) it is ranked second. Top-1 accuracy is "
        f"{pct(f['top1'])}, top-{f['k']} {pct(f['top5'])}.",
        "The model has the right candidates but ranks them wrongly. Things that sharpen decisions between "
        "close candidates usually pay off here: train longer or with stronger regularising augmentation "
        "(mixup/CutMix), distil from a larger model, or ensemble / use test-time augmentation. Where the "
        "application allows it, showing the top few classes instead of one recovers these cases.",
    )


def _within_superclass(f: dict, names: list[str], sc: list[str]) -> Words:
    top = [f"{sc[s]} ({within} of its {errors} errors)" for s, within, errors in f["top"]]
    return (
        "Errors stay among sibling classes of the same superclass",
        f"{f['within']} of {f['errors']} errors ({pct(f['share'])}) predict another class of the true superclass, "
        f"against about {pct(f['chance'])} if wrong answers were random. Most such errors: {'; '.join(top)}.",
        "The coarse category is learnt; the fine distinctions inside it are not. Add or oversample training "
        "images of the sibling classes, use augmentations that keep the fine detail (avoid heavy blur and "
        "crops that cut the object), and consider a superclass-aware loss or an auxiliary coarse head. Open "
        "the confused-pair figures of these superclasses to see which parts the model mixes up.",
    )


def _region(title: str, where: str, advice: str) -> Callable[[dict, list[str], list[str]], Words]:
    """The wording of a map-region finding (same region / other region): only the phrases differ."""

    def words(f: dict, names: list[str], sc: list[str]) -> Words:
        n, e = f["count"], f["errors"]
        return (title, f"In {n} of {e} errors ({pct_interval(f['rate'])}, 95% interval over images) "
                       f"{where.format(t=f['threshold'])}, against {pct_interval(f['baseline'])} of correct "
                       f"predictions between their top-1 and top-2 maps (the baseline: two classes' maps of one "
                       f"image share the same features). Most such errors: {_counted(names, f['classes'])}.",
                advice)

    return words


_same_region = _region(
    "Grad-CAM: the model looks at the right object but names it wrongly",
    "the Grad-CAM maps of the true and the predicted class highlight the same region (correlation ≥ {t})",
    "Where the model looks is fine; what it sees there is not discriminative enough. Help it with "
    "detail: higher input resolution or less downsampling early in the network, a larger model or "
    "longer training, and more varied examples of these classes. Location-changing augmentation "
    "(crops, translations) will help less here.",
)

_other_region = _region(
    "Grad-CAM: when wrong, the model often looks somewhere else",
    "the predicted-class Grad-CAM highlights a different region than the true-class map (correlation < {t})",
    "The decision comes from another part of the image: a second object, the background, or a "
    "mislabelled image. Look at these classes' figures; if several objects are common, consider "
    "multi-label targets or cleaner labels, and train with random erasing / CutMix so no single "
    "region can carry the decision.",
)


def _background(f: dict, names: list[str], sc: list[str]) -> Words:
    if f["uses_masks"]:
        what = "the predicted-class Grad-CAM is denser off the object than on it (data-set masks)"
        own = "off the object"
    else:
        what = f"the predicted-class Grad-CAM is denser in the outer {f['ring_px']}-pixel ring than inside it"
        own = "in the outer ring"
    parts = []
    if f["overall"]:
        parts.append(f"In {f['flagged']} of {f['errors']} errors ({pct_interval(f['rate_errors'])}) {what}, against "
                     f"{pct_interval(f['rate_correct'])} of correct predictions. Most such errors: "
                     f"{_counted(names, f['classes'])}.")
    if f["ranked"]:
        listed = "; ".join(f"{names[c]} {pct_interval(est)} of {est.n}" for c, est in f["ranked"])
        more = f" and {f['ranked_total'] - len(f['ranked'])} more" if f["ranked_total"] > len(f["ranked"]) else ""
        parts.append(f"Classes whose own Grad-CAM is {own} in the errors they are part of (as truth or as "
                     f"prediction) clearly more often than across the run ({pct_interval(f['ranking_baseline'])}): "
                     f"{listed}{more}.")
    return (
        "Grad-CAM: wrong answers come from the background",
        " ".join(parts) + f" Together: {_share(f['count'], f['errors'])}.",
        "The model uses context instead of the object when it fails. Vary backgrounds in training (random "
        "resized crops, random erasing, pasting objects onto other scenes), check whether these classes are "
        "photographed in one typical setting, and collect examples in other settings.",
    )


def _strong_pairs(f: dict, names: list[str], sc: list[str]) -> Words:
    rows = f["pairs"]
    listed = "; ".join(f"{names[t]} → {names[p]}: {k} ({pct(s)} of {names[t]})" for t, p, k, s in rows[:LIST_LIMIT])
    more = f" and {_plural(len(rows) - LIST_LIMIT, 'more pair')}" if len(rows) > LIST_LIMIT else ""
    return (
        "A few class pairs take a large bite out of single classes",
        f"At least {pct(PAIR_SHARE_MIN)} of the true class goes to one wrong class in "
        f"{_plural(len(rows), 'pair')}: {listed}{more}. Together: {_share(f['count'], f['errors'])}.",
        "Target these pairs directly: add training images that show what separates them, oversample them or "
        "mine them as hard negatives, and check the confused_pair figures to see whether the model attends to "
        "the object or to shared context.",
    )


def _mutual_pairs(f: dict, names: list[str], sc: list[str]) -> Words:
    rows = f["pairs"]
    listed = "; ".join(f"{names[i]} ↔ {names[j]}: {a} and {b}" for i, j, a, b in rows[:LIST_LIMIT])
    more = f" and {len(rows) - LIST_LIMIT} more" if len(rows) > LIST_LIMIT else ""
    return (
        "Some classes are confused in both directions",
        f"Mistaken for each other in both directions (at least 3 images and {pct(MUTUAL_SHARE_MIN)} of the "
        f"class each way): {_plural(len(rows), 'class pair')}, {listed}{more}. Together: "
        f"{_share(f['count'], f['errors'])}.",
        "Mutual confusion points at classes that overlap, visually or in how they were labelled. Review a "
        "sample of their training labels for mistakes and borderline images; if the labels hold, these pairs "
        "need more discriminative examples (see the confused_pair figures); if they do not, a clearer "
        "labelling rule or merging the classes may be the honest fix.",
    )


def _weak_classes(f: dict, names: list[str], sc: list[str]) -> Words:
    rows = f["classes"]
    listed = ", ".join(f"{names[c]} {pct(a)}" for c, a in rows[:LIST_LIMIT])
    more = f" and {len(rows) - LIST_LIMIT} more" if len(rows) > LIST_LIMIT else ""
    return (
        "A handful of classes lag far behind the rest",
        f"Accuracy is below {pct(f['cut'])} (mean {pct(f['mean'])}, standard deviation {pct(f['std'])}) for "
        f"{_plural(len(rows), 'class', 'classes')}: {listed}{more}. Their errors: {f['count']} of {f['errors']} "
        f"({pct(f['count'] / f['errors'])}).",
        "Give these classes individual attention: more (and cleaner) training images, class-balanced sampling "
        "or loss weights, and a look at their class figures to see whether one confusion or one kind of image "
        "dominates.",
    )


def _overconfidence(f: dict, names: list[str], sc: list[str]) -> Words:
    n, e, t = f["count"], f["errors"], f["temperature"]
    return (
        "The model is often confidently wrong: calibrate its confidence",
        f"ECE {f['ece']:.3f} ({f['bins']} bins); temperature T={t:.2f} brings it to {f['ece_after']:.3f} on "
        f"held-out halves; {n} errors at >= {f['threshold']:.0%} confidence ({n} of {e} errors, {pct(n / e)}). "
        f"Mean confidence: {pct(f['mean_confidence_wrong'])} when wrong, {pct(f['mean_confidence_right'])} when right.",
        f"Confidence is not yet a reliable error signal. Calibrate it: divide the logits by T={t:.2f} "
        "(temperature scaling, fitted on a held-out set), and consider label smoothing or mixup in training; "
        "look at the high-confidence mistakes in the class figures, since confident errors are also where "
        "mislabelled test images hide.",
    )


def _label_noise(f: dict, names: list[str], sc: list[str]) -> Words:
    listed = "; ".join(f"image {i} {names[g]} → {names[s]} ({pct(pg)} vs {pct(ps)})" for i, g, s, pg, ps in f["top"])
    null = f["null"]
    return (
        "Some test labels may be wrong: review the strongest label suspects",
        f"{_plural(f['count'], 'image')} ({pct(f['count'] / f['images'])} of the test set) are strong label "
        f"suspects: another class clears its own confidence threshold and beats the given label by at least "
        f"{f['margin']:.0%} (confident learning; {f['candidates']} candidates in all, strong or weak). Clean labels "
        f"drawn from the temperature-scaled model make {null.null_mean:.0f} (95% range {null.null_low:.0f} to "
        f"{null.null_high:.0f}, {f['draws']} draws): about {f['likely']} of {f['errors']} errors are likely wrong "
        f"labels, an estimated "
        f"precision of {pct(null.precision)} [{pct(null.precision_low)}, {pct(null.precision_high)}]. The rest are "
        f"the model's own confident mistakes. Largest margins: {listed}.",
        "Review these images before trusting per-class numbers (label_suspects.csv, the Suspects view of "
        "gradcam-tui): relabel or drop the wrong ones, and if many share a class pair, check the labelling "
        "rule for those classes, in the training set too. Expect most of the list to be the model's mistakes.",
    )


WORDING: dict[str, Callable[[dict, list[str], list[str]], Words]] = {
    "near_misses": _near_misses,
    "within_superclass": _within_superclass,
    "same_region": _same_region,
    "other_region": _other_region,
    "background": _background,
    "strong_pairs": _strong_pairs,
    "mutual_pairs": _mutual_pairs,
    "weak_classes": _weak_classes,
    "overconfidence": _overconfidence,
    "label_noise": _label_noise,
}


def recommendations(run: AnalysedRun) -> list[Recommendation]:
    """The run's findings in words, in their ranked order."""
    names, sc = run.class_names, run.cache.superclass_names or []
    return [Recommendation(f, *WORDING[f.key](f.facts, names, sc)) for f in run.findings]


def _intro(run: AnalysedRun) -> str:
    m = run.metrics
    return (
        f"{m.num_errors} errors in {m.num_images} images (top-1 accuracy {pct(m.top1)}). Each recommendation below "
        f"rests on numbers from this run and is ranked by the share of errors it addresses; shares overlap, "
        f"since one error can show several patterns."
    )


def _nothing(run: AnalysedRun) -> str:
    m = run.metrics
    if m.num_errors < MIN_ERRORS:
        return f"Only {m.num_errors} errors in {m.num_images} images: too few to base any advice on."
    return "No pattern in this run's errors is strong enough to base advice on."


def checks(run: AnalysedRun) -> list[str]:
    """The checks behind the advice: the sanity verdict, the map statistics against their baselines, the
    label suspects against clean labels (the same sentences as analysis_summary.txt)."""
    if run.metrics.num_errors < MIN_ERRORS:
        return []
    randomised = [s for s in (randomisation_sentence(run),) if s]
    return [sanity_sentence(run), *randomised, *map_agreement_sentences(run), *faithfulness_sentences(run)[:1],
            *suspect_sentences(run)]


def recommendations_text(run: AnalysedRun) -> str:
    """recommendations.txt: plain text, wrapped at 100 columns."""
    recs = recommendations(run)
    wrap = textwrap.TextWrapper(width=100, subsequent_indent="   ", break_on_hyphens=False)
    para = textwrap.TextWrapper(width=100, initial_indent="   ", subsequent_indent="   ", break_on_hyphens=False)
    lines = ["RECOMMENDATIONS", "=" * 15, "", *textwrap.wrap(_intro(run), 100), ""]
    found = checks(run)
    if found:
        lines += ["Checks behind the advice:"]
        for sentence in found:
            lines += wrap.wrap(f" - {sentence}")
        lines.append("")
    if not recs:
        lines += [_nothing(run), ""]
    for k, rec in enumerate(recs, 1):
        lines += wrap.wrap(f"{k}. {rec.title}")
        lines.append(f"   Addresses {pct(rec.finding.share_of_errors)} of errors ({rec.finding.errors_addressed}).")
        lines += para.wrap("Evidence: " + rec.evidence)
        lines += para.wrap("Advice: " + rec.advice)
        lines.append("")
    return "\n".join(lines)


_MD_SPECIAL = re.compile(r"([!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])")


def md_escape(text: str) -> str:
    """Backslash-escape every ASCII punctuation character: CommonMark then shows the text literally."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def recommendations_markdown(run: AnalysedRun) -> str:
    """The same recommendations as Markdown (for the TUI); all data-derived text escaped."""
    recs = recommendations(run)
    parts = ["# Recommendations", "", md_escape(_intro(run)), ""]
    found = checks(run)
    if found:
        parts += ["**Checks behind the advice\\.**", "", *(f"- {md_escape(sentence)}" for sentence in found), ""]
    if not recs:
        parts += [md_escape(_nothing(run)), ""]
    for k, rec in enumerate(recs, 1):
        parts += [
            f"## {k}\\. {md_escape(rec.title)}",
            "",
            f"*Addresses {md_escape(pct(rec.finding.share_of_errors))} of errors ({rec.finding.errors_addressed})\\.*",
            "",
            f"**Evidence\\.** {md_escape(rec.evidence)}",
            "",
            f"**Advice\\.** {md_escape(rec.advice)}",
            "",
        ]
    return "\n".join(parts)
