r"""Turning GFPGAN's spatial modulation up and down: the controls of the CS-SFT layers (Sec. 3.4 channel-split SFT).

At every decoder resolution r the U-Net predicts a scale and a shift, :math:`(\alpha_r, \beta_r) =
\mathrm{Conv}(F^r_{spatial})`, and the spatial feature transform (SFT, Eq. 3) modulates the prior's features,
:math:`\alpha \odot F_{GAN} + \beta` — the official code computes ``out * scale + shift``, so α is a plain factor and
the *identity transform* is α = 1, β = 0. The channel-split SFT (CS-SFT, Eq. 4) applies it to one half of the
channels only and passes the other half through: :math:`F_{output} = \mathrm{Concat}[F^{id}_{GAN},
\alpha \odot F^{t}_{GAN} + \beta]`.

:func:`modulate_conditions` moves each pair towards the identity transform with a strength s ≥ 0,

.. math::  \alpha_s = 1 + s\,(\alpha - 1), \qquad \beta_s = s\,\beta
           \quad\Longrightarrow\quad \alpha_s \odot F + \beta_s = F + s\,(\alpha \odot F + \beta - F),

so the modulated half moves linearly from the prior's own features (s = 0: SFT off, the prior drawing from the
mapped codes alone) to the trained model's (s = 1), and beyond (s > 1). :func:`capture_sft_features` records the
decoder's features just before and just after the SFT of one resolution with forward hooks (the decoder's forward is
not changed), :func:`restore_modulated` runs a GFPGAN with modulated conditions and :func:`strength_curve` measures
fidelity and realness against the strength. They work on
``GFPGANv1Clean`` and ``GFPGANv1`` (toy and released weights); no parameters or buffers are added.
Taught in ``notebooks/06_cs_sft.ipynb``.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from numbers import Real
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Union

import torch
from torch import nn

__all__ = ["Strength", "condition_resolutions", "modulate_conditions", "capture_sft_features", "restore_modulated",
           "strength_curve"]

#: One strength for every resolution, or ``{resolution: strength}`` (resolutions not named keep strength 1).
Strength = Union[float, Mapping[int, float]]


def condition_resolutions(conditions: Sequence[torch.Tensor]) -> List[int]:
    """The resolutions r of ``[α_8, β_8, α_16, β_16, …]``, read from the tensors' shapes (``(B, C, r, r)`` each)."""
    conditions = list(conditions)
    if len(conditions) % 2:
        raise ValueError(f"conditions must be (α, β) pairs [α_8, β_8, α_16, β_16, …], got {len(conditions)} tensors")
    out = []
    for k in range(0, len(conditions), 2):
        a, b = conditions[k], conditions[k + 1]
        if a.ndim != 4 or a.shape != b.shape or a.shape[2] != a.shape[3]:
            raise ValueError(f"condition pair {k // 2}: α {tuple(a.shape)} and β {tuple(b.shape)} must be equal "
                             f"(B, C, r, r) tensors")
        out.append(int(a.shape[2]))
    return out


def _check_strength(s, where: str) -> float:
    if isinstance(s, bool) or not isinstance(s, Real) or not math.isfinite(s) or s < 0:
        raise ValueError(f"strength {where} must be a finite number ≥ 0 (0 = SFT off, 1 = the trained model), "
                         f"got {s!r}")
    return float(s)


def modulate_conditions(conditions: Sequence[torch.Tensor], strength: Strength = 1.0) -> List[torch.Tensor]:
    """Scale the SFT modulation: every (α, β) moved towards the identity transform (α = 1, β = 0).

    Args:
        conditions: ``[α_8, β_8, α_16, β_16, …]`` as :meth:`GFPGANv1Clean.degradation_removal` returns them.
        strength: s ≥ 0 for every resolution, or ``{resolution: s}``; resolutions not named keep s = 1.
            s = 0 turns that SFT off exactly, s = 1 returns the pair unchanged (the same tensors).

    Returns:
        the new list ``[α_s, β_s, …]`` with α_s = 1 + s(α − 1) and β_s = sβ.
    """
    resolutions = condition_resolutions(conditions)
    if isinstance(strength, Mapping):
        for r in strength:
            if r not in resolutions:
                raise ValueError(f"no SFT layer at resolution {r!r}; the conditions are for {resolutions}")
        per_res = {r: _check_strength(s, f"at {r}×{r}") for r, s in strength.items()}
    else:
        s = _check_strength(strength, "")
        per_res = {r: s for r in resolutions}
    out = []
    for r, alpha, beta in zip(resolutions, conditions[::2], conditions[1::2]):
        s = per_res.get(r, 1.0)
        if s == 1.0:
            out += [alpha, beta]  # the trained model, bit for bit
        elif s == 0.0:
            out += [torch.ones_like(alpha), torch.zeros_like(beta)]  # identity transform: 1 ⊙ F + 0 = F
        else:
            out += [1 + s * (alpha - 1), s * beta]  # α_s = 1 + s(α − 1), β_s = sβ
    return out


