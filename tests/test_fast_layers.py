"""The provided fast layers agree with the naive ones, and the sandwich layers built on them.

The fast layers are what students train with, so they must compute exactly
what the naive layers compute (to 1e-9) everywhere the assignment's domain
goes: stride 1, 2 and 3, padding 0 and more (also a float pad), non-square
inputs and filters, pooling windows that tile the input (the reshape fast path),
do not tile it (rows and columns left over), overlap or leave gaps, and ties,
which must go to the first maximum of each window as in the naive layer.
"""
import numpy as np
import pytest

from nnl.conv_layer_utils import (conv_bn_relu_backward, conv_bn_relu_forward, conv_bn_relu_pool_backward,
                                  conv_bn_relu_pool_forward, conv_relu_backward, conv_relu_forward,
                                  conv_relu_pool_backward, conv_relu_pool_forward)
from nnl.conv_layers import (conv_backward_naive, conv_forward_naive, max_pool_backward_naive, max_pool_forward_naive,
                             spatial_batchnorm_forward)
from nnl.fast_layers import conv_backward_fast, conv_forward_fast, max_pool_backward_fast, max_pool_forward_fast
from utils.gradient_check import eval_numerical_gradient_array, rel_error

AGREE_TOL = 1e-9
GRAD_TOL = 1e-6

# (x shape, w shape, stride, pad)
CONV_DOMAIN = {
    "3x3-s1-p0": ((2, 3, 7, 7), (4, 3, 3, 3), 1, 0),
    "3x3-s1-p1": ((2, 3, 7, 7), (4, 3, 3, 3), 1, 1),
    "3x3-s2-p1": ((2, 3, 7, 7), (4, 3, 3, 3), 2, 1),
    "3x3-s2-p0-uneven": ((2, 3, 8, 8), (4, 3, 3, 3), 2, 0),
    "wide-input-s2-p1": ((3, 2, 6, 9), (3, 2, 3, 3), 2, 1),
    "tall-filter-s1-p2": ((2, 2, 5, 6), (3, 2, 5, 2), 1, 2),
    "wide-filter-s2-p0": ((2, 2, 7, 8), (3, 2, 2, 4), 2, 0),
    "7x7-float-pad-3.0": ((2, 3, 8, 8), (4, 3, 7, 7), 1, 3.0),
    "1x1-filter": ((2, 5, 4, 3), (2, 5, 1, 1), 1, 0),
    "non-square-s2-float-pad-1.0": ((2, 3, 9, 6), (5, 3, 3, 2), 2, 1.0),
    "5x3-filter-s3-p1": ((3, 2, 11, 8), (4, 2, 5, 3), 3, 1),
    "filter-as-large-as-input": ((2, 3, 5, 4), (2, 3, 5, 4), 1, 0),
    "one-image-many-channels": ((1, 7, 6, 6), (3, 7, 3, 3), 1, 1),
}

# (x shape, pool_height, pool_width, stride)
POOL_DOMAIN = {
    "2x2-s2": ((2, 3, 8, 8), 2, 2, 2),
    "2x2-s2-odd-input": ((2, 3, 7, 9), 2, 2, 2),
    "3x3-s2-overlapping": ((2, 3, 9, 7), 3, 3, 2),
    "2x3-s1-overlapping": ((2, 2, 5, 6), 2, 3, 1),
    "3x2-s2-non-square": ((1, 4, 8, 5), 3, 2, 2),
    "4x4-s1": ((2, 2, 6, 6), 4, 4, 1),
    "2x2-s2-non-square-input": ((2, 3, 6, 10), 2, 2, 2),
    "3x3-s3-leaves-rows-and-columns": ((2, 2, 10, 11), 3, 3, 3),
    "2x2-s3-gaps": ((2, 3, 8, 7), 2, 2, 3),
    "1x1-s1": ((2, 3, 4, 5), 1, 1, 1),
    "window-as-large-as-input": ((2, 3, 4, 6), 4, 6, 1),
}

# pool cases whose windows tile the input (pool_height == pool_width == stride): the reshape fast path
TILING_POOL_CASES = [case for case, (_, height, width, stride) in POOL_DOMAIN.items() if height == width == stride]


