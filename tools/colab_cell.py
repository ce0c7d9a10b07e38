"""The Colab setup cell of every notebook, and the README's Colab badges, from one place.

``REPO`` and ``REF`` say what a notebook opened on Colab clones. A fork changes them here and runs
``python tools/colab_cell.py --write notebooks/*.ipynb`` (rewrites cell 0 of each notebook and the README badges);
``tests/test_notebook_conventions.py`` and ``tests/test_colab.py`` check that every notebook and badge agrees.

Why ``REF = "main"`` and not a commit: a badge opens the notebook as it is on ``main``, with outputs that
``make notebooks`` stored from ``main``'s code and that nbval checks against it, so the clone must be the same ref as
the badge; a commit hash cannot be written into the commit it names. To freeze a course, tag a release
(``git tag v0.1.0``), set ``REF`` to the tag and run the command above: badges and clones then both point at the tag.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPO = "https://github.com/gfplearn/gfplearn"
REF = "main"
CLONE_DIR = "/content/gfplearn"
# Colab already has torch, torchvision, NumPy, OpenCV, Matplotlib and ipywidgets: the `colab` extra adds only what it
# lacks (facexlib via `faces`), never JupyterLab, and pip keeps the preinstalled torch (loose bounds in pyproject.toml).
EXTRAS = "faces,colab"
ROOT = Path(__file__).resolve().parent.parent
BADGE_RE = re.compile(r"https://colab\.research\.google\.com/github/([^/\s)]+/[^/\s)]+)/blob/([^/\s)]+)/"
                      r"(notebooks/[^\s)]+\.ipynb)")


def pip_command(clone_dir: str = CLONE_DIR) -> list:
    """The install command of the cell, after ``sys.executable``."""
    return ["-m", "pip", "install", "-q", "-e", f"{clone_dir}[{EXTRAS}]"]


def clone_command(repo: str = REPO, ref: str = REF, clone_dir: str = CLONE_DIR) -> list:
    return ["git", "clone", "--depth", "1", "--branch", ref, repo, clone_dir]


def cell_source(repo: str = REPO, ref: str = REF) -> str:
    """The text of the setup cell (inert outside Colab: it imports nothing and installs nothing there)."""
    return f'''# Setup: on Google Colab, fetch the repository and install gfplib; locally (`make lab`) this does nothing.
# REPO and REF come from tools/colab_cell.py (a fork changes them there and rewrites this cell with it).
import os, sys
REPO, REF = "{repo}", "{ref}"
if "google.colab" in sys.modules:
    import subprocess
    if not os.path.isdir("{CLONE_DIR}"):
        subprocess.run({clone_command("REPO", "REF")!r}, check=True)
        subprocess.run([sys.executable, {", ".join(map(repr, pip_command()))}], check=True)
    from google.colab import output
    output.enable_custom_widget_manager()  # ipywidgets 8 controls render on Colab only through its widget manager
    sys.path.insert(0, "{CLONE_DIR}")
    os.chdir("{CLONE_DIR}/notebooks")'''.replace("'REPO'", "REPO").replace("'REF'", "REF").replace("'", '"')


def badge_url(notebook: str, repo: str = REPO, ref: str = REF) -> str:
    owner_name = repo.rstrip("/").split("github.com/", 1)[1]
    return f"https://colab.research.google.com/github/{owner_name}/blob/{ref}/{notebook}"


def write_cell(path: Path) -> bool:
    """Replace cell 0 of a notebook by :func:`cell_source`; True when it changed."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    lines = cell_source().splitlines(keepends=True)
    cell = nb["cells"][0]
    if cell["cell_type"] != "code":
        raise ValueError(f"{path}: cell 0 is {cell['cell_type']}, not the setup code cell")
    if cell["source"] == lines:
        return False
    cell["source"] = lines
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return True


def write_badges(readme: Path) -> bool:
    text = readme.read_text(encoding="utf-8")
    new = BADGE_RE.sub(lambda m: badge_url(m.group(3)), text)
    if new != text:
        readme.write_text(new, encoding="utf-8")
    return new != text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Write the Colab setup cell into notebooks and the badges into README.md")
    ap.add_argument("--write", nargs="+", type=Path, metavar="NOTEBOOK", required=True)
    args = ap.parse_args(argv)
    for path in args.write:
        print(f"{path}: {'rewritten' if write_cell(path) else 'up to date'}")
    print(f"README.md badges: {'rewritten' if write_badges(ROOT / 'README.md') else 'up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
