"""Exact recipes of single degradation steps (gfplib.degradation, paper Sec. 4.1).

Each expected value is written from the recipe itself (numpy's generator, the Gaussian formula, a dtype), so that a
slip that keeps the statistics but changes the values — noise subtracted instead of added, a default rotation, a
float64 image leaking out — is caught. Mutation testing (``make mutate``) found these unchecked.
"""
from __future__ import annotations

import numpy as np
import pytest

from gfplib.degradation import (add_gaussian_noise, adjust_brightness, adjust_contrast, adjust_saturation,
                                gaussian_kernel, mesh_grid, sigma_matrix)


def test_gaussian_noise_is_added_with_the_stated_draw():
    # + n_δ with n_δ = (σ/255) · rng.standard_normal(shape, float32), then clip to [0, 1]
    img = np.full((4, 5, 3), 0.5, np.float32)
    out = add_gaussian_noise(img, 10.0, np.random.default_rng(3))
    draw = np.random.default_rng(3).standard_normal((4, 5, 3), dtype=np.float32)
    np.testing.assert_allclose(out, np.clip(0.5 + draw * np.float32(10 / 255), 0, 1), rtol=0, atol=1e-7)
    assert out.dtype == np.float32
    bright = add_gaussian_noise(np.ones((4, 5, 3), np.float32), 10.0, np.random.default_rng(3))
    assert np.array_equal(bright == 1.0, draw >= 0)  # positive noise is clipped at white, negative noise is not


def test_default_blur_kernel_is_axis_aligned():
    # θ = 0 by default: k[r, c] ∝ exp(−c'²/(2σ_x²) − r'²/(2σ_y²)), offsets from the centre (x: columns, y: rows)
    k = gaussian_kernel(7, 1.0, 2.5)
    off = np.arange(7) - 3
    expected = np.exp(-off[None, :] ** 2 / (2 * 1.0 ** 2) - off[:, None] ** 2 / (2 * 2.5 ** 2))
    np.testing.assert_allclose(k, expected / expected.sum(), rtol=1e-12, atol=0)
    np.testing.assert_allclose(gaussian_kernel(7, 1.0, 2.5, np.pi / 2), k.T, atol=1e-12)  # 90°: axes swap


def test_sigma_matrix_and_mesh_grid_edge_cases():
    np.testing.assert_allclose(sigma_matrix(2.0, 3.0, 0.0), [[4.0, 0.0], [0.0, 9.0]])
    for sx, sy in ((0.0, 1.0), (1.0, 0.0)):
        with pytest.raises(ValueError):
            sigma_matrix(sx, sy, 0.0)  # a zero width is no Gaussian
    xx, yy = mesh_grid(1)
    assert xx.shape == yy.shape == (1, 1) and xx.dtype == np.float64 and xx[0, 0] == 0 and yy[0, 0] == 0
    xx, yy = mesh_grid(3)
    assert xx.dtype == np.float64 and xx[1].tolist() == [-1.0, 0.0, 1.0] and yy[:, 1].tolist() == [-1.0, 0.0, 1.0]
    for bad in (0, 2, 3.0):
        with pytest.raises(ValueError, match="positive odd integer"):
            mesh_grid(bad)


@pytest.mark.parametrize("adjust", [adjust_brightness, adjust_contrast, adjust_saturation])
def test_colour_adjustments_keep_float32(adjust):
    img = np.random.default_rng(0).random((4, 4, 3)).astype(np.float32)
    out = adjust(img, 1.3)
    assert out.dtype == np.float32 and out.shape == img.shape
    assert np.array_equal(adjust(img, 1.0), img)  # factor 1: unchanged
