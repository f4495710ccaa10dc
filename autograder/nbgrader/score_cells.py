"""Score cells: the notebook grade cells that carry the hidden suite's per-function scores.

Every graded function of the rubric has exactly one *score cell* in the
assignment's notebooks: a locked nbgrader grade cell (``grade_id``
``score_<function>``, ``points`` equal to the rubric's). At ``nbgrader autograde``
time the kit never executes it: `autograder.nbgrader.autograde` writes the hidden
suite's score into its output as ``float(...)``, which nbgrader's gradebook records.

Its code calls ``utils.public_checks.run_public_checks(function, module)``, the
course's runtime shipped in ``utils/``, which runs the function's *public* checks:
what the notebooks already show (hand-computed examples, numerical gradients),
defined in the assignment's ``public_checks/<module>.py``. So:

- ``nbgrader validate`` (JupyterLab's Validate button) fails the cell, with one line
  naming the function and what is wrong, when those checks fail;
- a student running the cell reads a verdict, and "Run All" is never stopped;
- if autograde ever executed it (the kit bypassed), the cell fails and nbgrader
  scores it 0: never a silent full score.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder.grading.rubric import Rubric

PREFIX = "score_"

# Where an assignment folder keeps its public checks: ``public_checks/<module>.py`` for each
# module of its package (``pkg/conv_layers.py`` -> ``public_checks/conv_layers.py``), each check
# registered with ``@public_check('<function>')``. ``utils/public_checks.py`` reads the same layout.
CHECKS_FOLDER = "public_checks"
CHECK_DECORATOR = "public_check"

# Lines of at most 80 characters: nbgrader validate prints a failing cell's source cut at 87.
CELL_SOURCE = '''\
# Graded after you submit, by hidden tests; your feedback shows the score here.
# Running this cell only checks the function against the notebook's examples.
from utils.public_checks import run_public_checks
{call}'''


class ScoreCellError(ValueError):
    """The notebooks' score cells disagree with the rubric; the message names the notebook and cell."""


@dataclass(frozen=True)
class ScoreCell:
    """Where one graded function's score cell is.

    Attributes
    ----------
    function : str
        The graded function or class (``conv_forward_naive``).
    notebook : str
        The notebook's file name (``ConvolutionalLayers.ipynb``).
    points : float
        The cell's points, as nbgrader records them.
    """

    function: str
    notebook: str
    points: float


def grade_id(function: str) -> str:
    """The nbgrader ``grade_id`` of ``function``'s score cell."""
    return PREFIX + function


def function_of(cell) -> str | None:
    """The graded function a notebook cell scores, or None when it is not a score cell."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    gid = meta.get("grade_id", "")
    if cell.get("cell_type") == "code" and meta.get("grade") and gid.startswith(PREFIX):
        return gid[len(PREFIX):]
    return None


def is_autograded_test(cell) -> bool:
    """True for a code grade cell without a solution: nbgrader would score it by running it."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def score_cell_call(function: str, module: str) -> str:
    """The line of a score cell that runs ``function``'s public checks."""
    return f"run_public_checks({function!r}, {module!r})"


def score_cell_source(function: str, module: str) -> str:
    """The code of ``function``'s score cell (``module`` as in the rubric: ``nnl.conv_layers``)."""
    return CELL_SOURCE.format(call=score_cell_call(function, module))


def new_score_cell(function: str, module: str, points: float) -> nbformat.NotebookNode:
    """A fresh score cell for ``function`` of ``module`` (``nnl.conv_layers``) worth ``points``."""
    cell = nbformat.v4.new_code_cell(score_cell_source(function, module))
    cell.metadata["nbgrader"] = {
        "grade": True, "solution": False, "locked": True, "task": False,
        "grade_id": grade_id(function), "points": points, "schema_version": 3,
    }
    cell.metadata["editable"] = False
    cell.metadata["deletable"] = False
    return cell


def checks_file(module: str) -> str:
    """Where an assignment folder keeps the public checks of ``module`` (``public_checks/conv_layers.py``)."""
    return f"{CHECKS_FOLDER}/{module.split('.', 1)[-1].replace('.', '/')}.py"


