"""The toy world's pretrained networks (gfplib.pretrain): shipped files, their quality, and the trainers.

Loads each shipped file through the weights registry (hash-checked) and checks a real property of each network on
*fresh* toy faces: the prior's samples are far closer to real faces than its untrained initialisation (Fréchet
distance), the identity network tells held-out people apart, and the perceptual distance grows with the degradation
strength. The trainers are run for one smoke step each (training itself is not part of the tests).
"""
from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from gfplib import weights
from gfplib.data.toyfaces import ToyFaceConfig, ToyFaceGenerator, faces_to_tensor
from gfplib.metrics import frechet_distance_from_features
from gfplib.perceptual import PERCEPTUAL_LAYER_WEIGHTS, feature_distance
from gfplib.pretrain import PRIOR_ARCHS, load_toy_arcface, load_toy_prior, load_toy_vgg
from gfplib.pretrain.common import ema_beta, equalized_lr_param_groups, latest_checkpoint, sha256_file
from gfplib.pretrain.data import ToyFaceSet, render_face_set, to_gray
from gfplib.pretrain.evaluate import degrade_batch, perceptual_features, sample_prior
from gfplib.pretrain.features import FeatureNetConfig, FeatureNetTrainer
from gfplib.pretrain.identity import (IdentityConfig, IdentityTrainer, best_threshold, evaluate_verification,
                                      verification_accuracy, verification_pairs)
from gfplib.pretrain.prior import (PriorConfig, PriorTrainer, build_prior_generator, d_logistic_loss,
                                   g_nonsaturating_loss, r1_penalty, train_prior)

TOY_FILES = {"toy-prior-32": "toy_prior_32.pth", "toy-arcface": "toy_arcface.pth", "toy-vgg": "toy_vgg.pth"}


@pytest.fixture(scope="module")
def prior():
    return load_toy_prior()


@pytest.fixture(scope="module")
def arcface():
    return load_toy_arcface()


@pytest.fixture(scope="module")
def vgg():
    return load_toy_vgg()


@pytest.fixture(scope="module")
def real_faces():
    """256 fresh real toy faces (a seed no recipe uses), (N, 3, 32, 32) in [-1, 1]."""
    gen = ToyFaceGenerator(ToyFaceConfig(size=32))
    return faces_to_tensor(gen.batch(256, np.random.default_rng(2024)).images)


# ------------------------------------------------------------------------------------------- shipped files
@pytest.mark.parametrize("name", sorted(TOY_FILES))
def test_shipped_file_is_registered_with_recorded_hash(name):
    entry = weights.get_entry(name)
    assert entry.shipped and entry.filename == TOY_FILES[name] and entry.hash_source == "recorded"
    path = weights.fetch(name)  # verifies the sha256
    assert sha256_file(path) == entry.sha256
    assert path.stat().st_size <= 15 * 1024 * 1024
    side = json.loads(path.with_suffix(".json").read_text())
    assert side["sha256"] == entry.sha256 and side["size_bytes"] == path.stat().st_size
    for key in ("recipe", "seed", "images_seen", "wall_time_s", "threads", "torch_version", "command"):
        assert key in side, key


