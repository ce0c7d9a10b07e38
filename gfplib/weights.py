"""A hashed registry of every pretrained file the series uses, with a safe downloader and a safe loader.

GFPGAN stands on four pretrained networks and one annotation file (paper §3, §4.1): the StyleGAN2 generator that
provides the *generative facial prior* (生成式人脸先验), ArcFace for the *identity-preserving loss* (身份保留损失),
VGG19 for the perceptual loss, RetinaFace + ParseNet for detecting, aligning and pasting back real faces, and the
eye / mouth boxes of FFHQ for the *facial component loss* (面部组成损失). None of them can live in the repository
(≈ 100–575 MB each), so this module maps a short **name** to one frozen :class:`WeightEntry` (URL, file name,
sha256, size, licence) and downloads on demand. Tiny networks trained for the toy world *are* shipped in ``data/``;
they use the same table (``url=None``, path relative to :func:`gfplib.utils.data_dir`), so swapping the toy prior
for the official one is a one-word change: ``fetch("toy-prior-32")`` → ``fetch("stylegan2-512-prior")``.

Integrity, in one line: a file is accepted only if :math:`\\operatorname{sha256}(\\text{bytes}) = h_\\text{expected}`
(and its size matches when known). Where the expected hash comes from is recorded per entry in
:attr:`WeightEntry.hash_source`:

``"official"``
    published by the authors (none of GFPGAN's releases publishes one).
``"third-party"``
    computed by independent projects from the official release URL; verified in full.
``"torchvision-prefix"``
    torchvision's convention: the first 8 hex digits of the sha256 are part of the file name
    (``vgg19-dcbb9e9d.pth``); the full hash is not published, so the file is verified **by prefix only**.
``"recorded"``
    computed by gfplearn itself when the file was made (the toy networks in ``data/``).
``"unpublished"``
    no hash exists anywhere we trust. Policy *trust on first download*: the first successful download records the
    sha256 of the received bytes in a sidecar ``<file>.sha256`` next to the cached file, and every later load is
    verified against that sidecar, so the file cannot change silently afterwards. A file placed by hand without a
    sidecar gets one on first use (with a warning).

Cache: ``$GFPLIB_CACHE`` if set, else ``$XDG_CACHE_HOME/gfplib`` or ``~/.cache/gfplib`` (also on Colab; point
``GFPLIB_CACHE`` at a mounted Google Drive folder to keep files between Colab sessions).

Downloads go to a hidden temporary file in the cache folder (``urllib`` + a ``tqdm.auto`` progress bar), are checked
(byte count against ``Content-Length``, size, hash) and only then renamed atomically (``os.replace``) to their final
name; on any failure the temporary file is deleted, so the cache never holds a partial or wrong-hash file. Every
network or HTTP failure raises one exception type, :class:`WeightsDownloadError`, whose message names the URL, the
target path and how to place the file by hand.

Cache hits are re-verified. Hashing 350 MB takes about a second, so a successful full verification is remembered
in a sidecar ``<file>.verified`` (size, modification time in ns, sha256): while size and mtime are unchanged the
hash is not recomputed (``fetch(..., rehash=True)`` forces it). A cached file with the wrong hash is **not**
deleted or re-downloaded silently (it may be a file you placed there): :class:`WeightsHashError` says what to do,
and ``fetch(name, force=True)`` downloads a fresh copy over it.

Loading always uses ``torch.load(..., map_location="cpu", weights_only=True)`` (no arbitrary pickled code).

Taught in ``notebooks/02_face_data.ipynb`` and used wherever an official network is loaded.
"""
from __future__ import annotations

import difflib
import hashlib
import http.client
import json
import os
import pickle
import socket
import tempfile
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Union

import torch

__all__ = [
    "WeightEntry", "WeightsError", "WeightsDownloadError", "WeightsHashError", "WeightsNotFoundError",
    "REGISTRY", "register", "get_entry", "list_weights", "weights_table", "cache_dir", "local_path", "fetch",
    "sha256_file", "load_checkpoint", "extract_state_dict", "load_state_dict",
]

HASH_SOURCES = ("official", "third-party", "torchvision-prefix", "recorded", "unpublished")
_CHUNK = 1 << 20  # 1 MiB per read while downloading / hashing
_TIMEOUT_S = 30.0  # socket timeout per blocking operation (connect, each read), not for the whole transfer


