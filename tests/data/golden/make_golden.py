#!/usr/bin/env python
"""Record golden outputs of the OFFICIAL GFPGAN / basicsr code for ``tests/test_golden.py`` (run once, by hand).

    cd <repo root> && OMP_NUM_THREADS=1 .venv/bin/python tests/data/golden/make_golden.py [--refcheck DIR]

This script is never imported by gfplib or by the tests. It needs the project's refcheck harness (``refsrc.py``,
``compare.py``, ``models.py``; default ``<repo>/../shared/refcheck``, or ``--refcheck`` / ``$GFPREF_REFCHECK``), which
downloads ``gfpgan==1.3.8`` (wheel) and ``basicsr==1.4.2`` (sdist) from PyPI, checks their sha256 and exposes the
official architectures under the private package names ``_gfpref_gfpgan`` / ``_gfpref_basicsr``. On top of that this
script extracts, the same way, the official loss, VGG and degradation modules of basicsr and reads three methods of
``GFPGANModel`` (``gfpgan/models/gfpgan_model.py``) with ``ast``, because that module cannot be imported without all
of basicsr.

What it writes next to itself (``torch.save`` of plain dicts, loadable with ``torch.load(weights_only=True)``; the
format is described in ``README.md``):

* ``arch_*.pt`` — per network: constructor kwargs, the official ``state_dict`` (every constant-initialised tensor
  perturbed exactly as refcheck does; tensors too large to store are *generated*, see :func:`pcg64_uniform`),
  inputs, forward arguments, and the official outputs computed in float64;
* ``degradation.pt`` — official blur kernels (``basicsr.data.degradations``), cv2 steps of the official dataset;
* ``losses.pt`` — inputs and outputs of the official loss terms (``basicsr.losses`` and GFPGANModel's helpers).

Determinism: fixed seeds, ``randomize_noise=False`` (stored noise buffers), eval mode, no dropout.
"""
import argparse
import ast
import copy
import math
import os
import platform
import random
import sys
import tarfile
import types
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
GEN_MIN_NUMEL = 2048  # state-dict tensors at least this large are generated (pcg64_uniform), not stored


# ------------------------------------------------------------------------------------------------ helpers
def pcg64_uniform(shape, seed):
    """Values in [-1, 1) from the raw 64-bit stream of NumPy's PCG64 bit generator (a fixed algorithm: the same on
    every platform and NumPy version), 53 bits each, converted exactly: ``(r >> 11) · 2**-52 − 1``.
    tests/test_golden.py has a copy of this function."""
    raw = np.random.PCG64(seed).random_raw(math.prod(shape))  # uint64
    u = (raw >> np.uint64(11)).astype(np.float64) * 2.0**-52 - 1.0
    return torch.from_numpy(u).view(*shape)


def key_seed(key):
    import zlib
    return zlib.crc32(key.encode()) & 0x7FFFFFFF


def smooth_img(gen, shape):
    """Image-like input in [-1, 1]: bilinear-upsampled 8x8 noise plus fine noise (refcheck's models._smooth_img)."""
    n, c, h, w = shape
    low = torch.rand((n, c, 8, 8), generator=gen) * 2 - 1
    low = F.interpolate(low, size=(h, w), mode='bilinear', align_corners=False)
    return (0.8 * low + 0.2 * (torch.rand(shape, generator=gen) * 2 - 1)).clamp(-1, 1)


def detach(x):
    """Outputs as plain, contiguous, owned tensors (torch.save would otherwise store the whole base storage).

    Reference outputs are computed in float64 and stored rounded once to float32 (half the size; the rounding,
    <= 6e-8 relative, is far below every test tolerance), except 0-d values (loss values), which stay float64.
    """
    if isinstance(x, torch.Tensor):
        x = x.detach().clone().contiguous()
        return x.float() if x.is_floating_point() and x.ndim > 0 else x
    if isinstance(x, (list, tuple)):
        return [detach(e) for e in x]
    if isinstance(x, dict):
        return {k: detach(v) for k, v in x.items()}
    return x


