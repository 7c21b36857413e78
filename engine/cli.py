"""`gradcam-batch`: the headless engine's command line (typer), flags in, one call out.

    run      flags -> RunConfig -> engine.run.run()
    demo     the same on the embedded demo world (engine.demo)
    report   the report files again, from a cache alone
    compare  two runs on the same test set
    suspects one ranked label-suspect list from one or more runs on the same test set

Problems the user can fix are one sentence on stderr and exit code 2; Ctrl-C leaves earlier files intact.
Each command imports what it needs when it runs: `report` and `compare` work without torch (the viewer-only
install), and `run`/`demo` without it say how to add the engine.
`run` also runs under torchrun (`torchrun --nproc-per-node N -m engine run ...`, engine.gradcam.distributed):
rank 0 prints and writes, the other ranks print their own errors only.
"""

from __future__ import annotations

import os
import signal
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional, Tuple

import typer
from rich.console import Console

from engine import INSTALL_ENGINE, missing_engine_packages, version_text
from engine.config import BATCH_SIZE, DEFAULT_OUT, DISPLAY_SIZE, FAITHFULNESS_PER_CLASS, RunConfig
from engine.console import discard_unwritable_stdout, say, say_error, tolerate_unencodable_output, visible
from engine.errors import PeerFailed, UserError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Grad-CAM error analysis: one pass over a test set -> cache.npz + reports in gradcam_results/.",
)
out_console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

INTERRUPTED = "Interrupted; no file was left half-written: each one is as the earlier run left it, or this run's complete version."


def _rank() -> int:
    """This process's rank under torchrun (0 otherwise); only for deciding who prints."""
    try:
        return int(os.environ.get("RANK", "0") or 0)
    except ValueError:
        return 0


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn UserError into one red sentence + exit 2, and Ctrl-C into a calm exit 130. Under torchrun a
    rank other than 0 prefixes its rank, and keeps quiet about another rank's failure (rank 0 reports it)."""
    rank = _rank()
    try:
        yield
    except UserError as exc:
        if not (isinstance(exc, PeerFailed) and rank != 0):
            where = f"rank {rank}: " if rank else ""
            say_error(err_console, f"{where}{exc}")
        raise typer.Exit(2)
    except KeyboardInterrupt:
        say(err_console, INTERRUPTED)
        raise typer.Exit(130)


def _print_version(value: bool) -> None:
    if value:
        say(out_console, version_text("gradcam-batch", with_engine=True))
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                 help="Print the version (and the torch it runs on) and exit."),
) -> None:
    pass


def need_engine(command: str) -> None:
    """A command that runs a model, on a viewer-only install: one sentence saying how to add the engine."""
    missing = missing_engine_packages()
    if missing:
        raise UserError(f"`gradcam-batch {command}` needs the engine ({' and '.join(missing)}), which is not "
                        f"installed; add it with {INSTALL_ENGINE}.")


