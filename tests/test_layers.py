"""The reference layers in source/cnn/nnl/layers.py and layer_utils.py.

These layers are the oracle the hidden suites grade students against, so each
one is checked against an independent computation: explicit loops, textbook
formulas, or centered-difference gradients from utils.gradient_check.
"""
import math

import numpy as np
import pytest

from nnl.layer_utils import affine_bn_relu_backward, affine_bn_relu_forward, affine_relu_backward, affine_relu_forward
from nnl.layers import (affine_backward, affine_forward, batchnorm_backward, batchnorm_forward, dropout_backward,
                        dropout_forward, relu_backward, relu_forward, softmax_loss, svm_loss)
from utils.gradient_check import eval_numerical_gradient, eval_numerical_gradient_array, rel_error

GRAD_TOL = 1e-6  # the seed's notebook shows errors around 1e-7 for correct gradients


def assert_gradient_matches(name, analytic, numerical, hint, tol=GRAD_TOL):
    """Shape first, then the maximum relative error, with a message that says where to look."""
    assert np.shape(analytic) == np.shape(numerical), (
        f"{name} has shape {np.shape(analytic)}, expected {np.shape(numerical)}"
    )
    err = rel_error(analytic, numerical)
    assert err < tol, f"{name} relative error {err:.1e} > {tol:.0e}: {hint}"


def away_from_zero(rng, shape, low=0.1, high=2.0):
    """Values with |v| in [low, high] and random signs: no ReLU kink within a finite-difference step."""
    return rng.uniform(low, high, shape) * rng.choice([-1.0, 1.0], shape)


# ---------------------------------------------------------------- affine

AFFINE_SHAPES = [(3, 5), (2, 4, 3), (4, 2, 3, 2), (1, 6)]  # (N, d_1, ..., d_k)


@pytest.mark.parametrize("x_shape", AFFINE_SHAPES)
@pytest.mark.parametrize("M", [1, 4])
def test_affine_forward_shape(rng, x_shape, M):
    D = int(np.prod(x_shape[1:]))
    out, _ = affine_forward(rng.standard_normal(x_shape), rng.standard_normal((D, M)), rng.standard_normal(M))
    assert out.shape == (x_shape[0], M), f"affine output shape {out.shape}, expected (N, M) = {(x_shape[0], M)}"


@pytest.mark.parametrize("x_shape", AFFINE_SHAPES)
def test_affine_forward_matches_loops(rng, x_shape):
    N, D, M = x_shape[0], int(np.prod(x_shape[1:])), 3
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal((D, M)), rng.standard_normal(M)
    out, _ = affine_forward(x, w, b)
    expected = np.zeros((N, M))
    for i in range(N):
        row = x[i].ravel()  # C order, as reshape(N, D) does
        for m in range(M):
            expected[i, m] = sum(row[j] * w[j, m] for j in range(D)) + b[m]
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12, err_msg="affine forward differs from x_flat @ w + b")


def test_affine_forward_known_values():
    """The CS231n notebook's fixed example: inputs from linspace, known outputs."""
    x = np.linspace(-0.1, 0.5, num=2 * 120).reshape(2, 4, 5, 6)
    w = np.linspace(-0.2, 0.3, num=120 * 3).reshape(120, 3)
    b = np.linspace(-0.3, 0.1, num=3)
    out, _ = affine_forward(x, w, b)
    expected = np.array([[1.49834967, 1.70660132, 1.91485297], [3.25553199, 3.5141327, 3.77273342]])
    assert rel_error(out, expected) < 1e-8, "affine forward on the notebook's example gives the wrong values"


@pytest.mark.parametrize("x_shape", AFFINE_SHAPES)
def test_affine_backward_gradients(rng, x_shape):
    D, M = int(np.prod(x_shape[1:])), 4
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal((D, M)), rng.standard_normal(M)
    dout = rng.standard_normal((x_shape[0], M))
    _, cache = affine_forward(x, w, b)
    dx, dw, db = affine_backward(dout, cache)
    dx_num = eval_numerical_gradient_array(lambda v: affine_forward(v, w, b)[0], x, dout)
    dw_num = eval_numerical_gradient_array(lambda v: affine_forward(x, v, b)[0], w, dout)
    db_num = eval_numerical_gradient_array(lambda v: affine_forward(x, w, v)[0], b, dout)
    assert_gradient_matches("affine dx", dx, dx_num, "dout @ w.T reshaped back to x.shape")
    assert_gradient_matches("affine dw", dw, dw_num, "x reshaped to (N, D), transposed, times dout")
    assert_gradient_matches("affine db", db, db_num, "sum of dout over the batch")