def assert_agrees(fast, naive, what, tol=AGREE_TOL):
    """Shape first, then the largest relative error of the fast result against the naive one."""
    assert fast.shape == naive.shape, f"{what}: fast shape {fast.shape}, naive shape {naive.shape}"
    error = rel_error(fast, naive)
    assert error < tol, f"{what}: fast and naive differ by relative error {error:.1e} > {tol:.0e}"


def conv_case(rng, case):
    x_shape, w_shape, stride, pad = CONV_DOMAIN[case]
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    return x, w, b, {"stride": stride, "pad": pad}


def pool_case(rng, case):
    x_shape, pool_height, pool_width, stride = POOL_DOMAIN[case]
    return rng.standard_normal(x_shape), {"pool_height": pool_height, "pool_width": pool_width, "stride": stride}


# ---------------------------------------------------------------- fast vs naive

@pytest.mark.parametrize("case", CONV_DOMAIN)
def test_conv_forward_fast_agrees_with_naive(rng, case):
    x, w, b, conv_param = conv_case(rng, case)
    out_fast, _ = conv_forward_fast(x, w, b, conv_param)
    out_naive, _ = conv_forward_naive(x, w, b, conv_param)
    assert_agrees(out_fast, out_naive, "conv out")


@pytest.mark.parametrize("name", ["dx", "dw", "db"])
@pytest.mark.parametrize("case", CONV_DOMAIN)
def test_conv_backward_fast_agrees_with_naive(rng, case, name):
    x, w, b, conv_param = conv_case(rng, case)
    out, cache_fast = conv_forward_fast(x, w, b, conv_param)
    _, cache_naive = conv_forward_naive(x, w, b, conv_param)
    dout = rng.standard_normal(out.shape)
    fast = dict(zip(("dx", "dw", "db"), conv_backward_fast(dout, cache_fast)))
    naive = dict(zip(("dx", "dw", "db"), conv_backward_naive(dout, cache_naive)))
    assert_agrees(fast[name], naive[name], f"conv {name}")


@pytest.mark.parametrize("case", POOL_DOMAIN)
def test_max_pool_forward_fast_agrees_with_naive(rng, case):
    x, pool_param = pool_case(rng, case)
    out_fast, _ = max_pool_forward_fast(x, pool_param)
    out_naive, _ = max_pool_forward_naive(x, pool_param)
    assert_agrees(out_fast, out_naive, "max pool out")


@pytest.mark.parametrize("case", POOL_DOMAIN)
def test_max_pool_backward_fast_agrees_with_naive(rng, case):
    x, pool_param = pool_case(rng, case)
    out, cache_fast = max_pool_forward_fast(x, pool_param)
    _, cache_naive = max_pool_forward_naive(x, pool_param)
    dout = rng.standard_normal(out.shape)
    assert_agrees(max_pool_backward_fast(dout, cache_fast), max_pool_backward_naive(dout, cache_naive), "max pool dx")


def test_the_tiling_fast_path_is_covered():
    """The domain must reach both pooling paths, with and without rows and columns left over."""
    assert {"2x2-s2", "2x2-s2-odd-input", "3x3-s3-leaves-rows-and-columns"} <= set(TILING_POOL_CASES)
    assert set(POOL_DOMAIN) - set(TILING_POOL_CASES), "no overlapping or gapped windows in the domain"


@pytest.mark.parametrize("case", POOL_DOMAIN)
def test_max_pool_fast_breaks_ties_like_naive(rng, case):
    """Small integers tie often (as ReLU zeros do): both pass each window's gradient to its first maximum."""
    x_shape, pool_height, pool_width, stride = POOL_DOMAIN[case]
    x = rng.integers(0, 3, size=x_shape).astype(np.float64)
    pool_param = {"pool_height": pool_height, "pool_width": pool_width, "stride": stride}
    out, cache_fast = max_pool_forward_fast(x, pool_param)
    _, cache_naive = max_pool_forward_naive(x, pool_param)
    dout = rng.standard_normal(out.shape)
    # exact: a tie must not spread the gradient, and each value moves unchanged
    np.testing.assert_array_equal(max_pool_backward_fast(dout, cache_fast), max_pool_backward_naive(dout, cache_naive),
                                  err_msg=f"max pool dx with ties ({case})")


