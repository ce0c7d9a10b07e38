"""Command line of the toy-world pretraining recipes.

    python -m gfplib.pretrain prior --profile toy       # StyleGAN2 prior      → data/toy_prior_32.pth (+ .json)
    python -m gfplib.pretrain identity --profile toy    # ArcFace-style net    → data/toy_arcface.pth (+ .json)
    python -m gfplib.pretrain features --profile toy    # VGG-style features   → data/toy_vgg.pth (+ .json)
    python -m gfplib.pretrain evaluate                  # Fréchet distances of the prior → its .json sidecar

Each trainer checkpoints to ``runs/<name>/`` and resumes from the newest checkpoint when run again; ``--fresh``
starts over. ``--profile smoke`` runs a seconds-long version (written to runs/, never to data/).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gfplib.pretrain.common import repo_root


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gfplib.pretrain", description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("prior", "identity", "features", "evaluate"))
    parser.add_argument("--profile", choices=("toy", "smoke"), default="toy")
    parser.add_argument("--runs", default=None, help="runs folder (default: <repo>/runs)")
    parser.add_argument("--out", default=None, help="data folder for the shipped file (default: <repo>/data)")
    parser.add_argument("--fresh", action="store_true", help="ignore existing checkpoints")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: the recipe's, 1; on an idle machine 2+ are faster)")
    args = parser.parse_args(argv)
    runs = Path(args.runs) if args.runs else repo_root() / "runs"
    data = Path(args.out) if args.out else repo_root() / "data"
    smoke = args.profile == "smoke"
    out_dir = runs / "smoke_out" if smoke else data
    out_dir.mkdir(parents=True, exist_ok=True)
    from gfplib.pretrain import recipes

    if args.what == "prior":
        recipes.run_prior(smoke, runs, out_dir, resume=not args.fresh, threads=args.threads)
    elif args.what == "identity":
        recipes.run_identity(smoke, runs, out_dir, resume=not args.fresh, threads=args.threads)
    elif args.what == "features":
        recipes.run_features(smoke, runs, out_dir, resume=not args.fresh, threads=args.threads)
    else:
        recipes.run_evaluate(smoke, runs, out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
