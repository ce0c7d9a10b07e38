r"""StyleGAN2's low-level operators in plain PyTorch: FIR resampling (upfirdn2d), fused leaky ReLU, equalised lr.

Karras et al., "Analyzing and Improving the Image Quality of StyleGAN" (StyleGAN2, CVPR 2020,
https://arxiv.org/abs/1912.04958), Sec. 2 and Appendix B, building on "Progressive Growing of GANs" (Sec. 4.1,
equalised learning rate) and "Making Convolutional Networks Shift-Invariant Again" (anti-aliased resampling).
GFPGAN (https://arxiv.org/abs/2101.04061, Sec. 3.3) reuses a pretrained StyleGAN2 as its generative facial prior
(生成式人脸先验); these operators are what the *original* (non-"clean") prior and the discriminators are built from.
Taught in ``notebooks/04_stylegan2_prior.ipynb``.

**upfirdn2d** — upsample, FIR-filter, downsample. For a 2-D signal :math:`x`, zero-insertion factor :math:`u`,
padding :math:`(p_0, p_1)`, FIR kernel :math:`k` and decimation factor :math:`d`:

.. math::  y = \big(\operatorname{pad}_{p_0,p_1}(x\!\uparrow_u) \ast k\big)\!\downarrow_d,
           \qquad (x\!\uparrow_u)[u i] = x[i],\ 0 \text{ elsewhere}

where :math:`\ast` is a true convolution (kernel flipped), negative padding crops, and :math:`\downarrow_d` keeps every
:math:`d`-th sample. The output size per axis is :math:`\lfloor (u H + p_0 + p_1 - K) / d \rfloor + 1`. StyleGAN2
uses the separable binomial kernel :math:`k = \tfrac{1}{64} [1,3,3,1]^\top [1,3,3,1]` (times :math:`u^2` when
upsampling, so that the zero-inserted signal keeps its mean).

**Fused leaky ReLU** (the CUDA op ``fused_bias_act`` of the official code, written out):
:math:`\operatorname{flrelu}(x; b) = \sqrt 2 \cdot \operatorname{lrelu}_{0.2}(x + b)`. The :math:`\sqrt 2` gain
keeps the second moment of a unit-variance input roughly unchanged, as He initialisation does.

**Equalised learning rate**: weights are stored as :math:`\hat w \sim \mathcal N(0, 1/\lambda^2)` and used as
:math:`w = \lambda \cdot c \cdot \hat w` with the He constant :math:`c = 1/\sqrt{\text{fan\_in}}` and a learning-rate
multiplier :math:`\lambda` (0.01 in the mapping network). Adam's update is scale-invariant, so every layer then learns
at the same speed, :math:`\lambda` times the global rate.

**Memory layout.** On CPU the convolutions run in channels-last (NHWC) layout (:func:`to_channels_last`), which
oneDNN executes 1.3–2× faster; intermediate feature maps may therefore be NHWC-strided. Values and shapes are the
usual ``(B, C, H, W)``: use ``reshape``/``flatten`` rather than ``view`` on features; the networks' public outputs
(images, logits, returned features) are plain contiguous NCHW.

Parameter names (``weight``, ``bias``) and module nesting (``ConvLayer`` = ``nn.Sequential``) follow the official
basicsr ``stylegan2_arch.py`` so that released checkpoints load with ``strict=True``.
"""
from __future__ import annotations

import math
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "stylegan2_channels", "make_resample_kernel", "upfirdn2d", "UpFirDnUpsample", "UpFirDnDownsample",
    "UpFirDnSmooth", "fused_leaky_relu", "FusedLeakyReLU", "ScaledLeakyReLU", "EqualLinear", "EqualConv2d",
    "ConvLayer", "ResDownBlock", "to_channels_last",
]

SQRT2 = math.sqrt(2.0)  # gain of the fused leaky ReLU


def stylegan2_channels(channel_multiplier: float = 2, narrow: float = 1) -> Dict[str, int]:
    """StyleGAN2's channels per resolution, keyed by the resolution as a string (``'4'`` … ``'1024'``), as official.

    Up to 32×32 every layer has ``512·narrow`` channels; from 64×64 on the count halves with each doubling of the
    resolution, scaled by ``channel_multiplier`` (1 for the GFPGANv1 prior, 2 for the "clean" v1.3/v1.4 decoder).

    Args:
        channel_multiplier: width factor for resolutions ≥ 64.
        narrow: global width factor (``narrow=0.25`` gives 128 channels at 4…32; handy for toy models).
    """
    if channel_multiplier <= 0 or narrow <= 0:
        raise ValueError(f"channel_multiplier and narrow must be > 0, got {channel_multiplier} and {narrow}")
    channels = {str(2**i): int(512 * narrow) for i in range(2, 6)}
    for i, base in zip(range(6, 11), (256, 128, 64, 32, 16)):
        channels[str(2**i)] = int(base * channel_multiplier * narrow)
    if min(channels.values()) < 1:
        raise ValueError(f"narrow={narrow} with channel_multiplier={channel_multiplier} leaves a layer with 0 "
                         "channels: "
                         f"{channels}")
    return channels


