"""Training the generative facial prior (生成式人脸先验): StyleGAN2 on toy faces.

GFPGAN's decoder is a StyleGAN2 generator pretrained on faces (the generative facial prior, paper Sec. 3.3). This module trains one from scratch
with the StyleGAN2 recipe (Karras et al., CVPR 2020, https://arxiv.org/abs/1912.04958, Sec. 2–4 and Appendix B):

* non-saturating logistic loss (Goodfellow et al. 2014), with :math:`D` returning logits:

  .. math::  \\mathcal L_D = \\mathbb E_x[\\operatorname{softplus}(-D(x))] + \\mathbb E_z[\\operatorname{softplus}(D(G(z)))],
             \\qquad \\mathcal L_G = \\mathbb E_z[\\operatorname{softplus}(-D(G(z)))]

* lazy R1 regularisation (Mescheder et al. 2018) every ``r1_every`` D steps, scaled by ``r1_every`` so the average
  strength stays :math:`\\gamma`:

  .. math::  \\mathcal L_{R1} = \\tfrac{\\gamma}{2}\\, \\mathbb E_x\\big[\\lVert \\nabla_x D(x) \\rVert^2\\big]

* (optional) lazy path-length regularisation, :math:`\\mathbb E_{w,y}(\\lVert J_w^\\top y \\rVert_2 - a)^2` with
  :math:`y \\sim \\mathcal N(0, I)/\\sqrt{HW}` and :math:`a` a running mean,
* mixing regularisation: with probability ``mixing_prob`` a batch uses two codes ``z1, z2`` switched at a random layer,
* an exponential moving average :math:`G_{ema}` of the generator — the network that is shipped (``params_ema``).

The discriminator has StyleGAN2's equalised layers. The clean generator stores its weights directly; with
``g_equalized_lr=True`` every generator weight gets the equalised learning rate :math:`\\eta/\\sqrt{\\text{fan\\_in}}`
(:func:`gfplib.pretrain.common.equalized_lr_param_groups`), the exact official dynamics; the toy recipe uses one plain
Adam rate instead (faster at the start, see :meth:`PriorConfig.toy`). The mapping network always learns at
``lr_mlp`` × the rate. The lazily regularised optimisers get corrected lr and betas (:math:`c = k/(k+1)`,
:math:`\\eta c`, :math:`\\beta^c`), as in the official code.

Command: ``python -m gfplib.pretrain prior --profile toy`` (resumes from ``runs/prior_toy/``). Taught in
``notebooks/04_stylegan2_prior.ipynb``.
"""
from __future__ import annotations

import copy
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, Optional

import torch
from torch import nn

from gfplib.losses import d_logistic_loss, g_nonsaturating_loss, r1_penalty
from gfplib.pretrain.common import (Stopwatch, ema_beta, ema_update, equalized_lr_param_groups, log_print,
                                    resume_trainer, save_checkpoint, save_image_grid, sidecar_record, write_sidecar)
from gfplib.utils import normalize

__all__ = ["PriorConfig", "PriorTrainer", "d_logistic_loss", "g_nonsaturating_loss", "r1_penalty",
           "path_length_penalty", "build_prior_generator", "build_prior_discriminator", "train_prior"]


