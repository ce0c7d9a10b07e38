r"""The original StyleGAN2 generator (equalised lr, FIR resampling, fused leaky ReLU) — the prior of GFPGANv1.

Karras et al., StyleGAN2 (https://arxiv.org/abs/1912.04958), Sec. 2.2 and Appendix B; GFPGAN
(https://arxiv.org/abs/2101.04061), Sec. 3.3 (generative facial prior): the paper model (GFPGANv1) starts from the released
``StyleGAN2_512_Cmul1_FFHQ`` prior, i.e. this class with ``channel_multiplier=1``. Taught in
``notebooks/04_stylegan2_prior.ipynb``.

Same function family as :mod:`gfplib.archs.stylegan2_clean` — modulation :math:`s = A(w)`,
:math:`w'_{ijk} = s_i \cdot w_{ijk}`, demodulation
:math:`w''_{ijk} = w'_{ijk} / \sqrt{\sum_{i,k} {w'_{ijk}}^2 + \epsilon}`
— with the original building blocks of :mod:`gfplib.archs.ops`:

* every weight is used through the equalised-lr scale, :math:`w = \lambda\, \hat w / \sqrt{\text{fan\_in}}`
  (:math:`\lambda = ` ``lr_mlp`` = 0.01 in the mapping network);
* ×2 upsampling inside a modulated conv is a stride-2 *transposed* convolution followed by the FIR blur
  :math:`k = \tfrac{4}{64}[1,3,3,1]^\top[1,3,3,1]` (``upfirdn2d``), and the ToRGB skip path is upsampled by
  ``upfirdn2d(up=2)`` instead of bilinear interpolation;
* activations are fused leaky ReLUs :math:`\sqrt 2\, \mathrm{lrelu}_{0.2}(x + b)` whose bias lives in ``activate.bias``.

Attribute names follow the official basicsr ``stylegan2_arch.py``, so
``StyleGAN2_512_Cmul1_FFHQ_B12G4_scratch_800k.pth``
(``params_ema``) loads with ``strict=True``.
"""
from __future__ import annotations

import math
from typing import List, Optional, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from .ops import EqualLinear, FusedLeakyReLU, UpFirDnSmooth, UpFirDnUpsample, stylegan2_channels
from .ops import to_channels_last
from .stylegan2_clean import NormStyleCode, StyleGAN2GeneratorBase, modulation_terms

__all__ = ["ModulatedConv2d", "StyleConv", "ToRGB", "StyleGAN2Generator"]


