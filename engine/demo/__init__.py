"""The offline demo: a procedural world whose truth is known, a small model trained on it, and the same
pipeline as `gradcam-batch run`, followed by Grad-CAM measured against the object masks.

    world   make_world(split, n_per_class, seed) -> ImageSet (with masks); what is planted, as constants
    net     DemoNet, DEMO_TARGET_LAYER, DEMO_MEAN, DEMO_STD
    train   train_demo_net, load_demo_model (shipped checkpoint weights/demo_net.pt, or trained and cached)
    truth   pointing game and background focus from masks, and the demo's findings

Importing this package registers the world as the data source `demo` (engine.sources) and imports no
torch; run_demo and open_subject do, when called.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
from rich.console import Console
from rich.table import Table
from rich.text import Text

from engine.console import say, visible
from engine.figures.numbers import pct, pct_interval
from engine.sources import register_named_source

if TYPE_CHECKING:
    from engine.analysis.analysed_run import AnalysedRun
    from engine.analysis.attention_ranking import AttentionRanking
    from engine.config import RunConfig
    from engine.demo.truth import DemoFindings
    from engine.run import Subject
    from engine.sources.imageset import ImageSet

def attention_order(ranking: "AttentionRanking") -> list[int]:
    """The engine's ranked classes first (engine.analysis.attention_ranking), then the others by their share."""
    rest = sorted((c for c in range(len(ranking.share)) if c not in ranking.order),
                  key=lambda c: (-np.nan_to_num(ranking.share[c].value, nan=-1.0), c))
    return [*ranking.order, *rest]


def demo_model_meta() -> dict[str, Any]:
    """The `model` block of the cache metadata for the demo model."""
    from engine.demo.net import DEMO_ARCH
    from engine.demo.train import demo_checkpoint_path
    from engine.models.checkpoints import file_sha256

    path = demo_checkpoint_path()
    return {
        "arch": DEMO_ARCH,
        "checkpoint": str(path) if path.exists() else "demo model trained at run time",
        "checkpoint_sha256": file_sha256(path) if path.exists() else "",
        "trained_on": "demo world, train split (engine.demo.train)",
    }


def _test_world() -> "ImageSet":
    from engine.demo.world import make_world

    return make_world("test")


register_named_source("demo", _test_world)


def open_subject(config: "RunConfig", world: "ImageSet | None" = None, bars: Console | None = None) -> "Subject":
    """The demo world's test split (or `world`) and the demo model, with its own normalisation and layer;
    --image-size / --weights resize the world as they would any data set."""
    from engine.demo.net import DEMO_MEAN, DEMO_STD, DEMO_TARGET_LAYER
    from engine.demo.train import load_demo_model
    from engine.run import Subject, preprocess_for
    from engine.sources import open_source

    pre = preprocess_for(config)
    data = open_source("demo", preprocess=pre) if world is None else world
    bars = bars or Console(stderr=True, highlight=False, soft_wrap=True)
    with ExitStack() as stack:
        model = load_demo_model(progress=_lazy_bar(stack, bars), log=lambda msg: say(bars, (msg, "yellow")))
    return Subject(data, model, demo_model_meta(), DEMO_MEAN, DEMO_STD, DEMO_TARGET_LAYER,
                   pre.describe() if pre is not None else None)


def run_demo(
    out_dir: Path,
    console: Console | None = None,
    *,
    n_per_class: int | None = None,
    write_reports: bool = True,
    device: str | None = None,
    progress_console: Console | None = None,
    faithfulness: bool = False,
) -> "AnalysedRun":
    """Generate the test world, get the demo model, run the `run` pipeline (same cache, same reports), then
    print what Grad-CAM and the predictions reveal about the planted patterns, measured against the truth."""
    from engine.store.output_folder import writing_into

    console = console or Console(highlight=False, soft_wrap=True)
    bars = progress_console or Console(stderr=True, highlight=False, soft_wrap=True)
    out_dir = Path(out_dir)
    with writing_into(out_dir):
        return _run_demo(out_dir, console, bars, n_per_class, write_reports, device, faithfulness)


