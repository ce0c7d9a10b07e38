"""gfplib.losses: GFPGAN's objective (Eqs. 5–9) against closed forms, invariants and gradient-flow rules."""
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from gfplib import losses as L
from gfplib.archs import FacialComponentDiscriminator, StyleGAN2Discriminator
from gfplib.archs.discriminators import ComponentDiscOutput


def softplus_ref(values):
    """log(1 + e^v) for a list of Python floats (closed form, no torch)."""
    return [math.log1p(math.exp(v)) for v in values]


def mean(values):
    return sum(values) / len(values)


@pytest.fixture(scope="module")
def toy_batch():
    """Two 32² toy faces with their component boxes (from the paired data set)."""
    from gfplib.data.datasets import ToyFaceConfig, ToyFaceDataset

    ds = ToyFaceDataset(ToyFaceConfig(size=32), length=4, seed=3)
    items = [ds[i] for i in range(2)]
    gt = torch.stack([it["gt"] for it in items])
    lq = torch.stack([it["lq"] for it in items])
    boxes = {n: torch.stack([it[f"loc_{n}"] for it in items]) for n in L.COMPONENTS}
    return gt, lq, boxes


@pytest.fixture(scope="module")
def toy_nets():
    from gfplib.pretrain import load_feature_net, load_identity_net

    torch.manual_seed(0)
    return dict(vgg=load_feature_net("toy-vgg"), identity_net=load_identity_net("toy-arcface"),
                net_d=StyleGAN2Discriminator(32, channel_multiplier=2, narrow=1 / 32),
                comp_ds={n: FacialComponentDiscriminator() for n in L.COMPONENTS})


# ------------------------------------------------------------------------------------------------ Gram matrix
def test_gram_matrix_is_normalised_outer_product():
    feat = torch.randn(2, 5, 3, 4, dtype=torch.float64)
    expected = torch.einsum("bchw,bdhw->bcd", feat, feat) / (5 * 3 * 4)
    torch.testing.assert_close(L.gram_matrix(feat), expected, rtol=1e-12, atol=0)
    ones = torch.ones(1, 4, 6, 6)
    torch.testing.assert_close(L.gram_matrix(ones), torch.full((1, 4, 4), 1 / 4))  # h·w / (c·h·w) = 1/c
    with pytest.raises(ValueError, match="shape"):
        L.gram_matrix(torch.ones(4, 6, 6))


def test_gram_matrix_ignores_layout_exactly():
    gen = torch.Generator().manual_seed(0)
    feat = torch.randint(-8, 9, (2, 6, 5, 7), generator=gen).float()  # small integers: every sum is exact
    perm = torch.randperm(35, generator=gen)
    shuffled = feat.flatten(2)[:, :, perm].reshape(feat.shape)
    assert not torch.equal(shuffled, feat)
    assert torch.equal(L.gram_matrix(shuffled), L.gram_matrix(feat))
    # … but not under a change of content: swap the values of two channels at a single position
    changed = feat.clone()
    changed[:, 0, 0, 0], changed[:, 1, 0, 0] = feat[:, 1, 0, 0] + 3, feat[:, 0, 0, 0]
    assert not torch.equal(L.gram_matrix(changed), L.gram_matrix(feat))


# --------------------------------------------------------------------------------------------- reconstruction
def test_pyramid_targets_are_repeated_2x2_averages():
    gt = torch.randn(2, 3, 32, 32)
    targets = L.pyramid_targets(gt, 3)
    assert [t.shape[-1] for t in targets] == [8, 16, 32] and targets[-1] is gt
    # bilinear ×½ with align_corners=False samples at 2i + ½: exactly the mean of each 2×2 block
    torch.testing.assert_close(targets[1], F.avg_pool2d(gt, 2))
    torch.testing.assert_close(targets[0], F.avg_pool2d(F.avg_pool2d(gt, 2), 2))
    with pytest.raises(ValueError, match="pyramid levels"):
        L.pyramid_targets(gt, 7)


def test_pyramid_loss_sums_l1_over_levels():
    gt = torch.randn(2, 3, 16, 16)
    exact = L.pyramid_targets(gt, 3)
    assert L.pyramid_loss(exact, gt).item() == 0
    off = [t + 0.25 for t in exact]  # every level off by 0.25 in every pixel
    torch.testing.assert_close(L.pyramid_loss(off, gt), torch.tensor(0.75))
    with pytest.raises(ValueError, match="same shape"):
        L.pyramid_loss([exact[0], exact[0], exact[2]], gt)


