"""Hidden tests of the layers carried over in ``nnl/layers.py``.

affine, batch normalization, inverted dropout, SVM and softmax losses. The
pattern is `test_relu.py`'s: one ``@pytest.mark.grades`` per test, fresh
seeded inputs from ``rng``, the student called through ``student``, the
reference from ``ref``, checks whose messages teach.

Backward passes are checked twice: against the numerical gradient of the
student's own forward, and against the reference backward on the same
inputs. When the student's forward gives other outputs than the reference
on the test's inputs (or fails in any way), the numerical gradient is taken
of the reference forward instead, and the backward is also given the
documented cache (or the reference's), so that a forward bug costs the
forward's points only (`autograder.grading.backward`). Caches are opaque:
they only go back to the student's backward.
"""
import numpy as np
import pytest

from autograder.grading.backward import backward_caches, first_passing
from autograder.grading.checks import (GradingFailure, as_array, check_close, check_shape, matches, name_mistake,
                                       numerical_gradient, unpack)

# ------------------------------------------------------------------ helpers

def _gradient_of(student, name, ref_function, forward_correct, output=0):
    """``evaluate`` for `numerical_gradient`, and what it differentiates (for feedback).

    The student's own ``name`` when its output on the test's inputs equals the reference's,
    otherwise the reference function (the forward's bug is graded by the forward's tests).
    """
    if forward_correct:
        return (lambda batch: student.many(name, batch, output=output)), f"the numerical gradient of your {name}"
    return ((lambda batch: [ref_function(*a)[output] for a in batch]),
            f"the numerical gradient of the reference {name} (yours gives other outputs on these inputs)")


def _check_numerical(actual, evaluate, inputs, index, dout, what, *, h, scale, tol=1e-6, hint=None):
    """The course's relative error of ``actual`` against the numerical gradient, at most ``tol``.

    The centered difference of ``f = sum(forward * dout)`` carries rounding noise of about
    ``eps * |f| / h``; elements of the gradient so small that this noise alone would exceed
    ``tol`` are judged by their absolute error instead (``scale`` bounds ``|f|``). A lost
    factor or path shows up far above that noise, so no bug hides below it.
    """
    expected = numerical_gradient(evaluate, inputs, index, dout, h=h)
    array = check_shape(actual, expected.shape, what, hint)
    if not np.isfinite(array).all():
        raise GradingFailure(f"{what}: contains NaN or infinite values." + (f" Hint: {hint}" if hint else ""))
    noise = 1e-14 * (1.0 + scale) / h
    error = float(np.max(np.abs(array - expected) / np.maximum(noise / tol, np.abs(array) + np.abs(expected))))
    if error > tol:
        raise GradingFailure(f"{what}: relative error {error:.1e} > {tol:.0e}." + (f" Hint: {hint}" if hint else ""))


def _pair(value, what):
    return unpack(value, 2, what, "(out, cache)")


def _triple(value, what):
    return unpack(value, 3, what, "of 3 gradients")


# ------------------------------------------------------------------ affine

AFFINE_SHAPES = [((4, 5), 3), ((2, 3, 2, 2), 4)]  # x shape, M


def _affine_inputs(rng, x_shape, m):
    x = rng.normal(size=x_shape)
    w = rng.normal(size=(int(np.prod(x_shape[1:])), m))
    b = rng.normal(size=m)
    return x, w, b


@pytest.mark.grades("affine_forward")
@pytest.mark.parametrize("x_shape,m", AFFINE_SHAPES, ids=["x2d", "x4d"])
def test_affine_forward_matches_reference(student, ref, rng, x_shape, m):
    x, w, b = _affine_inputs(rng, x_shape, m)
    out, _ = _pair(student.call("affine_forward", x, w, b), "affine_forward")
    check_close(out, ref.affine_forward(x, w, b)[0], f"affine_forward output for x of shape {x_shape}",
                hint="reshape x to (N, D) with x.reshape(N, -1), then x @ w + b; w is (D, M).")


