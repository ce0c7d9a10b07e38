r"""Measuring restoration: every metric of the paper's Table 1 (CelebA-Test), and the toy world's counterparts.

GFP-GAN reports on CelebA-Test (Sec. 4.1: 3,000 CelebA-HQ faces degraded like the training data) in Table 1, the
quantitative comparison, six numbers: LPIPS, FID, NIQE, Deg., PSNR, SSIM. The official repository ships no
evaluation code, so each convention is written down here (x = degraded input, y = ground truth, ŷ = restored):

======== ======= ===== =================================================================================================
metric   better  level convention in gfplib
======== ======= ===== =================================================================================================
psnr     higher  image :math:`10\log_{10}(255^2/\mathrm{MSE})` on uint8 values, RGB, no border crop (the official
                       validation, facts §3); ``y_channel=True``: the BT.601 luma
                       :math:`Y = 16 + 65.481R + 128.553G + 24.966B` (R, G, B in [0, 1]) as super-resolution papers do
ssim     higher  image Wang et al. 2004 through scikit-image: 11×11 Gaussian window σ = 1.5, K = (0.01, 0.03), data
                       range 255, mean over the RGB channels (or on Y); same crop option
lpips    lower   image LPIPS v0.1 (Zhang et al. 2018) through the ``lpips`` package: AlexNet trunk (``"vgg"``: VGG16),
                       RGB in [-1, 1], the whole image; linear heads from the wheel, the trunk from :mod:`gfplib.weights`
fid      lower   set   Fréchet distance of Inception-v3 pool-3 features (2048-d), the TF-FID network of ``pytorch-fid``
                       (the one basicsr's FID script uses), bilinear resize to 299², restored set vs ground-truth set
deg      lower   image angle in degrees between the ArcFace embeddings of ŷ and y, :math:`\arccos\langle e(\hat y),
                       e(y)\rangle`; ``arcface-resnet18`` (GFPGAN's identity network, gray 128²)
lmd      lower   image landmark distance: mean pixel distance of the 5 landmarks detected on ŷ and on y (RetinaFace
                       when its weights are cached, else the offline MTCNN). Not a Table 1 metric: the paper does not
                       report it; it comes from related face-restoration work
niqe     lower   image **not offered**: see :data:`NIQE_NOT_OFFERED`
======== ======= ===== =================================================================================================

The paper does not say which ArcFace checkpoint, LPIPS trunk or FID reference set it used, nor whether PSNR is on RGB
or Y: numbers from here are comparable in kind with Table 1, not guaranteed to the last digit.

The toy world (32² faces, offline, CI) has no ImageNet or face-recognition network, so it measures in its own
feature spaces (:mod:`gfplib.pretrain`): ``deg`` with ``toy-arcface``, ``percep`` (the perceptual distance of
the reconstruction loss, Eq. 5, in ``toy-vgg`` with GFPGAN's layer weights), and the Fréchet distances ``fd_vgg``
and ``fd_id`` of the restored set to the true set in ``toy-vgg`` / ``toy-arcface`` space. Like FID, a Fréchet
distance (Heusel et al., NeurIPS 2017, https://arxiv.org/abs/1706.08500) fits a Gaussian to each set of features:

.. math::  d^2 = \lVert \mu_1 - \mu_2 \rVert_2^2 + \operatorname{Tr}\big(\Sigma_1 + \Sigma_2
           - 2\,(\Sigma_1^{1/2} \Sigma_2 \Sigma_1^{1/2})^{1/2}\big)

the squared 2-Wasserstein distance of the two Gaussians. Distances from different feature spaces are not comparable
with each other, nor with published FIDs.

**Images**, one convention for every function: a float tensor ``(N, 3, H, W)`` or ``(3, H, W)`` in [-1, 1] (the
networks' convention; an unclamped network output within 0.5 of the range is fine, pixel metrics clamp and round it
to uint8 as official inference does), or a NumPy RGB image ``(H, W, 3)`` / batch ``(N, H, W, 3)``, uint8 or float in
[0, 1]. Other dtypes, shapes, ranges, or pairs of different shapes are refused with an error naming the problem.

Taught in ``notebooks/10_metrics.ipynb`` (and the Fréchet distance in ``notebooks/04_stylegan2_prior.ipynb``); the
command ``gfplib evaluate`` (:mod:`gfplib.evaluate`) runs them over folders.
"""
from __future__ import annotations

