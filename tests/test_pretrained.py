"""The toy world's pretrained networks (gfplib.pretrain): shipped files, their quality, and the trainers.

Loads each shipped file through the weights registry (hash-checked) and checks a real property of each network on
*fresh* toy faces: the prior's samples are far closer to real faces than its untrained initialisation (Fréchet
distance), the identity network tells held-out people apart, and the perceptual distance grows with the degradation
strength. The trainers are run for one smoke step each (training itself is not part of the tests).
"""
from __future__ import annotations

import copy
import json
import math
import warnings
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
from gfplib.pretrain.features import FeatureNetConfig, FeatureNetTrainer, train_features
from gfplib.pretrain.identity import (IdentityConfig, IdentityTrainer, best_threshold, evaluate_verification,
                                      train_identity, verification_accuracy, verification_pairs)
from gfplib.pretrain.prior import (PriorConfig, PriorTrainer, build_prior_generator, d_logistic_loss,
                                   g_nonsaturating_loss, path_length_penalty, r1_penalty, train_prior)

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
    assert entry.shipped and entry.filename == TOY_FILES[name] and len(entry.sha256) == 64
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


def _quiet(*args):
    pass


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    """The trainers set torch's thread count from their recipe; give the next test the count it had."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _prior_trainer(seed=0, **changes):
    """A smoke-size prior trainer whose codes are fixed (``z``) and whose real batches are recorded (``seen``)."""
    cfg = replace(PriorConfig.smoke(), mixing_prob=0.0, seed=seed, **changes)
    real = torch.randint(0, 256, (16, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))
    tr = PriorTrainer(cfg, real)
    z = torch.randn(cfg.batch_size, cfg.num_style_feat, generator=torch.Generator().manual_seed(100 + seed))
    seen = {}
    draw_real = tr.real_batch
    tr.codes = lambda n: [z[:n]]  # every fake batch of the step comes from the same codes
    tr.real_batch = lambda n: seen.setdefault("real", draw_real(n))
    return tr, z, seen


def _softplus_mean(logits):
    return torch.nn.functional.softplus(logits).mean().item()  # log(1 + e^x), averaged


@pytest.mark.parametrize("seed", [0, 1])
def test_prior_step_lowers_the_d_and_g_losses_on_their_batches(seed):
    # noise strengths start at 0, so the generator is deterministic at the step; D has no batch statistics
    tr, z, seen = _prior_trainer(seed, r1_gamma=0.0, pl_weight=0.0)
    g0, d0 = copy.deepcopy(tr.G), copy.deepcopy(tr.D)
    log = tr.train_step()
    with torch.no_grad():
        fake0, fake1 = g0([z], randomize_noise=False).image, tr.G([z], randomize_noise=False).image
        real = seen["real"]
        # L_D = E softplus(−D(x)) + E softplus(D(G(z))), on the step's own batch, before and after the D update
        d_before = _softplus_mean(-d0(real)) + _softplus_mean(d0(fake0))
        d_after = _softplus_mean(-tr.D(real)) + _softplus_mean(tr.D(fake0))
        # L_G = E softplus(−D(G(z))) against the updated D (the one G's step saw), before and after the G update
        g_before, g_after = _softplus_mean(-tr.D(fake0)), _softplus_mean(-tr.D(fake1))
    assert log["loss_d"] == pytest.approx(d_before, rel=1e-5) and log["loss_g"] == pytest.approx(g_before, rel=1e-5)
    assert d_after < d_before - 1e-3, (d_before, d_after)
    assert g_after < g_before - 1e-3, (g_before, g_after)


def test_prior_r1_step_lowers_the_gradient_penalty_on_the_real_batch():
    tr, _, seen = _prior_trainer(0, pl_weight=0.0)  # smoke recipe: γ = 1, R1 on every step
    log = tr.train_step()  # D step, then the R1 step on the same real images: ‖∇ₓD(x)‖² must go down
    x = seen["real"].detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(tr.D(x).sum(), x)
    assert grad.pow(2).flatten(1).sum(1).mean().item() < log["r1"]


def test_prior_step_updates_g_ema_with_the_closed_form():
    # half-life 8 images, batch 4, no ramp-up: β = 0.5^(4/8) = 1/√2;  G_ema = β·G_ema(before) + (1 − β)·G(after)
    tr, _, _ = _prior_trainer(0, ema_half_life=8, ema_rampup=None)
    ema0 = {k: v.clone() for k, v in tr.G_ema.state_dict().items()}
    log = tr.train_step()  # every regulariser is due at step 0 in the smoke recipe
    assert set(log) >= {"loss_d", "loss_g", "r1", "path_length"} and all(np.isfinite(list(log.values())))
    assert tr.images_seen == 4 and tr.step == 1
    beta = 0.5 ** 0.5
    params = dict(tr.G.named_parameters())
    for k, v in tr.G_ema.state_dict().items():
        if k in params:
            torch.testing.assert_close(v, beta * ema0[k] + (1 - beta) * params[k].detach())
        else:  # buffers (the stored noise maps) are copied
            assert torch.equal(v, tr.G.state_dict()[k]), k
    assert any(not torch.equal(ema0[k], v) for k, v in tr.G_ema.state_dict().items())


def _linear_generator(batch=3, layers=2, feat=4, seed=0):
    """fake_b = Σ_l A_l w_{b,l} reshaped to (3, 2, 2): its Jacobian w.r.t. w_l is A_l, known in closed form."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(layers, 12, feat, generator=g).requires_grad_(True)  # (L, 3·2·2, F): the "weights"
    w = torch.randn(batch, layers, feat, generator=g).requires_grad_(True)
    fake = torch.einsum("lpf,blf->bp", a, w).reshape(batch, 3, 2, 2)
    return a, w, fake