@pytest.mark.grades("affine_backward")
@pytest.mark.parametrize("x_shape,m", AFFINE_SHAPES, ids=["x2d", "x4d"])
def test_affine_backward_matches_numerical_gradient(student, ref, rng, x_shape, m):
    x, w, b = _affine_inputs(rng, x_shape, m)
    dout = rng.normal(size=(x_shape[0], m))
    ref_out = ref.affine_forward(x, w, b)[0]
    caches, correct = backward_caches(student, "affine_forward", (x, w, b), ref_out, documented=(x, w, b))
    evaluate, source = _gradient_of(student, "affine_forward", ref.affine_forward, correct)
    scale = float(np.sum(np.abs(ref_out * dout)))

    def check(cache):
        grads = _triple(student.call("affine_backward", dout, cache), "affine_backward")
        for index, name, hint in [(0, "dx", "dx = dout @ w.T, reshaped back to x's shape."),
                                  (1, "dw", "dw = x_rows.T @ dout with x_rows = x.reshape(N, -1)."),
                                  (2, "db", "db sums dout over the batch axis (axis=0).")]:
            # affine is linear in each input: a large step is exact and keeps rounding noise low
            _check_numerical(grads[index], evaluate, [x, w, b], index, dout,
                             f"affine_backward {name} for x of shape {x_shape} (vs. {source})", h=1e-2,
                             scale=scale, hint=hint)

    first_passing(caches, check)


@pytest.mark.grades("affine_backward")
@pytest.mark.parametrize("x_shape,m", AFFINE_SHAPES, ids=["x2d", "x4d"])
def test_affine_backward_matches_reference(student, ref, rng, x_shape, m):
    x, w, b = _affine_inputs(rng, x_shape, m)
    dout = rng.normal(size=(x_shape[0], m))
    caches, _ = backward_caches(student, "affine_forward", (x, w, b), ref.affine_forward(x, w, b)[0],
                                documented=(x, w, b))
    expected = ref.affine_backward(dout, (x, w, b))
    shape_hint = "dx has x's shape (N, d_1, ..., d_k): reshape dout @ w.T back with .reshape(x.shape)."

    def check(cache):
        grads = _triple(student.call("affine_backward", dout, cache), "affine_backward")
        for name, actual, want, hint in [("dx", grads[0], expected[0], shape_hint),
                                         ("dw", grads[1], expected[1], "dw = x.reshape(N, -1).T @ dout, shape (D, M)."),
                                         ("db", grads[2], expected[2], "db = np.sum(dout, axis=0), shape (M,).")]:
            check_close(actual, want, f"affine_backward {name} for x of shape {x_shape}", hint=hint)

    first_passing(caches, check)


# ------------------------------------------------------------------ batch normalization

BN_SHAPES = [(4, 3), (9, 6)]
BN_PARAMS = [pytest.param({}, id="defaults"), pytest.param({"eps": 1e-2, "momentum": 0.7}, id="eps1e-2-mom0.7")]


def _bn_inputs(rng, n, d):
    """Features with their own offset and spread; gamma of both signs, away from 0."""
    x = rng.normal(loc=rng.uniform(-3, 3, d), scale=rng.uniform(0.5, 3, d), size=(n, d))
    gamma = rng.uniform(0.5, 2.0, d) * rng.choice([-1.0, 1.0], d)
    beta = rng.normal(size=d)
    return x, gamma, beta


def _bn_mistakes(x, gamma, beta, eps):
    """Outputs of common batchnorm_forward (train) mistakes on these inputs."""
    mean, var = x.mean(axis=0), x.var(axis=0)
    row_mean, row_var = x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)  # (N, 1)
    return {
        "eps added outside the square root; use np.sqrt(var + eps)": gamma * (x - mean) / (np.sqrt(var) + eps) + beta,
        "the normalized x without gamma and beta": (x - mean) / np.sqrt(var + eps),
        "gamma * x_hat without + beta": gamma * (x - mean) / np.sqrt(var + eps),
        "statistics over axis=1 (per sample) instead of axis=0 (per feature)":
            gamma * (x - row_mean) / np.sqrt(row_var + eps) + beta,
    }


