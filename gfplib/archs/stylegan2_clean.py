r"""The "clean" StyleGAN2 generator — GFPGAN's generative facial prior (生成式人脸先验) without any custom op.

Karras et al., "Analyzing and Improving the Image Quality of StyleGAN" (StyleGAN2, CVPR 2020,
https://arxiv.org/abs/1912.04958), Sec. 2.2 (weight demodulation) and Fig. 2; used by GFPGAN
(https://arxiv.org/abs/2101.04061), Sec. 3.3 (generative facial prior), as the pretrained decoder ``stylegan_decoder`` of GFPGAN v1.2–v1.4.
Taught in ``notebooks/04_stylegan2_prior.ipynb``.

**Mapping network** (8 layers): :math:`w = \mathrm{MLP}(z / \sqrt{\overline{z^2} + \epsilon})`, ``style_mlp``.

**Modulated convolution** with weight demodulation (StyleGAN2, Eq. 1 and 3). Each conv layer has an affine map
:math:`A` from :math:`w` to one scale per *input* channel, :math:`s = A(w)`, then

.. math::  w'_{ijk} = s_i \cdot w_{ijk}, \qquad
           w''_{ijk} = w'_{ijk} \Big/ \sqrt{\textstyle\sum_{i,k} {w'_{ijk}}^2 + \epsilon}

(:math:`i` input channel, :math:`j` output channel, :math:`k` spatial tap). Demodulation re-normalises every output
channel to unit norm, which removes the "water droplet" artefacts of StyleGAN's AdaIN. A batch of different styles
needs no Python loop: one sample uses its modulated weight directly, a batch scales the input channels by
:math:`s` and the output channels by the demodulation factor around one shared convolution
(:func:`modulation_terms`).

**Synthesis**: a learned 4×4 ``constant_input`` → for each resolution 8…``out_size``: StyleConv (×2 upsample) →
StyleConv, each adding per-pixel noise :math:`\phi \cdot n` with a learned strength :math:`\phi` and a leaky ReLU; a
1×1 ToRGB (modulated, *not* demodulated) per resolution whose outputs are upsampled and summed (skip generator).

**Truncation** (ψ): :math:`w \leftarrow \bar w + \psi (w - \bar w)`. **Style mixing**: with two codes, layers
``< inject_index`` use the first and the rest the second.

"Clean" means plain bilinear ``F.interpolate`` replaces the FIR up/downsampling of the original architecture and
``nn.Linear``/explicit initialisation replaces the equalised-lr layers (see :mod:`gfplib.archs.stylegan2` for the
original). Class and attribute names follow the official ``stylegan2_clean_arch.py`` so that the ``stylegan_decoder.*``
weights of GFPGANv1.3/v1.4 load with ``strict=True``.
"""
from __future__ import annotations

import math
from typing import List, NamedTuple, Optional, Sequence, Union

import torch
from torch import nn
from torch.nn import functional as F

from .ops import check_out_size, stylegan2_channels, to_channels_last

__all__ = [
    "StyleGAN2Output", "NormStyleCode", "modulated_weight", "modulation_terms", "ConstantInput", "ModulatedConv2d",
    "StyleConv", "ToRGB",
    "StyleGAN2GeneratorBase", "StyleGAN2GeneratorClean",
]

SQRT2 = math.sqrt(2.0)


class StyleGAN2Output(NamedTuple):
    """What a StyleGAN2 generator returns; unpacks like the official ``(image, latent_or_None)`` tuple.

    Attributes:
        image: ``(B, 3, out_size, out_size)`` RGB image, nominally in [-1, 1] (not clamped).
        latent: ``(B, num_latent, num_style_feat)`` W+ codes actually used (only with ``return_latents=True``).
    """

    image: torch.Tensor
    latent: Optional[torch.Tensor]


