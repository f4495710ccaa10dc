"""The naive conv layers of the solution source: convolution, max pooling, spatial batchnorm.

Forward passes are compared with computations written differently here (one
einsum per filter offset, one maximum per window offset, per-channel
statistics), backward passes with centered-difference numerical gradients.
"""
import numpy as np
import pytest

from nnl.conv_layers import (conv_backward_naive, conv_forward_naive, max_pool_backward_naive, max_pool_forward_naive,
                             spatial_batchnorm_backward, spatial_batchnorm_forward)
from utils.gradient_check import eval_numerical_gradient_array, rel_error

GRAD_TOL = 1e-6  # the course notebook reaches ~1e-7 or better on well-conditioned float64 inputs
VALUE_TOL = 1e-12

STRIDE_PAD = [(1, 0), (1, 1), (2, 1), (2, 0)]

# (x shape (N, C, H, W), w shape (F, C, HH, WW)): square, non-square input, non-square filter
CONV_SHAPES = {
    "square": ((2, 3, 6, 6), (4, 3, 3, 3)),
    "wide-input": ((2, 2, 5, 7), (3, 2, 3, 3)),
    "tall-filter": ((2, 2, 6, 5), (3, 2, 3, 2)),
}

# (x shape, pool_height, pool_width, stride)
POOL_CASES = {
    "2x2-stride2": ((2, 3, 4, 6), 2, 2, 2),
    "3x3-stride2-overlapping": ((2, 2, 7, 7), 3, 3, 2),
    "2x3-stride1-overlapping": ((2, 2, 5, 6), 2, 3, 1),
    "3x2-stride2-uneven": ((1, 3, 8, 5), 3, 2, 2),
}


def conv_by_filter_offsets(x, w, b, stride, pad):
    """Independent convolution: for each filter offset (i, j), one einsum over strided input pixels."""
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    out_height = (H + 2 * pad - HH) // stride + 1
    out_width = (W + 2 * pad - WW) // stride + 1
    padded = np.zeros((N, C, H + 2 * pad, W + 2 * pad))
    padded[:, :, pad:pad + H, pad:pad + W] = x
    out = np.broadcast_to(b.reshape(1, F, 1, 1), (N, F, out_height, out_width)).copy()
    for i in range(HH):
        for j in range(WW):
            pixels = padded[:, :, i:i + stride * out_height:stride, j:j + stride * out_width:stride]
            out += np.einsum("nchw,fc->nfhw", pixels, w[:, :, i, j])
    return out


def max_by_window_offsets(x, pool_height, pool_width, stride):
    """Independent max pooling: the elementwise maximum over every offset inside the window."""
    _, _, H, W = x.shape
    out_height = (H - pool_height) // stride + 1
    out_width = (W - pool_width) // stride + 1
    out = np.full(x.shape[:2] + (out_height, out_width), -np.inf)
    for i in range(pool_height):
        for j in range(pool_width):
            out = np.maximum(out, x[:, :, i:i + stride * out_height:stride, j:j + stride * out_width:stride])
    return out


def assert_matches(actual, expected, what, hint, tol=VALUE_TOL):
    """Shape first, then the largest relative error, with a hint at the likely mistake."""
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    error = rel_error(actual, expected)
    assert error < tol, f"{what}: relative error {error:.1e} > {tol:.0e}; {hint}"


def conv_inputs(rng, shape_name):
    x_shape, w_shape = CONV_SHAPES[shape_name]
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    return x, w, b


# ---------------------------------------------------------------- convolution, forward

