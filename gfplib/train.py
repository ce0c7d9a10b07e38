r"""Training GFPGAN (训练): the generator, its discriminators, and the loop that makes a restorer out of a prior.

Wang et al., "Towards Real-World Blind Face Restoration with Generative Facial Prior" (GFP-GAN, CVPR 2021,
https://arxiv.org/abs/2101.04061), Sec. 3.5 (model objectives) and Sec. 4.1 (training details). One iteration
alternates two updates on a batch of pairs :math:`(x, y)` — degraded input, ground truth (Sec. 4.1's degradation,
:mod:`gfplib.data`):

1. **G step** (the restorer :math:`G`, discriminators frozen) on the total loss of Eq. 9,

   .. math::  \mathcal L_{total} = \mathcal L_{rec} + \lambda_{adv}\mathcal L_{adv}
              + \lambda_{comp}\mathcal L_{comp} + \lambda_{id}\mathcal L_{id},

   the reconstruction loss of Eq. 5 (L1 + perceptual, plus the pyramid loss on the intermediate RGBs of Sec. 3.2),
   the adversarial loss of Eq. 6, the facial component loss of Eq. 7 and the identity loss of Eq. 8 — every term
   is computed by :func:`gfplib.losses.generator_loss`;
2. **D step**: the global StyleGAN2 discriminator on real :math:`y` vs restored :math:`\hat y` (detached), with lazy
   R1 every 16 iterations, and the three facial component discriminators (left eye, right eye, mouth) on crops.

After both, the exponential moving average :math:`\theta_{ema} \leftarrow \beta\,\theta_{ema} + (1-\beta)\,\theta`
of G's parameters is updated with the official per-iteration decay :math:`\beta = 0.5^{32/10000}`; the EMA copy is
the network that is validated and shipped. The decoder is the pretrained StyleGAN2 (the generative facial prior,
Sec. 3.3), loaded with :func:`gfplib.checkpoints.load_decoder_prior` and frozen (or trainable; or randomly
initialised for the "no prior" ablation of Sec. 4.3).

Profiles (:meth:`TrainConfig.profile`): ``toy`` (32² toy world, CPU, offline), ``colab`` (512², official prior, one
GPU, mixed precision) and ``paper`` (the official configuration, several GPUs). Every field can be overridden on the
command line; :data:`ABLATIONS` name the switches of the paper's ablation study::

    python -m gfplib.train --profile toy
    python -m gfplib.train --profile toy --ablation no_sft --run-dir runs/toy_no_sft
    python -m gfplib.train --profile colab --data /content/ffhq512 --run-dir /content/drive/MyDrive/gfpgan
    torchrun --nproc_per_node 4 -m gfplib.train --profile paper --data /data/ffhq512

A run lives in ``--run-dir``: checkpoints ``ckpt_<iteration>.pt`` (the whole state: networks, EMA, optimisers,
schedulers, every process's random generator, the iteration — which is also the data position), ``log.csv`` (every
loss term), ``val.csv`` (validation metrics), sample grids (input | restored | ground truth) and, when
``tensorboard`` is installed, event files. Running the same command again resumes from the newest checkpoint.

Taught in ``notebooks/08_training.ipynb``.
"""
from __future__ import annotations

import argparse
import copy
import csv
import os
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from gfplib.losses import LossConfig, component_discriminator_loss, discriminator_loss, generator_loss
from gfplib.pretrain.common import (CheckpointError, Stopwatch, ema_update, latest_checkpoint, log_print,
                                    read_checkpoint, save_checkpoint, save_image_grid, sidecar_record, write_sidecar)

__all__ = ["TrainConfig", "ABLATIONS", "PROFILES", "GeneratorPass", "GFPGANTrainer", "build_generator",
           "build_datasets", "training_batches", "evaluate_restoration", "train", "main"]

COMPONENTS = ("left_eye", "right_eye", "mouth")
CHECKPOINT_FORMAT = "gfplib.train/1"
_RUNTIME = {"runtime": True}  # field metadata: may change between a run and its resumption


def _runtime(default):
    return field(default=default, metadata=_RUNTIME)


