"""GFPGAN's training objective (paper Sec. 3.5, Eqs. 6–10).

Work in progress: the adversarial terms and the pyramid targets; the rest follows.
"""
from __future__ import annotations

from typing import List

import torch
from torch.nn import functional as F

__all__ = ["pyramid_targets", "g_nonsaturating_loss", "d_logistic_loss", "r1_penalty"]


def pyramid_targets(gt: torch.Tensor, num_levels: int) -> List[torch.Tensor]:
    r"""Ground truth at the resolutions of the pyramid outputs, coarsest first (as ``out_rgbs``).

    As in the official training code: repeated bilinear ×½ (``align_corners=False``) from the full-size ``gt``, so
    ``targets[-1] = gt``. The pyramid restoration loss is :math:`\sum_r \lVert \hat y_r - y_r \rVert_1`.

    Args:
        gt: ``(B, 3, S, S)`` ground-truth faces.
        num_levels: number of pyramid outputs (``log2(S) − 2`` for 8 … S).
    """
    if gt.ndim != 4 or gt.shape[-1] >> (num_levels - 1) < 1:
        raise ValueError(f"gt of shape {tuple(gt.shape)} cannot give {num_levels} pyramid levels")
    targets = [gt]
    for _ in range(num_levels - 1):
        targets.insert(0, F.interpolate(targets[0], scale_factor=0.5, mode="bilinear", align_corners=False))
    return targets  # [(B, 3, S/2^(L-1), …), …, (B, 3, S, S)]


def d_logistic_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """:math:`\\mathbb E[\\operatorname{softplus}(-D(x))] + \\mathbb E[\\operatorname{softplus}(D(G(z)))]`."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()  # −log σ(D(x)) − log(1 − σ(D(G(z))))


def g_nonsaturating_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """:math:`\\mathbb E[\\operatorname{softplus}(-D(G(z)))]` — the non-saturating generator loss."""
    return F.softplus(-fake_logits).mean()  # −log σ(D(G(z)))


def r1_penalty(real_logits: torch.Tensor, real_images: torch.Tensor) -> torch.Tensor:
    """:math:`\\mathbb E_x \\lVert \\nabla_x D(x) \\rVert^2` (``real_images`` must require grad)."""
    (grad,) = torch.autograd.grad(real_logits.sum(), real_images, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()  # ‖∇ₓD(x)‖², averaged over the batch
