r"""GFPGAN's training objective (paper Sec. 3.5, Eqs. 5–9), computed as the official training code computes it.

Wang et al., "Towards Real-World Blind Face Restoration with Generative Facial Prior", CVPR 2021,
https://arxiv.org/abs/2101.04061. Notation: :math:`x` degraded input, :math:`y` ground truth, :math:`\hat y = G(x)` the
restoration, :math:`\hat y_r` the intermediate RGB of the decoder at resolution :math:`r` (``out_rgbs``).

* **重建损失, reconstruction (Eq. 5)** — L1 in pixels and in the feature space :math:`\phi` of a frozen VGG19, plus the
  VGG style (Gram) term of the official code:

  .. math::  \mathcal L_{rec} = \lambda_{l1} \lVert \hat y - y \rVert_1
             + \lambda_{per} \sum_i w_i \lVert \phi_i(\hat y) - \phi_i(y) \rVert_1
             + \lambda_{sty} \sum_i w_i \lVert \mathrm{Gram}(\phi_i(\hat y)) - \mathrm{Gram}(\phi_i(y)) \rVert_1

  and the pyramid restoration loss of Sec. 3.2 (no equation number), :math:`\sum_r \lVert \hat y_r - y_{\downarrow r}
  \rVert_1` against a bilinear ×½ pyramid of :math:`y`, switched off (weight 1e-12) after ``pyramid_until`` iterations.
* **对抗损失, adversarial (Eq. 6)** — StyleGAN2's logistic losses with logits :math:`D(\cdot)`:
  :math:`\mathcal L_{adv} = \lambda_{adv}\,\mathbb E\operatorname{softplus}(-D(\hat y))` for G,
  :math:`\mathbb E\operatorname{softplus}(-D(y)) + \mathbb E\operatorname{softplus}(D(\hat y))` for D, and lazy R1
  :math:`\tfrac{\gamma}{2}\,\mathbb E\lVert\nabla_y D(y)\rVert^2 \cdot k` every :math:`k` D steps.
* **面部组成损失, facial components (Eq. 7)** — RoI-aligned crops of left eye, right eye and mouth, each judged by its
  own :class:`~gfplib.archs.FacialComponentDiscriminator` :math:`D_{ROI}` with features :math:`\psi`:

  .. math::  \mathcal L_{comp} = \sum_{ROI} \lambda_{local}\, \mathbb E[-\log \sigma(D_{ROI}(\hat y_{ROI}))]
             + \lambda_{fs} \lVert \mathrm{Gram}(\psi(\hat y_{ROI})) - \mathrm{Gram}(\psi(y_{ROI})) \rVert_1

  (the paper writes the GAN half as :math:`\log(1 - D)`; the code uses the non-saturating form above, and the style
  half on two feature levels weighted ½ and 1).
* **身份保留损失, identity preservation (Eq. 8)** — :math:`\mathcal L_{id} = \lambda_{id} \lVert \eta(\hat y) - \eta(y)
  \rVert_1` with :math:`\eta` a frozen ArcFace on gray, resized faces.
* **Total (Eq. 9)** — :math:`\mathcal L_{total} = \mathcal L_{adv} + \mathcal L_{rec} + \mathcal L_{comp} +
  \mathcal L_{id}`, with the weights of :class:`LossConfig` (official ``train_gfpgan_v1.yml``): λ_l1 0.1, pyramid 1,
  λ_per 1, λ_sty 50, λ_adv 0.1, R1 γ 10 every 16, λ_local 1, λ_fs 200, λ_id 10.

:func:`generator_loss`, :func:`discriminator_loss` and :func:`component_discriminator_loss` are what a trainer calls;
the functions above them are the single terms, each usable on its own. Taught in ``notebooks/07_losses.ipynb``.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, fields, replace
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from gfplib.perceptual import PERCEPTUAL_LAYER_WEIGHTS

__all__ = ["COMPONENTS", "GRAY_WEIGHTS", "LossConfig", "gram_matrix", "pyramid_targets", "pyramid_loss",
           "perceptual_style_loss", "g_nonsaturating_loss", "d_logistic_loss", "r1_penalty", "bce_real_loss",
           "component_crops", "component_style_loss", "rgb_to_gray", "identity_input", "identity_loss",
           "generator_loss_terms", "generator_loss", "discriminator_loss", "component_discriminator_loss"]

#: The facial components with their own discriminator, in the official order (keys ``loc_<name>`` in a batch).
COMPONENTS: Tuple[str, str, str] = ("left_eye", "right_eye", "mouth")
#: RGB → gray weights of the official identity loss (ITU-R BT.601 luma, as rounded in the official code).
GRAY_WEIGHTS: Tuple[float, float, float] = (0.2989, 0.5870, 0.1140)
#: Weight of the pyramid loss after ``pyramid_until``: tiny rather than 0 in the official code, so that the branch
#: stays in the graph (distributed training complains about parameters without gradient).
PYRAMID_OFF_WEIGHT = 1e-12


# ------------------------------------------------------------------------------------------------------ config
@dataclass(frozen=True)
class LossConfig:
    """Weights of every term of Eq. 9 and the sizes the terms work at. Defaults: the official 512² recipe.

    A weight of 0 switches its term off: it is not computed at all (no forward through its network).

    Args:
        pixel: λ_l1, L1 between restoration and ground truth.
        pyramid: weight of the pyramid restoration loss (sum over the ``out_rgbs`` levels).
        pyramid_until: last iteration with weight ``pyramid``; afterwards the weight is 1e-12 (official: 50k of 800k).
        perceptual: λ_per, the layer-weighted VGG feature L1.
        style: λ_sty, the layer-weighted VGG Gram L1.
        gan: λ_adv, G side of the whole-face logistic loss (the D side has weight 1).
        r1: R1 weight γ.
        r1_interval: lazy R1 interval k; the penalty is applied on iterations divisible by k, scaled by k.
        comp_gan: λ_local, G side of the three component GAN losses.
        comp_style: λ_fs, the component Gram style loss.
        identity: λ_id.
        identity_size: side of the gray image fed to the identity network (official ArcFace: 128).
        eye_size, mouth_size: RoI-align output sides of the eye and mouth crops (official 80 and 120 at 512²).
    """
    pixel: float = 0.1
    pyramid: float = 1.0
    pyramid_until: int = 50_000
    perceptual: float = 1.0
    style: float = 50.0
    gan: float = 0.1
    r1: float = 10.0
    r1_interval: int = 16
    comp_gan: float = 1.0
    comp_style: float = 200.0
    identity: float = 10.0
    identity_size: int = 128
    eye_size: int = 80
    mouth_size: int = 120

    def __post_init__(self) -> None:
        counts = ("pyramid_until", "r1_interval", "identity_size", "eye_size", "mouth_size")
        for f in fields(self):
            v = getattr(self, f.name)
            kind = int if f.name in counts else (int, float)
            if isinstance(v, bool) or not isinstance(v, kind) or math.isnan(v):
                raise TypeError(f"LossConfig.{f.name} must be {'an integer' if kind is int else 'a number'}, "
                                f"got {v!r}")
            if v < 0:
                raise ValueError(f"LossConfig.{f.name} must be ≥ 0, got {v}")
        if self.r1_interval < 1:
            raise ValueError(f"LossConfig.r1_interval must be ≥ 1, got {self.r1_interval}")
        if min(self.eye_size, self.mouth_size) < 8:
            raise ValueError(f"eye_size={self.eye_size}, mouth_size={self.mouth_size}: the component discriminator "
                             f"needs crops of at least 8x8")
        if self.identity_size < 1:
            raise ValueError(f"LossConfig.identity_size must be ≥ 1, got {self.identity_size}")

    @classmethod
    def toy(cls) -> "LossConfig":
        """The 32² toy world: official weights; crop and identity sizes (and R1 γ) rescaled for 32² faces.

        * **Crops: eyes 16×16, mouth 24×24.** At 512² the official crops (80 and 120) sample a ≈ 98 px eye box and a
          ≈ 114 px mouth box at about their own resolution. Scaled by 32/512 that would be 5 and 7.5 px — below the
          8×8 minimum of :class:`~gfplib.archs.FacialComponentDiscriminator` (two stride-2 stages) and, at 8×8,
          its two feature levels would be 4×4 and 2×2, a Gram matrix over 4 positions. 16 gives feature maps of
          8×8 and 4×4 (64 and 16 positions per Gram matrix) and a 4×4 map of patch logits; the mouth keeps the
          official eye:mouth ratio 2:3. The toy boxes are only ≈ 5.5 px (eyes) and ≈ 8 px (mouth) wide, so the
          crops are a ≈ 3× bilinear upsampling: no new detail, but a grid the discriminator's 3×3 convolutions
          can resolve. (The official formula ``size · int(out_size / 512)`` gives 0 below 512² and cannot be used.)
        * **identity_size 32**: the input side of the shipped ``toy-arcface`` (official ArcFace: 128).
        * **r1 0.1**: R1 acts on ∇ over input pixels and its useful strength depends on the resolution; 0.1 is the
          value measured to work for the StyleGAN2 discriminator at 32² when training the toy prior
          (:meth:`gfplib.pretrain.prior.PriorConfig.toy`), where the official 10 belongs to 512².
        * ``pyramid_until`` keeps the official 50,000; a shorter run should set it to its own 1/16 of the training
          length (50k of 800k officially) with :func:`dataclasses.replace`.
        """
        return cls(eye_size=16, mouth_size=24, identity_size=32, r1=0.1)

    def simple(self) -> "LossConfig":
        """The official ``simple`` variant (train_gfpgan_v1_simple.yml): no component or identity losses."""
        return replace(self, comp_gan=0.0, comp_style=0.0, identity=0.0)

    def component_sizes(self) -> Dict[str, int]:
        """RoI-align output side per component: ``{'left_eye': eye_size, 'right_eye': eye_size, 'mouth': …}``."""
        return {"left_eye": self.eye_size, "right_eye": self.eye_size, "mouth": self.mouth_size}

    def pyramid_weight(self, iteration: int) -> float:
        """The pyramid weight at ``iteration``: ``pyramid`` up to ``pyramid_until``, then 1e-12 (0 stays 0)."""
        if self.pyramid > 0 and iteration > self.pyramid_until:
            return PYRAMID_OFF_WEIGHT
        return self.pyramid


# ------------------------------------------------------------------------------------------------- checks
def _check_batch(x: torch.Tensor, name: str, channels: Optional[int] = 3) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4 or (channels is not None and x.shape[1] != channels):
        want = f"(B, {channels}, H, W)" if channels is not None else "(B, C, H, W)"
        raise ValueError(f"{name} must have shape {want}, got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a float tensor, got {x.dtype}")


def _check_same_shape(a: torch.Tensor, b: torch.Tensor, names: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{names} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")


def _check_frozen(net: nn.Module, what: str) -> None:
    """A loss network must not learn from the loss: eval mode (fixed BatchNorm statistics) and no gradients."""
    if net.training or any(p.requires_grad for p in net.parameters()):
        raise ValueError(f"the {what} must be frozen: call net.eval().requires_grad_(False) "
                         f"(the gfplib.pretrain loaders return it that way)")


@contextlib.contextmanager
def _no_param_grads(nets: Sequence[Optional[nn.Module]]) -> Iterator[None]:
    """Build the graph with the parameters of ``nets`` as constants, then restore their ``requires_grad`` flags.

    The official G step sets ``requires_grad = False`` on every discriminator before its forward passes; doing it
    here means a G loss can never leave gradients in a discriminator, whatever the caller's flags were.
    """
    params = [p for net in nets if net is not None for p in net.parameters()]
    flags = [p.requires_grad for p in params]
    try:
        for p in params:
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)


# ------------------------------------------------------------------------------------- reconstruction (Eq. 5)
def gram_matrix(feat: torch.Tensor) -> torch.Tensor:
    r"""Gram matrix of a feature map, normalised by its size: :math:`G_{b,ij} = \frac{1}{chw}\sum_p F_{b,i,p}F_{b,j,p}`.

    It keeps which channels fire together and forgets where (any permutation of the positions p leaves it unchanged):
    texture without layout.

    Args:
        feat: ``(B, C, H, W)`` features.

    Returns:
        ``(B, C, C)``.
    """
    _check_batch(feat, "feat", channels=None)
    b, c, h, w = feat.shape
    flat = feat.reshape(b, c, h * w)  # (B, C, HW)
    return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)  # G = F Fᵀ / (c·h·w)   (B, C, C)


def pyramid_targets(gt: torch.Tensor, num_levels: int) -> List[torch.Tensor]:
    r"""Ground truth at the resolutions of the pyramid outputs, coarsest first (as ``out_rgbs``).

    As in the official training code: repeated bilinear ×½ (``align_corners=False``) from the full-size ``gt``, so
    ``targets[-1] = gt``. For even sizes each step is exactly a 2×2 average pooling.

    Args:
        gt: ``(B, 3, S, S)`` ground-truth faces.
        num_levels: number of pyramid outputs (``log2(S) − 2`` for 8 … S).
    """
    if gt.ndim != 4 or gt.shape[-1] >> (num_levels - 1) < 1:
        raise ValueError(f"gt of shape {tuple(gt.shape)} cannot give {num_levels} pyramid levels")
    targets = [gt]
    for _ in range(num_levels - 1):
        targets.insert(0, F.interpolate(targets[0], scale_factor=0.5, mode="bilinear", align_corners=False))
    return targets  # [(B, 3, S/2^(L-1), …), …, (B, 3, S, S)]


def pyramid_loss(out_rgbs: Sequence[torch.Tensor], gt: torch.Tensor) -> torch.Tensor:
    r"""Pyramid restoration loss (Sec. 3.2), unweighted: :math:`\sum_r \lVert \hat y_r - y_{\downarrow r} \rVert_1`.

    Args:
        out_rgbs: the decoder's intermediate RGB images, coarsest first, each half the size of the next.
        gt: ``(B, 3, S, S)`` ground truth, S the size of the last one.
    """
    if not out_rgbs:
        raise ValueError("out_rgbs is empty; run the generator with return_rgb=True")
    _check_batch(gt, "gt")
    targets = pyramid_targets(gt, len(out_rgbs))
    for rgb, target in zip(out_rgbs, targets):
        _check_same_shape(rgb, target, "each out_rgbs level and its pyramid target")
    return sum(F.l1_loss(rgb, target) for rgb, target in zip(out_rgbs, targets))  # Σ_r ‖ŷ_r − y↓r‖₁


def perceptual_style_loss(vgg: nn.Module, pred: torch.Tensor, target: torch.Tensor,
                          layer_weights: Optional[Mapping[str, float]] = None, *, perceptual: bool = True,
                          style: bool = True) -> Tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
    r"""Perceptual and style terms of Eq. 5, unweighted: :math:`\sum_i w_i \lVert\phi_i(\hat y) - \phi_i(y)\rVert_1`
    and :math:`\sum_i w_i \lVert\mathrm{Gram}(\phi_i(\hat y)) - \mathrm{Gram}(\phi_i(y))\rVert_1`.

    Args:
        vgg: a frozen :class:`~gfplib.perceptual.VGGFeatureExtractor` (``load_feature_net('toy-vgg' | 'vgg19')``);
            it maps [-1, 1] inputs to its own input statistics.
        pred, target: ``(B, 3, H, W)`` in [-1, 1]; the target's features are detached.
        layer_weights: ``{layer: w_i}``; default :data:`gfplib.perceptual.PERCEPTUAL_LAYER_WEIGHTS` (official).
        perceptual, style: compute that term (``False`` returns ``None`` in its place).

    Returns:
        ``(perceptual, style)`` scalars (or ``None``).
    """
    _check_batch(pred, "pred")
    _check_same_shape(pred, target, "pred and target")
    _check_frozen(vgg, "perceptual network")
    weights = dict(PERCEPTUAL_LAYER_WEIGHTS if layer_weights is None else layer_weights)
    if not (perceptual or style):
        return None, None
    feats_pred = vgg(pred)
    feats_gt = vgg(target.detach())
    missing = [k for k in weights if k not in feats_pred]
    if missing:
        raise KeyError(f"layer(s) {missing} not returned by the feature network (it returns {list(feats_pred)})")
    l_percep = sum(w * F.l1_loss(feats_pred[k], feats_gt[k]) for k, w in weights.items()) if perceptual else None
    l_style = sum(w * F.l1_loss(gram_matrix(feats_pred[k]), gram_matrix(feats_gt[k]))
                  for k, w in weights.items()) if style else None  # Σ_i w_i ‖Gram(φ_i(ŷ)) − Gram(φ_i(y))‖₁
    return l_percep, l_style


# ------------------------------------------------------------------------------------------ adversarial (Eq. 6)
def d_logistic_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """:math:`\\mathbb E[\\operatorname{softplus}(-D(x))] + \\mathbb E[\\operatorname{softplus}(D(G(z)))]`."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()  # −log σ(D(x)) − log(1 − σ(D(G(z))))


