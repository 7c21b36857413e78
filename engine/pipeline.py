"""The run, start to finish: one pass -> Grad-CAM -> analysis -> cache (atomic) -> reports.

The pass streams (engine.streamed_pass); under torchrun every rank runs its shard and rank 0 alone writes
the cache and the reports. The cache is one .npz for ordinary runs, a folder of .npy files for large ones
(choose_cache_format).
"""

from __future__ import annotations

import platform
import time
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from torch import nn

from engine import __version__
from engine.cache import FOLDER_NAME, RunCache, finish_cache_folder, save_cache
from engine.cache_folder import FolderCacheWriter, check_cache_folder_target
from engine.cam_methods import METHOD_NAMES
from engine.console import say, say_warning, visible
from engine.distributed import Ranks
from engine.errors import UserError
from engine.folder_lock import locked_folder
from engine.imageset import ImageSet
from engine.inference import default_layer, find_layer, to_model_input
from engine.loader import auto_workers
from engine.output_folder import check_output_folder, estimate_run_bytes
from engine.preprocess import display_shape
from engine.progress import progress_bar
from engine.streamed_pass import ArraySink, gathered_members, stream_pass
from engine.written_files import WrittenFiles

CACHE_FORMATS = ("auto", "npz", "folder")
FOLDER_ABOVE_IMAGES = 200_000  # `auto` writes a cache folder above this many images ...
FOLDER_ABOVE_BYTES = 2 << 30  # ... or above this many bytes of stored images
DISPLAY_SIZE = 128  # stored images are the model input scaled down to at most this many pixels a side

def _check_classes(model: nn.Module, data: ImageSet, probe: torch.Tensor) -> None:
    with torch.no_grad():
        out = model(probe)
    if not torch.is_tensor(out) or out.ndim != 2:
        raise UserError(f"The model's output has shape {tuple(getattr(out, 'shape', ()))}; expected (batch, classes) logits.")
    if out.shape[1] != data.num_classes:
        raise UserError(f"The model predicts {out.shape[1]} classes but the data has {data.num_classes}.")


def choose_cache_format(requested: str, num_images: int, display_hw: tuple[int, int]) -> str:
    """npz for ordinary runs (one file, everything in memory); a folder above FOLDER_ABOVE_IMAGES images or
    FOLDER_ABOVE_BYTES of stored images, or when asked for."""
    if requested not in CACHE_FORMATS:
        raise UserError(f"--cache-format {requested!r} is not one of {', '.join(CACHE_FORMATS)}.")
    if requested != "auto":
        return requested
    image_bytes = num_images * display_hw[0] * display_hw[1] * 3
    return "folder" if num_images > FOLDER_ABOVE_IMAGES or image_bytes > FOLDER_ABOVE_BYTES else "npz"


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
    ranks: Ranks | None = None,
    cache_format: str = "auto",
    display_size: int = DISPLAY_SIZE,
    workers: int | None = None,
    preprocess: dict[str, Any] | None = None,
) -> RunCache | None:
    """Run the whole pipeline on an ImageSet and a model in eval mode; save the cache in out_dir (cache.npz
    or cache/) and the reports, holding the folder's lock throughout. Under torchrun (ranks) rank 0 returns
    the RunCache, the other ranks None."""
    ranks = ranks or Ranks()
    console = (console or Console(stderr=True)) if ranks.is_main else Console(quiet=True)
    if display_size < 1:
        raise UserError(f"--display-size {display_size} is not a size in pixels; give a positive number such as 128.")
    writes = out_dir is not None and ranks.is_main
    with ExitStack() as folder:
        if writes:  # refuse a folder that cannot hold the run before the work, then keep it to ourselves
            display_hw = display_shape(int(data.images.shape[1]), int(data.images.shape[2]), display_size)
            check_output_folder(out_dir, estimate_run_bytes(
                len(data), *display_hw, data.num_classes, masks=data.masks is not None, reports=write_reports))
            folder.enter_context(locked_folder(out_dir))
        cache = _analyse(data, model, mean, std, target_layer, model_meta, device, batch_size, out_dir,
                         console, force_autograd, cam_method, ranks, cache_format, display_size, workers, preprocess)
        if cache is not None and writes and write_reports:
            from engine.reports import write_reports as write_report_files

            write_report_files(cache, out_dir, progress=True)
    return cache