def to64(x):
    if isinstance(x, torch.Tensor):
        return x.double() if x.is_floating_point() else x
    if isinstance(x, (list, tuple)):
        return type(x)(to64(e) for e in x)
    if isinstance(x, dict):
        return {k: to64(v) for k, v in x.items()}
    return x


def flat(x):
    if isinstance(x, torch.Tensor):
        return [x]
    return [t for e in x for t in flat(e)]


def rel_err(a, b):
    """max |a - b| / max(1, max |b|) over all tensors of two (nested) outputs."""
    err = 0.0
    for u, v in zip(flat(a), flat(b)):
        err = max(err, float((u.double() - v.double()).abs().max()) / max(1.0, float(v.double().abs().max())))
    return err


# ------------------------------------------------------------------------------------------------ official code
def load_refcheck(path):
    sys.path.insert(0, str(path))
    import refsrc  # noqa: E402
    import compare  # noqa: E402  (for perturb(): the same perturbation as the refcheck harness)
    return refsrc, compare


EXTRA_BASICSR = [
    'basicsr/data/degradations.py',
    'basicsr/losses/loss_util.py',
    'basicsr/losses/basic_loss.py',
    'basicsr/losses/gan_loss.py',
    'basicsr/archs/vgg_arch.py',
]


def load_extra(refsrc, ns):
    """Extract basicsr's losses, VGG extractor and degradations next to refcheck's arch files (same private names)."""
    pkgroot = ns.pkgroot
    _, sdist = refsrc.download(os.path.join(refsrc.cache_dir(), 'dl'), log=print)
    with tarfile.open(sdist) as t:
        for f in EXTRA_BASICSR:
            src = t.extractfile(f'basicsr-{refsrc.BASICSR_VERSION}/{f}').read().decode()
            src = refsrc._rewrite(src)
            # torchvision >= 0.17 has no functional_tensor; rgb_to_grayscale (unused here) moved to functional
            src = src.replace('from torchvision.transforms.functional_tensor import rgb_to_grayscale',
                              'from torchvision.transforms.functional import rgb_to_grayscale  # golden: moved')
            refsrc._write(os.path.join(pkgroot, refsrc.PKG_B + f[len('basicsr'):]), src)
    for sub in ('data', 'losses'):  # empty package inits: the official ones import all of basicsr
        refsrc._write(os.path.join(pkgroot, refsrc.PKG_B, sub, '__init__.py'), refsrc.SHIM_EMPTY)
    import importlib
    b = refsrc.PKG_B
    return types.SimpleNamespace(
        degradations=importlib.import_module(f'{b}.data.degradations'),
        basic_loss=importlib.import_module(f'{b}.losses.basic_loss'),
        gan_loss=importlib.import_module(f'{b}.losses.gan_loss'),
        vgg_arch=importlib.import_module(f'{b}.archs.vgg_arch'),
    )


def load_gfpgan_model_methods(refsrc):
    """GFPGANModel._gram_mat, gray_resize_for_identity, construct_img_pyramid and the nested _comp_style, compiled
    from the official source (the module itself imports half of basicsr, so it is read with ast, not imported)."""
    whl, _ = refsrc.download(os.path.join(refsrc.cache_dir(), 'dl'), log=print)
    with zipfile.ZipFile(whl) as z:
        src = z.read('gfpgan/models/gfpgan_model.py').decode()
    tree = ast.parse(src)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == 'GFPGANModel')
    funcs = {n.name: n for n in cls.body if isinstance(n, ast.FunctionDef)}
    comp = next(n for n in ast.walk(funcs['optimize_parameters'])
                if isinstance(n, ast.FunctionDef) and n.name == '_comp_style')
    wanted = [funcs['_gram_mat'], funcs['gray_resize_for_identity'], funcs['construct_img_pyramid'], comp]
    glb = {'torch': torch, 'F': F}
    exec(compile(ast.Module(body=wanted, type_ignores=[]), 'gfpgan/models/gfpgan_model.py', 'exec'), glb)
    model = types.SimpleNamespace()
    for name in ('_gram_mat', 'gray_resize_for_identity', 'construct_img_pyramid'):
        setattr(model, name, types.MethodType(glb[name], model))
    glb['self'] = model  # _comp_style is a closure over `self` inside optimize_parameters
    model._comp_style = glb['_comp_style']
    return model


