"""gfplib.weights against a real HTTP server on 127.0.0.1 (no other host is ever contacted)."""
import hashlib
import http.server
import io
import socket
import threading
from pathlib import Path

import pytest
import torch

from gfplib import weights
from gfplib.weights import WeightEntry, WeightsDownloadError, WeightsError, WeightsHashError, WeightsNotFoundError


# ---------------------------------------------------------------------------------------------------------------------
# A local file server: routes[path] = (body, mode), mode in {"ok", "truncate", "404"}; hits counts GETs per path.
# ---------------------------------------------------------------------------------------------------------------------
class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict = {}
    hits: dict = {}

    def do_GET(self):  # noqa: N802 (http.server API)
        self.hits[self.path] = self.hits.get(self.path, 0) + 1
        body, mode = self.routes.get(self.path, (b"", "404"))
        if mode == "404":
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        # "truncate": announce more bytes than are sent, then close the connection mid-transfer
        self.send_header("Content-Length", str(len(body) + (4096 if mode == "truncate" else 0)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        if mode == "truncate":
            self.close_connection = True

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
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield base, Handler
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


def _entry(name, url, body, **kw):
    fields = dict(name=name, filename=f"{name}.pth", url=url, sha256=hashlib.sha256(body).hexdigest(),
                  hash_source="third-party", size=len(body), description="test file", licence="test")
    fields.update(kw)
    return WeightEntry(**fields)


def _files(d: Path):
    return sorted(p.name for p in d.iterdir())


# ---------------------------------------------------------------------------------------------------------------------
# Registry table
# ---------------------------------------------------------------------------------------------------------------------
def test_registry_covers_official_files():
    names = set(weights.REGISTRY)
    assert {"gfpgan-v1", "gfpgan-v1.2", "gfpgan-v1.3", "gfpgan-v1.4", "stylegan2-512-prior", "arcface-resnet18",
            "ffhq-components-512", "retinaface-resnet50", "parsenet", "vgg19"} <= names
    for e in weights.list_weights():
        assert e.shipped or e.url.startswith("https://")
        if e.url:
            assert e.url.rsplit("/", 1)[1] == e.filename  # the cached name is the release's file name
        assert e.hash_source in weights.HASH_SOURCES
    v14 = weights.REGISTRY["gfpgan-v1.4"]
    assert v14.sha256 == "e2cd4703ab14f4d01fd1383a8a8b266f9a5833dacee8e6a79d3bf21a1b6be5ad"
    assert weights.REGISTRY["vgg19"].sha256_prefix == "dcbb9e9d" and weights.REGISTRY["vgg19"].sha256 is None
    table = weights.weights_table()
    assert all(n in table for n in names)
    md = weights.weights_table(markdown=True).splitlines()
    assert md[1] == "|---|---|---|---|---|" and len(md) == len(names) + 2
    assert "local" not in weights.weights_table(local=False).splitlines()[0]


def test_entry_validation_and_unknown_name():
    with pytest.raises(ValueError, match="hash_source"):
        WeightEntry("x", "x.pth", "http://127.0.0.1/x.pth", None, "made-up", None, "", "")
    with pytest.raises(ValueError, match="unpublished"):
        WeightEntry("x", "x.pth", "http://127.0.0.1/x.pth", None, "third-party", None, "", "")
    with pytest.raises(ValueError, match="lowercase hex"):
        WeightEntry("x", "x.pth", "http://127.0.0.1/x.pth", "ABC", "third-party", None, "", "")
    with pytest.raises(KeyError, match="gfpgan-v1.4"):
        weights.get_entry("gfpgan-v14")
    with pytest.raises(ValueError, match="already exists"):
        weights.register(weights.REGISTRY["vgg19"])


def test_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("GFPLIB_CACHE", str(tmp_path / "c"))
    assert weights.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("GFPLIB_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert weights.cache_dir() == tmp_path / "x" / "gfplib"
    assert weights.cache_dir(tmp_path / "y") == tmp_path / "y"


# ---------------------------------------------------------------------------------------------------------------------
# Downloads
# ---------------------------------------------------------------------------------------------------------------------
def test_good_file_cached_and_not_downloaded_twice(server, cache, monkeypatch):
    base, handler = server
    body = _payload()
    handler.routes["/good.pth"] = (body, "ok")
    entry = _entry("good", f"{base}/good.pth", body)
    monkeypatch.setenv("GFPLIB_CACHE", str(cache))
    path = weights.fetch(entry, progress=True)
    assert path == cache / "good.pth" and path.read_bytes() == body
    assert handler.hits["/good.pth"] == 1
    assert _files(cache) == ["good.pth", "good.pth.verified"]  # no temporary file left behind
    assert weights.fetch(entry, progress=False) == path  # cache hit: verified, not downloaded again
    assert weights.fetch(entry, progress=False, rehash=True) == path
    assert handler.hits["/good.pth"] == 1
    assert weights.local_path(entry) == path
    # the cached copy is changed behind our back (same size): the hit is re-verified and refused
    path.write_bytes(bytes([body[0] ^ 1]) + body[1:])
    with pytest.raises(WeightsHashError, match="force=True"):
        weights.fetch(entry, progress=False)
    assert handler.hits["/good.pth"] == 1
    # force=True downloads a fresh copy over it
    assert weights.fetch(entry, progress=False, force=True).read_bytes() == body
    assert handler.hits["/good.pth"] == 2


def test_wrong_hash_leaves_nothing(server, cache):
    base, handler = server
    body = _payload()
    handler.routes["/evil.pth"] = (body, "ok")
    entry = _entry("evil", f"{base}/evil.pth", body, sha256=hashlib.sha256(b"something else").hexdigest())
    with pytest.raises(WeightsHashError, match="nothing was cached"):
        weights.fetch(entry, cache_dir=cache, progress=False)
    assert _files(cache) == []
    # wrong size with the right hash is refused as well
    entry = _entry("evil", f"{base}/evil.pth", body, size=len(body) + 1)
    with pytest.raises(WeightsHashError, match="size"):
        weights.fetch(entry, cache_dir=cache, progress=False)
    assert _files(cache) == []


def test_truncated_transfer_leaves_nothing(server, cache):
    base, handler = server
    body = _payload()
    handler.routes["/cut.pth"] = (body, "truncate")
    entry = _entry("cut", f"{base}/cut.pth", body, sha256=None, hash_source="unpublished", size=None)
    with pytest.raises(WeightsDownloadError, match="truncated") as err:
        weights.fetch(entry, cache_dir=cache, progress=False)
    assert f"{len(body)}" in str(err.value) and str(cache / "cut.pth") in str(err.value)
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
    entry = _entry("refused", url, b"x")
    with pytest.raises(WeightsDownloadError, match="offline") as err:
        weights.fetch(entry, cache_dir=cache, progress=False)
    msg = str(err.value)
    assert url in msg and str(cache / "refused.pth") in msg and "by hand" in msg
    assert _files(cache) == []


def test_offline(server, cache, monkeypatch):
    base, handler = server
    handler.routes["/good.pth"] = (b"abc", "ok")

    def no_network(*args, **kwargs):
        raise OSError(101, "Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", no_network)
    entry = _entry("good", f"{base}/good.pth", b"abc")
    with pytest.raises(WeightsDownloadError, match="Network is unreachable") as err:
        weights.fetch(entry, cache_dir=cache, progress=False)
    assert f"{base}/good.pth" in str(err.value) and str(cache / "good.pth") in str(err.value)
    assert handler.hits == {} and _files(cache) == []


def test_unpublished_hash_recorded_on_first_download(server, cache):
    base, handler = server
    body = _payload(seed=1)
    handler.routes["/u.pth"] = (body, "ok")
    entry = _entry("u", f"{base}/u.pth", body, sha256=None, hash_source="unpublished", size=None)
    path = weights.fetch(entry, cache_dir=cache, progress=False)
    side = cache / "u.pth.sha256"
    assert side.read_text().split() == [hashlib.sha256(body).hexdigest(), "u.pth"]
    path.write_bytes(body[:-1] + bytes([body[-1] ^ 1]))  # changed later → refused against the recorded hash
    with pytest.raises(WeightsHashError, match="recorded"):
        weights.fetch(entry, cache_dir=cache, progress=False)
    # a file placed by hand without a sidecar is recorded on first use, with a warning
    side.unlink()
    with pytest.warns(UserWarning, match="trust on first use"):
        weights.fetch(entry, cache_dir=cache, progress=False)
    assert side.is_file() and handler.hits["/u.pth"] == 1


def test_torchvision_prefix(server, cache):
    base, handler = server
    body = _payload(seed=2)
    digest = hashlib.sha256(body).hexdigest()
    handler.routes["/p.pth"] = (body, "ok")
    good = _entry("p", f"{base}/p.pth", body, sha256=None, sha256_prefix=digest[:8], hash_source="torchvision-prefix")
    assert weights.fetch(good, cache_dir=cache, progress=False).read_bytes() == body
    bad_prefix = "0" * 8 if digest[:8] != "0" * 8 else "1" * 8
    bad = _entry("q", f"{base}/p.pth", body, sha256=None, sha256_prefix=bad_prefix, hash_source="torchvision-prefix")
    with pytest.raises(WeightsHashError, match="prefix"):
        weights.fetch(bad, cache_dir=cache, progress=False)
    assert not (cache / "q.pth").exists()


def test_shipped_entry(tmp_path, monkeypatch):
    data = tmp_path / "data"
    (data / "toy").mkdir(parents=True)
    body = _payload(1000)
    (data / "toy" / "net.pt").write_bytes(body)
    monkeypatch.setenv("GFPLIB_DATA", str(data))
    entry = WeightEntry("toy-net", "toy/net.pt", None, hashlib.sha256(body).hexdigest(), "recorded", len(body),
                        "toy", "Apache-2.0")
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
    with pytest.raises(WeightsNotFoundError, match="neither a registry name"):
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
    assert "test-net" in weights.weights_table(cache=cache) and "cached" in weights.weights_table(cache=cache)


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