# --------------------------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------------------------
class WeightsError(RuntimeError):
    """Base class of every error raised by :mod:`gfplib.weights`."""


class WeightsDownloadError(WeightsError):
    """The file could not be downloaded (offline, refused, HTTP error, truncated transfer)."""


class WeightsHashError(WeightsError):
    """A file's size or sha256 differs from the registry (or from its recorded sidecar)."""


class WeightsNotFoundError(WeightsError, FileNotFoundError):
    """A shipped file is missing from ``data/`` or a path given to a loader does not exist."""


# --------------------------------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WeightEntry:
    """One pretrained file.

    Args:
        name: short registry name (``"gfpgan-v1.4"``).
        filename: file name in the cache; for a shipped file (``url=None``) the path relative to ``data/``.
        url: official download URL, or ``None`` for a file shipped in the repository's ``data/``.
        sha256: expected full sha256 (64 lowercase hex digits) or ``None``.
        hash_source: where ``sha256`` / ``sha256_prefix`` comes from; one of :data:`HASH_SOURCES`.
        size: expected size in bytes, or ``None`` when unknown.
        description: what the file is and what the series uses it for.
        licence: licence of the weights as stated by their authors.
        param_key: key under which the official loader finds the state dict (``"params_ema"``, ``"params"``),
            ``None`` for a raw state dict, or ``"n/a"`` for a file that is not a network.
        sha256_prefix: leading hex digits of the sha256 known from the file name (torchvision convention).
        size_source: where ``size`` comes from (same vocabulary as ``hash_source``).
    """

    name: str
    filename: str
    url: Optional[str]
    sha256: Optional[str]
    hash_source: str
    size: Optional[int]
    description: str
    licence: str
    param_key: Optional[str] = "params_ema"
    sha256_prefix: Optional[str] = None
    size_source: Optional[str] = None

    def __post_init__(self):
        if self.hash_source not in HASH_SOURCES:
            raise ValueError(f"{self.name}: hash_source must be one of {HASH_SOURCES}, got {self.hash_source!r}")
        for label, h, n in (("sha256", self.sha256, 64), ("sha256_prefix", self.sha256_prefix, None)):
            if h is not None and (h != h.lower() or any(c not in "0123456789abcdef" for c in h)
                                  or (n is not None and len(h) != n) or len(h) == 0):
                raise ValueError(f"{self.name}: {label} must be lowercase hex{f' of length {n}' if n else ''}, "
                                 f"got {h!r}")
        if self.sha256 is None and self.sha256_prefix is None and self.hash_source != "unpublished":
            raise ValueError(f"{self.name}: no sha256 given, so hash_source must be 'unpublished'")
        if self.url is None and self.sha256 is None:
            raise ValueError(f"{self.name}: a shipped file (url=None) needs its sha256 recorded")
        if self.size is not None and self.size <= 0:
            raise ValueError(f"{self.name}: size must be positive, got {self.size}")

    @property
    def shipped(self) -> bool:
        """True for a file that lives in the repository's ``data/`` (no download)."""
        return self.url is None


_GFPGAN = "https://github.com/TencentARC/GFPGAN/releases/download"
_FACEXLIB = "https://github.com/xinntao/facexlib/releases/download"