def test_pyramid_schedule():
    cfg = L.LossConfig()
    assert cfg.pyramid_weight(1) == 1.0 and cfg.pyramid_weight(50_000) == 1.0
    assert cfg.pyramid_weight(50_001) == 1e-12  # official: tiny, not 0, once current_iter > 50k
    assert L.LossConfig(pyramid=0.0).pyramid_weight(10**6) == 0.0


def test_perceptual_and_style_zero_for_identical_and_growing(toy_batch, toy_nets):
    gt, _, _ = toy_batch
    vgg = toy_nets["vgg"]
    p0, s0 = L.perceptual_style_loss(vgg, gt, gt)
    assert p0.item() == 0 and s0.item() == 0
    noise = torch.randn(gt.shape, generator=torch.Generator().manual_seed(1))
    vals = [L.perceptual_style_loss(vgg, gt + a * noise, gt) for a in (0.05, 0.2, 0.5)]
    for term in (0, 1):
        seq = [v[term].item() for v in vals]
        assert 0 < seq[0] < seq[1] < seq[2], seq


def test_perceptual_and_style_follow_their_formulas(toy_batch, toy_nets):
    from gfplib.perceptual import PERCEPTUAL_LAYER_WEIGHTS

    gt, lq, _ = toy_batch
    vgg = toy_nets["vgg"]
    fx, fy = vgg(lq), vgg(gt)
    percep = sum(w * (fx[k] - fy[k]).abs().mean() for k, w in PERCEPTUAL_LAYER_WEIGHTS.items())
    style = 0
    for k, w in PERCEPTUAL_LAYER_WEIGHTS.items():
        b, c, h, wd = fx[k].shape
        gx = torch.einsum("bchw,bdhw->bcd", fx[k], fx[k]) / (c * h * wd)
        gy = torch.einsum("bchw,bdhw->bcd", fy[k], fy[k]) / (c * h * wd)
        style = style + w * (gx - gy).abs().mean()
    p, s = L.perceptual_style_loss(vgg, lq, gt)
    torch.testing.assert_close(p, percep)
    torch.testing.assert_close(s, style)
    only = L.perceptual_style_loss(vgg, lq, gt, {"conv3_4": 2.0}, style=False)
    torch.testing.assert_close(only[0], 2 * (fx["conv3_4"] - fy["conv3_4"]).abs().mean())
    assert only[1] is None


def test_perceptual_target_detached_and_net_must_be_frozen(toy_batch, toy_nets):
    gt, lq, _ = toy_batch
    pred, target = lq.clone().requires_grad_(True), gt.clone().requires_grad_(True)
    p, s = L.perceptual_style_loss(toy_nets["vgg"], pred, target)
    (p + s).backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert target.grad is None
    from gfplib.perceptual import VGGConfig, VGGFeatureExtractor

    trainable = VGGFeatureExtractor(("conv1_2",), VGGConfig.toy(), requires_grad=True)
    with pytest.raises(ValueError, match="frozen"):
        L.perceptual_style_loss(trainable, lq, gt, {"conv1_2": 1.0})


# ------------------------------------------------------------------------------------------------ adversarial
LOGITS_REAL = [2.0, -1.0, 0.25]
LOGITS_FAKE = [0.5, -3.0, 1.5]


def test_gan_losses_match_closed_forms():
    real, fake = torch.tensor(LOGITS_REAL), torch.tensor(LOGITS_FAKE)
    g = mean(softplus_ref([-v for v in LOGITS_FAKE]))  # −log σ(D(ŷ)) = log(1 + e^{−D})
    d = mean(softplus_ref([-v for v in LOGITS_REAL])) + mean(softplus_ref(LOGITS_FAKE))
    torch.testing.assert_close(L.g_nonsaturating_loss(fake), torch.tensor(g))
    torch.testing.assert_close(L.d_logistic_loss(real, fake), torch.tensor(d))
    torch.testing.assert_close(L.bce_real_loss(fake), torch.tensor(g))  # BCE(t, 1) = −log σ(t)
    # G prefers a discriminator that believes its images: the loss falls as D(ŷ) rises
    seq = [L.g_nonsaturating_loss(torch.tensor([v])).item() for v in (-2.0, 0.0, 2.0)]
    assert seq[0] > seq[1] > seq[2]


