r"""GFPGAN v1.2–v1.4 ("clean"): a degradation-removal U-Net steering a StyleGAN2 prior through CS-SFT layers.

Wang et al., "Towards Real-World Blind Face Restoration with Generative Facial Prior" (GFP-GAN, CVPR 2021,
https://arxiv.org/abs/2101.04061), Sec. 3.1–3.4 and Fig. 2. Taught in ``notebooks/03_unet_pyramid.ipynb``
(U-Net, latent code mapping, pyramid outputs); the CS-SFT layers are taken further in the notebook on the prior.

The network has three parts; ``x`` is the degraded face, RGB in [-1, 1]:

**Degradation removal module (退化去除模块, Sec. 3.2)** — a U-Net of residual blocks. The encoder halves the resolution
from ``out_size`` down to 4×4; the decoder goes back up, adding the encoder feature of the same resolution (skip
connection) before each up block. At every decoder resolution :math:`r \in \{8, 16, …, \text{out\_size}\}` it yields a
clean spatial feature :math:`F^{r}_{spatial}` and, through a 1×1 conv, an RGB image :math:`\hat y_r`. The RGBs are
supervised by the *pyramid restoration loss* (金字塔复原) against the downsampled ground truth,
:math:`\sum_r \lVert \hat y_r - y\!\downarrow_r \rVert_1` (Sec. 3.2 text; the paper gives it no equation number).
The paper writes the module as :math:`F_{latent}, F_{spatial} = \mathrm{U\text{-}Net}(x)` (Eq. 1).

**Latent code mapping (潜在代码映射, Sec. 3.3)** — the 4×4 bottleneck feature :math:`F_{latent}` is flattened and mapped
by one linear layer to latent codes :math:`\mathcal W = \mathrm{MLP}(F_{latent})` (Eq. 2); with ``different_w``
one 512-d code per StyleGAN2 layer (W+, ``num_latent = 2·log2(out_size) − 2`` codes), otherwise one code shared by all
layers. The codes drive the pretrained StyleGAN2 (生成式人脸先验, generative facial prior) which produces the GAN
features :math:`F_{GAN}`.

**Channel-split spatial feature transform (通道分割空间特征变换, CS-SFT, Sec. 3.4)** — at each resolution two small
conv nets turn :math:`F_{spatial}` into a per-pixel scale :math:`\alpha` and shift :math:`\beta` (Eq. 3), which
modulate half of the prior's channels (SFT, Eq. 3) while the other half passes through untouched (CS-SFT, Eq. 4):

.. math::  F_{output} = \operatorname{Concat}\big[\, F^{id}_{GAN},\; \alpha \odot F^{t}_{GAN} + \beta \,\big],
           \qquad (\alpha, \beta) = \mathcal M(F_{spatial})

The identity half keeps the prior's realistic details, the transformed half pulls the result towards the input's
identity (fidelity). With ``sft_half=False`` SFT modulates all channels.

"Clean" means the decoder is :class:`~gfplib.archs.stylegan2_clean.StyleGAN2GeneratorClean` (bilinear resampling, no
custom ops) and the U-Net uses plain ``nn.Conv2d``; :mod:`gfplib.archs.gfpgan` has the paper's original-arch model.
Class, attribute and argument names follow the official ``gfpganv1_clean_arch.py``, so ``GFPGANv1.3.pth`` /
``GFPGANv1.4.pth`` (key ``params_ema``) load with ``strict=True`` and the outputs match the official code.

Differences from the official module (none changes the numbers):

* ``forward`` takes no ``**kwargs``. The official forward silently swallows unknown keywords, among them the
  ``weight=0.5`` that the official inference helper passes; here ``weight`` is an explicit keyword that has no effect
  and warns (a misspelled keyword raises ``TypeError`` instead of being ignored).
* ``return_latents=True`` returns the W+ codes as a third field (the official code computes and discards them).
* ``generator=`` (keyword only) makes ``randomize_noise=True`` reproducible.
* ``decoder_load_path`` is kept for config compatibility but the file is read by
  :func:`gfplib.checkpoints.load_decoder_prior` (prefer calling it yourself after construction).
* :meth:`GFPGANv1Clean.degradation_removal` exposes the U-Net's outputs (features, α/β, codes, RGBs) on their own.
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Dict, List, NamedTuple, Optional, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from gfplib.checkpoints import freeze_decoder, load_decoder_prior

from .ops import check_out_size, stylegan2_channels
from .stylegan2_clean import StyleGAN2GeneratorClean, StyleGAN2Output

__all__ = [
    "cs_sft", "StyleGAN2GeneratorCSFT", "ResBlock", "unet_channels", "DegradationRemovalOutput", "GFPGANOutput",
    "GFPGANLatentOutput", "GFPGANv1Clean", "GFPGANv1CleanConfig",
]


# ------------------------------------------------------------------------------------------------------- CS-SFT
def cs_sft(feat: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor, sft_half: bool) -> torch.Tensor:
    """Channel-split spatial feature transform (GFP-GAN Eq. 4; plain SFT, Eq. 3, with ``sft_half=False``).

    Args:
        feat: ``(B, C, H, W)`` features of the StyleGAN2 prior, :math:`F_{GAN}`.
        scale: α, ``(B, C/2, H, W)`` with ``sft_half`` else ``(B, C, H, W)``.
        shift: β, same shape as ``scale``.
        sft_half: modulate only the second half of the channels; the first half is the identity branch.

    Returns:
        ``(B, C, H, W)``: ``cat[F_id, α ⊙ F_t + β]`` (``sft_half``) or ``α ⊙ F + β``.
    """
    c_sft = feat.shape[1] // 2 if sft_half else feat.shape[1]
    for name, t in (("scale", scale), ("shift", shift)):
        if t.ndim != 4 or t.shape[1:] != (c_sft, *feat.shape[2:]) or t.shape[0] not in (1, feat.shape[0]):
            raise ValueError(f"SFT {name} must have shape ({feat.shape[0]}, {c_sft}, {feat.shape[2]}, {feat.shape[3]}) "
                             f"for features {tuple(feat.shape)} (sft_half={sft_half}), got {tuple(t.shape)}")
    if not sft_half:
        return feat * scale + shift  # F_out = α ⊙ F + β   (Eq. 3)
    half = feat.shape[1] // 2
    feat_id, feat_t = feat[:, :half], feat[:, half:]  # (B, C/2, H, W) each: identity / transformed split
    return torch.cat([feat_id, feat_t * scale + shift], dim=1)  # F_out = cat[F_id, α ⊙ F_t + β]   (Eq. 4)


def check_conditions(conditions: Sequence[torch.Tensor], log_size: int) -> List[torch.Tensor]:
    """The SFT conditions as a list ``[α_8, β_8, α_16, β_16, …]``: pairs, at most one per resolution 8 … 2^log_size."""
    conditions = list(conditions)
    max_levels = log_size - 2
    if len(conditions) % 2 or len(conditions) > 2 * max_levels:
        raise ValueError(f"conditions must be [scale_8, shift_8, scale_16, shift_16, …]: an even number of at most "
                         f"{2 * max_levels} tensors, got {len(conditions)}")
    return conditions


class StyleGAN2GeneratorCSFT(StyleGAN2GeneratorClean):
    """Clean StyleGAN2 generator whose features are modulated by CS-SFT (the ``stylegan_decoder`` of GFPGANv1Clean).

    Same parameters as :class:`~gfplib.archs.stylegan2_clean.StyleGAN2GeneratorClean` (a prior's weights load into
    it with ``strict=True``); only ``forward`` changes: it takes the SFT conditions and applies them after the first
    (upsampling) conv of every resolution.

    Args:
        out_size: output resolution (power of two).
        num_style_feat: dimension of the style codes.
        num_mlp: layers of the mapping network.
        channel_multiplier: width factor for resolutions ≥ 64.
        narrow: global width factor.
        sft_half: apply SFT to half of the channels (CS-SFT) instead of all.
    """

    def __init__(self, out_size: int, num_style_feat: int = 512, num_mlp: int = 8, channel_multiplier: float = 2,
                 narrow: float = 1, sft_half: bool = False) -> None:
        super().__init__(out_size, num_style_feat=num_style_feat, num_mlp=num_mlp,
                         channel_multiplier=channel_multiplier, narrow=narrow)
        self.sft_half = sft_half

    def forward(self, styles, conditions: Sequence[torch.Tensor], input_is_latent: bool = False,
                noise: Optional[Sequence[Optional[torch.Tensor]]] = None, randomize_noise: bool = True,
                truncation: float = 1, truncation_latent: Optional[torch.Tensor] = None,
                inject_index: Optional[int] = None, return_latents: bool = False, *,
                generator: Optional[torch.Generator] = None) -> StyleGAN2Output:
        """Generate images modulated by the SFT ``conditions`` (official signature of the SFT generators).

        Args:
            styles: list of one code ``(B, num_style_feat)`` or W+ codes ``(B, num_latent, num_style_feat)`` (or two
                codes for style mixing); a bare tensor is accepted.
            conditions: ``[α_8, β_8, α_16, β_16, …]`` from the degradation-removal module; it may stop early (coarser
                levels only), as officially.
            input_is_latent: the codes are already w (skip the mapping network).
            noise: per-layer noise maps or None.
            randomize_noise: with ``noise=None``, draw fresh noise (True) or use the stored buffers (False).
            truncation: ψ; 1 = none.
            truncation_latent: w̄ for truncation.
            inject_index: style-mixing crossover layer.
            return_latents: also return the W+ codes used.
            generator: optional ``torch.Generator`` for the random noise.

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
            skip = to_rgb(out, latent[:, i + 2], skip)  # RGB so far, upsampled, plus this resolution's RGB
            i += 2
        return StyleGAN2Output(skip, latent if return_latents else None)


