"""Tests for gfplib.degradation: x = [(y ⊛ k_σ)↓_r + n_δ]_JPEG_q and the official random sampler."""
from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF

from gfplib import degradation as D
from gfplib.data import demo_face
from gfplib.viz import psnr


@pytest.fixture(scope="module")
def face512():
    return demo_face(512)


@pytest.fixture(scope="module")
def face64():
    return demo_face(64)


# ---------------------------------------------------------------------------------------------------- kernel
def _moments(k):
    xx, yy = D.mesh_grid(k.shape[0])
    mx, my = (k * xx).sum(), (k * yy).sum()
    cov = np.array([[(k * xx * xx).sum(), (k * xx * yy).sum()], [(k * xx * yy).sum(), (k * yy * yy).sum()]])
    return np.array([mx, my]), cov


@pytest.mark.parametrize("sx,sy,theta", [(2.0, None, 0.0), (3.0, 1.2, 0.0), (3.0, 1.2, math.pi / 6),
                                         (1.5, 4.0, -2.0), (10.0, 0.1, 1.0)])
def test_kernel_sums_to_one_and_matches_closed_form(sx, sy, theta):
    k = D.gaussian_kernel(41, sx, sy, theta)
    assert k.shape == (41, 41) and k.dtype == np.float64
    assert k.sum() == pytest.approx(1.0, abs=1e-12)
    assert (k >= 0).all()
    # pointwise: k(u) = exp(-½ uᵀ Σ⁻¹ u) / Z with Σ = R diag(σx², σy²) Rᵀ written out by hand
    syy = sx if sy is None else sy
    th = 0.0 if sy is None else theta
    c, s = math.cos(th), math.sin(th)
    a = c * c * sx**2 + s * s * syy**2
    b = c * s * (sx**2 - syy**2)
    d = s * s * sx**2 + c * c * syy**2
    det = a * d - b * b
    xx, yy = np.meshgrid(np.arange(-20, 21), np.arange(-20, 21))
    expo = -0.5 * (d * xx**2 - 2 * b * xx * yy + a * yy**2) / det
    ref = np.exp(expo)
    np.testing.assert_allclose(k, ref / ref.sum(), rtol=1e-10, atol=1e-300)
    # point symmetry (so correlation = convolution) and the centre is the maximum
    np.testing.assert_allclose(k, k[::-1, ::-1], rtol=1e-12)
    assert k.argmax() == 20 * 41 + 20


@pytest.mark.parametrize("sx,sy,theta", [(2.0, 2.0, 0.0), (3.0, 1.5, 0.0), (3.0, 1.5, math.pi / 4),
                                         (1.0, 2.5, 2.2)])
def test_kernel_second_moments_equal_covariance(sx, sy, theta):
    # σ small compared with the window: truncation is negligible, so the empirical covariance must be Σ
    k = D.gaussian_kernel(41, sx, sy, theta)
    mean, cov = _moments(k)
    np.testing.assert_allclose(mean, 0.0, atol=1e-12)
    np.testing.assert_allclose(cov, D.sigma_matrix(sx, sy, theta), atol=2e-3)
    # the principal axes are rotated by θ: first eigenvector ∥ (cos θ, sin θ) when σx > σy
    if sx > sy:
        w, v = np.linalg.eigh(cov)
        axis = v[:, np.argmax(w)]
        assert abs(abs(axis @ np.array([math.cos(theta), math.sin(theta)])) - 1) < 1e-4


def test_rotated_kernel_is_transpose_at_90_degrees():
    k0 = D.gaussian_kernel(21, 3.0, 1.0, 0.0)
    k90 = D.gaussian_kernel(21, 3.0, 1.0, math.pi / 2)
    np.testing.assert_allclose(k90, k0.T, atol=1e-15)
    # wide along x (columns) at θ = 0
    assert k0[10, 15] > k0[15, 10]


def test_isotropic_ignores_theta_and_wide_kernel_is_truncated():
    np.testing.assert_allclose(D.gaussian_kernel(41, 4.0), D.gaussian_kernel(41, 4.0, 4.0, 1.3), atol=1e-15)
    _, cov = _moments(D.gaussian_kernel(41, 10.0))
    assert cov[0, 0] < 100 * 0.8  # σ = 10 on a 41 window: truncated at ±2σ, variance well below σ²


