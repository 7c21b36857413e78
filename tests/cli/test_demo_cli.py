"""`gradcam-batch demo`: the whole pipeline offline on the embedded world, as a real process."""

from __future__ import annotations

from engine.store import load_cache


def test_demo_into_a_markup_path(tmp_path, batch):
    out = tmp_path / "demo[red]"
    proc = batch("demo", "--out", out, timeout=900)
    assert proc.returncode == 0, proc.stderr
    assert f"gradcam-tui {out / 'cache.npz'}" in proc.stdout
    assert "Measured against the demo world's truth" in proc.stdout
    cache = load_cache(out / "cache.npz")
    assert cache.masks is not None and cache.num_images == 2000
    assert len(list(out.glob("class_*.png"))) == cache.num_classes


def test_the_demo_runs_in_one_process(tmp_path, cli, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    cli("demo", "--out", tmp_path / "out").refused(
        "`gradcam-batch demo` runs in one process; under torchrun use `-m engine run --data demo`.")
    assert not (tmp_path / "out").exists()