class ModulatedConv2d(nn.Module):
    """Modulated convolution with equalised lr and FIR-filtered resampling (no bias).

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: square kernel size.
        num_style_feat: dimension of w.
        demodulate: apply weight demodulation.
        sample_mode: ``'upsample'`` (transposed conv ×2 + blur), ``'downsample'`` (blur + stride-2 conv) or ``None``.
        resample_kernel: 1-D FIR kernel magnitudes.
        eps: ε of the demodulation.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, num_style_feat: int,
                 demodulate: bool = True, sample_mode: Optional[str] = None,
                 resample_kernel: Sequence[float] = (1, 3, 3, 1), eps: float = 1e-8) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.demodulate = demodulate
        self.sample_mode = sample_mode
        self.eps = eps
        self.rescale_style = False  # float16-safe modulation (modulation_terms(rescale=...)); gfplib.export.to_half
        if sample_mode == "upsample":
            self.smooth = UpFirDnSmooth(resample_kernel, upsample_factor=2, downsample_factor=1,
                                        kernel_size=kernel_size)
        elif sample_mode == "downsample":
            self.smooth = UpFirDnSmooth(resample_kernel, upsample_factor=1, downsample_factor=2,
                                        kernel_size=kernel_size)
        elif sample_mode is not None:
            raise ValueError(f"sample_mode must be 'upsample', 'downsample' or None, got {sample_mode!r}")
        self.scale = 1 / math.sqrt(in_channels * kernel_size**2)  # equalised lr: He constant
        self.modulation = EqualLinear(num_style_feat, in_channels, bias=True, bias_init_val=1, lr_mul=1,
                                      activation=None)  # A: w -> s, starts near s = 1
        self.weight = nn.Parameter(torch.randn(1, out_channels, in_channels, kernel_size, kernel_size))
        self.padding = kernel_size // 2

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """Args: x ``(B, C_in, H, W)``; style ``(B, num_style_feat)``. Returns ``(B, C_out, H', W')``."""
        if x.ndim != 4 or x.shape[1] != self.in_channels or style.shape != (x.shape[0], self.modulation.in_channels):
            raise ValueError(f"ModulatedConv2d expects x (B, {self.in_channels}, H, W) and style "
                             f"(B, {self.modulation.in_channels}); got {tuple(x.shape)} and {tuple(style.shape)}")
        s = self.modulation(style)  # s = A(w)   (B, C_in)
        m = modulation_terms(self.weight * self.scale, s, self.demodulate, self.eps,
                             rescale=self.rescale_style)  # see stylegan2_clean
        if m.x_scale is not None:
            x = x * m.x_scale  # x_i ← s_i · x_i   (B, C_in, H, W)
        if self.sample_mode == "upsample":
            # stride-2 transposed conv (weights as (C_in, C_out, k, k)), then the FIR blur crops to (2H, 2W)
            x, weight = to_channels_last(x, m.weight.transpose(0, 1))
            out = self.smooth(F.conv_transpose2d(x, weight, stride=2))
        elif self.sample_mode == "downsample":
            x, weight = to_channels_last(self.smooth(x), m.weight)
            out = F.conv2d(x, weight, stride=2)  # blur (anti-aliasing), then decimate
        else:
            x, weight = to_channels_last(x, m.weight)
            out = F.conv2d(x, weight, padding=self.padding)
        return out if m.out_scale is None else out * m.out_scale  # (B, C_out, H', W')

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, out_channels={self.out_channels}, kernel_size={self.kernel_size}, "
                f"demodulate={self.demodulate}, sample_mode={self.sample_mode}")


class StyleConv(nn.Module):
    """Modulated conv → + noise·φ → fused leaky ReLU (bias inside, ×√2).

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: square kernel size.
        num_style_feat: dimension of w.
        demodulate: apply weight demodulation.
        sample_mode: ``'upsample'``, ``'downsample'`` or ``None``.
        resample_kernel: 1-D FIR kernel magnitudes.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, num_style_feat: int,
                 demodulate: bool = True, sample_mode: Optional[str] = None,
                 resample_kernel: Sequence[float] = (1, 3, 3, 1)) -> None:
        super().__init__()
        self.modulated_conv = ModulatedConv2d(in_channels, out_channels, kernel_size, num_style_feat,
                                              demodulate=demodulate, sample_mode=sample_mode,
                                              resample_kernel=resample_kernel)
        self.weight = nn.Parameter(torch.zeros(1))  # noise strength φ
        self.activate = FusedLeakyReLU(out_channels)

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: Optional[torch.Tensor] = None,
                generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Args: x ``(B, C_in, H, W)``; style ``(B, num_style_feat)``; noise ``(B or 1, 1, H', W')`` or None (drawn)."""
        out = self.modulated_conv(x, style)  # (B, C_out, H', W')
        if noise is None:
            b, _, h, w = out.shape
            noise = torch.randn((b, 1, h, w), generator=generator, device=out.device, dtype=out.dtype)
        out = out + self.weight * noise  # noise injection φ·n
        return self.activate(out)  # √2 · lrelu(out + b)


class ToRGB(nn.Module):
    """1×1 modulated conv (no demodulation) to RGB + bias, plus the FIR-upsampled RGB of the previous resolution.

    Args:
        in_channels: input channels.
        num_style_feat: dimension of w.
        upsample: upsample the incoming ``skip`` with ``upfirdn2d(up=2)`` before adding it.
        resample_kernel: 1-D FIR kernel magnitudes.
    """

    def __init__(self, in_channels: int, num_style_feat: int, upsample: bool = True,
                 resample_kernel: Sequence[float] = (1, 3, 3, 1)) -> None:
        super().__init__()
        self.upsample = UpFirDnUpsample(resample_kernel, factor=2) if upsample else None
        self.modulated_conv = ModulatedConv2d(in_channels, 3, kernel_size=1, num_style_feat=num_style_feat,
                                              demodulate=False, sample_mode=None)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Args: x ``(B, C, H, W)``; style ``(B, num_style_feat)``; skip ``(B, 3, H/2, W/2)`` or None."""
        out = (self.modulated_conv(x, style) + self.bias).contiguous()  # (B, 3, H, W), plain NCHW layout
        if skip is not None:
            if self.upsample is not None:
                skip = self.upsample(skip)
            out = out + skip
        return out


class StyleGAN2Generator(StyleGAN2GeneratorBase):
    """Original StyleGAN2 generator (basicsr ``StyleGAN2Generator``; GFPGANv1's prior with ``channel_multiplier=1``).

    Forward signature and return value: see :meth:`StyleGAN2GeneratorBase.forward`.

    Args:
        out_size: output resolution, a power of two in [4, 1024].
        num_style_feat: dimension of z and w.
        num_mlp: layers of the mapping network.
        channel_multiplier: width factor for resolutions ≥ 64.
        resample_kernel: 1-D FIR kernel magnitudes; its outer product is the 2-D blur.
        lr_mlp: learning-rate multiplier of the mapping network (0.01: the mapping learns 100× slower).
        narrow: global width factor.
    """

    def __init__(self, out_size: int, num_style_feat: int = 512, num_mlp: int = 8, channel_multiplier: float = 2,
                 resample_kernel: Sequence[float] = (1, 3, 3, 1), lr_mlp: float = 0.01, narrow: float = 1) -> None:
        super().__init__()
        self.num_style_feat = num_style_feat
        resample_kernel = tuple(resample_kernel)
        layers: List[nn.Module] = [NormStyleCode()]
        for _ in range(num_mlp):
            layers.append(EqualLinear(num_style_feat, num_style_feat, bias=True, bias_init_val=0, lr_mul=lr_mlp,
                                      activation="fused_lrelu"))
        self.style_mlp = nn.Sequential(*layers)
        self.channels = stylegan2_channels(channel_multiplier, narrow)

        def make_style_conv(c_in: int, c_out: int, sample_mode: Optional[str]) -> StyleConv:
            return StyleConv(c_in, c_out, kernel_size=3, num_style_feat=num_style_feat, demodulate=True,
                             sample_mode=sample_mode, resample_kernel=resample_kernel)

        def make_to_rgb(c_in: int, upsample: bool) -> ToRGB:
            return ToRGB(c_in, num_style_feat, upsample=upsample, resample_kernel=resample_kernel)

        self._init_layers(out_size, self.channels, make_style_conv, make_to_rgb)