class TinyD(nn.Module):
    """A smooth discriminator small enough for finite differences: logits (B, 1)."""

    def __init__(self, size=3):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3, padding=1)
        self.lin = nn.Linear(2 * size * size, 1)

    def forward(self, x):
        return self.lin(torch.tanh(self.conv(x)).flatten(1))


def finite_difference_r1(net, x, h=1e-6):
    """mean_b ‖∇ₓ D(x_b)‖² by central differences (float64)."""
    total = 0.0
    for b in range(x.shape[0]):
        xb = x[b:b + 1].clone()
        sq = 0.0
        for i in range(xb.numel()):
            e = torch.zeros_like(xb).view(-1)
            e[i] = h
            e = e.view_as(xb)
            with torch.no_grad():
                d = (net(xb + e) - net(xb - e)).item() / (2 * h)
            sq += d * d
        total += sq
    return total / x.shape[0]


def test_r1_penalty_matches_finite_differences_and_lazy_scaling():
    torch.manual_seed(0)
    net = TinyD().double()
    x = torch.randn(2, 3, 3, 3, dtype=torch.float64)
    fd = finite_difference_r1(net, x)
    xg = x.clone().requires_grad_(True)
    torch.testing.assert_close(L.r1_penalty(net(xg), xg).item(), fd, rtol=1e-7, atol=0)
    cfg = L.LossConfig(r1=3.0, r1_interval=4)
    fake = torch.randn(2, 3, 3, 3, dtype=torch.float64)
    on = L.discriminator_loss(cfg, net_d=net, fake=fake, real=x, iteration=8)
    torch.testing.assert_close(on["l_r1"].item(), 3.0 / 2 * fd * 4, rtol=1e-7, atol=0)  # γ/2 · ‖∇D‖² · k
    torch.testing.assert_close(on["total"], on["l_d"] + on["l_r1"])
    off = L.discriminator_loss(cfg, net_d=net, fake=fake, real=x, iteration=7)
    assert "l_r1" not in off and torch.equal(off["total"], off["l_d"])
    assert "l_r1" not in L.discriminator_loss(L.LossConfig(r1=0.0), net_d=net, fake=fake, real=x, iteration=16)


class MeanD(nn.Module):
    """A parameter-free 'discriminator' whose logit is the mean pixel value of each image."""

    def forward(self, x):
        return x.mean((1, 2, 3)).unsqueeze(1)


def test_discriminator_loss_values_and_scores():
    real = torch.tensor(LOGITS_REAL).view(3, 1, 1, 1).expand(3, 3, 4, 4)
    fake = torch.tensor(LOGITS_FAKE).view(3, 1, 1, 1).expand(3, 3, 4, 4)
    out = L.discriminator_loss(L.LossConfig(r1=0.0), net_d=MeanD(), fake=fake, real=real, iteration=1)
    d = mean(softplus_ref([-v for v in LOGITS_REAL])) + mean(softplus_ref(LOGITS_FAKE))
    torch.testing.assert_close(out["l_d"], torch.tensor(d))
    torch.testing.assert_close(out["real_score"], torch.tensor(mean(LOGITS_REAL)))
    torch.testing.assert_close(out["fake_score"], torch.tensor(mean(LOGITS_FAKE)))