# ---------------------------------------------------------------- relu

@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 4, 5)])
def test_relu_forward_values(rng, shape):
    x = rng.standard_normal(shape)
    out, _ = relu_forward(x)
    assert out.shape == x.shape, f"relu output shape {out.shape} != input shape {x.shape}"
    np.testing.assert_array_equal(out, np.where(x > 0, x, 0.0), err_msg="relu must keep positives, zero the rest")


@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 4, 5)])
def test_relu_backward_gradient(rng, shape):
    x = away_from_zero(rng, shape)
    dout = rng.standard_normal(shape)
    _, cache = relu_forward(x)
    dx = relu_backward(dout, cache)
    dx_num = eval_numerical_gradient_array(lambda v: relu_forward(v)[0], x, dout)
    assert_gradient_matches("relu dx", dx, dx_num, "pass dout where x > 0, zero elsewhere")


# ---------------------------------------------------------------- batchnorm

BN_SHAPES = [(200, 3), (50, 5), (2, 4)]


@pytest.mark.parametrize("N,D", BN_SHAPES)
def test_batchnorm_train_output_shape(rng, N, D):
    out, _ = batchnorm_forward(rng.standard_normal((N, D)), np.ones(D), np.zeros(D), {'mode': 'train'})
    assert out.shape == (N, D), f"batchnorm output shape {out.shape}, expected {(N, D)}"


@pytest.mark.parametrize("N,D", BN_SHAPES)
@pytest.mark.parametrize("gamma_scale,beta_shift", [(1.0, 0.0), (3.0, 6.0), (0.5, -2.0)])
def test_batchnorm_train_means_and_stds(rng, N, D, gamma_scale, beta_shift):
    x = 4 * rng.standard_normal((N, D)) + 10
    gamma = gamma_scale * np.arange(1, D + 1, dtype=float)
    beta = beta_shift + np.arange(D, dtype=float)
    out, _ = batchnorm_forward(x, gamma, beta, {'mode': 'train'})
    np.testing.assert_allclose(out.mean(axis=0), beta, atol=1e-9, err_msg="per-feature means after batchnorm should be beta")
    # std(out) = gamma * sqrt(var / (var + eps)): a hair below gamma, more so for a low-variance feature of a tiny batch
    var = x.var(axis=0)
    expected_std = gamma * np.sqrt(var / (var + 1e-5))
    np.testing.assert_allclose(out.std(axis=0), expected_std, rtol=1e-8, err_msg="per-feature stds after batchnorm should be gamma")


@pytest.mark.parametrize("N,D", BN_SHAPES)
@pytest.mark.parametrize("eps", [1e-5, 0.5])
def test_batchnorm_train_matches_formula_with_uncorrected_variance(rng, N, D, eps):
    x = 2 * rng.standard_normal((N, D)) - 1
    gamma, beta = rng.standard_normal(D), rng.standard_normal(D)
    out, _ = batchnorm_forward(x, gamma, beta, {'mode': 'train', 'eps': eps})
    mean = x.sum(axis=0) / N
    var = ((x - mean) ** 2).sum(axis=0) / N  # uncorrected: divide by N, not N - 1
    expected = gamma * (x - mean) / np.sqrt(var + eps) + beta
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-10, err_msg="train-mode batchnorm != gamma * (x - mean) / sqrt(var + eps) + beta")


@pytest.mark.parametrize("momentum", [None, 0.0, 0.5, 0.9, 0.99])
def test_batchnorm_running_averages_follow_update_rule(rng, momentum):
    N, D = 20, 4
    bn_param = {'mode': 'train'}
    if momentum is not None:
        bn_param['momentum'] = momentum
    m = 0.9 if momentum is None else momentum
    expected_mean, expected_var = np.zeros(D), np.zeros(D)
    gamma, beta = np.ones(D), np.zeros(D)
    for step in range(5):
        x = (step + 1) * rng.standard_normal((N, D)) + step
        batchnorm_forward(x, gamma, beta, bn_param)
        expected_mean = m * expected_mean + (1 - m) * x.mean(axis=0)
        expected_var = m * expected_var + (1 - m) * x.var(axis=0)
        np.testing.assert_allclose(bn_param['running_mean'], expected_mean, rtol=1e-12, atol=1e-14,
                                   err_msg=f"running_mean after step {step + 1} breaks the momentum rule")
        np.testing.assert_allclose(bn_param['running_var'], expected_var, rtol=1e-12, atol=1e-14,
                                   err_msg=f"running_var after step {step + 1} breaks the momentum rule (uncorrected variance)")