@pytest.mark.parametrize("shape_name", CONV_SHAPES)
@pytest.mark.parametrize("stride,pad", STRIDE_PAD)
def test_conv_forward_output_shape_follows_formula(rng, shape_name, stride, pad):
    x, w, b = conv_inputs(rng, shape_name)
    N, _, H, W = x.shape
    F, _, HH, WW = w.shape
    out, _ = conv_forward_naive(x, w, b, {"stride": stride, "pad": pad})
    expected = (N, F, 1 + (H + 2 * pad - HH) // stride, 1 + (W + 2 * pad - WW) // stride)
    assert out.shape == expected, f"out shape {out.shape}, expected (N, F, H', W') = {expected}"


@pytest.mark.parametrize("shape_name", CONV_SHAPES)
@pytest.mark.parametrize("stride,pad", STRIDE_PAD)
def test_conv_forward_matches_independent_convolution(rng, shape_name, stride, pad):
    x, w, b = conv_inputs(rng, shape_name)
    out, _ = conv_forward_naive(x, w, b, {"stride": stride, "pad": pad})
    assert_matches(out, conv_by_filter_offsets(x, w, b, stride, pad), "conv_forward_naive out",
                   "check the window slicing (row * stride) and that each filter sums over all C channels")


def test_conv_forward_reproduces_course_notebook_values():
    """The values the course's conv notebook has always printed for this linspace input."""
    x = np.linspace(-0.1, 0.5, num=2 * 3 * 4 * 4).reshape(2, 3, 4, 4)
    w = np.linspace(-0.2, 0.3, num=3 * 3 * 4 * 4).reshape(3, 3, 4, 4)
    b = np.linspace(-0.1, 0.2, num=3)
    expected = np.array([[[[-0.08759809, -0.10987781], [-0.18387192, -0.2109216]],
                          [[0.21027089, 0.21661097], [0.22847626, 0.23004637]],
                          [[0.50813986, 0.54309974], [0.64082444, 0.67101435]]],
                         [[[-0.98053589, -1.03143541], [-1.19128892, -1.24695841]],
                          [[0.69108355, 0.66880383], [0.59480972, 0.56776003]],
                          [[2.36270298, 2.36904306], [2.38090835, 2.38247847]]]])
    out, _ = conv_forward_naive(x, w, b, {"stride": 2, "pad": 1})
    assert_matches(out, expected, "conv_forward_naive out", "see the notebook's conv check", tol=1e-7)


def test_conv_forward_accepts_float_pad():
    """`(filter_size - 1) / 2` gives 3.0 for 7x7 filters: same output as pad=3, 'same' size."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((1, 2, 5, 6))
    w = rng.standard_normal((2, 2, 7, 7))
    b = rng.standard_normal(2)
    out_float, _ = conv_forward_naive(x, w, b, {"stride": 1, "pad": (7 - 1) / 2})
    out_int, _ = conv_forward_naive(x, w, b, {"stride": 1, "pad": 3})
    assert out_float.shape == (1, 2, 5, 6), f"pad 3.0 with 7x7 filters must keep 5x6, got {out_float.shape[2:]}"
    assert_matches(out_float, out_int, "out with pad=3.0", "convert pad with int(pad)")


def test_conv_forward_does_not_modify_its_input(rng):
    x, w, b = conv_inputs(rng, "square")
    x_before, w_before = x.copy(), w.copy()
    conv_forward_naive(x, w, b, {"stride": 1, "pad": 1})
    assert np.array_equal(x, x_before) and np.array_equal(w, w_before), "x or w was changed in place"


# ---------------------------------------------------------------- convolution, backward

def conv_numerical_gradient(name, x, w, b, conv_param, dout):
    """The numerical gradient of sum(out * dout) with respect to x, w or b."""
    if name == "dx":
        return eval_numerical_gradient_array(lambda v: conv_forward_naive(v, w, b, conv_param)[0], x, dout)
    if name == "dw":
        return eval_numerical_gradient_array(lambda v: conv_forward_naive(x, v, b, conv_param)[0], w, dout)
    return eval_numerical_gradient_array(lambda v: conv_forward_naive(x, w, v, conv_param)[0], b, dout)


CONV_GRAD_HINTS = {
    "dx": "accumulate (+=) into overlapping windows of a padded dx, then strip the padding",
    "dw": "dw[f] sums dout[n, f, i, j] * window over every image and output position",
    "db": "db[f] sums dout over N, H' and W'",
}


@pytest.mark.parametrize("name", ["dx", "dw", "db"])
@pytest.mark.parametrize("shape_name", CONV_SHAPES)
@pytest.mark.parametrize("stride,pad", STRIDE_PAD)
def test_conv_backward_matches_numerical_gradient(rng, shape_name, stride, pad, name):
    x, w, b = conv_inputs(rng, shape_name)
    conv_param = {"stride": stride, "pad": pad}
    out, cache = conv_forward_naive(x, w, b, conv_param)
    dout = rng.standard_normal(out.shape)
    analytic = dict(zip(("dx", "dw", "db"), conv_backward_naive(dout, cache)))
    numerical = conv_numerical_gradient(name, x, w, b, conv_param, dout)
    assert_matches(analytic[name], numerical, name, CONV_GRAD_HINTS[name], tol=GRAD_TOL)


@pytest.mark.parametrize("name", ["dx", "dw", "db"])
def test_conv_backward_with_float_pad_matches_numerical_gradient(name):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((1, 2, 4, 5))
    w = rng.standard_normal((2, 2, 7, 7))
    b = rng.standard_normal(2)
    conv_param = {"stride": 1, "pad": 3.0}
    out, cache = conv_forward_naive(x, w, b, conv_param)
    dout = rng.standard_normal(out.shape)
    analytic = dict(zip(("dx", "dw", "db"), conv_backward_naive(dout, cache)))
    numerical = conv_numerical_gradient(name, x, w, b, conv_param, dout)
    assert_matches(analytic[name], numerical, name + " (pad=3.0)", "convert pad with int(pad)", tol=GRAD_TOL)


# ---------------------------------------------------------------- max pooling

def pool_inputs(rng, case):
    x_shape, pool_height, pool_width, stride = POOL_CASES[case]
    pool_param = {"pool_height": pool_height, "pool_width": pool_width, "stride": stride}
    return rng.standard_normal(x_shape), pool_param


@pytest.mark.parametrize("case", POOL_CASES)
def test_max_pool_forward_matches_independent_maximum(rng, case):
    x, pool_param = pool_inputs(rng, case)
    out, _ = max_pool_forward_naive(x, pool_param)
    expected = max_by_window_offsets(x, pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"])
    assert_matches(out, expected, "max_pool_forward_naive out",
                   "H' = 1 + (H - pool_height) // stride; pool_height goes with rows, pool_width with columns")


@pytest.mark.parametrize("case", POOL_CASES)
def test_max_pool_backward_matches_numerical_gradient(rng, case):
    x, pool_param = pool_inputs(rng, case)
    out, cache = max_pool_forward_naive(x, pool_param)
    dout = rng.standard_normal(out.shape)
    dx = max_pool_backward_naive(dout, cache)
    dx_num = eval_numerical_gradient_array(lambda v: max_pool_forward_naive(v, pool_param)[0], x, dout)
    assert_matches(dx, dx_num, "max pool dx", "route each dout to its window's argmax, with += for overlaps",
                   tol=GRAD_TOL)


def test_max_pool_backward_adds_up_gradients_of_overlapping_windows():
    """The centre of a 3x3 image is the maximum of all four 2x2 stride-1 windows: it gets all four dout."""
    x = np.array([[[[0.1, 0.2, 0.3],
                    [0.4, 0.9, 0.5],
                    [0.6, 0.7, 0.8]]]])
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 1}
    out, cache = max_pool_forward_naive(x, pool_param)
    assert np.all(out == 0.9), f"every window's maximum is the centre 0.9, got {out.ravel()}"
    dout = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    dx = max_pool_backward_naive(dout, cache)
    expected = np.zeros_like(x)
    expected[0, 0, 1, 1] = 10.0
    assert np.array_equal(dx, expected), f"dx should be 10 at the centre and 0 elsewhere, got\n{dx[0, 0]}"


def test_max_pool_backward_passes_a_tie_to_one_element_only():
    """A window of equal values passes its gradient on once (to the first maximum), not once per tie."""
    x = np.ones((1, 1, 2, 2))
    _, cache = max_pool_forward_naive(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    dx = max_pool_backward_naive(np.array([[[[5.0]]]]), cache)
    assert dx.sum() == 5.0 and dx[0, 0, 0, 0] == 5.0, f"expected all of dout on the first element, got\n{dx[0, 0]}"


# ---------------------------------------------------------------- spatial batch normalization

BN_SHAPES = [(2, 3, 4, 5), (4, 2, 3, 3), (3, 4, 2, 6)]


def channel_stats(a):
    return a.mean(axis=(0, 2, 3)), a.std(axis=(0, 2, 3))


@pytest.mark.parametrize("shape", BN_SHAPES)
def test_spatial_batchnorm_train_gives_means_beta_and_stds_gamma(rng, shape):
    C = shape[1]
    x = 4 * rng.standard_normal(shape) + 10
    gamma = rng.uniform(1, 5, size=C)
    beta = rng.uniform(-5, 5, size=C)
    out, _ = spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"})
    assert out.shape == shape, f"out shape {out.shape}, expected {shape}"
    means, stds = channel_stats(out)
    assert np.allclose(means, beta, atol=1e-9), f"per-channel means {means}, expected beta {beta}"
    assert np.allclose(stds, gamma, rtol=1e-4), f"per-channel stds {stds}, expected gamma {gamma}"


@pytest.mark.parametrize("shape", BN_SHAPES)
def test_spatial_batchnorm_train_normalizes_each_channel_over_n_h_w(rng, shape):
    C = shape[1]
    x = 3 * rng.standard_normal(shape) - 2
    gamma, beta = rng.standard_normal(C), rng.standard_normal(C)
    eps = 1e-5
    out, _ = spatial_batchnorm_forward(x, gamma, beta, {"mode": "train", "eps": eps})
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    var = x.var(axis=(0, 2, 3), keepdims=True)
    expected = gamma.reshape(1, C, 1, 1) * (x - mean) / np.sqrt(var + eps) + beta.reshape(1, C, 1, 1)
    assert_matches(out, expected, "spatial batchnorm out",
                   "output is (N, H, W, C)-ordered: transpose back, not only reshape?", tol=1e-10)


@pytest.mark.parametrize("momentum", [0.9, 0.5])
def test_spatial_batchnorm_running_averages_follow_the_update_rule(rng, momentum):
    shape = (3, 4, 2, 5)
    C = shape[1]
    gamma, beta = np.ones(C), np.zeros(C)
    bn_param = {"mode": "train", "momentum": momentum}
    running_mean, running_var = np.zeros(C), np.zeros(C)
    for _ in range(4):
        x = rng.standard_normal(shape) * rng.uniform(1, 3) + rng.uniform(-2, 2)
        spatial_batchnorm_forward(x, gamma, beta, bn_param)
        running_mean = momentum * running_mean + (1 - momentum) * x.mean(axis=(0, 2, 3))
        running_var = momentum * running_var + (1 - momentum) * x.var(axis=(0, 2, 3))
    assert_matches(bn_param["running_mean"], running_mean, "running_mean", "one entry per channel, (C,)")
    assert_matches(bn_param["running_var"], running_var, "running_var", "uncorrected variance per channel, (C,)")


def test_spatial_batchnorm_test_mode_uses_running_averages(rng):
    shape = (2, 3, 4, 5)
    C = shape[1]
    x = rng.standard_normal(shape)
    gamma, beta = rng.uniform(1, 2, size=C), rng.standard_normal(C)
    running_mean, running_var = rng.standard_normal(C), rng.uniform(0.5, 2, size=C)
    bn_param = {"mode": "test", "running_mean": running_mean.copy(), "running_var": running_var.copy()}
    out, _ = spatial_batchnorm_forward(x, gamma, beta, bn_param)
    expected = (gamma.reshape(1, C, 1, 1) * (x - running_mean.reshape(1, C, 1, 1))
                / np.sqrt(running_var.reshape(1, C, 1, 1) + 1e-5) + beta.reshape(1, C, 1, 1))
    assert_matches(out, expected, "test-mode out", "test mode normalizes with the running mean and variance")
    assert np.array_equal(bn_param["running_mean"], running_mean), "test mode must not update running_mean"


BN_GRAD_HINTS = {
    "dx": "transpose dout to (N, H, W, C) before reshaping, and transpose dx back",
    "dgamma": "dgamma has one entry per channel, (C,)",
    "dbeta": "dbeta has one entry per channel, (C,)",
}


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (3, 2, 3, 2)])
@pytest.mark.parametrize("name", ["dx", "dgamma", "dbeta"])
def test_spatial_batchnorm_backward_matches_numerical_gradient(rng, shape, name):
    C = shape[1]
    x = 5 * rng.standard_normal(shape) + 12
    gamma, beta = rng.standard_normal(C), rng.standard_normal(C)
    dout = rng.standard_normal(shape)
    bn_param = {"mode": "train"}
    _, cache = spatial_batchnorm_forward(x, gamma, beta, bn_param)
    analytic = dict(zip(("dx", "dgamma", "dbeta"), spatial_batchnorm_backward(dout, cache)))
    forward_in = {
        "dx": (lambda v: spatial_batchnorm_forward(v, gamma, beta, bn_param)[0], x),
        "dgamma": (lambda v: spatial_batchnorm_forward(x, v, beta, bn_param)[0], gamma),
        "dbeta": (lambda v: spatial_batchnorm_forward(x, gamma, v, bn_param)[0], beta),
    }
    f, point = forward_in[name]
    numerical = eval_numerical_gradient_array(f, point, dout)
    assert_matches(analytic[name], numerical, name, BN_GRAD_HINTS[name], tol=GRAD_TOL)