@dataclass(frozen=True)
class PriorConfig:
    """StyleGAN2 prior: architecture and training recipe. Defaults: the official 512² FFHQ prior of GFPGAN v1.

    Args:
        out_size: image size.
        num_style_feat: dimension of z and w.
        num_mlp: layers of the mapping network.
        channel_multiplier: width factor for resolutions ≥ 64 (the official prior: 1).
        narrow: global width factor of the generator (channels 512·narrow up to 32²).
        d_narrow: the same for the discriminator.
        batch_size: images per step.
        lr: Adam learning rate of G and D (before the lazy-regularisation correction of D).
        betas: Adam betas.
        lr_mlp: learning-rate multiplier of the mapping network.
        g_equalized_lr: give every generator weight StyleGAN2's equalised learning rate (η/√fan_in for the clean
            parametrisation); ``False``: one plain Adam rate for all of G except the mapping network.
        r1_gamma: R1 weight γ.
        r1_every: lazy R1 interval (D steps).
        pl_weight: path-length weight (0 disables it).
        pl_every: lazy path-length interval (G steps).
        pl_batch_shrink: the path-length batch is ``batch_size // pl_batch_shrink``.
        pl_decay: running-mean decay of the path-length target ``a``.
        mixing_prob: probability of mixing regularisation.
        ema_half_life: G_ema half-life in images (StyleGAN2: 10k).
        ema_rampup: ramp-up of the half-life (``min(h, rampup · images)``; ``None`` disables).
        xflip: random horizontal flips of real images (doubles the data, as for FFHQ).
        total_images: training length in images.
        checkpoint_every / sample_every: intervals in images.
        seed: seed of everything random in the run.
        threads: torch CPU threads.
    """
    out_size: int = 512
    num_style_feat: int = 512
    num_mlp: int = 8
    channel_multiplier: float = 1
    narrow: float = 1.0
    d_narrow: float = 1.0
    batch_size: int = 12
    lr: float = 2e-3
    betas: tuple = (0.0, 0.99)
    lr_mlp: float = 0.01
    g_equalized_lr: bool = True
    r1_gamma: float = 10.0
    r1_every: int = 16
    pl_weight: float = 2.0
    pl_every: int = 4
    pl_batch_shrink: int = 2
    pl_decay: float = 0.01
    mixing_prob: float = 0.9
    ema_half_life: float = 10_000
    ema_rampup: Optional[float] = None
    xflip: bool = True
    total_images: int = 800_000 * 12
    checkpoint_every: int = 50_000
    sample_every: int = 50_000
    seed: int = 0
    threads: int = 2

    @classmethod
    def toy(cls) -> "PriorConfig":
        """The shipped toy prior: 32² toy faces, 64 channels at every resolution, 180k images (≈ 1 h on one CPU core)."""
        return cls(
            out_size=32,
            num_style_feat=128,  # z/w dimension: toy faces vary in far fewer ways than FFHQ
            num_mlp=4,  # a shorter mapping network: half the mapping parameters, same disentangling role
            channel_multiplier=2,  # the clean decoder's default (GFPGAN v1.3); no effect below 64 px
            narrow=0.125,  # 512·0.125 = 64 channels at 4…32 px: compute at 32 px decides the speed
            d_narrow=0.125,
            batch_size=16,  # batch 32 gave no more images/s on 2 cores
            r1_gamma=0.1,  # the value measured to work at 32² (ADA's 0.0002·res²/batch heuristic gives 0.013)
            g_equalized_lr=False,  # plain Adam on G: at equal images seen, clearly better toy faces than StyleGAN2's
            # equalised rates (measured side by side; those start ~24× slower on the 64-channel convs)
            pl_weight=0.0,  # path-length reg. costs a double backward through G; off for the CPU budget
            ema_half_life=5_000,  # StyleGAN2: 10k; halved for a run 50x shorter than the official one
            ema_rampup=0.05,
            total_images=180_000,
            checkpoint_every=2_000,
            sample_every=4_000,
            threads=1,  # on a busy 2-core machine 1 thread ran 4-10x faster than 2 (no OpenMP oversubscription)
        )

    @classmethod
    def smoke(cls) -> "PriorConfig":
        """A seconds-long configuration for tests: 8² images, 16 channels, every regulariser on every step."""
        return cls(out_size=8, num_style_feat=16, num_mlp=2, channel_multiplier=2, narrow=1 / 32, d_narrow=1 / 32,
                   batch_size=4,
                   r1_gamma=1.0, r1_every=1, pl_weight=2.0, pl_every=1, ema_half_life=100, ema_rampup=0.05,
                   total_images=4, checkpoint_every=4, sample_every=10**9)

    def arch_kwargs(self) -> Dict[str, float]:
        """Constructor kwargs of :class:`~gfplib.archs.StyleGAN2GeneratorClean` (official names)."""
        return dict(out_size=self.out_size, num_style_feat=self.num_style_feat, num_mlp=self.num_mlp,
                    channel_multiplier=self.channel_multiplier, narrow=self.narrow)


def build_prior_generator(cfg: PriorConfig) -> nn.Module:
    """An untrained generator of the config's architecture (the clean, op-free StyleGAN2 of GFPGAN v1.2+)."""
    from gfplib.archs.stylegan2_clean import StyleGAN2GeneratorClean

    return StyleGAN2GeneratorClean(**cfg.arch_kwargs())


