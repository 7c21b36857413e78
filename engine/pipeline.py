"""The run, start to finish: one pass -> Grad-CAM -> analysis -> cache (atomic) -> reports."""

from __future__ import annotations

import platform
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from torch import nn

from engine import __version__
from engine.cache import RunCache, save_cache
from engine.cam_methods import METHOD_NAMES
from engine.errors import UserError
from engine.imageset import ImageSet
from engine.inference import default_layer, find_layer, resolve_device, run_pass, to_model_input
from engine.progress import progress_bar

def check_output_folder(out_dir: Path) -> None:
    """Fail before the long work if the output folder cannot be written."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise UserError(f"Cannot write to the output folder {out_dir}: {exc.strerror or exc}.") from None


def _check_classes(model: nn.Module, data: ImageSet, probe: torch.Tensor) -> None:
    with torch.no_grad():
        out = model(probe)
    if not torch.is_tensor(out) or out.ndim != 2:
        raise UserError(f"The model's output has shape {tuple(getattr(out, 'shape', ()))}; expected (batch, classes) logits.")
    if out.shape[1] != data.num_classes:
        raise UserError(f"The model predicts {out.shape[1]} classes but the data has {data.num_classes}.")


def analyse_model(
    data: ImageSet,
    model: nn.Module,
    *,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    target_layer: str | None,
    model_meta: dict[str, Any],
    device: str | None = None,
    batch_size: int = 256,
    out_dir: Path | None = None,
    write_reports: bool = True,
    console: Console | None = None,
    force_autograd: bool = False,
    cam_method: str = "gradcam",
) -> RunCache:
    """Run the whole pipeline on an ImageSet and a model in eval mode; save out_dir/cache.npz and reports."""
    console = console or Console(stderr=True)
    timings: dict[str, float] = {}
    if out_dir is not None:
        check_output_folder(out_dir)
    dev = resolve_device(device)
    model = model.eval().to(dev)
    probe = to_model_input(
        data.images[:2], torch.tensor(mean, device=dev).view(1, 3, 1, 1), torch.tensor(std, device=dev).view(1, 3, 1, 1), dev
    )
    try:
        _check_classes(model, data, probe)
    except RuntimeError as exc:
        raise UserError(f"The model cannot take these {data.images.shape[1]}x{data.images.shape[2]} images: {str(exc).splitlines()[0][:160]}.") from None
    layer = target_layer or default_layer(model, probe)
    find_layer(model, layer)
    with progress_bar(f"Forward pass + {METHOD_NAMES.get(cam_method, cam_method)}", len(data), console) as advance:
        result = run_pass(
            model, data.images, data.labels, mean, std, layer, dev, batch_size,
            on_progress=advance, force_autograd=force_autograd, method=cam_method,
        )
    timings["forward_and_cam_s"] = round(result.seconds, 3)
    for note in result.notes:
        console.print(f"[yellow]{note}[/]")
    if result.nonfinite_images:
        console.print(
            f"[yellow]Warning: the model gave non-finite logits (NaN/inf) for {result.nonfinite_images} of "
            f"{len(data)} images; their probabilities are not meaningful.[/]"
        )
    meta = {
        "tool_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": model_meta,
        "data": {"source": data.source, "num_images": len(data), "image_size": list(data.images.shape[1:3])},
        "normalisation": {"mean": list(mean), "std": list(std)},
        "target_layer": layer,
        "cam_method": cam_method,
        "cam_path": result.cam_path,
        "device": str(dev) + (f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else f" ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"),
        "batch_size": result.batch_size,
        "torch_version": torch.__version__,
        "nonfinite_images": result.nonfinite_images,
        "timings": timings,
    }
    cache = RunCache(
        images=data.images,
        labels=data.labels,
        probs=result.probs,
        topk_classes=result.topk_classes,
        cam_true=result.cam_true,
        cam_topk=result.cam_topk,
        class_names=data.class_names,
        meta=meta,
        superclass_names=data.superclass_names,
        class_to_superclass=data.class_to_superclass,
        masks=data.masks,
        logits=result.logits,
    )
    t0 = time.perf_counter()
    analysis = cache.analysis
    timings["analysis_s"] = round(time.perf_counter() - t0, 3)
    meta["metrics"] = {"top1": analysis.top1, "top5": analysis.top5, "errors_within_superclass": analysis.errors_within_superclass}
    if out_dir is not None:
        t0 = time.perf_counter()
        save_cache(cache, out_dir / "cache.npz")
        timings["cache_write_s"] = round(time.perf_counter() - t0, 3)
        if write_reports:
            from engine.reports import write_reports

            write_reports(cache, out_dir, progress=True)
    return cache


def print_summary(cache: RunCache, console: Console, cache_path: Path | None) -> None:
    """What the notebook printed, so users find the familiar lines."""
    a = cache.analysis
    console.print(f"Predictions collected for {a.num_images} images")
    console.print(f"Overall accuracy: {a.top1 * 100:.2f}%")
    console.print(f"Correct: {a.num_correct}/{a.num_images}")
    console.print(f"Top-5 accuracy: {a.top5 * 100:.2f}%")
    if a.errors_within_superclass is not None:
        console.print(f"Errors within the true superclass: {a.errors_within_superclass * 100:.1f}%")
    table = a.per_class.assign(errors=a.per_class.support - a.per_class.correct)
    worst = table.sort_values(["errors", "class_id"], ascending=[False, True], kind="mergesort").head(10)
    console.print("Classes with most errors:")
    for row in worst.itertuples():
        wrong = f" (most often read as {row.top_wrong_prediction}: {row.top_wrong_count})" if row.top_wrong_count else ""
        console.print(f"  {row.class_name:<20} {row.errors:>4} errors of {row.support}, accuracy {row.accuracy * 100:5.1f}%{wrong}", markup=False)
    if cache_path is not None:
        console.print(f"Cache written to {cache_path}")