# ----------------------------------------------------------------------------------------- facial components
def test_component_crops_follow_roi_align_geometry():
    # On a linear image f(x, y) = a·x + b·y + c, each bilinear sample is exact and each bin's average is the value at
    # the bin centre; roi_align with aligned=False puts bin j of box (x1, x2) at x1 + (j + ½)(x2 − x1)/s.
    h = w = 32
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64),
                            indexing="ij")
    img = torch.stack([0.5 * xs + 0.25 * ys + 1, -xs, ys]).unsqueeze(0).repeat(2, 1, 1, 1)  # (2, 3, 32, 32)
    boxes = {"left_eye": torch.tensor([[9.3, 11.4, 15.4, 17.5], [4.0, 5.0, 10.0, 8.0]], dtype=torch.float64),
             "mouth": torch.tensor([[12.3, 19.0, 19.5, 26.1], [1.5, 2.5, 29.5, 20.5]], dtype=torch.float64)}
    sizes = {"left_eye": 6, "mouth": 8}
    crops = L.component_crops(img, boxes, sizes)
    for name, s in sizes.items():
        assert crops[name].shape == (2, 3, s, s)
        for b in range(2):
            x1, y1, x2, y2 = boxes[name][b].tolist()
            cx = x1 + (torch.arange(s, dtype=torch.float64) + 0.5) * (x2 - x1) / s
            cy = y1 + (torch.arange(s, dtype=torch.float64) + 0.5) * (y2 - y1) / s
            gy, gx = torch.meshgrid(cy, cx, indexing="ij")
            expected = torch.stack([0.5 * gx + 0.25 * gy + 1, -gx, gy])
            torch.testing.assert_close(crops[name][b], expected, rtol=1e-9, atol=1e-9)
    with pytest.raises(KeyError, match="right_eye"):
        L.component_crops(img, boxes, {"right_eye": 8})
    with pytest.raises(ValueError, match=r"\(2, 4\)"):
        L.component_crops(img, {"mouth": boxes["mouth"][:1]}, {"mouth": 8})


def test_component_crops_land_on_toy_face_components(toy_batch):
    gt, _, boxes = toy_batch
    sizes = L.LossConfig.toy().component_sizes()
    colour = torch.tensor([0.9, -0.7, 0.3]).view(3, 1, 1)
    for part in L.COMPONENTS:
        painted = gt.clone()
        for b in range(gt.shape[0]):  # paint every pixel the box's samples can reach (floor(x1) … ceil(x2))
            x1, y1, x2, y2 = boxes[part][b].tolist()
            painted[b, :, math.floor(y1):math.ceil(y2) + 1, math.floor(x1):math.ceil(x2) + 1] = colour
        crops = L.component_crops(painted, boxes, sizes)
        torch.testing.assert_close(crops[part], colour.expand_as(crops[part]).expand(gt.shape[0], -1, -1, -1))
        for other in L.COMPONENTS:
            if other != part:  # the other components' crops are (mostly) not the painted colour
                off = (crops[other] - colour).abs().amax(1) > 1e-3
                assert off.float().mean() > 0.5, (part, other)


class StubComponentD(nn.Module):
    """Logits = the crop's pixels (mean over channels); features = the crop and its 2× pooled version."""

    def forward(self, x, return_feats=False):
        feats = [x, F.avg_pool2d(x, 2)] if return_feats else None
        return ComponentDiscOutput(x.mean(1, keepdim=True), feats)


def test_component_discriminator_loss_official_asymmetry():
    cfg = L.LossConfig.toy()
    real = torch.full((2, 3, 32, 32), 0.5)
    fake = torch.full((2, 3, 32, 32), -0.3)
    boxes = {n: torch.tensor([[4.0, 4.0, 12.0, 12.0], [8.0, 6.0, 20.0, 18.0]]) for n in L.COMPONENTS}
    comp_ds = {n: StubComponentD() for n in L.COMPONENTS}
    out = L.component_discriminator_loss(cfg, comp_ds=comp_ds, fake=fake, real=real, boxes=boxes)
    per = softplus_ref([-0.5])[0] + softplus_ref([-0.3])[0]  # BCE(0.5, 1) + softplus(−0.3)
    for n in L.COMPONENTS:
        torch.testing.assert_close(out[f"l_d_{n}"], torch.tensor(per))
    torch.testing.assert_close(out["total"], torch.tensor(3 * per))
    # generator side: vanilla loss with target real on the fake crops, weight comp_gan
    g = L.generator_loss(L.LossConfig.toy(), image=fake, out_rgbs=None, gt=real, boxes=boxes, iteration=1,
                         comp_ds=comp_ds)
    torch.testing.assert_close(g["l_comp_gan"], torch.tensor(3 * softplus_ref([0.3])[0]))