# ------------------------------------------------------------------------------------------------------- U-Net
class ResBlock(nn.Module):
    """Residual block with bilinear ×2 up- or ÷2 downsampling (the clean U-Net's unit).

    ``out = lrelu(conv2(resample(lrelu(conv1(x))))) + skip(resample(x))`` with a bias-free 1×1 ``skip``.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        mode: ``'down'`` (÷2, encoder) or ``'up'`` (×2, decoder).
    """

    def __init__(self, in_channels: int, out_channels: int, mode: str = "down") -> None:
        super().__init__()
        if mode not in ("down", "up"):
            raise ValueError(f"mode must be 'down' or 'up', got {mode!r}")
        self.conv1 = nn.Conv2d(in_channels, in_channels, 3, 1, 1)
        self.conv2 = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
        self.skip = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.mode = mode
        self.scale_factor = 0.5 if mode == "down" else 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x ``(B, C_in, H, W)``. Returns ``(B, C_out, H·s, W·s)`` with s = ½ or 2."""
        out = F.leaky_relu_(self.conv1(x), negative_slope=0.2)  # (B, C_in, H, W)
        out = F.interpolate(out, scale_factor=self.scale_factor, mode="bilinear", align_corners=False)
        out = F.leaky_relu_(self.conv2(out), negative_slope=0.2)  # (B, C_out, H·s, W·s)
        x = F.interpolate(x, scale_factor=self.scale_factor, mode="bilinear", align_corners=False)
        return out + self.skip(x)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


def unet_channels(channel_multiplier: float = 1, narrow: float = 1) -> Dict[str, int]:
    """Channels of the degradation-removal U-Net per resolution: half of StyleGAN2's (``unet_narrow = narrow / 2``).

    Keys are resolutions as strings (``'4'`` … ``'1024'``), as in the official code.
    """
    unet_narrow = narrow * 0.5  # by default the U-Net is half as wide as the decoder
    channels = {str(2**i): int(512 * unet_narrow) for i in range(2, 6)}
    for i, base in zip(range(6, 11), (256, 128, 64, 32, 16)):
        channels[str(2**i)] = int(base * channel_multiplier * unet_narrow)
    return channels


def check_sft_widths(unet: Dict[str, int], channel_multiplier: float, narrow: float, log_size: int) -> None:
    """The U-Net has ≥ 1 channel at every resolution 4 … 2^log_size and the prior exactly twice as many from 8 on.

    SFT splits the prior's features into halves the U-Net's width, so an odd prior width cannot work. Called before
    any layer is built; the prior's widths are ``stylegan2_channels(channel_multiplier, narrow)``.
    """
    for i in range(2, log_size + 1):
        if unet[str(2**i)] < 1:
            raise ValueError(f"the U-Net would have {unet[str(2**i)]} channels at {2**i}×{2**i}: choose a larger "
                             f"narrow or channel_multiplier")
    prior = stylegan2_channels(channel_multiplier, narrow)
    for i in range(3, log_size + 1):
        r = str(2**i)
        if prior[r] != 2 * unet[r]:
            raise ValueError(
                f"at {r}×{r} the prior has {prior[r]} channels but the U-Net {unet[r]}; SFT needs the prior to be "
                f"exactly twice as wide (an even width): choose narrow and channel_multiplier so that every "
                f"layer width is even")


def check_input(x: torch.Tensor, out_size: int) -> None:
    """``x`` must be a float batch ``(B, 3, out_size, out_size)`` (RGB in [-1, 1]; the range is not checked)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor (RGB in [-1, 1]), got dtype {x.dtype}")
    if x.ndim != 4 or x.shape[1] != 3 or x.shape[2:] != (out_size, out_size):
        raise ValueError(f"x must have shape (B, 3, {out_size}, {out_size}), got {tuple(x.shape)}; "
                         f"resize aligned faces to out_size first")


