"""The exact recipes behind the shipped toy-world files (what ``python -m gfplib.pretrain …`` runs).

Each ``run_*`` renders its toy-face training set (cached in ``runs/cache``), trains with checkpoints and resume in
``runs/<name>``, and writes ``<out_dir>/<file>.pth`` plus a ``.json`` sidecar with the recipe, seed, wall time and
final metrics. The ``smoke`` variants take seconds and exist to test the plumbing.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from gfplib.pretrain.common import log_print
from gfplib.pretrain.data import render_face_set

#: Toy faces seen by the prior: 10,000 training people × 2 photos (held-out people are never used for training).
PRIOR_DATA = dict(size=32, num_identities=10_000, photos_per_identity=2, seed=1)
PRIOR_FILE = "toy_prior_32.pth"
IDENTITY_FILE = "toy_arcface.pth"
FEATURES_FILE = "toy_vgg.pth"


def run_prior(smoke: bool, runs: Path, out_dir: Path, resume: bool = True, threads=None):
    from gfplib.pretrain.prior import PriorConfig, train_prior

    if smoke:
        cfg = replace(PriorConfig.smoke(), total_images=64, checkpoint_every=32, sample_every=32)
        data = dict(size=8, num_identities=32, photos_per_identity=2, seed=1)
        faces = render_face_set(16, range(data["num_identities"]), data["photos_per_identity"], data["seed"])
        images = torch.nn.functional.interpolate(faces.images.float(), size=8, mode="area").round().to(torch.uint8)
    else:
        cfg, data = PriorConfig.toy(), PRIOR_DATA
    if threads:
        cfg = replace(cfg, threads=threads)
    if not smoke:
        torch.set_num_threads(cfg.threads)
        images = render_face_set(data["size"], range(data["num_identities"]), data["photos_per_identity"],
                                 data["seed"], cache_dir=runs / "cache", print_fn=log_print).images
    name = "prior_smoke" if smoke else "prior_toy"
    return train_prior(cfg, images, runs / name, out_path=out_dir / PRIOR_FILE, resume=resume,
                       extra_record={"command": "python -m gfplib.pretrain prior --profile " + ("smoke" if smoke
                                                                                                   else "toy"),
                                     "training_data": {"generator": "gfplib.data.toyfaces (ToyFaceConfig defaults, "
                                                                    "world seed 0), training identities only",
                                                       **data, "num_images": int(images.shape[0])}})


#: Verification sets: new photos of 200 training people (to pick the threshold) and 300 held-out people.
THRESHOLD_SET = dict(first_id=0, num_identities=200, photos_per_identity=4, seed=3)
HELD_OUT_SET = dict(first_id=1_000_000, num_identities=300, photos_per_identity=4, seed=4)


def _face_set(spec: dict, size: int, cache):
    ids = range(spec["first_id"], spec["first_id"] + spec["num_identities"])
    return render_face_set(size, ids, spec["photos_per_identity"], spec["seed"], cache_dir=cache)


def run_identity(smoke: bool, runs: Path, out_dir: Path, resume: bool = True, threads=None):
    from gfplib.pretrain.identity import IdentityConfig, train_identity

    cfg = IdentityConfig.smoke() if smoke else IdentityConfig.toy()
    cfg = replace(cfg, threads=threads) if threads else cfg
    torch.set_num_threads(cfg.threads)
    cache = None if smoke else runs / "cache"
    size = 16 if smoke else 32
    train = render_face_set(size, range(cfg.num_identities), cfg.photos_per_identity, seed=2, cache_dir=cache,
                            print_fn=log_print)
    if smoke:
        evals = (_face_set(dict(THRESHOLD_SET, num_identities=4, photos_per_identity=2), size, None),
                 _face_set(dict(HELD_OUT_SET, num_identities=4, photos_per_identity=2), size, None))
    else:
        evals = (_face_set(THRESHOLD_SET, size, cache), _face_set(HELD_OUT_SET, size, cache))
    return train_identity(cfg, train, runs / ("identity_smoke" if smoke else "identity_toy"),
                          out_path=out_dir / IDENTITY_FILE, eval_sets=evals, resume=resume,
                          extra_record={"command": f"python -m gfplib.pretrain identity --profile "
                                                   f"{'smoke' if smoke else 'toy'}",
                                        "training_data": {"identities": f"0..{cfg.num_identities - 1}",
                                                          "photos_per_identity": cfg.photos_per_identity,
                                                          "seed": 2, "size": size},
                                        "threshold_set": THRESHOLD_SET, "held_out_set": HELD_OUT_SET})


def run_features(smoke: bool, runs: Path, out_dir: Path, resume: bool = True, threads=None):
    from gfplib.pretrain.features import FeatureNetConfig, train_features

    cfg = FeatureNetConfig.smoke() if smoke else FeatureNetConfig.toy()
    cfg = replace(cfg, threads=threads) if threads else cfg
    torch.set_num_threads(cfg.threads)
    cache = None if smoke else runs / "cache"
    size = 32
    # the same rendered set as the identity network (same people, photos and seed)
    train = render_face_set(size, range(cfg.num_identities), cfg.photos_per_identity, seed=2, cache_dir=cache,
                            print_fn=log_print)
    test = _face_set(dict(HELD_OUT_SET, num_identities=4, photos_per_identity=2) if smoke else HELD_OUT_SET,
                     size, cache)
    return train_features(cfg, train, runs / ("features_smoke" if smoke else "features_toy"),
                          out_path=out_dir / FEATURES_FILE, test_set=test, resume=resume,
                          extra_record={"command": f"python -m gfplib.pretrain features --profile "
                                                   f"{'smoke' if smoke else 'toy'}",
                                        "training_data": {"identities": f"0..{cfg.num_identities - 1}",
                                                          "photos_per_identity": cfg.photos_per_identity,
                                                          "seed": 2, "size": size}})


#: Quality measurement of the prior (``python -m gfplib.pretrain evaluate``): faces per set and the sets.
EVAL_FACES = 2000
EVAL_TRUNCATIONS = (1.0, 0.9, 0.7, 0.5)
EVAL_DEGRADATIONS = (0.25, 0.5, 1.0)


def run_evaluate(smoke: bool, runs: Path, out_dir: Path):
    """Fréchet distances of the shipped prior (and reference points) → the ``quality`` block of its sidecar.

    Reads the three files from ``out_dir`` directly (they are registered with their hashes only once they exist).
    """
    import json

    import numpy as np

    from gfplib.data.toyfaces import ToyFaceConfig, ToyFaceGenerator, faces_to_tensor
    from gfplib.pretrain.common import write_sidecar
    from gfplib.pretrain.evaluate import (degrade_batch, frechet_table, identity_features, perceptual_features,
                                          sample_prior)
    from gfplib.pretrain.identity import ToyResNetArcFace
    from gfplib.perceptual import VGGConfig, VGGFeatureExtractor
    from gfplib.pretrain.loaders import TOY_ARCFACE_KWARGS
    from gfplib.pretrain.prior import PriorConfig, build_prior_generator
    from gfplib import archs

    if smoke:
        raise ValueError("evaluate measures the shipped toy networks; it has no smoke profile")
    torch.set_num_threads(1)
    n = EVAL_FACES
    cfg = PriorConfig.toy()
    prior_path = out_dir / PRIOR_FILE
    g = archs.StyleGAN2GeneratorClean(**cfg.arch_kwargs())
    g.load_state_dict(torch.load(prior_path, map_location="cpu", weights_only=True)["params_ema"])
    g.eval()
    torch.manual_seed(cfg.seed)  # the initialisation the training run started from
    untrained = build_prior_generator(cfg).eval()
    arcface = ToyResNetArcFace(**TOY_ARCFACE_KWARGS)
    arcface.load_state_dict(torch.load(out_dir / IDENTITY_FILE, map_location="cpu", weights_only=True)["params"])
    arcface.eval()
    sd = torch.load(out_dir / FEATURES_FILE, map_location="cpu", weights_only=True)["params"]
    vgg = VGGFeatureExtractor(config=VGGConfig(
        widths=tuple(int(sd[f"features.conv{b}_1.weight"].shape[0]) for b in range(1, 6)),
        mean=tuple(sd["mean"].flatten().tolist()), std=tuple(sd["std"].flatten().tolist())))
    vgg.load_state_dict({k: sd[k] for k in vgg.state_dict()})
    gen = ToyFaceGenerator(ToyFaceConfig(size=32))
    real_a = faces_to_tensor(gen.batch(n, np.random.default_rng(100)).images)
    real_b = faces_to_tensor(gen.batch(n, np.random.default_rng(101)).images)
    with torch.no_grad():
        sets = {"real (another set)": real_b}
        for psi in EVAL_TRUNCATIONS:
            sets[f"trained psi={psi}"] = sample_prior(g, n, seed=7, truncation=psi)
        sets["untrained"] = sample_prior(untrained, n, seed=7)
        for t in EVAL_DEGRADATIONS:
            sets[f"degraded t={t}"] = degrade_batch(real_b, t, seed=9)
        table = frechet_table(sets, real_a, {"identity (toy-arcface)": lambda x: identity_features(arcface, x),
                                             "perceptual (toy-vgg)": lambda x: perceptual_features(vgg, x)})
    side_path = prior_path.with_suffix(".json")
    record = json.loads(side_path.read_text())
    record["num_parameters"] = sum(p.numel() for p in g.parameters())
    record["quality"] = {"num_faces_per_set": n, "reference": "real toy faces (ToyFaceGenerator(size=32).batch, "
                                                                "rng 100); other sets: rng 101 / sample seed 7",
                         "frechet": {s: {k: round(v, 4) for k, v in row.items()} for s, row in table.items()}}
    write_sidecar(side_path, record)
    for space, row in table.items():
        log_print(space)
        for k, v in row.items():
            log_print(f"  {k:24s} {v:10.4f}")
    return table
