"""gfplib.align: FFHQ 5-point alignment, paste-back, detectors, shipped demo landmarks (all offline)."""
import dataclasses
import hashlib
import json

import cv2
import numpy as np
import pytest
import torch

from gfplib import align, weights
from gfplib.utils import data_dir


# Five FFHQ-order points (left eye, right eye, nose tip, left / right mouth corner; x, y in pixels) marked by hand on
# 5–8× enlarged crops of the demo photos with a pixel grid: eye = centre of the iris, nose = tip, mouth = corners.
# Independent of any detector. Hand marking is good to ~2 px; a detector's "eye" point is the centre of the eye
# opening rather than the iris, so detections are compared with a tolerance relative to the inter-ocular distance.
HAND_LANDMARKS = {
    "astronaut": [(202.5, 102.0), (245.5, 103.0), (223.5, 128.0), (203.5, 140.0), (244.5, 142.0)],
    "grace_hopper": [(223.0, 189.0), (305.0, 187.0), (268.0, 242.0), (230.0, 279.0), (304.0, 277.0)],
}


def _assert_near_hand_marks(name, landmarks):
    """Each point within 10 % of the inter-ocular distance of the hand mark, mean within 8 % (the failure
    threshold of the 300-W landmark benchmark)."""
    hand = np.array(HAND_LANDMARKS[name])
    err = np.linalg.norm(np.asarray(landmarks) - hand, axis=1) / np.linalg.norm(hand[1] - hand[0])
    assert err.max() < 0.10 and err.mean() < 0.08, (name, err.round(3))


@pytest.fixture(scope="module")
def astronaut():
    return align.demo_photo("astronaut")


def _similarity(theta, scale, tx, ty):
    c, s = scale * np.cos(theta), scale * np.sin(theta)
    return np.array([[c, -s, tx], [s, c, ty]])


def test_template_values():
    t = align.face_template(512)
    assert t.shape == (5, 2)
    assert np.allclose(t[0], [192.98138, 239.94708]) and np.allclose(t[4], [313.08905, 371.15118])
    assert np.allclose(align.face_template(128), t / 4)
    # left/right as seen in the image: eye 1 and mouth 1 are left of eye 2 and mouth 2, nose between the eyes
    assert t[0, 0] < t[2, 0] < t[1, 0] and t[3, 0] < t[4, 0] and t[0, 1] < t[2, 1] < t[3, 1]


def test_synthetic_landmarks_land_exactly_on_template():
    """Landmarks that are an exact similarity image of the template must be mapped back onto it."""
    size = 256
    m = _similarity(0.3, 0.4, 40.0, 25.0)  # template → photo
    pts = align.face_template(size) @ m[:, :2].T + m[:, 2]
    img = np.random.default_rng(0).integers(0, 256, (200, 220, 3), dtype=np.uint8)
    a = align.align_face(img, pts, size)
    assert a.crop.shape == (size, size, 3) and a.crop.dtype == np.uint8
    assert np.abs(a.landmarks_in_crop() - align.face_template(size)).max() < 1e-3
    inv = cv2.invertAffineTransform(m)  # the recovered transform is the inverse of m
    assert np.allclose(a.affine, inv, atol=1e-6) and np.allclose(a.inverse_affine, m, atol=1e-6)
    # a face near the photo's corner: the crop leaves the photo and is filled with the official gray (BGR 135,133,132)
    m = _similarity(0.0, 0.4, -30.0, -30.0)
    a = align.align_face(img, align.face_template(size) @ m[:, :2].T + m[:, 2], size)
    assert np.array_equal(a.crop[0, 0], [132, 133, 135]) and not np.array_equal(a.crop[-1, -1], [132, 133, 135])
    a = align.align_face(img.astype(np.float32) / 255, align.face_template(size) @ m[:, :2].T + m[:, 2], size)
    assert np.allclose(a.crop[0, 0] * 255, [132, 133, 135], atol=1e-3)


