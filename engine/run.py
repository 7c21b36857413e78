"""The run, top to bottom: the output folder, the data and the model, one probe, one streamed pass, the
cache assembled and saved, the analyses, the reports.

    run(config, console)              what `gradcam-batch run` does
    analyse(subject, config, ...)     the same from an ImageSet and a model already in hand (the demo, tests)

Under torchrun every rank runs its shard and rank 0 alone writes the cache and the reports. The cache is
one .npz for ordinary runs, a folder of .npy files for large ones (choose_cache_format).
"""

from __future__ import annotations

import dataclasses
import platform
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from rich.console import Console
from torch import nn

from engine import __version__
from engine.analysis.analysed_run import AnalysedRun
from engine.config import CIFAR100_MEAN, CIFAR100_STD, RunConfig
from engine.console import progress_bar, say, say_warning, visible
from engine.errors import UserError
from engine.gradcam.any_class import ACTIVATIONS, plan_any_class
from engine.gradcam.distributed import Ranks
from engine.gradcam.one_pass import OnePass, normalisation, prepare, to_model_input
from engine.gradcam.precision import check as check_precision
from engine.gradcam.precision import describe as describe_precision
from engine.gradcam.probe import probe_model
from engine.gradcam.stream import ArraySink, StreamStats, gathered_members, stream_pass
from engine.sources.imageset import ImageSet
from engine.sources.loader import auto_workers
from engine.sources.preprocess import display_shape
from engine.store import FOLDER_NAME, NPZ_NAME, RunCache, save_cache
from engine.store.folder import FolderCacheWriter, check_cache_folder_target, finish_cache_folder
from engine.store.output_folder import check_output_folder, estimate_run_bytes, writing_into
from engine.store.schema import FAITHFULNESS
from engine.store.written_files import WrittenFiles

FOLDER_ABOVE_IMAGES = 200_000  # `auto` writes a cache folder above this many images ...
FOLDER_ABOVE_BYTES = 2 << 30  # ... or above this many bytes of stored images
Triple = tuple[float, float, float]


@dataclass(frozen=True)
class Subject:
    """What a run analyses: a test set and a model, with the model's input normalisation."""

    data: ImageSet
    model: nn.Module
    model_meta: dict[str, Any]
    mean: Triple
    std: Triple
    default_layer: str | None = None  # the architecture's Grad-CAM layer, when known
    preprocess: dict[str, Any] | None = None  # the resize/crop applied, as the cache records it

    def limited(self, n: int | None) -> "Subject":
        return self if n is None else dataclasses.replace(self, data=self.data.head(n))


def preprocess_for(config: RunConfig):  # -> engine.sources.preprocess.Preprocess | None
    """The resize/crop of --image-size or --weights (torchvision is imported only when one is asked for)."""
    if config.weights is not None:
        from engine.sources.preprocess import from_weights

        return from_weights(config.weights)
    if config.image_size is not None:
        from engine.sources.preprocess import from_image_size

        return from_image_size(config.image_size)
    return None


def open_subject(config: RunConfig) -> Subject:
    """The data set and the user's model named by the flags."""
    from engine.models import load_model
    from engine.sources import open_source

    if config.checkpoint is None:
        raise UserError("--checkpoint is required (a state_dict with --arch/--model, or a TorchScript file).")
    pre = preprocess_for(config)
    data = open_source(config.data, download=config.download, preprocess=pre)
    loaded = load_model(config.checkpoint, data.num_classes, config.arch, config.model, config.trust_checkpoint,
                        weights=config.weights)
    # --mean/--std, else --weights' transforms, else the architecture's own (timm's), else CIFAR-100's
    mean = config.mean or (pre.mean if pre is not None and pre.mean else loaded.mean or CIFAR100_MEAN)
    std = config.std or (pre.std if pre is not None and pre.std else loaded.std or CIFAR100_STD)
    return Subject(data, loaded.model, loaded.meta, tuple(mean), tuple(std), loaded.default_layer,
                   pre.describe() if pre is not None else None)


def run(config: RunConfig, console: Console, opener: Callable[[RunConfig], Subject] = open_subject) -> AnalysedRun | None:
    """`gradcam-batch run`: rank 0 returns the analysed run, the other ranks None."""
    ranks = Ranks.from_env()
    with ExitStack() as held:
        if ranks.is_main and config.out is not None:  # a folder that cannot hold the run, or is busy, fails first
            held.enter_context(writing_into(config.out))
        subject = opener(config).limited(config.limit)
        data = subject.data
        if ranks.is_main:
            say(console, f"Data: {data.source} ({len(data)} images, {data.num_classes} classes)")
        return analyse(subject, config, console=console, ranks=ranks)


