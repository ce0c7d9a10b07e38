"""The plumbing shared by the toy trainers (gfplib.pretrain.common): EMA, cosine schedule, shuffled batches,
checkpoint files.

Every expected value is written out or follows from a closed form on hand-picked inputs (e.g. after k EMA updates
towards a fixed θ, θ_ema = β^k θ_0 + (1 − β^k) θ), never from the function under test.
"""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from gfplib.pretrain.common import (cosine_lr, ema_beta, ema_update, equalized_lr_param_groups, latest_checkpoint,
                                    prune_checkpoints, resume_trainer, save_checkpoint, shuffled_batch)


# ------------------------------------------------------------------------------------------------------ EMA
def _net(value: float) -> nn.Module:
    """Linear(2, 1) + BatchNorm1d(1) with every parameter set to ``value`` (a known starting point)."""
    net = nn.Sequential(nn.Linear(2, 1), nn.BatchNorm1d(1))
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(value)
    return net


def test_ema_after_k_updates_towards_a_fixed_model_is_the_closed_form():
    # θ_ema ← β θ_ema + (1 − β) θ, k times with θ fixed:  θ_ema = β^k θ_0 + (1 − β^k) θ
    ema, model = _net(1.0), _net(5.0)
    for _ in range(3):
        ema_update(ema, model, beta=0.9)
    for p in ema.parameters():  # 0.9³ = 0.729:  0.729 · 1 + 0.271 · 5 = 2.084   (swapped β: 0.001 + 0.999 · 5)
        torch.testing.assert_close(p, torch.full_like(p, 2.084))
    assert all(torch.all(p == 5.0) for p in model.parameters())  # the trained network is left alone


def test_ema_of_a_moving_model_weights_recent_values_by_one_minus_beta():
    # θ_ema after updates towards θ_1 = 2, θ_2 = 4 from θ_0 = 0 with β = 0.75:
    #   0.75·0 + 0.25·2 = 0.5;  0.75·0.5 + 0.25·4 = 1.375     (β and 1 − β swapped would give 1.5, then 3.375)
    ema = _net(0.0)
    for value, expected in ((2.0, 0.5), (4.0, 1.375)):
        ema_update(ema, _net(value), beta=0.75)
        for p in ema.parameters():
            torch.testing.assert_close(p, torch.full_like(p, expected))


def test_ema_limits_and_buffers():
    ema, model = _net(1.0), _net(3.0)
    ema_update(ema, model, beta=1.0)  # β = 1: frozen average
    assert all(torch.all(p == 1.0) for p in ema.parameters())
    with torch.no_grad():
        model[1].running_mean.fill_(0.25)
        model[1].running_var.fill_(4.0)
    ema_update(ema, model, beta=0.0)  # β = 0: a copy of the model
    assert all(torch.all(p == 3.0) for p in ema.parameters())
    # buffers (BatchNorm statistics) are copied, not averaged, as in the official GFPGAN EMA
    ema_update(ema, _net(3.0), beta=0.5)
    model2 = _net(3.0)
    with torch.no_grad():
        model2[1].running_mean.fill_(-1.0)
    ema_update(ema, model2, beta=0.9)
    assert ema[1].running_mean.item() == -1.0 and ema[1].running_var.item() == 1.0


def test_ema_beta_is_a_half_life_in_images():
    # after h/B steps of β = 0.5^(B/h) the weight of the starting point has halved
    beta = ema_beta(batch_size=16, images_seen=10**9, half_life_images=10_000, rampup=None)
    assert beta ** (10_000 / 16) == pytest.approx(0.5)
    assert beta == pytest.approx(0.998891, abs=1e-6)
    # ramp-up: h = min(h_0, r · images) = 0.05 · 1000 = 50 images → β = 0.5^(16/50)
    assert ema_beta(16, 1000, 10_000, 0.05) == pytest.approx(0.801070, abs=1e-6)
    assert ema_beta(16, 10**7, 10_000, 0.05) == pytest.approx(beta)  # ramp-up over: the plain half-life
    # very early in the ramp-up the half-life is below one image: h = 0.05 · 10 = 0.5 → β = 0.5^(1/0.5) = 0.25
    assert ema_beta(1, 10, 10_000, 0.05) == pytest.approx(0.25)
    assert ema_beta(4, 0, 10_000, 0.05) == 0.0  # h = 0 at the very start: no averaging at all