# ------------------------------------------------------------------------------------------------------ the config
@dataclass(frozen=True)
class TrainConfig:
    """Everything a GFPGAN training run depends on. Defaults: the official recipe (``train_gfpgan_v1.yml``).

    Fields come in two kinds. *Recipe* fields decide what is trained and must be equal to resume a run.
    *Run-time* fields (marked ``runtime`` in their metadata: iterations, device, threads, workers, logging
    intervals, the run folder) may change when a run is resumed.
    """

    # --- the generator (GFPGANv1 = the paper's model; GFPGANv1Clean = v1.2+, no custom ops)
    arch: str = "original"  # "original" (GFPGANv1) or "clean" (GFPGANv1Clean)
    out_size: int = 512
    num_style_feat: int = 512
    channel_multiplier: float = 1  # the official prior is the channel_multiplier=1 StyleGAN2
    num_mlp: int = 8
    narrow: float = 1.0
    sft: str = "half"  # "half": CS-SFT (Eq. 4); "all": SFT on all channels (Eq. 3); "none": latent codes only
    prior: str = "stylegan2-512-prior"  # registry name or path of a StyleGAN2 checkpoint; "none": random decoder
    fix_decoder: bool = True  # freeze the prior (paper); False: fine-tune it with the rest
    # --- discriminators
    d_channel_multiplier: float = 1
    d_narrow: float = 1.0
    d_stddev_group: int = 4  # minibatch-stddev group: the one batch-composition-dependent piece of the recipe
    comp_narrow: float = 1.0  # width factor of the three facial component discriminators (1: official)
    # --- frozen loss networks (registry names or paths of official-format files)
    perceptual_net: str = "vgg19"  # "vgg19" (ImageNet) or "toy-vgg"
    identity_net: str = "arcface-resnet18"  # "arcface-resnet18" or "toy-arcface"
    # --- the losses (weights, schedules, crop sizes): gfplib.losses.LossConfig; a 0 weight switches a term off
    loss: LossConfig = field(default_factory=LossConfig)
    gan_start: int = 0  # discriminators join after this iteration; before it G trains without them (0: official)
    # --- optimisation (facts §3)
    batch_size: int = 3  # per process (the official 12 = 3 per GPU × 4 GPUs)
    lr_g: float = 2e-3
    betas_g: Tuple[float, float] = (0.0, 0.99)
    lr_d: float = 2e-3  # the official D keeps 2e-3; only β is corrected for lazy R1: β^(k/(k+1))
    betas_d: Tuple[float, float] = (0.0, 0.99)
    lr_comp: float = 2e-3
    betas_comp: Tuple[float, float] = (0.9, 0.99)  # component Ds: plain Adam, no lazy regularisation
    milestones: Tuple[int, ...] = (600_000, 700_000)  # MultiStepLR on every optimiser
    lr_gamma: float = 0.5
    ema_decay: float = 0.5 ** (32 / 10_000)  # per iteration, ≈ 0.997784 (official)
    # --- data
    data: str = "toy"  # "toy" (procedural faces, gfplib.data.toyfaces) or a folder of aligned faces
    components: str = "ffhq-components-512"  # box file for folder data (registry name or path); "" none
    degradation: str = "official"  # see DEGRADATIONS
    epoch_length: int = 10_000  # toy data: samples per epoch (the toy world is unbounded)
    seed: int = 0
    # --- run-time
    total_iters: int = _runtime(800_000)
    max_minutes: float = _runtime(0.0)  # > 0: checkpoint and stop after this much wall time (resume later)
    run_dir: str = _runtime("runs/gfpgan_paper")
    device: str = _runtime("auto")  # "auto", "cpu", "cuda", "cuda:1" …
    threads: int = _runtime(0)  # torch CPU threads; 0: leave torch's default
    num_workers: int = _runtime(6)  # DataLoader workers per process
    amp: str = _runtime("off")  # "off", "fp16" (CUDA, with a GradScaler) or "bf16": autocast of the G pass
    val_data: str = _runtime("")  # folder of held-out faces for folder data ("" and toy data: the toy test people)
    val_size: int = _runtime(64)  # faces in the fixed validation set
    val_every: int = _runtime(5_000)
    sample_every: int = _runtime(5_000)
    ckpt_every: int = _runtime(5_000)
    keep_ckpts: int = _runtime(2)
    log_every: int = _runtime(100)
    progress: bool = _runtime(True)  # tqdm bar (rank 0)
    tensorboard: bool = _runtime(True)  # event files when the `tensorboard` package is installed

    def __post_init__(self):
        choices = {"arch": ("original", "clean"), "sft": ("half", "all", "none"), "amp": ("off", "fp16", "bf16"),
                   "degradation": tuple(DEGRADATIONS)}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if isinstance(self.gan_start, bool) or not isinstance(self.gan_start, int) or self.gan_start < 0:
            raise ValueError(f"gan_start must be an integer >= 0, got {self.gan_start!r}")
        for name in ("out_size", "batch_size", "epoch_length", "val_size", "val_every", "sample_every",
                     "ckpt_every", "keep_ckpts", "log_every", "d_stddev_group"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if not isinstance(self.loss, LossConfig):
            raise TypeError(f"loss must be a gfplib.losses.LossConfig, got {type(self.loss).__name__}")
        if self.batch_size % min(self.batch_size, self.d_stddev_group):
            raise ValueError(f"batch_size {self.batch_size} must be a multiple of min(batch_size, d_stddev_group="
                             f"{self.d_stddev_group}) for the discriminator's minibatch stddev")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")

    # ---- derived switches
    @property
    def use_components(self) -> bool:
        """Facial component discriminators and losses (Eq. 7) are on."""
        return self.loss.comp_gan > 0 or self.loss.comp_style > 0

    def loss_at(self, iteration: int) -> LossConfig:
        """The loss weights of ``iteration``: before ``gan_start`` the terms that need a discriminator are off."""
        if iteration > self.gan_start:
            return self.loss
        return replace(self.loss, gan=0.0, comp_gan=0.0, comp_style=0.0)

    @property
    def use_identity(self) -> bool:
        return self.loss.identity > 0

    @property
    def use_perceptual(self) -> bool:
        return self.loss.perceptual > 0 or self.loss.style > 0

    def recipe(self) -> dict:
        """The recipe fields (what must match to resume), as plain Python values."""
        out = {}
        for f in fields(self):
            if not f.metadata.get("runtime"):
                v = getattr(self, f.name)
                out[f.name] = asdict(v) if f.name == "loss" else (list(v) if isinstance(v, tuple) else v)
        return out

    # ---- named configurations
    @classmethod
    def paper(cls) -> "TrainConfig":
        """The official recipe for several GPUs: GFPGANv1 + the official prior, 800k iterations, 3 faces per GPU."""
        return cls(data="", run_dir="runs/gfpgan_paper")

    @classmethod
    def colab(cls) -> "TrainConfig":
        """The official recipe on one Colab GPU: fp16 autocast, 2 faces per step (aimed at a 16 GB T4, not measured
        there), checkpoints every 1,000 iterations so that a disconnect costs little. Pass ``--data`` (a folder of
        aligned 512² faces) and a ``--run-dir`` on a mounted drive."""
        return replace(cls.paper(), batch_size=2, amp="fp16", num_workers=2, run_dir="runs/gfpgan_colab",
                       ckpt_every=1_000, sample_every=1_000, val_every=5_000, val_size=16, log_every=50)

    @classmethod
    def toy(cls, iters: int = 3_600) -> "TrainConfig":
        """The 32² toy world on a CPU: the shipped toy prior, toy identity and perceptual networks, offline.

        The official recipe with these changes for 32² faces and a budget of one CPU hour (≈ 3,600 iterations
        instead of 800,000), each measured on the 2-core machine (validation on the 64 held-out faces):

        * ``LossConfig.toy()``: crop sizes, identity size and R1 γ rescaled for 32² (see there).
        * **Pixel weight 1** instead of 0.1. Officially the perceptual and adversarial terms carry the colours over
          hundreds of thousands of iterations; in a few thousand the L1 term has to pin them (Real-ESRGAN uses 1
          with the same perceptual weight).
        * **Identity weight 1** instead of 10. With toy-arcface at 32², λ_id = 10 made the identity term 70 % of
          the total loss and cost 1.4 dB of validation PSNR after 300 iterations (17.4 vs 18.8 dB) without raising
          the identity cosine (0.62 in both); at 1 the term is as large as the perceptual one.
        * **The discriminators join at 3/4 of the run** (``gan_start = iters * 3 // 4``, with the first learning-rate
          step): the first three quarters train G on the reconstruction, perceptual and identity terms only — a warm
          start, as Real-ESRGAN trains its GAN from a PSNR-oriented network — at 0.65 s per iteration instead of
          1.07 s. Measured against joining halfway (3,600 iterations, 64 held-out faces): 21.64 vs 20.80 dB PSNR,
          FD toy-vgg 8.68 vs 9.47, in 38 instead of 52 minutes — in a run this short the adversarial phase sharpens
          the faces within a few hundred iterations and afterwards mostly trades PSNR away.
        * **Component discriminators at 1/4 width** (``comp_narrow``, 16–64 channels): the global toy
          discriminator is 1/8 of the official width too; at full width the three of them cost a third of an
          iteration.
        * **The toy degradation** (``DEGRADATIONS["toy"]``): the official ranges with r ≤ 4 instead of 8. At 32² an
          r of 8 leaves a 4 × 4 face whose eyes are below a pixel — nothing of the person is left to restore — while
          at 512² the same r still leaves a 64 × 64 face.
        * The schedule scales with ``iters`` as the official one does with 800k: the learning rates halve at 3/4 and
          7/8 of the run (official 600k, 700k) and the pyramid loss stops after 1/16 (official 50k).
        * G's Adam at lr 1e-3 with β = (0.9, 0.99) instead of 2e-3 with β₁ = 0: the official values suit the
          equalised-lr layers of GFPGANv1; on the plain convolutions of the clean toy U-Net they gave loss spikes
          in the first ~50 iterations and a worse start (validation SSIM of G 0.42 vs 0.47 after 175 iterations,
          EMA PSNR 14.3 vs 15.4 dB after 500, simple variant, batch 8). The discriminators keep the official values.
        * Batch 16 on one process, two torch threads plus one loader worker (rendering a batch of toy faces takes
          ≈ 0.15 s of CPU). ``benchmarks/bench_train.py`` measures the speed.
        """
        loss = replace(LossConfig.toy(), pixel=1.0, identity=1.0, pyramid_until=max(1, iters // 16))
        return cls(
            arch="clean", out_size=32, num_style_feat=128, channel_multiplier=2, num_mlp=4, narrow=0.125,
            prior="toy-prior-32",  # its arch kwargs are PRIOR_ARCHS["toy-prior-32"] (64 channels at 4…32 px)
            d_channel_multiplier=2, d_narrow=0.125,  # the toy prior's own discriminator width
            comp_narrow=0.25, perceptual_net="toy-vgg", identity_net="toy-arcface", loss=loss, gan_start=iters * 3 // 4,
            batch_size=16, lr_g=1e-3, betas_g=(0.9, 0.99), milestones=(iters * 3 // 4, iters * 7 // 8),
            data="toy", degradation="toy", epoch_length=16_000, total_iters=iters,
            run_dir="runs/gfpgan_toy", device="cpu", threads=2, num_workers=1,
            val_size=64, val_every=200, sample_every=200, ckpt_every=100, log_every=25)

    @classmethod
    def profile(cls, name: str, iters: Optional[int] = None) -> "TrainConfig":
        """A named configuration; ``iters`` (toy only) sets the run length *and* scales the toy schedule."""
        if name not in PROFILES:
            raise ValueError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}")
        if name == "toy" and iters is not None:
            return cls.toy(iters)
        return getattr(cls, name)()


PROFILES = ("toy", "colab", "paper")

#: Degradation presets by name → function of the face size (Sec. 4.1; gfplib.degradation).
DEGRADATIONS: Dict[str, Callable[[int], object]] = {}


def _official_degradation(size: int):
    from gfplib.degradation import DegradationConfig

    return DegradationConfig.for_size(size)  # the official ranges, blur rescaled to the face size


DEGRADATIONS["official"] = _official_degradation


def _toy_degradation(size: int):
    # r ≤ 4: at 32² the official r = 8 leaves a 4 × 4 face whose eyes are below a pixel (see TrainConfig.toy)
    return replace(_official_degradation(size), downsample_range=(0.8, 4.0))


DEGRADATIONS["toy"] = _toy_degradation


def _ablate(cfg: TrainConfig, **loss_changes) -> TrainConfig:
    return replace(cfg, loss=replace(cfg.loss, **loss_changes))


#: The switches of the paper's ablations (Sec. 4.3, Table 4) and the official `simple` variant, by name.
ABLATIONS: Dict[str, Callable[[TrainConfig], TrainConfig]] = {
    "simple": lambda c: replace(c, loss=c.loss.simple()),  # train_gfpgan_v1_simple.yml: no component / identity loss
    "sft_all": lambda c: replace(c, sft="all"),  # SFT on all channels instead of the channel split
    "no_sft": lambda c: replace(c, sft="none"),  # no spatial modulation: the prior driven by latent codes only
    "no_prior": lambda c: replace(c, prior="none", fix_decoder=False),  # "w/o GFP": random decoder, trained
    "no_pyramid": lambda c: _ablate(c, pyramid=0.0),
    "no_components": lambda c: _ablate(c, comp_gan=0.0, comp_style=0.0),
    "no_identity": lambda c: _ablate(c, identity=0.0),
}


# ------------------------------------------------------------------------------------------------- the networks
class GeneratorPass(nn.Module):
    """G's training forward as *one* module call: ``lq → (image, out_rgbs)``.

    Under DistributedDataParallel only what runs inside the wrapped module's ``forward`` has its gradients averaged
    across processes, so the whole generator pass lives here (calling ``net_g.stylegan_decoder`` from outside would
    silently skip the synchronisation). It also implements the "no SFT" ablation: the U-Net still predicts the latent
    codes, but the prior receives no (α, β) conditions.

    Args:
        net_g: a ``GFPGANv1`` / ``GFPGANv1Clean``.
        use_sft: pass the SFT conditions to the prior (False: the "no SFT" ablation).
        return_rgb: compute the pyramid RGBs (needed only by the pyramid loss).
    """

    def __init__(self, net_g: nn.Module, use_sft: bool = True, return_rgb: bool = True):
        super().__init__()
        self.net_g = net_g
        self.use_sft = use_sft
        self.return_rgb = return_rgb

    def forward(self, lq: torch.Tensor, generator: Optional[torch.Generator] = None):
        from gfplib.archs.gfpgan_clean import GFPGANOutput

        if self.use_sft:
            return self.net_g(lq, return_rgb=self.return_rgb, randomize_noise=True, generator=generator)
        enc = self.net_g.degradation_removal(lq, return_rgb=self.return_rgb)
        image = self.net_g.stylegan_decoder([enc.latent], [], input_is_latent=self.net_g.input_is_latent,
                                            randomize_noise=True, generator=generator).image
        return GFPGANOutput(image, enc.out_rgbs)


def build_generator(cfg: TrainConfig) -> nn.Module:
    """G with its decoder initialised from ``cfg.prior`` (unless ``"none"``) and frozen if ``cfg.fix_decoder``."""
    from gfplib.archs import GFPGANv1, GFPGANv1Clean
    from gfplib.checkpoints import freeze_decoder, load_decoder_prior

    kwargs = dict(out_size=cfg.out_size, num_style_feat=cfg.num_style_feat, channel_multiplier=cfg.channel_multiplier,
                  fix_decoder=False, num_mlp=cfg.num_mlp, input_is_latent=True, different_w=True, narrow=cfg.narrow,
                  sft_half=cfg.sft != "all")
    net = GFPGANv1Clean(**kwargs) if cfg.arch == "clean" else GFPGANv1(**kwargs)
    if cfg.prior != "none":
        load_decoder_prior(net, cfg.prior)  # strict, key by key; "auto" prefers params_ema
    freeze_decoder(net, cfg.fix_decoder)
    # Parameters that no loss reaches are frozen, so that every trainable parameter gets a gradient (DDP needs it).
    if cfg.sft == "none":
        for head in (net.condition_scale, net.condition_shift):
            head.requires_grad_(False)
    if cfg.loss.pyramid == 0:
        net.toRGB.requires_grad_(False)
    return net


def _load_perceptual_net(name: str) -> nn.Module:
    from gfplib.pretrain.loaders import load_feature_net

    if name in ("vgg19", "toy-vgg"):
        return load_feature_net(name)
    from gfplib import weights
    from gfplib.perceptual import build_vgg19_imagenet

    # a path: torchvision's VGG19 file format (vgg19-dcbb9e9d.pth)
    return build_vgg19_imagenet(state_dict=weights.load_state_dict(name, param_key=None)).eval().requires_grad_(False)


def _load_identity_net(name: str) -> nn.Module:
    from gfplib.pretrain.loaders import load_identity_net

    if name in ("arcface-resnet18", "toy-arcface"):
        return load_identity_net(name)
    from gfplib.archs import ResNetArcFace
    from gfplib.checkpoints import load_weights

    net = ResNetArcFace(block="IRBlock", layers=(2, 2, 2, 2), use_se=False)  # a path: the official arcface file
    load_weights(net, name, param_key="auto")
    return net.eval().requires_grad_(False)


# ----------------------------------------------------------------------------------------------------- the data
def _degradation(cfg: TrainConfig):
    return DEGRADATIONS[cfg.degradation](cfg.out_size)


def build_datasets(cfg: TrainConfig) -> Tuple[Dataset, Optional[Dataset]]:
    """The training set and the fixed held-out validation set (``None`` when there is none)."""
    from gfplib.data import FFHQFolderDataset, ToyFaceConfig, ToyFaceDataset

    deg = _degradation(cfg)
    if cfg.data == "toy":
        faces = ToyFaceConfig(size=cfg.out_size)
        train_set = ToyFaceDataset(faces, "train", length=cfg.epoch_length, degradation=deg, seed=cfg.seed)
        val_set = ToyFaceDataset(faces, "test", length=cfg.val_size, degradation=deg, seed=cfg.seed + 1,
                                 use_hflip=False)  # held-out people, fixed degradations
        return train_set, val_set
    if not cfg.data:
        raise ValueError("no training data: pass --data DIR (a folder of aligned faces) or --data toy")
    comp = None
    if cfg.use_components:
        if not cfg.components:
            raise ValueError("the facial component losses need component boxes: pass --components FILE "
                             "(FFHQ_eye_mouth_landmarks_512.pth format) or use --ablation no_components")
        comp = cfg.components
        if not Path(comp).is_file():
            from gfplib import weights

            comp = weights.fetch(comp)  # a registry name (the official FFHQ boxes)
    train_set = FFHQFolderDataset(cfg.data, out_size=cfg.out_size, component_path=comp, degradation=deg,
                                  seed=cfg.seed)
    val_set = None
    if cfg.val_data:
        val_set = FFHQFolderDataset(cfg.val_data, out_size=cfg.out_size, degradation=deg, seed=cfg.seed + 1,
                                    use_hflip=False)
    return train_set, val_set


class _SkipSampler(Sampler):
    """The indices of ``sampler`` from position ``skip`` on: resuming in the middle of an epoch."""

    def __init__(self, sampler: Sampler, skip: int):
        self.sampler, self.skip = sampler, skip

    def __iter__(self):
        it = iter(self.sampler)
        for _ in range(self.skip):
            next(it)
        return it

    def __len__(self) -> int:
        return len(self.sampler) - self.skip


def _worker_init(_):
    import cv2

    cv2.setNumThreads(1)  # a loader worker is one process; OpenCV's own thread pool would oversubscribe the CPU


def training_batches(dataset: Dataset, batch_size: int, start_iteration: int, rank: int = 0, world_size: int = 1,
                     seed: int = 0, num_workers: int = 0, pin_memory: bool = False) -> Iterator[dict]:
    """Endless training batches of this process, starting at iteration ``start_iteration``.

    A :class:`~torch.utils.data.DistributedSampler` (seeded, reshuffled by ``set_epoch``) splits every epoch between
    the processes; each process sees ``steps = len(sampler) // batch_size`` batches per epoch. Iteration ``i`` is
    batch ``i mod steps`` of epoch ``i // steps``, so a resumed run skips straight to its position (indices only, no
    sample is loaded twice). ``dataset.set_epoch(epoch)`` gives every epoch new flips and degradations.
    """
    from gfplib.data import collate_pairs

    sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed,
                                 drop_last=True)
    steps = len(sampler) // batch_size
    if steps < 1:
        raise ValueError(f"{len(dataset)} samples over {world_size} process(es) do not fill one batch of "
                         f"{batch_size}")
    epoch, k = divmod(start_iteration, steps)
    while True:
        sampler.set_epoch(epoch)
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(epoch)  # before the loader starts its workers: they copy the dataset
        loader = DataLoader(dataset, batch_size=batch_size, sampler=_SkipSampler(sampler, k * batch_size),
                            drop_last=True, num_workers=num_workers, collate_fn=collate_pairs, pin_memory=pin_memory,
                            worker_init_fn=_worker_init if num_workers else None,
                            # workers start from a clean server process: a worker *forked* from the trainer after
                            # its thread pools ran (the second epoch's loader) can deadlock on an inherited lock
                            multiprocessing_context="forkserver" if num_workers else None,
                            generator=torch.Generator().manual_seed(_seed_for(seed, rank, epoch)))  # not the global RNG
        yield from loader
        epoch, k = epoch + 1, 0


def _stack(dataset: Dataset) -> dict:
    from gfplib.data import collate_pairs

    return collate_pairs([dataset[i] for i in range(len(dataset))])


# ------------------------------------------------------------------------------------------------ the trainer
def _is_dist() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def _gather(obj) -> list:
    """``[obj of rank 0, obj of rank 1, …]`` on every process (``[obj]`` without DDP)."""
    if not _is_dist():
        return [obj]
    out = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(out, obj)
    return out


def _seed_for(*keys: int) -> int:
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1, np.uint64)[0] >> 1)