def choose_cache_format(requested: str, num_images: int, display_hw: tuple[int, int]) -> str:
    """npz for ordinary runs (one file, everything in memory); a folder above FOLDER_ABOVE_IMAGES images or
    FOLDER_ABOVE_BYTES of stored images, or when asked for."""
    if requested != "auto":
        return requested
    image_bytes = num_images * display_hw[0] * display_hw[1] * 3
    return "folder" if num_images > FOLDER_ABOVE_IMAGES or image_bytes > FOLDER_ABOVE_BYTES else "npz"


def analyse(subject: Subject, config: RunConfig, *, console: Console | None = None,
            ranks: Ranks | None = None) -> AnalysedRun | None:
    """Probe the model, stream the pass, assemble and save the cache into config.out (None: keep it in
    memory) and write the reports, holding the folder's lock throughout."""
    ranks = ranks or Ranks()
    console = (console or Console(stderr=True)) if ranks.is_main else Console(quiet=True)
    data, out = subject.data, config.out if ranks.is_main else None
    n = len(data)
    display_hw = display_shape(int(data.images.shape[1]), int(data.images.shape[2]), config.display_size)
    fmt = choose_cache_format(config.cache_format, n, display_hw)
    with ExitStack() as folder:
        if out is not None:  # refuse a folder that cannot hold the run before the work, then keep it to ourselves
            folder.enter_context(writing_into(out, estimate_run_bytes(
                n, *display_hw, data.num_classes, masks=data.masks is not None, reports=config.reports)))
            if fmt == "folder":
                check_cache_folder_target(out / FOLDER_NAME)
        timings: dict[str, float] = {}
        dev = ranks.device(config.device)
        check_precision(config.precision, dev, config.tf32)
        model = prepare(subject.model, dev)
        mean, std = normalisation(subject.mean, subject.std, dev)
        probe = probe_model(model, to_model_input(np.asarray(data.images[:2]), mean, std, dev), data.num_classes,
                            config.target_layer or subject.default_layer)
        say(console, f"{config.cam_name} at layer {visible(probe.layer_name)} ({probe.grid[0]}x{probe.grid[1]} "
                     f"{probe.grid_layout.kind}, {probe.cam_path} path)")
        channels = int(probe.head.shape[1]) if probe.head is not None else probe.grid_layout.channels
        any_class = plan_any_class(n, data.num_classes, channels, probe.grid, probe.head is not None)
        say(console, f"Any class's map: {any_class.why}")
        if out is not None and any_class.bytes:  # the room for them, now that the layer is known
            check_output_folder(out, estimate_run_bytes(n, *display_hw, data.num_classes, masks=data.masks is not None,
                                                        reports=config.reports, any_class_bytes=any_class.bytes,
                                                        feature_channels=channels))
        workers = auto_workers(data.images, ranks.local_world_size) if config.workers is None else config.workers
        ranks.start(dev)
        try:
            with ExitStack() as stack:
                writer = None
                if out is not None and fmt == "folder":
                    writer = stack.enter_context(FolderCacheWriter(out / FOLDER_NAME, n))
                sink = (writer or ArraySink(n)) if ranks.is_main else None
                one = stack.enter_context(OnePass(model, probe, subject.mean, subject.std, dev, config.batch_size,
                                                  method=config.cam, precision=config.precision, tf32=config.tf32,
                                                  any_class=any_class.kind, tta=config.tta))
                with progress_bar(f"Forward pass + {config.cam_name}", n, console) as advance:
                    stats = stream_pass(data, one, ranks, sink, display_size=config.display_size, workers=workers,
                                        on_progress=advance)
                ranks.close()
                if not ranks.is_main:
                    return None
                _say_notes(stats, n, console)
                if one.tta is not None:
                    timings["tta_mirror_s"] = round(one.tta.seconds, 3)
                checks: dict[str, Any] = {}
                if config.faithfulness:
                    one.__exit__(None, None, None)  # hooks off: the checks run the bare model
                    checks = _faithfulness(subject, sink, model, probe.layer_name, config, dev, one, console)
                    timings.update(checks.pop("timings"))
                cache = assemble(subject, gathered_members(sink), stats, probe.layer_name, config, dev, ranks, fmt,
                                 workers, timings, layer_meta=probe.meta())
                cache.meta["any_class_maps"] = any_class.meta()
                if any_class.kind == ACTIVATIONS:
                    cache.head_weights = probe.head.detach().float().cpu().numpy()
                cache.meta.update(checks)
                result = AnalysedRun(cache)
                t0 = time.perf_counter()
                m = result.metrics
                cache.meta["metrics"] = {"top1": m.top1, "top5": m.top5, "errors_within_superclass": m.errors_within_superclass}
                if result.tta is not None:
                    cache.meta["metrics"]["top1_plain"] = result.tta.plain.top1
                    cache.meta["metrics"]["ece_plain"] = result.tta.plain.ece
                timings["analysis_s"] = round(time.perf_counter() - t0, 3)
                if out is not None:
                    t0 = time.perf_counter()
                    _save(cache, out, writer)
                    timings["cache_write_s"] = round(time.perf_counter() - t0, 3)
        finally:
            ranks.close()
        if out is not None and config.reports:
            from engine.reports.writer import write_reports

            write_reports(result, out, progress=True)
    return result


