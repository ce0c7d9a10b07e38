#!/usr/bin/env python
"""PyTorch vs onnxruntime: forward time of the exported face step on CPU, toy and 512², side by side in one run.

    python benchmarks/bench_export.py                 # toy GFPGAN (32²) and a random GFPGANv1Clean at 512², 2 threads
    python benchmarks/bench_export.py --scale toy --runs 20 --threads 4

Each row exports the network with :func:`gfplib.export.export_onnx` (the parity check included), runs one warm-up
in each runtime, then reports the median of ``--runs`` timings of the same batch: PyTorch ``eval()`` under
``torch.no_grad()`` (:class:`gfplib.export.FaceRestorer`: stored noise, no pyramid RGBs) and the onnxruntime CPU
session (:func:`gfplib.export.load_onnx`), both with ``--threads`` intra-op threads. Also float16 at toy size.
Timings on a shared machine vary by 2–3×; compare rows of one run.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from gfplib.archs.gfpgan_clean import GFPGANv1CleanConfig
from gfplib.export import FaceRestorer, export_onnx, load_onnx, to_half
from gfplib.pretrain import load_gfpgan


def median_time(fn, runs: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", choices=["toy", "paper", "both"], default="both")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    cases = []
    if args.scale in ("toy", "both"):
        cases += [("toy-gfpgan-32", load_gfpgan("toy-gfpgan-32"), 8, False),
                  ("toy-gfpgan-32 fp16", load_gfpgan("toy-gfpgan-32"), 8, True)]
    if args.scale in ("paper", "both"):
        torch.manual_seed(0)
        cases.append(("GFPGANv1Clean 512² (random)", GFPGANv1CleanConfig.release().build().eval(), 1, False))
    print(f"{'network':<30} {'batch':>5} {'export s':>9} {'max|diff|':>10} {'torch ms':>9} {'onnxrt ms':>10} "
          f"{'speed-up':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, net, batch, fp16 in cases:
            net.requires_grad_(False)
            report = export_onnx(net, Path(tmp) / "net.onnx", batch=batch, fp16=fp16)
            size = net.out_size
            x = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1
            torch_net = FaceRestorer(to_half(net) if fp16 else net)
            xt = x.half() if fp16 else x
            with torch.no_grad():
                t_torch = median_time(lambda: torch_net(xt), args.runs)
            onnx_net = load_onnx(report.path, threads=args.threads)
            t_ort = median_time(lambda: onnx_net(x), args.runs)
            print(f"{name:<30} {batch:>5} {report.seconds:>9.1f} {report.max_abs_diff:>10.1e} {1e3 * t_torch:>9.1f} "
                  f"{1e3 * t_ort:>10.1f} {t_torch / t_ort:>7.2f}×", flush=True)


if __name__ == "__main__":
    main()
