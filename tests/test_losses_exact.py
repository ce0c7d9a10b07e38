"""Edges of gfplib.losses that mutation testing (``make mutate``) found unchecked: R1 must stay differentiable,
the pyramid size check is exact, a disabled term is ``None``, missing layers and feature levels are named."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from gfplib.losses import component_style_loss, perceptual_style_loss, pyramid_targets, r1_penalty


def test_r1_penalty_is_differentiable_for_the_discriminator():
    # D(x) = x · w: ∇ₓD = w for every sample, so R1 = ‖w‖² and ∂R1/∂w = 2w (needs create_graph=True)
    w = torch.tensor([1.0, -2.0, 0.5], requires_grad=True)
    x = torch.randn(4, 3, requires_grad=True)
    r1 = r1_penalty(x @ w, x)
    torch.testing.assert_close(r1, torch.tensor(5.25))
    (grad_w,) = torch.autograd.grad(r1, w)
    torch.testing.assert_close(grad_w, 2 * w.detach())


def test_pyramid_size_check_is_exact():
    gt = torch.rand(1, 3, 4, 4)
    assert [t.shape[-1] for t in pyramid_targets(gt, 3)] == [1, 2, 4]  # down to a single pixel is allowed
    with pytest.raises(ValueError, match="cannot give 4 pyramid levels"):
        pyramid_targets(gt, 4)


class _TwoLayerFeatures(nn.Module):
    """A frozen stand-in feature network: ``{'a': x, 'b': 2x}`` (no parameters)."""

    def forward(self, x):
        return {"a": x, "b": 2 * x}


def test_perceptual_style_switches_and_missing_layers():
    pred, target = torch.rand(2, 3, 4, 4) * 2 - 1, torch.rand(2, 3, 4, 4) * 2 - 1
    net = _TwoLayerFeatures().eval()
    percep, style = perceptual_style_loss(net, pred, target, {"a": 1.0, "b": 0.5})
    torch.testing.assert_close(percep, (pred - target).abs().mean() * 2)  # 1·‖Δ‖₁ + 0.5·‖2Δ‖₁
    none, style_only = perceptual_style_loss(net, pred, target, {"a": 1.0, "b": 0.5}, perceptual=False)
    assert none is None and torch.equal(style_only, style)
    with pytest.raises(KeyError, match=r"layer\(s\) \['c'\] not returned by the feature network"):
        perceptual_style_loss(net, pred, target, {"a": 1.0, "c": 1.0})


def test_component_style_loss_needs_two_levels_on_both_sides():
    two = [torch.rand(1, 2, 4, 4), torch.rand(1, 3, 2, 2)]
    assert component_style_loss(two, two).item() == 0.0
    for fake, real in ((two, two + two[:1]), (two + two[:1], two)):
        with pytest.raises(ValueError, match="two feature levels"):
            component_style_loss(fake, real)
