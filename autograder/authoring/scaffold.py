"""``new-assignment NAME``: a complete, tiny, working example assignment to replace with your own.

It writes, in the course:

- ``source/NAME/NAME.ipynb``: an import cell, one visible check (as students run it) and the score cells;
- ``source/NAME/PKG/example.py``: one function, solved between solution markers, in the course's
  docstring voice (PKG is the package the course's other assignments use, or ``--package``);
- ``source/NAME/public_checks/example.py``: the check the score cell runs under ``nbgrader validate``;
- ``autograder/suites/NAME/``: ``rubric.toml``, ``test_example.py`` (hidden tests with the kit's
  helpers) and ``mutations.py`` (one catalogued mistake).

As created, it passes ``python -m autograder generate NAME`` and ``validate NAME``. Nothing that
exists is overwritten: the command refuses instead.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat

from autograder.course import known_assignments, source_folder
from autograder.grading.rubric import Rubric
from autograder.nbgrader.score_cells import new_score_cell
from autograder.paths import REPO_ROOT, SUITES

NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
DEFAULT_PACKAGE = "hw"
FUNCTION, MODULE, POINTS = "normalize_rows", "example", 10

SOLVED_MODULE = '''\
"""An example module of the {name} assignment: replace it with your own (see docs/authoring.md)."""
import numpy as np


def normalize_rows(x):
    """
    Scales each row of x to unit Euclidean length.

    Inputs:
    - x: A numpy array of shape (N, D) in which no row is all zeros

    Returns:
    - out: An array of shape (N, D): each row of x divided by its length
    """
    out = None
    # =====
    # YOUR CODE HERE:
    # Divide each row of x by its Euclidean norm.
    # =====
    ### BEGIN SOLUTION
    norms = np.sqrt(np.sum(x * x, axis=1, keepdims=True))  # (N, 1)
    out = x / norms
    ### END SOLUTION
    # =====
    # END YOUR CODE HERE
    # =====
    return out
'''

PUBLIC_CHECKS = '''\
"""
The checks of {package}/example.py: what {name}.ipynb shows. The score cells run
them (see utils/public_checks.py); they are not your grade.
"""
import numpy as np

from utils.public_checks import expect_close, public_check, returned


@public_check('normalize_rows')
def check_normalize_rows(example):
    """
    The notebook's example: the rows (3, 4) and (0, 2) become (0.6, 0.8) and (0, 1).
    """
    x = np.array([[3.0, 4.0], [0.0, 2.0]])
    correct_out = np.array([[0.6, 0.8], [0.0, 1.0]])
    expect_close('out', example.normalize_rows(x), correct_out, "the notebook's example", tolerance=1e-8)
'''

RUBRIC = '''\
# Points of the {name} assignment, per graded function. Each function's points are split
# equally among the hidden tests that grade it (@pytest.mark.grades("name")); `total` must
# equal the sum. After editing, run `python -m autograder sync-score-cells {name}`.
total = {points}

[functions]
normalize_rows = {{ module = "{package}.example", points = {points} }}
'''

HIDDEN_TESTS = '''\
"""Hidden tests of {package}/example.py: an example made by new-assignment, to replace with your own.

One @pytest.mark.grades per test (its points come from rubric.toml); fresh inputs from the seeded
``rng``; the student's function called through ``student`` (in the sandbox); the reference solution
as ``ref``; checks from autograder.grading.checks whose messages teach. See docs/authoring.md.
"""
import numpy as np
import pytest

from autograder.grading.checks import check_close, check_shape

SHAPES = [(4, 3), (1, 7), (6, 1)]


@pytest.mark.grades("normalize_rows")
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_normalize_rows_matches_reference(student, ref, rng, shape):
    x = rng.normal(size=shape) * rng.uniform(0.5, 3.0, size=(shape[0], 1))
    out = student.call("normalize_rows", x)
    check_close(out, ref.normalize_rows(x), f"normalize_rows output for x of shape {{shape}}",
                hint="divide each row by its norm, np.sqrt(np.sum(x ** 2, axis=1, keepdims=True)).")


@pytest.mark.grades("normalize_rows")
def test_normalize_rows_gives_rows_of_length_one(student, rng):
    x = 10 * rng.normal(size=(5, 4))
    out = check_shape(student.call("normalize_rows", x), x.shape, "normalize_rows output for x of shape (5, 4)",
                      hint="the output has the input's shape (N, D).")
    check_close(np.sqrt(np.sum(out ** 2, axis=1)), np.ones(5), "normalize_rows: the length of each output row",
                hint="normalize along axis=1 (each row), not axis=0.")
'''

MUTATIONS = '''\
"""The mutation catalogue of the {name} assignment: realistic mistakes, one or more per graded function.

