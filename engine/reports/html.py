"""per_class_accuracy_interactive.html: one self-contained page (plotly.js inline) that opens offline.

What "no external URL" means here, and what tests/test_reports.py asserts:
- nothing in the page loads from a network: no <script src>, <link>, <iframe>, <img>, CSS url() or
  @import; plotly.js is inline and the plot's config turns off every link out (logo, "edit in Chart Studio");
- the only http(s) strings left are the W3C XML namespace identifiers plotly.js needs to create SVG
  (http://www.w3.org/2000/svg and four like it): names, never fetched by a browser;
- every other http(s) address inside the plotly.js bundle (map-tile servers and CDN defaults for trace types
  this page does not use, licence-comment links) is defanged to hxxp(s)://, an unknown scheme a browser
  cannot fetch, so the file cannot phone home even if a map trace were added.
Class names are HTML-escaped everywhere (plotly decodes &lt; &gt; &amp; back to text when it draws them).
"""

from __future__ import annotations

import html
import json
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from engine.analysis.analysed_run import AnalysedRun
from engine.figures.numbers import pct
from engine.store.atomic import write_text

XML_NAMESPACES = (
    "http://www.w3.org/2000/svg",
    "http://www.w3.org/1999/xlink",
    "http://www.w3.org/2000/xmlns/",
    "http://www.w3.org/1999/xhtml",
    "http://www.w3.org/XML/1998/namespace",
)
_URL = re.compile(r"\b(http)(s?)://")
DIV_ID = "per-class-accuracy"
METRICS = (
    ("accuracy", "Accuracy (recall)"),
    ("precision", "Precision"),
    ("f1", "F1"),
    ("mean_confidence", "Mean confidence"),
)


def defang_urls(js: str) -> str:
    """Rewrite every http(s):// not starting an XML namespace identifier to hxxp(s)://."""

    def sub(m: re.Match) -> str:
        rest = js[m.start() : m.start() + 40]
        if any(rest.startswith(ns) for ns in XML_NAMESPACES):
            return m.group(0)
        return f"hxxp{m.group(2)}://"

    return _URL.sub(sub, js)


@lru_cache(maxsize=1)
def plotly_bundle() -> str:
    """plotly.js as shipped with the plotly package, defanged, safe to inline in a <script> element."""
    from plotly.offline import get_plotlyjs

    return defang_urls(get_plotlyjs()).replace("</script", "<\\/script")


def esc(text: str) -> str:
    """Text for plotly labels and hovers: <, > and & escaped (plotly draws the entities as characters)."""
    return html.escape(str(text), quote=False)


def _num(x: float, as_pct: bool = True) -> str:
    return pct(float(x)) if as_pct else ("n/a" if pd.isna(x) else f"{x:g}")


def _axis_labels(names: list[str]) -> list[str]:
    """Escaped class names, made unique (a category axis would merge two classes of the same name)."""
    seen: dict[str, int] = {}
    out = []
    for i, n in enumerate(names):
        lab = esc(n)
        if lab in seen:
            lab = f"{lab} (#{i})"
        seen[lab] = i
        out.append(lab)
    return out


