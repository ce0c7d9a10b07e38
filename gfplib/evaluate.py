"""``gfplib evaluate RESTORED_DIR GT_DIR``: score restored faces against their ground truth, file by file.

The paper's Table 1 (the quantitative comparison on CelebA-Test) is a table of means over 3,000 restored faces; this
command computes such a table for any folder of results. Files are paired by name (``0001.png`` with ``0001.png``
or ``0001.jpg``); every pair is read as uint8 RGB, checked for equal size, and scored with the metrics of
:mod:`gfplib.metrics` (whose docstring states each convention). Per-image metrics (PSNR, SSIM, LPIPS, Deg., LMD,
the toy perceptual distance) are printed as mean ± std over the images, set metrics (FID and the toy Fréchet
distances) once for the whole set; ``-o results.csv`` writes one row per image, then a ``mean`` row (with the set
metrics) and a ``std`` row.

``--toy`` swaps the networks for the toy world's shipped ones, so the whole command runs offline: ``deg`` measures
with ``toy-arcface`` and ``percep``, ``fd_vgg``, ``fd_id`` become available. Without it, ``lpips``, ``fid`` and
``deg`` fetch their networks through :mod:`gfplib.weights` (AlexNet, the FID Inception-v3, ArcFace); offline, the
command stops with the file to fetch and exit status 2.

    gfplib evaluate results/restored data/celeba_test/hq --metrics psnr,ssim,lpips,fid,deg -o table1.csv
    python -m gfplib.evaluate restored/ gt/ --toy

Taught in ``notebooks/10_metrics.ipynb``.
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
import torch

from gfplib import metrics as M

__all__ = ["IMAGE_EXTS", "DEFAULT_METRICS", "TOY_METRICS", "pair_files", "read_rgb", "evaluate_folders",
           "summarize", "format_table", "write_csv", "add_arguments", "run", "main"]

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_METRICS = ("psnr", "ssim", "lpips", "fid", "deg")
TOY_METRICS = ("psnr", "ssim", "deg", "percep", "fd_vgg", "fd_id")
_TOY_ONLY = ("percep", "fd_vgg", "fd_id")


def _images(folder: Path, what: str) -> Dict[str, Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"{what} folder {folder} does not exist")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS and p.is_file())
    if not files:
        raise FileNotFoundError(f"{what} folder {folder} holds no image ({', '.join(IMAGE_EXTS)})")
    by_stem: Dict[str, Path] = {}
    for p in files:
        if p.stem in by_stem:
            raise ValueError(f"{what} folder {folder} has two images named {p.stem!r}: {by_stem[p.stem].name}, "
                             f"{p.name}; pairs are made by name, so keep one")
        by_stem[p.stem] = p
    return by_stem


def pair_files(restored_dir, gt_dir) -> List[Tuple[str, Path, Path]]:
    """``[(name, restored path, gt path)]`` of the images with the same name (without extension) in both folders.

    Raises ``ValueError`` listing the unpaired files of each side when the two folders do not match.
    """
    r, g = _images(Path(restored_dir), "restored"), _images(Path(gt_dir), "ground-truth")
    only_r, only_g = sorted(set(r) - set(g)), sorted(set(g) - set(r))
    if only_r or only_g:
        show = lambda names, d: ", ".join(d[n].name for n in names[:10]) + (" …" if len(names) > 10 else "")  # noqa
        lines = [f"{len(only_r)} restored image(s) without ground truth: {show(only_r, r)}" if only_r else "",
                 f"{len(only_g)} ground-truth image(s) without a restoration: {show(only_g, g)}" if only_g else ""]
        raise ValueError("the folders do not pair up by file name:\n  " + "\n  ".join(filter(None, lines)))
    return [(n, r[n], g[n]) for n in sorted(r)]


def read_rgb(path) -> np.ndarray:
    """An image file as uint8 RGB ``(H, W, 3)`` (OpenCV reads BGR; converted here, at the file boundary)."""
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"cannot read {path} as an image (corrupt, or not a picture?)")
    return np.ascontiguousarray(img[..., ::-1])


def _networks(names: Sequence[str], toy: bool, device: torch.device, lpips_net: str):
    """Per-image metric functions ``(restored, gt) → (1,)`` and set embedders, each built once."""
    from gfplib.pretrain import load_identity_net, load_toy_vgg

    per_image: Dict[str, Callable] = {}
    embedders: Dict[str, Callable] = {}
    id_net = vgg = None
    if {"deg", "fd_id"} & set(names):
        id_net = load_identity_net("toy-arcface" if toy else "arcface-resnet18").to(device)
    if {"percep", "fd_vgg"} & set(names):
        vgg = load_toy_vgg().to(device)
    for m in names:
        if m == "lpips":
            model = M.build_lpips(lpips_net).to(device)
            per_image[m] = lambda r, g, model=model: M.lpips_distance(model, r, g)
        elif m == "fid":
            embedders[m] = M.inception_embedder(M.build_fid_inception().to(device))
        elif m == "deg":
            per_image[m] = lambda r, g: M.identity_angle(id_net, r, g)
        elif m == "percep":
            per_image[m] = lambda r, g: M.perceptual_distance(vgg, r, g)
        elif m == "fd_vgg":
            embedders[m] = M.vgg_embedder(vgg)
        elif m == "fd_id":
            embedders[m] = M.identity_embedder(id_net)
    return per_image, embedders


def _check_metrics(names: Sequence[str], toy: bool) -> List[str]:
    names = list(dict.fromkeys(n.strip().lower() for n in names if n.strip()))
    if "niqe" in names:
        raise ValueError(M.NIQE_NOT_OFFERED)
    unknown = [n for n in names if n not in M.METRICS]
    if unknown or not names:
        raise ValueError(f"unknown metric(s) {unknown}; choose from {', '.join(M.METRICS)}")
    toy_only = [n for n in names if n in _TOY_ONLY]
    if toy_only and not toy:
        raise ValueError(f"{', '.join(toy_only)} measure in the toy world's feature spaces: add --toy")
    return names


def _read_pair(name: str, rp: Path, gp: Path) -> Tuple[np.ndarray, np.ndarray]:
    r, g = read_rgb(rp), read_rgb(gp)
    if r.shape != g.shape:
        raise ValueError(f"{name}: restored {rp.name} is {r.shape[1]}×{r.shape[0]} but ground truth {gp.name} is "
                         f"{g.shape[1]}×{g.shape[0]}; resize one of them first")
    return r, g


@torch.no_grad()
def evaluate_folders(restored_dir, gt_dir, metrics: Sequence[str] = DEFAULT_METRICS, *, toy: bool = False,
                     device: str = "cpu", lpips_net: str = "alex", crop_border: int = 0, y_channel: bool = False,
                     batch_size: int = 16, progress: bool = True) -> Tuple[List[dict], Dict[str, float]]:
    """Score every pair of the two folders, ``batch_size`` pairs of equal size at a time.

    Returns:
        ``(rows, set_values)``: one dict per image (``name`` and every per-image metric) and the set metrics.
    """
    from tqdm.auto import tqdm

    names = _check_metrics(metrics, toy)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    pairs = pair_files(restored_dir, gt_dir)
    if any(M.METRICS[n].per_image is False for n in names) and len(pairs) < 2:
        raise ValueError("set metrics (fid, fd_vgg, fd_id) need at least 2 image pairs")
    per_image, embedders = _networks(names, toy, torch.device(device), lpips_net)
    rows, feats = [], {m: ([], []) for m in embedders}
    with tqdm(total=len(pairs), desc="evaluate", unit="img", disable=not progress) as bar:
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start:start + batch_size]
            images = [_read_pair(*p) for p in chunk]
            groups: Dict[tuple, List[int]] = {}  # pairs of one size are scored as one batch
            for i, (r, _) in enumerate(images):
                groups.setdefault(r.shape, []).append(i)
            for idx in groups.values():
                r, g = np.stack([images[i][0] for i in idx]), np.stack([images[i][1] for i in idx])
                rt, gt = M.as_tensor_batch(r, "restored"), M.as_tensor_batch(g, "gt")
                values = {}
                for m in names:
                    if m in ("psnr", "ssim"):
                        values[m] = getattr(M, m)(r, g, crop_border=crop_border, y_channel=y_channel)
                    elif m == "lmd":
                        values[m] = M.landmark_distance(r, g)
                    elif m in per_image:
                        values[m] = per_image[m](rt, gt)
                for m, embed in embedders.items():
                    feats[m][0].append(embed(rt))
                    feats[m][1].append(embed(gt))
                for k, i in enumerate(idx):
                    rows.append({"name": chunk[i][0], **{m: float(v[k]) for m, v in values.items()}})
                bar.update(len(idx))
    order = {p[0]: k for k, p in enumerate(pairs)}
    rows.sort(key=lambda row: order[row["name"]])
    set_values = {m: M.frechet_distance_from_features(torch.cat(a), torch.cat(b)) for m, (a, b) in feats.items()}
    return rows, set_values


def summarize(rows: List[dict], set_values: Dict[str, float]) -> Dict[str, Tuple[float, float, int]]:
    out = {}
    for m in (k for k in rows[0] if k != "name"):
        v = np.array([r[m] for r in rows], dtype=np.float64)
        ok = v[np.isfinite(v)] if m == "lmd" else v  # lmd: NaN where no face was found
        with np.errstate(invalid="ignore"):  # an identical pair has PSNR inf: the mean is inf, the std undefined
            out[m] = (float(ok.mean()) if len(ok) else np.nan, float(ok.std()) if len(ok) else np.nan,
                      len(v) - len(ok))
    out.update({m: (v, np.nan, 0) for m, v in set_values.items()})
    return out


def format_table(rows: List[dict], set_values: Dict[str, float]) -> str:
    """The printed table: one line per metric, mean ± std over images (set metrics: one value), and direction."""
    lines = [f"{'metric':<8}{'value':>22}   better   ({len(rows)} image pairs)"]
    for m, (mean, std, missing) in summarize(rows, set_values).items():
        info = M.METRICS[m]
        value = f"{mean:.4f} ± {std:.4f}" if info.per_image else f"{mean:.4f} (set)"
        note = f"   {missing} without a face" if missing else ""
        lines.append(f"{m:<8}{value:>22}   {info.better:<6}   {info.what}{note}")
    return "\n".join(lines)


def write_csv(path, rows: List[dict], set_values: Dict[str, float]) -> None:
    """Per-image rows, then ``mean`` (with the set metrics) and ``std`` rows."""
    summary = summarize(rows, set_values)
    cols = ["name"] + list(summary)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        w.writerows({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()} for r in rows)
        w.writerow({"name": "mean", **{m: f"{s[0]:.6g}" for m, s in summary.items()}})
        w.writerow({"name": "std", **{m: f"{s[1]:.6g}" for m, s in summary.items() if M.METRICS[m].per_image}})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("restored_dir", help="folder of restored images ŷ")
    parser.add_argument("gt_dir", help="folder of ground-truth images y, paired with ŷ by file name")
    parser.add_argument("--metrics", default=None,
                        help=f"comma-separated, from {','.join(M.METRICS)} (default {','.join(DEFAULT_METRICS)}; "
                             f"with --toy {','.join(TOY_METRICS)}); niqe is not offered (see gfplib.metrics)")
    parser.add_argument("--toy", action="store_true",
                        help="the toy world's shipped networks (toy-arcface, toy-vgg): runs offline")
    parser.add_argument("-o", "--output", default=None, help="CSV file: one row per image, then mean and std")
    parser.add_argument("--lpips-net", choices=sorted(M.LPIPS_TRUNKS), default="alex", help="LPIPS trunk")
    parser.add_argument("--crop-border", type=int, default=0, help="pixels cut from each side for PSNR / SSIM")
    parser.add_argument("--y-channel", action="store_true", help="PSNR / SSIM on the BT.601 luma Y instead of RGB")
    parser.add_argument("--device", default="cpu", help="torch device for the networks (cpu, cuda, …)")
    parser.add_argument("--batch-size", type=int, default=16, help="image pairs scored at once (default 16)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from gfplib.weights import WeightsError

    names = (args.metrics.split(",") if args.metrics else list(TOY_METRICS if args.toy else DEFAULT_METRICS))
    try:
        rows, set_values = evaluate_folders(args.restored_dir, args.gt_dir, names, toy=args.toy, device=args.device,
                                            lpips_net=args.lpips_net, crop_border=args.crop_border,
                                            y_channel=args.y_channel, batch_size=args.batch_size,
                                            progress=not args.no_progress)
    except (ValueError, FileNotFoundError, ImportError) as err:
        print(f"gfplib evaluate: {err}", file=sys.stderr)
        return 2
    except WeightsError as err:
        print(f"gfplib evaluate: a metric's network is not available: {err}\n(offline? --toy runs with the shipped "
              f"toy networks; or leave out lpips / fid / deg)", file=sys.stderr)
        return 2
    print(format_table(rows, set_values))
    if args.output:
        write_csv(args.output, rows, set_values)
        print(f"wrote {args.output} ({len(rows)} images)")
    return 0


if __name__ == "__main__":
    from gfplib.cli import run_module
    sys.exit(run_module(sys.modules[__name__]))