def test_align_equals_official_cv2_recipe(astronaut):
    f = align.demo_landmarks("astronaut")
    a = align.align_face(astronaut, f, 512)
    affine = cv2.estimateAffinePartial2D(f.landmarks, align.face_template(512), method=cv2.LMEDS)[0]
    crop = cv2.warpAffine(np.ascontiguousarray(astronaut[..., ::-1]), affine, (512, 512),
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(135, 133, 132))[..., ::-1]
    assert np.array_equal(a.affine, affine) and np.array_equal(a.crop, crop)


@pytest.mark.parametrize("name, eye_tol, mean_tol", [("astronaut", 7.0, 12.0), ("grace_hopper", 3.0, 3.0)])
def test_real_landmarks_near_template(name, eye_tol, mean_tol):
    """A similarity cannot match 5 real points exactly (a broad smile widens the mouth), but the eyes come close."""
    a = align.align_face(align.demo_photo(name), align.demo_landmarks(name), 512)
    err = np.linalg.norm(a.landmarks_in_crop() - align.face_template(512), axis=1)  # px at 512²
    assert err[:2].max() < eye_tol and err.mean() < mean_tol


def test_round_trip_uint8(astronaut):
    f = align.demo_landmarks("astronaut")
    a = align.align_face(astronaut, f, 512)
    out = align.paste_back(astronaut, [a.crop], [a.affine])
    assert out.shape == astronaut.shape and out.dtype == np.uint8
    x1, y1, x2, y2 = f.box.round().astype(int)
    diff = np.abs(out.astype(np.int16) - astronaut.astype(np.int16))
    assert diff[y1:y2, x1:x2].mean() < 2.0  # interpolation error only (up 3x, then back down)
    # outside the footprint of the crop the photo is untouched, bit for bit
    foot = cv2.warpAffine(np.ones((512, 512), np.float32), a.inverse_affine, astronaut.shape[1::-1])
    outside = cv2.dilate(foot, np.ones((5, 5), np.uint8)) == 0
    assert outside.mean() > 0.5 and diff[outside].max() == 0
    # a face that differs (inverted colours) really is pasted in the middle of the face and blended at the border
    inv = align.paste_back(astronaut, [255 - a.crop], [a.affine])
    cy, cx = f.landmarks[2].round().astype(int)[::-1]
    assert np.abs(inv[cy, cx].astype(int) - (255 - astronaut[cy, cx].astype(int))).max() <= 12


def test_round_trip_float_and_upscale(astronaut):
    f = align.demo_landmarks("astronaut")
    img = astronaut.astype(np.float32) / 255
    a = align.align_face(img, f, 256)
    a8 = align.align_face(astronaut, f, 256)
    assert a.crop.dtype == np.float32 and np.abs(a.crop * 255 - a8.crop).max() <= 0.51  # uint8 warp rounds
    out = align.paste_back(img, [a.crop], [a.affine])
    assert out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    x1, y1, x2, y2 = f.box.round().astype(int)
    assert np.abs(out - img)[y1:y2, x1:x2].mean() * 255 < 2.5
    up = align.paste_back(astronaut, [a8.crop], [a8.affine], upscale=2)
    assert up.shape == (1024, 1024, 3)
    ref = cv2.resize(astronaut, (1024, 1024), interpolation=cv2.INTER_LANCZOS4)
    assert np.abs(up.astype(int) - ref.astype(int))[2 * y1:2 * y2, 2 * x1:2 * x2].mean() < 4.0
    assert np.array_equal(align.paste_back(astronaut, [], []), astronaut)


def test_restore_photo_identity_and_errors(astronaut):
    f = align.demo_landmarks("astronaut")
    res = align.restore_photo(astronaut, lambda crop: crop, faces=[f], face_size=128)
    assert len(res.aligned) == 1 and res.aligned[0].crop.shape == (128, 128, 3)
    x1, y1, x2, y2 = f.box.round().astype(int)
    # at 128² the crop is smaller than the face in the photo: detail is lost, colours stay
    assert np.abs(res.image.astype(int) - astronaut.astype(int))[y1:y2, x1:x2].mean() < 8.0
    with pytest.raises(ValueError, match="restore_fn must return"):
        align.restore_photo(astronaut, lambda crop: crop[:64], faces=[f], face_size=128)