@pytest.mark.parametrize("case", TILING_POOL_CASES)
def test_max_pool_fast_gives_a_constant_window_its_top_left_pixel(rng, case):
    """All pixels of every window tie (an all-zero ReLU output): the gradient goes to each window's first pixel."""
    x_shape, pool_height, pool_width, stride = POOL_DOMAIN[case]
    pool_param = {"pool_height": pool_height, "pool_width": pool_width, "stride": stride}
    out, cache = max_pool_forward_fast(np.zeros(x_shape), pool_param)
    dout = rng.standard_normal(out.shape)
    expected = np.zeros(x_shape)
    out_height, out_width = out.shape[2:]
    expected[:, :, 0:stride * out_height:stride, 0:stride * out_width:stride] = dout
    np.testing.assert_array_equal(max_pool_backward_fast(dout, cache), expected)


@pytest.mark.parametrize("case", ["2x2-s2", "3x3-s2-overlapping"])
def test_max_pool_fast_handles_windows_of_negative_values(rng, case):
    """A window whose every value is negative still has its maximum (no zero start value wins)."""
    x, pool_param = pool_case(rng, case)
    x = x - 10.0
    out_fast, cache_fast = max_pool_forward_fast(x, pool_param)
    out_naive, cache_naive = max_pool_forward_naive(x, pool_param)
    assert_agrees(out_fast, out_naive, "max pool out, negative inputs")
    dout = rng.standard_normal(out_fast.shape)
    assert_agrees(max_pool_backward_fast(dout, cache_fast), max_pool_backward_naive(dout, cache_naive),
                  "max pool dx, negative inputs")


@pytest.mark.parametrize("layer", ["conv", "pool-tiling", "pool-overlapping"])
def test_fast_layers_leave_their_inputs_and_caches_unchanged(rng, layer):
    """A backward pass may run twice on one cache (a gradient check does): same result, inputs untouched."""
    x = rng.standard_normal((2, 3, 8, 8))
    x_before = x.copy()
    if layer == "conv":
        w = rng.standard_normal((4, 3, 3, 3))
        out, cache = conv_forward_fast(x, w, np.zeros(4), {"stride": 1, "pad": 1})
        backward = conv_backward_fast
    else:
        size, stride = (2, 2) if layer == "pool-tiling" else (3, 1)
        out, cache = max_pool_forward_fast(x, {"pool_height": size, "pool_width": size, "stride": stride})
        backward = max_pool_backward_fast
    dout = rng.standard_normal(out.shape)
    dout_before = dout.copy()
    first, second = backward(dout, cache), backward(dout, cache)
    if layer != "conv":
        first, second = (first,), (second,)  # pooling returns dx alone
    for once, twice in zip(first, second):
        np.testing.assert_array_equal(once, twice, err_msg=f"{layer}: a second backward on the same cache differs")
    np.testing.assert_array_equal(x, x_before, err_msg=f"{layer}: the forward pass changed x")
    np.testing.assert_array_equal(dout, dout_before, err_msg=f"{layer}: the backward pass changed dout")


@pytest.mark.parametrize("layer", ["conv", "conv-stride-2", "pool-tiling", "pool-not-tiling", "pool-overlapping"])
def test_fast_layers_keep_float32(rng, layer):
    """The network trains in float32: the fast layers must not silently upcast to float64."""
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    if layer.startswith("conv"):
        w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
        b = np.zeros(4, dtype=np.float32)
        out, cache = conv_forward_fast(x, w, b, {"stride": 2 if layer == "conv-stride-2" else 1, "pad": 1})
        grads = conv_backward_fast(np.ones_like(out), cache)
    else:
        size, stride = {"pool-tiling": (2, 2), "pool-not-tiling": (3, 3), "pool-overlapping": (3, 2)}[layer]
        out, cache = max_pool_forward_fast(x, {"pool_height": size, "pool_width": size, "stride": stride})
        grads = (max_pool_backward_fast(np.ones_like(out), cache),)
    dtypes = [out.dtype] + [g.dtype for g in grads]
    assert all(d == np.float32 for d in dtypes), f"{layer}: dtypes {dtypes}, expected float32 throughout"