def _save(cache: RunCache, out: Path, writer: FolderCacheWriter | None) -> None:
    """The cache into the output folder, in its form; the other form goes, if this tool wrote it there."""
    record = WrittenFiles.load(out)
    if writer is not None:
        written, other = finish_cache_folder(writer, cache), NPZ_NAME
    else:
        written, other = save_cache(cache, out / NPZ_NAME), FOLDER_NAME
    record.record(written)
    record.remove(other)
    record.save()


def _say_notes(stats: StreamStats, n: int, console: Console) -> None:
    for note in stats.notes:
        say_warning(console, note)
    if stats.precision_check:
        say(console, describe_precision(stats.precision_check))
    if stats.nonfinite_images:
        say_warning(console, f"Warning: the model gave non-finite logits (NaN/inf) for {stats.nonfinite_images} of "
                             f"{n} images; their probabilities are not meaningful.")


def _device_text(dev: torch.device, ranks: Ranks) -> str:
    if dev.type == "cuda":
        text = f"{dev} ({torch.cuda.get_device_name(dev)})"
    else:
        text = f"{dev} ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    return text + (f" x {ranks.world_size} processes ({ranks.backend})" if ranks.is_distributed else "")


def assemble(subject: Subject, arrays: dict[str, np.ndarray], stats: StreamStats, layer: str, config: RunConfig,
             dev: torch.device, ranks: Ranks, fmt: str, workers: int, timings: dict[str, float],
             layer_meta: dict[str, Any] | None = None) -> RunCache:
    """The RunCache of the gathered per-image arrays, with the run's metadata (layer_meta: the Grad-CAM
    layer's layout, grid and channels, engine.gradcam.probe.ModelProbe.meta)."""
    data = subject.data
    timings["forward_and_cam_s"] = round(stats.seconds, 3)
    data_meta: dict[str, Any] = {"source": data.source, "num_images": len(data),
                                 "image_size": list(arrays["images"].shape[1:3])}
    if tuple(arrays["images"].shape[1:3]) != tuple(data.images.shape[1:3]):
        data_meta["model_input_size"] = list(data.images.shape[1:3])
    if subject.preprocess:
        data_meta["preprocess"] = subject.preprocess
    meta = {
        "tool_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": subject.model_meta,
        "data": data_meta,
        "normalisation": {"mean": list(subject.mean), "std": list(subject.std)},
        "target_layer": layer,
        "target_layer_map": layer_meta or {},
        "cam_method": config.cam,
        "cam_path": stats.cam_path,
        "device": _device_text(dev, ranks),
        "precision": {"forward": config.precision, "tf32": config.tf32, "cam_sums": "fp32",
                      "against_fp32": stats.precision_check},
        "batch_size": stats.batch_size,
        "torch_version": torch.__version__,
        "nonfinite_images": stats.nonfinite_images,
        "timings": timings,
        "cache_format": fmt,
        "loader_workers": workers,
        "tta": config.tta,
    }
    if ranks.is_distributed:
        meta["distributed"] = {"world_size": ranks.world_size, "backend": ranks.backend}
    return RunCache(
        images=arrays["images"], labels=arrays["labels"], probs=arrays["probs"], topk_classes=arrays["topk_classes"],
        cam_true=arrays["cam_true"], cam_topk=arrays["cam_topk"], class_names=data.class_names, meta=meta,
        superclass_names=data.superclass_names, class_to_superclass=data.class_to_superclass,
        masks=arrays.get("masks"), logits=arrays["logits"], cam_contrast=arrays.get("cam_contrast"),
        features=arrays.get("features"),
        cam_activations=arrays.get("cam_activations"), cam_all=arrays.get("cam_all"),
        cam_all_scale=arrays.get("cam_all_scale"),
        probs_plain=arrays.get("probs_plain"),
        **{k: arrays.get(k) for k in FAITHFULNESS},
    )


