"""gfplib.perceptual: the VGG feature interface, checked against torchvision with random weights (no download)."""
from __future__ import annotations

import socket

import pytest
import torch
from torchvision.models import vgg as tv_vgg

from gfplib.perceptual import (IMAGENET_MEAN, IMAGENET_STD, PERCEPTUAL_LAYER_WEIGHTS, VGG19_LAYER_NAMES, VGGConfig,
                               VGGFeatureExtractor, build_vgg19_imagenet, feature_distance,
                               torchvision_vgg19_to_named, vgg_from_state_dict)


@pytest.fixture(scope="module")
def tv_features():
    """torchvision's VGG19 ``features`` part with random weights (configuration "E")."""
    torch.manual_seed(0)
    return tv_vgg.make_layers(tv_vgg.cfgs["E"]).eval()


def test_layer_names_follow_torchvision_indices(tv_features):
    assert len(VGG19_LAYER_NAMES) == len(tv_features) == 37
    for name, layer in zip(VGG19_LAYER_NAMES, tv_features):
        kind = {"conv": torch.nn.Conv2d, "relu": torch.nn.ReLU, "pool": torch.nn.MaxPool2d}[name[:4]]
        assert isinstance(layer, kind), name
    assert VGG19_LAYER_NAMES.index("conv5_4") == 34 and VGG19_LAYER_NAMES.index("conv3_4") == 16


def test_vgg19_features_equal_torchvision_before_relu(tv_features):
    sd = {f"features.{k}": v for k, v in tv_features.state_dict().items()}
    net = build_vgg19_imagenet(state_dict=sd)
    x = torch.rand(2, 3, 32, 32) * 2 - 1  # [-1, 1]
    feats = net(x)
    assert list(feats) == list(PERCEPTUAL_LAYER_WEIGHTS)
    # reference: [-1, 1] → [0, 1] → ImageNet standardisation → torchvision layers, read before the ReLU
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    h = ((x + 1) / 2 - mean) / std
    with torch.no_grad():
        for i, layer in enumerate(tv_features):
            if isinstance(layer, torch.nn.ReLU):
                h = torch.relu(h)  # not in place: keep the pre-ReLU tensor intact
            else:
                h = layer(h)
            name = VGG19_LAYER_NAMES[i]
            if name in feats:
                torch.testing.assert_close(feats[name], h, rtol=1e-4, atol=1e-5)
                assert (feats[name] < 0).any(), f"{name} must be read before its ReLU"
    assert feats["conv1_2"].shape == (2, 64, 32, 32) and feats["conv5_4"].shape == (2, 512, 2, 2)


def test_one_loader_reads_widths_and_input_statistics_from_the_weights():
    torch.manual_seed(3)
    cfg = VGGConfig(widths=(3, 5, 6, 7, 9), mean=(0.1, 0.2, 0.3), std=(0.5, 0.25, 0.125))
    src = VGGFeatureExtractor(("conv2_2", "conv5_4"), cfg)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    want = src(x)
    named = src.state_dict()  # gfplib keys, with the mean/std buffers
    index = {f"features.{VGG19_LAYER_NAMES.index(k.split('.')[1])}.{k.split('.')[2]}": v
             for k, v in named.items() if k.startswith("features.")}  # torchvision keys: weights only
    net = vgg_from_state_dict(named, ("conv2_2",))
    assert net.config.widths == cfg.widths and not any(p.requires_grad for p in net.parameters())
    assert net.config.mean == pytest.approx(cfg.mean) and net.config.std == pytest.approx(cfg.std)
    assert torch.equal(net.mean, src.mean) and torch.equal(net.std, src.std)
    assert list(net.features._modules)[-1] == "conv2_2"
    assert torch.equal(net(x)["conv2_2"], want["conv2_2"])
    net = vgg_from_state_dict(index, ("conv5_4",))
    assert net.config.widths == cfg.widths and (net.config.mean, net.config.std) == (IMAGENET_MEAN, IMAGENET_STD)
    net.load_state_dict({**net.state_dict(), "mean": named["mean"], "std": named["std"]})
    assert torch.equal(net(x)["conv5_4"], want["conv5_4"])  # the same weights, read from torchvision's layout
    with pytest.raises(KeyError, match="lacks"):
        vgg_from_state_dict({k: v for k, v in named.items() if "conv2_2" not in k}, ("conv2_2",))
    with pytest.raises(ValueError, match="conv1_2.weight: checkpoint shape"):
        vgg_from_state_dict({**named, "features.conv1_2.weight": torch.zeros(3, 2, 3, 3)}, ("conv2_2",))


