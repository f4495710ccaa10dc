"""
Numerical gradients by centered differences, to check analytic gradients.

Every function here nudges one element of x at a time by +h and -h, calls f,
and puts the element back before moving on, so x is unchanged afterwards.
x must be a floating-point array (use float64 for gradient checks).
"""
import numpy as np


def rel_error(x, y):
    """
    Returns the maximum elementwise relative error between x and y:
    max |x - y| / max(1e-8, |x| + |y|).
    """
    return np.max(np.abs(x - y) / (np.maximum(1e-8, np.abs(x) + np.abs(y))))


def _values_around(f, x, ix, h):
    """
    Returns (f(x) with x[ix] + h, f(x) with x[ix] - h), restoring x[ix] afterwards.
    """
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError('x must be a floating-point array, got dtype %s' % x.dtype)
    old_value = x[ix]
    try:
        x[ix] = old_value + h
        f_plus = np.copy(f(x))  # copy: f may return an array it later overwrites
        x[ix] = old_value - h
        f_minus = np.copy(f(x))
    finally:
        x[ix] = old_value
    return f_plus, f_minus


def eval_numerical_gradient(f, x, verbose=True, h=1e-5):
    """
    Evaluates the numerical gradient of a scalar function f at x.

    Inputs:
    - f: A function that takes a single argument (an array of the shape of x)
        and returns a scalar
    - x: The point (numpy array) to evaluate the gradient at
    - verbose: If True, print the gradient at each index
    - h: The step size of the centered difference

    Returns:
    - grad: The numerical gradient of f at x, of the same shape as x
    """
    grad = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        f_plus, f_minus = _values_around(f, x, ix, h)
        grad[ix] = (f_plus - f_minus) / (2 * h)
        if verbose:
            print(ix, grad[ix])
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """
    Evaluates the numerical gradient of a function f that returns an array,
    contracted with the upstream gradient df: the gradient of sum(f(x) * df).

    Inputs:
    - f: A function that takes a single argument (an array of the shape of x)
        and returns an array
    - x: The point (numpy array) to evaluate the gradient at
    - df: Upstream derivatives, of the same shape as f(x)
    - h: The step size of the centered difference

    Returns:
    - grad: The numerical gradient, of the same shape as x
    """
    grad = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        f_plus, f_minus = _values_around(f, x, ix, h)
        grad[ix] = np.sum((f_plus - f_minus) * df) / (2 * h)
    return grad


def grad_check_sparse(f, x, analytic_grad, num_checks=10, h=1e-5):
    """
    Compares the analytic gradient with the numerical one at a few random
    elements of x, and prints the two values and their relative error.

    Inputs:
    - f: A function that takes a single argument (an array of the shape of x)
        and returns a scalar
    - x: The point (numpy array) to check the gradient at
    - analytic_grad: The analytic gradient of f at x, of the same shape as x
    - num_checks: How many random elements to check
    - h: The step size of the centered difference

    Returns:
    - errors: Array of shape (num_checks,) giving the relative error at each
        checked element
    """
    errors = np.zeros(num_checks)
    for i in range(num_checks):
        ix = tuple(np.random.randint(size) for size in x.shape)
        f_plus, f_minus = _values_around(f, x, ix, h)
        grad_numerical = (f_plus - f_minus) / (2 * h)
        grad_analytic = analytic_grad[ix]
        errors[i] = rel_error(grad_numerical, grad_analytic)
        print('numerical: %f analytic: %f, relative error: %e'
              % (grad_numerical, grad_analytic, errors[i]))
    return errors
