"""GFPGAN networks (gfplib.archs.gfpgan_clean / gfpgan) and checkpoint loading (gfplib.checkpoints).

Paper-scale (512²) models are only *built* — on the meta device, so no memory is allocated — to check that the official
state dict (keys, shapes, noise buffers; tests/data/spec/*.json, dumped from the official code) loads with
``strict=True`` and that the parameter counts are the official ones. Everything that runs a forward pass uses toy
configurations on the same code path.
"""
from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import pytest
import torch

from gfplib import checkpoints as ck
from gfplib import weights
from gfplib.archs import (GFPGANv1, GFPGANv1Clean, GFPGANv1CleanConfig, GFPGANv1Config, StyleGAN2Generator,
                          StyleGAN2GeneratorClean, cs_sft)
from gfplib.archs.gfpgan import ConvUpLayer, ResUpBlock
from gfplib.archs.gfpgan_clean import ResBlock, unet_channels
from gfplib.viz import count_parameters

SPEC_DIR = Path(__file__).resolve().parent / "data" / "spec"
CLASSES = {"gfpganv1_clean": GFPGANv1Clean, "gfpganv1": GFPGANv1}
CONFIGS = {"clean": GFPGANv1CleanConfig, "v1": GFPGANv1Config}


def toy(kind: str, seed: int = 0, **overrides):
    torch.manual_seed(seed)
    cfg = CONFIGS[kind].tiny()
    kwargs = {**cfg.kwargs(), **overrides}
    return (GFPGANv1Clean if kind == "clean" else GFPGANv1)(**kwargs)


