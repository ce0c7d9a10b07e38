"""Figures of the series: the GFPGAN pipeline diagram, image grids, the degradation chain step by step.

Plain functions that return a ``matplotlib.figure.Figure``, so tests can call them and widgets can wrap them
(:mod:`gfplib.widgets`). They never call ``plt.show()`` themselves. Used in ``notebooks/00_overview.ipynb`` (the
pipeline) and ``notebooks/01_degradation.ipynb`` (the degradation model); :func:`count_parameters` makes the
parameter table of ``notebooks/03_unet_pyramid.ipynb``; :func:`component_grams` and :func:`plot_loss_terms` draw the
Gram-matrix explorer and the loss bar chart of ``notebooks/07_losses.ipynb``.
"""
from __future__ import annotations

import math
from types import MappingProxyType
from typing import Dict, Mapping, Optional, Sequence

import numpy as np

__all__ = ["draw_pipeline", "show_images", "plot_degradation_steps", "psnr", "GFPGAN_PARTS", "count_parameters",
           "LOSS_TERM_WEIGHTS", "component_grams", "plot_component_grams", "plot_loss_terms", "plot_cs_sft"]

from gfplib.metrics import psnr  # noqa: E402 - the one PSNR of the package, re-exported for the notebooks


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


# ------------------------------------------------------------------ the losses (notebooks/07_losses.ipynb)
#: term key of :func:`gfplib.losses.generator_loss` → the :class:`~gfplib.losses.LossConfig` field that weights it
LOSS_TERM_WEIGHTS: Mapping[str, str] = MappingProxyType({
    "l_pix": "pixel", "l_pyramid": "pyramid", "l_percep": "perceptual", "l_style": "style", "l_gan": "gan",
    "l_comp_gan": "comp_gan", "l_comp_style": "comp_style", "l_id": "identity"})


def component_grams(restored, gt, boxes, feature_fn, *, component: str, layer: str, sizes: Mapping[str, int],
                    face: int = 0, channels: Optional[Sequence[int]] = None) -> Dict[str, object]:
    """One face's component crop, its features and their Gram matrices, restored vs ground truth (Eq. 7 style term).

    Args:
        restored, gt: ``(B, 3, H, W)`` faces in [-1, 1] (ŷ and y).
        boxes: component name → ``(B, 4)`` boxes, as in the batches (``loc_<name>``).
        feature_fn: ``feature_fn(crops, component)`` → ``{layer: (N, C, h, w)}`` for ``(N, 3, s, s)`` crops.
        component: ``'left_eye'``, ``'right_eye'`` or ``'mouth'``.
        layer: the key of ``feature_fn``'s output to look at.
        sizes: RoI-align side per component (:meth:`gfplib.losses.LossConfig.component_sizes`).
        face: index in the batch.
        channels: ``(start, stop)``, the channels to show (default: all). The Gram matrices are the loss's —
            :func:`gfplib.losses.gram_matrix` over *all* channels (normalised by c·h·w) — cut to this block.

    Returns:
        ``crop_restored``, ``crop_gt`` ``(3, s, s)``; ``feat_restored``, ``feat_gt`` ``(k, h, w)`` for the k chosen
        channels; ``gram_restored``, ``gram_gt`` ``(k, k)``; ``gram_l1`` (mean |ΔGram| over all channels: the layer's
        term of the style loss) and ``gram_l1_block`` (over the block); ``channels`` (start, stop), ``num_channels``.
    """
    import torch

    from gfplib.losses import component_crops, gram_matrix

    if component not in sizes:
        raise KeyError(f"unknown component {component!r}; choose one of {sorted(sizes)}")
    if not 0 <= face < gt.shape[0]:
        raise IndexError(f"face {face} is not in the batch of {gt.shape[0]} faces")
    one_box = {component: boxes[component][face:face + 1]}
    with torch.no_grad():
        crops = [component_crops(img[face:face + 1], one_box, {component: sizes[component]})[component]
                 for img in (restored, gt)]  # ŷ_ROI, y_ROI   (1, 3, s, s) each
        feats = [feature_fn(c, component) for c in crops]
        if layer not in feats[0]:
            raise KeyError(f"no layer {layer!r} in the features; choose one of {list(feats[0])}")
        feats = [f[layer] for f in feats]  # (1, C, h, w)
        grams = [gram_matrix(f)[0] for f in feats]  # (C, C), normalised by C·h·w as in the loss
    c = feats[0].shape[1]
    start, stop = (0, c) if channels is None else (int(channels[0]), int(channels[1]))
    if not 0 <= start < stop <= c:
        raise ValueError(f"channels ({start}, {stop}) must satisfy 0 ≤ start < stop ≤ {c} (the layer's channels)")
    block = slice(start, stop)
    return {"crop_restored": crops[0][0], "crop_gt": crops[1][0],
            "feat_restored": feats[0][0, block], "feat_gt": feats[1][0, block],
            "gram_restored": grams[0][block, block], "gram_gt": grams[1][block, block],
            "gram_l1": float((grams[0] - grams[1]).abs().mean()),  # ‖Gram(ψ(ŷ)) − Gram(ψ(y))‖₁ of this layer
            "gram_l1_block": float((grams[0][block, block] - grams[1][block, block]).abs().mean()),
            "channels": (start, stop), "num_channels": c, "component": component, "layer": layer, "face": face}


