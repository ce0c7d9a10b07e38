"""Discriminators (StyleGAN2, facial component) and the ArcFace identity network of gfplib.archs."""
import json
import math
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from gfplib.archs import (ArcMarginProduct, FacialComponentDiscriminator, IRBlock, ResNetArcFace,
                          StyleGAN2Discriminator)
from gfplib.archs.ops import ConvLayer, ResDownBlock

SPEC = Path(__file__).parent / "data" / "spec"


def spec_state_dict(name, seed=0):
    spec = json.loads((SPEC / f"{name}.json").read_text())
    gen = torch.Generator().manual_seed(seed)
    sd = {}
    for e in spec["state_dict"]:
        dtype = getattr(torch, e["dtype"])
        if dtype.is_floating_point:
            t = torch.randn(e["shape"], generator=gen)
            sd[e["key"]] = t.abs() + 0.5 if e["key"].endswith("running_var") else t
        else:
            sd[e["key"]] = torch.full(e["shape"], 7, dtype=dtype)
    return spec, sd


def perturb(model, seed=0):
    """Randomise zero/one-initialised biases, BN statistics and PReLU slopes so that every path matters."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            if t.is_floating_point() and ("bias" in name or "running" in name or "prelu" in name or "bn" in name):
                t.copy_(0.1 * torch.randn(t.shape, generator=gen) + (1.0 if "running_var" in name else 0.0))
    return model


@pytest.mark.parametrize("cls,name", [(StyleGAN2Discriminator, "stylegan2_disc_c1"),
                                      (FacialComponentDiscriminator, "facial_component_disc"),
                                      (ResNetArcFace, "arcface_resnet18")])
def test_official_state_dict_loads_strictly(cls, name):
    spec, sd = spec_state_dict(name)
    model = cls(**spec["constructor_kwargs"])
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == {k: tuple(v.shape) for k, v in sd.items()}
    model.load_state_dict(sd, strict=True)
    assert sum(p.numel() for p in model.parameters()) == spec["num_parameters"]
    for key, value in sd.items():
        assert torch.equal(model.state_dict()[key], value), key
    with pytest.raises(RuntimeError, match="Unexpected key"):
        model.load_state_dict({**sd, "extra.weight": torch.zeros(1)}, strict=True)


def test_conv_layer_naming_follows_official_nesting():
    assert [k for k, _ in ConvLayer(3, 4, 3).named_parameters()] == ["0.weight", "1.bias"]
    assert [k for k, _ in ConvLayer(3, 4, 3, downsample=True).named_parameters()] == ["1.weight", "2.bias"]
    assert [k for k, _ in ConvLayer(3, 4, 1, downsample=True, bias=False, activate=False).named_parameters()] == \
        ["1.weight"]
    assert ConvLayer(3, 4, 3, downsample=True)[0].kernel.device.type == "cpu"  # FIR kernel: buffer, not state
    assert "0.kernel" not in ConvLayer(3, 4, 3, downsample=True).state_dict()


# ----------------------------------------------------------------------------------------------- StyleGAN2 D
@pytest.mark.parametrize("out_size,narrow", [(16, 0.0625), (32, 0.125), (64, 0.03125)])
def test_stylegan2_discriminator_small_configs(out_size, narrow):
    torch.manual_seed(0)
    d = perturb(StyleGAN2Discriminator(out_size, narrow=narrow))
    x = torch.rand(4, 3, out_size, out_size) * 2 - 1
    out = d(x)
    assert out.shape == (4, 1) and torch.isfinite(out).all()
    assert len(d.conv_body) == int(math.log2(out_size)) - 1  # fromRGB + one ResDownBlock per halving down to 4×4
    assert all(isinstance(m, ResDownBlock) for m in d.conv_body[1:])
    with pytest.raises(ValueError, match=f"{out_size}x{out_size}"):
        d(torch.zeros(4, 3, out_size * 2, out_size * 2))
    with pytest.raises(ValueError, match="multiple"):
        d(x[:3].repeat(2, 1, 1, 1)[:6])  # 6 samples, group 4


def test_minibatch_stddev_matches_direct_computation():
    d = StyleGAN2Discriminator(16, narrow=0.0625, stddev_group=2)
    torch.manual_seed(0)
    feat = torch.randn(4, 6, 4, 4)
    out = d.minibatch_stddev(feat)
    assert out.shape == (4, 7, 4, 4)
    torch.testing.assert_close(out[:, :6], feat)
    # groups pair samples (0, 2) and (1, 3)
    for members in ((0, 2), (1, 3)):
        g = feat[list(members)]
        sigma = torch.sqrt(g.var(0, unbiased=False) + 1e-8).mean()
        for m in members:
            torch.testing.assert_close(out[m, 6], torch.full((4, 4), float(sigma)))


def test_stylegan2_discriminator_gradients_reach_every_parameter():
    torch.manual_seed(0)
    d = perturb(StyleGAN2Discriminator(16, narrow=0.0625))
    x = (torch.rand(2, 3, 16, 16) * 2 - 1).requires_grad_(True)
    F.softplus(-d(x)).mean().backward()  # non-saturating generator loss
    for name, p in d.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert x.grad.abs().sum() > 0


# ----------------------------------------------------------------------------------------------- component D
def test_facial_component_discriminator_outputs_and_features():
    torch.manual_seed(0)
    d = perturb(FacialComponentDiscriminator())
    x = torch.rand(2, 3, 80, 80) * 2 - 1
    out, feats = d(x)
    assert out.shape == (2, 1, 20, 20) and feats is None
    out2, feats2 = d(x, return_feats=True)
    torch.testing.assert_close(out2, out)
    assert [tuple(f.shape) for f in feats2] == [(2, 128, 40, 40), (2, 256, 20, 20)]
    torch.testing.assert_close(d.conv3(d.conv2(d.conv1(x))), feats2[0])
    torch.testing.assert_close(d.final_conv(feats2[1]), out)
    (out2.mean() + sum(f.mean() for f in feats2)).backward()
    for name, p in d.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        d(torch.zeros(2, 1, 80, 80))


# ----------------------------------------------------------------------------------------------- ArcFace
@pytest.fixture(scope="module")
def arcface():
    torch.manual_seed(0)
    return perturb(ResNetArcFace("IRBlock", (2, 2, 2, 2), use_se=False)).eval()


def test_arcface_embedding_shape_and_eval_batch_independence(arcface):
    x = torch.rand(3, 1, 128, 128) * 2 - 1
    with torch.no_grad():
        emb = arcface(x)
        assert emb.shape == (3, 512) and torch.isfinite(emb).all()
        torch.testing.assert_close(arcface(x[1:2]), emb[1:2], rtol=1e-4, atol=1e-4)  # eval: running BN stats
        torch.testing.assert_close(arcface(x), emb)  # eval: dropout off
    with pytest.raises(ValueError, match=r"\(B, 1, 128, 128\)"):
        arcface(torch.zeros(2, 3, 128, 128))


def test_arcface_train_mode_uses_batch_statistics():
    torch.manual_seed(0)
    net = ResNetArcFace(use_se=True).train()
    assert isinstance(net.layer1[0], IRBlock) and hasattr(net.layer1[0], "se")
    x = torch.rand(4, 1, 128, 128) * 2 - 1
    emb = net(x)
    assert emb.shape == (4, 512)
    bn5_mean = emb.mean(0)  # BatchNorm1d in train mode: per-feature batch mean = its bias (0 at init)
    torch.testing.assert_close(bn5_mean, torch.zeros(512), atol=1e-4, rtol=0)
    assert net.bn1.num_batches_tracked.item() == 1 and net.bn1.running_mean.abs().sum() > 0
    emb.pow(2).mean().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_arcface_rejects_unknown_block():
    with pytest.raises(ValueError, match="unknown block"):
        ResNetArcFace("ResBlock")


def test_arc_margin_logits_follow_the_formula():
    torch.manual_seed(0)
    head = ArcMarginProduct(16, 5, s=30.0, m=0.5)
    emb = torch.randn(6, 16)
    labels = torch.tensor([0, 1, 2, 3, 4, 0])
    cos = F.normalize(emb) @ F.normalize(head.weight).t()
    torch.testing.assert_close(head(emb), 30.0 * cos)
    logits = head(emb, labels)
    theta = torch.acos(cos.clamp(-1, 1))
    for i, y in enumerate(labels.tolist()):
        expected = torch.where(theta[i, y] + 0.5 < math.pi, torch.cos(theta[i, y] + 0.5),
                               cos[i, y] - math.sin(math.pi - 0.5) * 0.5)
        torch.testing.assert_close(logits[i, y], 30.0 * expected, rtol=1e-4, atol=1e-4)
        others = [j for j in range(5) if j != y]
        torch.testing.assert_close(logits[i, others], 30.0 * cos[i, others])
    assert (logits.gather(1, labels[:, None]) < head(emb).gather(1, labels[:, None])).all()  # margin makes it harder
    no_margin = ArcMarginProduct(16, 5, s=30.0, m=0.0)
    no_margin.weight.data.copy_(head.weight)
    torch.testing.assert_close(no_margin(emb, labels), 30.0 * cos)  # m = 0: plain normalised softmax logits
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        head(emb, torch.tensor([0, 1, 2, 3, 4, 5]))


def test_component_discriminator_narrow_scales_every_width_and_keeps_the_official_default():
    official = {k: tuple(v.shape) for k, v in FacialComponentDiscriminator().state_dict().items()}
    assert official["conv1.0.weight"] == (64, 3, 3, 3) and official["final_conv.0.weight"] == (1, 256, 3, 3)
    quarter = FacialComponentDiscriminator(0.25)
    shapes = {k: tuple(v.shape) for k, v in quarter.state_dict().items()}
    assert shapes.keys() == official.keys()
    assert shapes["conv1.0.weight"] == (16, 3, 3, 3) and shapes["conv3.0.weight"][:2] == (32, 32)
    assert shapes["final_conv.0.weight"] == (1, 64, 3, 3)
    out = quarter(torch.zeros(2, 3, 16, 16), return_feats=True)
    assert out.out.shape == (2, 1, 4, 4) and [f.shape[1] for f in out.feats] == [32, 64]
    with pytest.raises(ValueError, match="narrow"):
        FacialComponentDiscriminator(0)