class GFPGANTrainer:
    """One GFPGAN training run in one process: networks, optimisers, schedulers, the noise generator, the step logic.

    Args:
        cfg: the recipe and run-time settings.
        device: where to train.
        rank, world_size: this process's place in a DistributedDataParallel job (``0, 1`` without DDP); with
            ``world_size > 1`` the process group must be initialised.

    Attributes (the names are also the keys of the checkpoint's ``state``): ``net_g``, ``net_g_ema``, ``net_d``,
    ``net_d_left_eye`` / ``net_d_right_eye`` / ``net_d_mouth`` (component Ds, when used), ``opt_*``, ``sched_*``.
    """

    def __init__(self, cfg: TrainConfig, device: torch.device = torch.device("cpu"), rank: int = 0,
                 world_size: int = 1):
        from gfplib.archs import FacialComponentDiscriminator, StyleGAN2Discriminator

        self.cfg, self.device, self.rank, self.world_size = cfg, torch.device(device), rank, world_size
        with torch.random.fork_rng(devices=[]):  # the same initial weights on every rank, global RNG untouched
            torch.manual_seed(cfg.seed)
            self.net_g = build_generator(cfg)
            self.net_d = StyleGAN2Discriminator(cfg.out_size, channel_multiplier=cfg.d_channel_multiplier,
                                                narrow=cfg.d_narrow, stddev_group=cfg.d_stddev_group)
            self.comp_ds = nn.ModuleDict({p: FacialComponentDiscriminator(cfg.comp_narrow) for p in COMPONENTS}
                                         if cfg.use_components else {})
        self.net_g_ema = copy.deepcopy(self.net_g).eval().requires_grad_(False)
        for net in (self.net_g, self.net_g_ema, self.net_d, self.comp_ds):
            net.to(self.device)
        self.vgg = _load_perceptual_net(cfg.perceptual_net).to(self.device) if cfg.use_perceptual else None
        self.identity_net = _load_identity_net(cfg.identity_net).to(self.device) if cfg.use_identity else None

        use_sft, return_rgb = cfg.sft != "none", cfg.loss.pyramid > 0
        self.g_pass = GeneratorPass(self.net_g, use_sft, return_rgb)
        self.ema_pass = GeneratorPass(self.net_g_ema, use_sft, return_rgb=False)
        # DDP wrappers: G's pass, D and each component D; their forward is where gradients get synchronised.
        self.g_train, self.d_train, self.comp_train = self.g_pass, self.net_d, dict(self.comp_ds.items())
        if world_size > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.g_train = DDP(self.g_pass, device_ids=ids)
            self.d_train = DDP(self.net_d, device_ids=ids)
            self.comp_train = {p: DDP(d, device_ids=ids) for p, d in self.comp_ds.items()}

        # Optimisers (facts §3). Lazy R1 every k D steps: the official code corrects D's betas only: β^(k/(k+1)).
        k = cfg.loss.r1_interval
        d_ratio = k / (k + 1)
        self.opt_g = torch.optim.Adam([p for p in self.net_g.parameters() if p.requires_grad], lr=cfg.lr_g,
                                      betas=cfg.betas_g)
        self.opt_d = torch.optim.Adam(self.net_d.parameters(), lr=cfg.lr_d,
                                      betas=tuple(b ** d_ratio for b in cfg.betas_d))
        self.opt_comp = {p: torch.optim.Adam(d.parameters(), lr=cfg.lr_comp, betas=cfg.betas_comp)
                         for p, d in self.comp_ds.items()}
        opts = {"g": self.opt_g, "d": self.opt_d, **{f"d_{p}": o for p, o in self.opt_comp.items()}}
        self.scheds = {n: torch.optim.lr_scheduler.MultiStepLR(o, list(cfg.milestones), cfg.lr_gamma)
                       for n, o in opts.items()}
        self.amp_dtype = {"off": None, "fp16": torch.float16, "bf16": torch.bfloat16}[cfg.amp]
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=cfg.amp == "fp16")
        # G's StyleGAN2 noise: an explicit generator per process, saved in checkpoints (exact resume anywhere)
        self.noise = torch.Generator(self.device).manual_seed(_seed_for(cfg.seed, rank, 0x401E))
        self.iteration = 0  # completed iterations = the position in the data stream

    # ---------------------------------------------------------------------------------------------- state I/O
    def stateful(self) -> Dict[str, object]:
        """Every object with ``state_dict`` / ``load_state_dict`` that a checkpoint must hold, by name."""
        objs = {"net_g": self.net_g, "net_g_ema": self.net_g_ema, "net_d": self.net_d, "opt_g": self.opt_g,
                "opt_d": self.opt_d}
        for p, d in self.comp_ds.items():
            objs[f"net_d_{p}"] = d
            objs[f"opt_d_{p}"] = self.opt_comp[p]
        objs.update({f"sched_{n}": s for n, s in self.scheds.items()})
        objs["grad_scaler"] = self.scaler
        return objs

    def state_dict(self, wall_time: float = 0.0) -> dict:
        """The checkpoint. Collective under DDP (every process must call it): it gathers all random states."""
        rng = _gather({"noise": self.noise.get_state(), "torch": torch.get_rng_state()})
        return {"format": CHECKPOINT_FORMAT, "recipe": self.cfg.recipe(), "iteration": self.iteration,
                "world_size": self.world_size, "wall_time": float(wall_time), "rng": rng,
                "state": {name: obj.state_dict() for name, obj in self.stateful().items()}}

    def load_state_dict(self, ckpt: dict, source: str = "the checkpoint") -> float:
        """Restore a checkpoint made by :meth:`state_dict`; returns the wall time of the runs so far.

        Raises:
            CheckpointError: naming ``source`` when the checkpoint is not one of this trainer's, was made with
                another recipe or another number of processes, or lacks / mismatches a network's keys.
        """
        if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(f"{source} is not a gfplib.train checkpoint (format {CHECKPOINT_FORMAT!r})")
        now, saved = self.cfg.recipe(), ckpt["recipe"]
        diff = {k: (saved.get(k), now[k]) for k in now if _plain(saved.get(k)) != _plain(now[k])}
        if diff:
            shown = "; ".join(f"{k}: checkpoint {a!r} vs now {b!r}" for k, (a, b) in diff.items())
            raise CheckpointError(f"{source} was made with another recipe ({shown}); use another --run-dir, "
                                  f"--fresh, or the checkpoint's settings")
        if ckpt["world_size"] != self.world_size:
            raise CheckpointError(f"{source} was written by {ckpt['world_size']} process(es), this run has "
                                  f"{self.world_size}: the data split and random streams would not continue")
        state = ckpt["state"]
        for name, obj in self.stateful().items():
            if name not in state:
                raise CheckpointError(f"{source} lacks {name!r}")
            try:
                obj.load_state_dict(state[name])
            except (RuntimeError, ValueError, KeyError) as err:
                raise CheckpointError(f"{source}: {name!r} does not fit: {str(err).splitlines()[0]}") from err
        self.noise.set_state(ckpt["rng"][self.rank]["noise"].to("cpu"))
        torch.set_rng_state(ckpt["rng"][self.rank]["torch"])
        self.iteration = int(ckpt["iteration"])
        return float(ckpt["wall_time"])

    # ------------------------------------------------------------------------------------------------ one step
    def _batch(self, batch: dict) -> Tuple[torch.Tensor, torch.Tensor, Optional[Dict[str, torch.Tensor]]]:
        lq = batch["lq"].to(self.device, non_blocking=True)
        gt = batch["gt"].to(self.device, non_blocking=True)
        boxes = None
        if self.comp_ds:
            missing = [p for p in COMPONENTS if f"loc_{p}" not in batch]
            if missing:
                raise KeyError(f"the batch has no component boxes {missing}; the component losses need them "
                               f"(give a component file, or use the no_components ablation)")
            boxes = {p: batch[f"loc_{p}"].to(self.device) for p in COMPONENTS}
        return lq, gt, boxes

    def g_step(self, lq: torch.Tensor, gt: torch.Tensor, boxes=None, iteration: Optional[int] = None):
        """Update G on the total loss (Eq. 9); returns ``(restored image, log)``. D and the component Ds are frozen and
        called unwrapped: no gradient of theirs is needed, only the gradient *through* them to the image."""
        it = self.iteration + 1 if iteration is None else iteration
        for net in (self.net_d, self.comp_ds):
            net.requires_grad_(False)
        self.net_g.train()
        amp = self.amp_dtype is not None
        with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32, enabled=amp):
            image, out_rgbs = self.g_train(lq, generator=self.noise)
            losses = generator_loss(self.cfg.loss_at(it), image=image, out_rgbs=out_rgbs, gt=gt, boxes=boxes,
                                    iteration=it, vgg=self.vgg, net_d=self.net_d,
                                    comp_ds=dict(self.comp_ds.items()) or None, identity_net=self.identity_net)
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler.scale(losses["total"]).backward()
        self.scaler.step(self.opt_g)
        self.scaler.update()
        log = {("l_g_total" if k == "total" else k): v.detach() for k, v in losses.items()}
        return image.detach().float(), log

    def d_step(self, fake: torch.Tensor, gt: torch.Tensor, boxes=None, iteration: Optional[int] = None) -> dict:
        """Update the global D (with lazy R1 on iterations divisible by ``r1_interval``) and the component Ds on
        real ``gt`` vs the detached restored ``fake``. Runs in float32 (R1 differentiates through D's gradient)."""
        it = self.iteration + 1 if iteration is None else iteration
        for net in (self.net_d, self.comp_ds):
            net.requires_grad_(True)
        d = discriminator_loss(self.cfg.loss, net_d=self.d_train, fake=fake.detach(), real=gt, iteration=it)
        self.opt_d.zero_grad(set_to_none=True)
        d["total"].backward()
        self.opt_d.step()
        log = {("l_d_total" if k == "total" else k): v.detach() for k, v in d.items()}
        if self.comp_ds:
            c = component_discriminator_loss(self.cfg.loss, comp_ds=self.comp_train, fake=fake.detach(), real=gt,
                                             boxes=boxes)
            for o in self.opt_comp.values():
                o.zero_grad(set_to_none=True)
            c["total"].backward()
            for o in self.opt_comp.values():
                o.step()
            log.update({("l_comp_d_total" if k == "total" else k): v.detach() for k, v in c.items()})
        return log

    def train_step(self, batch: dict) -> Dict[str, float]:
        """One iteration: G step, D step, EMA, schedulers. Returns every loss term as a float."""
        lq, gt, boxes = self._batch(batch)
        it = self.iteration + 1  # the official `current_iter` (1-based): R1 when it % 16 == 0, pyramid while it < 50k
        fake, log = self.g_step(lq, gt, boxes, it)
        if it > self.cfg.gan_start:  # before gan_start no discriminator is trained (nor used by G)
            log.update(self.d_step(fake, gt, boxes, it))
        self.update_ema()
        with warnings.catch_warnings():  # before gan_start the D optimisers have not stepped yet: that is intended
            warnings.filterwarnings("ignore", r"Detected call of `lr_scheduler\.step\(\)` before")
            for s in self.scheds.values():
                s.step()
        self.iteration = it
        return {k: float(v) for k, v in log.items()}

    def update_ema(self) -> None:
        """θ_ema ← β θ_ema + (1 − β) θ for G's parameters, β = ``cfg.ema_decay`` (buffers: G's noise maps)."""
        ema_update(self.net_g_ema, self.net_g, self.cfg.ema_decay)

    @torch.no_grad()
    def restore(self, lq: torch.Tensor, batch_size: int = 64, seed: int = 0, ema: bool = True) -> torch.Tensor:
        """Restore ``lq`` with the EMA generator (or ``ema=False``: the trained G itself), clamped to [-1, 1].

        G's noise comes from a generator seeded with ``seed``: repeatable, and no training RNG is touched.
        """
        g = torch.Generator(self.device).manual_seed(seed)
        net = self.ema_pass if ema else self.g_pass
        outs = [net(lq[i:i + batch_size].to(self.device), generator=g).image.float().clamp(-1, 1).cpu()
                for i in range(0, len(lq), batch_size)]
        return torch.cat(outs)


