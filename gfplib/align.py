r"""Real photographs in, aligned 512² faces out, restored faces pasted back: the frame around GFPGAN.

GFPGAN is trained and run on FFHQ-style crops (the FFHQ training data of paper §4.1): the face is rotated, scaled and translated so that
five landmarks — left eye, right eye, nose tip, left and right mouth corner (as seen in the image) — land on a fixed
template :math:`T \in \mathbb{R}^{5\times 2}` (:data:`FFHQ_TEMPLATE_512`, scaled by ``face_size / 512``). The
transform is the 4-degree-of-freedom similarity

.. math::  A = \begin{pmatrix} s\cos\theta & -s\sin\theta & t_x \\ s\sin\theta & s\cos\theta & t_y \end{pmatrix},
           \qquad A^\star = \arg\min_A \operatorname{med}_i \lVert A\,[p_i; 1] - T_i \rVert^2

(``cv2.estimateAffinePartial2D`` with least-median-of-squares, ``cv2.LMEDS``). The crop is ``cv2.warpAffine(img,
A)`` with the official gray border (135, 133, 132) in BGR; after restoration the face goes back with the inverse
transform :math:`A^{-1}` and a soft mask, :math:`I_\text{out} = m \odot \operatorname{warp}_{A^{-1}}(F) + (1 - m)
\odot I` (an eroded and blurred warped square by default, a ParseNet face mask on request).

All of that is facexlib's ``FaceRestoreHelper`` (facexlib 0.3.0), which the official inference uses. Its constructor
builds — and downloads — both RetinaFace and ParseNet, so this module borrows only its alignment, inverse-affine and
paste-back methods on an instance built without its constructor (:func:`_facexlib_helper`), and supplies the
networks itself:

* detection: facexlib's RetinaFace-ResNet50 (the official detector) when its weights are available locally through
  :mod:`gfplib.weights` (never downloaded unless you pass ``download=True``); otherwise the offline fallback
  facenet-pytorch's MTCNN, whose weights ship inside its wheel (MIT). Both give the same five points in the FFHQ
  order. Every :class:`DetectedFace` records which detector found it.
* parsing mask for paste-back: facexlib's ParseNet, only when asked (``use_parse=True``).

The demo photographs (:func:`demo_photo`) ship inside scikit-image and matplotlib; their landmarks ship in
``data/landmarks_demo.json`` (:func:`demo_landmarks`), so notebooks and tests align real faces with no detector run.

Images are NumPy RGB ``(H, W, 3)``, uint8 or float32 in [0, 1] (the gfplib convention); conversion to OpenCV's BGR
happens inside this module only. Taught in ``notebooks/02_face_data.ipynb``.
"""
from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Union

import cv2
import numpy as np
import torch

from gfplib.utils import check_image, data_dir

__all__ = [
    "FFHQ_TEMPLATE_512", "BORDER_VALUE_BGR", "DetectedFace", "AlignedFace", "RestoredPhoto", "NoFaceFoundError",
    "face_template", "detect_faces", "align_face", "paste_back", "restore_photo", "demo_photo", "demo_landmarks",
    "DEMO_PHOTOS",
]

# facexlib face_restoration_helper.py: standard 5 landmarks of FFHQ faces at 512 x 512 (x, y) in pixels
FFHQ_TEMPLATE_512 = np.array([[192.98138, 239.94708],   # left eye (as seen in the image)
                              [318.90277, 240.19360],   # right eye
                              [256.63416, 314.01935],   # nose tip
                              [201.26117, 371.41043],   # left mouth corner
                              [313.08905, 371.15118]])  # right mouth corner
FFHQ_TEMPLATE_512.setflags(write=False)
BORDER_VALUE_BGR = (135, 133, 132)  # gray fill of the official warp where the crop leaves the photo
RETINAFACE_THRESHOLD = 0.97  # official score threshold of GFPGANer
MTCNN_THRESHOLD = 0.95  # final-stage probability; real faces score > 0.99 on our demo photos
MIN_EYE_DIST = 5.0  # official: faces whose eyes are closer than 5 px (profiles, tiny faces) are skipped
LANDMARKS_FILE = "landmarks_demo.json"


class NoFaceFoundError(ValueError):
    """The detector found no face (above its score threshold) in the image."""


