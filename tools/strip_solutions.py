"""Write the student version of notebooks: coding-exercise solutions replaced by stubs.

The stored notebooks carry the solution of every coding exercise, so that ``make test`` (nbval) runs them. A coding
exercise is a code cell tagged ``exercise`` whose solution sits between two marker lines::

    def kernel_std(k):
        # BEGIN SOLUTION
        ...
        # END SOLUTION

followed by a code cell tagged ``check`` with asserts. The student version keeps everything else — text, figures,
and the worked solutions folded away in ``<details>`` blocks — and turns each marked region into::

        # YOUR CODE HERE (exercise 2)
        raise NotImplementedError("exercise 2: complete this cell, then run the check cell below")

so the exercise cell raises ``NotImplementedError`` and its check cell fails until the student fills it in. The
outputs of the exercise and check cells are cleared (they would give the answer away).

    python tools/strip_solutions.py notebooks/01_degradation.ipynb -o student     # one notebook
    make student                                                                   # every notebook → student/
"""
from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from pathlib import Path
from typing import List, Optional

BEGIN = "# BEGIN SOLUTION"
END = "# END SOLUTION"
EXERCISE_TAG, CHECK_TAG = "exercise", "check"
_HEADING = re.compile(r"^###\s+Exercise\s+(\d+)", re.M)


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def tags(cell: dict) -> List[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def strip_source(src: str, label: str = "this exercise") -> str:
    """Replace every ``# BEGIN SOLUTION`` … ``# END SOLUTION`` region of ``src`` by a stub raising NotImplementedError.

    Raises:
        ValueError: a marker without its partner, nested markers, or no marked region at all.
    """
    out, inside, found = [], False, 0
    for n, line in enumerate(src.splitlines(keepends=True), 1):
        stripped = line.strip()
        if stripped == BEGIN:
            if inside:
                raise ValueError(f"{label}: line {n}: '{BEGIN}' inside another solution region")
            inside, found = True, found + 1
            indent = line[:len(line) - len(line.lstrip())]
            out.append(f"{indent}# YOUR CODE HERE ({label})\n")
            out.append(f'{indent}raise NotImplementedError("{label}: complete this cell, then run the check cell '
                       'below")\n')
        elif stripped == END:
            if not inside:
                raise ValueError(f"{label}: line {n}: '{END}' without '{BEGIN}'")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{label}: '{BEGIN}' is never closed by '{END}'")
    if not found:
        raise ValueError(f"{label}: the cell is tagged '{EXERCISE_TAG}' but has no '{BEGIN}' … '{END}' region")
    return "".join(out).rstrip("\n")


def solution_region(src: str) -> str:
    """The text between the markers (all regions joined), dedented as in the cell."""
    lines, inside = [], False
    for line in src.splitlines():
        if line.strip() == BEGIN:
            inside = True
        elif line.strip() == END:
            inside = False
        elif inside:
            lines.append(line)
    return "\n".join(lines)


def strip_notebook(nb: dict, name: str = "notebook") -> dict:
    """A copy of notebook ``nb`` (parsed JSON) in its student version."""
    nb = copy.deepcopy(nb)
    number: Optional[str] = None
    count = 0
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "markdown":
            m = _HEADING.search(_source(cell))
            number = m.group(1) if m else number
            continue
        if cell["cell_type"] != "code":
            continue
        t = tags(cell)
        if EXERCISE_TAG in t:
            label = f"exercise {number}" if number else f"{name} cell {i}"
            cell["source"] = strip_source(_source(cell), label).splitlines(keepends=True)
            count += 1
        if EXERCISE_TAG in t or CHECK_TAG in t:
            cell["outputs"], cell["execution_count"] = [], None
    nb.setdefault("metadata", {})["gfplearn_student_version"] = {"stripped_exercises": count}
    return nb


def strip_file(path: Path, out_dir: Path) -> Path:
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    out = Path(out_dir) / Path(path).name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(strip_notebook(nb, Path(path).name), indent=1, ensure_ascii=False) + "\n",
                   encoding="utf-8")
    return out


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path, help="notebooks to strip")
    parser.add_argument("-o", "--out-dir", type=Path, default=Path("student"),
                        help="where the student versions go (default: student/)")
    args = parser.parse_args(argv)
    for path in args.notebooks:
        if not path.is_file():
            parser.error(f"no such notebook: {path}")
        if args.out_dir.resolve() == path.parent.resolve():
            parser.error(f"refusing to overwrite {path}: choose another --out-dir")
        out = strip_file(path, args.out_dir)
        n = json.loads(out.read_text(encoding="utf-8"))["metadata"]["gfplearn_student_version"]["stripped_exercises"]
        print(f"{path} → {out} ({n} coding exercise{'s' if n != 1 else ''} to complete)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
