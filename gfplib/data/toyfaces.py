r"""Toy faces: a procedural, FFHQ-aligned face world that runs offline on a laptop CPU.

GFPGAN learns from FFHQ — 70,000 real faces aligned so that five landmarks (eye centres, nose tip, mouth corners)
sit on a fixed template (paper §4.1). The toy world keeps everything that matters for the method and drops the
download: every toy face is drawn from parameters in a canonical 512 × 512 frame whose landmarks follow the same FFHQ
5-point template :math:`T \in \mathbb{R}^{5\times 2}` (``gfpgan_facts.md`` §5), then mapped to the output grid by

.. math::  p_{\text{pixel}} = \tfrac{s}{512}\,\big(\rho\, R_\theta\, (p - c) + c + t\big)

with :math:`s` the image size, :math:`c = (256, 256)` and a small *pose jitter* (scale :math:`\rho`, rotation
:math:`\theta`, shift :math:`t`). Each face separates

* **identity** (who it is): face shape, skin tone, hair style and colour, eye shape, iris colour and size, brows,
  nose, lips, facial hair, glasses, earrings, freckles and moles — drawn deterministically from ``(world seed, id)``;
* **nuisance** (this particular photo): expression (smile, open mouth, raised brows, eye openness, gaze), lighting
  direction and strength, exposure and colour temperature, pose jitter, background, clothes and hair shine.

So "the same person in another photo" exists, and an identity loss (身份保留损失, identity preserving loss) or an
identity metric has something to measure. Samples also carry the left-eye / right-eye / mouth boxes that GFPGAN's
facial component discriminators crop (面部组成损失, facial component loss).

Rendering: polygons are filled with anti-aliased ``cv2.fillPoly`` on a supersampled canvas and reduced with
``cv2.INTER_AREA``; a 64² face takes well under a millisecond on one core (``benchmarks/bench_toyfaces.py``).
Coordinates are pixel-index coordinates (pixel ``i`` is centred at ``i``), the convention of OpenCV and facexlib.

Taught in ``notebooks/02_face_data.ipynb``.
"""
from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass
from typing import Dict, Iterator, NamedTuple, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

__all__ = [
    "FFHQ_TEMPLATE_512", "COMPONENTS", "EYE_ENLARGE_RATIO", "ToyFaceConfig", "ToyIdentity", "ToyNuisance", "ToyFace",
    "ToyFaceBatch", "ToyFaceGenerator", "template_landmarks", "boxes_from_components", "hflip_face", "faces_to_tensor",
]

# FFHQ 5-point template for a 512 × 512 crop (facexlib FaceRestoreHelper): left eye, right eye, nose tip,
# left mouth corner, right mouth corner, as seen in the image. x, y in pixels.
FFHQ_TEMPLATE_512 = np.array([[192.98138, 239.94708], [318.90277, 240.19360], [256.63416, 314.01935],
                              [201.26117, 371.41043], [313.08905, 371.15118]], dtype=np.float32)
COMPONENTS = ("left_eye", "right_eye", "mouth")  # the order of GFPGAN's component discriminators
EYE_ENLARGE_RATIO = 1.4  # official eye_enlarge_ratio: eye boxes are 1.4 × the eye half-length

_CANON = 512.0  # side of the canonical drawing frame
_CENTRE = 256.0


def template_landmarks(size: int) -> np.ndarray:
    """The FFHQ 5-point template scaled to a ``size × size`` crop, float32 ``(5, 2)``."""
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    return FFHQ_TEMPLATE_512 * np.float32(size / 512.0)