def to_channels_last(x: torch.Tensor, weight: torch.Tensor):
    """On CPU, put input and weight of a conv in channels-last (NHWC) layout: oneDNN convolutions run about 1.3–2×
    faster that way on CPU (the values are unchanged; a no-op when already NHWC, and on other devices)."""
    if x.device.type != "cpu" or x.ndim != 4:
        return x, weight
    return x.contiguous(memory_format=torch.channels_last), weight.contiguous(memory_format=torch.channels_last)


def check_out_size(out_size: int, minimum: int = 4) -> int:
    """Validate a StyleGAN2 output size (a power of two in [minimum, 1024]) and return log2(out_size)."""
    if isinstance(out_size, bool) or not isinstance(out_size, int):
        raise TypeError(f"out_size must be an int, got {type(out_size).__name__}")
    log_size = int(math.log2(out_size)) if out_size > 0 else -1
    if out_size < minimum or out_size > 1024 or 2**log_size != out_size:
        raise ValueError(f"out_size must be a power of two between {minimum} and 1024, got {out_size}")
    return log_size


# ----------------------------------------------------------------------------------------------- FIR resampling
def make_resample_kernel(k: Union[Sequence[float], torch.Tensor]) -> torch.Tensor:
    """2-D FIR kernel from a 1-D one by outer product, normalised to sum 1: ``k2 = (k kᵀ) / Σ(k kᵀ)``."""
    k = torch.as_tensor(k, dtype=torch.float32)
    if k.ndim == 1:
        k = k[None, :] * k[:, None]  # k2[i, j] = k[i] k[j]   (K, K)
    if k.ndim != 2 or k.numel() == 0:
        raise ValueError(f"resample kernel must be 1-D or 2-D and non-empty, got shape {tuple(k.shape)}")
    return k / k.sum()


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1,
              pad: Tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Upsample by zero insertion, pad, convolve with a FIR kernel, downsample — applied to every channel alike.

    Written as zero insertion + ``F.pad`` (negative values crop) + one depthwise ``conv2d`` with the flipped kernel and
    ``stride=down`` (keeping every ``down``-th output is the same as convolving with that stride).

    Args:
        x: ``(B, C, H, W)`` input.
        kernel: ``(Kh, Kw)`` FIR kernel (not flipped; this function performs a true convolution).
        up: integer zero-insertion factor ≥ 1.
        down: integer decimation factor ≥ 1.
        pad: ``(p0, p1)`` padding before/after, the same for both axes (applied after upsampling).

    Returns:
        ``(B, C, H', W')`` with ``H' = (up·H + p0 + p1 − Kh) // down + 1`` (and likewise for W').
    """
    if x.ndim != 4:
        raise ValueError(f"upfirdn2d expects a (B, C, H, W) tensor, got shape {tuple(x.shape)}")
    if kernel.ndim != 2:
        raise ValueError(f"upfirdn2d expects a 2-D kernel, got shape {tuple(kernel.shape)}")
    if int(up) != up or int(down) != down or up < 1 or down < 1:
        raise ValueError(f"up and down must be integers ≥ 1, got up={up}, down={down}")
    b, c, h, w = x.shape
    kh, kw = kernel.shape
    p0, p1 = int(pad[0]), int(pad[1])
    out_h, out_w = up * h + p0 + p1 - kh, up * w + p0 + p1 - kw
    if out_h < 0 or out_w < 0:
        raise ValueError(f"upfirdn2d: input {h}x{w} (up={up}, pad={pad}) is smaller than the {kh}x{kw} kernel")
    if up > 1:  # zero insertion: x↑u[u·i] = x[i]
        x = x.reshape(b, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])  # (B, C, H, u, W, u)
        x = x.reshape(b, c, h * up, w * up)
    x = F.pad(x, [p0, p1, p0, p1])  # negative padding crops
    weight = torch.flip(kernel, [0, 1]).to(dtype=x.dtype, device=x.device)  # conv2d correlates: flip → convolution
    weight = weight.expand(c, 1, kh, kw)  # depthwise: the same FIR on every channel   (C, 1, Kh, Kw)
    return F.conv2d(x, weight, stride=down, groups=c)  # (B, C, H', W')


class _FIRBase(nn.Module):
    """Holds a FIR kernel as a non-persistent buffer: it follows ``.to(device)`` but is not in the state dict."""

    kernel: torch.Tensor

    def __init__(self, kernel: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("kernel", kernel, persistent=False)


class UpFirDnUpsample(_FIRBase):
    """×``factor`` upsampling with FIR interpolation (used on ToRGB's skip path).

    Args:
        resample_kernel: 1-D kernel magnitudes, e.g. ``(1, 3, 3, 1)``.
        factor: upsampling factor.
    """

    def __init__(self, resample_kernel: Sequence[float], factor: int = 2) -> None:
        # ×u²: zero insertion keeps only 1/u² of the mass
        super().__init__(make_resample_kernel(resample_kernel) * factor**2)
        self.factor = factor
        pad = self.kernel.shape[0] - factor
        self.pad = ((pad + 1) // 2 + factor - 1, pad // 2)  # centres the kernel: output is exactly factor × input

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, down=1, pad=self.pad)

    def extra_repr(self) -> str:
        return f"factor={self.factor}"


class UpFirDnDownsample(_FIRBase):
    """÷``factor`` downsampling with FIR anti-aliasing.

    Args:
        resample_kernel: 1-D kernel magnitudes.
        factor: downsampling factor.
    """

    def __init__(self, resample_kernel: Sequence[float], factor: int = 2) -> None:
        super().__init__(make_resample_kernel(resample_kernel))
        self.factor = factor
        pad = self.kernel.shape[0] - factor
        self.pad = ((pad + 1) // 2, pad // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=1, down=self.factor, pad=self.pad)

    def extra_repr(self) -> str:
        return f"factor={self.factor}"


class UpFirDnSmooth(_FIRBase):
    """The FIR blur that accompanies a strided (transposed) convolution, so that conv + blur = anti-aliased resampling.

    Upsampling: applied *after* a stride-2 transposed conv (kernel ``kernel_size``); downsampling: applied *before* a
    stride-2 conv. The padding makes the composite produce exactly 2× / ½× the input size.

    Args:
        resample_kernel: 1-D kernel magnitudes.
        upsample_factor: factor of the transposed conv this blur follows (1 if none).
        downsample_factor: factor of the strided conv this blur precedes (1 if none).
        kernel_size: kernel size of that convolution.
    """

    def __init__(self, resample_kernel: Sequence[float], upsample_factor: int = 1, downsample_factor: int = 1,
                 kernel_size: int = 1) -> None:
        kernel = make_resample_kernel(resample_kernel)
        if upsample_factor > 1:
            kernel = kernel * upsample_factor**2
        super().__init__(kernel)
        self.upsample_factor = upsample_factor
        self.downsample_factor = downsample_factor
        if upsample_factor > 1:
            pad = (kernel.shape[0] - upsample_factor) - (kernel_size - 1)
            self.pad = ((pad + 1) // 2 + upsample_factor - 1, pad // 2 + 1)
        elif downsample_factor > 1:
            pad = (kernel.shape[0] - downsample_factor) + (kernel_size - 1)
            self.pad = ((pad + 1) // 2, pad // 2)
        else:
            raise ValueError("UpFirDnSmooth needs upsample_factor > 1 or downsample_factor > 1")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=1, down=1, pad=self.pad)

    def extra_repr(self) -> str:
        return f"upsample_factor={self.upsample_factor}, downsample_factor={self.downsample_factor}"


# ----------------------------------------------------------------------------------------------- activations
def fused_leaky_relu(x: torch.Tensor, bias: Optional[torch.Tensor] = None, negative_slope: float = 0.2,
                     scale: float = SQRT2) -> torch.Tensor:
    """``scale · leaky_relu(x + bias, negative_slope)`` with ``bias`` broadcast over dim 1 (channels / features)."""
    if bias is not None:
        x = x + bias.view(1, -1, *([1] * (x.ndim - 2)))  # (B, C, ...) + (1, C, 1, ...)
    return F.leaky_relu(x, negative_slope) * scale  # flrelu(x; b) = √2 · lrelu(x + b)


class FusedLeakyReLU(nn.Module):
    """Bias + leaky ReLU + √2 gain, with the learnable per-channel ``bias`` of the official module.

    Args:
        channel: number of channels (dim 1).
        negative_slope: leaky ReLU slope.
        scale: output gain.
    """

    def __init__(self, channel: int, negative_slope: float = 0.2, scale: float = SQRT2) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channel))
        self.negative_slope = negative_slope
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, self.bias, self.negative_slope, self.scale)


class ScaledLeakyReLU(nn.Module):
    """``√2 · leaky_relu(x, negative_slope)`` without bias (after bias-free equalised convs)."""

    def __init__(self, negative_slope: float = 0.2) -> None:
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x, negative_slope=self.negative_slope) * SQRT2


# ----------------------------------------------------------------------------------------------- equalised lr
class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate: ``y = x (λ c Ŵ)ᵀ + λ b̂`` with ``c = 1/√in_channels``.

    Args:
        in_channels: input features.
        out_channels: output features.
        bias: whether to learn an additive bias.
        bias_init_val: initial bias value (1 for style modulations, so that styles start as identity scales).
        lr_mul: learning-rate multiplier λ (0.01 in StyleGAN2's mapping network).
        activation: ``'fused_lrelu'`` (bias + √2·leaky ReLU) or ``None``.
    """

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True, bias_init_val: float = 0,
                 lr_mul: float = 1, activation: Optional[str] = None) -> None:
        super().__init__()
        if activation not in ("fused_lrelu", None):
            raise ValueError(f"EqualLinear activation must be 'fused_lrelu' or None, got {activation!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.lr_mul = lr_mul
        self.activation = activation
        self.scale = lr_mul / math.sqrt(in_channels)  # λ · c
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels).div_(lr_mul))  # Ŵ ~ N(0, 1/λ²)
        if bias:
            self.bias = nn.Parameter(torch.full((out_channels,), float(bias_init_val)))
        else:
            self.register_parameter("bias", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias * self.lr_mul
        out = F.linear(x, self.weight * self.scale, bias)  # y = x (λ c Ŵ)ᵀ + λ b̂    (B, out_channels)
        if self.activation == "fused_lrelu":
            out = F.leaky_relu(out, 0.2) * SQRT2
        return out

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, out_channels={self.out_channels}, bias={self.bias is not None}, "
                f"lr_mul={self.lr_mul}, activation={self.activation}")