# ------------------------------------------------------------------------------------------------ architectures
def build_reference(ref_cls, kwargs, seed, compare, gen_min_numel=None):
    """Official module, seeded, constant tensors perturbed (refcheck), large tensors replaced by generated values."""
    torch.manual_seed(seed)
    net = ref_cls(**kwargs)
    compare.perturb(net, seed + 12345)
    generated = {}
    if gen_min_numel:
        with torch.no_grad():
            for key, t in net.state_dict().items():
                if t.is_floating_point() and t.numel() >= gen_min_numel:
                    scale = float(f'{float(t.float().std()) * math.sqrt(3):.6g}')  # uniform with the init's std
                    s = key_seed(key)
                    val = (pcg64_uniform(tuple(t.shape), s) * scale).to(t.dtype)
                    t.copy_(val)  # state_dict() tensors share storage with the parameters
                    generated[key] = dict(shape=list(t.shape), seed=s, scale=scale, dtype=str(t.dtype),
                                          head=val.flatten()[:8].clone(), sum=float(val.double().sum()))
    net.eval()
    sd = {k: v.detach().clone() for k, v in net.state_dict().items() if k not in generated}
    return net, sd, generated


def record_call(net, args, kwargs, output_names):
    """Run the official module in float32 and in float64 (same float32 weights, cast up: exact)."""
    with torch.no_grad():
        out32 = net(*copy.deepcopy(args), **copy.deepcopy(kwargs))
        net64 = copy.deepcopy(net).double()
        out64 = net64(*to64(copy.deepcopy(args)), **to64(copy.deepcopy(kwargs)))
    out32 = out32 if isinstance(out32, tuple) else (out32,)
    out64 = out64 if isinstance(out64, tuple) else (out64,)
    outputs = {name: detach(o) for name, o in zip(output_names, out64) if o is not None}
    ref32 = [o for o in out32 if o is not None]
    err = rel_err(ref32, [o for o in out64 if o is not None])
    return dict(args=detach(list(args)), kwargs=detach(dict(kwargs)), output_names=list(output_names),
                outputs=outputs, ref_float32_rel_err=err,
                ref_max_abs=max(float(t.abs().max()) for t in flat(list(outputs.values()))))


