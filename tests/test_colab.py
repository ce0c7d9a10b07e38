"""The Colab path: the setup cell (tools/colab_cell.py), the README's badges, and the install on a Colab-like stack.

The fast tests run the cell's Colab branch with a stand-in ``google.colab`` module and a recording ``subprocess.run``,
and check the badges. The slow test builds a fresh virtual environment that already holds torch and the rest of
Colab's preinstalled stack (linked from .venv, JupyterLab left out), runs the cell's own pip command against a copy
of the checkout with ``--no-index`` (offline: anything pip would have to fetch fails the test), and checks that
gfplib imports, torch is the one that was there, and JupyterLab was not installed.
"""
from __future__ import annotations

import importlib.metadata as md
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("colab_cell", ROOT / "tools" / "colab_cell.py")
colab_cell = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(colab_cell)

BADGE_LINK_RE = re.compile(r"\]\((https://colab\.research\.google\.com/github/[^)\s]+)\)")


def test_setup_cell_on_colab_clones_installs_and_enables_widgets(monkeypatch, tmp_path):
    calls, enabled = [], []
    colab = types.ModuleType("google.colab")
    colab.output = types.SimpleNamespace(enable_custom_widget_manager=lambda: enabled.append(True))
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setattr(subprocess, "run", lambda cmd, check: calls.append(cmd))
    monkeypatch.setattr(os.path, "isdir", lambda p: False)
    monkeypatch.setattr(os, "chdir", lambda p: calls.append(["chdir", p]))
    monkeypatch.setattr(sys, "path", list(sys.path))
    exec(compile(colab_cell.cell_source(), "setup-cell", "exec"), {})  # noqa: S102 - our own cell
    clone, install, chdir = calls
    assert clone == ["git", "clone", "--depth", "1", "--branch", colab_cell.REF, colab_cell.REPO, "/content/gfplearn"]
    assert install[0] == sys.executable and install[1:] == colab_cell.pip_command()
    assert "jupyterlab" not in " ".join(install) and "notebooks]" not in install[-1]
    assert chdir == ["chdir", "/content/gfplearn/notebooks"] and sys.path[0] == "/content/gfplearn"
    assert enabled == [True], "ipywidgets 8 needs Colab's custom widget manager"


def test_setup_cell_outside_colab_does_nothing(monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("the cell ran a command outside Colab"))
    ns: dict = {}
    exec(compile(colab_cell.cell_source(), "setup-cell", "exec"), ns)  # noqa: S102
    assert "subprocess" not in ns and ns["REPO"] == colab_cell.REPO


def test_colab_extra_adds_no_jupyterlab_and_pins_no_torch():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = colab_cell.EXTRAS.split(",")
    reqs = project["dependencies"] + [r for e in extras for r in project["optional-dependencies"][e]]
    names = {re.match(r"[A-Za-z0-9_.-]+", r).group(0).lower() for r in reqs}
    assert "jupyterlab" not in names and "notebook" not in names, reqs
    for r in reqs:  # a lower bound only, so that pip keeps Colab's torch
        if r.startswith(("torch", "torchvision")):
            assert re.fullmatch(r"torch(vision)?>=[\d.]+", r), f"{r!r} could replace Colab's torch"


def test_readme_badges_point_at_existing_notebooks():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    links = BADGE_LINK_RE.findall(text)
    nbs = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert len(links) >= len(nbs), f"{len(links)} Colab badges for {len(nbs)} notebooks"
    for link in links:
        m = colab_cell.BADGE_RE.fullmatch(link)
        assert m, f"not a Colab GitHub link: {link}"
        assert link == colab_cell.badge_url(m.group(3)), f"badge {link} is not on {colab_cell.REPO} at {colab_cell.REF}"
        assert (ROOT / m.group(3)).is_file(), f"the badge {link} opens a notebook that does not exist"
    badged = {Path(colab_cell.BADGE_RE.fullmatch(u).group(3)).name for u in links}
    assert set(nbs) <= badged, f"notebooks without a Colab badge in the README: {sorted(set(nbs) - badged)}"


# --- the install itself, on a Colab-like stack -----------------------------------------------------------------
#: What Colab preinstalls (and gfplib uses), plus what the cell fetches from the registry there; all are linked from
#: .venv so that the test runs offline. JupyterLab is not among them: if the install wanted it, it would fail.
COLAB_STACK = ["torch", "torchvision", "numpy", "scipy", "opencv-python", "matplotlib", "tqdm", "scikit-image",
               "pillow", "ipywidgets", "ipython", "setuptools", "numba"]
FETCHED_ON_COLAB = ["facexlib", "filterpy"]


def _closure(names):
    from packaging.requirements import Requirement

    seen, done, todo = {}, set(), [(n, "") for n in names]
    while todo:  # (distribution, extra) pairs: torch's CUDA wheels come in through an extra of cuda-toolkit
        name, extra = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if (key, extra) in done:
            continue
        done.add((key, extra))
        seen[key] = dist = md.distribution(name)
        for r in dist.requires or []:
            req = Requirement(r)
            if req.marker is None or req.marker.evaluate({"extra": extra}):
                todo += [(req.name, "")] + [(req.name, e) for e in req.extras]
    return seen


def _link_distributions(dists, site: Path) -> None:
    for dist in dists.values():
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops - {"__pycache__"}:
            src = Path(dist.locate_file(top))
            if src.exists() and not (site / top).exists():
                (site / top).symlink_to(src)


@pytest.mark.slow
def test_setup_cell_install_keeps_torch_and_skips_jupyterlab(tmp_path):
    dists = _closure(COLAB_STACK + FETCHED_ON_COLAB)
    assert "jupyterlab" not in dists, "the stand-in Colab stack must not hold JupyterLab"
    venv = tmp_path / "colab"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next(venv.glob("lib/python*/site-packages"))
    _link_distributions(dists, site)
    (site / "pip").symlink_to(Path(md.distribution("pip").locate_file("pip")))  # Colab has pip; no download here
    checkout = tmp_path / "gfplearn"  # what the cell clones to /content/gfplearn
    shutil.copytree(ROOT / "gfplib", checkout / "gfplib", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, checkout / name)
    py = str(venv / "bin" / "python")
    torch_before = subprocess.run([py, "-c", "import torch; print(torch.__version__, torch.__file__)"],
                                  capture_output=True, text=True, check=True).stdout
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_NO_BUILD_ISOLATION="0", PIP_DISABLE_PIP_VERSION_CHECK="1")
    cmd = [py] + colab_cell.pip_command(str(checkout))
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, f"the setup cell's install failed offline on a Colab-like stack:\n{res.stderr[-3000:]}"
    assert not re.search(r"Uninstalling (torch|torchvision)-", res.stdout + res.stderr), res.stdout
    probe = ("import importlib.util, json, torch, gfplib, gfplib.widgets; print(json.dumps([torch.__version__ + ' ' "
             "+ torch.__file__, gfplib.__file__, importlib.util.find_spec('jupyterlab') is None]))")
    out = subprocess.run([py, "-c", probe], capture_output=True, text=True, env=env, check=True, cwd=tmp_path)
    torch_after, gfplib_file, no_lab = json.loads(out.stdout)
    assert torch_after == torch_before.strip(), "the install replaced torch"
    assert Path(gfplib_file).is_relative_to(checkout), f"gfplib imported from {gfplib_file}, not the clone"
    assert no_lab, "JupyterLab ended up in the Colab environment"
