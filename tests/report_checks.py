"""Checks that a folder of reports is complete, opens, and agrees with its run (used on real runs)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from engine.analysis.analysed_run import AnalysedRun
from engine.reports import filenames as fn


def check_report_folder(out: Path, run: AnalysedRun) -> None:
    cache, m = run.cache, run.metrics
    fixed = [fn.CONFUSION_MATRIX, fn.PER_CLASS_CSV, fn.PER_CLASS_HTML, fn.PAIRS_CSV, fn.PAIRS_CHART,
             fn.SUMMARY_TXT, fn.RECOMMENDATIONS_TXT, fn.RELIABILITY_DIAGRAM, fn.SUSPECTS_CSV, fn.ATTENTION_CSV,
             fn.ATTENTION_FLAGS_CSV, fn.HIGH_CONFIDENCE_ERRORS_CSV]
    if cache.superclass_names:
        fixed.append(fn.SUPERCLASS_CONFUSION)
    if run.near_duplicates is not None:  # a run of this engine stores the pooled features: its near-duplicates
        fixed.append(fn.NEAR_DUPLICATES_CSV)
        assert len(pd.read_csv(out / fn.NEAR_DUPLICATES_CSV)) == len(run.near_duplicates)
    for name in fixed:
        assert (out / name).is_file(), name
    class_pngs = [out / fn.class_figure_name(c, n) for c, n in enumerate(cache.class_names)]
    pairs = m.confused_pairs.frame.head(5)
    pair_pngs = [out / fn.pair_figure_name(r.rank, r.true_name, r.pred_name) for r in pairs.itertuples()]
    for png in [*class_pngs, *pair_pngs, *(out / n for n in fixed if n.endswith(".png"))]:
        with Image.open(png) as im:
            im.load()
            assert im.size[0] > 200 and im.size[1] > 150, png
    if len(pairs) and cache.cam_contrast is not None:  # the pair figure shows each error's contrastive map
        from engine.figures.examples import pair_examples
        from engine.figures.panels import CONTRAST
        from engine.reports.pair_figure import pair_sheet

        sheet = pair_sheet(run, 1)
        assert np.array_equal(rgb(pair_pngs[0]), np.asarray(sheet.render()))
        first = pairs.iloc[0]
        shown = len(pair_examples(cache, int(first["true_id"]), int(first["pred_id"]), 4))
        assert len(sheet.boxes) == 5 * shown
        assert sum(p.title == CONTRAST for row in sheet.items if hasattr(row, "panels") for p in row.panels) == shown
    with Image.open(out / fn.CONFUSION_MATRIX) as im:
        assert im.size == (2000, 1800)  # 20 x 18 in at 100 dpi
    table = pd.read_csv(out / fn.PER_CLASS_CSV, keep_default_na=False)
    assert len(table) == cache.num_classes
    np.testing.assert_allclose(table["accuracy"].astype(float), m.per_class["accuracy"], atol=1e-6)
    assert table["support"].tolist() == list(m.per_class["support"])
    pairs_csv = pd.read_csv(out / fn.PAIRS_CSV)
    assert pairs_csv["count"].tolist() == list(m.confused_pairs["count"])
    summary = (out / fn.SUMMARY_TXT).read_text(encoding="utf-8")
    assert f"{m.top1 * 100:.2f}%" in summary
    html = (out / fn.PER_CLASS_HTML).read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=\s*[\"']?https?:", html, re.I)
    assert cache.class_names[0] in html


def figure_json(html_text: str) -> dict:
    """The plotly figure data block of per_class_accuracy_interactive.html."""
    import json

    m = re.search(r'<script type="application/json" id="per-class-figure">(.*?)</script>', html_text, re.S)
    assert m, "figure data block missing"
    return json.loads(m.group(1))


def rgb(path: Path) -> np.ndarray:
    """A PNG's pixels as uint8 RGB."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))