def test_batchnorm_running_averages_start_from_given_values(rng):
    D = 3
    start_mean, start_var = rng.standard_normal(D), rng.uniform(1, 2, D)
    bn_param = {'mode': 'train', 'momentum': 0.8, 'running_mean': start_mean.copy(), 'running_var': start_var.copy()}
    x = rng.standard_normal((10, D))
    batchnorm_forward(x, np.ones(D), np.zeros(D), bn_param)
    np.testing.assert_allclose(bn_param['running_mean'], 0.8 * start_mean + 0.2 * x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(bn_param['running_var'], 0.8 * start_var + 0.2 * x.var(axis=0), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batchnorm_default_running_stats_take_x_dtype(rng, dtype):
    x = rng.standard_normal((8, 3)).astype(dtype)
    bn_param = {'mode': 'train'}
    batchnorm_forward(x, np.ones(3, dtype=dtype), np.zeros(3, dtype=dtype), bn_param)
    for key in ('running_mean', 'running_var'):
        assert bn_param[key].shape == (3,), f"{key} should have shape (D,), got {bn_param[key].shape}"
        assert bn_param[key].dtype == dtype, f"{key} should keep x's dtype {np.dtype(dtype)}, got {bn_param[key].dtype}"


@pytest.mark.parametrize("N,D", BN_SHAPES)
def test_batchnorm_test_mode_uses_running_stats(rng, N, D):
    running_mean, running_var = rng.standard_normal(D), rng.uniform(0.5, 3.0, D)
    bn_param = {'mode': 'test', 'running_mean': running_mean.copy(), 'running_var': running_var.copy(), 'eps': 1e-3}
    x = 3 * rng.standard_normal((N, D)) + 1
    gamma, beta = rng.standard_normal(D), rng.standard_normal(D)
    out, _ = batchnorm_forward(x, gamma, beta, bn_param)
    expected = gamma * (x - running_mean) / np.sqrt(running_var + 1e-3) + beta
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12,
                               err_msg="test mode must normalize with running_mean / running_var, not the batch's statistics")


def test_batchnorm_test_mode_leaves_running_stats_unchanged(rng):
    running_mean, running_var = rng.standard_normal(4), rng.uniform(0.5, 3.0, 4)
    bn_param = {'mode': 'test', 'running_mean': running_mean.copy(), 'running_var': running_var.copy()}
    batchnorm_forward(rng.standard_normal((6, 4)), np.ones(4), np.zeros(4), bn_param)
    np.testing.assert_array_equal(bn_param['running_mean'], running_mean, err_msg="test mode changed running_mean")
    np.testing.assert_array_equal(bn_param['running_var'], running_var, err_msg="test mode changed running_var")


def test_batchnorm_test_mode_after_training_centres_new_data(rng):
    """The notebook's check: after many training steps, test-time outputs have means near beta and stds near gamma."""
    D = 3
    gamma, beta = np.array([1.0, 2.0, 3.0]), np.array([0.0, -1.0, 4.0])
    bn_param = {'mode': 'train'}
    for _ in range(60):
        batchnorm_forward(2 * rng.standard_normal((50, D)) + 5, gamma, beta, bn_param)
    bn_param['mode'] = 'test'
    out, _ = batchnorm_forward(2 * rng.standard_normal((2000, D)) + 5, gamma, beta, bn_param)
    np.testing.assert_allclose(out.mean(axis=0), beta, atol=0.15, err_msg="test-time means should be near beta")
    np.testing.assert_allclose(out.std(axis=0), gamma, rtol=0.1, err_msg="test-time stds should be near gamma")


@pytest.mark.parametrize("mode", ['eval', 'Train', '', None])
def test_batchnorm_invalid_mode_raises(rng, mode):
    with pytest.raises(ValueError, match=f'"{mode}"'):
        batchnorm_forward(rng.standard_normal((4, 2)), np.ones(2), np.zeros(2), {'mode': mode})


# N = 2 is left out on purpose: two examples normalize to -1 and +1 whatever x is, so dx ~ 0 and relative errors are noise
@pytest.mark.parametrize("N,D", [(4, 5), (10, 3), (3, 2), (7, 1)])
def test_batchnorm_backward_gradients(rng, N, D):
    x = 5 * rng.standard_normal((N, D)) + 12
    gamma, beta = rng.standard_normal(D), rng.standard_normal(D)
    dout = rng.standard_normal((N, D))
    bn_param = {'mode': 'train'}
    _, cache = batchnorm_forward(x, gamma, beta, bn_param)
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)
    dx_num = eval_numerical_gradient_array(lambda v: batchnorm_forward(v, gamma, beta, bn_param)[0], x, dout)
    dgamma_num = eval_numerical_gradient_array(lambda v: batchnorm_forward(x, v, beta, bn_param)[0], gamma, dout)
    dbeta_num = eval_numerical_gradient_array(lambda v: batchnorm_forward(x, gamma, v, bn_param)[0], beta, dout)
    assert_gradient_matches("batchnorm dx", dx, dx_num, "remember the mean and the variance both depend on x (the 1/N terms)")
    assert_gradient_matches("batchnorm dgamma", dgamma, dgamma_num, "sum of dout * x_hat over the batch")
    assert_gradient_matches("batchnorm dbeta", dbeta, dbeta_num, "sum of dout over the batch")