def test_modified_shipped_file_is_refused(tmp_path, monkeypatch):
    src = weights.fetch("toy-arcface")
    blob = bytearray(src.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    (tmp_path / src.name).write_bytes(bytes(blob))
    monkeypatch.setenv("GFPLIB_DATA", str(tmp_path))
    with pytest.raises(weights.WeightsHashError, match="toy-arcface"):
        load_toy_arcface()


def test_prior_architecture_matches_its_recipe(prior):
    cls_name, kwargs = PRIOR_ARCHS["toy-prior-32"]
    assert type(prior).__name__ == cls_name and kwargs == PriorConfig.toy().arch_kwargs()
    assert not prior.training and not any(p.requires_grad for p in prior.parameters())
    img = prior([torch.randn(4, kwargs["num_style_feat"])]).image
    assert img.shape == (4, 3, 32, 32) and torch.isfinite(img).all()


# ------------------------------------------------------------------------------------------- quality
def test_prior_is_far_closer_to_real_faces_than_its_untrained_init(prior, vgg, real_faces):
    # Fréchet distance in the toy perceptual space (means of the five VGG layers, 368-d), 256 faces per set
    torch.manual_seed(0)
    untrained = build_prior_generator(PriorConfig.toy()).eval()
    real = perceptual_features(vgg, real_faces)
    d_trained = frechet_distance_from_features(perceptual_features(vgg, sample_prior(prior, 256, seed=1)), real)
    d_untrained = frechet_distance_from_features(perceptual_features(vgg, sample_prior(untrained, 256, seed=1)), real)
    assert d_untrained > 10 * d_trained, (d_trained, d_untrained)


def test_identity_net_separates_held_out_people(arcface):
    # 40 training people pick the threshold; 40 people never seen in training are verified with it
    thr_set = render_face_set(32, range(5000, 5040), 3, seed=77)
    held_out = render_face_set(32, range(1_000_500, 1_000_540), 3, seed=78)
    res = evaluate_verification(arcface, thr_set, held_out, seed=0)
    assert res.accuracy > 0.8, res  # chance: 0.5 (as many same-person as different-person pairs)
    assert res.mean_same > res.mean_diff + 0.2, res


def test_perceptual_distance_grows_with_degradation(vgg, real_faces):
    x = real_faces[:32]
    dists = [feature_distance(vgg, x, degrade_batch(x, t, seed=5), PERCEPTUAL_LAYER_WEIGHTS).mean().item()
             for t in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert all(a < b for a, b in zip(dists, dists[1:])), dists
    assert dists[-1] > 3 * dists[0], dists  # t = 0 still has JPEG q = 100 (chroma subsampling) and 8-bit rounding


# ------------------------------------------------------------------------------------------- verification math
def test_verification_helpers():
    labels = np.array([0, 0, 1, 1, 2])
    pairs, same = verification_pairs(labels, np.random.default_rng(0))
    assert same.sum() == 2 and (~same).sum() == 2  # (0,1) and (2,3) are the only same-person pairs
    assert all((labels[i] == labels[j]) == s for (i, j), s in zip(pairs, same))
    sims = np.array([0.9, 0.8, 0.3, 0.5])
    flags = np.array([True, True, False, False])
    t = best_threshold(sims, flags)
    assert 0.5 < t < 0.8 and verification_accuracy(sims, flags, t) == 1.0
    with pytest.raises(ValueError, match="several photos"):
        verification_pairs(np.arange(4), np.random.default_rng(0))


def test_gray_conversion_uses_official_weights():
    x = torch.zeros(1, 3, 4, 4)
    x[:, 0], x[:, 1], x[:, 2] = 1.0, -1.0, 0.5
    expected = 0.2989 * 1.0 + 0.5870 * -1.0 + 0.1140 * 0.5
    torch.testing.assert_close(to_gray(x), torch.full((1, 1, 4, 4), expected))
    assert to_gray(x, 8).shape == (1, 1, 8, 8)


# ------------------------------------------------------------------------------------------- training plumbing
def test_gan_losses_and_r1_match_formulas():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    # −log σ(D(x)) − log(1 − σ(D(G(z)))), written out with scalars: mean over real of log(1 + e^{−r}), fake of log(1 + e^{f})
    expected_d = (math.log1p(math.exp(-2.0)) + math.log1p(math.exp(1.0))) / 2 \
        + (math.log1p(math.exp(0.5)) + math.log1p(math.exp(-3.0))) / 2
    torch.testing.assert_close(d_logistic_loss(real, fake), torch.tensor(expected_d))
    torch.testing.assert_close(g_nonsaturating_loss(fake), -torch.log(torch.sigmoid(fake)).mean())
    x = torch.randn(3, 2, requires_grad=True)
    w = torch.tensor([1.0, -2.0])
    torch.testing.assert_close(r1_penalty(x @ w, x), torch.tensor(5.0))  # ‖∇ₓ(x·w)‖² = ‖w‖² = 5


def test_equalized_lr_groups_and_ema_beta():
    g = build_prior_generator(PriorConfig.smoke())
    groups = equalized_lr_param_groups(g, 2e-3, {"style_mlp.": 0.01})
    lr_of = {id(p): grp["lr"] for grp in groups for p in grp["params"]}
    assert len(lr_of) == len(list(g.parameters()))
    conv = g.style_convs[0].modulated_conv
    fan_in = conv.weight.shape[2] * conv.weight.shape[3] * conv.weight.shape[4]
    assert lr_of[id(conv.weight)] == pytest.approx(2e-3 / fan_in**0.5)  # η·c, c = 1/√fan_in
    assert lr_of[id(conv.modulation.bias)] == pytest.approx(2e-3)
    mlp = g.style_mlp[1]
    assert lr_of[id(mlp.weight)] == pytest.approx(2e-3 * 0.01 / mlp.weight.shape[1] ** 0.5)
    plain = PriorTrainer(replace(PriorConfig.smoke(), g_equalized_lr=False, pl_weight=0.0),
                         torch.zeros(4, 3, 8, 8, dtype=torch.uint8))
    assert sorted(grp["lr"] for grp in plain.opt_g.param_groups) == pytest.approx([2e-5, 2e-3])  # mapping: ×0.01
    d_ratio = 1 / 2  # lazy R1 every step in the smoke config: c = k / (k + 1) = 1/2
    assert all(grp["lr"] == pytest.approx(2e-3 * d_ratio) for grp in plain.opt_d.param_groups)
    assert plain.opt_d.defaults["betas"][1] == pytest.approx(0.99 ** d_ratio)
    assert ema_beta(16, 10**9, 10_000, None) == pytest.approx(0.5 ** (16 / 10_000))
    assert ema_beta(16, 1000, 10_000, 0.05) == pytest.approx(0.5 ** (16 / 50))  # ramp-up: h = 0.05·1000


def _changed(before, module):
    return any(not torch.equal(before[k], v) for k, v in module.state_dict().items() if v.is_floating_point())


def test_prior_trainer_step_changes_g_d_and_ema():
    real = torch.randint(0, 256, (16, 3, 8, 8), dtype=torch.uint8)
    tr = PriorTrainer(PriorConfig.smoke(), real)
    before = {n: {k: v.clone() for k, v in m.state_dict().items()} for n, m in
              (("G", tr.G), ("D", tr.D), ("G_ema", tr.G_ema))}
    log = tr.train_step()  # D step, R1, G step, path length, EMA (every regulariser is due at step 0)
    assert set(log) >= {"loss_d", "loss_g", "r1", "path_length"} and all(np.isfinite(list(log.values())))
    for name, m in (("G", tr.G), ("D", tr.D), ("G_ema", tr.G_ema)):
        assert _changed(before[name], m), name
    assert tr.images_seen == 4 and tr.step == 1


def test_prior_training_resumes_exactly(tmp_path):
    real = torch.randint(0, 256, (16, 3, 8, 8), dtype=torch.uint8)
    cfg = replace(PriorConfig.smoke(), total_images=16, checkpoint_every=8)
    straight = train_prior(cfg, real, tmp_path / "a", print_fn=lambda *a: None)
    train_prior(replace(cfg, total_images=8), real, tmp_path / "b", print_fn=lambda *a: None)  # cut off …
    assert latest_checkpoint(tmp_path / "b").name == "ckpt_000000008.pt"
    resumed = train_prior(cfg, real, tmp_path / "b", print_fn=lambda *a: None)  # … and continued
    assert resumed.images_seen == 16
    for k, v in straight.G_ema.state_dict().items():
        torch.testing.assert_close(resumed.G_ema.state_dict()[k], v, rtol=0, atol=0)


def _random_set(n, size, classes):
    return ToyFaceSet(torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8),
                      torch.arange(n) % classes, torch.randn(n, 11))


def test_identity_trainer_step_changes_weights():
    tr = IdentityTrainer(IdentityConfig.smoke(), _random_set(8, 32, 4))
    before = {k: v.clone() for k, v in tr.net.state_dict().items()}
    head = tr.head.weight.detach().clone()
    log = tr.train_step()
    assert np.isfinite(log["loss"]) and _changed(before, tr.net) and not torch.equal(head, tr.head.weight)


def test_feature_trainer_step_changes_weights_and_exports_plain_vgg():
    tr = FeatureNetTrainer(FeatureNetConfig.smoke(), _random_set(8, 32, 4))
    before = {k: v.clone() for k, v in tr.model.state_dict().items()}
    log = tr.train_step()
    assert np.isfinite(log["loss_id"]) and _changed(before, tr.model)
    net = tr.export()  # BatchNorm folded into the convolutions: the exported net computes the trained one
    tr.model.eval()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    torch.testing.assert_close(net(x)["pool5"], tr.model.trunk(x), rtol=1e-4, atol=1e-5)
    assert not any(k.startswith("bns") for k in net.state_dict())
