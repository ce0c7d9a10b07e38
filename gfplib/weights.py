r"""One table of every pretrained file the series uses, one checked download, one safe loader.

GFPGAN (arXiv 2101.04061) stands on pretrained networks it does not train: the StyleGAN2 generator that is the
*generative facial prior* (生成式人脸先验, Sec. 3.3), ArcFace for the *identity-preserving loss* (身份保留损失,
Eq. 8), VGG19 for the perceptual loss (Eq. 5), the FFHQ eye / mouth boxes of the *facial component loss* (Eq. 7),
and RetinaFace + ParseNet, with which the official inference crops and pastes back real faces. At 80–575 MB each
they cannot live in the repository: it holds only :data:`REGISTRY`, a table ``name → (file name, URL, sha256, size,
notes)``, and :func:`fetch` downloads on demand. The tiny toy-world networks *are* shipped in ``data/``
(``url=None``) and sit in the same table, so going from the toy world to paper scale is a one-word change:
``fetch("toy-prior-32")`` → ``fetch("stylegan2-512-prior")``. Adding a file is adding one row to the table.

Integrity, one rule: a file is accepted only if

.. math:: \operatorname{sha256}(\text{bytes}) \text{ starts with } h \quad(\text{and its size matches when known}),

where ``h`` is the entry's ``sha256``: the full 64 hex digits, or only the 8 digits that torchvision puts in its file
names (``vgg19-dcbb9e9d.pth``: nothing longer is published). It is checked after every download and on every cache
hit — hashing 350 MB takes about half a second, so nothing remembers an earlier check. (An earlier version skipped the
hash while size and modification time were unchanged; that is not safe for a file users swap by hand: ``cp -p``,
``rsync -a`` or unzipping keep the old time stamp, and GFPGAN v1.3 and v1.4 have exactly the same size.)

Files with no published hash (GFPGAN v1 / v1.2, the StyleGAN2 prior, ArcFace, the component boxes: ``sha256=None``)
follow one policy, *record on first use*: the first download — or the first fetch of a file you placed in the cache
by hand — writes the sha256 of the bytes to ``<file>.sha256`` next to the file (``sha256sum -c`` format) and warns
with the hash; every later fetch is checked against it. ``fetch(name, force=True)`` downloads again and records anew.
To pin such a file for everybody, copy the warned hash into the table.

Downloads stream (``urllib`` + a ``tqdm.auto`` progress bar) into a hidden temporary file in the cache folder, are
checked (bytes received against ``Content-Length``, size, hash) and only then renamed (``os.replace``, atomic) to
their final name; on any failure the temporary file is deleted, so the cache never holds a partial or wrong file.
Every network failure raises :class:`WeightsDownloadError` naming the URL and where to put the file by hand. The
cache folder is ``cache_dir=``, else ``$GFPLIB_CACHE``, else ``$XDG_CACHE_HOME/gfplib`` or ``~/.cache/gfplib`` (on
Colab, a Google Drive folder keeps files between sessions); a file you already have goes there under its table file
name and is checked like a download. :func:`load_state_dict` also takes a plain path.

Loading always uses ``torch.load(..., map_location="cpu", weights_only=True)``: no arbitrary pickled code runs.
Taught in ``notebooks/02_face_data.ipynb`` and ``notebooks/04_stylegan2_prior.ipynb``.
"""
from __future__ import annotations

import difflib
import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Mapping, Optional, Union

import torch

__all__ = [
    "WeightEntry", "WeightsError", "WeightsDownloadError", "WeightsHashError", "WeightsNotFoundError", "REGISTRY",
    "get_entry", "cache_dir", "sha256_file", "local_path", "fetch", "load_checkpoint", "extract_state_dict",
    "load_state_dict",
]

_CHUNK = 1 << 20  # 1 MiB per read while downloading / hashing
PathLike = Union[str, os.PathLike]


class WeightsError(RuntimeError):
    """Base class of every error raised by :mod:`gfplib.weights`."""