def g_nonsaturating_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """:math:`\\mathbb E[\\operatorname{softplus}(-D(G(z)))]` — the non-saturating generator loss."""
    return F.softplus(-fake_logits).mean()  # −log σ(D(G(z)))


def r1_penalty(real_logits: torch.Tensor, real_images: torch.Tensor) -> torch.Tensor:
    """:math:`\\mathbb E_x \\lVert \\nabla_x D(x) \\rVert^2` (``real_images`` must require grad)."""
    (grad,) = torch.autograd.grad(real_logits.sum(), real_images, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()  # ‖∇ₓD(x)‖², averaged over the batch


def bce_real_loss(logits: torch.Tensor) -> torch.Tensor:
    r"""Vanilla GAN loss with target "real": binary cross-entropy with logits against 1, :math:`-\log\sigma(D)`.

    The official component losses use this form (``gan_type: vanilla``). Since
    :math:`-\log\sigma(t) = \operatorname{softplus}(-t)` it equals :func:`g_nonsaturating_loss` up to rounding.
    """
    return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))  # −log σ(D)


# ------------------------------------------------------------------------------------ facial components (Eq. 7)
def component_crops(images: torch.Tensor, boxes: Mapping[str, torch.Tensor],
                    out_sizes: Mapping[str, int]) -> Dict[str, torch.Tensor]:
    """RoI-align crops of the facial components, as the official training takes them.

    ``torchvision.ops.roi_align`` with its defaults (``spatial_scale=1``, adaptive ``sampling_ratio``,
    ``aligned=False``): the box ``(x1, y1, x2, y2)`` is cut into ``s × s`` bins and each bin averages bilinear samples
    of the image. (The official code also multiplies the crops by ``int(out_size / 512)``, 1 at 512²; that factor
    is left out here.)

    Args:
        images: ``(B, 3, H, W)`` faces.
        boxes: component name → ``(B, 4)`` boxes ``(x1, y1, x2, y2)`` in pixels of ``images``.
        out_sizes: component name → crop side ``s`` (:meth:`LossConfig.component_sizes`).

    Returns:
        component name → ``(B, 3, s, s)`` crops, for every name in ``out_sizes``.
    """
    from torchvision.ops import roi_align  # imported here: torchvision takes seconds to import

    _check_batch(images, "images")
    crops = {}
    for name, size in out_sizes.items():
        if name not in boxes:
            raise KeyError(f"no boxes for component {name!r} (given: {sorted(boxes)}); the batch keys are "
                           f"'loc_{name}'")
        box = boxes[name]
        if not isinstance(box, torch.Tensor) or box.shape != (images.shape[0], 4):
            raise ValueError(f"boxes[{name!r}] must be a ({images.shape[0]}, 4) tensor (x1, y1, x2, y2), got "
                             f"{tuple(box.shape) if isinstance(box, torch.Tensor) else type(box).__name__}")
        box = box.to(device=images.device, dtype=images.dtype)
        index = torch.arange(images.shape[0], device=images.device, dtype=images.dtype).unsqueeze(1)  # (B, 1)
        rois = torch.cat([index, box], dim=1)  # (B, 5): image index, x1, y1, x2, y2
        crops[name] = roi_align(images, rois, output_size=int(size))  # (B, 3, s, s)
    return crops