@app.command()
def run(
    data: str = typer.Option(..., "--data", help="Arrays folder, CIFAR-100 root, ImageFolder directory, or 'demo'."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="state_dict, wrapped state_dict, or TorchScript file."),
    arch: Optional[str] = typer.Option(None, "--arch", help="resnet18|34|50 (CIFAR stem), tv_resnet18|34|50|101|152 (torchvision ImageNet stem) or cifar_resnet20|32|44|56|110."),
    model: Optional[str] = typer.Option(None, "--model", help="FILE.py:FACTORY building your architecture."),
    mean: Optional[Tuple[float, float, float]] = typer.Option(None, "--mean", help="Input normalisation mean (R G B); default CIFAR-100's."),
    std: Optional[Tuple[float, float, float]] = typer.Option(None, "--std", help="Input normalisation std (R G B); default CIFAR-100's."),
    image_size: Optional[int] = typer.Option(None, "--image-size", help="Resize the shorter side to S*256/224 and center-crop SxS (torchvision's ImageNet eval)."),
    weights: Optional[str] = typer.Option(None, "--weights", help="torchvision weights name (e.g. ResNet50_Weights.IMAGENET1K_V2): its transforms give resize, crop, mean, std. Nothing is downloaded."),
    display_size: int = typer.Option(DISPLAY_SIZE, "--display-size", help="Stored images are scaled down to at most this many pixels a side."),
    cache_format: str = typer.Option("auto", "--cache-format", help="auto | npz | folder (auto: a folder above 200,000 images or 2 GiB of images)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="DataLoader worker processes (default: 0 for arrays in memory or .npy, else the CPUs per process, at most 8)."),
    out: Path = typer.Option(DEFAULT_OUT, "--out", help="Output folder for the cache and the reports."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Analyse the first N images only."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when present), cpu, cuda, cuda:1 ..."),
    batch_size: int = typer.Option(BATCH_SIZE, "--batch-size", min=1, help="Images per batch (halved on CUDA out-of-memory)."),
    target_layer: Optional[str] = typer.Option(None, "--target-layer", help="Grad-CAM layer (default: the last conv stage)."),
    cam: str = typer.Option("gradcam", "--cam", help="gradcam | gradcampp | hirescam | layercam."),
    trust_checkpoint: bool = typer.Option(False, "--trust-checkpoint", help="Allow a pickled full model (can run code!)."),
    download: bool = typer.Option(False, "--download", help="Download CIFAR-100 into --data if it is not there."),
    reports: bool = typer.Option(True, "--reports/--no-reports", help="Write the PNG/CSV/HTML/TXT reports after the cache."),
    precision: str = typer.Option("fp32", "--precision", help="fp32 (exact) | bf16 | fp16: the forward's arithmetic (autocast, on CUDA and on CPUs with native bf16/fp16); its effect against fp32 is measured and recorded."),
    tf32: bool = typer.Option(False, "--tf32", help="On CUDA, fp32 matrix products on TF32 units (faster, not exact)."),
    tta: str = typer.Option("none", "--tta", help="none | flip: also run each image mirrored and average the two views' logits (maps stay the original view's)."),
    faithfulness: bool = typer.Option(False, "--faithfulness", help="Also measure the predicted-class maps' faithfulness (deletion/insertion AUCs, confidence drop/increase) on a stratified sample, and the model-randomisation sanity check."),
    faithfulness_sample: str = typer.Option(str(FAITHFULNESS_PER_CLASS), "--faithfulness-sample", help="Images per class for --faithfulness, or 'all'."),
) -> None:
    """Analyse a trained classifier on its test set: predictions, metrics and Grad-CAM into one cache."""
    with user_errors():
        need_engine("run")
        from engine.run import open_subject, print_summary
        from engine.run import run as run_analysis
        from engine.store import resolve_cache_path

        config = RunConfig(
            data=data, checkpoint=checkpoint, arch=arch, model=model, mean=mean, std=std, image_size=image_size,
            weights=weights, display_size=display_size, cache_format=cache_format, workers=workers, out=out,
            limit=limit, device=device, batch_size=batch_size, target_layer=target_layer, cam=cam,
            trust_checkpoint=trust_checkpoint, download=download, reports=reports, precision=precision, tf32=tf32,
            tta=tta,
            faithfulness=faithfulness, faithfulness_sample=RunConfig.faithfulness_sample_of(faithfulness_sample),
        )
        opener = open_subject
        if config.data == "demo":  # importing the demo registers its world as the source `demo`
            from engine import demo

            opener = demo.open_subject if config.uses_demo_model else open_subject
        result = run_analysis(config, err_console, opener)
        if result is not None:
            print_summary(result, out_console, resolve_cache_path(out))


@app.command("demo")
def demo_command(
    out: Path = typer.Option(DEFAULT_OUT, "--out", help="Output folder for cache.npz and the reports."),
    faithfulness: bool = typer.Option(True, "--faithfulness/--no-faithfulness", help="Measure the maps' faithfulness and the model-randomisation check (as run's) and report the planted patterns' (on by default: the demo shows every check; about 10 s)."),
) -> None:
    """Run the whole pipeline offline on the embedded procedural world, where the truth is known."""
    with user_errors():
        need_engine("demo")
        from engine.demo import run_demo

        if os.environ.get("WORLD_SIZE", "1") not in ("", "1"):
            raise UserError("`gradcam-batch demo` runs in one process; under torchrun use `-m engine run --data demo`.")
        run_demo(out, out_console, faithfulness=faithfulness)


@app.command()
def report(
    cache: Path = typer.Option(DEFAULT_OUT / "cache.npz", "--cache", help="The cache written by run/demo (file, cache folder, or output folder)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for the reports (default: the cache's folder)."),
) -> None:
    """(Re)write the PNG/CSV/HTML/TXT reports from a cache alone (no torch, no model, no data set)."""
    with user_errors():
        from engine.analysis.analysed_run import AnalysedRun
        from engine.reports.writer import write_reports
        from engine.store import load_cache, resolve_cache_path
        from engine.store.output_folder import writing_into

        cache = resolve_cache_path(cache)
        loaded = AnalysedRun(load_cache(cache))
        folder = out or cache.parent
        with writing_into(folder):
            paths = write_reports(loaded, folder, progress=True)
        say(out_console, f"Wrote {len(paths)} files to {folder}")


def _terminate_as_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@app.command()
def compare(
    old: Path = typer.Argument(..., help="The earlier run's cache."),
    new: Path = typer.Argument(..., help="The later run's cache (same test set)."),
    out: Path = typer.Option(DEFAULT_OUT / "compare", "--out", help="Folder for compare_*.csv and compare_summary.txt."),
) -> None:
    """Compare two runs: per-class accuracy deltas, images fixed and broken, calibration and attention changes."""
    with user_errors():
        from engine.analysis.analysed_run import open_run
        from engine.analysis.compare import compare as compare_runs
        from engine.reports.compare import summary_lines, write_comparison
        from engine.store.output_folder import writing_into

        result = compare_runs(open_run(old), open_run(new))
        with writing_into(out):
            paths = write_comparison(result, out, str(old), str(new))
        for text in summary_lines(result, str(old), str(new)):
            say(out_console, text)
        say(out_console, f"Wrote {', '.join(str(p) for p in paths)}")


@app.command()
def suspects(
    caches: list[Path] = typer.Argument(..., help="Caches of runs on the same test set (e.g. two models, each with --tta flip)."),
    out: Path = typer.Option(DEFAULT_OUT / "suspects", "--out", help="Folder for label_suspects.csv."),
) -> None:
    """One ranked label-suspect list from several runs on the same test set (their probabilities averaged)."""
    with user_errors():
        from engine.analysis.combined_suspects import combined_suspects
        from engine.reports.diagnosis import write_ranked_suspects_csv
        from engine.reports.filenames import SUSPECTS_CSV
        from engine.store import load_cache, resolve_cache_path
        from engine.store.output_folder import writing_into

        table = combined_suspects([load_cache(resolve_cache_path(c)) for c in caches])
        with writing_into(out):
            path = write_ranked_suspects_csv(table, out / SUSPECTS_CSV)
        strong, agreed = int(table["strong"].sum()), int((table["runs_agreeing"] == len(caches)).sum())
        say(out_console, f"{len(table)} label suspects from {len(caches)} run{'s' if len(caches) != 1 else ''} "
                         f"({strong} strong, {int(table['ambiguous'].sum())} ambiguous, {agreed} flagged by every run)")
        for r in table.frame.head(10).itertuples():
            say(out_console, f"{r.rank:>4}. image {r.image}: {visible(r.given)} -> {visible(r.suggested)} "
                             f"(p {r.p_given:.2f} given, {r.p_suggested:.2f} suggested; {r.runs_agreeing} of {len(caches)} runs)")
        say(out_console, f"Wrote {path}")


def main() -> None:
    """Console-script entry: SIGTERM and SIGHUP (a dropped SSH session; not under nohup, which ignores it)
    unwind like Ctrl-C, so temporary files are removed on the way out; an interrupt that lands outside a
    command's own handling (start-up) is the same calm exit 130. Text the terminal's encoding cannot
    show is escaped, and a stdout that refuses what is printed (a full disk) is one sentence."""
    signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    if signal.getsignal(signal.SIGHUP) is signal.SIG_DFL:
        signal.signal(signal.SIGHUP, _terminate_as_interrupt)
    tolerate_unencodable_output()
    try:
        app()
    except KeyboardInterrupt:
        say(err_console, INTERRUPTED)
        raise SystemExit(130) from None
    finally:
        if discard_unwritable_stdout():
            say_error(err_console, "Could not write to standard output.")
            raise SystemExit(2)


if __name__ == "__main__":
    main()
