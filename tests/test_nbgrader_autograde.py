"""`nbgrader autograde` with this course's configuration: the student's modules are the ones graded."""
import shutil

import pytest

from autograder.course import copy_course
from autograder.nbgrader.commands import run_nbgrader

STUDENT = "alice"


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A generated course with one collected submission: the release, one provided file tampered with."""
    course = copy_course(tmp_path_factory.mktemp("course"))
    assert run_nbgrader(["generate_assignment", "cnn", "--force"], cwd=course).returncode == 0
    assert run_nbgrader(["db", "student", "add", STUDENT], cwd=course).returncode == 0
    submitted = course / "submitted" / STUDENT / "cnn"
    shutil.copytree(course / "release" / "cnn", submitted)
    (submitted / "nnl" / "fast_layers.py").write_text("raise SystemExit('tampered provided code')\n")
    return course


def autograde(course, extra_config: str = ""):
    config = course / "nbgrader_config.py"
    original = config.read_text()
    config.write_text(original + extra_config)
    try:
        result = run_nbgrader(["autograde", "cnn", "--student", STUDENT, "--force"], cwd=course, timeout=900)
    finally:
        config.write_text(original)
    assert result.returncode == 0, result.stderr[-3000:]
    return course / "autograded" / STUDENT / "cnn"


@pytest.mark.nbgrader
def test_autograde_keeps_the_students_modules_and_restores_provided_ones(course):
    """Are nnl/layers.py etc. the student's stubs after autograde, not the source's solutions?"""
    graded = autograde(course)
    for module in ("layers.py", "conv_layers.py", "optim.py", "cnn.py"):
        text = (graded / "nnl" / module).read_text()
        assert text == (course / "release" / "cnn" / "nnl" / module).read_text(), \
            f"autograde replaced the student's nnl/{module}"
        assert "raise NotImplementedError()" in text and "SOLUTION" not in text
    assert (graded / "nnl" / "fast_layers.py").read_text() == \
        (course / "source" / "cnn" / "nnl" / "fast_layers.py").read_text(), "provided code was not restored"


@pytest.mark.nbgrader
def test_without_the_exclusion_autograde_would_grade_the_solution(course):
    """Is the trap real: with exclude_overwriting emptied, does autograde copy the solutions in?"""
    graded = autograde(course, "\nc.Autograde.exclude_overwriting = {}\n")
    assert "### BEGIN SOLUTION" in (graded / "nnl" / "layers.py").read_text()
