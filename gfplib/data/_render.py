r"""How toy faces are drawn (private; the lesson is in :mod:`gfplib.data.toyfaces`).

:mod:`gfplib.data.toyfaces` decides *what* a face is — identity and photo parameters, landmarks, boxes. This module
only turns those parameters into pixels: every part (hair, ears, face, eyes, nose, mouth, brows, glasses) is a list of
polygons in the canonical 512 × 512 frame, recorded in painting order (:class:`Layers`), mapped by the photo's pose
matrix :math:`p \mapsto \tfrac{s}{512}(\rho R_\theta (p - c) + c + t)` (:func:`pose_matrix`) and filled with
anti-aliased ``cv2.fillPoly`` on a supersampled canvas, reduced with ``cv2.INTER_AREA``, then lit (:class:`Renderer`).

:data:`RENDERER_VERSION` is a hash of this file, of ``toyfaces.py`` and of the OpenCV version: caches of rendered faces
key on it, so that a change to the drawing (or to how parameters are drawn) never serves stale faces.
"""
from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Tuple

import cv2
import numpy as np

if TYPE_CHECKING:  # only for annotations: toyfaces imports this module
    from gfplib.data.toyfaces import ToyIdentity, ToyNuisance

CANON = 512.0  # side of the canonical drawing frame
CENTRE = 256.0


def _source_hash() -> str:
    """First 12 hex digits of the sha256 of the toy-face code (this file, ``toyfaces.py``) and the OpenCV version."""
    h = hashlib.sha256(cv2.__version__.encode())  # cv2.fillPoly draws the pixels
    for name in ("_render.py", "toyfaces.py"):
        h.update((Path(__file__).parent / name).read_bytes())
    return h.hexdigest()[:12]


RENDERER_VERSION = _source_hash()  # changes whenever the toy-face code (or OpenCV) changes


# --------------------------------------------------------------------------------------------------------------------
# Colours and shapes
# --------------------------------------------------------------------------------------------------------------------
def rgb(c) -> Tuple[float, float, float]:
    c = np.clip(np.asarray(c, dtype=np.float64), 0, 255)
    return (float(c[0]), float(c[1]), float(c[2]))


def mix(a, b, t: float) -> Tuple[float, float, float]:
    return rgb((1 - t) * np.asarray(a, dtype=np.float64) + t * np.asarray(b, dtype=np.float64))


def scale(c, f: float) -> Tuple[float, float, float]:
    return rgb(np.asarray(c, dtype=np.float64) * f)


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


class Layers:
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
        pts = np.concatenate(flat) @ (matrix[:, :2].T * (1 << Layers.SHIFT)) + matrix[:, 2] * (1 << Layers.SHIFT)
        pts = np.rint(pts).astype(np.int32)  # (P, 2) canvas pixels in cv2's fixed point
        k = 0
        for polys, color, _ in items:
            group = []
            for p in polys:
                group.append(pts[k:k + len(p)])
                k += len(p)
            cv2.fillPoly(canvas, group, color, lineType=cv2.LINE_AA, shift=Layers.SHIFT)


def pose_matrix(nz: "ToyNuisance", unit: float, offset: float = 0.0) -> np.ndarray:
    """Canonical frame → image, ``(2, 3)``: ρ·R(θ) about the centre c, shift t, then ×unit (+ supersampling offset).

    ``unit = size / 512`` maps to output pixels: p_pixel = size/512 · (ρ R_θ (p − c) + c + t).
    """
    th = math.radians(nz.rotation)
    a = nz.scale * np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    c = np.array([CENTRE, CENTRE])
    b = c - a @ c + np.asarray(nz.shift)
    m = np.concatenate([a, b[:, None]], axis=1) * unit
    m[:, 2] += offset
    return m


