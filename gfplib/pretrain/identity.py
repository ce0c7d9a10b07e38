"""The toy identity network: a small ResNet-ArcFace trained with the additive angular margin loss on toy people.

GFPGAN's identity preserving loss (身份保留损失, paper Sec. 3.5, Eq. 8) compares ArcFace embeddings :math:`\\eta(\\cdot)` of
the restored face and the ground truth: :math:`\\mathcal L_{id} = \\lambda_{id} \\lVert \\eta(\\hat y) - \\eta(y)\\rVert_1`.
The official :math:`\\eta` is a ResNet-18 ArcFace on gray 128² faces. The toy world's :math:`\\eta` is the same
family (:class:`ToyResNetArcFace`: IR blocks, BN–dropout–FC–BN head, gray input made with the official weights
``0.2989 R + 0.5870 G + 0.1140 B``) at toy width and input size, trained here with ArcFace's loss (Deng et al.,
CVPR 2019, https://arxiv.org/abs/1801.07698, Eq. 3):

.. math::  \\mathcal L = -\\log \\frac{e^{s\\cos(\\theta_{y}+m)}}{e^{s\\cos(\\theta_{y}+m)} + \\sum_{j\\ne y} e^{s\\cos\\theta_j}}

Quality is *verification* on people never seen in training: pairs of photos of one person (different expression,
light, pose) must be more similar (cosine) than photos of two people; the threshold is chosen on training people.

Command: ``python -m gfplib.pretrain identity --profile toy``. Taught in ``notebooks/04_stylegan2_prior.ipynb``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from gfplib.archs.arcface import ArcMarginProduct, ResNetArcFace, _BLOCKS, init_arcface_weights
from gfplib.pretrain.common import (Stopwatch, cosine_lr, log_print, resume_trainer, save_checkpoint,
                                    shuffled_batch, sidecar_record, write_sidecar)
from gfplib.pretrain.data import ToyFaceSet, to_gray
from gfplib.utils import normalize

__all__ = ["ToyResNetArcFace", "IdentityConfig", "identity_embedding", "verification_pairs", "best_threshold",
           "verification_accuracy", "VerificationResult", "evaluate_verification", "train_identity"]


class ToyResNetArcFace(ResNetArcFace):
    """:class:`~gfplib.archs.ResNetArcFace` with its width, input size and embedding size as arguments.

    ``ToyResNetArcFace(layers=(2, 2, 2, 2), width=64, in_size=128, num_feat=512)`` has the official layout and
    state-dict keys; the toy network is ``width=16, in_size=32, num_feat=128``.

    Args:
        block: ``'IRBlock'`` (official), ``'BasicBlock'`` or ``'Bottleneck'``.
        layers: blocks per stage.
        use_se: squeeze-and-excitation in every block.
        width: channels of the first stage (stages: width·(1, 2, 4, 8)).
        in_size: side of the gray input (a multiple of 16: the trunk halves it four times).
        num_feat: embedding dimension.
    """

    def __init__(self, block: str = "IRBlock", layers: Sequence[int] = (2, 2, 2, 2), use_se: bool = False,
                 width: int = 16, in_size: int = 32, num_feat: int = 128) -> None:
        nn.Module.__init__(self)  # the layers are built here with free widths, by the parent's own _make_layer
        if block not in _BLOCKS:
            raise ValueError(f"unknown block {block!r}; expected one of {sorted(_BLOCKS)}")
        if in_size % 16 or in_size < 16:
            raise ValueError(f"in_size must be a multiple of 16 (≥ 16), got {in_size}")
        if len(layers) != 4 or any(int(n) < 1 for n in layers):
            raise ValueError(f"layers must be 4 positive block counts, got {tuple(layers)}")
        blk = _BLOCKS[block]
        self.in_size, self.width, self.num_feat = in_size, width, num_feat
        self.inplanes = width
        self.use_se = use_se
        self.conv1 = nn.Conv2d(1, width, kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.prelu = nn.PReLU()
        self.maxpool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.layer1 = self._make_layer(blk, width, layers[0])
        self.layer2 = self._make_layer(blk, width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(blk, width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(blk, width * 8, layers[3], stride=2)
        out_c = width * 8 * blk.expansion
        self.bn4 = nn.BatchNorm2d(out_c)
        self.dropout = nn.Dropout()
        side = in_size // 16
        self.fc5 = nn.Linear(out_c * side * side, num_feat)
        self.bn5 = nn.BatchNorm1d(num_feat)
        init_arcface_weights(self)  # the official initialisation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x ``(B, 1, in_size, in_size)`` gray faces in [-1, 1]. Returns ``(B, num_feat)`` embeddings."""
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise TypeError("ToyResNetArcFace expects a floating-point torch.Tensor")
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, self.in_size, self.in_size):
            raise ValueError(f"expects gray faces of shape (B, 1, {self.in_size}, {self.in_size}), got "
                             f"{tuple(x.shape)} (convert RGB with identity_embedding / to_gray)")
        x = self.maxpool(self.prelu(self.bn1(self.conv1(x))))  # (B, w, S/2, S/2)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (B, 8w, S/16, S/16)
        x = self.dropout(self.bn4(x))
        x = self.fc5(x.flatten(1))  # (B, num_feat)
        return self.bn5(x)


