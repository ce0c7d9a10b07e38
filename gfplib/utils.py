"""Shared plumbing: seeding, device choice, and the one image convention of the series.

GFPGAN's networks see RGB float32 tensors in NCHW layout with values in [-1, 1]:

.. math::  t = \\frac{x / 255 - 0.5}{0.5}, \\qquad x = \\operatorname{round}\\big(255 \\cdot \\tfrac{\\operatorname{clamp}(t, -1, 1) + 1}{2}\\big)

OpenCV reads photos as uint8 HWC in BGR order, matplotlib shows uint8 (or float [0, 1]) HWC in RGB order.
:func:`normalize` and :func:`denormalize` are the package's one pair of value conversions (any layout);
:func:`img2tensor` and :func:`tensor2img` add the layout and channel order of NumPy images, check their input and
raise a clear ``ValueError`` / ``TypeError`` instead of returning a silently wrong picture.

Used by every notebook, first in ``notebooks/00_overview.ipynb``.
"""
from __future__ import annotations

import os
import random
from typing import Optional, Sequence, Union

import numpy as np
import torch

__all__ = [
    "seed_everything", "pick_device", "check_image", "normalize", "denormalize", "img2tensor", "tensor2img", "on_colab",
    "data_dir",
]


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python's ``random``, NumPy's global state and torch (CPU and every CUDA device).

    Returns a fresh ``numpy.random.Generator`` seeded with the same value: gfplib functions take such a generator
    explicitly, the global seeds are only there for third-party code that still uses global state.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not 0 <= int(seed) < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    os.environ["PYTHONHASHSEED"] = str(seed)  # for subprocesses (DataLoader workers spawned later)
    return np.random.default_rng(seed)


def pick_device(prefer: Optional[str] = None) -> torch.device:
    """The best available device: CUDA, then Apple's MPS, then CPU.

    Args:
        prefer: ``None`` for automatic choice, or ``'cuda'``, ``'cuda:1'``, ``'mps'``, ``'cpu'``. Asking for a device
            that is not available raises ``RuntimeError`` (rather than silently running somewhere else).
    """
    if prefer is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(prefer)
    except RuntimeError as err:
        raise ValueError(f"unknown device string {prefer!r}") from err
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"device {prefer!r} requested but CUDA is not available")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise RuntimeError(f"device {prefer!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist")
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise RuntimeError("device 'mps' requested but MPS is not available")
    elif dev.type != "cpu":
        raise ValueError(f"unsupported device type {dev.type!r}; use cuda, mps or cpu")
    return dev


def on_colab() -> bool:
    """True inside Google Colab (used by the first cell of each notebook)."""
    return "COLAB_RELEASE_TAG" in os.environ or "google.colab" in __import__("sys").modules


def check_image(img: np.ndarray, *, name: str = "image", channels: Union[int, Sequence[int]] = 3,
                dtypes: Sequence[Union[str, np.dtype]] = ("uint8", "float32", "float64")) -> np.ndarray:
    """Validate an HWC image array and return it unchanged.

    Checks, each with its own message: it is a NumPy array, has one of ``dtypes``, is 3-D ``(H, W, C)`` (a 2-D gray
    image is accepted only when 1 channel is allowed), is not empty, has an allowed channel count, and (for float
    arrays) holds no NaN or infinity.
    """
    if not isinstance(img, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(img).__name__}")
    allowed = {np.dtype(d) for d in dtypes}
    if img.dtype not in allowed:
        raise TypeError(f"{name} has dtype {img.dtype}; expected one of {sorted(str(d) for d in allowed)}")
    chans = (channels,) if isinstance(channels, int) else tuple(channels)
    if img.ndim == 2 and 1 in chans:
        pass
    elif img.ndim != 3:
        raise ValueError(f"{name} must have shape (H, W, C), got shape {tuple(img.shape)}")
    if img.size == 0 or img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(img.shape)})")
    c = 1 if img.ndim == 2 else img.shape[2]
    if c not in chans:
        raise ValueError(f"{name} has {c} channel(s); expected {' or '.join(map(str, chans))} "
                         f"(shape {tuple(img.shape)}; convert gray/RGBA images with cv2.cvtColor first)")
    if img.dtype.kind == "f" and not np.isfinite(img).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return img


