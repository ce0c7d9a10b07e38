"""gfplib.train: exact resume, atomic checkpoints, DDP on CPU, the update directions of every network, EMA, R1.

The networks here are tiny (16² faces, 16-channel G, random decoder) so that a training iteration takes a fraction
of a second; the 512² paper recipe runs in the slow test at the end.
"""
from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from gfplib.losses import LossConfig
from gfplib.pretrain.common import CheckpointError, latest_checkpoint, read_checkpoint, save_checkpoint
from gfplib.train import (ABLATIONS, GFPGANTrainer, TrainConfig, build_datasets, build_parser, config_from_args,
                          main, train, training_batches)

REPO = Path(__file__).resolve().parent.parent


def tiny(tmp_path: Path, **changes) -> TrainConfig:
    """16² toy faces, a 16-channel generator with a random frozen decoder, every loss term on, batch 2, the
    official optimiser settings."""
    loss = replace(LossConfig.toy(), eye_size=8, mouth_size=8, r1_interval=2, pyramid_until=3)
    cfg = replace(TrainConfig.toy(), out_size=16, num_style_feat=16, num_mlp=1, narrow=1 / 32, prior="none",
                  d_narrow=1 / 32, batch_size=2, loss=loss, milestones=(3,), lr_g=2e-3, betas_g=(0.0, 0.99),
                  epoch_length=6, total_iters=4, run_dir=str(tmp_path / "run"), val_size=4, val_every=10**6,
                  sample_every=10**6, ckpt_every=2, log_every=1, progress=False, tensorboard=False, num_workers=0,
                  threads=1, gan_start=0)
    return replace(cfg, **changes)


def quiet(*_):
    pass


@pytest.fixture(scope="module")
def batch():
    cfg = tiny(Path("/nonexistent"))
    return next(training_batches(build_datasets(cfg)[0], 2, 0))


def state_tensors(ckpt: dict):
    """Every tensor of a checkpoint's state, flattened to ``name → tensor``."""
    out = {}

    def walk(prefix, obj):
        if isinstance(obj, torch.Tensor):
            out[prefix] = obj
        elif isinstance(obj, dict):
            for k, v in obj.items():
                walk(f"{prefix}/{k}", v)
        elif isinstance(obj, (list, tuple)):
            for i, v in enumerate(obj):
                walk(f"{prefix}/{i}", v)

    walk("", {"state": ckpt["state"], "rng": ckpt["rng"]})
    return out


# ------------------------------------------------------------------------------------------------ config / CLI
def test_cli_overrides_every_kind_of_field_and_applies_ablations():
    args = build_parser().parse_args(["--profile", "toy", "--batch-size", "8", "--betas-g", "0.5,0.9",
                                      "--fix-decoder", "false", "--loss.gan", "0.5", "--ablation", "no_sft",
                                      "--ablation", "simple", "--total-iters", "1e3"])
    cfg = config_from_args(args)
    assert (cfg.batch_size, cfg.betas_g, cfg.fix_decoder, cfg.total_iters) == (8, (0.5, 0.9), False, 1000)
    assert cfg.milestones == (750, 875) and cfg.loss.pyramid_until == 62  # the toy schedule scales with the run
    assert cfg.loss.gan == 0.5 and cfg.sft == "none"
    assert cfg.loss.comp_gan == cfg.loss.comp_style == cfg.loss.identity == 0  # simple variant
    assert not cfg.use_components and not cfg.use_identity
    assert main(["--profile", "paper", "--print-config"]) == 0
    with pytest.raises(ValueError, match="sft must be one of"):
        replace(cfg, sft="quarter")


def test_paper_profile_is_the_official_recipe():
    cfg = TrainConfig.profile("paper")
    assert (cfg.arch, cfg.out_size, cfg.channel_multiplier, cfg.prior, cfg.fix_decoder) == (
        "original", 512, 1, "stylegan2-512-prior", True)
    assert cfg.batch_size == 3 and cfg.total_iters == 800_000 and cfg.milestones == (600_000, 700_000)
    assert (cfg.lr_g, cfg.betas_g, cfg.lr_d, cfg.betas_d, cfg.lr_comp, cfg.betas_comp) == (
        2e-3, (0.0, 0.99), 2e-3, (0.0, 0.99), 2e-3, (0.9, 0.99))
    assert cfg.ema_decay == pytest.approx(0.997784, abs=1e-6)
    assert cfg.loss == LossConfig()
    assert set(ABLATIONS) == {"simple", "sft_all", "no_sft", "no_prior", "no_pyramid", "no_components",
                              "no_identity"}


