"""The half-block renderer: two pixels per cell, aspect kept, NO_COLOR as density glyphs."""

from __future__ import annotations

import numpy as np

from tui.halfblock import UPPER_HALF, fit, render


def test_half_blocks_put_upper_pixel_in_fg_and_lower_in_bg():
    rgb = np.zeros((8, 8, 3), dtype=np.uint8)
    rgb[0::2] = (255, 0, 0)  # even rows red
    rgb[1::2] = (0, 0, 255)  # odd rows blue
    strips = render(rgb, rgb[..., 0] / 255.0, cols=8, rows=4)
    assert strips is not None and len(strips) == 4
    segs = [s for s in strips[0] if s.text.strip()]
    assert segs and all(set(s.text) == {UPPER_HALF} for s in segs)
    style = segs[0].style
    assert style.color.triplet == (255, 0, 0) and style.bgcolor.triplet == (0, 0, 255)
    assert all(s.cell_length == 8 for s in strips)


def test_fit_keeps_aspect_and_small_areas_give_up():
    assert fit(32, 32, 80, 10) == (20, 20)  # height-bound: 10 rows = 20 pixels
    assert fit(32, 64, 40, 40) == (20, 40)
    rgb = np.zeros((32, 32, 3), dtype=np.uint8)
    assert render(rgb, rgb[..., 0] / 255.0, cols=4, rows=2) is None


def test_no_color_rendering_uses_density_glyphs_only():
    mono = np.tile(np.linspace(0, 1, 16), (16, 1))
    strips = render(np.zeros((16, 16, 3), np.uint8), mono, cols=16, rows=8, color=False)
    text = "".join(s.text for strip in strips for s in strip)
    assert UPPER_HALF not in text
    assert text.strip()[0] == " " or "@" in text  # dark on the left, full density on the right
    assert all(seg.style is not None for strip in strips for seg in strip)