def build_prior_discriminator(cfg: PriorConfig) -> nn.Module:
    from gfplib.archs.discriminators import StyleGAN2Discriminator

    return StyleGAN2Discriminator(out_size=cfg.out_size, channel_multiplier=cfg.channel_multiplier,
                                  narrow=cfg.d_narrow)


# ----------------------------------------------------------------------------------------------------- the losses
# d_logistic_loss, g_nonsaturating_loss and r1_penalty live in gfplib.losses (imported above, re-exported here).


def path_length_penalty(fake: torch.Tensor, latents: torch.Tensor, mean_path_length: torch.Tensor,
                        decay: float):
    """Path-length regulariser: returns ``(penalty, new_mean, path_lengths)``.

    ``fake`` (B, 3, H, W) must be computed from ``latents`` (B, L, F) with ``latents`` requiring grad.
    """
    noise = torch.randn_like(fake) / math.sqrt(fake.shape[2] * fake.shape[3])  # y ~ N(0, I)/√(HW)
    (grad,) = torch.autograd.grad((fake * noise).sum(), latents, create_graph=True)  # J_wᵀ y   (B, L, F)
    lengths = grad.pow(2).sum(2).mean(1).sqrt()  # ‖J_wᵀ y‖ averaged over the W+ layers   (B,)
    new_mean = mean_path_length + decay * (lengths.detach().mean() - mean_path_length)  # a ← a + λ(mean − a)
    penalty = (lengths - new_mean).pow(2).mean()  # (‖J_wᵀ y‖ − a)²
    return penalty, new_mean, lengths