def _faithfulness(subject: Subject, sink: Any, model: nn.Module, layer: str, config: RunConfig, dev: torch.device,
                  one: OnePass, console: Console) -> dict[str, Any]:
    """--faithfulness: deletion/insertion and confidence change of the predicted-class maps on a stratified
    sample, and the model-randomisation check on another, written into the sink as NaN-padded per-image
    members; returns their metadata (with "timings")."""
    from engine.analysis.sanity import rank_correlation
    from engine.gradcam import faithfulness, randomisation

    arrays, data, n = gathered_members(sink), subject.data, len(subject.data)
    started = time.perf_counter()
    idx = faithfulness.stratified_sample(data.labels, config.faithfulness_sample)
    maps, classes = np.asarray(arrays["cam_topk"][idx, 0]), np.asarray(arrays["topk_classes"][idx, 0])
    batch_size = one.batch_size  # as the pass left it (lowered on out-of-memory)
    rows = batch_size * (4 if dev.type == "cuda" else 1)
    with progress_bar("Faithfulness (deletion, insertion, confidence change)", len(idx), console) as advance:
        f = faithfulness.measure(model, data.images, idx, maps, classes, subject.mean, subject.std, dev,
                                 config.precision, rows, on_progress=advance, lanes=one.lanes)
    for name, values in (("faith_deletion", f.deletion), ("faith_insertion", f.insertion), ("faith_masked", f.masked)):
        full = np.full((n, *values.shape[1:]), np.nan, dtype=np.float32)
        full[idx] = values
        sink.write_rows(name, 0, full)
    t_faith = time.perf_counter() - started
    t0 = time.perf_counter()
    ridx = randomisation.sample(n)
    rmaps, done = randomisation.randomised_maps(
        model, layer, faithfulness.rows_of(data.images, ridx), np.asarray(arrays["topk_classes"][ridx, 0]),
        subject.mean, subject.std, dev, batch_size, config.cam, config.precision)
    corr = np.full(n, np.nan, dtype=np.float32)
    corr[ridx] = rank_correlation(np.asarray(arrays["cam_topk"][ridx, 0]), rmaps)
    sink.write_rows("sanity_randomised_corr", 0, corr)
    t_random = time.perf_counter() - t0
    say(console, f"Faithfulness: {len(idx)} images x {2 * f.steps} inputs in {t_faith:.1f} s; model randomisation: "
                 f"{len(ridx)} images in {t_random:.1f} s")
    return {
        "faithfulness": {"images": int(len(idx)), "per_class": config.faithfulness_sample or "all",
                         "steps": f.steps, "cells": int(maps.shape[1] * maps.shape[2]),
                         "baseline": "the normalisation mean colour (0 after normalisation)",
                         "map": "predicted class", "seed": faithfulness.SEED},
        "model_randomisation": done,
        "timings": {"faithfulness_s": round(t_faith, 3), "model_randomisation_s": round(t_random, 3)},
    }


def print_summary(result: AnalysedRun, console: Console, cache_path: Path | None) -> None:
    """What the notebook printed, so users find the familiar lines."""
    m = result.metrics
    say(console, f"Predictions collected for {m.num_images} images")
    say(console, f"Overall accuracy: {m.top1 * 100:.2f}%")
    say(console, f"Correct: {m.num_correct}/{m.num_images}")
    say(console, f"Top-5 accuracy: {m.top5 * 100:.2f}%")
    if m.errors_within_superclass is not None:
        say(console, f"Errors within the true superclass: {m.errors_within_superclass * 100:.1f}%")
    pc = m.per_class.frame
    table = pc.assign(errors=pc.support - pc.correct)
    table = table[table.errors > 0]  # a class without errors (or without images in a --limit run) is no news
    worst = table.sort_values(["errors", "class_id"], ascending=[False, True], kind="mergesort").head(10)
    say(console, "Classes with most errors:" if len(worst) else "No class has errors.")
    for row in worst.itertuples():
        wrong = f" (most often read as {row.top_wrong_prediction}: {row.top_wrong_count})" if row.top_wrong_count else ""
        say(console, f"  {visible(row.class_name):<20} {row.errors:>4} errors of {row.support}, "
                     f"accuracy {row.accuracy * 100:5.1f}%{wrong}")
    for line in result.tta.lines() if result.tta is not None else []:
        say(console, line)
    if cache_path is not None:
        say(console, f"Cache written to {cache_path}")