@pytest.mark.grades("batchnorm_forward")
@pytest.mark.parametrize("n,d", [(64, 5), (200, 3)], ids=["N64-D5", "N200-D3"])
def test_batchnorm_forward_train_output_statistics(student, rng, n, d):
    """Per feature, the train-mode output has mean beta and (uncorrected) std |gamma|, shrunk a bit by eps."""
    x, gamma, beta = _bn_inputs(rng, n, d)
    out, _ = _pair(student.call("batchnorm_forward", x, gamma, beta, {"mode": "train"}), "batchnorm_forward")
    out = as_array(out, "batchnorm_forward output")
    if out.shape != x.shape:
        raise GradingFailure(f"batchnorm_forward (train) output: shape {out.shape}, expected {x.shape}.")
    var = x.var(axis=0)
    check_close(out.mean(axis=0), beta, f"batchnorm_forward (train) per-feature mean of the output, N={n} D={d}",
                atol=1e-7, hint="subtract the batch mean per feature (axis=0), then shift by beta.")
    check_close(out.std(axis=0), np.abs(gamma) * np.sqrt(var / (var + 1e-5)),
                f"batchnorm_forward (train) per-feature std of the output, N={n} D={d}",
                hint="divide by np.sqrt(var + eps) with the uncorrected variance over axis=0 (np.var), "
                     "then scale by gamma.")


@pytest.mark.grades("batchnorm_forward")
@pytest.mark.parametrize("n,d", BN_SHAPES, ids=["N4-D3", "N9-D6"])
@pytest.mark.parametrize("extra", BN_PARAMS)
def test_batchnorm_forward_train_matches_reference(student, ref, rng, n, d, extra):
    x, gamma, beta = _bn_inputs(rng, n, d)
    eps = extra.get("eps", 1e-5)
    out, _ = _pair(student.call("batchnorm_forward", x, gamma, beta, {"mode": "train", **extra}), "batchnorm_forward")
    hint = name_mistake(out, _bn_mistakes(x, gamma, beta, eps),
                 "x_hat = (x - mean) / np.sqrt(var + eps) with the batch statistics over axis=0 and "
                 "bn_param's eps; out = gamma * x_hat + beta.")
    expected, _ = ref.batchnorm_forward(x, gamma, beta, {"mode": "train", **extra})
    check_close(out, expected, f"batchnorm_forward (train) output, N={n} D={d}, bn_param {extra or 'defaults'}",
                hint=hint)


@pytest.mark.grades("batchnorm_forward")
@pytest.mark.parametrize("extra", [pytest.param({}, id="momentum-default"),
                                   pytest.param({"momentum": 0.5, "eps": 1e-3}, id="momentum0.5"),
                                   pytest.param({"momentum": 0.0}, id="momentum0")])
def test_batchnorm_forward_running_averages_over_calls(student, ref, rng, extra):
    d, calls = 4, 4
    gamma, beta = rng.uniform(0.5, 2.0, d), rng.normal(size=d)
    theirs, ours = {"mode": "train", **extra}, {"mode": "train", **extra}
    for call in range(1, calls + 1):
        x = rng.normal(loc=rng.uniform(-3, 3, d), scale=rng.uniform(0.5, 3, d), size=(6, d))
        _, (args_after, _) = student.call("batchnorm_forward", x, gamma, beta, theirs, mutated=True)
        ref.batchnorm_forward(x, gamma, beta, ours)
        theirs = args_after[3]
        if not isinstance(theirs, dict) or "running_mean" not in theirs or "running_var" not in theirs:
            raise GradingFailure("batchnorm_forward (train): bn_param lacks 'running_mean' or 'running_var' after "
                                 "a call. Hint: keep the template's lines that store them back into bn_param.")
        momentum = extra.get("momentum", 0.9)
        for key, batch_stat in [("running_mean", x.mean(axis=0)), ("running_var", x.var(axis=0))]:
            mistakes = {} if call > 1 else {  # from zeros, the first call tells these apart
                "zeros: the running average was not updated": np.zeros(d)}
            hint = name_mistake(theirs[key], mistakes,
                         f"{key} = momentum * {key} + (1 - momentum) * the batch's {key[8:]} (uncorrected "
                         "variance), with bn_param's momentum; the first call starts from zeros.")
            check_close(theirs[key], ours[key], f"batchnorm_forward bn_param['{key}'] after train call {call} of "
                        f"{calls} (bn_param fed back, momentum {momentum})", hint=hint)