import warnings
from typing import Callable, Dict, Iterable, NamedTuple, Optional, Tuple, Union
from unittest import mock

import numpy as np
import torch
from torch import nn

__all__ = ["FeatureStats", "feature_statistics", "frechet_distance", "frechet_distance_from_features",
           "compute_feature_stats", "METRICS", "NIQE_NOT_OFFERED", "as_image_batch", "as_tensor_batch", "rgb_to_y",
           "psnr", "ssim", "identity_cosine", "identity_angle", "perceptual_distance", "set_frechet_distance",
           "identity_embedder", "vgg_embedder", "build_lpips", "lpips_distance", "build_fid_inception",
           "inception_embedder", "landmark_distance"]

ArrayLike = Union[np.ndarray, torch.Tensor]


class FeatureStats(NamedTuple):
    """Mean ``(D,)`` and covariance ``(D, D)`` of ``n`` feature vectors (float64)."""
    mu: np.ndarray
    sigma: np.ndarray
    n: int


def _as_2d_float64(feats: ArrayLike, name: str) -> np.ndarray:
    if isinstance(feats, torch.Tensor):
        feats = feats.detach().cpu().double().numpy()
    if not isinstance(feats, np.ndarray):
        raise TypeError(f"{name} must be a numpy array or torch tensor, got {type(feats).__name__}")
    if feats.ndim != 2:
        raise ValueError(f"{name} must have shape (N, D), got shape {tuple(feats.shape)}")
    if feats.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 feature vectors for a covariance, got {feats.shape[0]}")
    feats = feats.astype(np.float64, copy=False)
    if not np.isfinite(feats).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return feats


def feature_statistics(feats: ArrayLike) -> FeatureStats:
    """Gaussian fit of a set of feature vectors: mean and unbiased covariance.

    Args:
        feats: ``(N, D)`` array or tensor, ``N >= 2``.
    """
    x = _as_2d_float64(feats, "feats")
    mu = x.mean(axis=0)  # (D,)
    sigma = np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])  # (D, D), normalised by N - 1
    return FeatureStats(mu, sigma, x.shape[0])


