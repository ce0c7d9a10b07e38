r"""Deploying the restorer: ONNX export with a checked parity, and half precision that does not overflow.

Taught in ``notebooks/12_deployment.ipynb`` (an appendix to the series; GFPGAN paper §3.1 overview: the face step
:math:`\hat y = G(x)` of the pipeline is what is exported).

**Export.** :class:`FaceRestorer` fixes what an exported graph cannot carry: the StyleGAN2 noise is the stored
``noises.noise*`` buffers (``randomize_noise=False``: fresh noise would be drawn at trace time and frozen into the
file anyway), and the pyramid RGBs (training only) are not computed. Tracing records one path through the Python
code, so the batch size matters: :func:`~gfplib.archs.stylegan2_clean.modulation_terms` branches on ``B == 1``
(per-sample weights) vs ``B > 1`` (input/output scaling around a shared conv). A dynamic-batch export is therefore
traced with ``B = 2``, whose formula holds for every batch size. :func:`export_onnx` writes the file and checks it
right away with onnxruntime on CPU against PyTorch, :math:`\max |\hat y_{onnx} - \hat y_{torch}| \le` tolerance,
on a batch size other than the traced one when the batch axis is dynamic. :func:`load_onnx` returns a callable with
the face step's signature (NCHW float tensor in [-1, 1] → tensor), for ``gfplib restore --onnx``.

**Half precision.** float16 has 5 exponent bits, so its largest value is 65504. StyleGAN2's demodulation
(StyleGAN2 Eq. 3) sums squares, :math:`d_j = 1/\sqrt{\sum_i s_i^2 \sum_k w_{ijk}^2 + \epsilon}`, and a style
scale :math:`|s_i| \gtrsim 256` already gives :math:`s_i^2 = \infty`, :math:`d_j = 0`: the layer outputs zeros and
the image turns flat. Since :math:`d` makes the result independent of the scale of :math:`s`,
:math:`s \to s/m` with :math:`m = \max(1, \max_i |s_i|)` changes nothing mathematically and bounds every square by
:math:`\sum_k w_{ijk}^2`; :func:`to_half` switches this on (``ModulatedConv2d.rescale_style``). bfloat16 keeps
float32's exponent range (no overflow) with 8 mantissa bits (≈ 10× larger rounding error than float16 here).
:func:`activation_peaks` measures the largest magnitude per layer, including the demodulation sums.
"""
from __future__ import annotations

import argparse
import copy
import sys
import time
import warnings
from pathlib import Path
from typing import List, NamedTuple, Optional

import torch
from torch import nn

__all__ = ["FP16_MAX", "OPSETS", "FaceRestorer", "load_model", "to_half", "ExportReport", "ParityError",
           "export_onnx", "OnnxFaceRestorer", "load_onnx", "LayerPeak", "activation_peaks", "add_arguments", "run"]

FP16_MAX = float(torch.finfo(torch.float16).max)  # 65504
#: ONNX opsets each exporter writes for this network (bilinear Resize, LeakyRelu, Conv, ConvTranspose).
OPSETS = {"torchscript": range(13, 21), "dynamo": range(18, 24)}
NAMED = {"toy": "toy-gfpgan-32", "v1.2": "gfpgan-v1.2", "v1.3": "gfpgan-v1.3", "v1.4": "gfpgan-v1.4"}