@dataclass(frozen=True)
class DetectedFace:
    """One face found in a photo.

    Attributes:
        box: ``(4,)`` float ``x1, y1, x2, y2`` in pixels.
        score: detector confidence in [0, 1].
        landmarks: ``(5, 2)`` float ``(x, y)``: left eye, right eye, nose, left mouth corner, right mouth corner
            (left/right as seen in the image, the order of :data:`FFHQ_TEMPLATE_512`).
        detector: who found it: ``"retinaface-resnet50"``, ``"mtcnn"``, or ``"shipped:<how>"`` for stored landmarks.
    """

    box: np.ndarray
    score: float
    landmarks: np.ndarray
    detector: str

    @property
    def eye_distance(self) -> float:
        return float(np.linalg.norm(self.landmarks[1] - self.landmarks[0]))


@dataclass(frozen=True)
class AlignedFace:
    """A face warped onto the template.

    Attributes:
        crop: ``(face_size, face_size, 3)`` RGB image, same dtype as the input photo.
        affine: ``(2, 3)`` float64 similarity taking photo pixels to crop pixels (``cv2.warpAffine`` convention).
        landmarks: the ``(5, 2)`` photo landmarks that defined it.
    """

    crop: np.ndarray
    affine: np.ndarray
    landmarks: np.ndarray

    @property
    def face_size(self) -> int:
        return int(self.crop.shape[0])

    @property
    def inverse_affine(self) -> np.ndarray:
        """``(2, 3)`` transform from crop pixels back to photo pixels."""
        return cv2.invertAffineTransform(self.affine)

    def landmarks_in_crop(self) -> np.ndarray:
        """The photo landmarks mapped into the crop: ``A [p; 1]`` — close to the template when alignment worked."""
        return self.landmarks @ self.affine[:, :2].T + self.affine[:, 2]  # (5, 2)


@dataclass(frozen=True)
class RestoredPhoto:
    """Result of :func:`restore_photo`: the output photo and every intermediate, for inspection."""

    image: np.ndarray
    faces: List[DetectedFace]
    aligned: List[AlignedFace]
    restored: List[np.ndarray] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------------------------------------
def face_template(face_size: int = 512) -> np.ndarray:
    """The FFHQ 5-point template for a ``face_size``² crop: :data:`FFHQ_TEMPLATE_512` · face_size / 512."""
    _check_face_size(face_size)
    return FFHQ_TEMPLATE_512 * (face_size / 512.0)  # (5, 2)


def _check_face_size(face_size) -> None:
    if isinstance(face_size, bool) or not isinstance(face_size, (int, np.integer)):
        raise TypeError(f"face_size must be an int, got {type(face_size).__name__}")
    if face_size < 8:
        raise ValueError(f"face_size must be at least 8 pixels, got {face_size}")


def _check_landmarks(landmarks, name: str = "landmarks") -> np.ndarray:
    pts = np.asarray(landmarks, dtype=np.float64) if not isinstance(landmarks, torch.Tensor) \
        else landmarks.detach().cpu().double().numpy()
    if pts.shape != (5, 2):
        raise ValueError(f"{name} must have shape (5, 2) — left eye, right eye, nose, left mouth, right mouth as "
                         f"(x, y) — got shape {pts.shape}")
    if not np.isfinite(pts).all():
        raise ValueError(f"{name} contain NaN or infinite values")
    if np.linalg.norm(pts[1] - pts[0]) < 1e-3:
        raise ValueError(f"{name}: both eyes are at the same point {pts[0].tolist()}; the alignment is undefined")
    return pts


def _check_photo(img: np.ndarray, name: str = "image") -> np.ndarray:
    check_image(img, name=name, channels=3, dtypes=("uint8", "float32"))
    if img.dtype == np.float32 and (img.min() < 0 or img.max() > 1):
        raise ValueError(f"{name} is float32 with values in [{img.min():.3g}, {img.max():.3g}]; expected [0, 1] "
                         f"(divide a 0–255 image by 255)")
    return img


def _to_bgr255(img: np.ndarray) -> np.ndarray:
    """RGB uint8 → BGR uint8; RGB float [0, 1] → BGR float32 in [0, 255] (what facexlib's helper expects)."""
    bgr = np.ascontiguousarray(img[..., ::-1])
    return bgr if bgr.dtype == np.uint8 else bgr * np.float32(255.0)


def _from_bgr255(bgr: np.ndarray, like: np.ndarray) -> np.ndarray:
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    if like.dtype == np.uint8:
        return rgb.astype(np.uint8, copy=False)
    return (rgb.astype(np.float32) / np.float32(255.0)).clip(0, 1)


