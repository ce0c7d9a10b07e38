"""gfplib.export: ONNX files checked against PyTorch in onnxruntime, and half precision that does not overflow.

Tolerances are stated on images in [-1, 1]: 1e-4 for a float32 graph (two implementations of the same float32
arithmetic), 3e-2 for float16 against float32. The 512² networks are randomly initialised (seeded) and slow-marked.
"""
import socket

import pytest
import torch

pytest.importorskip("onnxruntime")
from gfplib import cli  # noqa: E402
from gfplib.archs.gfpgan import GFPGANv1Config  # noqa: E402
from gfplib.archs.gfpgan_clean import GFPGANv1CleanConfig  # noqa: E402
from gfplib.archs.stylegan2_clean import ModulatedConv2d  # noqa: E402
from gfplib.export import (FP16_MAX, FaceRestorer, ParityError, activation_peaks, export_onnx, load_onnx,  # noqa: E402
                           to_half)
from gfplib.pretrain import load_gfpgan  # noqa: E402

TOL = 1e-4


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access in a test")
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture(scope="module")
def toy():
    return load_gfpgan("toy-gfpgan-32")


@pytest.fixture(scope="module")
def toy_dynamic(toy, tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "toy.onnx"
    return export_onnx(toy, path, dynamic_batch=True)


def faces(b, size, seed=1):
    return torch.rand(b, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_dynamic_batch_export_matches_pytorch_for_every_batch_size(toy, toy_dynamic):
    assert toy_dynamic.check_batch == 3 and toy_dynamic.max_abs_diff <= TOL
    onnx_net, torch_net = load_onnx(toy_dynamic.path), FaceRestorer(toy)
    assert onnx_net.batch is None and onnx_net.out_size == 32
    for b in (1, 2, 5):
        x = faces(b, 32, seed=b)
        with torch.no_grad():
            want = torch_net(x)
        got = onnx_net(x)
        assert got.shape == want.shape and got.dtype == torch.float32
        assert (got - want).abs().max() <= TOL
        assert want.std() > 0.1  # a real image, not a constant that any graph would match


def test_the_graph_has_no_random_op_and_is_deterministic(toy_dynamic):
    import onnx

    ops = {n.op_type for n in onnx.load(str(toy_dynamic.path)).graph.node}
    assert not ops & {"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Multinomial"}
    assert {"Conv", "Resize"} <= ops
    net, x = load_onnx(toy_dynamic.path), faces(2, 32)
    assert torch.equal(net(x), net(x))


def test_each_face_of_a_batch_is_restored_on_its_own(toy_dynamic):
    # tracing at B = 1 would freeze the per-sample-weight branch: every face would get the first face's styles
    net, x = load_onnx(toy_dynamic.path), faces(3, 32)
    alone = torch.cat([net(x[i:i + 1]) for i in range(3)])
    assert (net(x) - alone).abs().max() <= TOL


def test_a_random_network_exports_at_a_low_opset_with_a_fixed_batch(tmp_path):
    torch.manual_seed(0)
    net = GFPGANv1CleanConfig.tiny().build().eval()
    report = export_onnx(net, tmp_path / "net.onnx", batch=2, opset=13)
    assert report.check_batch == 2 and report.max_abs_diff <= TOL
    with pytest.raises(ValueError, match="fixed batch of 2"):
        load_onnx(report.path)(faces(1, 32))


def test_the_original_architecture_needs_the_dynamo_exporter(tmp_path):
    with pytest.raises(ValueError, match="use exporter='dynamo'"):
        export_onnx(GFPGANv1Config.tiny().build().eval(), tmp_path / "net.onnx")


@pytest.mark.slow
def test_float16_graph_stays_close_to_float32(toy, tmp_path):
    report = export_onnx(toy, tmp_path / "toy16.onnx", fp16=True, batch=2)
    net = load_onnx(report.path)
    assert net.fp16 and report.max_abs_diff <= 3e-2
    assert report.path.stat().st_size < 0.6 * (sum(p.numel() for p in toy.state_dict().values()) * 4)


def test_bad_paths_opsets_and_tolerances_are_named(toy, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        export_onnx(toy, tmp_path / "missing" / "toy.onnx")
    with pytest.raises(ValueError, match=r"end in \.onnx"):
        export_onnx(toy, tmp_path / "toy.pth")
    (tmp_path / "dir.onnx").mkdir()
    with pytest.raises(IsADirectoryError, match="is a folder"):
        export_onnx(toy, tmp_path / "dir.onnx")
    with pytest.raises(ValueError, match="opset 9 is not supported"):
        export_onnx(toy, tmp_path / "toy.onnx", opset=9)
    with pytest.raises(ValueError, match="exporter must be"):
        export_onnx(toy, tmp_path / "toy.onnx", exporter="tensorrt")
    with pytest.raises(ParityError, match="exceeds the tolerance"):
        export_onnx(toy, tmp_path / "toy.onnx", tolerance=1e-12)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_onnx(tmp_path / "nothing.onnx")
    with pytest.raises(ValueError, match="takes 32×32"):
        load_onnx(tmp_path / "toy.onnx")(faces(1, 64))


@pytest.mark.slow
def test_the_command_exports(tmp_path, capsys):
    out = tmp_path / "toy.onnx"
    assert cli.main(["export", "--model", "toy", "-o", str(out), "--dynamic-batch"]) == 0
    assert out.is_file() and "max |diff|" in capsys.readouterr().out


def test_the_command_refuses_what_it_cannot_do(tmp_path, capsys):
    out = tmp_path / "toy.onnx"
    assert cli.main(["export", "-o", str(out), "--format", "tensorrt"]) == 2
    assert "only onnx" in capsys.readouterr().err
    assert cli.main(["export", "-o", str(out), "--size", "64"]) == 1
    assert "input size is fixed at 32" in capsys.readouterr().err
    assert cli.main(["export", "--model", str(tmp_path / "none.pth"), "-o", str(out)]) == 1
    assert "neither" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------- half precision
def scaled_styles(net, c):
    """The same function with every demodulated style s scaled by c (demodulation is invariant to the scale of s)."""
    for m in net.modules():
        if isinstance(m, ModulatedConv2d) and m.demodulate:
            m.modulation.weight.data.mul_(c)
            m.modulation.bias.data.mul_(c)
    return net


@pytest.mark.parametrize("cfg", [GFPGANv1CleanConfig.tiny(), GFPGANv1Config.tiny()], ids=["clean", "original"])
@pytest.mark.parametrize("b", [1, 3])
def test_rescaled_modulation_computes_the_same_function(cfg, b):
    torch.manual_seed(0)
    net, x = cfg.build().eval(), faces(b, cfg.out_size)
    with torch.no_grad():
        want = FaceRestorer(net)(x)
        got = FaceRestorer(scaled_styles(to_half(net, torch.float32, rescale=True), 300.0))(x)
    assert (got - want).abs().max() <= 1e-5 * want.abs().max()


def test_float16_overflows_in_the_demodulation_and_rescaling_fixes_it(toy):
    net, x = scaled_styles(to_half(toy, torch.float32, rescale=False), 16.0), faces(2, 32)  # 16: exact in float32
    with torch.no_grad():
        want = FaceRestorer(toy)(x)
        assert (FaceRestorer(net)(x) - want).abs().max() <= 1e-5
        naive_net, fixed_net = FaceRestorer(to_half(net, rescale=False)), FaceRestorer(to_half(net, rescale=True))
        for sub in (x[:1], x):  # B = 1: per-sample weights; B = 2: the batched scaling (both square s)
            ref = want[:len(sub)]
            naive, fixed = naive_net(sub.half()).float(), fixed_net(sub.half()).float()
            assert not (naive - ref).abs().max() <= 0.3  # broken: overflow (inf/NaN or a wrong image)
            assert (fixed - ref).abs().max() <= 3e-2
    peaks = {p.name: p for p in activation_peaks(net, x, torch.float16)}
    s2 = [p for n, p in peaks.items() if n.endswith(".demod.s²")]
    assert len(s2) == 1 + 2 * 3  # one per StyleConv of the 32² prior: 4², then two at each of 8², 16², 32²
    # the squares overflow exactly where their float32 value exceeds the float16 range
    assert all(p.finite == (p.peak_fp32 <= FP16_MAX) for p in s2)
    assert any(not p.finite for p in s2)


def test_bfloat16_has_the_range_of_float32(toy):
    x = faces(1, 32)
    peaks = activation_peaks(scaled_styles(to_half(toy, torch.float32, rescale=False), 16.0), x, torch.bfloat16)
    assert all(p.finite for p in peaks) and max(p.peak_fp32 for p in peaks) > FP16_MAX
    with pytest.raises(ValueError, match="dtype must be"):
        to_half(toy, torch.int8)


# ---------------------------------------------------------------------------------------------------- paper scale
@pytest.mark.slow
@pytest.mark.parametrize("cfg, exporter", [(GFPGANv1CleanConfig.release(), "torchscript"),
                                           (GFPGANv1Config.paper(), "dynamo")], ids=["clean", "original"])
def test_random_512_networks_export_with_parity(cfg, exporter, tmp_path):
    torch.manual_seed(0)
    report = export_onnx(cfg.build().eval(), tmp_path / "net.onnx", dynamic_batch=True, exporter=exporter,
                         opset=18)
    assert report.max_abs_diff <= TOL


@pytest.mark.slow
@pytest.mark.parametrize("cfg", [GFPGANv1CleanConfig.toy(), GFPGANv1Config.tiny()], ids=["clean", "original"])
def test_dynamo_exporter_matches_pytorch(cfg, tmp_path):
    pytest.importorskip("onnxscript")
    torch.manual_seed(0)
    report = export_onnx(cfg.build().eval(), tmp_path / "net.onnx", dynamic_batch=True, exporter="dynamo", opset=18)
    assert report.max_abs_diff <= TOL


# ----------------------------------------------------------------------------------- gfplib restore with an ONNX file
class TorchStep:
    """The PyTorch face step with the stored noise, as a plain callable (what an exported file computes)."""

    def __init__(self, net):
        self.step, self.out_size = FaceRestorer(net), net.out_size

    def __call__(self, x):
        with torch.no_grad():
            return self.step(x)


def test_restore_with_the_exported_model_gives_the_pytorch_images(toy, toy_dynamic, tmp_path):
    import numpy as np
    from PIL import Image

    from gfplib import align, restore as R

    photo, marks = align.demo_photo("astronaut"), align.demo_landmarks("astronaut")
    kw = dict(faces=[marks, marks], upscale=1, use_parse=False)  # two faces: one batch of 2 through the file
    got = R.restore(photo, load_onnx(toy_dynamic.path), **kw)
    want = R.restore(photo, TorchStep(toy), **kw)
    assert len(got.restored) == 2 and got.image.shape == photo.shape
    for a, b in zip(got.restored + [got.image], want.restored + [want.image]):  # uint8: rounding may flip one level
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    official = R.restore(photo, toy, seed=0, **kw)  # fresh seeded noise instead of the stored maps: close, not equal
    assert np.abs(official.restored[0].astype(int) - got.restored[0].astype(int)).mean() < 3

    Image.fromarray(photo).resize((256, 256)).save(tmp_path / "face.png")
    out = tmp_path / "out"
    assert cli.main(["restore", str(tmp_path / "face.png"), "-o", str(out), "--onnx", str(toy_dynamic.path),
                     "--aligned"]) == 0
    assert (out / "restored_imgs" / "face.png").is_file()
    assert cli.main(["restore", str(tmp_path / "face.png"), "-o", str(out), "--onnx", str(tmp_path / "no.onnx")]) == 2