# Sizes and third-party hashes: see shared facts (§2) and data/README.md; each was cross-checked where two
# independent listings exist. Add new entries here (official downloads first, then files shipped in data/).
_ENTRIES = (
    WeightEntry(
        name="gfpgan-v1", filename="GFPGANv1.pth", url=f"{_GFPGAN}/v0.1.0/GFPGANv1.pth",
        sha256=None, hash_source="unpublished", size=None,
        description="GFPGAN v1, the paper model (GFPGANv1 arch, channel_multiplier 1, frozen StyleGAN2 decoder)",
        licence="Apache-2.0 (TencentARC/GFPGAN)", param_key="params_ema"),
    WeightEntry(
        name="gfpgan-v1.2", filename="GFPGANCleanv1-NoCE-C2.pth", url=f"{_GFPGAN}/v0.2.0/GFPGANCleanv1-NoCE-C2.pth",
        sha256=None, hash_source="unpublished", size=None,
        description="GFPGAN v1.2 (GFPGANv1Clean, channel_multiplier 2, no colour enhancement)",
        licence="Apache-2.0 (TencentARC/GFPGAN)", param_key="params_ema"),
    WeightEntry(
        name="gfpgan-v1.3", filename="GFPGANv1.3.pth", url=f"{_GFPGAN}/v1.3.0/GFPGANv1.3.pth",
        sha256="c953a88f2727c85c3d9ae72e2bd4846bbaf59fe6972ad94130e23e7017524a70", hash_source="third-party",
        size=348_632_874, size_source="third-party",
        description="GFPGAN v1.3 (GFPGANv1Clean, channel_multiplier 2): the official inference default",
        licence="Apache-2.0 (TencentARC/GFPGAN)", param_key="params_ema"),
    WeightEntry(
        name="gfpgan-v1.4", filename="GFPGANv1.4.pth", url=f"{_GFPGAN}/v1.3.0/GFPGANv1.4.pth",
        sha256="e2cd4703ab14f4d01fd1383a8a8b266f9a5833dacee8e6a79d3bf21a1b6be5ad", hash_source="third-party",
        size=348_632_874, size_source="third-party",
        description="GFPGAN v1.4 (GFPGANv1Clean, channel_multiplier 2): more details, better identity than v1.3",
        licence="Apache-2.0 (TencentARC/GFPGAN)", param_key="params_ema"),
    WeightEntry(
        name="stylegan2-512-prior", filename="StyleGAN2_512_Cmul1_FFHQ_B12G4_scratch_800k.pth",
        url=f"{_GFPGAN}/v0.1.0/StyleGAN2_512_Cmul1_FFHQ_B12G4_scratch_800k.pth",
        sha256=None, hash_source="unpublished", size=None,
        description="StyleGAN2 generator trained on FFHQ 512² (channel_multiplier 1): the generative facial prior",
        licence="Apache-2.0 (TencentARC/GFPGAN release)", param_key="params_ema"),
    WeightEntry(
        name="arcface-resnet18", filename="arcface_resnet18.pth", url=f"{_GFPGAN}/v0.1.0/arcface_resnet18.pth",
        sha256=None, hash_source="unpublished", size=None,
        description="ArcFace ResNet-18 (IRBlock [2,2,2,2], 128² gray in, 512-d out) for the identity loss",
        licence="Apache-2.0 (TencentARC/GFPGAN release)", param_key=None),
    WeightEntry(
        name="ffhq-components-512", filename="FFHQ_eye_mouth_landmarks_512.pth",
        url=f"{_GFPGAN}/v0.1.0/FFHQ_eye_mouth_landmarks_512.pth",
        sha256=None, hash_source="unpublished", size=None,
        description="left-eye / right-eye / mouth centre and half-size of every FFHQ 512² image (component loss)",
        licence="Apache-2.0 (TencentARC/GFPGAN release); derived from FFHQ (CC BY-NC-SA 4.0 images)",
        param_key="n/a"),
    WeightEntry(
        name="retinaface-resnet50", filename="detection_Resnet50_Final.pth",
        url=f"{_FACEXLIB}/v0.1.0/detection_Resnet50_Final.pth",
        sha256="6d1de9c2944f2ccddca5f5e010ea5ae64a39845a86311af6fdf30841b0a5a16d", hash_source="third-party",
        size=109_497_761, size_source="third-party",
        description="RetinaFace ResNet-50 face detector + 5 landmarks (facexlib), used by the official inference",
        licence="MIT (facexlib; RetinaFace weights from biubug6/Pytorch_Retinaface)", param_key=None),
    WeightEntry(
        name="parsenet", filename="parsing_parsenet.pth", url=f"{_FACEXLIB}/v0.2.2/parsing_parsenet.pth",
        sha256="3d558d8d0e42c20224f13cf5a29c79eba2d59913419f945545d8cf7b72920de2", hash_source="third-party",
        size=85_331_193, size_source="third-party",
        description="ParseNet face parsing (19 classes, 512²): soft paste-back mask of the official inference",
        licence="MIT (facexlib)", param_key=None),
    WeightEntry(
        name="vgg19", filename="vgg19-dcbb9e9d.pth", url="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
        sha256=None, sha256_prefix="dcbb9e9d", hash_source="torchvision-prefix",
        size=574_673_361, size_source="third-party",
        description="torchvision VGG19 ImageNet weights (IMAGENET1K_V1) for the perceptual and style losses",
        licence="BSD-3-Clause (torchvision)", param_key=None),
)