# ------------------------------------------------------------------------------------------- equalised lr
class _Equalized(nn.Module):
    """Stands for EqualConv2d / EqualLinear: a layer that carries its own (float) He scale."""

    def __init__(self):
        super().__init__()
        self.scale = 0.5
        self.weight = nn.Parameter(torch.zeros(4, 8))


class _Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.style = nn.Parameter(torch.zeros(3, 4))  # a root-level parameter (not called "weight")
        self.conv = nn.Conv2d(2, 3, 3)  # plain: fan_in = 2·3·3 = 18
        self.eq = _Equalized()


def test_equalized_lr_groups_on_a_tiny_model():
    net = _Tiny()
    groups = equalized_lr_param_groups(net, 0.36, {"style": 0.5, "eq.": 0.25})
    assert sum(len(g["params"]) for g in groups) == 4  # every parameter exactly once
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    assert lr_of[id(net.conv.weight)] == pytest.approx(0.36 / math.sqrt(18))  # η / √fan_in = 0.36 / √18
    assert lr_of[id(net.conv.bias)] == pytest.approx(0.36)  # biases keep η
    assert lr_of[id(net.style)] == pytest.approx(0.18)  # root-level names match their prefix: η · 0.5
    assert lr_of[id(net.eq.weight)] == pytest.approx(0.09)  # already equalised: no He factor, η · 0.25


# ------------------------------------------------------------------------------------------- cosine schedule
def test_cosine_schedule_values():
    # η_t = η · ½ (1 + cos(π t / T)), T = 100
    expected = {0: 1.0, 25: 0.5 + math.sqrt(2) / 4, 50: 0.5, 75: 0.5 - math.sqrt(2) / 4, 100: 0.0, 150: 0.0}
    for t, value in expected.items():
        assert cosine_lr(2e-3, t, 100) == pytest.approx(2e-3 * value, abs=1e-15), t
    assert cosine_lr(2e-3, 25, 100) == pytest.approx(1.7071e-3, abs=1e-7)
    lrs = [cosine_lr(1.0, t, 10) for t in range(11)]
    assert all(a > b for a, b in zip(lrs, lrs[1:]))  # strictly decreasing to 0
    assert all(lrs[t] + lrs[10 - t] == pytest.approx(1.0) for t in range(11))  # point-symmetric about (T/2, η/2)


# ------------------------------------------------------------------------------------------- shuffled batches
def _epochs(n, batch_size, epochs, seed):
    """All batches of ``epochs`` epochs, as the trainers draw them (first permutation from the same generator)."""
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=g)
    steps = n // batch_size
    out = []
    for step in range(steps * epochs):
        perm, idx = shuffled_batch(perm, step, steps, batch_size, g)
        out.append(idx.tolist())
    return [out[e * steps:(e + 1) * steps] for e in range(epochs)]


def test_every_sample_exactly_once_per_epoch():
    epochs = _epochs(n=12, batch_size=4, epochs=3, seed=0)
    for batches in epochs:
        assert all(len(b) == 4 for b in batches)
        assert sorted(i for b in batches for i in b) == list(range(12))
    orders = [[i for b in batches for i in b] for batches in epochs]
    assert orders[0] != orders[1] and orders[1] != orders[2]  # a fresh permutation every epoch


