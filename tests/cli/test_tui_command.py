"""`gradcam-tui PATH`: the command opens the cache the path means (here an output folder holding a cache
folder), with the folder as the place `w` writes to; the app itself is not started."""

from __future__ import annotations

from engine.store import save_cache


def test_tui_opens_an_output_folder_holding_a_cache_folder(tmp_path, small_cache, monkeypatch):
    import tui.__main__ as tui_main
    import tui.app

    save_cache(small_cache, tmp_path / "cache")
    opened = {}

    class FakeApp:
        def __init__(self, run, **kw):
            opened.update(run=run, **kw)

        def run(self):
            opened["ran"] = True

    monkeypatch.setattr(tui.app, "GradCamApp", FakeApp)
    tui_main.main([str(tmp_path)])
    shown = getattr(opened["run"], "cache", opened["run"])  # an AnalysedRun or its RunCache
    assert shown.num_images == small_cache.num_images and opened["ran"]
    assert opened["cache_path"] == tmp_path / "cache" and opened["out_dir"] == tmp_path
