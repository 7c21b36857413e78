"""write_reports: every report file of a run, spread over the CPU cores, with a progress bar.

The figures are independent, so they run in a process pool (fork where that is safe: the cache is shared
copy-on-write, nothing is pickled). Every file is written atomically; report files an earlier run wrote
there that this run did not write again (class or pair figures whose names changed) are removed at the end,
so the folder does not mix two runs' figures, and no other file is touched (engine.store.written_files).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from engine.analysis.analysed_run import AnalysedRun
from engine.analysis.similar_images import searchable
from engine.console import progress_bar
from engine.reports import filenames as fn
from engine.reports.class_figure import write_class_figure
from engine.reports.confusion import write_confusion_matrix
from engine.reports.diagnosis import (
    write_attention_csv,
    write_attention_flags_csv,
    write_high_confidence_errors_csv,
    write_near_duplicates_csv,
    write_reliability_diagram,
    write_superclass_confusion,
    write_suspects_csv,
)
from engine.reports.html import plotly_bundle, write_html
from engine.reports.pair_figure import TOP_PAIR_FIGURES, write_pair_figure
from engine.reports.pairs_chart import write_pairs_chart
from engine.reports.recommendations import recommendations_text
from engine.reports.sheet import font
from engine.reports.summary import write_summary
from engine.reports.tables import write_faithfulness_csv, write_pairs_csv, write_per_class_csv
from engine.store.atomic import write_text
from engine.store.folder_lock import locked_folder
from engine.store.written_files import WrittenFiles

MAX_WORKERS = 8

# a task is (kind, argument); the same function runs it in a worker or in this process
Task = tuple[str, int]
_RUN: AnalysedRun | None = None


def _single_file(run: AnalysedRun, out_dir: Path, kind: str) -> Path:
    target = fn.inside(out_dir, _FIXED[kind][0])
    return _FIXED[kind][1](run, target)


_FIXED: dict[str, tuple[str, Callable[[AnalysedRun, Path], Path]]] = {
    "confusion": (fn.CONFUSION_MATRIX, write_confusion_matrix),
    "html": (fn.PER_CLASS_HTML, write_html),
    "pairs_chart": (fn.PAIRS_CHART, write_pairs_chart),
    "per_class_csv": (fn.PER_CLASS_CSV, write_per_class_csv),
    "pairs_csv": (fn.PAIRS_CSV, write_pairs_csv),
    "reliability": (fn.RELIABILITY_DIAGRAM, write_reliability_diagram),
    "superclass_confusion": (fn.SUPERCLASS_CONFUSION, write_superclass_confusion),
    "suspects_csv": (fn.SUSPECTS_CSV, write_suspects_csv),
    "attention_csv": (fn.ATTENTION_CSV, write_attention_csv),
    "attention_flags_csv": (fn.ATTENTION_FLAGS_CSV, write_attention_flags_csv),
    "high_conf_csv": (fn.HIGH_CONFIDENCE_ERRORS_CSV, write_high_confidence_errors_csv),
    "near_duplicates_csv": (fn.NEAR_DUPLICATES_CSV, write_near_duplicates_csv),
    "faithfulness_csv": (fn.FAITHFULNESS_CSV, write_faithfulness_csv),
    "summary": (fn.SUMMARY_TXT, write_summary),
    "recommendations": (fn.RECOMMENDATIONS_TXT, lambda r, t: write_text(t, recommendations_text(r))),
}


def run_task(run: AnalysedRun, out_dir: Path, task: Task) -> Path:
    kind, arg = task
    if kind == "class":
        return write_class_figure(run, arg, out_dir)
    if kind == "pair":
        return write_pair_figure(run, arg, out_dir)
    return _single_file(run, out_dir, kind)


def plan(run: AnalysedRun) -> list[Task]:
    """Every file to write, slowest first so the pool stays busy to the end."""
    n_pairs = min(TOP_PAIR_FIGURES, len(run.metrics.confused_pairs))
    return [
        ("confusion", 0),
        ("html", 0),
        ("pairs_chart", 0),
        *(("pair", r) for r in range(1, n_pairs + 1)),
        *(("class", c) for c in range(run.cache.num_classes)),
        ("reliability", 0),
        *((("superclass_confusion", 0),) if run.cache.has_superclasses else ()),
        ("per_class_csv", 0),
        ("pairs_csv", 0),
        ("suspects_csv", 0),
        ("attention_csv", 0),
        ("attention_flags_csv", 0),
        ("high_conf_csv", 0),
        *((("near_duplicates_csv", 0),) if run.cache.features is not None and searchable(run.cache.num_images) else ()),
        *((("faithfulness_csv", 0),) if run.faithfulness.available else ()),
        ("summary", 0),
        ("recommendations", 0),
    ]


def _worker_init(run: AnalysedRun) -> None:
    global _RUN
    _RUN = run
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it stops the pool


def _worker_run(out_dir: Path, task: Task) -> Path:
    assert _RUN is not None
    return run_task(_RUN, out_dir, task)


def default_workers() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_WORKERS))


def _context():
    """fork when this process has a single thread (fast, no pickling); otherwise forkserver/spawn, because
    forking a threaded process (a TUI, a progress bar) can deadlock the child."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _record(out_dir: Path, paths: list[Path]) -> None:
    """Note this run's files in the folder's record and remove the report files an earlier run wrote there
    that this run did not write again (only those: engine.store.written_files)."""
    record = WrittenFiles.load(out_dir)
    for path in paths:
        record.record(path)
    record.remove_stale({p.name for p in paths}, fn.is_report_name)
    record.save()


