"""StyleGAN2 generators (clean and original) and the upfirdn2d / equalised-lr operators of gfplib.archs."""
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.signal import convolve2d
from torch.nn import functional as F

from gfplib.archs import StyleGAN2Generator, StyleGAN2GeneratorClean
from gfplib.archs.ops import (EqualConv2d, EqualLinear, UpFirDnUpsample, fused_leaky_relu, make_resample_kernel,
                              stylegan2_channels, upfirdn2d)
from gfplib.archs.stylegan2_clean import ModulatedConv2d, modulated_weight, modulation_terms
from gfplib.archs import stylegan2 as sg_orig

SPEC = Path(__file__).parent / "data" / "spec"
GENERATORS = [StyleGAN2GeneratorClean, StyleGAN2Generator]


def spec_state_dict(name, seed=0):
    """A random state dict with exactly the keys, shapes and dtypes of the official model (from the spec JSON)."""
    spec = json.loads((SPEC / f"{name}.json").read_text())
    gen = torch.Generator().manual_seed(seed)
    sd = {}
    for e in spec["state_dict"]:
        dtype = getattr(torch, e["dtype"])
        sd[e["key"]] = (torch.randn(e["shape"], generator=gen).to(dtype) if dtype.is_floating_point
                        else torch.zeros(e["shape"], dtype=dtype))
    return spec, sd


def small(cls, out_size=32, narrow=0.125, num_style_feat=32, num_mlp=2, seed=0):
    torch.manual_seed(seed)
    g = cls(out_size, num_style_feat=num_style_feat, num_mlp=num_mlp, narrow=narrow)
    with torch.no_grad():  # non-zero noise strengths and biases, so that no path hides behind a zero
        for name, p in g.named_parameters():
            if name.endswith(".weight") and p.numel() == 1 or "bias" in name:
                p.add_(0.1 * torch.randn(p.shape))
    return g


# ----------------------------------------------------------------------------------------------- checkpoint format
@pytest.mark.parametrize("cls,name", [(StyleGAN2GeneratorClean, "stylegan2_clean_c2"),
                                      (StyleGAN2Generator, "stylegan2_prior_c1")])
def test_official_state_dict_loads_strictly(cls, name):
    spec, sd = spec_state_dict(name)
    model = cls(**spec["constructor_kwargs"])
    own = model.state_dict()
    assert {k: tuple(v.shape) for k, v in own.items()} == {k: tuple(v.shape) for k, v in sd.items()}
    model.load_state_dict(sd, strict=True)
    assert sum(p.numel() for p in model.parameters()) == spec["num_parameters"]
    for key in ("style_mlp.1.weight", "style_convs.0.modulated_conv.weight", "noises.noise5", "to_rgbs.6.bias"):
        assert torch.equal(model.state_dict()[key], sd[key])
    with pytest.raises(RuntimeError, match="Missing key"):
        model.load_state_dict({k: v for k, v in sd.items() if k != "noises.noise0"}, strict=True)


# ----------------------------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("cls", GENERATORS)
@pytest.mark.parametrize("out_size,narrow", [(16, 0.125), (32, 0.25), (64, 0.0625)])
def test_shapes_small_configs(cls, out_size, narrow):
    g = small(cls, out_size, narrow)
    log = int(math.log2(out_size))
    assert g.num_latent == 2 * log - 2 and g.num_layers == 2 * log - 3
    assert [tuple(n.shape) for n in g.stored_noise()] == [tuple(n.shape) for n in g.make_noise()]
    assert g.channels == stylegan2_channels(2, narrow)
    img, latent = g([torch.randn(3, 32)], return_latents=True)
    assert img.shape == (3, 3, out_size, out_size) and img.dtype == torch.float32
    assert latent.shape == (3, g.num_latent, 32)
    assert torch.isfinite(img).all() and img.std() > 0
    assert g([torch.randn(3, 32)]).latent is None


