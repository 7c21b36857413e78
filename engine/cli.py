"""`gradcam-batch`: the headless engine's command line (typer).

Problems the user can fix are one sentence on stderr and exit code 2; Ctrl-C leaves earlier files intact.
`run` also runs under torchrun (`torchrun --nproc-per-node N -m engine run ...`, engine.distributed): rank 0
prints and writes, the other ranks print their own errors only.
"""

from __future__ import annotations

import os
import signal
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator, Optional, Tuple

import typer
from rich.console import Console

from engine.console import say, say_error
from engine.errors import UserError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Grad-CAM error analysis: one pass over a test set -> cache.npz + reports in gradcam_results/.",
)
out_console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

DEFAULT_OUT = Path("gradcam_results")
INTERRUPTED = "Interrupted; no file was left half-written: each one is as the earlier run left it, or this run's complete version."
CIFAR100_MEAN = (0.5070, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2761)


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
    from engine.distributed import PeerFailed

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
    display_size: int = typer.Option(128, "--display-size", help="Stored images are scaled down to at most this many pixels a side."),
    cache_format: str = typer.Option("auto", "--cache-format", help="auto | npz | folder (auto: a folder above 200,000 images or 2 GiB of images)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="DataLoader worker processes (default: 0 for arrays in memory or .npy, else the CPUs per process, at most 8)."),
    out: Path = typer.Option(DEFAULT_OUT, "--out", help="Output folder for the cache and the reports."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Analyse the first N images only."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when present), cpu, cuda, cuda:1 ..."),
    batch_size: int = typer.Option(256, "--batch-size", min=1, help="Images per batch (halved on CUDA out-of-memory)."),
    target_layer: Optional[str] = typer.Option(None, "--target-layer", help="Grad-CAM layer (default: the last conv stage)."),
    cam: str = typer.Option("gradcam", "--cam", help="gradcam | gradcampp | hirescam | layercam."),
    trust_checkpoint: bool = typer.Option(False, "--trust-checkpoint", help="Allow a pickled full model (can run code!)."),
    download: bool = typer.Option(False, "--download", help="Download CIFAR-100 into --data if it is not there."),
    reports: bool = typer.Option(True, "--reports/--no-reports", help="Write the PNG/CSV/HTML/TXT reports after the cache."),
) -> None:
    """Analyse a trained classifier on its test set: predictions, metrics and Grad-CAM into one cache."""
    with user_errors(), ExitStack() as held:
        from engine.cache import resolve_cache_path
        from engine.data import load_data
        from engine.distributed import Ranks
        from engine.output_folder import writing_into
        from engine.pipeline import CACHE_FORMATS, analyse_model, print_summary

        ranks = Ranks.from_env()
        if ranks.is_main:  # a folder that cannot hold the run, or that another run is writing, fails first
            held.enter_context(writing_into(out))
        pre = _preprocess(image_size, weights, mean, std)
        if cache_format not in CACHE_FORMATS:
            raise UserError(f"--cache-format {cache_format!r} is not one of {', '.join(CACHE_FORMATS)}.")
        if workers is not None and workers < 0:
            raise UserError(f"--workers {workers}: give 0 (read in the main process) or more worker processes.")
        if display_size < 1:
            raise UserError(f"--display-size {display_size} is not a size in pixels; give a positive number such as 128.")
        mean = mean or (pre.mean if pre is not None and pre.mean else CIFAR100_MEAN)
        std = std or (pre.std if pre is not None and pre.std else CIFAR100_STD)
        if data == "demo" and checkpoint is None and arch is None and model is None:
            from engine.demo.train import load_demo_model
            from engine.demo.net import DEMO_MEAN, DEMO_STD, DEMO_TARGET_LAYER

            dataset = load_data("demo", preprocess=pre)
            from engine.demo import demo_model_meta

            net, model_meta = load_demo_model(), demo_model_meta()
            mean, std, target_layer = DEMO_MEAN, DEMO_STD, target_layer or DEMO_TARGET_LAYER
        else:
            from engine.models import load_model

            if checkpoint is None:
                raise UserError("--checkpoint is required (a state_dict with --arch/--model, or a TorchScript file).")
            dataset = load_data(data, download=download, preprocess=pre)
            loaded = load_model(checkpoint, dataset.num_classes, arch, model, trust_checkpoint)
            net, model_meta = loaded.model, loaded.meta
            target_layer = target_layer or loaded.default_layer
        if limit is not None:
            dataset = dataset.head(limit)
        if ranks.is_main:
            say(err_console, f"Data: {dataset.source} ({len(dataset)} images, {dataset.num_classes} classes)")
        cache = analyse_model(
            dataset, net, mean=tuple(mean), std=tuple(std), target_layer=target_layer, model_meta=model_meta,
            device=device, batch_size=batch_size, out_dir=out, write_reports=reports, console=err_console,
            cam_method=cam, ranks=ranks, cache_format=cache_format, display_size=display_size, workers=workers,
            preprocess=pre.describe() if pre is not None else None,
        )
        if cache is not None:
            print_summary(cache, out_console, resolve_cache_path(out))


def _preprocess(image_size: Optional[int], weights: Optional[str], mean: object, std: object):  # -> Preprocess | None
    """The resize/crop of --image-size or --weights; --weights also brings mean and std, so it excludes the others."""
    if weights is not None:
        if image_size is not None or mean is not None or std is not None:
            raise UserError("--weights sets the image size, mean and std from its transforms; drop --image-size/--mean/--std, or drop --weights.")
        from engine.preprocess import from_weights

        return from_weights(weights)
    if image_size is not None:
        from engine.preprocess import from_image_size

        return from_image_size(image_size)
    return None


@app.command()
def demo(
    out: Path = typer.Option(DEFAULT_OUT, "--out", help="Output folder for cache.npz and the reports."),
) -> None:
    """Run the whole pipeline offline on the embedded procedural world, where the truth is known."""
    with user_errors():
        from engine.demo import run_demo

        if os.environ.get("WORLD_SIZE", "1") not in ("", "1"):
            raise UserError("`gradcam-batch demo` runs in one process; under torchrun use `-m engine run --data demo`.")

        run_demo(out, out_console)


@app.command()
def report(
    cache: Path = typer.Option(DEFAULT_OUT / "cache.npz", "--cache", help="The cache written by run/demo (file, cache folder, or output folder)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for the reports (default: the cache's folder)."),
) -> None:
    """(Re)write the PNG/CSV/HTML/TXT reports from a cache alone (no torch, no model, no data set)."""
    with user_errors():
        from engine.cache import load_cache, resolve_cache_path
        from engine.output_folder import writing_into
        from engine.reports import write_reports

        cache = resolve_cache_path(cache)
        loaded = load_cache(cache)
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
        from engine.cache import load_cache
        from engine.compare import compare as compare_runs
        from engine.compare import summary_lines, write_comparison

        from engine.cache import resolve_cache_path

        from engine.output_folder import writing_into

        result = compare_runs(load_cache(resolve_cache_path(old)), load_cache(resolve_cache_path(new)))
        with writing_into(out):
            paths = write_comparison(result, out, str(old), str(new))
        for text in summary_lines(result, str(old), str(new)):
            say(out_console, text)
        say(out_console, f"Wrote {', '.join(str(p) for p in paths)}")


def main() -> None:
    """Console-script entry: SIGTERM unwinds like Ctrl-C, so temporary files are removed on the way out;
    an interrupt that lands outside a command's own handling (start-up) is the same calm exit 130."""
    signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    try:
        app()
    except KeyboardInterrupt:
        say(err_console, INTERRUPTED)
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