class EqualConv2d(nn.Module):
    """Conv2d with equalised learning rate: weights used as ``Ŵ / √(in_channels · k²)``.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: square kernel size.
        stride: convolution stride.
        padding: zero padding.
        bias: whether to learn an additive bias.
        bias_init_val: initial bias value.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 bias: bool = True, bias_init_val: float = 0) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.scale = 1 / math.sqrt(in_channels * kernel_size**2)  # He constant c
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        if bias:
            self.bias = nn.Parameter(torch.full((out_channels,), float(bias_init_val)))
        else:
            self.register_parameter("bias", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, weight = to_channels_last(x, self.weight * self.scale)
        return F.conv2d(x, weight, bias=self.bias, stride=self.stride, padding=self.padding)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, out_channels={self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}")


class ConvLayer(nn.Sequential):
    """[FIR blur →] equalised conv [stride 2] → fused leaky ReLU: the discriminators' conv unit.

    As an ``nn.Sequential`` its parameters are named ``0.weight`` / ``1.bias`` (or ``1.weight`` / ``2.bias`` after the
    blur), exactly as in the official checkpoints.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: conv kernel size.
        downsample: blur, then convolve with stride 2 (halves the resolution).
        resample_kernel: 1-D FIR kernel magnitudes for the blur.
        bias: learn a bias (inside the activation when ``activate``, else in the conv).
        activate: apply the (fused) leaky ReLU.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, downsample: bool = False,
                 resample_kernel: Sequence[float] = (1, 3, 3, 1), bias: bool = True, activate: bool = True) -> None:
        layers = []
        if downsample:
            layers.append(UpFirDnSmooth(resample_kernel, upsample_factor=1, downsample_factor=2,
                                        kernel_size=kernel_size))
            stride, padding = 2, 0  # the blur already padded
        else:
            stride, padding = 1, kernel_size // 2
        layers.append(EqualConv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                                  bias=bias and not activate))
        if activate:
            layers.append(FusedLeakyReLU(out_channels) if bias else ScaledLeakyReLU(0.2))
        super().__init__(*layers)
        self.padding = padding


