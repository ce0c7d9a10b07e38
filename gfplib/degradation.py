r"""The degradation model: how GFPGAN manufactures low-quality training faces from clean ones.

GFPGAN is trained on synthetic pairs. A clean, aligned FFHQ face :math:`y` (the ground truth ``gt``) is degraded into
a low-quality input :math:`x` (``lq``) by the degradation model of the paper (Eq. 10, §4.1 "Training datasets"; the
paper uses x for the degraded input, y for the ground truth and ŷ for the restoration, and so does this series):

.. math::  x = \big[(y \circledast k_\sigma)\downarrow_r + n_\delta\big]_{\mathrm{JPEG}_q}

1. :math:`y \circledast k_\sigma` — blur with a Gaussian kernel, isotropic or anisotropic and rotated,
   :math:`k(\mathbf{u}) \propto \exp(-\tfrac12 \mathbf{u}^\top \Sigma^{-1} \mathbf{u})` with
   :math:`\Sigma = R_\theta \,\mathrm{diag}(\sigma_x^2, \sigma_y^2)\, R_\theta^\top` (:func:`gaussian_kernel`);
2. :math:`\downarrow_r` — bilinear downsampling by a factor :math:`r` (:func:`downsample`);
3. :math:`+\, n_\delta` — additive white Gaussian noise of standard deviation :math:`\delta` (:func:`add_gaussian_noise`);
4. :math:`[\cdot]_{\mathrm{JPEG}_q}` — JPEG compression at quality :math:`q` (:func:`jpeg_compress`);

then, as in the official training code (``FFHQDegradationDataset``), the result is resized back to the input size
(:func:`resize_to`), optionally colour-jittered (:func:`shift_colors`, :func:`color_jitter`), rarely turned gray
(:func:`to_gray`), and quantised to 8-bit levels (:func:`quantize`). The random parameters are drawn by
:func:`sample_params` from the ranges of :class:`DegradationConfig` (official defaults: σ ∈ [0.1, 10], r ∈ [0.8, 8],
δ ∈ [0, 20]/255, q ∈ [60, 100]); :func:`apply_degradation` replays a parameter set deterministically, and
:func:`degrade` does both.

Conventions: images are RGB, HWC, float32 in [0, 1] (uint8 input is accepted and converted). Every public function
checks its image once, on entry, with :func:`as_float_image`. OpenCV's BGR order only matters for JPEG (its colour
transform assumes BGR); :func:`jpeg_compress` converts at that boundary. A real face to try it on:
:func:`gfplib.data.demo_face`.

Taught in ``notebooks/01_degradation.ipynb`` (study note: "degradation model"; the degraded input is what the
退化去除模块 / degradation removal module must undo).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import NamedTuple, Optional, Sequence, Tuple

import cv2
import numpy as np

from gfplib.utils import check_image

__all__ = [
    "DegradationConfig", "DegradationParams", "DegradationResult", "DegradationSteps",
    "as_float_image", "sigma_matrix", "mesh_grid", "gaussian_kernel", "blur", "downsampled_size", "downsample",
    "add_gaussian_noise",
    "jpeg_compress", "resize_to", "shift_colors", "to_gray", "adjust_brightness", "adjust_contrast",
    "adjust_saturation", "adjust_hue", "color_jitter", "quantize", "sample_params", "apply_degradation", "degrade",
    "JITTER_OPS",
]

# Official reference size: FFHQ faces at 512×512, for which the blur ranges below were chosen.
REFERENCE_SIZE = 512
JITTER_OPS = ("brightness", "contrast", "saturation", "hue")  # the torchvision ColorJitter operations, in index order


# --------------------------------------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------------------------------------
def as_float_image(img: np.ndarray, name: str = "image") -> np.ndarray:
    """Validate an RGB image and return it as float32 HWC in [0, 1].

    Args:
        img: ``(H, W, 3)`` array, uint8 in [0, 255] or float32/float64 in [0, 1].
        name: how error messages call the array.

    Raises:
        TypeError: not an array, or an unsupported dtype.
        ValueError: wrong shape or channel count, empty, NaN/inf, or float values outside [0, 1].

    Float values up to 1e-3 outside [0, 1] (rounding of an earlier step, e.g. a blur of white pixels giving
    1.0000001) are accepted and passed on unchanged; a float32 image is returned as it is, not copied.
    """
    check_image(img, name=name, channels=3, dtypes=("uint8", "float32", "float64"))
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0
    lo, hi = float(img.min()), float(img.max())
    if lo < -1e-3 or hi > 1 + 1e-3:
        hint = " (it looks like 0–255 values: divide by 255 or pass uint8)" if hi > 2 else ""
        raise ValueError(f"{name} is a float image with values in [{lo:.4g}, {hi:.4g}]; expected [0, 1]{hint}")
    return img.astype(np.float32, copy=False)


# --------------------------------------------------------------------------------------------------------------------
# 1. Blur kernel  k_σ
# --------------------------------------------------------------------------------------------------------------------
def sigma_matrix(sigma_x: float, sigma_y: float, theta: float) -> np.ndarray:
    """Covariance of a rotated Gaussian, ``(2, 2)``.

    Args:
        sigma_x: standard deviation (pixels) along the kernel's first principal axis.
        sigma_y: standard deviation (pixels) along the second principal axis.
        theta: rotation of the first axis, radians, measured from the image x axis (columns) towards the image
            y axis (rows). Rows grow downwards, so a positive angle looks clockwise on screen.
    """
    if not (sigma_x > 0 and sigma_y > 0):
        raise ValueError(f"sigmas must be positive, got sigma_x={sigma_x}, sigma_y={sigma_y}")
    c, s = math.cos(theta), math.sin(theta)
    rot = np.array([[c, -s], [s, c]])  # R_θ
    return rot @ np.diag([sigma_x**2, sigma_y**2]) @ rot.T  # Σ = R diag(σx², σy²) Rᵀ


def mesh_grid(kernel_size: int) -> Tuple[np.ndarray, np.ndarray]:
    """Pixel offsets from the kernel centre: ``xx`` (column offset) and ``yy`` (row offset), each ``(k, k)``."""
    if not isinstance(kernel_size, (int, np.integer)) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size!r}")
    ax = np.arange(kernel_size, dtype=np.float64) - kernel_size // 2  # -(k//2) … k//2
    xx, yy = np.meshgrid(ax, ax)  # xx varies along columns, yy along rows
    return xx, yy


def gaussian_kernel(kernel_size: int, sigma_x: float, sigma_y: Optional[float] = None,
                    theta: float = 0.0) -> np.ndarray:
    """A normalised bivariate Gaussian blur kernel, float64 ``(kernel_size, kernel_size)``.

    ``sigma_y=None`` gives the isotropic kernel (σy = σx, rotation irrelevant). The kernel is truncated to the
    window and renormalised so that it sums to 1 (blurring preserves mean brightness), as the official code does.

    Args:
        kernel_size: odd window size; 41 in GFPGAN.
        sigma_x, sigma_y, theta: see :func:`sigma_matrix`.
    """
    if sigma_y is None:
        sigma_y, theta = sigma_x, 0.0
    cov = sigma_matrix(sigma_x, sigma_y, theta)
    xx, yy = mesh_grid(kernel_size)
    u = np.stack([xx, yy], axis=-1)  # (k, k, 2) offsets u = (x, y)
    maha = np.einsum("...i,ij,...j->...", u, np.linalg.inv(cov), u)  # uᵀ Σ⁻¹ u
    kernel = np.exp(-0.5 * maha)  # k(u) ∝ exp(-½ uᵀ Σ⁻¹ u)
    return kernel / kernel.sum()


def blur(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``y ⊛ k``: filter every channel with ``kernel`` (cv2.filter2D, reflect-101 borders), float32 ``(H, W, 3)``."""
    img = as_float_image(img)
    kernel = np.asarray(kernel)
    if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1] or kernel.shape[0] % 2 == 0:
        raise ValueError(f"kernel must be a square 2-D array of odd size, got shape {kernel.shape}")
    if not np.isfinite(kernel).all():
        raise ValueError("kernel contains NaN or infinite values")
    # filter2D computes a correlation; a centred Gaussian is point-symmetric, so it equals the convolution.
    return cv2.filter2D(img, -1, kernel)  # y ⊛ k_σ