def test_path_length_penalty_closed_form_on_a_linear_generator():
    a, w, fake = _linear_generator()
    torch.manual_seed(3)
    y = torch.randn(3, 3, 2, 2) / 2  # the penalty's own probe: y ~ N(0, I)/√(HW), HW = 4 (same seed below)
    torch.manual_seed(3)
    penalty, new_mean, lengths = path_length_penalty(fake, w, torch.tensor(0.5), decay=0.01)
    a = a.detach()
    jty = [torch.einsum("lpf,p->lf", a, y[b].flatten()) for b in range(3)]  # J_{w_l}ᵀ y = A_lᵀ y   (L, F)
    # ‖J_wᵀ y‖ with the squared norm averaged over the W+ layers: √((‖A_0ᵀy‖² + ‖A_1ᵀy‖²) / 2)
    expected = torch.stack([((j[0].norm() ** 2 + j[1].norm() ** 2) / 2).sqrt() for j in jty])
    torch.testing.assert_close(lengths, expected)
    torch.testing.assert_close(new_mean, 0.5 + 0.01 * (expected.mean() - 0.5))  # a ← a + λ(mean − a)
    torch.testing.assert_close(penalty, ((expected - new_mean) ** 2).mean())  # (‖J_wᵀ y‖ − a)²
    assert penalty.requires_grad  # a loss for the generator: differentiable w.r.t. its weights A


def test_path_length_expected_square_is_the_jacobian_norm():
    # E_y ‖A_lᵀ y‖² = ‖A_l‖_F² / HW for y ~ N(0, I)/√(HW): no noise needed to state the expected value
    a, w, fake = _linear_generator(batch=4096, seed=1)
    torch.manual_seed(0)
    _, _, lengths = path_length_penalty(fake, w, torch.tensor(0.0), decay=0.01)
    expected = (a[0].detach().norm() ** 2 + a[1].detach().norm() ** 2) / 2 / 4
    assert (lengths ** 2).mean().item() == pytest.approx(expected.item(), rel=0.05)


def test_prior_training_resumes_exactly(tmp_path):
    real = torch.randint(0, 256, (16, 3, 8, 8), dtype=torch.uint8)
    cfg = replace(PriorConfig.smoke(), total_images=16, checkpoint_every=8, threads=1)
    straight = train_prior(cfg, real, tmp_path / "a", print_fn=_quiet)
    train_prior(replace(cfg, total_images=8), real, tmp_path / "b", print_fn=_quiet)  # cut off …
    assert latest_checkpoint(tmp_path / "b").name == "ckpt_000000008.pt"
    resumed = train_prior(cfg, real, tmp_path / "b", print_fn=_quiet)  # … and continued
    assert resumed.images_seen == 16
    for k, v in straight.G_ema.state_dict().items():
        torch.testing.assert_close(resumed.G_ema.state_dict()[k], v, rtol=0, atol=0)


