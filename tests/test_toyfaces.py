"""The toy-face world: determinism, identity vs nuisance, landmark / box geometry, flips and splits."""
from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np
import pytest
import torch
from torchvision.ops import roi_align

from gfplib.data import (COMPONENTS, FFHQ_TEMPLATE_512, ToyFaceConfig, ToyFaceGenerator, ToyIdentity, ToyNuisance,
                         boxes_from_components, faces_to_tensor, hflip_face, template_landmarks)
from gfplib import align
from gfplib.utils import img2tensor

G32 = ToyFaceGenerator(ToyFaceConfig(size=32))
G64 = ToyFaceGenerator(ToyFaceConfig(size=64))
G128 = ToyFaceGenerator(ToyFaceConfig(size=128))


def _same_face(a, b):
    return (np.array_equal(a.image, b.image) and np.array_equal(a.landmarks, b.landmarks)
            and all(np.array_equal(a.boxes[p], b.boxes[p]) for p in COMPONENTS))


def test_template_is_the_official_ffhq_one_scaled():
    np.testing.assert_allclose(template_landmarks(512)[0], [192.98138, 239.94708])
    np.testing.assert_allclose(template_landmarks(512)[4], [313.08905, 371.15118])
    np.testing.assert_allclose(template_landmarks(64), FFHQ_TEMPLATE_512 / 8, rtol=1e-6)
    assert template_landmarks(64).dtype == np.float32
    assert FFHQ_TEMPLATE_512 is align.FFHQ_TEMPLATE_512  # one copy in the package


def test_render_face_set_cache_misses_when_the_renderer_changes(tmp_path, monkeypatch):
    from gfplib.data import toyfaces
    from gfplib.pretrain.data import render_face_set

    fresh = render_face_set(16, range(3), 2, seed=5, cache_dir=tmp_path)
    (path,) = tmp_path.glob("*.npz")
    assert toyfaces.RENDERER_VERSION in path.name
    with np.load(path) as z:  # make the cached faces recognisably stale
        stale = {k: z[k] for k in z.files}
    stale["images"][:] = 0
    np.savez(path, **stale)
    assert int(render_face_set(16, range(3), 2, seed=5, cache_dir=tmp_path).images.max()) == 0  # same version: hit
    monkeypatch.setattr(toyfaces, "RENDERER_VERSION", "0123456789ab")  # what an edit of the drawing code does
    again = render_face_set(16, range(3), 2, seed=5, cache_dir=tmp_path)
    assert torch.equal(again.images, fresh.images)  # rendered anew, not read from the stale file
    assert len(list(tmp_path.glob("*.npz"))) == 2


@pytest.mark.parametrize("size", [32, 64, 128, 256])
def test_render_shapes_and_types(size):
    g = ToyFaceGenerator(ToyFaceConfig(size=size))
    f = g.render(3, 0)
    assert f.image.shape == (size, size, 3) and f.image.dtype == np.uint8
    assert f.landmarks.shape == (5, 2) and f.landmarks.dtype == np.float32
    assert set(f.boxes) == set(COMPONENTS)
    for b in f.boxes.values():
        assert b.shape == (4,) and b.dtype == np.float32 and b[0] < b[2] and b[1] < b[3]
    assert f.identity == 3
    assert f.image.std() > 20  # a picture, not a flat colour


def test_render_is_deterministic():
    a, b = G64.render(11, 5), G64.render(11, 5)
    assert _same_face(a, b)
    fresh = ToyFaceGenerator(ToyFaceConfig(size=64))  # no shared cache
    assert _same_face(a, fresh.render(11, 5))
    assert _same_face(G64.render(11, np.random.default_rng(5)), a)
    assert not np.array_equal(a.image, G64.render(11, 6).image)  # another photo
    assert not np.array_equal(a.image, G64.render(12, 5).image)  # another person


def test_identity_params_depend_only_on_world_seed_and_id():
    p = G64.identity(42)
    assert isinstance(p, ToyIdentity)
    assert p == ToyFaceGenerator(ToyFaceConfig(size=128)).identity(42)  # independent of size and cache
    assert p != G64.identity(43)
    assert p != ToyFaceGenerator(ToyFaceConfig(size=64, seed=1)).identity(42)  # another world
    # every photo of a person reports the same identity, and the photos differ
    photos = [G64.render(42, s) for s in range(4)]
    assert {f.identity for f in photos} == {42}
    assert len({f.image.tobytes() for f in photos}) == 4


def test_identities_are_diverse():
    people = [G64.identity(i) for i in range(300)]
    assert len({p.hair_style for p in people}) >= 9
    assert len({p.hair_color_name for p in people}) >= 10
    assert len({p.iris_color_name for p in people}) >= 6
    assert 0.12 < np.mean([p.glasses is not None for p in people]) < 0.4
    lum = np.array([np.dot(p.skin, (0.299, 0.587, 0.114)) for p in people])
    assert lum.max() - lum.min() > 120  # light to deep skin tones