def test_component_discriminator_asymmetry_equals_logistic_loss(toy_batch, toy_nets):
    gt, lq, boxes = toy_batch
    cfg = L.LossConfig.toy()
    comp_ds = toy_nets["comp_ds"]
    out = L.component_discriminator_loss(cfg, comp_ds=comp_ds, fake=lq, real=gt, boxes=boxes)
    fake_c = L.component_crops(lq, boxes, cfg.component_sizes())
    real_c = L.component_crops(gt, boxes, cfg.component_sizes())
    for n in L.COMPONENTS:
        with torch.no_grad():
            r, f = comp_ds[n](real_c[n]).out.double(), comp_ds[n](fake_c[n]).out.double()
        expected = torch.log1p(torch.exp(-r)).mean() + torch.log1p(torch.exp(f)).mean()
        torch.testing.assert_close(out[f"l_d_{n}"].double(), expected, rtol=1e-5, atol=1e-6)


def test_component_style_loss_weights_and_detach():
    gen = torch.Generator().manual_seed(0)
    f1, f2 = torch.randn(2, 4, 6, 6, generator=gen), torch.randn(2, 5, 3, 3, generator=gen)
    r1, r2 = torch.randn(2, 4, 6, 6, generator=gen), torch.randn(2, 5, 3, 3, generator=gen)
    assert L.component_style_loss([f1, f2], [f1, f2]).item() == 0

    def gram(t):
        return torch.einsum("bchw,bdhw->bcd", t, t) / t[0].numel()

    expected = 0.5 * (gram(f1) - gram(r1)).abs().mean() + (gram(f2) - gram(r2)).abs().mean()
    r1g, r2g = r1.clone().requires_grad_(True), r2.clone().requires_grad_(True)
    f1g = f1.clone().requires_grad_(True)
    loss = L.component_style_loss([f1g, f2], [r1g, r2g])
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert f1g.grad is not None and r1g.grad is None and r2g.grad is None
    # growing with a perturbation of the fake features
    seq = [L.component_style_loss([r1 + a * f1, r2 + a * f2], [r1, r2]).item() for a in (0.1, 0.5, 1.0)]
    assert 0 < seq[0] < seq[1] < seq[2]


# ----------------------------------------------------------------------------------------------------- identity
def test_rgb_to_gray_official_coefficients():
    x = torch.zeros(1, 3, 2, 2)
    x[:, 0], x[:, 1], x[:, 2] = 1.0, -1.0, 0.5
    torch.testing.assert_close(L.rgb_to_gray(x), torch.full((1, 1, 2, 2), 0.2989 - 0.5870 + 0.1140 * 0.5))


def frozen_linear_id_net(size, dim=4):
    torch.manual_seed(1)
    return nn.Sequential(nn.Flatten(), nn.Linear(size * size, dim)).eval().requires_grad_(False)


def test_identity_loss_formula_and_gradients(toy_batch):
    gt, lq, _ = toy_batch
    net = frozen_linear_id_net(16)

    def embed(x):
        g = 0.2989 * x[:, :1] + 0.5870 * x[:, 1:2] + 0.1140 * x[:, 2:]
        return net(F.interpolate(g, size=(16, 16), mode="bilinear", align_corners=False))

    pred, target = lq.clone().requires_grad_(True), gt.clone().requires_grad_(True)
    loss = L.identity_loss(net, pred, target, 16)
    torch.testing.assert_close(loss, (embed(lq) - embed(gt)).abs().mean())
    loss.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert target.grad is None  # η(y) carries no gradient
    assert all(p.grad is None for p in net.parameters())
    with pytest.raises(ValueError, match="frozen"):
        L.identity_loss(net.train(), lq, gt, 16)


def test_identity_loss_zero_for_identical_and_growing(toy_batch, toy_nets):
    gt, _, _ = toy_batch
    net = toy_nets["identity_net"]
    buffers = {k: v.clone() for k, v in net.state_dict().items()}
    assert L.identity_loss(net, gt, gt, 32).item() == 0
    noise = torch.randn(gt.shape, generator=torch.Generator().manual_seed(2))
    seq = [L.identity_loss(net, gt + a * noise, gt, 32).item() for a in (0.05, 0.2, 0.6)]
    assert 0 < seq[0] < seq[1] < seq[2], seq
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in buffers.items())  # BN statistics untouched