def test_incomplete_last_batch_is_dropped_and_no_sample_repeats_within_an_epoch():
    for batches in _epochs(n=10, batch_size=4, epochs=3, seed=1):  # 2 steps per epoch, 2 samples left out
        seen = [i for b in batches for i in b]
        assert len(batches) == 2 and len(seen) == 8 and len(set(seen)) == 8 and set(seen) <= set(range(10))


def test_shuffled_batches_are_reproducible():
    assert _epochs(12, 4, 3, seed=5) == _epochs(12, 4, 3, seed=5)
    assert _epochs(12, 4, 3, seed=5) != _epochs(12, 4, 3, seed=6)
    # the first epoch is the given permutation itself, in order
    perm = torch.tensor([3, 1, 2, 0])
    g = torch.Generator().manual_seed(0)
    assert shuffled_batch(perm, 0, 2, 2, g)[1].tolist() == [3, 1]
    assert shuffled_batch(perm, 1, 2, 2, g)[1].tolist() == [2, 0]
    assert torch.equal(g.get_state(), torch.Generator().manual_seed(0).get_state())  # no draw inside an epoch


def test_one_step_per_epoch_still_reshuffles_every_epoch():
    epochs = _epochs(n=6, batch_size=6, epochs=4, seed=2)  # the whole set is one batch
    orders = [batches[0] for batches in epochs]
    assert all(sorted(o) == list(range(6)) for o in orders)
    assert all(a != b for a, b in zip(orders, orders[1:]))


# ------------------------------------------------------------------------------------------- checkpoint files
def test_checkpoints_are_named_by_images_seen_and_pruned(tmp_path):
    for images in (24, 8, 16):
        save_checkpoint({"images": images}, tmp_path / "three", images, keep=3)
    assert latest_checkpoint(tmp_path / "three").name == "ckpt_000000024.pt"  # the most images, of three files
    for images in (32, 40):
        save_checkpoint({"images": images}, tmp_path / "default", images)
    save_checkpoint({"images": 48}, tmp_path / "default", 48)
    assert sorted(p.name for p in (tmp_path / "default").iterdir()) == [
        "ckpt_000000040.pt", "ckpt_000000048.pt"]  # by default the newest two are kept
    for images in (8, 100, 16, 1_000_000):
        path = save_checkpoint({"images": images}, tmp_path / "run", images, keep=2)
        assert path.name == f"ckpt_{images:09d}.pt"
    names = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert names == ["ckpt_000000100.pt", "ckpt_001000000.pt"]  # numerically newest two, not the last written
    assert latest_checkpoint(tmp_path / "run").name == "ckpt_001000000.pt"
    assert torch.load(latest_checkpoint(tmp_path / "run"), weights_only=True) == {"images": 1_000_000}
    (tmp_path / "run" / "ckpt_000000200.pt.tmp").write_bytes(b"half-written")  # not a checkpoint
    (tmp_path / "run" / "notes.pt").write_bytes(b"")
    prune_checkpoints(tmp_path / "run", keep=1)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "ckpt_000000200.pt.tmp", "ckpt_001000000.pt", "notes.pt"]
    assert latest_checkpoint(tmp_path / "missing") is None


def test_resume_trainer_loads_the_newest_checkpoint(tmp_path):
    class Trainer:
        step = 0

        def load_state_dict(self, state):
            self.step = state["step"]
            return state["wall_time"]

    save_checkpoint({"step": 1, "wall_time": 10.0}, tmp_path, 8)
    save_checkpoint({"step": 2, "wall_time": 20.0}, tmp_path, 16)
    messages = []
    tr = Trainer()
    assert resume_trainer(tr, tmp_path, resume=True, print_fn=messages.append) == 20.0 and tr.step == 2
    assert "ckpt_000000016.pt" in messages[0]
    fresh = Trainer()
    assert resume_trainer(fresh, tmp_path, resume=False, print_fn=messages.append) == 0.0 and fresh.step == 0
    assert resume_trainer(Trainer(), tmp_path / "empty", resume=True, print_fn=messages.append) == 0.0