class WeightsDownloadError(WeightsError):
    """The file could not be downloaded (offline, refused, HTTP error, truncated transfer)."""


class WeightsHashError(WeightsError):
    """A file's size or sha256 differs from the table (or from the hash recorded on first use)."""


class WeightsNotFoundError(WeightsError, FileNotFoundError):
    """A shipped file is missing from ``data/``, or a path given to a loader does not exist."""


@dataclass(frozen=True)
class WeightEntry:
    """One row of the table.

    Args:
        name: short name used in code (``"gfpgan-v1.4"``).
        filename: file name in the cache (the release's own name); for a shipped file its path under ``data/``.
        url: download URL, or ``None`` for a file shipped in the repository's ``data/``.
        sha256: expected sha256 in lowercase hex (64 digits, or torchvision's 8-digit file-name prefix), or ``None``
            where none is published (then the hash is recorded on first use, see the module docstring).
        size: expected size in bytes, or ``None`` when unknown.
        notes: what the file is, its licence, where the hash comes from.
    """

    name: str
    filename: str
    url: Optional[str]
    sha256: Optional[str]
    size: Optional[int]
    notes: str

    def __post_init__(self):
        h = self.sha256
        if h is not None and not (8 <= len(h) <= 64 and set(h) <= set("0123456789abcdef")):
            raise ValueError(f"{self.name}: sha256 must be 8 to 64 lowercase hex digits, got {h!r}")
        if self.url is None and self.sha256 is None:
            raise ValueError(f"{self.name}: a file shipped in data/ (url=None) needs its sha256 in the table")

    @property
    def shipped(self) -> bool:
        """True for a file that lives in the repository's ``data/`` (nothing to download)."""
        return self.url is None


_GFPGAN = "https://github.com/TencentARC/GFPGAN/releases/download"
_FACEXLIB = "https://github.com/xinntao/facexlib/releases/download"
_TOY = "Apache-2.0 (gfplearn: trained by gfplib on procedural toy faces; recipe in data/README.md)"

