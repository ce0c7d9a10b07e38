"""Copy what notebook 08 shows of a finished toy GFPGAN run into data/: the training and validation logs, and the
EMA restorations of the 8 validation faces at every validation step (read back from the run's sample grids).

    python tools/pack_toy_run.py runs/gfpgan_toy data/toy_gfpgan_32
"""
import re
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np


def read_grid(path: Path, size: int = 32, faces: int = 8, faces_per_row: int = 4, upscale: int = 4):
    """A ``samples_*.png`` of gfplib.train (``input | restored | truth`` triplets) → three ``(faces, H, W, 3)`` RGB."""
    grid = cv2.imread(str(path), cv2.IMREAD_COLOR)[::upscale, ::upscale, ::-1]  # undo the nearest upscale; BGR → RGB
    out = np.zeros((3, faces, size, size, 3), np.uint8)
    for t in range(faces):
        r, k = divmod(t, faces_per_row)
        for part in range(3):
            c = 3 * k + part
            out[part, t] = grid[1 + r * (size + 1):1 + r * (size + 1) + size, 1 + c * (size + 1):1 + c * (size + 1) + size]
    return out


def main(run: str, prefix: str) -> None:
    run_dir, prefix = Path(run), Path(prefix)
    shutil.copyfile(run_dir / "log.csv", f"{prefix}_train.csv")
    shutil.copyfile(run_dir / "val.csv", f"{prefix}_val.csv")
    grids = sorted(run_dir.glob("samples_*.png"), key=lambda p: int(re.findall(r"\d+", p.name)[-1]))
    its = np.array([int(re.findall(r"\d+", p.name)[-1]) for p in grids])
    parts = [read_grid(p) for p in grids]
    np.savez_compressed(f"{prefix}_samples.npz", iterations=its, restored=np.stack([p[1] for p in parts]),
                        lq=parts[-1][0], gt=parts[-1][2])
    print(f"wrote {prefix}_train.csv, {prefix}_val.csv, {prefix}_samples.npz ({len(its)} steps)")


if __name__ == "__main__":
    main(*sys.argv[1:3])
