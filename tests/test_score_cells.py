"""Score cells: checked against the rubric and the public checks, and scored by nbgrader exactly as the suite says."""
from __future__ import annotations

import shutil

import nbformat
import numpy as np
import pytest
from nbgrader.utils import determine_grade

from autograder.grading.grade import suite_folder
from autograder.grading.rubric import Rubric
from autograder.nbgrader.autograde import FunctionScore, ScoreCells, _score_text, scores_by_function
from autograder.nbgrader.score_cells import (
    CHECKS_FOLDER,
    ScoreCellError,
    find_score_cells,
    function_of,
    grade_id,
    new_score_cell,
    public_checks_in,
    score_cell_source,
)
from nbgrader_course import cell_index, edit_notebook

RUBRIC = Rubric.load(suite_folder("cnn") / "rubric.toml")
RELEASE = suite_folder("cnn").parents[2] / "release" / "cnn"
SOURCE = suite_folder("cnn").parents[2] / "source" / "cnn"


@pytest.fixture
def notebooks(tmp_path):
    """The release's notebooks and public checks (what the generation gate reads)."""
    for path in RELEASE.glob("*.ipynb"):
        shutil.copy(path, tmp_path / path.name)
    shutil.copytree(RELEASE / CHECKS_FOLDER, tmp_path / CHECKS_FOLDER)
    return tmp_path


def test_release_has_one_score_cell_per_rubric_function(notebooks):
    cells = find_score_cells(notebooks, RUBRIC)
    assert set(cells) == set(RUBRIC.functions)
    assert {f: c.points for f, c in cells.items()} == {f: g.points for f, g in RUBRIC.functions.items()}


@pytest.mark.parametrize("edit, message", [
    (lambda nb: nb.cells.pop(cell_index(nb, grade_id("conv_forward_naive"))), "no score cell for conv_forward_naive"),
    (lambda nb: nb.cells[cell_index(nb, grade_id("conv_forward_naive"))].metadata.nbgrader.update(points=3),
     "has 3 points, rubric.toml gives 10"),
    (lambda nb: nb.cells.append(new_score_cell("conv_forward_naive", "nnl.conv_layers", 10)),
     "a second score cell for 'conv_forward_naive'"),
    (lambda nb: nb.cells.append(new_score_cell("im2col", "nnl.conv_layers", 1)), "which rubric.toml does not grade"),
    (lambda nb: nb.cells.append(nbformat.v4.new_code_cell("assert True", metadata={"nbgrader": {
        "grade": True, "solution": False, "grade_id": "visible_test", "points": 1}})), "is not a score cell"),
    (lambda nb: setattr(nb.cells[cell_index(nb, grade_id("max_pool_forward_naive"))], "source", "import os"),
     "score cell for 'max_pool_forward_naive' does not run its public checks (its code must be new_score_cell's: "
     "run_public_checks('max_pool_forward_naive', 'nnl.conv_layers'))"),
])
def test_mismatched_score_cells_are_refused(notebooks, edit, message):
    edit_notebook(notebooks / "ConvolutionalLayers.ipynb", edit)
    with pytest.raises(ScoreCellError, match="ConvolutionalLayers.ipynb|no score cell") as err:
        find_score_cells(notebooks, RUBRIC)
    assert message in str(err.value)


def test_a_score_cell_without_public_check_is_refused(notebooks):
    """Would a homework whose checks forget a graded function be refused, naming notebook, cell and function?"""
    checks = notebooks / CHECKS_FOLDER / "conv_layers.py"
    checks.write_text(checks.read_text().replace("@public_check('conv_backward_naive')\n", ""))
    (notebooks / CHECKS_FOLDER / "optim.py").unlink()
    nb = nbformat.read(notebooks / "ConvolutionalLayers.ipynb", as_version=4)
    with pytest.raises(ScoreCellError) as err:
        find_score_cells(notebooks, RUBRIC)
    assert (f"ConvolutionalLayers.ipynb, cell {cell_index(nb, grade_id('conv_backward_naive'))}: score cell for "
            "'conv_backward_naive' has no public check (no @public_check('conv_backward_naive') in "
            "public_checks/conv_layers.py)") in str(err.value)
    for optimizer in ("sgd", "sgd_momentum", "rmsprop", "adam"):
        assert f"score cell for '{optimizer}' has no public check" in str(err.value)
    assert "'conv_forward_naive'" not in str(err.value)


def test_public_checks_are_found_by_their_decorator(notebooks):
    assert public_checks_in(notebooks, "nnl.optim") == {"sgd", "sgd_momentum", "rmsprop", "adam"}
    assert public_checks_in(notebooks, "nnl.fast_layers") == set()


