"""`gradcam-batch report`: the report files again from a cache alone (no torch, no model, no data set); a
bad cache is one sentence and exit 2 for `report` and `compare` alike, and nothing is written from it."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from engine.analysis.analysed_run import AnalysedRun
from engine.reports.writer import plan
from engine.store import SCHEMA_VERSION, save_cache
from engine.store.written_files import MANIFEST_NAME
from tests.conftest import rewrite_npz
from tests.synthetic import synthetic_cache


def test_report_rewrites_every_file_from_the_cache_alone(tmp_path, small_cache, cli):
    cache_file = save_cache(small_cache, tmp_path / "run" / "cache.npz")
    outcome = cli("report", "--cache", tmp_path / "run").completed()
    n = len(plan(AnalysedRun(small_cache)))
    assert outcome.out.strip() == f"Wrote {n} files to {tmp_path / 'run'}"
    written = {p.name for p in (tmp_path / "run").iterdir()}
    assert len(written) == n + 2 and {"cache.npz", MANIFEST_NAME} <= written  # beside the cache by default
    elsewhere = cli("report", "--cache", cache_file, "--out", tmp_path / "elsewhere").completed()
    assert f"Wrote {n} files to {tmp_path / 'elsewhere'}" in elsewhere.out
    assert len(list((tmp_path / "elsewhere").glob("class_*.png"))) == small_cache.num_classes


@pytest.mark.parametrize(
    "damage, expected",
    [("older schema", "has cache schema version 0, but this gradcam-tui reads versions 1, 2; re-create it: "
                      "run `gradcam-batch run"),
     ("newer schema", f"has cache schema version {SCHEMA_VERSION + 1}, but this gradcam-tui reads versions 1, 2; "
                      "upgrade gradcam-tui"),
     ("older schema, folder", "has cache schema version 0, but this gradcam-tui reads versions 1, 2; re-create it"),
     ("truncated", "could not be read as a gradcam cache"),
     ("not a zip", "could not be read as a gradcam cache"),
     ("pickled member", "could not be read as a gradcam cache"),
     ("absent", "No cache at")],
    ids=["older-schema", "newer-schema", "older-schema-folder", "truncated", "not-a-zip", "pickled-member", "absent"],
)
def test_bad_caches_for_report_and_compare(tmp_path, cli, code_running_pickle, damage, expected):
    good = save_cache(synthetic_cache(n_per_class=3, num_classes=4, k=3), tmp_path / "good.npz")
    bad = tmp_path / "bad.npz"
    if damage == "older schema":
        rewrite_npz(good, bad, schema_version=np.array(0))
    elif damage == "newer schema":
        rewrite_npz(good, bad, schema_version=np.array(SCHEMA_VERSION + 1))
    elif damage == "older schema, folder":
        bad = save_cache(synthetic_cache(n_per_class=3, num_classes=4, k=3), tmp_path / "cache")
        manifest = json.loads((bad / "manifest.json").read_text())
        (bad / "manifest.json").write_text(json.dumps({**manifest, "schema_version": 0}))
    elif damage == "truncated":
        bad.write_bytes(good.read_bytes()[:3000])
    elif damage == "not a zip":
        bad.write_bytes(b"\x00" * 100)
    elif damage == "pickled member":
        with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
            for item in src.namelist():
                buf = io.BytesIO()
                np.save(buf, np.array([code_running_pickle(tmp_path / "PWNED")], dtype=object), allow_pickle=True)
                dst.writestr(item, buf.getvalue() if item == "probs.npy" else src.read(item))
    cli("report", "--cache", bad, "--out", tmp_path / "reports").refused(expected)
    assert not (tmp_path / "reports").exists()  # nothing written from a bad cache
    cli("compare", good, bad, "--out", tmp_path / "cmp").refused(expected)
    assert not (tmp_path / "cmp").exists()
    assert not (tmp_path / "PWNED").exists()
