"""How fast the toy-face world renders, and how fast the paired dataset serves samples (one CPU core).

Run: ``.venv/bin/python benchmarks/bench_toyfaces.py [--n 2000]``. Prints faces per second for sizes 32/64/128 (people
already seen, whose fixed layers are cached, and people seen for the first time) and paired-sample throughput of
``ToyFaceDataset`` (render + flip + degradation + tensors). Numbers are process CPU time, so a busy machine
inflates them less than wall-clock time would.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from gfplib.data import ToyFaceConfig, ToyFaceDataset, ToyFaceGenerator


def rate(fn, n: int) -> float:
    t0 = time.process_time()
    fn()
    return n / max(time.process_time() - t0, 1e-9)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="faces per measurement")
    args = ap.parse_args()
    torch.set_num_threads(1)
    n = args.n
    print(f"toy faces, one core, {n} faces per measurement (CPU time)")
    print(f"{'size':>6} {'seen people /s':>16} {'new people /s':>15} {'dataset pairs /s':>18}")
    for size in (32, 64, 128):
        gen = ToyFaceGenerator(ToyFaceConfig(size=size))
        rng = np.random.default_rng(0)
        gen.batch(200, rng, identities=range(200))  # warm the cache of 200 people
        seen = rate(lambda: gen.batch(n, rng, identities=range(200)), n)
        new_ids = range(5000, 5000 + n // 2)  # each person drawn once: identity sampling + layers every time
        fresh = rate(lambda: gen.batch(n // 2, rng, identities=new_ids), n // 2)
        ds = ToyFaceDataset(ToyFaceConfig(size=size, num_train_identities=200), length=n)
        m = n // 4
        pairs = rate(lambda: [ds[i] for i in range(m)], m)
        print(f"{size:>5}² {seen:>16.0f} {fresh:>15.0f} {pairs:>18.0f}")


if __name__ == "__main__":
    main()
