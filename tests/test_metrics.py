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


# ==================================================================================== restoration metrics (issue 15)
import socket  # noqa: E402

from gfplib import metrics as M  # noqa: E402
from gfplib import weights  # noqa: E402


def _u8(rng, n=None, size=24):
    shape = (size, size, 3) if n is None else (n, size, size, 3)
    return rng.integers(0, 256, shape, dtype=np.uint8)


def test_psnr_of_constructed_pairs_is_exact():
    # every pixel off by d grey levels: MSE = d², PSNR = 20 log10(255 / d)
    a = np.full((16, 16, 3), 100, np.uint8)
    for d in (1, 5, 50):
        assert M.psnr(a + np.uint8(d), a) == pytest.approx(20 * np.log10(255 / d), abs=1e-9)
    # the same pair as float [0, 1] arrays and as [-1, 1] tensors
    t = lambda u: torch.from_numpy(u).permute(2, 0, 1).float() / 127.5 - 1  # noqa: E731
    assert M.psnr(a.astype(np.float64) / 255 + 5 / 255, a / 255.0) == pytest.approx(20 * np.log10(51), abs=1e-9)
    assert M.psnr(t(a + np.uint8(5)), t(a)) == pytest.approx(20 * np.log10(51), abs=1e-9)
    # luma: R = G = B shift by d gives ΔY = (65.481 + 128.553 + 24.966) d / 255 = 219 d / 255
    assert M.psnr(a + np.uint8(5), a, y_channel=True) == pytest.approx(20 * np.log10(255 / (219 * 5 / 255)),
                                                                        abs=1e-9)
    # errors only in a 2-pixel border: cropped away
    b = a.copy()
    b[:2] = 0
    assert np.isfinite(M.psnr(b, a)) and M.psnr(b, a, crop_border=2) == float("inf")
    # batches give one value per image
    batch = np.stack([a + np.uint8(1), a + np.uint8(5)])
    np.testing.assert_allclose(M.psnr(batch, np.stack([a, a])), 20 * np.log10(255 / np.array([1, 5])), atol=1e-9)


def test_psnr_of_a_tensor_rounds_to_uint8_like_official_inference():
    # 0.001 below a grey level rounds back to it: the uint8 images are identical
    u = np.full((3, 12, 12), 128, np.uint8)
    t = torch.from_numpy(u).float() / 127.5 - 1
    assert M.psnr(t - 0.001, t) == float("inf")


def test_ssim_of_flat_images_is_the_luminance_term():
    # no variance: SSIM = (2 μx μy + C1) / (μx² + μy² + C1), C1 = (0.01 · 255)²
    c1 = (0.01 * 255) ** 2
    for mx, my in ((100, 140), (20, 230), (128, 128)):
        a, b = np.full((16, 16, 3), mx, np.uint8), np.full((16, 16, 3), my, np.uint8)
        assert M.ssim(a, b) == pytest.approx((2 * mx * my + c1) / (mx ** 2 + my ** 2 + c1), rel=1e-9)


def test_ssim_identical_is_one_and_agrees_with_torchmetrics():
    from torchmetrics.functional.image import structural_similarity_index_measure as tm_ssim

    rng = np.random.default_rng(0)
    y = _u8(rng, 4, 32)
    x = np.clip(y.astype(int) + rng.integers(-40, 41, y.shape), 0, 255).astype(np.uint8)
    assert M.ssim(y[0], y[0]) == pytest.approx(1.0, abs=1e-12)
    ours = M.ssim(x, y)
    as_t = lambda u: torch.from_numpy(u).permute(0, 3, 1, 2).double()  # noqa: E731
    theirs = tm_ssim(as_t(x), as_t(y), gaussian_kernel=True, sigma=1.5, kernel_size=11, data_range=255.0,
                     reduction="none").numpy()
    np.testing.assert_allclose(ours, theirs, atol=2e-3)
    assert 0.1 < ours.min() and ours.max() < 0.99


def test_identity_angle_is_zero_for_the_same_face_and_larger_across_people():
    from gfplib.data import ToyFaceConfig, ToyFaceGenerator
    from gfplib.pretrain import load_toy_arcface

    net = load_toy_arcface()
    gen = ToyFaceGenerator(ToyFaceConfig(size=32))
    people = list(ToyFaceConfig(size=32).test_ids)[:6]
    photo = lambda p, s: gen.render(p, s).image  # noqa: E731
    a = np.stack([photo(p, 1) for p in people])
    same = np.stack([photo(p, 2) for p in people])  # the same people, other photos
    other = np.stack([photo(p, 2) for p in people[1:] + people[:1]])  # other people, same photo draws
    assert np.abs(M.identity_angle(net, a, a)).max() < 0.5
    ang_same, ang_other = M.identity_angle(net, same, a), M.identity_angle(net, other, a)
    assert ang_other.mean() > ang_same.mean() + 15
    cos = M.identity_cosine(net, other, a)
    np.testing.assert_allclose(np.cos(np.radians(ang_other)), cos, atol=1e-9)  # Deg. = arccos(cosine)


