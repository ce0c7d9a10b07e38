"""Ready-to-use pretrained networks by registry name: toy (shipped in ``data/``) or official (downloaded).

Swapping the toy world for paper scale is a one-word change::

    prior = load_prior("toy-prior-32")          # 32² StyleGAN2 trained by gfplib, shipped
    prior = load_prior("stylegan2-512-prior")   # GFPGAN's 512² FFHQ StyleGAN2 (downloaded, 95 MB)

Files are read through :mod:`gfplib.weights` (hash-checked: the toy files against the sha256 recorded when they
were made) and loaded with :func:`gfplib.checkpoints.load_weights` (strict, key by key). Every loader returns its
network in ``eval()`` mode with gradients switched off: these are frozen priors and loss networks.

Taught in ``notebooks/04_stylegan2_prior.ipynb``.
"""
from __future__ import annotations

from typing import Dict, Sequence, Tuple

from torch import nn

__all__ = ["PRIOR_ARCHS", "GFPGAN_NAMES", "load_gfpgan", "load_prior", "load_toy_prior", "load_toy_arcface", "load_toy_vgg", "load_identity_net",
           "load_feature_net", "TOY_ARCFACE_KWARGS"]

#: registry name → (generator class name, constructor kwargs). The toy kwargs are those of ``PriorConfig.toy()``.
PRIOR_ARCHS: Dict[str, Tuple[str, dict]] = {
    "toy-prior-32": ("StyleGAN2GeneratorClean",
                     dict(out_size=32, num_style_feat=128, num_mlp=4, channel_multiplier=2, narrow=0.125)),
    "stylegan2-512-prior": ("StyleGAN2Generator",
                            dict(out_size=512, num_style_feat=512, num_mlp=8, channel_multiplier=1)),
}

#: Constructor kwargs of the shipped toy identity network (``IdentityConfig.toy().arch_kwargs()``).
TOY_ARCFACE_KWARGS = dict(block="IRBlock", layers=(2, 2, 2, 2), use_se=False, width=16, in_size=32, num_feat=128)


def _frozen(net: nn.Module) -> nn.Module:
    return net.eval().requires_grad_(False)


def load_prior(name: str = "toy-prior-32") -> nn.Module:
    """The StyleGAN2 generator stored under registry ``name`` (EMA weights), frozen, in eval mode.

    Args:
        name: ``"toy-prior-32"`` (shipped) or ``"stylegan2-512-prior"`` (downloaded on first use).
    """
    from gfplib import archs
    from gfplib.checkpoints import load_weights

    if name not in PRIOR_ARCHS:
        raise KeyError(f"no generator architecture known for {name!r}; known: {sorted(PRIOR_ARCHS)}")
    cls_name, kwargs = PRIOR_ARCHS[name]
    net = getattr(archs, cls_name)(**kwargs)
    load_weights(net, name, param_key="params_ema")
    return _frozen(net)


#: registry names of GFPGANv1Clean generators → their architecture preset (``GFPGANv1CleanConfig`` method).
GFPGAN_NAMES: Dict[str, str] = {"toy-gfpgan-32": "toy", "gfpgan-v1.2": "release", "gfpgan-v1.3": "release",
                                "gfpgan-v1.4": "release"}


def load_gfpgan(name: str = "toy-gfpgan-32", ema: bool = True) -> nn.Module:
    """A trained GFPGANv1Clean by registry name, frozen, in eval mode.

    Args:
        name: ``"toy-gfpgan-32"`` (shipped, trained by ``python -m gfplib.train --profile toy``) or an official
            release ``"gfpgan-v1.2"`` / ``"gfpgan-v1.3"`` / ``"gfpgan-v1.4"`` (downloaded on first use).
        ema: the EMA weights (``params_ema``, what official inference uses) or the last trained ones (``params``).
    """
    from gfplib.archs.gfpgan_clean import GFPGANv1CleanConfig
    from gfplib.checkpoints import load_weights

    if name not in GFPGAN_NAMES:
        raise KeyError(f"no GFPGAN architecture known for {name!r}; known: {sorted(GFPGAN_NAMES)}")
    net = getattr(GFPGANv1CleanConfig, GFPGAN_NAMES[name])().build()
    load_weights(net, name, param_key="params_ema" if ema else "params")
    return _frozen(net)


def load_toy_prior() -> nn.Module:
    """The shipped 32² toy StyleGAN2 prior (``StyleGAN2GeneratorClean``), frozen."""
    return load_prior("toy-prior-32")


def load_identity_net(name: str = "toy-arcface") -> nn.Module:
    """The identity network under ``name``: ``"toy-arcface"`` (shipped) or ``"arcface-resnet18"`` (official)."""
    from gfplib.checkpoints import load_weights

    if name == "arcface-resnet18":
        from gfplib.archs import ResNetArcFace

        net = ResNetArcFace(block="IRBlock", layers=(2, 2, 2, 2), use_se=False)
        load_weights(net, name, param_key=None)
    elif name == "toy-arcface":
        from gfplib.pretrain.identity import ToyResNetArcFace

        net = ToyResNetArcFace(**TOY_ARCFACE_KWARGS)
        load_weights(net, name, param_key="params")
    else:
        raise KeyError(f"unknown identity network {name!r}; use 'toy-arcface' or 'arcface-resnet18'")
    return _frozen(net)


def load_toy_arcface() -> nn.Module:
    """The shipped toy identity network (gray 32² → 128-d); embed RGB faces with
    :func:`gfplib.pretrain.identity.identity_embedding`."""
    return load_identity_net("toy-arcface")


def load_feature_net(name: str = "toy-vgg",
                     layer_name_list: Sequence[str] = ("conv1_2", "conv2_2", "conv3_4", "conv4_4", "conv5_4")):
    """A frozen :class:`~gfplib.perceptual.VGGFeatureExtractor`: ``"toy-vgg"`` (shipped) or ``"vgg19"`` (ImageNet).

    Both take RGB in [-1, 1] and return ``{layer: features}`` for ``layer_name_list``.
    """
    from gfplib import weights
    from gfplib.perceptual import vgg_from_state_dict

    param_keys = {"vgg19": None, "toy-vgg": "params"}  # torchvision's raw file; gfplib's {"params": …}
    if name not in param_keys:
        raise KeyError(f"unknown feature network {name!r}; use 'toy-vgg' or 'vgg19'")
    return _frozen(vgg_from_state_dict(weights.load_state_dict(name, param_key=param_keys[name]), layer_name_list))


def load_toy_vgg(layer_name_list: Sequence[str] = ("conv1_2", "conv2_2", "conv3_4", "conv4_4", "conv5_4")):
    """The shipped toy perceptual network (VGG19 layout, toy widths), frozen."""
    return load_feature_net("toy-vgg", layer_name_list)
