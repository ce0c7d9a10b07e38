"""The student version of a notebook (tools/strip_solutions.py, `make student`).

On a small fixture notebook and on a real one: the stored version runs; the student version raises
NotImplementedError in each exercise cell and its check cell fails, everything else still runs.
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "strip_solutions.py"
_spec = importlib.util.spec_from_file_location("strip_solutions", TOOL)
strip_solutions = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(strip_solutions)


def _code(src: str, tags=(), outputs=None) -> dict:
    return {"cell_type": "code", "execution_count": 1, "metadata": {"tags": list(tags)},
            "outputs": outputs or [{"output_type": "stream", "name": "stdout", "text": ["6\n"]}],
            "source": src.splitlines(keepends=True)}


def _md(src: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": src.splitlines(keepends=True)}


def fixture_notebook() -> dict:
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        _code("base = 3"),
        _md("### Exercise 1 · Double\n\nWrite `double`.\n\n<details><summary>Hint</summary>Multiply.</details>\n\n"
            "<details><summary>Solution</summary>\n\n```python\nreturn 2 * v\n```\n</details>"),
        _code("def double(v):\n    \"\"\"Twice v.\"\"\"\n    # BEGIN SOLUTION\n    return 2 * v\n    # END SOLUTION\n\n"
              "print(double(base))", tags=["exercise"]),
        _code("assert double(4) == 8\nprint('exercise 1: correct')", tags=["check"]),
        _md("### Exercise 2 · Top level"),
        _code("# BEGIN SOLUTION\ntriple = 3 * base\n# END SOLUTION\nprint(triple)", tags=["exercise"]),
        _code("assert triple == 9", tags=["check"]),
        _code("after = base + 1\nprint(after)"),
    ]}


def _run(nb: dict) -> list:
    """Execute the code cells in order in one namespace; the exception (or None) of each code cell."""
    ns: dict = {}
    results = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            try:
                exec(compile("".join(cell["source"]), "<cell>", "exec"), ns)  # noqa: S102 - our fixture
                results.append(None)
            except Exception as exc:  # noqa: BLE001 - recorded and asserted on below
                results.append(exc)
    return results


def test_stored_fixture_runs():
    assert _run(fixture_notebook()) == [None] * 6


def test_student_fixture_raises_in_exercises_and_fails_checks():
    student = strip_solutions.strip_notebook(fixture_notebook())
    src = ["".join(c["source"]) for c in student["cells"]]
    assert "return 2 * v" not in src[2] and "raise NotImplementedError" in src[2]
    assert '"""Twice v."""' in src[2] and "print(double(base))" in src[2], "code outside the markers is kept"
    assert "return 2 * v" in src[1], "the folded solution in the markdown stays"
    assert "exercise 1" in src[2] and "exercise 2" in src[5], "stubs name their exercise"
    errors = _run(student)
    assert isinstance(errors[1], NotImplementedError), "the exercise cell raises"
    assert isinstance(errors[2], NotImplementedError), "its check cell fails (the stub is called)"
    assert isinstance(errors[3], NotImplementedError) and isinstance(errors[4], NameError)
    assert errors[0] is None and errors[5] is None, "cells without exercises still run"
    for i in (2, 3, 5, 6):
        assert student["cells"][i]["outputs"] == [] and student["cells"][i]["execution_count"] is None
    assert student["cells"][0]["outputs"], "other outputs stay"


def test_stub_keeps_indentation_and_rejects_bad_markers():
    stub = strip_solutions.strip_source("def f():\n    # BEGIN SOLUTION\n    return 1\n    # END SOLUTION\n", "ex 1")
    assert stub.splitlines()[1:] == ["    # YOUR CODE HERE (ex 1)",
                                     '    raise NotImplementedError("ex 1: complete this cell, then run the check '
                                     'cell below")']
    for bad in ("x = 1\n", "# BEGIN SOLUTION\nx = 1\n", "x = 1\n# END SOLUTION\n",
                "# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION\n"):
        with pytest.raises(ValueError, match="SOLUTION|no '# BEGIN"):
            strip_solutions.strip_source(bad, "ex")


def test_command_line_writes_student_copies(tmp_path):
    nb_path = tmp_path / "in" / "99_fixture.ipynb"
    nb_path.parent.mkdir()
    nb_path.write_text(json.dumps(fixture_notebook()), encoding="utf-8")
    out = subprocess.run([sys.executable, str(TOOL), str(nb_path), "-o", str(tmp_path / "student")],
                         capture_output=True, text=True, check=True)
    assert "2 coding exercises" in out.stdout
    written = json.loads((tmp_path / "student" / "99_fixture.ipynb").read_text(encoding="utf-8"))
    assert "raise NotImplementedError" in "".join(written["cells"][2]["source"])
    refused = subprocess.run([sys.executable, str(TOOL), str(nb_path), "-o", str(nb_path.parent)],
                             capture_output=True, text=True)
    assert refused.returncode != 0 and "refusing to overwrite" in refused.stderr


def test_real_notebook_student_version(tmp_path):
    """Notebook 00, stripped and run in a fresh kernel as a student would: only exercise and check cells fail.

    To stay fast, the kernel runs the setup and import cells and then everything from "## Exercises" on.
    """
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    path = next((ROOT / "notebooks").glob("00_*.ipynb"))
    stored = json.loads(path.read_text(encoding="utf-8"))
    cells = stored["cells"]
    imports = next(i for i, c in enumerate(cells)
                   if c["cell_type"] == "code" and "seed_everything(" in "".join(c["source"]))
    start = next(i for i, c in enumerate(cells) if "".join(c["source"]).lstrip().startswith("## Exercises"))
    stored["cells"] = cells[:imports + 1] + cells[start:]
    student = strip_solutions.strip_notebook(stored, path.name)
    kinds = []
    for cell in student["cells"]:
        t = strip_solutions.tags(cell) if cell["cell_type"] == "code" else []
        kinds.append("exercise" if "exercise" in t else "check" if "check" in t else cell["cell_type"])
    assert kinds.count("exercise") >= 1 and kinds.count("exercise") == kinds.count("check")
    nb = nbformat.reads(json.dumps(student), as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    for kind, cell in zip(kinds, nb.cells):
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if kind == "exercise":
            assert errors and errors[0].ename == "NotImplementedError", cell.source[:200]
        elif kind == "check":
            assert errors, f"the check cell passed without a solution: {cell.source[:200]}"
        else:
            assert not errors, f"{errors[0].ename}: {errors[0].evalue} in\n{cell.source[:300]}" if errors else ""
