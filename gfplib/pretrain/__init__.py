"""gfplib.pretrain — the toy world's pretrained networks, trained by gfplib itself on toy faces.

GFPGAN stands on three pretrained networks (paper Sec. 3): a StyleGAN2 face generator (the generative facial prior,
生成式人脸先验), an ArcFace identity network (身份保留损失, identity preserving loss) and an ImageNet VGG19 (the
perceptual loss). At paper scale these are downloaded; the series' offline toy world ships its own, each reproduced
by one command:

* ``python -m gfplib.pretrain prior --profile toy`` — StyleGAN2 at 32² (:mod:`gfplib.pretrain.prior`),
* ``python -m gfplib.pretrain identity --profile toy`` — a small ResNet-ArcFace (:mod:`gfplib.pretrain.identity`),
* ``python -m gfplib.pretrain features --profile toy`` — a small VGG19-layout net (:mod:`gfplib.pretrain.features`).

Load the shipped (or official) networks with :func:`load_prior`, :func:`load_identity_net`,
:func:`load_feature_net` (or the ``load_toy_*`` shortcuts) and the trained toy GFPGAN with :func:`load_gfpgan`. Trainers are imported explicitly
(``from gfplib.pretrain.prior import PriorConfig``); importing this package reads no file. Taught in
``notebooks/04_stylegan2_prior.ipynb``.
"""
from gfplib.pretrain.loaders import (GFPGAN_NAMES, PRIOR_ARCHS, load_feature_net, load_gfpgan, load_identity_net,
                                     load_prior, load_toy_arcface, load_toy_prior, load_toy_vgg)

__all__ = ["PRIOR_ARCHS", "GFPGAN_NAMES", "load_gfpgan", "load_prior", "load_toy_prior", "load_identity_net",
           "load_toy_arcface", "load_feature_net", "load_toy_vgg"]
