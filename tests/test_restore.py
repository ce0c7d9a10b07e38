"""gfplib.restore and `gfplib restore`: real photos in, restored photos out, offline with the shipped toy GFPGAN.

The references are independent of the code under test: OpenCV's Lanczos resize for the background, facexlib's own
paste-back (through gfplib.align) for the blending, the shipped landmarks for where faces are, Pillow for what a
file holds. Bad inputs must give one line naming the file, write nothing for it, and leave the batch running.
"""
import argparse
import importlib.metadata
import os
import socket
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from gfplib import align, cli
from gfplib import restore as R


@pytest.fixture(scope="module")
def net():
    return R.load_model("toy")


@pytest.fixture(scope="module")
def photo():
    return align.demo_photo("astronaut")


@pytest.fixture(scope="module")
def marks():
    return align.demo_landmarks("astronaut")


def _square_box(affine, size, upscale, pad):
    """Bounding box (x0, y0, x1, y1) of where the warped crop can be non-zero in the output (crop coordinates in
    (-1, size): bilinear ramps), grown by pad pixels."""
    inv = cv2.invertAffineTransform(affine) * upscale
    c = np.array([[-1, -1], [size, -1], [-1, size], [size, size]]) @ inv[:, :2].T + inv[:, 2] + (0.5 * upscale if upscale > 1 else 0)
    return (*np.floor(c.min(0) - pad).astype(int), *np.ceil(c.max(0) + pad).astype(int))


def _outside(shape, boxes):
    keep = np.ones(shape[:2], bool)
    for x0, y0, x1, y1 in boxes:
        keep[max(y0, 0):y1, max(x0, 0):x1] = False
    return keep


# ------------------------------------------------------------------------------------------------ the pipeline
def test_restore_faces_is_seeded(net, photo, marks):
    x = torch.from_numpy(align.align_face(photo, marks, 32).crop).permute(2, 0, 1)[None].float() / 127.5 - 1
    a, b, c = R.restore_faces(net, x, 0), R.restore_faces(net, x, 0), R.restore_faces(net, x, 1)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not a.requires_grad and a.shape == (1, 3, 32, 32)


def test_whole_photo_background_exact_and_face_as_facexlib(net, photo, marks):
    res = R.restore(photo, net, faces=[marks], upscale=2)
    assert res.image.shape == (1024, 1024, 3) and res.image.dtype == np.uint8
    assert len(res.restored) == 1 and res.restored[0].shape == (32, 32, 3) and res.cropped[0].shape == (32, 32, 3)
    lanczos = cv2.resize(photo, (1024, 1024), interpolation=cv2.INTER_LANCZOS4)
    far = _outside((1024, 1024), [_square_box(res.affines[0], 32, 2, 1)])
    assert np.array_equal(res.image[far], lanczos[far])  # pixel-exact away from the face
    assert np.abs(res.image[~far].astype(int) - lanczos[~far]).mean() > 3  # and the face was replaced
    # facexlib's full-frame paste-back (a second implementation): equal up to OpenCV's 1/32-px warp quantisation
    ref = align.paste_back(photo, res.restored, res.affines, upscale=2)
    diff = np.abs(ref.astype(int) - res.image.astype(int))
    assert diff.mean() < 0.1 and (diff > 2).mean() < 1e-3


