"""`python -m autograder generate`: nbgrader's generate_assignment, then the gate that no solution is released."""
import subprocess
import sys

import pytest

from autograder.course import copy_course

pytestmark = pytest.mark.nbgrader


def _generate(course):
    return subprocess.run([sys.executable, "-m", "autograder", "generate", "cnn", "--course", str(course)],
                          capture_output=True, text=True, timeout=600)


@pytest.fixture
def course(tmp_path):
    return copy_course(tmp_path / "course")


def test_a_sound_course_is_released_with_its_stubs(course):
    """Does the command leave a release with stubs in nnl/ and no solution line, and say so (exit 0)?"""
    done = _generate(course)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "no solution line leaked" in done.stdout
    released = (course / "release" / "cnn" / "nnl" / "layers.py").read_text()
    assert "raise NotImplementedError()" in released and "BEGIN SOLUTION" not in released


def test_a_config_nbgrader_skips_gets_its_release_refused_and_removed(course):
    """When nbgrader cannot load nbgrader_config.py (and so releases the solved .py), is the release removed (exit 1)?"""
    config = course / "nbgrader_config.py"
    config.write_text(config.read_text() + "\nc.GenerateAssignment.post_convert_hook = a_name_never_defined\n")
    done = _generate(course)
    assert done.returncode == 1
    assert f"nbgrader could not load {config}" in done.stderr
    assert "NameError: name 'a_name_never_defined' is not defined" in done.stderr
    assert "solution line(s) reached the release" in done.stderr
    assert not (course / "release" / "cnn").exists()