def test_batchnorm_backward_dx_sums_to_zero(rng):
    """Shifting every example of a feature by the same amount leaves batchnorm's output unchanged."""
    x = rng.standard_normal((16, 4))
    _, cache = batchnorm_forward(x, rng.standard_normal(4), rng.standard_normal(4), {'mode': 'train'})
    dx, _, _ = batchnorm_backward(rng.standard_normal((16, 4)), cache)
    np.testing.assert_allclose(dx.sum(axis=0), 0.0, atol=1e-12, err_msg="dx must sum to zero over the batch")


# ---------------------------------------------------------------- dropout

DROP_PROBS = [0.0, 0.25, 0.4, 0.7, 0.9]


@pytest.mark.parametrize("p", DROP_PROBS)
def test_dropout_train_drops_fraction_p(rng, p):
    x = rng.standard_normal((500, 500)) + 10  # no zeros in x
    out, _ = dropout_forward(x, {'mode': 'train', 'p': p, 'seed': 123})
    dropped = np.mean(out == 0)
    assert abs(dropped - p) < 0.01, f"dropped fraction {dropped:.3f}, expected p = {p} (p is the probability of DROPPING)"


@pytest.mark.parametrize("p", DROP_PROBS)
def test_dropout_train_keeps_mean(rng, p):
    x = rng.standard_normal((500, 500)) + 10
    out, _ = dropout_forward(x, {'mode': 'train', 'p': p, 'seed': 123})
    assert out.mean() == pytest.approx(x.mean(), rel=0.02), (
        f"mean {out.mean():.3f} vs input mean {x.mean():.3f}: inverted dropout divides kept units by (1 - p)"
    )


@pytest.mark.parametrize("p", DROP_PROBS)
def test_dropout_train_scales_kept_units(rng, p):
    x = rng.standard_normal((40, 30)) + 10
    out, _ = dropout_forward(x, {'mode': 'train', 'p': p, 'seed': 7})
    kept = out != 0
    np.testing.assert_allclose(out[kept], x[kept] / (1 - p), rtol=1e-12, err_msg="kept units must be x / (1 - p)")


@pytest.mark.parametrize("p", DROP_PROBS)
@pytest.mark.parametrize("shape", [(5,), (4, 6), (2, 3, 4, 5)])
def test_dropout_test_mode_is_identity(rng, p, shape):
    x = rng.standard_normal(shape)
    out, _ = dropout_forward(x, {'mode': 'test', 'p': p})
    assert out.shape == x.shape, f"test-mode dropout changed the shape to {out.shape}"
    np.testing.assert_array_equal(out, x, err_msg="test-mode dropout must return the input unchanged")


@pytest.mark.parametrize("shape", [(5,), (4, 6), (2, 3, 4, 5)])
def test_dropout_train_shape(rng, shape):
    out, _ = dropout_forward(rng.standard_normal(shape), {'mode': 'train', 'p': 0.5, 'seed': 0})
    assert out.shape == shape, f"dropout output shape {out.shape}, expected {shape}"