def arch_models():
    """Every recorded network: (file, model name, official class, constructor kwargs, seed, calls).

    A call is (name, make_args, forward kwargs). Toy sizes: out_size 16-64, narrow 1/32 or 1/16 (16 or 32 channels
    in StyleGAN2, half in the GFPGAN U-Net), 16-d style codes, 2 mapping layers; the GFPGAN models at 64 use
    channel_multiplier 1 and 2, so the >= 64 width rule is exercised; batches of 1 and 2 (gfplib has separate paths
    for both).
    """
    g = lambda s: torch.Generator().manual_seed(s)  # noqa: E731
    nf = 16  # num_style_feat of the toy generators

    def sg2_calls(n_latent):
        return [
            ('z_batch2', lambda: ([torch.randn(2, nf, generator=g(11))],),
             dict(input_is_latent=False, randomize_noise=False, return_latents=True)),
            ('mix_truncation', lambda: ([torch.randn(2, nf, generator=g(12)), torch.randn(2, nf, generator=g(13))],),
             dict(input_is_latent=False, randomize_noise=False, truncation=0.7,
                  truncation_latent=torch.randn(1, nf, generator=g(14)), inject_index=3, return_latents=True)),
            ('wplus_batch1', lambda: ([torch.randn(1, n_latent, nf, generator=g(15))],),
             dict(input_is_latent=True, randomize_noise=False, return_latents=True)),
        ]

    def gfp_call(b, size, s):
        return [('restore', lambda: (smooth_img(g(s), (b, 3, size, size)),),
                 dict(return_rgb=True, randomize_noise=False))]

    def img_call(name, s, shape, **fwd):
        return (name, lambda: (smooth_img(g(s), shape),), fwd)

    # with channel_multiplier 1, narrow 1/16 is the smallest width gfplib accepts (it rejects configurations in which
    # an unused resolution, 1024, would get 0 channels; the official code builds them)
    sg2 = dict(num_style_feat=nf, num_mlp=2, channel_multiplier=1, lr_mlp=0.01, narrow=1 / 16)
    gfp = dict(num_style_feat=nf, decoder_load_path=None, num_mlp=2)
    return [
        # ---- StyleGAN2 generators (out 32: num_latent = 8)
        ('arch_stylegan2_clean.pt', 'clean_c2', 'StyleGAN2GeneratorClean',
         dict(out_size=32, num_style_feat=nf, num_mlp=2, channel_multiplier=2, narrow=1 / 32), 100, sg2_calls(8)),
        ('arch_stylegan2.pt', 'c1', 'StyleGAN2Generator',
         dict(out_size=32, resample_kernel=(1, 3, 3, 1), **sg2), 101, sg2_calls(8)),
        # an asymmetric FIR kernel: a flipped or transposed kernel anywhere in upfirdn2d changes the output
        ('arch_stylegan2.pt', 'asym_kernel', 'StyleGAN2Generator',
         dict(out_size=16, resample_kernel=(1, 2, 4, 1), **sg2), 102, sg2_calls(6)[:1]),
        # ---- GFPGAN: the v1.3/v1.4 switches (clean) and the train_gfpgan_v1.yml switches (original), toy widths;
        #      plus full-channel SFT with one shared z code
        ('arch_gfpganv1_clean.pt', 'release_path', 'GFPGANv1Clean',
         dict(out_size=64, channel_multiplier=2, fix_decoder=False, input_is_latent=True, different_w=True,
              narrow=1 / 32, sft_half=True, **gfp), 110, gfp_call(1, 64, 21)),
        ('arch_gfpganv1_clean.pt', 'full_sft_shared_w', 'GFPGANv1Clean',
         dict(out_size=32, channel_multiplier=1, fix_decoder=True, input_is_latent=False, different_w=False,
              narrow=1 / 16, sft_half=False, **gfp), 111, gfp_call(2, 32, 22)),
        ('arch_gfpganv1.pt', 'paper_path', 'GFPGANv1',
         dict(out_size=64, channel_multiplier=1, resample_kernel=(1, 3, 3, 1), fix_decoder=True, lr_mlp=0.01,
              input_is_latent=True, different_w=True, narrow=1 / 16, sft_half=True, **gfp), 120, gfp_call(1, 64, 23)),
        ('arch_gfpganv1.pt', 'full_sft_shared_w', 'GFPGANv1',
         dict(out_size=32, channel_multiplier=1, resample_kernel=(1, 3, 3, 1), fix_decoder=True, lr_mlp=0.01,
              input_is_latent=False, different_w=False, narrow=1 / 16, sft_half=False, **gfp), 121,
         gfp_call(2, 32, 24)),
        # ---- discriminators
        ('arch_discriminators.pt', 'stylegan2_c1', 'StyleGAN2Discriminator',
         dict(out_size=64, channel_multiplier=1, resample_kernel=(1, 3, 3, 1), stddev_group=4, narrow=1 / 16), 130,
         [img_call('logits', 31, (2, 3, 64, 64))]),
        ('arch_discriminators.pt', 'stylegan2_asym', 'StyleGAN2Discriminator',  # batch 4 = two stddev groups of 2
         dict(out_size=16, channel_multiplier=1, resample_kernel=(1, 2, 4, 1), stddev_group=2, narrow=1 / 16), 131,
         [img_call('logits', 32, (4, 3, 16, 16))]),
        ('arch_discriminators.pt', 'facial_component', 'FacialComponentDiscriminator', {}, 132,
         [img_call('logits', 33, (2, 3, 16, 16), return_feats=False),
          img_call('with_feats', 33, (2, 3, 16, 16), return_feats=True)]),
        # ---- identity network: the arcface_resnet18.pth layout
        ('arch_arcface.pt', 'resnet18_ir', 'ResNetArcFace', dict(block='IRBlock', layers=[2, 2, 2, 2], use_se=False),
         140, [img_call('embed', 41, (1, 1, 128, 128))]),
        # the class default use_se=True, on one block (a whole SE network would add another 28M generated weights)
        ('arch_arcface.pt', 'ir_block_se', 'IRBlock', dict(inplanes=64, planes=64, stride=1, use_se=True), 141,
         [('features', lambda: (torch.randn(2, 64, 8, 8, generator=g(42)),), {})]),
    ]