def test_kernel_bad_arguments():
    with pytest.raises(ValueError, match="odd"):
        D.gaussian_kernel(40, 2.0)
    with pytest.raises(ValueError, match="positive"):
        D.gaussian_kernel(41, 0.0)
    with pytest.raises(ValueError, match="positive"):
        D.gaussian_kernel(41, 2.0, -1.0, 0.0)


# ---------------------------------------------------------------------------------------------------- blocks
def test_blur_equals_filter2d_and_preserves_constant(face64):
    x = face64.astype(np.float32) / 255
    k = D.gaussian_kernel(7, 1.5, 0.8, 0.4)
    out = D.blur(face64, k)
    assert out.dtype == np.float32 and out.shape == x.shape
    np.testing.assert_allclose(out, cv2.filter2D(x, -1, k), atol=1e-6)
    flat = np.full((20, 30, 3), 0.3, np.float32)
    np.testing.assert_allclose(D.blur(flat, D.gaussian_kernel(41, 5.0)), 0.3, atol=1e-6)
    # a delta kernel is the identity
    delta = np.zeros((5, 5))
    delta[2, 2] = 1
    np.testing.assert_array_equal(D.blur(x, delta), x)


@pytest.mark.parametrize("h,w,scale", [(512, 512, 0.8), (512, 512, 8.0), (512, 512, 3.7), (64, 48, 2.5),
                                       (33, 65, 1.0)])
def test_downsample_output_size(h, w, scale):
    x = np.random.default_rng(0).random((h, w, 3), dtype=np.float32)
    out = D.downsample(x, scale)
    assert out.shape == (int(h // scale), int(w // scale), 3)
    assert out.dtype == np.float32
    back = D.resize_to(out, (h, w))
    assert back.shape == (h, w, 3)


def test_downsample_by_one_is_identity_and_too_far_raises():
    x = np.random.default_rng(1).random((16, 16, 3), dtype=np.float32)
    np.testing.assert_array_equal(D.downsample(x, 1.0), x)
    with pytest.raises(ValueError, match="no pixels"):
        D.downsample(x, 20.0)
    with pytest.raises(ValueError, match="positive"):
        D.downsample(x, 0.0)


@pytest.mark.parametrize("sigma", [2.0, 10.0, 20.0])
def test_noise_std_matches_sigma(sigma):
    x = np.full((256, 256, 3), 0.5, np.float32)  # mid-gray: clipping never triggers for δ ≤ 20/255
    out = D.add_gaussian_noise(x, sigma, np.random.default_rng(0))
    n = (out - x) * 255
    assert n.std() == pytest.approx(sigma, rel=0.02)
    assert abs(n.mean()) < 0.05 * sigma + 0.02
    # colour noise: channels independent, not one gray field repeated
    assert abs(np.corrcoef(n[..., 0].ravel(), n[..., 1].ravel())[0, 1]) < 0.02
    assert not np.array_equal(out[..., 0], out[..., 1])


def test_noise_is_clipped_not_rounded_and_seeded():
    x = np.random.default_rng(2).random((64, 64, 3), dtype=np.float32)
    a = D.add_gaussian_noise(x, 20.0, np.random.default_rng(5))
    b = D.add_gaussian_noise(x, 20.0, np.random.default_rng(5))
    c = D.add_gaussian_noise(x, 20.0, np.random.default_rng(6))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.min() >= 0 and a.max() <= 1 and (a == 0).any() and (a == 1).any()
    assert not np.allclose(a * 255, np.rint(a * 255))  # continuous values, not quantised
    np.testing.assert_array_equal(D.add_gaussian_noise(x, 0.0, np.random.default_rng(0)), x)
    with pytest.raises(ValueError, match="sigma"):
        D.add_gaussian_noise(x, -1.0, np.random.default_rng(0))
    with pytest.raises(TypeError, match="Generator"):
        D.add_gaussian_noise(x, 1.0, 0)


def test_jpeg_quality_monotone_and_rgb_order(face512):
    x = face512.astype(np.float32) / 255
    scores = [psnr(D.jpeg_compress(x, q), x) for q in (10, 30, 60, 80, 95, 100)]
    assert all(a < b for a, b in zip(scores, scores[1:])), scores
    assert scores[-1] > 40
    # the codec must see BGR: encoding our RGB image through OpenCV by hand in BGR order gives the same bytes
    bgr = cv2.cvtColor(face512, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", bgr, [int(cv2.IMWRITE_JPEG_QUALITY), 70])
    ref = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB).astype(np.float32) / 255
    np.testing.assert_array_equal(D.jpeg_compress(face512, 70), ref)
    # ... which differs from feeding RGB as if it were BGR (chroma subsampling treats R and B differently)
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(face512), [int(cv2.IMWRITE_JPEG_QUALITY), 70])
    wrong = cv2.imdecode(buf, cv2.IMREAD_COLOR).astype(np.float32) / 255
    assert not np.array_equal(wrong, ref)
    # float quality is rounded to the nearest integer
    np.testing.assert_array_equal(D.jpeg_compress(x, 69.6), D.jpeg_compress(x, 70))
    with pytest.raises(ValueError, match="quality"):
        D.jpeg_compress(x, 101)


def test_color_steps():
    rng = np.random.default_rng(3)
    x = rng.random((24, 32, 3), dtype=np.float32)
    out = D.shift_colors(x, (0.05, -0.02, 0.0))
    np.testing.assert_allclose(out, np.clip(x + np.array([0.05, -0.02, 0.0], np.float32), 0, 1), atol=1e-7)
    g = D.to_gray(x)
    np.testing.assert_allclose(g[..., 0], 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2], atol=1e-5)
    assert np.array_equal(g[..., 0], g[..., 2])
    q = D.quantize(x)
    np.testing.assert_array_equal(q * 255, np.rint(q * 255))
    assert np.abs(q - x).max() <= 0.5 / 255 + 1e-7
    with pytest.raises(ValueError, match="3 values"):
        D.shift_colors(x, (0.1, 0.1))


