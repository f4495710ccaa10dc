"""`nbgrader generate_assignment cnn` with the kit's hook: stubs, solutions, gates.

The first group runs the real nbgrader command on a tiny course built here;
the second checks the committed `release/` and `solutions_private/` of this
repository against its `source/`.
"""
import filecmp
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder.authoring.generate import find_solution_leaks
from autograder.course import copy_course
from autograder.nbgrader.commands import run_nbgrader

REPO = Path(__file__).resolve().parents[1]
TINY = "tiny"  # an assignment without a hidden suite

TINY_MODULE = textwrap.dedent('''\
    import numpy as np


    def relu_forward(x):
        """Inputs:
        - x: Inputs, of any shape
        """
        out = None
        ### BEGIN SOLUTION
        out = np.maximum(0, x)  # the solution
        ### END SOLUTION
        return out, x
''')


def run_generate(course: Path, *extra: str, assignment: str = TINY) -> subprocess.CompletedProcess:
    """Run the instructor's ordinary command in ``course``."""
    return run_nbgrader(["generate_assignment", assignment, "--force", *extra], cwd=course, timeout=300)


def tiny_notebook() -> nbformat.NotebookNode:
    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                               "language": "python"}})
    setup = new_code_cell("from nnl.relu import relu_forward")
    setup.id = "setup"
    answer = new_markdown_cell("Why?\n### BEGIN SOLUTION\nBecause max(0, x) is piecewise linear.\n### END SOLUTION")
    answer.id = "why"
    answer.metadata["nbgrader"] = {"grade": True, "solution": True, "locked": False, "points": 2,
                                   "grade_id": "why", "schema_version": 3}
    nb.cells = [setup, answer]
    return nb


def write_tiny_course(root: Path) -> Path:
    """A course with this repository's configuration, one module, one notebook, one utility."""
    for name in ("nbgrader_config.py", "course_settings.py"):
        shutil.copy(REPO / name, root)
    nnl = root / "source" / TINY / "nnl"
    nnl.mkdir(parents=True)
    (nnl / "__init__.py").write_text('"""The layers."""\n')
    (nnl / "relu.py").write_text(TINY_MODULE)
    nbformat.write(tiny_notebook(), root / "source" / TINY / "Relu.ipynb")
    (root / "utils" / "datasets").mkdir(parents=True)
    (root / "utils" / "gradient_check.py").write_text("def rel_error(x, y):\n    return 0.0\n")
    (root / "utils" / "datasets" / "big.bin").write_bytes(b"\0" * 10)
    return root


@pytest.fixture
def tiny_course(tmp_path):
    return write_tiny_course(tmp_path)


@pytest.fixture(scope="module")
def generated_tiny(tmp_path_factory):
    """The tiny course after one successful `nbgrader generate_assignment` (tests only read it)."""
    course = write_tiny_course(tmp_path_factory.mktemp("tiny"))
    result = run_generate(course)
    assert result.returncode == 0, result.stderr
    return course


@pytest.mark.nbgrader
def test_python_modules_are_released_as_stubs(generated_tiny):
    """Does the release's .py keep docstring and template but lose the solution?"""
    released = (generated_tiny / "release" / TINY / "nnl" / "relu.py").read_text()
    assert "np.maximum" not in released and "SOLUTION" not in released
    assert "- x: Inputs, of any shape" in released
    assert "    # YOUR CODE HERE\n    raise NotImplementedError()\n    return out, x" in released


