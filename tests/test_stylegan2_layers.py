"""StyleGAN2 building blocks (gfplib.archs.stylegan2_clean, gfplib.archs.ops) against their formulas.

StyleGAN2 (Karras et al. 2020, Sec. 2.2, Eq. 1–3): a style ``s = A(w)`` scales the input channels of the weight,
``w'_{oik} = s_i w_{oik}``, and demodulation divides each output channel by ``√(Σ_{i,k} w'^2_{oik} + ε)``. The
expected values below build that per-sample weight with plain tensor arithmetic and one ``F.conv2d`` per sample,
so they share no code with the batched implementation under test. Mutation testing (``make mutate``) found the
down-sampling branch, the √2 gain of StyleConv and the ε of demodulation unchecked before these tests.
"""
from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from gfplib.archs.ops import EqualLinear, make_resample_kernel, upfirdn2d
from gfplib.archs.stylegan2_clean import (ModulatedConv2d, NormStyleCode, StyleConv, StyleGAN2GeneratorClean, ToRGB,
                                          modulated_weight)


def _randomised(module, seed=0):
    """Every parameter drawn from N(0, 0.5²) (zero-initialised biases and noise strengths become live)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return module


def _expected_modconv(conv, x, style, gain=1.0):
    """Per-sample modulated convolution, from the formulas (no batching tricks)."""
    s = style @ conv.modulation.weight.t() + conv.modulation.bias  # s = A(w)   (B, C_in)
    if conv.sample_mode == "upsample":
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    elif conv.sample_mode == "downsample":
        x = F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=False)
    outs = []
    for b in range(x.shape[0]):
        w = conv.weight[0] * s[b].view(1, -1, 1, 1)  # w'_{oik} = s_i · w_{oik}   (C_out, C_in, k, k)
        if conv.demodulate:
            w = w / torch.sqrt((w ** 2).sum(dim=(1, 2, 3), keepdim=True) + conv.eps)
        outs.append(F.conv2d(x[b:b + 1], w, padding=conv.kernel_size // 2))
    return torch.cat(outs) * gain


@pytest.mark.parametrize("sample_mode, size", [(None, 6), ("upsample", 12), ("downsample", 3)])
@pytest.mark.parametrize("demodulate", [True, False])
def test_modulated_conv_is_the_per_sample_formula(sample_mode, size, demodulate):
    torch.manual_seed(0)
    conv = _randomised(ModulatedConv2d(4, 5, 3, num_style_feat=7, demodulate=demodulate, sample_mode=sample_mode))
    x, style = torch.randn(3, 4, 6, 6), torch.randn(3, 7)
    with torch.no_grad():
        out = conv(x, style)
        assert out.shape == (3, 5, size, size)
        torch.testing.assert_close(out, _expected_modconv(conv, x, style), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(conv(x, style, gain=1.5), _expected_modconv(conv, x, style, 1.5),
                                   rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(conv(x[:1], style[:1]), out[:1], rtol=1e-4, atol=1e-5)  # batch of one


def test_demodulation_of_a_zero_style_stays_finite():
    # a style that switches every input channel off: w' = 0, and 0 / √(0 + ε) = 0 (ε > 0 keeps it finite)
    weight = torch.randn(1, 3, 2, 3, 3)
    w = modulated_weight(weight, torch.zeros(2, 2), demodulate=True, eps=1e-8)
    assert torch.equal(w, torch.zeros(2, 3, 2, 3, 3))
    conv = ModulatedConv2d(2, 3, 3, num_style_feat=4)
    with torch.no_grad():
        conv.modulation.weight.zero_()
        conv.modulation.bias.zero_()
        out = conv(torch.randn(2, 2, 5, 5), torch.randn(2, 4))
    assert torch.equal(out, torch.zeros(2, 3, 5, 5))


def test_style_conv_is_sqrt2_conv_plus_noise_plus_bias_then_leaky_relu():
    torch.manual_seed(0)
    layer = _randomised(StyleConv(4, 5, 3, num_style_feat=7, sample_mode="upsample"))
    assert layer.modulated_conv.demodulate  # StyleConv demodulates unless told otherwise (official default)
    assert not StyleConv(4, 5, 3, num_style_feat=7, demodulate=False).modulated_conv.demodulate
    x, style, noise = torch.randn(2, 4, 4, 4), torch.randn(2, 7), torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        conv = _expected_modconv(layer.modulated_conv, x, style) * math.sqrt(2)  # the official fused lrelu gain
        pre = conv + layer.weight * noise + layer.bias  # φ·noise, then the per-channel bias
        expected = torch.where(pre >= 0, pre, 0.2 * pre)  # leaky ReLU, slope 0.2
        torch.testing.assert_close(layer(x, style, noise=noise), expected, rtol=1e-4, atol=1e-5)
        # drawn noise: the same generator seed gives the same noise map of the output's size
        a = layer(x, style, generator=torch.Generator().manual_seed(3))
        noise3 = torch.randn((2, 1, 8, 8), generator=torch.Generator().manual_seed(3))
        torch.testing.assert_close(a, layer(x, style, noise=noise3))


def test_to_rgb_adds_bias_and_the_upsampled_skip():
    torch.manual_seed(0)
    layer = _randomised(ToRGB(4, num_style_feat=7))
    x, style, skip = torch.randn(2, 4, 8, 8), torch.randn(2, 7), torch.randn(2, 3, 4, 4)
    with torch.no_grad():
        rgb = _expected_modconv(layer.modulated_conv, x, style) + layer.bias  # 1×1, no demodulation
        up = F.interpolate(skip, scale_factor=2, mode="bilinear", align_corners=False)
        torch.testing.assert_close(layer(x, style), rgb, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(layer(x, style, skip), rgb + up, rtol=1e-4, atol=1e-5)
        same_size = ToRGB(4, num_style_feat=7, upsample=False)
        same_size.load_state_dict(layer.state_dict())
        skip8 = torch.randn(2, 3, 8, 8)
        torch.testing.assert_close(same_size(x, style, skip8), rgb + skip8, rtol=1e-4, atol=1e-5)
    assert not layer.modulated_conv.demodulate and layer.modulated_conv.kernel_size == 1


def test_pixel_norm_of_the_input_code():
    z = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    out = NormStyleCode()(z)
    # z / √(mean(z²) + 1e-8): mean(z²) = 12.5 → z / √12.5; a zero code stays zero (no division by zero)
    torch.testing.assert_close(out[0], torch.tensor([3.0, 4.0]) / math.sqrt(12.5))
    assert torch.equal(out[1], torch.zeros(2))
    assert NormStyleCode()(torch.full((1, 4), 1e-6))[0, 0].item() == pytest.approx(1e-6 / math.sqrt(1e-12 + 1e-8))


def test_modulated_conv_rejects_wrong_shapes():
    conv = ModulatedConv2d(4, 6, 3, num_style_feat=8)
    with pytest.raises(ValueError, match=r"x \(B, 4, H, W\)"):
        conv(torch.randn(2, 5, 8, 8), torch.randn(2, 8))  # wrong channels, right style
    with pytest.raises(ValueError, match="style"):
        conv(torch.randn(2, 4, 8, 8), torch.randn(3, 8))  # style of another batch size
    with pytest.raises(ValueError, match="sample_mode"):
        ModulatedConv2d(4, 6, 3, num_style_feat=8, sample_mode="sideways")


# ------------------------------------------------------------------------------------- style codes → W+ codes
def _small_generator():
    torch.manual_seed(0)
    return StyleGAN2GeneratorClean(16, num_style_feat=8, num_mlp=2, narrow=1 / 16)  # 6 W+ codes


def test_styles_to_latent_maps_z_by_default_and_mixes_at_the_index():
    g = _small_generator()
    assert g.num_latent == 6
    z1, z2 = torch.randn(2, 8), torch.randn(2, 8)
    with torch.no_grad():
        w1, w2 = g.style_mlp(z1), g.style_mlp(z2)
        torch.testing.assert_close(g.styles_to_latent(z1), w1[:, None].expand(2, 6, 8))  # a bare z: mapped
        torch.testing.assert_close(g.styles_to_latent([w1], input_is_latent=True), w1[:, None].expand(2, 6, 8))
        for k in (0, 3, 6):  # layers below k take the first code, the others the second
            expected = torch.cat([w1[:, None].expand(2, k, 8), w2[:, None].expand(2, 6 - k, 8)], 1)
            torch.testing.assert_close(g.styles_to_latent([z1, z2], inject_index=k), expected)
    for bad in (-1, 7):
        with pytest.raises(ValueError, match="inject_index"):
            g.styles_to_latent([z1, z2], inject_index=bad)
    with pytest.raises(TypeError, match=r"styles\[1\] must be a torch.Tensor"):
        g.styles_to_latent([z1, z2.numpy()])  # the error names the offending code
    wplus = w1[:, None].expand(2, 6, 8)
    with pytest.raises(ValueError, match="style mixing"):
        g.styles_to_latent([wplus, wplus], input_is_latent=True)


def test_random_crossover_is_between_1_and_L_minus_1_and_follows_the_generator():
    g = _small_generator()
    z1, z2 = torch.randn(1, 8), torch.randn(1, 8)
    with torch.no_grad():
        w1 = g.style_mlp(z1)

        def crossover(seed):  # number of leading layers that hold the first code
            lat = g.styles_to_latent([z1, z2], generator=torch.Generator().manual_seed(seed))
            return int(torch.isclose(lat[0], w1[0].expand(6, 8)).all(1).sum())

        seen = [crossover(s) for s in range(60)]
        torch.manual_seed(1)
        a = crossover(5)
        torch.manual_seed(2)
        b = crossover(5)
    assert set(seen) == {1, 2, 3, 4, 5}  # never 0 or 6: both codes always take part
    assert a == b == seen[5]  # the crossover comes from the given generator, not torch's global one


# ------------------------------------------------------------------------------------------------- FIR filters
def test_resample_kernel_edge_cases():
    assert torch.equal(make_resample_kernel([1]), torch.ones(1, 1))  # a one-tap kernel is the identity
    torch.testing.assert_close(make_resample_kernel([1, 3, 3, 1])[0], torch.tensor([1.0, 3, 3, 1]) / 64)
    assert make_resample_kernel(torch.tensor([1.0, 2.0], dtype=torch.float64)).dtype == torch.float32
    for bad in ([], [[[1.0]]]):
        with pytest.raises(ValueError, match="1-D or 2-D and non-empty"):
            make_resample_kernel(bad)


def test_upfirdn2d_defaults_are_a_plain_valid_convolution():
    g = torch.Generator().manual_seed(0)
    x, k = torch.randn(2, 3, 6, 5, generator=g), torch.rand(3, 2, generator=g)
    expected = F.conv2d(x, torch.flip(k, [0, 1]).expand(3, 1, 3, 2), groups=3)  # true convolution, no padding
    torch.testing.assert_close(upfirdn2d(x, k), expected)  # up = down = 1, pad = (0, 0)
    torch.testing.assert_close(upfirdn2d(x.double(), k), expected.double())  # follows the input's dtype


def test_upfirdn2d_size_check_is_exact():
    # output side = up·n + p0 + p1 − k + 1 (down = 1): allowed down to 1, refused below
    k = torch.ones(4, 4) / 16
    assert upfirdn2d(torch.ones(1, 1, 4, 4), k).shape == (1, 1, 1, 1)
    for pad in ((0, 1), (1, 0)):
        assert upfirdn2d(torch.ones(1, 1, 3, 3), k, pad=pad).shape == (1, 1, 1, 1)
        assert upfirdn2d(torch.ones(1, 1, 5, 3), k, pad=pad).shape == (1, 1, 3, 1)
        assert upfirdn2d(torch.ones(1, 1, 3, 5), k, pad=pad).shape == (1, 1, 1, 3)
    assert upfirdn2d(torch.ones(1, 1, 5, 4), k).shape == (1, 1, 2, 1)
    for shape in ((1, 1, 3, 3), (1, 1, 5, 3), (1, 1, 3, 5)):  # one side smaller than the kernel
        with pytest.raises(ValueError, match="smaller than the 4x4 kernel"):
            upfirdn2d(torch.ones(shape), k)
    with pytest.raises(ValueError, match="integers"):
        upfirdn2d(torch.ones(1, 1, 8, 8), k, up=1.5)


def test_equal_linear_without_bias():
    layer = EqualLinear(4, 3, bias=False, lr_mul=0.5)
    x = torch.randn(2, 4)
    torch.testing.assert_close(layer(x), x @ (layer.weight * 0.25).t())  # y = x (λ c W)ᵀ, λ c = 0.5/√4, no bias
