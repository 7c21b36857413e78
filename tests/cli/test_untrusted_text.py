"""Text from strangers (class names, superclass names, cache metadata, paths) reaches the terminal with
every control character shown as its escape and no markup parsed, from `run`, `report`, `compare` and
`demo` as real processes; the report files keep the real names."""

from __future__ import annotations

import re

import pytest

from engine.console import visible
from engine.store import load_cache, save_cache
from tests.cli.terminal import HOSTILE_NAMES, assert_terminal_safe
from tests.synthetic import synthetic_cache


@pytest.fixture(scope="module")
def r20_checkpoint(tmp_path_factory, resnet20_checkpoint):
    return resnet20_checkpoint(tmp_path_factory.mktemp("ckpt") / "r20.pth", num_classes=len(HOSTILE_NAMES))


def test_run_report_and_compare_print_hostile_names_escaped(tmp_path, r20_checkpoint, arrays_folder, batch):
    meta = {"coarse_label_names": ["\x1b[31mgroup", "other"],
            "fine_to_coarse": [k % 2 for k in range(len(HOSTILE_NAMES))]}
    data = arrays_folder(tmp_path / "data", n=64, size=32, classes=HOSTILE_NAMES, meta=meta)
    out = tmp_path / "out"
    proc = batch("run", "--data", data, "--arch", "cifar_resnet20", "--checkpoint", r20_checkpoint, "--out", out,
                 text=False)
    text = assert_terminal_safe(proc)
    assert proc.returncode == 0, text
    assert not re.search(r"^Overall accuracy: 99\.00%", text, re.M)  # the fake line stays inside its name
    shown = [visible(n) for n in HOSTILE_NAMES]
    assert any(s in text for s in shown[:4]), text  # the worst classes are printed, escaped
    report = batch("report", "--cache", out, text=False)
    assert report.returncode == 0 and assert_terminal_safe(report)
    compared = batch("compare", out, out, "--out", tmp_path / "cmp", text=False)
    text = assert_terminal_safe(compared)
    assert compared.returncode == 0, text
    assert "Comparison:" in text
    # the report files keep the real names
    cache = load_cache(out / "cache.npz")
    assert cache.class_names == HOSTILE_NAMES and cache.superclass_names == meta["coarse_label_names"]
    assert HOSTILE_NAMES[0] in (out / "per_class_accuracy.csv").read_text(encoding="utf-8")


def test_image_folder_names_and_a_hostile_path_are_escaped(tmp_path, r20_checkpoint, image_folder, batch):
    folders = ("\x1b]0;title\x07a", "b\x1b[2J", "c", "d", "e", "f", "g", "h")
    image_folder(tmp_path / "imgs", folders, per_class=2, hw=(32, 32))
    proc = batch("run", "--data", tmp_path / "imgs", "--arch", "cifar_resnet20", "--checkpoint", r20_checkpoint,
                 "--out", tmp_path / "out", "--no-reports", text=False)
    text = assert_terminal_safe(proc)
    assert proc.returncode == 0, text
    missing = batch("run", "--data", tmp_path / "no\x1b[2Jsuch", "--arch", "cifar_resnet20",
                    "--checkpoint", r20_checkpoint, "--out", tmp_path / "o2", text=False)
    text = assert_terminal_safe(missing)
    assert missing.returncode == 2 and "no\\x1b[2Jsuch" in text


def test_a_shared_cache_with_hostile_names_and_metadata_is_escaped(tmp_path, batch):
    cache = synthetic_cache()
    cache.class_names[:4] = HOSTILE_NAMES[:4]
    cache.meta["model"]["arch"] = "\x1b]0;owned\x07net"
    cache.meta["\x1b[2Jkey"] = "\x9bvalue"
    save_cache(cache, tmp_path / "cache.npz")
    proc = batch("report", "--cache", tmp_path / "cache.npz", "--out", tmp_path / "r", text=False)
    assert proc.returncode == 0 and assert_terminal_safe(proc)
    summary = (tmp_path / "r" / "analysis_summary.txt").read_text(encoding="utf-8")
    assert "\x1b]0;owned\x07net" in summary  # files keep what the cache says


def test_markup_in_paths_is_printed_as_typed(tmp_path, batch):
    out = tmp_path / "results[/]x"
    proc = batch("run", "--data", "demo", "--out", out, "--limit", "200", "--no-reports", text=False)
    text = assert_terminal_safe(proc)
    assert proc.returncode == 0, text
    assert f"Cache written to {out / 'cache.npz'}" in text
    missing = batch("run", "--data", "demo", "--arch", "cifar_resnet20", "--checkpoint", "/x/[bold red]missing.pth",
                    "--out", tmp_path / "o")
    assert missing.returncode == 2
    assert "Checkpoint /x/[bold red]missing.pth does not exist." in missing.stderr
    rep_out = tmp_path / "rep[bold]"
    report = batch("report", "--cache", out, "--out", rep_out)
    assert report.returncode == 0, report.stderr
    assert f"files to {rep_out}" in report.stdout
    compared = batch("compare", out, out, "--out", tmp_path / "cmp[/]")
    assert compared.returncode == 0, compared.stderr
    assert f"Comparison: {out} -> {out}" in compared.stdout
    assert (tmp_path / "cmp[/]" / "compare_summary.txt").is_file()