def assert_within_float32_rounding(fast, naive, scale, terms, what):
    """Each entry of ``fast`` (float32) within float32's worst-case rounding of ``naive`` (float64).

    ``scale`` holds, for each entry, the sum of the absolute values of the products it adds up,
    and ``terms`` how many there are at most: rounding the inputs to float32 and adding ``terms``
    products in float32 can move an entry by at most about ``(terms + 2) * eps * scale``, in any
    order of summation (so whatever order the CPU's matrix library picks). An elementwise
    relative error is no bound here: an entry whose products cancel out is small, and its
    relative error large, only on some CPUs.
    """
    assert fast.shape == naive.shape, f"{what}: fast shape {fast.shape}, naive shape {naive.shape}"
    bound = (terms + 2) * np.finfo(np.float32).eps * scale + np.finfo(np.float32).tiny
    excess = np.abs(fast.astype(np.float64) - naive) / bound
    assert excess.max() <= 1, f"{what}: an entry is {excess.max():.1f}x float32's rounding bound off the naive layer"


@pytest.mark.parametrize("case", ["3x3-s1-p1", "7x7-float-pad-3.0", "non-square-s2-float-pad-1.0"])
def test_conv_fast_in_float32_agrees_with_naive_in_float64(rng, case):
    """In float32 the only difference from the float64 naive layer is float32 rounding."""
    x, w, b, conv_param = conv_case(rng, case)
    out32, cache32 = conv_forward_fast(x.astype(np.float32), w.astype(np.float32), b.astype(np.float32), conv_param)
    out64, cache64 = conv_forward_naive(x, w, b, conv_param)
    dout = rng.standard_normal(out64.shape)
    grads32 = conv_backward_fast(dout.astype(np.float32), cache32)
    grads64 = conv_backward_naive(dout, cache64)
    # the same layers on absolute values: each entry's sum of absolute products
    abs_out, abs_cache = conv_forward_naive(np.abs(x), np.abs(w), np.abs(b), conv_param)
    abs_grads = conv_backward_naive(np.abs(dout), abs_cache)
    (N, C, _, _), (F, _, HH, WW), (_, _, out_height, out_width) = x.shape, w.shape, out64.shape
    terms = max(C * HH * WW + 1, F * HH * WW, N * out_height * out_width)
    assert_within_float32_rounding(out32, out64, abs_out, terms, "conv out, float32")
    for name, fast, naive, scale in zip(("dx", "dw", "db"), grads32, grads64, abs_grads):
        assert_within_float32_rounding(fast, naive, scale, terms, f"conv {name}, float32")


# ---------------------------------------------------------------- sandwich layers

CONV_PARAM = {"stride": 1, "pad": 1}
POOL_PARAM = {"pool_height": 2, "pool_width": 2, "stride": 2}


def sandwich_inputs(rng):
    x = rng.standard_normal((2, 3, 6, 8))
    w = rng.standard_normal((3, 3, 3, 3))
    b = rng.standard_normal(3)
    gamma = rng.uniform(0.5, 2.0, size=3)
    beta = rng.standard_normal(3)
    return {"x": x, "w": w, "b": b, "gamma": gamma, "beta": beta}


def relu(a):
    return np.maximum(a, 0)


def test_conv_relu_pool_forward_is_conv_then_relu_then_pool(rng):
    p = sandwich_inputs(rng)
    out, _ = conv_relu_pool_forward(p["x"], p["w"], p["b"], CONV_PARAM, POOL_PARAM)
    conv, _ = conv_forward_naive(p["x"], p["w"], p["b"], CONV_PARAM)
    expected, _ = max_pool_forward_naive(relu(conv), POOL_PARAM)
    assert_agrees(out, expected, "conv_relu_pool_forward out")