class FaceRestorer(nn.Module):
    """The face step ŷ = G(x) of a GFPGAN as a plain ``x → image`` module: stored noise, no pyramid RGBs."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.out_size = net.out_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x, return_rgb=False, randomize_noise=False).image  # (B, 3, out_size, out_size)


def load_model(model: str, size: Optional[int] = None) -> nn.Module:
    """``"toy"``, ``"v1.2"``/``"v1.3"``/``"v1.4"`` (downloaded on first use) or a checkpoint file; ``size`` picks
    the architecture of a file (32: the toy preset, else the release one at that size) and must match a named one."""
    from gfplib.archs.gfpgan_clean import GFPGANv1CleanConfig
    from gfplib.checkpoints import load_weights
    from gfplib.pretrain import load_gfpgan

    if model in NAMED:
        net = load_gfpgan(NAMED[model])
        if size is not None and size != net.out_size:
            raise ValueError(f"--size {size} does not fit {model!r}, whose input size is fixed at {net.out_size} "
                             "(the latent code mapping flattens a 4×4 feature): resize faces before the network")
        return net
    path = Path(model)
    if not path.is_file():
        raise FileNotFoundError(f"--model {model!r} is neither one of {sorted(NAMED)} nor a checkpoint file")
    size = 512 if size is None else size
    cfg = GFPGANv1CleanConfig.toy() if size == 32 else GFPGANv1CleanConfig(**{
        **GFPGANv1CleanConfig.release().kwargs(), "out_size": size})
    net = cfg.build()
    load_weights(net, str(path))
    return net.eval().requires_grad_(False)


def to_half(net: nn.Module, dtype: torch.dtype = torch.float16, rescale: bool = True) -> nn.Module:
    """A copy of ``net`` in ``dtype``; ``rescale`` turns on the overflow-free modulation (module docstring)."""
    if dtype not in (torch.float16, torch.bfloat16, torch.float32):
        raise ValueError(f"dtype must be float16, bfloat16 or float32, got {dtype}")
    net = copy.deepcopy(net).to(dtype)
    for m in net.modules():
        if hasattr(m, "rescale_style"):
            m.rescale_style = rescale
    return net


class ExportReport(NamedTuple):
    """What :func:`export_onnx` wrote and measured."""

    path: Path
    max_abs_diff: float  # max |ŷ_onnx − ŷ_torch(float32)| on the check batch
    tolerance: float
    check_batch: int
    seconds: float  # export time, without the check


class ParityError(RuntimeError):
    """The exported model's output differs from PyTorch's by more than the tolerance."""


def _check_path(path: Path) -> None:
    if path.suffix != ".onnx":
        raise ValueError(f"output file must end in .onnx, got {str(path)!r}")
    if path.is_dir():
        raise IsADirectoryError(f"output path {str(path)!r} is a folder; give a file name ending in .onnx")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {str(path)!r}: folder {str(path.parent)!r} does not exist")


def export_onnx(net: nn.Module, path, *, batch: int = 1, dynamic_batch: bool = False, fp16: bool = False,
                opset: int = 17, exporter: str = "torchscript", tolerance: Optional[float] = None,
                seed: int = 0) -> ExportReport:
    """Export a GFPGAN's face step to ONNX and check it with onnxruntime (CPU) against PyTorch in float32.

    Args:
        net: a ``GFPGANv1Clean`` / ``GFPGANv1`` (or a :class:`FaceRestorer`).
        path: the ``.onnx`` file to write.
        batch: batch size of the graph (ignored with ``dynamic_batch``).
        dynamic_batch: a symbolic batch axis; traced with B = 2 and checked with B = 3.
        fp16: float16 graph (inputs and outputs float16), with the overflow-free modulation (:func:`to_half`).
        opset: ONNX opset, one of :data:`OPSETS` for the exporter.
        exporter: ``"torchscript"`` (``torch.onnx.export(dynamo=False)``: one file, ~7× faster to export here) or
            ``"dynamo"`` (``torch.export``-based; needs ``onnxscript``; weights of large models in a ``.data`` file).
        tolerance: largest accepted max-abs difference (default 1e-4, float16 3e-2: on images in [-1, 1]).
        seed: of the random check input.

    Raises:
        ValueError: unsupported exporter, opset or batch; a bad output path (also FileNotFoundError,
            IsADirectoryError); :class:`ParityError` when the check fails (the file is kept for inspection).
    """
    import onnx  # noqa: F401 (the optional `export` extra: a clear ImportError if missing)

    if exporter not in OPSETS:
        raise ValueError(f"exporter must be one of {sorted(OPSETS)}, got {exporter!r}")
    if opset not in OPSETS[exporter]:
        r = OPSETS[exporter]
        raise ValueError(f"opset {opset} is not supported by the {exporter} exporter for this network; "
                         f"use {r.start}–{r.stop - 1}")
    if batch < 1:
        raise ValueError(f"batch must be ≥ 1, got {batch}")
    path = Path(path)
    _check_path(path)
    ref = net if isinstance(net, FaceRestorer) else FaceRestorer(net)
    ref = ref.eval()
    model = FaceRestorer(to_half(ref.net)) if fp16 else ref
    dtype = torch.float16 if fp16 else torch.float32
    size = ref.out_size
    trace_batch = 2 if dynamic_batch else batch  # B = 1 would freeze the per-sample-weight branch into the graph
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(trace_batch, 3, size, size, generator=g) * 2 - 1
    axes = {"x": {0: "batch"}, "image": {0: "batch"}} if dynamic_batch else None
    t0 = time.perf_counter()
    with warnings.catch_warnings(), torch.no_grad():
        # the input checks become constants of the trace (expected: the parity check below runs the file itself)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        warnings.filterwarnings("ignore", message=".*feature will be removed.*")
        kw = dict(input_names=["x"], output_names=["image"], opset_version=opset)
        if exporter == "dynamo":
            shapes = {"x": {0: torch.export.Dim("batch", min=1, max=1024)}} if dynamic_batch else None
            torch.onnx.export(model, (x.to(dtype),), str(path), dynamo=True, dynamic_shapes=shapes, verbose=False,
                              **kw)
        else:
            try:
                torch.onnx.export(model, (x.to(dtype),), str(path), dynamo=False, dynamic_axes=axes, **kw)
            except OSError as e:
                raise OSError(f"cannot write the ONNX file {str(path)!r}: {e}") from e
            except torch.onnx.errors.SymbolicValueError as e:  # GFPGANv1's FIR resampling (depthwise expand)
                raise ValueError(f"the torchscript exporter cannot express {type(ref.net).__name__} "
                                 f"({str(e).splitlines()[0][:80]}…); use exporter='dynamo'") from e
    seconds = time.perf_counter() - t0
    check_batch = 3 if dynamic_batch else batch
    x = torch.rand(check_batch, 3, size, size, generator=g) * 2 - 1
    with torch.no_grad():
        want = ref(x)
    got = load_onnx(path)(x)
    diff = float((got - want).abs().max())
    tolerance = (3e-2 if fp16 else 1e-4) if tolerance is None else tolerance
    if not diff <= tolerance:  # also catches NaN
        raise ParityError(f"{path}: max |onnx − torch| = {diff:.3g} exceeds the tolerance {tolerance:g}")
    return ExportReport(path, diff, tolerance, check_batch, seconds)


class OnnxFaceRestorer:
    """An exported face step run by onnxruntime on CPU: ``(B, 3, S, S)`` float tensor in [-1, 1] → float32 tensor.

    Args:
        path: the ``.onnx`` file written by :func:`export_onnx`.
        threads: intra-op threads of onnxruntime (default: ``torch.get_num_threads()``).
    """

    def __init__(self, path, threads: Optional[int] = None) -> None:
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"ONNX file {str(path)!r} not found")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or torch.get_num_threads()
        opts.log_severity_level = 3  # errors only: fp16 graphs log harmless constant-folding notes
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        inp = self.session.get_inputs()[0]
        self.input_name, shape = inp.name, inp.shape
        self.fp16 = inp.type == "tensor(float16)"
        self.out_size = shape[-1] if isinstance(shape[-1], int) else None
        self.batch = shape[0] if isinstance(shape[0], int) else None  # None: dynamic batch axis

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_tensor(x) or not x.is_floating_point() or x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected a float tensor (B, 3, H, W), got "
                             f"{tuple(x.shape) if torch.is_tensor(x) else type(x).__name__}")
        if self.out_size is not None and tuple(x.shape[2:]) != (self.out_size, self.out_size):
            raise ValueError(f"the exported model takes {self.out_size}×{self.out_size} faces, got "
                             f"{tuple(x.shape[2:])}")
        if self.batch is not None and x.shape[0] != self.batch:
            raise ValueError(f"the exported model has a fixed batch of {self.batch}, got {x.shape[0]} "
                             "(export with --dynamic-batch for any batch size)")
        arr = x.detach().cpu().to(torch.float16 if self.fp16 else torch.float32).numpy()
        out = self.session.run(None, {self.input_name: arr})[0]
        return torch.from_numpy(out).float().to(x.device)


def load_onnx(path, threads: Optional[int] = None) -> OnnxFaceRestorer:
    """The exported model at ``path`` as a callable with the face step's signature (see :class:`OnnxFaceRestorer`)."""
    return OnnxFaceRestorer(path, threads)