def test_optimisers_follow_the_official_settings(tmp_path):
    tr = GFPGANTrainer(tiny(tmp_path, loss=replace(tiny(tmp_path).loss, r1_interval=16)))
    d = tr.opt_d.param_groups[0]
    assert d["lr"] == 2e-3 and d["betas"] == (0.0, pytest.approx(0.99 ** (16 / 17)))  # only β corrected (lazy R1)
    assert tr.opt_g.param_groups[0]["betas"] == (0.0, 0.99)
    assert all(o.param_groups[0]["betas"] == (0.9, 0.99) for o in tr.opt_comp.values())
    trainable = {id(p) for p in tr.net_g.parameters() if p.requires_grad}
    assert trainable == {id(p) for g in tr.opt_g.param_groups for p in g["params"]}
    assert not any(p.requires_grad for p in tr.net_g.stylegan_decoder.parameters())  # fix_decoder
    assert not any(p.requires_grad for p in tr.net_g_ema.parameters())


def test_ablation_switches_change_what_is_trained(tmp_path):
    base = tiny(tmp_path)
    no_sft = GFPGANTrainer(ABLATIONS["no_sft"](base))
    assert not any(p.requires_grad for p in no_sft.net_g.condition_scale.parameters())
    assert not no_sft.g_pass.use_sft
    no_pyr = GFPGANTrainer(ABLATIONS["no_pyramid"](base))
    assert not any(p.requires_grad for p in no_pyr.net_g.toRGB.parameters()) and not no_pyr.g_pass.return_rgb
    no_prior = GFPGANTrainer(ABLATIONS["no_prior"](replace(base, prior="toy-prior-32")))
    assert all(p.requires_grad for p in no_prior.net_g.stylegan_decoder.parameters())
    simple = GFPGANTrainer(ABLATIONS["simple"](base))
    assert len(simple.comp_ds) == 0 and simple.identity_net is None and simple.vgg is not None
    sft_all = GFPGANTrainer(ABLATIONS["sft_all"](base))
    assert sft_all.net_g.sft_half is False


def test_toy_profile_loads_the_shipped_prior_into_the_decoder():
    from gfplib.pretrain import load_prior

    cfg = TrainConfig.toy()
    from gfplib.train import build_generator

    g = build_generator(cfg)
    prior = load_prior(cfg.prior).state_dict()
    for k, v in g.stylegan_decoder.state_dict().items():
        torch.testing.assert_close(v, prior[k], rtol=0, atol=0)


def test_loader_workers_give_the_same_batches_across_epochs(tmp_path):
    """A worker process per epoch (forkserver) must give exactly the in-process batches, past the epoch boundary
    (the second epoch's loader once deadlocked when its worker was forked from the busy trainer)."""
    ds = build_datasets(tiny(tmp_path, epoch_length=4))[0]
    plain, worker = training_batches(ds, 2, 1), training_batches(ds, 2, 1, num_workers=1)
    for _ in range(4):  # iterations 1-4: the rest of epoch 0, all of epoch 1, the start of epoch 2
        a, b = next(plain), next(worker)
        assert torch.equal(a["lq"], b["lq"]) and torch.equal(a["gt"], b["gt"])


def test_toy_degradation_keeps_the_official_ranges_but_caps_the_downsampling_at_4():
    import numpy as np

    from gfplib.degradation import DegradationConfig, sample_params
    from gfplib.train import DEGRADATIONS

    toy, official = DEGRADATIONS["toy"](32), DegradationConfig.for_size(32)
    assert replace(toy, downsample_range=official.downsample_range) == official
    rng = np.random.default_rng(0)
    scales = [sample_params(rng, toy).scale for _ in range(300)]
    assert 0.8 <= min(scales) < 1.0 and 3.8 < max(scales) <= 4.0
    assert TrainConfig.toy().degradation == "toy" and TrainConfig.paper().degradation == "official"


