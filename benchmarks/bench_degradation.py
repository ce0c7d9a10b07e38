"""Throughput of the official random degradation (gfplib.degradation.degrade) on one CPU core.

Prints degraded samples per second for 512² faces (the paper's training size, DegradationConfig()) and for the
toy-world sizes 64² and 32² (DegradationConfig.for_size). One core: torch and OpenCV are limited to one thread, so
the figure is what one data-loader worker delivers.

    .venv/bin/python benchmarks/bench_degradation.py [--seconds 3]
"""
from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from gfplib.degradation import DegradationConfig, degrade, demo_face  # noqa: E402


def bench(size: int, seconds: float) -> tuple:
    cfg = DegradationConfig.for_size(size)
    gt = demo_face(size).astype(np.float32) / 255.0
    rng = np.random.default_rng(0)
    for _ in range(3):  # warm-up
        degrade(gt, rng, cfg)
    n, t0 = 0, time.perf_counter()
    times = []
    while time.perf_counter() - t0 < seconds or n < 10:
        t = time.perf_counter()
        degrade(gt, rng, cfg)
        times.append(time.perf_counter() - t)
        n += 1
    total = time.perf_counter() - t0
    return n / total, 1e3 * float(np.median(times)), n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="measuring time per size")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    print(f"gfplib.degradation.degrade, 1 thread (torch {torch.__version__}, OpenCV {cv2.__version__}, "
          f"{platform.processor() or platform.machine()})")
    for size in (512, 64, 32):
        rate, median_ms, n = bench(size, args.seconds)
        print(f"{size:>4}²: {rate:8.1f} samples/s   (median {median_ms:6.2f} ms/sample, {n} samples, "
              f"kernel {DegradationConfig.for_size(size).kernel_size}²)")


if __name__ == "__main__":
    main()