# ------------------------------------------------------------------------------------------------------ outputs
class DegradationRemovalOutput(NamedTuple):
    """Everything the degradation-removal module hands on (see :meth:`GFPGANv1Clean.degradation_removal`).

    Attributes:
        latent: style codes for the prior: ``(B, num_latent, num_style_feat)`` with ``different_w``, else
            ``(B, num_style_feat)``. They are w codes if ``input_is_latent`` else z codes for the mapping network.
        conditions: ``[α_8, β_8, α_16, β_16, …, α_out, β_out]``, each ``(B, C_sft, r, r)``.
        out_rgbs: intermediate RGB images ``(B, 3, r, r)`` for r = 8 … out_size (empty if ``return_rgb=False``).
        encoder_feats: encoder features from ``out_size/2`` down to 4 (the U-Net skips), each ``(B, C_r, r, r)``.
        decoder_feats: decoder features :math:`F_{spatial}` for r = 8 … out_size, each ``(B, C_r, r, r)``.
    """

    latent: torch.Tensor
    conditions: List[torch.Tensor]
    out_rgbs: List[torch.Tensor]
    encoder_feats: List[torch.Tensor]
    decoder_feats: List[torch.Tensor]


class GFPGANOutput(NamedTuple):
    """What GFPGAN's forward returns; unpacks like the official ``(image, out_rgbs)``.

    Attributes:
        image: restored face ``(B, 3, out_size, out_size)``, nominally in [-1, 1] (not clamped).
        out_rgbs: pyramid outputs ``(B, 3, r, r)`` for r = 8 … out_size (empty with ``return_rgb=False``).
    """

    image: torch.Tensor
    out_rgbs: List[torch.Tensor]