def figure_dict(run: AnalysedRun) -> dict:
    """The plotly figure as plain JSON-able data: bars per superclass, hover = the whole CSV row, dropdowns
    to sort (id / accuracy / superclass) and to switch the metric."""
    cache, pc = run.cache, run.metrics.per_class.frame
    labels = _axis_labels(list(pc["class_name"]))
    known = cache.class_to_superclass is not None and cache.superclass_names is not None
    groups = pc["superclass"] if known else pd.Series([""] * len(pc))
    custom = np.array(
        [
            [
                str(r.class_id),
                esc(r.class_name),
                esc(r.superclass) or "—",
                str(r.support),
                str(r.correct),
                _num(r.accuracy),
                _num(r.precision),
                _num(r.recall),
                _num(r.f1),
                _num(r.mean_confidence),
                _num(r.mean_confidence_correct),
                _num(r.mean_confidence_wrong),
                esc(r.top_wrong_prediction) or "—",
                str(r.top_wrong_count),
            ]
            for r in pc.itertuples()
        ],
        dtype=object,
    )
    hover = (
        "<b>%{customdata[1]}</b> (class %{customdata[0]})<br>"
        "superclass: %{customdata[2]}<br>"
        "accuracy: %{customdata[5]} (%{customdata[4]}/%{customdata[3]} correct)<br>"
        "precision %{customdata[6]} · recall %{customdata[7]} · F1 %{customdata[8]}<br>"
        "mean confidence: all %{customdata[9]}, right %{customdata[10]}, wrong %{customdata[11]}<br>"
        "most frequent wrong prediction: %{customdata[12]} (%{customdata[13]}×)<extra></extra>"
    )
    order_names = list(dict.fromkeys(groups))
    traces, members = [], []
    for g in order_names:
        idx = np.nonzero((groups == g).to_numpy())[0]
        members.append(idx)
        traces.append(
            {
                "type": "bar",
                "name": esc(g) if known else "classes",
                "x": [labels[i] for i in idx],
                "y": [None if pd.isna(v) else float(v) for v in pc["accuracy"].iloc[idx]],
                "customdata": custom[idx].tolist(),
                "hovertemplate": hover,
            }
        )

    def by(key) -> list[str]:
        return [labels[i] for i in sorted(range(len(pc)), key=key)]

    acc = pc["accuracy"].fillna(-1).to_numpy()
    sorts = [
        ("Class id", by(lambda i: i)),
        ("Accuracy, worst first", by(lambda i: (acc[i], i))),
        ("Accuracy, best first", by(lambda i: (-acc[i], i))),
    ]
    if known:
        rank = {g: k for k, g in enumerate(order_names)}
        sorts.append(("Superclass, then accuracy", by(lambda i: (rank[groups.iloc[i]], -acc[i], i))))
    sort_buttons = [
        {"label": lab, "method": "relayout", "args": [{"xaxis.categoryorder": "array", "xaxis.categoryarray": arr}]}
        for lab, arr in sorts
    ]
    metric_buttons = [
        {
            "label": title,
            "method": "update",
            "args": [
                {"y": [[None if pd.isna(v) else float(v) for v in pc[col].iloc[idx]] for idx in members]},
                {"yaxis.title.text": title},
            ],
        }
        for col, title in METRICS
    ]
    a = run.metrics
    layout = {
        "title": {"text": f"Per-class accuracy · {a.num_images} images · top-1 {pct(a.top1)} · top-5 {pct(a.top5)}"},
        "barmode": "overlay",
        "bargap": 0.15,
        "height": 640,
        "margin": {"l": 70, "r": 30, "t": 110, "b": 170},
        "xaxis": {
            "categoryorder": "array",
            "categoryarray": sorts[0][1],
            "tickangle": -60,
            "automargin": True,
            "tickmode": "linear",  # every class name, not every third
            "dtick": 1,
            "tickfont": {"size": 10},
        },
        "yaxis": {"title": {"text": "Accuracy (recall)"}, "range": [0, 1.02], "tickformat": ".0%"},
        "hovermode": "closest",
        "legend": {"title": {"text": "superclass"}} if known else {},
        "showlegend": known,
        "shapes": [
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": a.top1,
                "y1": a.top1,
                "line": {"dash": "dash", "color": "#444", "width": 1},
            }
        ],
        "annotations": [
            {
                "xref": "paper",
                "x": 1,
                "y": a.top1,
                "text": f"overall {pct(a.top1)}",
                "showarrow": False,
                "xanchor": "right",
                "yanchor": "bottom",
            }
        ],
        "updatemenus": [
            {"buttons": sort_buttons, "direction": "down", "x": 0, "xanchor": "left", "y": 1.13, "yanchor": "top"},
            {"buttons": metric_buttons, "direction": "down", "x": 0.3, "xanchor": "left", "y": 1.13, "yanchor": "top"},
        ],
        "template": "plotly_white",
    }
    return {"data": traces, "layout": layout}


def _json_for_script(obj) -> str:
    """JSON that cannot end a <script> element or start a comment (every < is written \\u003c)."""
    return json.dumps(obj, ensure_ascii=False, allow_nan=False).replace("<", "\\u003c")