def identity_embedding(net: nn.Module, rgb: torch.Tensor) -> torch.Tensor:
    """RGB faces ``(B, 3, H, W)`` in [-1, 1] → L2-normalised identity embeddings ``(B, D)``.

    Preprocessing as GFPGAN's identity loss: gray with the official weights, bilinear resize to the net's input.
    """
    size = getattr(net, "in_size", 128)
    return F.normalize(net(to_gray(rgb, size)), dim=1)


@dataclass(frozen=True)
class IdentityConfig:
    """Toy identity network and its training recipe.

    Args:
        block, layers, use_se, width, in_size, num_feat: architecture (see :class:`ToyResNetArcFace`).
        num_identities, photos_per_identity: training set (training people 0 … num_identities − 1).
        margin_s, margin_m: ArcFace scale and additive angular margin (radians).
        epochs, batch_size, lr, weight_decay: AdamW with a cosine schedule.
        seed, threads: reproducibility and CPU threads.
    """
    block: str = "IRBlock"
    layers: Tuple[int, int, int, int] = (2, 2, 2, 2)  # the ResNet-18 layout of the official network
    use_se: bool = False
    width: int = 16  # official 64: stages 16/32/64/128 channels
    in_size: int = 32  # official 128: the toy faces are 32² (a resize would add pixels, not information)
    num_feat: int = 128  # official 512
    num_identities: int = 2000
    photos_per_identity: int = 8
    margin_s: float = 32.0  # official 64; a smaller sphere trains faster from scratch on 2,000 classes
    margin_m: float = 0.35  # official 0.5
    epochs: int = 8
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 5e-4
    seed: int = 0
    threads: int = 1  # one thread: much faster than two on a busy 2-core machine

    @classmethod
    def toy(cls) -> "IdentityConfig":
        return cls()

    @classmethod
    def smoke(cls) -> "IdentityConfig":
        return cls(width=4, num_feat=8, num_identities=4, photos_per_identity=2, epochs=1, batch_size=8)

    def arch_kwargs(self) -> dict:
        return dict(block=self.block, layers=tuple(self.layers), use_se=self.use_se, width=self.width,
                    in_size=self.in_size, num_feat=self.num_feat)


# ---------------------------------------------------------------------------------------------- verification
def verification_pairs(labels: np.ndarray, rng: np.random.Generator, max_pairs: int = 5000
                       ) -> Tuple[np.ndarray, np.ndarray]:
    """All same-person pairs (up to ``max_pairs``) and as many random different-person pairs.

    Returns:
        ``pairs (P, 2)`` indices into ``labels`` and ``same (P,)`` booleans.
    """
    labels = np.asarray(labels)
    same = [(i, j) for i in range(len(labels)) for j in range(i + 1, len(labels)) if labels[i] == labels[j]]
    if not same:
        raise ValueError("no two faces share an identity: need several photos per person")
    same = np.array(same)
    if len(same) > max_pairs:
        same = same[rng.choice(len(same), max_pairs, replace=False)]
    diff = []
    while len(diff) < len(same):
        i, j = rng.integers(len(labels), size=2)
        if labels[i] != labels[j]:
            diff.append((i, j))
    pairs = np.concatenate([same, np.array(diff)])
    return pairs, np.concatenate([np.ones(len(same), bool), np.zeros(len(diff), bool)])


