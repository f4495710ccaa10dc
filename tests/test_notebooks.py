"""The assignment notebooks, run top to bottom in a real Jupyter kernel.

Each notebook runs the way a student or nbgrader runs it: from a temporary copy
of the assignment folder (the kernel's working folder, so that ``import nnl``
and ``import utils`` resolve there), in a separate ``python3`` kernel, on a
small fake CIFAR-10 (``CIFAR10_DIR``). What must hold:

- the solved copy (``solutions_private/cnn``) runs to the end, long training
  included, writes nothing to stderr, and every check it prints passes;
- the student release (``release/cnn``) runs until its first error, which is
  the ``NotImplementedError`` of a stub in ``nnl/``;
- while nbgrader executes it (``NBGRADER_EXECUTION`` set), the long training
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
SOLUTIONS = REPO_ROOT / "solutions_private" / "cnn"
RELEASE = REPO_ROOT / "release" / "cnn"
NOTEBOOKS = ["ConvolutionalLayers.ipynb", "SpatialBatchNorm.ipynb", "CNN.ipynb"]
CELL_TIMEOUT = 120  # seconds; the slowest cell takes about 10 on the fake dataset
TRAIN_CELL = "train-one-epoch"
SKIP_MESSAGE = "Skipping the one-epoch training run"

CHECK_TOLERANCE = 1e-4
# The checks each solved notebook must print (a subset of all it prints).
REQUIRED_CHECKS = {
    "ConvolutionalLayers.ipynb": {"by-hand", "pad 0", "pad 1", "dx", "dw", "db", "forward", "2x2 stride 2",
                                  "3x3 stride 2", "2x2 stride 2 dx", "3x3 stride 2 dx", "out"},
    "SpatialBatchNorm.ipynb": {"dx", "dgamma", "dbeta"},
    "CNN.ipynb": {f"{name} max relative" for name in
                  ["W1", "b1", "W2", "b2", "W3", "b3", "gamma1", "beta1", "gamma2", "beta2"]},
}
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def copy_assignment(folder, tmp_path_factory):
    """A throwaway copy of an assignment folder, so that runs never touch the repository."""
    if not (folder / NOTEBOOKS[0]).exists():
        pytest.fail(f"{folder.relative_to(REPO_ROOT)} has no notebooks: run `nbgrader generate_assignment cnn` "
                    "from the repository root")
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


@pytest.fixture(scope="module")
def solutions_copy(tmp_path_factory):
    return copy_assignment(SOLUTIONS, tmp_path_factory)


@pytest.fixture(scope="module")
def release_copy(tmp_path_factory):
    return copy_assignment(RELEASE, tmp_path_factory)


def runs_of(folder, env):
    """Run each notebook of ``folder`` at most once: ``runs(name) -> NotebookRun``."""
    done = {}

    def runs(name):
        if name not in done:
            done[name] = run_notebook(folder / name, folder, env=env, cell_timeout=CELL_TIMEOUT)
        return done[name]
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
def nbgrader_cnn_run(solutions_copy, kernel_env):
    """The solved CNN notebook as `nbgrader validate` executes it (the kit's autograde executes none)."""
    env = dict(kernel_env, NBGRADER_EXECUTION="validate")
    return run_notebook(solutions_copy / "CNN.ipynb", solutions_copy, env=env, cell_timeout=CELL_TIMEOUT)


# --- the solved copy -------------------------------------------------------------------------

@pytest.mark.notebook
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_solution_notebook_runs_to_the_end(name, solution_runs):
    run = solution_runs(name)
    assert run.error_name is None, f"solutions_private/cnn/{name} failed at {error_report(run)}"
    code_cells = [c for c in run.notebook.cells if c.cell_type == "code"]
    assert run.cells_run == len(code_cells), f"{name}: only {run.cells_run} of {len(code_cells)} code cells ran"


@pytest.mark.notebook
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_solution_notebook_writes_nothing_to_stderr(name, solution_runs):
    """A warning in the reference notebook is a bug students would chase (and nbgrader scores stderr as 0)."""
    run = solution_runs(name)
    noisy = {c.id: stream_text(c, "stderr")[:300] for c in run.notebook.cells if stream_text(c, "stderr")}
    assert not noisy, f"{name}: cells wrote to stderr: {noisy}"


@pytest.mark.notebook
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_solution_notebook_prints_every_check(name, solution_runs):
    run = solution_runs(name)
    missing = REQUIRED_CHECKS[name] - set(run.checks())
    assert not missing, f"{name}: the checks {sorted(missing)} were not printed as '<label> error: <value>'"


@pytest.mark.notebook
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_solution_notebook_checks_pass(name, solution_runs):
    """The reference passes every check its notebook prints: relative errors far below what flags a bug."""
    run = solution_runs(name)
    failing = {label: max(values) for label, values in run.checks().items()
               if not max(values) < CHECK_TOLERANCE}
    assert not failing, f"{name}: the reference fails its own checks (> {CHECK_TOLERANCE:g}): {failing}"


@pytest.mark.notebook
def test_overfit_cell_memorizes_the_small_training_set(solution_runs):
    run = solution_runs("CNN.ipynb")
    printed = printed_by(run, "overfit-small")
    assert "Final training accuracy:" in printed, f"overfit-small printed no final accuracy:\n{printed[-500:]}"
    accuracy = float(printed.split("Final training accuracy:")[1].split()[0])
    assert accuracy >= 0.9, f"the small model reached only {accuracy:.2f} training accuracy on 100 images"


@pytest.mark.notebook
def test_long_training_cell_trains_when_nbgrader_is_not_running(solution_runs):
    run = solution_runs("CNN.ipynb")
    printed = printed_by(run, TRAIN_CELL)
    assert SKIP_MESSAGE not in printed, f"{TRAIN_CELL} skipped itself without NBGRADER_EXECUTION set"
    assert "(Epoch 1 / 1)" in printed, f"{TRAIN_CELL} did not train for one epoch; it printed:\n{printed[-500:]}"


# --- the student release ---------------------------------------------------------------------

@pytest.mark.notebook
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_release_notebook_stops_first_at_a_stub(name, release_runs):
    """Everything before the student's first task runs; the first error is a stub's NotImplementedError."""
    run = release_runs(name)
    assert run.error_name == "NotImplementedError", (
        f"release/cnn/{name} should fail first at a stub, but "
        + (f"failed at {error_report(run)}" if run.error_name else "ran to the end: does it call any stub?"))
    cell_id, _, traceback = first_traceback(run)
    assert re.search(r"nnl/\w+\.py", traceback), (
        f"{name}: the NotImplementedError of cell {cell_id!r} is not raised in nnl/: {error_report(run)}")


# --- under nbgrader --------------------------------------------------------------------------

@pytest.mark.notebook
def test_long_training_cell_skips_under_nbgrader(nbgrader_cnn_run):
    printed = printed_by(nbgrader_cnn_run, TRAIN_CELL)
    assert SKIP_MESSAGE in printed, f"{TRAIN_CELL} did not print its skip message; it printed:\n{printed[-500:]}"
    assert "(Iteration" not in printed, f"{TRAIN_CELL} trained although NBGRADER_EXECUTION is set"


@pytest.mark.notebook
def test_cnn_notebook_runs_to_the_end_under_nbgrader(nbgrader_cnn_run):
    """The cells after the skipped one (filter visualization) must not need the skipped training."""
    assert nbgrader_cnn_run.error_name is None, f"CNN.ipynb under nbgrader failed at {error_report(nbgrader_cnn_run)}"


# --- the checks catch bugs -------------------------------------------------------------------

@dataclass(frozen=True)
class BrokenGradient:
    """A backward function of nnl/conv_layers.py whose ``position``-th gradient comes back 10% too large."""

    notebook: str
    cells: tuple
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


BROKEN_GRADIENTS = [
    BrokenGradient("SpatialBatchNorm.ipynb", ("backward-check",), "spatial_batchnorm_backward", i, label)
    for i, label in enumerate(["dx", "dgamma", "dbeta"])
] + [
    BrokenGradient("ConvolutionalLayers.ipynb", ("conv-backward-check",), "conv_backward_naive", i, label)
    for i, label in enumerate(["dx", "dw", "db"])
]


@pytest.mark.notebook
@pytest.mark.parametrize("broken", BROKEN_GRADIENTS, ids=lambda b: f"{b.function}-{b.label}")
def test_gradient_check_cell_catches_a_wrong_gradient(broken, tmp_path_factory, kernel_env):
    """Each printed error compares that gradient, and only it, with its numerical estimate."""
    folder = copy_assignment(SOLUTIONS, tmp_path_factory)
    with open(folder / "nnl" / "conv_layers.py", "a") as module:
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