def test_dropout_same_seed_same_mask(rng):
    x = rng.standard_normal((30, 20)) + 3
    out1, _ = dropout_forward(x, {'mode': 'train', 'p': 0.5, 'seed': 42})
    out2, _ = dropout_forward(x, {'mode': 'train', 'p': 0.5, 'seed': 42})
    np.testing.assert_array_equal(out1, out2, err_msg="the same seed must give the same mask")


def test_dropout_different_seeds_different_masks(rng):
    x = rng.standard_normal((30, 20)) + 3
    out1, _ = dropout_forward(x, {'mode': 'train', 'p': 0.5, 'seed': 1})
    out2, _ = dropout_forward(x, {'mode': 'train', 'p': 0.5, 'seed': 2})
    assert not np.array_equal(out1 == 0, out2 == 0), "different seeds gave identical masks"


def test_dropout_without_seed_draws_fresh_masks(rng):
    x = rng.standard_normal((30, 20)) + 3
    out1, _ = dropout_forward(x, {'mode': 'train', 'p': 0.5})
    out2, _ = dropout_forward(x, {'mode': 'train', 'p': 0.5})
    assert not np.array_equal(out1 == 0, out2 == 0), "without a seed, two calls should draw different masks"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ['train', 'test'])
def test_dropout_keeps_dtype(rng, dtype, mode):
    x = rng.standard_normal((6, 5)).astype(dtype)
    out, _ = dropout_forward(x, {'mode': mode, 'p': 0.3, 'seed': 0})
    assert out.dtype == dtype, f"{mode}-mode dropout returned {out.dtype} for {np.dtype(dtype)} input"


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_backward_train_gradient(rng, p):
    x = rng.standard_normal((10, 8)) + 5
    dout = rng.standard_normal((10, 8))
    dropout_param = {'mode': 'train', 'p': p, 'seed': 123}
    _, cache = dropout_forward(x, dropout_param)
    dx = dropout_backward(dout, cache)
    dx_num = eval_numerical_gradient_array(lambda v: dropout_forward(v, dropout_param)[0], x, dout)
    assert_gradient_matches("dropout dx", dx, dx_num, "multiply dout by the same (scaled) mask as the forward pass")


def test_dropout_backward_test_mode_passes_dout(rng):
    x, dout = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    _, cache = dropout_forward(x, {'mode': 'test', 'p': 0.5})
    np.testing.assert_array_equal(dropout_backward(dout, cache), dout, err_msg="test-mode dropout backward must return dout")


def test_dropout_cache_holds_param_and_mask(rng):
    """The documented cache: (dropout_param, mask), mask None at test time."""
    x = rng.standard_normal((5, 4)) + 3
    train_param = {'mode': 'train', 'p': 0.5, 'seed': 3}
    out, (param, mask) = dropout_forward(x, train_param)
    assert param is train_param, "cache[0] should be the dropout_param dict"
    np.testing.assert_allclose(x * mask, out, err_msg="cache[1] should be the mask that multiplied x")
    _, (_, test_mask) = dropout_forward(x, {'mode': 'test', 'p': 0.5})
    assert test_mask is None, "test-mode mask should be None"


@pytest.mark.parametrize("mode", ['eval', None])
def test_dropout_invalid_mode_raises(rng, mode):
    with pytest.raises(ValueError, match=f'"{mode}"'):
        dropout_forward(rng.standard_normal((3, 2)), {'mode': mode, 'p': 0.5})


# ---------------------------------------------------------------- losses

LOSS_SHAPES = [(1, 2), (5, 3), (20, 10), (8, 100)]  # (N, C)


def softmax_loss_by_logaddexp(x, y):
    """Independent oracle: per row, log(sum(exp(x))) - x[y] via np.logaddexp.reduce."""
    return float(np.mean([np.logaddexp.reduce(row) - row[label] for row, label in zip(x, y)]))


@pytest.mark.parametrize("N,C", LOSS_SHAPES)
def test_softmax_loss_value(rng, N, C):
    x, y = rng.standard_normal((N, C)), rng.integers(0, C, N)
    loss, dx = softmax_loss(x, y)
    assert np.ndim(loss) == 0, f"loss should be a scalar, got shape {np.shape(loss)}"
    assert dx.shape == (N, C), f"dx shape {dx.shape}, expected {(N, C)}"
    assert loss == pytest.approx(softmax_loss_by_logaddexp(x, y), rel=1e-12), "softmax loss is not the mean cross-entropy"


