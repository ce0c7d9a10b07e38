r"""Restoring real photographs: read → detect → align → GFPGAN → paste back → write, as one function and one command.

This is what the official ``inference_gfpgan.py`` (GFPGANer + facexlib's FaceRestoreHelper) does with a photo, and
what the paper shows on its real-world test sets (§4.2 comparisons: LFW-Test, CelebChild-Test, WebPhoto-Test). For
a photo :math:`I` with faces :math:`j = 1 \dots n`:

.. math::  x_j = \operatorname{warp}_{A_j}(I), \qquad \hat y_j = G(x_j), \qquad
           I_\text{out} = \Big(\prod_j \text{blend}_j\Big)\big(\operatorname{up}_s(I)\big), \quad
           \text{blend}_j(J) = m_j \odot \operatorname{warp}_{s A_j^{-1}}(\hat y_j) + (1 - m_j) \odot J

:math:`A_j` aligns the face's five landmarks to the FFHQ template (:func:`gfplib.align.align_face`), :math:`G` is any
gfplib GFPGAN — the official v1 / v1.2 / v1.3 / v1.4 through :mod:`gfplib.weights`, or the shipped toy model —
with the noise drawn from a seed (:func:`restore_faces`), :math:`\operatorname{up}_s` the background resized by the
integer ``upscale`` with Lanczos-4 (or an optional background upsampler) and :math:`m_j` the soft mask
(:func:`soft_mask`: ParseNet's face parsing when its weights are present, else the official eroded, blurred square).
Each face is pasted inside a window around it (:func:`paste_faces`), so an 8000×6000 photo needs memory for the
photo, not for full-frame float masks; the background outside every mask is the resized photo, pixel for pixel.

Files: :func:`read_image` accepts gray, RGB, RGBA (alpha resized and kept), palette, 8- and 16-bit PNG/TIFF and
EXIF-rotated JPEGs and raises :class:`RestoreError` with one line for anything else; :func:`write_image` writes
atomically (temporary name, then ``os.replace``). ``gfplib restore`` (:func:`run`) and ``python -m gfplib.restore``
are the command. Defaults are the official ones (facts §5). Taught in ``notebooks/09_restore.ipynb``.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Union

import cv2
import numpy as np
import torch
from torch import nn

from gfplib import align, weights
from gfplib.utils import check_image, img2tensor, pick_device, tensor2img

__all__ = ["MODELS", "IMAGE_EXTS", "RestoreError", "Restoration", "load_model", "restore_faces", "read_image",
           "write_image", "soft_mask", "paste_faces", "restore", "add_arguments", "run", "main"]

#: ``--model`` short names → registry names (an existing ``.pth`` path is accepted too).
MODELS = {"toy": "toy-gfpgan-32", "v1": "gfpgan-v1", "v1.2": "gfpgan-v1.2", "v1.3": "gfpgan-v1.3",
          "v1.4": "gfpgan-v1.4"}
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")  # what a folder input is searched for
DETECT_MAX_SIDE = 2000  # detect on a copy at most this long (MTCNN takes 25 s and 3 GB on 8000×6000, 2 s here)
MAX_MEGAPIXELS = 300.0  # output limit: a 300 MP RGB output peaks near 3 GB in this pipeline


class RestoreError(ValueError):
    """A photo or a model that cannot be restored / loaded; the message is one line meant for the user."""


@dataclass(frozen=True)
class Restoration:
    """Result of :func:`restore`.

    Attributes:
        image: the restored photo in the input's layout and dtype (gray, RGB or RGBA; uint8 or uint16), ``upscale``
            times larger (the restored face itself for ``aligned=True``).
        faces: the detected faces used (empty when none was found or for aligned input).
        cropped: the aligned input crops x_j, RGB uint8 ``(S, S, 3)``.
        restored: the restored crops ŷ_j, RGB uint8 ``(S, S, 3)``.
        affines: photo → crop matrices ``(2, 3)`` of the crops.
    """

    image: np.ndarray
    faces: List[align.DetectedFace] = field(default_factory=list)
    cropped: List[np.ndarray] = field(default_factory=list)
    restored: List[np.ndarray] = field(default_factory=list)
    affines: List[np.ndarray] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------------------ model
def _arch_candidates():
    from gfplib.archs import GFPGANv1Config, GFPGANv1CleanConfig

    return [("GFPGANv1Clean 512² (v1.2 / v1.3 / v1.4)", GFPGANv1CleanConfig.release()),
            ("GFPGANv1Clean 32² (the toy model)", GFPGANv1CleanConfig.toy()),
            ("GFPGANv1 512² (v1, the paper's model)", GFPGANv1Config.paper())]


def load_model(model: str = "v1.4", device: Union[str, torch.device, None] = "cpu") -> nn.Module:
    """A frozen GFPGAN in eval mode: a short name of :data:`MODELS`, a registry name, or a checkpoint path.

    A path is matched against the architectures gfplib knows (official clean 512², toy 32², v1 512²) by its keys
    and shapes. Every failure — weights not downloadable offline, a file that is no checkpoint, a checkpoint of
    another network — raises :class:`RestoreError` with one message saying what to do.
    """
    from gfplib.checkpoints import compare_state_dict, load_weights
    from gfplib.pretrain import GFPGAN_NAMES, load_gfpgan

    name = MODELS.get(model, model)
    try:
        if name in GFPGAN_NAMES:
            net = load_gfpgan(name)
        elif name == "gfpgan-v1":
            net = _arch_candidates()[2][1].build()
            load_weights(net, name, param_key="params_ema")
        else:
            path = Path(model).expanduser()
            if not path.is_file():
                raise RestoreError(f"--model {model!r} is neither a model name ({', '.join(MODELS)}) nor a file")
            sd = weights.load_state_dict(path)
            fits = []
            for label, cfg in _arch_candidates():
                with torch.device("meta"):  # shapes only: no memory, no initialisation
                    diff = compare_state_dict(cfg.build(), sd)
                if diff.ok:
                    net = cfg.build()
                    net.load_state_dict(sd, strict=True)
                    break
                fits.append((len(diff.missing) + len(diff.unexpected) + len(diff.mismatched), label, diff))
            else:
                _, label, diff = min(fits, key=lambda f: f[0])
                raise RestoreError(f"{path} is not a GFPGAN checkpoint gfplib can run; closest architecture "
                                   f"{label}: " + diff.describe(limit=3).replace("\n", "; "))
    except weights.WeightsDownloadError as err:
        raise RestoreError(f"{err} Offline, --model toy runs the shipped teaching model.") from None
    except weights.WeightsError as err:  # not a checkpoint, wrong hash, key mismatch of a registry file
        raise RestoreError(" ".join(str(err).split())) from None
    return net.eval().requires_grad_(False).to(device)


def restore_faces(net: nn.Module, x: torch.Tensor, seed: Optional[int] = 0) -> torch.Tensor:
    """ŷ = G(x) for a batch of aligned faces ``(B, 3, S, S)`` in [-1, 1], without gradients.

    The prior's noise maps are drawn fresh (``randomize_noise=True``, as official inference does) from
    ``torch.Generator().manual_seed(seed)``, so a seed gives the same restoration every time; ``seed=None`` draws from
    the global generator. Returns the raw ``image`` output (not clamped; ``tensor2img`` clamps). A ``net`` that is
    not an ``nn.Module`` is an exported face step (:func:`gfplib.export.load_onnx`, noise fixed in the file): ``net(x)``.
    """
    if not isinstance(net, nn.Module):
        return net(x)
    gen = None if seed is None else torch.Generator(device=x.device).manual_seed(int(seed))
    with torch.no_grad():
        return net(x, return_rgb=False, randomize_noise=True, generator=gen).image


# ------------------------------------------------------------------------------------------------------------ files
def _orient(img: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1–8) to an array, as ``PIL.ImageOps.exif_transpose`` does to an image."""
    ops = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1], 5: lambda a: a.swapaxes(0, 1),
           6: lambda a: np.rot90(a, -1), 7: lambda a: np.rot90(a, 1)[::-1], 8: lambda a: np.rot90(a, 1)}
    return np.ascontiguousarray(ops[orientation](img)) if orientation in ops else img