def best_threshold(sims: np.ndarray, same: np.ndarray) -> float:
    """The cosine threshold that maximises verification accuracy on ``(sims, same)`` (midpoint between values)."""
    order = np.sort(np.unique(sims))
    cands = np.concatenate([[order[0] - 1e-6], (order[:-1] + order[1:]) / 2, [order[-1] + 1e-6]])
    accs = [np.mean((sims > t) == same) for t in cands]
    return float(cands[int(np.argmax(accs))])


def verification_accuracy(sims: np.ndarray, same: np.ndarray, threshold: float) -> float:
    """Fraction of pairs classified correctly by "same person ⇔ cosine > threshold"."""
    return float(np.mean((np.asarray(sims) > threshold) == np.asarray(same)))


class VerificationResult(NamedTuple):
    accuracy: float  # held-out people, threshold from training people
    threshold: float
    train_accuracy: float  # training people at their own best threshold
    mean_same: float  # mean cosine of same-person pairs (held out)
    mean_diff: float  # mean cosine of different-person pairs (held out)
    num_pairs: int


@torch.no_grad()
def _pair_sims(net: nn.Module, images: torch.Tensor, labels: np.ndarray, rng: np.random.Generator):
    x = normalize(images) if images.dtype == torch.uint8 else images
    emb = torch.cat([identity_embedding(net, x[i:i + 256]) for i in range(0, len(x), 256)])
    pairs, same = verification_pairs(labels, rng)
    sims = (emb[pairs[:, 0]] * emb[pairs[:, 1]]).sum(1).numpy()
    return sims, same


def evaluate_verification(net: nn.Module, train_set: ToyFaceSet, test_set: ToyFaceSet, seed: int = 0
                          ) -> VerificationResult:
    """Verification accuracy on ``test_set`` (held-out people) at the threshold that is best on ``train_set``."""
    net.eval()
    rng = np.random.default_rng(seed)
    s_tr, y_tr = _pair_sims(net, train_set.images, train_set.identity.numpy(), rng)
    thr = best_threshold(s_tr, y_tr)
    s_te, y_te = _pair_sims(net, test_set.images, test_set.identity.numpy(), rng)
    return VerificationResult(verification_accuracy(s_te, y_te, thr), thr, verification_accuracy(s_tr, y_tr, thr),
                              float(s_te[y_te].mean()), float(s_te[~y_te].mean()), int(len(y_te)))