Each edits the reference (source/{name}) inside one function; `python -m autograder validate {name}`
checks that every mutant is caught and that every hidden test fails on some mutant.
"""
from autograder.grading.mutations import Mutation as M

MUTATIONS = [
    M("normalize_rows_by_columns", "normalize_rows", "{package}/example.py",
      (("np.sum(x * x, axis=1, keepdims=True)", "np.sum(x * x, axis=0, keepdims=True)"),),
      "the norms are taken down the columns (axis=0), not along the rows"),
]
'''


class ScaffoldError(ValueError):
    """The assignment cannot be created (a bad name, or something of that name exists); the message says why."""


def course_package(root: Path = REPO_ROOT, suites: Path = SUITES) -> str:
    """The package the course's assignments have students write in, when they all agree; else ``"hw"``."""
    packages = set()
    for rubric in sorted(Path(suites).glob("*/rubric.toml")):
        packages |= {graded.module.split(".")[0] for graded in Rubric.load(rubric).functions.values()}
    return packages.pop() if len(packages) == 1 else DEFAULT_PACKAGE


def _markdown(text: str, grade_id: str | None = None):
    cell = nbformat.v4.new_markdown_cell(text)
    if grade_id:
        cell.metadata["nbgrader"] = {"grade": False, "solution": False, "locked": True, "task": False,
                                     "grade_id": grade_id, "schema_version": 3}
    return cell


def example_notebook(name: str, package: str) -> nbformat.NotebookNode:
    """The example notebook: import cell, one visible check, the score cell."""
    setup = nbformat.v4.new_code_cell(
        "## Import and setups\n\n"
        "import numpy as np\n"
        f"from {package}.example import *\n"
        "from utils.gradient_check import rel_error\n\n"
        "%load_ext autoreload\n%autoreload 2")
    setup.metadata["nbgrader"] = {"grade": False, "solution": False, "locked": True, "task": False,
                                  "grade_id": "setup", "schema_version": 3}
    check = nbformat.v4.new_code_cell(
        "x = np.array([[3.0, 4.0], [0.0, 2.0]])\n"
        "out = normalize_rows(x)\n"
        "correct_out = np.array([[0.6, 0.8], [0.0, 1.0]])\n\n"
        "# The difference should be very small, about 1e-9 or less\n"
        "print('Testing normalize_rows:')\n"
        "print('difference: ', rel_error(out, correct_out))")
    nb = nbformat.v4.new_notebook(cells=[
        _markdown(f"# {name}\n\nAn example assignment made by `python -m autograder new-assignment {name}`: "
                  "replace this notebook, the module and the hidden tests with your own (see docs/authoring.md)."),
        setup,
        _markdown(f"## Normalizing rows\n\nImplement `normalize_rows` in `{package}/example.py`, then run the "
                  "check below."),
        check,
        _markdown(f"## Your scores\n\nThe function below is graded after you submit, by tests you do not see "
                  f"({POINTS} points). Its cell shows, in your feedback, its score and what the tests found.",
                  "scores-intro"),
        new_score_cell(FUNCTION, f"{package}.{MODULE}", POINTS),
    ])
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def new_assignment(name: str, package: str | None = None, root: Path = REPO_ROOT, suites: Path = SUITES) -> list[Path]:
    """Write the example assignment ``name``; returns the files written.

    Raises
    ------
    ScaffoldError
        When ``name`` or ``package`` is not a plain lowercase identifier, or ``source/<name>`` or
        the suite folder already exists (nothing is written then).
    """
    package = package or course_package(root, suites)
    for what, value in (("assignment name", name), ("package name", package)):
        if not NAME.match(value):
            raise ScaffoldError(f"{value!r} is not a usable {what}: lowercase letters, digits and _, starting "
                                "with a letter")
    source, suite = source_folder(name, root), Path(suites) / name
    for folder in (source, suite):
        if folder.exists():
            raise ScaffoldError(f"{folder} exists already (known assignments: "
                                f"{', '.join(known_assignments(root)) or 'none'}); choose another name")
    values = {"name": name, "package": package, "points": POINTS}
    files = {
        source / f"{name}.ipynb": None,
        source / package / "__init__.py": f'"""The package students write for the {name} assignment."""\n',
        source / package / "example.py": SOLVED_MODULE.format(**values),
        source / "public_checks" / "__init__.py": f'"""The notebook checks of {name}, one file per module."""\n',
        source / "public_checks" / "example.py": PUBLIC_CHECKS.format(**values),
        suite / "rubric.toml": RUBRIC.format(**values),
        suite / "test_example.py": HIDDEN_TESTS.format(**values),
        suite / "mutations.py": MUTATIONS.format(**values),
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if text is None:
            nbformat.write(example_notebook(name, package), path)
        else:
            path.write_text(text)
    return list(files)
