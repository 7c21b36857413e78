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


def test_a_32_pixel_picture_is_drawn_at_its_pixel_size_where_it_fits():
    assert fit(32, 32, 40, 16) == (32, 32)  # 80x24's image box: one pixel per column, two per row
    assert fit(32, 32, 70, 40) == (64, 64)  # a whole number of cells per pixel, never 1.5x
    rgb = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    strips = render(rgb, rgb[..., 0] / 255.0, cols=40, rows=16)
    top = [s for s in strips[0] if s.text.strip()]
    colours = [s.style.color.triplet for s in top for _ in s.text]
    assert colours == [tuple(int(v) for v in px) for px in rgb[0]]  # row 0's pixels, one per cell, unchanged


def test_on_256_colours_a_smooth_ramp_is_dithered_not_posterised():
    """tmux's default palette: the mean over a patch keeps the picture's colour (rounding to the nearest
    palette colour would move a whole band to one level), and only palette colours are sent."""
    from tui.halfblock import palette_256, palette_rgb

    ramp = np.repeat(np.linspace(95, 135, 64, dtype=np.float32)[None, :], 16, axis=0)  # between two cube levels
    rgb = np.stack([ramp, np.full_like(ramp, 0), np.full_like(ramp, 255)], axis=-1).astype(np.uint8)
    numbers = palette_256(rgb)
    assert numbers.min() >= 16 and numbers.max() <= 255
    shown = palette_rgb(numbers).astype(np.float32)
    for lo in range(0, 64, 8):  # every 8-column patch: mean red within 5 of the picture's
        assert abs(shown[:, lo:lo + 8, 0].mean() - rgb[:, lo:lo + 8, 0].mean()) < 5
    nearest = np.where(rgb[..., 0] < 115, 95, 135)
    assert max(abs(nearest[:, lo:lo + 8].mean() - rgb[:, lo:lo + 8, 0].mean()) for lo in range(0, 64, 8)) > 10
    strips = render(rgb, ramp / 255.0, cols=64, rows=8, colours=256)
    assert all(seg.style.color.number is not None for strip in strips for seg in strip if seg.text.strip())