def test_nuisance_does_not_touch_the_face_when_only_the_background_changes():
    base = ToyNuisance()
    other = dataclasses.replace(base, background=((20, 60, 200), (240, 30, 30)), background_angle=1.0)
    a, b = G128.render(7, nuisance=base), G128.render(7, nuisance=other)
    x, y = a.landmarks[2].round().astype(int)  # the nose tip
    assert np.array_equal(a.image[y - 6:y + 6, x - 6:x + 6], b.image[y - 6:y + 6, x - 6:x + 6])
    assert np.abs(a.image[:4, :4].astype(int) - b.image[:4, :4]).mean() > 40  # the corners did change
    np.testing.assert_array_equal(a.landmarks, b.landmarks)


def test_same_person_is_closer_than_different_people():
    rng = np.random.default_rng(0)
    ids = np.arange(40)
    a = G32.batch(40, rng, identities=ids).images[:, 8:24, 8:24].reshape(40, -1).astype(float)
    b = G32.batch(40, rng, identities=ids).images[:, 8:24, 8:24].reshape(40, -1).astype(float)
    d = np.abs(a[:, None] - b[None]).mean(-1)  # (40, 40) mean abs difference of the central crops
    within, between = np.diag(d).mean(), d[~np.eye(40, dtype=bool)].mean()
    assert within < 0.6 * between


def test_landmarks_follow_the_pose_equation_exactly():
    nz = ToyNuisance(rotation=2.5, scale=1.02, shift=(4.0, -3.0))
    f = G64.render(9, nuisance=nz)
    th = math.radians(2.5)
    rot = 1.02 * np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    c = np.array([256.0, 256.0])
    expected = ((G64.identity(9).landmarks() - c) @ rot.T + c + (4.0, -3.0)) * 64 / 512  # s/512 (ρR(p−c)+c+t)
    np.testing.assert_allclose(f.landmarks, expected, atol=1e-4)


def test_landmarks_stay_near_the_scaled_template():
    rng = np.random.default_rng(1)
    for size, gen in ((64, G64), (128, G128)):
        lms = gen.batch(60, rng).landmarks
        err = np.linalg.norm(lms - template_landmarks(size), axis=-1)  # (60, 5) pixels
        assert err.max() < 0.09 * size
        assert err.mean() < 0.035 * size
    calm = ToyFaceGenerator(ToyFaceConfig(size=64, pose_jitter=0, expression=0, lighting=0))
    lms = calm.batch(30, rng).landmarks
    assert np.abs(lms[:, :2] - template_landmarks(64)[:2]).max() < 6 * 64 / 512  # eyes within 6 px at 512


def test_neutral_landmarks_scale_with_size_and_drawing_is_consistent_across_sizes():
    f64, f128 = G64.render(5, 2), G128.render(5, 2)
    # pixel-index coordinates: the same canonical point is at x·s/512 at every size
    np.testing.assert_allclose(f128.landmarks, 2 * f64.landmarks, atol=1e-4)
    small = cv2.resize(f128.image, (64, 64), interpolation=cv2.INTER_AREA).astype(float)
    diff = np.abs(small - f64.image).mean()
    shifted = np.abs(np.roll(small, 1, axis=1) - f64.image).mean()
    assert diff < 4.5 and diff < 0.8 * shifted  # the 64² face is the 128² face shrunk, not shifted


def test_boxes_contain_the_drawn_components():
    """Change only the eyes (gaze, openness) or only the mouth: every changed pixel lies inside the boxes."""
    base = ToyNuisance()
    for ident in range(12):
        face = G128.render(ident, nuisance=base)
        eyes = G128.render(ident, nuisance=dataclasses.replace(base, gaze=(0.8, 0.3), eye_open=0.7))
        mouth = G128.render(ident, nuisance=dataclasses.replace(base, mouth_open=1.0, smile=0.2))
        yy, xx = np.mgrid[0:128, 0:128]

        def inside(*parts):
            m = np.zeros((128, 128), bool)
            for p in parts:
                x1, y1, x2, y2 = face.boxes[p]
                m |= (xx >= x1 - 1) & (xx <= x2 + 1) & (yy >= y1 - 1) & (yy <= y2 + 1)
            return m

        changed_eyes = np.abs(eyes.image.astype(int) - face.image).max(-1) > 8
        changed_mouth = np.abs(mouth.image.astype(int) - face.image).max(-1) > 8
        assert changed_eyes.sum() > 20 and changed_mouth.sum() > 20
        assert not (changed_eyes & ~inside("left_eye", "right_eye")).any(), f"identity {ident}: eye outside box"
        # the mouth box is computed for the open mouth of that photo
        yy2 = yy
        x1, y1, x2, y2 = mouth.boxes["mouth"]
        in_open = (xx >= x1 - 1) & (xx <= x2 + 1) & (yy2 >= y1 - 1) & (yy2 <= y2 + 1)
        assert not (changed_mouth & ~(in_open | inside("mouth"))).any(), f"identity {ident}: mouth outside box"
        # boxes are centred on the eye landmarks
        for k, p in enumerate(("left_eye", "right_eye")):
            b = face.boxes[p]
            np.testing.assert_allclose([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2], face.landmarks[k], atol=1e-4)


