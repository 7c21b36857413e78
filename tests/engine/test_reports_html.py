"""per_class_accuracy_interactive.html (engine.reports.html): its numbers are the run's, every name is
escaped, and nothing is loaded from anywhere."""

from __future__ import annotations

import re

import numpy as np
import pytest

from engine.analysis.analysed_run import AnalysedRun
from engine.reports import filenames as fn
from engine.reports.html import XML_NAMESPACES, defang_urls, page
from tests.report_checks import figure_json
from tests.synthetic import synthetic_cache


def test_html_numbers_agree_with_analysis(written_reports):
    run, out, _ = written_reports
    text = (out / fn.PER_CLASS_HTML).read_text(encoding="utf-8")
    fig = figure_json(text)
    pc = run.metrics.per_class.frame
    n = run.cache.num_classes
    ys, xs = {}, {}
    for trace in fig["data"]:
        for x, y, cd in zip(trace["x"], trace["y"], trace["customdata"]):
            ys[int(cd[0])] = y
            xs[int(cd[0])] = x
            assert cd[4] == str(pc.loc[int(cd[0]), "correct"]) and cd[3] == str(pc.loc[int(cd[0]), "support"])
    assert sorted(ys) == list(range(n))
    np.testing.assert_allclose([ys[c] for c in range(n)], pc["accuracy"], atol=1e-9)
    assert [t["name"] for t in fig["data"]] == ["group_a", "group_b"]  # grouped by superclass
    assert fig["layout"]["shapes"][0]["y0"] == pytest.approx(run.metrics.top1)
    labels = [b["label"] for b in fig["layout"]["updatemenus"][0]["buttons"]]
    assert labels == ["Class id", "Accuracy, worst first", "Accuracy, best first", "Superclass, then accuracy"]
    worst_first = fig["layout"]["updatemenus"][0]["buttons"][1]["args"][0]["xaxis.categoryarray"]
    order = pc.sort_values(["accuracy", "class_id"], kind="mergesort")["class_id"].tolist()
    assert worst_first == [xs[c] for c in order]
    assert text.count("<tr><td") == n  # the table under the chart
    assert "Plotly.newPlot('per-class-accuracy', fig.data, fig.layout" in text


def test_html_escapes_class_names(written_reports):
    _, out, _ = written_reports
    text = (out / fn.PER_CLASS_HTML).read_text(encoding="utf-8")
    assert "odd/na me<b>" not in text
    assert "odd/na me&lt;b&gt;" in text  # the table and the plot's labels (plotly shows the entities as text)
    hostile = synthetic_cache()
    hostile.class_names[2] = "</script><script>alert(1)</script>"
    hostile.class_names[5] = '"><img src=x onerror=alert(2)>'
    html_text = page(AnalysedRun(hostile))
    assert "<script>alert(1)" not in html_text and "</script><script>alert" not in html_text
    assert "<img src=x" not in html_text
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in html_text
    assert html_text.count("<script") == html_text.count("</script>") == 5  # only our own inline scripts


def test_html_is_self_contained_with_no_external_url(written_reports):
    _, out, _ = written_reports
    text = (out / fn.PER_CLASS_HTML).read_text(encoding="utf-8")
    assert len(text) > 1_000_000  # plotly.js is inline
    # nothing is loaded from anywhere: no external scripts, stylesheets, frames, images, CSS imports
    assert not re.search(r"<script[^>]*\bsrc\s*=", text, re.I)
    assert not re.search(r"<(link|iframe|img|embed|object|base)\b", text, re.I)
    assert not re.search(r"@import|url\(\s*['\"]?\s*(https?:)?//", text, re.I)
    assert not re.search(r"\b(src|href)\s*=\s*['\"]?\s*(https?:)?//", text, re.I)
    # the only http(s) strings left are XML namespace identifiers (names, never fetched)
    urls = set(re.findall(r"https?://[^\s\"'`<>)\\]*", text))
    assert urls and urls <= set(XML_NAMESPACES), urls - set(XML_NAMESPACES)
    assert "hxxps://cdn.plot.ly" in text  # plotly's CDN default, defanged
    assert '"displaylogo": false' in text


def test_defang_urls_keeps_namespaces():
    js = 'a="http://www.w3.org/2000/svg";b="https://cdn.plot.ly/x";c=`http://example.com/${p}`'
    out = defang_urls(js)
    assert out == 'a="http://www.w3.org/2000/svg";b="hxxps://cdn.plot.ly/x";c=`hxxp://example.com/${p}`'