def test_set_frechet_of_a_set_with_itself_is_zero_and_matches_pytorch_fid():
    from pytorch_fid.fid_score import calculate_frechet_distance

    rng = np.random.default_rng(1)
    x = torch.rand(20, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    embed = lambda t: t.flatten(1)[:, :12]  # noqa: E731  a stand-in feature network
    assert M.set_frechet_distance(embed, x, x) == pytest.approx(0.0, abs=1e-8)
    s1, s2 = _random_spd(rng, 6), _random_spd(rng, 6)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(calculate_frechet_distance(mu1, s1, mu2, s2),
                                                               rel=1e-6)


class _StandInInception(torch.nn.Module):
    """Returns what pytorch-fid's InceptionV3 returns, a list with one (B, D, 1, 1) map; records its inputs."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1))
        self.seen = []

    def forward(self, x):
        self.seen.append(x)
        return [x.mean((2, 3), keepdim=True) * self.w]


def test_fid_embedder_feeds_pytorch_fid_range_and_batches():
    net = _StandInInception()
    x = torch.rand(7, 3, 5, 5, generator=torch.Generator().manual_seed(1)) * 2 - 1
    feats = M.inception_embedder(net, batch_size=3)(x)
    assert feats.shape == (7, 3) and [len(s) for s in net.seen] == [3, 3, 1]
    assert min(float(s.min()) for s in net.seen) >= 0 and max(float(s.max()) for s in net.seen) <= 1
    torch.testing.assert_close(feats, ((x + 1) / 2).mean((2, 3)))  # [-1, 1] → [0, 1], as pytorch-fid expects


def _alexnet_trunk(seed=0):
    """A torchvision-layout AlexNet ``features.*`` state dict with random values (a stand-in for the ImageNet file)."""
    g = torch.Generator().manual_seed(seed)
    shapes = {0: (64, 3, 11, 11), 3: (192, 64, 5, 5), 6: (384, 192, 3, 3), 8: (256, 384, 3, 3), 10: (256, 256, 3, 3)}
    sd = {}
    for i, s in shapes.items():
        sd[f"features.{i}.weight"] = torch.randn(s, generator=g) * (2 / np.prod(s[1:])) ** 0.5
        sd[f"features.{i}.bias"] = torch.zeros(s[0])
    return sd


def test_lpips_wrapping_loads_the_given_trunk_and_measures_pairs():
    pytest.importorskip("lpips")
    sd = _alexnet_trunk()
    model = M.build_lpips("alex", trunk_state_dict=sd)
    torch.testing.assert_close(model.net.slice1[0].weight, sd["features.0.weight"])  # features.0 → slice1.0
    torch.testing.assert_close(model.net.state_dict()["slice5.10.weight"], sd["features.10.weight"])
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(2)) * 2 - 1
    y = (x + 0.3 * torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(3))).clamp(-1, 1)
    d = M.lpips_distance(model, x, y, batch_size=2)
    assert d.shape == (3,) and (d > 0).all()
    np.testing.assert_allclose(M.lpips_distance(model, x, x), 0, atol=1e-7)
    np.testing.assert_allclose(d, model(x, y).flatten().numpy(), rtol=1e-5)  # the package's own call
    np.testing.assert_allclose(d, M.lpips_distance(model, y, x), rtol=1e-5)
    with pytest.raises(KeyError, match="lacks"):
        M.build_lpips("alex", trunk_state_dict={k: v for k, v in sd.items() if "features.8" not in k})
    with pytest.raises(ValueError, match="trunk"):
        M.build_lpips("squeeze")


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """An empty cache and no network: every socket connection fails."""
    monkeypatch.setenv("GFPLIB_CACHE", str(tmp_path / "cache"))

    def refuse(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_lpips_and_fid_offline_name_the_file_to_fetch(offline):
    pytest.importorskip("lpips")
    with pytest.raises(weights.WeightsDownloadError, match="alexnet-owt-7be5be79.pth"):
        M.build_lpips("alex")
    with pytest.raises(weights.WeightsDownloadError, match="pt_inception-2015-12-05-6726825d.pth"):
        M.build_fid_inception()


def test_registry_rows_of_the_metric_networks():
    for name, prefix in (("alexnet", "7be5be79"), ("vgg16", "397923af"), ("inception-fid", "6726825d")):
        e = weights.get_entry(name)
        assert e.sha256 == prefix and e.filename.endswith(f"{prefix}.pth") and e.url.endswith(e.filename)


@pytest.mark.skipif(weights.local_path("alexnet") is None,
                    reason="AlexNet ImageNet weights not in the cache (gfplib.weights.fetch('alexnet') downloads "
                           "them): the real LPIPS is not checked offline")
def test_real_lpips_orders_degradations():
    g = torch.Generator().manual_seed(0)
    x, noise = torch.rand(1, 3, 64, 64, generator=g) * 2 - 1, torch.randn(1, 3, 64, 64, generator=g)
    model = M.build_lpips("alex")
    d = [M.lpips_distance(model, (x + s * noise).clamp(-1, 1), x)[0] for s in (0.05, 0.2, 0.5)]
    assert 0 < d[0] < d[1] < d[2]


@pytest.mark.skipif(weights.local_path("inception-fid") is None,
                    reason="FID Inception weights not in the cache (gfplib.weights.fetch('inception-fid')): the real "
                           "FID is not checked offline")
def test_real_fid_of_a_set_with_itself_is_zero():
    x = torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    embed = M.inception_embedder(M.build_fid_inception())
    assert embed(x).shape == (4, 2048)
    assert M.set_frechet_distance(embed, x, x) == pytest.approx(0.0, abs=1e-3)


@pytest.mark.slow
def test_fid_inception_is_built_from_the_given_state_dict():
    from pytorch_fid import inception as pfi

    ref = pfi._inception_v3(num_classes=1008, aux_logits=False, weights=None)  # the architecture of fid_inception_v3
    for name, block in (("Mixed_5b", pfi.FIDInceptionA(192, 32)), ("Mixed_5c", pfi.FIDInceptionA(256, 64)),
                        ("Mixed_5d", pfi.FIDInceptionA(288, 64)), ("Mixed_6b", pfi.FIDInceptionC(768, 128)),
                        ("Mixed_6c", pfi.FIDInceptionC(768, 160)), ("Mixed_6d", pfi.FIDInceptionC(768, 160)),
                        ("Mixed_6e", pfi.FIDInceptionC(768, 192)), ("Mixed_7b", pfi.FIDInceptionE_1(1280)),
                        ("Mixed_7c", pfi.FIDInceptionE_2(2048))):
        setattr(ref, name, block)
    sd = ref.state_dict()
    net = M.build_fid_inception(sd)
    torch.testing.assert_close(net.blocks[0][0].conv.weight, sd["Conv2d_1a_3x3.conv.weight"])
    x = torch.rand(2, 3, 40, 40) * 2 - 1
    assert M.inception_embedder(net)(x).shape == (2, 2048)


def test_landmark_distance_with_a_stand_in_detector():
    # one white dot per image; the "detector" returns its position as a single landmark
    def dot(x, y):
        img = np.zeros((20, 20, 3), np.uint8)
        img[y, x] = 255
        return img

    find = lambda im: np.argwhere(im[..., 0] == 255)[:, ::-1].astype(float)  # noqa: E731  (x, y)
    r, g = np.stack([dot(3, 4), dot(10, 10)]), np.stack([dot(0, 0), dot(10, 10)])
    np.testing.assert_allclose(M.landmark_distance(r, g, detector=find), [5.0, 0.0])
    assert np.isnan(M.landmark_distance(r, g, detector=lambda im: None)).all()


def test_landmark_distance_with_mtcnn_follows_a_shift():
    pytest.importorskip("facenet_pytorch")
    from gfplib.align import demo_photo

    img = demo_photo()
    shifted = np.roll(img, (4, 3), axis=(0, 1))  # 3 px right, 4 px down: every landmark moves by 5 px
    assert M.landmark_distance(img, img, "mtcnn")[0] == pytest.approx(0.0, abs=1e-6)
    assert M.landmark_distance(shifted, img, "mtcnn")[0] == pytest.approx(5.0, abs=1.5)


@pytest.mark.parametrize("restored, gt, err, match", [
    (torch.zeros(1, 3, 8, 8, dtype=torch.uint8), torch.zeros(1, 3, 8, 8), TypeError, "float in"),
    (torch.full((1, 3, 8, 8), 200.0), torch.zeros(1, 3, 8, 8), ValueError, "0–255"),
    (torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8), ValueError, r"\(N, 3, H, W\)"),
    (torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 9), ValueError, "differ in shape"),
    (np.full((8, 8, 3), 2.0), np.zeros((8, 8, 3)), ValueError, r"expected \[0, 1\]"),
    (np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8), ValueError, r"\(H, W, 3\)"),
    (np.zeros((8, 8, 3), np.int32), np.zeros((8, 8, 3), np.int32), TypeError, "dtype"),
    ([[0.0]], [[0.0]], TypeError, "torch.Tensor or numpy.ndarray"),
    (torch.full((1, 3, 8, 8), float("nan")), torch.zeros(1, 3, 8, 8), ValueError, "NaN"),
])
def test_bad_images_are_refused(restored, gt, err, match):
    with pytest.raises(err, match=match):
        M.psnr(restored, gt)


def test_bad_options_are_refused():
    a = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="crop_border"):
        M.psnr(a, a, crop_border=4)
    with pytest.raises(ValueError, match="11×11"):
        M.ssim(a, a)