class NormStyleCode(nn.Module):
    """Pixel norm of the input code: ``z / √(mean(z²) + 1e-8)`` over the feature dimension (first layer of the MLP)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(torch.mean(x**2, dim=1, keepdim=True) + 1e-8)  # (B, num_style_feat)


class ConstantInput(nn.Module):
    """The learned constant the synthesis network starts from.

    Args:
        num_channel: channels of the constant.
        size: spatial size (4 in StyleGAN2).
    """

    def __init__(self, num_channel: int, size: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, num_channel, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.weight.repeat(batch, 1, 1, 1)  # (B, C, 4, 4)


def modulated_weight(weight: torch.Tensor, style: torch.Tensor, demodulate: bool, eps: float) -> torch.Tensor:
    """Per-sample modulated (and optionally demodulated) conv weights — the equations of the paper, literally.

    Args:
        weight: ``(1, C_out, C_in, k, k)`` base weight.
        style: ``(B, C_in)`` per-input-channel scales s = A(w).
        demodulate: divide every output channel by its L2 norm.
        eps: ε inside the square root.

    Returns:
        ``(B, C_out, C_in, k, k)`` weights.
    """
    b, c_in = style.shape
    w = weight * style.view(b, 1, c_in, 1, 1)  # w'_{ijk} = s_i · w_{ijk}   (B, C_out, C_in, k, k)
    if demodulate:
        demod = torch.rsqrt(w.pow(2).sum([2, 3, 4]) + eps)  # 1 / √(Σ_{i,k} w'^2 + ε)   (B, C_out)
        w = w * demod.view(b, -1, 1, 1, 1)  # w'' = w' / √(Σ w'^2 + ε)
    return w


class Modulation(NamedTuple):
    """A modulated conv rewritten as a plain conv: ``out = conv(x · x_scale, weight) · out_scale``."""

    x_scale: Optional[torch.Tensor]  # (B, C_in, 1, 1) or None
    weight: torch.Tensor  # (C_out, C_in, k, k), shared by the batch
    out_scale: Optional[torch.Tensor]  # (B, C_out, 1, 1) or None


def modulation_terms(weight: torch.Tensor, style: torch.Tensor, demodulate: bool, eps: float,
                     gain: float = 1.0, rescale: bool = False) -> Modulation:
    r"""How to run a modulated convolution as one ordinary convolution, for any batch size.

    Scaling input channel i of the weights by s_i is the same as scaling input channel i of the *input* by s_i, and
    demodulation scales whole output channels, so

    .. math::  \mathrm{conv}(x, w'') = \mathrm{conv}(x \odot s, w) \odot d, \qquad
               d_j = 1 / \sqrt{\textstyle\sum_i s_i^2 \sum_k w_{ijk}^2 + \epsilon}.

    With one sample the modulated weight itself is cheapest (``x_scale = out_scale = None``); with B > 1 samples the
    input/output scaling keeps one shared weight and avoids a grouped convolution with B groups (which is several
    times slower on CPU for wide layers and in backward).

    Args:
        weight: ``(1, C_out, C_in, k, k)`` base weight (already equalised-lr scaled where applicable).
        style: ``(B, C_in)`` scales s = A(w).
        demodulate: apply weight demodulation.
        eps: ε of the demodulation.
        gain: constant output gain, folded into the weight or the output scale.
        rescale: divide s by m = max(1, max_i |s_i|) first and multiply the output by m (demodulation makes the
            result independent of the scale of s, up to ε), so that s² and Σ s² w² stay small — for float16, whose
            largest value is 65504 (see :mod:`gfplib.export`). Off by default: float32 results stay bit-identical.
    """
    b = style.shape[0]
    m = None
    if rescale:
        m = style.abs().amax(1, keepdim=True).clamp_min(1)  # (B, 1)
        style = style / m  # |s_i| ≤ 1: s² and the demodulation sum can no longer overflow
    if b == 1 and (demodulate or m is None):  # w'' does not depend on the scale of s: m drops out
        w = modulated_weight(weight, style, demodulate, eps)[0]  # (C_out, C_in, k, k)
        return Modulation(None, w if gain == 1.0 else w * gain, None)
    w = weight[0]  # (C_out, C_in, k, k)
    x_scale = style.view(b, -1, 1, 1)  # x_i ← s_i · x_i  ≡  w'_{ijk} = s_i · w_{ijk}
    if demodulate:
        # Σ_{i,k} (s_i w_{ijk})² = Σ_i s_i² · Σ_k w_{ijk}²: a (B, C_in) × (C_in, C_out) product, no per-sample weights
        demod = torch.rsqrt(style.pow(2) @ w.pow(2).sum([2, 3]).t() + eps)  # (B, C_out)
        return Modulation(x_scale, w, (demod * gain).view(b, -1, 1, 1))
    if m is not None:  # no demodulation (ToRGB): undo the rescaling on the output
        return Modulation(x_scale, w, (m * gain).view(b, 1, 1, 1))
    return Modulation(x_scale, w, None if gain == 1.0 else style.new_full((1, 1, 1, 1), gain))


class ModulatedConv2d(nn.Module):
    """Modulated convolution (no bias), optional demodulation, optional bilinear ×2 / ÷2 resampling before the conv.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: square kernel size.
        num_style_feat: dimension of the style code w.
        demodulate: apply weight demodulation (True in StyleConv, False in ToRGB).
        sample_mode: ``'upsample'``, ``'downsample'`` or ``None``.
        eps: ε of the demodulation.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, num_style_feat: int,
                 demodulate: bool = True, sample_mode: Optional[str] = None, eps: float = 1e-8) -> None:
        super().__init__()
        if sample_mode not in ("upsample", "downsample", None):
            raise ValueError(f"sample_mode must be 'upsample', 'downsample' or None, got {sample_mode!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.demodulate = demodulate
        self.sample_mode = sample_mode
        self.eps = eps
        self.rescale_style = False  # float16-safe modulation (modulation_terms(rescale=...)); gfplib.export.to_half
        # affine A: w -> s, one scale per input channel; bias 1 so that s ≈ 1 at initialisation
        self.modulation = nn.Linear(num_style_feat, in_channels, bias=True)
        nn.init.kaiming_normal_(self.modulation.weight, a=0, mode="fan_in", nonlinearity="linear")
        nn.init.constant_(self.modulation.bias, 1.0)
        fan_in = in_channels * kernel_size**2
        self.weight = nn.Parameter(torch.randn(1, out_channels, in_channels, kernel_size, kernel_size) / math.sqrt(fan_in))
        self.padding = kernel_size // 2

    def forward(self, x: torch.Tensor, style: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        """Args: x ``(B, C_in, H, W)``; style ``(B, num_style_feat)``; gain: output scale, folded into the (small)
        weight tensor instead of a pass over the (large) output. Returns ``(B, C_out, H', W')``."""
        if x.ndim != 4 or x.shape[1] != self.in_channels or style.shape != (x.shape[0], self.modulation.in_features):
            raise ValueError(f"ModulatedConv2d expects x (B, {self.in_channels}, H, W) and style "
                             f"(B, {self.modulation.in_features}); got {tuple(x.shape)} and {tuple(style.shape)}")
        s = self.modulation(style)  # s = A(w)   (B, C_in)
        m = modulation_terms(self.weight, s, self.demodulate, self.eps, gain, rescale=self.rescale_style)
        if m.x_scale is not None:
            x = x * m.x_scale  # (B, C_in, H, W)
        if self.sample_mode == "upsample":
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        elif self.sample_mode == "downsample":
            x = F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=False)
        x, weight = to_channels_last(x, m.weight)
        out = F.conv2d(x, weight, padding=self.padding)  # (B, C_out, H', W')
        return out if m.out_scale is None else out * m.out_scale

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, out_channels={self.out_channels}, kernel_size={self.kernel_size}, "
                f"demodulate={self.demodulate}, sample_mode={self.sample_mode}")