def component_style_loss(fake_feats: Sequence[torch.Tensor], real_feats: Sequence[torch.Tensor]) -> torch.Tensor:
    r"""Component style term of Eq. 7 for one component, unweighted, on the discriminator's two feature levels:
    :math:`\tfrac12 \lVert \mathrm{Gram}(\psi_1(\hat y_{ROI})) - \mathrm{Gram}(\psi_1(y_{ROI})) \rVert_1 +
    \lVert \mathrm{Gram}(\psi_2(\hat y_{ROI})) - \mathrm{Gram}(\psi_2(y_{ROI})) \rVert_1`.

    Args:
        fake_feats, real_feats: the ``feats`` of :class:`~gfplib.archs.FacialComponentDiscriminator` (after conv3
            and after conv5) for the restored and the ground-truth crops; the real ones are detached.
    """
    if len(fake_feats) != 2 or len(real_feats) != 2:
        raise ValueError(f"expected two feature levels each (conv3, conv5), got {len(fake_feats)} and "
                         f"{len(real_feats)}")
    return (0.5 * F.l1_loss(gram_matrix(fake_feats[0]), gram_matrix(real_feats[0].detach()))  # ½‖ΔGram(ψ₁)‖₁
            + F.l1_loss(gram_matrix(fake_feats[1]), gram_matrix(real_feats[1].detach())))  # + ‖ΔGram(ψ₂)‖₁