@contextmanager
def capture_sft_features(decoder: nn.Module, resolution: int) -> Iterator[Dict[str, torch.Tensor]]:
    """Record the decoder's features around the SFT at ``resolution`` during the forward passes in the block.

    The SFT sits between the two StyleConvs of a resolution (``style_convs[2k]`` upsamples, ``style_convs[2k + 1]``
    follows), so a forward hook on the first gives :math:`F_{GAN}` and a pre-hook on the second gives
    :math:`F_{output}`. With CS-SFT the first half of the channels of ``out`` is the pass-through (identity) half::

        with capture_sft_features(net.stylegan_decoder, 16) as feats:
            net(x)
        feats["gan"], feats["out"]  # (B, C, 16, 16) each: before and after the SFT (the last forward's)

    Args:
        decoder: the ``stylegan_decoder`` of a GFPGAN (any StyleGAN2 generator with ``style_convs``).
        resolution: 8, 16, …, out_size.
    """
    log_size = getattr(decoder, "log_size", None)
    if not isinstance(decoder, nn.Module) or log_size is None or not hasattr(decoder, "style_convs"):
        raise TypeError(f"decoder must be a StyleGAN2 decoder (net.stylegan_decoder), got {type(decoder).__name__}")
    valid = [2**i for i in range(3, log_size + 1)]
    if isinstance(resolution, bool) or resolution not in valid:
        raise ValueError(f"no SFT layer at resolution {resolution!r}; this decoder has {valid}")
    k = valid.index(resolution)
    feats: Dict[str, torch.Tensor] = {}
    hooks = [decoder.style_convs[2 * k].register_forward_hook(lambda m, inp, out: feats.__setitem__("gan", out)),
             decoder.style_convs[2 * k + 1].register_forward_pre_hook(lambda m, inp: feats.__setitem__("out", inp[0]))]
    try:
        yield feats
    finally:
        for h in hooks:
            h.remove()


def restore_modulated(net: nn.Module, x: torch.Tensor, strength: Strength = 1.0, *, randomize_noise: bool = True,
                      generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """GFPGAN's forward with the SFT conditions scaled by :func:`modulate_conditions`; returns ŷ ``(B, 3, H, W)``.

    ``strength=1`` is ``net(x).image`` (same noise for the same ``generator``); ``strength=0`` is the prior drawing
    from the mapped codes alone. Not clamped, like the forward.
    """
    enc = net.degradation_removal(x, return_rgb=False)
    return net.stylegan_decoder([enc.latent], modulate_conditions(enc.conditions, strength),
                                input_is_latent=net.input_is_latent, randomize_noise=randomize_noise,
                                generator=generator).image


@torch.no_grad()
def strength_curve(net: nn.Module, x: torch.Tensor, y: torch.Tensor, strengths: Sequence[Strength],
                   identity_net: nn.Module, vgg: nn.Module, *, seed: int = 0) -> Dict[str, List[float]]:
    """Fidelity and realness of :func:`restore_modulated` for each strength, on one batch of faces.

    Every strength uses the same noise (``seed``) and the metrics of :func:`gfplib.train.evaluate_restoration`:
    ``psnr`` (dB, uint8), ``id_cos`` (identity cosine to y, fidelity to the person) and ``fd_vgg`` (Fréchet
    distance of the restored set to the set of y in the perceptual net's feature space: realness *and* variety of
    the set). The U-Net and the features of y are computed once.

    Args:
        net: a GFPGAN; x, y: degraded inputs and ground truth ``(N, 3, H, W)`` in [-1, 1], N ≥ 2.
        strengths: the settings to measure (each as :func:`modulate_conditions` takes it).
        identity_net, vgg: the identity and the perceptual network (toy-arcface, toy-vgg at the toy scale).
    """
    from gfplib.metrics import frechet_distance_from_features
    from gfplib.pretrain.evaluate import identity_features, perceptual_features
    from gfplib.train import evaluate_restoration

    if x.shape != y.shape or len(x) < 2:
        raise ValueError(f"x {tuple(x.shape)} and y {tuple(y.shape)} must be batches of the same shape, N ≥ 2")
    enc = net.degradation_removal(x, return_rgb=False)
    id_y, vgg_y = identity_features(identity_net, y), perceptual_features(vgg, y)
    out: Dict[str, List[float]] = {"psnr": [], "id_cos": [], "fd_vgg": []}
    for s in strengths:
        y_hat = net.stylegan_decoder([enc.latent], modulate_conditions(enc.conditions, s),
                                     input_is_latent=net.input_is_latent, randomize_noise=True,
                                     generator=torch.Generator().manual_seed(seed)).image.clamp(-1, 1)
        out["psnr"].append(evaluate_restoration(y_hat, y)["psnr"])
        out["id_cos"].append(float((identity_features(identity_net, y_hat) * id_y).sum(1).mean()))  # unit norm
        out["fd_vgg"].append(frechet_distance_from_features(perceptual_features(vgg, y_hat), vgg_y))
    return out