def rand_input(b=2, size=32, seed=1):
    return torch.rand(b, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def prior_for(model):
    """A stand-alone StyleGAN2 generator with the configuration of ``model.stylegan_decoder``."""
    dec = model.stylegan_decoder
    if isinstance(model, GFPGANv1Clean):
        return StyleGAN2GeneratorClean(dec.out_size, num_style_feat=dec.num_style_feat, num_mlp=2,
                                       channel_multiplier=2, narrow=1 / 16)
    return StyleGAN2Generator(dec.out_size, num_style_feat=dec.num_style_feat, num_mlp=2, channel_multiplier=1,
                              narrow=1 / 16)


# ------------------------------------------------------------------------------------- official state dicts
@pytest.mark.parametrize("model_name", sorted(CLASSES))
def test_official_state_dict_loads_strictly(model_name):
    spec = json.loads((SPEC_DIR / f"{model_name}.json").read_text())
    with torch.device("meta"):
        net = CLASSES[model_name](**spec["constructor_kwargs"])
    own = net.state_dict()
    expected = {k: tuple(shape) for k, shape, _ in spec["state_dict"]}
    assert list(own) == list(expected), "keys (and their order) differ from the official state dict"
    assert {k: tuple(v.shape) for k, v in own.items()} == expected
    buffers = {k for k, _, kind in spec["state_dict"] if kind == "buffer"}
    assert buffers == {f"stylegan_decoder.noises.noise{i}" for i in range(15)}
    params = {k for k, _ in net.named_parameters()}
    assert buffers == set(own) - params  # FIR kernels of the v1 arch are non-persistent: not in the state dict
    with torch.device("meta"):
        sd = {k: torch.empty(shape) for k, shape in expected.items()}
    result = net.load_state_dict(sd, strict=True, assign=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert sum(p.numel() for p in net.parameters()) == spec["num_parameters"]
    assert sum(p.numel() for p in net.parameters() if p.requires_grad) == spec["num_trainable_parameters"]
    assert sum(own[k].numel() for k in buffers) == spec["num_buffer_elements"]


def test_configs_are_the_official_ones():
    for name, cfg in (("gfpganv1_clean", GFPGANv1CleanConfig.release()), ("gfpganv1", GFPGANv1Config.paper())):
        spec = json.loads((SPEC_DIR / f"{name}.json").read_text())["constructor_kwargs"]
        got = {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.kwargs().items()}  # JSON has lists
        assert set(spec) <= set(got), set(spec) - set(got)
        assert {k: got[k] for k in spec} == spec
    assert GFPGANv1Config.paper().resample_kernel == (1, 3, 3, 1)  # the FIR blur of StyleGAN2
    # official class defaults (gfpganv1_clean_arch.py / gfpganv1_arch.py)
    default = GFPGANv1CleanConfig()
    assert (default.channel_multiplier, default.fix_decoder, default.input_is_latent, default.different_w,
            default.sft_half) == (1, True, False, False, False)


# Channels of the degradation-removal U-Net per resolution at 512², read off the official state dicts
# (tests/data/spec/*.json: conv_body_first / conv_body_down.*.conv2 / toRGB.* shapes) and written out here.
OFFICIAL_UNET_CHANNELS = {
    2: {"4": 256, "8": 256, "16": 256, "32": 256, "64": 256, "128": 128, "256": 64, "512": 32},  # v1.2–v1.4
    1: {"4": 256, "8": 256, "16": 256, "32": 256, "64": 128, "128": 64, "256": 32, "512": 16},  # v1 (paper)
}


def _unet_channels_in_spec(name):
    """U-Net width per resolution from the official state-dict shapes (output channels of each encoder level,
    input channels of each pyramid toRGB)."""
    shapes = {k: s for k, s, _ in json.loads((SPEC_DIR / f"{name}.json").read_text())["state_dict"]}
    first = next(s for k, s in shapes.items() if k.startswith("conv_body_first") and k.endswith("weight"))
    found = {"512": first[0]}
    for i in range(7):  # conv_body_down.i halves 512 → 256 … 4
        conv2 = next(s for k, s in shapes.items() if k.startswith(f"conv_body_down.{i}.conv2") and k.endswith("weight"))
        found[str(512 >> (i + 1))] = conv2[0]
    for i in range(7):  # toRGB.i reads the decoder features at 8 · 2^i
        assert shapes[f"toRGB.{i}.weight"][1] == found[str(8 << i)]
    return found


@pytest.mark.parametrize("name, multiplier", [("gfpganv1_clean", 2), ("gfpganv1", 1)])
def test_unet_channels_are_the_official_table(name, multiplier):
    assert _unet_channels_in_spec(name) == OFFICIAL_UNET_CHANNELS[multiplier]
    got = unet_channels(multiplier)
    assert {k: got[k] for k in OFFICIAL_UNET_CHANNELS[multiplier]} == OFFICIAL_UNET_CHANNELS[multiplier]
    assert got["1024"] == 16 * multiplier // 2  # the official table's last row: 16 · multiplier · ½
    assert sorted(got, key=int) == [str(2**i) for i in range(2, 11)]  # 4 … 1024, nothing else
    assert unet_channels() == unet_channels(1, 1)  # the official class default: channel_multiplier 1
    assert unet_channels(multiplier, 2)["4"] == 512  # narrow 2: twice the width (512 · 2 · ½)
    # narrow scales every width (the toy models: narrow 1/16)
    assert unet_channels(multiplier, 1 / 16) == {k: v // 16 for k, v in got.items()}


def test_parameter_counts_per_part_add_up_to_the_official_totals():
    # totals: tests/data/spec/*.json (official code); the parts: gfpgan_facts.md §1 and closed forms
    prior = {"gfpganv1_clean": 30_276_583, "gfpganv1": 24_860_935}
    for name, cfg in (("gfpganv1_clean", GFPGANv1CleanConfig.release()), ("gfpganv1", GFPGANv1Config.paper())):
        spec = json.loads((SPEC_DIR / f"{name}.json").read_text())
        with torch.device("meta"):
            net = cfg.build()
        counts = count_parameters(net)
        assert list(counts) == ["U-Net", "pyramid toRGB", "latent code mapping", "CS-SFT heads", "StyleGAN2 prior"]
        assert sum(counts.values()) == spec["num_parameters"]
        assert counts["StyleGAN2 prior"] == prior[name]
        assert counts["latent code mapping"] == (256 * 4 * 4 + 1) * 16 * 512  # Linear(C_4·4·4 → 16 codes of 512)
        channels = OFFICIAL_UNET_CHANNELS[cfg.channel_multiplier]
        assert counts["pyramid toRGB"] == sum(3 * channels[str(2**i)] + 3 for i in range(3, 10))  # 1×1 conv + bias
        trainable = count_parameters(net, trainable_only=True)
        assert sum(trainable.values()) == spec["num_trainable_parameters"]
        assert trainable["StyleGAN2 prior"] == (0 if cfg.fix_decoder else prior[name])
    with pytest.raises(KeyError, match="'weight' belongs to no part"):
        count_parameters(torch.nn.Linear(2, 2))
    assert count_parameters(torch.nn.Linear(2, 2), parts={"weight": "w", "bias": "b"}) == {"w": 4, "b": 2}


# ------------------------------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("kind", ["clean", "v1"])
@pytest.mark.parametrize("size", [32, 64])
def test_forward_shapes_and_pyramid(kind, size):
    net = toy(kind, out_size=size).eval()
    x = rand_input(2, size)
    with torch.no_grad():
        image, out_rgbs = net(x, randomize_noise=False)
        enc = net.degradation_removal(x)
        image2, no_rgbs = net(x, return_rgb=False, randomize_noise=False)
    levels = int(math.log2(size)) - 2  # 8 … size
    assert image.shape == (2, 3, size, size)
    assert [tuple(r.shape) for r in out_rgbs] == [(2, 3, 2**i, 2**i) for i in range(3, 3 + levels)]
    assert no_rgbs == [] and torch.equal(image, image2)
    # the toy U-Net (narrow 1/16): 1/16 of the official table; the v1 toy has channel multiplier 1, the clean one 2
    ch = {"4": 16, "8": 16, "16": 16, "32": 16, "64": 8 if kind == "v1" else 16}
    assert [tuple(f.shape) for f in enc.encoder_feats] == [
        (2, ch[str(r)], r, r) for r in (2**i for i in range(int(math.log2(size)) - 1, 1, -1))]
    assert [tuple(f.shape) for f in enc.decoder_feats] == [(2, ch[str(2**i)], 2**i, 2**i) for i in range(3, 3 + levels)]
    dec_ch = net.stylegan_decoder.channels
    assert [tuple(c.shape) for c in enc.conditions] == [
        (2, dec_ch[str(2**i)] // 2, 2**i, 2**i) for i in range(3, 3 + levels) for _ in range(2)]
    assert enc.latent.shape == (2, net.num_latent, 64) and net.num_latent == 2 * int(math.log2(size)) - 2
    for rgb, feat, to_rgb in zip(enc.out_rgbs, enc.decoder_feats, net.toRGB):
        assert torch.allclose(rgb, to_rgb(feat))


def test_shared_code_when_different_w_is_false():
    net = toy("clean", different_w=False, input_is_latent=False).eval()
    assert net.final_linear.out_features == 64
    with torch.no_grad():
        enc = net.degradation_removal(rand_input())
        _, _, latent = net(rand_input(), return_latents=True, randomize_noise=False)
    assert enc.latent.shape == (2, 64)
    # one z code, mapped once and repeated for all layers
    assert torch.allclose(latent, net.stylegan_decoder.style_mlp(enc.latent)[:, None].expand_as(latent))


@pytest.mark.parametrize("kind", ["clean", "v1"])
def test_return_latents_gives_the_predicted_w_plus(kind):
    net = toy(kind).eval()
    x = rand_input()
    with torch.no_grad():
        out = net(x, return_latents=True, randomize_noise=False)
        enc = net.degradation_removal(x)
    assert len(out) == 3 and out.latent.shape == (2, net.num_latent, 64)
    assert torch.equal(out.latent, enc.latent)  # input_is_latent=True: the U-Net's codes are used as w directly


# ------------------------------------------------------------------------------------------ determinism
@pytest.mark.parametrize("kind", ["clean", "v1"])
def test_determinism_and_noise(kind):
    net = toy(kind).eval()
    with torch.no_grad():  # noise strengths start at 0; make them non-zero so that the noise path is live
        for m in net.stylegan_decoder.style_convs:
            m.weight.fill_(0.5)
    x = rand_input()
    with torch.no_grad():
        a, rgb_a = net(x, randomize_noise=False)
        b, rgb_b = net(x, randomize_noise=False)
        c, rgb_c = net(x, randomize_noise=True, generator=torch.Generator().manual_seed(5))
        d, _ = net(x, randomize_noise=True, generator=torch.Generator().manual_seed(5))
        e, _ = net(x, randomize_noise=True, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and all(torch.equal(p, q) for p, q in zip(rgb_a, rgb_b))
    assert torch.equal(c, d)
    assert (c - e).abs().max() > 1e-3 and (a - c).abs().max() > 1e-3
    assert all(torch.equal(p, q) for p, q in zip(rgb_a, rgb_c))  # the U-Net itself has no noise


# ---------------------------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("kind", ["clean", "v1"])
def test_gradients_reach_every_trainable_parameter(kind):
    net = toy(kind, fix_decoder=False, input_is_latent=False)
    with torch.no_grad():  # non-zero noise strengths, so their gradient is not trivially tied to zero
        for m in net.stylegan_decoder.style_convs:
            m.weight.fill_(0.1)
    image, out_rgbs = net(rand_input(), randomize_noise=False)
    loss = image.square().mean() + sum(r.square().mean() for r in out_rgbs)
    loss.backward()
    no_grad = [n for n, p in net.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert no_grad == []


@pytest.mark.parametrize("kind", ["clean", "v1"])
def test_fix_decoder_freezes_exactly_the_prior(kind):
    net = toy(kind, fix_decoder=True)
    frozen = {n for n, p in net.named_parameters() if not p.requires_grad}
    decoder = {n for n, _ in net.named_parameters() if n.startswith("stylegan_decoder.")}
    assert frozen == decoder and len(decoder) > 0
    image, out_rgbs = net(rand_input(), randomize_noise=False)
    (image.mean() + sum(r.mean() for r in out_rgbs)).backward()
    assert all(p.grad is None for n, p in net.named_parameters() if n in decoder)
    trainable = [n for n, p in net.named_parameters() if p.requires_grad]
    assert all(net.get_parameter(n).grad is not None for n in trainable)
    # the helper alone; and un-freezing
    free = toy(kind, fix_decoder=False)
    assert all(p.requires_grad for p in free.parameters())
    assert ck.freeze_decoder(free) == len(decoder)
    assert {n for n, p in free.named_parameters() if not p.requires_grad} == decoder
    ck.freeze_decoder(free, freeze=False)
    assert all(p.requires_grad for p in free.parameters())


# --------------------------------------------------------------------------------------------------- CS-SFT
def test_cs_sft_formula():
    g = torch.Generator().manual_seed(0)
    feat = torch.randn(2, 8, 4, 4, generator=g)
    alpha, beta = torch.randn(2, 4, 4, 4, generator=g), torch.randn(2, 4, 4, 4, generator=g)
    out = cs_sft(feat, alpha, beta, sft_half=True)
    assert torch.equal(out[:, :4], feat[:, :4])
    assert torch.allclose(out[:, 4:], feat[:, 4:] * alpha + beta)
    assert torch.equal(cs_sft(feat, torch.ones(2, 4, 4, 4), torch.zeros(2, 4, 4, 4), True), feat)
    a8, b8 = torch.randn(2, 8, 4, 4, generator=g), torch.randn(2, 8, 4, 4, generator=g)
    assert torch.allclose(cs_sft(feat, a8, b8, sft_half=False), feat * a8 + b8)
    with pytest.raises(ValueError, match=r"scale must have shape \(2, 4, 4, 4\)"):
        cs_sft(feat, a8, b8, sft_half=True)  # full-width conditions given to CS-SFT


def _sft_io(net, x):
    """Input of the decoder's first SFT layer and what the next conv receives (hooks around the first 8×8 level)."""
    seen = {}
    dec = net.stylegan_decoder
    h1 = dec.style_convs[0].register_forward_hook(lambda m, i, o: seen.__setitem__("before", o.clone()))
    h2 = dec.style_convs[1].register_forward_pre_hook(lambda m, i: seen.__setitem__("after", i[0].clone()))
    with torch.no_grad():
        net(x, randomize_noise=False)
        enc = net.degradation_removal(x)
    h1.remove()
    h2.remove()
    return seen["before"], seen["after"], enc.conditions[0], enc.conditions[1]


@pytest.mark.parametrize("kind", ["clean", "v1"])
def test_cs_sft_leaves_the_identity_half_untouched(kind):
    net = toy(kind).eval()
    before, after, alpha, beta = _sft_io(net, rand_input())
    half = before.shape[1] // 2
    assert alpha.shape == (2, half, 8, 8)
    assert torch.equal(after[:, :half], before[:, :half])  # identity branch F_id
    assert torch.allclose(after[:, half:], before[:, half:] * alpha + beta, atol=1e-6)  # α ⊙ F_t + β
    assert (after[:, half:] - before[:, half:]).abs().max() > 1e-3  # …and the transform did something


@pytest.mark.parametrize("kind", ["clean", "v1"])
def test_sft_on_all_channels_without_sft_half(kind):
    net = toy(kind, sft_half=False).eval()
    before, after, alpha, beta = _sft_io(net, rand_input())
    assert alpha.shape == before.shape
    assert torch.allclose(after, before * alpha + beta, atol=1e-6)
    half = before.shape[1] // 2
    assert (after[:, :half] - before[:, :half]).abs().max() > 1e-3


# ------------------------------------------------------------------------------------------- building blocks
def test_unet_blocks_match_their_formulas():
    torch.manual_seed(0)
    x = torch.randn(1, 4, 8, 8)
    up = ResBlock(4, 6, mode="up")
    lrelu = torch.nn.functional.leaky_relu
    interp = torch.nn.functional.interpolate
    ref = lrelu(up.conv2(interp(lrelu(up.conv1(x), 0.2), scale_factor=2, mode="bilinear")), 0.2) + up.skip(
        interp(x, scale_factor=2, mode="bilinear"))
    assert torch.allclose(up(x), ref, atol=1e-6) and ref.shape == (1, 6, 16, 16)
    assert ResBlock(4, 6, mode="down")(x).shape == (1, 6, 4, 4)
    with pytest.raises(ValueError, match="mode"):
        ResBlock(4, 6, mode="sideways")
    blk = ResUpBlock(4, 6)
    with torch.no_grad():
        blk.conv2.activation.bias.normal_()
    skip = torch.nn.functional.conv2d(interp(x, scale_factor=2, mode="bilinear"), blk.skip.weight / 2)  # 1/√(4·1²)
    assert torch.allclose(blk(x), (blk.conv2(blk.conv1(x)) + skip) / math.sqrt(2), atol=1e-6)
    layer = ConvUpLayer(4, 6, 3, padding=1, bias=True, activate=True)
    with torch.no_grad():
        layer.activation.bias.normal_()
    conv = torch.nn.functional.conv2d(interp(x, scale_factor=2, mode="bilinear"), layer.weight / 6, padding=1)
    expect = lrelu(conv + layer.activation.bias.view(1, -1, 1, 1), 0.2) * math.sqrt(2)  # √2·lrelu(x + b)
    assert torch.allclose(layer(x), expect, atol=1e-6)


def test_v1_sft_scale_branch_starts_at_identity():
    net = toy("v1")
    assert all(torch.all(s[2].bias == 1) for s in net.condition_scale)
    assert all(torch.all(s[2].bias == 0) for s in net.condition_shift)


# ---------------------------------------------------------------------------------------------- bad input
def test_bad_inputs_and_configs_raise_clearly():
    net = toy("clean").eval()
    with pytest.raises(ValueError, match=r"\(B, 3, 32, 32\)"):
        net(rand_input(1, 64))
    with pytest.raises(ValueError, match="shape"):
        net(torch.zeros(3, 32, 32))
    with pytest.raises(TypeError, match="floating"):
        net(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(TypeError):
        net(rand_input(), wieght=0.5)  # a misspelled keyword is not swallowed
    with pytest.warns(UserWarning, match="weight"):
        out_w, _ = net(rand_input(), weight=0.5, randomize_noise=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, _ = net(rand_input(), randomize_noise=False)
    assert torch.equal(out, out_w)  # weight has no effect (as officially)
    with pytest.raises(ValueError, match="power of two"):
        GFPGANv1Clean(48)
    with pytest.raises(ValueError, match="power of two"):
        GFPGANv1Clean(4)
    with pytest.raises(ValueError, match="even"):
        GFPGANv1Clean(32, num_style_feat=32, channel_multiplier=2, narrow=17 / 512, sft_half=True)
    with pytest.raises(ValueError, match="U-Net would have 0 channels at 4×4"):
        GFPGANv1(32, narrow=1 / 1024)  # U-Net width int(512 · 1/2048) = 0
    with pytest.raises(ValueError, match="conditions"):
        net.stylegan_decoder([torch.zeros(1, 64)], [torch.zeros(1, 16, 8, 8)])


# -------------------------------------------------------------------------------------- checkpoint helpers
def _outputs(net, x):
    with torch.no_grad():
        return net.eval()(x, randomize_noise=False)[0]


@pytest.mark.parametrize("layout", ["params_ema", "params", "raw", "module_prefix", "both"])
def test_load_official_checkpoint_layouts(tmp_path, layout):
    src = toy("clean", seed=1)
    sd = src.state_dict()
    if layout == "raw":
        ckpt = sd
    elif layout == "module_prefix":
        ckpt = {"params_ema": {f"module.{k}": v for k, v in sd.items()}}
    elif layout == "both":  # params_ema wins over params, as in GFPGANer
        ckpt = {"params": toy("clean", seed=2).state_dict(), "params_ema": sd}
    else:
        ckpt = {layout: sd}
    path = tmp_path / "net.pth"
    torch.save(ckpt, path)
    dst = toy("clean", seed=3)
    x = rand_input()
    assert not torch.allclose(_outputs(dst, x), _outputs(src, x))
    diff = ck.load_weights(dst, path)
    assert diff.ok
    assert all(torch.equal(a, b) for a, b in zip(dst.state_dict().values(), sd.values()))
    assert torch.equal(_outputs(dst, x), _outputs(src, x))
    # the same from memory
    dst2 = toy("clean", seed=4)
    ck.load_weights(dst2, ckpt)
    assert torch.equal(_outputs(dst2, x), _outputs(src, x))


def test_save_weights_round_trip(tmp_path):
    src, ema = toy("v1", seed=1), toy("v1", seed=2)
    path = ck.save_weights(tmp_path / "sub" / "g.pth", params=src, params_ema=ema)
    raw = torch.load(path, weights_only=True)
    assert set(raw) == {"params", "params_ema"}
    dst = toy("v1", seed=3)
    ck.load_weights(dst, path)  # auto → params_ema
    assert torch.equal(_outputs(dst, rand_input()), _outputs(ema, rand_input()))
    ck.load_weights(dst, path, param_key="params")
    assert torch.equal(_outputs(dst, rand_input()), _outputs(src, rand_input()))
    with pytest.raises(ValueError):
        ck.save_weights(tmp_path / "x.pth")


@pytest.mark.parametrize("kind", ["clean", "v1"])
def test_decoder_prior_loading(tmp_path, kind):
    torch.manual_seed(7)
    net = toy(kind)
    prior = prior_for(net)
    path = tmp_path / "prior.pth"
    torch.save({"params_ema": prior.state_dict()}, path)  # the official prior file layout
    ck.load_decoder_prior(net, path)
    for (n, a), b in zip(net.stylegan_decoder.state_dict().items(), prior.state_dict().values()):
        assert torch.equal(a, b), n
    # the decoder now computes what the prior computes (no conditions → plain StyleGAN2)
    w = torch.randn(2, net.num_latent, 64)
    with torch.no_grad():
        assert torch.allclose(net.stylegan_decoder([w], [], input_is_latent=True, randomize_noise=False)[0],
                              prior([w], input_is_latent=True, randomize_noise=False)[0], atol=1e-6)
    # the official constructor argument goes through the same helper, then freezes
    cls = GFPGANv1Clean if kind == "clean" else GFPGANv1
    net2 = cls(**{**CONFIGS[kind].tiny().kwargs(), "decoder_load_path": str(path), "fix_decoder": True})
    assert all(torch.equal(a, b) for a, b in zip(net2.stylegan_decoder.state_dict().values(),
                                                 prior.state_dict().values()))
    assert not any(p.requires_grad for p in net2.stylegan_decoder.parameters())
    # a whole GFPGAN checkpoint: its stylegan_decoder.* sub-dict is taken
    donor = toy(kind, seed=11)
    ck.load_decoder_prior(net, {"params_ema": donor.state_dict()})
    assert all(torch.equal(a, b) for a, b in zip(net.stylegan_decoder.state_dict().values(),
                                                 donor.stylegan_decoder.state_dict().values()))


def test_sft_decoder_without_conditions_is_the_prior_with_the_same_defaults():
    """No (α, β): the SFT decoder is the plain StyleGAN2 prior, for every option forward passes on."""
    net = toy("clean", seed=7)
    dec = net.stylegan_decoder
    with torch.no_grad():  # live noise strengths, so that the noise options matter
        for m in [dec.style_conv1, *dec.style_convs]:
            m.weight.fill_(0.3)
    prior = prior_for(net)
    prior.load_state_dict(dec.state_dict())
    z, z2 = torch.randn(2, 64, generator=torch.Generator().manual_seed(1)), torch.randn(2, 64)
    with torch.no_grad():
        out = dec([z], [], generator=torch.Generator().manual_seed(4))  # defaults: z mapped, fresh noise
        assert out.latent is None
        torch.testing.assert_close(out.image, prior([z], generator=torch.Generator().manual_seed(4)).image)
        noise = [torch.randn(n.shape, generator=torch.Generator().manual_seed(i)) for i, n in
                 enumerate(dec.stored_noise())]
        given = dec([z], [], noise=noise).image
        torch.testing.assert_close(given, prior([z], noise=noise).image)
        assert (given - out.image).abs().max() > 1e-3
        for seed in range(4):  # a random crossover comes from the given generator, not torch's global one
            torch.manual_seed(0)
            mixed = dec([z, z2], [], return_latents=True, generator=torch.Generator().manual_seed(seed)).latent
            torch.testing.assert_close(mixed, prior.styles_to_latent([z, z2],
                                                                     generator=torch.Generator().manual_seed(seed)))
        for k in (2, 5):  # style mixing at the given layer
            torch.testing.assert_close(dec([z, z2], [], inject_index=k, return_latents=True).latent,
                                       prior.styles_to_latent([z, z2], inject_index=k))
        w_bar = prior.mean_latent(16, generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(dec([z], [], truncation=0.5, truncation_latent=w_bar, return_latents=True).latent,
                                   prior.styles_to_latent([z], truncation=0.5, truncation_latent=w_bar))
        assert len(net.degradation_removal(rand_input()).out_rgbs) == 3  # pyramid RGBs by default (8, 16, 32)


def test_cs_sft_broadcasts_conditions_of_batch_one():
    g = torch.Generator().manual_seed(0)
    feat, alpha, beta = (torch.randn(3, 8, 4, 4, generator=g), torch.randn(1, 4, 4, 4, generator=g),
                         torch.randn(1, 4, 4, 4, generator=g))
    out = cs_sft(feat, alpha, beta, sft_half=True)
    torch.testing.assert_close(out[:, 4:], feat[:, 4:] * alpha + beta)  # the same (α, β) for every sample
    assert torch.equal(out[:, :4], feat[:, :4])
    with pytest.raises(ValueError):
        cs_sft(feat, alpha.repeat(2, 1, 1, 1), beta.repeat(2, 1, 1, 1), sft_half=True)  # batch 2 for 3 samples


def test_decoder_prior_of_the_wrong_configuration_is_rejected(tmp_path):
    net = toy("clean")
    wrong = StyleGAN2GeneratorClean(32, num_style_feat=64, num_mlp=2, channel_multiplier=2, narrow=1 / 8)
    with pytest.raises(ck.CheckpointMismatchError, match="shape mismatches") as err:
        ck.load_decoder_prior(net, {"params_ema": wrong.state_dict()})
    assert "constant_input.weight: checkpoint (1, 64, 4, 4) vs model (1, 32, 4, 4)" in str(err.value)
    with pytest.raises(TypeError, match="stylegan_decoder"):
        ck.load_decoder_prior(torch.nn.Linear(2, 2), wrong.state_dict())


def test_bad_checkpoints_raise_clear_errors(tmp_path):
    net = toy("clean")
    sd = net.state_dict()
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        ck.load_weights(net, tmp_path / "nope.pth")
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"this is not a checkpoint" * 10)
    with pytest.raises(weights.WeightsError, match="corrupt"):
        ck.load_weights(net, corrupt)
    missing = {k: v for k, v in sd.items() if not k.startswith("toRGB.")}
    with pytest.raises(ck.CheckpointMismatchError, match="missing in checkpoint: toRGB.0.weight"):
        ck.load_weights(net, {"params_ema": missing})
    extra = {**sd, "extra.weight": torch.zeros(1)}
    with pytest.raises(ck.CheckpointMismatchError, match="1 unexpected in checkpoint: extra.weight"):
        ck.load_weights(net, extra)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    bad_shape = {**sd, "final_linear.bias": torch.zeros(3)}
    with pytest.raises(ck.CheckpointMismatchError, match=r"final_linear.bias: checkpoint \(3,\) vs model"):
        ck.load_weights(net, bad_shape, strict=False)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # nothing half-loaded
    diff = ck.load_weights(net, missing, strict=False)  # non-strict: reported, not raised
    assert diff.missing == [k for k in sd if k.startswith("toRGB.")] and not diff.unexpected
    with pytest.raises(KeyError, match="params_ema"):
        ck.load_weights(net, {"params": sd}, param_key="params_ema")
    with pytest.raises(weights.WeightsError, match="not tensors"):
        ck.load_weights(net, {"params_ema": {"a": 1}})
    with pytest.raises(TypeError, match="state_dict"):
        ck.load_weights(net, net)


def test_no_network_is_needed(monkeypatch, tmp_path):
    import socket

    def refuse(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    net = toy("v1")
    path = ck.save_weights(tmp_path / "g.pth", params_ema=net)
    ck.load_weights(toy("v1", seed=5), path)
    ck.load_decoder_prior(toy("v1", seed=6), path)