class ResDownBlock(nn.Module):
    """Residual block with FIR-blurred ÷2 downsampling: ``(conv2↓(conv1(x)) + skip↓(x)) / √2``.

    The unit of the StyleGAN2 discriminator and of GFPGANv1's encoder (basicsr calls it ``ResBlock``; renamed here so
    that it is not confused with the clean U-Net's :class:`gfplib.archs.gfpgan_clean.ResBlock`).

    Args:
        in_channels: input channels.
        out_channels: output channels (the resolution halves).
        resample_kernel: 1-D FIR kernel magnitudes.
    """

    def __init__(self, in_channels: int, out_channels: int, resample_kernel: Sequence[float] = (1, 3, 3, 1)) -> None:
        super().__init__()
        self.conv1 = ConvLayer(in_channels, in_channels, 3, bias=True, activate=True)
        self.conv2 = ConvLayer(in_channels, out_channels, 3, downsample=True, resample_kernel=resample_kernel,
                               bias=True, activate=True)
        self.skip = ConvLayer(in_channels, out_channels, 1, downsample=True, resample_kernel=resample_kernel,
                              bias=False, activate=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.conv1(x))  # (B, C_out, H/2, W/2)
        return (out + self.skip(x)) / SQRT2  # /√2 keeps the variance of the sum of two unit-variance paths