# --------------------------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ToyFaceConfig:
    """How the toy world looks and varies. Defaults: 64² faces, 10,000 training people, 1,000 held-out people.

    Identity ids are plain integers; training ids are ``range(0, num_train_identities)`` and the held-out test ids
    ``range(test_id_offset, test_id_offset + num_test_identities)`` (disjoint by construction).
    """

    size: int = 64  # output side in pixels (any size >= 16; 32/64/128/256/512 are the usual ones)
    seed: int = 0  # world seed: which people exist. Identity `i` is drawn from SeedSequence([seed, i])
    num_train_identities: int = 10_000
    num_test_identities: int = 1_000
    test_id_offset: int = 1_000_000  # test people live far away from the training range
    supersample: int = 0  # drawing canvas = size × supersample; 0 picks 4 (≤32²), 2 (≤128²), 1 (larger)
    # nuisance strengths (0 switches a variation off; 1 is the default amount)
    pose_jitter: float = 1.0  # rotation ±3°, scale ±3 %, shift ±1.5 % of the size
    expression: float = 1.0  # smile, open mouth, raised brows, eye openness, gaze
    lighting: float = 1.0  # directional light, exposure, colour temperature
    # identity frequencies
    glasses_prob: float = 0.25
    facial_hair_prob: float = 0.2
    earring_prob: float = 0.2

    def __post_init__(self):
        if not isinstance(self.size, (int, np.integer)) or isinstance(self.size, bool) or self.size < 16:
            raise ValueError(f"size must be an integer >= 16, got {self.size!r}")
        for name in ("seed", "num_train_identities", "num_test_identities", "test_id_offset", "supersample"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {v!r}")
        if self.num_train_identities < 1 or self.num_test_identities < 1:
            raise ValueError("num_train_identities and num_test_identities must be >= 1")
        if self.test_id_offset < self.num_train_identities:
            raise ValueError(f"test_id_offset ({self.test_id_offset}) must be >= num_train_identities "
                             f"({self.num_train_identities}) so that the splits are disjoint")
        for name in ("pose_jitter", "expression", "lighting"):
            if not 0.0 <= getattr(self, name) <= 3.0:
                raise ValueError(f"{name} must be in [0, 3], got {getattr(self, name)}")
        for name in ("glasses_prob", "facial_hair_prob", "earring_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {getattr(self, name)}")

    @property
    def train_ids(self) -> range:
        return range(0, self.num_train_identities)

    @property
    def test_ids(self) -> range:
        return range(self.test_id_offset, self.test_id_offset + self.num_test_identities)

    @property
    def canvas_scale(self) -> int:
        if self.supersample:
            return int(self.supersample)
        return 4 if self.size <= 32 else 2 if self.size <= 128 else 1

    @classmethod
    def tiny(cls) -> "ToyFaceConfig":
        """CPU / test preset: 32² faces and 1,000 training people."""
        return cls(size=32, num_train_identities=1_000, num_test_identities=200)


# --------------------------------------------------------------------------------------------------------------------
# Identity and nuisance parameters
# --------------------------------------------------------------------------------------------------------------------
_SKIN = np.array([[255, 228, 208], [243, 206, 178], [232, 189, 156], [213, 160, 122], [189, 134, 94],
                  [158, 104, 70], [121, 78, 51], [87, 56, 39]], dtype=np.float64)  # light → deep
_HAIR = {  # name: (RGB, probability)
    "black": ((26, 22, 22), 0.22), "dark_brown": ((56, 38, 28), 0.18), "brown": ((96, 62, 40), 0.13),
    "light_brown": ((142, 102, 66), 0.08), "dark_blonde": ((178, 142, 92), 0.07), "blonde": ((228, 198, 132), 0.08),
    "auburn": ((128, 52, 30), 0.05), "ginger": ((196, 98, 44), 0.04), "gray": ((142, 140, 138), 0.05),
    "white": ((224, 221, 214), 0.03), "blue": ((58, 92, 182), 0.02), "pink": ((222, 112, 162), 0.02),
    "purple": ((118, 68, 160), 0.02), "teal": ((44, 138, 136), 0.01),
}
_IRIS = {
    "dark_brown": ((58, 34, 20), 0.3), "brown": ((112, 66, 30), 0.22), "hazel": ((138, 106, 52), 0.12),
    "amber": ((176, 118, 40), 0.05), "green": ((72, 128, 72), 0.09), "blue": ((64, 118, 190), 0.12),
    "light_blue": ((120, 170, 214), 0.05), "gray": ((118, 130, 142), 0.05),
}
_HAIR_STYLES = {  # name: probability
    "short": 0.16, "fringe": 0.12, "side_part": 0.13, "long": 0.16, "bob": 0.1, "curly": 0.08, "bun": 0.06,
    "buzz": 0.07, "receding": 0.05, "bald": 0.03, "long_fringe": 0.04,
}
_FRAMES = ((20, 20, 24), (92, 58, 36), (196, 160, 80), (180, 182, 188), (170, 40, 40), (40, 70, 150),
           (245, 245, 245))
_LIPSTICK = ((178, 30, 46), (128, 34, 70), (222, 100, 132), (186, 118, 108))
_EARRING = ((214, 176, 70), (200, 204, 212), (220, 60, 80))
_BEARDS = ("stubble", "moustache", "goatee", "full", "full")


def _pick(rng: np.random.Generator, table: dict) -> str:
    names = list(table)
    p = np.array([v[1] if isinstance(v, tuple) else v for v in table.values()], dtype=np.float64)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def _rgb(c) -> Tuple[float, float, float]:
    c = np.clip(np.asarray(c, dtype=np.float64), 0, 255)
    return (float(c[0]), float(c[1]), float(c[2]))


def _mix(a, b, t: float) -> Tuple[float, float, float]:
    return _rgb((1 - t) * np.asarray(a, dtype=np.float64) + t * np.asarray(b, dtype=np.float64))


def _scale(c, f: float) -> Tuple[float, float, float]:
    return _rgb(np.asarray(c, dtype=np.float64) * f)


@dataclass(frozen=True)
class ToyIdentity:
    """Who a toy face is: every parameter that stays fixed across photos of that person.

    Lengths are in pixels of the canonical 512 × 512 frame. Colours are RGB tuples in [0, 255].
    """

    identity: int
    # landmarks of this person in a neutral photo (canonical frame), near the FFHQ template
    eye_y: float
    eye_half_dist: float  # half the distance between the eye centres
    nose_y: float
    mouth_y: float
    mouth_half_width: float
    # head
    face_half_width: float
    face_top: float  # y of the crown of the (bald) head
    chin_y: float
    jaw_power: float  # 2 = oval, larger = squarer jaw
    skin: Tuple[float, float, float]
    ear_size: float
    # hair
    hair_style: str
    hair_color_name: str
    hair: Tuple[float, float, float]
    hair_volume: float
    hairline_y: float
    part_side: int  # -1 / +1: side of the parting (side_part) or of the fringe sweep
    # eyes
    eye_half_width: float
    eye_half_height: float
    eye_tilt: float  # radians, outer corners up when > 0
    iris_color_name: str
    iris: Tuple[float, float, float]
    iris_ratio: float  # iris radius / eye half-width
    liner: float  # upper-lid line thickness
    # brows
    brow: Tuple[float, float, float]
    brow_gap: float  # eye centre → brow
    brow_thickness: float
    brow_arch: float
    brow_length: float
    # nose and mouth
    nose_half_width: float
    nose_bridge: float  # darkness of the bridge shading
    lip: Tuple[float, float, float]
    upper_lip: float
    lower_lip: float
    # extras
    facial_hair: Optional[str]
    glasses: Optional[str]  # None, 'round', 'rect', 'cat'
    frame: Tuple[float, float, float]
    frame_thickness: float
    glasses_size: float
    earrings: Optional[Tuple[float, float, float]]
    blush: float
    freckles: Tuple[Tuple[float, float], ...]  # canonical positions
    mole: Optional[Tuple[float, float]]

    def landmarks(self) -> np.ndarray:
        """The 5 landmarks of a neutral photo in the canonical 512 frame, float32 ``(5, 2)``."""
        c = _CENTRE
        return np.array([[c - self.eye_half_dist, self.eye_y], [c + self.eye_half_dist, self.eye_y],
                         [c, self.nose_y], [c - self.mouth_half_width, self.mouth_y],
                         [c + self.mouth_half_width, self.mouth_y]], dtype=np.float32)


@dataclass(frozen=True)
class ToyNuisance:
    """What changes from photo to photo of the same person. ``ToyNuisance()`` is a neutral, frontal studio photo."""

    smile: float = 0.0  # -0.3 (sad) … 1 (broad smile)
    mouth_open: float = 0.0  # 0 … 1
    brow_raise: float = 0.0  # -0.5 … 1
    eye_open: float = 1.0  # 0.5 (squint) … 1.1
    gaze: Tuple[float, float] = (0.0, 0.0)  # iris shift, fraction of the free room, in [-1, 1]
    rotation: float = 0.0  # degrees, in-plane pose jitter
    scale: float = 1.0
    shift: Tuple[float, float] = (0.0, 0.0)  # canonical pixels
    light_angle: float = 0.0  # radians, direction the light comes from
    light_strength: float = 0.0  # 0 … 0.35, shading across the face
    exposure: float = 1.0
    warmth: float = 0.0  # colour temperature, -0.06 … 0.06
    background: Tuple[Tuple[float, float, float], Tuple[float, float, float]] = ((200, 200, 200), (170, 170, 170))
    background_angle: float = math.pi / 2
    clothes: Tuple[float, float, float] = (70, 90, 130)
    hair_shine: float = 0.0  # 0 … 1


class ToyFace(NamedTuple):
    """One rendered toy face."""

    image: np.ndarray  # (H, W, 3) uint8 RGB
    landmarks: np.ndarray  # (5, 2) float32 pixels: left eye, right eye, nose, left / right mouth corner
    boxes: Dict[str, np.ndarray]  # left_eye / right_eye / mouth → (x1, y1, x2, y2) float32 pixels
    identity: int
    nuisance: ToyNuisance


class ToyFaceBatch(NamedTuple):
    """A batch of toy faces as arrays (see :meth:`ToyFaceGenerator.batch`)."""

    images: np.ndarray  # (N, H, W, 3) uint8 RGB
    landmarks: np.ndarray  # (N, 5, 2) float32
    boxes: Dict[str, np.ndarray]  # part → (N, 4) float32
    identity: np.ndarray  # (N,) int64

    def tensor(self):
        """The images as a float32 torch tensor ``(N, 3, H, W)`` in [-1, 1] (the network convention)."""
        return faces_to_tensor(self.images)


def faces_to_tensor(images: np.ndarray):
    """uint8 RGB ``(N, H, W, 3)`` (or one ``(H, W, 3)``) → float32 torch tensor ``(N, 3, H, W)`` in [-1, 1]."""
    import torch

    if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
        raise TypeError(f"images must be a uint8 numpy array, got {type(images).__name__} "
                        f"{getattr(images, 'dtype', '')}")
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must have shape (N, H, W, 3), got {tuple(images.shape)}")
    t = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()  # (N, 3, H, W) in [0, 255]
    return t.div_(127.5).sub_(1.0)  # x / 255 * 2 - 1 → [-1, 1]


def boxes_from_components(components: Dict[str, Sequence[float]], eye_enlarge_ratio: float = EYE_ENLARGE_RATIO,
                          official: bool = False) -> Dict[str, np.ndarray]:
    """Component boxes ``(x1, y1, x2, y2)`` from centres and half-lengths ``{part: (cx, cy, half)}``.

    Eye half-lengths are multiplied by ``eye_enlarge_ratio`` (official 1.4). ``official=True`` reproduces the
    official loader's ``[c − half + 1, c + half]``; otherwise the box is centred: ``[c − half, c + half]``.
    """
    out = {}
    for part in COMPONENTS:
        if part not in components:
            raise KeyError(f"components lack {part!r}; expected keys {COMPONENTS}")
        cx, cy, half = (float(v) for v in components[part][:3])
        if "eye" in part:
            half *= eye_enlarge_ratio
        lo = 1.0 if official else 0.0
        out[part] = np.array([cx - half + lo, cy - half + lo, cx + half, cy + half], dtype=np.float32)
    return out


def hflip_face(image: np.ndarray, landmarks: Optional[np.ndarray] = None,
               boxes: Optional[Dict[str, np.ndarray]] = None):
    """Mirror a face horizontally: image, landmarks and component boxes, in pixel-index coordinates.

    A point ``x`` maps to ``W − 1 − x``; left and right swap, so the landmark order (left eye, right eye, nose,
    left mouth corner, right mouth corner) and the eye boxes are swapped too — what was the right eye *is* the left
    eye of the mirrored photo. Returns ``(image, landmarks, boxes)`` (``None`` where not given).
    """
    w = image.shape[1]
    img = np.ascontiguousarray(image[:, ::-1])
    lm = None
    if landmarks is not None:
        lm = np.asarray(landmarks, dtype=np.float32).copy()
        lm[:, 0] = (w - 1) - lm[:, 0]
        lm = lm[[1, 0, 2, 4, 3]]
    bx = None
    if boxes is not None:
        def mirror(b):
            b = np.asarray(b, dtype=np.float32)
            return np.array([(w - 1) - b[2], b[1], (w - 1) - b[0], b[3]], dtype=np.float32)
        bx = {"left_eye": mirror(boxes["right_eye"]), "right_eye": mirror(boxes["left_eye"]),
              "mouth": mirror(boxes["mouth"])}
    return img, lm, bx


# --------------------------------------------------------------------------------------------------------------------
# Drawing helpers
# --------------------------------------------------------------------------------------------------------------------
_T = {n: np.linspace(0, 2 * np.pi, n, endpoint=False) for n in (12, 16, 20, 24, 32, 48)}
_C20, _S20, _C12, _S12 = np.cos(_T[20]), np.sin(_T[20]), np.cos(_T[12]), np.sin(_T[12])
_SIDES = np.array([[-1.0], [1.0]])  # image-left, image-right
_U13 = np.linspace(-1, 1, 13)  # positions along an eye, corner to corner
_W08, _W09 = (1 - _U13 ** 2) ** 0.8, (1 - _U13 ** 2) ** 0.9  # lid profiles


def _ellipse(cx, cy, ax, ay, n=24, angle=0.0):
    t = _T[n]
    x, y = ax * np.cos(t), ay * np.sin(t)
    if angle:
        ca, sa = math.cos(angle), math.sin(angle)
        x, y = ca * x - sa * y, sa * x + ca * y
    return np.stack([cx + x, cy + y], axis=1)


def _superellipse(cx, cy, ax, ay, power, n=32):
    t = _T[n]
    c, s = np.cos(t), np.sin(t)
    e = 2.0 / power
    return np.stack([cx + ax * np.sign(c) * np.abs(c) ** e, cy + ay * np.sign(s) * np.abs(s) ** e], axis=1)


def _band(xs, y_mid, half_thick):
    """A filled stroke along a curve: points (xs, y_mid ± half_thick)."""
    top = np.stack([xs, y_mid - half_thick], axis=1)
    bot = np.stack([xs[::-1], (y_mid + half_thick)[::-1]], axis=1)
    return np.concatenate([top, bot])


class _Layers:
    """Records canonical-frame polygons (with their colour) in painting order, then draws them in one go.

    A layer is ``(polygons, colour, tag)``; a tag marks what a photo changes: ``'smile'`` and ``'brow'`` layers move
    with the expression, ``'clothes'`` and ``'shine'`` take their colour from the photo. Recording the identity's
    fixed layers once and reusing them is what makes rendering fast.
    """

    SHIFT = 4  # fractional bits of cv2's fixed-point coordinates

    def __init__(self):
        self.items = []

    def poly(self, pts, color, *more, tag=None):
        self.items.append(([np.asarray(pts, dtype=np.float64)] + [np.asarray(m, dtype=np.float64) for m in more],
                           color, tag))

    def ellipse(self, cx, cy, ax, ay, color, n=24, angle=0.0, tag=None):
        self.poly(_ellipse(cx, cy, ax, ay, n, angle), color, tag=tag)

    @staticmethod
    def draw(canvas: np.ndarray, items, matrix: np.ndarray) -> None:
        """Map every polygon through ``matrix`` (2×3, canonical → canvas) and fill them in order, anti-aliased."""
        flat = [p for polys, _, _ in items for p in polys]
        pts = np.concatenate(flat) @ (matrix[:, :2].T * (1 << _Layers.SHIFT)) + matrix[:, 2] * (1 << _Layers.SHIFT)
        pts = np.rint(pts).astype(np.int32)  # (P, 2) canvas pixels in cv2's fixed point
        k = 0
        for polys, color, _ in items:
            group = []
            for p in polys:
                group.append(pts[k:k + len(p)])
                k += len(p)
            cv2.fillPoly(canvas, group, color, lineType=cv2.LINE_AA, shift=_Layers.SHIFT)


# --------------------------------------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------------------------------------
class ToyFaceGenerator:
    """Draws toy faces. Deterministic: identity ``i`` always looks the same; a seed fixes the photo.

    Example::

        gen = ToyFaceGenerator(ToyFaceConfig(size=64))
        face = gen.render(7, seed=0)        # ToyFace(image, landmarks, boxes, identity, nuisance)
        batch = gen.batch(256, np.random.default_rng(0))
        x = batch.tensor()                  # (256, 3, 64, 64) float32 in [-1, 1]; labels: batch.identity
    """

    def __init__(self, cfg: ToyFaceConfig = ToyFaceConfig()):
        if not isinstance(cfg, ToyFaceConfig):
            raise TypeError(f"cfg must be a ToyFaceConfig, got {type(cfg).__name__}")
        self.cfg = cfg
        self._cache: Dict[int, ToyIdentity] = {}
        self._static: Dict[int, tuple] = {}  # identity id → its fixed layers (before eyes, between, after mouth)
        n = cfg.size
        yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
        self._grid = ((xx - (n - 1) / 2) / (n / 2), (yy - (n - 1) / 2) / (n / 2))  # each (n, n) in [-1, 1]

    def __repr__(self) -> str:
        return f"ToyFaceGenerator({self.cfg})"

    # ---------------------------------------------------------------------------------------------- identity
    def identity(self, identity_id: int) -> ToyIdentity:
        """The parameters of person ``identity_id`` (any non-negative integer), drawn from ``[seed, id]``."""
        if isinstance(identity_id, bool) or not isinstance(identity_id, (int, np.integer)) or identity_id < 0:
            raise ValueError(f"identity_id must be a non-negative integer, got {identity_id!r}")
        identity_id = int(identity_id)
        hit = self._cache.get(identity_id)
        if hit is None:
            hit = self._sample_identity(identity_id)
            if len(self._cache) >= 65536:
                self._cache.clear()
                self._static.clear()
            self._cache[identity_id] = hit
        return hit

    def _sample_identity(self, identity_id: int) -> ToyIdentity:
        cfg = self.cfg
        rng = np.random.default_rng([cfg.seed, identity_id])
        u = rng.uniform
        tone = u(0, 1) ** 0.9
        k = tone * (len(_SKIN) - 1)
        i0 = min(int(k), len(_SKIN) - 2)
        skin = _SKIN[i0] * (1 - (k - i0)) + _SKIN[i0 + 1] * (k - i0)
        skin = skin + np.array([u(-6, 10), u(-6, 6), u(-10, 6)])  # warm / cool undertone
        hair_name = _pick(rng, _HAIR)
        if tone > 0.55 and rng.random() < 0.6:  # deeper skin tones: mostly black / dark brown hair
            hair_name = "black" if rng.random() < 0.7 else "dark_brown"
        hair = np.array(_HAIR[hair_name][0], dtype=np.float64) * u(0.88, 1.12)
        style = _pick(rng, _HAIR_STYLES)
        iris_name = _pick(rng, _IRIS)
        if tone > 0.45 and rng.random() < 0.8:
            iris_name = "dark_brown" if rng.random() < 0.6 else "brown"
        face_hw = u(124, 152)
        brow = _mix(hair, (40, 30, 25), 0.35 if hair_name in ("blonde", "white", "gray", "dark_blonde") else 0.1)
        lip_base = _mix(_scale(skin, 0.86), (196, 82, 92), u(0.2, 0.45))
        lip = _LIPSTICK[int(rng.integers(len(_LIPSTICK)))] if rng.random() < 0.15 else lip_base
        eye_hw = u(25, 35)
        glasses = None
        if rng.random() < cfg.glasses_prob:
            glasses = ("round", "rect", "rect", "cat")[int(rng.integers(4))]
        facial_hair = _BEARDS[int(rng.integers(len(_BEARDS)))] if rng.random() < cfg.facial_hair_prob else None
        earrings = (_EARRING[int(rng.integers(len(_EARRING)))] if rng.random() < cfg.earring_prob else None)
        n_freckles = int(rng.integers(8, 26)) if rng.random() < 0.15 else 0
        side = rng.choice([-1.0, 1.0], n_freckles)
        freckles = tuple((float(_CENTRE + s * u(45, 100)), float(u(280, 335))) for s in side)
        mole = (float(_CENTRE + rng.choice([-1, 1]) * u(30, 110)), float(u(250, 400))) if rng.random() < 0.2 else None
        top = u(92, 118)
        hairline = {"fringe": u(176, 192), "long_fringe": u(176, 192), "receding": u(120, 135),
                    "side_part": u(140, 156)}.get(style, u(138, 156))
        return ToyIdentity(
            identity=identity_id,
            eye_y=float(FFHQ_TEMPLATE_512[:2, 1].mean() + u(-5, 5)),
            eye_half_dist=float(u(58, 68)), nose_y=float(u(306, 322)), mouth_y=float(u(362, 380)),
            mouth_half_width=float(u(46, 64)),
            face_half_width=float(face_hw), face_top=float(top), chin_y=float(u(440, 472)),
            jaw_power=float(u(2.0, 3.6)), skin=_rgb(skin), ear_size=float(u(0.85, 1.15)),
            hair_style=style, hair_color_name=hair_name, hair=_rgb(hair), hair_volume=float(u(8, 34)),
            hairline_y=float(hairline), part_side=int(rng.choice([-1, 1])),
            eye_half_width=float(eye_hw), eye_half_height=float(u(10, 17)), eye_tilt=float(u(-0.12, 0.16)),
            iris_color_name=iris_name, iris=_rgb(np.array(_IRIS[iris_name][0]) * u(0.9, 1.1)),
            iris_ratio=float(u(0.36, 0.5)), liner=float(u(2.5, 6.5)),
            brow=brow, brow_gap=float(u(36, 50)), brow_thickness=float(u(6, 14)), brow_arch=float(u(2, 14)),
            brow_length=float(u(0.95, 1.3)),
            nose_half_width=float(u(18, 32)), nose_bridge=float(u(0.84, 0.93)),
            lip=_rgb(lip), upper_lip=float(u(7, 14)), lower_lip=float(u(9, 18)),
            facial_hair=facial_hair, glasses=glasses, frame=_rgb(_FRAMES[int(rng.integers(len(_FRAMES)))]),
            frame_thickness=float(u(6, 11)), glasses_size=float(u(1.3, 1.6)), earrings=earrings,
            blush=float(u(0.0, 0.18)), freckles=freckles, mole=mole,
        )

    # ---------------------------------------------------------------------------------------------- nuisance
    def sample_nuisance(self, rng: np.random.Generator) -> ToyNuisance:
        """Draw the conditions of one photo (expression, light, pose, background) from ``rng``."""
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        c = self.cfg
        e, p, li = c.expression, c.pose_jitter, c.lighting
        r = rng.random(26)  # one draw for the whole photo (fast); r[k] is uniform in [0, 1)

        def u(k, lo, hi):
            return float(lo + (hi - lo) * r[k])

        hue, sat, val = r[0], u(1, 0.0, 0.5), u(2, 0.35, 0.95)
        c1 = np.array(colorsys.hsv_to_rgb(hue, sat, val)) * 255
        c2 = np.array(colorsys.hsv_to_rgb((hue + u(3, -0.08, 0.08)) % 1, sat * u(4, 0.6, 1.2),
                                          min(1.0, val * u(5, 0.7, 1.1)))) * 255
        clothes = np.array(colorsys.hsv_to_rgb(r[6], u(7, 0.1, 0.8), u(8, 0.15, 0.9))) * 255
        return ToyNuisance(
            smile=float(np.clip(u(9, -0.3, 1.0) * e, -1, 1.5)), mouth_open=max(0.0, u(10, -0.6, 1.0)) * e,
            brow_raise=u(11, -0.5, 1.0) * e,
            eye_open=1.0 - max(0.0, u(12, -0.4, 0.45)) * e + u(13, 0, 0.08) * e,
            gaze=(u(14, -0.6, 0.6) * e, u(15, -0.35, 0.35) * e),
            rotation=u(16, -3, 3) * p, scale=1 + u(17, -0.03, 0.03) * p,
            shift=(u(18, -7.5, 7.5) * p, u(19, -7.5, 7.5) * p),
            light_angle=u(20, -math.pi, math.pi), light_strength=u(21, 0.0, 0.35) * li,
            exposure=1 + u(22, -0.15, 0.12) * li, warmth=u(23, -0.06, 0.06) * li,
            background=(_rgb(c1), _rgb(c2)), background_angle=u(24, 0, 2 * math.pi),
            clothes=_rgb(clothes), hair_shine=float(r[25]),
        )

    def _matrix(self, nz: ToyNuisance, unit: float, offset: float) -> np.ndarray:
        """Canonical frame → canvas: scale·R(θ) about the centre, shift, then ×unit (+ supersampling offset)."""
        th = math.radians(nz.rotation)
        a = nz.scale * np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
        c = np.array([_CENTRE, _CENTRE])
        b = c - a @ c + np.asarray(nz.shift)
        m = np.concatenate([a, b[:, None]], axis=1) * unit
        m[:, 2] += offset
        return m

    def _pixel_matrix(self, nz: ToyNuisance) -> np.ndarray:
        return self._matrix(nz, self.cfg.size / _CANON, 0.0)

    # ---------------------------------------------------------------------------------------------- rendering
    def render(self, identity_id: int, rng: Union[np.random.Generator, int, None] = None, *,
               nuisance: Optional[ToyNuisance] = None) -> ToyFace:
        """Draw one photo of person ``identity_id``.

        Args:
            identity_id: any non-negative integer (see ``cfg.train_ids`` / ``cfg.test_ids``).
            rng: a ``numpy.random.Generator`` or an int seed for the photo's nuisance; ignored when ``nuisance`` is
                given. ``None`` with no ``nuisance`` draws the neutral photo ``ToyNuisance()``.
            nuisance: explicit photo conditions.
        """
        ident = self.identity(identity_id)
        if nuisance is None:
            if rng is None:
                nuisance = ToyNuisance()
            else:
                if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
                    rng = np.random.default_rng(int(rng))
                nuisance = self.sample_nuisance(rng)
        elif not isinstance(nuisance, ToyNuisance):
            raise TypeError(f"nuisance must be a ToyNuisance, got {type(nuisance).__name__}")
        image, mouth_centre = self._draw(ident, nuisance)
        m = self._pixel_matrix(nuisance)
        lm_canon = self._expression_landmarks(ident, nuisance)
        lm = (lm_canon @ m[:, :2].T + m[:, 2]).astype(np.float32)
        unit = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
        mc = np.asarray(mouth_centre) @ m[:, :2].T + m[:, 2]
        comps = {"left_eye": (lm[0, 0], lm[0, 1], self._eye_half(ident) * unit),
                 "right_eye": (lm[1, 0], lm[1, 1], self._eye_half(ident) * unit),
                 "mouth": (mc[0], mc[1], self._mouth_half(ident, nuisance) * unit)}
        return ToyFace(image, lm, boxes_from_components(comps), ident.identity, nuisance)

    @staticmethod
    def _eye_half(ident: ToyIdentity) -> float:
        """Canonical half-length of an eye component before the ×1.4 enlargement (covers eye and lids)."""
        return ident.eye_half_width * 1.05

    @staticmethod
    def _mouth_half(ident: ToyIdentity, nz: ToyNuisance) -> float:
        return max(ident.mouth_half_width * 1.2, ident.upper_lip + ident.lower_lip + 22 * nz.mouth_open + 14)

    @staticmethod
    def _expression_landmarks(ident: ToyIdentity, nz: ToyNuisance) -> np.ndarray:
        lm = ident.landmarks()
        lm[3:, 1] -= 10.0 * nz.smile  # smiling lifts the mouth corners
        lm[3, 0] -= 5.0 * max(nz.smile, 0.0)  # … and widens the mouth
        lm[4, 0] += 5.0 * max(nz.smile, 0.0)
        return lm

    def _draw(self, ident: ToyIdentity, nz: ToyNuisance):
        cfg = self.cfg
        ss = cfg.canvas_scale
        n = cfg.size * ss
        # background: a linear gradient, made by bilinear upsampling of its 2 × 2 corner values
        ca, sa = math.cos(nz.background_angle), math.sin(nz.background_angle)
        ramp = np.array([[-ca - sa, ca - sa], [-ca + sa, ca + sa]]) * 0.25 + 0.5  # (2, 2) in [0, 1]
        c1, c2 = np.asarray(nz.background[0]), np.asarray(nz.background[1])
        corners = (c1 + (c2 - c1) * ramp[..., None]).astype(np.float32)  # (2, 2, 3)
        canvas = cv2.resize(corners, (n, n), interpolation=cv2.INTER_LINEAR).astype(np.uint8)
        items, mouth_centre = self._layers(ident, nz)
        _Layers.draw(canvas, items, self._matrix(nz, n / _CANON, (ss - 1) / 2.0))
        img = canvas if ss == 1 else cv2.resize(canvas, (cfg.size, cfg.size), interpolation=cv2.INTER_AREA)
        return self._light(img, ident, nz), mouth_centre

    def _light(self, img: np.ndarray, ident: ToyIdentity, nz: ToyNuisance) -> np.ndarray:
        """Exposure, colour temperature and a directional light falling on the head."""
        if nz.light_strength == 0.0 and nz.exposure == 1.0 and nz.warmth == 0.0:
            return img
        gx, gy = self._grid
        m = self._pixel_matrix(nz)
        cx, cy = (np.array([_CENTRE, 0.5 * (ident.face_top + ident.chin_y)]) @ m[:, :2].T + m[:, 2])
        half = self.cfg.size / 2
        fx, fy = cx / half - 1 + 1 / self.cfg.size, cy / half - 1 + 1 / self.cfg.size
        rx = ident.face_half_width * 1.15 / 256.0
        ry = (ident.chin_y - ident.face_top) * 0.58 / 256.0
        dx, dy = (gx - fx) / rx, (gy - fy) / ry
        head = np.clip(1.35 - (dx * dx + dy * dy), 0.0, 1.0)  # soft head mask, (H, W)
        light = -(math.cos(nz.light_angle) * dx + math.sin(nz.light_angle) * dy)  # brighter towards the light
        shade = nz.exposure * (1.0 + nz.light_strength * np.clip(light, -1.5, 1.5) * head)  # (H, W)
        gains = np.array([1 + nz.warmth, 1.0, 1 - nz.warmth], dtype=np.float32)
        out = img.astype(np.float32) * shade[..., None] * gains
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)

    # ------------------------------------------------------------------------------------------- the drawing
    def _face_contour(self, ident: ToyIdentity) -> np.ndarray:
        w, top, chin = ident.face_half_width, ident.face_top, ident.chin_y
        yc = ident.eye_y + 22  # widest line of the face (cheekbones)
        t = np.linspace(0, np.pi, 17)
        upper = np.stack([_CENTRE + w * np.cos(t), yc - (yc - top) * np.sin(t)], axis=1)
        s = np.linspace(np.pi, 2 * np.pi, 25)[1:-1]
        e = 2.0 / ident.jaw_power
        c, si = np.cos(s), np.abs(np.sin(s))
        lower = np.stack([_CENTRE + w * np.sign(c) * np.abs(c) ** e * (1 - 0.1 * si),
                          yc + (chin - yc) * si ** e], axis=1)
        return np.concatenate([upper, lower])

    def _layers(self, ident: ToyIdentity, nz: ToyNuisance):
        """All polygons of one photo in painting order, and the mouth centre (canonical frame)."""
        static = self._static.get(ident.identity)
        if static is None:
            static = self._static[ident.identity] = self._static_layers(ident)
        before, between, after = static
        eyes = _Layers()
        self._eyes(eyes, ident, nz)
        mouth = _Layers()
        mouth_centre = self._mouth(mouth, ident, nz)
        items = before + eyes.items + between + mouth.items
        for polys, colour, tag in after:
            if tag == "smile":
                polys = [p + (0.0, -10.0 * nz.smile) for p in polys]
            elif tag == "brow":
                polys = [p + (0.0, -10.0 * nz.brow_raise) for p in polys]
            elif tag == "shine":
                if nz.hair_shine <= 0.15:
                    continue
                colour = _mix(colour, (255, 255, 255), 0.22 * nz.hair_shine)
            items.append((polys, colour, tag))
        items = [(p, nz.clothes if t == "clothes" else col, t) for p, col, t in items]
        return items, mouth_centre

    def _static_layers(self, ident: ToyIdentity):
        """The layers that do not change from photo to photo, recorded once per person."""
        pm = _Layers()
        skin, hair = ident.skin, ident.hair
        c = _CENTRE
        w = ident.face_half_width
        yc = ident.eye_y + 22
        style = ident.hair_style
        vol = ident.hair_volume
        head_h = yc - ident.face_top
        # ---- hair behind the head
        if style in ("long", "bob", "long_fringe"):
            bottom = 560.0 if style != "bob" else ident.chin_y - 20
            t = np.linspace(0, np.pi, 17)
            arc = np.stack([c + (w + vol + 6) * np.cos(t), yc - (head_h + vol) * np.sin(t)], axis=1)
            flare = 30 if style != "bob" else 16
            sides = np.array([[c - w - vol - flare, bottom], [c + w + vol + flare, bottom]])
            pm.poly(np.concatenate([arc, sides]), hair)
        elif style == "curly":
            t = _T[48]
            r = (w + vol + 26) * (1 + 0.05 * np.sin(9 * t + ident.part_side))
            pm.poly(np.stack([c + r * np.cos(t), yc - 40 + r * 0.95 * np.sin(t)], axis=1), hair)
        elif style == "bun":
            pm.ellipse(c, ident.face_top - 26, 46, 40, hair)
        # ---- neck and clothes
        neck_w = 0.52 * w
        pm.poly(np.array([[c - neck_w, ident.chin_y - 70], [c + neck_w, ident.chin_y - 70],
                          [c + neck_w * 1.08, 530], [c - neck_w * 1.08, 530]]), _scale(skin, 0.8))
        sh = ident.chin_y + 48
        t = np.linspace(np.pi, 2 * np.pi, 13)
        shoulders = np.stack([c + 230 * np.cos(t), sh + 60 - 60 * np.abs(np.sin(t)) ** 0.35], axis=1)
        body = np.concatenate([np.array([[c - 250, 540.0]]), shoulders, np.array([[c + 250, 540.0]])])
        pm.poly(body, (0, 0, 0), tag="clothes")
        pm.poly(np.array([[c - neck_w * 1.05, sh - 30], [c + neck_w * 1.05, sh - 30], [c + neck_w * 0.9, sh - 2],
                          [c, sh + 36], [c - neck_w * 0.9, sh - 2]]), _scale(skin, 0.8))
        # ---- ears and earrings
        ear_y = 0.5 * (ident.eye_y + ident.nose_y) + 4
        for s in (-1.0, 1.0):
            ex = c + s * (w - 4)
            pm.ellipse(ex + s * 10, ear_y, 20 * ident.ear_size, 38 * ident.ear_size, _scale(skin, 0.92), 16)
            pm.ellipse(ex + s * 12, ear_y, 10 * ident.ear_size, 24 * ident.ear_size, _scale(skin, 0.78), 12)
            if ident.earrings is not None:
                pm.ellipse(ex + s * 10, ear_y + 40 * ident.ear_size, 7, 7, ident.earrings, 12)
        # ---- the face
        contour = self._face_contour(ident)
        pm.poly(contour, skin)
        # ---- beard (below the mouth) and stubble; dyed hair keeps a natural beard colour
        beard = hair if ident.hair_color_name not in ("blue", "pink", "purple", "teal") else (56.0, 38.0, 28.0)
        if ident.facial_hair in ("full", "stubble", "goatee"):
            colour = beard if ident.facial_hair != "stubble" else _mix(skin, beard, 0.3)
            if ident.facial_hair == "goatee":
                gy = 0.5 * (ident.mouth_y + ident.lower_lip + ident.chin_y)
                pm.ellipse(c, gy + 4, ident.mouth_half_width * 0.45, 0.5 * (ident.chin_y - gy) + 4, colour, 20)
            else:
                low = contour[contour[:, 1] > ident.nose_y + 18]  # the jaw, left → right
                top = np.array([[c + ident.mouth_half_width + 20, ident.nose_y + 22],
                                [c, ident.nose_y + 30], [c - ident.mouth_half_width - 20, ident.nose_y + 22]])
                pts = np.concatenate([low, top])  # back right → left above the mouth
                pm.poly(pts, colour)
        # ---- cheeks: blush, freckles, mole
        if ident.blush > 0.02:
            bl = _mix(skin, (230, 110, 120), ident.blush)
            for s in (-1.0, 1.0):
                pm.ellipse(c + s * (ident.eye_half_dist + 14), ident.nose_y + 4, 30, 18, bl, 16)
        if ident.freckles:
            fr = _scale(skin, 0.8)
            for fx, fy in ident.freckles:
                pm.ellipse(fx, fy, 3.0, 3.0, fr, 12)
        if ident.mole is not None:
            pm.ellipse(ident.mole[0], ident.mole[1], 4.5, 4.5, _scale(skin, 0.45), 12)
        before = pm.items
        pm = _Layers()
        self._nose(pm, ident)
        between = pm.items
        pm = _Layers()
        if ident.facial_hair in ("moustache", "full"):  # drawn for a neutral mouth, moved with the smile
            mw = ident.mouth_half_width
            top_lip = ident.mouth_y - ident.upper_lip
            xs = np.linspace(-mw - 10, mw + 10, 9)
            arch = (1 - (xs / (mw + 10)) ** 2)
            pm.poly(_band(c + xs, top_lip - 10 - 8 * arch + 12 * (1 - arch), 7 + 4 * arch), beard, tag="smile")
        for side in (-1.0, 1.0):  # brows, moved when raised
            ex = c + side * ident.eye_half_dist
            L = ident.eye_half_width * ident.brow_length
            xs = np.linspace(-L * 0.8, L, 9)  # inner → outer
            v = xs / L
            y = ident.eye_y - ident.brow_gap - ident.brow_arch * (1 - (v - 0.2) ** 2)
            thick = ident.brow_thickness * (1 - 0.55 * np.clip(v, 0, 1)) * 0.5
            pm.poly(_band(ex + side * xs, y, thick), ident.brow, tag="brow")
        self._hair_cap(pm, ident)  # the hair in front, above the forehead
        if ident.glasses is not None:
            self._glasses(pm, ident)
        return before, between, pm.items

    @staticmethod
    def _eyes(pm: _Layers, ident: ToyIdentity, nz: ToyNuisance):
        """Both eyes: white, iris and pupil clipped to the lids, catch-light, lid line with a wing, crease.

        Built in each eye's own frame (x along the eye, y down; row 0 = image-left eye) for both eyes at once, then
        placed by one rotation per eye (the eye tilt).
        """
        side = _SIDES  # (2, 1)
        a, b = ident.eye_half_width, ident.eye_half_height * nz.eye_open
        up = -b * _W08 * (1 + 0.15 * _U13 * side)  # (2, 13) upper lid, a little higher towards the outside
        lo = np.broadcast_to(0.65 * b * _W09, (2, 13))  # lower lid
        xs = np.broadcast_to(a * _U13, (2, 13))
        r = ident.iris_ratio * a
        gx, gy = nz.gaze[0] * (a - r) * 0.8, nz.gaze[1] * b * 0.3
        # iris (r) and pupil (0.45 r) circles, clipped to the opening between the lids
        px = np.clip(gx + np.concatenate([r * _C20, 0.45 * r * _C20]), -a, a)  # (40,)
        py = gy + np.concatenate([r * _S20, 0.45 * r * _S20])
        uu = px / a
        w2 = np.maximum(1 - uu * uu, 0.0)
        py = np.clip(py, -b * w2 ** 0.8 * (1 + 0.15 * uu * side), 0.65 * b * w2 ** 0.9)  # (2, 40)
        hx, hy = gx - 0.3 * r * math.cos(nz.light_angle), gy - 0.35 * r  # catch-light, towards the light
        crease = up[:, 2:-2] - 10 - 0.25 * b
        X = np.concatenate([xs, xs[:, ::-1], np.broadcast_to(px, (2, 40)),  # white 26, iris 20, pupil 20
                            np.broadcast_to(hx + 0.22 * r * _C12, (2, 12)),  # catch-light 12
                            xs, 1.04 * xs[:, ::-1],  # lid line 26
                            0.95 * xs[:, 2:-2], 0.95 * xs[:, -3:1:-1]], axis=1)  # crease 18
        Y = np.concatenate([up, lo[:, ::-1], py, np.broadcast_to(hy + 0.22 * r * _S12, (2, 12)),
                            up - ident.liner * 0.3, (up + ident.liner * (0.9 - 0.5 * _U13 * side))[:, ::-1],
                            crease - 1.4, (crease + 1.4)[:, ::-1]], axis=1)  # (2, 122)
        rot = -ident.eye_tilt * side  # outer corners up for tilt > 0
        cr, sr = np.cos(rot), np.sin(rot)
        ex = _CENTRE + side * ident.eye_half_dist
        pts = np.stack([ex + cr * X - sr * Y, ident.eye_y + sr * X + cr * Y], axis=-1)  # (2, 122, 2)
        show_light = -0.9 * b < hy < 0.6 * b
        for e in (0, 1):
            q = pts[e]
            pm.poly(q[:26], (246, 244, 240))
            pm.poly(q[26:46], ident.iris)
            pm.poly(q[46:66], (12, 10, 12))
            if show_light:
                pm.poly(q[66:78], (255, 255, 255))
            pm.poly(q[78:104], (38, 28, 28))
            pm.poly(q[104:], _scale(ident.skin, 0.82))

    @staticmethod
    def _nose(pm: _Layers, ident: ToyIdentity):
        c, ny, nw = _CENTRE, ident.nose_y, ident.nose_half_width
        shade = _scale(ident.skin, ident.nose_bridge)
        side = float(ident.part_side)  # the side of the bridge shadow
        ys = np.linspace(ident.eye_y + 14, ny - 6, 6)
        bridge = np.concatenate([np.stack([np.full(6, c + side * nw * 0.25), ys], 1),
                                 np.stack([np.full(6, c + side * nw * 0.45), ys[::-1]], 1)])
        pm.poly(bridge, shade)
        pm.ellipse(c, ny - 2, nw * 0.75, nw * 0.5, _scale(ident.skin, (1 + ident.nose_bridge) / 2), 20)
        pm.ellipse(c - side * nw * 0.2, ny - 6, nw * 0.3, nw * 0.18, _mix(ident.skin, (255, 255, 255), 0.12), 12)
        for s in (-1.0, 1.0):
            pm.ellipse(c + s * nw * 0.48, ny + 6, nw * 0.26, nw * 0.13, _scale(ident.skin, 0.45), 12,
                       angle=s * 0.35)

    @staticmethod
    def _mouth(pm: _Layers, ident: ToyIdentity, nz: ToyNuisance):
        c = _CENTRE
        mw = ident.mouth_half_width + 5 * max(nz.smile, 0.0)
        yc = ident.mouth_y - 10 * nz.smile  # corners
        u = np.linspace(-1, 1, 15)
        w1 = 1 - u * u
        mid = yc + 12 * nz.smile * w1  # the line between the lips (a smile curves it up at the corners)
        opening = 24 * nz.mouth_open * w1 ** 0.7
        bow = 1 - 0.35 * np.exp(-(u / 0.16) ** 2)  # Cupid's bow
        top = mid - ident.upper_lip * w1 ** 0.5 * bow
        bottom = mid + opening + ident.lower_lip * w1 ** 0.6
        xs = c + mw * u
        pm.poly(np.concatenate([np.stack([xs, top], 1), np.stack([xs[::-1], bottom[::-1]], 1)]), ident.lip)
        if nz.mouth_open > 0.05:
            inner_top, inner_bot = mid - 1.5 * w1, mid + opening
            pm.poly(np.concatenate([np.stack([xs, inner_top], 1), np.stack([xs[::-1], inner_bot[::-1]], 1)]),
                    (70, 22, 28))
            teeth = np.minimum(inner_top + 9 * w1 ** 0.5, inner_bot)
            pm.poly(np.concatenate([np.stack([xs[2:-2], inner_top[2:-2]], 1),
                                    np.stack([xs[2:-2][::-1], teeth[2:-2][::-1]], 1)]), (238, 234, 222))
        else:
            pm.poly(_band(xs[1:-1], mid[1:-1], np.full(13, 1.6)), _scale(ident.lip, 0.55))
        return (c, 0.5 * (top[7] + bottom[7]))

    @staticmethod
    def _hair_cap(pm: _Layers, ident: ToyIdentity):
        style = ident.hair_style
        if style == "bald":
            return
        c, w, hair = _CENTRE, ident.face_half_width, ident.hair
        yc = ident.eye_y + 22
        head_h = yc - ident.face_top
        vol = ident.hair_volume if style not in ("buzz", "receding") else 3.0
        if style == "curly":
            vol += 14
        colour = hair if style != "buzz" else _mix(ident.skin, hair, 0.55)
        side_bottom = ident.eye_y + (30 if style in ("long", "bob", "long_fringe", "curly") else 4)
        # outer outline, from the right side over the top to the left side
        a0 = math.asin(min(0.99, max(-0.99, (yc - side_bottom) / (head_h + vol))))
        t = np.linspace(a0, np.pi - a0, 25)
        rx, ry = w + vol + 4, head_h + vol
        bump = 1 + (0.04 * np.sin(14 * t) if style == "curly" else 0.0)
        outer = np.stack([c + rx * np.cos(t) * bump, yc - ry * np.sin(t) * bump], axis=1)
        # hairline across the forehead, left → right
        hl = ident.hairline_y
        xs = np.linspace(-1, 1, 17)
        if style in ("fringe", "long_fringe"):
            line = hl + 6 * np.cos(xs * 9 + ident.part_side) - 6 * xs ** 2  # straight bangs, slightly ragged
        elif style == "side_part":
            line = hl + 18 * ident.part_side * xs + 20 * xs ** 2  # a sweep down to one side
        elif style == "receding":
            line = hl - 22 * np.sin(np.pi * np.abs(xs)) ** 2 + 20 * xs ** 4  # an M-shaped hairline
        else:
            line = hl + 26 * xs ** 4  # the temples sit lower
        x_in = c + xs * (w - 18)
        # keep the hairline inside the outer outline (else the polygon folds over into "horns")
        outer_y = yc - ry * np.sqrt(np.clip(1 - ((x_in - c) / rx) ** 2, 0, 1))
        line = np.maximum(line, outer_y + 14)
        sb = 18 if style not in ("buzz", "receding") else 10  # sideburn width
        inner = np.concatenate([
            np.array([[c - w + sb, side_bottom]]),
            np.stack([x_in, line], axis=1),
            np.array([[c + w - sb, side_bottom]]),
        ])
        # polygon: outer right→left, then down the left sideburn, across the hairline, down the right sideburn
        pm.poly(np.concatenate([outer, np.array([[c - w - 2, side_bottom]]), inner,
                                np.array([[c + w + 2, side_bottom]])]), colour)
        if style != "buzz":  # a highlight band on the hair; its strength comes from the photo (tag 'shine')
            t2 = np.linspace(0.35 * np.pi, 0.65 * np.pi, 9) + 0.2 * ident.part_side
            ro, ri = 0.82, 0.74
            arc_o = np.stack([c + rx * ro * np.cos(t2), yc - 10 - ry * ro * np.sin(t2)], 1)
            arc_i = np.stack([c + rx * ri * np.cos(t2[::-1]), yc - 10 - ry * ri * np.sin(t2[::-1])], 1)
            band = np.concatenate([arc_o, arc_i])
            if band[:, 1].max() < hl - 4:  # only on hair
                pm.poly(band, colour, tag="shine")

    @staticmethod
    def _glasses(pm: _Layers, ident: ToyIdentity):
        c, ey = _CENTRE, ident.eye_y
        gw = ident.eye_half_width * ident.glasses_size
        gh = gw * (0.78 if ident.glasses != "round" else 0.92)
        th = ident.frame_thickness
        power = {"round": 2.0, "rect": 4.5, "cat": 3.5}[ident.glasses]
        for side in (-1.0, 1.0):
            gx = c + side * ident.eye_half_dist
            outer = _superellipse(gx, ey + 2, gw, gh, power, 32)
            inner = _superellipse(gx, ey + 2, gw - th, gh - th, power, 32)
            if ident.glasses == "cat":  # upper outer corners swept up
                for p in (outer, inner):
                    k = np.clip(side * (p[:, 0] - gx) / gw, 0, 1) * np.clip((ey + 2 - p[:, 1]) / gh, 0, 1)
                    p[:, 1] -= 12 * k
            pm.poly(outer, ident.frame, inner[::-1])
            # temple arm towards the ear
            pm.poly(np.array([[gx + side * (gw - 2), ey - gh * 0.45], [c + side * (ident.face_half_width + 2),
                              ey - gh * 0.3], [c + side * (ident.face_half_width + 2), ey - gh * 0.3 + th * 0.8],
                              [gx + side * (gw - 2), ey - gh * 0.45 + th]]), ident.frame)
        # bridge
        inner_x = ident.eye_half_dist - gw + 2
        xs = np.linspace(-inner_x, inner_x, 7)
        pm.poly(_band(c + xs, ey - gh * 0.25 - 8 * (1 - (xs / inner_x) ** 2), np.full(7, th * 0.45)), ident.frame)

    # ------------------------------------------------------------------------------------------ streams, batches
    def _resolve_ids(self, identities) -> np.ndarray:
        if identities is None or (isinstance(identities, str) and identities == "train"):
            return np.arange(self.cfg.train_ids.start, self.cfg.train_ids.stop)
        if isinstance(identities, str):
            if identities == "test":
                return np.arange(self.cfg.test_ids.start, self.cfg.test_ids.stop)
            raise ValueError(f"identities must be 'train', 'test' or a sequence of ids, got {identities!r}")
        ids = np.asarray(list(identities) if isinstance(identities, range) and len(identities) < 10_000_000
                         else identities, dtype=np.int64).ravel()
        if ids.size == 0:
            raise ValueError("identities is empty")
        if (ids < 0).any():
            raise ValueError("identity ids must be non-negative")
        return ids

    def stream(self, seed: int, identities: Union[str, Sequence[int], None] = "train") -> Iterator[ToyFace]:
        """An endless, reproducible stream of faces: each picks a person from ``identities`` and a photo.

        Args:
            seed: the same seed gives the same stream.
            identities: ``'train'`` (default), ``'test'``, or any sequence of ids.
        """
        ids = self._resolve_ids(identities)
        rng = np.random.default_rng([int(seed), 0x70F])
        while True:
            yield self.render(int(ids[rng.integers(ids.size)]), rng)

    def batch(self, n: int, rng: Union[np.random.Generator, int],
              identities: Union[str, Sequence[int], None] = "train") -> ToyFaceBatch:
        """``n`` random faces as arrays (people drawn uniformly from ``identities`` unless it has exactly ``n``
        ids, in which case face ``k`` is of person ``identities[k]``)."""
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        if isinstance(rng, (int, np.integer)):
            rng = np.random.default_rng(int(rng))
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator or an int seed, got {type(rng).__name__}")
        ids = self._resolve_ids(identities)
        pick = ids if (ids.size == n and not isinstance(identities, str) and identities is not None) \
            else ids[rng.integers(ids.size, size=n)]
        s = self.cfg.size
        images = np.empty((n, s, s, 3), np.uint8)
        lms = np.empty((n, 5, 2), np.float32)
        boxes = {p: np.empty((n, 4), np.float32) for p in COMPONENTS}
        for k in range(n):
            f = self.render(int(pick[k]), rng)
            images[k], lms[k] = f.image, f.landmarks
            for p in COMPONENTS:
                boxes[p][k] = f.boxes[p]
        return ToyFaceBatch(images, lms, boxes, pick.astype(np.int64))

    def gallery(self, identities: Sequence[int], rng: Union[np.random.Generator, int, None] = None) -> np.ndarray:
        """A row-major mosaic of faces of ``identities`` (neutral photos when ``rng`` is None), uint8 RGB."""
        if isinstance(rng, (int, np.integer)):
            rng = np.random.default_rng(int(rng))
        faces = [self.render(int(i), rng).image for i in identities]
        cols = int(math.ceil(math.sqrt(len(faces))))
        rows = int(math.ceil(len(faces) / cols))
        s = self.cfg.size
        out = np.full((rows * s, cols * s, 3), 255, np.uint8)
        for k, im in enumerate(faces):
            r, cc = divmod(k, cols)
            out[r * s:(r + 1) * s, cc * s:(cc + 1) * s] = im
        return out
