"""The shipped toy GFPGAN (data/toy_gfpgan_32.pth): it loads through the registry and restores held-out toy people.

The thresholds are acceptance criteria, not numbers recorded from the model: restored faces must be better than
their degraded inputs by clear margins on every measure: PSNR (+0.5 dB), structure (SSIM), identity and the
feature-space distances (see data/README.md for what the shipped model reaches).
"""
import pytest
import torch

from gfplib import weights
from gfplib.pretrain import load_gfpgan, load_toy_arcface, load_toy_vgg
from gfplib.restore import restore_faces
from gfplib.train import TrainConfig, build_datasets, evaluate_restoration


@pytest.fixture(scope="module")
def held_out():
    _, val = build_datasets(TrainConfig.toy())  # 64 held-out people, the training degradation, fixed seeds
    items = [val[i] for i in range(len(val))]
    return torch.stack([s["lq"] for s in items]), torch.stack([s["gt"] for s in items])


def test_the_registry_names_the_shipped_file_with_its_hash():
    entry = weights.REGISTRY["toy-gfpgan-32"]
    assert entry.shipped and entry.sha256 and entry.size < 15_000_000
    assert weights.fetch("toy-gfpgan-32").stat().st_size == entry.size  # fetch checks size and sha256


def test_ema_and_trained_weights_differ_and_the_net_is_frozen():
    ema, last = load_gfpgan("toy-gfpgan-32"), load_gfpgan("toy-gfpgan-32", ema=False)
    assert not any(p.requires_grad for p in ema.parameters()) and not ema.training
    diffs = [not torch.equal(a, b) for a, b in zip(ema.parameters(), last.parameters())]
    assert any(diffs)
    with pytest.raises(KeyError, match="no GFPGAN architecture"):
        load_gfpgan("toy-prior-32")


def test_restored_faces_beat_the_degraded_input_on_every_measure(held_out):
    x, y = held_out
    net = load_gfpgan("toy-gfpgan-32")
    y_hat = restore_faces(net, x, seed=0)  # the prior's noise drawn from seed 0, no gradients
    vgg, id_net = load_toy_vgg(), load_toy_arcface()
    before = evaluate_restoration(x, y, id_net, vgg)
    after = evaluate_restoration(y_hat.clamp(-1, 1), y, id_net, vgg)
    assert after["psnr"] > before["psnr"] + 0.5
    assert after["ssim"] > before["ssim"] + 0.02
    assert after["id_cos"] > before["id_cos"] + 0.1
    assert after["percep"] < before["percep"] * 0.9
    assert after["fd_vgg"] < before["fd_vgg"] * 0.5
    assert after["fd_id"] < before["fd_id"] * 0.5
