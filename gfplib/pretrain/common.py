"""Plumbing shared by the three toy-world trainers: resumable checkpoints, EMA, sidecars, sample grids.

A trainer is interrupted on a laptop or Colab more often than not, so every trainer here writes a checkpoint of its
*whole* state (networks, optimisers, RNG states, images seen, wall time so far) to ``runs/<name>/`` every few
thousand images and, when started again with the same command, continues from the newest one. The shipped file in
``data/`` is written once at the end, next to a JSON sidecar that records how it was made.

Taught in ``notebooks/04_stylegan2_prior.ipynb`` (the recipe of the shipped toy prior).
"""
from __future__ import annotations

import json
import math
import os
import platform
import re
import time
from dataclasses import asdict
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from gfplib.weights import sha256_file  # re-exported: one hashing helper for the whole package

__all__ = ["sha256_file", "save_checkpoint", "read_checkpoint", "CheckpointError", "latest_checkpoint",
           "prune_checkpoints", "ema_update",
           "ema_beta", "equalized_lr_param_groups", "write_sidecar", "save_image_grid", "repo_root",
           "Stopwatch", "log_print", "resume_trainer", "sidecar_record", "cosine_lr",
           "shuffled_batch"]


def log_print(*args) -> None:
    """``print`` that flushes at once, so that a log redirected to a file (``nohup … > runs/x.log``) is live."""
    print(*args, flush=True)


def repo_root() -> Path:
    """The repository root (parent of the ``gfplib`` package); ``runs/`` and ``data/`` live there."""
    return Path(__file__).resolve().parent.parent.parent


_CKPT_RE = re.compile(r"^ckpt_(\d{9})\.pt$")


