"""`gradcam-tui PATH`: the command opens the cache the path means (here an output folder holding a cache
folder), with the folder as the place `w` writes to; the app itself is not started."""

from __future__ import annotations

import pytest

from engine.store import save_cache


def test_tui_opens_an_output_folder_holding_a_cache_folder(tmp_path, small_cache, monkeypatch):
    import tui.__main__ as tui_main
    import tui.app

    save_cache(small_cache, tmp_path / "cache")
    opened = {}

    class FakeApp:
        terminated = False
        return_code = 0

        def __init__(self, run, **kw):
            opened.update(run=run, **kw)
            self.reviews = self

        def run(self):
            opened["ran"] = True

        def save(self):  # the label verdicts, saved once the app has ended
            opened["saved"] = True

    monkeypatch.setattr(tui.app, "GradCamApp", FakeApp)
    with pytest.raises(SystemExit) as ended:
        tui_main.main([str(tmp_path)])
    assert ended.value.code == 0 and opened["saved"]
    shown = getattr(opened["run"], "cache", opened["run"])  # an AnalysedRun or its RunCache
    assert shown.num_images == small_cache.num_images and opened["ran"]
    assert opened["cache_path"] == tmp_path / "cache" and opened["out_dir"] == tmp_path