def _facexlib_helper(face_size: int, upscale: float = 1.0):
    """facexlib's ``FaceRestoreHelper`` without its constructor (which builds and downloads RetinaFace + ParseNet).

    Only the state used by ``align_warp_face``, ``get_inverse_affine`` and ``paste_faces_to_input_image`` is set,
    with the values GFPGANer passes (square crop, 5-point template, no blur padding, no parsing unless asked).
    """
    try:
        from facexlib.utils.face_restoration_helper import FaceRestoreHelper
    except ImportError as err:  # pragma: no cover - facexlib is in requirements.txt
        raise ImportError("gfplib.align needs facexlib (pip install 'gfplib[faces]' or pip install facexlib)") from err
    helper = FaceRestoreHelper.__new__(FaceRestoreHelper)
    helper.template_3points = False
    helper.upscale_factor = upscale
    helper.crop_ratio = (1, 1)
    helper.face_size = (face_size, face_size)
    helper.face_template = face_template(face_size)
    helper.save_ext = "png"
    helper.pad_blur = False
    helper.use_parse = False
    helper.face_parse = None
    helper.device = torch.device("cpu")
    helper.clean_all()  # empty lists: landmarks, affines, crops, restored faces ...
    return helper


# --------------------------------------------------------------------------------------------------------------------
# Detection
# --------------------------------------------------------------------------------------------------------------------
_DETECTORS: Dict[tuple, object] = {}  # (name, device) → loaded network, built once per process


def _retinaface(device: torch.device, download: bool):
    from gfplib import weights

    key = ("retinaface-resnet50", str(device))
    if key not in _DETECTORS:
        path = weights.fetch("retinaface-resnet50") if download else weights.local_path("retinaface-resnet50")
        if path is None:
            raise FileNotFoundError("RetinaFace weights are not in the gfplib cache; call "
                                    "gfplib.weights.fetch('retinaface-resnet50') (needs internet), pass download=True, "
                                    "or use detector='mtcnn' (offline)")
        from facexlib.detection.retinaface import RetinaFace

        with warnings.catch_warnings():  # facexlib builds its backbone with torchvision's deprecated pretrained=False
            warnings.simplefilter("ignore", UserWarning)
            net = RetinaFace(network_name="resnet50", half=False, device=device)
        net.load_state_dict(weights.load_state_dict(path, None), strict=True)
        _DETECTORS[key] = net.eval()
    return _DETECTORS[key]


def _mtcnn(device: torch.device):
    key = ("mtcnn", str(device))
    if key not in _DETECTORS:
        try:
            from facenet_pytorch import MTCNN
        except ImportError as err:
            raise ImportError("the offline detector needs facenet-pytorch 2.6.0, installed without its dependencies "
                              "(its metadata pins an old torch): pip install --no-deps facenet-pytorch==2.6.0") from err
        _DETECTORS[key] = MTCNN(keep_all=True, device=device)
    return _DETECTORS[key]


def _retinaface_available() -> bool:
    from gfplib import weights

    try:
        return weights.local_path("retinaface-resnet50") is not None
    except weights.WeightsHashError:
        warnings.warn("cached RetinaFace weights failed verification; using MTCNN", stacklevel=3)
        return False