def test_conv_bn_relu_forward_is_conv_then_batchnorm_then_relu(rng):
    p = sandwich_inputs(rng)
    out, _ = conv_bn_relu_forward(p["x"], p["w"], p["b"], p["gamma"], p["beta"], CONV_PARAM, {"mode": "train"})
    conv, _ = conv_forward_naive(p["x"], p["w"], p["b"], CONV_PARAM)
    normalized, _ = spatial_batchnorm_forward(conv, p["gamma"], p["beta"], {"mode": "train"})
    assert_agrees(out, relu(normalized), "conv_bn_relu_forward out")


def test_conv_bn_relu_pool_forward_updates_the_running_averages(rng):
    p = sandwich_inputs(rng)
    bn_param = {"mode": "train"}
    conv_bn_relu_pool_forward(p["x"], p["w"], p["b"], p["gamma"], p["beta"], CONV_PARAM, bn_param, POOL_PARAM)
    conv, _ = conv_forward_naive(p["x"], p["w"], p["b"], CONV_PARAM)
    expected = 0.1 * conv.mean(axis=(0, 2, 3))  # momentum 0.9 from zeros
    assert "running_mean" in bn_param, "the caller's bn_param must receive the running averages"
    assert_agrees(bn_param["running_mean"], expected, "running_mean after one call")


SANDWICHES = {
    "conv_relu": (
        lambda p, bn: conv_relu_forward(p["x"], p["w"], p["b"], CONV_PARAM),
        conv_relu_backward, ("x", "w", "b")),
    "conv_relu_pool": (
        lambda p, bn: conv_relu_pool_forward(p["x"], p["w"], p["b"], CONV_PARAM, POOL_PARAM),
        conv_relu_pool_backward, ("x", "w", "b")),
    "conv_bn_relu": (
        lambda p, bn: conv_bn_relu_forward(p["x"], p["w"], p["b"], p["gamma"], p["beta"], CONV_PARAM, bn),
        conv_bn_relu_backward, ("x", "w", "b", "gamma", "beta")),
    "conv_bn_relu_pool": (
        lambda p, bn: conv_bn_relu_pool_forward(p["x"], p["w"], p["b"], p["gamma"], p["beta"],
                                                CONV_PARAM, bn, POOL_PARAM),
        conv_bn_relu_pool_backward, ("x", "w", "b", "gamma", "beta")),
}

# Batchnorm right after the conv removes any per-channel constant, so the conv bias has no effect there:
# its gradient is zero, and a relative error between two zeros measures only rounding noise.
SANDWICH_PARAMS = [(name, param) for name, (_, _, params) in SANDWICHES.items() for param in params
                   if not (param == "b" and "bn" in name)]


@pytest.mark.parametrize("sandwich,param", SANDWICH_PARAMS)
def test_sandwich_backward_matches_numerical_gradient(rng, sandwich, param):
    forward, backward, params = SANDWICHES[sandwich]
    inputs = sandwich_inputs(rng)
    bn_param = {"mode": "train"}
    out, cache = forward(inputs, bn_param)
    dout = rng.standard_normal(out.shape)
    analytic = dict(zip(params, backward(dout, cache)))

    def out_with(value):
        return forward(inputs | {param: value}, bn_param)[0]

    numerical = eval_numerical_gradient_array(out_with, inputs[param], dout)
    assert_agrees(analytic[param], numerical, f"{sandwich}_backward d{param} vs numerical", tol=GRAD_TOL)


@pytest.mark.parametrize("sandwich", ["conv_bn_relu", "conv_bn_relu_pool"])
def test_batchnorm_sandwich_conv_bias_gradient_is_zero(rng, sandwich):
    """Spatial batchnorm subtracts each channel's mean, the conv bias with it: db must vanish."""
    forward, backward, params = SANDWICHES[sandwich]
    inputs = sandwich_inputs(rng)
    out, cache = forward(inputs, {"mode": "train"})
    db = dict(zip(params, backward(rng.standard_normal(out.shape), cache)))["b"]
    assert db.shape == (3,), f"db shape {db.shape}, expected (F,) = (3,)"
    assert np.max(np.abs(db)) < 1e-10, f"db = {db}, expected zeros (up to rounding)"