HEAVY = ("confusion", "html", "pairs_chart", "pair", "class", "reliability", "superclass_confusion")


def _start_pool(run: AnalysedRun, out_dir: Path, tasks: list[Task], workers: int):
    """A process pool already working on the figures. Called before the progress bar starts its refresh
    thread: with fork, the workers are created at the first submit, while this process has one thread."""
    font(13), font(14), plotly_bundle()  # load once here; forked workers inherit them
    pool = ProcessPoolExecutor(workers, mp_context=_context(), initializer=_worker_init, initargs=(run,))
    try:
        futures = {pool.submit(_worker_run, out_dir, t): t for t in tasks if t[0] in HEAVY}
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    return pool, futures


def write_reports(run: AnalysedRun, out_dir: Path, progress: bool = True, *, workers: int | None = None) -> list[Path]:
    """Write every report file into out_dir (created if needed) and return their paths in a fixed order:
    confusion matrix, HTML, pair chart, pair figures, class figures, reliability diagram, superclass
    confusion (when superclasses are known), CSVs, summary, recommendations. Holds the folder's lock
    (engine.store.folder_lock) while it writes."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with locked_folder(out_dir):
        return _write_all(run, out_dir, progress, workers)


def _write_all(run: AnalysedRun, out_dir: Path, progress: bool, workers: int | None) -> list[Path]:
    tasks = plan(run)
    run.compute_all()  # every analysis once, here: forked workers inherit them
    workers = default_workers() if workers is None else max(1, int(workers))
    workers = min(workers, len(tasks))
    results: dict[Task, Path] = {}
    pool, futures = None, {}
    if workers > 1:
        try:
            pool, futures = _start_pool(run, out_dir, tasks, workers)
        except (BrokenProcessPool, OSError):
            pool = None  # no worker processes here (e.g. a sandbox without fork): write everything below
    try:
        with progress_bar("Writing reports", len(tasks), unit="files", show=progress) as advance:
            for task in tasks:  # the small files in this process while the pool draws
                if task not in futures.values():
                    results[task] = run_task(run, out_dir, task)
                    advance(1, results[task].name)
            try:
                for fut in as_completed(futures):
                    results[futures[fut]] = fut.result()
                    advance(1, results[futures[fut]].name)
            except BrokenProcessPool:
                pass  # workers could not start or died (an unimportable __main__, the OOM killer): finish here
            for task in tasks:
                if task not in results:
                    results[task] = run_task(run, out_dir, task)
                    advance(1, results[task].name)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    paths = [results[t] for t in tasks]
    _record(out_dir, paths)
    return paths