def _plain(v):
    """Tuples and lists compare equal (a checkpoint may hold either)."""
    if isinstance(v, (tuple, list)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


# ------------------------------------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate_restoration(restored: torch.Tensor, gt: torch.Tensor, identity_net: Optional[nn.Module] = None,
                         vgg: Optional[nn.Module] = None) -> Dict[str, float]:
    """Mean quality of ``restored`` against ``gt`` (both ``(N, 3, H, W)`` in [-1, 1]), by :mod:`gfplib.metrics`.

    * ``psnr`` (dB) and ``ssim`` on uint8 RGB, no border crop (the official validation: ``tensor2img`` then PSNR
      with crop 0); SSIM with Wang et al.'s Gaussian window (σ = 1.5), averaged over channels;
    * ``id_cos``: cosine between identity embeddings of restored and ground truth (toy-arcface / ArcFace);
    * ``percep``: the perceptual distance with GFPGAN's layer weights;
    * ``fd_id``, ``fd_vgg``: Fréchet distance of the restored set to the ground-truth set in the identity network's
      and the perceptual network's feature spaces.
    """
    from gfplib import metrics as M

    if restored.shape != gt.shape:
        raise ValueError(f"restored {tuple(restored.shape)} and gt {tuple(gt.shape)} differ in shape")
    out = {"psnr": float(M.psnr(restored, gt).mean()), "ssim": float(M.ssim(restored, gt).mean())}
    if identity_net is not None:
        out["id_cos"] = float(M.identity_cosine(identity_net, restored, gt).mean())
        if len(gt) > 1:
            out["fd_id"] = M.set_frechet_distance(M.identity_embedder(identity_net), restored, gt)
    if vgg is not None:
        out["percep"] = float(M.perceptual_distance(vgg, restored, gt).mean())
        if len(gt) > 1:
            out["fd_vgg"] = M.set_frechet_distance(M.vgg_embedder(vgg), restored, gt)
    return out