# --------------------------------------------------------------------------------------------------------------------
# 2. Downsampling  ↓_r   and resizing back
# --------------------------------------------------------------------------------------------------------------------
def downsampled_size(height: int, width: int, scale: float) -> Tuple[int, int]:
    """``(h, w)`` after downsampling by ``scale``: ``(int(h // scale), int(w // scale))`` as in the official code."""
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    h, w = int(height // scale), int(width // scale)
    if h < 1 or w < 1:
        raise ValueError(f"downsampling a {height}x{width} image by {scale} leaves no pixels")
    return h, w


def downsample(img: np.ndarray, scale: float) -> np.ndarray:
    """``↓_r``: bilinear (cv2.INTER_LINEAR) resize to ``(int(h // r), int(w // r))``; r < 1 enlarges."""
    img = as_float_image(img)
    h, w = downsampled_size(img.shape[0], img.shape[1], scale)
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)  # (y ⊛ k)↓_r


def resize_to(img: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """Bilinear resize to ``size = (height, width)`` (the official "resize back to the original size" step)."""
    img = as_float_image(img)
    h, w = int(size[0]), int(size[1])
    if h < 1 or w < 1:
        raise ValueError(f"target size must be positive, got {size}")
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)


# --------------------------------------------------------------------------------------------------------------------
# 3. Noise  n_δ
# --------------------------------------------------------------------------------------------------------------------
def add_gaussian_noise(img: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """``+ n_δ``: add colour (per-channel independent) Gaussian noise, then clip to [0, 1] (no rounding).

    Args:
        img: RGB image.
        sigma: noise standard deviation on the 0–255 scale (GFPGAN draws it from [0, 20]).
        rng: source of the noise field.
    """
    img = as_float_image(img)
    if not sigma >= 0:
        raise ValueError(f"noise sigma must be >= 0 (on the 0-255 scale), got {sigma}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    noise = rng.standard_normal(img.shape, dtype=np.float32) * np.float32(sigma / 255.0)  # n_δ, δ = σ/255
    return np.clip(img + noise, 0.0, 1.0)  # (y ⊛ k)↓_r + n_δ


# --------------------------------------------------------------------------------------------------------------------
# 4. JPEG  [·]_JPEG_q
# --------------------------------------------------------------------------------------------------------------------
def jpeg_compress(img: np.ndarray, quality: float) -> np.ndarray:
    """``[·]_JPEG_q``: encode to JPEG in memory at ``quality`` and decode again.

    The image is rounded to uint8 first (what OpenCV does with a float image) and converted RGB → BGR, because
    OpenCV's encoder expects BGR (its YCbCr transform would otherwise swap the roles of red and blue). The official
    code passes a float quality; it is rounded here to the nearest integer (OpenCV's ``saturate_cast`` rule for
    float → int), since current OpenCV Python bindings reject a float quality outright.

    Args:
        img: RGB image.
        quality: JPEG quality in [0, 100] (GFPGAN draws it from [60, 100]).
    """
    img = as_float_image(img)
    if not 0 <= quality <= 100:
        raise ValueError(f"JPEG quality must be in [0, 100], got {quality}")
    q = int(round(float(quality)))
    bgr = np.ascontiguousarray(np.rint(img[..., ::-1] * 255.0).astype(np.uint8))  # RGB float → BGR uint8
    ok, buf = cv2.imencode(".jpg", bgr, [int(cv2.IMWRITE_JPEG_QUALITY), q])
    if not ok:
        raise RuntimeError("OpenCV failed to encode the image as JPEG")
    dec = cv2.imdecode(buf, cv2.IMREAD_COLOR)  # (H, W, 3) BGR uint8
    return np.ascontiguousarray(dec[..., ::-1]).astype(np.float32) / 255.0  # back to RGB float


# --------------------------------------------------------------------------------------------------------------------
# Colour: the official extras after the formula
# --------------------------------------------------------------------------------------------------------------------
def shift_colors(img: np.ndarray, offset: Sequence[float]) -> np.ndarray:
    """Add a per-channel offset ``(dR, dG, dB)`` (in [0, 1] units) and clip: the official NumPy colour jitter."""
    off = np.asarray(offset, dtype=np.float32).reshape(-1)
    if off.shape != (3,):
        raise ValueError(f"offset must have 3 values (R, G, B), got {off.shape[0]}")
    return np.clip(as_float_image(img) + off, 0.0, 1.0)


def _luma(img: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma as torchvision computes it, ``(H, W)``."""
    return 0.2989 * img[..., 0] + 0.587 * img[..., 1] + 0.114 * img[..., 2]


def to_gray(img: np.ndarray) -> np.ndarray:
    """Gray version replicated to 3 channels (cv2 RGB→GRAY: 0.299 R + 0.587 G + 0.114 B), ``(H, W, 3)``."""
    g = cv2.cvtColor(as_float_image(img), cv2.COLOR_RGB2GRAY)
    return np.repeat(g[..., None], 3, axis=2)


def _blend(a: np.ndarray, b, ratio: float) -> np.ndarray:
    return np.clip(ratio * a + (1.0 - ratio) * b, 0.0, 1.0).astype(np.float32)


def adjust_brightness(img: np.ndarray, factor: float) -> np.ndarray:
    """Multiply by ``factor`` and clip (torchvision ``adjust_brightness`` on float images)."""
    if factor < 0:
        raise ValueError(f"brightness factor must be >= 0, got {factor}")
    return _blend(as_float_image(img), 0.0, factor)  # f · img


def adjust_contrast(img: np.ndarray, factor: float) -> np.ndarray:
    """Blend with the image's mean gray level (torchvision ``adjust_contrast``)."""
    if factor < 0:
        raise ValueError(f"contrast factor must be >= 0, got {factor}")
    img = as_float_image(img)
    return _blend(img, np.float32(_luma(img).mean()), factor)  # f · img + (1 − f) · mean(gray(img))


def adjust_saturation(img: np.ndarray, factor: float) -> np.ndarray:
    """Blend with the per-pixel gray image: 0 → gray, 1 → unchanged (torchvision ``adjust_saturation``)."""
    if factor < 0:
        raise ValueError(f"saturation factor must be >= 0, got {factor}")
    img = as_float_image(img)
    return _blend(img, _luma(img)[..., None], factor)  # f · img + (1 − f) · gray(img)


def adjust_hue(img: np.ndarray, factor: float) -> np.ndarray:
    """Rotate the hue by ``factor`` turns, ``factor`` ∈ [-0.5, 0.5] (torchvision ``adjust_hue``).

    Computed through OpenCV's float HSV conversion (agrees with torchvision to ~1e-6 and is much faster).
    """
    if not -0.5 <= factor <= 0.5:
        raise ValueError(f"hue factor must be in [-0.5, 0.5], got {factor}")
    hsv = cv2.cvtColor(as_float_image(img), cv2.COLOR_RGB2HSV)  # float input: H in degrees [0, 360), S, V in [0, 1]
    hsv[..., 0] = np.mod(hsv[..., 0] + np.float32(360.0 * factor), np.float32(360.0))  # h ← (h + Δh) mod 1 turn
    return np.clip(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB), 0.0, 1.0)


_ADJUST = {"brightness": adjust_brightness, "contrast": adjust_contrast, "saturation": adjust_saturation,
           "hue": adjust_hue}


def color_jitter(img: np.ndarray, order: Sequence[str], brightness: float = 1.0, contrast: float = 1.0,
                 saturation: float = 1.0, hue: float = 0.0) -> np.ndarray:
    """The official torch-style colour jitter: the four adjustments applied in the given ``order``.

    Args:
        img: RGB image.
        order: a permutation of ``JITTER_OPS`` (the official code draws a random one per sample).
        brightness, contrast, saturation, hue: the factors (1, 1, 1, 0 leave the image unchanged).
    """
    if sorted(order) != sorted(JITTER_OPS):
        raise ValueError(f"order must be a permutation of {JITTER_OPS}, got {tuple(order)}")
    factors = {"brightness": brightness, "contrast": contrast, "saturation": saturation, "hue": hue}
    img = as_float_image(img)
    for op in order:
        img = _ADJUST[op](img, factors[op])
    return img


def quantize(img: np.ndarray) -> np.ndarray:
    """Round to the 256 levels of an 8-bit image and clip: ``clip(round(255 x), 0, 255) / 255``."""
    img = as_float_image(img)
    return (np.clip(np.rint(img * np.float32(255.0)), 0, 255) / np.float32(255.0)).astype(np.float32, copy=False)


# --------------------------------------------------------------------------------------------------------------------
# Configuration, parameters, sampler
# --------------------------------------------------------------------------------------------------------------------
def _check_range(name: str, rng: Tuple[float, float], lo: float = -math.inf, hi: float = math.inf) -> None:
    if len(rng) != 2 or not (lo <= rng[0] <= rng[1] <= hi):
        raise ValueError(f"{name} must be an ordered pair within [{lo}, {hi}], got {rng}")


def _check_prob(name: str, p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {p}")


@dataclass(frozen=True)
class DegradationConfig:
    """Ranges and probabilities of the random degradation. Defaults = official GFPGAN (train_gfpgan_v1.yml).

    :meth:`for_size` rescales the blur to other face sizes; :meth:`tiny` is the toy-world preset (32×32 faces).
    """

    size: int = 512  # face size the ranges are calibrated for; degrade() expects size × size images
    kernel_size: int = 41  # blur window; truncates the widest kernel (σ = 10) at ±2σ
    iso_prob: float = 0.5  # kernel_list ['iso', 'aniso'] with kernel_prob [0.5, 0.5]
    blur_sigma: Tuple[float, float] = (0.1, 10.0)  # σx, σy in pixels, uniform
    rotation: Tuple[float, float] = (-math.pi, math.pi)  # θ of anisotropic kernels, uniform
    downsample_range: Tuple[float, float] = (0.8, 8.0)  # r, uniform; r < 1 slightly enlarges
    noise_range: Tuple[float, float] = (0.0, 20.0)  # δ on the 0–255 scale, uniform
    jpeg_range: Tuple[float, float] = (60.0, 100.0)  # q, uniform, rounded to an integer
    color_jitter_prob: float = 0.3  # per-channel offset ...
    color_jitter_shift: float = 20.0  # ... uniform in ±20/255
    gray_prob: float = 0.01  # LQ converted to gray
    color_jitter_pt_prob: float = 0.3  # torchvision-style jitter in random order ...
    brightness: Tuple[float, float] = (0.5, 1.5)  # ... with these factor ranges
    contrast: Tuple[float, float] = (0.5, 1.5)
    saturation: Tuple[float, float] = (0.0, 1.5)
    hue: Tuple[float, float] = (-0.1, 0.1)

    def __post_init__(self):
        if not isinstance(self.size, (int, np.integer)) or self.size < 8:
            raise ValueError(f"size must be an integer >= 8, got {self.size!r}")
        if not isinstance(self.kernel_size, (int, np.integer)) or self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd integer, got {self.kernel_size!r}")
        _check_range("blur_sigma", self.blur_sigma, 1e-6)
        _check_range("rotation", self.rotation)
        _check_range("downsample_range", self.downsample_range, 1e-6, self.size)
        _check_range("noise_range", self.noise_range, 0.0)
        _check_range("jpeg_range", self.jpeg_range, 0.0, 100.0)
        _check_range("brightness", self.brightness, 0.0)
        _check_range("contrast", self.contrast, 0.0)
        _check_range("saturation", self.saturation, 0.0)
        _check_range("hue", self.hue, -0.5, 0.5)
        if self.color_jitter_shift < 0:
            raise ValueError(f"color_jitter_shift must be >= 0, got {self.color_jitter_shift}")
        for name in ("iso_prob", "color_jitter_prob", "gray_prob", "color_jitter_pt_prob"):
            _check_prob(name, getattr(self, name))

    @classmethod
    def for_size(cls, size: int) -> "DegradationConfig":
        """The official recipe rescaled to ``size × size`` faces.

        Rule: quantities measured in pixels of the 512² face scale with ``f = size / 512`` — the blur σ range
        becomes ``(0.1 f, 10 f)`` and the kernel half-width ``ceil(20 f)`` (so the window still reaches ±2 σ_max).
        Everything relative or per-pixel is unchanged: the downsampling factor r (a 512 face at r = 8 and a 64 face
        at r = 8 both keep 1/8 of their detail), the noise δ, the JPEG quality and the colour jitter. One thing does
        not scale: JPEG's 8×8 blocks are fixed in pixels, so at small sizes its artefacts are coarser relative to
        the face.
        """
        if not isinstance(size, (int, np.integer)) or size < 8:
            raise ValueError(f"size must be an integer >= 8, got {size!r}")
        f = size / REFERENCE_SIZE
        base = cls()
        return replace(base, size=int(size), kernel_size=2 * math.ceil(20 * f) + 1,
                       blur_sigma=(base.blur_sigma[0] * f, base.blur_sigma[1] * f))

    @classmethod
    def tiny(cls) -> "DegradationConfig":
        """Toy-world preset: 32×32 faces (kernel 5, σ ∈ [0.00625, 0.625]); see :meth:`for_size`."""
        return cls.for_size(32)


@dataclass(frozen=True)
class DegradationParams:
    """One concrete degradation: every value needed to replay it with :func:`apply_degradation`.

    Optional colour steps are ``None`` when they were not drawn.
    """

    kernel_size: int
    kernel_type: str  # 'iso' or 'aniso'
    sigma_x: float
    sigma_y: float
    theta: float  # radians; 0 for isotropic kernels
    scale: float  # downsampling factor r
    noise_sigma: float  # δ on the 0–255 scale
    noise_seed: int  # seeds the noise field n_δ
    jpeg_quality: int
    color_shift: Optional[Tuple[float, float, float]] = None  # (dR, dG, dB) in [0, 1] units
    gray: bool = False
    jitter_order: Optional[Tuple[str, str, str, str]] = None  # permutation of JITTER_OPS
    brightness: float = 1.0
    contrast: float = 1.0
    saturation: float = 1.0
    hue: float = 0.0

    def __post_init__(self):
        if self.kernel_type not in ("iso", "aniso"):
            raise ValueError(f"kernel_type must be 'iso' or 'aniso', got {self.kernel_type!r}")
        if not (self.sigma_x > 0 and self.sigma_y > 0):
            raise ValueError(f"sigmas must be positive, got sigma_x={self.sigma_x}, sigma_y={self.sigma_y}")
        if not self.scale > 0:
            raise ValueError(f"scale must be positive, got {self.scale}")
        if not self.noise_sigma >= 0:
            raise ValueError(f"noise_sigma must be >= 0 (0-255 scale), got {self.noise_sigma}")
        if not 0 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be in [0, 100], got {self.jpeg_quality}")
        if self.jitter_order is not None and sorted(self.jitter_order) != sorted(JITTER_OPS):
            raise ValueError(f"jitter_order must be a permutation of {JITTER_OPS}, got {self.jitter_order}")
        mesh_grid(self.kernel_size)  # raises on an even or non-positive window

    def kernel(self) -> np.ndarray:
        """The blur kernel k_σ of this degradation."""
        return gaussian_kernel(self.kernel_size, self.sigma_x, self.sigma_y, self.theta)

    def describe(self) -> str:
        """A short one-line summary, e.g. for a figure title."""
        blur = (f"iso σ={self.sigma_x:.2g}" if self.kernel_type == "iso"
                else f"aniso σ=({self.sigma_x:.2g},{self.sigma_y:.2g}) θ={math.degrees(self.theta):.0f}°")
        extra = "".join([" +shift" if self.color_shift is not None else "", " gray" if self.gray else "",
                         " +jitter" if self.jitter_order is not None else ""])
        return f"{blur} ↓{self.scale:.2f} δ={self.noise_sigma:.1f} q={self.jpeg_quality}{extra}"


class DegradationSteps(NamedTuple):
    """Intermediate images of :func:`apply_degradation` (``return_steps=True``), all float32 RGB."""

    gt: np.ndarray  # y (ground truth)
    blurred: np.ndarray  # y ⊛ k_σ
    downsampled: np.ndarray  # (y ⊛ k_σ)↓_r
    noisy: np.ndarray  # (y ⊛ k_σ)↓_r + n_δ
    jpeg: np.ndarray  # [...]_JPEG_q
    resized: np.ndarray  # resized back to the input size
    lq: np.ndarray  # x: after colour steps and quantisation


class DegradationResult(NamedTuple):
    """What :func:`degrade` returns: the degraded image and the parameters that produced it."""

    lq: np.ndarray  # (H, W, 3) float32 RGB in [0, 1], on the 1/255 grid
    params: DegradationParams


def sample_params(rng: np.random.Generator, cfg: DegradationConfig = DegradationConfig()) -> DegradationParams:
    """Draw one random degradation from the ranges of ``cfg`` (same order of steps as the official dataset)."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    iso = bool(rng.random() < cfg.iso_prob)
    sigma_x = float(rng.uniform(*cfg.blur_sigma))
    if iso:
        sigma_y, theta = sigma_x, 0.0
    else:
        sigma_y = float(rng.uniform(*cfg.blur_sigma))
        theta = float(rng.uniform(*cfg.rotation))
    scale = float(rng.uniform(*cfg.downsample_range))
    noise_sigma = float(rng.uniform(*cfg.noise_range))
    noise_seed = int(rng.integers(0, 2**63 - 1))
    quality = int(round(float(rng.uniform(*cfg.jpeg_range))))
    shift = None
    if rng.random() < cfg.color_jitter_prob:
        s = cfg.color_jitter_shift / 255.0
        shift = tuple(float(v) for v in rng.uniform(-s, s, 3))
    gray = bool(rng.random() < cfg.gray_prob)
    jitter = dict(jitter_order=None, brightness=1.0, contrast=1.0, saturation=1.0, hue=0.0)
    if rng.random() < cfg.color_jitter_pt_prob:
        jitter = dict(jitter_order=tuple(JITTER_OPS[i] for i in rng.permutation(4)),
                      brightness=float(rng.uniform(*cfg.brightness)), contrast=float(rng.uniform(*cfg.contrast)),
                      saturation=float(rng.uniform(*cfg.saturation)), hue=float(rng.uniform(*cfg.hue)))
    return DegradationParams(kernel_size=cfg.kernel_size, kernel_type="iso" if iso else "aniso", sigma_x=sigma_x,
                             sigma_y=sigma_y, theta=theta, scale=scale, noise_sigma=noise_sigma,
                             noise_seed=noise_seed, jpeg_quality=quality, color_shift=shift, gray=gray, **jitter)


def apply_degradation(gt: np.ndarray, params: DegradationParams, return_steps: bool = False):
    """Degrade ``gt`` with the given parameters: x = [(y ⊛ k_σ)↓_r + n_δ]_JPEG_q, resize back, colour, quantise.

    Deterministic: the same ``gt`` and ``params`` always give the same image.

    Args:
        gt: ``(H, W, 3)`` RGB image, uint8 or float in [0, 1].
        params: e.g. from :func:`sample_params`, or built by hand.
        return_steps: also return every intermediate image.

    Returns:
        ``lq`` float32 ``(H, W, 3)`` in [0, 1], or :class:`DegradationSteps` when ``return_steps``.
    """
    y = as_float_image(gt, "gt")  # (H, W, 3) clean face y
    blurred = blur(y, params.kernel())  # y ⊛ k_σ
    small = downsample(blurred, params.scale)  # (y ⊛ k_σ)↓_r
    noisy = add_gaussian_noise(small, params.noise_sigma, np.random.default_rng(params.noise_seed))  # + n_δ
    jpeg = jpeg_compress(noisy, params.jpeg_quality)  # x = [(y ⊛ k_σ)↓_r + n_δ]_JPEG_q
    out = back = resize_to(jpeg, y.shape[:2])  # back to the input size
    if params.color_shift is not None:
        out = shift_colors(out, params.color_shift)
    if params.gray:
        out = to_gray(out)
    if params.jitter_order is not None:
        out = color_jitter(out, params.jitter_order, params.brightness, params.contrast, params.saturation,
                           params.hue)
    lq = quantize(out)  # x, on the 8-bit grid
    if return_steps:
        return DegradationSteps(y, blurred, small, noisy, jpeg, back, lq)
    return lq


def degrade(gt: np.ndarray, rng: np.random.Generator,
            cfg: DegradationConfig = DegradationConfig()) -> DegradationResult:
    """The official random degradation: sample parameters from ``cfg`` with ``rng`` and apply them.

    Args:
        gt: ``(cfg.size, cfg.size, 3)`` RGB face, uint8 or float in [0, 1].
        rng: e.g. ``np.random.default_rng(0)``; the same seed gives the same result.
        cfg: ranges; use ``DegradationConfig.for_size(n)`` for ``n × n`` faces.

    Returns:
        ``DegradationResult(lq, params)``. When ``params.gray`` is set, the official training code may also turn the
        ground truth gray (its ``gt_gray`` option); that is left to the caller.
    """
    y = as_float_image(gt, "gt")
    if y.shape[:2] != (cfg.size, cfg.size):
        raise ValueError(f"gt is {y.shape[0]}x{y.shape[1]} but the config is calibrated for {cfg.size}x{cfg.size} "
                         f"faces: use DegradationConfig.for_size(n) for n x n faces")
    params = sample_params(rng, cfg)
    return DegradationResult(apply_degradation(y, params), params)