# ------------------------------------------------------------------------------------------------- half precision
class LayerPeak(NamedTuple):
    """The largest magnitude one layer produces, in float32 and in the half-precision run."""

    name: str
    peak_fp32: float
    peak_half: float  # inf or nan where the half-precision value overflowed
    finite: bool


def _peaks(net: nn.Module, x: torch.Tensor) -> dict:
    from gfplib.archs.stylegan2 import ModulatedConv2d as ModConvOrig
    from gfplib.archs.stylegan2_clean import ModulatedConv2d

    peaks, hooks = {}, []

    def record(name):
        def hook(module, args, out):
            t = out[0] if isinstance(out, (tuple, list)) else out
            if torch.is_tensor(t) and t.is_floating_point():
                peaks[name] = float(t.detach().float().abs().amax())
        return hook

    def demod(name, conv):  # the squares inside the demodulation: s² and Σ_i s_i² Σ_k w_ijk², in the run's dtype
        def hook(module, args, s):
            if conv.rescale_style:
                s = s / s.abs().amax(1, keepdim=True).clamp_min(1)
            w = conv.weight * getattr(conv, "scale", 1.0)
            peaks[name + ".s²"] = float(s.pow(2).detach().float().amax())
            peaks[name + ".Σs²w²"] = float((s.pow(2) @ w[0].pow(2).sum([2, 3]).t()).detach().float().amax())
        return hook

    for name, m in net.named_modules():
        if isinstance(m, (ModulatedConv2d, ModConvOrig)) and m.demodulate:
            hooks.append(m.modulation.register_forward_hook(demod(name + ".demod", m)))
        elif isinstance(m, (nn.Conv2d, nn.Linear, nn.ConvTranspose2d)) or type(m).__name__ in (
                "EqualConv2d", "EqualLinear", "StyleConv", "ToRGB"):
            hooks.append(m.register_forward_hook(record(name)))
    try:
        with torch.no_grad():
            net(x, return_rgb=False, randomize_noise=False)
    finally:
        for h in hooks:
            h.remove()
    return peaks