class StyleConv(nn.Module):
    """Modulated conv → ×√2 → + noise·φ → + bias → leaky ReLU(0.2).

    The √2 is the gain the original fused leaky ReLU applies, moved here so the clean net computes the same function.
    ``weight`` is the noise strength φ (name kept from the official checkpoints).

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: square kernel size.
        num_style_feat: dimension of w.
        demodulate: apply weight demodulation.
        sample_mode: ``'upsample'``, ``'downsample'`` or ``None``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, num_style_feat: int,
                 demodulate: bool = True, sample_mode: Optional[str] = None) -> None:
        super().__init__()
        self.modulated_conv = ModulatedConv2d(in_channels, out_channels, kernel_size, num_style_feat,
                                              demodulate=demodulate, sample_mode=sample_mode)
        self.weight = nn.Parameter(torch.zeros(1))  # noise strength φ
        self.bias = nn.Parameter(torch.zeros(1, out_channels, 1, 1))
        self.activate = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: Optional[torch.Tensor] = None,
                generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Args: x ``(B, C_in, H, W)``; style ``(B, num_style_feat)``; noise ``(B or 1, 1, H', W')`` or None (drawn)."""
        out = self.modulated_conv(x, style, gain=SQRT2)  # √2 · conv   (B, C_out, H', W')
        if noise is None:
            b, _, h, w = out.shape
            noise = torch.randn((b, 1, h, w), generator=generator, device=out.device, dtype=out.dtype)
        # in place on the fresh conv output (its backward does not need it): saves two full-size temporaries
        out = out.add_(self.weight * noise).add_(self.bias)  # noise injection φ·n, then bias
        return self.activate(out)


