r"""Discriminators of GFPGAN: the whole-face StyleGAN2 discriminator and the facial-component discriminator.

GFPGAN (https://arxiv.org/abs/2101.04061), Sec. 3.5 (Eqs. 6 and 7). The adversarial loss on the whole face uses the
StyleGAN2 discriminator (Karras et al., https://arxiv.org/abs/1912.04958, residual architecture of Fig. 7) with the
non-saturating logistic loss

.. math::  \mathcal L_{adv} = -\lambda_{adv}\, \mathbb E_{\hat y} \operatorname{softplus}(-D(\hat y)).

The facial component loss (面部组成损失) crops the left eye, right eye and mouth with RoI-align and judges each crop with
its own small :class:`FacialComponentDiscriminator`, adding a Gram-matrix style loss on its features
:math:`\mathcal L_{style} = \lambda_{ss}\, \| \mathrm{Gram}(\psi(\hat y_{ROI})) - \mathrm{Gram}(\psi(y_{ROI})) \|_1`,
for which ``forward(x, return_feats=True)`` hands back the two intermediate feature maps :math:`\psi`.

**Minibatch standard deviation** (Karras et al., Progressive GAN, Sec. 3): split the batch into groups of
``G = min(B, stddev_group)``, compute each feature's standard deviation over a group, average it over channels and
positions to one number per group, and append it as an extra constant feature map before the last conv. A generator
that collapses to one face produces a tell-tale zero there.

Taught with the training losses of the series (adversarial and facial component losses). Parameter names follow
the official basicsr / GFPGAN code so that the released discriminator checkpoints load with ``strict=True``.
"""
from __future__ import annotations

from typing import List, NamedTuple, Optional, Sequence

import torch
from torch import nn

from .ops import ConvLayer, EqualLinear, ResDownBlock, check_out_size, stylegan2_channels

__all__ = ["StyleGAN2Discriminator", "FacialComponentDiscriminator", "ComponentDiscOutput"]


def _check_image_batch(x: torch.Tensor, size: Optional[int], name: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} expects a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} expects a floating-point image tensor in [-1, 1], got dtype {x.dtype}")
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"{name} expects RGB images of shape (B, 3, H, W), got {tuple(x.shape)}")
    if size is not None and tuple(x.shape[2:]) != (size, size):
        raise ValueError(f"{name} was built for {size}x{size} images, got {x.shape[2]}x{x.shape[3]}")


