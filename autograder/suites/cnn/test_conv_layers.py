"""Hidden tests of nnl/conv_layers.py: convolution, max pooling and spatial batch normalization.

The pattern of `test_relu.py`, plus three rules of fair isolation:

- A backward test checks the student's gradient against the reference's on the same inputs AND
  against the numerical gradient of the student's own forward pass. When that forward pass is
  wrong on these inputs (or raises), the numerical target is a correct forward pass instead, and
  the backward pass also gets the cache of a correct forward pass to work with (the documented
  ``(x, w, b, conv_param)`` / ``(x, pool_param)``, or the reference batchnorm's cache), so a
  forward bug never costs the backward tests.
- The spatial batchnorm wrappers are graded on the student's own chain first (whatever helpers
  it calls); when that fails, again with the reference ``batchnorm_forward`` /
  ``batchnorm_backward`` in place of the student's (``@pytest.mark.isolates``), so a bug in the
  student's batchnorm costs only batchnorm's own tests (in another file).
- What the wrappers pass to the reference batchnorm is recorded (``student.received``) and
  names the mistake in the feedback ("reshape to (N*H*W, C) without moving C last").
"""
from __future__ import annotations

import functools

import numpy as np
import pytest

from autograder.grading.backward import student_forward
from autograder.grading.checks import (GradingFailure, as_array, check_close, check_shape, matches, name_mistake,
                                       numerical_gradient, rel_error, unpack)
from autograder.grading.checks import fail as _fail
from autograder.grading.student import StudentCodeFailed

GRAD_TOL = 1e-6
PROBES = 12  # elements per numerical gradient (a sparse check keeps the round trips short)

# id: x shape (N, C, H, W), w shape (F, C, HH, WW), stride, pad
CONV_CASES = {
    "nonsquare-s1-p1": ((2, 3, 5, 7), (4, 3, 3, 2), 1, 1),
    "s2-p0": ((2, 2, 7, 6), (3, 2, 3, 3), 2, 0),  # W: (6 - 3) // 2, a floor division
    "nonsquare-filter-s2-p2": ((1, 3, 6, 8), (2, 3, 2, 4), 2, 2),
    "same-pad-float": ((2, 2, 6, 5), (2, 2, 5, 5), 1, 2.0),  # pad = (filter_size - 1) / 2, a float
    "s1-p3-float": ((2, 2, 4, 3), (3, 2, 3, 4), 1, 3.0),
}
CONV_BACKWARD_CASES = ["nonsquare-s1-p1", "s2-p0", "s1-p3-float"]

# id: x shape, pool_height, pool_width, stride
POOL_CASES = {
    "2x2-s2": ((2, 3, 6, 8), 2, 2, 2),
    "3x3-s2-overlap": ((2, 2, 7, 9), 3, 3, 2),
    "2x3-s1-overlap": ((1, 3, 5, 6), 2, 3, 1),
    "3x2-s2": ((2, 2, 7, 6), 3, 2, 2),
    # windows that do not tile the input: the last row (and column) is in no window, H' = 1 + (H - ph) // stride
    "3x3-s2-untiled": ((2, 2, 8, 8), 3, 3, 2),
    "2x3-s2-untiled-nonsquare": ((1, 3, 7, 10), 2, 3, 2),
}

BN_SHAPES = {"2x3x4x5": (2, 3, 4, 5), "3x4x3x2": (3, 4, 3, 2)}

GRADIENTS = {"conv_backward_naive": ("dx", "dw", "db"),
             "spatial_batchnorm_backward": ("dx", "dgamma", "dbeta")}


# -- shared helpers ------------------------------------------------------------------------


def _pair(result, name: str, count: int = 2) -> tuple:
    return unpack(result, count, name, f"of {count} values")