def activation_peaks(net: nn.Module, x: torch.Tensor, dtype: torch.dtype = torch.float16,
                     rescale: bool = False) -> List[LayerPeak]:
    """Per layer, in forward order: max |output| in float32 and in ``dtype`` (a :func:`to_half` copy of ``net``),
    plus for every demodulated conv the two squares of the demodulation (``….demod.s²``, ``….demod.Σs²w²``).

    Args:
        net: a float32 ``GFPGANv1Clean`` / ``GFPGANv1``.
        x: degraded faces ``(B, 3, S, S)`` in [-1, 1] (B > 1 runs the batched modulation, B = 1 the per-sample one).
        dtype: float16 or bfloat16.
        rescale: run the half copy with the overflow-free modulation.
    """
    ref = _peaks(net, x.float())
    half = _peaks(to_half(net, dtype, rescale), x.to(dtype))
    out = []
    for name, p in ref.items():
        h = half.get(name, float("nan"))
        out.append(LayerPeak(name, p, h, h == h and h != float("inf")))
    return out


# ---------------------------------------------------------------------------------------------------- the command
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="toy", help="toy | v1.2 | v1.3 | v1.4 (downloaded) | a checkpoint file")
    p.add_argument("--format", default="onnx", help="only onnx (TorchScript / TensorRT are not supported)")
    p.add_argument("-o", "--output", required=True, help="the .onnx file to write")
    p.add_argument("--size", type=int, default=None, help="input size (picks the architecture of a file)")
    p.add_argument("--fp16", action="store_true", help="float16 graph with the overflow-free modulation")
    p.add_argument("--dynamic-batch", action="store_true", help="a symbolic batch axis (any batch size)")
    p.add_argument("--batch", type=int, default=1, help="fixed batch size (without --dynamic-batch)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (torchscript: 13–20, dynamo: 18–23)")
    p.add_argument("--exporter", default="torchscript", choices=sorted(OPSETS), help="torch.onnx exporter")
    p.add_argument("--tolerance", type=float, default=None, help="max |onnx − torch| accepted")


def run(args: argparse.Namespace) -> int:
    if args.format != "onnx":
        print(f"error: --format {args.format!r} is not supported; only onnx (convert the .onnx file with "
              "TensorRT's trtexec or onnxruntime's tools)", file=sys.stderr)
        return 2
    try:
        import onnx, onnxruntime  # noqa: F401,E401
    except ImportError as e:
        print(f"error: {e.name} is missing; install the extra: pip install 'gfplib[export]'", file=sys.stderr)
        return 2
    from gfplib.weights import WeightsError

    try:
        torch.set_num_threads(min(torch.get_num_threads(), 4))
        net = load_model(args.model, args.size)
        report = export_onnx(net, args.output, batch=args.batch, dynamic_batch=args.dynamic_batch, fp16=args.fp16,
                             opset=args.opset, exporter=args.exporter, tolerance=args.tolerance)
    except (ValueError, OSError, KeyError, ParityError, WeightsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    mb = report.path.stat().st_size / 2**20
    print(f"wrote {report.path} ({mb:.1f} MiB) in {report.seconds:.1f} s; onnxruntime vs PyTorch on a batch of "
          f"{report.check_batch}: max |diff| = {report.max_abs_diff:.2e} ≤ {report.tolerance:g}")
    return 0


if __name__ == "__main__":
    from gfplib.cli import run_module
    sys.exit(run_module(sys.modules[__name__]))