# ------------------------------------------------------------------------------------------------------ logging
class CSVLog:
    """A CSV file of dict rows whose columns grow as new keys appear; on resume, rows past the checkpoint go."""

    def __init__(self, path: Path, keep_until: Optional[int] = None):
        self.path = Path(path)
        self.rows: List[dict] = []
        if self.path.is_file() and keep_until is not None:
            with open(self.path, newline="") as f:
                self.rows = [r for r in csv.DictReader(f) if int(float(r["iteration"])) <= keep_until]
        self.columns: List[str] = list(dict.fromkeys(k for r in self.rows for k in r))
        self._rewrite()

    def _rewrite(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "w", newline="") as f:
            w = csv.DictWriter(f, self.columns)
            w.writeheader()
            w.writerows(self.rows)

    def write(self, row: dict) -> None:
        row = {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()}
        self.rows.append(row)
        new = [k for k in row if k not in self.columns]
        if new:
            self.columns += new
            self._rewrite()
            return
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, self.columns).writerow(row)


def _tensorboard(run_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # the optional extra is not installed
        return None
    return SummaryWriter(str(run_dir / "tb"))


def _progress(total: int, initial: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="GFPGAN", unit="it", dynamic_ncols=True, smoothing=0.1)


# -------------------------------------------------------------------------------------------------- the driver
def _setup_distributed(cfg: TrainConfig) -> Tuple[int, int, torch.device]:
    """Rank, world size and device; joins the process group torchrun (or a test) describes in the environment."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    want_cuda = cfg.device.startswith("cuda") or (cfg.device == "auto" and torch.cuda.is_available())
    if world > 1 and not _is_dist():
        torch.distributed.init_process_group("nccl" if want_cuda else "gloo")
    rank = torch.distributed.get_rank() if _is_dist() else 0
    world = torch.distributed.get_world_size() if _is_dist() else 1
    if want_cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        device = torch.device(cfg.device if ":" in cfg.device else f"cuda:{local}")
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu" if cfg.device == "auto" else cfg.device)
    return rank, world, device


def _barrier():
    if _is_dist():
        torch.distributed.barrier()


def _sample_grid(lq: torch.Tensor, restored: torch.Tensor, gt: torch.Tensor, path: Path, faces_per_row: int = 4):
    """Save ``input | restored | ground truth`` triplets, ``faces_per_row`` triplets per row."""
    triplets = torch.stack([lq.cpu(), restored.cpu(), gt.cpu()], 1).flatten(0, 1)  # (3N, 3, H, W)
    save_image_grid(triplets, path, nrow=3 * faces_per_row, upscale=max(1, 128 // lq.shape[-1]))


def train(cfg: TrainConfig, resume: bool = True, out_path: Optional["os.PathLike[str]"] = None,
          print_fn: Callable[..., None] = log_print) -> GFPGANTrainer:
    """Train (or continue training) GFPGAN; one call per process (``torchrun`` starts several).

    Args:
        cfg: the configuration; ``cfg.run_dir`` holds checkpoints, logs and samples (relative paths are taken from
            the current directory).
        resume: continue from the newest checkpoint in ``cfg.run_dir`` if there is one.
        out_path: at the end, write the generator here in the official format ``{"params", "params_ema"}`` with a
            JSON sidecar (recipe, seed, wall time, final validation metrics).
        print_fn: where rank 0's messages go.

    Returns:
        The trainer (networks in their final state).
    """
    rank, world, device = _setup_distributed(cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    main_proc = rank == 0
    say = print_fn if main_proc else (lambda *a: None)
    run_dir = Path(cfg.run_dir)
    trainer = GFPGANTrainer(cfg, device, rank, world)
    # Nothing in an iteration draws from torch's global RNG (G's noise and the data have their own generators);
    # it is seeded anyway, and saved, so that a hidden use would still be repeatable and resume exactly.
    torch.manual_seed(_seed_for(cfg.seed, rank, 0x6C0B))
    previous = 0.0
    ckpt = latest_checkpoint(run_dir) if resume else None
    if ckpt is not None:
        previous = trainer.load_state_dict(read_checkpoint(ckpt), source=str(ckpt))
        say(f"resumed from {ckpt} at iteration {trainer.iteration} ({previous / 60:.1f} min so far)")
    clock = Stopwatch(previous)
    train_set, val_set = build_datasets(cfg)
    batches = training_batches(train_set, cfg.batch_size, trainer.iteration, rank, world, cfg.seed,
                               cfg.num_workers, pin_memory=device.type == "cuda")
    val = _stack(val_set) if (val_set is not None and main_proc) else None
    log_csv = val_csv = tb = bar = None
    if main_proc:
        run_dir.mkdir(parents=True, exist_ok=True)
        log_csv = CSVLog(run_dir / "log.csv", keep_until=trainer.iteration)
        val_csv = CSVLog(run_dir / "val.csv", keep_until=trainer.iteration)
        tb = _tensorboard(run_dir) if cfg.tensorboard else None
        bar = _progress(cfg.total_iters, trainer.iteration, cfg.progress)
        n_g = sum(p.numel() for p in trainer.net_g.parameters() if p.requires_grad)
        say(f"GFPGAN training: {cfg.arch} G {cfg.out_size}² ({n_g:,} trainable parameters), batch "
            f"{cfg.batch_size} × {world} process(es) on {device}, iterations {trainer.iteration} → "
            f"{cfg.total_iters}, "
            f"run folder {run_dir}")
        if val is not None and trainer.iteration == 0:
            base = evaluate_restoration(val["lq"], val["gt"], trainer.identity_net, trainer.vgg)
            val_csv.write({"iteration": 0, "which": "input", **base})
            say("validation, degraded input: " + "  ".join(f"{k} {v:.4g}" for k, v in base.items()))

    def checkpoint():
        state = trainer.state_dict(clock.elapsed)  # collective: every rank joins
        if main_proc:
            save_checkpoint(state, run_dir, trainer.iteration, keep=cfg.keep_ckpts)
        _barrier()

    def validate():
        """Metrics of the EMA generator (what is shipped) and of G itself (the EMA lags early in a run)."""
        if val is None:
            return {}
        results = {}
        for which in ("ema", "g"):
            restored = trainer.restore(val["lq"], ema=which == "ema")
            results[which] = evaluate_restoration(restored, val["gt"], trainer.identity_net, trainer.vgg)
            val_csv.write({"iteration": trainer.iteration, "which": which, **results[which]})
            if tb is not None:
                for k, v in results[which].items():
                    tb.add_scalar(f"val_{which}/{k}", v, trainer.iteration)
            if which == "ema":
                _sample_grid(val["lq"][:8], restored[:8], val["gt"][:8],
                             run_dir / f"samples_{trainer.iteration:07d}.png")
        say(f"validation @ {trainer.iteration}: " + "; ".join(
            f"{which} " + " ".join(f"{k} {v:.4g}" for k, v in m.items()) for which, m in results.items()))
        return results["ema"]

    window: Dict[str, List[float]] = {}
    stop = torch.zeros(1, device=device)  # on the device: NCCL broadcasts CUDA tensors only
    last_metrics: Dict[str, float] = {}
    start_it, t0 = trainer.iteration, time.perf_counter()
    while trainer.iteration < cfg.total_iters:
        log = trainer.train_step(next(batches))
        it = trainer.iteration
        for k, v in log.items():
            window.setdefault(k, []).append(v)
        if main_proc:
            if bar is not None:
                bar.update(1)
                if it % 5 == 0 or it == cfg.total_iters:
                    bar.set_postfix({k: f"{log[k]:.3f}" for k in ("l_g_total", "l_pix", "l_d") if k in log},
                                    refresh=False)
            if it % cfg.log_every == 0:
                row = {"iteration": it, "epoch": it * cfg.batch_size * world // max(len(train_set), 1),
                       "lr_g": trainer.opt_g.param_groups[0]["lr"], "wall_s": round(clock.elapsed, 1),
                       "it_per_s": (it - start_it) / max(time.perf_counter() - t0, 1e-9),
                       **{k: float(np.mean(v)) for k, v in window.items()}}
                log_csv.write(row)
                if tb is not None:
                    for k, v in row.items():
                        if k not in ("iteration", "epoch"):
                            tb.add_scalar(f"train/{k}", v, it)
                if bar is None:
                    say(f"iter {it:7d}  " + "  ".join(f"{k} {row[k]:.4g}" for k in window) +
                        f"  [{clock.elapsed / 60:.1f} min, {row['it_per_s']:.2f} it/s]")
                window = {}
            if it % cfg.val_every == 0 or it == cfg.total_iters:
                last_metrics = validate()
            elif it % cfg.sample_every == 0 and val is not None:
                _sample_grid(val["lq"][:8], trainer.restore(val["lq"][:8]), val["gt"][:8],
                             run_dir / f"samples_{it:07d}.png")
        if cfg.max_minutes > 0:  # every rank must leave the loop at the same iteration: rank 0 decides
            stop.fill_(float(clock.elapsed > cfg.max_minutes * 60))
            if _is_dist():
                torch.distributed.broadcast(stop, 0)
        if it % cfg.ckpt_every == 0 or it == cfg.total_iters or stop.item():
            checkpoint()
        if stop.item():
            say(f"stopped after {cfg.max_minutes} min at iteration {it}; run the same command again to continue")
            break
    if main_proc and bar is not None:
        bar.close()
    if out_path is not None and main_proc and trainer.iteration >= cfg.total_iters:
        _export(trainer, cfg, Path(out_path), clock.elapsed, last_metrics or validate(), say)
    if tb is not None:
        tb.close()
    _barrier()
    return trainer


def _export(trainer: GFPGANTrainer, cfg: TrainConfig, out_path: Path, wall_time: float, metrics: dict, say) -> None:
    """The trained generator in the official format, with a JSON sidecar saying how it was made."""
    from gfplib.checkpoints import save_weights as save_official

    save_official(out_path, params=trainer.net_g, params_ema=trainer.net_g_ema)
    record = sidecar_record(out_path, cfg, trainer.iteration, trainer.iteration * cfg.batch_size * trainer.world_size,
                            wall_time, " ".join(["python -m gfplib.train"] + sys.argv[1:]))
    record.update(arch="GFPGANv1Clean" if cfg.arch == "clean" else "GFPGANv1", validation=metrics,
                  world_size=trainer.world_size)
    write_sidecar(out_path.with_suffix(".json"), record)
    say(f"wrote {out_path} ({out_path.stat().st_size / 1e6:.2f} MB)")


# ----------------------------------------------------------------------------------------------- command line
def _parse_value(text: str, default):
    """Parse ``text`` as the type of ``default`` (bool, int, float, str, or a comma-separated tuple)."""
    if isinstance(default, bool):
        low = text.lower()
        if low not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")
        return low in ("1", "true", "yes", "on")
    if isinstance(default, tuple):
        kind = type(default[0]) if default else float
        return tuple(kind(float(x)) if kind is int else kind(x) for x in text.split(",") if x.strip())
    if isinstance(default, int):
        return int(float(text))  # 1e5 is fine for an iteration count
    if isinstance(default, float):
        return float(text)
    return text


def build_parser() -> argparse.ArgumentParser:
    """``--profile``, ``--ablation`` and one ``--field-name`` option per :class:`TrainConfig` field (``--loss.x``
    for the loss weights)."""
    p = argparse.ArgumentParser(prog="python -m gfplib.train", description=__doc__.split("\n\n")[0],
                                epilog="With --profile toy, --total-iters also scales the toy schedule (learning-rate "
                                       "milestones at 3/4 and 7/8, pyramid loss until 1/16 of the run).")
    p.add_argument("--profile", choices=PROFILES, default="toy", help="named configuration to start from")
    p.add_argument("--ablation", choices=sorted(ABLATIONS), action="append", default=[],
                   help="switch of the paper's ablations (repeatable), applied after the profile")
    p.add_argument("--fresh", action="store_true", help="ignore existing checkpoints in the run folder")
    p.add_argument("--out", default=None, help="write the final generator (official format) and a .json here")
    p.add_argument("--print-config", action="store_true", help="print the resulting configuration and exit")
    base = TrainConfig()
    for f in fields(TrainConfig):
        if f.name == "loss":
            continue
        kind = "run-time" if f.metadata.get("runtime") else "recipe"
        p.add_argument("--" + f.name.replace("_", "-"), dest=f.name, default=None, metavar="V",
                       help=f"[{kind}] paper default {getattr(base, f.name)!r}")
    for f in fields(LossConfig):
        p.add_argument(f"--loss.{f.name}", dest=f"loss.{f.name}", default=None, metavar="V",
                       help=f"[recipe] paper default {getattr(base.loss, f.name)!r}")
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    iters = _parse_value(args.total_iters, 0) if args.total_iters is not None else None
    cfg = TrainConfig.profile(args.profile, iters)  # toy: --total-iters also scales the schedule
    for name in args.ablation:
        cfg = ABLATIONS[name](cfg)
    changes, loss_changes = {}, {}
    for key, text in vars(args).items():
        if text is None or key in ("profile", "ablation", "fresh", "out", "print_config"):
            continue
        if key.startswith("loss."):
            name = key[5:]
            loss_changes[name] = _parse_value(text, getattr(cfg.loss, name))
        else:
            changes[key] = _parse_value(text, getattr(cfg, key))
    if loss_changes:
        changes["loss"] = replace(cfg.loss, **loss_changes)
    return replace(cfg, **changes)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    cfg = config_from_args(args)
    if args.print_config:
        print(cfg)
        return 0
    train(cfg, resume=not args.fresh, out_path=args.out)
    if _is_dist():
        torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
