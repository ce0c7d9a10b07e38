"""Every notebook of the series follows the same conventions (see CONTRIBUTING.md, "Notebooks").

The checks are parametrised over ``notebooks/NN_*.ipynb``, so a new notebook is held to them automatically. The
course structure (Before you start, Summary, Exercises with folded hints and solutions, coding exercises with a check
cell, Next) applies to every notebook except those listed in ``NOT_YET_CONVERTED``, which still have the older layout
and are being converted; once converted, a notebook leaves the set, and notebooks 05 onwards are never in it.
"""
from __future__ import annotations

import ast
import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
NAME_RE = re.compile(r"^(\d\d)_[a-z0-9]+(_[a-z0-9]+)*\.ipynb$")

#: Notebooks still in the layout from before the course conventions (they end with a bare "## Exercises" list).
#: Remove a number when its notebook is converted; the set only ever shrinks.
NOT_YET_CONVERTED: set = set()  # 03 and 04, the last two, are converted; the set stays empty

#: Notebooks whose cell 0 is still the setup cell from before tools/colab_cell.py (they were being edited when it
#: landed): `python tools/colab_cell.py --write notebooks/NN_*.ipynb` converts one; the set only ever shrinks.
OLD_SETUP_CELL: set = set()  # every notebook has the generated setup cell; the set stays empty
_cspec = importlib.util.spec_from_file_location("colab_cell", ROOT / "tools" / "colab_cell.py")
colab_cell = importlib.util.module_from_spec(_cspec)
_cspec.loader.exec_module(colab_cell)

_spec = importlib.util.spec_from_file_location("strip_solutions", ROOT / "tools" / "strip_solutions.py")
strip_solutions = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(strip_solutions)

EXERCISE_RE = re.compile(r"^###\s+Exercise\s+(\d+)\s*·\s*\S", re.M)
DETAILS_RE = re.compile(r"<details>\s*<summary>(?P<summary>.*?)</summary>(?P<body>.*?)</details>", re.S)


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
        if path.name[:2] not in OLD_SETUP_CELL:
            assert src == colab_cell.cell_source(), (
                f"{path.name}: cell 0 is not the setup cell of tools/colab_cell.py; write it with "
                f"`python tools/colab_cell.py --write notebooks/{path.name}`")

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

    def test_no_widget_state(self, path):
        """Headless runs leave ipywidgets state in the metadata; stored notebooks hold only what renders."""
        if path.name[:2] in NOT_YET_CONVERTED:
            pytest.skip(f"{path.name} is listed in NOT_YET_CONVERTED")
        assert "widgets" not in _load(path)["metadata"], (
            "remove metadata.widgets: re-run with `make notebooks` (it does not store widget state)")

    def test_ends_with_exercises_if_not_converted(self, path):
        if path.name[:2] not in NOT_YET_CONVERTED:
            pytest.skip("converted notebooks end with '## Next' (test_course_structure)")
        last = _load(path)["cells"][-1]
        assert last["cell_type"] == "markdown" and _src(last).lstrip().startswith("## Exercises")
        assert len(re.findall(r"^\s*(\d+\.|[-*])\s", _src(last), flags=re.M)) >= 3, "give at least three exercises"

    def test_listed_in_readme(self, path):
        readme = (ROOT / "README.md").read_text(encoding="utf-8")
        assert f"notebooks/{path.name}" in readme, f"add {path.name} to the README's notebook table"


# ------------------------------------------------------------------------------------- the course structure
def _converted(path: Path) -> dict:
    if path.name[:2] in NOT_YET_CONVERTED:
        pytest.skip(f"{path.name} is listed in NOT_YET_CONVERTED")
    return _load(path)


def _heading_index(cells: list, heading: str) -> int:
    hits = [i for i, c in enumerate(cells) if c["cell_type"] == "markdown" and _src(c).lstrip().startswith(heading)]
    assert len(hits) == 1, f"expected exactly one markdown cell starting with {heading!r}, found {len(hits)}"
    return hits[0]


