"""Hidden tests of relu_forward / relu_backward (the pattern every suite file follows).

Each test: one `@pytest.mark.grades` (points come from rubric.toml), fresh
seeded inputs from `rng`, the student's function called through `student`,
the reference from `ref`, checks from `autograder.grading.checks` whose messages teach.
A backward pass is checked against gradients of the REFERENCE forward (numerical,
computed in the grader), fed the student's own cache, or the documented one (``x``)
when the student's forward is not right: a wrong forward must not cost the backward
its points (`autograder.grading.backward`).
"""
import numpy as np
import pytest

from autograder.grading.backward import backward_caches, first_passing
from autograder.grading.checks import check_close, check_rel_error, numerical_gradient

SHAPES = [(4, 7), (2, 3, 5, 6)]


@pytest.mark.grades("relu_forward")
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_forward_matches_reference(student, ref, rng, shape):
    x = rng.normal(size=shape)
    out, _ = student.call("relu_forward", x)
    check_close(out, ref.relu_forward(x)[0], f"relu_forward output for x of shape {shape}",
                hint="ReLU keeps positive values and sets the others to 0: np.maximum(0, x).")


@pytest.mark.grades("relu_backward")
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_backward_matches_numerical_gradient(student, ref, rng, shape):
    x = rng.normal(size=shape)
    x[np.abs(x) < 1e-2] = 0.5  # keep away from the kink, where the derivative is undefined
    dout = rng.normal(size=shape)
    # the student's own cache, passed back unopened; the documented x when their forward is not right
    caches, _ = backward_caches(student, "relu_forward", (x,), ref.relu_forward(x)[0], documented=x)
    # The numerical gradient of the REFERENCE forward, computed here: a bug in the student's
    # forward must not cost the backward its points (fair verdicts).
    dx_num = numerical_gradient(lambda batch: [ref.relu_forward(*args)[0] for args in batch], [x], 0, dout)
    first_passing(caches, lambda cache: check_rel_error(
        student.call("relu_backward", dout, cache), dx_num, "relu_backward dx (vs. the numerical gradient of ReLU)",
        tol=1e-7, hint="dx is dout where x > 0 and 0 elsewhere."))