def _sqrtm_psd(a: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix by eigen-decomposition (negative round-off → 0)."""
    vals, vecs = np.linalg.eigh((a + a.T) / 2)
    return (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T


def frechet_distance(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike) -> float:
    """Fréchet (2-Wasserstein) distance squared between N(mu1, sigma1) and N(mu2, sigma2).

    The trace of the geometric-mean term is computed as :math:`\\operatorname{Tr}(\\Sigma_1^{1/2}\\Sigma_2
    \\Sigma_1^{1/2})^{1/2}`, a symmetric PSD matrix, so only symmetric eigen-decompositions are needed: no complex
    round-off (unlike ``scipy.linalg.sqrtm(Σ1 Σ2)``), and singular covariances (fewer samples than dimensions) are
    fine.

    Args:
        mu1, mu2: means, shape ``(D,)``.
        sigma1, sigma2: covariances, shape ``(D, D)``, symmetric positive semi-definite.

    Returns:
        The distance (≥ 0; the *squared* W2 distance, as FID reports it).
    """
    arrs = []
    for name, a in (("mu1", mu1), ("sigma1", sigma1), ("mu2", mu2), ("sigma2", sigma2)):
        if isinstance(a, torch.Tensor):
            a = a.detach().cpu().double().numpy()
        a = np.asarray(a, dtype=np.float64)
        if not np.isfinite(a).all():
            raise ValueError(f"{name} contains NaN or infinite values")
        arrs.append(a)
    mu1, sigma1, mu2, sigma2 = arrs
    if mu1.ndim != 1 or mu1.shape != mu2.shape:
        raise ValueError(f"means must be 1-D and of equal length, got {mu1.shape} and {mu2.shape}")
    d = mu1.shape[0]
    for name, s in (("sigma1", sigma1), ("sigma2", sigma2)):
        if s.shape != (d, d):
            raise ValueError(f"{name} must have shape ({d}, {d}) to match the means, got {s.shape}")
        if not np.allclose(s, s.T, rtol=1e-5, atol=1e-8 * max(1.0, np.abs(s).max())):
            raise ValueError(f"{name} is not symmetric; pass a covariance matrix")
    diff = mu1 - mu2
    s1_half = _sqrtm_psd(sigma1)  # Σ1^{1/2}
    cross = _sqrtm_psd(s1_half @ sigma2 @ s1_half)  # (Σ1^{1/2} Σ2 Σ1^{1/2})^{1/2}
    dist = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(cross)  # ‖μ1−μ2‖² + Tr(Σ1+Σ2−2(..)^{1/2})
    return float(max(dist, 0.0))


def frechet_distance_from_features(feats1: ArrayLike, feats2: ArrayLike) -> float:
    """Fréchet distance between the Gaussian fits of two ``(N, D)`` feature sets (same ``D``)."""
    s1, s2 = feature_statistics(feats1), feature_statistics(feats2)
    if s1.mu.shape != s2.mu.shape:
        raise ValueError(f"feature sets have different dimensions: {s1.mu.shape[0]} vs {s2.mu.shape[0]}")
    return frechet_distance(s1.mu, s1.sigma, s2.mu, s2.sigma)


@torch.no_grad()
def compute_feature_stats(embed: Callable[[torch.Tensor], torch.Tensor], images: Iterable[torch.Tensor]
                          ) -> FeatureStats:
    """Run ``embed`` over batches of images and fit a Gaussian to the concatenated features.

    Args:
        embed: maps a batch ``(B, 3, H, W)`` in [-1, 1] to features ``(B, D)`` (or ``(B, ...)``, flattened).
        images: an iterable of such batches (a list, or a generator that samples a GAN batch by batch).
    """
    feats = []
    for batch in images:
        if not isinstance(batch, torch.Tensor) or batch.ndim != 4:
            raise ValueError("images must yield (B, C, H, W) tensors")
        feats.append(embed(batch).flatten(1).double().cpu())
    if not feats:
        raise ValueError("images yielded no batch")
    return feature_statistics(torch.cat(feats))


# ------------------------------------------------------------------------------------------------ the metric table
class MetricInfo(NamedTuple):
    """``better``: "higher" or "lower"; ``per_image``: one value per image (else one per set); ``what``: in short."""
    better: str
    per_image: bool
    what: str


#: Every metric ``gfplib evaluate`` knows (the conventions: module docstring). ``toy``: the toy world's networks.
METRICS: Dict[str, MetricInfo] = {
    "psnr": MetricInfo("higher", True, "PSNR (dB), uint8 RGB (or Y), pixel fidelity"),
    "ssim": MetricInfo("higher", True, "SSIM, Gaussian window σ 1.5, structure"),
    "lpips": MetricInfo("lower", True, "LPIPS v0.1 (AlexNet), learned perceptual distance"),
    "fid": MetricInfo("lower", False, "FID, Inception-v3 pool-3, restored set vs true set"),
    "deg": MetricInfo("lower", True, "identity angle (°) between ArcFace embeddings"),
    "lmd": MetricInfo("lower", True, "landmark distance (px) of the 5 detected landmarks"),
    "percep": MetricInfo("lower", True, "toy perceptual distance (toy-vgg, GFPGAN's layer weights)"),
    "fd_vgg": MetricInfo("lower", False, "Fréchet distance in toy-vgg space, restored set vs true set"),
    "fd_id": MetricInfo("lower", False, "Fréchet distance in toy-arcface space, restored set vs true set"),
}

#: Why NIQE (Table 1's no-reference column) is not offered.
NIQE_NOT_OFFERED = (
    "NIQE is not offered: it needs the pristine-image model (mean and covariance of natural-scene statistics fitted "
    "by Mittal et al.), which neither scikit-image nor a light maintained PyTorch package provides; the maintained "
    "implementation that has it (pyiqa 0.1.16) pulls in about 50 packages, among them transformers and OpenCV 5 "
    "(headless), which this project cannot install next to its pinned opencv-python. Compute NIQE with pyiqa in a "
    "separate environment on the images that `gfplib evaluate` reads.")


# ------------------------------------------------------------------------------------------------ image conventions
def _tensor(img: torch.Tensor, name: str) -> Tuple[torch.Tensor, bool]:
    if not img.is_floating_point():
        raise TypeError(f"{name} is a {img.dtype} tensor; tensors must be float in [-1, 1] (uint8 images: pass a "
                        f"NumPy (H, W, 3) array)")
    single = img.ndim == 3
    t = img.detach()[None] if single else img.detach()
    if t.ndim != 4 or t.shape[1] != 3 or t.numel() == 0:
        raise ValueError(f"{name} must be a tensor (N, 3, H, W) or (3, H, W) in [-1, 1], got shape {tuple(img.shape)}")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    lo, hi = float(t.min()), float(t.max())
    if lo < -1.5 or hi > 1.5:
        hint = " (it looks like 0–255 values)" if hi > 2 else ""
        raise ValueError(f"{name} has values in [{lo:.4g}, {hi:.4g}]; tensors must be in [-1, 1]{hint}")
    return t, single


def _array(img: np.ndarray, name: str) -> Tuple[np.ndarray, bool]:
    from gfplib.degradation import as_float_image

    single = img.ndim == 3
    imgs = img[None] if single else img
    if imgs.ndim != 4 or len(imgs) == 0:
        raise ValueError(f"{name} must be an RGB image (H, W, 3) or a batch (N, H, W, 3), got shape {img.shape}")
    for i, im in enumerate(imgs):
        as_float_image(im, f"{name}[{i}]")  # validates dtype, shape, NaN and the [0, 1] range
    return (imgs / 255.0 if imgs.dtype == np.uint8 else imgs.astype(np.float64)), single


def as_image_batch(img: ArrayLike, name: str = "image") -> Tuple[np.ndarray, bool]:
    """Any accepted image (module docstring) → ``(N, H, W, 3)`` float64 in [0, 1], and whether it was one image.

    Tensors are clamped and rounded to uint8 first (``round(255 (clamp(t, −1, 1) + 1) / 2)``, official inference).
    """
    from gfplib.utils import denormalize

    if isinstance(img, torch.Tensor):
        t, single = _tensor(img, name)
        return denormalize(t).permute(0, 2, 3, 1).cpu().numpy().astype(np.float64) / 255.0, single
    if isinstance(img, np.ndarray):
        return _array(img, name)
    raise TypeError(f"{name} must be a torch.Tensor or numpy.ndarray, got {type(img).__name__}")


def as_tensor_batch(img: ArrayLike, name: str = "image") -> torch.Tensor:
    """Any accepted image → float32 ``(N, 3, H, W)`` in [-1, 1] for a network (tensors pass unchanged)."""
    if isinstance(img, torch.Tensor):
        return _tensor(img, name)[0].float()
    x, _ = as_image_batch(img, name)
    return torch.from_numpy(x).float().permute(0, 3, 1, 2).mul(2).sub(1)  # [0, 1] → [-1, 1]


def _pair(a: ArrayLike, b: ArrayLike, tensors: bool = False):
    x, y = (as_tensor_batch(a, "restored"), as_tensor_batch(b, "gt")) if tensors else (
        as_image_batch(a, "restored"), as_image_batch(b, "gt"))
    sa, sb = (x.shape, y.shape) if tensors else (x[0].shape, y[0].shape)
    if sa != sb:
        raise ValueError(f"restored {tuple(sa)} and gt {tuple(sb)} differ in shape; a metric compares pairs of "
                         f"images of the same size")
    return x, y


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """BT.601 luma on the [16, 235] scale of MATLAB's ``rgb2ycbcr``: ``(..., 3)`` RGB in [0, 1] → ``(..., 1)``."""
    return 16.0 + img @ np.array([65.481, 128.553, 24.966])[:, None]  # Y = 16 + 65.481 R + 128.553 G + 24.966 B


def _prepare(x: np.ndarray, crop_border: int, y_channel: bool) -> np.ndarray:
    """(N, H, W, 3) in [0, 1] → the values the pixel metrics compare: cropped, on the 0–255 scale, RGB or Y."""
    if not isinstance(crop_border, (int, np.integer)) or crop_border < 0 or 2 * crop_border >= min(x.shape[1:3]):
        raise ValueError(f"crop_border must be an int in [0, {min(x.shape[1:3]) // 2}), got {crop_border!r}")
    if crop_border:
        x = x[:, crop_border:-crop_border, crop_border:-crop_border]
    return rgb_to_y(x) if y_channel else x * 255.0


# ------------------------------------------------------------------------------------------------ pixel fidelity
def psnr(restored: ArrayLike, gt: ArrayLike, *, crop_border: int = 0, y_channel: bool = False
         ) -> Union[float, np.ndarray]:
    """Peak signal-to-noise ratio in dB, :math:`10 \\log_{10}(255^2 / \\mathrm{MSE})`, per image.

    Args:
        restored, gt: images in the module's convention, of the same shape.
        crop_border: pixels cut from every side first (super-resolution benchmarks cut the scale factor).
        y_channel: compare the BT.601 luma Y instead of the RGB channels.

    Returns:
        A float for one image, an ``(N,)`` array for a batch; ``inf`` for identical images (as basicsr).
    """
    x, y = _pair(restored, gt)
    single = x[1]
    a, b = _prepare(x[0], crop_border, y_channel), _prepare(y[0], crop_border, y_channel)
    mse = ((a - b) ** 2).reshape(len(a), -1).mean(1)
    with np.errstate(divide="ignore"):
        out = 10.0 * np.log10(255.0 ** 2 / mse)  # PSNR = 10 log10(MAX² / MSE), MAX = 255
    return float(out[0]) if single else out


def ssim(restored: ArrayLike, gt: ArrayLike, *, crop_border: int = 0, y_channel: bool = False
         ) -> Union[float, np.ndarray]:
    """Structural similarity (Wang et al. 2004) by scikit-image, per image, averaged over channels.

    The original settings: an 11×11 Gaussian window with σ = 1.5, K₁ = 0.01, K₂ = 0.03, population (not sample)
    covariances, data range 255 — as basicsr's ``calculate_ssim``. Arguments and return as :func:`psnr`.
    """
    from skimage.metrics import structural_similarity

    x, y = _pair(restored, gt)
    a, b = _prepare(x[0], crop_border, y_channel), _prepare(y[0], crop_border, y_channel)
    if min(a.shape[1:3]) < 11:
        raise ValueError(f"SSIM needs images of at least 11×11 pixels (its Gaussian window), got {a.shape[1:3]}")
    out = np.array([structural_similarity(p, q, channel_axis=-1, data_range=255, gaussian_weights=True, sigma=1.5,
                                          use_sample_covariance=False) for p, q in zip(a, b)])
    return float(out[0]) if x[1] else out


# ------------------------------------------------------------------------------------------------ networks
def _device(net: nn.Module) -> torch.device:
    p = next(iter(net.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


def identity_embedder(net: nn.Module, batch_size: int = 256) -> Callable[[torch.Tensor], torch.Tensor]:
    """Faces ``(N, 3, H, W)`` in [-1, 1] → unit-norm identity embeddings ``(N, D)`` (gray, resized, as Eq. 8)."""
    from gfplib.pretrain.evaluate import identity_features

    return lambda x: identity_features(net, x.to(_device(net)), batch_size).cpu()


def vgg_embedder(net: nn.Module, batch_size: int = 256) -> Callable[[torch.Tensor], torch.Tensor]:
    """Faces → spatial means of every layer of a VGG feature network, concatenated ``(N, ΣC)``."""
    from gfplib.pretrain.evaluate import perceptual_features

    return lambda x: perceptual_features(net, x.to(_device(net)), batch_size).cpu()


@torch.no_grad()
def identity_cosine(net: nn.Module, restored: ArrayLike, gt: ArrayLike) -> np.ndarray:
    """Cosine ⟨e(ŷ), e(y)⟩ between identity embeddings (ArcFace / toy-arcface), ``(N,)``; 1 = same embedding."""
    r, g = _pair(restored, gt, tensors=True)
    embed = identity_embedder(net)
    return (embed(r) * embed(g)).sum(1).double().numpy()  # unit-norm embeddings: the dot product is the cosine


def identity_angle(net: nn.Module, restored: ArrayLike, gt: ArrayLike) -> np.ndarray:
    """The "Deg." metric of Table 1 (CelebA-Test): the angle in degrees between identity embeddings, ``arccos⟨e(ŷ), e(y)⟩``, ``(N,)``."""
    return np.degrees(np.arccos(np.clip(identity_cosine(net, restored, gt), -1.0, 1.0)))


@torch.no_grad()
def perceptual_distance(net: nn.Module, restored: ArrayLike, gt: ArrayLike, batch_size: int = 64) -> np.ndarray:
    """:math:`\\sum_i w_i\\,\\mathrm{mean}|\\phi_i(\\hat y) - \\phi_i(y)|` with GFPGAN's layer weights (Eq. 5's
    perceptual term, :func:`gfplib.perceptual.feature_distance`), over the layers ``net`` returns, ``(N,)``."""
    from gfplib.perceptual import PERCEPTUAL_LAYER_WEIGHTS, feature_distance

    r, g = _pair(restored, gt, tensors=True)
    dev = _device(net)
    weights = {k: w for k, w in PERCEPTUAL_LAYER_WEIGHTS.items() if k in net.layer_name_list}
    return torch.cat([feature_distance(net, r[i:i + batch_size].to(dev), g[i:i + batch_size].to(dev), weights).cpu()
                      for i in range(0, len(r), batch_size)]).double().numpy()


@torch.no_grad()
def set_frechet_distance(embed: Callable[[torch.Tensor], torch.Tensor], restored: ArrayLike, gt: ArrayLike) -> float:
    """Fréchet distance between the feature Gaussians of two *sets* of images (sizes may differ; ``N ≥ 2`` each).

    ``embed`` maps ``(N, 3, H, W)`` in [-1, 1] to ``(N, D)``: :func:`identity_embedder`, :func:`vgg_embedder`,
    :func:`inception_embedder` (FID).
    """
    return frechet_distance_from_features(embed(as_tensor_batch(restored, "restored")), embed(as_tensor_batch(gt, "gt")))


# ------------------------------------------------------------------------------------------------ LPIPS and FID
def _third_party(module: str, pin: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"this metric needs the {pin.split('==')[0]} package: pip install {pin}") from None


#: LPIPS trunk → the torchvision ImageNet weights in :mod:`gfplib.weights`.
LPIPS_TRUNKS = {"alex": "alexnet", "vgg": "vgg16"}


def build_lpips(net: str = "alex", trunk_state_dict: Optional[Dict[str, torch.Tensor]] = None) -> nn.Module:
    """LPIPS v0.1 from the ``lpips`` package, its ImageNet trunk loaded through :mod:`gfplib.weights`.

    The package's linear heads (``weights/v0.1/*.pth``) ship inside its wheel; its trunk would come from a
    torchvision download, so the network is built with a random trunk (``pnet_rand=True``: nothing is fetched) and
    the registry's hash-checked file is loaded into it, key by key.

    Args:
        net: ``"alex"`` (default; the LPIPS authors' choice as a forward metric) or ``"vgg"`` (basicsr's script).
        trunk_state_dict: a torchvision ``alexnet`` / ``vgg16`` state dict; ``None`` fetches it (raises
            :class:`gfplib.weights.WeightsDownloadError` offline).
    """
    from gfplib import weights

    if net not in LPIPS_TRUNKS:
        raise ValueError(f"LPIPS trunk must be one of {sorted(LPIPS_TRUNKS)}, got {net!r}")
    lpips = _third_party("lpips", "lpips==0.1.4")
    sd = weights.load_state_dict(LPIPS_TRUNKS[net], param_key=None) if trunk_state_dict is None else trunk_state_dict
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchvision's "pretrained is deprecated" from inside lpips
        model = lpips.LPIPS(net=net, pnet_rand=True, verbose=False)
    own = model.net.state_dict()  # "slice2.3.weight": torchvision's features.3.weight
    names = {k: "features." + k.split(".", 1)[1] for k in own}
    missing = [v for v in names.values() if v not in sd]
    if missing:
        raise KeyError(f"the {net} trunk state dict lacks {missing[:3]}; pass torchvision's {LPIPS_TRUNKS[net]} weights")
    model.net.load_state_dict({k: sd[v] for k, v in names.items()}, strict=True)
    return model.eval().requires_grad_(False)


@torch.no_grad()
def lpips_distance(model: nn.Module, restored: ArrayLike, gt: ArrayLike, batch_size: int = 32) -> np.ndarray:
    """LPIPS between each restored image and its ground truth, ``(N,)`` (inputs in [-1, 1], as LPIPS expects)."""
    r, g = _pair(restored, gt, tensors=True)
    dev = _device(model)
    return torch.cat([model(r[i:i + batch_size].to(dev), g[i:i + batch_size].to(dev)).flatten().cpu()
                      for i in range(0, len(r), batch_size)]).double().numpy()


def build_fid_inception(state_dict: Optional[Dict[str, torch.Tensor]] = None) -> nn.Module:
    """``pytorch_fid``'s FID Inception-v3 (pool-3 output), its weights through :mod:`gfplib.weights`.

    ``pytorch_fid.inception.fid_inception_v3`` downloads its file itself; while it is built, its loader is handed the
    registry's hash-checked state dict instead (``state_dict``, or the fetched ``inception-fid``).
    """
    from gfplib import weights

    pfi = _third_party("pytorch_fid.inception", "pytorch-fid==0.3.0")
    sd = weights.load_state_dict("inception-fid", param_key=None) if state_dict is None else state_dict
    with mock.patch.object(pfi, "load_state_dict_from_url", lambda *args, **kwargs: sd):
        net = pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]])
    return net.eval().requires_grad_(False)