class ToRGB(nn.Module):
    """1×1 modulated conv (no demodulation) to RGB + bias, plus the upsampled RGB of the previous resolution.

    Args:
        in_channels: input channels.
        num_style_feat: dimension of w.
        upsample: upsample the incoming ``skip`` (bilinear ×2) before adding it.
    """

    def __init__(self, in_channels: int, num_style_feat: int, upsample: bool = True) -> None:
        super().__init__()
        self.upsample = upsample
        self.modulated_conv = ModulatedConv2d(in_channels, 3, kernel_size=1, num_style_feat=num_style_feat,
                                              demodulate=False, sample_mode=None)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Args: x ``(B, C, H, W)``; style ``(B, num_style_feat)``; skip ``(B, 3, H/2, W/2)`` or None."""
        out = (self.modulated_conv(x, style) + self.bias).contiguous()  # (B, 3, H, W), plain NCHW layout
        if skip is not None:
            if self.upsample:
                skip = F.interpolate(skip, scale_factor=2, mode="bilinear", align_corners=False)
            out = out + skip
        return out


StyleInput = Union[torch.Tensor, Sequence[torch.Tensor]]


class StyleGAN2GeneratorBase(nn.Module):
    """What both StyleGAN2 generators share: code handling (mapping, truncation, mixing, noise) and the synthesis loop.

    Subclasses build ``style_mlp``, ``constant_input``, ``style_conv1``, ``to_rgb1``, ``style_convs``, ``to_rgbs`` and
    the ``noises`` buffers (``noise0`` … ``noise{num_layers-1}``), and set ``num_style_feat``, ``channels``,
    ``log_size``, ``num_layers`` (= 2·log2(out_size) − 3 style convs) and ``num_latent`` (= 2·log2(out_size) − 2 codes,
    one per style conv plus one for the last ToRGB).
    """

    num_style_feat: int
    log_size: int
    num_layers: int
    num_latent: int

    def _init_layers(self, out_size: int, channels: dict, make_style_conv, make_to_rgb) -> None:
        self.out_size = out_size
        self.log_size = check_out_size(out_size)
        self.num_layers = (self.log_size - 2) * 2 + 1  # style convs: one at 4×4, two per resolution 8…out_size
        self.num_latent = self.log_size * 2 - 2  # W+ codes: style convs + final ToRGB
        self.constant_input = ConstantInput(channels["4"], size=4)
        self.style_conv1 = make_style_conv(channels["4"], channels["4"], None)
        self.to_rgb1 = make_to_rgb(channels["4"], False)
        self.style_convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        self.noises = nn.Module()
        for layer_idx in range(self.num_layers):  # fixed noise maps: 4, 8, 8, 16, 16, ...
            resolution = 2 ** ((layer_idx + 5) // 2)
            self.noises.register_buffer(f"noise{layer_idx}", torch.randn(1, 1, resolution, resolution))
        in_channels = channels["4"]
        for i in range(3, self.log_size + 1):
            out_channels = channels[str(2**i)]
            self.style_convs.append(make_style_conv(in_channels, out_channels, "upsample"))
            self.style_convs.append(make_style_conv(out_channels, out_channels, None))
            self.to_rgbs.append(make_to_rgb(out_channels, True))
            in_channels = out_channels

    # -------------------------------------------------------------------------------- helpers of the official API
    @property
    def device(self) -> torch.device:
        return self.constant_input.weight.device

    def make_noise(self, generator: Optional[torch.Generator] = None) -> List[torch.Tensor]:
        """Fresh noise maps, one per style conv: ``[(1,1,4,4), (1,1,8,8), (1,1,8,8), …]``."""
        dev = self.device
        noises = [torch.randn(1, 1, 4, 4, device=dev, generator=generator)]
        for i in range(3, self.log_size + 1):
            for _ in range(2):
                noises.append(torch.randn(1, 1, 2**i, 2**i, device=dev, generator=generator))
        return noises

    def get_latent(self, z: torch.Tensor) -> torch.Tensor:
        """Map ``z (B, num_style_feat)`` to ``w (B, num_style_feat)`` with the mapping network."""
        return self.style_mlp(z)

    @torch.no_grad()
    def mean_latent(self, num_latent: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Estimate the mean style ``w̄ (1, num_style_feat)`` from ``num_latent`` random ``z`` (truncation centre)."""
        if num_latent < 1:
            raise ValueError(f"num_latent must be ≥ 1, got {num_latent}")
        z = torch.randn(num_latent, self.num_style_feat, device=self.device, generator=generator)
        return self.style_mlp(z).mean(0, keepdim=True)

    def stored_noise(self) -> List[torch.Tensor]:
        """The noise buffers ``noise0`` … in layer order (what ``randomize_noise=False`` uses)."""
        return [getattr(self.noises, f"noise{i}") for i in range(self.num_layers)]

    def _check_code(self, code: torch.Tensor, what: str) -> None:
        if not isinstance(code, torch.Tensor):
            raise TypeError(f"{what} must be a torch.Tensor, got {type(code).__name__}")
        if not code.is_floating_point():
            raise TypeError(f"{what} must be a floating-point tensor, got dtype {code.dtype}")
        ok2 = code.ndim == 2 and code.shape[1] == self.num_style_feat
        ok3 = code.ndim == 3 and code.shape[1:] == (self.num_latent, self.num_style_feat)
        if not (ok2 or ok3):
            raise ValueError(f"{what} must have shape (B, {self.num_style_feat}) or (B, {self.num_latent}, "
                             f"{self.num_style_feat}), got {tuple(code.shape)}")

    def styles_to_latent(self, styles: StyleInput, input_is_latent: bool = False, truncation: float = 1,
                         truncation_latent: Optional[torch.Tensor] = None, inject_index: Optional[int] = None,
                         generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Turn the ``styles`` argument of ``forward`` into W+ codes ``(B, num_latent, num_style_feat)``.

        Mapping (unless ``input_is_latent``), truncation ``w̄ + ψ(w − w̄)``, and style mixing at ``inject_index``.
        """
        if isinstance(styles, torch.Tensor):
            styles = [styles]
        styles = list(styles)
        if len(styles) not in (1, 2):
            raise ValueError(f"styles must hold 1 code (or 2 for style mixing), got {len(styles)}")
        for k, s in enumerate(styles):
            self._check_code(s, f"styles[{k}]")
        if len(styles) == 2 and any(s.ndim != 2 for s in styles):
            raise ValueError("style mixing needs two (B, num_style_feat) codes, not per-layer (W+) codes")
        if not input_is_latent:
            styles = [self.style_mlp(s) for s in styles]  # z -> w
        if truncation < 1:
            if truncation_latent is None:
                raise ValueError("truncation < 1 needs truncation_latent (e.g. generator.mean_latent(4096))")
            styles = [truncation_latent + truncation * (s - truncation_latent) for s in styles]  # w̄ + ψ (w − w̄)
        if len(styles) == 1:
            s = styles[0]
            return s.unsqueeze(1).repeat(1, self.num_latent, 1) if s.ndim == 2 else s  # (B, num_latent, F)
        if inject_index is None:  # random crossover point, as in StyleGAN2's mixing regularisation
            inject_index = int(torch.randint(1, self.num_latent, (1,), generator=generator))
        if not 0 <= inject_index <= self.num_latent:
            raise ValueError(f"inject_index must be in [0, {self.num_latent}], got {inject_index}")
        latent1 = styles[0].unsqueeze(1).repeat(1, inject_index, 1)  # layers < inject_index: first code
        latent2 = styles[1].unsqueeze(1).repeat(1, self.num_latent - inject_index, 1)  # the rest: second code
        return torch.cat([latent1, latent2], 1)  # (B, num_latent, F)

    def noise_list(self, noise: Optional[Sequence[Optional[torch.Tensor]]], randomize_noise: bool
                   ) -> List[Optional[torch.Tensor]]:
        """Per-layer noise: the given list, else fresh noise (``None`` entries) or the stored buffers."""
        if noise is None:
            return [None] * self.num_layers if randomize_noise else self.stored_noise()
        noise = list(noise)
        if len(noise) != self.num_layers:
            raise ValueError(f"noise must be a list of {self.num_layers} tensors (or None), got {len(noise)}")
        return noise

    def synthesis(self, latent: torch.Tensor, noise: List[Optional[torch.Tensor]],
                  generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """W+ codes ``(B, num_latent, F)`` → image ``(B, 3, out_size, out_size)``."""
        out = self.constant_input(latent.shape[0])  # (B, C4, 4, 4)
        out = self.style_conv1(out, latent[:, 0], noise=noise[0], generator=generator)
        skip = self.to_rgb1(out, latent[:, 1])  # (B, 3, 4, 4)
        i = 1
        for conv1, conv2, noise1, noise2, to_rgb in zip(self.style_convs[::2], self.style_convs[1::2], noise[1::2],
                                                        noise[2::2], self.to_rgbs):
            out = conv1(out, latent[:, i], noise=noise1, generator=generator)  # ×2   (B, C, 2H, 2W)
            out = conv2(out, latent[:, i + 1], noise=noise2, generator=generator)
            skip = to_rgb(out, latent[:, i + 2], skip)  # RGB so far, upsampled, plus this resolution's RGB
            i += 2
        return skip

    def forward(self, styles: StyleInput, input_is_latent: bool = False,
                noise: Optional[Sequence[Optional[torch.Tensor]]] = None, randomize_noise: bool = True,
                truncation: float = 1, truncation_latent: Optional[torch.Tensor] = None,
                inject_index: Optional[int] = None, return_latents: bool = False, *,
                generator: Optional[torch.Generator] = None) -> StyleGAN2Output:
        """Generate images (same signature and return as the official generators, plus an optional ``generator``).

        Args:
            styles: list of one code ``(B, num_style_feat)`` — or ``(B, num_latent, num_style_feat)`` W+ codes — or of
                two codes for style mixing. A bare tensor is accepted as a one-element list.
            input_is_latent: the codes are already w (skip the mapping network).
            noise: list of ``num_layers`` noise maps (``None`` entries are drawn fresh), or None.
            randomize_noise: with ``noise=None``: draw fresh noise (True) or use the stored buffers (False).
            truncation: ψ ∈ [0, 1]; 1 = no truncation.
            truncation_latent: w̄ ``(1, num_style_feat)`` used when ``truncation < 1``.
            inject_index: crossover layer for style mixing (random in [1, num_latent) if None).
            return_latents: also return the W+ codes used.
            generator: optional ``torch.Generator`` for the random noise and the random ``inject_index``.

        Returns:
            ``StyleGAN2Output(image (B, 3, out_size, out_size), latent or None)``.
        """
        latent = self.styles_to_latent(styles, input_is_latent, truncation, truncation_latent, inject_index,
                                       generator)
        image = self.synthesis(latent, self.noise_list(noise, randomize_noise), generator)
        return StyleGAN2Output(image, latent if return_latents else None)


class StyleGAN2GeneratorClean(StyleGAN2GeneratorBase):
    """Clean StyleGAN2 generator (GFPGAN v1.2–v1.4 decoder).

    Args:
        out_size: output resolution, a power of two in [4, 1024] (512 for GFPGAN; 32/64 for toy models).
        num_style_feat: dimension of z and w.
        num_mlp: layers of the mapping network.
        channel_multiplier: width factor for resolutions ≥ 64 (2 in GFPGAN v1.3/v1.4).
        narrow: global width factor (e.g. 0.25 for a toy prior).
    """

    def __init__(self, out_size: int, num_style_feat: int = 512, num_mlp: int = 8, channel_multiplier: float = 2,
                 narrow: float = 1) -> None:
        super().__init__()
        self.num_style_feat = num_style_feat
        layers: List[nn.Module] = [NormStyleCode()]
        for _ in range(num_mlp):
            layers += [nn.Linear(num_style_feat, num_style_feat, bias=True),
                       nn.LeakyReLU(negative_slope=0.2, inplace=True)]
        self.style_mlp = nn.Sequential(*layers)
        for m in self.style_mlp.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, a=0.2, mode="fan_in", nonlinearity="leaky_relu")
                nn.init.zeros_(m.bias)
        self.channels = stylegan2_channels(channel_multiplier, narrow)

        def make_style_conv(c_in: int, c_out: int, sample_mode: Optional[str]) -> StyleConv:
            return StyleConv(c_in, c_out, kernel_size=3, num_style_feat=num_style_feat, demodulate=True,
                             sample_mode=sample_mode)

        def make_to_rgb(c_in: int, upsample: bool) -> ToRGB:
            return ToRGB(c_in, num_style_feat, upsample=upsample)

        self._init_layers(out_size, self.channels, make_style_conv, make_to_rgb)
