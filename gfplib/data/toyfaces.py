r"""Toy faces: a procedural, FFHQ-aligned face world that runs offline on a laptop CPU.

GFPGAN learns from FFHQ — 70,000 real faces aligned so that five landmarks (eye centres, nose tip, mouth corners)
sit on a fixed template (FFHQ training data, paper §4.1). The toy world keeps everything that matters for the method and drops the
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

This module holds the lesson — the parameters, landmarks and boxes; the drawing code is private, in
:mod:`gfplib.data._render` (polygons filled with anti-aliased ``cv2.fillPoly`` on a supersampled canvas, reduced with
``cv2.INTER_AREA``; a 64² face takes well under a millisecond on one core, ``benchmarks/bench_toyfaces.py``).
Coordinates are pixel-index coordinates (pixel ``i`` is centred at ``i``), the convention of OpenCV and facexlib.

Taught in ``notebooks/02_face_data.ipynb``.
"""
from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass
from typing import Dict, Iterator, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from gfplib.align import FFHQ_TEMPLATE_512
from gfplib.data._render import CANON, CENTRE, RENDERER_VERSION, Renderer, mix, pose_matrix, rgb, scale
from gfplib.utils import normalize

__all__ = [
    "FFHQ_TEMPLATE_512", "COMPONENTS", "EYE_ENLARGE_RATIO", "ToyFaceConfig", "ToyIdentity", "ToyNuisance", "ToyFace",
    "ToyFaceBatch", "ToyFaceGenerator", "template_landmarks", "boxes_from_components", "hflip_face", "faces_to_tensor",
    "RENDERER_VERSION",
]

# FFHQ_TEMPLATE_512 (from gfplib.align): the 5-point template of a 512 × 512 crop, left eye, right eye, nose tip,
# left mouth corner, right mouth corner, as seen in the image; x, y in pixels. The toy world works in float32.
_TEMPLATE_512 = FFHQ_TEMPLATE_512.astype(np.float32)
COMPONENTS = ("left_eye", "right_eye", "mouth")  # the order of GFPGAN's component discriminators
EYE_ENLARGE_RATIO = 1.4  # official eye_enlarge_ratio: eye boxes are 1.4 × the eye half-length


def template_landmarks(size: int) -> np.ndarray:
    """The FFHQ 5-point template scaled to a ``size × size`` crop, float32 ``(5, 2)``."""
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    return _TEMPLATE_512 * np.float32(size / 512.0)


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
        c = CENTRE
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

    def tensor(self) -> torch.Tensor:
        """The images as a float32 torch tensor ``(N, 3, H, W)`` in [-1, 1] (the network convention)."""
        return faces_to_tensor(self.images)


