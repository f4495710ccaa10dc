"""Does utils/gradient_check.py compute the gradients of functions whose gradients we know?"""
import numpy as np
import pytest

from utils.gradient_check import eval_numerical_gradient, eval_numerical_gradient_array, grad_check_sparse, rel_error

SHAPES = [(1,), (5,), (3, 4), (2, 3, 4)]


def _weighted_cube_sum(weights):
    """f(x) = sum(weights * x**3) with gradient 3 * weights * x**2."""
    return lambda x: np.sum(weights * x ** 3)


@pytest.mark.parametrize("shape", SHAPES)
def test_numerical_gradient_of_cubic_matches_formula(rng, shape):
    # |x| in [0.5, 2]: away from 0, where the gradient 3 w x**2 vanishes and relative error is meaningless
    x = rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    weights = rng.standard_normal(shape)
    grad = eval_numerical_gradient(_weighted_cube_sum(weights), x, verbose=False)
    expected = 3 * weights * x ** 2
    assert grad.shape == x.shape, f"gradient shape {grad.shape} != x shape {x.shape}"
    err = rel_error(grad, expected)
    assert err < 1e-7, f"numerical gradient of sum(w * x**3) off by relative error {err:.2e}"


@pytest.mark.parametrize("shape", SHAPES)
def test_numerical_gradient_restores_x(rng, shape):
    x = rng.standard_normal(shape)
    x_before = x.copy()
    eval_numerical_gradient(lambda z: np.sum(np.sin(z)), x, verbose=False)
    np.testing.assert_array_equal(x, x_before, err_msg="x must be restored after every probe")


def test_numerical_gradient_restores_x_when_f_raises(rng):
    x = rng.standard_normal((2, 3))
    x_before = x.copy()

    def explode(z):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        eval_numerical_gradient(explode, x, verbose=False)
    np.testing.assert_array_equal(x, x_before, err_msg="x was left perturbed after f raised")


def test_numerical_gradient_verbose_prints_each_index(rng, capsys):
    x = rng.standard_normal((2, 3))
    eval_numerical_gradient(lambda z: np.sum(z), x, verbose=True)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == x.size, f"expected one printed line per element ({x.size}), got {len(lines)}"


@pytest.mark.parametrize("shape", SHAPES)
def test_numerical_gradient_array_of_elementwise_function(rng, shape):
    """For f(x) = x * exp(x) elementwise, grad of sum(f(x) * df) is df * (1 + x) * exp(x)."""
    x = rng.standard_normal(shape)
    df = rng.standard_normal(shape)
    grad = eval_numerical_gradient_array(lambda z: z * np.exp(z), x, df)
    expected = df * (1 + x) * np.exp(x)
    err = rel_error(grad, expected)
    assert err < 1e-7, f"elementwise array gradient off by relative error {err:.2e}"


@pytest.mark.parametrize("n_in,n_out", [(1, 1), (3, 5), (6, 2)])
def test_numerical_gradient_array_of_matrix_product(rng, n_in, n_out):
    """For f(x) = x @ A with x of shape (2, n_in), grad of sum(f(x) * df) is df @ A.T."""
    x = rng.standard_normal((2, n_in))
    A = rng.standard_normal((n_in, n_out))
    df = rng.standard_normal((2, n_out))
    grad = eval_numerical_gradient_array(lambda z: z @ A, x, df)
    err = rel_error(grad, df @ A.T)
    assert err < 1e-8, f"gradient of x @ A off by relative error {err:.2e}"


def test_numerical_gradient_array_copies_reused_output(rng):
    """f returning the same buffer each call must not fool the centered difference."""
    x = rng.standard_normal(4)
    df = rng.standard_normal(4)
    buffer = np.zeros(4)

    def square_into_buffer(z):
        buffer[:] = z ** 2
        return buffer

    grad = eval_numerical_gradient_array(square_into_buffer, x, df)
    err = rel_error(grad, 2 * x * df)
    assert err < 1e-8, f"a reused output buffer broke the gradient: relative error {err:.2e}"


def test_numerical_gradient_array_restores_x(rng):
    x = rng.standard_normal((3, 2))
    x_before = x.copy()
    eval_numerical_gradient_array(lambda z: z ** 2, x, np.ones_like(x))
    np.testing.assert_array_equal(x, x_before, err_msg="x must be restored after every probe")


def test_integer_input_is_rejected():
    with pytest.raises(TypeError, match="floating-point"):
        eval_numerical_gradient(lambda z: np.sum(z), np.arange(3), verbose=False)


def test_grad_check_sparse_small_errors_for_correct_gradient(rng):
    np.random.seed(0)
    x = rng.uniform(0.5, 2.0, (4, 5))
    weights = rng.standard_normal((4, 5))
    errors = grad_check_sparse(_weighted_cube_sum(weights), x, 3 * weights * x ** 2, num_checks=7)
    assert errors.shape == (7,), f"expected one error per check, got shape {errors.shape}"
    assert np.max(errors) < 1e-7, f"correct gradient reported relative error {np.max(errors):.2e}"


def test_grad_check_sparse_flags_wrong_gradient(rng):
    np.random.seed(0)
    x = rng.standard_normal((4, 5))
    weights = rng.standard_normal((4, 5))
    wrong = 2 * weights * x ** 2
    errors = grad_check_sparse(_weighted_cube_sum(weights), x, wrong, num_checks=5)
    assert np.min(errors) > 0.1, "a gradient off by a factor 3/2 should give relative errors near 0.2"


def test_grad_check_sparse_restores_x(rng):
    np.random.seed(0)
    x = rng.standard_normal((3, 3))
    x_before = x.copy()
    grad_check_sparse(lambda z: np.sum(z ** 2), x, 2 * x, num_checks=5)
    np.testing.assert_array_equal(x, x_before, err_msg="x must be restored after every probe")


@pytest.mark.parametrize(
    "x,y,expected",
    [
        (np.array([1.0, 2.0]), np.array([1.0, 2.0]), 0.0),
        (np.array([1.0, 2.0]), np.array([1.0, 3.0]), 1.0 / 5.0),
        (np.array([0.0]), np.array([0.0]), 0.0),
        (np.array([1.0, -1.0]), np.array([-1.0, -1.0]), 1.0),
    ],
)
def test_rel_error_values(x, y, expected):
    assert rel_error(x, y) == pytest.approx(expected), f"rel_error({x}, {y}) should be {expected}"


def test_rel_error_floors_denominator():
    """Tiny values: the denominator is at least 1e-8, so 1e-10 vs 0 is an error of 1e-2."""
    assert rel_error(np.array([1e-10]), np.array([0.0])) == pytest.approx(1e-2)