def _probe_positions(ref_grad: np.ndarray, rng: np.random.Generator, count: int = PROBES) -> list[tuple]:
    """Elements to differentiate numerically: well-conditioned ones (zero, or not tiny), a random few."""
    magnitude = np.abs(ref_grad)
    usable = (magnitude == 0) | (magnitude > 1e-2 * magnitude.max())
    candidates = np.argwhere(usable)
    nonzero = candidates[magnitude[usable] > 0]
    chosen = list(rng.permutation(nonzero)[: count - count // 4]) if len(nonzero) else []
    zeros = candidates[magnitude[usable] == 0]
    chosen += list(rng.permutation(zeros)[: count - len(chosen)]) if len(zeros) else []
    return [tuple(int(i) for i in p) for p in chosen]


def _check_gradient(name: str, grad: str, candidates, ref_grad: np.ndarray, numeric: tuple,
                    what: str, hint: str, diagnose=None) -> None:
    """Pass when one candidate gradient matches both the reference and the numerical gradient.

    Parameters
    ----------
    name, grad : str
        The backward function and which of its outputs (``"dx"``).
    candidates : list of callable
        Each returns the student's gradient computed from one cache (the student's own first,
        then a correct cache when the student's forward pass is wrong); tried in order.
    ref_grad : np.ndarray
        The reference's gradient on the same inputs.
    numeric : callable
        Returns ``(positions, values, source)``: the numerical gradient at some elements and whose
        forward pass it differentiates (for the message). Called once, when the first candidate
        returns a gradient to check: a backward pass that raises (a stub) costs no numerical
        gradient.
    what : str
        The case, for the message.
    hint : str
        The generic hint; ``diagnose(actual)`` may return a sharper one.
    """
    label = f"{name} {grad} ({what})"
    failures, computed = [], None
    for compute in candidates:
        try:
            actual = as_array(compute(), label)
        except (StudentCodeFailed, GradingFailure) as err:
            failures.append((err, None))
            continue
        if actual.shape != ref_grad.shape:
            problem = f"shape {actual.shape}, expected {ref_grad.shape}."
        elif not np.isfinite(actual).all():
            problem = "contains NaN or infinite values."
        else:
            if computed is None:
                computed = numeric()
            positions, values, source = computed
            picked = np.array([actual[p] for p in positions])
            error_num = rel_error(picked, values) if positions else 0.0
            error_ref = rel_error(actual, ref_grad)
            if error_num <= GRAD_TOL and error_ref <= GRAD_TOL:
                return
            problem = (f"relative error {error_num:.1e} against the numerical gradient of {source} and "
                       f"{error_ref:.1e} against a correct {grad} (at most {GRAD_TOL:.0e} allowed).")
        failures.append((problem, actual))
    problem, actual = failures[0]
    if isinstance(problem, Exception):  # the student's own cache made the backward pass raise
        raise problem
    sharper = diagnose(actual) if diagnose is not None else None
    _fail(label, problem, sharper or hint)


def _numeric(student, name: str, args: tuple, index: int, dout, positions, forward_correct: bool,
             reference) -> tuple:
    """The numerical gradient of ``sum(forward(*args) * dout)`` with respect to ``args[index]``.

    The student's own forward pass is differentiated when it is correct on these inputs;
    otherwise the reference's, so a forward bug costs only the forward tests.
    """
    if forward_correct:
        try:
            values = numerical_gradient(lambda batch: student.many(name, batch),
                                        list(args), index, dout, positions=positions)
            return positions, np.array([values[p] for p in positions]), f"your {name}"
        except (StudentCodeFailed, GradingFailure):
            pass
    values = numerical_gradient(lambda batch: [reference(*a)[0] for a in batch], list(args), index, dout,
                                positions=positions)
    return positions, np.array([values[p] for p in positions]), f"a correct {name} (yours is wrong on these inputs)"


# -- conv_forward_naive --------------------------------------------------------------------


def _conv_inputs(rng, case):
    x_shape, w_shape, stride, pad = CONV_CASES[case]
    x = rng.normal(size=x_shape)
    w = rng.normal(size=w_shape)
    b = rng.normal(size=w_shape[0])
    return x, w, b, {"stride": stride, "pad": pad}


def _conv_what(case) -> str:
    x_shape, w_shape, stride, pad = CONV_CASES[case]
    return f"x {x_shape}, w {w_shape}, stride {stride}, pad {pad!r}"


def _conv_shape_hint(actual_shape, x_shape, w_shape, stride, pad) -> str:
    (N, _, H, W), (F, _, HH, WW), pad = x_shape, w_shape, int(pad)
    guesses = {
        (N, F, 1 + (H + 2 * pad - HH), 1 + (W + 2 * pad - WW)): "the stride is ignored",
        (N, F, 1 + (H - HH) // stride, 1 + (W - WW) // stride): "the padding is ignored",
        (N, F, 1 + (H + pad - HH) // stride, 1 + (W + pad - WW) // stride): "the input is padded on one side only",
        (N, F, 1 + (W + 2 * pad - WW) // stride, 1 + (H + 2 * pad - HH) // stride): "height and width are swapped",
    }
    known = guesses.get(tuple(actual_shape))
    rule = "H' = 1 + (H + 2 * pad - HH) // stride and W' = 1 + (W + 2 * pad - WW) // stride"
    return f"{known}? {rule}." if known else f"{rule}, out is (N, F, H', W')."


@pytest.mark.grades("conv_forward_naive")
@pytest.mark.parametrize("case", list(CONV_CASES))
def test_conv_forward_matches_reference(student, ref, rng, case):
    x, w, b, conv_param = _conv_inputs(rng, case)
    out = _pair(student.call("conv_forward_naive", x, w, b, dict(conv_param)), "conv_forward_naive")[0]
    expected = ref.conv_forward_naive(x, w, b, conv_param)[0]
    what = f"conv_forward_naive output ({_conv_what(case)})"
    out = as_array(out, what)
    if out.shape != expected.shape:
        check_shape(out, expected.shape, what, _conv_shape_hint(out.shape, x.shape, w.shape, *CONV_CASES[case][2:]))
    hint = name_mistake(out, {
        "the convolution without the bias b": lambda: expected - b[None, :, None, None],
        "a convolution with flipped filters (correlate: do not flip w)":
            lambda: ref.conv_forward_naive(x, w[:, :, ::-1, ::-1], b, conv_param)[0],
        "windows taken with stride 1: window (i, j) starts at row i*stride, column j*stride":
            lambda: ref.conv_forward_naive(x, w, b, {"stride": 1, "pad": conv_param["pad"]})[0][
                :, :, :expected.shape[2], :expected.shape[3]],
    }, "out[n, f, i, j] = sum(x_padded[n, :, i*stride:i*stride+HH, j*stride:j*stride+WW] * w[f]) + b[f]; "
       "pad with zeros on all four sides.")
    check_close(out, expected, what, hint=hint)


# -- conv_backward_naive -------------------------------------------------------------------

CONV_GRAD_HINTS = {
    "dx": "scatter dout[n, f, i, j] * w[f] onto the window's place in a padded dx, accumulating (+=) where "
          "windows overlap, then strip the padding.",
    "dw": "dw[f] accumulates dout[n, f, i, j] * (the padded input's window) over every image n and "
          "position (i, j).",
    "db": "db[f] is the sum of dout[:, f, :, :] over the images and positions.",
}


@pytest.mark.grades("conv_backward_naive")
@pytest.mark.parametrize("grad", GRADIENTS["conv_backward_naive"])
@pytest.mark.parametrize("case", CONV_BACKWARD_CASES)
def test_conv_backward_gradient(student, ref, rng, case, grad):
    x, w, b, conv_param = _conv_inputs(rng, case)
    index = GRADIENTS["conv_backward_naive"].index(grad)
    ref_out, ref_cache = ref.conv_forward_naive(x, w, b, conv_param)
    dout = rng.normal(size=ref_out.shape)
    ref_grad = ref.conv_backward_naive(dout, ref_cache)[index]
    cache, correct = student_forward(student, "conv_forward_naive", (x, w, b, dict(conv_param)), ref_out)
    caches = ([cache] if cache is not None else []) + ([(x, w, b, dict(conv_param))] if not correct else [])
    positions = _probe_positions(ref_grad, rng)
    numeric = functools.partial(_numeric, student, "conv_forward_naive", (x, w, b, conv_param), index, dout,
                                positions, correct, ref.conv_forward_naive)

    def backward(c):
        return lambda: _pair(student.call("conv_backward_naive", dout, c), "conv_backward_naive", 3)[index]

    def diagnose(actual):
        pad = int(conv_param["pad"])
        return name_mistake(actual, {
            "the gradient of the padded input: strip the padding (dx_padded[:, :, pad:-pad, pad:-pad])":
                lambda: np.pad(ref_grad, ((0, 0), (0, 0), (pad, pad), (pad, pad))),
            "the gradient averaged over the batch: do not divide by N": lambda: ref_grad / x.shape[0],
        }, None) if grad != "db" else None

    _check_gradient("conv_backward_naive", grad, [backward(c) for c in caches], ref_grad, numeric,
                    _conv_what(case), CONV_GRAD_HINTS[grad], diagnose)


# -- max_pool_forward_naive ----------------------------------------------------------------


def _pool_inputs(rng, case):
    """Distinct, well-separated values: no ties, and a small step never changes a window's maximum."""
    shape, pool_height, pool_width, stride = POOL_CASES[case]
    size = int(np.prod(shape))
    x = (rng.permutation(size) / size * 6.0 - 3.0).reshape(shape)
    return x, {"pool_height": pool_height, "pool_width": pool_width, "stride": stride}


def _pool_what(case) -> str:
    shape, pool_height, pool_width, stride = POOL_CASES[case]
    return f"x {shape}, pool {pool_height}x{pool_width} (height x width), stride {stride}"


def _pool_shape_hint(actual_shape, case) -> str:
    (N, C, H, W), ph, pw, stride = POOL_CASES[case]
    guesses = {
        (N, C, 1 + (H - ph), 1 + (W - pw)): "the stride is ignored",
        (N, C, 1 + (H - pw) // stride, 1 + (W - ph) // stride): "pool_height and pool_width are swapped",
        (N, C, H // ph, W // pw): "the windows are assumed not to overlap (H // pool_height)",
        (N, C, 1 - (ph - H) // stride, 1 - (pw - W) // stride):
            "the number of windows is rounded up: the last window must fit inside the input (floor division)",
    }
    known = guesses.get(tuple(actual_shape))
    rule = "H' = 1 + (H - pool_height) // stride and W' = 1 + (W - pool_width) // stride"
    return f"{known}? {rule}." if known else f"{rule}."


def _windows(x, pool_param):
    """Every window as ``(row, col, slice_rows, slice_cols)`` (for the catalogued mistakes)."""
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    H, W = x.shape[2:]
    for row in range(1 + (H - ph) // stride):
        for col in range(1 + (W - pw) // stride):
            yield row, col, slice(row * stride, row * stride + ph), slice(col * stride, col * stride + pw)


def _pool_mistake(x, steps, out_shape, height, width, reduce):
    """Pooling on the output grid, windows of ``height`` x ``width`` starting every ``steps`` pixels."""
    out = np.zeros(out_shape)
    for row in range(out_shape[2]):
        for col in range(out_shape[3]):
            top, left = row * steps[0], col * steps[1]
            out[:, :, row, col] = reduce(x[:, :, top:top + height, left:left + width], axis=(2, 3))
    return out


@pytest.mark.grades("max_pool_forward_naive")
@pytest.mark.parametrize("case", list(POOL_CASES))
def test_max_pool_forward_matches_reference(student, ref, rng, case):
    x, pool_param = _pool_inputs(rng, case)
    out = _pair(student.call("max_pool_forward_naive", x, dict(pool_param)), "max_pool_forward_naive")[0]
    expected = ref.max_pool_forward_naive(x, pool_param)[0]
    what = f"max_pool_forward_naive output ({_pool_what(case)})"
    out = as_array(out, what)
    if out.shape != expected.shape:
        check_shape(out, expected.shape, what, _pool_shape_hint(out.shape, case))
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    hint = name_mistake(out, {
        "average pooling: take the maximum of each window":
            lambda: _pool_mistake(x, (stride, stride), expected.shape, ph, pw, np.mean),
        "pooling with windows of pool_width rows and pool_height columns (the two are swapped)":
            lambda: _pool_mistake(x, (stride, stride), expected.shape, pw, ph, np.max),
        "windows that move by the pool size instead of the stride":
            lambda: _pool_mistake(x, (ph, pw), expected.shape, ph, pw, np.max),
    }, "out[n, c, i, j] is the maximum of x[n, c, i*stride:i*stride+pool_height, j*stride:j*stride+pool_width].")
    check_close(out, expected, what, hint=hint)


# -- max_pool_backward_naive ---------------------------------------------------------------


def _pool_backward_mistake(x, pool_param, dout, accumulate: bool, whole_window: bool):
    dx = np.zeros_like(x)
    for row, col, rows, cols in _windows(x, pool_param):
        region = x[:, :, rows, cols]  # (N, C, ph, pw)
        if whole_window:
            mask = np.ones_like(region)
        else:
            mask = (region == region.max(axis=(2, 3), keepdims=True)).astype(float)
        share = mask * dout[:, :, row, col][:, :, None, None]
        if accumulate:
            dx[:, :, rows, cols] += share
        else:
            view = dx[:, :, rows, cols]
            dx[:, :, rows, cols] = np.where(mask > 0, share, view)
    return dx


@pytest.mark.grades("max_pool_backward_naive")
@pytest.mark.parametrize("case", list(POOL_CASES))
def test_max_pool_backward_gradient(student, ref, rng, case):
    x, pool_param = _pool_inputs(rng, case)
    ref_out, ref_cache = ref.max_pool_forward_naive(x, pool_param)
    dout = rng.normal(size=ref_out.shape)
    ref_grad = ref.max_pool_backward_naive(dout, ref_cache)
    cache, correct = student_forward(student, "max_pool_forward_naive", (x, dict(pool_param)), ref_out)
    caches = ([cache] if cache is not None else []) + ([(x, dict(pool_param))] if not correct else [])
    positions = _probe_positions(ref_grad, rng)
    numeric = functools.partial(_numeric, student, "max_pool_forward_naive", (x, pool_param), 0, dout, positions,
                                correct, ref.max_pool_forward_naive)

    def backward(c):
        return lambda: student.call("max_pool_backward_naive", dout, c)

    def diagnose(actual):
        return name_mistake(actual, {
            "assigning (=) where overlapping windows share a maximum: accumulate with +=":
                lambda: _pool_backward_mistake(x, pool_param, dout, accumulate=False, whole_window=False),
            "dout spread over the whole window: only the window's maximum receives it":
                lambda: _pool_backward_mistake(x, pool_param, dout, accumulate=True, whole_window=True),
        }, None)

    _check_gradient("max_pool_backward_naive", "dx", [backward(c) for c in caches], ref_grad, numeric,
                    _pool_what(case),
                    "only the maximum of each window receives dout[n, c, i, j]; windows overlap when the stride "
                    "is smaller than the pool, so accumulate (+=).", diagnose)


# -- spatial_batchnorm_forward (isolated from batchnorm_forward) ------------------------------


def _bn_inputs(rng, shape):
    """Channels with their own means and spreads; gamma positive so that std(out) is gamma."""
    N, C, H, W = shape
    x = rng.normal(size=shape) * rng.uniform(1.0, 4.0, size=(1, C, 1, 1)) + rng.uniform(-5, 5, size=(1, C, 1, 1))
    gamma = rng.uniform(0.5, 2.0, size=C)
    beta = rng.normal(size=C)
    return x, gamma, beta


def _rows(x):
    """(N, C, H, W) -> (N*H*W, C), one channel per column."""
    return x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1])


def _wrapper_hint(recorded: list, x: np.ndarray, kind: str) -> str | None:
    """What the wrapper passed to the reference batchnorm (while isolated) says about its reshape."""
    if not recorded:
        return None
    rows = recorded[0][0]  # the first call's first argument
    N, C, H, W = x.shape
    if not isinstance(rows, np.ndarray) or rows.shape != (N * H * W, C):
        shape = getattr(rows, "shape", type(rows).__name__)
        return f"the {kind} you pass to batchnorm has shape {shape}, expected (N*H*W, C) = {(N * H * W, C)}."
    if matches(rows, x.reshape(N * H * W, C)):
        return (f"the {kind} you pass to batchnorm is a reshape to (N*H*W, C) without moving C last first: "
                "transpose to (N, H, W, C) before reshaping.")
    by_channel = np.sort(rows, axis=0), np.sort(_rows(x), axis=0)
    if not matches(*by_channel):
        return f"the columns of the {kind} you pass to batchnorm are not the channels of the input."
    return None


def _back_to_nchw_mistakes(rows_out: np.ndarray, shape) -> dict:
    N, C, H, W = shape
    return {
        "a reshape of batchnorm's (N*H*W, C) output straight to (N, C, H, W): reshape to (N, H, W, C), "
        "then transpose": lambda: rows_out.reshape(N, C, H, W),
    }


def _sbn_forward(student, x, gamma, beta, bn_param, mutated=False):
    return student.call("spatial_batchnorm_forward", x, gamma, beta, bn_param, mutated=mutated)


@pytest.mark.grades("spatial_batchnorm_forward")
@pytest.mark.isolates("batchnorm_forward")
@pytest.mark.parametrize("shape", list(BN_SHAPES))
def test_spatial_batchnorm_train_channel_statistics(student, ref, rng, shape):
    x, gamma, beta = _bn_inputs(rng, BN_SHAPES[shape])
    out = _pair(_sbn_forward(student, x, gamma, beta, {"mode": "train"}), "spatial_batchnorm_forward")[0]
    what = f"spatial_batchnorm_forward, train mode, x {BN_SHAPES[shape]}"
    out = check_shape(out, x.shape, f"{what}: output", "the output has the input's shape (N, C, H, W).")
    hint = _wrapper_hint(student.received("batchnorm_forward"), x, "x") or \
        "each channel c is one batchnorm feature, normalized over the axes (0, 2, 3)."
    check_close(out.mean(axis=(0, 2, 3)), beta, f"{what}: per-channel means of the output (should be beta)",
                atol=1e-7, hint=hint)
    check_close(out.std(axis=(0, 2, 3)), gamma, f"{what}: per-channel stds of the output (should be gamma)",
                rtol=1e-4, hint=hint)


@pytest.mark.grades("spatial_batchnorm_forward")
@pytest.mark.isolates("batchnorm_forward")
@pytest.mark.parametrize("shape", list(BN_SHAPES))
def test_spatial_batchnorm_train_matches_reference(student, ref, rng, shape):
    x, gamma, beta = _bn_inputs(rng, BN_SHAPES[shape])
    out = _pair(_sbn_forward(student, x, gamma, beta, {"mode": "train"}), "spatial_batchnorm_forward")[0]
    expected = ref.spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"})[0]
    what = f"spatial_batchnorm_forward output, train mode, x {BN_SHAPES[shape]}"
    out = check_shape(out, x.shape, what, "the output has the input's shape (N, C, H, W).")
    rows_out = ref.batchnorm_forward(_rows(x), gamma, beta, {"mode": "train"})[0]
    hint = _wrapper_hint(student.received("batchnorm_forward"), x, "x") or name_mistake(
        out, _back_to_nchw_mistakes(rows_out, x.shape),
        "move C last (N, H, W, C), reshape to (N*H*W, C), batchnorm, then undo both steps in reverse order.")
    check_close(out, expected, what, hint=hint)


@pytest.mark.grades("spatial_batchnorm_forward")
@pytest.mark.isolates("batchnorm_forward")
@pytest.mark.parametrize("key, momentum", [("running_mean", None), ("running_var", 0.7)], ids=["mean", "var"])
def test_spatial_batchnorm_running_averages(student, ref, rng, key, momentum):
    shape = (2, 3, 3, 4)
    gamma, beta = rng.uniform(0.5, 2.0, size=3), rng.normal(size=3)
    student_param = {"mode": "train"} if momentum is None else {"mode": "train", "momentum": momentum}
    ref_param = dict(student_param)
    batches = [rng.normal(size=shape) * 2.0 + rng.uniform(-3, 3, size=(1, 3, 1, 1)) for _ in range(3)]
    for x in batches:
        result, (args_after, _) = _sbn_forward(student, x, gamma, beta, student_param, mutated=True)
        student_param = args_after[3] if isinstance(args_after[3], dict) else {}
        ref.spatial_batchnorm_forward(x, gamma, beta, ref_param)
    what = f"spatial_batchnorm_forward: bn_param['{key}'] after 3 train-mode calls" + \
        (f" (momentum {momentum})" if momentum is not None else " (default momentum)")
    if key not in student_param:
        _fail(what, "missing from bn_param.", "pass bn_param itself to batchnorm_forward (not a copy): it stores "
              "the running averages there.")
    hint = _wrapper_hint(student.received("batchnorm_forward"), batches[0], "x") or \
        "pass bn_param itself to batchnorm_forward, which updates it."
    check_close(student_param[key], ref_param[key], what, hint=hint)


@pytest.mark.grades("spatial_batchnorm_forward")
@pytest.mark.isolates("batchnorm_forward")
@pytest.mark.parametrize("shape", list(BN_SHAPES))
def test_spatial_batchnorm_test_mode_uses_running_averages(student, ref, rng, shape):
    x, gamma, beta = _bn_inputs(rng, BN_SHAPES[shape])
    C = x.shape[1]
    bn_param = {"mode": "test", "running_mean": rng.normal(size=C), "running_var": rng.uniform(0.5, 3.0, size=C)}
    out = _pair(_sbn_forward(student, x, gamma, beta, dict(bn_param)), "spatial_batchnorm_forward")[0]
    expected = ref.spatial_batchnorm_forward(x, gamma, beta, dict(bn_param))[0]
    what = f"spatial_batchnorm_forward output, test mode, x {BN_SHAPES[shape]}"
    out = check_shape(out, x.shape, what, "the output has the input's shape (N, C, H, W).")
    rows_out = ref.batchnorm_forward(_rows(x), gamma, beta, dict(bn_param))[0]
    hint = _wrapper_hint(student.received("batchnorm_forward"), x, "x") or name_mistake(out, {
        **_back_to_nchw_mistakes(rows_out, x.shape),
        "the train-mode output: pass bn_param (with mode 'test') on to batchnorm_forward":
            lambda: ref.spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"})[0],
    }, "in test mode batchnorm_forward normalizes with bn_param's running averages; the reshapes are as in train mode.")
    check_close(out, expected, what, hint=hint)


# -- spatial_batchnorm_backward (isolated from batchnorm) -------------------------------------


@pytest.mark.grades("spatial_batchnorm_backward")
@pytest.mark.isolates("batchnorm_forward", "batchnorm_backward")
@pytest.mark.parametrize("grad", GRADIENTS["spatial_batchnorm_backward"])
@pytest.mark.parametrize("shape", list(BN_SHAPES))
def test_spatial_batchnorm_backward_gradient(student, ref, rng, shape, grad):
    x, gamma, beta = _bn_inputs(rng, BN_SHAPES[shape])
    dout = rng.normal(size=x.shape)
    index = GRADIENTS["spatial_batchnorm_backward"].index(grad)
    ref_out, ref_cache = ref.spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"})
    ref_grad = ref.spatial_batchnorm_backward(dout, ref_cache)[index]
    cache, correct = student_forward(student, "spatial_batchnorm_forward", (x, gamma, beta, {"mode": "train"}),
                                      ref_out)
    # The reference batchnorm's cache of a correct forward pass: what a wrapper passes through.
    fallback = ref.batchnorm_forward(_rows(x), gamma, beta, {"mode": "train"})[1]
    caches = ([cache] if cache is not None and correct else []) + ([fallback] if not correct else [])
    positions = _probe_positions(ref_grad, rng)
    numeric = functools.partial(_numeric, student, "spatial_batchnorm_forward", (x, gamma, beta, {"mode": "train"}),
                                index, dout, positions, correct, ref.spatial_batchnorm_forward)

    def backward(c):
        return lambda: _pair(student.call("spatial_batchnorm_backward", dout, c),
                             "spatial_batchnorm_backward", 3)[index]

    def diagnose(actual):
        passed = student.received("batchnorm_backward")
        if grad != "dx":
            return _wrapper_hint(passed, dout, "dout")
        rows_dx = ref.batchnorm_backward(_rows(dout), fallback)[0]
        return _wrapper_hint(passed, dout, "dout") or name_mistake(
            actual, _back_to_nchw_mistakes(rows_dx, x.shape), None)

    _check_gradient("spatial_batchnorm_backward", grad, [backward(c) for c in caches], ref_grad, numeric,
                    f"x {BN_SHAPES[shape]}, train mode",
                    "move C last in dout, reshape to (N*H*W, C), call batchnorm_backward with the forward cache, "
                    "then bring dx back to (N, C, H, W).", diagnose)
