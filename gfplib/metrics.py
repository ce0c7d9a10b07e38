"""Distribution-level quality: the Fréchet distance between two sets of feature vectors.

A generator is good when its samples are distributed like real images, not when one sample looks good. The Fréchet
distance (Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium",
NeurIPS 2017, https://arxiv.org/abs/1706.08500) fits a Gaussian to the features of each set and measures

.. math::  d^2\\big(\\mathcal N(\\mu_1, \\Sigma_1), \\mathcal N(\\mu_2, \\Sigma_2)\\big)
           = \\lVert \\mu_1 - \\mu_2 \\rVert_2^2
           + \\operatorname{Tr}\\big(\\Sigma_1 + \\Sigma_2 - 2\\,(\\Sigma_1^{1/2} \\Sigma_2 \\Sigma_1^{1/2})^{1/2}\\big)

the squared 2-Wasserstein distance between the two Gaussians. With Inception-v3 features it is "FID"; the toy
world of the series has no Inception network, so it uses its own feature spaces (the toy identity network and the
toy perceptual network of :mod:`gfplib.pretrain`). Numbers from different feature spaces are not comparable with
each other, nor with published FIDs: compare models and reference points (untrained generator, degraded real
faces) within one feature space.

Taught in ``notebooks/04_stylegan2_prior.ipynb``; used to measure the toy StyleGAN2 prior.
"""
from __future__ import annotations

from typing import Callable, Iterable, NamedTuple, Union

import numpy as np
import torch

__all__ = ["FeatureStats", "feature_statistics", "frechet_distance", "frechet_distance_from_features",
           "compute_feature_stats"]

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