# URLs: ../shared/spec/gfpgan_facts.md §2. "third-party": hash and size from independent listings of the official
# release file (none of GFPGAN's releases publishes one). Toy files: hash and size recorded when they were made.
REGISTRY: Dict[str, WeightEntry] = {e.name: e for e in (
    WeightEntry("gfpgan-v1", "GFPGANv1.pth", f"{_GFPGAN}/v0.1.0/GFPGANv1.pth", None, None,
                "GFPGAN v1, the paper's model (GFPGANv1, channel_multiplier 1). Apache-2.0 (TencentARC)"),
    WeightEntry("gfpgan-v1.2", "GFPGANCleanv1-NoCE-C2.pth", f"{_GFPGAN}/v0.2.0/GFPGANCleanv1-NoCE-C2.pth", None, None,
                "GFPGAN v1.2 (GFPGANv1Clean, channel_multiplier 2, no colour enhancement). Apache-2.0 (TencentARC)"),
    WeightEntry("gfpgan-v1.3", "GFPGANv1.3.pth", f"{_GFPGAN}/v1.3.0/GFPGANv1.3.pth",
                "c953a88f2727c85c3d9ae72e2bd4846bbaf59fe6972ad94130e23e7017524a70", 348_632_874,
                "GFPGAN v1.3 (GFPGANv1Clean), the official inference default. Apache-2.0 (TencentARC); third-party"),
    WeightEntry("gfpgan-v1.4", "GFPGANv1.4.pth", f"{_GFPGAN}/v1.3.0/GFPGANv1.4.pth",
                "e2cd4703ab14f4d01fd1383a8a8b266f9a5833dacee8e6a79d3bf21a1b6be5ad", 348_632_874,
                "GFPGAN v1.4 (GFPGANv1Clean): more detail, better identity. Apache-2.0 (TencentARC); third-party"),
    WeightEntry("stylegan2-512-prior", "StyleGAN2_512_Cmul1_FFHQ_B12G4_scratch_800k.pth",
                f"{_GFPGAN}/v0.1.0/StyleGAN2_512_Cmul1_FFHQ_B12G4_scratch_800k.pth", None, None,
                "StyleGAN2 on FFHQ 512² (channel_multiplier 1): the generative facial prior. Apache-2.0 (TencentARC)"),
    WeightEntry("arcface-resnet18", "arcface_resnet18.pth", f"{_GFPGAN}/v0.1.0/arcface_resnet18.pth", None, None,
                "ArcFace ResNet-18 (128² gray in, 512-d out) for the identity loss. Apache-2.0 (TencentARC)"),
    WeightEntry("ffhq-components-512", "FFHQ_eye_mouth_landmarks_512.pth",
                f"{_GFPGAN}/v0.1.0/FFHQ_eye_mouth_landmarks_512.pth", None, None,
                "eye / mouth boxes of every FFHQ 512² face. Apache-2.0 (TencentARC); from FFHQ (CC BY-NC-SA 4.0)"),
    WeightEntry("retinaface-resnet50", "detection_Resnet50_Final.pth",
                f"{_FACEXLIB}/v0.1.0/detection_Resnet50_Final.pth",
                "6d1de9c2944f2ccddca5f5e010ea5ae64a39845a86311af6fdf30841b0a5a16d", 109_497_761,
                "RetinaFace ResNet-50 detector + 5 landmarks. MIT (facexlib, biubug6/Pytorch_Retinaface); third-party"),
    WeightEntry("parsenet", "parsing_parsenet.pth", f"{_FACEXLIB}/v0.2.2/parsing_parsenet.pth",
                "3d558d8d0e42c20224f13cf5a29c79eba2d59913419f945545d8cf7b72920de2", 85_331_193,
                "ParseNet face parsing (19 classes): the paste-back mask. MIT (facexlib); third-party"),
    WeightEntry("vgg19", "vgg19-dcbb9e9d.pth", "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth", "dcbb9e9d",
                574_673_361, "torchvision VGG19 ImageNet (IMAGENET1K_V1) for the perceptual loss. BSD-3-Clause; "
                "hash: torchvision's file-name prefix, size third-party"),
    WeightEntry("alexnet", "alexnet-owt-7be5be79.pth", "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
                "7be5be79", None, "torchvision AlexNet ImageNet: the trunk of LPIPS (gfplib.metrics). BSD-3-Clause; "
                "hash: torchvision's file-name prefix"),
    WeightEntry("vgg16", "vgg16-397923af.pth", "https://download.pytorch.org/models/vgg16-397923af.pth", "397923af",
                None, "torchvision VGG16 ImageNet: the trunk of LPIPS-vgg. BSD-3-Clause; hash: file-name prefix"),
    WeightEntry("inception-fid", "pt_inception-2015-12-05-6726825d.pth",
                "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                "pt_inception-2015-12-05-6726825d.pth", "6726825d", None,
                "Inception-v3 of TensorFlow's FID, ported by pytorch-fid (the network of FID). Apache-2.0; hash: "
                "file-name prefix (torch hub convention)"),
    WeightEntry("toy-prior-32", "toy_prior_32.pth", None,
                "7e14f77a8afe596cdbaea2eac76bb88604a4ae0b39c54a0c17328cb854f564cb", 1_703_431,
                f"StyleGAN2GeneratorClean 32² toy-face prior, EMA weights. {_TOY}"),
    WeightEntry("toy-arcface", "toy_arcface.pth", None,
                "94740542fc65cddd6c1a0f1afad178ff1ae9e411ead4b58cfb3a2e44290626c1", 2_556_673,
                f"ToyResNetArcFace (gray 32² in, 128-d out): the toy world's identity network. {_TOY}"),
    WeightEntry("toy-gfpgan-32", "toy_gfpgan_32.pth", None,
                "2d729f3f8d5958cabcd3c40804cdd50350f05df75a5aafef58843b42382951bb", 9_531_915,
                f"GFPGANv1Clean 32² toy GFPGAN (params + params_ema), python -m gfplib.train --profile toy. {_TOY}"),
    WeightEntry("toy-vgg", "toy_vgg.pth", None,
                "24113d7c88c5f7a5a37f5c43025ea562641e401a9eeb1d401c557181e1cd4b98", 5_023_421,
                f"VGG19-layout feature network: the toy world's perceptual-loss network. {_TOY}"),
)}


