"""Paired datasets: GT/LQ pairing, boxes and flips, determinism across DataLoader workers, folder errors."""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from torchvision.ops import roi_align

from gfplib.data import (FFHQFolderDataset, ToyFaceConfig, ToyFaceDataset, ToyFaceGenerator, boxes_from_components,
                         collate_pairs, hflip_face, load_component_file)
from gfplib.degradation import DegradationConfig, degrade

CFG = ToyFaceConfig(size=32, num_train_identities=500, num_test_identities=100)
LOCS = ("loc_left_eye", "loc_right_eye", "loc_mouth")


def _t(img):  # uint8 RGB (H, W, 3) → (3, H, W) in [-1, 1]
    return torch.from_numpy(img.astype(np.float32).transpose(2, 0, 1) / 255.0) * 2 - 1


def _index_with_flip(ds, flipped):
    return next(i for i in range(len(ds)) if ds.face(i)[1] == flipped)


def test_toy_item_format():
    ds = ToyFaceDataset(CFG, length=20)
    s = ds[0]
    assert s["gt"].shape == s["lq"].shape == (3, 32, 32)
    assert s["gt"].dtype == s["lq"].dtype == torch.float32
    for k in ("gt", "lq"):
        assert -1.0 <= float(s[k].min()) and float(s[k].max()) <= 1.0
    for k in LOCS:
        assert s[k].shape == (4,) and s[k].dtype == torch.float32
    assert s["landmarks"].shape == (5, 2) and s["identity"].dtype == torch.int64
    assert int(s["identity"]) in CFG.train_ids
    assert len(ds) == 20 and "ToyFaceDataset" in repr(ds)
    assert all(int(ToyFaceDataset(CFG, split="test", length=5)[i]["identity"]) in CFG.test_ids for i in range(5))


def test_toy_pairing_reproduces_generator_and_degradation():
    """gt is exactly the generator's face; lq is exactly degrade(gt) with the sample's generator, and differs."""
    ds = ToyFaceDataset(CFG, length=40, seed=3)
    for flipped in (False, True):
        i = _index_with_flip(ds, flipped)
        s = ds[i]
        rng = ds.rng(i)  # replay the draws in the documented order: person, photo, flip, degradation
        ident = ds.ids[int(rng.integers(len(ds.ids)))]
        face = ToyFaceGenerator(CFG).render(ident, rng)
        assert bool(rng.random() < 0.5) == flipped
        img, lm, boxes = hflip_face(face.image, face.landmarks, face.boxes) if flipped else \
            (face.image, face.landmarks, face.boxes)
        torch.testing.assert_close(s["gt"], _t(img))
        lq = degrade(img, rng, DegradationConfig.for_size(32)).lq
        torch.testing.assert_close(s["lq"], _t((lq * 255).round().astype(np.uint8)), atol=1e-6, rtol=0)
        assert (s["lq"] - s["gt"]).abs().mean() > 0.005
        np.testing.assert_allclose(s["loc_left_eye"].numpy(), boxes["left_eye"])
        np.testing.assert_allclose(s["landmarks"].numpy(), lm)
        assert int(s["identity"]) == ident and s["flipped"] == flipped


def test_toy_flip_mirrors_boxes_and_swaps_eyes_on_the_image():
    ds = ToyFaceDataset(CFG, length=40, seed=1)
    i = _index_with_flip(ds, True)
    s = ds[i]
    face = ds.face(i)[0]
    orig = _t(face.image)[None]
    for src, dst in (("right_eye", "left_eye"), ("left_eye", "right_eye"), ("mouth", "mouth")):
        b = face.boxes[src]
        np.testing.assert_allclose(s[f"loc_{dst}"].numpy(), [31 - b[2], b[1], 31 - b[0], b[3]], atol=1e-5)
        crop = roi_align(s["gt"][None], [s[f"loc_{dst}"][None]], output_size=12)
        ref = roi_align(orig, [torch.from_numpy(b[None])], output_size=12).flip(-1)
        torch.testing.assert_close(crop, ref, atol=1e-5, rtol=0)
    assert not any(ToyFaceDataset(CFG, length=20, use_hflip=False)[k]["flipped"] for k in range(20))