@pytest.mark.parametrize("C", [3, 10, 100])
def test_softmax_loss_near_log_c_for_tiny_scores(rng, C):
    N = 200
    loss, _ = softmax_loss(1e-3 * rng.standard_normal((N, C)), rng.integers(0, C, N))
    assert loss == pytest.approx(math.log(C), rel=1e-3), f"tiny scores should give loss ~ log(C) = {math.log(C):.4f}, got {loss:.4f}"


@pytest.mark.parametrize("offset", [1e3, -1e3, 5e3])
def test_softmax_loss_stable_for_huge_logits(rng, offset):
    """Logits around +-1e3 overflow a naive exp; the row-max shift must keep everything finite."""
    N, C = 10, 5
    x = offset + 30 * rng.standard_normal((N, C))
    y = rng.integers(0, C, N)
    loss, dx = softmax_loss(x, y)  # warnings are errors here: an overflow fails the test
    assert np.isfinite(loss), f"loss is {loss} for logits around {offset}: subtract each row's max before exp"
    assert np.all(np.isfinite(dx)), "dx has non-finite values for huge logits"
    assert loss == pytest.approx(softmax_loss_by_logaddexp(x, y), rel=1e-10), "wrong loss value for huge logits"


@pytest.mark.parametrize("N,C", LOSS_SHAPES)
def test_softmax_loss_gradient(rng, N, C):
    x, y = rng.standard_normal((N, C)), rng.integers(0, C, N)
    _, dx = softmax_loss(x, y)
    dx_num = eval_numerical_gradient(lambda v: softmax_loss(v, y)[0], x, verbose=False)
    assert_gradient_matches("softmax dx", dx, dx_num, "(probs - one_hot(y)) / N")


def svm_loss_by_loops(x, y):
    """Independent oracle: the multiclass hinge loss (margin 1) and its gradient, one score at a time."""
    N, C = x.shape
    loss, dx = 0.0, np.zeros((N, C))
    for i in range(N):
        for j in range(C):
            if j == y[i]:
                continue
            margin = x[i, j] - x[i, y[i]] + 1
            if margin > 0:
                loss += margin
                dx[i, j] += 1
                dx[i, y[i]] -= 1
    return loss / N, dx / N


@pytest.mark.parametrize("N,C", LOSS_SHAPES)
@pytest.mark.parametrize("scale", [0.1, 1.0, 3.0])
def test_svm_loss_matches_loops(rng, N, C, scale):
    x, y = scale * rng.standard_normal((N, C)), rng.integers(0, C, N)
    loss, dx = svm_loss(x, y)
    expected_loss, expected_dx = svm_loss_by_loops(x, y)
    assert np.ndim(loss) == 0, f"loss should be a scalar, got shape {np.shape(loss)}"
    assert loss == pytest.approx(expected_loss, rel=1e-12, abs=1e-15), "svm loss differs from the loop version"
    np.testing.assert_allclose(dx, expected_dx, atol=1e-15, err_msg="svm dx differs from the loop version")


@pytest.mark.parametrize("C", [2, 10])
def test_svm_loss_near_c_minus_one_for_tiny_scores(rng, C):
    N = 100
    loss, _ = svm_loss(1e-3 * rng.standard_normal((N, C)), rng.integers(0, C, N))
    assert loss == pytest.approx(C - 1, rel=1e-2), f"tiny scores: every margin ~1, loss ~ C - 1 = {C - 1}, got {loss:.4f}"


@pytest.mark.parametrize("N,C", LOSS_SHAPES)
def test_svm_loss_gradient(rng, N, C):
    x, y = rng.standard_normal((N, C)), rng.integers(0, C, N)
    margins = x - x[np.arange(N), y][:, None] + 1
    margins[np.arange(N), y] = 10.0
    assert np.min(np.abs(margins)) > 1e-3, "test input too close to a hinge kink for a finite-difference check"
    _, dx = svm_loss(x, y)
    dx_num = eval_numerical_gradient(lambda v: svm_loss(v, y)[0], x, verbose=False)
    assert_gradient_matches("svm dx", dx, dx_num, "+1/N per violated margin, minus their count / N at the label")