class StyleGAN2Discriminator(nn.Module):
    """StyleGAN2 residual discriminator: image ``(B, 3, S, S)`` → realness logit ``(B, 1)``.

    ``conv_body`` = 1×1 ConvLayer (fromRGB) + one :class:`~gfplib.archs.ops.ResDownBlock` per halving down to
    4×4; then minibatch stddev, a 3×3 ConvLayer and two equalised linear layers.

    Args:
        out_size: input resolution S, a power of two in [8, 1024].
        channel_multiplier: width factor for resolutions ≥ 64 (1 in GFPGANv1's training config).
        resample_kernel: 1-D FIR kernel magnitudes of the anti-aliasing blur.
        stddev_group: group size G of the minibatch-stddev feature; the batch must be a multiple of
            ``min(B, stddev_group)``.
        narrow: global width factor.
    """

    def __init__(self, out_size: int, channel_multiplier: float = 2, resample_kernel: Sequence[float] = (1, 3, 3, 1),
                 stddev_group: int = 4, narrow: float = 1) -> None:
        super().__init__()
        log_size = check_out_size(out_size, minimum=8)
        channels = stylegan2_channels(channel_multiplier, narrow)
        self.out_size = out_size
        resample_kernel = tuple(resample_kernel)
        conv_body: List[nn.Module] = [ConvLayer(3, channels[str(out_size)], 1, bias=True, activate=True)]  # fromRGB
        in_channels = channels[str(out_size)]
        for i in range(log_size, 2, -1):  # S → S/2 → … → 4
            out_channels = channels[str(2 ** (i - 1))]
            conv_body.append(ResDownBlock(in_channels, out_channels, resample_kernel))
            in_channels = out_channels
        self.conv_body = nn.Sequential(*conv_body)
        self.final_conv = ConvLayer(in_channels + 1, channels["4"], 3, bias=True, activate=True)  # +1: stddev map
        self.final_linear = nn.Sequential(
            EqualLinear(channels["4"] * 4 * 4, channels["4"], bias=True, bias_init_val=0, lr_mul=1,
                        activation="fused_lrelu"),
            EqualLinear(channels["4"], 1, bias=True, bias_init_val=0, lr_mul=1, activation=None),
        )
        if stddev_group < 1:
            raise ValueError(f"stddev_group must be ≥ 1, got {stddev_group}")
        self.stddev_group = stddev_group
        self.stddev_feat = 1  # channels averaged together into one stddev map

    def minibatch_stddev(self, feat: torch.Tensor) -> torch.Tensor:
        """Append the minibatch-stddev map: ``(B, C, H, W)`` → ``(B, C + 1, H, W)``."""
        b, c, h, w = feat.shape
        group = min(b, self.stddev_group)
        if b % group != 0:
            raise ValueError(f"minibatch stddev: batch size {b} must be a multiple of min(batch, stddev_group="
                             f"{self.stddev_group}) = {group}")
        # sample n·group… is split as (group, B/group): sample k joins the group of all samples ≡ k mod B/group
        std = feat.reshape(group, -1, self.stddev_feat, c // self.stddev_feat, h, w)  # (G, B/G, F, C/F, H, W)
        std = torch.sqrt(std.var(0, unbiased=False) + 1e-8)  # σ over the group   (B/G, F, C/F, H, W)
        std = std.mean([2, 3, 4], keepdim=True).squeeze(2)  # one number per group   (B/G, F, 1, 1)
        std = std.repeat(group, 1, h, w)  # (B, F, H, W)
        return torch.cat([feat, std], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x ``(B, 3, S, S)`` RGB in [-1, 1]. Returns ``(B, 1)`` logits (real > 0 after training)."""
        _check_image_batch(x, self.out_size, "StyleGAN2Discriminator")
        out = self.conv_body(x)  # (B, C4, 4, 4)
        out = self.final_conv(self.minibatch_stddev(out))  # (B, C4, 4, 4)
        return self.final_linear(out.flatten(1))  # flattened in (C, H, W) order   (B, 1)


class ComponentDiscOutput(NamedTuple):
    """Output of :class:`FacialComponentDiscriminator`; unpacks like the official ``(out, feats_or_None)``.

    Attributes:
        out: ``(B, 1, H/4, W/4)`` patch logits.
        feats: ``[ (B, 128, H/2, W/2), (B, 256, H/4, W/4) ]`` features for the Gram style loss, or None.
    """

    out: torch.Tensor
    feats: Optional[List[torch.Tensor]]


class FacialComponentDiscriminator(nn.Module):
    """VGG-style patch discriminator for one facial component (eye or mouth crop, 80×80 or 120×120 in GFPGAN).

    conv1 (3→64) → conv2 ↓ (64→128) → conv3 (128→128) → [feat 1] → conv4 ↓ (128→256) → conv5 (256→256) → [feat 2] →
    final_conv (256→1, no activation): a map of logits, one per receptive field. ``narrow`` scales every width
    (1: the official network; the toy recipe uses a narrower one, as its global discriminator is narrower too).
    """

    def __init__(self, narrow: float = 1.0) -> None:
        super().__init__()
        if not narrow > 0:
            raise ValueError(f"narrow must be > 0, got {narrow!r}")
        c1, c2, c3 = (max(1, int(c * narrow)) for c in (64, 128, 256))  # narrow=1: the official widths
        k = (1, 3, 3, 1)
        self.conv1 = ConvLayer(3, c1, 3, downsample=False, resample_kernel=k, bias=True, activate=True)
        self.conv2 = ConvLayer(c1, c2, 3, downsample=True, resample_kernel=k, bias=True, activate=True)
        self.conv3 = ConvLayer(c2, c2, 3, downsample=False, resample_kernel=k, bias=True, activate=True)
        self.conv4 = ConvLayer(c2, c3, 3, downsample=True, resample_kernel=k, bias=True, activate=True)
        self.conv5 = ConvLayer(c3, c3, 3, downsample=False, resample_kernel=k, bias=True, activate=True)
        self.final_conv = ConvLayer(c3, 1, 3, bias=True, activate=False)

    def forward(self, x: torch.Tensor, return_feats: bool = False) -> ComponentDiscOutput:
        """Args: x ``(B, 3, H, W)`` RGB crops in [-1, 1] (H, W ≥ 8); return_feats: also return the two feature maps.

        Returns:
            ``ComponentDiscOutput(out (B, 1, H/4, W/4), feats or None)``.
        """
        _check_image_batch(x, None, "FacialComponentDiscriminator")
        if min(x.shape[2:]) < 8:
            raise ValueError(f"FacialComponentDiscriminator needs crops of at least 8x8, got {tuple(x.shape[2:])}")
        feats: Optional[List[torch.Tensor]] = [] if return_feats else None
        feat = self.conv3(self.conv2(self.conv1(x)))  # (B, 128, H/2, W/2)
        if feats is not None:
            feats.append(feat.clone(memory_format=torch.contiguous_format))  # a copy, plain NCHW layout
        feat = self.conv5(self.conv4(feat))  # (B, 256, H/4, W/4)
        if feats is not None:
            feats.append(feat.clone(memory_format=torch.contiguous_format))
        return ComponentDiscOutput(self.final_conv(feat).contiguous(), feats)
