"""The CS-SFT controls (gfplib.sft) and the explorer of notebook 06 (gfplib.widgets.cs_sft_widget).

Closed forms: strength 1 is the model's own forward, strength 0 is the identity transform (α = 1, β = 0, the prior
drawing from the mapped codes alone), and in between the modulated features move on the line
F + s (α ⊙ F + β − F). Checked on the clean (v1.3/v1.4) and the original (v1) architecture, with plain SFT too.
"""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from gfplib import widgets  # noqa: E402
from gfplib.archs import GFPGANv1, GFPGANv1Clean, GFPGANv1CleanConfig, GFPGANv1Config  # noqa: E402
from gfplib.sft import (capture_sft_features, condition_resolutions, modulate_conditions,  # noqa: E402
                        restore_modulated, strength_curve)

torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def toy(kind: str, sft_half: bool = True):
    torch.manual_seed(0)
    cfg = (GFPGANv1CleanConfig if kind == "clean" else GFPGANv1Config).tiny()
    net = (GFPGANv1Clean if kind == "clean" else GFPGANv1)(**{**cfg.kwargs(), "sft_half": sft_half}).eval()
    with torch.no_grad():  # the freshly initialised shift heads give β ≈ 0: make α and β clearly non-trivial
        for head in (*net.condition_scale, *net.condition_shift):
            head[-1].bias.normal_(0.0, 0.5)
    return net


def x_in(b=2, seed=1):
    return torch.rand(b, 3, 32, 32, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def gen(seed=3):
    return torch.Generator().manual_seed(seed)


NETS = [("clean", True), ("v1", True), ("clean", False)]


@pytest.fixture(scope="module", params=NETS, ids=["clean-cs", "v1-cs", "clean-sft"])
def net(request):
    return toy(*request.param)


def run(net, x, strength, r=None, seed=3):
    """ŷ and (if r) the features around the SFT at r."""
    with torch.no_grad():
        if r is None:
            return restore_modulated(net, x, strength, generator=gen(seed)), None
        with capture_sft_features(net.stylegan_decoder, r) as feats:
            img = restore_modulated(net, x, strength, generator=gen(seed))
        return img, dict(feats)


def test_strength_one_is_the_forward_bit_for_bit(net):
    x = x_in()
    with torch.no_grad():
        ref = net(x, return_rgb=False, generator=gen()).image
    assert torch.equal(run(net, x, 1.0)[0], ref)
    assert torch.equal(run(net, x, {16: 1.0})[0], ref)
    assert not torch.equal(run(net, x, 0.5)[0], ref)


def test_strength_zero_everywhere_is_the_prior_on_the_mapped_codes_with_the_same_noise(net):
    x = x_in()
    with torch.no_grad():
        codes = net.degradation_removal(x, return_rgb=False).latent
        prior_only = net.stylegan_decoder([codes], [], input_is_latent=True, generator=gen()).image
    assert torch.equal(run(net, x, 0.0)[0], prior_only)
    assert torch.equal(run(net, x, {8: 0.0, 16: 0.0, 32: 0.0})[0], prior_only)
    conds = modulate_conditions(net.degradation_removal(x).conditions, 0.0)
    assert all(torch.equal(a, torch.ones_like(a)) and torch.equal(b, torch.zeros_like(b))
               for a, b in zip(conds[::2], conds[1::2]))


@pytest.mark.parametrize("s", [0.25, 0.7, 1.5])
def test_modulated_features_move_on_the_line_from_prior_to_model(net, s):
    x, r = x_in(), 16
    with torch.no_grad():
        enc = net.degradation_removal(x, return_rgb=False)
    k = condition_resolutions(enc.conditions).index(r)
    alpha, beta = enc.conditions[2 * k], enc.conditions[2 * k + 1]
    _, f = run(net, x, {r: s}, r)
    c = f["gan"].shape[1] - alpha.shape[1]  # 0 for plain SFT, C/2 for CS-SFT
    gan_t = f["gan"][:, c:]
    expected = gan_t + s * (alpha * gan_t + beta - gan_t)  # F + s (α ⊙ F + β − F)
    assert torch.allclose(f["out"][:, c:], expected, atol=1e-5)


def test_switching_one_layer_leaves_the_lower_resolutions_alone(net):
    x = x_in()
    full8, off8 = run(net, x, 1.0, 8)[1], run(net, x, {16: 0.0}, 8)[1]
    assert torch.equal(full8["gan"], off8["gan"]) and torch.equal(full8["out"], off8["out"])
    full16, off16 = run(net, x, 1.0, 16)[1], run(net, x, {16: 0.0}, 16)[1]
    assert torch.equal(full16["gan"], off16["gan"])  # before the switched SFT: unchanged
    assert torch.equal(off16["out"], off16["gan"])  # switched off: the identity transform
    assert not torch.allclose(full16["out"], off16["out"])
    full32, off32 = run(net, x, 1.0, 32)[1], run(net, x, {16: 0.0}, 32)[1]
    assert not torch.allclose(full32["gan"], off32["gan"])  # ... and everything above it moves


@pytest.mark.parametrize("kind", ["clean", "v1"])
def test_the_pass_through_half_is_the_prior_s_own_features(kind):
    net, x, r = toy(kind), x_in(), 16
    others_off = {8: 0.0, 32: 0.0}
    _, prior = run(net, x, 0.0, r)
    for s in (1.0, 3.0):
        _, f = run(net, x, {**others_off, r: s}, r)
        half = f["gan"].shape[1] // 2
        assert torch.equal(f["out"][:, :half], f["gan"][:, :half])  # untouched by α, β
        assert torch.equal(f["out"][:, :half], prior["gan"][:, :half])  # = what the prior alone computes there
        assert not torch.allclose(f["out"][:, half:], prior["gan"][:, half:])


def test_capture_removes_its_hooks():
    net = toy("clean")
    with capture_sft_features(net.stylegan_decoder, 8):
        pass
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in net.stylegan_decoder.style_convs)