def inception_embedder(net: nn.Module, batch_size: int = 50) -> Callable[[torch.Tensor], torch.Tensor]:
    """Faces in [-1, 1] → FID features ``(N, 2048)`` (``pytorch_fid`` takes [0, 1] and resizes to 299² itself)."""
    dev = _device(net)
    return lambda x: torch.cat([net(((x[i:i + batch_size] + 1) / 2).to(dev))[0].flatten(1).cpu()
                                for i in range(0, len(x), batch_size)])


# ------------------------------------------------------------------------------------------------ landmarks
def landmark_distance(restored: ArrayLike, gt: ArrayLike,
                      detector: Union[str, Callable[[np.ndarray], Optional[np.ndarray]]] = "auto") -> np.ndarray:
    """LMD: mean Euclidean distance in pixels between the landmarks found on ŷ and on y, per image ``(N,)``.

    Args:
        detector: ``"auto"`` / ``"retinaface"`` / ``"mtcnn"`` (the largest face of :func:`gfplib.align.detect_faces`,
            5 landmarks; never downloads), or a function ``uint8 (H, W, 3) RGB → (K, 2)`` landmarks or ``None``.

    Returns:
        ``NaN`` where no face is found on either image.
    """
    x, y = _pair(restored, gt)
    if isinstance(detector, str):
        from gfplib.align import detect_faces

        name = detector
        detector = lambda im: next((f.landmarks for f in detect_faces(im, name, allow_empty=True)), None)  # noqa
    out = []
    for a, b in zip(x[0], y[0]):
        pa, pb = (detector((im * 255).round().astype(np.uint8)) for im in (a, b))
        if pa is None or pb is None:
            out.append(np.nan)
            continue
        pa, pb = np.asarray(pa, np.float64), np.asarray(pb, np.float64)
        if pa.shape != pb.shape or pa.ndim != 2 or pa.shape[1] != 2:
            raise ValueError(f"detector returned landmarks of shapes {pa.shape} and {pb.shape}; expected equal (K, 2)")
        out.append(float(np.linalg.norm(pa - pb, axis=1).mean()))  # LMD = mean_k ‖p̂_k − p_k‖
    return np.array(out)