# ---------------------------------------------------------------- layer_utils sandwiches

@pytest.mark.parametrize("x_shape", [(2, 3, 4), (5, 6)])
def test_affine_relu_forward_composes_layers(rng, x_shape):
    D, M = int(np.prod(x_shape[1:])), 5
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal((D, M)), rng.standard_normal(M)
    out, _ = affine_relu_forward(x, w, b)
    expected = np.maximum(x.reshape(x_shape[0], D) @ w + b, 0)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12, err_msg="affine_relu != relu(affine(x))")


@pytest.mark.parametrize("x_shape", [(2, 3, 4), (5, 6)])
def test_affine_relu_backward_gradients(rng, x_shape):
    D, M = int(np.prod(x_shape[1:])), 5
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal((D, M)), rng.standard_normal(M)
    dout = rng.standard_normal((x_shape[0], M))
    _, cache = affine_relu_forward(x, w, b)
    dx, dw, db = affine_relu_backward(dout, cache)
    dx_num = eval_numerical_gradient_array(lambda v: affine_relu_forward(v, w, b)[0], x, dout)
    dw_num = eval_numerical_gradient_array(lambda v: affine_relu_forward(x, v, b)[0], w, dout)
    db_num = eval_numerical_gradient_array(lambda v: affine_relu_forward(x, w, v)[0], b, dout)
    assert_gradient_matches("affine_relu dx", dx, dx_num, "relu backward first, then affine backward")
    assert_gradient_matches("affine_relu dw", dw, dw_num, "relu backward first, then affine backward")
    assert_gradient_matches("affine_relu db", db, db_num, "relu backward first, then affine backward")


@pytest.mark.parametrize("x_shape", [(4, 3, 2), (6, 5)])
def test_affine_bn_relu_forward_composes_layers(rng, x_shape):
    N, D, M = x_shape[0], int(np.prod(x_shape[1:])), 4
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal((D, M)), rng.standard_normal(M)
    gamma, beta = rng.standard_normal(M), rng.standard_normal(M)
    bn_param = {'mode': 'train'}
    out, _ = affine_bn_relu_forward(x, w, b, gamma, beta, bn_param)
    a = x.reshape(N, D) @ w + b
    expected = np.maximum(gamma * (a - a.mean(axis=0)) / np.sqrt(a.var(axis=0) + 1e-5) + beta, 0)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12, err_msg="affine_bn_relu != relu(batchnorm(affine(x)))")
    np.testing.assert_allclose(bn_param['running_mean'], 0.1 * a.mean(axis=0), rtol=1e-12,
                               err_msg="affine_bn_relu must pass bn_param through so the running stats update")


@pytest.mark.parametrize("x_shape", [(4, 3, 2), (6, 5)])
def test_affine_bn_relu_backward_gradients(rng, x_shape):
    D, M = int(np.prod(x_shape[1:])), 4
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal((D, M)), rng.standard_normal(M)
    gamma = rng.uniform(0.5, 1.5, M)
    beta = rng.uniform(0.5, 1.0, M) * rng.choice([-1.0, 1.0], M)  # shifts keep most pre-relu values off zero
    dout = rng.standard_normal((x_shape[0], M))
    bn_param = {'mode': 'train'}
    _, cache = affine_bn_relu_forward(x, w, b, gamma, beta, bn_param)
    grads = affine_bn_relu_backward(dout, cache)
    names = ["dx", "dw", "db", "dgamma", "dbeta"]
    assert len(grads) == 5, f"affine_bn_relu_backward should return (dx, dw, db, dgamma, dbeta), got {len(grads)} values"
    # batchnorm subtracts the batch mean, so the affine bias cannot change the output: db is exactly zero
    np.testing.assert_allclose(grads[2], 0.0, atol=1e-12, err_msg="db before batchnorm must be zero: the mean subtraction cancels b")
    inputs = [x, w, b, gamma, beta]
    for k, (name, grad) in enumerate(zip(names, grads)):
        if name == "db":
            continue
        def f(v, k=k):
            args = list(inputs)
            args[k] = v
            return affine_bn_relu_forward(*args, bn_param)[0]

        grad_num = eval_numerical_gradient_array(f, inputs[k], dout)
        assert_gradient_matches(f"affine_bn_relu {name}", grad, grad_num, "relu, then batchnorm, then affine backward")
