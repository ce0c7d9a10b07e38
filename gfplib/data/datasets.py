r"""Paired training data: a clean face (``gt``), its degraded copy (``lq``) and the facial-component boxes.

GFPGAN never sees real low-quality photos during training. Each sample takes a clean aligned face :math:`y` (the
ground truth) and makes its input :math:`x` on the fly with the degradation model of paper §4.1 (training datasets,
Eq. 10),

.. math::  x = \big[(y \circledast k_\sigma)\downarrow_r + n_\delta\big]_{\mathrm{JPEG}_q},

(:mod:`gfplib.degradation`), after a random horizontal flip of :math:`y`. Alongside the pair come the boxes of the
left eye, right eye and mouth, from which the facial component discriminators crop (面部组成损失, facial component
loss, paper §3.5, Eq. 7). Two sources share one output format:

* :class:`ToyFaceDataset` — procedural toy faces (:mod:`gfplib.data.toyfaces`) with exact boxes; runs anywhere.
* :class:`FFHQFolderDataset` — a folder of aligned face images as FFHQ users have them (PNG, 512² or 1024²), with
  the official component-box file ``FFHQ_eye_mouth_landmarks_512.pth`` when given.

Each item is a dict of tensors: ``gt`` and ``lq`` float32 ``(3, H, W)`` RGB in [-1, 1] (the network convention),
``loc_left_eye`` / ``loc_right_eye`` / ``loc_mouth`` float32 ``(x1, y1, x2, y2)`` in pixels, plus bookkeeping.
Randomness comes from ``numpy.random.default_rng([seed, epoch, index])`` only — no global state — so a sample is the
same in the main process and in any ``DataLoader`` worker, and the same on every run.

Taught in ``notebooks/02_face_data.ipynb``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from gfplib.data.toyfaces import (COMPONENTS, EYE_ENLARGE_RATIO, ToyFaceConfig, ToyFaceGenerator,
                                  boxes_from_components, hflip_face)
from gfplib.degradation import DegradationConfig, degrade, to_gray
from gfplib.utils import normalize

__all__ = [
    "ToyFaceDataset", "FFHQFolderDataset", "load_component_file", "flip_components_official", "collate_pairs",
    "IMAGE_EXTENSIONS",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
COMPONENT_REFERENCE_SIZE = 512  # the official box file is in pixels of 512 × 512 faces


def _to_tensor(img: np.ndarray) -> torch.Tensor:
    """uint8 or float [0, 1] RGB ``(H, W, 3)`` → float32 ``(3, H, W)`` in [-1, 1]."""
    return normalize(torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))))


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


class _PairedBase(Dataset):
    """Shared machinery: per-sample generator, flip, degradation and the output dict."""

    def __init__(self, size: int, degradation: Optional[DegradationConfig], seed: int, use_hflip: bool,
                 gt_gray: bool, return_params: bool):
        self.seed = _check_seed(seed)
        self.epoch = 0
        self.use_hflip = bool(use_hflip)
        self.gt_gray = bool(gt_gray)
        self.return_params = bool(return_params)
        if degradation is None:
            degradation = DegradationConfig.for_size(size)
        if not isinstance(degradation, DegradationConfig):
            raise TypeError(f"degradation must be a DegradationConfig, got {type(degradation).__name__}")
        if degradation.size != size:
            raise ValueError(f"degradation is calibrated for {degradation.size}² faces but the images are {size}²: "
                             f"use DegradationConfig.for_size({size})")
        self.degradation = degradation
        self.size = size

    def set_epoch(self, epoch: int) -> None:
        """Draw a new set of flips / degradations / toy photos for the next epoch (deterministic per epoch).

        With ``DataLoader(persistent_workers=True)`` the workers hold copies made when they started: call this
        before creating the loader's iterator.
        """
        self.epoch = _check_seed(epoch)

    def rng(self, index: int) -> np.random.Generator:
        """The generator of sample ``index`` in the current epoch: ``default_rng([seed, epoch, index])``."""
        return np.random.default_rng([self.seed, self.epoch, int(index)])

    def _pair(self, gt: np.ndarray, boxes: Optional[Dict[str, np.ndarray]], rng: np.random.Generator,
              extra: dict) -> dict:
        res = degrade(gt, rng, self.degradation)  # x = [(y ⊛ k_σ)↓_r + n_δ]_JPEG_q, then resize / colour
        if res.params.gray and self.gt_gray:  # gt_gray=True: a gray LQ is paired with a gray GT (not official)
            gt = to_gray(gt)
        out = {"gt": _to_tensor(gt), "lq": _to_tensor(res.lq)}
        for part in COMPONENTS if boxes is not None else ():
            out[f"loc_{part}"] = torch.from_numpy(np.asarray(boxes[part], dtype=np.float32).copy())
        out.update(extra)
        if self.return_params:
            out["params"] = res.params
        return out


class ToyFaceDataset(_PairedBase):
    """Paired toy faces: a random person and photo per index, flipped with probability ½, degraded on the fly.

    Args:
        faces: the toy world (size, world seed, identity split sizes).
        split: ``'train'`` or ``'test'`` people (disjoint; see :class:`~gfplib.data.toyfaces.ToyFaceConfig`).
        length: number of samples per epoch (the toy world is unbounded).
        degradation: defaults to ``DegradationConfig.for_size(faces.size)`` (the official recipe, rescaled).
        seed: the same seed gives the same samples.
        use_hflip: random horizontal flip (official: True).
        gt_gray: when the degradation turns LQ gray (probability 0.01), turn GT gray too. Off by default, as in the
            official training config, where ``gt_gray`` is commented out: the network learns to restore colour from
            a gray input. ``True`` asks it only to restore gray from gray.
        return_params: add the ``DegradationParams`` under ``'params'`` (use :func:`collate_pairs` with a
            ``DataLoader``).

    Items: ``gt``, ``lq`` (3, H, W) in [-1, 1]; ``loc_left_eye``, ``loc_right_eye``, ``loc_mouth`` (4,);
    ``landmarks`` (5, 2); ``identity`` (int64); ``flipped`` (bool); ``index``.
    """

    def __init__(self, faces: ToyFaceConfig = ToyFaceConfig(), split: str = "train", length: int = 10_000,
                 degradation: Optional[DegradationConfig] = None, seed: int = 0, use_hflip: bool = True,
                 gt_gray: bool = False, return_params: bool = False):
        if not isinstance(faces, ToyFaceConfig):
            raise TypeError(f"faces must be a ToyFaceConfig, got {type(faces).__name__}")
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 1:
            raise ValueError(f"length must be a positive integer, got {length!r}")
        super().__init__(faces.size, degradation, seed, use_hflip, gt_gray, return_params)
        self.faces = faces
        self.generator = ToyFaceGenerator(faces)
        self.split = split
        self.ids = faces.train_ids if split == "train" else faces.test_ids
        self.length = int(length)

    def __len__(self) -> int:
        return self.length

    def __repr__(self) -> str:
        return (f"ToyFaceDataset(size={self.size}, split={self.split!r}, people={len(self.ids)}, "
                f"length={self.length}, seed={self.seed}, epoch={self.epoch})")

    def face(self, index: int):
        """The clean toy face of sample ``index`` before flipping: ``(ToyFace, flip, rng)``."""
        if not -self.length <= index < self.length:
            raise IndexError(f"index {index} out of range for a dataset of length {self.length}")
        index = index % self.length
        rng = self.rng(index)
        identity = self.ids[int(rng.integers(len(self.ids)))]
        face = self.generator.render(identity, rng)
        flip = self.use_hflip and bool(rng.random() < 0.5)
        return face, flip, rng

    def __getitem__(self, index: int) -> dict:
        face, flip, rng = self.face(index)
        img, lm, boxes = face.image, face.landmarks, face.boxes
        if flip:
            img, lm, boxes = hflip_face(img, lm, boxes)
        extra = {"landmarks": torch.from_numpy(lm), "identity": torch.tensor(face.identity, dtype=torch.int64),
                 "flipped": flip, "index": int(index) % self.length}
        return self._pair(img, boxes, rng, extra)


def flip_components_official(components: Dict[str, Sequence[float]], width: int) -> Dict[str, np.ndarray]:
    """Mirror official component entries ``{part: (cx, cy, half)}`` as the official FFHQ dataset does.

    The eyes swap and each centre moves to ``cx → width − cx``. (In pixel-index coordinates the exact mirror is
    ``width − 1 − cx``; together with the ``+1`` of the official box rule the official boxes land 2 px to the
    right of the exact mirror — immaterial at 512², and kept here so that crops match the reference code.)
    """
    out = {"left_eye": np.array(components["right_eye"], dtype=np.float64),
           "right_eye": np.array(components["left_eye"], dtype=np.float64),
           "mouth": np.array(components["mouth"], dtype=np.float64)}
    for part in COMPONENTS:
        out[part][0] = width - out[part][0]
    return out


def load_component_file(path: Union[str, Path]) -> Dict[str, Dict[str, np.ndarray]]:
    """Load and validate a component-box file in the official ``FFHQ_eye_mouth_landmarks_512.pth`` format.

    The file is a ``torch.save``-d dict: zero-padded image index (``'00000000'``) → ``{'left_eye': [cx, cy, half],
    'right_eye': …, 'mouth': …}`` in pixels of the 512² face (values may be lists, tensors or NumPy arrays). It is
    read with ``torch.load(weights_only=True)`` through :func:`gfplib.weights.load_checkpoint` (plain NumPy
    arrays and scalars are allowed, no other pickled code).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a readable torch file, or not in this format (the message names the first bad entry).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"component-box file not found: {path} (the official one is "
                                f"FFHQ_eye_mouth_landmarks_512.pth, see gfplib.weights)")
    from gfplib.weights import load_checkpoint

    try:  # torch.load(weights_only=True) with plain NumPy arrays / scalars allowed, nothing else
        raw = load_checkpoint(path, allow_numpy=True)
    except Exception as err:
        raise ValueError(f"{path} is not a readable component-box file ({err})") from err
    if not isinstance(raw, dict) or not raw:
        raise ValueError(f"{path}: expected a non-empty dict {{'00000000': {{'left_eye': [cx, cy, half], ...}}}}, "
                         f"got {type(raw).__name__}{' (empty)' if isinstance(raw, dict) else ''}")
    out = {}
    for key, entry in raw.items():
        if not isinstance(key, str):
            raise ValueError(f"{path}: keys must be zero-padded index strings like '00000000', got {key!r}")
        if not isinstance(entry, dict):
            raise ValueError(f"{path}: entry {key!r} must be a dict with {COMPONENTS}, got {type(entry).__name__}")
        parts = {}
        for part in COMPONENTS:
            if part not in entry:
                raise ValueError(f"{path}: entry {key!r} lacks {part!r} (has {sorted(entry)})")
            v = entry[part]
            v = v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)
            if v.shape != (3,) or not np.issubdtype(v.dtype, np.number) or not np.isfinite(v).all():
                raise ValueError(f"{path}: entry {key!r}[{part!r}] must be 3 finite numbers [cx, cy, half_len], "
                                 f"got {v!r}")
            if v[2] <= 0:
                raise ValueError(f"{path}: entry {key!r}[{part!r}] has a non-positive half length {v[2]}")
            parts[part] = v.astype(np.float64)
        out[key] = parts
    return out


