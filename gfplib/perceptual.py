"""Perceptual feature networks: the fixed feature space of GFPGAN's perceptual and style losses.

GFPGAN compares its restoration :math:`\\hat y` with the ground truth :math:`y` not only pixel by pixel but in the
feature space :math:`\\phi` of a frozen, pretrained classification network (the reconstruction loss of paper Sec. 3.5, Eq. 5):

.. math::  \\mathcal L_{\\text{rec}} = \\lambda_{l1} \\lVert \\hat y - y \\rVert_1
           + \\lambda_{per} \\sum_i w_i \\lVert \\phi_i(\\hat y) - \\phi_i(y) \\rVert_1

At paper scale :math:`\\phi` is torchvision's ImageNet VGG19, read *before* the ReLU at ``conv1_2, conv2_2, conv3_4,
conv4_4, conv5_4`` with the inputs mapped from [-1, 1] to [0, 1] and then standardised with the ImageNet mean and
std. The series' toy world has no ImageNet, so it ships a small network with the *same* layer layout and layer
names, trained by :mod:`gfplib.pretrain` on toy faces (``data/toy_vgg.pth``).

Both are :class:`VGGFeatureExtractor` instances: ``forward(x)`` takes an RGB batch ``(B, 3, H, W)`` in [-1, 1] and
returns ``{layer_name: features}`` for the requested layers, each net doing its own input normalisation (stored as
buffers), so the loss code does not care which one it gets.

Taught in ``notebooks/04_stylegan2_prior.ipynb`` (toy feature spaces) and used by the losses of the training
notebooks.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

__all__ = ["VGGConfig", "VGGFeatureExtractor", "VGG19_LAYER_NAMES", "PERCEPTUAL_LAYER_WEIGHTS",
           "IMAGENET_MEAN", "IMAGENET_STD", "vgg_from_state_dict", "build_vgg19_imagenet", "feature_distance"]

#: ImageNet statistics of torchvision's classification networks (RGB, inputs in [0, 1]).
IMAGENET_MEAN: Tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: Tuple[float, float, float] = (0.229, 0.224, 0.225)

#: GFPGAN's perceptual / style layer weights (train_gfpgan_v1.yml): shallow layers count 10× less.
PERCEPTUAL_LAYER_WEIGHTS: Dict[str, float] = {
    "conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1.0, "conv4_4": 1.0, "conv5_4": 1.0}

# VGG19 ("configuration E"): number of 3x3 convolutions in each of the 5 blocks; each block ends with a 2x2 max-pool.
_VGG19_BLOCKS = (2, 2, 4, 4, 4)


def _layer_names(blocks: Sequence[int]) -> Tuple[str, ...]:
    names = []
    for b, n_conv in enumerate(blocks, start=1):
        for c in range(1, n_conv + 1):
            names += [f"conv{b}_{c}", f"relu{b}_{c}"]
        names.append(f"pool{b}")
    return tuple(names)


#: Every layer name of VGG19's ``features`` part, in order (index i = torchvision's ``features[i]``).
VGG19_LAYER_NAMES: Tuple[str, ...] = _layer_names(_VGG19_BLOCKS)


@dataclass(frozen=True)
class VGGConfig:
    """Shape of a VGG19-layout feature network.

    Args:
        widths: output channels of the 5 blocks. ImageNet VGG19: (64, 128, 256, 512, 512).
        mean, std: per-channel input statistics of the training data (RGB, in [0, 1]).
    """
    widths: Tuple[int, int, int, int, int] = (64, 128, 256, 512, 512)
    mean: Tuple[float, float, float] = IMAGENET_MEAN
    std: Tuple[float, float, float] = IMAGENET_STD

    @classmethod
    def toy(cls) -> "VGGConfig":
        """The toy-world network: the same 16 convolutions, 4× narrower (1.25 M parameters instead of 20 M).

        Its mean/std are placeholders until training measures them on toy faces (they are then stored as buffers
        in the shipped state dict and win over this default when it is loaded).
        """
        return cls(widths=(16, 32, 64, 128, 128), mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


class VGGFeatureExtractor(nn.Module):
    """VGG19-layout network that returns the features of selected layers (read before their ReLU for ``conv*``).

    Args:
        layer_name_list: layers to return, e.g. ``("conv1_2", "conv2_2", "conv3_4", "conv4_4", "conv5_4")``. Only
            the network up to the deepest of them is built.
        config: channel widths and input statistics (:class:`VGGConfig`; default: ImageNet VGG19's).
        use_input_norm: standardise inputs with ``config.mean`` / ``config.std`` (as the network was trained).
        range_norm: inputs are in [-1, 1] (the series' convention) and are first mapped to [0, 1].
        requires_grad: ``False`` (default) freezes the parameters — a loss network is never trained by the loss.

    ``forward(x)`` with ``x`` of shape ``(B, 3, H, W)`` returns an ordered ``dict`` name → ``(B, C, H', W')``.
    Parameters are registered as ``features.<layer name>.weight``, e.g. ``features.conv1_1.weight``; torchvision's
    index-based keys are renamed by :func:`vgg_from_state_dict`.
    """

    def __init__(self, layer_name_list: Sequence[str] = tuple(PERCEPTUAL_LAYER_WEIGHTS),
                 config: VGGConfig = VGGConfig(), use_input_norm: bool = True, range_norm: bool = True,
                 requires_grad: bool = False):
        super().__init__()
        layer_name_list = tuple(layer_name_list)
        if not layer_name_list:
            raise ValueError("layer_name_list is empty; name at least one layer, e.g. 'conv3_4'")
        unknown = [n for n in layer_name_list if n not in VGG19_LAYER_NAMES]
        if unknown:
            raise ValueError(f"unknown VGG19 layer name(s) {unknown}; valid names look like 'conv3_4', 'relu2_1', "
                             f"'pool5' (blocks 1-5 with {_VGG19_BLOCKS} convolutions)")
        if len(config.widths) != 5:
            raise ValueError(f"config.widths must give 5 block widths, got {config.widths}")
        self.layer_name_list = layer_name_list
        self.config = config
        self.use_input_norm = use_input_norm
        self.range_norm = range_norm
        last = max(VGG19_LAYER_NAMES.index(n) for n in layer_name_list)
        layers, in_ch = OrderedDict(), 3
        for name in VGG19_LAYER_NAMES[:last + 1]:
            block = int(name[4])  # "conv3_4"[4] == "relu3_4"[4] == "pool3"[4] == "3"
            if name.startswith("conv"):
                out_ch = config.widths[block - 1]
                layers[name] = nn.Conv2d(in_ch, out_ch, 3, padding=1)
                in_ch = out_ch
            elif name.startswith("relu"):
                layers[name] = nn.ReLU(inplace=False)  # not in place: the conv output before it is returned
            else:
                layers[name] = nn.MaxPool2d(2, 2)
        self.features = nn.Sequential(layers)
        self.register_buffer("mean", torch.tensor(config.mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(config.std, dtype=torch.float32).view(1, 3, 1, 1))
        self.requires_grad_(requires_grad)
        if not requires_grad:
            self.eval()

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """[-1, 1] → what the network was trained on: [0, 1], then (x − mean) / std."""
        if self.range_norm:
            x = (x + 1) / 2  # [-1, 1] → [0, 1]
        if self.use_input_norm:
            x = (x - self.mean) / self.std
        return x

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected an RGB batch of shape (B, 3, H, W), got "
                             f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
        min_side = 2 ** sum(n.startswith("pool") for n in self.features._modules)
        if min(x.shape[-2:]) < max(min_side, 1):
            raise ValueError(f"input of size {tuple(x.shape[-2:])} is too small for {min_side // 2 + 1}+ pooling "
                             f"stages; it must be at least {min_side}x{min_side}")
        out = OrderedDict()
        h = self.normalize(x)
        wanted = set(self.layer_name_list)
        for name, layer in self.features.named_children():
            h = layer(h)
            if name in wanted:
                out[name] = h
        return OrderedDict((n, out[n]) for n in self.layer_name_list)

    def train(self, mode: bool = True) -> "VGGFeatureExtractor":
        # A frozen feature network stays in eval mode even inside a model put in train mode.
        return super().train(mode and any(p.requires_grad for p in self.parameters()))


def torchvision_vgg19_to_named(state_dict: Dict[str, torch.Tensor]) -> "OrderedDict[str, torch.Tensor]":
    """Rename torchvision's ``features.<index>.weight`` keys to ``features.<layer name>.weight`` (classifier dropped)."""
    out = OrderedDict()
    for key, val in state_dict.items():
        if not key.startswith("features."):
            continue
        _, idx, kind = key.split(".")
        out[f"features.{VGG19_LAYER_NAMES[int(idx)]}.{kind}"] = val
    if not out:
        raise ValueError("state dict has no 'features.*' keys; is it a torchvision VGG19 state dict?")
    return out


def vgg_from_state_dict(state_dict: Mapping[str, torch.Tensor],
                        layer_name_list: Sequence[str] = tuple(PERCEPTUAL_LAYER_WEIGHTS), use_input_norm: bool = True,
                        range_norm: bool = True) -> VGGFeatureExtractor:
    """The one VGG loader: a frozen :class:`VGGFeatureExtractor` holding ``state_dict``, its widths read from the weights.

    Args:
        state_dict: torchvision's ``vgg19`` keys (``features.<index>.weight``, e.g. the ImageNet file) or gfplib's
            (``features.conv1_1.weight`` …, e.g. the toy net, whose ``mean`` / ``std`` buffers come along).
        layer_name_list: the layers to return; only the network up to the deepest of them is built and loaded.
        use_input_norm, range_norm: as in :class:`VGGFeatureExtractor`.

    The block widths are the output channels of ``conv<b>_1``; the input statistics are the state dict's ``mean`` /
    ``std`` if it has them, else ImageNet's.
    """
    named = dict(state_dict)
    if not any(k.startswith("features.conv") for k in named):
        named = torchvision_vgg19_to_named(named)
    widths = tuple(int(named[f"features.conv{b}_1.weight"].shape[0]) if f"features.conv{b}_1.weight" in named
                   else default for b, default in zip(range(1, 6), VGGConfig().widths))  # unbuilt blocks: any width
    mean = tuple(named["mean"].flatten().tolist()) if "mean" in named else IMAGENET_MEAN
    std = tuple(named["std"].flatten().tolist()) if "std" in named else IMAGENET_STD
    net = VGGFeatureExtractor(layer_name_list, VGGConfig(widths=widths, mean=mean, std=std),
                              use_input_norm=use_input_norm, range_norm=range_norm)
    own = net.state_dict()
    missing = [k for k in own if k.startswith("features.") and k not in named]
    if missing:
        raise KeyError(f"VGG state dict lacks {missing[:4]}{'…' if len(missing) > 4 else ''}")
    for k, v in own.items():
        if k in named and named[k].shape != v.shape:
            raise ValueError(f"{k}: checkpoint shape {tuple(named[k].shape)} != network shape {tuple(v.shape)}")
    net.load_state_dict({k: named.get(k, v) for k, v in own.items()}, strict=True)  # deeper layers: not built
    return net


def build_vgg19_imagenet(layer_name_list: Sequence[str] = tuple(PERCEPTUAL_LAYER_WEIGHTS),
                         state_dict: Optional[Dict[str, torch.Tensor]] = None,
                         use_input_norm: bool = True, range_norm: bool = True) -> VGGFeatureExtractor:
    """The paper-scale feature network: torchvision's ImageNet VGG19, frozen, returning ``layer_name_list``.

    Args:
        layer_name_list: the layers to return (default: GFPGAN's five).
        state_dict: a torchvision ``vgg19`` state dict (index-based keys). ``None`` fetches the ImageNet weights
            through :mod:`gfplib.weights` (hash-checked; downloads on first use, raises offline if not cached).
    """
    if state_dict is None:
        from gfplib import weights  # imported here: building a net with random weights needs no registry

        state_dict = weights.load_state_dict("vgg19", param_key=None)  # fetched (and hash-checked) first
    return vgg_from_state_dict(state_dict, layer_name_list, use_input_norm=use_input_norm, range_norm=range_norm)


def feature_distance(net: VGGFeatureExtractor, x: torch.Tensor, y: torch.Tensor,
                     layer_weights: Optional[Dict[str, float]] = None) -> torch.Tensor:
    """Per-image perceptual distance :math:`\\sum_i w_i\\, \\mathrm{mean}|\\phi_i(x) - \\phi_i(y)|`, shape ``(B,)``.

    A measuring tool (e.g. "distance grows with degradation strength"); the training losses live with the losses.

    Args:
        net: a feature network returning ``{name: (B, C, H, W)}``.
        x, y: RGB batches ``(B, 3, H, W)`` in [-1, 1] of the same shape.
        layer_weights: ``{name: w_i}`` over (a subset of) the net's layers; default: every layer with weight 1.
    """
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    fx, fy = net(x), net(y)
    weights = layer_weights if layer_weights is not None else {k: 1.0 for k in fx}
    missing = [k for k in weights if k not in fx]
    if missing:
        raise KeyError(f"layer(s) {missing} not returned by the network (it returns {list(fx)})")
    return sum(w * (fx[k] - fy[k]).abs().flatten(1).mean(1) for k, w in weights.items())