def _exercises(cells: list) -> list:
    """[(number, index of its '### Exercise N · …' cell, indices of the code cells right after it)]."""
    out = []
    for i, c in enumerate(cells):
        m = EXERCISE_RE.match(_src(c).lstrip()) if c["cell_type"] == "markdown" else None
        if m:
            j, code = i + 1, []
            while j < len(cells) and cells[j]["cell_type"] == "code":
                code.append(j)
                j += 1
            out.append((int(m.group(1)), i, code))
    return out


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
class TestCourseStructure:
    def test_before_you_start(self, path):
        cells = _converted(path)["cells"]
        i = _heading_index(cells, "## Before you start")
        assert i <= 3, "'## Before you start' comes right after the title cell"
        text = _src(cells[i])
        assert "**Prerequisites:**" in text, "list the prerequisites"
        time = re.search(r"\*\*Time:\*\*(.*)", text)
        assert time and re.search(r"\d+\s*(s|seconds?|min|minutes?)\b", time.group(1)) and "CPU" in time.group(1), (
            "give the time needed on a CPU: '**Time:** about 2 min on a 2-core CPU …'")
        number = int(path.name[:2])
        if number > 0:
            prev = re.search(r"\*\*Previously:\*\*(.*)", text, flags=re.S)
            assert prev and f"{number - 1:02d}" in prev.group(1), (
                f"recap notebook {number - 1:02d} under **Previously:**")

    def test_summary_exercises_next_in_order(self, path):
        cells = _converted(path)["cells"]
        summary, exercises, nxt = (_heading_index(cells, h) for h in ("## Summary", "## Exercises", "## Next"))
        assert summary < exercises < nxt == len(cells) - 1, "order: ## Summary, ## Exercises, ## Next (the last cell)"
        assert len(re.findall(r"^\s*[-*]\s", _src(cells[summary]), flags=re.M)) >= 2, "summarise in bullets"
        number = int(path.name[:2])
        assert f"{number + 1:02d}" in _src(cells[nxt]), f"'## Next' points to notebook {number + 1:02d}"

    def test_exercises_have_hint_and_folded_solution(self, path):
        cells = _converted(path)["cells"]
        start, end = _heading_index(cells, "## Exercises"), _heading_index(cells, "## Next")
        exercises = _exercises(cells)
        assert [e[0] for e in exercises] == list(range(1, len(exercises) + 1)), "number exercises 1, 2, 3, …"
        assert len(exercises) >= 3, "give at least three exercises"
        for number, i, _ in exercises:
            assert start < i < end, f"exercise {number} must sit between '## Exercises' and '## Next'"
            text = _src(cells[i])
            assert text.count("<details>") == text.count("</details>"), f"exercise {number}: unbalanced <details>"
            summaries = [m.group("summary").lower() for m in DETAILS_RE.finditer(text)]
            assert any("hint" in s for s in summaries), f"exercise {number}: add <details><summary>Hint</summary>"
            assert any("solution" in s for s in summaries), (
                f"exercise {number}: add a worked solution in <details><summary>Solution</summary>")

    def test_coding_exercises_have_stub_and_check(self, path):
        cells = _converted(path)["cells"]
        coding = 0
        for number, i, code in _exercises(cells):
            tagged = [j for j in code if strip_solutions.EXERCISE_TAG in strip_solutions.tags(cells[j])]
            for j in tagged:
                coding += 1
                src = _src(cells[j])
                stub = strip_solutions.strip_source(src, f"exercise {number}")  # raises on bad markers
                ast.parse(_python_of({"source": stub}))
                assert "raise NotImplementedError" in stub
                assert j + 1 < len(cells) and strip_solutions.CHECK_TAG in strip_solutions.tags(cells[j + 1]), (
                    f"exercise {number}: the exercise cell must be followed by a code cell tagged 'check'")
                check = _src(cells[j + 1])
                assert re.search(r"^\s*assert\b", check, flags=re.M), f"exercise {number}: the check cell asserts"
                solution_text = "".join(m.group("body") for m in DETAILS_RE.finditer(_src(cells[i]))
                                        if "solution" in m.group("summary").lower())
                missing = [ln.strip() for ln in strip_solutions.solution_region(src).splitlines()
                           if ln.strip() and ln.strip() not in solution_text]
                assert not missing, (f"exercise {number}: the folded solution must show the code of the exercise "
                                     f"cell; missing: {missing[:3]}")
        assert coding >= 1, "give at least one coding exercise (a cell tagged 'exercise' + a cell tagged 'check')"
        for j, c in enumerate(cells):
            if strip_solutions.CHECK_TAG in strip_solutions.tags(c):
                assert j > 0 and strip_solutions.EXERCISE_TAG in strip_solutions.tags(cells[j - 1]), (
                    f"cell {j} is tagged 'check' but does not follow an exercise cell")


def test_not_yet_converted_only_shrinks():
    numbers = {p.name[:2] for p in NOTEBOOKS}
    assert NOT_YET_CONVERTED <= {"03", "04"}, "only 03 and 04 predate the conventions; new notebooks must comply"
    assert NOT_YET_CONVERTED <= numbers, f"NOT_YET_CONVERTED lists notebooks that do not exist: {NOT_YET_CONVERTED}"


def test_overview_marks_planned_notebooks():
    """Notebook 00's table of the series says "planned" exactly for the notebooks that do not exist yet."""
    overview = next(p for p in NOTEBOOKS if p.name.startswith("00_"))
    existing = {p.name[:2] for p in NOTEBOOKS}
    rows = {}
    for cell in _load(overview)["cells"]:
        if cell["cell_type"] == "markdown":
            for m in re.finditer(r"^\|\s*(\d\d)\s*\|(.*)$", _src(cell), flags=re.M):
                rows.setdefault(m.group(1), m.group(2))
    assert rows, "notebook 00 has a table of the series: | NN | notebook | … |"
    for number, row in sorted(rows.items()):
        planned = "planned" in row.lower()
        if number in existing:
            assert not planned, f"notebook {number} exists: drop 'planned' from its row in notebook 00"
        else:
            assert planned, f"notebook {number} does not exist yet: mark its row in notebook 00 as planned"
    assert existing <= set(rows), f"add {sorted(existing - set(rows))} to the table of notebook 00"
