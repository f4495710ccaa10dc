"""The assignments' notebooks, run top to bottom in a real Jupyter kernel.

Each notebook runs the way a student or nbgrader runs it: from a temporary copy
of the assignment folder (the kernel's working folder, so that ``import nnl``
and ``import utils`` resolve there), in a separate ``python3`` kernel, on a
small fake CIFAR-10 (``CIFAR10_DIR``). For every assignment (``cnn``, ``fcnet``),
what must hold:

- the solved copy (``solutions_private/<a>``) runs to the end, long training
  included, writes nothing to stderr, and every check it prints passes;
- the student release (``release/<a>``) runs until its first error, which is
  the ``NotImplementedError`` of a stub in ``nnl/``;
- while nbgrader executes it (``NBGRADER_EXECUTION`` set), each long training
  cell skips itself and the rest still runs;
- the gradient-check cells catch the bugs they are there to catch (the seed's
  notebook compared ``dgamma`` with itself).
"""
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder.demo.fake_cifar import write_fake_cifar10
from autograder.nbgrader.notebook_runner import run_notebook, stream_text
from utils.vis_utils import visualize_grid

REPO_ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO_ROOT / "solutions_private"
RELEASE = REPO_ROOT / "release"
ASSIGNMENTS = {
    "cnn": ["ConvolutionalLayers.ipynb", "SpatialBatchNorm.ipynb", "CNN.ipynb"],
    "fcnet": ["FullyConnectedNets.ipynb", "BatchNormalization.ipynb", "Dropout.ipynb"],
}
NOTEBOOKS = [(assignment, name) for assignment, names in ASSIGNMENTS.items() for name in names]
CELL_TIMEOUT = 120  # seconds; the slowest cell takes about 10 on the fake dataset

CHECK_TOLERANCE = 1e-4
NETWORK_PARAMETERS = ["W1", "b1", "W2", "b2", "W3", "b3"]
# The checks each solved notebook must print (a subset of all it prints).
REQUIRED_CHECKS = {
    ("cnn", "ConvolutionalLayers.ipynb"): {"by-hand", "pad 0", "pad 1", "dx", "dw", "db", "forward", "2x2 stride 2",
                                           "3x3 stride 2", "2x2 stride 2 dx", "3x3 stride 2 dx", "out"},
    ("cnn", "SpatialBatchNorm.ipynb"): {"dx", "dgamma", "dbeta"},
    ("cnn", "CNN.ipynb"): {f"{name} max relative" for name in
                           NETWORK_PARAMETERS + ["gamma1", "beta1", "gamma2", "beta2"]},
    ("fcnet", "FullyConnectedNets.ipynb"): {"out", "dx", "dw", "db", "svm_loss dx", "softmax_loss dx", "scores", "loss",
                                            "regularized loss", "next_w", "velocity", "cache", "v", "m"}
                                           | {f"{name} relative" for name in NETWORK_PARAMETERS},
    ("fcnet", "BatchNormalization.ipynb"): {"dx", "dgamma", "dbeta"}
                                           | {f"{name} relative" for name in
                                              ["W1", "W2", "W3", "b3", "gamma1", "beta1", "gamma2", "beta2"]},
    ("fcnet", "Dropout.ipynb"): {"test-time output", "same-seed", "dx", "test-time dx", "test-time scores"}
                                | {f"{name} relative" for name in NETWORK_PARAMETERS},
}
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class TrainingCell:
    """A cell that trains for long on the real dataset, and so skips itself while nbgrader runs the notebook."""

    assignment: str
    notebook: str
    cell: str
    skip_message: str  # what it prints instead of training
    trained: str  # what it prints when it trains


