"""Tests for gfplib.utils: seeding, device choice, image validation and the uint8 ↔ tensor conversions."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from gfplib import utils


@pytest.fixture
def img():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    x[0, 0] = (0, 0, 0)
    x[0, 1] = (255, 255, 255)
    return x


# ---------------------------------------------------------------------------------------------------- conversions
def test_round_trip_is_exact_for_every_uint8_value():
    levels = np.arange(256, dtype=np.uint8)
    x = np.stack([levels, levels[::-1], np.roll(levels, 7)], axis=-1).reshape(16, 16, 3)
    for bgr in (True, False):
        t = utils.img2tensor(x, bgr=bgr)
        np.testing.assert_array_equal(utils.tensor2img(t, bgr=bgr)[0], x)


def test_normalize_and_denormalize_closed_forms():
    u = torch.arange(256, dtype=torch.uint8)
    t = utils.normalize(u)
    assert t.dtype == torch.float32 and t[0] == -1 and t[255] == 1
    np.testing.assert_allclose(t.numpy(), np.arange(256) / 127.5 - 1, rtol=0, atol=1e-7)  # t = x / 127.5 − 1
    assert torch.equal(t, u.float() / 127.5 - 1)  # bit for bit what the trainers computed before
    assert torch.equal(utils.normalize(u.float() / 255), t)  # float [0, 1] input: the same tensor
    f = torch.tensor([0.25, 0.5, 0.75])
    assert utils.normalize(f).tolist() == [-0.5, 0.0, 0.5] and f.tolist() == [0.25, 0.5, 0.75]  # input untouched
    assert torch.equal(utils.denormalize(t), u)  # exact round trip
    assert utils.denormalize(torch.tensor([-7.0, 7.0, 0.0, 1 / 255])).tolist() == [0, 255, 128, 128]  # clamp, round
    with pytest.raises(TypeError, match="uint8 or floating"):
        utils.normalize(torch.zeros(3, dtype=torch.int64))


def test_img2tensor_values_shape_and_order(img):
    t = utils.img2tensor(img, bgr=True)
    assert t.shape == (1, 3, 5, 7) and t.dtype == torch.float32
    assert t.min() >= -1 and t.max() <= 1
    # BGR input: tensor channel 0 (R) is image channel 2
    np.testing.assert_allclose(t[0, 0].numpy(), img[..., 2] / 127.5 - 1, atol=1e-6)
    np.testing.assert_allclose(t[0, 2].numpy(), img[..., 0] / 127.5 - 1, atol=1e-6)
    t_rgb = utils.img2tensor(img, bgr=False)
    np.testing.assert_allclose(t_rgb[0, 0].numpy(), img[..., 0] / 127.5 - 1, atol=1e-6)
    assert torch.equal(t_rgb, t.flip(1))
    assert t[0, :, 0, 0].tolist() == [-1.0, -1.0, -1.0] and t[0, :, 0, 1].tolist() == [1.0, 1.0, 1.0]


def test_batches(img):
    batch = np.stack([img, img[::-1]])
    t = utils.img2tensor(batch, bgr=False)
    assert t.shape == (2, 3, 5, 7)
    back = utils.tensor2img(t, bgr=False)
    assert back.shape == (2, 5, 7, 3) and back.dtype == np.uint8
    np.testing.assert_array_equal(back, batch)
    single = utils.tensor2img(t[0], bgr=False)
    assert single.shape == (5, 7, 3)


def test_tensor2img_clamps_rounds_and_orders():
    t = torch.tensor([2.0, -3.0, 0.0]).view(1, 3, 1, 1)  # R clamps to 1, G to -1, B is mid-gray
    assert utils.tensor2img(t, bgr=False)[0, 0, 0].tolist() == [255, 0, 128]  # 127.5 rounds to even → 128
    assert utils.tensor2img(t, bgr=True)[0, 0, 0].tolist() == [128, 0, 255]
    assert utils.tensor2img(t.double(), bgr=False).dtype == np.uint8


@pytest.mark.parametrize("bad,exc,msg", [
    (np.zeros((4, 4, 3), np.float32), TypeError, "dtype"),
    (np.zeros((4, 4, 1), np.uint8), ValueError, "channel"),
    (np.zeros((4, 4, 4), np.uint8), ValueError, "channel"),
    (np.zeros((4, 4), np.uint8), ValueError, "shape"),
    (np.zeros((0, 4, 3), np.uint8), ValueError, "empty"),
    (np.zeros((0, 4, 4, 3), np.uint8), ValueError, "empty"),
    ([[1, 2, 3]], TypeError, "ndarray"),
])
def test_img2tensor_rejects_bad_input(bad, exc, msg):
    with pytest.raises(exc, match=msg):
        utils.img2tensor(bad)


@pytest.mark.parametrize("bad,exc,msg", [
    (np.zeros((3, 4, 4), np.float32), TypeError, "Tensor"),
    (torch.zeros(1, 3, 4, 4, dtype=torch.uint8), TypeError, "floating"),
    (torch.zeros(1, 1, 4, 4), ValueError, "shape"),
    (torch.zeros(1, 4, 4, 4), ValueError, "shape"),
    (torch.zeros(3, 4), ValueError, "shape"),
    (torch.zeros(0, 3, 4, 4), ValueError, "empty"),
    (torch.full((1, 3, 2, 2), float("nan")), ValueError, "NaN"),
])
def test_tensor2img_rejects_bad_input(bad, exc, msg):
    with pytest.raises(exc, match=msg):
        utils.tensor2img(bad)


def test_check_image():
    ok = np.zeros((2, 3, 3), np.float32)
    assert utils.check_image(ok) is ok
    assert utils.check_image(np.zeros((2, 3), np.uint8), channels=(1, 3)).shape == (2, 3)
    with pytest.raises(ValueError, match="NaN or infinite"):
        utils.check_image(np.array([[[0, np.inf, 0]]], np.float32))
    with pytest.raises(ValueError, match="2 channel"):
        utils.check_image(np.zeros((2, 2, 2), np.uint8), name="mask")
    with pytest.raises(TypeError, match="photo has dtype int64"):
        utils.check_image(np.zeros((2, 2, 3), np.int64), name="photo")


# ---------------------------------------------------------------------------------------------------- seeding, device
def test_seed_everything_reproduces_every_generator():
    def draw(seed):
        rng = utils.seed_everything(seed)
        return (random.random(), np.random.rand(), torch.rand(3).tolist(), rng.random())

    a, b, c = draw(123), draw(123), draw(124)
    assert a == b
    assert all(x != y for x, y in zip(a, c))
    assert isinstance(utils.seed_everything(0), np.random.Generator)


@pytest.mark.parametrize("bad,exc", [(-1, ValueError), (2**32, ValueError), (1.5, TypeError), ("0", TypeError),
                                     (True, TypeError)])
def test_seed_everything_rejects_bad_seeds(bad, exc):
    with pytest.raises(exc):
        utils.seed_everything(bad)


def test_pick_device_cpu_and_unavailable(monkeypatch):
    assert utils.pick_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        utils.pick_device("cuda")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        utils.pick_device("cuda:1")
    with pytest.raises(ValueError, match="unknown device"):
        utils.pick_device("quantum")
    auto = utils.pick_device()
    assert auto.type in ("cpu", "mps")


def test_pick_device_prefers_cuda_when_present(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert utils.pick_device() == torch.device("cuda")
    assert utils.pick_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(RuntimeError, match="only 1 CUDA"):
        utils.pick_device("cuda:3")


def test_data_dir(monkeypatch, tmp_path):
    assert (utils.data_dir() / "README.md").is_file()
    monkeypatch.setenv("GFPLIB_DATA", str(tmp_path))
    assert utils.data_dir() == tmp_path
    monkeypatch.setenv("GFPLIB_DATA", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="GFPLIB_DATA"):
        utils.data_dir()


def test_on_colab(monkeypatch):
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    assert utils.on_colab() is False
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab_20250101-060000_RC00")
    assert utils.on_colab() is True