def _table(run: AnalysedRun) -> str:
    pc = run.metrics.per_class.frame
    cols = [
        ("class_id", "id", False),
        ("class_name", "class", False),
        ("superclass", "superclass", False),
        ("support", "images", False),
        ("correct", "correct", False),
        ("accuracy", "accuracy", True),
        ("precision", "precision", True),
        ("recall", "recall", True),
        ("f1", "F1", True),
        ("mean_confidence", "mean conf.", True),
        ("mean_confidence_correct", "conf. right", True),
        ("mean_confidence_wrong", "conf. wrong", True),
        ("top_wrong_prediction", "most frequent wrong prediction", False),
        ("top_wrong_count", "count", False),
    ]
    head = "".join(f"<th>{html.escape(t)}</th>" for _, t, _ in cols)
    rows = []
    for r in pc.itertuples():
        cells = []
        for col, _, is_pct in cols:
            v = getattr(r, col)
            if is_pct:
                key = "" if pd.isna(v) else f"{float(v):.6f}"
                cells.append(f'<td data-sort="{key}">{html.escape(pct(float(v)))}</td>')
            elif isinstance(v, (int, np.integer)):
                cells.append(f'<td data-sort="{int(v)}">{int(v)}</td>')
            else:
                cells.append(f"<td>{html.escape(str(v))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table id="per-class-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


_SORT_JS = """
document.querySelectorAll('#per-class-table th').forEach(function (th, col) {
  th.addEventListener('click', function () {
    var body = th.closest('table').tBodies[0];
    var asc = th.dataset.dir !== 'asc';
    th.dataset.dir = asc ? 'asc' : 'desc';
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col], y = b.cells[col];
      var kx = x.dataset.sort, ky = y.dataset.sort, r;
      if (kx !== undefined && ky !== undefined) {
        r = (kx === '' ? -1 : parseFloat(kx)) - (ky === '' ? -1 : parseFloat(ky));
      } else {
        r = x.textContent.localeCompare(y.textContent);
      }
      return asc ? r : -r;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
"""

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px; color: #222; }
.meta { color: #555; }
table { border-collapse: collapse; font-size: 13px; margin-top: 8px; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: left; }
th { cursor: pointer; background: #f4f4f4; position: sticky; top: 0; }
td[data-sort] { text-align: right; font-variant-numeric: tabular-nums; }
"""


def page(run: AnalysedRun) -> str:
    cache, a = run.cache, run.metrics
    meta = cache.meta
    model = meta.get("model", {}) if isinstance(meta.get("model"), dict) else {}
    data = meta.get("data", {}) if isinstance(meta.get("data"), dict) else {}
    facts = [
        f"model: {model.get('arch', 'unknown')}",
        f"data: {data.get('source', 'unknown')}",
        f"{a.num_images} images, {cache.num_classes} classes",
        f"top-1 accuracy {pct(a.top1)} ({a.num_correct}/{a.num_images})",
        f"top-5 accuracy {pct(a.top5)}",
    ]
    config = {"displaylogo": False, "responsive": True, "showLink": False, "showSendToCloud": False}
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Per-class accuracy</title>
<style>{_CSS}</style>
<script>window.PlotlyConfig = {{MathJaxConfig: 'local'}};</script>
<script>{plotly_bundle()}</script>
</head>
<body>
<h1>Per-class accuracy</h1>
<p class="meta">{html.escape(" · ".join(facts))}</p>
<p class="meta">Hover a bar for the class's full row; the menus sort the classes and switch the metric.
Click a superclass in the legend to hide it, double-click to show only it.</p>
<div id="{DIV_ID}" style="height:640px; width:100%;"></div>
<script type="application/json" id="per-class-figure">{_json_for_script(figure_dict(run))}</script>
<script>
(function () {{
  var fig = JSON.parse(document.getElementById('per-class-figure').textContent);
  Plotly.newPlot('{DIV_ID}', fig.data, fig.layout, {json.dumps(config)});
}})();
</script>
<h2>All classes</h2>
<p class="meta">Click a column heading to sort.</p>
{_table(run)}
<script>{_SORT_JS}</script>
</body>
</html>
"""


def write_html(run: AnalysedRun, target: Path) -> Path:
    return write_text(target, page(run))