def detect_faces(img: np.ndarray, detector: str = "auto", *, score_threshold: Optional[float] = None,
                 min_eye_dist: float = MIN_EYE_DIST, allow_empty: bool = False, download: bool = False,
                 device: Union[str, torch.device, None] = None) -> List[DetectedFace]:
    """Find faces and their 5 landmarks, largest face first.

    Args:
        img: RGB photo ``(H, W, 3)``, uint8 or float32 in [0, 1].
        detector: ``"retinaface"`` (official; needs ``retinaface-resnet50`` weights locally, or ``download=True``),
            ``"mtcnn"`` (offline, weights inside facenet-pytorch), or ``"auto"``: RetinaFace if its weights are
            already in the cache, else MTCNN. Never downloads unless ``download=True``.
        score_threshold: keep faces scoring at least this; default 0.97 for RetinaFace (official), 0.95 for MTCNN.
        min_eye_dist: skip faces whose eyes are closer than this many pixels (official value 5).
        allow_empty: return ``[]`` instead of raising :class:`NoFaceFoundError` when nothing is found.
        download: let ``detector="retinaface"`` download its weights (≈ 104 MiB) through :mod:`gfplib.weights`.
        device: torch device for the detector network (default CPU).

    Returns:
        A list of :class:`DetectedFace`, sorted by box area, largest first.
    """
    _check_photo(img)
    if detector not in ("auto", "retinaface", "mtcnn"):
        raise ValueError(f"detector must be 'auto', 'retinaface' or 'mtcnn', got {detector!r}")
    dev = torch.device(device) if device is not None else torch.device("cpu")
    if detector == "auto":
        detector = "retinaface" if _retinaface_available() else "mtcnn"
    img_u8 = img if img.dtype == np.uint8 else (img * 255.0).round().astype(np.uint8)
    faces: List[DetectedFace] = []
    if detector == "retinaface":
        net = _retinaface(dev, download)
        thr = RETINAFACE_THRESHOLD if score_threshold is None else score_threshold
        with torch.no_grad():
            dets = net.detect_faces(np.ascontiguousarray(img_u8[..., ::-1]), thr)  # (N, 15) BGR input
        for d in np.asarray(dets, dtype=np.float64).reshape(-1, 15):
            faces.append(DetectedFace(d[:4].copy(), float(d[4]), d[5:15].reshape(5, 2).copy(),
                                      "retinaface-resnet50"))
    else:
        net = _mtcnn(dev)
        thr = MTCNN_THRESHOLD if score_threshold is None else score_threshold
        with torch.no_grad():
            boxes, probs, points = net.detect(img_u8, landmarks=True)  # RGB input
        if boxes is not None:
            for b, p, pts in zip(boxes, probs, points):
                if p is None or float(p) < thr:
                    continue
                # MTCNN's points are already in the FFHQ order: eye, eye, nose, mouth, mouth (left first in the image)
                faces.append(DetectedFace(np.asarray(b, np.float64), float(p),
                                          np.asarray(pts, np.float64).reshape(5, 2), "mtcnn"))
    faces = [f for f in faces if f.eye_distance >= min_eye_dist]
    faces.sort(key=lambda f: -(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
    if not faces and not allow_empty:
        raise NoFaceFoundError(f"{detector} found no face in the {img.shape[1]}x{img.shape[0]} image (score ≥ {thr}, "
                               f"eye distance ≥ {min_eye_dist} px). Try a larger or more frontal face, a lower "
                               f"score_threshold, the other detector, or give 5 landmarks to align_face yourself.")
    return faces


# --------------------------------------------------------------------------------------------------------------------
# Alignment and paste-back
# --------------------------------------------------------------------------------------------------------------------
def align_face(img: np.ndarray, landmarks: Union[np.ndarray, DetectedFace, Sequence], face_size: int = 512, *,
               border_mode: str = "constant") -> AlignedFace:
    """Warp the face with these 5 landmarks onto the FFHQ template (facexlib ``align_warp_face``).

    Args:
        img: RGB photo ``(H, W, 3)``, uint8 or float32 in [0, 1].
        landmarks: ``(5, 2)`` points in the FFHQ order (or a :class:`DetectedFace`).
        face_size: side of the square crop (512 for GFPGAN).
        border_mode: ``"constant"`` (official: gray 135/133/132), ``"reflect101"`` or ``"reflect"``.

    Returns:
        :class:`AlignedFace` with the crop (same dtype as ``img``) and the photo → crop affine matrix.
    """
    _check_photo(img)
    _check_face_size(face_size)
    if border_mode not in ("constant", "reflect101", "reflect"):
        raise ValueError(f"border_mode must be 'constant', 'reflect101' or 'reflect', got {border_mode!r}")
    if isinstance(landmarks, DetectedFace):
        landmarks = landmarks.landmarks
    pts = _check_landmarks(landmarks)
    helper = _facexlib_helper(face_size)
    helper.input_img = _to_bgr255(img)
    helper.all_landmarks_5 = [pts]
    helper.align_warp_face(border_mode=border_mode)  # A = estimateAffinePartial2D(p → T, LMEDS); warpAffine(img, A)
    affine = helper.affine_matrices[0]
    if affine is None:
        raise ValueError(f"cv2.estimateAffinePartial2D found no similarity for landmarks {pts.tolist()} "
                         f"(degenerate points?)")
    return AlignedFace(_from_bgr255(helper.cropped_faces[0], img), np.asarray(affine, np.float64), pts)


def _parsenet(device: torch.device, download: bool):
    from gfplib import weights

    key = ("parsenet", str(device))
    if key not in _DETECTORS:
        path = weights.fetch("parsenet") if download else weights.local_path("parsenet")
        if path is None:
            raise FileNotFoundError("ParseNet weights are not in the gfplib cache; call gfplib.weights.fetch("
                                    "'parsenet') (needs internet), pass download=True, or use use_parse=False")
        from facexlib.parsing.parsenet import ParseNet

        net = ParseNet(in_size=512, out_size=512, parsing_ch=19)
        net.load_state_dict(weights.load_state_dict(path, None), strict=True)
        _DETECTORS[key] = net.eval().to(device)
    return _DETECTORS[key]


def paste_back(img: np.ndarray, faces: Sequence[np.ndarray], affines: Sequence[np.ndarray], *, upscale: int = 1,
               use_parse: bool = False, download: bool = False,
               device: Union[str, torch.device, None] = None) -> np.ndarray:
    """Paste (restored) square faces back into the photo (facexlib ``paste_faces_to_input_image``).

    Each face is warped with the inverse of its affine (scaled by ``upscale``) and blended with a soft mask:
    :math:`I = m \\odot F' + (1 - m) \\odot I`. Default mask (official path without parsing): the warped square,
    eroded by ``2·upscale`` px, eroded again by :math:`2w` and Gaussian-blurred with a :math:`(2w+1)^2` kernel where
    :math:`w = \\lfloor\\sqrt{\\text{area}}\\rfloor // 20`. ``use_parse=True``: ParseNet's face mask instead (needs
    the ``parsenet`` weights).

    Args:
        img: the original RGB photo ``(H, W, 3)``, uint8 or float32 in [0, 1].
        faces: one ``(S, S, 3)`` RGB face per affine, same dtype as ``img`` (e.g. restored crops).
        affines: the photo → crop matrices from :func:`align_face` (``AlignedFace.affine``).
        upscale: integer scale of the output (the background is resized with Lanczos).
        use_parse: blend with a ParseNet face-parsing mask (official GFPGAN inference) instead of the square mask.
        download: allow ``use_parse`` to download the ParseNet weights (≈ 81 MiB).
        device: device for ParseNet.

    Returns:
        ``(H·upscale, W·upscale, 3)`` RGB image with the dtype of ``img``. Float images pass through uint8 inside
        facexlib (values are truncated to 1/255 steps).
    """
    _check_photo(img)
    if isinstance(upscale, bool) or not isinstance(upscale, (int, np.integer)) or upscale < 1:
        raise ValueError(f"upscale must be a positive int, got {upscale!r}")
    faces, affines = list(faces), list(affines)
    if len(faces) != len(affines):
        raise ValueError(f"got {len(faces)} faces but {len(affines)} affine matrices")
    if not faces:
        return img.copy() if upscale == 1 else _from_bgr255(
            cv2.resize(_to_bgr255(img), (img.shape[1] * upscale, img.shape[0] * upscale),
                       interpolation=cv2.INTER_LANCZOS4), img)
    size = None
    for i, (face, aff) in enumerate(zip(faces, affines)):
        _check_photo(face, name=f"faces[{i}]")
        if face.dtype != img.dtype:
            raise TypeError(f"faces[{i}] has dtype {face.dtype} but the photo has {img.dtype}; use the same dtype")
        if face.shape[0] != face.shape[1] or (size is not None and face.shape[0] != size):
            raise ValueError(f"faces must be square and of one size; faces[{i}] has shape {face.shape}")
        size = face.shape[0]
        aff = np.asarray(aff)
        if aff.shape != (2, 3) or not np.isfinite(aff).all():
            raise ValueError(f"affines[{i}] must be a finite (2, 3) matrix, got shape {aff.shape}")
    helper = _facexlib_helper(size, upscale)
    helper.input_img = _to_bgr255(img)
    helper.affine_matrices = [np.asarray(a, np.float64).copy() for a in affines]
    helper.get_inverse_affine()  # A^{-1} · upscale
    helper.restored_faces = [_to_bgr255(f) for f in faces]
    if use_parse:
        dev = torch.device(device) if device is not None else torch.device("cpu")
        helper.face_parse, helper.use_parse, helper.device = _parsenet(dev, download), True, dev
    out = helper.paste_faces_to_input_image()  # BGR uint8: m ⊙ warp(F) + (1 − m) ⊙ I
    if img.dtype == np.float32:
        return (np.ascontiguousarray(out[..., ::-1]).astype(np.float32) / np.float32(255.0))
    return np.ascontiguousarray(out[..., ::-1])


def restore_photo(img: np.ndarray, restore_fn: Callable[[np.ndarray], np.ndarray], *, detector: str = "auto",
                  faces: Optional[Sequence[DetectedFace]] = None, face_size: int = 512, upscale: int = 1,
                  use_parse: bool = False, only_largest: bool = False) -> RestoredPhoto:
    """The whole frame of GFPGAN inference: detect → align → ``restore_fn(crop)`` → paste back.

    Args:
        img: RGB photo, uint8 or float32 in [0, 1].
        restore_fn: maps one aligned ``(face_size, face_size, 3)`` crop to a restored crop of the same shape and
            dtype (e.g. a wrapper around a GFPGAN network; the identity gives back the photo).
        detector: see :func:`detect_faces`; ignored when ``faces`` is given.
        faces: precomputed detections (e.g. ``[demo_landmarks("astronaut")]``), to skip the detector.
        face_size, upscale, use_parse: see :func:`align_face` and :func:`paste_back`.
        only_largest: restore the largest face only.
    """
    _check_photo(img)
    found = list(faces) if faces is not None else detect_faces(img, detector)
    if only_largest:
        found = found[:1]
    aligned = [align_face(img, f, face_size) for f in found]
    restored = []
    for a in aligned:
        r = restore_fn(a.crop)
        if not isinstance(r, np.ndarray) or r.shape != a.crop.shape or r.dtype != a.crop.dtype:
            raise ValueError(f"restore_fn must return an array of shape {a.crop.shape} and dtype {a.crop.dtype}, "
                             f"got {getattr(r, 'shape', type(r).__name__)} {getattr(r, 'dtype', '')}")
        restored.append(r)
    out = paste_back(img, restored, [a.affine for a in aligned], upscale=upscale, use_parse=use_parse)
    return RestoredPhoto(out, found, aligned, restored)


# --------------------------------------------------------------------------------------------------------------------
# Demo photographs shipped by installed packages, and their landmarks shipped in data/
# --------------------------------------------------------------------------------------------------------------------
DEMO_PHOTOS = {
    "astronaut": "Eileen Collins, NASA portrait (public domain); scikit-image skimage.data.astronaut()",
    "grace_hopper": "Rear Admiral Grace Hopper, U.S. Navy photograph (public domain); matplotlib sample data "
                    "grace_hopper.jpg",
}


def demo_photo(name: str = "astronaut") -> np.ndarray:
    """A public-domain portrait that ships inside an installed package (no download): RGB uint8 ``(H, W, 3)``.

    ``"astronaut"``: 512×512 from scikit-image; ``"grace_hopper"``: 512 wide × 600 high from matplotlib.
    """
    if name == "astronaut":
        from skimage import data

        return np.ascontiguousarray(data.astronaut())
    if name == "grace_hopper":
        import matplotlib.cbook
        from PIL import Image

        with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
            return np.ascontiguousarray(np.asarray(Image.open(f).convert("RGB")))
    raise KeyError(f"unknown demo photo {name!r}; choose one of {sorted(DEMO_PHOTOS)}")


def _landmarks_db() -> dict:
    path = Path(data_dir()) / LANDMARKS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; it ships with the repository (see data/README.md)")
    return json.loads(path.read_text())


def demo_landmarks(name: str = "astronaut", *, check_image_hash: bool = True) -> DetectedFace:
    """The shipped 5 landmarks (and box) of a demo photo, as a :class:`DetectedFace` (detector ``"shipped:…"``).

    Args:
        name: a key of :data:`DEMO_PHOTOS`.
        check_image_hash: warn if the photo now loaded from its package differs from the one the landmarks were
            measured on (a changed package file would make the landmarks wrong): pixel sha256 for PNG sources,
            shape only for JPEG sources.
    """
    db = _landmarks_db()
    if name not in db["photos"]:
        raise KeyError(f"no shipped landmarks for {name!r}; available: {sorted(db['photos'])}")
    rec = db["photos"][name]
    if check_image_hash:
        img = demo_photo(name)
        digest = hashlib.sha256(img.tobytes()).hexdigest()
        # JPEG photos: decoders may differ in the last bit between library versions, so only the shape is checked
        if list(img.shape) != rec["image_shape"] or (rec.get("image_sha256_strict", True)
                                                     and digest != rec["image_sha256"]):
            warnings.warn(f"demo photo {name!r} differs from the one its landmarks were measured on "
                          f"(pixel sha256 {digest[:12]}… vs {rec['image_sha256'][:12]}…); the landmarks may be off",
                          stacklevel=2)
    return DetectedFace(np.asarray(rec["box"], np.float64), float(rec["score"]),
                        _check_landmarks(rec["landmarks"], name=f"shipped landmarks of {name!r}"),
                        f"shipped:{rec['detector']}")