@pytest.mark.parametrize("op,factor", [("brightness", 1.37), ("contrast", 0.6), ("saturation", 1.4),
                                       ("saturation", 0.0), ("hue", 0.08), ("hue", -0.1)])
def test_color_adjustments_equal_torchvision(op, factor):
    rng = np.random.default_rng(4)
    x = rng.random((20, 30, 3), dtype=np.float32)
    x[0, :5] = 0.4  # some gray pixels (hue undefined)
    ours = getattr(D, f"adjust_{op}")(x, factor)
    ref = getattr(TF, f"adjust_{op}")(torch.from_numpy(x).permute(2, 0, 1), factor).permute(1, 2, 0).numpy()
    np.testing.assert_allclose(ours, ref, atol=2e-6)


def test_color_jitter_order_matters_and_identity():
    x = np.random.default_rng(5).random((16, 16, 3), dtype=np.float32)
    np.testing.assert_allclose(D.color_jitter(x, D.JITTER_OPS), x, atol=1e-6)
    a = D.color_jitter(x, ("brightness", "contrast", "saturation", "hue"), 1.4, 0.6, 1.3, 0.05)
    b = D.color_jitter(x, ("hue", "saturation", "contrast", "brightness"), 1.4, 0.6, 1.3, 0.05)
    ref = D.adjust_hue(D.adjust_saturation(D.adjust_contrast(D.adjust_brightness(x, 1.4), 0.6), 1.3), 0.05)
    np.testing.assert_allclose(a, ref, atol=1e-7)
    assert np.abs(a - b).max() > 1e-3
    with pytest.raises(ValueError, match="permutation"):
        D.color_jitter(x, ("brightness", "brightness", "saturation", "hue"))


