"""How good is the toy prior? Fréchet distances in the toy world's own feature spaces, with reference points.

A Fréchet distance (:mod:`gfplib.metrics`) has no absolute scale, so each number is reported next to reference
points measured in the same feature space on the same number of faces:

* ``real`` — two independent sets of real toy faces: the floor (sampling noise of the estimate);
* ``trained ψ`` — the shipped prior's samples at truncation ψ (1 = no truncation);
* ``untrained`` — the same generator at its random initialisation: the ceiling of "knows nothing about faces";
* ``degraded t`` — real toy faces degraded with the paper's pipeline at strength ``t`` (:func:`degrade_strength`).

Two feature spaces: the toy identity network (128-d embeddings of gray faces; who is in the picture) and the toy
perceptual network (spatial means of its five VGG layers, 368-d; what the picture looks like).

Taught in ``notebooks/04_stylegan2_prior.ipynb``; ``python -m gfplib.pretrain evaluate`` writes the table into the
prior's sidecar.
"""
from __future__ import annotations

from typing import Callable, Dict, Optional

import numpy as np
import torch
from torch import nn

from gfplib.metrics import feature_statistics, frechet_distance
from gfplib.utils import denormalize, normalize

__all__ = ["identity_features", "perceptual_features", "sample_prior", "degrade_strength", "degrade_batch",
           "frechet_table"]


@torch.no_grad()
def identity_features(net: nn.Module, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Unit-norm identity embeddings ``(N, D)`` of RGB faces ``(N, 3, H, W)`` in [-1, 1]."""
    from gfplib.pretrain.identity import identity_embedding

    return torch.cat([identity_embedding(net, x[i:i + batch_size]) for i in range(0, len(x), batch_size)])


@torch.no_grad()
def perceptual_features(net: nn.Module, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Spatial means of every layer a feature network returns, concatenated: ``(N, ΣC)``."""
    out = []
    for i in range(0, len(x), batch_size):
        feats = net(x[i:i + batch_size])
        out.append(torch.cat([f.mean((2, 3)) for f in feats.values()], 1))  # (B, Σ C_l)
    return torch.cat(out)


@torch.no_grad()
def sample_prior(generator: nn.Module, n: int, seed: int, truncation: float = 1.0, batch_size: int = 250,
                 truncation_latent: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``n`` samples ``(n, 3, H, W)`` in [-1, 1] from a StyleGAN2 generator, reproducible from ``seed``."""
    g = torch.Generator().manual_seed(seed)
    if truncation < 1 and truncation_latent is None:
        truncation_latent = generator.mean_latent(4096, generator=g)
    out = []
    for i in range(0, n, batch_size):
        z = torch.randn(min(batch_size, n - i), generator.num_style_feat, generator=g)
        out.append(generator([z], truncation=truncation, truncation_latent=truncation_latent,
                             generator=g).image.clamp(-1, 1))
    return torch.cat(out)


def degrade_strength(t: float, size: int = 32, seed: int = 0):
    """Degradation parameters that grow with one knob ``t`` ∈ [0, 1] (0 = none, 1 = the official worst case).

    Blur σ ∈ [0.1, 10]·(size/512), downsampling r = 1 + 7t, noise δ = 20t, JPEG quality 100 − 40t.
    """
    from gfplib.degradation import DegradationConfig, DegradationParams

    if not 0 <= t <= 1:
        raise ValueError(f"strength t must be in [0, 1], got {t}")
    cfg = DegradationConfig.for_size(size)
    lo, hi = cfg.blur_sigma
    sigma = lo + t * (hi - lo)
    return DegradationParams(kernel_size=cfg.kernel_size, kernel_type="iso", sigma_x=sigma, sigma_y=sigma, theta=0.0,
                             scale=1.0 + 7.0 * t, noise_sigma=20.0 * t, noise_seed=seed,
                             jpeg_quality=int(round(100 - 40 * t)))


def degrade_batch(x: torch.Tensor, t: float, seed: int = 0) -> torch.Tensor:
    """Degrade every face of ``x`` (``(N, 3, H, W)`` in [-1, 1]) at strength ``t``; same layout and range out."""
    from gfplib.degradation import apply_degradation

    imgs = denormalize(x).permute(0, 2, 3, 1).numpy()  # (N, H, W, 3) uint8
    out = np.stack([apply_degradation(im, degrade_strength(t, im.shape[0], seed + k)) for k, im in enumerate(imgs)])
    return normalize(torch.from_numpy(out).permute(0, 3, 1, 2))  # [0, 1] → [-1, 1]


def frechet_table(sets: Dict[str, torch.Tensor], reference: torch.Tensor,
                  spaces: Dict[str, Callable[[torch.Tensor], torch.Tensor]]) -> Dict[str, Dict[str, float]]:
    """Fréchet distance of every set in ``sets`` to ``reference``, in every feature space of ``spaces``.

    Returns:
        ``{space: {set name: distance}}``.
    """
    table = {}
    for space, embed in spaces.items():
        ref = feature_statistics(embed(reference))
        table[space] = {}
        for name, x in sets.items():
            st = feature_statistics(embed(x))
            table[space][name] = frechet_distance(ref.mu, ref.sigma, st.mu, st.sigma)
    return table
