"""gfplib.weights against a real HTTP server on 127.0.0.1 (no other host is ever contacted).

Expected hashes come from ``hashlib`` over the bytes the test itself serves, from the NIST test vector, or from the
published facts (../shared/spec/gfpgan_facts.md §2, data/README.md) — never from gfplib.
"""
import hashlib
import http.server
import io
import os
import re
import socket
import threading
import warnings
from pathlib import Path

import pytest
import torch

from gfplib import weights
from gfplib.weights import WeightEntry, WeightsDownloadError, WeightsError, WeightsHashError, WeightsNotFoundError

REPO = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------------------------------------------------
# A local file server: routes[path] = (body, mode), mode in {"ok", "truncate"}; unknown paths 404; hits counts GETs.
# ---------------------------------------------------------------------------------------------------------------------
class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict = {}
    hits: dict = {}

    def do_GET(self):  # noqa: N802 (http.server API)
        self.hits[self.path] = self.hits.get(self.path, 0) + 1
        if self.path not in self.routes:
            self.send_error(404, "Not Found")
            return
        body, mode = self.routes[self.path]
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        # "truncate": announce more bytes than are sent, then close the connection mid-transfer
        self.send_header("Content-Length", str(len(body) + (4096 if mode == "truncate" else 0)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = mode == "truncate"

    def log_message(self, *args):  # keep pytest output quiet
        pass


@pytest.fixture(autouse=True)
def only_localhost(monkeypatch):
    """Fail loudly if anything in these tests tries to reach a host other than 127.0.0.1."""
    real = socket.create_connection

    def guarded(address, *args, **kwargs):
        if address[0] not in ("127.0.0.1", "localhost"):
            raise AssertionError(f"test tried to contact {address}")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)


@pytest.fixture()
def server():
    class Handler(_Handler):
        routes = {}
        hits = {}

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", Handler
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture()
def cache(tmp_path):
    d = tmp_path / "cache"
    d.mkdir()
    return d


def _payload(n=300_000, seed=0):
    g = torch.Generator().manual_seed(seed)
    return bytes(torch.randint(0, 256, (n,), generator=g, dtype=torch.uint8).tolist())


def _sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _entry(name, url, body, **kw):
    fields = dict(name=name, filename=f"{name}.pth", url=url, sha256=_sha(body), size=len(body), notes="test file")
    fields.update(kw)
    return WeightEntry(**fields)


def _files(d: Path):
    return sorted(p.name for p in d.iterdir())


# ---------------------------------------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------------------------------------
_GH = "https://github.com/TencentARC/GFPGAN/releases/download"
_FX = "https://github.com/xinntao/facexlib/releases/download"
OFFICIAL = {  # name → (URL, sha256 or None), copied from ../shared/spec/gfpgan_facts.md §2
    "gfpgan-v1": (f"{_GH}/v0.1.0/GFPGANv1.pth", None),
    "gfpgan-v1.2": (f"{_GH}/v0.2.0/GFPGANCleanv1-NoCE-C2.pth", None),
    "gfpgan-v1.3": (f"{_GH}/v1.3.0/GFPGANv1.3.pth", "c953a88f2727c85c3d9ae72e2bd4846bbaf59fe6972ad94130e23e7017524a70"),
    "gfpgan-v1.4": (f"{_GH}/v1.3.0/GFPGANv1.4.pth", "e2cd4703ab14f4d01fd1383a8a8b266f9a5833dacee8e6a79d3bf21a1b6be5ad"),
    "stylegan2-512-prior": (f"{_GH}/v0.1.0/StyleGAN2_512_Cmul1_FFHQ_B12G4_scratch_800k.pth", None),
    "ffhq-components-512": (f"{_GH}/v0.1.0/FFHQ_eye_mouth_landmarks_512.pth", None),
    "arcface-resnet18": (f"{_GH}/v0.1.0/arcface_resnet18.pth", None),
    "retinaface-resnet50": (f"{_FX}/v0.1.0/detection_Resnet50_Final.pth",
                            "6d1de9c2944f2ccddca5f5e010ea5ae64a39845a86311af6fdf30841b0a5a16d"),
    "parsenet": (f"{_FX}/v0.2.2/parsing_parsenet.pth",
                 "3d558d8d0e42c20224f13cf5a29c79eba2d59913419f945545d8cf7b72920de2"),
    "vgg19": ("https://download.pytorch.org/models/vgg19-dcbb9e9d.pth", "dcbb9e9d"),  # torchvision's name prefix
}


def test_official_entries_are_the_published_ones():
    for name, (url, sha) in OFFICIAL.items():
        e = weights.get_entry(name)
        assert (e.url, e.sha256) == (url, sha), name
        assert e.filename == url.rsplit("/", 1)[1]  # cached under the release's own file name
    assert weights.REGISTRY["gfpgan-v1.4"].size == weights.REGISTRY["gfpgan-v1.3"].size == 348_632_874


def test_shipped_entries_match_their_files_and_data_readme():
    readme = (REPO / "data" / "README.md").read_text()
    shipped = [e for e in weights.REGISTRY.values() if e.shipped]
    assert {"toy-prior-32", "toy-arcface", "toy-vgg"} <= {e.name for e in shipped}
    for e in shipped:
        body = (REPO / "data" / e.filename).read_bytes()
        assert (_sha(body), len(body)) == (e.sha256, e.size), e.name
        row = re.search(rf"^\| `{re.escape(e.filename)}`.*?`([0-9a-f]{{64}})`", readme, re.M)
        assert row and row.group(1) == e.sha256, f"data/README.md lists another sha256 for {e.filename}"


def test_entry_validation_and_unknown_name():
    with pytest.raises(ValueError, match="lowercase hex"):
        WeightEntry("x", "x.pth", "http://127.0.0.1/x.pth", "ABCDEF12", None, "")
    with pytest.raises(ValueError, match="lowercase hex"):
        WeightEntry("x", "x.pth", "http://127.0.0.1/x.pth", "abc", None, "")  # too short to mean anything
    with pytest.raises(ValueError, match="needs its sha256"):
        WeightEntry("x", "x.pth", None, None, None, "")
    with pytest.raises(KeyError, match="gfpgan-v1.4"):
        weights.get_entry("gfpgan-v14")


def test_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("GFPLIB_CACHE", str(tmp_path / "c"))
    assert weights.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("GFPLIB_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert weights.cache_dir() == tmp_path / "x" / "gfplib"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert weights.cache_dir() == tmp_path / "home" / ".cache" / "gfplib"
    assert weights.cache_dir(tmp_path / "y") == tmp_path / "y"


def test_sha256_file(tmp_path):
    (tmp_path / "abc").write_bytes(b"abc")  # FIPS 180-2 test vector
    assert weights.sha256_file(tmp_path / "abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    body = _payload(2_500_000)  # more than two 1 MiB chunks
    (tmp_path / "big").write_bytes(body)
    assert weights.sha256_file(tmp_path / "big") == _sha(body)


# ---------------------------------------------------------------------------------------------------------------------
# Downloads and cache hits
# ---------------------------------------------------------------------------------------------------------------------
def test_good_file_downloaded_once_with_progress_bar(server, cache, monkeypatch, capsys):
    base, handler = server
    body = _payload()
    handler.routes["/good.pth"] = (body, "ok")
    entry = _entry("good", f"{base}/good.pth", body)
    monkeypatch.setenv("GFPLIB_CACHE", str(cache))
    assert weights.local_path(entry) is None
    path = weights.fetch(entry, progress=True)
    assert "good.pth" in capsys.readouterr().err  # the tqdm bar, labelled with the file name
    assert path == cache / "good.pth" and path.read_bytes() == body
    assert _files(cache) == ["good.pth"]  # no temporary file left behind
    assert weights.fetch(entry, progress=False) == path == weights.local_path(entry)  # cache hits
    assert handler.hits["/good.pth"] == 1


def test_corrupt_cached_file_is_refused(server, cache):
    """Every cache hit is re-hashed, even when the file was swapped with the same size and time stamp."""
    base, handler = server
    body = _payload()
    handler.routes["/good.pth"] = (body, "ok")
    entry = _entry("good", f"{base}/good.pth", body)
    path = weights.fetch(entry, cache_dir=cache, progress=False)
    stamp = path.stat()
    bad = bytes([body[0] ^ 1]) + body[1:]
    path.write_bytes(bad)
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # as `cp -p` or unzip would leave it
    for call in (weights.fetch, weights.local_path):
        with pytest.raises(WeightsHashError, match="force=True") as err:
            call(entry, cache_dir=cache)
        assert str(path) in str(err.value) and _sha(bad) in str(err.value) and _sha(body) in str(err.value)
    assert handler.hits["/good.pth"] == 1  # not replaced silently
    assert weights.fetch(entry, cache_dir=cache, progress=False, force=True).read_bytes() == body
    assert handler.hits["/good.pth"] == 2


def test_wrong_hash_or_size_download_leaves_nothing(server, cache):
    base, handler = server
    body = _payload()
    handler.routes["/evil.pth"] = (body, "ok")
    entry = _entry("evil", f"{base}/evil.pth", body, sha256=_sha(b"something else"))
    with pytest.raises(WeightsHashError, match="nothing was cached") as err:
        weights.fetch(entry, cache_dir=cache, progress=False)
    msg = str(err.value)
    assert f"{base}/evil.pth" in msg and _sha(body) in msg and _sha(b"something else") in msg
    assert _files(cache) == []
    entry = _entry("evil", f"{base}/evil.pth", body, size=len(body) + 1)  # right hash, wrong size
    with pytest.raises(WeightsHashError, match=f"{len(body)} bytes"):
        weights.fetch(entry, cache_dir=cache, progress=False)
    assert _files(cache) == []


def test_force_keeps_the_old_file_when_the_new_download_is_bad(server, cache):
    base, handler = server
    body = _payload()
    handler.routes["/f.pth"] = (body, "ok")
    entry = _entry("f", f"{base}/f.pth", body)
    path = weights.fetch(entry, cache_dir=cache, progress=False)
    handler.routes["/f.pth"] = (body[::-1], "ok")
    with pytest.raises(WeightsHashError):
        weights.fetch(entry, cache_dir=cache, progress=False, force=True)
    assert path.read_bytes() == body and _files(cache) == ["f.pth"]


def test_truncated_transfer_leaves_nothing(server, cache):
    base, handler = server
    body = _payload()
    handler.routes["/cut.pth"] = (body, "truncate")
    # no hash and no size in the table: only the Content-Length check can notice
    entry = _entry("cut", f"{base}/cut.pth", body, sha256=None, size=None)
    with pytest.raises(WeightsDownloadError, match="truncated") as err:
        weights.fetch(entry, cache_dir=cache, progress=False)
    assert f"received {len(body)} of {len(body) + 4096}" in str(err.value) and str(cache / "cut.pth") in str(err.value)
    assert _files(cache) == []


def test_http_404(server, cache):
    base, _ = server
    entry = _entry("missing", f"{base}/missing.pth", b"x")
    with pytest.raises(WeightsDownloadError, match="HTTP 404") as err:
        weights.fetch(entry, cache_dir=cache, progress=False)
    assert f"{base}/missing.pth" in str(err.value) and str(cache / "missing.pth") in str(err.value)
    assert _files(cache) == []


def test_connection_refused(cache):
    with socket.socket() as s:  # an ephemeral port that nobody listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/x.pth"
    with pytest.raises(WeightsDownloadError, match="offline") as err:
        weights.fetch(_entry("refused", url, b"x"), cache_dir=cache, progress=False)
    assert url in str(err.value) and str(cache / "refused.pth") in str(err.value) and "by hand" in str(err.value)
    assert _files(cache) == []


def test_offline(server, cache, monkeypatch):
    base, handler = server
    handler.routes["/good.pth"] = (b"abc", "ok")

    def no_network(*args, **kwargs):
        raise OSError(101, "Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", no_network)
    with pytest.raises(WeightsDownloadError, match="Network is unreachable") as err:
        weights.fetch(_entry("good", f"{base}/good.pth", b"abc"), cache_dir=cache, progress=False)
    msg = str(err.value)
    assert f"{base}/good.pth" in msg and str(cache / "good.pth") in msg and "by hand" in msg
    assert handler.hits == {} and _files(cache) == []


def test_unpublished_hash_recorded_on_first_use(server, cache):
    base, handler = server
    body = _payload(seed=1)
    handler.routes["/u.pth"] = (body, "ok")
    entry = _entry("u", f"{base}/u.pth", body, sha256=None, size=None)
    with pytest.warns(UserWarning, match="no published sha256"):
        path = weights.fetch(entry, cache_dir=cache, progress=False)
    side = cache / "u.pth.sha256"
    assert side.read_text() == f"{_sha(body)}  u.pth\n"  # sha256sum -c format
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a recorded file is checked quietly
        assert weights.fetch(entry, cache_dir=cache) == path
    bad = body[:-1] + bytes([body[-1] ^ 1])
    path.write_bytes(bad)
    with pytest.raises(WeightsHashError, match=_sha(body)):
        weights.fetch(entry, cache_dir=cache)
    side.unlink()  # a file placed by hand without a record: recorded on first use, with a warning
    with pytest.warns(UserWarning, match="no published sha256"):
        weights.fetch(entry, cache_dir=cache)
    assert side.read_text().split()[0] == _sha(bad)
    with pytest.warns(UserWarning):  # force: downloaded again and recorded anew
        weights.fetch(entry, cache_dir=cache, progress=False, force=True)
    assert side.read_text().split()[0] == _sha(body) and handler.hits["/u.pth"] == 2


def test_torchvision_prefix(server, cache):
    base, handler = server
    body = _payload(seed=2)
    handler.routes["/p.pth"] = (body, "ok")
    good = _entry("p", f"{base}/p.pth", body, sha256=_sha(body)[:8])
    assert weights.fetch(good, cache_dir=cache, progress=False).read_bytes() == body
    wrong = "0" * 8 if _sha(body)[:8] != "0" * 8 else "1" * 8
    with pytest.raises(WeightsHashError, match=wrong):
        weights.fetch(_entry("q", f"{base}/p.pth", body, sha256=wrong), cache_dir=cache, progress=False)
    assert not (cache / "q.pth").exists()


def test_shipped_entry(tmp_path, monkeypatch):
    data = tmp_path / "data"
    (data / "toy").mkdir(parents=True)
    body = _payload(1000)
    (data / "toy" / "net.pt").write_bytes(body)
    monkeypatch.setenv("GFPLIB_DATA", str(data))
    entry = WeightEntry("toy-net", "toy/net.pt", None, _sha(body), len(body), "toy")
    assert entry.shipped and weights.fetch(entry) == data / "toy" / "net.pt"
    (data / "toy" / "net.pt").write_bytes(body[::-1])
    with pytest.raises(WeightsHashError, match="shipped file was modified"):
        weights.fetch(entry)
    (data / "toy" / "net.pt").unlink()
    with pytest.raises(WeightsNotFoundError, match="missing"):
        weights.fetch(entry)
    assert weights.local_path(entry) is None


# ---------------------------------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------------------------------
def test_load_state_dict_keys(tmp_path):
    a, b = torch.arange(6.0).reshape(2, 3), torch.ones(4)
    torch.save({"params_ema": {"w": a}, "params": {"w": b}}, tmp_path / "ema.pth")
    torch.save({"params": {"w": b}}, tmp_path / "params.pth")
    torch.save({"module.conv.weight": a, "bias": b}, tmp_path / "raw.pth")
    sd = weights.load_state_dict(tmp_path / "ema.pth")
    assert list(sd) == ["w"] and torch.equal(sd["w"], a)  # params_ema wins over params
    assert torch.equal(weights.load_state_dict(tmp_path / "ema.pth", "params")["w"], b)
    assert torch.equal(weights.load_state_dict(tmp_path / "params.pth")["w"], b)
    sd = weights.load_state_dict(str(tmp_path / "raw.pth"))
    assert sorted(sd) == ["bias", "conv.weight"] and torch.equal(sd["conv.weight"], a)  # module. stripped
    assert sorted(weights.load_state_dict(tmp_path / "raw.pth", None)) == ["bias", "conv.weight"]
    with pytest.raises(KeyError, match="params_ema"):
        weights.load_state_dict(tmp_path / "raw.pth", "params_ema")


def test_load_state_dict_errors(tmp_path):
    (tmp_path / "junk.pth").write_bytes(b"this is not a checkpoint")
    with pytest.raises(WeightsError, match="not a valid PyTorch checkpoint"):
        weights.load_state_dict(tmp_path / "junk.pth")
    buf = io.BytesIO()
    torch.save({"params": {"w": torch.ones(1000)}}, buf)
    (tmp_path / "half.pth").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])  # truncated checkpoint
    with pytest.raises(WeightsError, match="corrupt"):
        weights.load_state_dict(tmp_path / "half.pth")
    torch.save({"epoch": 3, "lr": 0.1}, tmp_path / "meta.pth")
    with pytest.raises(WeightsError, match="not tensors"):
        weights.load_state_dict(tmp_path / "meta.pth")
    with pytest.raises(WeightsNotFoundError, match="neither a weights table name"):
        weights.load_state_dict(tmp_path / "nope.pth")
    with pytest.raises(WeightsNotFoundError, match="gfpgan-v1.4"):
        weights.load_state_dict("gfpgan-v1_4")


def test_load_state_dict_by_name_downloads_once(server, cache, monkeypatch):
    base, handler = server
    buf = io.BytesIO()
    w = torch.randn(3, 3, generator=torch.Generator().manual_seed(0))
    torch.save({"params_ema": {"module.w": w}}, buf)
    body = buf.getvalue()
    handler.routes["/net.pth"] = (body, "ok")
    monkeypatch.setitem(weights.REGISTRY, "test-net", _entry("test-net", f"{base}/net.pth", body))
    sd = weights.load_state_dict("test-net", cache_dir=cache)
    assert list(sd) == ["w"] and torch.equal(sd["w"], w)
    weights.load_state_dict("test-net", cache_dir=cache)
    assert handler.hits["/net.pth"] == 1


def test_load_checkpoint_numpy(tmp_path):
    """Component-box files hold NumPy arrays: refused by default, loaded with allow_numpy=True (NumPy-1 files too)."""
    import numpy as np

    boxes = {"00000000": {"left_eye": np.array([180.5, 240.0, 20.0]), "mouth": np.array([256.0, 371.0, 35.0])}}
    torch.save(boxes, tmp_path / "boxes.pth")
    with pytest.raises(WeightsError, match="allow_numpy=True"):
        weights.load_checkpoint(tmp_path / "boxes.pth")
    got = weights.load_checkpoint(tmp_path / "boxes.pth", allow_numpy=True)
    assert np.array_equal(got["00000000"]["mouth"], boxes["00000000"]["mouth"])
    # a file written by NumPy 1.x names numpy.core.multiarray (legacy, non-zip torch format keeps the name in clear)
    buf = io.BytesIO()
    torch.save(boxes, buf, _use_new_zipfile_serialization=False)
    legacy = buf.getvalue().replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    assert b"numpy.core.multiarray\n" in legacy
    (tmp_path / "old.pth").write_bytes(legacy)
    got = weights.load_checkpoint(tmp_path / "old.pth", allow_numpy=True)
    assert np.array_equal(got["00000000"]["left_eye"], boxes["00000000"]["left_eye"])