def save_checkpoint(state: dict, run_dir: "os.PathLike[str]", counter: int, keep: int = 2) -> Path:
    """Write ``state`` to ``run_dir/ckpt_<counter>.pt`` atomically, keep the newest ``keep``; return the path.

    ``counter`` is whatever the trainer counts (images seen, iterations). The bytes go to ``ckpt_….pt.tmp``, are
    flushed to disk, and only then renamed (``os.replace`` is atomic): a run killed mid-write leaves at most a stray
    ``.tmp`` file, never a truncated ``ckpt_….pt``. Shared by the toy pretraining recipes and :mod:`gfplib.train`.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / f"ckpt_{int(counter):09d}.pt"
    tmp = path.with_suffix(".pt.tmp")
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())  # the data is on disk before the name points at it
    os.replace(tmp, path)  # atomic: readers see the old file set or the complete new file
    prune_checkpoints(run_dir, keep)
    return path


class CheckpointError(ValueError):
    """A training checkpoint that cannot be used: unreadable, truncated, or made by another recipe. Names the file."""


def read_checkpoint(path: "os.PathLike[str]", map_location="cpu") -> dict:
    """Load a training checkpoint with ``torch.load(weights_only=True)`` (tensors and plain containers only).

    Raises:
        CheckpointError: naming ``path``, when the file is missing, corrupt, truncated or not a checkpoint dict.
    """
    path = Path(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # truncated zip, random bytes, pickled code that weights_only refuses, missing file …
        raise CheckpointError(f"cannot read training checkpoint {path}: {type(err).__name__}: "
                              f"{str(err).splitlines()[0] if str(err) else ''} — the file is corrupt or truncated; "
                              f"delete it to resume from the previous checkpoint, or start a new run folder") from err
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} is not a training checkpoint (a dict), got {type(state).__name__}")
    return state


def _checkpoints(run_dir: Path) -> List[Path]:
    if not run_dir.is_dir():
        return []
    return sorted(p for p in run_dir.iterdir() if _CKPT_RE.match(p.name))


def latest_checkpoint(run_dir: "os.PathLike[str]") -> Optional[Path]:
    """The checkpoint with the most images seen in ``run_dir``, or ``None``."""
    ckpts = _checkpoints(Path(run_dir))
    return ckpts[-1] if ckpts else None


def prune_checkpoints(run_dir: "os.PathLike[str]", keep: int) -> None:
    for p in _checkpoints(Path(run_dir))[:-keep]:
        p.unlink()


def ema_beta(batch_size: int, images_seen: int, half_life_images: float, rampup: Optional[float]) -> float:
    """Per-step EMA decay for a half-life measured in images (StyleGAN2: 10k images).

    .. math::  \\beta = 0.5^{B / h}, \\qquad h = \\min(h_0,\\ r \\cdot \\text{images seen}) \\ \\text{(ramp-up)}

    The ramp-up (StyleGAN2-ADA) keeps the average short early on, so that it does not drag along the random init.
    """
    h = half_life_images
    if rampup is not None:
        h = min(h, images_seen * rampup)
    return 0.5 ** (batch_size / max(h, 1e-8))  # β = 0.5^(B/h)


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, beta: float) -> None:
    """``θ_ema ← β θ_ema + (1 − β) θ`` for every parameter; buffers are copied (the official GFPGAN EMA averages
    parameters only)."""
    for p_ema, p in zip(ema.parameters(), model.parameters()):
        p_ema.lerp_(p.detach(), 1.0 - beta)  # θ_ema + (1−β)(θ − θ_ema)
    for b_ema, b in zip(ema.buffers(), model.buffers()):
        b_ema.copy_(b)


def equalized_lr_param_groups(model: nn.Module, lr: float, lr_mul: Optional[Dict[str, float]] = None
                              ) -> List[dict]:
    """Adam parameter groups that give a *plainly parametrised* network StyleGAN's equalised-lr dynamics.

    The official StyleGAN2 stores every weight as :math:`\\hat w \\sim \\mathcal N(0, 1)` and uses
    :math:`w = c\\,\\hat w` with the He constant :math:`c = 1/\\sqrt{\\text{fan\\_in}}`. Adam's step does not depend on
    the gradient's scale, so an Adam step of size :math:`\\eta` on :math:`\\hat w` is a step of :math:`\\eta c` on
    :math:`w`. The "clean" generator stores :math:`w` directly (initialised with std :math:`\\approx c`), so giving
    each of its weights the learning rate :math:`\\eta c` reproduces the official training dynamics exactly (up to
    Adam's ε). Layers that already carry an equalised scale (``EqualConv2d``, ``EqualLinear``: an attribute
    ``scale``) and biases/constants keep :math:`\\eta`.

    Args:
        model: the network.
        lr: the base learning rate :math:`\\eta`.
        lr_mul: extra multipliers per parameter-name prefix, e.g. ``{"style_mlp.": 0.01}`` (StyleGAN's ``lr_mlp``).
    """
    lr_mul = lr_mul or {}
    groups: Dict[float, List[nn.Parameter]] = {}
    for mod_name, module in model.named_modules():
        for p_name, p in module.named_parameters(recurse=False):
            full = f"{mod_name}.{p_name}" if mod_name else p_name
            scale = 1.0
            equalized = hasattr(module, "scale") and not isinstance(getattr(module, "scale"), torch.Tensor)
            if p_name == "weight" and p.ndim >= 2 and not equalized:
                fan_in = p[0].numel() if p.ndim != 5 else p[0, 0].numel()  # ModulatedConv2d: (1, out, in, k, k)
                scale = 1.0 / math.sqrt(fan_in)  # c = 1/√fan_in
            for prefix, mul in lr_mul.items():
                if full.startswith(prefix):
                    scale *= mul
            groups.setdefault(lr * scale, []).append(p)
    return [{"params": ps, "lr": g_lr} for g_lr, ps in groups.items()]


def write_sidecar(path: "os.PathLike[str]", record: dict) -> None:
    """Write a JSON sidecar (sorted keys, 2-space indent) with the environment recorded next to ``record``."""
    record = dict(record)
    record.setdefault("torch_version", torch.__version__)
    record.setdefault("python_version", platform.python_version())
    record.setdefault("machine", f"{platform.system()} {platform.machine()}")
    Path(path).write_text(json.dumps(record, indent=2, sort_keys=True, default=_json_default) + "\n",
                          encoding="utf-8")


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, (tuple, set)):
        return list(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def save_image_grid(images: torch.Tensor, path: "os.PathLike[str]", nrow: int = 8, upscale: int = 2) -> None:
    """Save a batch ``(N, 3, H, W)`` in [-1, 1] as one PNG grid (nearest-neighbour ``upscale`` for viewing)."""
    import cv2

    from gfplib.utils import tensor2img

    imgs = tensor2img(images.detach().cpu().float(), bgr=True)  # (N, H, W, 3) uint8 BGR
    n, h, w, _ = imgs.shape
    ncol = min(nrow, n)
    nrows = math.ceil(n / ncol)
    grid = np.full((nrows * (h + 1) + 1, ncol * (w + 1) + 1, 3), 255, np.uint8)
    for i, im in enumerate(imgs):
        r, c = divmod(i, ncol)
        grid[1 + r * (h + 1):1 + r * (h + 1) + h, 1 + c * (w + 1):1 + c * (w + 1) + w] = im
    if upscale > 1:
        grid = cv2.resize(grid, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_NEAREST)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), grid):
        raise OSError(f"could not write {path}")


def resume_trainer(trainer, run_dir: "os.PathLike[str]", resume: bool, print_fn) -> float:
    """Load the newest checkpoint of ``run_dir`` into ``trainer`` (when ``resume``); return the seconds already spent.

    Raises:
        CheckpointError: naming the file, if it cannot be read or does not fit the trainer (another recipe).
    """
    ckpt = latest_checkpoint(run_dir) if resume else None
    if ckpt is None:
        return 0.0
    state = read_checkpoint(ckpt)
    try:
        previous = trainer.load_state_dict(state)
    except (KeyError, ValueError, RuntimeError, TypeError) as err:
        raise CheckpointError(f"{ckpt} does not fit this trainer: {err}") from err
    print_fn(f"resumed from {ckpt.name} at step {trainer.step} ({previous / 60:.1f} min so far)")
    return previous


def sidecar_record(out_path: Path, cfg, steps: int, images_seen: int, wall_time_s: float, command: str) -> dict:
    """The fields every shipped file's JSON sidecar starts with (file, hash, size, recipe, seed, cost, command)."""
    return {"name": out_path.stem, "file": out_path.name, "sha256": sha256_file(out_path),
            "size_bytes": out_path.stat().st_size, "recipe": asdict(cfg), "seed": cfg.seed, "steps": steps,
            "images_seen": images_seen, "wall_time_s": round(wall_time_s, 1), "threads": cfg.threads,
            "command": command}


def cosine_lr(base_lr: float, step: int, total_steps: int) -> float:
    """Cosine decay from ``base_lr`` at step 0 to 0 at ``total_steps``: η_t = η · ½ (1 + cos(π t / T))."""
    return base_lr * 0.5 * (1 + math.cos(math.pi * min(step / total_steps, 1.0)))


def shuffled_batch(perm: torch.Tensor, step: int, steps_per_epoch: int, batch_size: int,
                   generator: torch.Generator) -> Tuple[torch.Tensor, torch.Tensor]:
    """Indices of training step ``step`` in epoch-wise shuffled passes over ``len(perm)`` samples.

    A new permutation is drawn from ``generator`` at the start of every epoch after the first (the first one is the
    trainer's initial ``perm``). Returns ``(perm, indices)``; keep the returned ``perm`` for the next step.
    """
    k = step % steps_per_epoch
    if k == 0 and step > 0:
        perm = torch.randperm(len(perm), generator=generator)
    return perm, perm[k * batch_size:(k + 1) * batch_size]


class Stopwatch:
    """Wall time accumulated over resumed runs: ``elapsed = previous runs + this run``."""

    def __init__(self, previous: float = 0.0):
        self.previous = float(previous)
        self.start = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return self.previous + time.perf_counter() - self.start
