"""`gfplib evaluate`: folders of toy faces written as PNG, scored end to end offline with the toy metrics."""
from __future__ import annotations

import csv
import socket
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from gfplib import cli, evaluate
from gfplib import metrics as M
from gfplib.data import ToyFaceConfig, ToyFaceGenerator
from gfplib.pretrain import load_toy_arcface, load_toy_vgg


@pytest.fixture(scope="module")
def faces():
    gen = ToyFaceGenerator(ToyFaceConfig(size=32))
    gt = np.stack([gen.render(p, 0).image for p in list(ToyFaceConfig(size=32).test_ids)[:6]])
    rng = np.random.default_rng(0)
    restored = np.clip(gt.astype(int) + rng.integers(-30, 31, gt.shape), 0, 255).astype(np.uint8)
    restored[0] = gt[0]  # one perfect restoration
    return restored, gt


def _write(folder, images, ext=".png"):
    folder.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(images):
        cv2.imwrite(str(folder / f"face_{i:03d}{ext}"), im[..., ::-1])  # RGB → BGR at the file boundary
    return folder


@pytest.fixture
def folders(tmp_path, faces):
    restored, gt = faces
    return _write(tmp_path / "restored", restored), _write(tmp_path / "gt", gt)


def test_toy_evaluation_end_to_end(folders, faces, tmp_path, capsys):
    out = tmp_path / "results.csv"
    rc = cli.main(["evaluate", str(folders[0]), str(folders[1]), "--toy", "-o", str(out), "--no-progress"])
    assert rc == 0
    table = capsys.readouterr().out
    for m in evaluate.TOY_METRICS:
        assert m in table
    assert "±" in table and "(set)" in table
    rows = list(csv.DictReader(open(out)))
    assert [r["name"] for r in rows] == [f"face_{i:03d}" for i in range(6)] + ["mean", "std"]
    restored, gt = faces
    # PSNR of each file, from the arrays by the formula: 10 log10(255² / MSE)
    mse = ((restored.astype(float) - gt) ** 2).reshape(6, -1).mean(1)
    expected = 10 * np.log10(255.0 ** 2 / np.where(mse == 0, np.nan, mse))
    assert rows[0]["psnr"] == "inf"
    np.testing.assert_allclose([float(r["psnr"]) for r in rows[1:6]], expected[1:], rtol=1e-5)
    assert float(rows[0]["deg"]) < 0.5 and all(float(r["deg"]) > 0 for r in rows[1:6])
    # the set metrics: the Fréchet distances of the two sets in the toy spaces
    as_t = lambda u: M.as_tensor_batch(u)  # noqa: E731
    fd_vgg = M.set_frechet_distance(M.vgg_embedder(load_toy_vgg()), as_t(restored), as_t(gt))
    fd_id = M.set_frechet_distance(M.identity_embedder(load_toy_arcface()), as_t(restored), as_t(gt))
    assert float(rows[6]["fd_vgg"]) == pytest.approx(fd_vgg, rel=1e-4)
    assert float(rows[6]["fd_id"]) == pytest.approx(fd_id, rel=1e-4)
    assert rows[7]["fd_vgg"] == ""  # no std of a set metric


def test_files_pair_by_name_across_extensions(tmp_path, faces):
    restored, gt = faces
    _write(tmp_path / "r", restored[:3], ".png"), _write(tmp_path / "g", gt[:3], ".jpg")
    assert [n for n, _, _ in evaluate.pair_files(tmp_path / "r", tmp_path / "g")] == ["face_000", "face_001",
                                                                                        "face_002"]


def test_unpaired_files_are_listed(folders, capsys):
    (folders[0] / "face_000.png").rename(folders[0] / "extra.png")
    rc = cli.main(["evaluate", str(folders[0]), str(folders[1]), "--toy", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "1 restored image(s) without ground truth: extra.png" in err
    assert "1 ground-truth image(s) without a restoration: face_000.png" in err


def test_size_mismatch_and_bad_metric_names_are_refused(folders, capsys):
    cv2.imwrite(str(folders[0] / "face_002.png"), np.zeros((16, 16, 3), np.uint8))
    assert cli.main(["evaluate", str(folders[0]), str(folders[1]), "--toy", "--no-progress",
                     "--metrics", "psnr"]) == 2
    assert "face_002: restored face_002.png is 16×16 but ground truth face_002.png is 32×32" in capsys.readouterr().err
    for metrics, match in (("psnr,sharpness", "unknown metric"), ("niqe", "NIQE is not offered"),
                           ("percep", "add --toy")):
        assert cli.main(["evaluate", str(folders[0]), str(folders[1]), "--metrics", metrics]) == 2
        assert match in capsys.readouterr().err


def test_offline_networks_give_a_clear_message(folders, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("GFPLIB_CACHE", str(tmp_path / "empty_cache"))

    def refuse(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    rc = cli.main(["evaluate", str(folders[0]), str(folders[1]), "--metrics", "psnr,deg", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "arcface_resnet18.pth" in err and "offline?" in err and "--toy" in err


def test_pairs_of_different_sizes_are_scored_in_name_order(folders, faces):
    restored, gt = faces
    small = lambda im: np.ascontiguousarray(im[::2, ::2])  # noqa: E731
    for folder, im in ((folders[0], restored[4]), (folders[1], gt[4])):
        cv2.imwrite(str(folder / "face_001.png"), small(im)[..., ::-1])
    rows, _ = evaluate.evaluate_folders(*folders, ["psnr"], batch_size=4, progress=False)
    assert [r["name"] for r in rows] == [f"face_{i:03d}" for i in range(6)]
    assert rows[1]["psnr"] == pytest.approx(M.psnr(small(restored[4]), small(gt[4])))
    assert rows[2]["psnr"] == pytest.approx(M.psnr(restored[2], gt[2]))


def test_y_channel_and_crop_reach_the_pixel_metrics(folders, faces):
    rows, _ = evaluate.evaluate_folders(*folders, ["psnr", "ssim"], y_channel=True, crop_border=2, progress=False)
    restored, gt = faces
    np.testing.assert_allclose([r["psnr"] for r in rows[1:]], M.psnr(restored[1:], gt[1:], y_channel=True,
                                                                     crop_border=2))


def test_python_dash_m_runs_the_same_program(folders):
    res = subprocess.run([sys.executable, "-m", "gfplib.evaluate", str(folders[0]), str(folders[1]), "--toy",
                          "--metrics", "psnr,ssim", "--no-progress"], capture_output=True, text=True, timeout=120,
                         env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert res.returncode == 0, res.stderr
    assert "psnr" in res.stdout and "6 image pairs" in res.stdout