@pytest.mark.grades("batchnorm_forward")
@pytest.mark.parametrize("n,d", BN_SHAPES, ids=["N4-D3", "N9-D6"])
@pytest.mark.parametrize("eps", [1e-5, 1e-1], ids=["eps1e-5", "eps1e-1"])
def test_batchnorm_forward_test_mode_uses_running_stats(student, ref, rng, n, d, eps):
    x, gamma, beta = _bn_inputs(rng, n, d)
    running_mean, running_var = rng.normal(size=d), rng.uniform(0.5, 4.0, d)
    bn_param = {"mode": "test", "eps": eps, "running_mean": running_mean, "running_var": running_var}
    out, _ = _pair(student.call("batchnorm_forward", x, gamma, beta, bn_param), "batchnorm_forward")
    expected, _ = ref.batchnorm_forward(x, gamma, beta, dict(bn_param))
    check_close(out, expected, f"batchnorm_forward (test mode) output, N={n} D={d}, eps {eps}",
                hint="in test mode, normalize with bn_param's running_mean and running_var, not the batch's "
                     "statistics: gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta.")


BN_BACKWARD_HINT = ("the mean and the variance depend on every x in the batch: besides dx_hat / sqrt(var + eps), "
                    "dx gets the paths through var and through mean (dx sums to 0 per feature).")


@pytest.mark.grades("batchnorm_backward")
@pytest.mark.parametrize("n,d", BN_SHAPES, ids=["N4-D3", "N9-D6"])
def test_batchnorm_backward_matches_numerical_gradient(student, ref, rng, n, d):
    x, gamma, beta = _bn_inputs(rng, n, d)
    dout = rng.normal(size=(n, d))
    bn_param = {"mode": "train"}
    ref_out, ref_cache = ref.batchnorm_forward(x, gamma, beta, dict(bn_param))
    caches, correct = backward_caches(student, "batchnorm_forward", (x, gamma, beta, bn_param), ref_out,
                                      documented=ref_cache)
    evaluate, source = _gradient_of(student, "batchnorm_forward", ref.batchnorm_forward, correct)
    scale = float(np.sum(np.abs(ref_out * dout)))

    def check(cache):
        grads = _triple(student.call("batchnorm_backward", dout, cache), "batchnorm_backward")
        for index, name, hint in [(0, "dx", BN_BACKWARD_HINT),
                                  (1, "dgamma", "dgamma = sum over the batch of dout * x_hat."),
                                  (2, "dbeta", "dbeta = np.sum(dout, axis=0).")]:
            _check_numerical(grads[index], evaluate, [x, gamma, beta, bn_param], index, dout,
                             f"batchnorm_backward {name}, N={n} D={d} (vs. {source})", h=1e-5, scale=scale,
                             hint=hint)

    first_passing(caches, check)


@pytest.mark.grades("batchnorm_backward")
@pytest.mark.parametrize("n,d", BN_SHAPES, ids=["N4-D3", "N9-D6"])
@pytest.mark.parametrize("eps", [1e-5, 1e-1], ids=["eps1e-5", "eps1e-1"])
def test_batchnorm_backward_matches_reference(student, ref, rng, n, d, eps):
    x, gamma, beta = _bn_inputs(rng, n, d)
    dout = rng.normal(size=(n, d))
    ref_out, ref_cache = ref.batchnorm_forward(x, gamma, beta, {"mode": "train", "eps": eps})
    caches, _ = backward_caches(student, "batchnorm_forward", (x, gamma, beta, {"mode": "train", "eps": eps}),
                                ref_out, documented=ref_cache)
    expected = ref.batchnorm_backward(dout, ref_cache)

    def check(cache):
        grads = _triple(student.call("batchnorm_backward", dout, cache), "batchnorm_backward")
        dx_hint = name_mistake(grads[0], {"dout * gamma / sqrt(var + eps), without the paths through mean and var":
                                          dout * gamma / np.sqrt(x.var(axis=0) + eps)}, BN_BACKWARD_HINT)
        dgamma_hint = name_mistake(grads[1], {"sum of dout * x, not dout * x_hat": np.sum(dout * x, axis=0)},
                                   "dgamma = np.sum(dout * x_hat, axis=0).")
        for name, actual, want, hint in [("dx", grads[0], expected[0], dx_hint),
                                         ("dgamma", grads[1], expected[1], dgamma_hint),
                                         ("dbeta", grads[2], expected[2], "dbeta = np.sum(dout, axis=0).")]:
            check_close(actual, want, f"batchnorm_backward {name}, N={n} D={d}, eps {eps}", atol=1e-7, hint=hint)

    first_passing(caches, check)


# ------------------------------------------------------------------ dropout

DROP_PS = [0.2, 0.6, 0.75]  # p = 0.5 could not tell dropping from keeping
DROP_SHAPES = [(400, 50), (20, 5, 10, 20)]


