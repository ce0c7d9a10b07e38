"""Helpers of the browser tests (``make test-browser``): headless Chromium driven by Playwright, a JupyterLab on
127.0.0.1, and no network for either.

Chromium is the system's (Debian: ``apt-get install chromium``); Playwright never downloads a browser of its own. Every
request that is not for 127.0.0.1 is aborted and counted, so a page that tries to reach the network fails its test.
Screenshots go to ``test-artifacts/`` (git-ignored).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-quic"]
INSTALL_HINT = ("the browser tests need Chromium and Playwright for Python: `apt-get install chromium` (Debian/Ubuntu; "
                "or set GFPLIB_CHROMIUM=/path/to/chromium) and `.venv/bin/python -m pip install -r requirements.txt`; "
                "never `playwright install`")


def chromium_path() -> str:
    """The system Chromium, or a skip that says what to install."""
    for cand in [os.environ.get("GFPLIB_CHROMIUM", ""), "chromium", "chromium-browser", "google-chrome"]:
        found = cand and shutil.which(cand)
        if found:
            return found
    pytest.skip(f"no Chromium found: {INSTALL_HINT}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def browser_page(viewport=(1280, 900)):
    """A fresh headless Chromium page (own profile directory) whose non-local requests are aborted.

    Yields ``(page, blocked)``: ``blocked`` lists the URLs the page tried to fetch from anywhere but 127.0.0.1.
    """
    exe = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(f"playwright is not installed: {INSTALL_HINT}")
    blocked: list = []

    def route(r):
        url = r.request.url
        host = urlparse(url).hostname
        if url.startswith(("data:", "blob:", "about:")) or host in ("127.0.0.1", "localhost") or \
                url.startswith("file:"):
            return r.continue_()
        blocked.append(url)
        return r.abort()

    with tempfile.TemporaryDirectory(prefix="gfplib-chromium-") as profile, sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(profile, executable_path=exe, headless=True, args=CHROMIUM_FLAGS,
                                                   viewport={"width": viewport[0], "height": viewport[1]})
        try:
            ctx.route("**/*", route)
            page = ctx.pages[0] if ctx.pages else ctx.new_page()
            yield page, blocked
        finally:
            ctx.close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=False)
    return path


#: JupyterLab user settings for the test server: no autosave (the copies stay as stored), every cell rendered
#: (windowing off, so the DOM holds every widget), no news or update checks (no network).
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": '{"autosave": false}',
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": '{"windowingMode": "none"}',
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        '{"fetchNews": "false", "checkForUpdates": false}',
}


@contextlib.contextmanager
def jupyterlab(root: Path):
    """JupyterLab from this environment on 127.0.0.1 (a free port, a token set here), serving ``root``.

    Yields the base URL with the token. Its kernel sees live widgets (``GFPLIB_STATIC_WIDGETS`` unset) and the
    inline matplotlib backend (``MPLBACKEND`` unset); its settings, runtime and workspaces live in a temporary folder.
    """
    jupyter = Path(sys.executable).with_name("jupyter")
    if not jupyter.exists():
        pytest.skip(f"no {jupyter}: run `make venv`")
    port, token = free_port(), os.urandom(16).hex()
    with tempfile.TemporaryDirectory(prefix="gfplib-lab-") as home:
        settings = Path(home, "settings")
        for name, text in LAB_SETTINGS.items():
            (settings / name).parent.mkdir(parents=True, exist_ok=True)
            (settings / name).write_text(text)
        env = {k: v for k, v in os.environ.items() if k not in ("GFPLIB_STATIC_WIDGETS", "MPLBACKEND")}
        env.update(JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(Path(home, "ws")),
                   JUPYTER_RUNTIME_DIR=str(Path(home, "runtime")), JUPYTER_CONFIG_DIR=str(Path(home, "config")),
                   OMP_NUM_THREADS="2", MKL_NUM_THREADS="2", PYTHONHASHSEED="0")
        cmd = [str(jupyter), "lab", "--no-browser", "--ip", "127.0.0.1", "--port", str(port), "--allow-root",
               f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
               "--LabApp.news_url=", "--LabApp.extension_manager=readonly",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        log = open(Path(home, "lab.log"), "w")
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + 60
            while True:
                try:
                    urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2).read()
                    break
                except OSError:
                    if proc.poll() is not None or time.time() > deadline:
                        log.flush()
                        pytest.fail("JupyterLab did not start:\n" + Path(home, "lab.log").read_text()[-3000:])
                    time.sleep(0.5)
            yield base, token
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