def test_toy_determinism_seed_and_epoch():
    a, b = ToyFaceDataset(CFG, length=10, seed=5), ToyFaceDataset(CFG, length=10, seed=5)
    for k in ("gt", "lq", "loc_mouth"):
        torch.testing.assert_close(a[4][k], b[4][k], atol=0, rtol=0)
    assert not torch.equal(a[4]["gt"], ToyFaceDataset(CFG, length=10, seed=6)[4]["gt"])
    b.set_epoch(1)
    assert not torch.equal(a[4]["gt"], b[4]["gt"])
    b.set_epoch(0)
    assert torch.equal(a[4]["lq"], b[4]["lq"])
    with pytest.raises(ValueError, match="seed"):
        ToyFaceDataset(CFG, seed=-1)


def test_dataloader_workers_give_the_same_batches():
    ds = ToyFaceDataset(CFG, length=8, seed=2)
    single = next(iter(DataLoader(ds, batch_size=8, num_workers=0)))
    multi = next(iter(DataLoader(ds, batch_size=8, num_workers=2)))
    for k in ("gt", "lq", *LOCS, "identity", "landmarks"):
        assert torch.equal(single[k], multi[k]), k
    assert single["gt"].shape == (8, 3, 32, 32)


def test_return_params_and_collate():
    ds = ToyFaceDataset(CFG, length=4, return_params=True)
    batch = collate_pairs([ds[0], ds[1]])
    assert batch["gt"].shape == (2, 3, 32, 32) and len(batch["params"]) == 2
    assert batch["params"][0].kernel_size == DegradationConfig.for_size(32).kernel_size
    assert batch["flipped"].dtype == torch.bool
    gray = dataclasses.replace(DegradationConfig.for_size(32), gray_prob=1.0)
    for gt_gray in (True, False):
        s = ToyFaceDataset(CFG, length=2, degradation=gray, gt_gray=gt_gray)[0]
        assert torch.equal(s["lq"][0], s["lq"][1])  # gray LQ
        assert torch.equal(s["gt"][0], s["gt"][2]) == gt_gray  # gt_gray=True pairs it with a gray GT
    # official default (gt_gray commented out in train_gfpgan_v1.yml): a gray LQ keeps its colour GT
    s = ToyFaceDataset(CFG, length=2, degradation=gray)[0]
    assert torch.equal(s["lq"][0], s["lq"][1]) and not torch.equal(s["gt"][0], s["gt"][2])
    with pytest.raises(ValueError, match="DegradationConfig.for_size"):
        ToyFaceDataset(CFG, degradation=DegradationConfig())  # calibrated for 512², images are 32²


# ---------------------------------------------------------------------------------------------------------------
# Folder of aligned faces (FFHQ layout)
# ---------------------------------------------------------------------------------------------------------------
def _ffhq_folder(tmp_path, n=4, size=64, numpy_values=False):
    """PNG faces named like FFHQ (00000.png …) and a box file in the official 512-pixel format."""
    gen = ToyFaceGenerator(ToyFaceConfig(size=size))
    root = tmp_path / "ffhq"
    root.mkdir()
    comps, images = {}, []
    for i in range(n):
        f = gen.render(i, i)
        cv2.imwrite(str(root / f"{i:05d}.png"), f.image[..., ::-1])  # files are BGR
        images.append(f.image)
        k = 512 / size
        entry = {p: [float(f.boxes[p][0] + f.boxes[p][2]) / 2 * k, float(f.boxes[p][1] + f.boxes[p][3]) / 2 * k,
                     float(f.boxes[p][2] - f.boxes[p][0]) / 2 * k / (1.4 if "eye" in p else 1.0)]
                 for p in ("left_eye", "right_eye", "mouth")}
        if numpy_values:  # arrays and NumPy scalars, as files written from NumPy code contain
            entry = {p: (np.asarray(v, dtype=np.float64) if p != "mouth" else [np.float32(x) for x in v])
                     for p, v in entry.items()}
        comps[f"{i:08d}"] = entry
    torch.save(comps, tmp_path / "boxes.pth")
    return root, tmp_path / "boxes.pth", images, comps