def test_before_gan_start_no_discriminator_trains_and_g_has_no_adversarial_term(tmp_path, batch):
    tr = GFPGANTrainer(tiny(tmp_path, gan_start=2))
    nets = {"d": tr.net_d, **tr.comp_ds}
    before = {n: [p.detach().clone() for p in d.parameters()] for n, d in nets.items()}
    logs = [tr.train_step(batch) for _ in range(2)]
    for name, d in nets.items():
        assert all(torch.equal(a, b) for a, b in zip(before[name], d.parameters())), name
    for log in logs:
        assert {"l_pix", "l_percep", "l_id"} <= set(log) and not {k for k in log if "gan" in k or "d" in k.split("_")}
    log = tr.train_step(batch)  # iteration 3 > gan_start: everything joins
    assert {"l_gan", "l_comp_gan", "l_comp_style", "l_d"} <= set(log)
    assert not all(torch.equal(a, b) for a, b in zip(before["d"], tr.net_d.parameters()))
    with pytest.raises(ValueError, match="gan_start"):
        tiny(tmp_path, gan_start=-1)


def test_the_shipped_toy_architecture_is_the_toy_profile_generator():
    from gfplib.archs.gfpgan_clean import GFPGANv1CleanConfig
    from gfplib.train import build_generator

    trained = build_generator(TrainConfig.toy()).state_dict()
    shipped = GFPGANv1CleanConfig.toy().build().state_dict()
    assert {k: v.shape for k, v in trained.items()} == {k: v.shape for k, v in shipped.items()}


# ------------------------------------------------------------------------------------- one step, each network
def test_d_step_widens_the_real_fake_margin(tmp_path, batch):
    """Independent of the loss code: after one D update, D separates real from restored faces better (the mean
    logit of the real faces minus that of the restored ones grows)."""
    tr = GFPGANTrainer(tiny(tmp_path, loss=replace(tiny(tmp_path).loss, r1=0.0), lr_d=1e-4))
    lq, gt, boxes = tr._batch(batch)
    fake = tr.restore(lq)
    with torch.no_grad():
        real0, fake0 = tr.net_d(gt).mean(), tr.net_d(fake).mean()
    tr.d_step(fake, gt, boxes, iteration=1)
    with torch.no_grad():
        real1, fake1 = tr.net_d(gt).mean(), tr.net_d(fake).mean()
    assert real1 - fake1 > real0 - fake0 + 1e-4


def test_component_d_step_widens_the_real_fake_margin_of_every_crop(tmp_path, batch):
    from gfplib.losses import component_crops

    tr = GFPGANTrainer(tiny(tmp_path, lr_comp=1e-4))
    lq, gt, boxes = tr._batch(batch)
    fake = tr.restore(lq)
    sizes = tr.cfg.loss.component_sizes()

    def scores():
        with torch.no_grad():
            r, f = component_crops(gt, boxes, sizes), component_crops(fake, boxes, sizes)
            return {n: (d(r[n]).out.mean(), d(f[n]).out.mean()) for n, d in tr.comp_ds.items()}

    before = scores()
    tr.d_step(fake, gt, boxes, iteration=1)
    after = scores()
    for n in before:
        assert after[n][0] - after[n][1] > before[n][0] - before[n][1] + 1e-4, n


def test_g_step_with_the_gan_term_alone_fools_the_frozen_d(tmp_path, batch):
    only_gan = LossConfig(pixel=0, pyramid=0, perceptual=0, style=0, gan=1.0, comp_gan=0, comp_style=0, identity=0)
    tr = GFPGANTrainer(tiny(tmp_path, loss=only_gan, lr_g=1e-3))
    lq, gt, boxes = tr._batch(batch)
    d_before = {k: v.clone() for k, v in tr.net_d.state_dict().items()}
    with torch.no_grad():
        s0 = tr.net_d(tr.g_pass(lq).image).mean()
    _, log = tr.g_step(lq, gt, boxes, iteration=1)
    with torch.no_grad():
        s1 = tr.net_d(tr.g_pass(lq).image).mean()
    assert set(log) == {"l_gan", "l_g_total"}
    assert s1 > s0  # G moved its output towards what D calls real
    for k, v in tr.net_d.state_dict().items():  # … without touching D
        assert torch.equal(v, d_before[k])