def _run_demo(out_dir: Path, console: Console, bars: Console, n_per_class: int | None, write_reports: bool,
              device: str | None, faithfulness: bool = False) -> "AnalysedRun":
    from engine.config import RunConfig
    from engine.console import progress_bar
    from engine.demo.truth import measure
    from engine.demo.world import CLASS_NAMES, LOOKALIKE_PAIRS, TEST_PER_CLASS, make_world, world_backgrounds
    from engine.run import analyse, print_summary

    timings: dict[str, float] = {}
    started = time.perf_counter()
    config = RunConfig(out=out_dir, reports=write_reports, device=device or "auto", faithfulness=faithfulness)

    n = (n_per_class or TEST_PER_CLASS) * len(CLASS_NAMES)
    with progress_bar("Generating the demo world", n, bars) as advance:
        world = make_world("test", n_per_class=n_per_class, on_progress=advance)
    timings["world"] = time.perf_counter() - started

    t0 = time.perf_counter()
    subject = open_subject(config, world, bars)
    timings["model"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    result = analyse(subject, config, console=bars)
    timings["pipeline"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    findings = measure(result, LOOKALIKE_PAIRS)
    timings["truth"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - started

    cache = result.cache
    print_summary(result, console, out_dir / "cache.npz")
    print_findings(
        findings, cache.class_names, console,
        backgrounds=world_backgrounds("test", n_per_class), labels=cache.labels, preds=cache.preds,
    )
    say(
        console,
        "Demo time: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items() if k != "total")
        + f"; total {timings['total']:.1f} s"
        + ("" if write_reports else " (reports skipped)"),
    )
    say(console, f"Browse it with: gradcam-tui {out_dir / 'cache.npz'}")
    return result


def _lazy_bar(stack: ExitStack, console: Console) -> Callable[[str, int, int], None]:
    """A progress callback that opens a bar only if it is ever called (training happens only without weights)."""
    from engine.console import progress_bar

    state: dict[str, Any] = {}

    def update(what: str, done: int, total: int) -> None:
        if "advance" not in state:
            state["advance"] = stack.enter_context(progress_bar("Training the demo model", total, console, unit="steps"))
            state["done"] = 0
        state["advance"](done - state["done"], what)
        state["done"] = done

    return update


def print_findings(
    f: "DemoFindings",
    class_names: list[str],
    console: Console,
    backgrounds: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    preds: np.ndarray | None = None,
) -> None:
    """The planted patterns next to what was measured. With the test images' backgrounds (and labels and
    predictions) it also shows the shortcut itself: the spurious class's accuracy on and off its background."""
    from engine.analysis.attention_ranking import MIN_INVOLVED
    from engine.demo.truth import CONFIDENT
    from engine.demo.world import (
        BACKGROUNDS,
        LOOKALIKE_PAIRS,
        SPURIOUS_BACKGROUND,
        SPURIOUS_CLASS,
        SPURIOUS_TRAIN_RATE,
    )

    def verdict(cond: bool, text: str) -> None:
        say(console, ("   found: ", "green") if cond else ("   not found: ", "red"), text)

    def cell(text: str) -> Text:
        return Text(visible(text))

    console.print()
    say(console, ("Measured against the demo world's truth", "bold"), " (object masks, planted patterns)")
    say(
        console,
        f"Pointing game, correct predictions: {pct(f.pointing_game_correct)} of {f.num_correct} Grad-CAM "
        "peaks (true class) fall on the object"
    )

    # 1. look-alikes
    lead = next((i for i, p in enumerate(f.top_pairs) if not p.lookalike), len(f.top_pairs))
    found = {(min(p.true_id, p.pred_id), max(p.true_id, p.pred_id)) for p in f.top_pairs if p.lookalike}
    table = Table(title="1. Look-alikes: the most confused pairs", title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("#", justify="right")
    table.add_column("true", no_wrap=True)
    table.add_column("predicted", no_wrap=True)
    table.add_column("errors", justify="right")
    table.add_column("conf", justify="right")
    table.add_column("planted", no_wrap=True)
    for rank, p in enumerate(f.top_pairs, 1):
        table.add_row(str(rank), cell(class_names[p.true_id]), cell(class_names[p.pred_id]), str(p.count),
                      f"{p.mean_confidence:.2f}", "look-alike" if p.lookalike else "")
    console.print(table)
    verdict(lead >= len(LOOKALIKE_PAIRS) and len(found) == len(LOOKALIKE_PAIRS),
            f"the top {lead} pairs are planted look-alikes; {len(found)} of the {len(LOOKALIKE_PAIRS)} planted "
            f"pairs are in the top {len(f.top_pairs)}")

    # 2. spurious background
    bg, ranking = f.background, f.ranking
    order = attention_order(ranking)
    s = SPURIOUS_CLASS
    say(
        console,
        ("2. Spurious background", "bold"),
        f": {class_names[s]} was trained on {BACKGROUNDS[SPURIOUS_BACKGROUND]} "
        f"{SPURIOUS_TRAIN_RATE:.0%} of the time; test backgrounds are balanced",
    )
    if backgrounds is not None and labels is not None and preds is not None:
        on = backgrounds == SPURIOUS_BACKGROUND
        mine = labels == s
        right = labels == preds
        say(
            console,
            f"   {class_names[s]} accuracy: {pct(right[mine & on].mean())} on {BACKGROUNDS[SPURIOUS_BACKGROUND]}, "
            f"{pct(right[mine & ~on].mean())} elsewhere; other classes on {BACKGROUNDS[SPURIOUS_BACKGROUND]} "
            f"called {class_names[s]}: {int((~mine & on & (preds == s)).sum())} of {int((~mine & on).sum())}"
        )
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("rank", justify="right")
    table.add_column("class", no_wrap=True)
    table.add_column("errors", justify="right")
    table.add_column("bg focus [95%]", justify="right", no_wrap=True)
    table.add_column("missed", justify="right")
    table.add_column("alarms", justify="right")
    table.add_column("pointing", justify="right")
    for c in order[:6]:
        table.add_row(
            str(ranking.rank_of(c) or "-"), cell(class_names[c] + (" *" if c == s else "")), str(bg.errors[c]),
            pct_interval(ranking.share[c], 0),
            f"{bg.missed_background[c]}/{bg.missed[c]}", f"{bg.false_alarms_background[c]}/{bg.false_alarms[c]}",
            pct(f.pointing_game_correct_per_class[c], 0),
        )
    console.print(table)
    say(
        console,
        "   bg focus: share of the errors involving the class (missed: it is the truth; alarms: it is the "
        "prediction) in which the class's own Grad-CAM is denser off the object than on it; pointing: pointing "
        f"game of its correct predictions; * planted. Ranked (as in analysis_summary.txt): part of >= "
        f"{MIN_INVOLVED} errors and above the run's {pct_interval(ranking.baseline)}; '-' not ranked"
    )
    first = ranking.order[0] if ranking.order else None
    verdict(first == s, "first in the attention ranking: "
            + (class_names[first] if first is not None else "no class stands out"))

    # 3. over-confidence
    say(
        console,
        ("3. Over-confidence", "bold"),
        f" (small training set, long training, no weight decay or label smoothing): {f.confident_errors} of {f.num_errors} "
        f"errors ({pct(f.confident_errors / max(f.num_errors, 1))}) at >= {CONFIDENT:.0%} confidence, "
        f"{f.confident_lookalike_errors} of them between look-alikes"
    )
    verdict(f.confident_errors > 0, f"{f.confident_errors} over-confident errors")

    # 4. clean labels
    strong = f.suspect_precision.strong
    say(
        console,
        ("4. Clean labels", "bold"),
        f" (no test label is wrong): {strong.observed} strong label suspects, against {strong.null_mean:.0f} "
        f"(95% range {strong.null_low:.0f} to {strong.null_high:.0f}) from labels drawn from the "
        "temperature-scaled model; "
        f"estimated precision {pct(strong.precision)} [{pct(strong.precision_low)}, {pct(strong.precision_high)}]"
    )
    verdict(not strong.beats_null,
            "few or none of the suspects are likely wrong labels: they are the model's own mistakes"
            if not strong.beats_null else "more suspects than clean labels produce")

    # 5. the maps depend on the class
    if f.sanity.available:
        low = f.sanity.lowest
        say(
            console,
            ("5. Random-logit sanity check", "bold"),
            f": rank correlation of the predicted-class map with the top-{len(f.sanity.vs_rank) + 1} class's "
            f"{low.value:.2f} [{low.low:.2f}, {low.high:.2f}] (1 = the class does not matter)",
        )
        verdict(f.sanity.depends_on_class, "the maps depend on the class")

    # 6. faithfulness of the planted patterns (with --faithfulness)
    if f.faithfulness is not None and f.faithfulness_per_class is not None:
        _print_faithfulness(f, class_names, console, verdict)


def _print_faithfulness(f: "DemoFindings", class_names: list[str], console: Console, verdict: Callable) -> None:
    """The planted classes' faithfulness (deletion/insertion gap) against every sampled image's, and the
    model-randomisation verdict."""
    from engine.demo.world import LOOKALIKE_PAIRS, SPURIOUS_CLASS

    t, overall = f.faithfulness_per_class, f.faithfulness.summary()
    iv = lambda v, lo, hi: f"{v:.3f} [{lo:.3f}, {hi:.3f}]"  # noqa: E731
    gap = overall["gap"]
    say(console, ("6. Faithfulness", "bold"),
        f" of the predicted-class maps on {gap.n} sampled images: deletion AUC {overall['deletion_auc'].value:.3f}, "
        f"insertion AUC {overall['insertion_auc'].value:.3f}, gap {iv(gap.value, gap.low, gap.high)}, average drop "
        f"{pct(overall['drop'].value)}, increase {pct(overall['increase'].value)}")
    planted = [(SPURIOUS_CLASS, "shortcut")] + [(c, "look-alike") for p in LOOKALIKE_PAIRS for c in p]
    table = Table(show_edge=False, pad_edge=False)
    for name, right in (("class", False), ("planted", False), ("n", True), ("gap [95%]", True), ("del", True),
                        ("ins", True), ("drop", True)):
        table.add_column(name, justify="right" if right else "left", no_wrap=True)
    for c, what in planted:
        table.add_row(visible(class_names[c]), what, str(t["n"][c]),
                      f"{t['gap'][c]:.2f} [{t['gap_low'][c]:.2f}, {t['gap_high'][c]:.2f}]",
                      f"{t['deletion_auc'][c]:.2f}", f"{t['insertion_auc'][c]:.2f}", pct(t["drop"][c], 0))
    console.print(table)
    s = SPURIOUS_CLASS
    say(console, "   gap: insertion AUC - deletion AUC (higher = more faithful); del / ins: deletion / insertion AUC; "
                 "drop: average drop in confidence on the image times its map")
    verdict(gap.low > 0, "the maps are faithful on average (the gap's interval lies above 0)")
    say(console, f"   {class_names[s]} (planted shortcut): gap {iv(t['gap'][s], t['gap_low'][s], t['gap_high'][s])} "
                 f"against {iv(gap.value, gap.low, gap.high)} over all sampled images")
    r = f.model_randomisation
    if r is not None and r.available:
        verdict(r.depends_on_weights, f"model randomisation: rank correlation {r.corr.value:.2f} "
                                      f"[{r.corr.low:.2f}, {r.corr.high:.2f}] after re-initialising {r.reinitialised}")