TRAINING_CELLS = [
    TrainingCell("cnn", "CNN.ipynb", "train-one-epoch", "Skipping the one-epoch training run", "(Epoch 1 / 1)"),
    TrainingCell("fcnet", "FullyConnectedNets.ipynb", "train-two-layer", "Skipping the TwoLayerNet training run",
                 "(Epoch 10 / 10)"),
    TrainingCell("fcnet", "FullyConnectedNets.ipynb", "compare-update-rules",
                 "Skipping the comparison of the update rules", "Running with adam"),
    TrainingCell("fcnet", "BatchNormalization.ipynb", "compare-batchnorm",
                 "Skipping the comparison with and without batch normalization", "(Epoch 10 / 10)"),
    TrainingCell("fcnet", "Dropout.ipynb", "regularization-experiment", "Skipping the regularization experiment",
                 "(Epoch 25 / 25)"),
]
NOTEBOOKS_WITH_TRAINING = sorted({(t.assignment, t.notebook) for t in TRAINING_CELLS})

# Cells that memorize a small training set: (assignment, notebook, cell, the lowest final training accuracy).
OVERFIT_CELLS = [
    ("cnn", "CNN.ipynb", "overfit-small", 0.9),  # 100 images in 15 epochs: "should approach 100%"
    ("fcnet", "FullyConnectedNets.ipynb", "overfit-three-layer", 1.0),  # 50 images in 20 epochs: "should reach 100%"
    ("fcnet", "FullyConnectedNets.ipynb", "overfit-five-layer", 1.0),
]


def copy_assignment(folder, tmp_path_factory):
    """A throwaway copy of an assignment folder, so that runs never touch the repository."""
    if not (folder / ASSIGNMENTS[folder.name][0]).exists():
        pytest.fail(f"{folder.relative_to(REPO_ROOT)} has no notebooks: run `python -m autograder generate "
                    f"{folder.name}` from the repository root")
    dest = tmp_path_factory.mktemp(folder.parent.name) / folder.name
    shutil.copytree(folder, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints"))
    return dest


def printed_by(run, cell_id):
    """What one cell of a run printed; fails when the cell is missing or did not run."""
    cell = next((c for c in run.notebook.cells if c.get("id") == cell_id), None)
    assert cell is not None, f"the notebook has no cell {cell_id!r}"
    assert cell.get("execution_count") is not None, f"cell {cell_id!r} did not run: {error_report(run)}"
    return stream_text(cell)


def first_traceback(run):
    """The first error output of a run as ``(cell id, error output, plain-text traceback)``, or None."""
    for cell in run.notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return cell.get("id"), output, ANSI_ESCAPE.sub("", "\n".join(output.get("traceback", [])))
    return None


def error_report(run):
    """The first error of a run, readable: cell, exception and the end of the traceback."""
    found = first_traceback(run)
    if found is None:
        return f"{run.error_name} in cell {run.error_cell!r} (no error output)"
    cell_id, output, traceback = found
    return f"cell {cell_id!r}: {output['ename']}: {output['evalue']}\n{traceback[-1500:]}"


def run_cells(folder, notebook, cell_ids, env):
    """Run only the setup cell and the given cells of a notebook of ``folder``."""
    nb = nbformat.read(folder / notebook, as_version=4)
    nb.cells = [c for c in nb.cells if c.get("id") in ("setup", *cell_ids)]
    assert [c.id for c in nb.cells] == ["setup", *cell_ids], f"{notebook} lacks one of the cells {cell_ids}"
    partial = folder / f"_partial_{notebook}"
    nbformat.write(nb, partial)
    return run_notebook(partial, folder, env=env, cell_timeout=CELL_TIMEOUT)


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory):
    """The kernel's environment: a fake CIFAR-10, no nbgrader, nothing of the repository on the path."""
    cifar_dir = write_fake_cifar10(tmp_path_factory.mktemp("data"), images_per_batch=300, test_images=300)
    env = {k: v for k, v in os.environ.items() if k not in ("NBGRADER_EXECUTION", "PYTHONPATH")}
    env["CIFAR10_DIR"] = str(cifar_dir)
    return env


def copies_of(root, tmp_path_factory):
    """``copy(assignment) -> folder``: a throwaway copy of ``root/<assignment>``, made when first asked."""
    made = {}

    def copy(assignment):
        if assignment not in made:
            made[assignment] = copy_assignment(root / assignment, tmp_path_factory)
        return made[assignment]
    return copy