def test_g_step_with_the_component_gan_term_alone_fools_the_frozen_component_ds(tmp_path, batch):
    from gfplib.losses import component_crops

    only = LossConfig(pixel=0, pyramid=0, perceptual=0, style=0, gan=0, comp_gan=1.0, comp_style=0, identity=0,
                      eye_size=8, mouth_size=8)
    tr = GFPGANTrainer(tiny(tmp_path, loss=only, lr_g=1e-3))
    lq, gt, boxes = tr._batch(batch)

    def fake_scores():
        with torch.no_grad():
            crops = component_crops(tr.g_pass(lq).image, boxes, only.component_sizes())
            return torch.stack([d(crops[n]).out.mean() for n, d in tr.comp_ds.items()])

    s0 = fake_scores()
    _, log = tr.g_step(lq, gt, boxes, iteration=1)
    assert set(log) == {"l_comp_gan", "l_g_total"}
    assert fake_scores().sum() > s0.sum()


def test_one_g_step_lowers_the_generator_loss_on_the_same_batch(tmp_path, batch):
    from gfplib.losses import generator_loss

    tr = GFPGANTrainer(tiny(tmp_path, lr_g=2e-4))
    lq, gt, boxes = tr._batch(batch)

    def g_loss():
        with torch.no_grad():
            image, rgbs = tr.g_pass(lq)
            return generator_loss(tr.cfg.loss, image=image, out_rgbs=rgbs, gt=gt, boxes=boxes, iteration=1,
                                  vgg=tr.vgg, net_d=tr.net_d, comp_ds=dict(tr.comp_ds.items()),
                                  identity_net=tr.identity_net)

    before = g_loss()
    _, log = tr.g_step(lq, gt, boxes, iteration=1)
    after = g_loss()
    assert set(log) == {"l_pix", "l_pyramid", "l_percep", "l_style", "l_gan", "l_comp_gan", "l_comp_style", "l_id",
                        "l_g_total"}
    assert float(log["l_g_total"]) == pytest.approx(float(before["total"]), rel=1e-5)  # the step saw this loss
    assert after["total"] < before["total"]


@pytest.mark.filterwarnings("ignore:Detected call of:UserWarning")  # GradScaler skips overflowing steps
def test_mixed_precision_g_step_runs_and_keeps_float32_weights(tmp_path, batch):
    """The colab profile's fp16 autocast + GradScaler path (CUDA there; the same code runs on CPU here)."""
    amp = "fp16"
    tr = GFPGANTrainer(tiny(tmp_path, amp=amp))
    log = tr.train_step(batch)
    assert all(math.isfinite(v) for v in log.values())
    assert all(p.dtype == torch.float32 for p in tr.net_g.parameters())
    assert tr.scaler.is_enabled() == (amp == "fp16")


def test_ema_matches_the_closed_form(tmp_path):
    """After k updates towards a constant θ: θ_ema = θ − β^k (θ − θ_ema,0), with β = 0.5^(32/10000)."""
    tr = GFPGANTrainer(tiny(tmp_path))
    beta = 0.5 ** (32 / 10_000)
    with torch.no_grad():
        for p, q in zip(tr.net_g.parameters(), tr.net_g_ema.parameters()):
            p.fill_(3.0)
            q.fill_(-1.0)
    for _ in range(10):
        tr.update_ema()
    want = 3.0 - beta ** 10 * (3.0 - (-1.0))
    for q in tr.net_g_ema.parameters():
        torch.testing.assert_close(q, torch.full_like(q, want), rtol=0, atol=1e-6)
    # and one more update towards θ = 0 is a single decay: θ_ema ← β θ_ema
    with torch.no_grad():
        for p in tr.net_g.parameters():
            p.zero_()
    tr.update_ema()
    for q in tr.net_g_ema.parameters():
        torch.testing.assert_close(q, torch.full_like(q, beta * want), rtol=0, atol=1e-6)


