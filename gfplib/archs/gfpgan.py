r"""GFPGAN v1, the paper model: the same U-Net / latent mapping / CS-SFT design on the original StyleGAN2 layers.

Wang et al., "Towards Real-World Blind Face Restoration with Generative Facial Prior" (GFP-GAN, CVPR 2021,
https://arxiv.org/abs/2101.04061), Sec. 3 and Fig. 2; weights ``GFPGANv1.pth``. Taught in
``notebooks/03_unet_pyramid.ipynb`` next to :mod:`gfplib.archs.gfpgan_clean`, whose docstring states the equations
(degradation removal 退化去除模块, Eq. 1; latent code mapping 潜在代码映射
:math:`\mathcal W = \mathrm{MLP}(F_{latent})`, Eq. 2; SFT heads :math:`(\alpha, \beta) = \mathcal M(F_{spatial})`,
Eq. 3; CS-SFT 通道分割空间特征变换
:math:`F_{out} = \operatorname{Concat}[F^{id}_{GAN}, \alpha \odot F^{t}_{GAN} + \beta]`, Eq. 4).

What differs from the clean model is only *how* each layer is built (StyleGAN2's conventions, see
:mod:`gfplib.archs.ops`):

* every conv / linear layer has an **equalised learning rate** (weights :math:`\hat w \sim \mathcal N(0, 1)`, used as
  :math:`\hat w / \sqrt{\text{fan\_in}}`) and activations are the **fused leaky ReLU** :math:`\sqrt 2\,
  \mathrm{lrelu}_{0.2}(x + b)`;
* the encoder's residual blocks (:class:`~gfplib.archs.ops.ResDownBlock`, the StyleGAN2 discriminator's block)
  **blur with a FIR kernel** ``resample_kernel`` (outer product of ``(1, 3, 3, 1)``), convolve with stride 2
  (anti-aliased downsampling) and add the skip path as :math:`(\text{out} + \text{skip})/\sqrt 2`; the decoder's
  :class:`ResUpBlock` upsamples bilinearly, also with the :math:`1/\sqrt 2` sum;
* the prior is :class:`~gfplib.archs.stylegan2.StyleGAN2Generator` (transposed conv + FIR blur, mapping network with
  learning-rate multiplier ``lr_mlp = 0.01``), loaded from ``StyleGAN2_512_Cmul1_FFHQ_B12G4_scratch_800k.pth``
  and frozen (``fix_decoder=True``) during training;
* the scale branch of every SFT head starts with bias 1 (``α ≈ 1`` at initialisation), the shift branch with bias 0.

Class, attribute and argument names follow the official ``gfpganv1_arch.py`` (``GFPGANv1.pth``, key ``params_ema``,
loads with ``strict=True``); forward differs from the official one only as described in
:mod:`gfplib.archs.gfpgan_clean` (explicit ``weight``, ``return_latents`` returns the codes, ``generator=``).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Optional, Sequence, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from gfplib.checkpoints import freeze_decoder, load_decoder_prior

from .gfpgan_clean import (DegradationRemovalOutput, GFPGANLatentOutput, GFPGANOutput, check_conditions, check_input,
                           check_sft_widths, cs_sft, unet_channels)
from .ops import ConvLayer, EqualConv2d, EqualLinear, FusedLeakyReLU, ResDownBlock, ScaledLeakyReLU, check_out_size
from .stylegan2 import StyleGAN2Generator
from .stylegan2_clean import StyleGAN2Output

__all__ = ["StyleGAN2GeneratorSFT", "ConvUpLayer", "ResUpBlock", "GFPGANv1", "GFPGANv1Config"]

SQRT2 = math.sqrt(2.0)


class StyleGAN2GeneratorSFT(StyleGAN2Generator):
    """Original-arch StyleGAN2 generator with CS-SFT (the ``stylegan_decoder`` of GFPGANv1).

    Same parameters as :class:`~gfplib.archs.stylegan2.StyleGAN2Generator`, so the official StyleGAN2 prior loads into
    it with ``strict=True``; only ``forward`` changes: it takes the SFT conditions and applies them after the first
    (upsampling) conv of every resolution.

    Args:
        out_size: output resolution (power of two).
        num_style_feat: dimension of the style codes.
        num_mlp: layers of the mapping network.
        channel_multiplier: width factor for resolutions ≥ 64.
        resample_kernel: 1-D FIR kernel magnitudes.
        lr_mlp: learning-rate multiplier of the mapping network.
        narrow: global width factor.
        sft_half: CS-SFT on half of the channels instead of SFT on all.
    """

    def __init__(self, out_size: int, num_style_feat: int = 512, num_mlp: int = 8, channel_multiplier: float = 2,
                 resample_kernel: Sequence[float] = (1, 3, 3, 1), lr_mlp: float = 0.01, narrow: float = 1,
                 sft_half: bool = False) -> None:
        super().__init__(out_size, num_style_feat=num_style_feat, num_mlp=num_mlp,
                         channel_multiplier=channel_multiplier, resample_kernel=resample_kernel, lr_mlp=lr_mlp,
                         narrow=narrow)
        self.sft_half = sft_half

    def forward(self, styles, conditions: Sequence[torch.Tensor], input_is_latent: bool = False,
                noise: Optional[Sequence[Optional[torch.Tensor]]] = None, randomize_noise: bool = True,
                truncation: float = 1, truncation_latent: Optional[torch.Tensor] = None,
                inject_index: Optional[int] = None, return_latents: bool = False, *,
                generator: Optional[torch.Generator] = None) -> StyleGAN2Output:
        """Generate images modulated by the SFT ``conditions``; arguments as in
        :meth:`gfplib.archs.gfpgan_clean.StyleGAN2GeneratorCSFT.forward`.

        Returns:
            ``StyleGAN2Output(image, latent or None)``, unpacks as the official ``(image, latent_or_None)``.
        """
        conditions = check_conditions(conditions, self.log_size)
        latent = self.styles_to_latent(styles, input_is_latent, truncation, truncation_latent, inject_index,
                                       generator)  # (B, num_latent, F)
        noise = self.noise_list(noise, randomize_noise)
        out = self.constant_input(latent.shape[0])  # (B, C4, 4, 4)
        out = self.style_conv1(out, latent[:, 0], noise=noise[0], generator=generator)
        skip = self.to_rgb1(out, latent[:, 1])  # (B, 3, 4, 4)
        i = 1
        for conv1, conv2, noise1, noise2, to_rgb in zip(self.style_convs[::2], self.style_convs[1::2], noise[1::2],
                                                        noise[2::2], self.to_rgbs):
            out = conv1(out, latent[:, i], noise=noise1, generator=generator)  # ×2 upsample   (B, C, 2H, 2W)
            if i < len(conditions):  # this resolution has (α, β) = conditions[i-1], conditions[i]
                out = cs_sft(out, conditions[i - 1], conditions[i], self.sft_half)
            out = conv2(out, latent[:, i + 1], noise=noise2, generator=generator)
            skip = to_rgb(out, latent[:, i + 2], skip)  # RGB so far, FIR-upsampled, plus this resolution's RGB
            i += 2
        return StyleGAN2Output(skip, latent if return_latents else None)


class ConvUpLayer(nn.Module):
    """Bilinear ×2 upsampling, then an equalised-lr conv, then (optionally) the fused leaky ReLU.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: conv kernel size.
        stride: conv stride.
        padding: conv zero padding.
        bias: learn a bias (inside the activation when ``activate``, else added by the conv).
        bias_init_val: initial bias of the conv (without activation).
        activate: apply the fused leaky ReLU (with bias) or, without bias, the scaled leaky ReLU.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 bias: bool = True, bias_init_val: float = 0, activate: bool = True) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.scale = 1 / math.sqrt(in_channels * kernel_size**2)  # equalised lr: He constant c
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        if bias and not activate:
            self.bias = nn.Parameter(torch.full((out_channels,), float(bias_init_val)))
        else:
            self.register_parameter("bias", None)
        if activate:
            self.activation = FusedLeakyReLU(out_channels) if bias else ScaledLeakyReLU(0.2)
        else:
            self.activation = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x ``(B, C_in, H, W)``. Returns ``(B, C_out, 2H, 2W)`` (for ``padding = kernel_size // 2``)."""
        out = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)  # (B, C_in, 2H, 2W)
        out = F.conv2d(out, self.weight * self.scale, bias=self.bias, stride=self.stride, padding=self.padding)
        return out if self.activation is None else self.activation(out)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, out_channels={self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")


class ResUpBlock(nn.Module):
    """Residual block with ×2 upsampling: ``(conv2↑(conv1(x)) + skip↑(x)) / √2``.

    Args:
        in_channels: input channels.
        out_channels: output channels.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = ConvLayer(in_channels, in_channels, 3, bias=True, activate=True)
        self.conv2 = ConvUpLayer(in_channels, out_channels, 3, stride=1, padding=1, bias=True, activate=True)
        self.skip = ConvUpLayer(in_channels, out_channels, 1, bias=False, activate=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x ``(B, C_in, H, W)``. Returns ``(B, C_out, 2H, 2W)``."""
        out = self.conv2(self.conv1(x))  # (B, C_out, 2H, 2W)
        return (out + self.skip(x)) / SQRT2  # /√2 keeps the variance of the two-path sum


class GFPGANv1(nn.Module):
    """GFPGAN v1 (paper model): original-arch U-Net + StyleGAN2 prior with CS-SFT.

    The defaults are the official class defaults; ``GFPGANv1.pth`` and the paper's training config need
    ``GFPGANv1(512, channel_multiplier=1, input_is_latent=True, different_w=True, sft_half=True)`` =
    ``GFPGANv1Config.paper().build()``.

    Args:
        out_size: output (and input) resolution, a power of two ≥ 8.
        num_style_feat: dimension of the style codes.
        channel_multiplier: width factor of resolutions ≥ 64 (1 for GFPGANv1).
        resample_kernel: 1-D FIR kernel of the blur in up/downsampling layers.
        decoder_load_path: StyleGAN2 prior checkpoint loaded into ``stylegan_decoder`` (see
            :func:`gfplib.checkpoints.load_decoder_prior`; calling it after construction is clearer).
        fix_decoder: freeze the prior (``requires_grad=False`` on every ``stylegan_decoder`` parameter).
        num_mlp: layers of the prior's mapping network.
        lr_mlp: learning-rate multiplier of the prior's mapping network.
        input_is_latent: the U-Net predicts w codes directly (skip the mapping network).
        different_w: predict one code per prior layer (W+) instead of one shared code.
        narrow: global width factor.
        sft_half: CS-SFT (modulate half of the channels) instead of SFT on all channels.
    """

    def __init__(self, out_size: int, num_style_feat: int = 512, channel_multiplier: float = 1,
                 resample_kernel: Sequence[float] = (1, 3, 3, 1), decoder_load_path: Optional[str] = None,
                 fix_decoder: bool = True, num_mlp: int = 8, lr_mlp: float = 0.01, input_is_latent: bool = False,
                 different_w: bool = False, narrow: float = 1, sft_half: bool = False) -> None:
        super().__init__()
        self.out_size = out_size
        self.log_size = log_size = check_out_size(out_size, minimum=8)  # at least one U-Net level (8×8)
        if num_style_feat < 1:
            raise ValueError(f"num_style_feat must be ≥ 1, got {num_style_feat}")
        self.num_style_feat = num_style_feat
        self.input_is_latent = input_is_latent
        self.different_w = different_w
        self.sft_half = sft_half
        self.num_latent = log_size * 2 - 2  # W+ codes of the prior: 2 per resolution 4…out_size, minus one
        channels = unet_channels(channel_multiplier, narrow)  # half the prior's width at every resolution
        check_sft_widths(channels, channel_multiplier, narrow, log_size)
        resample_kernel = tuple(resample_kernel)

        first = channels[str(out_size)]
        self.conv_body_first = ConvLayer(3, first, 1, bias=True, activate=True)
        # encoder: FIR-blurred, strided residual blocks out_size → 4
        self.conv_body_down = nn.ModuleList()
        in_channels = first
        for i in range(log_size, 2, -1):
            out_channels = channels[str(2 ** (i - 1))]
            self.conv_body_down.append(ResDownBlock(in_channels, out_channels, resample_kernel))
            in_channels = out_channels
        self.final_conv = ConvLayer(in_channels, channels["4"], 3, bias=True, activate=True)
        # decoder: ResUpBlocks 4 → out_size
        self.conv_body_up = nn.ModuleList()
        in_channels = channels["4"]
        for i in range(3, log_size + 1):
            out_channels = channels[str(2**i)]
            self.conv_body_up.append(ResUpBlock(in_channels, out_channels))
            in_channels = out_channels
        # pyramid outputs: 1×1 conv to RGB at every decoder resolution
        self.toRGB = nn.ModuleList(
            EqualConv2d(channels[str(2**i)], 3, 1, stride=1, padding=0, bias=True, bias_init_val=0)
            for i in range(3, log_size + 1))
        # latent code mapping (Eq. 2): flattened 4×4 bottleneck → num_latent codes (W+) or one code
        linear_out = self.num_latent * num_style_feat if different_w else num_style_feat
        self.final_linear = EqualLinear(channels["4"] * 4 * 4, linear_out, bias=True, bias_init_val=0, lr_mul=1,
                                        activation=None)
        # the generative facial prior
        self.stylegan_decoder = StyleGAN2GeneratorSFT(out_size=out_size, num_style_feat=num_style_feat,
                                                      num_mlp=num_mlp, channel_multiplier=channel_multiplier,
                                                      resample_kernel=resample_kernel, lr_mlp=lr_mlp, narrow=narrow,
                                                      sft_half=sft_half)
        if decoder_load_path:
            load_decoder_prior(self, decoder_load_path)
        if fix_decoder:
            freeze_decoder(self)
        # SFT heads (Eq. 3); the scale branch ends with bias 1 so that α ≈ 1 (identity) at initialisation
        self.condition_scale = nn.ModuleList()
        self.condition_shift = nn.ModuleList()
        for i in range(3, log_size + 1):
            c = channels[str(2**i)]
            sft_out = c if sft_half else 2 * c
            self.condition_scale.append(nn.Sequential(
                EqualConv2d(c, c, 3, stride=1, padding=1, bias=True, bias_init_val=0), ScaledLeakyReLU(0.2),
                EqualConv2d(c, sft_out, 3, stride=1, padding=1, bias=True, bias_init_val=1)))  # → α
            self.condition_shift.append(nn.Sequential(
                EqualConv2d(c, c, 3, stride=1, padding=1, bias=True, bias_init_val=0), ScaledLeakyReLU(0.2),
                EqualConv2d(c, sft_out, 3, stride=1, padding=1, bias=True, bias_init_val=0)))  # → β

    def degradation_removal(self, x: torch.Tensor, return_rgb: bool = True) -> DegradationRemovalOutput:
        """Run the U-Net (Eq. 1): encoder → latent code mapping → decoder with SFT conditions and pyramid RGBs.

        Args:
            x: degraded faces ``(B, 3, out_size, out_size)``, RGB in [-1, 1].
            return_rgb: also compute the intermediate RGB images (needed for the pyramid loss only).
        """
        check_input(x, self.out_size)
        encoder_feats, decoder_feats, conditions, out_rgbs = [], [], [], []
        # encoder: out_size → 4, halving the resolution in every ResDownBlock
        feat = self.conv_body_first(x)  # equalised 1×1 conv + fused leaky ReLU   (B, C_out_size, out_size, out_size)
        for down in self.conv_body_down:
            feat = down(feat)  # (B, C_r, r, r) for r = out_size/2 … 4
            encoder_feats.append(feat)
        feat = self.final_conv(feat)  # F_latent   (B, C_4, 4, 4)
        # latent code mapping: W = EqualLinear(flatten(F_latent))   (Eq. 2)
        latent = self.final_linear(feat.flatten(1))  # (B, num_latent·F) or (B, F)
        if self.different_w:
            latent = latent.view(latent.shape[0], -1, self.num_style_feat)  # W+   (B, num_latent, F)
        # decoder: 4 → out_size with U-Net skips; each resolution yields F_spatial, (α, β) and an RGB image
        for i, up in enumerate(self.conv_body_up):
            feat = up(feat + encoder_feats[-1 - i])  # skip connection, then ×2   (B, C_2r, 2r, 2r)
            decoder_feats.append(feat)
            conditions.append(self.condition_scale[i](feat))  # α   (B, C_sft, 2r, 2r)   (Eq. 3)
            conditions.append(self.condition_shift[i](feat))  # β   (B, C_sft, 2r, 2r)
            if return_rgb:
                out_rgbs.append(self.toRGB[i](feat))  # pyramid output ŷ_2r   (B, 3, 2r, 2r)
        return DegradationRemovalOutput(latent, conditions, out_rgbs, encoder_feats, decoder_feats)

    def forward(self, x: torch.Tensor, return_latents: bool = False, return_rgb: bool = True,
                randomize_noise: bool = True, weight: Optional[float] = None, *,
                generator: Optional[torch.Generator] = None):
        """Restore faces; arguments and return value as in :meth:`gfplib.archs.gfpgan_clean.GFPGANv1Clean.forward`.

        Returns:
            :class:`GFPGANOutput` ``(image, out_rgbs)``, or :class:`GFPGANLatentOutput` ``(image, out_rgbs, latent)``
            with ``return_latents=True``.
        """
        if weight is not None:
            warnings.warn("GFPGAN's forward ignores `weight` (so does the official code); blend the restored and the "
                          "input face yourself if you need a fidelity/quality trade-off", UserWarning, stacklevel=2)
        enc = self.degradation_removal(x, return_rgb=return_rgb)
        image, latent = self.stylegan_decoder([enc.latent], enc.conditions, input_is_latent=self.input_is_latent,
                                              randomize_noise=randomize_noise, return_latents=return_latents,
                                              generator=generator)
        if return_latents:
            return GFPGANLatentOutput(image, enc.out_rgbs, latent)
        return GFPGANOutput(image, enc.out_rgbs)


@dataclass(frozen=True)
class GFPGANv1Config:
    """Constructor arguments of :class:`GFPGANv1`; defaults = the official class defaults.

    :meth:`paper` is ``GFPGANv1.pth`` / ``train_gfpgan_v1.yml``; :meth:`tiny` a CPU toy on the same code path.
    """

    out_size: int = 512
    num_style_feat: int = 512
    channel_multiplier: float = 1
    resample_kernel: Tuple[int, ...] = (1, 3, 3, 1)  # FIR blur k kᵀ / Σ, as in StyleGAN2
    decoder_load_path: Optional[str] = None
    fix_decoder: bool = True  # the prior stays frozen during training (paper)
    num_mlp: int = 8
    lr_mlp: float = 0.01  # the prior's mapping network learns 100× slower (irrelevant while frozen)
    input_is_latent: bool = False  # True for GFPGANv1.pth: the U-Net predicts w, not z
    different_w: bool = False  # True for GFPGANv1.pth: one code per prior layer (W+)
    narrow: float = 1
    sft_half: bool = False  # True for GFPGANv1.pth: CS-SFT

    @classmethod
    def paper(cls) -> "GFPGANv1Config":
        """GFPGAN v1 (``GFPGANv1.pth``, ``options/train_gfpgan_v1.yml``)."""
        return cls(out_size=512, num_style_feat=512, channel_multiplier=1, fix_decoder=True, num_mlp=8, lr_mlp=0.01,
                   input_is_latent=True, different_w=True, narrow=1, sft_half=True)

    @classmethod
    def tiny(cls, out_size: int = 32, narrow: float = 1 / 16, num_style_feat: int = 64,
             num_mlp: int = 2) -> "GFPGANv1Config":
        """Toy model on the paper code path: 32² (or 64², 128²), 16× narrower, 64-d codes."""
        return cls(out_size=out_size, num_style_feat=num_style_feat, channel_multiplier=1, fix_decoder=True,
                   num_mlp=num_mlp, lr_mlp=0.01, input_is_latent=True, different_w=True, narrow=narrow,
                   sft_half=True)

    def kwargs(self) -> dict:
        return asdict(self)

    def build(self) -> GFPGANv1:
        return GFPGANv1(**asdict(self))