# -------------------------------------------------------------------------------------------------- training
class IdentityTrainer:
    """Network + ArcFace head + AdamW; one ``train_step`` per batch."""

    def __init__(self, cfg: IdentityConfig, train_set: ToyFaceSet):
        self.cfg = cfg
        torch.manual_seed(cfg.seed)
        self.rng = torch.Generator().manual_seed(cfg.seed)
        self.net = ToyResNetArcFace(**cfg.arch_kwargs())
        ids = train_set.identity
        self.classes, self.targets = torch.unique(ids, return_inverse=True)  # person id → class index 0…K−1
        self.images = train_set.images
        self.head = ArcMarginProduct(cfg.num_feat, len(self.classes), s=cfg.margin_s, m=cfg.margin_m)
        params = list(self.net.parameters()) + list(self.head.parameters())
        self.opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.steps_per_epoch = max(1, len(self.images) // cfg.batch_size)
        self.total_steps = self.steps_per_epoch * cfg.epochs
        self.step = 0
        self.perm = torch.randperm(len(self.images), generator=self.rng)

    def lr_at(self, step: int) -> float:
        return cosine_lr(self.cfg.lr, step, self.total_steps)

    def train_step(self) -> dict:
        cfg = self.cfg
        self.perm, idx = shuffled_batch(self.perm, self.step, self.steps_per_epoch, cfg.batch_size, self.rng)
        x = normalize(self.images[idx])  # (B, 3, H, W) in [-1, 1]
        flip = torch.rand(len(idx), generator=self.rng) < 0.5
        x[flip] = x[flip].flip(-1)
        y = self.targets[idx]
        for g in self.opt.param_groups:
            g["lr"] = self.lr_at(self.step)
        self.net.train()
        emb = self.net(to_gray(x, cfg.in_size))  # (B, num_feat)
        logits = self.head(emb, y)  # s·cos(θ + m·[j = y])
        loss = F.cross_entropy(logits, y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.step += 1
        with torch.no_grad():
            acc = (self.head.cosine(emb).argmax(1) == y).float().mean().item()
        return {"loss": loss.item(), "train_acc": acc}

    def state_dict(self, wall_time: float) -> dict:
        return {"cfg": asdict(self.cfg), "net": self.net.state_dict(), "head": self.head.state_dict(),
                "opt": self.opt.state_dict(), "step": self.step, "rng": self.rng.get_state(), "perm": self.perm,
                "torch_rng": torch.get_rng_state(), "wall_time": wall_time}  # torch_rng: the dropout masks

    def load_state_dict(self, state: dict) -> float:
        if state["cfg"] != asdict(self.cfg):
            raise ValueError("checkpoint was made with a different recipe; use another run folder or --fresh")
        self.net.load_state_dict(state["net"])
        self.head.load_state_dict(state["head"])
        self.opt.load_state_dict(state["opt"])
        self.step = int(state["step"])
        self.rng.set_state(state["rng"])
        self.perm = state["perm"]
        if "torch_rng" in state:  # checkpoints written before it was saved resume with other dropout masks
            torch.set_rng_state(state["torch_rng"])
        return float(state["wall_time"])


def train_identity(cfg: IdentityConfig, train_set: ToyFaceSet, run_dir, out_path: Optional[Path] = None,
                   eval_sets: Optional[Tuple[ToyFaceSet, ToyFaceSet]] = None, resume: bool = True,
                   checkpoint_every: int = 200, log_every: int = 50, extra_record: Optional[dict] = None,
                   print_fn=None) -> IdentityTrainer:
    """Train (or resume) the toy identity network; write ``{'params': state_dict}`` and a sidecar to ``out_path``.

    Args:
        eval_sets: ``(threshold set of training people, held-out people)`` for the final verification metric.
    """
    torch.set_num_threads(cfg.threads)
    run_dir = Path(run_dir)
    print_fn = print_fn or log_print
    trainer = IdentityTrainer(cfg, train_set)
    previous = resume_trainer(trainer, run_dir, resume, print_fn)
    clock = Stopwatch(previous)
    while trainer.step < trainer.total_steps:
        log = trainer.train_step()
        if trainer.step % log_every == 0:
            print_fn(f"step {trainer.step}/{trainer.total_steps}  loss {log['loss']:.3f}  "
                     f"train acc {log['train_acc']:.3f}  lr {trainer.lr_at(trainer.step):.2e}  "
                     f"[{clock.elapsed / 60:.1f} min]")
        if trainer.step % checkpoint_every == 0 or trainer.step == trainer.total_steps:
            save_checkpoint(trainer.state_dict(clock.elapsed), run_dir, trainer.step * cfg.batch_size)
    trainer.net.eval()
    if out_path is not None:
        out_path = Path(out_path)
        torch.save({"params": trainer.net.state_dict()}, out_path)
        record = sidecar_record(out_path, cfg, trainer.step, trainer.step * cfg.batch_size, clock.elapsed,
                                "python -m gfplib.pretrain identity --profile toy")
        record.update(arch="ToyResNetArcFace (gfplib.pretrain.identity)", arch_kwargs=cfg.arch_kwargs(),
                      preprocessing="gray = 0.2989 R + 0.5870 G + 0.1140 B of RGB in [-1, 1]; bilinear resize to "
                                    f"{cfg.in_size}x{cfg.in_size}")
        if eval_sets is not None:
            res = evaluate_verification(trainer.net, *eval_sets)
            record["verification"] = {k: (round(v, 4) if isinstance(v, float) else v)
                                      for k, v in res._asdict().items()}
            print_fn(f"held-out verification accuracy {res.accuracy:.4f} (threshold {res.threshold:.3f}, "
                     f"same {res.mean_same:.3f} vs different {res.mean_diff:.3f})")
        record.update(extra_record or {})
        write_sidecar(out_path.with_suffix(".json"), record)
        print_fn(f"wrote {out_path} ({out_path.stat().st_size / 1e6:.2f} MB)")
    return trainer