# --------------------------------------------------------------------------------------------------------------------
# The renderer
# --------------------------------------------------------------------------------------------------------------------
class Renderer:
    """Draws ``size × size`` photos; keeps each person's fixed layers (recorded once) in :attr:`static`."""

    def __init__(self, size: int, canvas_scale: int):
        self.size, self.canvas_scale = size, canvas_scale
        self.static: Dict[int, tuple] = {}  # identity id → its fixed layers (before eyes, between, after mouth)
        n = size
        yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
        self._grid = ((xx - (n - 1) / 2) / (n / 2), (yy - (n - 1) / 2) / (n / 2))  # each (n, n) in [-1, 1]

    def draw(self, ident: "ToyIdentity", nz: "ToyNuisance") -> Tuple[np.ndarray, Tuple[float, float]]:
        """The photo, uint8 RGB ``(size, size, 3)``, and the mouth centre in the canonical frame."""
        ss = self.canvas_scale
        n = self.size * ss
        # background: a linear gradient, made by bilinear upsampling of its 2 × 2 corner values
        ca, sa = math.cos(nz.background_angle), math.sin(nz.background_angle)
        ramp = np.array([[-ca - sa, ca - sa], [-ca + sa, ca + sa]]) * 0.25 + 0.5  # (2, 2) in [0, 1]
        c1, c2 = np.asarray(nz.background[0]), np.asarray(nz.background[1])
        corners = (c1 + (c2 - c1) * ramp[..., None]).astype(np.float32)  # (2, 2, 3)
        canvas = cv2.resize(corners, (n, n), interpolation=cv2.INTER_LINEAR).astype(np.uint8)
        items, mouth_centre = self._layers(ident, nz)
        Layers.draw(canvas, items, pose_matrix(nz, n / CANON, (ss - 1) / 2.0))
        img = canvas if ss == 1 else cv2.resize(canvas, (self.size, self.size), interpolation=cv2.INTER_AREA)
        return self._light(img, ident, nz), mouth_centre

    def _light(self, img: np.ndarray, ident: "ToyIdentity", nz: "ToyNuisance") -> np.ndarray:
        """Exposure, colour temperature and a directional light falling on the head."""
        if nz.light_strength == 0.0 and nz.exposure == 1.0 and nz.warmth == 0.0:
            return img
        gx, gy = self._grid
        m = pose_matrix(nz, self.size / CANON)
        cx, cy = (np.array([CENTRE, 0.5 * (ident.face_top + ident.chin_y)]) @ m[:, :2].T + m[:, 2])
        half = self.size / 2
        fx, fy = cx / half - 1 + 1 / self.size, cy / half - 1 + 1 / self.size
        rx = ident.face_half_width * 1.15 / 256.0
        ry = (ident.chin_y - ident.face_top) * 0.58 / 256.0
        dx, dy = (gx - fx) / rx, (gy - fy) / ry
        head = np.clip(1.35 - (dx * dx + dy * dy), 0.0, 1.0)  # soft head mask, (H, W)
        light = -(math.cos(nz.light_angle) * dx + math.sin(nz.light_angle) * dy)  # brighter towards the light
        shade = nz.exposure * (1.0 + nz.light_strength * np.clip(light, -1.5, 1.5) * head)  # (H, W)
        gains = np.array([1 + nz.warmth, 1.0, 1 - nz.warmth], dtype=np.float32)
        out = img.astype(np.float32) * shade[..., None] * gains
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)

    def _layers(self, ident: "ToyIdentity", nz: "ToyNuisance"):
        """All polygons of one photo in painting order, and the mouth centre (canonical frame)."""
        static = self.static.get(ident.identity)
        if static is None:
            static = self.static[ident.identity] = _static_layers(ident)
        before, between, after = static
        eyes = Layers()
        _eyes(eyes, ident, nz)
        mouth = Layers()
        mouth_centre = _mouth(mouth, ident, nz)
        items = before + eyes.items + between + mouth.items
        for polys, colour, tag in after:
            if tag == "smile":
                polys = [p + (0.0, -10.0 * nz.smile) for p in polys]
            elif tag == "brow":
                polys = [p + (0.0, -10.0 * nz.brow_raise) for p in polys]
            elif tag == "shine":
                if nz.hair_shine <= 0.15:
                    continue
                colour = mix(colour, (255, 255, 255), 0.22 * nz.hair_shine)
            items.append((polys, colour, tag))
        items = [(p, nz.clothes if t == "clothes" else col, t) for p, col, t in items]
        return items, mouth_centre


# --------------------------------------------------------------------------------------------------------------------
# The parts of a face
# --------------------------------------------------------------------------------------------------------------------
def _face_contour(ident: "ToyIdentity") -> np.ndarray:
    w, top, chin = ident.face_half_width, ident.face_top, ident.chin_y
    yc = ident.eye_y + 22  # widest line of the face (cheekbones)
    t = np.linspace(0, np.pi, 17)
    upper = np.stack([CENTRE + w * np.cos(t), yc - (yc - top) * np.sin(t)], axis=1)
    s = np.linspace(np.pi, 2 * np.pi, 25)[1:-1]
    e = 2.0 / ident.jaw_power
    c, si = np.cos(s), np.abs(np.sin(s))
    lower = np.stack([CENTRE + w * np.sign(c) * np.abs(c) ** e * (1 - 0.1 * si),
                      yc + (chin - yc) * si ** e], axis=1)
    return np.concatenate([upper, lower])


