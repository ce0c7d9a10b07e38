#!/usr/bin/env python
"""Training throughput of the three toy-world recipes (gfplib.pretrain), in images per second.

    python benchmarks/bench_pretrain.py                  # 1 and 2 torch threads, 8 steps each
    python benchmarks/bench_pretrain.py --threads 1 --steps 20

Each trainer is built with its shipped toy configuration on random uint8 images (rendering is not timed), runs one
warm-up step, then ``--steps`` timed steps; the figure is images per second of *training* (for the prior: one D step,
lazy R1 when due, one G step, EMA). On a machine shared with other jobs, 1 thread can be several times faster than 2
(OpenMP threads wait for each other when the cores are oversubscribed): compare both before a long run.
"""
from __future__ import annotations

import argparse
import time

import torch

from gfplib.pretrain.data import NUISANCE_FIELDS, ToyFaceSet
from gfplib.pretrain.features import FeatureNetConfig, FeatureNetTrainer
from gfplib.pretrain.identity import IdentityConfig, IdentityTrainer
from gfplib.pretrain.prior import PriorConfig, PriorTrainer


def _face_set(n: int, size: int = 32) -> ToyFaceSet:
    g = torch.Generator().manual_seed(0)
    return ToyFaceSet(torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g),
                      torch.arange(n) % 2000, torch.randn(n, len(NUISANCE_FIELDS), generator=g))


def bench(name: str, trainer, batch: int, steps: int) -> float:
    trainer.train_step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    rate = steps * batch / (time.perf_counter() - t0)
    print(f"  {name:28s} {rate:8.1f} images/s")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    data = _face_set(4096)
    for threads in args.threads:
        torch.set_num_threads(threads)
        print(f"torch threads: {threads}")
        pc = PriorConfig.toy()
        bench("prior (StyleGAN2 32²)", PriorTrainer(pc, data.images), pc.batch_size, args.steps)
        ic = IdentityConfig.toy()
        bench("identity (ToyResNetArcFace)", IdentityTrainer(ic, data), ic.batch_size, max(2, args.steps // 4))
        fc = FeatureNetConfig.toy()
        bench("features (toy VGG19)", FeatureNetTrainer(fc, data), fc.batch_size, max(2, args.steps // 2))


if __name__ == "__main__":
    main()