def _mosaic(maps: np.ndarray, ncols: int) -> np.ndarray:
    """``(k, h, w)`` maps → one array with the maps in a grid, NaN (blank) lines between them."""
    k, h, w = maps.shape
    nrows = math.ceil(k / ncols)
    out = np.full((nrows * (h + 1) - 1, ncols * (w + 1) - 1), np.nan)
    for i, m in enumerate(maps):
        r, c = divmod(i, ncols)
        out[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = m
    return out


def plot_component_grams(data: Mapping[str, object], *, max_maps: int = 16, label: str = "restored ŷ"):
    """The figure of :func:`component_grams`: crops, feature maps, Gram matrices on one colour scale, difference.

    Rows: the restoration (``label``) and the ground truth y. Columns: the crop (nearest-neighbour zoom); the first
    ``max_maps`` chosen channels' feature maps (one shared colour scale); the Gram block (one shared scale and colour
    bar); and, spanning both rows, Gram(ŷ) − Gram(y) on a symmetric scale.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    start, stop = data["channels"]
    k = min(max_maps, stop - start)
    feats = [np.asarray(data[f"feat_{r}"][:k], dtype=np.float64) for r in ("restored", "gt")]
    grams = [np.asarray(data[f"gram_{r}"], dtype=np.float64) for r in ("restored", "gt")]
    crops = [np.clip((np.asarray(data[f"crop_{r}"]).transpose(1, 2, 0) + 1) / 2, 0, 1) for r in ("restored", "gt")]
    ncols = math.ceil(math.sqrt(k))
    flim = (min(f.min() for f in feats), max(f.max() for f in feats))
    glim = (min(g.min() for g in grams), max(g.max() for g in grams))
    diff = grams[0] - grams[1]
    dlim = float(np.abs(diff).max()) or 1e-12

    fig = plt.figure(figsize=(13, 6.2), layout="constrained")
    grid = fig.add_gridspec(2, 4, width_ratios=(1, 1.25, 1.25, 1.45))
    feat_axes, gram_axes = [], []
    part = str(data["component"]).replace("_", " ")
    for row, name in enumerate(("ŷ", "y")):
        ax = fig.add_subplot(grid[row, 0])
        ax.imshow(crops[row], interpolation="nearest")
        s = crops[row].shape[0]
        ax.set_title(f"{name}: {part} crop {s}×{s}", fontsize=10)
        ax.axis("off")
        ax = fig.add_subplot(grid[row, 1])
        im_f = ax.imshow(_mosaic(feats[row], ncols), cmap="viridis", vmin=flim[0], vmax=flim[1],
                         interpolation="nearest")
        h, w = feats[row].shape[1:]
        ax.set_title(f"{name}: feature maps, ch. {start}–{start + k - 1} ({h}×{w})", fontsize=10)
        ax.axis("off")
        feat_axes.append(ax)
        ax = fig.add_subplot(grid[row, 2])
        im_g = ax.imshow(grams[row], cmap="magma", vmin=glim[0], vmax=glim[1], interpolation="nearest",
                         extent=(start - 0.5, stop - 0.5, stop - 0.5, start - 0.5))
        ax.set_title(f"Gram({name}), channels {start}–{stop - 1}", fontsize=10)
        ax.tick_params(labelsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        gram_axes.append(ax)
    fig.colorbar(im_f, ax=feat_axes, shrink=0.7, label="feature (shared scale)").ax.tick_params(labelsize=8)
    fig.colorbar(im_g, ax=gram_axes, shrink=0.7, label="Gram (shared scale)").ax.tick_params(labelsize=8)
    ax = fig.add_subplot(grid[:, 3])
    im_d = ax.imshow(diff, cmap="RdBu_r", vmin=-dlim, vmax=dlim, interpolation="nearest",
                     extent=(start - 0.5, stop - 0.5, stop - 0.5, start - 0.5))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"Gram(ŷ) − Gram(y)\nmean |Δ| over this block {data['gram_l1_block']:.2e}", fontsize=10)
    ax.tick_params(labelsize=8)
    fig.colorbar(im_d, ax=ax, shrink=0.5, label="difference").ax.tick_params(labelsize=8)
    fig.suptitle(f"{label} vs ground truth y — face {data['face']}, {part}, {data['layer']} "
                 f"({data['num_channels']} channels): mean |ΔGram| over all channels = {data['gram_l1']:.2e}",
                 fontsize=11)
    return fig


def plot_loss_terms(terms: Mapping[str, float], weights: Mapping[str, float], *, title: str = ""):
    """Horizontal bars of the weighted loss terms λ_k · L_k of Eq. 9 and their total.

    Args:
        terms: term key (``'l_pix'``, …) → unweighted value (:func:`gfplib.losses.generator_loss_terms`).
        weights: term key → weight λ_k (every key of ``terms``).
        title: first line of the title (the total follows).
    """
    import matplotlib.pyplot as plt

    missing = [k for k in terms if k not in weights]
    if missing:
        raise KeyError(f"no weight for term(s) {missing}")
    keys = list(terms)
    values = [float(weights[k]) * float(terms[k]) for k in keys]  # λ_k · L_k
    total = sum(values)
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(keys) + 1.4), layout="constrained")
    ax.barh(range(len(keys)), values, color=[f"C{i}" for i in range(len(keys))])
    ax.set_yticks(range(len(keys)), [f"{k}  ({float(weights[k]):.3g} × {float(terms[k]):.3g})" for k in keys],
                  fontsize=9)
    ax.invert_yaxis()
    top = max(values + [1e-12])
    for i, v in enumerate(values):
        ax.text(v + 0.01 * top, i, f"{v:.3g}  ({v / total:.1%})" if total > 0 else f"{v:.3g}", va="center",
                fontsize=9)
    ax.set_xlim(0, 1.22 * top)
    ax.set_xlabel("weighted term λ·L")
    ax.set_title(f"{title + chr(10) if title else ''}total loss (Eq. 9) = {total:.4g}", fontsize=11)
    return fig


def plot_cs_sft(images: Mapping[str, np.ndarray], feat_gan: np.ndarray, feat_out: np.ndarray, *, resolution: int,
                half: str, strengths: Mapping[int, float], max_maps: int = 16):
    """The CS-SFT explorer of ``notebooks/06_cs_sft.ipynb`` (:func:`gfplib.widgets.cs_sft_widget`).

    Top row: the images (``name → (H, W, 3)`` in [0, 1], nearest-neighbour zoom), with PSNR to the last one (the
    ground truth y), and the change of the first restoration against the second one. Bottom row: the first
    ``max_maps`` channels of one half of the decoder's features at ``resolution`` before and after the SFT (one
    shared colour scale), their difference (symmetric scale), and the effective strength of every SFT layer.

    Args:
        images: e.g. ``{"ŷ, this setting": …, "ŷ, trained (s = 1)": …, "input x": …, "prior only": …, "truth y": …}``.
        feat_gan, feat_out: ``(C/2, r, r)``: the chosen half before (F_GAN) and after the SFT.
        half: ``"modulated"`` or ``"pass-through"`` (for the titles).
        strengths: resolution → effective strength s (0 = SFT off).
    """
    import matplotlib.pyplot as plt

    names = list(images)
    k = min(max_maps, feat_gan.shape[0])
    ncols = math.ceil(math.sqrt(k))
    before, after = (np.asarray(f[:k], dtype=np.float64) for f in (feat_gan, feat_out))
    diff = after - before
    flim = (min(before.min(), after.min()), max(before.max(), after.max()))
    dmax = float(np.abs(diff).max())
    fig = plt.figure(figsize=(12.5, 6.4), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=(1, 1.15))
    axes = top.subplots(1, len(names) + 1)
    gt = images[names[-1]]
    for ax, name in zip(axes, names):
        ax.imshow(np.clip(images[name], 0, 1), interpolation="nearest")
        ax.set_title(name if name == names[-1] else f"{name}\nPSNR {psnr(images[name], gt):.2f} dB", fontsize=9)
        ax.axis("off")
    change = np.abs(np.asarray(images[names[0]], np.float64) - np.asarray(images[names[1]], np.float64)).mean(-1)
    im = axes[-1].imshow(change, cmap="magma", vmin=0, vmax=0.25, interpolation="nearest")
    axes[-1].set_title(f"change: first vs second\nmean |Δ| {change.mean():.3f}", fontsize=9)
    axes[-1].axis("off")
    top.colorbar(im, ax=axes[-1], shrink=0.8).ax.tick_params(labelsize=7)
    r = resolution
    axes = bottom.subplots(1, 4, width_ratios=(1, 1, 1, 1.3))
    for ax, maps, what in ((axes[0], before, "before SFT: F_GAN"), (axes[1], after, "after SFT")):
        im_f = ax.imshow(_mosaic(maps, ncols), cmap="viridis", vmin=flim[0], vmax=flim[1], interpolation="nearest")
        ax.set_title(what, fontsize=9)
        ax.axis("off")
    bottom.colorbar(im_f, ax=axes[:2], shrink=0.8, label="feature (shared scale)").ax.tick_params(labelsize=7)
    lim = dmax or 1.0
    im_d = axes[2].imshow(_mosaic(diff, ncols), cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
    axes[2].set_title("after − before\n" + ("exactly 0: passes through" if dmax == 0 else f"max |Δ| {dmax:.2f}"),
                      fontsize=9)
    axes[2].axis("off")
    bottom.colorbar(im_d, ax=axes[2], shrink=0.8).ax.tick_params(labelsize=7)
    res = sorted(strengths)
    axes[3].bar([f"{q}²" for q in res], [strengths[q] for q in res],
                color=["#d62728" if q == r else "#1f77b4" for q in res])
    axes[3].axhline(1.0, color="gray", ls="--", lw=1)
    axes[3].set_ylim(0, max(1.6, max(strengths.values()) * 1.1))
    axes[3].set_ylabel("effective strength s")
    axes[3].set_title("SFT strength per resolution\n(red: the features shown; dashed: trained)", fontsize=9)
    bottom.suptitle(f"the {half} half of the decoder's features at {r}×{r}: channels 1–{k} of "
                    f"{feat_gan.shape[0]}", fontsize=10)
    return fig
