"""The label reviews' file: verdicts round-trip, a damaged or foreign file is refused and left alone, an
interrupted save (an exception, or a process killed mid-write) leaves the previous file whole, and the CSV
a training pipeline reads says which label to use."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from engine.store.reviews import (
    AMBIGUOUS,
    RIGHT,
    WRONG,
    ReviewsError,
    Verdict,
    export_csv,
    load_reviews,
    reviews_path,
    save_reviews,
)
from tests.conftest import ROOT

LABELS = np.array([0, 1, 2, 1, 0, 2, 2, 1])
NAMES = ["cat", "dog", "fox"]


def verdicts() -> dict[int, Verdict]:
    return {1: Verdict(1, WRONG, 1, 2, "2026-01-01T00:00:00+00:00"), 4: Verdict(4, RIGHT, 0),
            6: Verdict(6, AMBIGUOUS, 2)}


def test_reviews_live_beside_the_cache():
    assert reviews_path("out/cache.npz").as_posix() == "out/cache.reviews.json"
    assert reviews_path("out/cache").as_posix() == "out/cache.reviews.json"


def test_verdicts_round_trip(tmp_path):
    path = save_reviews(tmp_path / "cache.reviews.json", verdicts(), LABELS)
    assert load_reviews(path, LABELS, len(NAMES)) == verdicts()
    assert load_reviews(tmp_path / "absent.json", LABELS, len(NAMES)) == {}


@pytest.mark.parametrize("damage", ["not json", "another format", "other labels", "image out of range",
                                    "unknown verdict", "label changed", "suggested out of range"])
def test_a_file_that_cannot_be_used_is_refused_and_left_as_it_is(tmp_path, damage):
    path = save_reviews(tmp_path / "r.json", verdicts(), LABELS)
    doc = json.loads(path.read_text())
    if damage == "not json":
        path.write_text("{not json")
    else:
        if damage == "another format":
            doc["format"] = "something else"
        elif damage == "other labels":
            doc["labels_sha256"] = "0" * 64
        elif damage == "image out of range":
            doc["verdicts"][0]["image"] = 99
        elif damage == "unknown verdict":
            doc["verdicts"][0]["verdict"] = "\x1b[2Jmaybe"
        elif damage == "label changed":
            doc["verdicts"][0]["given"] = 0
        else:
            doc["verdicts"][0]["suggested"] = 7
        path.write_text(json.dumps(doc))
    before = path.read_bytes()
    with pytest.raises(ReviewsError) as err:
        load_reviews(path, LABELS, len(NAMES))
    assert str(err.value).startswith(f"The reviews file {path}") and "not saved over it" in str(err.value)
    assert "\n" not in str(err.value) and path.read_bytes() == before


def test_an_interrupted_save_leaves_the_previous_file_whole(tmp_path, monkeypatch):
    path = save_reviews(tmp_path / "r.json", verdicts(), LABELS)
    before = path.read_bytes()
    more = {**verdicts(), 7: Verdict(7, RIGHT, 1)}

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_reviews(path, more, LABELS)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["r.json"]  # no temporary file left


WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from engine.store.reviews import RIGHT, Verdict, save_reviews
    labels = np.arange(5000) % 7
    done = {}
    for i in range(5000):  # one save per verdict, as the app does, until killed
        done[i] = Verdict(i, RIGHT, int(labels[i]))
        save_reviews(sys.argv[1], done, labels)
        if i == 20:
            print("saving", flush=True)
    """
)


def test_a_process_killed_while_saving_leaves_a_whole_file(tmp_path):
    path = tmp_path / "cache.reviews.json"
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert child.stdout.readline().strip() == "saving"
    time.sleep(0.3)  # well into the saves (each rewrites the whole file)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    labels = np.arange(5000) % 7
    loaded = load_reviews(path, labels, 7)  # whole: it parses, and holds the verdicts of one complete save
    assert len(loaded) >= 21 and sorted(loaded) == list(range(len(loaded)))  # a prefix: one save, whole


def test_the_csv_says_which_label_to_train_with(tmp_path):
    path = export_csv(tmp_path / "label_reviews.csv", verdicts(), NAMES)
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert [(r["image"], r["verdict"], r["given"], r["label_to_use"], r["label_to_use_id"]) for r in rows] == [
        ("1", "wrong", "dog", "fox", "2"), ("4", "right", "cat", "cat", "0"), ("6", "ambiguous", "fox", "", "")]
    assert rows[0]["suggested"] == "fox" and rows[1]["suggested"] == ""
