"""The score cells' public checks: what `nbgrader validate` (JupyterLab's Validate button) tells a student.

The first group runs the real `nbgrader validate` on temporary copies of each assignment's
release and solved copy (cnn and fcnet), as a student does from the assignment folder (nothing
of the repository on the path): the blank release fails naming every unimplemented function, the
solved copy passes, and a function that is implemented but wrong on a notebook's example fails
alone. The others run the runtime (`utils/public_checks.py`) and the checks (`source/cnn/public_checks/`)
in this process or in a plain Python subprocess.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder.demo.fake_cifar import write_fake_cifar10
from autograder.grading.grade import suite_folder
from autograder.grading.rubric import Rubric
from autograder.nbgrader.commands import nbgrader_env, run_nbgrader
from autograder.nbgrader.score_cells import function_of, score_cell_source
from utils import public_checks
from utils.public_checks import (
    AUTOGRADE_MESSAGE,
    MESSAGE_WIDTH,
    NoPublicCheck,
    PublicCheckFailed,
    find_problem,
    run_public_checks,
)

REPO = Path(__file__).resolve().parents[1]
RELEASES = REPO / "release"
SOLUTIONS = REPO / "solutions_private"
ASSIGNMENTS = {
    "cnn": ("ConvolutionalLayers.ipynb", "SpatialBatchNorm.ipynb", "CNN.ipynb"),
    "fcnet": ("FullyConnectedNets.ipynb", "BatchNormalization.ipynb", "Dropout.ipynb"),
}
NOTEBOOKS = [(assignment, notebook) for assignment, notebooks in ASSIGNMENTS.items() for notebook in notebooks]
RUBRICS = {assignment: Rubric.load(suite_folder(assignment) / "rubric.toml") for assignment in ASSIGNMENTS}
# The checks run in this process and the score cells run in a subprocess are those of cnn
# (tests/conftest.py puts source/cnn on the path).
RUBRIC = RUBRICS["cnn"]
SUCCESS = "Success! Your notebook passes all the tests."
BLOCK_RULE = "=" * 90  # nbgrader's Validator.width


@dataclass(frozen=True)
class Mutant:
    """An implemented-but-wrong version of one function, appended to the solved module (so that it
    holds whatever the reference's code looks like), and the message the notebook's check must give."""

    assignment: str
    notebook: str  # the notebook whose score cell checks the function
    function: str
    module: str  # the module file it is appended to
    code: str
    message: str  # a regular expression


MUTANTS = {
    "conv_no_bias": Mutant(
        "cnn", "ConvolutionalLayers.ipynb", "conv_forward_naive", "nnl/conv_layers.py", '''
        _solved_conv_forward_naive = conv_forward_naive


        def conv_forward_naive(x, w, b, conv_param):
            """The convolution without its bias b."""
            return _solved_conv_forward_naive(x, w, np.zeros_like(b), conv_param)
        ''', (r"conv_forward_naive: out relative error \S+ on the notebook's by-hand 3x3 example "
              r"\(at most 1e-12\); 4 of 4 values differ, the first at \(0, 0, 0, 0\)")),
    "pool_ignores_stride": Mutant(
        "cnn", "ConvolutionalLayers.ipynb", "max_pool_forward_naive", "nnl/conv_layers.py", '''
        _solved_max_pool_forward_naive = max_pool_forward_naive


        def max_pool_forward_naive(x, pool_param):
            """Max pooling whose windows move by one pixel whatever the stride."""
            N, C, H, W = x.shape
            out_height = 1 + (H - pool_param['pool_height']) // pool_param['stride']
            out_width = 1 + (W - pool_param['pool_width']) // pool_param['stride']
            every_pixel, _ = _solved_max_pool_forward_naive(x, dict(pool_param, stride=1))
            return every_pixel[:, :, :out_height, :out_width], (x, pool_param)
        ''', (r"max_pool_forward_naive: out relative error \S+ on the notebook's by-hand 4x4 example "
              r"\(at most 1e-12\); 2 of 4 values differ, the first at \(0, 0, 1, 0\)")),
    "svm_over_classes": Mutant(
        "fcnet", "FullyConnectedNets.ipynb", "svm_loss", "nnl/layers.py", '''
        _solved_svm_loss = svm_loss


        def svm_loss(x, y):
            """The SVM loss and its gradient averaged over the classes too."""
            loss, dx = _solved_svm_loss(x, y)
            return loss / x.shape[1], dx / x.shape[1]
        ''', (r"svm_loss: loss \S+ on the FullyConnectedNets notebook's loss check \(50 inputs, 10 classes, scores "
              r"near 0\), expected 9 \(within 0\.01\)")),
    "fcn_reg_without_half": Mutant(
        "fcnet", "FullyConnectedNets.ipynb", "FullyConnectedNet", "nnl/fc_net.py", '''
        _SolvedFullyConnectedNet = FullyConnectedNet


        class FullyConnectedNet(_SolvedFullyConnectedNet):
            """The network whose L2 penalty is reg * sum(W**2), without the factor 0.5 (its gradients are right)."""

            def loss(self, X, y=None):
                if y is None:
                    return super().loss(X)
                loss, grads = super().loss(X, y)
                squares = sum(np.sum(self.params['W%d' % i] ** 2) for i in range(1, self.num_layers + 1))
                return loss + 0.5 * self.reg * squares, grads
        ''', (r"FullyConnectedNet: the initial loss \S+ on the FullyConnectedNets notebook's 3-layer network with reg "
              r"3\.14, expected \S+ \(within 0\.02\)")),
}


def score_cells_of(notebook: Path) -> list[str]:
    """The graded functions whose score cells ``notebook`` holds, in order."""
    return [f for f in map(function_of, nbformat.read(notebook, as_version=4).cells) if f]


def copy_folder(source: Path, dest: Path) -> Path:
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints"))
    return dest


def answer_the_questions(folder: Path) -> None:
    """Fill every written answer of the notebooks, as a student who has not coded yet would."""
    for path in folder.glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "markdown":
                cell.source = "**Your answer:**\n\nThe windows overlap, so the gradients add up."
        nbformat.write(nb, path)


def student_env(**extra: str) -> dict:
    """A student's environment: nothing of the repository on the path, nbgrader not running."""
    env = {k: v for k, v in nbgrader_env().items() if k not in ("PYTHONPATH", "NBGRADER_EXECUTION")}
    env.update(extra)
    return env


# What nbgrader validate's error output says when the notebook's kernel could not start or died:
# with several kernels starting at once, two can be given the same TCP port (jupyter_client picks a
# free port, releases it, and the kernel binds it later: jupyter/jupyter_client#487), and one dies.
KERNEL_TROUBLE = ("Kernel died", "DeadKernelError", "Kernel didn't respond", "Address already in use", "ZMQError")


def validate(folder: Path, notebook: str, env: dict) -> subprocess.CompletedProcess:
    """Run the real `nbgrader validate NOTEBOOK` in the assignment folder, as a student does.

    Once more when its kernel could not start or died (`KERNEL_TROUBLE`): the tests start several
    kernels at once, which a student does not. A notebook that kills its kernel every time still fails.
    """
    def run():
        return subprocess.run([sys.executable, "-m", "nbgrader", "validate", notebook], cwd=folder, env=env,
                              capture_output=True, text=True, timeout=600)

    done = run()
    if done.returncode != 0 and any(sign in done.stderr for sign in KERNEL_TROUBLE):
        done = run()
    return done


def report(run: subprocess.CompletedProcess) -> str:
    """The end of a validate run's output and error output, for a failing assertion's message."""
    return f"{run.stdout[-2500:]}\n--- stderr ---\n{run.stderr[-2500:]}"


def failed_cells(stdout: str) -> dict[str, list[str]]:
    """``{function: lines of its error}`` for each failing score cell in nbgrader validate's report."""
    found = {}
    for block in stdout.split(BLOCK_RULE)[1:]:
        cell, _, error = block.partition("The error was:")
        match = re.search(r"run_public_checks\('(\w+)'", cell)
        assert match, f"a cell that is not a score cell failed:\n{block}"
        found[match.group(1)] = [line.strip() for line in error.strip().splitlines()]
    return found


def one_line(lines: list[str]) -> str:
    """The message of an error block: nbgrader prints it wrapped over a few lines."""
    return " ".join(lines)


@pytest.fixture(scope="module")
def validations(tmp_path_factory):
    """Every `nbgrader validate` of this file, run at once: ``{(assignment, copy, notebook): CompletedProcess}``.

    Copies of each assignment: ``blank`` (the release, written answers filled), ``solved``, and one
    per mutant (the solved copy with one function wrong). Notebooks that load data read a fake CIFAR-10.
    """
    tmp = tmp_path_factory.mktemp("validate")
    cifar = write_fake_cifar10(tmp / "data", images_per_batch=100, test_images=100)
    env = student_env(CIFAR10_DIR=str(cifar))
    copies = {}
    for assignment in ASSIGNMENTS:
        copies[assignment, "blank"] = copy_folder(RELEASES / assignment, tmp / "blank" / assignment)
        answer_the_questions(copies[assignment, "blank"])
        copies[assignment, "solved"] = copy_folder(SOLUTIONS / assignment, tmp / "solved" / assignment)
    runs = [(assignment, copy, notebook) for assignment, notebook in NOTEBOOKS for copy in ("blank", "solved")]
    for name, mutant in MUTANTS.items():
        folder = copies[mutant.assignment, name] = copy_folder(SOLUTIONS / mutant.assignment,
                                                               tmp / name / mutant.assignment)
        with open(folder / mutant.module, "a") as source:
            source.write("\n\n" + textwrap.dedent(mutant.code))
        runs.append((mutant.assignment, name, mutant.notebook))
    with ThreadPoolExecutor(max_workers=4) as pool:
        done = dict(zip(runs, pool.map(lambda run: validate(copies[run[:2]], run[2], env), runs)))
    return done


# --- the real nbgrader validate ----------------------------------------------------------------

@pytest.mark.nbgrader
@pytest.mark.parametrize("assignment, notebook", NOTEBOOKS)
def test_validate_on_the_blank_release_names_every_unimplemented_function(validations, assignment, notebook):
    """Does Validate on the untouched stubs fail each score cell, with one line naming its function?"""
    run = validations[assignment, "blank", notebook]
    expected = score_cells_of(RELEASES / assignment / notebook)
    assert SUCCESS not in run.stdout, report(run)
    assert f"VALIDATION FAILED ON {len(expected)} CELL(S)" in " ".join(run.stdout.split()), report(run)
    failed = failed_cells(run.stdout)
    assert sorted(failed) == sorted(expected)
    for function, lines in failed.items():
        assert lines[0].startswith(function + " is not implemented yet"), lines
        assert re.fullmatch(rf"{function} is not implemented yet \(nnl/\w+\.py still raises NotImplementedError"
                            rf"( in {function}\.\w+)?\)", one_line(lines)), lines
        assert len(lines) <= 2, f"{function}: more than its one-line message (a traceback?): {lines}"


@pytest.mark.nbgrader
@pytest.mark.parametrize("assignment, notebook", NOTEBOOKS)
def test_validate_on_the_solved_copy_succeeds(validations, assignment, notebook):
    """Does the reference pass every score cell's checks under nbgrader validate?"""
    run = validations[assignment, "solved", notebook]
    assert SUCCESS in run.stdout, report(run)
    assert failed_cells(run.stdout) == {}


@pytest.mark.notebook
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_under_validate_every_solved_score_cell_runs_its_checks(student_copies, assignment):
    """Is the solved copy's Success earned: does each score cell, executed in a kernel as nbgrader validate
    executes it, run its function's checks and report that they pass?"""
    from autograder.nbgrader.notebook_runner import run_notebook, stream_text

    cells = [cell for notebook in ASSIGNMENTS[assignment]
             for cell in nbformat.read(SOLUTIONS / assignment / notebook, as_version=4).cells if function_of(cell)]
    folder = student_copies[assignment, "solved"]
    nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}}), folder / "_score_cells.ipynb")
    run = run_notebook(folder / "_score_cells.ipynb", folder, env=student_env(NBGRADER_EXECUTION="validate"),
                       cell_timeout=60)
    assert run.error_name is None, run.error_cell
    printed = {function_of(cell): stream_text(cell) for cell in run.notebook.cells}
    assert printed == {function: public_checks.PASSED.format(function=function) + "\n"
                       for function in RUBRICS[assignment].functions}
    assert not any(stream_text(cell, "stderr") for cell in run.notebook.cells)