def _analyse(
    data: ImageSet, model: nn.Module, mean: tuple[float, float, float], std: tuple[float, float, float],
    target_layer: str | None, model_meta: dict[str, Any], device: str | None, batch_size: int,
    out_dir: Path | None, console: Console, force_autograd: bool, cam_method: str, ranks: Ranks,
    cache_format: str, display_size: int, workers: int | None, preprocess: dict[str, Any] | None,
) -> RunCache | None:
    """The pass, the RunCache assembled on rank 0, and the cache written into out_dir."""
    timings: dict[str, float] = {}
    dev = ranks.device(device)
    model = model.eval().to(dev)
    probe = to_model_input(
        np.asarray(data.images[:2]), torch.tensor(mean, device=dev).view(1, 3, 1, 1), torch.tensor(std, device=dev).view(1, 3, 1, 1), dev
    )
    try:
        _check_classes(model, data, probe)
    except RuntimeError as exc:
        raise UserError(f"The model cannot take these {data.images.shape[1]}x{data.images.shape[2]} images: {str(exc).splitlines()[0][:160]}.") from None
    layer = target_layer or default_layer(model, probe)
    find_layer(model, layer)
    n = len(data)
    display_hw = display_shape(int(data.images.shape[1]), int(data.images.shape[2]), display_size)
    fmt = choose_cache_format(cache_format, n, display_hw)
    if ranks.is_main and out_dir is not None and fmt == "folder":
        check_cache_folder_target(out_dir / FOLDER_NAME)
    workers = auto_workers(data.images, ranks.local_world_size) if workers is None else workers
    ranks.start(dev)
    try:
        with ExitStack() as stack:
            writer = None
            if ranks.is_main and out_dir is not None and fmt == "folder":
                writer = stack.enter_context(FolderCacheWriter(out_dir / FOLDER_NAME, n))
            sink = (writer or ArraySink(n)) if ranks.is_main else None
            with progress_bar(f"Forward pass + {METHOD_NAMES.get(cam_method, cam_method)}", n, console) as advance:
                stats = stream_pass(
                    data, model, mean=mean, std=std, layer=layer, device=dev, ranks=ranks, sink=sink,
                    batch_size=batch_size, display_size=display_size, workers=workers,
                    force_autograd=force_autograd, method=cam_method, on_progress=advance,
                )
            ranks.close()
            if not ranks.is_main:
                return None
            cache = _assemble(data, gathered_members(sink), stats, timings, model_meta, mean, std, layer, cam_method,
                              dev, ranks, fmt, workers, preprocess, console)
            if out_dir is not None:
                t0 = time.perf_counter()
                record = WrittenFiles.load(out_dir)
                if writer is not None:
                    written, other = finish_cache_folder(writer, cache), "cache.npz"
                else:
                    written, other = save_cache(cache, out_dir / "cache.npz"), FOLDER_NAME
                record.record(written)
                record.remove(other)  # one cache per output folder: the other form goes, if this tool wrote it
                record.save()
                timings["cache_write_s"] = round(time.perf_counter() - t0, 3)
    finally:
        ranks.close()
    return cache


def _device_text(dev: torch.device, ranks: Ranks) -> str:
    if dev.type == "cuda":
        text = f"{dev} ({torch.cuda.get_device_name(dev)})"
    else:
        text = f"{dev} ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    return text + (f" x {ranks.world_size} processes ({ranks.backend})" if ranks.is_distributed else "")


