"""Fixtures of the CNN hidden suite: the reference solution, in the grader's process.

The reference is the solution source (`source/cnn/nnl`), imported here as the
package ``nnl``; the student's code is reached only through the ``student``
fixture of `autograder.grading.pytest_plugin`, which goes through the sandbox.
"""
import importlib
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

REFERENCE = Path(__file__).resolve().parents[3] / "source" / "cnn"


@pytest.fixture(scope="session")
def ref() -> SimpleNamespace:
    """Every public name of the reference ``nnl`` modules, as ``ref.conv_forward_naive`` etc."""
    if str(REFERENCE) not in sys.path:
        sys.path.insert(0, str(REFERENCE))
    names = {}
    for module in ("layers", "conv_layers", "fast_layers", "layer_utils", "conv_layer_utils", "optim", "cnn"):
        loaded = importlib.import_module(f"nnl.{module}")
        names.update({k: v for k, v in vars(loaded).items() if not k.startswith("_")})
    return SimpleNamespace(**names)
