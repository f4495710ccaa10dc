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