def test_shipped_landmarks_file():
    db = json.loads((data_dir() / "landmarks_demo.json").read_text())
    assert set(db["photos"]) == set(align.DEMO_PHOTOS)
    for name, rec in db["photos"].items():
        img = align.demo_photo(name)
        assert list(img.shape) == rec["image_shape"]
        pts = np.array(rec["landmarks"])
        x1, y1, x2, y2 = rec["box"]
        assert ((pts[:, 0] > x1) & (pts[:, 0] < x2) & (pts[:, 1] > y1) & (pts[:, 1] < y2)).all()
        assert pts[0, 0] < pts[1, 0] and pts[3, 0] < pts[4, 0]  # FFHQ order: image-left first
        _assert_near_hand_marks(name, pts)
    img = align.demo_photo("astronaut")  # a PNG: decoded pixels are exact, so its hash is checked strictly
    assert hashlib.sha256(img.tobytes()).hexdigest() == db["photos"]["astronaut"]["image_sha256"]
    f = align.demo_landmarks("astronaut")
    assert f.detector == "shipped:mtcnn" and f.landmarks.shape == (5, 2)


def test_mtcnn_finds_astronaut(astronaut):
    faces = align.detect_faces(astronaut, detector="mtcnn")
    assert len(faces) == 1 and faces[0].detector == "mtcnn" and faces[0].score > 0.99
    _assert_near_hand_marks("astronaut", faces[0].landmarks)
    x1, y1, x2, y2 = faces[0].box  # the box holds every hand-marked point, with the face filling most of it
    hand = np.array(HAND_LANDMARKS["astronaut"])
    assert (x1 < hand[:, 0]).all() and (hand[:, 0] < x2).all() and (y1 < hand[:, 1]).all() and (hand[:, 1] < y2).all()
    assert 1.5 < (x2 - x1) / np.linalg.norm(hand[1] - hand[0]) < 3.0
    # float input gives the same detection
    ff = align.detect_faces(astronaut.astype(np.float32) / 255, detector="mtcnn")
    assert np.abs(ff[0].landmarks - faces[0].landmarks).max() < 1e-3


def test_no_face(monkeypatch, tmp_path):
    monkeypatch.setenv("GFPLIB_CACHE", str(tmp_path))  # empty cache: 'auto' must pick the offline MTCNN
    blank = np.full((120, 160, 3), 200, np.uint8)
    with pytest.raises(align.NoFaceFoundError, match="mtcnn found no face"):
        align.detect_faces(blank)
    assert align.detect_faces(blank, allow_empty=True) == []
    with pytest.raises(FileNotFoundError, match="download=True"):
        align.detect_faces(blank, detector="retinaface")  # never downloads implicitly


def test_retinaface_path_with_local_weights(monkeypatch, tmp_path, astronaut):
    """The RetinaFace branch, with randomly initialised weights standing in for the official file in the cache."""
    from facexlib.detection.retinaface import RetinaFace

    with pytest.warns(UserWarning):
        net = RetinaFace(network_name="resnet50", half=False, device="cpu")
    torch.save({f"module.{k}": v for k, v in net.state_dict().items()}, tmp_path / "detection_Resnet50_Final.pth")
    entry = weights.REGISTRY["retinaface-resnet50"]
    stand_in = hashlib.sha256((tmp_path / "detection_Resnet50_Final.pth").read_bytes()).hexdigest()
    fake = dataclasses.replace(entry, sha256=stand_in, size=None, notes="random stand-in")
    monkeypatch.setitem(weights.REGISTRY, "retinaface-resnet50", fake)
    monkeypatch.setenv("GFPLIB_CACHE", str(tmp_path))
    monkeypatch.setattr(align, "_DETECTORS", {})
    small = cv2.resize(astronaut, (128, 128), interpolation=cv2.INTER_AREA)
    faces = align.detect_faces(small, score_threshold=0.0, min_eye_dist=0.0, allow_empty=True)  # 'auto'
    assert ("retinaface-resnet50", "cpu") in align._DETECTORS and "mtcnn" not in str(align._DETECTORS)
    areas = [(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]) for f in faces]
    assert areas == sorted(areas, reverse=True)
    assert all(f.detector == "retinaface-resnet50" and f.landmarks.shape == (5, 2) for f in faces)