def public_checks_in(folder: Path, module: str) -> set[str]:
    """The functions of ``module`` that have a public check in the assignment ``folder``.

    The checks file is read, not imported: a check is a function decorated with
    ``@public_check('<function>')`` (the name a string literal).

    Returns
    -------
    set of str
        Empty when the file is missing.
    """
    path = Path(folder) / checks_file(module)
    if not path.is_file():
        return set()
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            continue
        for decorator in node.decorator_list:
            called = decorator.func if isinstance(decorator, ast.Call) else None
            name = getattr(called, "id", getattr(called, "attr", None))
            if name == CHECK_DECORATOR and decorator.args and isinstance(decorator.args[0], ast.Constant):
                found.add(decorator.args[0].value)
    return found


def autograded_cells(folder: Path) -> list[str]:
    """``"<notebook>, cell <index> (<grade_id>)"`` for each autograded test cell of the notebooks in ``folder``."""
    return [f"{path.name}, cell {index} ({cell.metadata['nbgrader'].get('grade_id')})"
            for path in sorted(Path(folder).glob("*.ipynb"))
            for index, cell in enumerate(nbformat.read(path, as_version=4).cells) if is_autograded_test(cell)]


def find_score_cells(folder: Path, rubric: Rubric) -> dict[str, ScoreCell]:
    """Check the score cells of the notebooks in ``folder`` against ``rubric``.

    Inputs
    ------
    folder : Path
        An assignment folder (``source/cnn``) with its notebooks.
    rubric : Rubric

    Returns
    -------
    dict of str to ScoreCell
        One per rubric function.

    Raises
    ------
    ScoreCellError
        When a function has no score cell or two, a cell's points differ from the rubric's,
        a score cell names a function the rubric does not know, a score cell does not run
        its function's public checks or the function has none in ``public_checks/``, or a
        notebook holds another autograded test cell (the kit does not execute notebooks at
        autograde time, so nbgrader would give such a cell full points).
    """
    found: dict[str, ScoreCell] = {}
    problems: list[str] = []
    for path in sorted(Path(folder).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for index, cell in enumerate(nb.cells):
            if not is_autograded_test(cell):
                continue
            where = f"{path.name}, cell {index}"
            function = function_of(cell)
            if function is None:
                problems.append(f"{where}: autograded test cell "
                                f"{cell.metadata['nbgrader'].get('grade_id')!r} is not a score cell "
                                f"(grade_id '{PREFIX}<function>'); the kit grades functions with the hidden suites")
                continue
            if function not in rubric.functions:
                problems.append(f"{where}: score cell for {function!r}, which {rubric.path.name} does not grade")
                continue
            if function in found:
                problems.append(f"{where}: a second score cell for {function!r} "
                                f"(the first is in {found[function].notebook})")
                continue
            points = float(cell.metadata["nbgrader"].get("points", 0))
            if abs(points - rubric.functions[function].points) > 1e-9:
                problems.append(f"{where}: score cell for {function!r} has {points:g} points, "
                                f"{rubric.path.name} gives {rubric.functions[function].points:g}")
            module = rubric.functions[function].module
            if score_cell_call(function, module) not in cell.source:
                problems.append(f"{where}: score cell for {function!r} does not run its public checks "
                                f"(its code must be new_score_cell's: {score_cell_call(function, module)})")
            if function not in public_checks_in(folder, module):
                problems.append(f"{where}: score cell for {function!r} has no public check "
                                f"(no @{CHECK_DECORATOR}({function!r}) in {checks_file(module)})")
            found[function] = ScoreCell(function, path.name, points)
    missing = sorted(set(rubric.functions) - set(found))
    if missing:
        problems.append(f"{folder}: no score cell for {', '.join(missing)} "
                        f"(add one with grade_id '{PREFIX}<function>' and the rubric's points)")
    if problems:
        raise ScoreCellError("; ".join(problems))
    return found


@dataclass(frozen=True)
class ScoreReport:
    """What an autograded score cell shows: the function, its score and the suite's report."""

    function: str
    score: float
    points: float
    report: str


def read_score_reports(folder: Path) -> list[ScoreReport]:
    """The score cells of the autograded notebooks in ``folder``, in notebook order.

    Inputs
    ------
    folder : Path
        ``autograded/<student>/<assignment>``.

    Returns
    -------
    list of ScoreReport
        Cells without a score (not autograded yet) are left out.
    """
    reports = []
    for path in sorted(Path(folder).glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            function = function_of(cell)
            results = [o for o in cell.get("outputs", []) if o.get("output_type") == "execute_result"]
            if function is None or not results:
                continue
            text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
            reports.append(ScoreReport(function, float(results[-1]["data"]["text/plain"]),
                                       float(cell.metadata["nbgrader"]["points"]), text))
    return reports