@pytest.fixture(scope="module")
def solutions_copy(tmp_path_factory):
    return copies_of(SOLUTIONS, tmp_path_factory)


@pytest.fixture(scope="module")
def release_copy(tmp_path_factory):
    return copies_of(RELEASE, tmp_path_factory)


def runs_of(copy, env):
    """Run each notebook of each assignment at most once: ``runs(assignment, name) -> NotebookRun``."""
    done = {}

    def runs(assignment, name):
        if (assignment, name) not in done:
            folder = copy(assignment)
            done[assignment, name] = run_notebook(folder / name, folder, env=env, cell_timeout=CELL_TIMEOUT)
        return done[assignment, name]
    return runs


@pytest.fixture(scope="module")
def solution_runs(solutions_copy, kernel_env):
    """The solved notebooks, each run top to bottom (long training included)."""
    return runs_of(solutions_copy, kernel_env)


@pytest.fixture(scope="module")
def release_runs(release_copy, kernel_env):
    """The release notebooks, each run until its first error."""
    return runs_of(release_copy, kernel_env)


@pytest.fixture(scope="module")
def nbgrader_runs(solutions_copy, kernel_env):
    """The solved notebooks as `nbgrader validate` executes them (the kit's autograde executes none)."""
    return runs_of(solutions_copy, dict(kernel_env, NBGRADER_EXECUTION="validate"))


# --- the solved copy -------------------------------------------------------------------------

@pytest.mark.notebook
@pytest.mark.parametrize("assignment, name", NOTEBOOKS)
def test_solution_notebook_runs_to_the_end(assignment, name, solution_runs):
    run = solution_runs(assignment, name)
    assert run.error_name is None, f"solutions_private/{assignment}/{name} failed at {error_report(run)}"
    code_cells = [c for c in run.notebook.cells if c.cell_type == "code"]
    assert run.cells_run == len(code_cells), f"{name}: only {run.cells_run} of {len(code_cells)} code cells ran"


@pytest.mark.notebook
@pytest.mark.parametrize("assignment, name", NOTEBOOKS)
def test_solution_notebook_writes_nothing_to_stderr(assignment, name, solution_runs):
    """A warning in the reference notebook is a bug students would chase (and nbgrader scores stderr as 0)."""
    run = solution_runs(assignment, name)
    noisy = {c.id: stream_text(c, "stderr")[:300] for c in run.notebook.cells if stream_text(c, "stderr")}
    assert not noisy, f"{assignment}/{name}: cells wrote to stderr: {noisy}"


@pytest.mark.notebook
@pytest.mark.parametrize("assignment, name", NOTEBOOKS)
def test_solution_notebook_prints_every_check(assignment, name, solution_runs):
    run = solution_runs(assignment, name)
    missing = REQUIRED_CHECKS[assignment, name] - set(run.checks())
    assert not missing, (f"{assignment}/{name}: the checks {sorted(missing)} were not printed as "
                         "'<label> error: <value>'")


@pytest.mark.notebook
@pytest.mark.parametrize("assignment, name", NOTEBOOKS)
def test_solution_notebook_checks_pass(assignment, name, solution_runs):
    """The reference passes every check its notebook prints: relative errors far below what flags a bug."""
    run = solution_runs(assignment, name)
    failing = {label: max(values) for label, values in run.checks().items()
               if not max(values) < CHECK_TOLERANCE}
    assert not failing, f"{assignment}/{name}: the reference fails its own checks (> {CHECK_TOLERANCE:g}): {failing}"


@pytest.mark.notebook
@pytest.mark.parametrize("assignment, name, cell, lowest", OVERFIT_CELLS, ids=[c[2] for c in OVERFIT_CELLS])
def test_overfit_cell_memorizes_the_small_training_set(assignment, name, cell, lowest, solution_runs):
    printed = printed_by(solution_runs(assignment, name), cell)
    assert "Final training accuracy:" in printed, f"{cell} printed no final accuracy:\n{printed[-500:]}"
    accuracy = float(printed.split("Final training accuracy:")[1].split()[0])
    assert accuracy >= lowest, f"{cell}: the small model reached only {accuracy:.2f} training accuracy"