def test_channel_table_matches_official_layout():
    ch = stylegan2_channels(channel_multiplier=1, narrow=1)
    assert [ch[str(2**i)] for i in range(2, 11)] == [512, 512, 512, 512, 256, 128, 64, 32, 16]
    assert stylegan2_channels(2, 0.5)["128"] == 128
    with pytest.raises(ValueError, match="0 channels"):
        stylegan2_channels(1, 0.01)


# ----------------------------------------------------------------------------------------------- determinism & noise
@pytest.mark.parametrize("cls", GENERATORS)
def test_stored_noise_is_deterministic_and_random_noise_is_not(cls):
    g = small(cls)
    z = [torch.randn(2, 32)]
    a, b = g(z, randomize_noise=False).image, g(z, randomize_noise=False).image
    assert torch.equal(a, b)
    assert torch.equal(a, g(z, noise=g.stored_noise()).image)
    r1 = g(z, generator=torch.Generator().manual_seed(1)).image
    r2 = g(z, generator=torch.Generator().manual_seed(1)).image
    r3 = g(z, generator=torch.Generator().manual_seed(2)).image
    assert torch.equal(r1, r2)
    assert (r1 - r3).abs().max() > 1e-3 and (r1 - a).abs().max() > 1e-3


@pytest.mark.parametrize("cls", GENERATORS)
def test_batch_equals_samples_one_by_one(cls):
    """B > 1 runs as input/output scaling around one conv, B = 1 with the modulated weight: same function."""
    g = small(cls)
    z = torch.randn(3, 32)
    batch = g([z], randomize_noise=False).image
    single = torch.cat([g([z[i:i + 1]], randomize_noise=False).image for i in range(3)])
    torch.testing.assert_close(batch, single, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("cls", GENERATORS)
def test_gradients_reach_every_parameter(cls):
    g = small(cls, out_size=16)
    img = g([torch.randn(2, 32)]).image
    (img * torch.randn_like(img)).sum().backward()
    for name, p in g.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


# ----------------------------------------------------------------------------------------------- modulation
def test_demodulated_weights_have_unit_norm_per_output_channel():
    torch.manual_seed(0)
    weight = torch.randn(1, 6, 5, 3, 3)
    style = torch.rand(4, 5) * 3 + 0.1
    w = modulated_weight(weight, style, demodulate=True, eps=1e-8)  # (B, C_out, C_in, k, k)
    norms = w.pow(2).sum([2, 3, 4]).sqrt()
    torch.testing.assert_close(norms, torch.ones(4, 6), rtol=1e-5, atol=1e-5)
    w_mod = modulated_weight(weight, style, demodulate=False, eps=1e-8)
    torch.testing.assert_close(w_mod[2, :, 3], weight[0, :, 3] * style[2, 3])  # w'_{ijk} = s_i · w_{ijk}


def test_modulation_terms_equal_per_sample_modulated_conv():
    torch.manual_seed(0)
    weight, style, x = torch.randn(1, 6, 5, 3, 3), torch.randn(4, 5), torch.randn(4, 5, 7, 7)
    for demod in (True, False):
        m = modulation_terms(weight, style, demod, 1e-8, gain=2.0)
        out = F.conv2d(x * m.x_scale, m.weight, padding=1) * m.out_scale
        w = modulated_weight(weight, style, demod, 1e-8)
        ref = torch.stack([F.conv2d(x[b:b + 1], w[b], padding=1)[0] for b in range(4)]) * 2.0
        torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("sample_mode,size", [(None, 8), ("upsample", 16), ("downsample", 4)])
def test_original_modulated_conv_resamples(sample_mode, size):
    torch.manual_seed(0)
    conv = sg_orig.ModulatedConv2d(4, 6, 3, num_style_feat=8, sample_mode=sample_mode)
    x, s = torch.randn(2, 4, 8, 8), torch.randn(2, 8)
    out = conv(x, s)
    assert out.shape == (2, 6, size, size)
    single = torch.cat([conv(x[i:i + 1], s[i:i + 1]) for i in range(2)])
    torch.testing.assert_close(out, single, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="expects x"):
        conv(torch.randn(2, 5, 8, 8), s)


def test_clean_modulated_conv_rejects_wrong_style():
    conv = ModulatedConv2d(4, 6, 3, num_style_feat=8)
    with pytest.raises(ValueError, match="style"):
        conv(torch.randn(2, 4, 8, 8), torch.randn(2, 7))


# ----------------------------------------------------------------------------------------------- truncation & mixing
@pytest.mark.parametrize("cls", GENERATORS)
def test_truncation_interpolates_towards_mean_latent(cls):
    g = small(cls)
    z = torch.randn(2, 32)
    w = g.get_latent(z)
    w_bar = g.mean_latent(64, generator=torch.Generator().manual_seed(0))
    assert w_bar.shape == (1, 32)
    z64 = torch.randn(64, 32, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(w_bar, g.get_latent(z64).mean(0, keepdim=True))
    psi = 0.3
    _, latent = g([z], truncation=psi, truncation_latent=w_bar, return_latents=True)
    torch.testing.assert_close(latent, (w_bar + psi * (w - w_bar)).unsqueeze(1).expand_as(latent))
    same, _ = g([z], truncation=1, truncation_latent=w_bar, randomize_noise=False)  # ψ = 1: no truncation
    torch.testing.assert_close(same, g([z], randomize_noise=False).image)
    zero = g([z], truncation=0.0, truncation_latent=w_bar, randomize_noise=False).image  # ψ = 0: the mean face
    mean_face = g([w_bar.expand(2, -1)], input_is_latent=True, randomize_noise=False).image
    torch.testing.assert_close(zero, mean_face)
    with pytest.raises(ValueError, match="truncation_latent"):
        g([z], truncation=0.5)


@pytest.mark.parametrize("cls", GENERATORS)
def test_style_mixing_switches_code_at_inject_index(cls):
    g = small(cls)
    z1, z2 = torch.randn(2, 32), torch.randn(2, 32)
    k = 3
    img, latent = g([z1, z2], inject_index=k, return_latents=True, randomize_noise=False)
    w1, w2 = g.get_latent(z1), g.get_latent(z2)
    for i in range(g.num_latent):
        torch.testing.assert_close(latent[:, i], w1 if i < k else w2)
    wplus = torch.cat([w1.unsqueeze(1).repeat(1, k, 1), w2.unsqueeze(1).repeat(1, g.num_latent - k, 1)], 1)
    torch.testing.assert_close(img, g([wplus], input_is_latent=True, randomize_noise=False).image)
    _, rand_latent = g([z1, z2], return_latents=True, generator=torch.Generator().manual_seed(0))
    switch = [i for i in range(g.num_latent) if torch.allclose(rand_latent[:, i], w2)]
    assert switch and 1 <= switch[0] < g.num_latent and switch == list(range(switch[0], g.num_latent))


def test_bad_inputs_raise_clear_errors():
    g = small(StyleGAN2GeneratorClean)
    with pytest.raises(ValueError, match=r"\(B, 32\)"):
        g([torch.randn(2, 31)])
    with pytest.raises(ValueError, match="1 code"):
        g([torch.randn(2, 32)] * 3)
    with pytest.raises(TypeError, match="floating-point"):
        g([torch.ones(2, 32, dtype=torch.long)])
    with pytest.raises(ValueError, match="power of two"):
        StyleGAN2GeneratorClean(48)
    with pytest.raises(ValueError, match="noise must be a list of 7"):
        g([torch.randn(2, 32)], noise=[None] * 3)


# ----------------------------------------------------------------------------------------------- upfirdn2d & friends
def upfirdn2d_reference(x, k, up, down, pad):
    """Direct NumPy/SciPy computation: zero insertion, pad or crop, full 2-D convolution, keep every down-th sample."""
    h, w = x.shape
    z = np.zeros((h * up, w * up))
    z[::up, ::up] = x
    p0, p1 = pad
    z = np.pad(z, ((max(p0, 0), max(p1, 0)), (max(p0, 0), max(p1, 0))))
    z = z[max(-p0, 0):z.shape[0] - max(-p1, 0), max(-p0, 0):z.shape[1] - max(-p1, 0)]
    y = convolve2d(z, k, mode="valid")  # true convolution (kernel flipped)
    return y[::down, ::down]


@pytest.mark.parametrize("up,down,pad", [(1, 1, (1, 2)), (2, 1, (2, 1)), (1, 2, (1, 1)), (1, 1, (-1, 2)),
                                         (3, 2, (1, 0)), (2, 2, (0, 0))])
def test_upfirdn2d_matches_direct_computation(up, down, pad):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 9, 9)).astype(np.float32)
    k = rng.standard_normal((4, 3)).astype(np.float32)  # asymmetric: catches a missing flip or transpose
    k = np.pad(k, ((0, 0), (0, 1)))  # square 4×4, still asymmetric
    out = upfirdn2d(torch.from_numpy(x), torch.from_numpy(k), up=up, down=down, pad=pad).numpy()
    for b in range(2):
        for c in range(3):
            np.testing.assert_allclose(out[b, c], upfirdn2d_reference(x[b, c], k, up, down, pad), rtol=1e-4,
                                       atol=1e-5)
    size = (up * 9 + pad[0] + pad[1] - 4) // down + 1
    assert out.shape == (2, 3, size, size)