class FFHQFolderDataset(_PairedBase):
    """Paired faces from a folder of aligned face images (the FFHQ layout of GFPGAN's training).

    Images are read in sorted file-name order, converted BGR → RGB at the file boundary, and resized to
    ``out_size`` when they are another square size (FFHQ ships 1024²; GFPGAN trains at 512²).

    Args:
        root: folder of aligned, square face images (``.png`` etc.; searched non-recursively).
        out_size: training size (official 512).
        component_path: optional ``FFHQ_eye_mouth_landmarks_512.pth``-format file; without it the ``loc_*`` keys are
            left out. Each image is matched to its entry by its numeric file name (``00042.png`` → ``'00000042'``,
            the official key for index 42) or else by its plain file stem.
        degradation: defaults to ``DegradationConfig.for_size(out_size)``.
        seed, use_hflip, gt_gray, return_params: as in :class:`ToyFaceDataset`.
        eye_enlarge_ratio: eye boxes are this many half-lengths wide on each side (official 1.4).
        min_size: smallest accepted image side.

    Raises:
        FileNotFoundError / NotADirectoryError / ValueError: missing or empty folder, bad box file, an image with
        no box entry. Unreadable, non-square or too small images raise ``ValueError`` when they are loaded.
    """

    def __init__(self, root: Union[str, Path], out_size: int = 512, component_path: Union[str, Path, None] = None,
                 degradation: Optional[DegradationConfig] = None, seed: int = 0, use_hflip: bool = True,
                 gt_gray: bool = False, return_params: bool = False, eye_enlarge_ratio: float = EYE_ENLARGE_RATIO,
                 min_size: int = 16):
        if isinstance(out_size, bool) or not isinstance(out_size, (int, np.integer)) or out_size < 16:
            raise ValueError(f"out_size must be an integer >= 16, got {out_size!r}")
        super().__init__(int(out_size), degradation, seed, use_hflip, gt_gray, return_params)
        root = Path(root)
        if not root.exists():
            raise FileNotFoundError(f"face folder not found: {root}")
        if not root.is_dir():
            raise NotADirectoryError(f"expected a folder of aligned face images, got a file: {root}")
        self.root = root
        self.paths: List[Path] = sorted(p for p in root.iterdir()
                                        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        if not self.paths:
            raise ValueError(f"no images in {root} (looked for {', '.join(IMAGE_EXTENSIONS)}; "
                             f"the folder holds {sum(1 for _ in root.iterdir())} other entries)")
        self.eye_enlarge_ratio = float(eye_enlarge_ratio)
        self.min_size = int(min_size)
        self.components: Optional[Dict[str, Dict[str, np.ndarray]]] = None
        self.component_keys: Optional[List[str]] = None
        if component_path is not None:
            self.components = load_component_file(component_path)
            self.component_keys = [self._key(p) for p in self.paths]
            missing = [p.name for p, k in zip(self.paths, self.component_keys) if k not in self.components]
            if missing:
                raise ValueError(f"{component_path} has no boxes for {len(missing)} of {len(self.paths)} images, "
                                 f"e.g. {missing[0]} (looked up as key {self._key(root / missing[0])!r})")

    @staticmethod
    def _key(path: Path) -> str:
        return f"{int(path.stem):08d}" if path.stem.isdigit() else path.stem

    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        return (f"FFHQFolderDataset(root={str(self.root)!r}, images={len(self.paths)}, out_size={self.size}, "
                f"components={self.components is not None}, seed={self.seed}, epoch={self.epoch})")

    def load_image(self, index: int) -> np.ndarray:
        """Image ``index`` as uint8 RGB ``(out_size, out_size, 3)``, with clear errors for bad files."""
        path = self.paths[index]
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)  # (H, W, 3) BGR uint8, or None
        if img is None:
            raise ValueError(f"cannot read image {path} (corrupt or not an image)")
        h, w = img.shape[:2]
        if h != w:
            raise ValueError(f"{path} is {w}×{h}: aligned face crops are square (align photos first, "
                             f"e.g. with gfplib.align)")
        if h < self.min_size:
            raise ValueError(f"{path} is only {w}×{h}; face crops must be at least {self.min_size}² pixels")
        if h != self.size:
            interp = cv2.INTER_AREA if h > self.size else cv2.INTER_LINEAR
            img = cv2.resize(img, (self.size, self.size), interpolation=interp)
        return np.ascontiguousarray(img[..., ::-1])  # BGR → RGB

    def component_boxes(self, index: int, flip: bool) -> Dict[str, np.ndarray]:
        """Official boxes of image ``index`` at ``out_size``: ``[c − half + 1, c + half]``, eyes × 1.4."""
        if self.components is None:
            raise RuntimeError("this dataset has no component-box file (pass component_path=...)")
        comps = {k: np.array(v, dtype=np.float64) for k, v in self.components[self.component_keys[index]].items()}
        f = self.size / COMPONENT_REFERENCE_SIZE
        if f != 1.0:
            comps = {k: v * f for k, v in comps.items()}
        if flip:
            comps = flip_components_official(comps, self.size)
        return boxes_from_components(comps, self.eye_enlarge_ratio, official=True)

    def __getitem__(self, index: int) -> dict:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} images")
        index = index % len(self)
        rng = self.rng(index)
        img = self.load_image(index)
        flip = self.use_hflip and bool(rng.random() < 0.5)
        if flip:
            img = np.ascontiguousarray(img[:, ::-1])
        extra = {"flipped": flip, "index": index, "gt_path": str(self.paths[index])}
        boxes = self.component_boxes(index, flip) if self.components is not None else None
        return self._pair(img, boxes, rng, extra)


def collate_pairs(samples: List[dict]) -> dict:
    """``DataLoader`` collate function that stacks tensors and keeps everything else (e.g. ``params``) in lists."""
    if not samples:
        raise ValueError("cannot collate an empty list of samples")
    out = {}
    for key in samples[0]:
        vals = [s[key] for s in samples]
        if isinstance(vals[0], torch.Tensor):
            out[key] = torch.stack(vals)
        elif isinstance(vals[0], (bool, int, float)):
            out[key] = torch.tensor(vals)
        else:
            out[key] = vals
    return out