OUTPUT_NAMES = {
    'StyleGAN2GeneratorClean': ('image', 'latent'), 'StyleGAN2Generator': ('image', 'latent'),
    'GFPGANv1Clean': ('image', 'out_rgbs'), 'GFPGANv1': ('image', 'out_rgbs'),
    'StyleGAN2Discriminator': ('logits',), 'FacialComponentDiscriminator': ('logits', 'feats'),
    'ResNetArcFace': ('embedding',), 'IRBlock': ('features',),
}


def record_archs(ns, compare, meta):
    files = {}
    for fname, mname, cls_name, kwargs, seed, calls in arch_models():
        net, sd, generated = build_reference(getattr(ns, cls_name), kwargs, seed, compare, GEN_MIN_NUMEL)
        entry = dict(cls=cls_name, kwargs=kwargs, seed=seed, state_dict=sd, generated=generated,
                     state_dict_keys=list(net.state_dict().keys()), calls={})
        for cname, make_args, fwd in calls:
            rec = record_call(net, make_args(), fwd, OUTPUT_NAMES[cls_name])
            entry['calls'][cname] = rec
            print(f'{fname:28s} {mname:18s} {cname:15s} |ref| {rec["ref_max_abs"]:9.4g}  '
                  f'ref f32-vs-f64 rel err {rec["ref_float32_rel_err"]:.2e}')
        files.setdefault(fname, dict(meta=meta, models={}))['models'][mname] = entry
    return files


