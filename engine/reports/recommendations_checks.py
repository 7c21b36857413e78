"""The checks behind the advice, in words: the random-logit sanity verdict, each Grad-CAM statistic against
its baseline, and how many label suspects are likely real. analysis_summary.txt and recommendations.txt
(and the TUI's Markdown) say the same sentences."""

from __future__ import annotations

from engine.analysis.analysed_run import AnalysedRun
from engine.analysis.map_agreement import OTHER_REGION_CORR, SAME_REGION_CORR
from engine.analysis.sanity import DEPENDS_MAX
from engine.analysis.suspect_precision import NullCount
from engine.figures.numbers import pct, pct_interval


def _corr(est) -> str:
    return f"{est.value:.2f} [{est.low:.2f}, {est.high:.2f}]"


def sanity_sentence(run: AnalysedRun) -> str:
    s = run.sanity
    if not s.available:
        return ("Random-logit sanity check: not available (the cache stores one class's map per image, "
                "so there is no other class to compare with).")
    ranks = ", ".join(f"top-{k} {_corr(e)}" for k, e in enumerate(s.vs_rank, 2))
    numbers = (f"mean rank correlation (Spearman, over the map's cells, 95% interval over images) of the "
               f"predicted-class map with the map of the class ranked {ranks}; with the true-class map on errors "
               f"{_corr(s.vs_true_on_errors)}. A map that ignored the class would score 1; the verdict asks for the "
               f"lowest-ranked stored class below {DEPENDS_MAX}.")
    if s.depends_on_class:
        return f"Random-logit sanity check: PASSED, the maps depend on the class: {numbers}"
    return (f"Random-logit sanity check: FAILED, the maps barely depend on the class: {numbers} Grad-CAM advice is "
            "withheld for this run.")


def map_agreement_sentences(run: AnalysedRun) -> list[str]:
    """Each map-agreement statistic with its baseline and whether it is advised on."""
    m = run.map_agreement
    out = []
    for what, threshold, stat, base, beats in (
        ("true- and predicted-class maps of an error highlight the same region ('looks at the right object but "
         "names it wrongly'), correlation >=", SAME_REGION_CORR, m.same_errors, m.same_baseline, m.same_beats_baseline),
        ("true- and predicted-class maps of an error highlight different regions ('looks somewhere else'), "
         "correlation <", OTHER_REGION_CORR, m.other_errors, m.other_baseline, m.other_beats_baseline),
    ):
        if base.n == 0:
            verdict = "not advised on: no baseline (the cache stores no top-2 map)"
        else:
            verdict = "beats its baseline" if beats else "not advised on: it does not beat its baseline"
        out.append(f"The {what} {threshold}: {pct_interval(stat)} of {stat.n} errors, against "
                   f"{pct_interval(base)} of {base.n} correct predictions between their top-1 and top-2 maps; "
                   f"{verdict}.")
    return out


def _range(c: NullCount) -> str:
    return f"{c.null_mean:.0f} (95% range {c.null_low:.0f} to {c.null_high:.0f})"


def suspect_sentences(run: AnalysedRun) -> list[str]:
    p = run.suspect_precision
    if p.draws == 0:
        return ["No images, no label suspects."]
    a, s = p.all, p.strong
    lines = [
        f"A model flags some of its own mistakes as label suspects: clean labels drawn {p.draws} times from the "
        f"temperature-scaled model produce {_range(a)} candidates and {_range(s)} "
        f"strong ones, against {a.observed} and {s.observed} here.",
        f"Estimated real label errors among the strong suspects: about {s.excess:.0f}, a precision of "
        f"{pct(s.precision)} [{pct(s.precision_low)}, {pct(s.precision_high)}] (only the strong ones are estimated: "
        f"the weak candidates depend on how well one temperature fits the model's middling confidences).",
    ]
    if s.beats_null:
        lines.append("More strong suspects than clean labels produce: some labels are likely wrong; review the "
                     "strong suspects first, expecting many of them to be the model's own mistakes.")
    else:
        lines.append("Few or none of these labels are likely wrong, as far as this test set can tell: the count "
                     "is within what clean labels produce, so the suspects are mostly the model's own confident "
                     "mistakes.")
    lines.append(f"The clean labels come from the model's probabilities at temperature {p.temperature:.2f} (fitted by "
                 "the Brier score, which a few wrong labels barely move); a test set alone cannot fully tell a wrong "
                 "label from a confident mistake that a temperature does not explain.")
    return lines


def randomisation_sentence(run: AnalysedRun) -> str | None:
    """The model-randomisation verdict with its numbers (None: the run had no --faithfulness)."""
    s = run.model_randomisation
    if not s.available:
        return None
    numbers = (f"rank correlation {_corr(s.corr)} (Spearman over the map's cells, mean over {s.corr.n} images, "
               f"95% interval) between the predicted-class map and the same class's map after re-initialising "
               f"{s.reinitialised or 'the head and the last stage'}. Maps that ignored the learnt weights would "
               f"score near 1; the verdict asks for an interval below {DEPENDS_MAX}.")
    if s.depends_on_weights:
        return f"Model-randomisation sanity check: PASSED, the maps depend on the learnt weights: {numbers}"
    return (f"Model-randomisation sanity check: FAILED, the maps barely depend on the learnt weights: {numbers} "
            "They show the input's structure more than what the model learnt; Grad-CAM advice is withheld for this run.")


def _auc(est) -> str:
    return f"{est.value:.3f} [{est.low:.3f}, {est.high:.3f}]"


def faithfulness_sentences(run: AnalysedRun) -> list[str]:
    """What deletion/insertion and confidence change say about the maps (empty without --faithfulness)."""
    from engine.analysis.faithfulness import MIN_IMAGES

    f = run.faithfulness
    if not f.available:
        return []
    s = f.summary()
    correct = run.correct[f.index]
    right, wrong = f.summary(correct), f.summary(~correct)
    verdict = ("the maps are faithful on average: removing the cells they rank first lowers the predicted "
               "class's probability faster than revealing them restores it from the baseline, and the gap's "
               "interval lies above 0" if s["gap"].low > 0 else
               "the maps are not shown to be faithful: the gap's interval reaches 0 or below")
    return [
        f"Faithfulness of the predicted-class maps, on {s['gap'].n} sampled images ({f.steps} steps over the map's "
        f"cells, removed cells set to the normalisation mean colour): deletion AUC {_auc(s['deletion_auc'])} (low "
        f"= faithful), insertion AUC {_auc(s['insertion_auc'])} (high = faithful), gap (insertion - deletion) "
        f"{_auc(s['gap'])}; {verdict}.",
        f"Image times its map: average drop in confidence {pct_interval(s['drop'])} (low = faithful), increase in "
        f"confidence on {pct_interval(s['increase'])} of the images.",
        f"On correct predictions the gap is {_auc(right['gap'])} ({right['gap'].n} images), on errors "
        f"{_auc(wrong['gap'])} ({wrong['gap'].n} images). Classes are ranked by their gap when they have >= "
        f"{MIN_IMAGES} sampled images; 95% intervals are bootstrap intervals over images.",
    ]
