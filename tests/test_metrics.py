"""gfplib.metrics: the Fréchet distance against closed forms and an independent computation."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from gfplib.metrics import (compute_feature_stats, feature_statistics, frechet_distance,
                            frechet_distance_from_features)


def _random_spd(rng, d, rank=None):
    a = rng.normal(size=(d, rank or d))
    return a @ a.T / (rank or d) + (0 if rank else 0.1 * np.eye(d))


def test_one_dimensional_closed_form():
    # N(m1, s1²) vs N(m2, s2²): d² = (m1 − m2)² + (s1 − s2)²
    d = frechet_distance(np.array([1.5]), np.array([[4.0]]), np.array([-0.5]), np.array([[0.25]]))
    assert d == pytest.approx((1.5 + 0.5) ** 2 + (2.0 - 0.5) ** 2, rel=1e-12)


def test_commuting_covariances_closed_form():
    # diagonal covariances commute: Tr(Σ1 + Σ2 − 2 (Σ1Σ2)^½) = Σ_i (√a_i − √b_i)²
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.1, 3, 6), rng.uniform(0.1, 3, 6)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-10)


def test_rotation_invariance_and_scaling():
    # the W2 distance is invariant under a common rotation, and scales as c² under x → c·x
    rng = np.random.default_rng(1)
    s1, s2 = _random_spd(rng, 5), _random_spd(rng, 5)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    d = frechet_distance(mu1, s1, mu2, s2)
    assert frechet_distance(q @ mu1, q @ s1 @ q.T, q @ mu2, q @ s2 @ q.T) == pytest.approx(d, rel=1e-9)
    assert frechet_distance(3 * mu1, 9 * s1, 3 * mu2, 9 * s2) == pytest.approx(9 * d, rel=1e-9)


def test_matches_scipy_sqrtm_formula():
    rng = np.random.default_rng(2)
    s1, s2 = _random_spd(rng, 8), _random_spd(rng, 8)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real  # the classic FID implementation
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)


def test_identical_is_zero_and_symmetric_even_when_singular():
    rng = np.random.default_rng(3)
    s1, s2 = _random_spd(rng, 10, rank=3), _random_spd(rng, 10, rank=4)  # rank-deficient (few samples)
    mu1, mu2 = rng.normal(size=10), rng.normal(size=10)
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(frechet_distance(mu2, s2, mu1, s1), rel=1e-7)
    assert frechet_distance(mu1, s1, mu2, s2) > 0


def test_from_features_recovers_gaussian_distance():
    # samples of two known Gaussians: the estimate converges to the closed form
    rng = np.random.default_rng(4)
    x = rng.normal(0.0, 1.0, size=(20000, 3))
    y = rng.normal(1.0, 2.0, size=(20000, 3))
    expected = 3 * 1.0 ** 2 + 3 * (2.0 - 1.0) ** 2
    assert frechet_distance_from_features(x, y) == pytest.approx(expected, rel=0.03)
    assert frechet_distance_from_features(torch.from_numpy(x), torch.from_numpy(y)) == pytest.approx(
        frechet_distance_from_features(x, y), rel=1e-12)


def test_feature_statistics_and_batched_stats():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(50, 4))
    st = feature_statistics(x)
    np.testing.assert_allclose(st.mu, x.mean(0))
    np.testing.assert_allclose(st.sigma, np.cov(x, rowvar=False))
    assert st.n == 50
    batches = [torch.from_numpy(x[i:i + 8]).float().view(-1, 1, 2, 2) for i in range(0, 50, 8)]
    st2 = compute_feature_stats(lambda b: b * 2, batches)  # (B, 1, 2, 2) → flattened (B, 4)
    np.testing.assert_allclose(st2.mu, 2 * x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(st2.sigma, 4 * np.cov(x, rowvar=False), rtol=1e-4)


@pytest.mark.parametrize("args, match", [
    ((np.zeros(3), np.eye(3), np.zeros(4), np.eye(4)), "equal length"),
    ((np.zeros(3), np.eye(2), np.zeros(3), np.eye(3)), "shape"),
    ((np.zeros(2), np.array([[1.0, 2.0], [0.0, 1.0]]), np.zeros(2), np.eye(2)), "symmetric"),
    ((np.array([np.nan, 0.0]), np.eye(2), np.zeros(2), np.eye(2)), "NaN"),
])
def test_bad_input_is_refused(args, match):
    with pytest.raises(ValueError, match=match):
        frechet_distance(*args)


def test_bad_feature_sets_are_refused():
    with pytest.raises(ValueError, match="at least 2"):
        feature_statistics(np.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        feature_statistics(np.zeros(5))
    with pytest.raises(ValueError, match="different dimensions"):
        frechet_distance_from_features(np.random.rand(5, 3), np.random.rand(5, 4))
    with pytest.raises(TypeError):
        feature_statistics([[1.0, 2.0], [3.0, 4.0]])