def _static_layers(ident: "ToyIdentity"):
    """The layers that do not change from photo to photo, recorded once per person."""
    pm = Layers()
    skin, hair = ident.skin, ident.hair
    c = CENTRE
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
                      [c + neck_w * 1.08, 530], [c - neck_w * 1.08, 530]]), scale(skin, 0.8))
    sh = ident.chin_y + 48
    t = np.linspace(np.pi, 2 * np.pi, 13)
    shoulders = np.stack([c + 230 * np.cos(t), sh + 60 - 60 * np.abs(np.sin(t)) ** 0.35], axis=1)
    body = np.concatenate([np.array([[c - 250, 540.0]]), shoulders, np.array([[c + 250, 540.0]])])
    pm.poly(body, (0, 0, 0), tag="clothes")
    pm.poly(np.array([[c - neck_w * 1.05, sh - 30], [c + neck_w * 1.05, sh - 30], [c + neck_w * 0.9, sh - 2],
                      [c, sh + 36], [c - neck_w * 0.9, sh - 2]]), scale(skin, 0.8))
    # ---- ears and earrings
    ear_y = 0.5 * (ident.eye_y + ident.nose_y) + 4
    for s in (-1.0, 1.0):
        ex = c + s * (w - 4)
        pm.ellipse(ex + s * 10, ear_y, 20 * ident.ear_size, 38 * ident.ear_size, scale(skin, 0.92), 16)
        pm.ellipse(ex + s * 12, ear_y, 10 * ident.ear_size, 24 * ident.ear_size, scale(skin, 0.78), 12)
        if ident.earrings is not None:
            pm.ellipse(ex + s * 10, ear_y + 40 * ident.ear_size, 7, 7, ident.earrings, 12)
    # ---- the face
    contour = _face_contour(ident)
    pm.poly(contour, skin)
    # ---- beard (below the mouth) and stubble; dyed hair keeps a natural beard colour
    beard = hair if ident.hair_color_name not in ("blue", "pink", "purple", "teal") else (56.0, 38.0, 28.0)
    if ident.facial_hair in ("full", "stubble", "goatee"):
        colour = beard if ident.facial_hair != "stubble" else mix(skin, beard, 0.3)
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
        bl = mix(skin, (230, 110, 120), ident.blush)
        for s in (-1.0, 1.0):
            pm.ellipse(c + s * (ident.eye_half_dist + 14), ident.nose_y + 4, 30, 18, bl, 16)
    if ident.freckles:
        fr = scale(skin, 0.8)
        for fx, fy in ident.freckles:
            pm.ellipse(fx, fy, 3.0, 3.0, fr, 12)
    if ident.mole is not None:
        pm.ellipse(ident.mole[0], ident.mole[1], 4.5, 4.5, scale(skin, 0.45), 12)
    before = pm.items
    pm = Layers()
    _nose(pm, ident)
    between = pm.items
    pm = Layers()
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
    _hair_cap(pm, ident)  # the hair in front, above the forehead
    if ident.glasses is not None:
        _glasses(pm, ident)
    return before, between, pm.items


def _eyes(pm: Layers, ident: "ToyIdentity", nz: "ToyNuisance"):
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
    ex = CENTRE + side * ident.eye_half_dist
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
        pm.poly(q[104:], scale(ident.skin, 0.82))


def _nose(pm: Layers, ident: "ToyIdentity"):
    c, ny, nw = CENTRE, ident.nose_y, ident.nose_half_width
    shade = scale(ident.skin, ident.nose_bridge)
    side = float(ident.part_side)  # the side of the bridge shadow
    ys = np.linspace(ident.eye_y + 14, ny - 6, 6)
    bridge = np.concatenate([np.stack([np.full(6, c + side * nw * 0.25), ys], 1),
                             np.stack([np.full(6, c + side * nw * 0.45), ys[::-1]], 1)])
    pm.poly(bridge, shade)
    pm.ellipse(c, ny - 2, nw * 0.75, nw * 0.5, scale(ident.skin, (1 + ident.nose_bridge) / 2), 20)
    pm.ellipse(c - side * nw * 0.2, ny - 6, nw * 0.3, nw * 0.18, mix(ident.skin, (255, 255, 255), 0.12), 12)
    for s in (-1.0, 1.0):
        pm.ellipse(c + s * nw * 0.48, ny + 6, nw * 0.26, nw * 0.13, scale(ident.skin, 0.45), 12,
                   angle=s * 0.35)


def _mouth(pm: Layers, ident: "ToyIdentity", nz: "ToyNuisance"):
    c = CENTRE
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
        pm.poly(_band(xs[1:-1], mid[1:-1], np.full(13, 1.6)), scale(ident.lip, 0.55))
    return (c, 0.5 * (top[7] + bottom[7]))


def _hair_cap(pm: Layers, ident: "ToyIdentity"):
    style = ident.hair_style
    if style == "bald":
        return
    c, w, hair = CENTRE, ident.face_half_width, ident.hair
    yc = ident.eye_y + 22
    head_h = yc - ident.face_top
    vol = ident.hair_volume if style not in ("buzz", "receding") else 3.0
    if style == "curly":
        vol += 14
    colour = hair if style != "buzz" else mix(ident.skin, hair, 0.55)
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


def _glasses(pm: Layers, ident: "ToyIdentity"):
    c, ey = CENTRE, ident.eye_y
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
