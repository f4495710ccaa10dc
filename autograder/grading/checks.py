"""Comparisons the hidden suites make, with failure messages that teach.

Everything here runs in the grader's process on values the sandbox has
already decoded into plain arrays. Messages name what was checked, the
measured error and a hint; they never print expected arrays in bulk.
"""
from __future__ import annotations

import numpy as np

from autograder.grading.feedback import compose
from autograder.sandbox.sandbox import Handle


class GradingFailure(AssertionError):
    """A check failed; the message is the student's feedback."""


def fail(what: str, problem: str, hint: str | None = None) -> None:
    """Raise the feedback: what was checked, the problem, the hint (a line each, `feedback.compose`)."""
    raise GradingFailure(compose(what, problem, hint))


_fail = fail


def matches(actual, expected, rtol: float = 1e-6, atol: float = 1e-8) -> bool:
    """Whether a decoded student value equals ``expected`` (shape and finite values), without failing."""
    try:
        array = np.asarray(actual, dtype=np.float64)
        expected = np.asarray(expected, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return (array.shape == expected.shape and bool(np.isfinite(array).all())
            and bool(np.allclose(array, expected, rtol=rtol, atol=atol)))


def name_mistake(actual, mistakes: dict, default: str | None, rtol: float = 1e-6) -> str | None:
    """The hint naming the mistake whose output ``actual`` equals, else ``default``.

    Parameters
    ----------
    mistakes : dict
        Description -> that mistake's output on the test's inputs, or a zero-argument callable
        computing it (then it is computed only on failure, and one that does not apply to
        the case, e.g. shapes that do not fit, is skipped).
    """
    for description, output in mistakes.items():
        try:
            value = output() if callable(output) else output
        except Exception:
            continue
        if matches(actual, value, rtol=rtol):
            return f"your output equals {description}."
    return default


def unpack(value, count: int, what: str, names: str) -> tuple:
    """A student's returned tuple of ``count`` values, or a failure saying what came back.

    ``names`` says what was expected, e.g. ``"(out, cache)"``.
    """
    if not isinstance(value, (tuple, list)) or len(value) != count:
        got = f"{len(value)} values" if isinstance(value, (tuple, list)) else type(value).__name__
        fail(what, f"expected a tuple {names}, got {got}.", "keep the template's return line.")
    return tuple(value)


def as_array(value, what: str) -> np.ndarray:
    """The value as a float64 array, or a failure saying what came back instead.

    A `Handle` (an object the sandbox could not decode) or ``None`` is a wrong
    return value, reported as such.
    """
    if value is None:
        _fail(what, "got None; did you assign the result (e.g. `out = ...`) before returning?", None)
    if isinstance(value, Handle):
        _fail(what, f"got an object of type {value.type_name!r}, not an array of numbers.", None)
    if isinstance(value, (tuple, list, dict, str)):
        _fail(what, f"got a {type(value).__name__}, not an array of numbers.", None)
    array = np.asarray(value, dtype=np.float64)
    return array


def rel_error(x, y) -> float:
    """The course's relative error: ``max |x - y| / max(1e-8, |x| + |y|)``."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def check_shape(actual, shape: tuple, what: str, hint: str | None = None) -> np.ndarray:
    """Fail unless ``actual`` is an array of exactly ``shape``; return it as float64."""
    array = as_array(actual, what)
    if array.shape != tuple(shape):
        _fail(what, f"shape {array.shape}, expected {tuple(shape)}.", hint)
    return array


def check_close(actual, expected, what: str, *, rtol: float = 1e-6, atol: float = 1e-8,
                hint: str | None = None) -> None:
    """Fail unless ``actual`` matches ``expected`` elementwise (shape first, then values).

    ``|actual - expected| <= atol + rtol * |expected|``, as numpy's ``assert_allclose``,
    with NaN and infinity always wrong. The message reports how many elements are wrong,
    the first wrong index and the largest relative error, not the arrays.
    """
    expected = np.asarray(expected, dtype=np.float64)
    array = check_shape(actual, expected.shape, what, hint)
    finite = np.isfinite(array)
    wrong = ~finite | (np.abs(array - expected) > atol + rtol * np.abs(expected))
    if wrong.any():
        _fail(what, _wrong_values(array, expected, wrong, finite), hint)


def _wrong_values(array: np.ndarray, expected: np.ndarray, wrong: np.ndarray, finite: np.ndarray) -> str:
    """What is wrong, in one sentence: how many values, where the first is, the largest relative error.

    A single value: "the value is NaN or infinite." or "the value is wrong: relative error 3.2e-01."
    """
    if array.size == 1:
        if not finite.all():
            return "the value is NaN or infinite."
        return f"the value is wrong: relative error {rel_error(array, expected):.1e}."
    count = f"{int(wrong.sum())} of {array.size} values are wrong"
    if not finite.all():
        count += f" ({int((~finite).sum())} NaN or infinite)"
    parts = [count, f"the first at index {tuple(int(i) for i in np.argwhere(wrong)[0])}"]
    off = wrong & finite
    if off.any():
        parts.append(f"largest relative error {rel_error(array[off], expected[off]):.1e}")
    return ", ".join(parts) + "."


def check_rel_error(actual, expected, what: str, *, tol: float, hint: str | None = None) -> float:
    """Fail unless the course's relative error between the two is at most ``tol``; return it."""
    expected = np.asarray(expected, dtype=np.float64)
    array = check_shape(actual, expected.shape, what, hint)
    if not np.isfinite(array).all():
        _fail(what, "contains NaN or infinite values.", hint)
    error = rel_error(array, expected)
    if error > tol:
        _fail(what, f"relative error {error:.1e} > {tol:.0e}.", hint)
    return error


def numerical_gradient(evaluate, inputs: list, index: int, dout: np.ndarray, *, h: float = 1e-5,
                       positions=None) -> np.ndarray:
    """Centered-difference gradient of ``sum(f(*inputs) * dout)`` with respect to ``inputs[index]``.

    Parameters
    ----------
    evaluate : callable
        Takes a list of argument tuples and returns the list of outputs (arrays) of the
        function under test, one per tuple (``Student.many`` does this in one round trip).
    inputs : list
        The arguments; ``inputs[index]`` is a float array.
    index : int
        Which argument to differentiate.
    dout : np.ndarray
        Upstream gradient, the shape of the output.
    h : float
        Step.
    positions : iterable of tuple, optional
        Only these elements (a sparse check); the others stay NaN.

    Returns
    -------
    np.ndarray
        The numerical gradient, shaped like ``inputs[index]``.
    """
    x = np.asarray(inputs[index], dtype=np.float64)
    positions = list(np.ndindex(x.shape)) if positions is None else [tuple(p) for p in positions]
    batch = []
    for pos in positions:
        for step in (h, -h):
            probe = x.copy()
            probe[pos] += step
            args = list(inputs)
            args[index] = probe
            batch.append(tuple(args))
    outputs = evaluate(batch)
    grad = np.full(x.shape, np.nan)
    for k, pos in enumerate(positions):
        plus = as_array(outputs[2 * k], "output")
        minus = as_array(outputs[2 * k + 1], "output")
        grad[pos] = np.sum((plus - minus) * dout) / (2 * h)
    return grad