REGISTRY: Dict[str, WeightEntry] = {e.name: e for e in _ENTRIES}
"""name → :class:`WeightEntry`. Read it, or extend it with :func:`register`."""


def register(entry: WeightEntry, *, overwrite: bool = False) -> WeightEntry:
    """Add ``entry`` to :data:`REGISTRY` (e.g. your own fine-tuned checkpoint or a mirror).

    Args:
        entry: the new entry.
        overwrite: replace an existing entry of the same name instead of raising ``ValueError``.
    """
    if not isinstance(entry, WeightEntry):
        raise TypeError(f"entry must be a WeightEntry, got {type(entry).__name__}")
    if entry.name in REGISTRY and not overwrite:
        raise ValueError(f"a weights entry named {entry.name!r} already exists (pass overwrite=True to replace it)")
    REGISTRY[entry.name] = entry
    return entry


def get_entry(name: Union[str, WeightEntry]) -> WeightEntry:
    """The :class:`WeightEntry` for ``name`` (an entry is returned unchanged); unknown names suggest close ones."""
    if isinstance(name, WeightEntry):
        return name
    if not isinstance(name, str):
        raise TypeError(f"weights name must be a str, got {type(name).__name__}")
    try:
        return REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(REGISTRY), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise KeyError(f"unknown weights name {name!r}.{hint} Known names: {', '.join(sorted(REGISTRY))}") from None


def list_weights() -> List[WeightEntry]:
    """All registry entries, official downloads first, then shipped files, each group in table order."""
    entries = list(REGISTRY.values())
    return [e for e in entries if not e.shipped] + [e for e in entries if e.shipped]


def _fmt_size(n: Optional[int]) -> str:
    if n is None:
        return "?"
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.1f} KiB"


def weights_table(*, markdown: bool = False, local: bool = True, cache: Union[str, os.PathLike, None] = None) -> str:
    """The registry as a table (plain text, or Markdown for ``IPython.display.Markdown``).

    Columns: name, size, how the file is verified, whether it is available locally (``local=True``; a file-exists
    check in ``cache`` / :func:`cache_dir`, no hashing, no network), and what it is. Pass ``local=False`` for output
    that does not depend on the machine (stored notebook outputs). Example: ``print(weights.weights_table())``.
    """
    rows = []
    for e in list_weights():
        if e.sha256:
            check = f"sha256 ({e.hash_source})"
        elif e.sha256_prefix:
            check = f"sha256 prefix {e.sha256_prefix}"
        else:
            check = "recorded on 1st download"
        if e.shipped:
            where = "shipped"
        else:
            where = "cached" if _cache_root(cache).joinpath(e.filename).is_file() else "-"
        rows.append((e.name, _fmt_size(e.size), check) + ((where,) if local else ()) + (e.description,))
    head = ("name", "size", "verified by") + (("local",) if local else ()) + ("what it is",)
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(f"`{r[0]}`" if i == 0 else r[i] for i in range(len(r))) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head) - 1)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths) + "  {}"
    return "\n".join([fmt.format(*head)] + [fmt.format(*r) for r in rows])


# --------------------------------------------------------------------------------------------------------------------
# Cache, hashing, sidecars
# --------------------------------------------------------------------------------------------------------------------
def cache_dir(cache: Union[str, os.PathLike, None] = None) -> Path:
    """Folder for downloaded files: ``cache`` if given, else ``$GFPLIB_CACHE``, else ``$XDG_CACHE_HOME/gfplib`` or
    ``~/.cache/gfplib``. Not created here (only :func:`fetch` creates it)."""
    return _cache_root(cache)


