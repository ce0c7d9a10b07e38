r"""Load official GFPGAN / StyleGAN2 checkpoint files into gfplib's networks, checked key by key.

GFP-GAN (https://arxiv.org/abs/2101.04061) Sec. 3.3 initialises its decoder with a pretrained StyleGAN2 — the
*generative facial prior* (生成式人脸先验) — and keeps it frozen while the degradation-removal module and the CS-SFT
layers learn. This module holds the two operations that implement that sentence, plus the checkpoint plumbing around
them. Taught in ``notebooks/03_unet_pyramid.ipynb`` (and used wherever official weights are loaded).

Official checkpoint format (basicsr's ``save_network``): a dict ``{"params_ema": state_dict}`` (EMA generator, what
inference uses), ``{"params": state_dict}`` (raw training weights; discriminators), both, or a raw state dict
(ArcFace); keys may carry a ``module.`` prefix left by ``DataParallel``. Reading a *file* goes through
:func:`gfplib.weights.load_state_dict` (``torch.load(weights_only=True)``, registry names are fetched and verified);
:func:`extract_state_dict` (from :mod:`gfplib.weights`) applies the same rules to a checkpoint already in memory.

Loading is strict by default: before anything is copied, the checkpoint's keys and shapes are compared with the
model's (:func:`compare_state_dict`) and a :class:`CheckpointMismatchError` lists every missing, unexpected and
shape-mismatched key — rather than PyTorch's first-error message or, worse, a partly loaded model.

Freezing the prior (``fix_decoder``): ``requires_grad = False`` on **every parameter** of ``stylegan_decoder`` —
mapping MLP, constant input, modulated convs, noise strengths, ToRGBs — and on nothing else (the U-Net, the latent
mapping ``final_linear`` and the SFT heads ``condition_scale`` / ``condition_shift`` stay trainable). The stored noise
maps are buffers and never receive gradients anyway.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Mapping, NamedTuple, Optional, Tuple, Union

import torch
from torch import nn

from gfplib import weights as _weights

__all__ = [
    "CheckpointMismatchError", "StateDictDiff", "extract_state_dict", "read_state_dict", "compare_state_dict",
    "load_weights", "load_decoder_prior", "freeze_decoder", "save_weights",
]

extract_state_dict = _weights.extract_state_dict  # one implementation of the key rules, re-exported here

Source = Union[str, os.PathLike, Mapping, "_weights.WeightEntry"]
DECODER_PREFIX = "stylegan_decoder."


class CheckpointMismatchError(_weights.WeightsError, ValueError):
    """A checkpoint's keys or shapes do not fit the model it is loaded into."""


class StateDictDiff(NamedTuple):
    """Differences between a checkpoint and a model's ``state_dict`` (all empty = a perfect fit).

    Attributes:
        missing: keys the model has but the checkpoint lacks.
        unexpected: keys the checkpoint has but the model lacks.
        mismatched: ``(key, checkpoint shape, model shape)`` for keys present in both with different shapes.
    """

    missing: List[str]
    unexpected: List[str]
    mismatched: List[Tuple[str, Tuple[int, ...], Tuple[int, ...]]]

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def describe(self, limit: int = 10) -> str:
        """Human-readable summary listing up to ``limit`` keys per kind."""
        parts = []
        for title, items in (("missing in checkpoint", self.missing), ("unexpected in checkpoint", self.unexpected)):
            if items:
                more = f", … (+{len(items) - limit} more)" if len(items) > limit else ""
                parts.append(f"{len(items)} {title}: {', '.join(items[:limit])}{more}")
        if self.mismatched:
            shown = "; ".join(f"{k}: checkpoint {tuple(a)} vs model {tuple(b)}" for k, a, b in self.mismatched[:limit])
            more = f"; … (+{len(self.mismatched) - limit} more)" if len(self.mismatched) > limit else ""
            parts.append(f"{len(self.mismatched)} shape mismatches: {shown}{more}")
        return "\n".join(parts) if parts else "state dicts match"


# ------------------------------------------------------------------------------------------------ reading
def read_state_dict(source: Source, param_key: Optional[str] = "auto") -> Dict[str, torch.Tensor]:
    """A state dict from a file path, a registry name (fetched and verified), or an in-memory checkpoint.

    Args:
        source: path of a ``.pth`` file, a :mod:`gfplib.weights` registry name / entry, or a checkpoint dict.
        param_key: see :func:`extract_state_dict`.
    """
    if isinstance(source, Mapping):
        return _weights.extract_state_dict(source, param_key, where="the given checkpoint dict")
    if isinstance(source, nn.Module):
        raise TypeError("source is an nn.Module; pass module.state_dict() instead")
    return _weights.load_state_dict(source, param_key)


