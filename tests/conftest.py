"""Shared test set-up: where the repository's pieces live.

The reference implementation is the solution source itself (`source/cnn`):
solution markers are comments, so the source runs as written. Tests import
`nnl` from there and the course utilities from the repository root.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SOURCE_ASSIGNMENT = REPO_ROOT / "source" / "cnn"

# pytest-xdist runs one test file per core, most of them driving other processes (graders,
# nbgrader, Jupyter kernels): BLAS threads beyond one per process would only contend for the cores.
for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

for path in (SOURCE_ASSIGNMENT, REPO_ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


@pytest.fixture
def rng():
    """A seeded generator so every run sees the same inputs."""
    import numpy as np

    return np.random.default_rng(231)


# The files whose runs take minutes (notebooks in kernels, whole nbgrader flows, validate), longest
# first (`--durations` and `--junitxml` of a whole run, 2026-12-02: 193 s down to 76 s of test time).
# pytest-xdist hands out whole files in collection order (with `--no-loadscope-reorder`, which
# pyproject.toml sets: by default xdist >= 3.8 puts the files with the most tests first instead):
# starting these first keeps one worker from being left alone with a long file at the end while
# the other has nothing to do.
LONGEST_FILES = ("test_notebooks.py", "test_validate.py", "test_public_checks.py", "test_nbgrader_course.py",
                 "test_demo.py", "test_nbgrader_traps.py", "test_batch.py", "test_generate.py", "test_framework.py")


def pytest_collection_modifyitems(items):
    def rank(item):
        name = item.path.name
        return LONGEST_FILES.index(name) if name in LONGEST_FILES else len(LONGEST_FILES)

    items.sort(key=rank)  # stable: every file keeps its own order


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """A real `dask scheduler` and two `dask worker` processes on localhost."""
    folder = tmp_path_factory.mktemp("dask")
    scheduler_file = folder / "scheduler.json"
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    procs = [subprocess.Popen(dask + ["--scheduler-file", str(scheduler_file), "--port", "0", "--host",
                                      "127.0.0.1", "--no-dashboard"], cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists():
            assert time.monotonic() < deadline, "the Dask scheduler did not start"
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text())["address"]
        for i in range(2):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers", "1", "--nthreads", "1",
                 "--name", f"worker-{i}", "--no-dashboard", "--local-directory", str(folder / f"w{i}")],
                cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        yield address
    finally:
        for proc in reversed(procs):
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in procs:
            proc.wait(timeout=60)