def test_multi_face_scene_detected_restored_and_pasted(net):
    a, g = align.demo_photo("astronaut"), align.demo_photo("grace_hopper")
    la, lg = align.demo_landmarks("astronaut").landmarks, align.demo_landmarks("grace_hopper").landmarks
    scene, truth = np.full((520, 900, 3), 200, np.uint8), []
    for img, pts, (x, y), s in ((a, la, (10, 10), 0.9), (g, lg, (480, 40), 0.6), (a, la, (740, 380), 0.25)):
        im = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        scene[y:y + im.shape[0], x:x + im.shape[1]] = im
        truth.append(pts * s + (x, y))
    res = R.restore(scene, net, detector="mtcnn", upscale=1)
    assert len(res.faces) == 3  # faces with eye distances of about 53, 39 and 11 px
    for pts in truth:  # every placed face was found where its shipped landmarks say
        err = min(np.abs(f.landmarks - pts).max() / np.linalg.norm(pts[1] - pts[0]) for f in res.faces)
        assert err < 0.25
    far = _outside(scene.shape, [_square_box(A, 32, 1, 1) for A in res.affines])
    assert np.array_equal(res.image[far], scene[far])
    for A in res.affines:
        x0, y0, x1, y1 = _square_box(A, 32, 1, -10)  # inside each face, the restoration is there
        assert np.abs(res.image[y0:y1, x0:x1].astype(int) - scene[y0:y1, x0:x1]).mean() > 2
    centre = R.restore(scene, net, faces=res.faces, only_center_face=True, upscale=1)
    c = np.array([450, 260])
    nearest = min(res.faces, key=lambda f: np.linalg.norm((f.box[:2] + f.box[2:]) / 2 - c))
    assert len(centre.faces) == 1 and centre.faces[0] is nearest


def test_modes_gray_rgba_16bit_and_aligned(net, photo, marks):
    alpha = np.tile(np.linspace(0, 255, 512).astype(np.uint8), (512, 1))
    rgba = R.restore(np.dstack([photo, alpha]), net, faces=[marks], upscale=2).image
    assert rgba.shape == (1024, 1024, 4)
    assert np.array_equal(rgba[..., 3], cv2.resize(alpha, (1024, 1024), interpolation=cv2.INTER_LANCZOS4))
    gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    out = R.restore(gray, net, faces=[marks], upscale=1).image
    assert out.shape == gray.shape and out.dtype == np.uint8
    deep = photo.astype(np.uint16) * 256 + 100  # uses the low byte too
    out = R.restore(deep, net, faces=[marks], upscale=2)
    far = _outside((1024, 1024), [_square_box(out.affines[0], 32, 2, 1)])
    lanczos = cv2.resize(deep, (1024, 1024), interpolation=cv2.INTER_LANCZOS4)
    assert out.image.dtype == np.uint16 and np.array_equal(out.image[far], lanczos[far])
    face = R.restore(photo, net, aligned=True)
    assert face.image.shape == (32, 32, 3) and not face.faces


def test_limits_and_bad_arguments(net):
    with pytest.raises(R.RestoreError, match=r"400×300 at upscale 4 .* over the limit of 1 MP"):
        R.restore(np.zeros((300, 400, 3), np.uint8), net, upscale=4, max_megapixels=1)
    with pytest.raises(ValueError, match="upscale must be an integer"):
        R.restore(np.zeros((30, 40, 3), np.uint8), net, upscale=0)
    with pytest.raises(TypeError, match="dtype float64"):
        R.restore(np.zeros((30, 40, 3)), net)


# ------------------------------------------------------------------------------------------------ files
def test_read_image_modes(tmp_path, photo):
    Image.fromarray(photo).quantize(32).save(tmp_path / "pal.png")
    Image.fromarray(photo).quantize(32).save(tmp_path / "palt.png", transparency=0)
    Image.fromarray(photo).convert("LA").save(tmp_path / "la.png")
    cv2.imwrite(str(tmp_path / "deep.tif"), photo[..., ::-1].astype(np.uint16) * 257)
    Image.fromarray(np.full((20, 30), 40000, np.uint16)).save(tmp_path / "g16.png")
    rotated = Image.fromarray(np.rot90(photo[:, :400], 1).copy())  # stored on its side, EXIF says "turn 90° CW"
    exif = rotated.getexif()
    exif[0x0112] = 6
    rotated.save(tmp_path / "exif.jpg", exif=exif.tobytes(), quality=95)
    assert R.read_image(tmp_path / "pal.png").shape == (512, 512, 3)
    assert R.read_image(tmp_path / "palt.png").shape == (512, 512, 4)
    assert R.read_image(tmp_path / "la.png").shape == (512, 512, 4)
    deep = R.read_image(tmp_path / "deep.tif")
    assert deep.dtype == np.uint16 and np.array_equal(deep, photo.astype(np.uint16) * 257)
    g16 = R.read_image(tmp_path / "g16.png")
    assert g16.dtype == np.uint16 and g16.shape == (20, 30) and (g16 == 40000).all()
    up = R.read_image(tmp_path / "exif.jpg")
    assert up.shape == (512, 400, 3) and np.abs(up.astype(int) - photo[:, :400]).mean() < 4


