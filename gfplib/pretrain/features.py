"""The toy perceptual network: a VGG19-layout feature extractor trained on toy faces.

A perceptual loss needs features that see *everything a viewer sees* in a face: who it is, but also the expression,
the light, the gaze. ImageNet VGG19 gets such features from 1,000-way object classification. The toy world has one
kind of object, so the toy network (:class:`gfplib.perceptual.VGGFeatureExtractor` with
:meth:`~gfplib.perceptual.VGGConfig.toy` widths, same 16 convolutions and layer names as VGG19) is trained on two
supervised tasks that together cover what is visible in a toy photo:

.. math::  \\mathcal L = \\mathrm{CE}\\big(W_{id}\\, h(x),\\ y_{id}\\big) + \\lambda\\, \\lVert W_{nz}\\, h(x) - v_{nz} \\rVert_2^2

with :math:`h(x)` the ``pool5`` output (globally pooled), :math:`y_{id}` the person and :math:`v_{nz}` the photo
conditions (smile, mouth opening, brow raise, eye opening, gaze, light direction and strength, exposure, colour
temperature, hair shine; :data:`gfplib.pretrain.data.NUISANCE_FIELDS`). Identity alone would make the features
*invariant* to expression and light — exactly what a restoration loss must not ignore; the regression keeps them.
Classification rather than a self-supervised objective keeps the analogy with ImageNet VGG (a supervised
classifier whose intermediate features are reused) and trains in minutes on 2 cores.

The network is trained with a BatchNorm after each convolution, folded into the convolution weights at the end
(:class:`_BNTrunk`), so the shipped net is a plain VGG19-layout network. Only the convolutional part is shipped (``data/toy_vgg.pth``, keys ``features.conv1_1.weight`` …, plus the
``mean``/``std`` input statistics of the toy training set as buffers); the two linear heads are discarded.

Command: ``python -m gfplib.pretrain features --profile toy``. Taught in ``notebooks/04_stylegan2_prior.ipynb``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Optional, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from gfplib.perceptual import VGGConfig, VGGFeatureExtractor
from gfplib.pretrain.common import (Stopwatch, cosine_lr, log_print, resume_trainer, save_checkpoint,
                                    shuffled_batch, sidecar_record, write_sidecar)
from gfplib.pretrain.data import NUISANCE_FIELDS, ToyFaceSet
from gfplib.utils import normalize

__all__ = ["FeatureNetConfig", "FeatureNetTrainer", "train_features", "ALL_CONV_LAYERS"]

#: Every layer the network is built up to (``pool5``: the classifier reads it).
ALL_CONV_LAYERS = ("conv1_2", "conv2_2", "conv3_4", "conv4_4", "conv5_4", "pool5")


@dataclass(frozen=True)
class FeatureNetConfig:
    """Toy perceptual network and its recipe.

    Args:
        widths: channel widths of the 5 VGG blocks.
        num_identities, photos_per_identity: training set (training people 0 … num_identities − 1).
        nuisance_weight: λ of the photo-condition regression.
        epochs, batch_size, lr, weight_decay: AdamW with a cosine schedule.
        seed, threads: reproducibility and CPU threads.
    """
    widths: Tuple[int, int, int, int, int] = VGGConfig.toy().widths
    num_identities: int = 2000
    photos_per_identity: int = 8
    nuisance_weight: float = 10.0  # balances the regression (≈ 0.16 at start) against the CE (≈ ln 2000 ≈ 7.6)
    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 5e-4
    seed: int = 0
    threads: int = 1  # one thread: much faster than two on a busy 2-core machine

    @classmethod
    def toy(cls) -> "FeatureNetConfig":
        return cls()

    @classmethod
    def smoke(cls) -> "FeatureNetConfig":
        return cls(widths=(2, 2, 4, 4, 4), num_identities=4, photos_per_identity=2, epochs=1, batch_size=8)


class _BNTrunk(nn.Module):
    """The VGG19 layout with a BatchNorm after every convolution — for *training* only.

    A 16-convolution VGG without normalisation barely trains from scratch (the original VGG19 was initialised from
    shallower trained nets). Training with BN and folding each BN into its convolution afterwards
    (:meth:`export`) gives a plain VGG19-layout network whose ``conv*`` outputs equal the BN outputs in eval mode:

    .. math::  W' = W \\cdot \\frac{\\gamma}{\\sqrt{\\sigma^2_{run} + \\epsilon}}, \\qquad
               b' = (b - \\mu_{run}) \\frac{\\gamma}{\\sqrt{\\sigma^2_{run} + \\epsilon}} + \\beta
    """

    def __init__(self, cfg: VGGConfig):
        super().__init__()
        self.cfg = cfg
        self.ref = VGGFeatureExtractor(ALL_CONV_LAYERS, cfg, requires_grad=True)  # convs, pools, input norm
        for m in self.ref.modules():  # torchvision's VGG initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
        self.bns = nn.ModuleDict({name: nn.BatchNorm2d(layer.out_channels)
                                  for name, layer in self.ref.features.named_children()
                                  if isinstance(layer, nn.Conv2d)})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ref.normalize(x)
        for name, layer in self.ref.features.named_children():
            h = layer(h)
            if name in self.bns:
                h = self.bns[name](h)
        return h  # pool5 output (B, C5, H/32, W/32)

    @torch.no_grad()
    def export(self) -> VGGFeatureExtractor:
        """A plain :class:`VGGFeatureExtractor` with every BN folded into its convolution (frozen)."""
        net = VGGFeatureExtractor(ALL_CONV_LAYERS, self.cfg)
        net.load_state_dict(self.ref.state_dict())
        for name, bn in self.bns.items():
            conv = getattr(net.features, name)
            k = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # γ / √(σ² + ε)   (C,)
            conv.weight.mul_(k.view(-1, 1, 1, 1))  # W' = W·k
            conv.bias.copy_((conv.bias - bn.running_mean) * k + bn.bias)  # b' = (b − μ)·k + β
        return net.eval().requires_grad_(False)


class _Classifier(nn.Module):
    """Feature trunk + identity and photo-condition heads on the globally pooled ``pool5``."""

    def __init__(self, trunk: _BNTrunk, num_classes: int, num_nuisance: int):
        super().__init__()
        self.trunk = trunk
        c = trunk.cfg.widths[-1]
        self.id_head = nn.Linear(c, num_classes)
        self.nz_head = nn.Linear(c, num_nuisance)

    def forward(self, x: torch.Tensor):
        h = self.trunk(x).mean((2, 3))  # (B, C5)
        return self.id_head(h), self.nz_head(h)


class FeatureNetTrainer:
    def __init__(self, cfg: FeatureNetConfig, train_set: ToyFaceSet):
        self.cfg = cfg
        torch.manual_seed(cfg.seed)
        self.rng = torch.Generator().manual_seed(cfg.seed)
        x01 = train_set.images.float() / 255.0  # (N, 3, H, W) in [0, 1]
        mean = tuple(round(v, 4) for v in x01.mean((0, 2, 3)).tolist())  # the toy world's "ImageNet mean"
        std = tuple(round(v, 4) for v in x01.std((0, 2, 3)).tolist())
        vgg_cfg = replace(VGGConfig.toy(), widths=tuple(cfg.widths), mean=mean, std=std)
        trunk = _BNTrunk(vgg_cfg)
        self.classes, self.targets = torch.unique(train_set.identity, return_inverse=True)
        self.images = train_set.images
        self.nuisance = train_set.nuisance
        self.model = _Classifier(trunk, len(self.classes), len(NUISANCE_FIELDS))
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.steps_per_epoch = max(1, len(self.images) // cfg.batch_size)
        self.total_steps = self.steps_per_epoch * cfg.epochs
        self.step = 0
        self.perm = torch.randperm(len(self.images), generator=self.rng)

    def export(self) -> VGGFeatureExtractor:
        """The trained feature network: BN folded in, heads dropped, frozen."""
        return self.model.trunk.export()

    def lr_at(self, step: int) -> float:
        return cosine_lr(self.cfg.lr, step, self.total_steps)

    def train_step(self) -> dict:
        cfg = self.cfg
        self.perm, idx = shuffled_batch(self.perm, self.step, self.steps_per_epoch, cfg.batch_size, self.rng)
        x = normalize(self.images[idx])  # (B, 3, H, W) in [-1, 1]
        y, v = self.targets[idx], self.nuisance[idx]
        for g in self.opt.param_groups:
            g["lr"] = self.lr_at(self.step)
        self.model.train()
        logits, v_hat = self.model(x)
        loss_id = F.cross_entropy(logits, y)
        loss_nz = F.mse_loss(v_hat, v)
        loss = loss_id + cfg.nuisance_weight * loss_nz  # CE(identity) + λ‖v̂ − v‖²
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.step += 1
        return {"loss_id": loss_id.item(), "loss_nuisance": loss_nz.item(),
                "train_acc": (logits.argmax(1) == y).float().mean().item()}

    def state_dict(self, wall_time: float) -> dict:
        return {"cfg": asdict(self.cfg), "model": self.model.state_dict(), "opt": self.opt.state_dict(),
                "step": self.step, "rng": self.rng.get_state(), "perm": self.perm, "wall_time": wall_time}

    def load_state_dict(self, state: dict) -> float:
        if state["cfg"] != asdict(self.cfg):
            raise ValueError("checkpoint was made with a different recipe; use another run folder or --fresh")
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        self.step = int(state["step"])
        self.rng.set_state(state["rng"])
        self.perm = state["perm"]
        return float(state["wall_time"])

    @torch.no_grad()
    def nuisance_r2(self, test_set: ToyFaceSet) -> float:
        """R² of the photo-condition regression on other faces (how much of the photo the features explain)."""
        self.model.eval()
        x = normalize(test_set.images)
        v_hat = torch.cat([self.model(x[i:i + 256])[1] for i in range(0, len(x), 256)])
        v = test_set.nuisance
        return float(1 - ((v_hat - v) ** 2).sum() / ((v - v.mean(0)) ** 2).sum())


def train_features(cfg: FeatureNetConfig, train_set: ToyFaceSet, run_dir, out_path: Optional[Path] = None,
                   test_set: Optional[ToyFaceSet] = None, resume: bool = True, checkpoint_every: int = 200,
                   log_every: int = 50, extra_record: Optional[dict] = None, print_fn=None) -> FeatureNetTrainer:
    """Train (or resume) the toy VGG; write ``{'params': trunk state dict}`` and a sidecar to ``out_path``."""
    torch.set_num_threads(cfg.threads)
    run_dir = Path(run_dir)
    print_fn = print_fn or log_print
    trainer = FeatureNetTrainer(cfg, train_set)
    previous = resume_trainer(trainer, run_dir, resume, print_fn)
    clock = Stopwatch(previous)
    while trainer.step < trainer.total_steps:
        log = trainer.train_step()
        if trainer.step % log_every == 0:
            print_fn(f"step {trainer.step}/{trainer.total_steps}  "
                     + "  ".join(f"{k} {v:.3f}" for k, v in log.items()) + f"  [{clock.elapsed / 60:.1f} min]")
        if trainer.step % checkpoint_every == 0 or trainer.step == trainer.total_steps:
            save_checkpoint(trainer.state_dict(clock.elapsed), run_dir, trainer.step * cfg.batch_size)
    trunk = trainer.export()
    if out_path is not None:
        out_path = Path(out_path)
        torch.save({"params": trunk.state_dict()}, out_path)
        record = sidecar_record(out_path, cfg, trainer.step, trainer.step * cfg.batch_size, clock.elapsed,
                                "python -m gfplib.pretrain features --profile toy")
        record.update(arch="gfplib.perceptual.VGGFeatureExtractor", vgg_config=asdict(trunk.config),
                      objective=f"identity classification + photo-condition regression ({', '.join(NUISANCE_FIELDS)})",
                      final_losses={k: round(v, 4) for k, v in log.items()} if trainer.step else {})
        if test_set is not None:
            record["nuisance_r2_other_photos"] = round(trainer.nuisance_r2(test_set), 4)
            print_fn(f"photo-condition R² on other photos: {record['nuisance_r2_other_photos']:.3f}")
        record.update(extra_record or {})
        write_sidecar(out_path.with_suffix(".json"), record)
        print_fn(f"wrote {out_path} ({out_path.stat().st_size / 1e6:.2f} MB)")
    return trainer