def _dropout_inputs(rng, p, shape):
    """x away from 0 and train-mode parameters with a seed."""
    x = rng.uniform(1.0, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    return x, {"p": p, "mode": "train", "seed": int(rng.integers(1 << 30))}


def _dropout_train(student, x, param):
    """The student's train-mode ``(out, cache)`` on ``x``, the output checked for its shape."""
    out, cache = _pair(student.call("dropout_forward", x, dict(param)), "dropout_forward")
    out = as_array(out, "dropout_forward output")
    if out.shape != x.shape:
        raise GradingFailure(f"dropout_forward (train) output: shape {out.shape}, expected {x.shape}. "
                             "Hint: draw the mask with the shape of x: np.random.rand(*x.shape).")
    return out, cache


@pytest.mark.grades("dropout_forward")
@pytest.mark.parametrize("shape", DROP_SHAPES, ids=["2d", "4d"])
@pytest.mark.parametrize("p", DROP_PS, ids=lambda p: f"p{p}")
def test_dropout_forward_drop_rate_is_p(student, rng, p, shape):
    x, param = _dropout_inputs(rng, p, shape)
    out, _ = _dropout_train(student, x, param)
    rate = float(np.mean(out == 0))
    tol = 6 * np.sqrt(p * (1 - p) / x.size)
    if abs(rate - p) > tol:
        hint = ("p is the probability of DROPPING a unit (you seem to keep units with probability p)."
                if abs(rate - (1 - p)) <= tol else "zero each unit independently with probability p.")
        raise GradingFailure(f"dropout_forward (train, p={p}): {rate:.3f} of the outputs are 0, expected "
                             f"{p} +- {tol:.3f}. Hint: {hint}")


@pytest.mark.grades("dropout_forward")
@pytest.mark.parametrize("p", DROP_PS, ids=lambda p: f"p{p}")
def test_dropout_forward_scales_kept_units(student, rng, p):
    x, param = _dropout_inputs(rng, p, DROP_SHAPES[0])
    out, _ = _dropout_train(student, x, param)
    kept = out != 0
    if not kept.any():
        raise GradingFailure(f"dropout_forward (train, p={p}): every output is 0.")
    ratio = out[kept] / x[kept]
    hint = ("inverted dropout divides the kept units by (1 - p) at train time (yours are not scaled)."
            if matches(ratio, np.ones_like(ratio)) else "kept units are x / (1 - p); dropped units are 0.")
    check_close(ratio, np.full(ratio.shape, 1 / (1 - p)),
                f"dropout_forward (train, p={p}) kept outputs divided by their inputs", hint=hint)


@pytest.mark.grades("dropout_forward")
@pytest.mark.parametrize("p", DROP_PS, ids=lambda p: f"p{p}")
def test_dropout_forward_preserves_mean(student, rng, p):
    x, param = _dropout_inputs(rng, p, DROP_SHAPES[0])
    out, _ = _dropout_train(student, x, param)
    x = np.abs(x)  # a positive input, so that the mean is far from 0
    out = np.abs(out)
    sigma = np.sqrt(np.sum(x ** 2) * p / (1 - p)) / x.size
    if abs(out.mean() - x.mean()) > 6 * sigma:
        raise GradingFailure(f"dropout_forward (train, p={p}): mean |output| {out.mean():.4f} for mean |input| "
                             f"{x.mean():.4f}, expected equal within {6 * sigma:.4f}. Hint: inverted dropout "
                             "keeps the expected value: scale kept units by 1 / (1 - p).")


@pytest.mark.grades("dropout_forward")
@pytest.mark.parametrize("p", [0.3, 0.8], ids=lambda p: f"p{p}")
def test_dropout_forward_test_mode_is_identity(student, rng, p):
    x = rng.normal(size=(8, 6))
    out, _ = _pair(student.call("dropout_forward", x, {"p": p, "mode": "test"}), "dropout_forward")
    check_close(out, x, f"dropout_forward (test mode, p={p}) output", rtol=1e-12, atol=0,
                hint="with inverted dropout, test mode returns x unchanged (no mask, no scaling).")


@pytest.mark.grades("dropout_forward")
def test_dropout_forward_same_seed_same_output(student, rng):
    p, shape = 0.4, (30, 20)
    x, param = _dropout_inputs(rng, p, shape)
    first, _ = _dropout_train(student, x, param)
    second, _ = _pair(student.call("dropout_forward", x, dict(param)), "dropout_forward")
    check_close(second, first, f"dropout_forward (train, p={p}) called twice with the same seed",
                rtol=0, atol=0, hint="draw the mask after seeding with dropout_param['seed'] (the template does "
                                     "np.random.seed(seed)); do not use another unseeded generator.")


@pytest.mark.grades("dropout_backward")
@pytest.mark.parametrize("shape", [(10, 12), (3, 4, 5, 6)], ids=["2d", "4d"])
@pytest.mark.parametrize("p", [0.3, 0.6], ids=lambda p: f"p{p}")
def test_dropout_backward_uses_own_mask(student, ref, rng, p, shape):
    x, param = _dropout_inputs(rng, p, shape)
    dout = rng.normal(size=shape)
    try:  # x is never 0: dout * out / x is the gradient of the student's own forward, whatever its RNG
        out, cache = _dropout_train(student, x, param)
        cases = [(cache, dout * out / x, "dout * out / x of your dropout_forward")]
    except AssertionError:  # the forward failed: the documented cache (dropout_param, mask) of a correct one
        _, (_, mask) = ref.dropout_forward(x, dict(param))
        cases = [((dict(param), mask), dout * mask, "dout * mask for a correct dropout_forward's cache")]

    def check(case):
        cache, expected, source = case
        dx = student.call("dropout_backward", dout, cache)
        hint = name_mistake(dx, {"dout where the unit was kept, without the 1 / (1 - p) scale": dout * (expected != 0)},
                            "dx = dout * mask, with the mask (scale included) that dropout_forward used.")
        check_close(dx, expected, f"dropout_backward (train, p={p}) dx vs. {source}", hint=hint)

    first_passing(cases, check)


@pytest.mark.grades("dropout_backward")
@pytest.mark.parametrize("p", [0.3, 0.8], ids=lambda p: f"p{p}")
def test_dropout_backward_test_mode_is_identity(student, rng, p):
    x = rng.normal(size=(7, 9))
    dout = rng.normal(size=(7, 9))
    caches, _ = backward_caches(student, "dropout_forward", (x, {"p": p, "mode": "test"}), x,
                                documented=({"p": p, "mode": "test"}, None))

    def check(cache):
        dx = student.call("dropout_backward", dout, cache)
        hint = name_mistake(dx, {"dout scaled by (1 - p)": dout * (1 - p), "dout divided by (1 - p)": dout / (1 - p)},
                            "test-mode dropout is the identity, so dx = dout.")
        check_close(dx, dout, f"dropout_backward (test mode, p={p}) dx", rtol=1e-12, atol=0, hint=hint)

    first_passing(caches, check)


# ------------------------------------------------------------------ losses

LOSS_SHAPES = [(6, 4), (12, 10)]


def _svm_inputs(rng, n, c):
    """Scores whose margins x_j - x_y + 1 all stay away from the hinge's kink at 0."""
    x = rng.normal(scale=2.0, size=(n, c))
    y = rng.integers(c, size=n)
    for _ in range(100):
        margins = x - x[np.arange(n), y][:, None] + 1.0
        margins[np.arange(n), y] = 1.0
        near = np.abs(margins) < 1e-2
        if not near.any():
            break
        x[near] += 0.05
    return x, y


@pytest.mark.grades("svm_loss")
@pytest.mark.parametrize("n,c", LOSS_SHAPES, ids=["N6-C4", "N12-C10"])
def test_svm_loss_value_matches_reference(student, ref, rng, n, c):
    x, y = _svm_inputs(rng, n, c)
    loss, _ = _pair(student.call("svm_loss", x, y), "svm_loss")
    expected = ref.svm_loss(x, y)[0]
    hint = name_mistake(loss, {"the loss with the correct class's own margin of 1 counted": expected + 1.0,
                        "the summed loss, not averaged over N": expected * n},
                 "average over N of sum over j != y of max(0, x_j - x_y + 1).")
    check_close(loss, expected, f"svm_loss loss, N={n} C={c}", hint=hint)


@pytest.mark.grades("svm_loss")
@pytest.mark.parametrize("n,c", LOSS_SHAPES, ids=["N6-C4", "N12-C10"])
def test_svm_loss_gradient_matches_numerical_gradient(student, ref, rng, n, c):
    x, y = _svm_inputs(rng, n, c)
    loss, dx = _pair(student.call("svm_loss", x, y), "svm_loss")
    evaluate, source = _gradient_of(student, "svm_loss", ref.svm_loss, matches(loss, ref.svm_loss(x, y)[0]))
    # piecewise linear, and every margin is >= 1e-2 from its kink: a step of 1e-3 stays on one piece
    _check_numerical(dx, evaluate, [x, y], 0, np.array(1.0), f"svm_loss dx, N={n} C={c} (vs. {source})", h=1e-3,
                     scale=abs(ref.svm_loss(x, y)[0]),
                     hint="each violated margin adds 1/N at j and -1/N at the correct class y.")


@pytest.mark.grades("svm_loss")
@pytest.mark.parametrize("n,c", LOSS_SHAPES, ids=["N6-C4", "N12-C10"])
def test_svm_loss_gradient_matches_reference(student, ref, rng, n, c):
    x, y = _svm_inputs(rng, n, c)
    _, dx = _pair(student.call("svm_loss", x, y), "svm_loss")
    expected = ref.svm_loss(x, y)[1]
    hint = name_mistake(dx, {"the gradient not divided by N": expected * n},
                 "dx[i, j] = 1/N for each violated margin, dx[i, y_i] = -(number of violated margins)/N.")
    check_close(dx, expected, f"svm_loss dx, N={n} C={c}", hint=hint)


SOFTMAX_LOGITS = {
    "unit": lambda rng, n, c: rng.normal(size=(n, c)),
    "near1000": lambda rng, n, c: rng.normal(scale=3.0, size=(n, c)) + 1000.0,
    "spread1000": lambda rng, n, c: rng.uniform(-1000.0, 1000.0, size=(n, c)),
}
OVERFLOW_HINT = ("large scores overflow np.exp: subtract each row's maximum first "
                 "(x - np.max(x, axis=1, keepdims=True)), or use the log-sum-exp trick.")


@pytest.mark.grades("softmax_loss")
@pytest.mark.parametrize("kind", list(SOFTMAX_LOGITS))
def test_softmax_loss_value_matches_reference(student, ref, rng, kind):
    n, c = 8, 5
    x, y = SOFTMAX_LOGITS[kind](rng, n, c), rng.integers(c, size=n)
    loss, _ = _pair(student.call("softmax_loss", x, y), "softmax_loss")
    expected = ref.softmax_loss(x, y)[0]
    hint = OVERFLOW_HINT if kind != "unit" else "loss = mean over the batch of -log(softmax(x_i)[y_i])."
    check_close(loss, expected, f"softmax_loss loss for {kind} scores (N={n}, C={c})", hint=hint)


@pytest.mark.grades("softmax_loss")
@pytest.mark.parametrize("n,c", LOSS_SHAPES, ids=["N6-C4", "N12-C10"])
def test_softmax_loss_gradient_matches_numerical_gradient(student, ref, rng, n, c):
    x, y = rng.normal(size=(n, c)), rng.integers(c, size=n)
    loss, dx = _pair(student.call("softmax_loss", x, y), "softmax_loss")
    evaluate, source = _gradient_of(student, "softmax_loss", ref.softmax_loss,
                                    matches(loss, ref.softmax_loss(x, y)[0]))
    _check_numerical(dx, evaluate, [x, y], 0, np.array(1.0), f"softmax_loss dx, N={n} C={c} (vs. {source})",
                     h=1e-5, scale=abs(ref.softmax_loss(x, y)[0]),
                     hint="dx = (softmax probabilities - one_hot(y)) / N.")


@pytest.mark.grades("softmax_loss")
@pytest.mark.parametrize("kind", list(SOFTMAX_LOGITS))
def test_softmax_loss_gradient_matches_reference(student, ref, rng, kind):
    n, c = 8, 5
    x, y = SOFTMAX_LOGITS[kind](rng, n, c), rng.integers(c, size=n)
    _, dx = _pair(student.call("softmax_loss", x, y), "softmax_loss")
    expected = ref.softmax_loss(x, y)[1]
    hint = OVERFLOW_HINT if kind != "unit" else "dx = (softmax probabilities - one_hot(y)) / N."
    check_close(dx, expected, f"softmax_loss dx for {kind} scores (N={n}, C={c})", hint=hint)