# --------------------------------------------------------------------------------------------- identity (Eq. 8)
def rgb_to_gray(x: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` RGB → ``(B, 1, H, W)`` gray, ``0.2989 R + 0.5870 G + 0.1140 B`` (official weights)."""
    _check_batch(x, "x")
    r, g, b = GRAY_WEIGHTS
    return (r * x[:, 0] + g * x[:, 1] + b * x[:, 2]).unsqueeze(1)  # gray = 0.2989 R + 0.5870 G + 0.1140 B


def identity_input(x: torch.Tensor, size: int) -> torch.Tensor:
    """What the identity network sees: gray (:func:`rgb_to_gray`), bilinearly resized to ``(B, 1, size, size)``."""
    return F.interpolate(rgb_to_gray(x), size=(size, size), mode="bilinear", align_corners=False)


def identity_loss(id_net: nn.Module, pred: torch.Tensor, gt: torch.Tensor, size: int) -> torch.Tensor:
    r"""Identity term of Eq. 8, unweighted: :math:`\lVert \eta(\hat y) - \eta(y) \rVert_1` (mean absolute
    difference of the raw embeddings, not normalised, as in the official code).

    Both faces are turned gray and resized bilinearly to ``size × size`` (:func:`identity_input`) before the frozen
    identity network :math:`\eta`; the ground-truth embedding carries no gradient.

    Args:
        id_net: frozen identity network in eval mode (``load_identity_net('toy-arcface' | 'arcface-resnet18')``).
        pred, gt: ``(B, 3, H, W)`` in [-1, 1].
        size: the network's input side (official 128, toy 32).
    """
    _check_batch(pred, "pred")
    _check_same_shape(pred, gt, "pred and gt")
    _check_frozen(id_net, "identity network")
    with torch.no_grad():
        emb_gt = id_net(identity_input(gt, size))  # η(y), detached   (B, D)
    return F.l1_loss(id_net(identity_input(pred, size)), emb_gt)  # ‖η(ŷ) − η(y)‖₁


# ------------------------------------------------------------------------------------------------ total (Eq. 9)
def _component_outputs(comp_ds: Mapping[str, nn.Module], crops: Mapping[str, torch.Tensor], return_feats: bool):
    missing = [n for n in COMPONENTS if n not in comp_ds]
    if missing:
        raise KeyError(f"comp_ds lacks discriminator(s) for {missing}; expected keys {COMPONENTS}")
    return {n: comp_ds[n](crops[n], return_feats=return_feats) for n in COMPONENTS}


def generator_loss_terms(cfg: LossConfig, *, image: torch.Tensor, out_rgbs: Optional[Sequence[torch.Tensor]],
                         gt: torch.Tensor, boxes: Optional[Mapping[str, torch.Tensor]] = None,
                         vgg: Optional[nn.Module] = None, net_d: Optional[nn.Module] = None,
                         comp_ds: Optional[Mapping[str, nn.Module]] = None,
                         identity_net: Optional[nn.Module] = None) -> Dict[str, torch.Tensor]:
    """The generator's loss terms *before* weighting (same keys as :func:`generator_loss`, without ``total``).

    A term is computed when its weight in ``cfg`` is positive and its network is given; ``l_pyramid`` needs
    ``out_rgbs``, the component terms need ``boxes``. The discriminators are used with their parameters held
    constant, so no gradient reaches them. See :func:`generator_loss` for the arguments.
    """
    _check_batch(image, "image")
    _check_same_shape(image, gt, "image and gt")
    gt = gt.detach()
    terms: Dict[str, torch.Tensor] = {}
    if cfg.pixel > 0:
        terms["l_pix"] = F.l1_loss(image, gt)  # ‖ŷ − y‖₁
    if cfg.pyramid > 0 and out_rgbs is not None:
        terms["l_pyramid"] = pyramid_loss(out_rgbs, gt)
    if vgg is not None and (cfg.perceptual > 0 or cfg.style > 0):
        l_percep, l_style = perceptual_style_loss(vgg, image, gt, perceptual=cfg.perceptual > 0,
                                                  style=cfg.style > 0)
        if l_percep is not None:
            terms["l_percep"] = l_percep
        if l_style is not None:
            terms["l_style"] = l_style
    with _no_param_grads([net_d, *(comp_ds.values() if comp_ds else ())]):
        if net_d is not None and cfg.gan > 0:
            terms["l_gan"] = g_nonsaturating_loss(net_d(image))  # softplus(−D(ŷ))
        if comp_ds is not None and (cfg.comp_gan > 0 or cfg.comp_style > 0):
            if boxes is None:
                raise ValueError("the component losses need boxes (batch keys loc_left_eye, loc_right_eye, "
                                 "loc_mouth); pass boxes= or set comp_gan = comp_style = 0")
            sizes = cfg.component_sizes()
            fake = _component_outputs(comp_ds, component_crops(image, boxes, sizes), cfg.comp_style > 0)
            if cfg.comp_gan > 0:  # official: vanilla GAN loss (BCE with logits, target real) per component
                terms["l_comp_gan"] = sum(bce_real_loss(fake[n].out) for n in COMPONENTS)
            if cfg.comp_style > 0:
                with torch.no_grad():  # only the real crops' features, which the style loss detaches anyway
                    real = _component_outputs(comp_ds, component_crops(gt, boxes, sizes), True)
                terms["l_comp_style"] = sum(component_style_loss(fake[n].feats, real[n].feats) for n in COMPONENTS)
    if identity_net is not None and cfg.identity > 0:
        terms["l_id"] = identity_loss(identity_net, image, gt, cfg.identity_size)
    return terms


def _term_weights(cfg: LossConfig, iteration: int) -> Dict[str, float]:
    return {"l_pix": cfg.pixel, "l_pyramid": cfg.pyramid_weight(iteration), "l_percep": cfg.perceptual,
            "l_style": cfg.style, "l_gan": cfg.gan, "l_comp_gan": cfg.comp_gan, "l_comp_style": cfg.comp_style,
            "l_id": cfg.identity}


def generator_loss(cfg: LossConfig, *, image: torch.Tensor, out_rgbs: Optional[Sequence[torch.Tensor]],
                   gt: torch.Tensor, boxes: Optional[Mapping[str, torch.Tensor]] = None, iteration: int,
                   vgg: Optional[nn.Module] = None, net_d: Optional[nn.Module] = None,
                   comp_ds: Optional[Mapping[str, nn.Module]] = None,
                   identity_net: Optional[nn.Module] = None) -> Dict[str, torch.Tensor]:
    r"""Eq. 9 for the generator step: every weighted term and their sum.

    Args:
        cfg: the weights (:class:`LossConfig`; ``LossConfig.toy()`` at 32²).
        image: the restoration :math:`\hat y`, ``(B, 3, S, S)`` in [-1, 1].
        out_rgbs: the intermediate RGBs (``return_rgb=True``), or ``None`` (no pyramid loss).
        gt: the ground truth :math:`y` (detached here).
        boxes: ``{'left_eye': (B, 4), 'right_eye': …, 'mouth': …}`` from the batch's ``loc_*`` keys.
        iteration: the training iteration (official count starts at 1), for the pyramid schedule.
        vgg: frozen perceptual network (``None``: no perceptual / style term).
        net_d: whole-face discriminator (``None``: no ``l_gan``).
        comp_ds: ``{'left_eye': D, 'right_eye': D, 'mouth': D}`` component discriminators (``None``: no component
            terms).
        identity_net: frozen identity network (``None``: no ``l_id``).

    Returns:
        ``{'total': Σ weighted terms, 'l_pix': …, 'l_pyramid': …, 'l_percep': …, 'l_style': …, 'l_gan': …,
        'l_comp_gan': …, 'l_comp_style': …, 'l_id': …}``, each term already multiplied by its weight; terms that
        were not computed are absent. ``total`` is what to ``backward()``.
    """
    terms = generator_loss_terms(cfg, image=image, out_rgbs=out_rgbs, gt=gt, boxes=boxes, vgg=vgg, net_d=net_d,
                                 comp_ds=comp_ds, identity_net=identity_net)
    weights = _term_weights(cfg, iteration)
    out = {k: weights[k] * v for k, v in terms.items()}
    out["total"] = sum(out.values()) if out else image.new_zeros(())  # L_total = Σ λ_k L_k
    return out


def discriminator_loss(cfg: LossConfig, *, net_d: nn.Module, fake: torch.Tensor, real: torch.Tensor,
                       iteration: int) -> Dict[str, torch.Tensor]:
    r"""Whole-face discriminator step: logistic loss plus lazy R1 (official weights: 1 and γ/2 · k).

    .. math::  \mathcal L_D = \mathbb E\operatorname{softplus}(-D(y)) + \mathbb E\operatorname{softplus}(D(\hat y))
               \;+\; [\,t \bmod k = 0\,]\; \tfrac{\gamma}{2}\, \mathbb E \lVert \nabla_y D(y) \rVert^2 \cdot k

    Args:
        cfg: ``r1`` (γ) and ``r1_interval`` (k).
        net_d: the discriminator (its parameters should require grad; nothing else is touched).
        fake: restorations (detached here); real: ground truth.
        iteration: training iteration t; R1 is applied when ``t % k == 0``.

    Returns:
        ``{'total', 'l_d', 'l_r1' (on R1 iterations, already scaled), 'real_score', 'fake_score'}`` — the scores
        are the detached mean logits, for logging.
    """
    _check_batch(fake, "fake")
    _check_same_shape(fake, real, "fake and real")
    fake_logits = net_d(fake.detach())
    real_logits = net_d(real.detach())
    l_d = d_logistic_loss(real_logits, fake_logits)  # softplus(−D(y)) + softplus(D(ŷ))
    out = {"l_d": l_d, "real_score": real_logits.detach().mean(), "fake_score": fake_logits.detach().mean()}
    total = l_d
    if cfg.r1 > 0 and iteration % cfg.r1_interval == 0:
        real_in = real.detach().requires_grad_(True)
        # γ/2 · E‖∇_y D(y)‖² · k — lazy: every k-th step, k times as strong (the official code also adds
        # 0·D(y)[0], which only keeps distributed training happy and is left out)
        l_r1 = cfg.r1 / 2 * r1_penalty(net_d(real_in), real_in) * cfg.r1_interval
        out["l_r1"] = l_r1
        total = total + l_r1
    out["total"] = total
    return out


def component_discriminator_loss(cfg: LossConfig, *, comp_ds: Mapping[str, nn.Module], fake: torch.Tensor,
                                 real: torch.Tensor, boxes: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    r"""The three component discriminators' step (weight 1 each, as the official D side).

    Official asymmetry, reproduced: the real crops get the *vanilla* loss (BCE with logits against 1) and the fake
    crops the *softplus* (logistic) loss, because the official code mixes its two GAN criteria here:

    .. math::  \mathcal L_{D_{ROI}} = \mathrm{BCE}(D_{ROI}(y_{ROI}), 1)
               + \mathbb E\operatorname{softplus}(D_{ROI}(\hat y_{ROI}))

    Since :math:`\mathrm{BCE}(t, 1) = -\log\sigma(t) = \operatorname{softplus}(-t)`, the two halves are the same
    logistic loss as :func:`d_logistic_loss`: the asymmetry is one of code, not of mathematics (equal up to rounding).

    Args:
        cfg: the crop sizes.
        comp_ds: ``{'left_eye': D, 'right_eye': D, 'mouth': D}``.
        fake: restorations ``(B, 3, S, S)`` (detached here); real: ground truth.
        boxes: component boxes, as for :func:`generator_loss`.

    Returns:
        ``{'total', 'l_d_left_eye', 'l_d_right_eye', 'l_d_mouth'}``.
    """
    if not comp_ds:
        raise ValueError("comp_ds is empty; the component discriminator step needs the three discriminators")
    _check_batch(fake, "fake")
    _check_same_shape(fake, real, "fake and real")
    sizes = cfg.component_sizes()
    fake_crops = component_crops(fake.detach(), boxes, sizes)
    real_crops = component_crops(real.detach(), boxes, sizes)
    fake_out = _component_outputs(comp_ds, fake_crops, False)
    real_out = _component_outputs(comp_ds, real_crops, False)
    out = {}
    for n in COMPONENTS:
        # vanilla BCE on the real crops (gan_component_opt) + softplus on the fake crops (gan_opt), as officially
        out[f"l_d_{n}"] = bce_real_loss(real_out[n].out) + F.softplus(fake_out[n].out).mean()
    out["total"] = sum(out[f"l_d_{n}"] for n in COMPONENTS)
    return out
