"""The claims the reports make about a run, each against its baseline (run by hand; not part of the suite).

For a cache (a `gradcam-batch run` or `demo` output): map agreement of errors against correct predictions'
top-1 vs top-2 maps, the random-logit sanity check, the attention ranking, and the label suspects against
clean labels drawn from the model, with the wall time of each analysis. Pure numpy on the cache: no model,
no data set.

Usage: python benchmarks/bench_claims.py CACHE [CACHE ...]
"""

from __future__ import annotations

import sys
import time

from engine.analysis.analysed_run import open_run
from engine.figures.numbers import pct, pct_interval


def main(paths: list[str]) -> None:
    for path in paths:
        run = open_run(path)
        timings = {}
        for name in ("attention", "attention_ranking", "map_agreement", "sanity", "suspect_precision"):
            t0 = time.perf_counter()
            getattr(run, name)
            timings[name] = time.perf_counter() - t0
        m, s, r, p = run.map_agreement, run.sanity, run.attention_ranking, run.suspect_precision.strong
        print(f"== {path}: {run.metrics.num_images} images, {run.metrics.num_errors} errors, top-1 {pct(run.metrics.top1)}")
        print(f"same region (corr >= 0.7): errors {pct_interval(m.same_errors)} vs correct top-1/top-2 "
              f"{pct_interval(m.same_baseline)} -> {'advised' if m.same_beats_baseline else 'not advised'}")
        print(f"other region (corr < 0.3): errors {pct_interval(m.other_errors)} vs correct top-1/top-2 "
              f"{pct_interval(m.other_baseline)} -> {'advised' if m.other_beats_baseline else 'not advised'}")
        if s.available:
            ranks = ", ".join(f"top-{k} {e.value:.3f} [{e.low:.3f}, {e.high:.3f}]" for k, e in enumerate(s.vs_rank, 2))
            print(f"random-logit: rank correlation with {ranks}; true on errors {s.vs_true_on_errors.value:.3f} -> "
                  f"{'depends on the class' if s.depends_on_class else 'FAILED'}")
        ranked = "; ".join(f"{run.class_names[c]} {pct_interval(r.share[c])} of {r.share[c].n}" for c in r.order)
        print(f"attention ranking (baseline {pct_interval(r.baseline)}): {ranked or 'no class ranked'}")
        print(f"strong suspects {p.observed} vs clean-label null {p.null_mean:.1f} [{p.null_low:.1f}, {p.null_high:.1f}] "
              f"(T={run.suspect_precision.temperature:.3f}): excess {p.excess:.1f}, precision {pct(p.precision)} "
              f"[{pct(p.precision_low)}, {pct(p.precision_high)}]")
        print("seconds: " + ", ".join(f"{k} {v:.2f}" for k, v in timings.items()))


if __name__ == "__main__":
    main(sys.argv[1:])
