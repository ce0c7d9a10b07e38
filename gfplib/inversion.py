r"""GAN inversion: restore a face by *searching* the latent space of a frozen StyleGAN2 — the route GFPGAN argues against.

Paper: §2 related work (generative priors used through GAN inversion: PULSE, mGANprior and others) and §3.3, where
GFPGAN instead *maps* the U-Net's latent feature to the codes in one forward pass (latent code mapping, Eq. 2).
Study note: Introduction · Generative Priors (GAN 逆映射: find the latent code closest to a given image).

For one degraded face x, inversion solves

.. math::

    \hat w = \arg\min_w \; \lVert L(G(w)) - L(x) \rVert_1
             + \lambda_p \, \lVert \phi(L(G(w))) - \phi(L(x)) \rVert
             + \lambda_w \, \tfrac{1}{F}\lVert w - \bar w \rVert_2^2,
    \qquad \hat y = G(\hat w)

with G the frozen prior, w one code shared by every layer (*w space*) or one code per layer (*W+*), L a fixed
low-pass — area downsampling to ``match_size`` — that stands in for the unknown degradation (the setting is blind:
only what survives a strong blur is trusted), φ optional perceptual features, and w̄ the prior's mean code, which keeps
w where the prior draws realistic faces. Optionally the per-layer noise maps are optimised too, held near unit
variance. Each face costs ``steps`` forward and backward passes of G, where GFPGAN needs one forward pass.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["InversionConfig", "InversionResult", "invert"]


@dataclass(frozen=True)
class InversionConfig:
    """Settings of :func:`invert`.

    Attributes:
        space: ``"w"`` (one code for every layer) or ``"w+"`` (one code per layer: more freedom, less realism).
        steps: Adam steps per batch.
        lr: peak learning rate (linear warm-up over the first 5 % of steps, cosine decay to 0).
        match_size: side of the low-pass L (area downsampling); the output size means no low-pass.
        perceptual: λ_p, weight of the perceptual term (needs ``vgg`` in :func:`invert`).
        w_reg: λ_w, pull towards the mean code w̄ (per code dimension).
        optimize_noise: also optimise the noise maps (regularised to zero mean, unit variance).
        noise_reg: weight of that regulariser.
        mean_samples: random z used to estimate w̄.
        seed: seeds w̄'s estimate and the initial noise maps (the result is deterministic for a seed).
    """

    space: str = "w"
    steps: int = 200
    lr: float = 0.05
    match_size: int = 16
    perceptual: float = 0.0
    w_reg: float = 1e-3
    optimize_noise: bool = False
    noise_reg: float = 1.0
    mean_samples: int = 4096
    seed: int = 0

    def __post_init__(self) -> None:
        if self.space not in ("w", "w+"):
            raise ValueError(f"space must be 'w' or 'w+', got {self.space!r}")
        for name in ("steps", "match_size", "mean_samples"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        for name in ("lr", "perceptual", "w_reg", "noise_reg"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")


@dataclass
class InversionResult:
    """What :func:`invert` found: ``image`` ``(B, 3, S, S)`` in [-1, 1] = G(ŵ), ``latent`` the W+ codes
    ``(B, num_latent, F)``, ``noise`` the noise maps used, ``losses`` the objective per step (batch mean),
    ``seconds`` the wall time."""

    image: torch.Tensor
    latent: torch.Tensor
    noise: List[torch.Tensor]
    losses: List[float] = field(default_factory=list)
    seconds: float = 0.0


def _low_pass(img: torch.Tensor, size: int) -> torch.Tensor:
    return img if img.shape[-1] == size else F.adaptive_avg_pool2d(img, size)


def invert(prior: nn.Module, x: torch.Tensor, cfg: InversionConfig = InversionConfig(),
           vgg: Optional[nn.Module] = None) -> InversionResult:
    """Find codes of the frozen StyleGAN2 ``prior`` whose image matches the degraded faces ``x`` (see the module).

    Args:
        prior: a StyleGAN2 generator of this package (``StyleGAN2GeneratorClean`` / ``StyleGAN2Generator``); it is
            not modified (its parameters are not optimised).
        x: degraded faces ``(B, 3, S, S)`` in [-1, 1], S = the prior's output size.
        cfg: the settings.
        vgg: a feature extractor returning ``{layer: features}`` (e.g. ``load_toy_vgg()``), for ``cfg.perceptual``.

    Returns:
        :class:`InversionResult`.
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 3 or not x.is_floating_point():
        raise ValueError(f"x must be a float tensor (B, 3, S, S), got "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    size = prior.out_size
    if x.shape[-2:] != (size, size):
        raise ValueError(f"x must be {size}x{size} like the prior's output, got {tuple(x.shape[-2:])}")
    if cfg.match_size > size:
        raise ValueError(f"match_size {cfg.match_size} is larger than the image ({size})")
    if cfg.perceptual > 0 and vgg is None:
        raise ValueError("cfg.perceptual > 0 needs a feature network: pass vgg=")
    t0 = time.perf_counter()
    dev = x.device
    gen = torch.Generator(dev).manual_seed(cfg.seed)
    params = [p.requires_grad for p in prior.parameters()]
    prior.requires_grad_(False)
    try:
        with torch.no_grad():
            w_mean = prior.mean_latent(cfg.mean_samples, generator=gen)  # (1, F)
        b, n_lat = x.shape[0], prior.num_latent
        n_codes = n_lat if cfg.space == "w+" else 1
        w = w_mean.detach().clone().unsqueeze(1).repeat(b, n_codes, 1).requires_grad_(True)  # (B, n_codes, F)
        noise = [n.detach().clone().repeat(b, 1, 1, 1) for n in prior.make_noise(generator=gen)]
        for n in noise:
            n.requires_grad_(cfg.optimize_noise)
        opt = torch.optim.Adam([w] + (noise if cfg.optimize_noise else []), lr=cfg.lr, betas=(0.9, 0.999))
        target = _low_pass(x, cfg.match_size)
        feats_target = vgg(target) if cfg.perceptual > 0 else None
        warm = max(1, cfg.steps // 20)

        def codes() -> torch.Tensor:  # (B, num_latent, F): W+ as is, w repeated for every layer
            return w if cfg.space == "w+" else w.expand(b, n_lat, -1)

        losses = []
        for step in range(cfg.steps):
            lr = cfg.lr * min(1.0, (step + 1) / warm) * 0.5 * (1 + math.cos(math.pi * step / cfg.steps))
            for g in opt.param_groups:
                g["lr"] = lr
            image = prior.synthesis(codes(), noise)
            low = _low_pass(image, cfg.match_size)
            loss = (low - target).abs().flatten(1).mean(1)  # per face
            if feats_target is not None:
                feats = vgg(low)
                loss = loss + cfg.perceptual * sum((feats[k] - feats_target[k]).abs().flatten(1).mean(1)
                                                   for k in feats)
            loss = loss + cfg.w_reg * (w - w_mean.unsqueeze(1)).pow(2).mean((1, 2))
            if cfg.optimize_noise:
                loss = loss + cfg.noise_reg * sum(n.mean((1, 2, 3)).pow(2) + (n.var((1, 2, 3)) - 1).pow(2)
                                                  for n in noise)
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()  # faces are independent: the sum gives each face its own gradient
            opt.step()
            losses.append(float(loss.detach().mean()))
        with torch.no_grad():
            latent = codes().detach().clone()
            image = prior.synthesis(latent, [n.detach() for n in noise]).clamp(-1, 1)
    finally:
        for p, flag in zip(prior.parameters(), params):
            p.requires_grad_(flag)
    return InversionResult(image, latent, [n.detach() for n in noise], losses, time.perf_counter() - t0)