def test_bad_strengths_and_resolutions_are_named():
    net = toy("clean")
    conds = net.degradation_removal(x_in(), return_rgb=False).conditions
    assert condition_resolutions(conds) == [8, 16, 32]
    for bad in (-0.5, math.nan, math.inf, "1", True, None):
        with pytest.raises(ValueError, match="strength"):
            modulate_conditions(conds, bad)
    with pytest.raises(ValueError, match=r"strength at 16×16"):
        modulate_conditions(conds, {16: -1.0})
    with pytest.raises(ValueError, match=r"resolution 64.*\[8, 16, 32\]"):
        modulate_conditions(conds, {64: 0.5})
    with pytest.raises(ValueError, match="pairs"):
        modulate_conditions(conds[:3], 1.0)
    with pytest.raises(ValueError, match=r"resolution 12.*\[8, 16, 32\]"):
        with capture_sft_features(net.stylegan_decoder, 12):
            pass
    with pytest.raises(TypeError, match="StyleGAN2 decoder"):
        with capture_sft_features(net, 8):
            pass


# -------------------------------------------------------------------------------- on the trained toy GFPGAN
@pytest.fixture(scope="module")
def trained():
    from gfplib.pretrain import load_gfpgan, load_toy_arcface, load_toy_vgg
    from gfplib.train import TrainConfig, build_datasets

    _, val = build_datasets(TrainConfig.toy())
    items = [val[i] for i in range(4)]
    x, y = torch.stack([s["lq"] for s in items]), torch.stack([s["gt"] for s in items])
    return load_gfpgan("toy-gfpgan-32"), x, y, load_toy_arcface(), load_toy_vgg()


