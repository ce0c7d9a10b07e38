"""gfplib.archs — GFPGAN's networks in plain PyTorch, state-dict compatible with the official checkpoints.

Import what you need explicitly, e.g. ``from gfplib.archs import StyleGAN2GeneratorClean``. Nothing here downloads,
compiles or reads files at import time.
"""
from .arcface import ArcMarginProduct, BasicBlock, Bottleneck, IRBlock, ResNetArcFace, SEBlock
from .discriminators import FacialComponentDiscriminator, StyleGAN2Discriminator
from .ops import (ConvLayer, EqualConv2d, EqualLinear, FusedLeakyReLU, ResDownBlock, ScaledLeakyReLU,
                  fused_leaky_relu, make_resample_kernel, stylegan2_channels, upfirdn2d)
from .stylegan2 import StyleGAN2Generator
from .stylegan2_clean import StyleGAN2GeneratorClean, StyleGAN2Output
from .gfpgan import GFPGANv1, GFPGANv1Config, StyleGAN2GeneratorSFT
from .gfpgan_clean import (DegradationRemovalOutput, GFPGANLatentOutput, GFPGANOutput, GFPGANv1Clean,
                           GFPGANv1CleanConfig, StyleGAN2GeneratorCSFT, cs_sft)