# -------------------------------------------------------------------------------------------------- total
def test_loss_config_presets_and_validation():
    cfg = L.LossConfig()
    assert (cfg.pixel, cfg.pyramid, cfg.perceptual, cfg.style, cfg.gan, cfg.r1, cfg.r1_interval) == \
        (0.1, 1.0, 1.0, 50.0, 0.1, 10.0, 16)
    assert (cfg.comp_gan, cfg.comp_style, cfg.identity, cfg.identity_size) == (1.0, 200.0, 10.0, 128)
    assert cfg.component_sizes() == {"left_eye": 80, "right_eye": 80, "mouth": 120}
    toy = L.LossConfig.toy()
    assert toy.component_sizes() == {"left_eye": 16, "right_eye": 16, "mouth": 24} and toy.identity_size == 32
    simple = cfg.simple()
    assert (simple.comp_gan, simple.comp_style, simple.identity) == (0, 0, 0) and simple.style == 50.0
    with pytest.raises(ValueError, match="style"):
        L.LossConfig(style=-1.0)
    with pytest.raises(ValueError, match="8x8"):
        L.LossConfig(eye_size=5)
    with pytest.raises(ValueError, match="r1_interval"):
        L.LossConfig(r1_interval=0)
    with pytest.raises(TypeError, match="eye_size must be an integer"):
        L.LossConfig(eye_size=16.0)
    with pytest.raises(TypeError, match="gan must be a number"):
        L.LossConfig(gan=float("nan"))


def test_component_names_match_the_data_sets():
    from gfplib.data import datasets

    assert L.COMPONENTS == datasets.COMPONENTS  # batch keys loc_left_eye, loc_right_eye, loc_mouth


def test_generator_loss_whole_objective_on_toy_batch(toy_batch, toy_nets):
    gt, lq, boxes = toy_batch
    cfg = L.LossConfig.toy()
    image = lq.clone().requires_grad_(True)
    out_rgbs = [F.avg_pool2d(image, 4), F.avg_pool2d(image, 2), image]
    gt_in = gt.clone().requires_grad_(True)
    kw = dict(image=image, out_rgbs=out_rgbs, gt=gt_in, boxes=boxes, **toy_nets)
    terms = L.generator_loss_terms(cfg, **kw)
    out = L.generator_loss(cfg, iteration=1, **kw)
    keys = ["l_pix", "l_pyramid", "l_percep", "l_style", "l_gan", "l_comp_gan", "l_comp_style", "l_id"]
    assert sorted(terms) == sorted(keys) and sorted(out) == sorted(keys + ["total"])
    weights = dict(l_pix=0.1, l_pyramid=1.0, l_percep=1.0, l_style=50.0, l_gan=0.1, l_comp_gan=1.0,
                   l_comp_style=200.0, l_id=10.0)
    for k in keys:
        assert torch.isfinite(out[k]) and out[k].item() > 0, k
        torch.testing.assert_close(out[k], weights[k] * terms[k])
    torch.testing.assert_close(out["total"], sum(out[k] for k in keys))
    torch.testing.assert_close(out["l_pix"], 0.1 * (lq - gt).abs().mean())
    late = L.generator_loss(cfg, iteration=50_001, **kw)
    torch.testing.assert_close(late["l_pyramid"], 1e-12 * terms["l_pyramid"])
    # gradients: the restoration gets them; GT, the frozen nets and the discriminators do not
    requires = {n: [p.requires_grad for p in toy_nets["comp_ds"][n].parameters()] for n in L.COMPONENTS}
    out["total"].backward()
    assert image.grad is not None and image.grad.abs().sum() > 0
    assert gt_in.grad is None
    for net in [toy_nets["net_d"], toy_nets["vgg"], toy_nets["identity_net"], *toy_nets["comp_ds"].values()]:
        assert all(p.grad is None for p in net.parameters())
    for n in L.COMPONENTS:  # the caller's requires_grad flags are restored
        assert [p.requires_grad for p in toy_nets["comp_ds"][n].parameters()] == requires[n]


def test_generator_loss_identical_images_leave_only_adversarial_terms(toy_batch, toy_nets):
    gt, _, boxes = toy_batch
    out_rgbs = L.pyramid_targets(gt, 3)
    out = L.generator_loss(L.LossConfig.toy(), image=gt, out_rgbs=out_rgbs, gt=gt, boxes=boxes, iteration=1,
                           **toy_nets)
    for k in ("l_pix", "l_pyramid", "l_percep", "l_style", "l_comp_style", "l_id"):
        assert out[k].item() == 0, k
    assert out["l_gan"].item() > 0 and out["l_comp_gan"].item() > 0