def _did_you_mean(name) -> str:
    close = difflib.get_close_matches(str(name), list(REGISTRY), n=3, cutoff=0.5)
    return f" Did you mean {', '.join(map(repr, close))}?" if close else ""


def get_entry(name: Union[str, WeightEntry]) -> WeightEntry:
    """The table row for ``name`` (an entry is returned unchanged); an unknown name suggests close ones."""
    if isinstance(name, WeightEntry):
        return name
    if name not in REGISTRY:
        raise KeyError(f"unknown weights name {name!r}.{_did_you_mean(name)} Known names: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def cache_dir(cache: Optional[PathLike] = None) -> Path:
    """Folder for downloaded files: ``cache`` if given, else ``$GFPLIB_CACHE``, else ``$XDG_CACHE_HOME/gfplib`` or
    ``~/.cache/gfplib``. Not created here (only a download creates it)."""
    if cache is None:
        cache = os.environ.get("GFPLIB_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache") / "gfplib"
    return Path(cache).expanduser()


def sha256_file(path: PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _path(entry: WeightEntry, cache: Optional[PathLike]) -> Path:
    if entry.shipped:
        from gfplib.utils import data_dir

        return Path(data_dir()) / entry.filename
    return cache_dir(cache) / entry.filename


def _check(entry: WeightEntry, what: str, digest: str, size: int, expected: Optional[str], hint: str) -> None:
    """Raise :class:`WeightsHashError` unless ``size`` and ``digest`` are those of ``entry`` (``expected`` hash)."""
    if entry.size is not None and size != entry.size:
        raise WeightsHashError(f"{what} has {size} bytes, but {entry.name!r} has {entry.size} — {hint}")
    if expected is not None and not digest.startswith(expected):
        raise WeightsHashError(f"{what} has sha256 {digest}, but {entry.name!r} expects {expected} — {hint}")


def _record(entry: WeightEntry, path: Path, digest: str) -> None:
    """Record on first use (module docstring): write ``<file>.sha256`` and say so."""
    path.with_name(path.name + ".sha256").write_text(f"{digest}  {path.name}\n")
    warnings.warn(f"{entry.name!r} has no published sha256: recorded {digest} of {path} in {path.name}.sha256; "
                  f"later fetches are checked against it", stacklevel=3)


def _verify(entry: WeightEntry, path: Path) -> Path:
    """Hash a local file and compare it with the table (or with its recorded hash); return ``path``."""
    recorded = path.with_name(path.name + ".sha256")
    words = recorded.read_text().split() if entry.sha256 is None and recorded.is_file() else []
    expected = entry.sha256 or (words[0] if words else None)
    hint = ("the shipped file was modified: restore it (git checkout data/) or re-create it with its recipe in "
            "data/README.md" if entry.shipped else f"the file is corrupt or not the right one: delete it, or call "
            f"gfplib.weights.fetch({entry.name!r}, force=True) to download a fresh copy over it")
    digest = sha256_file(path)
    _check(entry, str(path), digest, path.stat().st_size, expected, hint)
    if expected is None:
        _record(entry, path, digest)
    return path


def local_path(name: Union[str, WeightEntry], *, cache_dir: Optional[PathLike] = None) -> Optional[Path]:
    """Path of ``name`` if it is already on this machine (verified), else ``None``; never touches the network.

    Use it to decide whether an optional network (RetinaFace, ParseNet, the 512² prior) can be used. A present file
    with the wrong hash raises :class:`WeightsHashError`.
    """
    entry = get_entry(name)
    path = _path(entry, cache_dir)
    return _verify(entry, path) if path.is_file() else None


def fetch(name: Union[str, WeightEntry], *, cache_dir: Optional[PathLike] = None, progress: bool = True,
          force: bool = False) -> Path:
    """Local path of a table file, downloaded and verified if needed.

    Args:
        name: table name (``"gfpgan-v1.4"``) or a :class:`WeightEntry`.
        cache_dir: cache folder (default: see the module docstring).
        progress: show a ``tqdm`` progress bar while downloading.
        force: download again even if a copy is cached (it is replaced only by a verified download).

    Returns:
        Path of a file whose size and hash match the table; for a shipped entry, its path in ``data/``.

    Raises:
        KeyError: unknown name.
        WeightsDownloadError: offline, connection refused, HTTP error (404 …) or truncated transfer.
        WeightsHashError: the downloaded or cached file has the wrong size or hash.
        WeightsNotFoundError: a shipped file is missing from ``data/``.
    """
    entry = get_entry(name)
    path = _path(entry, cache_dir)
    if entry.shipped and not path.is_file():
        raise WeightsNotFoundError(f"shipped file {path} of {entry.name!r} is missing; restore data/ from the "
                                   f"repository or re-create the file with its recipe in data/README.md")
    if entry.shipped or (path.is_file() and not force):
        return _verify(entry, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _download(entry, path, progress)
    return path


def _download(entry: WeightEntry, target: Path, progress: bool) -> None:
    from tqdm.auto import tqdm

    by_hand = (f"To install it by hand, download {entry.url} on a machine with internet access and copy it to "
               f"{target} (or set $GFPLIB_CACHE to a folder that holds {entry.filename}).")
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        h, received = hashlib.sha256(), 0
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(entry.url, timeout=30) as resp:
                length = resp.headers.get("Content-Length")
                with tqdm(total=int(length) if length else entry.size, unit="B", unit_scale=True,
                          unit_divisor=1024, desc=entry.filename, disable=not progress, leave=False) as bar:
                    for chunk in iter(lambda: resp.read(_CHUNK), b""):
                        out.write(chunk)
                        h.update(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
        except urllib.error.HTTPError as err:
            raise WeightsDownloadError(f"cannot download {entry.name!r}: HTTP {err.code} {err.reason} for "
                                       f"{entry.url} (target {target}). {by_hand}") from None
        except (OSError, http.client.HTTPException) as err:  # URLError, refused, unreachable, timeout: OSErrors
            raise WeightsDownloadError(f"cannot download {entry.name!r} from {entry.url}: "
                                       f"{getattr(err, 'reason', err)} — are you offline? {by_hand}") from None
        if length and received != int(length):
            raise WeightsDownloadError(f"download of {entry.name!r} was truncated: received {received} of {length} "
                                       f"bytes from {entry.url} (target {target}). Try again. {by_hand}")
        _check(entry, f"the download of {entry.url}", h.hexdigest(), received, entry.sha256,
               "the server sent other bytes than the table expects; the file was refused and nothing was cached")
        os.replace(tmp, target)  # atomic: the final name only ever holds a verified file
        if entry.sha256 is None:
            _record(entry, target, h.hexdigest())
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# ------------------------------------------------------------------------------------------------------------ loading
def _resolve(name_or_path: Union[PathLike, WeightEntry], cache: Optional[PathLike]) -> Path:
    """A table name or entry is fetched (and verified); anything else is a path that must exist."""
    if isinstance(name_or_path, WeightEntry) or name_or_path in REGISTRY:
        return fetch(name_or_path, cache_dir=cache)
    path = Path(name_or_path).expanduser()
    if not path.is_file():
        raise WeightsNotFoundError(f"{name_or_path} is neither a weights table name nor an existing file."
                                   f"{_did_you_mean(name_or_path)}")
    return path


def _numpy_safe_globals() -> list:
    """The few NumPy callables needed to unpickle plain arrays and scalars (also from files written by NumPy 1.x)."""
    import numpy as np

    try:
        from numpy._core.multiarray import _reconstruct, scalar  # NumPy >= 2
    except ImportError:  # pragma: no cover - NumPy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    dtype_classes = [type(np.dtype(c)) for c in "?bBhHiIlLqQefdgFDG"]
    return [np.ndarray, np.dtype, _reconstruct, scalar, *dtype_classes,
            (_reconstruct, "numpy.core.multiarray._reconstruct"), (scalar, "numpy.core.multiarray.scalar"),
            (_reconstruct, "numpy._core.multiarray._reconstruct"), (scalar, "numpy._core.multiarray.scalar")]


def load_checkpoint(name_or_path: Union[PathLike, WeightEntry], *, allow_numpy: bool = False,
                    cache_dir: Optional[PathLike] = None) -> object:
    """``torch.load`` a table file (fetched if needed) or a path, safely: CPU, ``weights_only=True``.

    Args:
        name_or_path: table name or file path.
        allow_numpy: also accept plain NumPy arrays / scalars (no other pickled code), as in the official
            ``FFHQ_eye_mouth_landmarks_512.pth``.
        cache_dir: cache folder (default: see the module docstring).

    Raises :class:`WeightsError` naming the path for a corrupt / truncated file or one that needs unsafe pickling.
    """
    path = _resolve(name_or_path, cache_dir)
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals() if allow_numpy else []):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # junk bytes fail in many ways (UnpicklingError, EOFError, RuntimeError, ...)
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise WeightsError(f"cannot load {path} with torch.load(weights_only=True): {first}. It is not a valid "
                           f"PyTorch checkpoint (corrupt or truncated file?), or it holds more than tensors "
                           f"(NumPy arrays inside? pass allow_numpy=True).") from err


def extract_state_dict(ckpt: Mapping, param_key: Optional[str] = "auto", where: str = "checkpoint"
                       ) -> Dict[str, torch.Tensor]:
    """The state dict inside an official checkpoint already in memory (the rules of :func:`load_state_dict`).

    Args:
        ckpt: ``{"params_ema": sd}``, ``{"params": sd}``, both, or a raw state dict.
        param_key: ``"auto"`` (``params_ema``, else ``params``, else raw), a key name, or ``None`` (raw).
        where: name of the source for error messages.

    Returns:
        ``{name: tensor}`` with a leading ``module.`` (left by ``DataParallel``) stripped from every key.
    """
    if not isinstance(ckpt, Mapping):
        raise WeightsError(f"{where} is a {type(ckpt).__name__}, not a dict of tensors")
    key = next((k for k in ("params_ema", "params") if k in ckpt), None) if param_key == "auto" else param_key
    if key is not None and key not in ckpt:
        raise KeyError(f"{where} has no key {key!r}; top-level keys: {sorted(map(str, ckpt))[:10]}")
    sd = ckpt[key] if key is not None else ckpt
    label = f"{where}[{key!r}]" if key else where
    if not isinstance(sd, Mapping) or not sd:
        raise WeightsError(f"{label} is not a non-empty dict of tensors")
    bad = [k for k, v in sd.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise WeightsError(f"{label} is not a state dict: entries {bad[:5]} are not tensors "
                           f"(top-level keys: {sorted(map(str, ckpt))[:10]})")
    return {k.removeprefix("module."): v for k, v in sd.items()}


def load_state_dict(name_or_path: Union[PathLike, WeightEntry], param_key: Optional[str] = "auto", *,
                    cache_dir: Optional[PathLike] = None) -> Dict[str, torch.Tensor]:
    """Load a state dict from a table name (fetched and verified) or a ``.pth`` path.

    ``param_key``: ``"auto"`` picks ``"params_ema"``, else ``"params"``, else the raw dict (as GFPGANer does); a
    string picks that key; ``None`` takes the file as a raw state dict. Returns ``{name: tensor}`` with a leading
    ``module.`` stripped from every key.
    """
    return extract_state_dict(load_checkpoint(name_or_path, cache_dir=cache_dir), param_key, where=str(name_or_path))
