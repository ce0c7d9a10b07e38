#!/usr/bin/env python
"""GFPGAN training throughput (gfplib.train): iterations/s and peak memory of the toy profile on CPU, and of the
colab profile on a CUDA device when one is present.

    python benchmarks/bench_train.py                       # toy profile, 1 and 2 torch threads, 6 iterations each
    python benchmarks/bench_train.py --threads 1 --steps 20 --parts
    python benchmarks/bench_train.py --colab-steps 300     # on a GPU machine: the 512² colab profile

One batch is drawn once and reused (data generation is not timed; in a real run it happens in loader workers), one
warm-up iteration runs first, then ``--steps`` timed iterations (G step, D step with lazy R1 when due, component D
step, EMA). ``--parts`` also times each network's share of an iteration. Peak memory: the process's peak resident set
on CPU (includes Python and torch themselves), ``torch.cuda.max_memory_allocated`` on CUDA. The colab profile uses
the official weights when they are in the cache, and otherwise randomly initialised networks saved in the official
formats (the timing does not depend on the weights).
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from gfplib.train import GFPGANTrainer, TrainConfig, build_datasets, training_batches


def _peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 2**20


def _time(trainer: GFPGANTrainer, batch: dict, steps: int) -> float:
    trainer.train_step(batch)  # warm-up (allocations, lazy imports)
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.train_step(batch)
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - t0)


def _parts(trainer: GFPGANTrainer, batch: dict, repeats: int = 3) -> None:
    """Seconds per call of each piece of an iteration."""
    from gfplib import losses as L

    cfg = trainer.cfg
    lq, gt, boxes = trainer._batch(batch)
    fake = trainer.restore(lq).to(trainer.device)

    def clock(fn):
        fn()
        t0 = time.perf_counter()
        for _ in range(repeats):
            fn()
        return (time.perf_counter() - t0) / repeats

    img = fake.clone().requires_grad_(True)

    def g_pass():
        image, rgbs = trainer.g_pass(lq, generator=trainer.noise)
        (image.sum() + sum(r.sum() for r in rgbs)).backward()

    parts = {"G forward+backward": g_pass}
    if trainer.vgg is not None:
        parts["perceptual+style (G side)"] = lambda: sum(
            x for x in L.perceptual_style_loss(trainer.vgg, img, gt) if x is not None).backward()
    if trainer.identity_net is not None:
        parts["identity (G side)"] = lambda: L.identity_loss(trainer.identity_net, img, gt, cfg.loss.identity_size
                                                             ).backward()
    parts["global D (G side)"] = lambda: L.generator_loss(replace(cfg.loss, pixel=0, pyramid=0, perceptual=0, style=0,
                                                                  comp_gan=0, comp_style=0, identity=0),
                                                          image=img, out_rgbs=None, gt=gt, iteration=1,
                                                          net_d=trainer.net_d)["total"].backward()
    parts["global D step"] = lambda: L.discriminator_loss(cfg.loss, net_d=trainer.net_d, fake=fake, real=gt,
                                                          iteration=1)["total"].backward()
    parts["global D step with R1"] = lambda: L.discriminator_loss(cfg.loss, net_d=trainer.net_d, fake=fake, real=gt,
                                                                  iteration=cfg.loss.r1_interval)["total"].backward()
    if trainer.comp_ds:
        comp = dict(trainer.comp_ds.items())
        parts["component Ds (G side)"] = lambda: L.generator_loss(
            replace(cfg.loss, pixel=0, pyramid=0, perceptual=0, style=0, gan=0, identity=0), image=img,
            out_rgbs=None, gt=gt, boxes=boxes, iteration=1, comp_ds=comp)["total"].backward()
        parts["component D step"] = lambda: L.component_discriminator_loss(
            cfg.loss, comp_ds=comp, fake=fake, real=gt, boxes=boxes)["total"].backward()
    for name, fn in parts.items():
        print(f"    {name:28s} {clock(fn) * 1000:8.1f} ms")


def bench_toy(threads: int, steps: int, parts: bool) -> None:
    """Both phases of the toy recipe: before ``gan_start`` (G alone) and after it (G and every discriminator)."""
    torch.set_num_threads(threads)
    base = replace(TrainConfig.toy(), num_workers=0, threads=threads)
    train_set, _ = build_datasets(base)
    t0 = time.perf_counter()
    batch = next(training_batches(train_set, base.batch_size, 0, seed=base.seed))
    data_s = time.perf_counter() - t0
    for phase, cfg in (("G alone (before gan_start)", base), ("G + all Ds (after gan_start)", replace(base, gan_start=0))):
        trainer = GFPGANTrainer(cfg)
        rate = _time(trainer, batch, steps)
        print(f"  toy profile, {threads} thread(s), {phase}: {rate:6.2f} it/s = {rate * cfg.batch_size:6.1f} "
              f"images/s (batch {cfg.batch_size})")
    print(f"  data: {data_s:.2f} s per batch in one process; peak RSS {_peak_rss_mb():.0f} MB")
    if parts:
        _parts(trainer, batch)


def _official_or_random(tmp: Path) -> dict:
    """Registry names where the official files are cached, else random networks in the official formats."""
    from gfplib import weights
    from gfplib.archs import ResNetArcFace, StyleGAN2Generator

    out = {}
    have = {n: weights.local_path(n).is_file() for n in ("stylegan2-512-prior", "arcface-resnet18", "vgg19")}
    out["prior"] = "stylegan2-512-prior"
    if not have["stylegan2-512-prior"]:
        out["prior"] = str(tmp / "prior.pth")
        torch.save({"params_ema": StyleGAN2Generator(512, 512, 8, channel_multiplier=1).state_dict()}, out["prior"])
    out["identity_net"] = "arcface-resnet18"
    if not have["arcface-resnet18"]:
        out["identity_net"] = str(tmp / "arcface.pth")
        torch.save(ResNetArcFace("IRBlock", (2, 2, 2, 2), use_se=False).state_dict(), out["identity_net"])
    out["perceptual_net"] = "vgg19"
    if not have["vgg19"]:
        import torchvision

        out["perceptual_net"] = str(tmp / "vgg19.pth")
        torch.save(torchvision.models.vgg19().state_dict(), out["perceptual_net"])
    print("  weights: " + ", ".join(f"{k} {'official' if have[n] else 'random'}" for k, n in
                                     zip(out, ("stylegan2-512-prior", "arcface-resnet18", "vgg19"))))
    return out


def bench_colab(steps: int, parts: bool) -> None:
    """The colab profile on CUDA with 512² toy faces and component boxes (the timing does not depend on the data)."""
    from gfplib.data import ToyFaceConfig, ToyFaceDataset, collate_pairs

    with tempfile.TemporaryDirectory() as tmp:
        cfg = replace(TrainConfig.colab(), device="cuda", **_official_or_random(Path(tmp)))
        trainer = GFPGANTrainer(cfg, torch.device("cuda"))
        ds = ToyFaceDataset(ToyFaceConfig(size=512), length=cfg.batch_size)
        batch = collate_pairs([ds[i] for i in range(cfg.batch_size)])
        rate = _time(trainer, batch, steps)
        peak = torch.cuda.max_memory_allocated() / 2**30
        print(f"  colab profile on {torch.cuda.get_device_name()}: {rate:6.2f} it/s (batch {cfg.batch_size}, amp "
              f"{cfg.amp}); peak memory allocated {peak:.2f} GiB")
        if parts:
            _parts(trainer, batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--colab-steps", type=int, default=20)
    parser.add_argument("--parts", action="store_true", help="also time each piece of an iteration")
    args = parser.parse_args()
    for threads in args.threads:
        bench_toy(threads, args.steps, args.parts)
    if torch.cuda.is_available():
        bench_colab(args.colab_steps, args.parts)
    else:
        print("  colab profile: no CUDA device here, skipped")


if __name__ == "__main__":
    main()
