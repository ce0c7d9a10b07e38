"""Every notebook of the series follows the same conventions (see CONTRIBUTING.md, "Notebooks").

The checks are parametrised over ``notebooks/NN_*.ipynb``, so a new notebook is held to them automatically.
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
NAME_RE = re.compile(r"^(\d\d)_[a-z0-9]+(_[a-z0-9]+)*\.ipynb$")


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _src(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _code_cells(nb: dict) -> list:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def _python_of(cell: dict) -> str:
    """A code cell's source with IPython magics and shell escapes blanked, so that ``ast`` can parse it."""
    lines = []
    for line in _src(cell).splitlines():
        stripped = line.lstrip()
        lines.append("" if stripped.startswith(("%", "!")) else line)
    return "\n".join(lines)


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 2, "the series has at least the overview and the degradation notebook"


def test_numbers_are_unique():
    numbers = [p.name[:2] for p in NOTEBOOKS]
    assert len(numbers) == len(set(numbers)), f"two notebooks share a number: {numbers}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
class TestNotebookConventions:
    def test_file_name(self, path):
        assert NAME_RE.match(path.name), f"{path.name}: expected NN_topic.ipynb (two digits, lowercase snake_case)"

    def test_format_and_kernel(self, path):
        nb = _load(path)
        assert nb["nbformat"] == 4
        assert nb["metadata"].get("kernelspec", {}).get("name") == "python3"

    def test_first_cell_is_colab_setup(self, path):
        first = _load(path)["cells"][0]
        assert first["cell_type"] == "code", "the first cell must be the Colab setup code cell"
        src = _src(first)
        assert '"google.colab" in sys.modules' in src, "setup cell must act only on Colab"
        assert "pip" in src and "install" in src, "setup cell must install gfplib on Colab"
        # Locally the cell must be inert: running its code outside Colab may not import or install anything.
        namespace: dict = {}
        exec(compile(src, f"{path.name}[0]", "exec"), namespace)  # noqa: S102 - our own notebook's setup cell
        assert "subprocess" not in namespace, "setup cell ran its Colab branch outside Colab"

    def test_title_goals_and_sources(self, path):
        cells = _load(path)["cells"]
        assert cells[1]["cell_type"] == "markdown"
        intro = _src(cells[1])
        number = path.name[:2]
        assert re.match(rf"#\s+{number}\s*·\s*\S", intro), f"second cell must start with '# {number} · Title'"
        assert "## Learning goals" in intro
        assert "**Paper:**" in intro, "name the paper section(s) the notebook follows"
        assert "**学习笔记 (study note):**" in intro, "name the matching heading(s) of the study note"
        goals = intro.split("## Learning goals", 1)[1]
        assert len(re.findall(r"^\s*[-*\d]", goals, flags=re.M)) >= 2, "list at least two learning goals"

    def test_imports_gfplib_and_seeds(self, path):
        code = "\n".join(_src(c) for c in _code_cells(_load(path))[1:])
        assert re.search(r"^\s*(from gfplib[\w.]* import|import gfplib)", code, flags=re.M), "import logic from gfplib"
        assert "seed_everything(" in code, "seed everything with gfplib.utils.seed_everything"

    def test_no_model_or_loss_logic_defined_inline(self, path):
        for i, cell in enumerate(_code_cells(_load(path))):
            tree = ast.parse(_python_of(cell))
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef):
                    bases = {ast.unparse(b) for b in node.bases}
                    assert not bases & {"nn.Module", "torch.nn.Module", "Module"}, (
                        f"code cell {i} defines nn.Module {node.name}: models live in gfplib")
                if isinstance(node, ast.FunctionDef):
                    assert "loss" not in node.name.lower(), f"code cell {i} defines {node.name}: losses live in gfplib"

    def test_outputs_stored_in_order(self, path):
        code = _code_cells(_load(path))
        counts = [c.get("execution_count") for c in code if _src(c).strip()]
        assert all(isinstance(n, int) for n in counts), "every code cell must be executed (run `make notebooks`)"
        assert counts == list(range(1, len(counts) + 1)), f"cells executed out of order / partially: {counts}"
        errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, f"stored outputs contain an error: {errors[0].get('ename')}"
        with_output = sum(1 for c in code if c.get("outputs"))
        assert with_output >= len(code) / 2, "most code cells should show something"

    def test_ends_with_exercises(self, path):
        last = _load(path)["cells"][-1]
        assert last["cell_type"] == "markdown" and _src(last).lstrip().startswith("## Exercises")
        assert len(re.findall(r"^\s*(\d+\.|[-*])\s", _src(last), flags=re.M)) >= 3, "give at least three exercises"

    def test_listed_in_readme(self, path):
        readme = (ROOT / "README.md").read_text(encoding="utf-8")
        assert f"notebooks/{path.name}" in readme, f"add {path.name} to the README's notebook table"