@pytest.mark.parametrize("numpy_values", [False, True])
def test_folder_dataset_pairs_and_official_boxes(tmp_path, numpy_values):
    root, box_file, images, comps = _ffhq_folder(tmp_path, numpy_values=numpy_values)
    ds = FFHQFolderDataset(root, out_size=64, component_path=box_file, seed=0)
    assert len(ds) == 4
    for i in range(4):
        s = ds[i]
        img = images[i][:, ::-1] if s["flipped"] else images[i]
        torch.testing.assert_close(s["gt"], _t(np.ascontiguousarray(img)))  # RGB, the file's pixels
        assert (s["lq"] - s["gt"]).abs().mean() > 0.005
        c = {p: np.array(v, dtype=np.float64) / 8 for p, v in comps[f"{i:08d}"].items()}  # 512 → 64 pixels
        if s["flipped"]:  # official rule: eyes swap, cx → W − cx
            c = {"left_eye": c["right_eye"], "right_eye": c["left_eye"], "mouth": c["mouth"]}
            for v in c.values():
                v[0] = 64 - v[0]
        # official box rule: [c − half + 1, c + half], eyes × 1.4
        cx, cy, h = c["left_eye"]
        np.testing.assert_allclose(s["loc_left_eye"].numpy(), [cx - 1.4 * h + 1, cy - 1.4 * h + 1,
                                                               cx + 1.4 * h, cy + 1.4 * h], atol=1e-4)
        np.testing.assert_allclose(s["loc_mouth"].numpy(), boxes_from_components(c, official=True)["mouth"],
                                   atol=1e-4)
    assert {ds[i]["flipped"] for i in range(4)} == {True, False}  # seed 0 flips some, not all


def test_folder_dataset_resizes_and_works_without_boxes(tmp_path):
    root, _, images, _ = _ffhq_folder(tmp_path, n=2, size=64)
    ds = FFHQFolderDataset(root, out_size=32, use_hflip=False)
    s = ds[1]
    assert set(LOCS).isdisjoint(s)
    ref = cv2.resize(images[1], (32, 32), interpolation=cv2.INTER_AREA)
    torch.testing.assert_close(s["gt"], _t(ref))
    assert s["gt_path"].endswith("00001.png")
    batch = next(iter(DataLoader(ds, batch_size=2, num_workers=0)))
    assert batch["lq"].shape == (2, 3, 32, 32)
    gray = dataclasses.replace(DegradationConfig.for_size(32), gray_prob=1.0)
    for kw, gray_gt in (({}, False), ({"gt_gray": True}, True)):  # official default: the GT keeps its colour
        s = FFHQFolderDataset(root, out_size=32, use_hflip=False, degradation=gray, **kw)[1]
        assert torch.equal(s["lq"][0], s["lq"][2]) and torch.equal(s["gt"][0], s["gt"][2]) == gray_gt


def test_folder_dataset_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        FFHQFolderDataset(tmp_path / "nope", out_size=64)
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(NotADirectoryError, match="folder"):
        FFHQFolderDataset(tmp_path / "file.png", out_size=64)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no faces here")
    with pytest.raises(ValueError, match="no images"):
        FFHQFolderDataset(empty, out_size=64)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "00000.png").write_bytes(b"not a png")
    cv2.imwrite(str(bad / "00001.png"), np.zeros((64, 48, 3), np.uint8))
    cv2.imwrite(str(bad / "00002.png"), np.zeros((8, 8, 3), np.uint8))
    ds = FFHQFolderDataset(bad, out_size=64)
    with pytest.raises(ValueError, match="cannot read"):
        ds[0]
    with pytest.raises(ValueError, match="square"):
        ds[1]
    with pytest.raises(ValueError, match="at least"):
        ds[2]
    with pytest.raises(IndexError):
        ds[3]


def test_component_file_errors(tmp_path):
    root, box_file, _, comps = _ffhq_folder(tmp_path, n=2)
    assert load_component_file(box_file)["00000001"]["mouth"].shape == (3,)
    with pytest.raises(FileNotFoundError, match="component-box file"):
        FFHQFolderDataset(root, out_size=64, component_path=tmp_path / "missing.pth")
    cases = {
        "list.pth": [1, 2, 3],
        "nomouth.pth": {"00000000": {"left_eye": [1, 2, 3], "right_eye": [1, 2, 3]}},
        "short.pth": {"00000000": {"left_eye": [1, 2], "right_eye": [1, 2, 3], "mouth": [1, 2, 3]}},
        "negative.pth": {"00000000": {"left_eye": [1, 2, -3], "right_eye": [1, 2, 3], "mouth": [1, 2, 3]}},
    }
    for name, obj in cases.items():
        torch.save(obj, tmp_path / name)
        with pytest.raises(ValueError):
            load_component_file(tmp_path / name)
    (tmp_path / "garbage.pth").write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match="not a readable"):
        load_component_file(tmp_path / "garbage.pth")
    torch.save({"00000000": comps["00000000"]}, tmp_path / "partial.pth")  # no entry for 00001.png
    with pytest.raises(ValueError, match="00001.png"):
        FFHQFolderDataset(root, out_size=64, component_path=tmp_path / "partial.pth")