@pytest.mark.notebook
@pytest.mark.parametrize("training", TRAINING_CELLS, ids=lambda t: f"{t.assignment}-{t.cell}")
def test_long_training_cell_trains_when_nbgrader_is_not_running(training, solution_runs):
    printed = printed_by(solution_runs(training.assignment, training.notebook), training.cell)
    assert training.skip_message not in printed, f"{training.cell} skipped itself without NBGRADER_EXECUTION set"
    assert training.trained in printed, f"{training.cell} did not train; it printed:\n{printed[-500:]}"


# --- the student release ---------------------------------------------------------------------

@pytest.mark.notebook
@pytest.mark.parametrize("assignment, name", NOTEBOOKS)
def test_release_notebook_stops_first_at_a_stub(assignment, name, release_runs):
    """Everything before the student's first task runs; the first error is a stub's NotImplementedError."""
    run = release_runs(assignment, name)
    assert run.error_name == "NotImplementedError", (
        f"release/{assignment}/{name} should fail first at a stub, but "
        + (f"failed at {error_report(run)}" if run.error_name else "ran to the end: does it call any stub?"))
    cell_id, _, traceback = first_traceback(run)
    assert re.search(r"nnl/\w+\.py", traceback), (
        f"{name}: the NotImplementedError of cell {cell_id!r} is not raised in nnl/: {error_report(run)}")


# --- under nbgrader --------------------------------------------------------------------------

@pytest.mark.notebook
@pytest.mark.parametrize("training", TRAINING_CELLS, ids=lambda t: f"{t.assignment}-{t.cell}")
def test_long_training_cell_skips_under_nbgrader(training, nbgrader_runs):
    printed = printed_by(nbgrader_runs(training.assignment, training.notebook), training.cell)
    assert training.skip_message in printed, (
        f"{training.cell} did not print its skip message; it printed:\n{printed[-500:]}")
    assert "(Iteration" not in printed and training.trained not in printed, (
        f"{training.cell} trained although NBGRADER_EXECUTION is set")


@pytest.mark.notebook
@pytest.mark.parametrize("assignment, name", NOTEBOOKS_WITH_TRAINING)
def test_notebook_runs_to_the_end_under_nbgrader(assignment, name, nbgrader_runs):
    """The cells after a skipped one (the CNN's filter visualization) must not need the skipped training."""
    run = nbgrader_runs(assignment, name)
    assert run.error_name is None, f"{assignment}/{name} under nbgrader failed at {error_report(run)}"


# --- the checks catch bugs -------------------------------------------------------------------

@dataclass(frozen=True)
class BrokenGradient:
    """A backward function of an assignment's module whose ``position``-th gradient comes back 10% too large."""

    assignment: str
    notebook: str
    cells: tuple
    module: str
    function: str
    position: int
    label: str  # the printed check that must catch it

    def patch(self):
        f = self.function
        return (f"\n\n_reference_{f} = {f}\n\n\n"
                f"def {f}(*args):\n"
                f"    grads = list(_reference_{f}(*args))\n"
                f"    grads[{self.position}] = grads[{self.position}] * 1.1\n"
                f"    return tuple(grads)\n")


def broken_gradients(assignment, notebook, cell, module, function, labels):
    return [BrokenGradient(assignment, notebook, (cell,), module, function, i, label) for i, label in enumerate(labels)]


BROKEN_GRADIENTS = (
    broken_gradients("cnn", "SpatialBatchNorm.ipynb", "backward-check", "nnl/conv_layers.py",
                     "spatial_batchnorm_backward", ["dx", "dgamma", "dbeta"])
    + broken_gradients("cnn", "ConvolutionalLayers.ipynb", "conv-backward-check", "nnl/conv_layers.py",
                       "conv_backward_naive", ["dx", "dw", "db"])
    + broken_gradients("fcnet", "BatchNormalization.ipynb", "backward-check", "nnl/layers.py",
                       "batchnorm_backward", ["dx", "dgamma", "dbeta"])
    + broken_gradients("fcnet", "FullyConnectedNets.ipynb", "affine-backward-check", "nnl/layers.py",
                       "affine_backward", ["dx", "dw", "db"])
)