def read_image(path: Union[str, os.PathLike]) -> np.ndarray:
    """A photo file as an array in its own layout: gray ``(H, W)``, RGB or RGBA ``(H, W, 3|4)``, uint8 or uint16.

    EXIF orientation is applied (the array is upright), palette images become RGB (RGBA with transparency),
    16-bit PNG / TIFF stay 16-bit. Raises :class:`RestoreError` naming the problem for a missing, empty,
    truncated or non-image file.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise RestoreError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise RestoreError(f"{path}: empty file (0 bytes)")
    try:
        with Image.open(path) as im:
            raw = str(im.tile[0][3] if im.tile else "")
            orientation = im.getexif().get(0x0112, 1)
            im.load()  # decodes everything: a truncated file fails here
            if ";16" in raw and im.mode in ("RGB", "RGBA"):  # Pillow reads 16-bit colour as 8 bits: use OpenCV
                arr = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
                if arr is None or arr.dtype != np.uint16:
                    raise RestoreError(f"{path}: OpenCV cannot decode this 16-bit image")
                return _orient(cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA if arr.shape[2] == 4 else cv2.COLOR_BGR2RGB),
                               orientation)
            im = ImageOps.exif_transpose(im)
            if im.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
                return np.asarray(im, dtype=np.uint16).copy()
            if im.mode in ("I", "F"):
                raise RestoreError(f"{path}: 32-bit {'integer' if im.mode == 'I' else 'float'} images are not "
                                   f"supported; save it as 8- or 16-bit")
            transparent = im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
            mode = "L" if im.mode in ("1", "L") else "RGBA" if transparent else "RGB"
            return np.asarray(im.convert(mode)).copy()
    except RestoreError:
        raise
    except UnidentifiedImageError:
        raise RestoreError(f"{path}: not an image file (or a format Pillow cannot read)") from None
    except Image.DecompressionBombError as err:
        raise RestoreError(f"{path}: {err}") from None
    except (OSError, SyntaxError, ValueError) as err:  # truncated / corrupt data
        raise RestoreError(f"{path}: cannot decode the image ({err}); the file is truncated or corrupt") from None


def write_image(path: Union[str, os.PathLike], img: np.ndarray, quality: int = 95) -> Path:
    """Write an image atomically: to a temporary name in the same folder, then ``os.replace`` to ``path``.

    An interrupted run never leaves a half-written file under the final name. uint16 images go through OpenCV
    (PNG / TIFF keep 16 bits; other formats get 8 bits), the rest through Pillow (JPEG quality ``quality``).
    """
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ext = path.suffix.lower()
    if img.dtype == np.uint16 and ext not in (".png", ".tif", ".tiff"):
        img = (img.astype(np.float32) / 257.0).round().astype(np.uint8)
    if ext in (".jpg", ".jpeg") and img.ndim == 3 and img.shape[2] == 4:
        raise RestoreError(f"{path}: JPEG has no alpha channel; write RGBA images as .png")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".part{ext}")
    os.close(fd)
    try:
        if img.dtype == np.uint16:
            code = {3: cv2.COLOR_RGB2BGR, 4: cv2.COLOR_RGBA2BGRA}.get(img.shape[2] if img.ndim == 3 else 1)
            if not cv2.imwrite(tmp, cv2.cvtColor(img, code) if code is not None else img):
                raise RestoreError(f"{path}: OpenCV could not write the image")
        else:
            Image.fromarray(img).save(tmp, **({"quality": quality} if ext in (".jpg", ".jpeg", ".webp") else {}))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 → what a plain open() would have given
        os.replace(tmp, path)  # atomic on one file system
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


# ------------------------------------------------------------------------------------------------------------ paste-back
def soft_mask(face_size: int, inverse_affine: np.ndarray, out_hw: Sequence[int], upscale: int = 1,
              parse_mask: Optional[np.ndarray] = None) -> np.ndarray:
    """The blending mask m of one face on a canvas ``out_hw``, float32 in [0, 1] (facexlib's paste-back masks).

    Square mask (no parsing): the crop's square warped by ``inverse_affine`` and eroded by ``2·upscale`` px (the
    warp's soft edge), then eroded by 2w and Gaussian-blurred with a (2w+1)² kernel, w = ⌊√area⌋ // 20 — a feather
    that scales with the face. ``parse_mask``: a ``(face_size, face_size)`` mask in crop space (ParseNet's, see
    :func:`restore`), warped with ``INTER_AREA`` as officially.
    """
    h, w = int(out_hw[0]), int(out_hw[1])
    if parse_mask is not None:
        return cv2.warpAffine(parse_mask.astype(np.float32), inverse_affine, (w, h), flags=cv2.INTER_AREA)
    square = cv2.warpAffine(np.ones((face_size, face_size), np.float32), inverse_affine, (w, h))
    square = cv2.erode(square, np.ones((2 * upscale, 2 * upscale), np.uint8))
    edge = max(1, int(square.sum() ** 0.5) // 20)  # feather width w grows with the pasted face
    centre = cv2.erode(square, np.ones((2 * edge, 2 * edge), np.uint8))
    return cv2.GaussianBlur(centre, (2 * edge + 1, 2 * edge + 1), 0)


def _parse_mask(face: np.ndarray, net: nn.Module) -> np.ndarray:
    """ParseNet's face mask of a restored crop (official recipe): skin, brows, eyes, nose, mouth, ears in; hair,
    hat, neck, cloth and background out; blurred twice (101², σ 11), a 10-px border zeroed."""
    dev = next(net.parameters()).device
    x = img2tensor(cv2.resize(face, (512, 512), interpolation=cv2.INTER_LINEAR), bgr=False).to(dev)
    with torch.no_grad():
        labels = net(x)[0].argmax(dim=1).squeeze(0).cpu().numpy()
    keep = np.ones(19, np.float64)
    keep[[0, 14, 16, 17, 18]] = 0  # background, neck, cloth, hair, hat
    mask = keep[labels] * 255.0
    for _ in range(2):
        mask = cv2.GaussianBlur(mask, (101, 101), 11)
    mask[:10], mask[-10:], mask[:, :10], mask[:, -10:] = 0, 0, 0, 0
    return cv2.resize(mask / 255.0, face.shape[:2][::-1]).astype(np.float32)


def paste_faces(background: np.ndarray, faces: Sequence[np.ndarray], affines: Sequence[np.ndarray],
                upscale: int = 1, parse_masks: Optional[Sequence[np.ndarray]] = None) -> np.ndarray:
    """Blend restored crops into an (already upscaled) background, one face at a time, each in a window around it.

    Args:
        background: ``(H·s, W·s, 3)`` RGB uint8 or uint16 — the photo resized by ``upscale`` s.
        faces: ``(S, S, 3)`` crops in the background's dtype.
        affines: photo → crop matrices of the faces (``AlignedFace.affine``), in the pixels of the original photo.
        upscale: s; the inverse transform is s·A⁻¹ plus facexlib's 0.5·s offset when s > 1.
        parse_masks: per face a crop-space mask (:func:`soft_mask`), or None for the square mask.

    Returns:
        A new array: m ⊙ warp(ŷ) + (1 − m) ⊙ background per face, rounded; pixels where every m = 0 are unchanged.
    """
    out = background.copy()
    hh, ww = out.shape[:2]
    for j, (face, aff) in enumerate(zip(faces, affines)):
        size = face.shape[0]
        inv = cv2.invertAffineTransform(np.asarray(aff, np.float64)) * upscale  # crop → output pixels: s·A⁻¹
        if upscale > 1:
            inv[:, 2] += 0.5 * upscale  # facexlib's offset for a more precise back-alignment
        # the warp is non-zero for crop coordinates in (-1, size): bilinear ramps to the zero border
        corners = np.array([[-1, -1], [size, -1], [-1, size], [size, size]], np.float64) @ inv[:, :2].T + inv[:, 2]
        lo, hi = corners.min(0), corners.max(0)
        margin = int((hi - lo).max() / 10) + 8  # ≥ the feather: the window holds the mask's whole support
        x0, y0 = (np.floor(lo).astype(int) - margin).clip(0)
        x1, y1 = np.minimum(np.ceil(hi).astype(int) + margin, [ww, hh])
        if x0 >= x1 or y0 >= y1:
            continue  # the face lies outside the output
        inv[:, 2] -= (x0, y0)  # the same transform, in window coordinates
        m = soft_mask(size, inv, (y1 - y0, x1 - x0), upscale, None if parse_masks is None else parse_masks[j])
        warped = cv2.warpAffine(face, inv, (x1 - x0, y1 - y0)).astype(np.float32)
        win = out[y0:y1, x0:x1].astype(np.float32)
        blend = m[..., None] * warped + (1 - m[..., None]) * win  # m ⊙ warp(ŷ) + (1 − m) ⊙ I
        out[y0:y1, x0:x1] = np.rint(blend).clip(0, np.iinfo(out.dtype).max).astype(out.dtype)
    return out


# ------------------------------------------------------------------------------------------------------------ pipeline
def _detect(rgb8: np.ndarray, detector: str, max_side: int, device) -> List[align.DetectedFace]:
    """Faces of a photo, detected on a copy whose long side is at most ``max_side`` (coordinates scaled back)."""
    h, w = rgb8.shape[:2]
    k = max(h, w) / max_side
    if k <= 1:
        return align.detect_faces(rgb8, detector, allow_empty=True, device=device)
    small = cv2.resize(rgb8, (round(w / k), round(h / k)), interpolation=cv2.INTER_AREA)
    sx, sy = w / small.shape[1], h / small.shape[0]
    return [align.DetectedFace(f.box * [sx, sy, sx, sy], f.score, f.landmarks * [sx, sy], f.detector)
            for f in align.detect_faces(small, detector, allow_empty=True, device=device)]


def restore(img: np.ndarray, net: nn.Module, *, upscale: int = 2, only_center_face: bool = False,
            aligned: bool = False, seed: Optional[int] = 0, detector: str = "auto",
            faces: Optional[Sequence[align.DetectedFace]] = None, use_parse: Optional[bool] = None,
            bg_upsampler: Optional[Callable[[np.ndarray, int], np.ndarray]] = None,
            max_megapixels: float = MAX_MEGAPIXELS, detect_max_side: int = DETECT_MAX_SIDE) -> Restoration:
    """Restore every face of a photo with a GFPGAN and paste it back: the official inference in one function.

    Args:
        img: gray ``(H, W)``, RGB or RGBA ``(H, W, 3|4)``, uint8 or uint16 (e.g. from :func:`read_image`).
        net: a GFPGAN (:func:`load_model`) or an exported one (:func:`gfplib.export.load_onnx`); its ``out_size`` S
            is the crop size (512 official, 32 toy).
        upscale: integer output scale s (official default 2).
        only_center_face: restore only the face nearest the image centre.
        aligned: the input is already an aligned face: it is resized to S², restored, and returned (no paste).
        seed: seed of the prior's noise (:func:`restore_faces`); None draws fresh noise.
        detector: ``"auto"`` / ``"retinaface"`` / ``"mtcnn"`` (:func:`gfplib.align.detect_faces`).
        faces: detections to use instead of running a detector (e.g. ``[align.demo_landmarks("astronaut")]``).
        use_parse: ParseNet mask for paste-back; None = when its weights are in the cache (never downloads).
        bg_upsampler: ``fn(rgb, s) -> rgb·s`` for the background (e.g. a Real-ESRGAN); default Lanczos-4 resize.
        max_megapixels: refuse outputs larger than this (:class:`RestoreError`).
        detect_max_side: detection runs on a copy at most this long.

    Returns:
        :class:`Restoration`; with no face found, ``image`` is the photo resized by s.
    """
    check_image(img, name="img", channels=(1, 3, 4), dtypes=("uint8", "uint16"))
    if isinstance(upscale, bool) or not isinstance(upscale, (int, np.integer)) or not 1 <= upscale <= 8:
        raise ValueError(f"upscale must be an integer in 1…8, got {upscale!r}")
    h, w = img.shape[:2]
    if h * w * upscale ** 2 > max_megapixels * 1e6:
        raise RestoreError(f"{w}×{h} at upscale {upscale} would give a {w * upscale}×{h * upscale} image "
                           f"({h * w * upscale ** 2 / 1e6:.0f} MP), over the limit of {max_megapixels:g} MP; use a "
                           f"smaller --upscale or raise --max-megapixels (memory: about 14 bytes per output pixel)")
    gray = img.ndim == 2 or img.shape[2] == 1
    color = np.repeat(img.reshape(h, w, 1), 3, axis=2) if gray else img[..., :3]
    alpha = img[..., 3] if not gray and img.shape[2] == 4 else None
    wide = img.dtype == np.uint16
    rgb8 = (color / 257.0).round().astype(np.uint8) if wide else np.ascontiguousarray(color)  # the network's view
    size = int(net.out_size)
    dev = next(net.parameters()).device if isinstance(net, nn.Module) else torch.device("cpu")

    def run_net(crops):
        if not crops:
            return []
        return list(tensor2img(restore_faces(net, img2tensor(np.stack(crops), bgr=False).to(dev), seed), bgr=False))

    def as_input_layout(rgb, a):  # RGB (+ alpha) in the input's dtype → the input's layout
        if gray:
            out = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
            return out if img.ndim == 2 else out[..., None]
        return rgb if a is None else np.dstack([rgb, a])

    if aligned:
        crop = cv2.resize(rgb8, (size, size), interpolation=cv2.INTER_LINEAR)
        (face,) = run_net([crop])
        out = face.astype(np.uint16) * 257 if wide else face
        a = None if alpha is None else cv2.resize(alpha, (size, size), interpolation=cv2.INTER_LINEAR)
        return Restoration(as_input_layout(out, a), [], [crop], [face], [])

    found = list(faces) if faces is not None else _detect(rgb8, detector, detect_max_side, dev)
    if only_center_face and found:
        centre = np.array([w / 2, h / 2])
        found = [min(found, key=lambda f: np.linalg.norm((f.box[:2] + f.box[2:]) / 2 - centre))]
    crops = [align.align_face(rgb8, f, size) for f in found]
    restored = run_net([c.crop for c in crops])
    if use_parse is None:
        try:
            use_parse = weights.local_path("parsenet") is not None
        except weights.WeightsHashError:
            use_parse = False
    parse_net = align._parsenet(dev, download=False) if restored and use_parse else None
    if bg_upsampler is not None:
        bg = bg_upsampler(color, upscale)
        if bg.shape[:2] != (h * upscale, w * upscale):
            raise ValueError(f"bg_upsampler returned shape {bg.shape}, expected {(h * upscale, w * upscale, 3)}")
    else:
        bg = color if upscale == 1 else cv2.resize(color, (w * upscale, h * upscale), interpolation=cv2.INTER_LANCZOS4)
    pasted = [r.astype(np.uint16) * 257 for r in restored] if wide else restored
    masks = None if parse_net is None else [_parse_mask(r, parse_net) for r in restored]
    out = paste_faces(np.ascontiguousarray(bg), pasted, [c.affine for c in crops], upscale, masks)
    if alpha is not None and upscale > 1:
        alpha = cv2.resize(alpha, (w * upscale, h * upscale), interpolation=cv2.INTER_LANCZOS4)
    return Restoration(as_input_layout(out, alpha), found, [c.crop for c in crops], restored,
                       [c.affine for c in crops])


# ------------------------------------------------------------------------------------------------------------ command
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``gfplib restore`` (official names and defaults, facts §5)."""
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders of images")
    parser.add_argument("-o", "--output", default="results", help="output folder (default: results)")
    parser.add_argument("--model", default="v1.4", help="v1 | v1.2 | v1.3 | v1.4 (downloaded once), toy (shipped, "
                        "32², a teaching model), or a .pth path (default: v1.4)")
    parser.add_argument("--upscale", type=int, default=2, help="final upsampling scale of the photo (default: 2)")
    parser.add_argument("--aligned", action="store_true", help="inputs are aligned faces (no detection, no paste)")
    parser.add_argument("--only-center-face", action="store_true", help="restore only the face nearest the centre")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generator's noise (default: 0)")
    parser.add_argument("--device", default=None, help="cpu | cuda | mps (default: the best available)")
    parser.add_argument("--detector", default="auto", choices=("auto", "retinaface", "mtcnn"),
                        help="face detector (auto: RetinaFace if its weights are cached, else MTCNN)")
    parser.add_argument("--ext", default="auto", help="extension of the restored images: auto (as the input; png "
                        "for RGBA), png, jpg, … (default: auto)")
    parser.add_argument("--onnx", default=None, metavar="FILE", help="run the face step with this exported model "
                        "(gfplib export; needs onnxruntime) instead of --model")
    parser.add_argument("--max-megapixels", type=float, default=MAX_MEGAPIXELS,
                        help=f"refuse outputs larger than this (default: {MAX_MEGAPIXELS:g})")


def _inputs(items: Sequence[str]):
    """(files to process, [(path, why skipped)]): folders are searched (not recursively) for image extensions."""
    files, skipped = [], []
    for item in items:
        p = Path(item)
        if p.is_dir():
            for q in sorted(p.iterdir()):
                if q.is_file() and not q.name.startswith("."):
                    (files.append(q) if q.suffix.lower() in IMAGE_EXTS else skipped.append((q, "not an image name")))
        else:
            files.append(p)  # named explicitly: tried, and reported if it is no image
    return files, skipped


def _outputs(res: Restoration, path: Path, out_dir: Path, stem: str, ext: str) -> dict:
    if ext == "auto":
        ext = path.suffix.lower().lstrip(".") or "png"
        if res.image.ndim == 3 and res.image.shape[2] == 4 and ext in ("jpg", "jpeg"):
            ext = "png"
    files = {}
    for i, (x, y_hat) in enumerate(zip(res.cropped, res.restored)):
        files[out_dir / "cropped_faces" / f"{stem}_{i:02d}.png"] = x
        files[out_dir / "restored_faces" / f"{stem}_{i:02d}.png"] = y_hat
        files[out_dir / "cmp" / f"{stem}_{i:02d}.png"] = np.concatenate([x, y_hat], axis=1)
    files[out_dir / "restored_imgs" / f"{stem}.{ext.lstrip('.')}"] = res.image
    return files


def run(args: argparse.Namespace) -> int:
    """``gfplib restore``: 0 when every file was restored (a photo without a face counts), 1 when a file failed,
    2 when the model or the device cannot be used."""
    from tqdm import tqdm  # the text bar, also in notebooks (no widget state)

    def say(msg):
        tqdm.write(msg, file=sys.stderr)

    try:
        device = pick_device(args.device)
        if args.onnx:  # the face step from an exported file (gfplib export); the rest of the pipeline is the same
            from gfplib.export import load_onnx

            net = load_onnx(args.onnx)
        else:
            net = load_model(args.model, device)
    except (RestoreError, RuntimeError, ValueError, OSError, ImportError) as err:
        say(f"gfplib restore: {err}")
        return 2
    files, skipped = _inputs(args.inputs)
    out_dir, stems = Path(args.output), set()
    done = n_faces = no_face = 0
    failed = []
    for path in tqdm(files, desc="restore", unit="img", disable=not files):
        try:
            img = read_image(path)
            res = restore(img, net, upscale=args.upscale, only_center_face=args.only_center_face,
                          aligned=args.aligned, seed=args.seed, detector=args.detector,
                          max_megapixels=args.max_megapixels)
        except (RestoreError, ValueError, TypeError) as err:
            msg = str(err) if str(path) in str(err) else f"{path}: {err}"
            say(msg)
            failed.append(msg)
            continue
        stem, k = path.stem, 2
        while stem in stems:  # two inputs with one name (from two folders): keep both
            stem, k = f"{path.stem}_{k}", k + 1
        stems.add(stem)
        if not res.restored:
            say(f"no face found in {path} (the whole image is still written, upscaled)")
            no_face += 1
        written = []
        try:
            for target, arr in _outputs(res, path, out_dir, stem, args.ext).items():
                written.append(write_image(target, arr))
        except (OSError, RestoreError, ValueError, KeyError) as err:
            for p in written:  # no partial output for this file
                p.unlink(missing_ok=True)
            msg = f"{path}: cannot write its outputs ({err})"
            say(msg)
            failed.append(msg)
            continue
        done += 1
        n_faces += len(res.restored)
    why = "".join(f"; skipped {p} ({reason})" for p, reason in skipped)
    print(f"gfplib restore: {done} of {len(files)} images restored into {out_dir}, {n_faces} faces, "
          f"{no_face} without a face, {len(failed)} failed{why}")
    return 1 if failed else 0


if __name__ == "__main__":
    from gfplib.cli import run_module
    sys.exit(run_module(sys.modules[__name__]))