def test_upfirdn2d_rejects_bad_arguments():
    with pytest.raises(ValueError, match="B, C, H, W"):
        upfirdn2d(torch.zeros(3, 8, 8), torch.ones(2, 2))
    with pytest.raises(ValueError, match="up and down"):
        upfirdn2d(torch.zeros(1, 1, 8, 8), torch.ones(2, 2), up=0)
    with pytest.raises(ValueError, match="smaller than"):
        upfirdn2d(torch.zeros(1, 1, 2, 2), torch.ones(4, 4))


def test_fir_upsample_preserves_constant_images_and_kernel_sums_to_one():
    k = make_resample_kernel((1, 3, 3, 1))
    torch.testing.assert_close(k.sum(), torch.tensor(1.0))
    torch.testing.assert_close(k, torch.tensor([1., 3, 3, 1])[:, None] * torch.tensor([1., 3, 3, 1])[None] / 64)
    up = UpFirDnUpsample((1, 3, 3, 1), factor=2)
    out = up(torch.full((1, 2, 6, 6), 0.7))
    assert out.shape == (1, 2, 12, 12)
    torch.testing.assert_close(out[..., 2:-2, 2:-2], torch.full((1, 2, 8, 8), 0.7))  # interior: mean kept (×u²)


def test_fused_leaky_relu_and_equalised_layers_formulas():
    torch.manual_seed(0)
    x, b = torch.randn(2, 3, 4, 4), torch.randn(3)
    expected = torch.where(x + b.view(1, 3, 1, 1) > 0, x + b.view(1, 3, 1, 1), 0.2 * (x + b.view(1, 3, 1, 1)))
    torch.testing.assert_close(fused_leaky_relu(x, b), expected * math.sqrt(2))
    lin = EqualLinear(8, 5, bias_init_val=0.5, lr_mul=0.01, activation=None)
    assert lin.weight.std() > 10  # stored as N(0, 1/λ²)
    v = torch.randn(4, 8)
    torch.testing.assert_close(lin(v), v @ (lin.weight * 0.01 / math.sqrt(8)).t() + 0.5 * 0.01)
    conv = EqualConv2d(3, 4, 3, padding=1)
    torch.testing.assert_close(conv(x), F.conv2d(x, conv.weight / math.sqrt(27), conv.bias, padding=1))