def test_boxes_from_components_rules():
    comps = {"left_eye": (100, 200, 10), "right_eye": (300, 200, 10), "mouth": (200, 350, 40)}
    ours = boxes_from_components(comps)
    official = boxes_from_components(comps, official=True)
    np.testing.assert_allclose(ours["left_eye"], [86, 186, 114, 214])  # half 10 × 1.4
    np.testing.assert_allclose(official["left_eye"], [87, 187, 114, 214])  # [c − h + 1, c + h]
    np.testing.assert_allclose(official["mouth"], [161, 311, 240, 390])  # mouth not enlarged
    with pytest.raises(KeyError, match="mouth"):
        boxes_from_components({"left_eye": (1, 1, 1), "right_eye": (1, 1, 1)})


def test_hflip_mirrors_landmarks_and_boxes_and_swaps_the_eyes():
    f = G64.render(21, 3)
    img, lm, boxes = hflip_face(f.image, f.landmarks, f.boxes)
    np.testing.assert_array_equal(img, f.image[:, ::-1])
    np.testing.assert_allclose(lm[0], [63 - f.landmarks[1, 0], f.landmarks[1, 1]])  # new left eye = old right eye
    np.testing.assert_allclose(lm[3], [63 - f.landmarks[4, 0], f.landmarks[4, 1]])
    np.testing.assert_allclose(lm[2], [63 - f.landmarks[2, 0], f.landmarks[2, 1]])
    b = f.boxes["right_eye"]
    np.testing.assert_allclose(boxes["left_eye"], [63 - b[2], b[1], 63 - b[0], b[3]])
    # the crop of the flipped image in the flipped box is the mirror of the original crop (roi_align as GFPGAN)
    t, tf = img2tensor(f.image, bgr=False), img2tensor(img, bgr=False)
    for src, dst in (("right_eye", "left_eye"), ("left_eye", "right_eye"), ("mouth", "mouth")):
        orig = roi_align(t, [torch.from_numpy(f.boxes[src][None])], output_size=16)
        flip = roi_align(tf, [torch.from_numpy(boxes[dst][None])], output_size=16)
        torch.testing.assert_close(flip, orig.flip(-1), atol=1e-5, rtol=0)
    # flipping twice is the identity
    img2, lm2, boxes2 = hflip_face(img, lm, boxes)
    np.testing.assert_array_equal(img2, f.image)
    np.testing.assert_allclose(lm2, f.landmarks, atol=1e-5)


def test_splits_are_disjoint_and_used():
    cfg = ToyFaceConfig.tiny()
    assert cfg.size == 32
    assert not set(cfg.train_ids) & set(cfg.test_ids)
    b = G32.batch(50, np.random.default_rng(0), identities="test")
    assert all(i in G32.cfg.test_ids for i in b.identity)
    b = G32.batch(50, np.random.default_rng(0))
    assert all(i in G32.cfg.train_ids for i in b.identity)
    stream = G32.stream(seed=3)
    first = [next(stream) for _ in range(5)]
    again = G32.stream(seed=3)
    assert all(_same_face(a, next(again)) for a in first)
    assert all(f.identity in G32.cfg.train_ids for f in first)
    with pytest.raises(ValueError, match="disjoint"):
        ToyFaceConfig(num_train_identities=100, test_id_offset=50)


def test_batch_arrays_and_tensor():
    b = G32.batch(8, np.random.default_rng(0), identities=[5, 6, 7, 8, 9, 10, 11, 12])
    assert b.images.shape == (8, 32, 32, 3) and b.landmarks.shape == (8, 5, 2)
    np.testing.assert_array_equal(b.identity, np.arange(5, 13))
    assert b.boxes["mouth"].shape == (8, 4)
    x = b.tensor()
    assert x.shape == (8, 3, 32, 32) and x.dtype == torch.float32
    assert -1.0 <= x.min() and x.max() <= 1.0
    torch.testing.assert_close(x, img2tensor(b.images, bgr=False))
    torch.testing.assert_close(faces_to_tensor(b.images[0]), x[:1])
    # batch k is exactly render(ids[k]) with the shared generator's draws in order
    rng = np.random.default_rng(0)
    ref = G32.render(5, rng)
    np.testing.assert_array_equal(b.images[0], ref.image)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="size"):
        ToyFaceConfig(size=8)
    with pytest.raises(ValueError, match="probability"):
        ToyFaceConfig(glasses_prob=1.5)
    with pytest.raises(ValueError, match="non-negative"):
        G32.identity(-1)
    with pytest.raises(TypeError, match="Generator"):
        G32.sample_nuisance(np.random.RandomState(0))
    with pytest.raises(TypeError, match="ToyNuisance"):
        G32.render(1, nuisance={"smile": 1})
    with pytest.raises(ValueError, match="'train', 'test'"):
        G32.batch(2, 0, identities="val")
    with pytest.raises(TypeError, match="uint8"):
        faces_to_tensor(np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(TypeError, match="ToyFaceConfig"):
        ToyFaceGenerator({"size": 32})