def test_frozen_and_truncated():
    net = VGGFeatureExtractor(("conv2_2",), VGGConfig.toy())
    assert not any(p.requires_grad for p in net.parameters())
    assert list(net.features._modules)[-1] == "conv2_2"  # nothing deeper than needed is built
    net.train()
    assert not net.training  # a frozen loss network stays in eval mode
    # gradients still flow to the input (that is what a perceptual loss needs)
    x = torch.zeros(1, 3, 16, 16, requires_grad=True)
    net(x)["conv2_2"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_toy_and_imagenet_share_the_interface():
    torch.manual_seed(1)
    layers = ("conv1_2", "conv2_2", "conv3_4")  # the full-width deep blocks are slow to build; shapes suffice
    big = VGGFeatureExtractor(layers, config=VGGConfig())
    toy = VGGFeatureExtractor(layers, config=VGGConfig.toy())
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    fb, ft = big(x), toy(x)
    assert list(fb) == list(ft) == list(layers)
    for name, width, toy_width in zip(layers, VGGConfig().widths, VGGConfig.toy().widths):
        assert fb[name].shape[:2] == (3, width) and ft[name].shape[:2] == (3, toy_width)
        assert ft[name].shape[2:] == fb[name].shape[2:]


def test_input_normalisation_uses_buffers():
    cfg = VGGConfig(widths=(2, 2, 2, 2, 2), mean=(0.1, 0.2, 0.3), std=(0.5, 0.25, 0.125))
    net = VGGFeatureExtractor(("conv1_1",), cfg)
    x = torch.rand(1, 3, 8, 8) * 2 - 1
    expected = ((x + 1) / 2 - torch.tensor(cfg.mean).view(1, 3, 1, 1)) / torch.tensor(cfg.std).view(1, 3, 1, 1)
    torch.testing.assert_close(net.normalize(x), expected)
    assert set(net.state_dict()) >= {"mean", "std"}  # shipped with the weights


def test_feature_distance_zero_for_equal_and_weighted():
    torch.manual_seed(2)
    net = VGGFeatureExtractor(("conv1_2", "conv2_2"), VGGConfig.toy())
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    y = x + 0.1 * torch.randn_like(x)
    assert torch.equal(feature_distance(net, x, x), torch.zeros(2))
    d1 = feature_distance(net, x, y, {"conv1_2": 1.0})
    d2 = feature_distance(net, x, y, {"conv2_2": 1.0})
    torch.testing.assert_close(feature_distance(net, x, y, {"conv1_2": 0.1, "conv2_2": 1.0}), 0.1 * d1 + d2)
    assert d1.shape == (2,) and (d1 > 0).all()


def test_clear_errors():
    with pytest.raises(ValueError, match="unknown VGG19 layer"):
        VGGFeatureExtractor(("conv6_1",))
    with pytest.raises(ValueError, match="empty"):
        VGGFeatureExtractor(())
    net = VGGFeatureExtractor(("conv1_1",), VGGConfig.toy())
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        net(torch.zeros(1, 1, 8, 8))
    deep = VGGFeatureExtractor(("conv5_4",), VGGConfig.toy())
    with pytest.raises(ValueError, match="too small"):
        deep(torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match="torchvision VGG19"):
        torchvision_vgg19_to_named({"classifier.0.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match="same shape"):
        feature_distance(net, torch.zeros(1, 3, 8, 8), torch.zeros(2, 3, 8, 8))


def test_imagenet_weights_offline_raise_clear_error(tmp_path, monkeypatch):
    from gfplib.weights import WeightsError

    monkeypatch.setenv("GFPLIB_CACHE", str(tmp_path))  # empty cache: the file would have to be downloaded

    def no_network(*args, **kwargs):
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    with pytest.raises(WeightsError, match="vgg19"):
        build_vgg19_imagenet()
