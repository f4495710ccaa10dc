"""Shared test set-up: where the repository's pieces live.

The reference implementation is the solution source itself (`source/cnn`):
solution markers are comments, so the source runs as written. Tests import
`nnl` from there and the course utilities from the repository root.
"""
import os
import sys
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


# The files whose runs take minutes (whole nbgrader flows, validate). pytest-xdist hands out
# whole files in collection order: starting these first keeps one worker from being left alone
# with a long file at the end while the other has nothing to do.
LONGEST_FILES = ("test_validate.py", "test_nbgrader_course.py", "test_demo.py", "test_nbgrader_traps.py")


def pytest_collection_modifyitems(items):
    def rank(item):
        name = item.path.name
        return LONGEST_FILES.index(name) if name in LONGEST_FILES else len(LONGEST_FILES)

    items.sort(key=rank)  # stable: every file keeps its own order