# ---------------------------------------------------------------------------------------------------- config + sampler
def test_config_defaults_are_official():
    cfg = D.DegradationConfig()
    assert (cfg.size, cfg.kernel_size, cfg.iso_prob) == (512, 41, 0.5)
    assert cfg.blur_sigma == (0.1, 10.0) and cfg.rotation == (-math.pi, math.pi)
    assert cfg.downsample_range == (0.8, 8.0) and cfg.noise_range == (0.0, 20.0) and cfg.jpeg_range == (60.0, 100.0)
    assert (cfg.color_jitter_prob, cfg.color_jitter_shift, cfg.gray_prob, cfg.color_jitter_pt_prob) == (
        0.3, 20.0, 0.01, 0.3)
    assert (cfg.brightness, cfg.contrast, cfg.saturation, cfg.hue) == ((0.5, 1.5), (0.5, 1.5), (0.0, 1.5),
                                                                       (-0.1, 0.1))
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.kernel_size = 21


def test_config_for_size_rule():
    assert D.DegradationConfig.for_size(512) == D.DegradationConfig()
    c64 = D.DegradationConfig.for_size(64)
    assert c64.size == 64 and c64.kernel_size == 7  # half-width ceil(20 · 64/512) = 3
    assert c64.blur_sigma == pytest.approx((0.0125, 1.25))
    assert c64.downsample_range == (0.8, 8.0) and c64.noise_range == (0.0, 20.0) and c64.jpeg_range == (60.0, 100.0)
    for n in (8, 32, 100, 256, 1024):
        c = D.DegradationConfig.for_size(n)
        assert c.kernel_size % 2 == 1 and (c.kernel_size // 2) >= 2 * c.blur_sigma[1] - 1e-9
    assert D.DegradationConfig.tiny() == D.DegradationConfig.for_size(32)
    with pytest.raises(ValueError, match="size"):
        D.DegradationConfig.for_size(4)
    with pytest.raises(ValueError, match="odd"):
        D.DegradationConfig(kernel_size=40)
    with pytest.raises(ValueError, match="noise_range"):
        D.DegradationConfig(noise_range=(5.0, 1.0))
    with pytest.raises(ValueError, match="gray_prob"):
        D.DegradationConfig(gray_prob=1.5)


def test_sampled_parameters_stay_in_range_and_cover_it():
    cfg = D.DegradationConfig()
    rng = np.random.default_rng(0)
    ps = [D.sample_params(rng, cfg) for _ in range(4000)]

    def covers(values, lo, hi, tol):
        values = np.asarray(values, dtype=float)
        assert values.min() >= lo and values.max() <= hi
        assert values.min() < lo + tol * (hi - lo) and values.max() > hi - tol * (hi - lo)

    iso = [p for p in ps if p.kernel_type == "iso"]
    aniso = [p for p in ps if p.kernel_type == "aniso"]
    assert 0.46 < len(iso) / len(ps) < 0.54
    assert all(p.sigma_x == p.sigma_y and p.theta == 0.0 for p in iso)
    covers([p.sigma_x for p in ps], 0.1, 10.0, 0.01)
    covers([p.sigma_y for p in aniso], 0.1, 10.0, 0.01)
    covers([p.theta for p in aniso], -math.pi, math.pi, 0.01)
    covers([p.scale for p in ps], 0.8, 8.0, 0.01)
    covers([p.noise_sigma for p in ps], 0.0, 20.0, 0.01)
    q = [p.jpeg_quality for p in ps]
    assert all(isinstance(v, int) for v in q) and min(q) == 60 and max(q) == 100
    shifts = np.array([p.color_shift for p in ps if p.color_shift is not None])
    assert 0.27 < len(shifts) / len(ps) < 0.33
    covers(shifts.ravel(), -20 / 255, 20 / 255, 0.01)
    assert 0.003 < np.mean([p.gray for p in ps]) < 0.02
    jit = [p for p in ps if p.jitter_order is not None]
    assert 0.27 < len(jit) / len(ps) < 0.33
    assert all(sorted(p.jitter_order) == sorted(D.JITTER_OPS) for p in jit)
    assert len({p.jitter_order for p in jit}) == 24  # every order occurs
    covers([p.brightness for p in jit], 0.5, 1.5, 0.02)
    covers([p.contrast for p in jit], 0.5, 1.5, 0.02)
    covers([p.saturation for p in jit], 0.0, 1.5, 0.02)
    covers([p.hue for p in jit], -0.1, 0.1, 0.02)
    assert all((p.brightness, p.contrast, p.saturation, p.hue) == (1.0, 1.0, 1.0, 0.0)
               for p in ps if p.jitter_order is None)


def test_toy_config_sampler_ranges():
    cfg = D.DegradationConfig.for_size(64)
    rng = np.random.default_rng(1)
    ps = [D.sample_params(rng, cfg) for _ in range(1000)]
    sig = np.array([p.sigma_x for p in ps])
    assert sig.min() >= 0.0125 and sig.max() <= 1.25 and sig.max() > 1.2
    assert all(p.kernel_size == 7 for p in ps)


def test_same_seed_same_image_different_seed_different(face64):
    cfg = D.DegradationConfig.for_size(64)
    a = D.degrade(face64, np.random.default_rng(7), cfg)
    b = D.degrade(face64, np.random.default_rng(7), cfg)
    c = D.degrade(face64, np.random.default_rng(8), cfg)
    np.testing.assert_array_equal(a.lq, b.lq)
    assert a.params == b.params
    assert a.params != c.params and not np.array_equal(a.lq, c.lq)
    # the parameters alone replay the image
    np.testing.assert_array_equal(D.apply_degradation(face64, a.params), a.lq)
    assert a.lq.dtype == np.float32 and a.lq.shape == (64, 64, 3)
    assert a.lq.min() >= 0 and a.lq.max() <= 1
    np.testing.assert_array_equal(a.lq * 255, np.rint(a.lq * 255))  # quantised to 8-bit levels


def test_apply_degradation_steps_follow_the_formula(face64):
    p = D.DegradationParams(kernel_size=7, kernel_type="aniso", sigma_x=1.0, sigma_y=0.5, theta=0.3, scale=2.0,
                            noise_sigma=5.0, noise_seed=11, jpeg_quality=75)
    s = D.apply_degradation(face64, p, return_steps=True)
    y = face64.astype(np.float32) / 255
    blurred = D.blur(y, D.gaussian_kernel(7, 1.0, 0.5, 0.3))
    small = D.downsample(blurred, 2.0)
    noisy = D.add_gaussian_noise(small, 5.0, np.random.default_rng(11))
    jpeg = D.jpeg_compress(noisy, 75)
    np.testing.assert_array_equal(s.blurred, blurred)
    np.testing.assert_array_equal(s.downsampled, small)
    np.testing.assert_array_equal(s.noisy, noisy)
    np.testing.assert_array_equal(s.jpeg, jpeg)
    np.testing.assert_array_equal(s.lq, D.quantize(D.resize_to(jpeg, (64, 64))))
    assert s.downsampled.shape == (32, 32, 3)
    # colour steps in the official order: shift → gray → jitter
    pc = dataclasses.replace(p, color_shift=(0.05, 0.0, -0.05), gray=True,
                             jitter_order=("hue", "brightness", "contrast", "saturation"), brightness=1.2)
    ref = D.quantize(D.color_jitter(D.to_gray(D.shift_colors(s.resized, (0.05, 0.0, -0.05))),
                                    ("hue", "brightness", "contrast", "saturation"), 1.2, 1.0, 1.0, 0.0))
    np.testing.assert_array_equal(D.apply_degradation(face64, pc), ref)


def test_stronger_degradation_lowers_psnr(face512):
    def run(sigma, scale, noise, q):
        p = D.DegradationParams(kernel_size=41, kernel_type="iso", sigma_x=sigma, sigma_y=sigma, theta=0.0,
                                scale=scale, noise_sigma=noise, noise_seed=0, jpeg_quality=q)
        return psnr(D.apply_degradation(face512, p), face512)

    mild, medium, strong = run(0.5, 1.0, 0.0, 100), run(3.0, 3.0, 8.0, 80), run(8.0, 8.0, 20.0, 60)
    assert mild > medium > strong
    assert mild > 40 and strong < 30
    # each factor alone is monotone too
    assert run(1, 1, 0, 100) > run(4, 1, 0, 100) > run(9, 1, 0, 100)
    assert run(0.1, 1.5, 0, 100) > run(0.1, 4, 0, 100) > run(0.1, 8, 0, 100)
    assert run(0.1, 1, 2, 100) > run(0.1, 1, 10, 100) > run(0.1, 1, 20, 100)


@pytest.mark.parametrize("field,value,msg", [("kernel_type", "box", "kernel_type"), ("sigma_y", 0.0, "positive"),
                                             ("scale", -2.0, "scale"), ("noise_sigma", -1.0, "noise_sigma"),
                                             ("jpeg_quality", 120, "jpeg_quality"), ("kernel_size", 8, "odd"),
                                             ("jitter_order", ("hue",) * 4, "permutation")])
def test_params_are_validated(field, value, msg):
    good = dict(kernel_size=7, kernel_type="aniso", sigma_x=1.0, sigma_y=0.5, theta=0.3, scale=2.0,
                noise_sigma=5.0, noise_seed=11, jpeg_quality=75)
    D.DegradationParams(**good)
    with pytest.raises(ValueError, match=msg):
        D.DegradationParams(**{**good, field: value})


def test_degrade_checks_size_and_rng(face64):
    with pytest.raises(ValueError, match="for_size"):
        D.degrade(face64, np.random.default_rng(0))  # 512 config, 64 image
    with pytest.raises(TypeError, match="Generator"):
        D.degrade(face64, 0, D.DegradationConfig.for_size(64))


def test_demo_face():
    f = demo_face(128)
    assert f.shape == (128, 128, 3) and f.dtype == np.uint8
    assert 60 < f.mean() < 200 and f.std() > 30  # a real photo, not a blank


# ---------------------------------------------------------------------------------------------------- bad images
@pytest.mark.parametrize("bad,exc,msg", [
    (np.zeros((8, 8, 3), np.int32), TypeError, "dtype"),
    (np.zeros((8, 8, 1), np.float32), ValueError, "1 channel"),
    (np.zeros((8, 8), np.float32), ValueError, "shape"),
    (np.zeros((8, 8, 4), np.uint8), ValueError, "4 channel"),
    (np.zeros((0, 8, 3), np.float32), ValueError, "empty"),
    (np.full((8, 8, 3), np.nan, np.float32), ValueError, "NaN"),
    (np.full((8, 8, 3), 255.0, np.float32), ValueError, r"\[0, 1\]"),
    ([[0.0, 0.1, 0.2]], TypeError, "ndarray"),
])
@pytest.mark.parametrize("fn", [
    lambda im: D.blur(im, D.gaussian_kernel(3, 1.0)),
    lambda im: D.downsample(im, 2.0),
    lambda im: D.add_gaussian_noise(im, 1.0, np.random.default_rng(0)),
    lambda im: D.jpeg_compress(im, 80),
    lambda im: D.degrade(im, np.random.default_rng(0), D.DegradationConfig.for_size(8)),
], ids=["blur", "downsample", "noise", "jpeg", "degrade"])
def test_bad_images_raise_clear_errors(fn, bad, exc, msg):
    with pytest.raises(exc, match=msg):
        fn(bad)


def test_as_float_image_converts_uint8_and_passes_checked_float32_through():
    u8 = np.array([[[0, 51, 255]]], np.uint8)
    np.testing.assert_array_equal(D.as_float_image(u8), np.array([[[0.0, 0.2, 1.0]]], np.float32))
    x = np.full((4, 4, 3), 1.0000001, np.float32)  # what a blur of white pixels can give: accepted, not altered
    assert D.as_float_image(x) is x
    assert D.as_float_image(x.astype(np.float64)).dtype == np.float32
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        D.as_float_image(x + 0.01)


def test_uint8_and_float_inputs_agree(face64):
    cfg = D.DegradationConfig.for_size(64)
    a = D.degrade(face64, np.random.default_rng(3), cfg).lq
    b = D.degrade(face64.astype(np.float32) / 255, np.random.default_rng(3), cfg).lq
    c = D.degrade(face64.astype(np.float64) / 255, np.random.default_rng(3), cfg).lq
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