def normalize(x: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] or float [0, 1] tensor (any shape) → float32 in [-1, 1]: ``t = (x / 255 − 0.5) / 0.5``.

    The official ``normalize(img, mean=0.5, std=0.5)`` after scaling to [0, 1]. Returns a new tensor (the input is
    never modified). For uint8 input the result equals ``x / 127.5 − 1`` bit for bit.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor, got {type(x).__name__}")
    if x.dtype == torch.uint8:
        t = x.float().div_(255.0)  # [0, 1]
    elif x.is_floating_point():
        t = x.to(torch.float32, copy=True)
    else:
        raise TypeError(f"expected a uint8 or floating-point tensor, got dtype {x.dtype}")
    return t.sub_(0.5).div_(0.5)  # t = (x − 0.5) / 0.5 → [-1, 1]


def denormalize(t: torch.Tensor) -> torch.Tensor:
    """Float tensor in [-1, 1] (any shape) → uint8 [0, 255]: ``round(255 · (clamp(t, −1, 1) + 1) / 2)``.

    Values outside [-1, 1] are clamped (as GFPGAN's inference does); halves round to even.
    """
    return ((t.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def img2tensor(img: np.ndarray, *, bgr: bool = True) -> torch.Tensor:
    """uint8 image(s) ``(H, W, 3)`` or ``(N, H, W, 3)`` → float32 tensor ``(N, 3, H, W)`` in [-1, 1], RGB order.

    Args:
        img: uint8 array. A float array is refused: its range ([0, 1] or [0, 255]?) would be a guess.
        bgr: ``True`` (default) when ``img`` is in OpenCV's BGR order, ``False`` when it is already RGB.
    """
    if isinstance(img, np.ndarray) and img.ndim == 4:
        if img.shape[0] == 0:
            raise ValueError(f"image batch is empty (shape {tuple(img.shape)})")
        return torch.cat([img2tensor(im, bgr=bgr) for im in img])
    check_image(img, channels=3, dtypes=("uint8",))
    x = img[..., ::-1] if bgr else img
    return normalize(torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)).unsqueeze(0)  # (1, 3, H, W)


def tensor2img(t: torch.Tensor, *, bgr: bool = True) -> np.ndarray:
    """Float tensor ``(3, H, W)`` or ``(N, 3, H, W)`` in [-1, 1] → uint8 ``(H, W, 3)`` or ``(N, H, W, 3)``.

    Values are clamped to [-1, 1] (as GFPGAN's inference does), mapped to [0, 255] and rounded
    (:func:`denormalize`). ``bgr=True`` returns OpenCV order (for ``cv2.imwrite``), ``bgr=False`` RGB order (for
    ``plt.imshow``).
    """
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor, got {type(t).__name__}")
    if not t.is_floating_point():
        raise TypeError(f"expected a floating-point tensor in [-1, 1], got dtype {t.dtype}")
    if t.ndim not in (3, 4) or t.shape[-3] != 3:
        raise ValueError(f"expected shape (3, H, W) or (N, 3, H, W), got {tuple(t.shape)}")
    if t.numel() == 0:
        raise ValueError(f"tensor is empty (shape {tuple(t.shape)})")
    t = t.detach()
    if torch.isnan(t).any():
        raise ValueError("tensor contains NaN values")
    x = denormalize(t).cpu().movedim(-3, -1).numpy()  # (.., H, W, 3) in [0, 255]
    if bgr:
        x = x[..., ::-1]
    return np.ascontiguousarray(x)


def data_dir() -> "os.PathLike[str]":
    """Folder of the small assets shipped with the series (toy weights, demo photo, landmarks).

    ``$GFPLIB_DATA`` overrides it; otherwise it is the repository's ``data/`` next to the ``gfplib`` package.
    """
    from pathlib import Path

    env = os.environ.get("GFPLIB_DATA")
    path = Path(env) if env else Path(__file__).resolve().parent.parent / "data"
    if not path.is_dir():
        raise FileNotFoundError(f"gfplib data folder not found at {path} (set $GFPLIB_DATA to the repository's data/)")
    return path
