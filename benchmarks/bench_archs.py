#!/usr/bin/env python
"""Forward and forward+backward time and parameter counts of gfplib's networks, toy and paper configurations.

    python benchmarks/bench_archs.py                      # toy + paper, CPU with 2 threads (or CUDA if present)
    python benchmarks/bench_archs.py --scale toy --runs 5
    python benchmarks/bench_archs.py --scale paper --only gfpgan --threads 8 --device cpu

Each row builds the network, runs one warm-up, then reports the median of ``--runs`` timings of
* forward: ``eval()`` under ``torch.no_grad()`` (inference; GFPGAN with ``return_rgb=False`` as at inference), and
* forward+backward: ``train()``, the mean of the outputs (GFPGAN: image + the pyramid RGBs) backpropagated to every
  trainable parameter (GFPGAN with its prior frozen where the configuration says so).
Parameter counts: all / trainable (requires_grad) / elements of the buffers saved in the state dict (noise maps,
BN statistics). Timings on a shared machine vary by 2–3×;
compare rows from one run. For the official implementation's speed see ``../shared/refcheck`` (``TIME_RATIO``).
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable, List, NamedTuple

import torch

from gfplib.archs import (FacialComponentDiscriminator, GFPGANv1, GFPGANv1CleanConfig, GFPGANv1Config,
                          ResNetArcFace, StyleGAN2Discriminator, StyleGAN2Generator, StyleGAN2GeneratorClean)


class Case(NamedTuple):
    group: str
    name: str
    scale: str  # "toy" | "paper"
    batch: int
    build: Callable[[], torch.nn.Module]
    inputs: Callable[[int, torch.device], tuple]
    fwd_kwargs: dict
    train_kwargs: dict


def _img(size: int, channels: int = 3):
    return lambda b, dev: (torch.rand(b, channels, size, size, device=dev) * 2 - 1,)


def _codes(dim: int):
    return lambda b, dev: ([torch.randn(b, dim, device=dev)],)


def cases() -> List[Case]:
    g_kw = dict(randomize_noise=True)
    out: List[Case] = []
    for size in (32, 64):
        out.append(Case("gfpgan", f"GFPGANv1Clean tiny {size}²", "toy", 8, GFPGANv1CleanConfig.tiny(size).build,
                        _img(size), dict(return_rgb=False), {}))
        out.append(Case("gfpgan", f"GFPGANv1 tiny {size}²", "toy", 8, GFPGANv1Config.tiny(size).build, _img(size),
                        dict(return_rgb=False), {}))
    out += [
        Case("gfpgan", "GFPGANv1Clean v1.3/v1.4 512²", "paper", 1, GFPGANv1CleanConfig.release().build, _img(512),
             dict(return_rgb=False), {}),
        Case("gfpgan", "GFPGANv1 paper 512² (prior frozen)", "paper", 1, GFPGANv1Config.paper().build, _img(512),
             dict(return_rgb=False), {}),
        Case("generator", "StyleGAN2GeneratorClean 32² F64 n1/16", "toy", 8,
             lambda: StyleGAN2GeneratorClean(32, num_style_feat=64, num_mlp=2, channel_multiplier=2, narrow=1 / 16),
             _codes(64), g_kw, g_kw),
        Case("generator", "StyleGAN2Generator 32² F64 n1/16", "toy", 8,
             lambda: StyleGAN2Generator(32, num_style_feat=64, num_mlp=2, channel_multiplier=1, narrow=1 / 16),
             _codes(64), g_kw, g_kw),
        Case("generator", "StyleGAN2GeneratorClean 512² c2", "paper", 1,
             lambda: StyleGAN2GeneratorClean(512, channel_multiplier=2), _codes(512), g_kw, g_kw),
        Case("generator", "StyleGAN2Generator 512² c1 (prior)", "paper", 1,
             lambda: StyleGAN2Generator(512, channel_multiplier=1), _codes(512), g_kw, g_kw),
        Case("discriminator", "StyleGAN2Discriminator 32² n1/16", "toy", 8,
             lambda: StyleGAN2Discriminator(32, channel_multiplier=1, narrow=1 / 16), _img(32), {}, {}),
        Case("discriminator", "StyleGAN2Discriminator 512² c1", "paper", 4,
             lambda: StyleGAN2Discriminator(512, channel_multiplier=1), _img(512), {}, {}),
        Case("discriminator", "FacialComponentDiscriminator 80²", "paper", 4, FacialComponentDiscriminator, _img(80),
             {}, {}),
        Case("arcface", "ResNetArcFace IRBlock [2,2,2,2] 128² gray", "paper", 4,
             lambda: ResNetArcFace("IRBlock", (2, 2, 2, 2), use_se=False), _img(128, channels=1), {}, {}),
    ]
    return out


def _outputs(out) -> List[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (list, tuple)):
        return [t for o in out if o is not None for t in _outputs(o)]
    return []


def _time(fn: Callable[[], None], runs: int, device: torch.device) -> float:
    def once() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - t0

    once()  # warm-up
    return statistics.median(once() for _ in range(runs))


def bench(case: Case, device: torch.device, runs: int, backward: bool) -> dict:
    torch.manual_seed(0)
    net = case.build().to(device)
    n_all = sum(p.numel() for p in net.parameters())
    n_train = sum(p.numel() for p in net.parameters() if p.requires_grad)
    params = {k for k, _ in net.named_parameters()}
    n_buf = sum(v.numel() for k, v in net.state_dict().items() if k not in params)  # persistent buffers only
    args = case.inputs(case.batch, device)

    def forward():
        with torch.no_grad():
            net(*args, **case.fwd_kwargs)

    def forward_backward():
        net.zero_grad(set_to_none=True)
        outs = _outputs(net(*args, **case.train_kwargs))
        sum(o.float().mean() for o in outs).backward()

    net.eval()
    t_fwd = _time(forward, runs, device)
    t_bwd = float("nan")
    if backward:
        net.train()
        t_bwd = _time(forward_backward, runs, device)
    del net
    return dict(params=n_all, trainable=n_train, buffers=n_buf, fwd=t_fwd, fwd_bwd=t_bwd)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--scale", choices=("toy", "paper", "all"), default="all")
    ap.add_argument("--only", choices=("gfpgan", "generator", "discriminator", "arcface"), default=None)
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    ap.add_argument("--device", default=None, help="cpu | cuda | cuda:1 … (default: CUDA if available, else CPU)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per measurement (median; default 3)")
    ap.add_argument("--no-backward", action="store_true", help="forward only")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    what = device.type if device.type != "cpu" else f"cpu, {args.threads} threads"
    if device.type == "cuda":
        what += f", {torch.cuda.get_device_name(device)}"
    print(f"gfplib.archs benchmark — torch {torch.__version__}, {what}, median of {args.runs} runs\n")
    header = f"{'network':<44} {'scale':<5} {'batch':>5} {'params':>12} {'trainable':>12} {'buffers':>9} " \
             f"{'fwd ms':>9} {'fwd+bwd ms':>11}"
    print(header)
    print("-" * len(header))
    for case in cases():
        if args.scale != "all" and case.scale != args.scale:
            continue
        if args.only and case.group != args.only:
            continue
        r = bench(case, device, args.runs, backward=not args.no_backward)
        print(f"{case.name:<44} {case.scale:<5} {case.batch:>5} {r['params']:>12,} {r['trainable']:>12,} "
              f"{r['buffers']:>9,} {r['fwd'] * 1e3:>9.1f} {r['fwd_bwd'] * 1e3:>11.1f}", flush=True)


if __name__ == "__main__":
    main()