class GFPGANLatentOutput(NamedTuple):
    """``forward(..., return_latents=True)``: :class:`GFPGANOutput` plus the W+ codes ``(B, num_latent, F)`` used."""

    image: torch.Tensor
    out_rgbs: List[torch.Tensor]
    latent: torch.Tensor


# ------------------------------------------------------------------------------------------------------ the model
class GFPGANv1Clean(nn.Module):
    """GFPGAN v1.2 / v1.3 / v1.4: clean U-Net + clean StyleGAN2 prior with CS-SFT.

    The defaults are the official class defaults; the released v1.3/v1.4 weights need
    ``GFPGANv1Clean(512, channel_multiplier=2, fix_decoder=False, input_is_latent=True, different_w=True,
    sft_half=True)`` = ``GFPGANv1CleanConfig.release().build()``.

    Args:
        out_size: output (and input) resolution, a power of two ≥ 8 (512 for the released models).
        num_style_feat: dimension of the style codes.
        channel_multiplier: width factor of resolutions ≥ 64 (2 for v1.2–v1.4).
        decoder_load_path: StyleGAN2 prior checkpoint loaded into ``stylegan_decoder`` (see
            :func:`gfplib.checkpoints.load_decoder_prior`; calling it after construction is clearer).
        fix_decoder: freeze the prior (``requires_grad=False`` on every ``stylegan_decoder`` parameter).
        num_mlp: layers of the prior's mapping network.
        input_is_latent: the U-Net predicts w codes directly (skip the mapping network).
        different_w: predict one code per prior layer (W+) instead of one shared code.
        narrow: global width factor (toy models use e.g. 1/16).
        sft_half: CS-SFT (modulate half of the channels) instead of SFT on all channels.
    """

    def __init__(self, out_size: int, num_style_feat: int = 512, channel_multiplier: float = 1,
                 decoder_load_path: Optional[str] = None, fix_decoder: bool = True, num_mlp: int = 8,
                 input_is_latent: bool = False, different_w: bool = False, narrow: float = 1,
                 sft_half: bool = False) -> None:
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

        first = channels[str(out_size)]
        self.conv_body_first = nn.Conv2d(3, first, 1)
        # encoder: ResBlocks out_size → 4
        self.conv_body_down = nn.ModuleList()
        in_channels = first
        for i in range(log_size, 2, -1):
            out_channels = channels[str(2 ** (i - 1))]
            self.conv_body_down.append(ResBlock(in_channels, out_channels, mode="down"))
            in_channels = out_channels
        self.final_conv = nn.Conv2d(in_channels, channels["4"], 3, 1, 1)
        # decoder: ResBlocks 4 → out_size
        self.conv_body_up = nn.ModuleList()
        in_channels = channels["4"]
        for i in range(3, log_size + 1):
            out_channels = channels[str(2**i)]
            self.conv_body_up.append(ResBlock(in_channels, out_channels, mode="up"))
            in_channels = out_channels
        # pyramid outputs: 1×1 conv to RGB at every decoder resolution
        self.toRGB = nn.ModuleList(nn.Conv2d(channels[str(2**i)], 3, 1) for i in range(3, log_size + 1))
        # latent code mapping (Eq. 2): flattened 4×4 bottleneck → num_latent codes (W+) or one code
        linear_out = self.num_latent * num_style_feat if different_w else num_style_feat
        self.final_linear = nn.Linear(channels["4"] * 4 * 4, linear_out)
        # the generative facial prior
        self.stylegan_decoder = StyleGAN2GeneratorCSFT(out_size=out_size, num_style_feat=num_style_feat,
                                                       num_mlp=num_mlp, channel_multiplier=channel_multiplier,
                                                       narrow=narrow, sft_half=sft_half)
        if decoder_load_path:
            load_decoder_prior(self, decoder_load_path)
        if fix_decoder:
            freeze_decoder(self)
        # SFT heads (Eq. 3): (α, β) for half of the prior's channels (= U-Net width) or for all (2× U-Net width)
        self.condition_scale = nn.ModuleList()
        self.condition_shift = nn.ModuleList()
        for i in range(3, log_size + 1):
            c = channels[str(2**i)]
            sft_out = c if sft_half else 2 * c
            self.condition_scale.append(nn.Sequential(nn.Conv2d(c, c, 3, 1, 1), nn.LeakyReLU(0.2, True),
                                                      nn.Conv2d(c, sft_out, 3, 1, 1)))  # → α
            self.condition_shift.append(nn.Sequential(nn.Conv2d(c, c, 3, 1, 1), nn.LeakyReLU(0.2, True),
                                                      nn.Conv2d(c, sft_out, 3, 1, 1)))  # → β

    def degradation_removal(self, x: torch.Tensor, return_rgb: bool = True) -> DegradationRemovalOutput:
        """Run the U-Net (Eq. 1): encoder → latent code mapping → decoder with SFT conditions and pyramid RGBs.

        Args:
            x: degraded faces ``(B, 3, out_size, out_size)``, RGB in [-1, 1].
            return_rgb: also compute the intermediate RGB images (needed for the pyramid loss only).
        """
        check_input(x, self.out_size)
        encoder_feats, decoder_feats, conditions, out_rgbs = [], [], [], []
        # encoder: out_size → 4, halving the resolution in every ResBlock
        feat = F.leaky_relu_(self.conv_body_first(x), negative_slope=0.2)  # (B, C_out_size, out_size, out_size)
        for down in self.conv_body_down:
            feat = down(feat)  # (B, C_r, r, r) for r = out_size/2 … 4
            encoder_feats.append(feat)
        feat = F.leaky_relu_(self.final_conv(feat), negative_slope=0.2)  # F_latent   (B, C_4, 4, 4)
        # latent code mapping: W = Linear(flatten(F_latent))   (Eq. 2)
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
        """Restore faces.

        Args:
            x: degraded faces ``(B, 3, out_size, out_size)``, RGB in [-1, 1].
            return_latents: also return the W+ codes the prior used (as a third field).
            return_rgb: compute the 7 (``log2(out_size) − 2``) intermediate RGB images for the pyramid loss.
            randomize_noise: draw fresh StyleGAN2 noise (official default, stochastic output) or use the stored
                ``stylegan_decoder.noises.noise*`` buffers (deterministic).
            weight: accepted for compatibility with the official inference helper, which passes ``weight=0.5``;
                it has no effect there either. Warns if given.
            generator: optional ``torch.Generator`` for the random noise.

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
class GFPGANv1CleanConfig:
    """Constructor arguments of :class:`GFPGANv1Clean`; defaults = the official class defaults.

    Use :meth:`release` for the released v1.2–v1.4 weights and :meth:`tiny` for CPU toy models.
    """

    out_size: int = 512
    num_style_feat: int = 512
    channel_multiplier: float = 1  # the released v1.2–v1.4 use 2 (a wider prior at 64…512)
    decoder_load_path: Optional[str] = None
    fix_decoder: bool = True  # freeze the prior while training the U-Net (paper); v1.3 inference config sets False
    num_mlp: int = 8
    input_is_latent: bool = False  # True in every released model: the U-Net predicts w, not z
    different_w: bool = False  # True in every released model: one code per prior layer (W+)
    narrow: float = 1
    sft_half: bool = False  # True in every released model: CS-SFT

    @classmethod
    def release(cls) -> "GFPGANv1CleanConfig":
        """GFPGAN v1.2 / v1.3 / v1.4 (``GFPGANer(arch='clean', channel_multiplier=2)``)."""
        return cls(out_size=512, num_style_feat=512, channel_multiplier=2, fix_decoder=False, num_mlp=8,
                   input_is_latent=True, different_w=True, narrow=1, sft_half=True)

    @classmethod
    def tiny(cls, out_size: int = 32, narrow: float = 1 / 16, num_style_feat: int = 64,
             num_mlp: int = 2) -> "GFPGANv1CleanConfig":
        """Toy model on the release code path: 32² (or 64², 128²), 16× narrower, 64-d codes."""
        return cls(out_size=out_size, num_style_feat=num_style_feat, channel_multiplier=2, fix_decoder=True,
                   num_mlp=num_mlp, input_is_latent=True, different_w=True, narrow=narrow, sft_half=True)

    @classmethod
    def toy(cls) -> "GFPGANv1CleanConfig":
        """The shipped trained toy GFPGAN (``toy-gfpgan-32``, ``TrainConfig.toy()``): 32², the toy prior's decoder
        (128-d codes, 64 channels), a U-Net 1/8 of the release width."""
        return cls(out_size=32, num_style_feat=128, channel_multiplier=2, fix_decoder=True, num_mlp=4,
                   input_is_latent=True, different_w=True, narrow=0.125, sft_half=True)

    def kwargs(self) -> dict:
        return asdict(self)

    def build(self) -> GFPGANv1Clean:
        return GFPGANv1Clean(**asdict(self))