def _cache_root(cache: Union[str, os.PathLike, None]) -> Path:
    if cache is not None:
        return Path(cache).expanduser()
    env = os.environ.get("GFPLIB_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "gfplib"


def sha256_file(path: Union[str, os.PathLike]) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _sidecar(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _read_recorded_hash(path: Path) -> Optional[str]:
    side = _sidecar(path, ".sha256")
    if not side.is_file():
        return None
    text = side.read_text().split()
    if not text or len(text[0]) != 64:
        raise WeightsHashError(f"recorded hash file {side} is unreadable; delete it and {path} and download again")
    return text[0].lower()


def _write_recorded_hash(path: Path, digest: str) -> None:
    _atomic_write_text(_sidecar(path, ".sha256"), f"{digest}  {path.name}\n")


def _atomic_write_text(target: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _stamp(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _verified_digest(path: Path) -> Optional[str]:
    """The sha256 remembered for ``path`` if its size and mtime are unchanged since it was last verified."""
    side = _sidecar(path, ".verified")
    try:
        rec = json.loads(side.read_text())
    except (OSError, ValueError):
        return None
    st = _stamp(path)
    if rec.get("size") == st["size"] and rec.get("mtime_ns") == st["mtime_ns"]:
        return rec.get("sha256")
    return None


def _remember_verified(path: Path, digest: str) -> None:
    try:
        _atomic_write_text(_sidecar(path, ".verified"), json.dumps({**_stamp(path), "sha256": digest}))
    except OSError:  # read-only cache: verification simply is not remembered
        pass


def _check_digest(entry: WeightEntry, digest: str, size: int, path: Path, expected_recorded: Optional[str]) -> None:
    """Raise :class:`WeightsHashError` unless ``digest``/``size`` satisfy ``entry`` (or the recorded sidecar hash)."""
    problems = []
    if entry.size is not None and size != entry.size:
        problems.append(f"size {size} bytes, expected {entry.size} ({entry.size_source or 'registry'})")
    if entry.sha256 is not None and digest != entry.sha256:
        problems.append(f"sha256 {digest}, expected {entry.sha256} ({entry.hash_source})")
    elif entry.sha256 is None and entry.sha256_prefix is not None and not digest.startswith(entry.sha256_prefix):
        problems.append(f"sha256 {digest} does not start with {entry.sha256_prefix} (torchvision file-name prefix)")
    elif entry.sha256 is None and entry.sha256_prefix is None and expected_recorded is not None \
            and digest != expected_recorded:
        problems.append(f"sha256 {digest}, expected {expected_recorded} (recorded on first download in "
                        f"{_sidecar(path, '.sha256').name})")
    if problems:
        raise WeightsHashError(f"{path} does not match registry entry {entry.name!r}: " + "; ".join(problems))


def _verify_cached(entry: WeightEntry, path: Path, *, rehash: bool) -> None:
    size = path.stat().st_size
    recorded = _read_recorded_hash(path) if entry.sha256 is None and entry.sha256_prefix is None else None
    expected = entry.sha256 or recorded
    digest = None if rehash else _verified_digest(path)
    if digest is None or (expected is not None and digest != expected):
        digest = sha256_file(path)
    try:
        _check_digest(entry, digest, size, path, recorded)
    except WeightsHashError as err:
        hint = ("the file is corrupt or not the official one. Delete it and call fetch() again, or call "
                f"gfplib.weights.fetch({entry.name!r}, force=True) to download a fresh copy over it"
                if not entry.shipped else "the shipped file was modified; restore it from the repository "
                "(git checkout data/) or re-create it with its recipe in data/README.md")
        raise WeightsHashError(f"{err} — {hint}") from None
    if entry.sha256 is None and entry.sha256_prefix is None and recorded is None:
        warnings.warn(f"{path} has no published hash and no recorded one: recording sha256 {digest} now "
                      f"(trust on first use); later loads are verified against it", stacklevel=3)
        _write_recorded_hash(path, digest)
    if not entry.shipped:
        _remember_verified(path, digest)


# --------------------------------------------------------------------------------------------------------------------
# fetch
# --------------------------------------------------------------------------------------------------------------------
def _manual_hint(entry: WeightEntry, target: Path) -> str:
    return (f"To install it by hand, download {entry.url} on a machine with internet access and copy it to "
            f"{target} (or set $GFPLIB_CACHE to a folder that holds {entry.filename}).")


def local_path(name: Union[str, WeightEntry], *, cache_dir: Union[str, os.PathLike, None] = None,
               verify: bool = True) -> Optional[Path]:
    """Path of ``name`` if it is already available locally (verified unless ``verify=False``), else ``None``.

    Never touches the network: use it to decide whether an optional network (RetinaFace, ParseNet) can be used.
    A present file with a wrong hash still raises :class:`WeightsHashError`.
    """
    entry = get_entry(name)
    if entry.shipped:
        from gfplib.utils import data_dir

        path = Path(data_dir()) / entry.filename
    else:
        path = _cache_path(entry, cache_dir)
    if not path.is_file():
        return None
    if verify:
        _verify_cached(entry, path, rehash=False)
    return path


def _cache_path(entry: WeightEntry, cache: Union[str, os.PathLike, None]) -> Path:
    return _cache_root(cache) / entry.filename


def fetch(name: Union[str, WeightEntry], *, cache_dir: Union[str, os.PathLike, None] = None, progress: bool = True,
          force: bool = False, rehash: bool = False) -> Path:
    """Return the local path of a registry file, downloading and verifying it if needed.

    Args:
        name: registry name (see :func:`weights_table`) or a :class:`WeightEntry`.
        cache_dir: override of the cache folder (default :func:`cache_dir`).
        progress: show a ``tqdm`` progress bar while downloading.
        force: download again even if a cached copy exists (the old copy is replaced only after the new one
            verified).
        rehash: recompute the sha256 of a cached file even if its size and mtime are unchanged since the last check.

    Returns:
        Path of a complete file whose size and hash match the registry. For a shipped entry: its path in ``data/``.

    Raises:
        KeyError: unknown name.
        WeightsDownloadError: offline, connection refused, HTTP error (404 …) or truncated transfer.
        WeightsHashError: downloaded or cached file has the wrong size / hash.
        WeightsNotFoundError: a shipped file is missing from ``data/``.
    """
    entry = get_entry(name)
    if entry.shipped:
        path = local_path(entry, verify=False)
        if path is None:
            from gfplib.utils import data_dir

            raise WeightsNotFoundError(f"shipped file {entry.filename!r} of entry {entry.name!r} is missing from "
                                       f"{data_dir()}; restore data/ from the repository or re-create the file "
                                       f"with its recipe in data/README.md")
        _verify_cached(entry, path, rehash=True)  # shipped files are small: always hash them
        return path

    target = _cache_path(entry, cache_dir)
    if target.is_file() and not force:
        _verify_cached(entry, target, rehash=rehash)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    _download(entry, target, progress=progress)
    return target


def _download(entry: WeightEntry, target: Path, *, progress: bool) -> None:
    from tqdm.auto import tqdm

    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    where = f"{entry.url} → {target}"
    try:
        h = hashlib.sha256()
        received = 0
        try:
            req = urllib.request.Request(entry.url, headers={"User-Agent": "gfplib"})
            with urllib.request.urlopen(req, timeout=_TIMEOUT_S) as resp, os.fdopen(fd, "wb") as out:
                fd = None
                length = resp.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else entry.size
                with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, disable=not progress,
                          desc=entry.filename, leave=False) as bar:
                    while True:
                        chunk = resp.read(_CHUNK)
                        if not chunk:
                            break
                        out.write(chunk)
                        h.update(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
                        if entry.size is not None and received > entry.size:
                            raise WeightsDownloadError(f"download of {entry.name!r} ({where}) is larger than the "
                                                       f"expected {entry.size} bytes; refusing it")
            if length and length.isdigit() and received != int(length):
                raise WeightsDownloadError(f"download of {entry.name!r} was truncated: received {received} of "
                                           f"{length} bytes ({where}). Try again. " + _manual_hint(entry, target))
        except urllib.error.HTTPError as err:
            raise WeightsDownloadError(f"download of {entry.name!r} failed: HTTP {err.code} {err.reason} for "
                                       f"{entry.url} (target {target}). " + _manual_hint(entry, target)) from None
        except http.client.IncompleteRead as err:
            raise WeightsDownloadError(f"download of {entry.name!r} was truncated: received "
                                       f"{received + len(err.partial)} bytes, {err.expected} more expected "
                                       f"({where}). Try again. " + _manual_hint(entry, target)) from None
        except (urllib.error.URLError, ConnectionError, socket.timeout, TimeoutError,
                http.client.HTTPException) as err:
            reason = getattr(err, "reason", err)
            raise WeightsDownloadError(f"cannot download {entry.name!r}: {reason} — are you offline? URL: "
                                       f"{entry.url}; target: {target}. " + _manual_hint(entry, target)) from None
        except OSError as err:
            if isinstance(err, WeightsError):
                raise
            # socket-level failures that are not ConnectionError (e.g. "Network is unreachable", a patched socket)
            raise WeightsDownloadError(f"cannot download {entry.name!r}: {err} — are you offline? URL: "
                                       f"{entry.url}; target: {target}. " + _manual_hint(entry, target)) from None
        digest = h.hexdigest()
        try:
            _check_digest(entry, digest, received, target, None)
        except WeightsHashError as err:
            raise WeightsHashError(f"downloaded file rejected, nothing was cached: {err}. The server sent "
                                   f"different bytes than the registry expects ({entry.url}).") from None
        os.replace(tmp, target)  # atomic: the final name only ever holds a verified file
        if entry.sha256 is None and entry.sha256_prefix is None:
            _write_recorded_hash(target, digest)  # trust on first download (see module docstring)
        _remember_verified(target, digest)
    finally:
        if fd is not None:
            os.close(fd)
        if tmp.exists():
            tmp.unlink()


# --------------------------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------------------------
def _resolve(name_or_path: Union[str, os.PathLike, WeightEntry], cache: Union[str, os.PathLike, None]) -> Path:
    if isinstance(name_or_path, WeightEntry) or (isinstance(name_or_path, str) and name_or_path in REGISTRY):
        return fetch(name_or_path, cache_dir=cache)
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(f"expected a registry name or a file path, got {type(name_or_path).__name__}")
    path = Path(name_or_path).expanduser()
    if not path.is_file():
        close = difflib.get_close_matches(str(name_or_path), list(REGISTRY), n=3, cutoff=0.5)
        hint = f" (did you mean the registry name {', '.join(map(repr, close))}?)" if close else ""
        raise WeightsNotFoundError(f"{name_or_path} is neither a registry name nor an existing file{hint}")
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


def load_checkpoint(name_or_path: Union[str, os.PathLike, WeightEntry], *, allow_numpy: bool = False,
                    cache_dir: Union[str, os.PathLike, None] = None) -> object:
    """``torch.load`` a registry file (fetched if needed) or a path, safely: CPU, ``weights_only=True``.

    Args:
        name_or_path: registry name or file path.
        allow_numpy: also accept plain NumPy arrays / scalars (no other pickled code), as in the official
            ``FFHQ_eye_mouth_landmarks_512.pth``.
        cache_dir: override of the cache folder.

    Raises :class:`WeightsError` with the path for a corrupt / truncated file or one that needs unsafe pickling.
    """
    path = _resolve(name_or_path, cache_dir)
    try:
        if allow_numpy:
            with torch.serialization.safe_globals(_numpy_safe_globals()):
                return torch.load(path, map_location="cpu", weights_only=True)
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        msg = str(err).splitlines()[0] if str(err) else "unpickling failed"
        raise WeightsError(f"cannot load {path} with weights_only=True: {msg}. The file is corrupt, or it is not a "
                           f"plain tensor checkpoint (NumPy arrays inside? pass allow_numpy=True).") from err
    except Exception as err:  # the unpickler fails in many ways on junk bytes (EOFError, IndexError, ...)
        raise WeightsError(f"cannot load {path}: it is not a valid PyTorch checkpoint (corrupt or truncated file?): "
                           f"{str(err).splitlines()[0] if str(err) else type(err).__name__}") from err


def extract_state_dict(ckpt: Mapping, param_key: Optional[str] = "auto", where: str = "checkpoint"
                       ) -> Dict[str, torch.Tensor]:
    """The state dict inside an official checkpoint already in memory: the rules of :func:`load_state_dict`.

    Args:
        ckpt: ``{"params_ema": sd}``, ``{"params": sd}``, both, or a raw state dict.
        param_key: ``"auto"`` (``params_ema``, else ``params``, else raw), a key name, or ``None`` (raw).
        where: name of the source for error messages.

    Returns:
        ``{name: tensor}`` with a leading ``module.`` stripped from every key.
    """
    if not isinstance(ckpt, Mapping):
        raise WeightsError(f"{where} is a {type(ckpt).__name__}, not a dict of tensors")
    if param_key == "auto":
        key = next((k for k in ("params_ema", "params") if k in ckpt), None)
    else:
        key = param_key
    if key is not None:
        if key not in ckpt:
            raise KeyError(f"{where} has no key {key!r}; top-level keys: {sorted(map(str, ckpt))[:10]}")
        sd = ckpt[key]
    else:
        sd = ckpt
    label = f"{where}[{key!r}]" if key else where
    if not isinstance(sd, Mapping) or not sd:
        raise WeightsError(f"{label} is not a non-empty dict of tensors")
    bad = [k for k, v in sd.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise WeightsError(f"{label} is not a state dict: entries {bad[:5]} are not tensors "
                                    f"(top-level keys: {sorted(map(str, ckpt))[:10]})")
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in sd.items()}


def load_state_dict(name_or_path: Union[str, os.PathLike, WeightEntry], param_key: Optional[str] = "auto", *,
                    cache_dir: Union[str, os.PathLike, None] = None) -> Dict[str, torch.Tensor]:
    """Load a state dict from a registry name or a path.

    Args:
        name_or_path: registry name (fetched if needed) or path of a ``.pth`` file.
        param_key: ``"auto"`` picks ``"params_ema"``, else ``"params"``, else the raw dict (as GFPGANer does);
            a string picks that key; ``None`` takes the file as a raw state dict.

    Returns:
        ``{name: tensor}`` with a leading ``module.`` (left by ``DataParallel``) stripped from every key.
    """
    return extract_state_dict(load_checkpoint(name_or_path, cache_dir=cache_dir), param_key, where=str(name_or_path))


# --------------------------------------------------------------------------------------------------------------------
# Toy-world networks shipped in data/ — trained by gfplib itself (python -m gfplib.pretrain …; recipes and
# measured quality in data/README.md, "Toy-world networks", and the .json sidecar next to each file).
# sha256 and size recorded when the files were made; the loaders are gfplib.pretrain.load_prior / ….
# --------------------------------------------------------------------------------------------------------------------
for _entry in (
    WeightEntry(
        name="toy-prior-32", filename="toy_prior_32.pth", url=None,
        sha256="7e14f77a8afe596cdbaea2eac76bb88604a4ae0b39c54a0c17328cb854f564cb", hash_source="recorded",
        size=1_703_431, size_source="recorded",
        description="StyleGAN2GeneratorClean 32² toy-face prior (num_style_feat 128, num_mlp 4, narrow 0.125), "
                    "EMA weights: the generative facial prior of the toy world",
        licence="Apache-2.0 (gfplearn; trained by gfplib on procedurally generated toy faces)",
        param_key="params_ema"),
    WeightEntry(
        name="toy-arcface", filename="toy_arcface.pth", url=None,
        sha256="94740542fc65cddd6c1a0f1afad178ff1ae9e411ead4b58cfb3a2e44290626c1", hash_source="recorded",
        size=2_556_673, size_source="recorded",
        description="ToyResNetArcFace (IRBlock [2,2,2,2], width 16, gray 32² in, 128-d out) trained with the "
                    "ArcFace loss on toy people: the identity network of the toy world",
        licence="Apache-2.0 (gfplearn; trained by gfplib on procedurally generated toy faces)",
        param_key="params"),
    WeightEntry(
        name="toy-vgg", filename="toy_vgg.pth", url=None,
        sha256="24113d7c88c5f7a5a37f5c43025ea562641e401a9eeb1d401c557181e1cd4b98", hash_source="recorded",
        size=5_023_421, size_source="recorded",
        description="VGG19-layout feature network (widths 16/32/64/128/128, toy mean/std buffers) trained on toy "
                    "faces: the perceptual / style-loss network of the toy world",
        licence="Apache-2.0 (gfplearn; trained by gfplib on procedurally generated toy faces)",
        param_key="params"),
):
    register(_entry)
del _entry