def faces_to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 RGB ``(N, H, W, 3)`` (or one ``(H, W, 3)``) → float32 torch tensor ``(N, 3, H, W)`` in [-1, 1]."""
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
        raise TypeError(f"images must be a uint8 numpy array, got {type(images).__name__} "
                        f"{getattr(images, 'dtype', '')}")
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must have shape (N, H, W, 3), got {tuple(images.shape)}")
    return normalize(torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2))  # (N, 3, H, W) in [-1, 1]


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
# The generator
# --------------------------------------------------------------------------------------------------------------------
class ToyFaceGenerator:
    """Draws toy faces. Deterministic: identity ``i`` always looks the same; a seed fixes the photo.

    Example::

        gen = ToyFaceGenerator(ToyFaceConfig(size=64))
        face = gen.render(7, 0)             # person 7, photo seed 0: ToyFace(image, landmarks, boxes, ...)
        batch = gen.batch(256, np.random.default_rng(0))
        y = batch.tensor()                  # (256, 3, 64, 64) float32 in [-1, 1]; labels: batch.identity
    """

    def __init__(self, cfg: ToyFaceConfig = ToyFaceConfig()):
        if not isinstance(cfg, ToyFaceConfig):
            raise TypeError(f"cfg must be a ToyFaceConfig, got {type(cfg).__name__}")
        self.cfg = cfg
        self._cache: Dict[int, ToyIdentity] = {}
        self._renderer = Renderer(cfg.size, cfg.canvas_scale)  # the drawing code lives in gfplib.data._render

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
                self._renderer.static.clear()
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
        brow = mix(hair, (40, 30, 25), 0.35 if hair_name in ("blonde", "white", "gray", "dark_blonde") else 0.1)
        lip_base = mix(scale(skin, 0.86), (196, 82, 92), u(0.2, 0.45))
        lip = _LIPSTICK[int(rng.integers(len(_LIPSTICK)))] if rng.random() < 0.15 else lip_base
        eye_hw = u(25, 35)
        glasses = None
        if rng.random() < cfg.glasses_prob:
            glasses = ("round", "rect", "rect", "cat")[int(rng.integers(4))]
        facial_hair = _BEARDS[int(rng.integers(len(_BEARDS)))] if rng.random() < cfg.facial_hair_prob else None
        earrings = (_EARRING[int(rng.integers(len(_EARRING)))] if rng.random() < cfg.earring_prob else None)
        n_freckles = int(rng.integers(8, 26)) if rng.random() < 0.15 else 0
        side = rng.choice([-1.0, 1.0], n_freckles)
        freckles = tuple((float(CENTRE + s * u(45, 100)), float(u(280, 335))) for s in side)
        mole = (float(CENTRE + rng.choice([-1, 1]) * u(30, 110)), float(u(250, 400))) if rng.random() < 0.2 else None
        top = u(92, 118)
        hairline = {"fringe": u(176, 192), "long_fringe": u(176, 192), "receding": u(120, 135),
                    "side_part": u(140, 156)}.get(style, u(138, 156))
        return ToyIdentity(
            identity=identity_id,
            eye_y=float(_TEMPLATE_512[:2, 1].mean() + u(-5, 5)),
            eye_half_dist=float(u(58, 68)), nose_y=float(u(306, 322)), mouth_y=float(u(362, 380)),
            mouth_half_width=float(u(46, 64)),
            face_half_width=float(face_hw), face_top=float(top), chin_y=float(u(440, 472)),
            jaw_power=float(u(2.0, 3.6)), skin=rgb(skin), ear_size=float(u(0.85, 1.15)),
            hair_style=style, hair_color_name=hair_name, hair=rgb(hair), hair_volume=float(u(8, 34)),
            hairline_y=float(hairline), part_side=int(rng.choice([-1, 1])),
            eye_half_width=float(eye_hw), eye_half_height=float(u(10, 17)), eye_tilt=float(u(-0.12, 0.16)),
            iris_color_name=iris_name, iris=rgb(np.array(_IRIS[iris_name][0]) * u(0.9, 1.1)),
            iris_ratio=float(u(0.36, 0.5)), liner=float(u(2.5, 6.5)),
            brow=brow, brow_gap=float(u(36, 50)), brow_thickness=float(u(6, 14)), brow_arch=float(u(2, 14)),
            brow_length=float(u(0.95, 1.3)),
            nose_half_width=float(u(18, 32)), nose_bridge=float(u(0.84, 0.93)),
            lip=rgb(lip), upper_lip=float(u(7, 14)), lower_lip=float(u(9, 18)),
            facial_hair=facial_hair, glasses=glasses, frame=rgb(_FRAMES[int(rng.integers(len(_FRAMES)))]),
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
            background=(rgb(c1), rgb(c2)), background_angle=u(24, 0, 2 * math.pi),
            clothes=rgb(clothes), hair_shine=float(r[25]),
        )

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
        image, mouth_centre = self._renderer.draw(ident, nuisance)
        m = pose_matrix(nuisance, self.cfg.size / CANON)  # canonical frame → pixels
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

    # ---------------------------------------------------------------------------------------------- streams, batches
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
