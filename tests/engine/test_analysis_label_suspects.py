"""Label suspects in the spirit of confident learning (engine.analysis.label_suspects)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.analysis.label_suspects import class_thresholds, label_suspects


def test_label_suspects_find_a_confidently_contradicted_label():
    probs = np.array(
        [[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.2, 0.8], [0.97, 0.03], [0.55, 0.45]], dtype=np.float64
    )
    labels = np.array([0, 0, 1, 1, 1, 1])  # image 4 is labelled 1 but looks like a confident 0
    np.testing.assert_allclose(class_thresholds(probs, labels), [0.85, (0.9 + 0.8 + 0.03 + 0.45) / 4])
    sus = label_suspects(probs, labels, ["cat", "dog"])
    assert list(sus["image"])[0] == 4 and list(sus["suggested"])[0] == "cat" and list(sus["given"])[0] == "dog"
    assert 5 not in list(sus["image"])  # 0.55 is below class 0's threshold
    assert abs(sus["margin"][0] - 0.94) < 1e-12 and bool(sus["strong"][0])
    assert list(sus["rank"]) == list(range(1, len(sus) + 1))
    assert (np.diff(sus["margin"]) <= 0).all()


# --- planted label errors, several runs, the kept ranking ---------------------------------------------------

from engine.analysis.analysed_run import AnalysedRun  # noqa: E402
from engine.analysis.combined_suspects import combined_suspects  # noqa: E402
from engine.analysis.label_suspects import AMBIGUOUS_P, SCORES, flagged, ranked_suspects  # noqa: E402
from engine.errors import UserError  # noqa: E402
from tests.synthetic import subset, synthetic_cache, with_probs  # noqa: E402


def _model_probs(labels: np.ndarray, num_classes: int, seed: int, hard: int | None = None,
                 sure: set[int] = frozenset()) -> np.ndarray:
    """A model that knows the true classes (clear winner), with noise; class `hard` it is much less sure of,
    the images `sure` (the planted errors: their true class is plain to see) it is surest of."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1, (len(labels), num_classes))
    lift = np.where(labels == hard, 1.5, 5.0) if hard is not None else np.full(len(labels), 5.0)
    lift[list(sure)] += 3.0
    logits[np.arange(len(labels)), labels] += lift
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _planted(n_per_class: int = 40, num_classes: int = 6, n_planted: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(num_classes), n_per_class)
    planted = rng.choice(len(truth), n_planted, replace=False)
    given = truth.copy()
    given[planted] = (truth[planted] + 1 + rng.integers(0, num_classes - 1, n_planted)) % num_classes
    return truth, given, set(int(i) for i in planted)


def test_planted_label_errors_come_first_for_one_run_and_for_two():
    truth, given, planted = _planted()
    a, b = _model_probs(truth, 6, seed=1, hard=2, sure=planted), _model_probs(truth, 6, seed=2, hard=2, sure=planted)
    names = [f"c{k}" for k in range(6)]
    for runs in ([a], [a, b]):
        sus = ranked_suspects(runs, given, names)
        assert set(int(i) for i in sus["image"][: len(planted)]) == planted
        top = sus.frame.head(len(planted))
        np.testing.assert_array_equal(top["suggested_id"], truth[top["image"]])  # the true class suggested
        assert (top["runs_agreeing"] == len(runs)).all()
    # the hard class's clean images are confident-learning candidates at times, never above a planted error
    sus = ranked_suspects([a], given, names)
    assert (np.asarray(sus["score"])[:-1] >= np.asarray(sus["score"])[1:]).all()


def test_class_self_confidence_judges_a_label_against_its_class():
    """p_y / t_y: a doubted label of a class the model is always unsure of (class 0) ranks below an equally
    doubted label of a class it is usually sure of (class 1); the margin ranks them the other way round."""
    probs = np.array([[0.5, 0.2, 0.15, 0.15]] * 3 + [[0.1, 0.02, 0.85, 0.03]]  # class 0, then image 3
                     + [[0.02, 0.95, 0.02, 0.01]] * 3 + [[0.05, 0.15, 0.0, 0.8]]  # class 1, then image 7
                     + [[0.1, 0.05, 0.8, 0.05]] * 2 + [[0.1, 0.1, 0.05, 0.75]] * 2)
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3])
    names = ["hard", "easy", "x", "y"]
    assert list(ranked_suspects([probs], labels, names)["image"]) == [7, 3]
    assert list(ranked_suspects([probs], labels, names, score="margin")["image"]) == [3, 7]


def test_every_score_ranks_the_same_candidates():
    truth, given, _ = _planted(seed=3)
    probs = _model_probs(truth, 6, seed=4)
    base = set(ranked_suspects([probs], given, list("abcdef"))["image"])
    assert base == set(np.nonzero(flagged(probs, given))[0])
    for score in SCORES:
        assert set(ranked_suspects([probs], given, list("abcdef"), score=score)["image"]) == base


def test_runs_agreeing_counts_the_runs_that_flag_an_image_alone():
    labels = np.array([0, 0, 1, 1, 1])
    one = np.array([[0.7, 0.3], [0.6, 0.4], [0.1, 0.9], [0.2, 0.8], [0.97, 0.03]])
    other = np.array([[0.7, 0.3], [0.6, 0.4], [0.1, 0.9], [0.2, 0.8], [0.6, 0.4]])  # 0.6 < its threshold 0.65
    assert flagged(one, labels)[4] and not flagged(other, labels)[4]
    sus = ranked_suspects([one, other], labels, ["a", "b"])
    assert list(sus["image"]) == [4] and list(sus["runs_agreeing"]) == [1]
    np.testing.assert_allclose(sus["p_given"], [(0.03 + 0.4) / 2])
    both = ranked_suspects([one, one], labels, ["a", "b"])
    assert list(both["runs_agreeing"]) == [2]


def test_ambiguous_marks_two_plausible_classes():
    labels = np.array([0, 0, 0, 1, 1, 1])
    probs = np.array([[0.6, 0.4], [0.6, 0.4], [0.6, 0.4], [0.1, 0.9], [0.6, 0.4], [0.98, 0.02]])
    sus = ranked_suspects([probs], labels, ["a", "b"]).frame.set_index("image")
    assert bool(sus.loc[4, "ambiguous"]) and 0.4 >= AMBIGUOUS_P  # both classes at least AMBIGUOUS_P
    assert not bool(sus.loc[5, "ambiguous"])


def test_one_cache_gives_the_runs_own_list():
    cache = synthetic_cache(n_per_class=30)
    own = AnalysedRun(cache).suspects.frame
    combined = combined_suspects([cache]).frame
    assert len(own) > 5
    for column in ("rank", "image", "given", "suggested", "p_given", "p_suggested", "margin", "threshold", "strong"):
        np.testing.assert_array_equal(combined[column], own[column])
    assert (combined["runs_agreeing"] == 1).all()


def test_caches_of_other_test_sets_are_refused():
    cache = synthetic_cache(n_per_class=30)
    with pytest.raises(UserError, match="not on the same test set"):
        combined_suspects([cache, subset(cache, cache.labels != 2)])
    relabelled = with_probs(cache, cache.probs)
    relabelled = type(cache)(**{**relabelled.__dict__, "labels": (cache.labels + 1) % cache.num_classes})
    with pytest.raises(UserError, match="other labels"):
        combined_suspects([cache, relabelled])