def test_a_new_score_cell_is_short_and_runs_the_functions_checks():
    """Is the code students read four short lines (nbgrader validate prints 87 columns) calling the checks?"""
    source = new_score_cell("spatial_batchnorm_backward", "nnl.conv_layers", 10).source
    lines = source.split("\n")
    assert len(lines) == 4 and all(len(line) <= 80 for line in lines)
    assert lines[-1] == "run_public_checks('spatial_batchnorm_backward', 'nnl.conv_layers')"
    compile(source, "score cell", "exec")


def test_every_score_cell_of_the_source_is_the_kits():
    """Are the source notebooks' score cells new_score_cell's code (so that none passes trivially)?"""
    for path in SOURCE.glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            function = function_of(cell)
            if function:
                assert cell.source == score_cell_source(function, RUBRIC.functions[function].module), path.name


@pytest.mark.parametrize("score, points, expected", [
    (np.float64(1.5), 2.0, 1.5),          # NumPy 2's repr "np.float64(1.5)" would score full marks
    (10.000000000000002, 10.0, 10.0),     # a sum above the points would fail the whole submission
    (0.0, 4.0, 0.0),
    (2 / 3, 1.0, 0.666667),
])
def test_nbgrader_reads_the_score_text_as_the_score(score, points, expected):
    cell = new_score_cell("relu_forward", "nnl.layers", points)
    cell.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": _score_text(score, points)})]
    assert determine_grade(cell) == (pytest.approx(expected), points)


def test_score_cells_preprocessor_writes_scores_nbgrader_records(monkeypatch):
    """Does ScoreCells fill every score cell so that nbgrader's determine_grade gives the suite's score?"""
    from autograder.nbgrader import autograde as kit

    nb = nbformat.read(RELEASE / "ConvolutionalLayers.ipynb", as_version=4)
    verdicts = {name: FunctionScore(g.points / 2, g.points, 1, 2, [("test_x[a]", "output differs")])
                for name, g in RUBRIC.functions.items()}
    monkeypatch.setitem(kit.GRADED, ("cnn", "zoe"), kit.SubmissionScores(verdicts, ["a <b> note"], "bubblewrap"))
    resources = {"nbgrader": {"assignment": "cnn", "student": "zoe", "notebook": "ConvolutionalLayers"}}
    nb, _ = ScoreCells().preprocess(nb, resources)
    scored = {c.metadata.nbgrader.grade_id: determine_grade(c)[0] for c in nb.cells
              if c.metadata.get("nbgrader", {}).get("grade_id", "").startswith("score_")}
    assert scored == {grade_id(f): RUBRIC.functions[f].points / 2 for f in
                      ("conv_forward_naive", "conv_backward_naive", "max_pool_forward_naive",
                       "max_pool_backward_naive")}
    assert "a &lt;b&gt; note" in nb.cells[0].source


def test_score_cells_preprocessor_refuses_to_guess(monkeypatch):
    """Without the suite's results, or with another autograded cell, no score is written."""
    from autograder.nbgrader import autograde as kit

    nb = nbformat.read(RELEASE / "ConvolutionalLayers.ipynb", as_version=4)
    resources = {"nbgrader": {"assignment": "cnn", "student": "nobody", "notebook": "ConvolutionalLayers"}}
    with pytest.raises(kit.SuiteFailed, match="did not run"):
        ScoreCells().preprocess(nb, resources)
    monkeypatch.setitem(kit.GRADED, ("cnn", "nobody"), kit.SubmissionScores({}, [], "bubblewrap"))
    with pytest.raises(kit.SuiteFailed, match="no tests for 'conv_forward_naive'"):
        ScoreCells().preprocess(nb, resources)


def test_scores_by_function_sums_each_functions_tests():
    results = {"tests": [
        {"name": "relu_forward: test_a", "score": 0.5, "max_score": 0.5, "status": "passed", "tags": ["relu_forward"]},
        {"name": "relu_forward: test_b", "score": 0.0, "max_score": 0.5, "status": "failed",
         "tags": ["relu_forward"], "output": "values differ"},
        {"name": "sgd: test_c", "score": 1.0, "max_score": 1.0, "status": "passed", "tags": ["sgd"]},
    ]}
    scores = scores_by_function(results)
    assert (scores["relu_forward"].score, scores["relu_forward"].max_score) == (0.5, 1.0)
    assert scores["relu_forward"].failures == [("test_b", "values differ")]
    report = scores["relu_forward"].report("relu_forward")
    assert report.startswith("relu_forward: 0.5 of 1 points (1 of 2 checks passed)")
    assert "\u2717 test_b\n    Found:   values differ" in report
    assert all(len(line) <= 78 for line in report.splitlines())