def test_lazy_r1_is_gamma_half_times_interval_and_enters_the_d_update(tmp_path, batch):
    loss = replace(tiny(tmp_path).loss, r1=10.0, r1_interval=4)
    trainers = [GFPGANTrainer(tiny(tmp_path, loss=loss)) for _ in range(2)]
    lq, gt, boxes = trainers[0]._batch(batch)
    fake = trainers[0].restore(lq)
    # closed form on the D before the step: γ/2 · k · E_b ‖∇_y D(y)‖²
    real = gt.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(trainers[0].net_d(real).sum(), real)
    want = 10.0 / 2 * 4 * grad.pow(2).sum((1, 2, 3)).mean()
    log_r1 = trainers[0].d_step(fake, gt, boxes, iteration=4)
    log_plain = trainers[1].d_step(fake, gt, boxes, iteration=3)
    assert "l_r1" in log_r1 and "l_r1" not in log_plain
    assert float(log_r1["l_r1"]) == pytest.approx(float(want), rel=1e-4)
    moved = [(a - b).abs().max() for a, b in zip(trainers[0].net_d.parameters(), trainers[1].net_d.parameters())]
    assert max(moved) > 1e-4  # the penalty changed the D update


# --------------------------------------------------------------------------------------------- checkpoints
def test_stop_and_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path):
    """4 iterations in one go vs 2 + 2 in two runs: every tensor of the final state is bitwise equal (CPU).

    The decoder trains (noise strengths move, so G's random noise matters), R1 falls on iterations 2 and 4, the
    pyramid weight switches off after iteration 3 and the learning rate halves at 3: all must continue exactly.
    """
    cfg = tiny(tmp_path, fix_decoder=False)
    straight = train(replace(cfg, run_dir=str(tmp_path / "a")), print_fn=quiet)
    part = train(replace(cfg, run_dir=str(tmp_path / "b"), total_iters=2), print_fn=quiet)
    assert part.iteration == 2
    torch.manual_seed(1234)  # a different global RNG state: the resumed run must not depend on it
    resumed = train(replace(cfg, run_dir=str(tmp_path / "b"), log_every=2), print_fn=quiet)  # run-time change
    assert resumed.iteration == straight.iteration == 4
    a = state_tensors(read_checkpoint(latest_checkpoint(tmp_path / "a")))
    b = state_tensors(read_checkpoint(latest_checkpoint(tmp_path / "b")))
    assert a.keys() == b.keys() and len(a) > 100
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert any("net_g_ema" in k for k in a) and any("opt_d_mouth" in k for k in a)
    # the CSV log of the resumed run continues the first one: one row per iteration 1, 2, then 4
    rows = (tmp_path / "b" / "log.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows] == ["iteration", "1", "2", "4"]


def test_a_different_recipe_or_a_corrupt_file_is_refused_with_its_name(tmp_path):
    cfg = tiny(tmp_path, total_iters=1, ckpt_every=1)
    train(cfg, print_fn=quiet)
    ckpt = latest_checkpoint(cfg.run_dir)
    good = read_checkpoint(ckpt)
    with pytest.raises(CheckpointError, match=r"another recipe.*batch_size"):
        GFPGANTrainer(replace(cfg, batch_size=4)).load_state_dict(good, str(ckpt))
    GFPGANTrainer(replace(cfg, total_iters=7, log_every=3, threads=2)).load_state_dict(good)  # run-time: fine
    broken = dict(good, state={k: v for k, v in good["state"].items() if k != "opt_d"})
    with pytest.raises(CheckpointError, match="lacks 'opt_d'"):
        GFPGANTrainer(cfg).load_state_dict(broken, str(ckpt))
    with pytest.raises(CheckpointError, match="not a gfplib.train checkpoint"):
        GFPGANTrainer(cfg).load_state_dict({"format": "something else"}, str(ckpt))
    data = ckpt.read_bytes()
    for bad in (data[: len(data) // 2], b"not a checkpoint at all", b""):
        ckpt.write_bytes(bad)
        with pytest.raises(CheckpointError, match=ckpt.name):
            read_checkpoint(ckpt)
    with pytest.raises(CheckpointError, match=ckpt.name):  # what a user sees: one error naming the file
        train(replace(cfg, total_iters=2), print_fn=quiet)


_WRITER = """
import sys, torch
from gfplib.pretrain.common import save_checkpoint
state = {"payload": torch.arange(6_000_000, dtype=torch.float32)}
for i in range(1, 10**6):
    state["i"] = i
    save_checkpoint(state, sys.argv[1], i, keep=2)
"""


def test_killing_a_writer_mid_write_never_leaves_a_broken_latest_checkpoint(tmp_path):
    run = tmp_path / "run"
    for _ in range(1):
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(run)], cwd=REPO)
        try:
            deadline = time.time() + 120
            while time.time() < deadline:  # kill while a .tmp exists, i.e. during a write after the first file
                if latest_checkpoint(run) is not None and any(p.suffix == ".tmp" for p in run.glob("*.tmp")):
                    break
                time.sleep(0.002)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait()
        leftovers = list(run.glob("*.tmp"))
        assert leftovers, "the writer was not killed mid-write"
        latest = latest_checkpoint(run)
        state = read_checkpoint(latest)
        assert state["i"] == int(latest.stem.split("_")[1])
        assert torch.equal(state["payload"], torch.arange(6_000_000, dtype=torch.float32))
    # a later save still works and ignores the stray temp file
    save_checkpoint({"i": 10**7}, run, 10**7)
    assert read_checkpoint(latest_checkpoint(run))["i"] == 10**7


# ---------------------------------------------------------------------------------------------------------- DDP
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, cfg: TrainConfig, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    tr = train(cfg, print_fn=quiet)
    nets = {"g": tr.net_g.state_dict(), "g_ema": tr.net_g_ema.state_dict(), "d": tr.net_d.state_dict(),
            "mouth": tr.comp_ds["mouth"].state_dict()}
    torch.save(nets, Path(out) / f"rank{rank}.pt")
    torch.distributed.destroy_process_group()


@pytest.mark.slow  # two fresh interpreters importing torch: ~20 s on an idle 2-core CPU
def test_ddp_on_cpu_two_ranks_agree_and_equal_one_process_with_the_doubled_batch(tmp_path):
    """Two gloo processes on 127.0.0.1, batch 2 each, vs one process with batch 4, 3 iterations, all losses on.

    Equal up to float rounding because every loss is a per-sample mean and DDP averages gradients, *given two
    choices*: (1) ``d_stddev_group=1`` — with the official group of 4 the minibatch-stddev feature of D mixes
    samples, and a group is drawn from one process's 2 faces under DDP but from all 4 faces in the doubled batch,
    so D (and through it G) differ; (2) a frozen, randomly initialised decoder, whose noise strengths are 0 — each
    process draws G's noise from its own generator, so with a trained prior the noise differs from the single run.
    """
    cfg = tiny(tmp_path, total_iters=3, d_stddev_group=1, epoch_length=8, ckpt_every=10)
    out = tmp_path / "out"
    out.mkdir()
    torch.multiprocessing.spawn(_ddp_worker, args=(2, _free_port(), replace(cfg, run_dir=str(tmp_path / "ddp")),
                                                  str(out)), nprocs=2, join=True)
    r0, r1 = torch.load(out / "rank0.pt", weights_only=True), torch.load(out / "rank1.pt", weights_only=True)
    single = train(replace(cfg, batch_size=4, run_dir=str(tmp_path / "single")), print_fn=quiet)
    ref = {"g": single.net_g.state_dict(), "g_ema": single.net_g_ema.state_dict(), "d": single.net_d.state_dict(),
           "mouth": single.comp_ds["mouth"].state_dict()}
    moved = False
    init = GFPGANTrainer(cfg)
    for net in r0:
        for k in r0[net]:
            assert torch.equal(r0[net][k], r1[net][k]), (net, k)  # ranks are identical bit for bit
            torch.testing.assert_close(r0[net][k], ref[net][k], rtol=1e-4, atol=1e-5, msg=f"{net} {k}")
        moved |= not torch.equal(r0["g"]["final_linear.weight"], init.net_g.state_dict()["final_linear.weight"])
    assert moved


# -------------------------------------------------------------------------------------------- the paper recipe
@pytest.mark.slow
def test_two_iterations_of_the_paper_recipe_at_512_then_resume(tmp_path):
    """GFPGANv1 at 512² with D, three component Ds, ArcFace and VGG19 — all randomly initialised and saved in the
    official file formats (nothing downloaded) — on a folder of 512² faces with an official-format box file."""
    import cv2
    import numpy as np

    from gfplib.archs import ResNetArcFace, StyleGAN2Generator
    from gfplib.data import ToyFaceConfig, ToyFaceGenerator
    from gfplib.perceptual import VGG19_LAYER_NAMES

    torch.manual_seed(0)
    files = tmp_path / "files"
    files.mkdir()
    torch.save({"params_ema": StyleGAN2Generator(512, 512, 8, channel_multiplier=1).state_dict()},
               files / "prior.pth")
    torch.save(ResNetArcFace("IRBlock", (2, 2, 2, 2), use_se=False).state_dict(), files / "arcface.pth")
    vgg, i, c_in = {}, 0, 3  # torchvision vgg19 "features.<index>" keys, convs only
    for name in VGG19_LAYER_NAMES:
        if name.startswith("conv"):
            c_out = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}[int(name[4])]
            vgg[f"features.{i}.weight"] = torch.randn(c_out, c_in, 3, 3) * math.sqrt(2 / (9 * c_in))
            vgg[f"features.{i}.bias"] = torch.zeros(c_out)
            c_in = c_out
        i += 1
    torch.save(vgg, files / "vgg19.pth")
    faces = tmp_path / "faces"
    faces.mkdir()
    gen = ToyFaceGenerator(ToyFaceConfig(size=512))
    boxes = {}
    for k in range(2):
        face = gen.render(k, np.random.default_rng(k))
        cv2.imwrite(str(faces / f"{k:05d}.png"), face.image[..., ::-1])
        boxes[f"{k:08d}"] = {p: [float((b[0] + b[2]) / 2), float((b[1] + b[3]) / 2), float((b[2] - b[0]) / 2)]
                             for p, b in face.boxes.items()}
    torch.save(boxes, files / "boxes.pth")
    cfg = replace(TrainConfig.paper(), prior=str(files / "prior.pth"), identity_net=str(files / "arcface.pth"),
                  perceptual_net=str(files / "vgg19.pth"), data=str(faces), components=str(files / "boxes.pth"),
                  batch_size=2, total_iters=2, run_dir=str(tmp_path / "run"), device="cpu", num_workers=0,
                  progress=False, tensorboard=False, log_every=1, ckpt_every=1, threads=2)
    tr0 = GFPGANTrainer(replace(cfg, total_iters=0))
    before = {n: {k: p.detach().clone() for k, p in net.named_parameters() if p.requires_grad}
              for n, net in (("g", tr0.net_g), ("d", tr0.net_d), *tr0.comp_ds.items())}
    del tr0
    tr = train(replace(cfg, loss=replace(cfg.loss, r1_interval=2)), print_fn=quiet)
    rows = (Path(cfg.run_dir) / "log.csv").read_text().splitlines()
    header, last = rows[0].split(","), rows[-1].split(",")
    for key in ("l_pix", "l_pyramid", "l_percep", "l_style", "l_gan", "l_comp_gan", "l_comp_style", "l_id", "l_d",
                "l_r1", "l_d_left_eye", "l_d_right_eye", "l_d_mouth"):
        assert key in header, key
        assert math.isfinite(float(last[header.index(key)])), key
    for n, net in (("g", tr.net_g), ("d", tr.net_d), *tr.comp_ds.items()):
        for k, p in net.named_parameters():
            if p.requires_grad:
                assert not torch.equal(p.detach(), before[n][k]), f"{n}.{k} did not move"
    assert not any(p.requires_grad for p in tr.net_g.stylegan_decoder.parameters())
    resumed = train(replace(cfg, loss=replace(cfg.loss, r1_interval=2), total_iters=3), print_fn=quiet)
    assert resumed.iteration == 3