def test_write_image_is_atomic(tmp_path, monkeypatch, photo):
    target = tmp_path / "out" / "a.png"
    R.write_image(target, photo)
    assert np.array_equal(np.asarray(Image.open(target)), photo) and os.listdir(target.parent) == ["a.png"]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # as open() would make it, not mkstemp's 0600

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        R.write_image(tmp_path / "out" / "b.png", photo)
    assert os.listdir(target.parent) == ["a.png"]  # neither b.png nor its temporary file


# ------------------------------------------------------------------------------------------------ the command
def _run(argv):
    return cli.main(["restore", *map(str, argv)])


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, photo):
    d = tmp_path_factory.mktemp("in")
    small = cv2.resize(photo, (256, 256), interpolation=cv2.INTER_AREA)
    Image.fromarray(small).save(d / "face.jpg", quality=95)
    Image.fromarray(np.full((60, 80, 3), 120, np.uint8)).save(d / "wall.png")
    (d / "empty.png").write_bytes(b"")
    data = (d / "face.jpg").read_bytes()
    (d / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (d / "notes.png").write_text("not an image")
    (d / "readme.txt").write_text("skipped by name")
    return d


def test_command_batch_with_bad_files(net, inputs, tmp_path, capsys):
    out = tmp_path / "out"
    assert _run([inputs, "-o", out, "--model", "toy", "--device", "cpu"]) == 1
    err = capsys.readouterr()
    for name, why in (("empty.png", "empty file"), ("truncated.jpg", "truncated"), ("notes.png", "not an image")):
        line = next(ln for ln in err.err.splitlines() if name in ln)
        assert why in line
    assert "Traceback" not in err.err and f"no face found in {inputs / 'wall.png'}" in err.err
    assert "2 of 5 images restored" in err.out and "3 failed" in err.out and "readme.txt (not an image name)" in err.out
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == ["cmp/face_00.png", "cropped_faces/face_00.png", "restored_faces/face_00.png",
                     "restored_imgs/face.jpg", "restored_imgs/wall.png"]  # nothing for the bad files, no temporaries
    assert Image.open(out / "restored_imgs" / "wall.png").size == (160, 120)  # upscaled ×2 all the same
    assert Image.open(out / "cmp" / "face_00.png").size == (64, 32)


def test_command_no_face_only_is_success(net, inputs, tmp_path, capsys):
    assert _run([inputs / "wall.png", "-o", tmp_path, "--model", "toy", "--upscale", "1"]) == 0
    assert Image.open(tmp_path / "restored_imgs" / "wall.png").size == (80, 60)


def test_command_offline_official_weights(inputs, tmp_path, monkeypatch, capsys):
    def refuse(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("GFPLIB_CACHE", str(tmp_path / "cache"))
    assert _run([inputs / "face.jpg", "-o", tmp_path / "out", "--model", "v1.4"]) == 2
    err = capsys.readouterr().err
    assert "https://github.com/TencentARC/GFPGAN/releases/download/v1.3.0/GFPGANv1.4.pth" in err
    assert str(tmp_path / "cache" / "GFPGANv1.4.pth") in err and "--model toy" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_command_wrong_checkpoints(inputs, tmp_path, capsys):
    junk, other = tmp_path / "junk.pth", tmp_path / "other.pth"
    junk.write_bytes(b"\x00not a checkpoint")
    torch.save({"params": {"conv.weight": torch.zeros(3, 3)}}, other)
    assert _run([inputs / "face.jpg", "-o", tmp_path / "o", "--model", junk]) == 2
    assert "not a valid PyTorch checkpoint" in capsys.readouterr().err
    assert _run([inputs / "face.jpg", "-o", tmp_path / "o", "--model", other]) == 2
    err = capsys.readouterr().err
    assert "is not a GFPGAN checkpoint" in err and "unexpected in checkpoint: conv.weight" in err
    assert _run([inputs / "face.jpg", "-o", tmp_path / "o", "--model", "v9"]) == 2
    assert "neither a model name" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_checkpoint_path_is_matched_to_its_architecture(tmp_path, net):
    from gfplib.checkpoints import save_weights

    save_weights(tmp_path / "mine.pth", params_ema=net)
    loaded = R.load_model(str(tmp_path / "mine.pth"))
    assert loaded.out_size == 32 and all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(),
                                                                          net.state_dict().values()))