# ------------------------------------------------------------------------------------------------ degradation
def record_degradation(extra, meta):
    d = extra.degradations
    kernels = []
    for ks, sx, sy, th, iso in [(41, 0.1, 0.1, 0.0, True), (41, 2.5, 2.5, 0.0, True), (21, 7.0, 7.0, 0.0, True),
                                (5, 0.625, 0.625, 0.0, True), (41, 6.0, 1.5, 0.7, False), (41, 1.2, 8.5, -2.1, False),
                                (21, 0.3, 4.0, 3.0, False), (5, 0.5, 0.2, -0.4, False)]:
        kernels.append(dict(kernel_size=ks, sigma_x=sx, sigma_y=sy, theta=th, isotropic=iso,
                            sigma_matrix=torch.from_numpy(d.sigma_matrix2(sx, sy, th)),
                            kernel=torch.from_numpy(d.bivariate_Gaussian(ks, sx, sy, th, isotropic=iso))))
    xy, xx, yy = d.mesh_grid(5)
    mesh = dict(kernel_size=5, xy=torch.from_numpy(xy), xx=torch.from_numpy(xx), yy=torch.from_numpy(yy))
    # random_mixed_kernels as FFHQDegradationDataset calls it; the drawn parameters are replayed afterwards
    mixed = []
    for seed, ks, sig in [(0, 41, (0.1, 10)), (1, 41, (0.1, 10)), (2, 41, (0.1, 10)), (3, 41, (0.1, 10)),
                          (4, 41, (0.1, 10)), (5, 5, (0.00625, 0.625)), (6, 5, (0.00625, 0.625))]:
        args = (['iso', 'aniso'], [0.5, 0.5], ks, sig, sig, [-math.pi, math.pi])
        random.seed(seed)
        np.random.seed(seed)
        kernel = d.random_mixed_kernels(*args, noise_range=None)
        random.seed(seed)
        np.random.seed(seed)
        ktype = random.choices(args[0], args[1])[0]
        sx = float(np.random.uniform(sig[0], sig[1]))
        if ktype == 'aniso':
            sy, th = float(np.random.uniform(sig[0], sig[1])), float(np.random.uniform(-math.pi, math.pi))
        else:
            sy, th = sx, 0.0
        replay = d.bivariate_Gaussian(ks, sx, sy, th, isotropic=ktype == 'iso')
        replay = replay / np.sum(replay)  # random_bivariate_Gaussian normalises a second time
        assert np.array_equal(replay, kernel), 'replayed parameters do not reproduce random_mixed_kernels'
        mixed.append(dict(seed=seed, kernel_list=list(args[0]), kernel_prob=list(args[1]), kernel_size=ks,
                          sigma_range=list(sig), rotation_range=[-math.pi, math.pi], kernel_type=ktype,
                          sigma_x=sx, sigma_y=sy, theta=th, kernel=torch.from_numpy(kernel)))
    # the cv2 steps of FFHQDegradationDataset.__getitem__ (BGR float32 images), with fixed parameters
    import cv2
    gen = torch.Generator().manual_seed(50)
    gt = ((smooth_img(gen, (1, 3, 48, 48))[0].permute(1, 2, 0) + 1) / 2).numpy().astype(np.float32)  # HWC in [0,1]
    gt_bgr = np.ascontiguousarray(gt[..., ::-1])
    ks, sx, sy, th, scale, quality = 21, 2.2, 0.9, 0.6, 3.7, 70
    kernel = d.bivariate_Gaussian(ks, sx, sy, th, isotropic=False)
    h, w = gt_bgr.shape[:2]
    blurred = cv2.filter2D(gt_bgr, -1, kernel)
    down = cv2.resize(blurred, (int(w // scale), int(h // scale)), interpolation=cv2.INTER_LINEAR)
    jpeg = d.add_jpg_compression(down, quality)
    back = cv2.resize(jpeg, (w, h), interpolation=cv2.INTER_LINEAR)
    gray = np.tile(cv2.cvtColor(back, cv2.COLOR_BGR2GRAY)[:, :, None], [1, 1, 3])
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    pipeline = dict(order='BGR', kernel_size=ks, sigma_x=sx, sigma_y=sy, theta=th, scale=scale, quality=quality,
                    gt=t(gt_bgr), kernel=t(kernel), blurred=t(blurred), downsampled=t(down), jpeg=t(jpeg),
                    resized=t(back), gray=t(gray))
    return dict(meta=meta, kernels=kernels, mesh_grid=mesh, mixed=mixed, pipeline=pipeline)


# ------------------------------------------------------------------------------------------------ losses
class _VGGShim:
    """Stands in for ``torchvision.models.vgg`` inside basicsr's vgg_arch: returns a VGG19 with *our* random weights
    instead of downloading the ImageNet ones (vgg_arch falls back to ``vgg19(pretrained=True)`` without the file)."""

    def __init__(self, state_dict):
        self.state_dict = state_dict

    def vgg19(self, pretrained=False):
        import torchvision
        net = torchvision.models.vgg19(weights=None)
        missing = net.load_state_dict(self.state_dict, strict=False).missing_keys
        assert not any(k.startswith('features.') and k in self.state_dict for k in missing)
        return net


def record_losses(extra, methods, meta):
    g = lambda s: torch.Generator().manual_seed(s)  # noqa: E731
    bl, gl = extra.basic_loss, extra.gan_loss
    with torch.no_grad():
        # ---- L1
        pred, target = torch.randn(2, 3, 8, 8, generator=g(60)), torch.randn(2, 3, 8, 8, generator=g(61))
        l1 = dict(pred=pred, target=target, cases=[])
        for lw, red in [(0.1, 'mean'), (1.0, 'mean'), (1.0, 'sum')]:
            val = bl.L1Loss(loss_weight=lw, reduction=red)(pred.double(), target.double())
            l1['cases'].append(dict(loss_weight=lw, reduction=red, value=detach(val)))
        # ---- Gram matrix (basicsr PerceptualLoss._gram_mat == GFPGANModel._gram_mat)
        feat = torch.randn(2, 8, 5, 7, generator=g(62))
        gram = bl.PerceptualLoss._gram_mat(None, feat.double())
        assert torch.equal(gram, methods._gram_mat(feat.double()))
        gram_entry = dict(x=feat, gram=detach(gram))
        # ---- perceptual + style loss with a random VGG19 (only the layers up to conv2_1 are stored)
        torch.manual_seed(63)
        import torchvision
        full = torchvision.models.vgg19(weights=None).state_dict()
        vgg_sd = {k: v.clone() for k, v in full.items() if k.startswith('features.') and int(k.split('.')[1]) <= 5}
        del full
        extra.vgg_arch.vgg = _VGGShim(vgg_sd)
        extra.vgg_arch.VGG_PRETRAIN_PATH = '/nonexistent/vgg19.pth'  # take the (shimmed) pretrained=True branch
        layer_weights = {'conv1_2': 0.1, 'conv2_1': 1.0}  # conv2_1: keeps the stored VGG small
        pkw = dict(vgg_type='vgg19', use_input_norm=True, range_norm=True, perceptual_weight=1.0, style_weight=50.0,
                   criterion='l1')
        ploss = bl.PerceptualLoss(layer_weights, **pkw).double()
        x, gt = smooth_img(g(64), (2, 3, 16, 16)), smooth_img(g(65), (2, 3, 16, 16))
        percep, style = ploss(x.double(), gt.double())
        feats = ploss.vgg(x.double())
        perceptual = dict(vgg19_state_dict=vgg_sd, layer_weights=layer_weights, kwargs=pkw, x=x, gt=gt,
                          percep=detach(percep), style=detach(style), features_x=detach(dict(feats)))
        # ---- GAN losses
        logits = torch.randn(4, 1, generator=g(66)) * 2
        patch = torch.randn(2, 1, 5, 5, generator=g(67)) * 2
        gan = []
        for gan_type, lw, inp_name, inp in [('wgan_softplus', 0.1, 'logits', logits), ('vanilla', 1.0, 'patch', patch),
                                            ('vanilla', 0.5, 'patch', patch)]:
            crit = gl.GANLoss(gan_type, real_label_val=1.0, fake_label_val=0.0, loss_weight=lw)
            for real in (True, False):
                for is_disc in (False, True):
                    gan.append(dict(gan_type=gan_type, loss_weight=lw, real_label_val=1.0, fake_label_val=0.0,
                                    input=inp_name, target_is_real=real, is_disc=is_disc,
                                    value=detach(crit(inp.double(), real, is_disc=is_disc))))
        gan_entry = dict(inputs=dict(logits=logits, patch=patch), cases=gan)
        # ---- component style loss (GFPGANModel.optimize_parameters._comp_style) with cri_l1 = L1Loss(1.0, 'mean')
        fk = [torch.randn(2, 16, 10, 10, generator=g(68)), torch.randn(2, 32, 5, 5, generator=g(69))]
        rl = [torch.randn(2, 16, 10, 10, generator=g(70)), torch.randn(2, 32, 5, 5, generator=g(71))]
        comp = methods._comp_style(to64(fk), to64(rl), bl.L1Loss(loss_weight=1.0, reduction='mean'))
        comp_entry = dict(feat=fk, feat_gt=rl, criterion=dict(type='L1Loss', loss_weight=1.0, reduction='mean'),
                          value=detach(comp))
        # ---- gray conversion + resize for the identity loss, and the image pyramid of the pyramid loss
        img = smooth_img(g(72), (1, 3, 40, 40))
        gray = methods.gray_resize_for_identity(img.double(), size=128)
        identity_gray = dict(img=img, size=128, gray=detach(gray))
        methods.gt, methods.log_size = smooth_img(g(73), (1, 3, 32, 32)).double(), 5
        pyramid = dict(gt=methods.gt.float(), log_size=5, pyramid=detach(methods.construct_img_pyramid()))
    return dict(meta=meta, l1=l1, gram=gram_entry, perceptual=perceptual, gan=gan_entry, comp_style=comp_entry,
                identity_gray=identity_gray, pyramid=pyramid)


def record_r1(ns, gl, compare):
    kwargs = dict(out_size=16, channel_multiplier=1, resample_kernel=(1, 3, 3, 1), stddev_group=4, narrow=1 / 16)
    net, sd, _ = build_reference(ns.StyleGAN2Discriminator, kwargs, 75, compare)
    net = net.double()
    real = smooth_img(torch.Generator().manual_seed(76), (4, 3, 16, 16))
    real64 = real.double().requires_grad_(True)
    pred = net(real64)
    r1 = gl.r1_penalty(pred, real64)
    grad = torch.autograd.grad(pred.sum(), real64)[0]
    weight, every = 10.0, 16  # train_gfpgan_v1.yml: r1_reg_weight 10, net_d_reg_every 16
    l_d_r1 = (weight / 2 * r1 * every + 0 * pred[0]).reshape(())  # officially of shape (1,)
    return dict(disc_cls='StyleGAN2Discriminator', disc_kwargs=kwargs, disc_state_dict=sd, real_img=real,
                real_pred=detach(pred), grad=detach(grad), r1=detach(r1), r1_reg_weight=weight, net_d_reg_every=every,
                l_d_r1=detach(l_d_r1))


# ------------------------------------------------------------------------------------------------ main
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--refcheck', default=os.environ.get('GFPREF_REFCHECK', str(REPO.parent / 'shared' / 'refcheck')))
    ap.add_argument('--out', default=str(HERE))
    args = ap.parse_args()
    torch.set_num_threads(1)
    refsrc, compare = load_refcheck(args.refcheck)
    ns = refsrc.load_reference(log=print)
    import importlib
    ns.IRBlock = importlib.import_module(f'{refsrc.PKG_G}.archs.arcface_arch').IRBlock
    extra = load_extra(refsrc, ns)
    methods = load_gfpgan_model_methods(refsrc)
    import cv2
    import scipy
    import torchvision
    meta = dict(gfpgan=refsrc.GFPGAN_VERSION, basicsr=refsrc.BASICSR_VERSION,
                gfpgan_sha256=refsrc.SHA256[refsrc.GFPGAN_WHEEL], basicsr_sha256=refsrc.SHA256[refsrc.BASICSR_SDIST],
                torch=str(torch.__version__), torchvision=str(torchvision.__version__), numpy=np.__version__,
                opencv=cv2.__version__, scipy=scipy.__version__, python=platform.python_version(),
                generator='tests/data/golden/make_golden.py')
    out = Path(args.out)
    files = record_archs(ns, compare, meta)
    files['degradation.pt'] = record_degradation(extra, meta)
    losses = record_losses(extra, methods, meta)
    losses['r1'] = record_r1(ns, extra.gan_loss, compare)
    files['losses.pt'] = losses
    total = 0
    for fname, obj in files.items():
        torch.save(obj, out / fname)
        torch.load(out / fname, weights_only=True)  # must load without pickle
        size = (out / fname).stat().st_size
        total += size
        print(f'{fname:28s} {size / 1024:8.1f} KiB')
    print(f'{"total":28s} {total / 1024:8.1f} KiB')


if __name__ == '__main__':
    main()