def _mirrored_set(n, size, classes, seed=0):
    """Random left-right symmetric images (a horizontal flip leaves them unchanged), ``classes`` people."""
    g = torch.Generator().manual_seed(seed)
    half = torch.randint(0, 256, (n, 3, size, size // 2), dtype=torch.uint8, generator=g)
    return ToyFaceSet(torch.cat([half, half.flip(-1)], -1), torch.arange(n) % classes,
                      torch.randn(n, 11, generator=g))


def test_identity_step_lowers_the_arcface_loss_on_its_batch():
    # one batch = the whole (mirror-symmetric) set in the trainer's order; dropout masks from the same seed
    data = _mirrored_set(8, 32, 4)
    cfg = replace(IdentityConfig.smoke(), batch_size=8)
    tr = IdentityTrainer(cfg, data)
    order = tr.perm.clone()
    x, y = data.images[order].float().div(127.5).sub(1.0), tr.targets[order]

    def loss():
        net = copy.deepcopy(tr.net).train()  # batch statistics, as in the step (running stats untouched)
        with torch.no_grad():
            return torch.nn.functional.cross_entropy(tr.head(net(to_gray(x, cfg.in_size)), y), y).item()

    torch.manual_seed(7)
    before = loss()
    torch.manual_seed(7)
    log = tr.train_step()
    torch.manual_seed(7)
    after = loss()
    assert log["loss"] == pytest.approx(before, rel=1e-5)  # the same batch as the step's
    assert after < before - 0.1, (before, after)


def test_feature_step_lowers_its_loss_and_exports_plain_vgg():
    data = _mirrored_set(8, 32, 4)
    cfg = replace(FeatureNetConfig.smoke(), batch_size=8)
    tr = FeatureNetTrainer(cfg, data)
    order = tr.perm.clone()
    x, y, v = data.images[order].float().div(127.5).sub(1.0), tr.targets[order], data.nuisance[order]

    def losses():
        model = copy.deepcopy(tr.model).train()
        with torch.no_grad():
            logits, v_hat = model(x)
        ce = torch.nn.functional.cross_entropy(logits, y).item()
        return ce, ce + cfg.nuisance_weight * ((v_hat - v) ** 2).mean().item()  # CE + λ‖v̂ − v‖²

    ce_before, before = losses()
    log = tr.train_step()
    assert log["loss_id"] == pytest.approx(ce_before, rel=1e-5)
    assert losses()[1] < before - 0.1
    net = tr.export()  # BatchNorm folded into the convolutions: the exported net computes the trained one
    tr.model.eval()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    torch.testing.assert_close(net(x)["pool5"], tr.model.trunk(x), rtol=1e-4, atol=1e-5)
    assert not any(k.startswith("bns") for k in net.state_dict())


class _Interrupt(Exception):
    pass


def _interrupt_at(step):
    def print_fn(message):
        if message.startswith(f"step {step}/"):
            raise _Interrupt(message)
    return print_fn


@pytest.mark.parametrize("kind", ["identity", "features"])
def test_identity_and_feature_training_resume_exactly(tmp_path, kind):
    # 3 epochs of 2 steps; checkpoint every 2 steps; the first run is killed after step 3 (its checkpoint: step 2)
    data = _mirrored_set(8, 32, 4)
    if kind == "identity":
        cfg, train, weights_of = replace(IdentityConfig.smoke(), epochs=3, batch_size=4), train_identity, "net"
    else:
        cfg, train, weights_of = replace(FeatureNetConfig.smoke(), epochs=3, batch_size=4), train_features, "model"
    straight = train(cfg, data, tmp_path / "a", checkpoint_every=2, log_every=1, print_fn=_quiet)
    with pytest.raises(_Interrupt):
        train(cfg, data, tmp_path / "b", checkpoint_every=2, log_every=1, print_fn=_interrupt_at(3))
    assert latest_checkpoint(tmp_path / "b").name == "ckpt_000000008.pt"  # step 2 × batch 4
    messages = []
    resumed = train(cfg, data, tmp_path / "b", checkpoint_every=2, log_every=1, print_fn=messages.append)
    assert "resumed from ckpt_000000008.pt" in messages[0] and straight.step == resumed.step == 6
    a, b = getattr(straight, weights_of).state_dict(), getattr(resumed, weights_of).state_dict()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    fresh = train(cfg, data, tmp_path / "b", resume=False, checkpoint_every=2, log_every=1, print_fn=_quiet)
    assert all(torch.equal(a[k], v) for k, v in getattr(fresh, weights_of).state_dict().items())


# ------------------------------------------------------------------------------------------- recipe drivers
def _load_params(path, key):
    return torch.load(path, map_location="cpu", weights_only=True)[key]


def test_recipe_drivers_run_end_to_end_with_a_tiny_budget(tmp_path):
    from gfplib.archs import StyleGAN2GeneratorClean
    from gfplib.pretrain import recipes
    from gfplib.pretrain.identity import ToyResNetArcFace

    runs, out = tmp_path / "runs", tmp_path / "out"
    out.mkdir()
    prior = recipes.run_prior(True, runs, out, threads=1)
    ident = recipes.run_identity(True, runs, out, threads=1)
    feats = recipes.run_features(True, runs, out, threads=1)
    # each shipped file: written, hash and size in its sidecar, loads strictly into the architecture it names
    for name in (recipes.PRIOR_FILE, recipes.IDENTITY_FILE, recipes.FEATURES_FILE):
        side = json.loads((out / name).with_suffix(".json").read_text())
        assert side["sha256"] == sha256_file(out / name) and side["size_bytes"] == (out / name).stat().st_size
        assert "smoke" in side["command"] and side["steps"] > 0
    g = StyleGAN2GeneratorClean(**json.loads((out / recipes.PRIOR_FILE).with_suffix(".json").read_text())[
        "arch_kwargs"])
    g.load_state_dict(_load_params(out / recipes.PRIOR_FILE, "params_ema"), strict=True)
    assert all(torch.equal(a, b) for a, b in zip(g.state_dict().values(), prior.G_ema.state_dict().values()))
    assert prior.images_seen == 64 and latest_checkpoint(runs / "prior_smoke").name == "ckpt_000000064.pt"
    net = ToyResNetArcFace(**IdentityConfig.smoke().arch_kwargs())
    net.load_state_dict(_load_params(out / recipes.IDENTITY_FILE, "params"), strict=True)
    assert ident.step == ident.total_steps and "verification" in json.loads(
        (out / recipes.IDENTITY_FILE).with_suffix(".json").read_text())
    vgg = feats.export()
    assert set(_load_params(out / recipes.FEATURES_FILE, "params")) == set(vgg.state_dict())
    # a second call finds the finished run and only rewrites the output (no training step)
    again = recipes.run_prior(True, runs, out, threads=1)
    assert again.step == prior.step and all(
        torch.equal(a, b) for a, b in zip(again.G_ema.state_dict().values(), prior.G_ema.state_dict().values()))


# ------------------------------------------------------------------------------------------- official loaders
def test_official_prior_loader_with_a_stand_in_file(tmp_path, monkeypatch):
    """``load_prior('stylegan2-512-prior')`` reads ``{'params_ema': …}`` into the 512² StyleGAN2 (random stand-in)."""
    from gfplib.archs import StyleGAN2Generator
    from gfplib.pretrain.loaders import PRIOR_ARCHS, load_prior

    cls_name, kwargs = PRIOR_ARCHS["stylegan2-512-prior"]
    assert cls_name == "StyleGAN2Generator" and kwargs == dict(out_size=512, num_style_feat=512, num_mlp=8,
                                                               channel_multiplier=1)  # the official prior
    torch.manual_seed(0)
    src = StyleGAN2Generator(**kwargs)
    ema = {k: torch.randn_like(v) for k, v in src.state_dict().items()}
    entry = weights.get_entry("stylegan2-512-prior")
    torch.save({"params_ema": ema, "params": {k: v + 1 for k, v in ema.items()}}, tmp_path / entry.filename)
    monkeypatch.setenv("GFPLIB_CACHE", str(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a file without a published hash is recorded on first use
        net = load_prior("stylegan2-512-prior")
    assert type(net) is StyleGAN2Generator and not net.training
    assert not any(p.requires_grad for p in net.parameters())
    sd = net.state_dict()
    assert all(torch.equal(sd[k], v) for k, v in ema.items())  # params_ema, not params
    with pytest.raises(KeyError, match="no generator architecture"):
        load_prior("toy-arcface")


def test_official_arcface_loader_with_a_stand_in_file(tmp_path, monkeypatch):
    """``load_identity_net('arcface-resnet18')`` reads a raw state dict with DataParallel's ``module.`` prefix."""
    from gfplib.archs import ResNetArcFace
    from gfplib.pretrain.loaders import load_identity_net

    torch.manual_seed(0)
    src = ResNetArcFace(block="IRBlock", layers=(2, 2, 2, 2), use_se=False)
    raw = {k: (torch.randn_like(v) if v.is_floating_point() else v) for k, v in src.state_dict().items()}
    entry = weights.get_entry("arcface-resnet18")
    torch.save({f"module.{k}": v for k, v in raw.items()}, tmp_path / entry.filename)
    monkeypatch.setenv("GFPLIB_CACHE", str(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = load_identity_net("arcface-resnet18")
    assert type(net) is ResNetArcFace and not net.training and not any(p.requires_grad for p in net.parameters())
    sd = net.state_dict()
    assert set(sd) == set(raw) and all(torch.equal(sd[k], v) for k, v in raw.items())
    assert net(torch.zeros(2, 1, 128, 128)).shape == (2, 512)  # official input: gray 128², 512-d embedding
    with pytest.raises(KeyError, match="unknown identity network"):
        load_identity_net("vgg19")