@pytest.mark.nbgrader
def test_released_stub_imports_and_raises_not_implemented(generated_tiny):
    """Can a student import the stub, and does calling it say what is missing?"""
    probe = ("from nnl.relu import relu_forward\n"
             "try:\n    relu_forward(1.0)\nexcept NotImplementedError:\n    print('stub')\n")
    out = subprocess.run([sys.executable, "-c", probe], cwd=generated_tiny / "release" / TINY,
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "stub", out.stderr


@pytest.mark.nbgrader
def test_private_solutions_are_a_solved_runnable_copy(generated_tiny):
    """Does solutions_private/cnn hold solved modules, filled answers, utils, and no markers?"""
    solved = generated_tiny / "solutions_private" / TINY
    module = (solved / "nnl" / "relu.py").read_text()
    assert "out = np.maximum(0, x)  # the solution" in module and "SOLUTION" not in module
    nb = nbformat.read(solved / "Relu.ipynb", as_version=4)
    answer = next(c for c in nb.cells if c.id == "why")
    assert answer.source == "Why?\nBecause max(0, x) is piecewise linear."
    assert answer.metadata["nbgrader"]["grade_id"] == "why"
    assert (solved / "utils" / "gradient_check.py").exists()
    out = subprocess.run([sys.executable, "-c", "from nnl.relu import relu_forward; print(relu_forward(-2.0)[0])"],
                         cwd=solved, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "0.0", out.stderr


@pytest.mark.nbgrader
def test_release_answers_are_stubbed_and_utils_shipped_without_data(generated_tiny):
    """Do released notebooks say YOUR ANSWER HERE, and does utils/ ship without datasets/?"""
    release = generated_tiny / "release" / TINY
    nb = nbformat.read(release / "Relu.ipynb", as_version=4)
    assert next(c for c in nb.cells if c.id == "why").source == "Why?\nYOUR ANSWER HERE"
    assert (release / "utils" / "gradient_check.py").exists()
    assert not (release / "utils" / "datasets").exists()


@pytest.mark.nbgrader
@pytest.mark.parametrize("broken, complaint", [
    ("### BEGIN SOLUTION\n", "has no matching"),
    ("### END SOLUTION\n", "without a matching"),
])
def test_broken_markers_fail_loudly_and_remove_the_release(tiny_course, broken, complaint):
    """Does a bad marker stop nbgrader with an error, leaving no release and the old solutions?"""
    assert run_generate(tiny_course).returncode == 0
    old_solution = (tiny_course / "solutions_private" / TINY / "nnl" / "relu.py").read_text()
    module = tiny_course / "source" / TINY / "nnl" / "relu.py"
    module.write_text(module.read_text() + broken)
    result = run_generate(tiny_course)
    assert result.returncode != 0
    assert complaint in result.stderr and "relu.py" in result.stderr
    assert "release removed" in result.stderr
    assert not (tiny_course / "release" / TINY).exists(), "a half-made release (with solutions) was left behind"
    assert (tiny_course / "solutions_private" / TINY / "nnl" / "relu.py").read_text() == old_solution


@pytest.mark.nbgrader
def test_solution_line_repeated_in_provided_code_blocks_the_release(tiny_course):
    """Does the leak gate refuse a release whose provided code repeats a solution line?"""
    (tiny_course / "source" / TINY / "nnl" / "fast.py").write_text(
        "import numpy as np\n\ndef relu_fast(x):\n    out = np.maximum(0, x)  # the solution\n    return out\n")
    result = run_generate(tiny_course)
    assert result.returncode != 0
    assert "solution line(s) would be released" in result.stderr and "fast.py" in result.stderr
    assert not (tiny_course / "release" / TINY).exists()


@pytest.mark.nbgrader
def test_template_broken_by_stubbing_is_refused(tiny_course):
    """Is a module whose template is not valid Python once stubbed refused, naming the source file?"""
    (tiny_course / "source" / TINY / "nnl" / "bad.py").write_text(
        "def f(x):\n    ### BEGIN SOLUTION\n    return [x,\n    ### END SOLUTION\n        1]\n")
    result = run_generate(tiny_course)
    assert result.returncode != 0
    assert "bad.py: the stubbed module is not valid Python" in result.stderr


@pytest.mark.nbgrader
def test_missing_course_utils_fail_loudly(tiny_course):
    """Does a misconfigured utils folder stop generation, instead of a release without utils?"""
    config = tiny_course / "nbgrader_config.py"
    config.write_text(config.read_text() + '\nc.CourseKit.utils_directory = "no_such_utils"\n')
    result = run_generate(tiny_course)
    assert result.returncode != 0
    assert "no_such_utils" in result.stderr and "release removed" in result.stderr
    assert not (tiny_course / "release" / TINY).exists()


@pytest.mark.nbgrader
def test_autograded_cell_without_a_suite_is_refused(tiny_course):
    """Is a visible nbgrader test cell refused (the kit would never run it, nbgrader would give full points)?"""
    path = tiny_course / "source" / TINY / "Relu.ipynb"
    nb = nbformat.read(path, as_version=4)
    test = new_code_cell("assert relu_forward(-1.0)[0] == 0")
    test.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": 1,
                                 "grade_id": "relu_test", "schema_version": 3}
    nb.cells.append(test)
    nbformat.write(nb, path)
    result = run_generate(tiny_course)
    assert result.returncode != 0
    assert "autograded cells but no hidden suite" in result.stderr and "Relu.ipynb, cell 2 (relu_test)" in result.stderr
    assert not (tiny_course / "release" / TINY).exists()


@pytest.mark.nbgrader
def test_score_cell_disagreeing_with_the_rubric_is_refused(tmp_path):
    """Does generating the real assignment stop when a score cell's points differ from rubric.toml?"""
    course = copy_course(tmp_path)
    path = course / "source" / "cnn" / "CNN.ipynb"
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "score_adam":
            cell.metadata.nbgrader["points"] = 5
    nbformat.write(nb, path)
    result = run_nbgrader(["generate_assignment", "cnn"], cwd=course, timeout=300)
    assert result.returncode != 0
    assert "score cell for 'adam' has 5 points, rubric.toml gives 2" in result.stderr
    assert not (course / "release" / "cnn").exists()


# --- the committed release and solutions of this repository ------------------------------


def differences(left: Path, right: Path) -> list[str]:
    """Paths that differ between two trees, byte for byte (caches ignored)."""
    cmp = filecmp.dircmp(left, right, ignore=["__pycache__", ".ipynb_checkpoints"])
    found = []

    def walk(c, prefix):
        found.extend(f"{prefix}{n} (only in {Path(c.left).name if n in c.left_only else 'fresh'})"
                     for n in c.left_only + c.right_only)
        _, mismatch, errors = filecmp.cmpfiles(c.left, c.right, c.common_files, shallow=False)
        found.extend(prefix + n for n in mismatch + errors)
        for name, sub in c.subdirs.items():
            walk(sub, f"{prefix}{name}/")

    walk(cmp, "")
    return found


ASSIGNMENTS = ("cnn", "fcnet")
OUTPUTS = [f"{root}/{assignment}" for assignment in ASSIGNMENTS for root in ("release", "solutions_private")]


def generate_every_assignment(course: Path) -> Path:
    """``course`` after the real nbgrader command generated each of the repository's assignments."""
    for assignment in ASSIGNMENTS:
        result = run_generate(course, assignment=assignment)
        assert result.returncode == 0, f"{assignment}: {result.stderr[-3000:]}"
    return course


@pytest.fixture(scope="module")
def fresh_generation(tmp_path_factory):
    """The repository's course generated anew by the real nbgrader command."""
    return generate_every_assignment(copy_course(tmp_path_factory.mktemp("course")))


@pytest.mark.nbgrader
@pytest.mark.parametrize("folder", OUTPUTS)
def test_committed_outputs_are_fresh(fresh_generation, folder):
    """Are release/ and solutions_private/ exactly what source/ generates today?"""
    stale = differences(REPO / folder, fresh_generation / folder)
    assert not stale, (f"{folder} is stale against source/: {stale[:10]}; run "
                       f"`python -m autograder generate {folder.split('/')[1]}` at the repository root and commit")


@pytest.mark.nbgrader
def test_generating_twice_is_byte_identical(fresh_generation, tmp_path):
    """Does a second generation reproduce every byte of the first?"""
    again = generate_every_assignment(copy_course(tmp_path))
    for folder in OUTPUTS:
        assert differences(fresh_generation / folder, again / folder) == []


@pytest.mark.parametrize("assignment", ["cnn", "fcnet"])
def test_no_solution_line_anywhere_in_the_committed_release(assignment):
    """Does any telling line of any solution region appear anywhere in the homework's release?

    (Each release against its own source, as the generation gate checks: a line another homework's
    template shows, such as ``if self.use_batchnorm:``, is public in that homework already.)"""
    assert find_solution_leaks(REPO / "source" / assignment, REPO / "release" / assignment) == []


def test_a_solution_line_the_template_shows_is_no_secret_but_is_one_elsewhere(tmp_path):
    """A line its own module shows outside the regions is released on purpose; in another file it is a leak."""
    from autograder.authoring.generate import solution_lines

    source, release = tmp_path / "source", tmp_path / "release"
    (source / "pkg").mkdir(parents=True)
    (source / "pkg" / "net.py").write_text(
        "def f(self):\n    if self.use_dropout:\n        pass\n    ### BEGIN SOLUTION\n    if self.use_dropout:\n"
        "        out = secret_step(self)\n    ### END SOLUTION\n    return out\n")
    assert set(solution_lines(source)) == {"out = secret_step(self)"}
    (release / "pkg").mkdir(parents=True)
    (release / "pkg" / "other.py").write_text("x = 1\nout = secret_step(self)\nif self.use_dropout:\n")
    leaks = find_solution_leaks(source, release)
    assert len(leaks) == 1 and "pkg/other.py line 2" in leaks[0]


def test_source_has_solution_regions_to_protect():
    """Is the leak check guarding something (the source really has solution regions)?"""
    from autograder.authoring.generate import solution_lines

    secrets = solution_lines(REPO / "source" / "cnn")
    modules = {where.split(":")[0].split("[")[0] for where in secrets.values()}
    assert {"nnl/layers.py", "nnl/conv_layers.py", "nnl/optim.py", "nnl/cnn.py"} <= modules


def test_private_solutions_are_never_released():
    """Is there nothing of solutions_private/ or the autograder inside release/?"""
    names = {p.name for p in (REPO / "release").rglob("*")}
    assert not names & {"solutions_private", "autograder", "gradebook.db"}
    assert not list((REPO / "release").rglob("test_*.py"))


STUB_CALLS = """
import numpy as np
from nnl import layers, conv_layers, optim, cnn
x4 = np.zeros((2, 3, 4, 4)); w = np.zeros((2, 3, 3, 3)); b = np.zeros(2)
x2 = np.zeros((4, 5)); g = np.ones(5); be = np.zeros(5)
calls = {
    'affine_forward': lambda: layers.affine_forward(x2, np.zeros((5, 3)), np.zeros(3)),
    'relu_forward': lambda: layers.relu_forward(x2),
    'batchnorm_forward': lambda: layers.batchnorm_forward(x2, g, be, {'mode': 'train'}),
    'dropout_forward': lambda: layers.dropout_forward(x2, {'mode': 'train', 'p': 0.5}),
    'softmax_loss': lambda: layers.softmax_loss(x2, np.zeros(4, dtype=int)),
    'conv_forward_naive': lambda: conv_layers.conv_forward_naive(x4, w, b, {'stride': 1, 'pad': 1}),
    'max_pool_forward_naive': lambda: conv_layers.max_pool_forward_naive(
        x4, {'pool_height': 2, 'pool_width': 2, 'stride': 2}),
    'spatial_batchnorm_forward': lambda: conv_layers.spatial_batchnorm_forward(
        x4, np.ones(3), np.zeros(3), {'mode': 'train'}),
    'adam': lambda: optim.adam(x2, x2),
    'ThreeLayerConvNet': lambda: cnn.ThreeLayerConvNet(input_dim=(3, 8, 8)),
}
for name, call in calls.items():
    try:
        call()
    except NotImplementedError:
        print(name, 'stub')
    else:
        print(name, 'RAN')
"""


def test_committed_release_stubs_import_and_raise_not_implemented():
    """Does every graded entry point of the committed release import and raise NotImplementedError?"""
    out = subprocess.run([sys.executable, "-c", STUB_CALLS], cwd=REPO / "release" / "cnn",
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.split("\n")
    assert [line for line in lines if line.endswith("RAN")] == []
    assert len([line for line in lines if line.endswith("stub")]) == 10