# ---------------------------------------------------------------------------------------------------- the trainer
class PriorTrainer:
    """One StyleGAN2 training run: G, D, G_ema, their optimisers, and the step logic.

    Args:
        cfg: the recipe.
        real_images: the training set, uint8 ``(N, 3, H, W)`` RGB at ``cfg.out_size`` (kept in memory).
        device: torch device.
    """

    def __init__(self, cfg: PriorConfig, real_images: torch.Tensor, device: torch.device = torch.device("cpu")):
        if real_images.dtype != torch.uint8 or real_images.ndim != 4 or real_images.shape[1] != 3:
            raise ValueError(f"real_images must be uint8 (N, 3, H, W), got {real_images.dtype} "
                             f"{tuple(real_images.shape)}")
        if real_images.shape[-1] != cfg.out_size or real_images.shape[-2] != cfg.out_size:
            raise ValueError(f"real images are {tuple(real_images.shape[-2:])}, the config trains "
                             f"{cfg.out_size}x{cfg.out_size}")
        self.cfg = cfg
        self.device = device
        self.real = real_images
        torch.manual_seed(cfg.seed)
        self.rng = torch.Generator().manual_seed(cfg.seed)  # data order, codes, flips
        self.G = build_prior_generator(cfg).to(device)
        self.D = build_prior_discriminator(cfg).to(device)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        g_ratio = cfg.pl_every / (cfg.pl_every + 1) if cfg.pl_weight > 0 else 1.0
        d_ratio = cfg.r1_every / (cfg.r1_every + 1)  # lazy regularisation: c = k/(k+1)
        if cfg.g_equalized_lr:
            g_groups = equalized_lr_param_groups(self.G, cfg.lr * g_ratio, {"style_mlp.": cfg.lr_mlp})
        else:  # plain Adam on the clean parametrisation (mapping network still at lr · lr_mlp)
            mlp = [p for n, p in self.G.named_parameters() if n.startswith("style_mlp.")]
            rest = [p for n, p in self.G.named_parameters() if not n.startswith("style_mlp.")]
            g_groups = [{"params": rest, "lr": cfg.lr * g_ratio},
                        {"params": mlp, "lr": cfg.lr * g_ratio * cfg.lr_mlp}]
        self.opt_g = torch.optim.Adam(
            g_groups,
            lr=cfg.lr * g_ratio, betas=tuple(b ** g_ratio for b in cfg.betas))
        self.opt_d = torch.optim.Adam(
            equalized_lr_param_groups(self.D, cfg.lr * d_ratio),
            lr=cfg.lr * d_ratio, betas=tuple(b ** d_ratio for b in cfg.betas))
        self.step = 0
        self.images_seen = 0
        self.mean_path_length = torch.zeros((), device=device)
        self.log: Dict[str, float] = {}
        self.sample_z = torch.randn(32, cfg.num_style_feat, generator=torch.Generator().manual_seed(12345))

    # ---------------------------------------------------------------------------------------------- data & codes
    def real_batch(self, n: int) -> torch.Tensor:
        idx = torch.randint(0, self.real.shape[0], (n,), generator=self.rng)
        x = normalize(self.real[idx])  # uint8 → [-1, 1]   (B, 3, H, W)
        if self.cfg.xflip:
            flip = torch.rand(n, generator=self.rng) < 0.5
            x[flip] = x[flip].flip(-1)
        return x.to(self.device)

    def codes(self, n: int):
        """One code, or two (mixing regularisation) with probability ``mixing_prob``."""
        k = 2 if float(torch.rand((), generator=self.rng)) < self.cfg.mixing_prob else 1
        return [torch.randn(n, self.cfg.num_style_feat, generator=self.rng).to(self.device) for _ in range(k)]

    def generate(self, n: int, return_latents: bool = False):
        styles = self.codes(n)
        inject = int(torch.randint(1, self.G.num_latent, (1,), generator=self.rng)) if len(styles) == 2 else None
        return self.G(styles, inject_index=inject, return_latents=return_latents)

    # ------------------------------------------------------------------------------------------------- one step
    def train_step(self) -> Dict[str, float]:
        cfg, b = self.cfg, self.cfg.batch_size
        self.G.train()
        self.D.train()
        # D: logistic loss on real vs (detached) fake
        self.D.requires_grad_(True)
        self.G.requires_grad_(False)
        real = self.real_batch(b)
        with torch.no_grad():
            fake = self.generate(b).image
        real_logits, fake_logits = self.D(real), self.D(fake)
        loss_d = d_logistic_loss(real_logits, fake_logits)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        log = {"loss_d": loss_d.item(), "real_score": real_logits.mean().item(),
               "fake_score": fake_logits.mean().item()}
        # lazy R1 on real images
        if cfg.r1_gamma > 0 and self.step % cfg.r1_every == 0:
            real = real.detach().requires_grad_(True)
            real_logits = self.D(real)
            r1 = r1_penalty(real_logits, real)
            self.opt_d.zero_grad(set_to_none=True)
            # γ/2 · ‖∇D‖² · k   (+ 0·D(x) keeps every D output in the graph, as the official code does)
            (cfg.r1_gamma / 2 * r1 * cfg.r1_every + 0 * real_logits[0, 0]).backward()
            self.opt_d.step()
            log["r1"] = r1.item()
        # G: non-saturating loss
        self.D.requires_grad_(False)
        self.G.requires_grad_(True)
        fake = self.generate(b).image
        loss_g = g_nonsaturating_loss(self.D(fake))
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        log["loss_g"] = loss_g.item()
        # lazy path-length regularisation
        if cfg.pl_weight > 0 and self.step % cfg.pl_every == 0:
            n = max(1, b // cfg.pl_batch_shrink)
            styles = self.codes(n)
            inject = int(torch.randint(1, self.G.num_latent, (1,), generator=self.rng)) if len(styles) == 2 else None
            latents = self.G.styles_to_latent(styles, inject_index=inject)  # W+ codes, in the graph   (n, L, F)
            fake = self.G.synthesis(latents, self.G.noise_list(None, randomize_noise=True))
            pl, self.mean_path_length, lengths = path_length_penalty(fake, latents, self.mean_path_length,
                                                                     cfg.pl_decay)
            self.opt_g.zero_grad(set_to_none=True)
            (cfg.pl_weight * cfg.pl_every * pl + 0 * fake[0, 0, 0, 0]).backward()
            self.opt_g.step()
            log["path_length"] = lengths.mean().item()
        # EMA of G
        self.images_seen += b
        self.step += 1
        ema_update(self.G_ema, self.G, ema_beta(b, self.images_seen, cfg.ema_half_life, cfg.ema_rampup))
        self.log = log
        return log

    # ------------------------------------------------------------------------------------------------ state I/O
    def state_dict(self, wall_time: float) -> dict:
        return {"cfg": asdict(self.cfg), "G": self.G.state_dict(), "D": self.D.state_dict(),
                "G_ema": self.G_ema.state_dict(), "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                "step": self.step, "images_seen": self.images_seen, "mean_path_length": self.mean_path_length,
                "rng": self.rng.get_state(), "torch_rng": torch.get_rng_state(), "wall_time": wall_time}

    def load_state_dict(self, state: dict) -> float:
        """Restore a checkpoint; returns the wall time of the runs so far. Refuses a checkpoint of another recipe."""
        saved = dict(state["cfg"])
        now = asdict(self.cfg)
        arch = ("out_size", "num_style_feat", "num_mlp", "channel_multiplier", "narrow", "d_narrow", "batch_size",
                "seed", "g_equalized_lr")
        diff = {k: (saved.get(k), now[k]) for k in arch if saved.get(k) != now[k]}
        if diff:
            raise ValueError(f"checkpoint was made with a different recipe {diff}; use another run folder")
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.G_ema.load_state_dict(state["G_ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.step, self.images_seen = int(state["step"]), int(state["images_seen"])
        self.mean_path_length = state["mean_path_length"].to(self.device)
        self.rng.set_state(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        return float(state["wall_time"])

    @torch.no_grad()
    def samples(self) -> torch.Tensor:
        self.G_ema.eval()
        return self.G_ema([self.sample_z.to(self.device)], randomize_noise=False).image


def train_prior(cfg: PriorConfig, real_images: torch.Tensor, run_dir: "os.PathLike[str]",
                out_path: Optional["os.PathLike[str]"] = None, resume: bool = True, log_every: int = 50,
                extra_record: Optional[dict] = None, print_fn=None) -> PriorTrainer:
    """Train (or continue training) a prior; checkpoints and sample grids go to ``run_dir``.

    Args:
        cfg: recipe (:meth:`PriorConfig.toy` for the shipped file).
        real_images: uint8 ``(N, 3, H, W)`` training faces.
        run_dir: folder for checkpoints (``ckpt_<images>.pt``), sample grids and the log.
        out_path: where to write the final ``{'params_ema': …}`` file (and ``<stem>.json`` beside it); ``None``:
            nowhere (tests).
        resume: continue from the newest checkpoint in ``run_dir`` if there is one.
        extra_record: more fields for the sidecar (e.g. the data set's recipe).
    """
    torch.set_num_threads(cfg.threads)
    run_dir = Path(run_dir)
    print_fn = print_fn or log_print
    trainer = PriorTrainer(cfg, real_images)
    previous = resume_trainer(trainer, run_dir, resume, print_fn)
    clock = Stopwatch(previous)
    next_ckpt = (trainer.images_seen // cfg.checkpoint_every + 1) * cfg.checkpoint_every
    next_sample = (trainer.images_seen // cfg.sample_every + 1) * cfg.sample_every
    while trainer.images_seen < cfg.total_images:
        log = trainer.train_step()
        if trainer.step % log_every == 0:
            rate = trainer.images_seen / max(clock.elapsed, 1e-9)
            print_fn(f"step {trainer.step:6d}  images {trainer.images_seen:7d}  "
                     + "  ".join(f"{k} {v:.3f}" for k, v in log.items())
                     + f"  [{clock.elapsed / 60:.1f} min, {rate:.1f} img/s]")
        if trainer.images_seen >= next_sample:
            save_image_grid(trainer.samples(), run_dir / f"samples_{trainer.images_seen:07d}.png")
            next_sample += cfg.sample_every
        if trainer.images_seen >= next_ckpt or trainer.images_seen >= cfg.total_images:
            save_checkpoint(trainer.state_dict(clock.elapsed), run_dir, trainer.images_seen)
            next_ckpt += cfg.checkpoint_every
    if out_path is not None:
        out_path = Path(out_path)
        save_image_grid(trainer.samples(), run_dir / "samples_final.png")
        torch.save({"params_ema": trainer.G_ema.state_dict()}, out_path)
        record = sidecar_record(out_path, cfg, trainer.step, trainer.images_seen, clock.elapsed,
                                "python -m gfplib.pretrain prior --profile toy")
        record.update(arch="StyleGAN2GeneratorClean", arch_kwargs=cfg.arch_kwargs(),
                      final_losses={k: round(v, 4) for k, v in trainer.log.items()})
        record.update(extra_record or {})
        write_sidecar(out_path.with_suffix(".json"), record)
        print_fn(f"wrote {out_path} ({out_path.stat().st_size / 1e6:.2f} MB, sha256 {record['sha256'][:16]}…)")
    return trainer