@pytest.mark.nbgrader
@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_validate_fails_only_the_function_that_is_wrong(validations, mutant):
    """A function implemented but wrong on the notebook's example: does its cell alone fail, saying what differs?"""
    wrong = MUTANTS[mutant]
    run = validations[wrong.assignment, mutant, wrong.notebook]
    failed = failed_cells(run.stdout)
    assert list(failed) == [wrong.function], report(run)
    assert re.fullmatch(wrong.message, one_line(failed[wrong.function])), failed[wrong.function]


# --- the score cell in each mode, in a student's Python ----------------------------------------

@pytest.fixture(scope="module")
def student_copies(tmp_path_factory):
    """Copies of each assignment's release and solved copy, to run score cells in: ``{(assignment, copy): folder}``."""
    tmp = tmp_path_factory.mktemp("cells")
    return {(assignment, copy): copy_folder(root / assignment, tmp / copy / assignment)
            for assignment in ASSIGNMENTS for copy, root in (("release", RELEASES), ("solved", SOLUTIONS))}


def run_score_cell(folder: Path, function: str, execution: str | None) -> subprocess.CompletedProcess:
    """Run ``function``'s score cell code as a kernel would: in the assignment folder, its folder on the path."""
    env = student_env(PYTHONPATH=".", PYTHONDONTWRITEBYTECODE="1")
    if execution is not None:
        env["NBGRADER_EXECUTION"] = execution
    code = score_cell_source(function, RUBRIC.functions[function].module)
    return subprocess.run([sys.executable, "-c", code], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("copy", ["release", "solved"])
def test_under_autograde_the_score_cell_still_fails(student_copies, copy):
    """If autograde ever executed a score cell (the kit bypassed), does it fail, even on the solved copy?"""
    done = run_score_cell(student_copies["cnn", copy], "conv_forward_naive", "autograde")
    assert done.returncode != 0
    assert f"AssertionError: {AUTOGRADE_MESSAGE}" in done.stderr


@pytest.mark.parametrize("copy, verdict", [
    ("release", "Not passing the notebook's checks yet: spatial_batchnorm_backward is not implemented yet"),
    ("solved", "spatial_batchnorm_backward passes the notebook's checks. Your grade comes from hidden tests"),
])
def test_run_by_the_student_the_score_cell_prints_a_verdict_and_never_raises(student_copies, copy, verdict):
    """Run in a half-done notebook, does the cell say how the function does, without stopping Run All?"""
    done = run_score_cell(student_copies["cnn", copy], "spatial_batchnorm_backward", None)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(verdict) and done.stderr == ""


def test_under_validate_a_failing_score_cell_raises_its_one_line_message(student_copies):
    done = run_score_cell(student_copies["cnn", "release"], "adam", "validate")
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == (
        "utils.public_checks.PublicCheckFailed: adam is not implemented yet (nnl/optim.py still raises "
        "NotImplementedError)")


# --- the runtime and the checks, in this process (on the reference, source/cnn/nnl) -------------

@pytest.mark.parametrize("function", sorted(RUBRIC.functions))
def test_every_graded_function_has_a_public_check_the_reference_passes(function):
    assert find_problem(function, RUBRIC.functions[function].module) is None


def test_interactive_run_prints_the_verdict_and_leaves_the_notebook_alone(capsys, monkeypatch):
    """Does a student's own run print one line, nothing on stderr, and keep the notebook's random state?"""
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    np.random.seed(7)
    state = np.random.get_state()
    assert run_public_checks("dropout_forward", "nnl.layers") is None  # no value: nbgrader would read it as a score
    after = np.random.get_state()
    assert after[0] == state[0] and np.array_equal(after[1], state[1]) and after[2:] == state[2:]
    out, err = capsys.readouterr()
    assert out == public_checks.PASSED.format(function="dropout_forward") + "\n" and err == ""


@pytest.fixture
def student_package(tmp_path, monkeypatch):
    """``write(module_text)``: a student's package ``mynnl`` with one module ``layers``, importable here."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(text: str) -> str:
        package = tmp_path / "mynnl"
        package.mkdir(exist_ok=True)
        (package / "__init__.py").write_text("")
        (package / "layers.py").write_text("import numpy as np\n\n\n" + textwrap.dedent(text))
        for name in [m for m in sys.modules if m == "mynnl" or m.startswith("mynnl.")]:
            monkeypatch.delitem(sys.modules, name)
        return "mynnl.layers"
    return write


STUB_AND_WRONG = '''
    def relu_forward(x):
        """Still the release's stub."""
        # YOUR CODE HERE
        raise NotImplementedError()


    def relu_backward(dout, cache):
        return dout * (cache > 0)


    def affine_forward(x, w, b):
        """Forgets the bias."""
        print('debugging affine_forward')
        return x.reshape(x.shape[0], -1).dot(w), (x, w, b)


    def affine_backward(dout, cache):
        x, w, b = cache
        return dout.dot(w.T).reshape(x.shape), x.reshape(x.shape[0], -1).T.dot(dout), dout.sum(axis=0)


    def softmax_loss(x, y):
        probs = np.exp(x - x.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        return -np.log(probs[np.arange(len(y)), y + 1]).mean(), probs
'''


@pytest.mark.parametrize("function, expected", [
    ("relu_forward", "relu_forward is not implemented yet (mynnl/layers.py still raises NotImplementedError)"),
    ("relu_backward", "relu_backward: stopped at relu_forward (mynnl/layers.py), which is not implemented yet"),
    ("affine_forward", "affine_forward: out relative error 9.1e-02 on the FullyConnectedNets notebook's linspace "
                       "example (at most 1e-07); 6 of 6 values differ, the first at (0, 0)"),
    ("affine_backward", "affine_backward: db relative error 1.0e+00 against the numerical gradient on the "
                        "FullyConnectedNets notebook's gradient check (at most 1e-06); 5 of 5 values differ, the "
                        "first at (0,); the numerical gradient is that of your affine_forward, which fails its own "
                        "check: fix it first"),
    ("softmax_loss", "softmax_loss raised IndexError: index 10 is out of bounds for axis 1 with size 10 "
                     "(mynnl/layers.py line 29)"),
    ("svm_loss", "svm_loss is missing from mynnl/layers.py"),
])
def test_a_failing_check_says_in_one_line_what_is_wrong(student_package, capsys, function, expected):
    assert find_problem(function, student_package(STUB_AND_WRONG)) == expected
    assert capsys.readouterr() == ("", ""), "what student code prints must not reach the score cell's output"


def test_under_validate_the_error_is_the_message_wrapped_for_nbgrader(student_package, monkeypatch):
    """Is the error Jupyter records exactly the message, in lines that nbgrader validate prints whole?"""
    monkeypatch.setenv("NBGRADER_EXECUTION", "validate")
    module = student_package(STUB_AND_WRONG)
    with pytest.raises(PublicCheckFailed) as failed:
        run_public_checks("affine_backward", module)
    message = str(failed.value)
    assert "\n" not in message and message.startswith("affine_backward: db relative error")
    lines = failed.value._render_traceback_()
    assert len(lines) > 1 and all(len(line) <= MESSAGE_WIDTH for line in lines)
    assert " ".join(line.strip() for line in lines) == message


def test_a_module_that_cannot_be_imported_is_named(student_package):
    assert find_problem("relu_forward", student_package("def relu_forward(x):\n    return x,\n  x\n")) == (
        "relu_forward: mynnl/layers.py cannot be imported (IndentationError: unindent does not match any outer "
        "indentation level (layers.py, line 6))")


def test_under_autograde_nothing_runs(monkeypatch):
    """Does the cell fail before importing anything, whatever the function?"""
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    with pytest.raises(AssertionError, match=re.escape(AUTOGRADE_MESSAGE)):
        run_public_checks("conv_forward_naive", "no_such_package.conv_layers")


@pytest.mark.parametrize("function, module, message", [
    ("im2col", "nnl.conv_layers", "im2col has no public check: no @public_check('im2col') in public_checks/conv_layers.py"),
    ("conv_forward_fast", "nnl.fast_layers", "no public checks for nnl.fast_layers: public_checks/fast_layers.py is missing"),
])
def test_a_function_without_public_check_is_a_clear_error(monkeypatch, function, module, message):
    """A score cell for a function the assignment has no check for: a loud error, even when a student runs it."""
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    with pytest.raises(NoPublicCheck, match=re.escape(message)):
        run_public_checks(function, module)


# --- the generation gate, through the real nbgrader generate_assignment -------------------------

@pytest.mark.nbgrader
def test_generate_assignment_refuses_a_score_cell_without_public_check(tmp_path):
    """Does releasing stop, naming notebook, cell and function, when a graded function has no public check?"""
    from autograder.course import copy_course

    course = copy_course(tmp_path / "course")
    checks = course / "source" / "cnn" / "public_checks" / "optim.py"
    checks.write_text(checks.read_text().replace("@public_check('adam')\n", ""))
    result = run_nbgrader(["generate_assignment", "cnn"], cwd=course, timeout=300)
    assert result.returncode != 0
    cell = [function_of(c) for c in nbformat.read(course / "source" / "cnn" / "CNN.ipynb", as_version=4).cells]
    assert (f"CNN.ipynb, cell {cell.index('adam')}: score cell for 'adam' has no public check "
            "(no @public_check('adam') in public_checks/optim.py)") in result.stderr
    assert not (course / "release" / "cnn").exists()


@pytest.mark.parametrize("assignment, modules", [
    ("cnn", {"__init__.py", "conv_layers.py", "layers.py", "optim.py", "cnn.py"}),
    ("fcnet", {"__init__.py", "layers.py", "optim.py", "fc_net.py"}),
])
def test_checks_are_released_as_written(assignment, modules):
    """Do the checks and their runtime ship unchanged (provided code, no solution region) in both copies?"""
    written = {path.name: path.read_text() for path in (REPO / "source" / assignment / "public_checks").glob("*.py")}
    assert set(written) == modules
    for copy in (RELEASES / assignment, SOLUTIONS / assignment):
        assert {name: (copy / "public_checks" / name).read_text() for name in written} == written
        assert (copy / "utils" / "public_checks.py").read_text() == (REPO / "utils" / "public_checks.py").read_text()