@pytest.mark.slow  # ≈ 10 s on a busy CPU: building ResNet-18 ArcFace and VGG19 dominates
def test_paper_scale_networks_plug_in():
    """The official architectures (random weights, no download) through the same calls, at the official sizes."""
    from gfplib.archs import ResNetArcFace
    from gfplib.perceptual import VGGFeatureExtractor

    torch.manual_seed(0)
    arcface = ResNetArcFace(block="IRBlock", layers=(2, 2, 2, 2), use_se=False).eval().requires_grad_(False)
    vgg = VGGFeatureExtractor()  # ImageNet VGG19 layout, frozen
    gt = torch.rand(1, 3, 32, 32) * 2 - 1
    image = (gt + 0.1 * torch.randn(1, 3, 32, 32)).requires_grad_(True)
    out = L.generator_loss(L.LossConfig(), image=image, out_rgbs=None, gt=gt, iteration=1, vgg=vgg,
                           identity_net=arcface)  # identity input resized to 128², as officially
    assert sorted(out) == ["l_id", "l_percep", "l_pix", "l_style", "total"]
    out["total"].backward()
    assert image.grad.abs().sum() > 0


class CountingNet(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net, self.calls = net, 0

    def forward(self, *args, **kwargs):
        self.calls += 1
        return self.net(*args, **kwargs)


def test_zero_weight_terms_are_not_computed(toy_batch, toy_nets):
    gt, lq, boxes = toy_batch
    counted = {k: CountingNet(toy_nets[k]).eval() for k in ("vgg", "identity_net", "net_d")}
    comp_ds = {n: CountingNet(toy_nets["comp_ds"][n]) for n in L.COMPONENTS}
    cfg = replace(L.LossConfig.toy().simple(), perceptual=0.0, style=0.0, gan=0.0, pyramid=0.0)
    out = L.generator_loss(cfg, image=lq, out_rgbs=[lq], gt=gt, boxes=boxes, iteration=1, comp_ds=comp_ds,
                           **counted)
    assert sorted(out) == ["l_pix", "total"]
    assert all(c.calls == 0 for c in [*counted.values(), *comp_ds.values()])
    simple = L.generator_loss(L.LossConfig.toy().simple(), image=lq, out_rgbs=None, gt=gt, boxes=None,
                              iteration=1, comp_ds=comp_ds, **counted)
    assert sorted(simple) == ["l_gan", "l_percep", "l_pix", "l_style", "total"]
    assert counted["identity_net"].calls == 0 and all(c.calls == 0 for c in comp_ds.values())


def test_discriminator_losses_do_not_reach_the_generator(toy_batch, toy_nets):
    gt, lq, boxes = toy_batch
    cfg = L.LossConfig.toy()
    gen = nn.Conv2d(3, 3, 1)
    fake = gen(lq)
    d = L.discriminator_loss(cfg, net_d=toy_nets["net_d"], fake=fake, real=gt, iteration=16)
    c = L.component_discriminator_loss(cfg, comp_ds=toy_nets["comp_ds"], fake=fake, real=gt, boxes=boxes)
    (d["total"] + c["total"]).backward()
    assert gen.weight.grad is None and gen.bias.grad is None
    for net in [toy_nets["net_d"], *toy_nets["comp_ds"].values()]:
        assert all(p.grad is not None for p in net.parameters())
        net.zero_grad(set_to_none=True)


# ------------------------------------------------------------------- agreement with the official basicsr / GFPGAN
# tests/data/golden/losses.pt holds inputs and outputs of the official loss code (basicsr 1.4.2, gfpgan 1.3.8),
# recorded in float64 by tests/data/golden/make_golden.py; here the same inputs go through gfplib.losses in float64.
GOLDEN = Path(__file__).parent / "data" / "golden" / "losses.pt"


@pytest.fixture(scope="module")
def golden():
    if not GOLDEN.exists():
        pytest.skip(f"{GOLDEN} not recorded")
    return torch.load(GOLDEN, weights_only=True)


def close64(ours, official):
    """Float64 against float64: agreement to ~1e-12 relative (only the summation order may differ)."""
    torch.testing.assert_close(ours.double(), official.double(), rtol=1e-10, atol=1e-12)


def test_golden_pixel_loss(golden):
    entry = golden["l1"]
    pred, target = entry["pred"].double(), entry["target"].double()
    case = next(c for c in entry["cases"] if c["loss_weight"] == 0.1 and c["reduction"] == "mean")
    cfg = replace(L.LossConfig(), pyramid=0.0)  # pixel weight 0.1; no networks, so only l_pix is computed
    out = L.generator_loss(cfg, image=pred, out_rgbs=None, gt=target, iteration=1)
    assert sorted(out) == ["l_pix", "total"]
    close64(out["l_pix"], case["value"])


def test_golden_gram(golden):  # (the VGG features and the pyramid targets are checked in tests/test_golden.py)
    g = golden["gram"]
    torch.testing.assert_close(L.gram_matrix(g["x"].double()).float(), g["gram"], rtol=1e-6, atol=1e-7)


def test_golden_perceptual_and_style(golden):
    from gfplib.perceptual import build_vgg19_imagenet

    e = golden["perceptual"]
    layers = tuple(e["layer_weights"])
    vgg = build_vgg19_imagenet(layers, state_dict=e["vgg19_state_dict"]).double()
    percep, style = L.perceptual_style_loss(vgg, e["x"].double(), e["gt"].double(), e["layer_weights"])
    close64(e["kwargs"]["perceptual_weight"] * percep, e["percep"])
    close64(e["kwargs"]["style_weight"] * style, e["style"])  # λ_sty = 50, as in train_gfpgan_v1.yml


def test_golden_gan_losses(golden):
    e = golden["gan"]
    cases = {(c["gan_type"], c["loss_weight"], c["target_is_real"], c["is_disc"]): c["value"] for c in e["cases"]}
    logits, patch = e["inputs"]["logits"].double(), e["inputs"]["patch"].double()
    # whole-face D (wgan_softplus): G side × 0.1, D side = real half + fake half
    close64(0.1 * L.g_nonsaturating_loss(logits), cases[("wgan_softplus", 0.1, True, False)])
    close64(L.d_logistic_loss(logits, logits),
            cases[("wgan_softplus", 0.1, True, True)] + cases[("wgan_softplus", 0.1, False, True)])
    out = L.generator_loss(replace(L.LossConfig(), pixel=0.0, pyramid=0.0), image=torch.zeros(4, 3, 8, 8),
                           out_rgbs=None, gt=torch.zeros(4, 3, 8, 8), iteration=1, net_d=ConstantD(logits))
    close64(out["l_gan"], cases[("wgan_softplus", 0.1, True, False)])
    # component D (vanilla): G side BCE(·, 1) × weight; the official D update's fake half is the softplus one
    close64(L.bce_real_loss(patch), cases[("vanilla", 1.0, True, True)])
    close64(0.5 * L.bce_real_loss(patch), cases[("vanilla", 0.5, True, False)])
    close64(F.softplus(patch).mean(), cases[("vanilla", 1.0, False, True)])  # BCE(·, 0) ≡ softplus


class ConstantD(nn.Module):
    """Returns fixed logits whatever the input (for checking the loss wiring)."""

    def __init__(self, logits):
        super().__init__()
        self.logits = logits

    def forward(self, x):
        return self.logits


def test_golden_r1(golden):
    e = golden["r1"]
    net = StyleGAN2Discriminator(**e["disc_kwargs"])
    net.load_state_dict(e["disc_state_dict"], strict=True)
    net = net.double()
    real = e["real_img"].double()
    real_in = real.clone().requires_grad_(True)
    torch.testing.assert_close(net(real).float(), e["real_pred"], rtol=1e-5, atol=1e-6)
    close64(L.r1_penalty(net(real_in), real_in), e["r1"])
    cfg = L.LossConfig(r1=e["r1_reg_weight"], r1_interval=e["net_d_reg_every"])
    out = L.discriminator_loss(cfg, net_d=net, fake=real, real=real, iteration=e["net_d_reg_every"])
    close64(out["l_r1"], e["l_d_r1"].reshape(()))  # 10/2 · penalty · 16


def test_golden_component_style_and_gray(golden):
    e = golden["comp_style"]
    close64(L.component_style_loss([f.double() for f in e["feat"]], [f.double() for f in e["feat_gt"]]), e["value"])
    g = golden["identity_gray"]
    ours = L.identity_input(g["img"].double(), g["size"])
    torch.testing.assert_close(ours.float(), g["gray"], rtol=1e-6, atol=1e-7)
