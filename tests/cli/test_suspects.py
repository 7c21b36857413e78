"""`gradcam-batch suspects CACHE [CACHE ...]`: one ranked label_suspects.csv from runs on one test set, its
`image` column the test-set index; runs on other test sets refused with one sentence."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from engine.analysis.analysed_run import AnalysedRun
from engine.reports.diagnosis import SUSPECT_COLUMNS
from engine.store import save_cache
from tests.synthetic import subset, synthetic_cache, with_logits
from tests.tui.helpers import opened_by_the_tui


def test_one_cache_writes_the_runs_own_list(tmp_path, cli, written_reports):
    cache = synthetic_cache()
    path = save_cache(cache, tmp_path / "cache.npz")
    outcome = cli("suspects", path, "--out", tmp_path / "sus").completed()
    table = pd.read_csv(tmp_path / "sus" / "label_suspects.csv")
    assert list(table.columns) == SUSPECT_COLUMNS + ["runs_agreeing", "ambiguous"]
    own = AnalysedRun(cache).suspects.frame
    np.testing.assert_array_equal(table["image"], own["image"])
    assert (table["runs_agreeing"] == 1).all() and f"{len(table)} label suspects from 1 run" in outcome.out
    report = pd.read_csv(written_reports[1] / "label_suspects.csv")  # the report's file of the same run
    pd.testing.assert_frame_equal(table[SUSPECT_COLUMNS], report)


def test_two_runs_rank_by_their_mean_and_the_image_column_is_the_test_set_index(tmp_path, cli):
    cache = synthetic_cache(n_per_class=30)
    rng = np.random.default_rng(5)
    planted = rng.choice(cache.num_images, 6, replace=False)
    logits = cache.logits.astype(np.float64).copy()
    logits[planted, cache.labels[planted]] -= 8  # both models all but rule out these images' given labels
    logits[planted, (cache.labels[planted] + 3) % cache.num_classes] += 8
    a = save_cache(with_logits(cache, logits), tmp_path / "a.npz")
    other = logits + np.random.default_rng(6).normal(0, 0.3, logits.shape)
    b = save_cache(with_logits(cache, other), tmp_path / "b.npz")
    cli("suspects", a, b, "--out", tmp_path / "sus").completed()
    table = pd.read_csv(tmp_path / "sus" / "label_suspects.csv")
    assert set(table["image"][:6]) == set(int(i) for i in planted)
    assert (table["runs_agreeing"][:6] == 2).all()
    assert list(table["rank"]) == list(range(1, len(table) + 1))
    for row in table.head(6).itertuples():  # the index into the test set: its label is the given one
        assert cache.class_names[cache.labels[row.image]] == row.given


def test_caches_of_different_test_sets_are_refused_with_one_sentence(tmp_path, cli):
    cache = synthetic_cache(n_per_class=30)
    a = save_cache(cache, tmp_path / "a.npz")
    b = save_cache(subset(cache, cache.labels != 2), tmp_path / "b.npz")
    cli("suspects", a, b, "--out", tmp_path / "sus").refused("The two caches are not on the same test set (240 vs 210 images)")
    assert not (tmp_path / "sus").exists()


def test_a_file_that_is_not_a_cache_is_one_sentence(tmp_path, cli):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a cache")
    cli("suspects", junk, "--out", tmp_path / "sus").refused()


def test_the_tui_takes_the_list_for_its_suspects_view(tmp_path, cli, monkeypatch):
    cache = synthetic_cache(n_per_class=30)
    a = save_cache(cache, tmp_path / "a.npz")
    b = save_cache(with_logits(cache, cache.logits + np.random.default_rng(2).normal(0, 1.0, cache.logits.shape)),
                   tmp_path / "b.npz")
    cli("suspects", a, b, "--out", tmp_path / "sus").completed()
    csv = tmp_path / "sus" / "label_suspects.csv"
    table = pd.read_csv(csv)
    opened = opened_by_the_tui([a, "--suspects", csv], monkeypatch)
    assert opened["code"] == 0 and opened["ran"]
    sus = opened["run"].suspects
    np.testing.assert_array_equal(sus["image"], table["image"])
    np.testing.assert_array_equal(sus["suggested_id"], table["suggested_id"])
    assert not np.array_equal(sus["image"], AnalysedRun(cache).suspects["image"])  # the two runs' list, not a's


def test_the_tui_refuses_a_list_of_another_test_set(tmp_path, cli, monkeypatch, capsys):
    cache = synthetic_cache(n_per_class=30)
    other = save_cache(dataclasses.replace(cache, labels=np.roll(cache.labels, 7)), tmp_path / "other.npz")
    cli("suspects", other, "--out", tmp_path / "sus").completed()
    a = save_cache(cache, tmp_path / "a.npz")
    opened = opened_by_the_tui([a, "--suspects", tmp_path / "sus" / "label_suspects.csv"], monkeypatch)
    assert opened["code"] == 2 and "run" not in opened
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "another test set" in err[0]


def test_both_shared_resnets_give_one_ranked_list_indexed_by_the_test_set(cifar_run, batch, tmp_path):
    """The two shared models' runs on the CIFAR-100 test split (shared with the other tests of the session)."""
    from engine.analysis.label_suspects import class_thresholds
    from engine.store import load_cache
    from tests.conftest import SHARED

    (p20, out20), (p56, out56) = cifar_run(20), cifar_run(56)
    assert p20.returncode == 0 and p56.returncode == 0
    proc = batch("suspects", out20 / "cache.npz", out56 / "cache.npz", "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(tmp_path / "label_suspects.csv")
    labels = np.load(SHARED / "cifar100" / "test_fine_labels.npy")
    i = table["image"].to_numpy()
    assert len(table) > 100 and table["image"].is_unique
    np.testing.assert_array_equal(table["given_id"], labels[i])  # image = the test-set index
    mean = (load_cache(out20 / "cache.npz").probs.astype(np.float64) + load_cache(out56 / "cache.npz").probs) / 2
    np.testing.assert_allclose(table["p_given"], mean[i, labels[i]], atol=1e-6)
    score = mean[i, labels[i]] / class_thresholds(mean, labels)[labels[i]]
    assert (np.diff(score) >= -1e-6).all()  # best first: the given label least believed, against its class
    assert set(table["runs_agreeing"]) <= {0, 1, 2} and (table["runs_agreeing"][:20] >= 1).all()


def test_the_tui_refuses_a_file_that_is_not_a_suspect_list(tmp_path, monkeypatch, capsys):
    cache = synthetic_cache(n_per_class=30)
    a = save_cache(cache, tmp_path / "a.npz")
    cases = {"columns.csv": "image,given\n1,class_0\n",
             "range.csv": "image,given_id,suggested_id,p_given,p_suggested,margin,threshold\n999,0,1,0.1,0.9,0.8,0.5\n",
             "words.csv": "image,given_id,suggested_id,p_given,p_suggested,margin,threshold\nx,0,1,0.1,0.9,0.8,0.5\n"}
    expected = {"columns.csv": "not a label_suspects.csv (no column given_id", "range.csv": "names images or classes",
                "words.csv": "must be numbers"}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        opened = opened_by_the_tui([a, "--suspects", tmp_path / name], monkeypatch)
        err = capsys.readouterr().err.strip().splitlines()
        assert opened["code"] == 2 and len(err) == 1 and expected[name] in err[0], (name, err)