def test_console_script_and_module_entry_points():
    eps = {e.name: e.value for e in importlib.metadata.entry_points(group="console_scripts")}
    assert eps.get("gfplib") == "gfplib.cli:main"
    parser = argparse.ArgumentParser()
    R.add_arguments(parser)
    args = parser.parse_args(["a.png"])
    assert (args.model, args.upscale, args.seed, args.output, args.ext) == ("v1.4", 2, 0, "results", "auto")


@pytest.mark.slow
def test_installed_command_runs(inputs, tmp_path):
    import subprocess
    import sys

    exe = Path(sys.executable).with_name("gfplib")
    assert exe.is_file(), "the gfplib console script is not installed (pip install -e .)"
    done = subprocess.run([str(exe), "restore", str(inputs / "face.jpg"), "-o", str(tmp_path), "--model", "toy"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "restored_imgs" / "face.jpg").is_file()
    mod = subprocess.run([sys.executable, "-m", "gfplib.restore", "--help"], capture_output=True, text=True)
    assert mod.returncode == 0 and "--only-center-face" in mod.stdout


@pytest.mark.slow  # ParseNet at 512² takes ~10-20 s on 2 CPU cores
def test_parsenet_mask_is_used_when_cached_and_matches_facexlib(monkeypatch, tmp_path, net, photo, marks):
    import dataclasses
    import hashlib

    from facexlib.parsing.parsenet import ParseNet

    from gfplib import weights

    torch.manual_seed(0)
    torch.save(ParseNet(in_size=512, out_size=512, parsing_ch=19).state_dict(), tmp_path / "parsing_parsenet.pth")
    digest = hashlib.sha256((tmp_path / "parsing_parsenet.pth").read_bytes()).hexdigest()
    fake = dataclasses.replace(weights.REGISTRY["parsenet"], sha256=digest, size=None, notes="random stand-in")
    monkeypatch.setitem(weights.REGISTRY, "parsenet", fake)
    monkeypatch.setenv("GFPLIB_CACHE", str(tmp_path))
    monkeypatch.setattr(align, "_DETECTORS", {})
    res = R.restore(photo, net, faces=[marks], upscale=1)  # use_parse=None: ParseNet because it is cached
    assert ("parsenet", "cpu") in align._DETECTORS
    ref = align.paste_back(photo, res.restored, res.affines, use_parse=True)  # facexlib's parsing paste-back
    diff = np.abs(ref.astype(int) - res.image)
    assert diff.mean() < 0.1 and (diff > 2).mean() < 1e-3
    square = R.restore(photo, net, faces=[marks], upscale=1, use_parse=False).image
    assert not np.array_equal(res.image, square)