def _assemble(
    data: ImageSet, arrays: dict[str, np.ndarray], stats: Any, timings: dict[str, float], model_meta: dict[str, Any],
    mean: tuple[float, float, float], std: tuple[float, float, float], layer: str, cam_method: str,
    dev: torch.device, ranks: Ranks, fmt: str, workers: int, preprocess: dict[str, Any] | None, console: Console,
) -> RunCache:
    """The RunCache of the gathered per-image arrays, with its metadata and the analysis timed."""
    n = len(data)
    timings["forward_and_cam_s"] = round(stats.seconds, 3)
    for note in stats.notes:
        say_warning(console, note)
    if stats.nonfinite_images:
        say_warning(
            console,
            f"Warning: the model gave non-finite logits (NaN/inf) for {stats.nonfinite_images} of "
            f"{n} images; their probabilities are not meaningful.",
        )
    data_meta: dict[str, Any] = {"source": data.source, "num_images": n, "image_size": list(arrays["images"].shape[1:3])}
    if tuple(arrays["images"].shape[1:3]) != tuple(data.images.shape[1:3]):
        data_meta["model_input_size"] = list(data.images.shape[1:3])
    if preprocess:
        data_meta["preprocess"] = preprocess
    meta = {
        "tool_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": model_meta,
        "data": data_meta,
        "normalisation": {"mean": list(mean), "std": list(std)},
        "target_layer": layer,
        "cam_method": cam_method,
        "cam_path": stats.cam_path,
        "device": _device_text(dev, ranks),
        "batch_size": stats.batch_size,
        "torch_version": torch.__version__,
        "nonfinite_images": stats.nonfinite_images,
        "timings": timings,
        "cache_format": fmt,
        "loader_workers": workers,
    }
    if ranks.is_distributed:
        meta["distributed"] = {"world_size": ranks.world_size, "backend": ranks.backend}
    cache = RunCache(
        images=arrays["images"],
        labels=arrays["labels"],
        probs=arrays["probs"],
        topk_classes=arrays["topk_classes"],
        cam_true=arrays["cam_true"],
        cam_topk=arrays["cam_topk"],
        class_names=data.class_names,
        meta=meta,
        superclass_names=data.superclass_names,
        class_to_superclass=data.class_to_superclass,
        masks=arrays.get("masks"),
        logits=arrays["logits"],
    )
    t0 = time.perf_counter()
    analysis = cache.analysis
    timings["analysis_s"] = round(time.perf_counter() - t0, 3)
    meta["metrics"] = {"top1": analysis.top1, "top5": analysis.top5, "errors_within_superclass": analysis.errors_within_superclass}
    return cache


def print_summary(cache: RunCache, console: Console, cache_path: Path | None) -> None:
    """What the notebook printed, so users find the familiar lines."""
    a = cache.analysis
    say(console, f"Predictions collected for {a.num_images} images")
    say(console, f"Overall accuracy: {a.top1 * 100:.2f}%")
    say(console, f"Correct: {a.num_correct}/{a.num_images}")
    say(console, f"Top-5 accuracy: {a.top5 * 100:.2f}%")
    if a.errors_within_superclass is not None:
        say(console, f"Errors within the true superclass: {a.errors_within_superclass * 100:.1f}%")
    table = a.per_class.assign(errors=a.per_class.support - a.per_class.correct)
    worst = table.sort_values(["errors", "class_id"], ascending=[False, True], kind="mergesort").head(10)
    say(console, "Classes with most errors:")
    for row in worst.itertuples():
        wrong = f" (most often read as {row.top_wrong_prediction}: {row.top_wrong_count})" if row.top_wrong_count else ""
        say(console, f"  {visible(row.class_name):<20} {row.errors:>4} errors of {row.support}, accuracy {row.accuracy * 100:5.1f}%{wrong}")
    if cache_path is not None:
        say(console, f"Cache written to {cache_path}")