# ------------------------------------------------------------------------------------------------ loading
def compare_state_dict(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> StateDictDiff:
    """Compare ``state_dict`` with ``model.state_dict()`` key by key and shape by shape (nothing is loaded)."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    mismatched = [(k, tuple(v.shape), tuple(own[k].shape)) for k, v in state_dict.items()
                  if k in own and tuple(v.shape) != tuple(own[k].shape)]
    return StateDictDiff(missing, unexpected, mismatched)


def load_weights(model: nn.Module, source: Source, param_key: Optional[str] = "auto", strict: bool = True
                 ) -> StateDictDiff:
    """Load an official checkpoint (file, registry name or dict) into ``model``, checked key by key.

    Args:
        model: the network (e.g. ``GFPGANv1Clean`` built with the checkpoint's configuration).
        source: see :func:`read_state_dict`.
        param_key: ``"auto"`` (``params_ema`` > ``params`` > raw), a key, or ``None``.
        strict: every key must match in both directions. With ``strict=False`` missing / unexpected keys are
            returned instead; shape mismatches always raise (a tensor of the wrong shape cannot be loaded).

    Returns:
        The :class:`StateDictDiff` (all lists empty after a strict load).

    Raises:
        CheckpointMismatchError: listing the missing / unexpected / shape-mismatched keys.
    """
    sd = read_state_dict(source, param_key)
    diff = compare_state_dict(model, sd)
    if diff.mismatched or (strict and not diff.ok):
        name = type(model).__name__
        raise CheckpointMismatchError(
            f"checkpoint does not fit {name}{' (strict=True)' if strict else ''}:\n{diff.describe()}\n"
            f"Was {name} built with the checkpoint's configuration (out_size, channel_multiplier, narrow, "
            f"num_style_feat, different_w, sft_half)?")
    model.load_state_dict(sd, strict=strict)
    return diff


def _decoder(gfpgan: nn.Module) -> nn.Module:
    decoder = getattr(gfpgan, "stylegan_decoder", None)
    if not isinstance(decoder, nn.Module):
        raise TypeError(f"{type(gfpgan).__name__} has no `stylegan_decoder` module; pass a GFPGANv1 / GFPGANv1Clean")
    return decoder


def load_decoder_prior(gfpgan: nn.Module, source: Source, param_key: Optional[str] = "auto",
                       strict: bool = True) -> StateDictDiff:
    """Load a pretrained StyleGAN2 into ``gfpgan.stylegan_decoder`` (the official ``decoder_load_path``).

    The official code reads ``torch.load(path)["params_ema"]`` into the decoder with ``strict=True``; this does the
    same (``"auto"`` prefers ``params_ema``) with checked keys. ``source`` may also be a whole GFPGAN checkpoint: if
    its keys start with ``stylegan_decoder.``, that sub-dict is taken (e.g. the clean decoder of GFPGANv1.3).

    Args:
        gfpgan: a ``GFPGANv1`` (prior: ``StyleGAN2_512_Cmul1_FFHQ_B12G4_scratch_800k.pth`` = registry name
            ``"stylegan2-512-prior"``) or ``GFPGANv1Clean``.
        source: path, registry name, or checkpoint / state dict of a StyleGAN2 generator of the decoder's config.
        param_key: see :func:`extract_state_dict`.
        strict: see :func:`load_weights`.
    """
    decoder = _decoder(gfpgan)
    sd = read_state_dict(source, param_key)
    if any(k.startswith(DECODER_PREFIX) for k in sd):
        sd = {k[len(DECODER_PREFIX):]: v for k, v in sd.items() if k.startswith(DECODER_PREFIX)}
    return load_weights(decoder, sd, param_key=None, strict=strict)


def freeze_decoder(model: nn.Module, freeze: bool = True) -> int:
    """Set ``requires_grad = not freeze`` on every parameter of ``model.stylegan_decoder`` (official ``fix_decoder``).

    Returns:
        The number of parameter tensors changed.
    """
    params = list(_decoder(model).parameters())
    for p in params:
        p.requires_grad_(not freeze)
    return len(params)


def save_weights(path: Union[str, os.PathLike], params: Union[nn.Module, Mapping, None] = None,
                 params_ema: Union[nn.Module, Mapping, None] = None) -> Path:
    """Write network weights in the official format ``{"params": …, "params_ema": …}`` (CPU tensors, no ``module.``).

    Only weights, as in the released ``.pth`` files (the training state with optimisers is
    :func:`gfplib.pretrain.common.save_checkpoint`).

    Args:
        path: target file (parent folders are created).
        params: the trained network or its state dict.
        params_ema: the EMA copy (what inference loads), or None.
    """
    if params is None and params_ema is None:
        raise ValueError("nothing to save: give params and/or params_ema")
    out = {}
    for key, obj in (("params", params), ("params_ema", params_ema)):
        if obj is None:
            continue
        sd = obj.state_dict() if isinstance(obj, nn.Module) else obj
        if not isinstance(sd, Mapping):
            raise TypeError(f"{key} must be an nn.Module or a state dict, got {type(obj).__name__}")
        out[key] = {(k[len("module."):] if k.startswith("module.") else k): v.detach().cpu() for k, v in sd.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(out, path)
    return path
