"""Figures of the series: the GFPGAN pipeline diagram, image grids, the degradation chain step by step.

Plain functions that return a ``matplotlib.figure.Figure``, so tests can call them and widgets can wrap them
(:mod:`gfplib.widgets`). They never call ``plt.show()`` themselves. Used in ``notebooks/00_overview.ipynb`` (the
pipeline) and ``notebooks/01_degradation.ipynb`` (the degradation model); :func:`count_parameters` makes the
parameter table of ``notebooks/03_unet_pyramid.ipynb``.
"""
from __future__ import annotations

import math
from types import MappingProxyType
from typing import Dict, Mapping, Optional, Sequence

import numpy as np

__all__ = ["draw_pipeline", "show_images", "plot_degradation_steps", "psnr", "GFPGAN_PARTS", "count_parameters"]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB between two images with values in [0, 1] (or two uint8 images)."""
    from gfplib.degradation import as_float_image

    x, y = as_float_image(a, "a").astype(np.float64), as_float_image(b, "b").astype(np.float64)
    if x.shape != y.shape:
        raise ValueError(f"images differ in shape: {x.shape} vs {y.shape}")
    mse = float(np.mean((x - y) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)  # PSNR = 10 log10(MAX² / MSE), MAX = 1


def show_images(images: Sequence[np.ndarray], titles: Optional[Sequence[str]] = None, *, ncols: Optional[int] = None,
                size: float = 2.6, cmap: str = "viridis", suptitle: Optional[str] = None, fontsize: float = 9):
    """A grid of images (RGB HWC uint8/float in [0, 1], or 2-D arrays shown with ``cmap``), axes hidden.

    Returns:
        The matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    images = list(images)
    if not images:
        raise ValueError("show_images needs at least one image")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"got {len(images)} images but {len(titles)} titles")
    n = len(images)
    ncols = min(n, ncols or n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.4 if suptitle else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        img = np.asarray(images[i])
        if img.ndim == 2:
            ax.imshow(img, cmap=cmap, interpolation="nearest")
        else:
            ax.imshow(np.clip(img, 0, 1) if img.dtype.kind == "f" else img, interpolation="nearest")
        if titles is not None:
            ax.set_title(titles[i], fontsize=fontsize)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_degradation_steps(gt: np.ndarray, *, sigma_x: float, sigma_y: float, theta: float, scale: float,
                           noise: float, quality: int, seed: int = 0, kernel_size: Optional[int] = None,
                           zoom: bool = True):
    """Each step of x = [(y ⊛ k_σ)↓_r + n_δ]_JPEG_q for one fixed setting, side by side.

    Panels: clean y, kernel k_σ, blurred, downsampled (shown at its own pixel size), noisy, JPEG, and the result
    resized back, with its PSNR against y. Colour jitter is not applied (it is an extra of the official training code, not part of the formula).

    Args:
        gt: clean RGB face ``(H, W, 3)``.
        sigma_x, sigma_y, theta: blur kernel (pixels, pixels, radians).
        scale: downsampling factor r.
        noise: δ on the 0–255 scale.
        quality: JPEG quality q.
        seed: seeds the noise field.
        kernel_size: odd window; default that of ``DegradationConfig.for_size(H)``.
        zoom: add a second row with the centre of each panel enlarged.
    """
    from gfplib.degradation import DegradationConfig, DegradationParams, apply_degradation, as_float_image

    y = as_float_image(gt, "gt")  # clean face y
    if kernel_size is None:
        kernel_size = DegradationConfig.for_size(max(8, y.shape[0])).kernel_size
    iso = math.isclose(sigma_x, sigma_y)
    params = DegradationParams(kernel_size=kernel_size, kernel_type="iso" if iso else "aniso", sigma_x=sigma_x,
                               sigma_y=sigma_y, theta=0.0 if iso else theta, scale=scale, noise_sigma=noise,
                               noise_seed=seed, jpeg_quality=int(quality))
    steps = apply_degradation(y, params, return_steps=True)
    h, w = steps.downsampled.shape[:2]
    images = [steps.gt, params.kernel(), steps.blurred, steps.downsampled, steps.noisy, steps.jpeg, steps.lq]
    titles = ["clean y", f"kernel k_σ ({kernel_size}²)\nσ=({sigma_x:.2f}, {sigma_y:.2f}) θ={math.degrees(theta):.0f}°",
              f"y ⊛ k_σ\nPSNR {psnr(steps.blurred, y):.2f} dB", f"↓r, r={scale:.2f}\n{h}×{w} px",
              f"+ n_δ, δ={noise:.1f}/255", f"JPEG q={int(quality)}",
              f"resized back: x\nPSNR {psnr(steps.lq, y):.2f} dB"]
    if not zoom:
        return show_images(images, titles, size=2.3, cmap="magma")
    # second row: the central region (eyes, nose) enlarged, where blur, blocks and noise are visible
    zoomed = [_central_crop(im, 0.45) for im in images]
    zoomed[1] = _central_crop(images[1], min(1.0, (6 * max(sigma_x, sigma_y) + 3) / kernel_size))
    ztitles = ["zoom (centre)"] + [""] * 6
    ztitles[1] = "kernel, zoom"
    return show_images(images + zoomed, titles + ztitles, ncols=7, size=2.3, cmap="magma")


def _central_crop(img: np.ndarray, frac: float) -> np.ndarray:
    """The central ``frac`` of an image (rows and columns), at least 1 pixel, shifted up a little for faces."""
    h, w = img.shape[:2]
    ch, cw = max(1, round(h * frac)), max(1, round(w * frac))
    top = min(max(0, (h - ch) // 2 - (round(0.05 * h) if img.ndim == 3 else 0)), h - ch)
    left = (w - cw) // 2
    return img[top:top + ch, left:left + cw]


def _box(ax, x, y, w, h, text, color, fontsize=9, weight="normal", text_y=None, alpha=1.0):
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.3,rounding_size=1.2", fc=color, ec="#333333",
                                lw=1.1, alpha=alpha))
    ax.text(x + w / 2, text_y if text_y is not None else y + h / 2, text, ha="center", va="center",
            fontsize=fontsize, weight=weight, wrap=True)


def _arrow(ax, p, q, text=None, color="#333333", style="-|>", ls="-", text_offset=(0.0, 1.2), fontsize=8,
           connection="arc3"):
    from matplotlib.patches import FancyArrowPatch

    ax.add_patch(FancyArrowPatch(p, q, arrowstyle=style, mutation_scale=14, color=color, lw=1.4, ls=ls,
                                 connectionstyle=connection, shrinkA=2, shrinkB=2))
    if text:
        ax.text((p[0] + q[0]) / 2 + text_offset[0], (p[1] + q[1]) / 2 + text_offset[1], text, ha="center",
                va="center", fontsize=fontsize, style="italic", color=color)


def _image_or_box(ax, img, x, y, w, h, label, color):
    if img is None:
        _box(ax, x, y, w, h, label, color, fontsize=9, weight="bold")
        return
    ax.imshow(np.clip(img, 0, 1) if np.asarray(img).dtype.kind == "f" else img, extent=(x, x + w, y, y + h),
              zorder=2, interpolation="antialiased")
    ax.text(x + w / 2, y - 1.6, label, ha="center", va="center", fontsize=9, weight="bold")


def draw_pipeline(lq: Optional[np.ndarray] = None, restored: Optional[np.ndarray] = None,
                  gt: Optional[np.ndarray] = None):
    """GFPGAN in one picture: degradation removal U-Net → latent code mapping → generative facial prior with
    channel-split SFT → restored face, and the four training losses.

    Args:
        lq, restored, gt: optional thumbnails (RGB) shown for the input, the output and the ground truth.

    Returns:
        The matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(14, 8.2))
    ax.set_xlim(0, 100)
    ax.set_ylim(-1, 59)
    ax.set_aspect("equal")
    ax.axis("off")

    c_unet, c_prior, c_map, c_sft, c_loss, c_io = "#cfe3f7", "#f9dcc4", "#d8f0d2", "#fde9a9", "#ead7f1", "#eeeeee"

    # input
    _image_or_box(ax, lq, 1, 38, 12, 12, "LQ input x", c_io)
    # degradation removal module
    _box(ax, 17, 33, 30, 22, "", c_unet)
    ax.text(32, 53, "Degradation removal module (U-Net)", ha="center", va="center", fontsize=10, weight="bold")
    _box(ax, 19, 36, 11, 13, "encoder\nconv ↓\n512² → 4²", "white", fontsize=8.5)
    _box(ax, 34, 36, 11, 13, "decoder\nconv ↑\n4² → 512²", "white", fontsize=8.5)
    _arrow(ax, (30.6, 42.5), (33.4, 42.5), "skips", text_offset=(0, 1.6))
    _arrow(ax, (13.4, 44), (18.6, 44))
    # pyramid restoration
    _box(ax, 53, 49, 22, 6.5, "pyramid restoration\nout_rgbs 8² … 512² ≈ GT pyramid", c_unet, fontsize=8.5)
    _arrow(ax, (45.4, 46.5), (52.6, 51.5))
    # spatial conditions
    _box(ax, 53, 36, 22, 9, "spatial features F_spatial\n→ conv → (α, β)\none pair per resolution", c_sft,
         fontsize=8.5)
    _arrow(ax, (45.4, 40.5), (52.6, 40.5), "F_spatial", text_offset=(0, 1.4))
    # latent code mapping
    _box(ax, 17, 17, 18, 9, "latent code mapping\nF_latent → MLP → W\n(one w per layer)", c_map, fontsize=8.5)
    _arrow(ax, (24.5, 35.6), (24.5, 26.6), "F_latent", text_offset=(4.2, 0))
    # generative facial prior with CS-SFT
    _box(ax, 41, 13, 36, 16, "", c_prior)
    ax.text(59, 27, "Generative facial prior: pretrained StyleGAN2 (frozen)", ha="center", va="center",
            fontsize=9.5, weight="bold")
    for i, res in enumerate(["8²", "16²", "…", "512²"]):
        _box(ax, 43 + i * 8.4, 15.5, 6.8, 8, f"StyleConv\n{res}\n+ CS-SFT", "white", fontsize=7.5)
        if i:
            _arrow(ax, (43 + (i - 1) * 8.4 + 7.0, 19.5), (43 + i * 8.4 - 0.2, 19.5))
    _arrow(ax, (35.4, 21.5), (42.6, 21.5), "W", text_offset=(0, 1.4))
    _arrow(ax, (64, 35.6), (64, 29.6), "α, β", text_offset=(2.6, 0))
    # output and GT
    _image_or_box(ax, restored, 85, 15, 12, 12, "restored ŷ", c_io)
    _arrow(ax, (77.4, 21), (84.6, 21))
    _image_or_box(ax, gt, 85, 40, 12, 12, "ground truth y", c_io)
    ax.text(59, 10.8, "CS-SFT: split channels, F_out = concat(F_id, α ⊙ F_split + β)", ha="center", va="center",
            fontsize=8.5, style="italic")
    # losses
    losses = ["reconstruction\nL1 + perceptual (VGG)", "adversarial\nStyleGAN2 discriminator",
              "facial component\neyes, mouth: D + Gram", "identity preserving\nArcFace embeddings"]
    for i, name in enumerate(losses):
        _box(ax, 17 + i * 20.5, 0, 17.5, 6.5, name, c_loss, fontsize=8.5)
    ax.text(8, 3.2, "training\nlosses", ha="center", va="center", fontsize=9.5, weight="bold")
    # ŷ and y feed every loss: a bus line above the loss boxes
    ax.plot([25.75, 91], [9.2, 9.2], color="#333333", lw=1.4)
    ax.plot([91, 91], [13.4, 9.2], color="#333333", lw=1.4)
    ax.text(92.2, 11.2, "ŷ", fontsize=9, style="italic")
    ax.plot([97.5, 97.5, 91], [38.4, 9.2, 9.2], color="#333333", lw=1.2, ls="--")
    ax.text(98.5, 24, "y", fontsize=9, style="italic")
    for i in range(4):
        _arrow(ax, (25.75 + i * 20.5, 9.2), (25.75 + i * 20.5, 7.0))
    ax.set_title("GFPGAN: blind face restoration with a generative facial prior", fontsize=13, weight="bold")
    fig.tight_layout()
    return fig


#: top-level attribute of a GFPGAN model → the part of the network the paper names (overview, Fig. 2)
GFPGAN_PARTS: Mapping[str, str] = MappingProxyType({
    "conv_body_first": "U-Net", "conv_body_down": "U-Net", "final_conv": "U-Net", "conv_body_up": "U-Net",
    "toRGB": "pyramid toRGB", "final_linear": "latent code mapping", "condition_scale": "CS-SFT heads",
    "condition_shift": "CS-SFT heads", "stylegan_decoder": "StyleGAN2 prior",
})


def count_parameters(model: "torch.nn.Module", parts: Mapping[str, str] = GFPGAN_PARTS,
                     trainable_only: bool = False) -> Dict[str, int]:
    """Parameters per part of ``model``, grouped by its top-level attributes (``parts``: attribute → part name).

    With the default ``parts`` (:data:`GFPGAN_PARTS`): U-Net, pyramid toRGB, latent code mapping, CS-SFT heads,
    StyleGAN2 prior. ``trainable_only`` counts only parameters with ``requires_grad`` (a frozen prior counts 0).
    """
    counts = {part: 0 for part in dict.fromkeys(parts.values())}
    for name, p in model.named_parameters():
        top = name.split(".", 1)[0]
        if top not in parts:
            raise KeyError(f"parameter {name!r} belongs to no part: add {top!r} to parts")
        if not trainable_only or p.requires_grad:
            counts[parts[top]] += p.numel()
    return counts
