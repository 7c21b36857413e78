"""A stored map as it is shown and measured (engine.analysis.cam_maps): the arithmetic of pytorch-grad-cam."""

from __future__ import annotations

import numpy as np

from engine.analysis.cam_maps import display_cam, minmax, upsample


def test_upsample_matches_torch_bilinear_half_pixel():
    import torch
    import torch.nn.functional as F

    maps = np.random.default_rng(0).random((3, 8, 8)).astype(np.float32)
    ours = upsample(maps, (32, 32))
    ref = F.interpolate(torch.from_numpy(maps)[:, None], size=(32, 32), mode="bilinear", align_corners=False)[:, 0]
    np.testing.assert_allclose(ours, ref.numpy(), atol=1e-6)


def test_display_cam_is_in_unit_range_and_flat_maps_are_zero():
    maps = np.stack([np.zeros((4, 4)), np.arange(16.0).reshape(4, 4) - 3])
    shown = display_cam(maps, (16, 16))
    assert shown.shape == (2, 16, 16)
    assert shown[0].max() == 0
    assert abs(shown[1].max() - 1) < 1e-5 and shown[1].min() == 0
    np.testing.assert_allclose(minmax(np.array([[[2.0, 4.0]]])), [[[0.0, 1.0]]], atol=1e-6)