@pytest.mark.notebook
@pytest.mark.parametrize("broken", BROKEN_GRADIENTS, ids=lambda b: f"{b.function}-{b.label}")
def test_gradient_check_cell_catches_a_wrong_gradient(broken, tmp_path_factory, kernel_env):
    """Each printed error compares that gradient, and only it, with its numerical estimate."""
    folder = copy_assignment(SOLUTIONS / broken.assignment, tmp_path_factory)
    with open(folder / broken.module, "a") as module:
        module.write(broken.patch())
    run = run_cells(folder, broken.notebook, broken.cells, kernel_env)
    assert run.error_name is None, f"{broken.notebook} failed at {error_report(run)}"
    errors = {label: values[0] for label, values in run.checks().items()}
    assert errors[broken.label] > 1e-2, (
        f"{broken.notebook} [{broken.cells[0]}]: a {broken.label} 10% too large printed "
        f"'{broken.label} error: {errors[broken.label]:.1e}': the check does not compare {broken.label}")
    others = {label: e for label, e in errors.items() if label != broken.label and e > 1e-6}
    assert not others, f"a wrong {broken.label} also moved other checks {others}: they do not check their own gradient"


# --- utils/vis_utils.py ----------------------------------------------------------------------

@pytest.mark.parametrize("num_images,grid_size", [(1, 1), (4, 2), (5, 3), (32, 6)])
@pytest.mark.parametrize("padding", [0, 1, 3])
def test_visualize_grid_shape(num_images, grid_size, padding):
    grid = visualize_grid(np.random.default_rng(0).normal(size=(num_images, 7, 5, 3)), padding=padding)
    expected = (7 * grid_size + padding * (grid_size - 1), 5 * grid_size + padding * (grid_size - 1), 3)
    assert grid.shape == expected, f"{num_images} images of 7x5, padding {padding}: grid {grid.shape} != {expected}"


@pytest.mark.parametrize("ubound", [1.0, 255.0])
def test_visualize_grid_rescales_each_image_to_0_ubound(ubound):
    images = np.stack([np.full((4, 4, 3), 1e-3), np.full((4, 4, 3), 1e3)])  # very different scales
    images[:, 0, 0, 0] = 0.0
    grid = visualize_grid(images, ubound=ubound, padding=1)
    for k, tile in enumerate([grid[:4, :4], grid[:4, 5:9]]):
        assert (tile.min(), tile.max()) == (0.0, ubound), f"image {k} spans [{tile.min()}, {tile.max()}]"


def test_visualize_grid_leaves_padding_and_empty_cells_blank():
    grid = visualize_grid(np.random.default_rng(0).normal(size=(3, 4, 4, 1)) + 5.0, padding=2)  # a 2x2 grid
    assert np.all(grid[4:6] == 0) and np.all(grid[:, 4:6] == 0), "padding rows/columns are not blank"
    assert np.all(grid[6:, 6:] == 0), "the unused fourth cell is not blank"


def test_visualize_grid_draws_a_constant_image_black():
    """A constant image (all-zero filter) has no range to rescale: black, no NaN, no division warning."""
    grid = visualize_grid(np.zeros((2, 3, 3, 3)))
    assert np.all(grid == 0)


def test_the_kernel_talks_over_private_ipc_sockets_not_tcp(tmp_path):
    """Does run_notebook keep the kernel off localhost TCP (which any local user could connect to)?"""
    notebook = tmp_path / "probe.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import json, os, stat, ipykernel\n"
        "info = json.load(open(ipykernel.get_connection_file()))\n"
        "folder = os.path.dirname(info['ip']) or '.'\n"
        "print(info['transport'], os.path.isabs(info['ip']), oct(stat.S_IMODE(os.stat(folder).st_mode)))")]),
        notebook)
    run = run_notebook(notebook, cwd=tmp_path, cell_timeout=CELL_TIMEOUT)
    assert run.error_name is None
    assert stream_text(run.notebook.cells[0], "stdout").split() == ["ipc", "True", "0o700"]
