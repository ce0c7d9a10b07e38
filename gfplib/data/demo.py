"""One real face for demonstrations, shipped with scikit-image, so nothing is downloaded.

Used from ``notebooks/00_overview.ipynb`` and ``notebooks/01_degradation.ipynb`` on.
"""
from __future__ import annotations

import cv2
import numpy as np

__all__ = ["demo_face"]


def demo_face(size: int = 512) -> np.ndarray:
    """A real face for demonstrations: astronaut Eileen Collins, cropped to her face and resized to ``size``².

    The photograph is ``skimage.data.astronaut()`` (NASA, public domain), shipped inside scikit-image. The crop
    (rows 5:225, columns 117:337 of the 512² photo) puts the eyes near the height of the FFHQ alignment template; it
    is not a landmark-based alignment. Returns uint8 RGB ``(size, size, 3)``.
    """
    from skimage import data

    if not isinstance(size, (int, np.integer)) or size < 8:
        raise ValueError(f"size must be an integer >= 8, got {size!r}")
    crop = data.astronaut()[5:225, 117:337]  # (220, 220, 3) RGB uint8
    interp = cv2.INTER_AREA if size < crop.shape[0] else cv2.INTER_CUBIC
    return cv2.resize(np.ascontiguousarray(crop), (int(size), int(size)), interpolation=interp)