def test_input_errors(astronaut):
    f = align.demo_landmarks("astronaut")
    with pytest.raises(ValueError, match=r"shape \(5, 2\)"):
        align.align_face(astronaut, f.landmarks[:3])
    with pytest.raises(ValueError, match="NaN"):
        align.align_face(astronaut, np.full((5, 2), np.nan))
    with pytest.raises(ValueError, match="same point"):
        align.align_face(astronaut, np.zeros((5, 2)))
    with pytest.raises(TypeError, match="dtype float64"):
        align.align_face(astronaut.astype(np.float64) / 255, f)
    with pytest.raises(ValueError, match=r"shape \(H, W, C\)"):
        align.align_face(astronaut[..., 0], f)
    with pytest.raises(ValueError, match="channel"):
        align.detect_faces(np.dstack([astronaut, astronaut[..., :1]]))
    with pytest.raises(ValueError, match=r"expected \[0, 1\]"):
        align.align_face(astronaut.astype(np.float32), f)
    with pytest.raises(ValueError, match="face_size"):
        align.align_face(astronaut, f, 4)
    with pytest.raises(ValueError, match="border_mode"):
        align.align_face(astronaut, f, border_mode="wrap")
    with pytest.raises(ValueError, match="detector"):
        align.detect_faces(astronaut, detector="dlib")
    a = align.align_face(astronaut, f, 64)
    with pytest.raises(ValueError, match="1 faces but 2"):
        align.paste_back(astronaut, [a.crop], [a.affine, a.affine])
    with pytest.raises(TypeError, match="same dtype"):
        align.paste_back(astronaut, [a.crop.astype(np.float32) / 255], [a.affine])
    with pytest.raises(ValueError, match="square"):
        align.paste_back(astronaut, [a.crop[:32]], [a.affine])
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        align.paste_back(astronaut, [a.crop], [np.eye(3)])
    with pytest.raises(ValueError, match="upscale"):
        align.paste_back(astronaut, [a.crop], [a.affine], upscale=0)
    with pytest.raises(KeyError, match="unknown demo photo"):
        align.demo_photo("mona_lisa")
    with pytest.raises(KeyError, match="no shipped landmarks"):
        align.demo_landmarks("mona_lisa")


@pytest.mark.slow  # ParseNet at 512² takes ~10-20 s on 2 CPU cores
def test_parsenet_paste_path_with_local_weights(monkeypatch, tmp_path, astronaut):
    """use_parse=True: ParseNet (randomly initialised stand-in in the cache) gives the blend mask."""
    from facexlib.parsing.parsenet import ParseNet

    torch.manual_seed(0)
    torch.save(ParseNet(in_size=512, out_size=512, parsing_ch=19).state_dict(), tmp_path / "parsing_parsenet.pth")
    entry = weights.REGISTRY["parsenet"]
    stand_in = hashlib.sha256((tmp_path / "parsing_parsenet.pth").read_bytes()).hexdigest()
    fake = dataclasses.replace(entry, sha256=stand_in, size=None, notes="random stand-in")
    monkeypatch.setitem(weights.REGISTRY, "parsenet", fake)
    monkeypatch.setenv("GFPLIB_CACHE", str(tmp_path))
    monkeypatch.setattr(align, "_DETECTORS", {})
    a = align.align_face(astronaut, align.demo_landmarks("astronaut"), 512)
    out = align.paste_back(astronaut, [255 - a.crop], [a.affine], use_parse=True)
    assert ("parsenet", "cpu") in align._DETECTORS
    assert out.shape == astronaut.shape and out.dtype == np.uint8
    foot = cv2.warpAffine(np.ones((512, 512), np.float32), a.inverse_affine, astronaut.shape[1::-1])
    outside = cv2.dilate(foot, np.ones((5, 5), np.uint8)) == 0
    assert np.array_equal(out[outside], astronaut[outside])  # the parsing mask never leaves the crop
    square = align.paste_back(astronaut, [255 - a.crop], [a.affine])
    assert not np.array_equal(out, square)  # a different mask really was used
