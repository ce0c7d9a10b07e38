r"""ArcFace identity network (ResNet-18 with IR blocks) and the additive angular margin head used to train it.

Deng et al., "ArcFace: Additive Angular Margin Loss for Deep Face Recognition" (CVPR 2019,
https://arxiv.org/abs/1801.07698), Eq. 3; used by GFPGAN (https://arxiv.org/abs/2101.04061), Sec. 3.5, for the
identity preserving loss (身份保留损失)

.. math::  \mathcal L_{id} = \lambda_{id}\, \| \eta(\hat y) - \eta(y) \|_1,

where :math:`\eta` is :class:`ResNetArcFace` applied to the 128×128 *grayscale* restored / ground-truth faces (GFPGAN
converts RGB to gray with 0.299R + 0.587G + 0.114B before the network). Only the 512-d embedding is used; the
margin head below is needed to *train* such a network (the series trains a toy one in
``notebooks/04_stylegan2_prior.ipynb``).

**Additive angular margin** (ArcFace): with L2-normalised embedding :math:`x` and class centres :math:`W_j`,
:math:`\cos\theta_j = \hat W_j^\top \hat x`, the logit of the true class :math:`y` is moved from
:math:`s\cos\theta_y` to :math:`s\cos(\theta_y + m)` before softmax cross-entropy, so that classes must be separated
by an angle margin :math:`m` on the hypersphere of radius :math:`s`.

Attribute names follow the official ``arcface_arch.py`` so that ``arcface_resnet18.pth`` loads with ``strict=True``.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Type, Union

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["conv3x3", "BasicBlock", "IRBlock", "Bottleneck", "SEBlock", "ResNetArcFace", "ArcMarginProduct",
           "init_arcface_weights"]


def conv3x3(inplanes: int, outplanes: int, stride: int = 1) -> nn.Conv2d:
    """3×3 convolution, padding 1, no bias (a BatchNorm follows)."""
    return nn.Conv2d(inplanes, outplanes, kernel_size=3, stride=stride, padding=1, bias=False)


class SEBlock(nn.Module):
    """Squeeze-and-excitation: rescale channels by ``σ(FC(PReLU(FC(avgpool(x)))))``.

    Args:
        channel: channels of the input.
        reduction: bottleneck ratio of the two fully connected layers.
    """

    def __init__(self, channel: int, reduction: int = 16) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(nn.Linear(channel, channel // reduction), nn.PReLU(),
                                nn.Linear(channel // reduction, channel), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, _, _ = x.shape
        y = self.fc(self.avg_pool(x).view(b, c)).view(b, c, 1, 1)  # channel gates in (0, 1)   (B, C, 1, 1)
        return x * y


class BasicBlock(nn.Module):
    """ResNet basic block: conv-BN-ReLU-conv-BN + shortcut, ReLU.

    Args:
        inplanes: input channels.
        planes: output channels.
        stride: stride of the first conv.
        downsample: shortcut projection (or None for identity).
        use_se: add a squeeze-and-excitation block before the sum (not in the official class).
    """

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: Optional[nn.Module] = None,
                 use_se: bool = False) -> None:
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride
        self.use_se = use_se
        if use_se:
            self.se = SEBlock(planes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.use_se:
            out = self.se(out)
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(out + residual)


class IRBlock(nn.Module):
    """Improved residual block (ArcFace): BN-conv-BN-PReLU-conv(stride)-BN [-SE] + shortcut, PReLU.

    The single ``prelu`` module is applied twice (inside the branch and after the sum), as in the official code.

    Args:
        inplanes: input channels.
        planes: output channels.
        stride: stride of the second conv.
        downsample: shortcut projection (or None for identity).
        use_se: add a squeeze-and-excitation block.
    """

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: Optional[nn.Module] = None,
                 use_se: bool = True) -> None:
        super().__init__()
        self.bn0 = nn.BatchNorm2d(inplanes)
        self.conv1 = conv3x3(inplanes, inplanes)
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.prelu = nn.PReLU()
        self.conv2 = conv3x3(inplanes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride
        self.use_se = use_se
        if use_se:
            self.se = SEBlock(planes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.prelu(self.bn1(self.conv1(self.bn0(x))))
        out = self.bn2(self.conv2(out))  # (B, planes, H/stride, W/stride)
        if self.use_se:
            out = self.se(out)
        residual = x if self.downsample is None else self.downsample(x)
        return self.prelu(out + residual)


class Bottleneck(nn.Module):
    """ResNet bottleneck block: 1×1 → 3×3 (stride) → 1×1 (×4 channels) + shortcut, ReLU.

    Args:
        inplanes: input channels.
        planes: bottleneck channels (output is ``4·planes``).
        stride: stride of the 3×3 conv.
        downsample: shortcut projection (or None for identity).
        use_se: add a squeeze-and-excitation block before the sum (not in the official class).
    """

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: Optional[nn.Module] = None,
                 use_se: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride
        self.use_se = use_se
        if use_se:
            self.se = SEBlock(planes * self.expansion)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.use_se:
            out = self.se(out)
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(out + residual)


_BLOCKS = {"IRBlock": IRBlock, "BasicBlock": BasicBlock, "Bottleneck": Bottleneck}
Block = Union[Type[IRBlock], Type[BasicBlock], Type[Bottleneck]]


def init_arcface_weights(net: nn.Module) -> None:
    """The official initialisation of the ArcFace ResNet: Xavier-normal conv/linear weights, zero biases, BN at identity."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_normal_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class ResNetArcFace(nn.Module):
    """ArcFace ResNet: grayscale face ``(B, 1, 128, 128)`` → identity embedding ``(B, 512)``.

    conv3×3 (1→64) – BN – PReLU – maxpool ÷2 → four stages (64, 128, 256, 512 channels; ÷2 in stages 2–4) → BN –
    dropout – flatten (512·8·8) – FC 512 – BN1d. Compare embeddings by cosine similarity.

    Args:
        block: ``'IRBlock'`` (official), ``'BasicBlock'``, ``'Bottleneck'``, or the block class.
        layers: blocks per stage; ``(2, 2, 2, 2)`` is the ResNet-18 layout of ``arcface_resnet18.pth``.
        use_se: squeeze-and-excitation in every block (the released checkpoint has ``use_se=False``).
    """

    def __init__(self, block: Union[str, Block] = "IRBlock", layers: Sequence[int] = (2, 2, 2, 2),
                 use_se: bool = True) -> None:
        super().__init__()
        if isinstance(block, str):
            if block not in _BLOCKS:
                raise ValueError(f"unknown block {block!r}; expected one of {sorted(_BLOCKS)}")
            block = _BLOCKS[block]
        if len(layers) != 4 or any(int(n) < 1 for n in layers):
            raise ValueError(f"layers must be 4 positive block counts, got {tuple(layers)}")
        self.inplanes = 64
        self.use_se = use_se
        self.conv1 = nn.Conv2d(1, 64, kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.prelu = nn.PReLU()
        self.maxpool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        out_c = 512 * block.expansion
        self.bn4 = nn.BatchNorm2d(out_c)
        self.dropout = nn.Dropout()
        self.fc5 = nn.Linear(out_c * 8 * 8, 512)
        self.bn5 = nn.BatchNorm1d(512)
        init_arcface_weights(self)

    def _make_layer(self, block: Block, planes: int, num_blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample, use_se=self.use_se)]
        self.inplanes = planes * block.expansion
        for _ in range(1, num_blocks):
            layers.append(block(self.inplanes, planes, use_se=self.use_se))
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x ``(B, 1, 128, 128)`` grayscale faces in [-1, 1]. Returns ``(B, 512)`` embeddings."""
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise TypeError("ResNetArcFace expects a floating-point torch.Tensor")
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 128, 128):
            raise ValueError(f"ResNetArcFace expects grayscale faces of shape (B, 1, 128, 128), got {tuple(x.shape)}")
        x = self.maxpool(self.prelu(self.bn1(self.conv1(x))))  # (B, 64, 64, 64)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (B, 512, 8, 8)
        x = self.dropout(self.bn4(x))
        x = self.fc5(x.flatten(1))  # (B, 512)
        return self.bn5(x)


class ArcMarginProduct(nn.Module):
    """ArcFace classification head: logits ``s·cos(θ_j + m·[j = y])`` for training an identity embedding.

    Args:
        in_features: embedding dimension (512).
        num_classes: number of identities in the training set.
        s: radius of the hypersphere (logit scale).
        m: additive angular margin in radians (0.5 ≈ 28.6°).
        easy_margin: apply the margin only where ``cos θ > 0`` (gentler start for small data).
    """

    def __init__(self, in_features: int, num_classes: int, s: float = 64.0, m: float = 0.5,
                 easy_margin: bool = False) -> None:
        super().__init__()
        if not 0 <= m < math.pi / 2:
            raise ValueError(f"margin m must be in [0, π/2), got {m}")
        if s <= 0:
            raise ValueError(f"scale s must be > 0, got {s}")
        self.in_features, self.num_classes, self.s, self.m = in_features, num_classes, s, m
        self.easy_margin = easy_margin
        self.weight = nn.Parameter(torch.empty(num_classes, in_features))  # class centres W_j
        nn.init.xavier_uniform_(self.weight)
        self.cos_m, self.sin_m = math.cos(m), math.sin(m)
        # beyond θ > π − m, cos(θ + m) is no longer decreasing in θ: fall back to a linear penalty there
        self.th = math.cos(math.pi - m)
        self.mm = math.sin(math.pi - m) * m

    def cosine(self, emb: torch.Tensor) -> torch.Tensor:
        """``cos θ_j = Ŵ_j · x̂`` for every class: ``(B, in_features)`` → ``(B, num_classes)``."""
        if emb.ndim != 2 or emb.shape[1] != self.in_features:
            raise ValueError(f"embeddings must have shape (B, {self.in_features}), got {tuple(emb.shape)}")
        return F.linear(F.normalize(emb, dim=1), F.normalize(self.weight, dim=1))

    def forward(self, emb: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Args: emb ``(B, in_features)``; labels ``(B,)`` int64 class ids (None: plain ``s·cos θ``, for inference).

        Returns:
            ``(B, num_classes)`` logits for ``F.cross_entropy``.
        """
        cos = self.cosine(emb)  # (B, num_classes)
        if labels is None:
            return self.s * cos
        if labels.shape != (emb.shape[0],) or labels.dtype != torch.long:
            raise ValueError(f"labels must be int64 of shape ({emb.shape[0]},), got {labels.dtype} "
                             f"{tuple(labels.shape)}")
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
            raise ValueError(f"labels must lie in [0, {self.num_classes}), got range "
                             f"[{int(labels.min())}, {int(labels.max())}]")
        sin = torch.sqrt((1.0 - cos * cos).clamp(0, 1))
        phi = cos * self.cos_m - sin * self.sin_m  # cos(θ + m) = cos θ cos m − sin θ sin m
        if self.easy_margin:
            phi = torch.where(cos > 0, phi, cos)
        else:
            phi = torch.where(cos > self.th, phi, cos - self.mm)
        one_hot = F.one_hot(labels, self.num_classes).bool()
        return self.s * torch.where(one_hot, phi, cos)  # s · cos(θ_y + m) on the true class, s · cos θ_j elsewhere