def test_strength_curve_at_one_is_evaluate_restoration_of_the_forward(trained):
    from gfplib.train import evaluate_restoration

    net, x, y, id_net, vgg = trained
    curve = strength_curve(net, x, y, [0.0, 1.0], id_net, vgg, seed=4)
    with torch.no_grad():
        y_hat = net(x, return_rgb=False, generator=gen(4)).image.clamp(-1, 1)
    ref = evaluate_restoration(y_hat, y, id_net, vgg)
    for key in ("psnr", "id_cos", "fd_vgg"):
        assert curve[key][1] == pytest.approx(ref[key], rel=1e-5, abs=1e-6), key
    # acceptance margins, not recorded numbers: the trained modulation is what carries the likeness
    assert curve["psnr"][1] > curve["psnr"][0] + 1 and curve["id_cos"][1] > curve["id_cos"][0] + 0.1
    with pytest.raises(ValueError, match="N ≥ 2"):
        strength_curve(net, x[:1], y[:1], [1.0], id_net, vgg)


def _pixels(fig) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba()).copy()


def test_cs_sft_widget_static_draws_the_default(trained, monkeypatch, capsys):
    monkeypatch.setenv("GFPLIB_STATIC_WIDGETS", "1")
    net, x, y, *_ = trained
    widgets.cs_sft_widget(net, x[:2], y[:2], resolution=8)
    out = capsys.readouterr().out
    assert "strength, resolution, half, on_8, on_16, on_32, s_8, s_16, s_32, face" in out
    title = plt.gcf().subfigs[1]._suptitle.get_text()
    assert "modulated half" in title and "8×8" in title and "of 32" in title
    with pytest.raises(ValueError, match="resolution 64"):
        widgets.cs_sft_widget(net, x[:2], y[:2], resolution=64)
    with pytest.raises(ValueError, match="half"):
        widgets.cs_sft_widget(net, x[:2], y[:2], half="left")


CHANGES = {"strength": 0.5, "resolution": 32, "half": "pass-through", "face": 1,
           **{f"on_{r}": False for r in (8, 16, 32)}, **{f"s_{r}": 0.5 for r in (8, 16, 32)}}


def test_every_control_of_the_widget_changes_what_is_drawn(trained, monkeypatch):
    from gfplib import viz

    net, x, y, *_ = trained
    drawn = []
    monkeypatch.setattr(viz, "plot_cs_sft", lambda images, gan, out, **kw: drawn.append((images, gan, out, kw)))
    fn, controls = widgets.cs_sft_controls(net, x[:2], y[:2])
    default = {k: c.value for k, c in controls.items()}
    assert default["resolution"] == 16 and default["half"] == "modulated" and set(CHANGES) == set(controls)
    fn(**default)
    images, gan, out, kw = drawn[-1]
    assert kw["strengths"] == {8: 1.0, 16: 1.0, 32: 1.0} and kw["resolution"] == 16
    assert np.array_equal(images["ŷ, this setting"], images["ŷ, trained (s = 1)"])
    assert gan.shape == out.shape == (32, 16, 16) and not np.allclose(gan, out)  # the modulated half
    for name, value in CHANGES.items():
        fn(**{**default, name: value})
        new = drawn[-1]
        moved = [not np.array_equal(new[0][k], images[k]) for k in images] + [
            new[1].shape != gan.shape or not np.array_equal(new[1], gan), new[2].shape != out.shape
            or not np.array_equal(new[2], out), new[3] != kw]
        assert any(moved), name
        if name.startswith(("on_", "s_")) or name == "strength":  # the restored face itself changes
            assert np.abs(new[0]["ŷ, this setting"] - images["ŷ, this setting"]).max() > 1e-3, name
    fn(**{**default, "half": "pass-through"})
    assert np.array_equal(drawn[-1][1], drawn[-1][2])  # the pass-through half is drawn unchanged


@pytest.mark.slow
def test_every_control_of_the_widget_changes_the_figure_pixels(trained):
    net, x, y, *_ = trained
    fn, controls = widgets.cs_sft_controls(net, x[:2], y[:2])
    default = {k: c.value for k, c in controls.items()}
    base = _pixels(fn(**default))
    for name, value in CHANGES.items():
        assert not np.array_equal(_pixels(fn(**{**default, name: value})), base), name
        plt.close("all")
