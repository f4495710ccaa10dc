"""Hidden tests of relu_forward / relu_backward (the pattern every suite file follows).

Each test: one `@pytest.mark.grades` (points come from rubric.toml), fresh
seeded inputs from `rng`, the student's function called through `student`,
the reference from `ref`, checks from `autograder.checks` whose messages teach.
"""
import numpy as np
import pytest

from autograder.checks import check_close, check_rel_error, numerical_gradient

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
def test_backward_matches_numerical_gradient(student, rng, shape):
    x = rng.normal(size=shape)
    x[np.abs(x) < 1e-2] = 0.5  # keep away from the kink, where the derivative is undefined
    dout = rng.normal(size=shape)
    _, cache = student.call("relu_forward", x)
    dx = student.call("relu_backward", dout, cache)
    dx_num = numerical_gradient(lambda batch: student.many("relu_forward", batch), [x], 0, dout)
    check_rel_error(dx, dx_num, "relu_backward dx (vs. numerical gradient of your relu_forward)", tol=1e-7,
                    hint="dx is dout where x > 0 and 0 elsewhere.")
