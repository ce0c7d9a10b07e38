"""Toy-face training sets for the pretraining recipes: rendered once, cached under ``runs/cache/``.

The toy world (:mod:`gfplib.data.toyfaces`) can draw an endless stream of faces, but drawing costs a few
milliseconds per face, as much as a training step of a small network. The trainers therefore render a fixed set
once (a seeded, reproducible function of the recipe), keep it in memory as uint8 and cache it to disk so that a
resumed run does not render it again.

Taught in ``notebooks/04_stylegan2_prior.ipynb``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple, Optional, Sequence

import numpy as np
import torch

__all__ = ["ToyFaceSet", "NUISANCE_FIELDS", "nuisance_vector", "render_face_set", "to_gray"]

#: Photo conditions regressed by the toy perceptual network (scalars of ``ToyNuisance``, roughly unit range).
NUISANCE_FIELDS = ("smile", "mouth_open", "brow_raise", "eye_open", "gaze_x", "gaze_y", "light_x", "light_y",
                   "exposure", "warmth", "hair_shine")


class ToyFaceSet(NamedTuple):
    """A rendered set: images uint8 ``(N, 3, H, W)`` RGB, identity labels ``(N,)``, photo conditions ``(N, K)``."""
    images: torch.Tensor
    identity: torch.Tensor
    nuisance: torch.Tensor


def nuisance_vector(nz) -> np.ndarray:
    """The :data:`NUISANCE_FIELDS` of a ``ToyNuisance`` as a float32 vector (light as strength·(cos, sin))."""
    lx = nz.light_strength * np.cos(nz.light_angle) / 0.35
    ly = nz.light_strength * np.sin(nz.light_angle) / 0.35
    return np.array([nz.smile, nz.mouth_open, nz.brow_raise, (nz.eye_open - 0.8) / 0.3, nz.gaze[0], nz.gaze[1],
                     lx, ly, (nz.exposure - 1.0) * 5, nz.warmth / 0.06, nz.hair_shine], np.float32)


def render_face_set(size: int, identities: Sequence[int], photos_per_identity: int, seed: int,
                    cache_dir: Optional["os.PathLike[str]"] = None, world_seed: int = 0,
                    print_fn=None) -> ToyFaceSet:
    """Render ``photos_per_identity`` random photos of each person in ``identities``.

    Args:
        size: image side (pixels).
        identities: toy identity ids (e.g. ``range(2000)`` — training people).
        photos_per_identity: photos (random nuisance) per person.
        seed: seed of the photo conditions.
        cache_dir: folder for an ``.npz`` cache keyed by all arguments and the toy renderer's version
            (``gfplib.data.toyfaces.RENDERER_VERSION``), so a changed renderer never reads stale faces (``None``: no
            cache).
        world_seed: the toy world's seed (which people exist).
    """
    from gfplib.data.toyfaces import RENDERER_VERSION, ToyFaceConfig, ToyFaceGenerator

    ids = np.asarray(list(identities), dtype=np.int64)
    if ids.size == 0 or photos_per_identity < 1:
        raise ValueError("need at least one identity and one photo per identity")
    key = (f"toyfaces_s{size}_w{world_seed}_ids{ids[0]}-{ids[-1]}x{ids.size}_p{photos_per_identity}_seed{seed}"
           f"_r{RENDERER_VERSION}.npz")
    path = Path(cache_dir) / key if cache_dir is not None else None
    if path is not None and path.is_file():
        with np.load(path) as z:
            return ToyFaceSet(torch.from_numpy(z["images"]), torch.from_numpy(z["identity"]),
                              torch.from_numpy(z["nuisance"]))
    gen = ToyFaceGenerator(ToyFaceConfig(size=size, seed=world_seed))  # renders any id, train or held out
    rng = np.random.default_rng([seed, 0xFACE])
    n = ids.size * photos_per_identity
    images = np.empty((n, size, size, 3), np.uint8)
    nuis = np.empty((n, len(NUISANCE_FIELDS)), np.float32)
    labels = np.repeat(ids, photos_per_identity)
    order = rng.permutation(n)
    labels = labels[order]
    for k in range(n):
        face = gen.render(int(labels[k]), rng)
        images[k] = face.image
        nuis[k] = nuisance_vector(face.nuisance)
        if print_fn is not None and (k + 1) % 5000 == 0:
            print_fn(f"rendered {k + 1}/{n} toy faces")
    out = ToyFaceSet(torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(labels),
                     torch.from_numpy(nuis))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, images=out.images.numpy(), identity=out.identity.numpy(), nuisance=out.nuisance.numpy())
        os.replace(tmp, path)
    return out


def to_gray(x: torch.Tensor, size: Optional[int] = None) -> torch.Tensor:
    """RGB ``(B, 3, H, W)`` in [-1, 1] → gray ``(B, 1, size, size)`` as GFPGAN feeds its identity network.

    ``gray = 0.2989 R + 0.5870 G + 0.1140 B`` (the official weights), then a bilinear resize to ``size``.
    """
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected (B, 3, H, W), got {tuple(x.shape)}")
    gray = (0.2989 * x[:, 0] + 0.5870 * x[:, 1] + 0.1140 * x[:, 2]).unsqueeze(1)  # (B, 1, H, W)
    if size is not None and gray.shape[-1] != size:
        gray = torch.nn.functional.interpolate(gray, size=(size, size), mode="bilinear", align_corners=False)
    return gray
