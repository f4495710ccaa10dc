"""
The checks of nnl/conv_layers.py that ConvolutionalLayers.ipynb and SpatialBatchNorm.ipynb show.

Each check repeats cells of the notebooks: the same inputs (the same seeds), the
same hand-computed values and independent computations, the same numerical
gradients. The score cells run them (see utils/public_checks.py); they are not
your grade.
"""
import numpy as np

from utils.gradient_check import eval_numerical_gradient_array, rel_error
from utils.public_checks import expect_array, expect_close, expect_gradient, expect_near, public_check, returned

FORWARD_TOLERANCE = 1e-8    # the notebook: errors around 1e-13 or less
GRADIENT_TOLERANCE = 1e-6   # the notebook: errors around 1e-8 (conv), 1e-12 (pool), 1e-7 (batchnorm) or less


def conv_by_filter_offsets(inputs, filters, biases, stride, pad):
    """
    An independent convolution, as ConvolutionalLayers.ipynb writes it: one strided
    slice of the padded input per filter offset.

    Inputs:
    - inputs: Input data of shape (N, C, H, W)
    - filters: Filter weights of shape (F, C, HH, WW)
    - biases: Biases, of shape (F,)
    - stride, pad: As in conv_param

    Returns:
    - total: Output data, of shape (N, F, H', W')
    """
    num_filters, _, filter_height, filter_width = filters.shape
    padded = np.pad(inputs, [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    rows_out = 1 + (padded.shape[2] - filter_height) // stride
    cols_out = 1 + (padded.shape[3] - filter_width) // stride
    total = np.zeros((inputs.shape[0], num_filters, rows_out, cols_out))
    for i in range(filter_height):
        for j in range(filter_width):
            seen = padded[:, :, i:i + stride * rows_out:stride, j:j + stride * cols_out:stride]  # (N, C, H', W')
            total += np.einsum('nchw,fc->nfhw', seen, filters[:, :, i, j])
    return total + biases.reshape(1, -1, 1, 1)


def max_of_all_windows(x, pool_height, pool_width, stride):
    """
    An independent max pooling, as ConvolutionalLayers.ipynb computes it with
    np.lib.stride_tricks.sliding_window_view, which lists all windows.

    Inputs:
    - x: Input data, of shape (N, C, H, W)
    - pool_height, pool_width, stride: As in pool_param

    Returns:
    - Output data, of shape (N, C, H', W')
    """
    all_windows = np.lib.stride_tricks.sliding_window_view(x, (pool_height, pool_width), axis=(2, 3))
    return all_windows[:, :, ::stride, ::stride].max(axis=(4, 5))  # (N, C, H', W')


def agrees(forward, expected_out):
    """
    True when forward() runs and its out agrees with the notebook's independent computation.

    Inputs:
    - forward: A function of no arguments calling your forward pass on an example
    - expected_out: The notebook's independent output for that example
    """
    try:
        out = np.asarray(forward()[0], dtype=np.float64)
        return out.shape == expected_out.shape and rel_error(out, expected_out) <= FORWARD_TOLERANCE
    except Exception:
        return False


def cache_for_backward(forward, documented_cache):
    """
    Your forward pass's cache, or the cache the docstrings document when your forward pass raises.

    Inputs:
    - forward: A function of no arguments calling your forward pass on an example
    - documented_cache: The cache the docstrings document, e.g. (x, w, b, conv_param)
    """
    try:
        return forward()[1]
    except Exception:
        return documented_cache


@public_check('conv_forward_naive')
def check_conv_forward_naive(conv_layers):
    """
    The forward checks of ConvolutionalLayers.ipynb: the by-hand 3x3 example, random
    inputs with pad 0 and pad 1, and stride 2 with a non-square input and filters,
    against the notebook's independent convolution.
    """
    conv_forward_naive = conv_layers.conv_forward_naive

    x_hand = np.arange(1, 10, dtype=np.float64).reshape(1, 1, 3, 3)
    w_hand = np.ones((1, 1, 2, 2))
    b_hand = np.array([0.5])
    by_hand = np.array([[[[1 + 2 + 4 + 5, 2 + 3 + 5 + 6],
                          [4 + 5 + 7 + 8, 5 + 6 + 8 + 9]]]]) + 0.5
    example = "the notebook's by-hand 3x3 example"
    out, _ = returned(conv_forward_naive(x_hand, w_hand, b_hand, {'stride': 1, 'pad': 0}), ('out', 'cache'), example)
    expect_close('out', out, by_hand, example, tolerance=1e-12)

    np.random.seed(231)
    x = np.random.randn(2, 3, 6, 5)
    w = np.random.randn(4, 3, 3, 2)
    b = np.random.randn(4)
    for padding in [0, 1]:
        example = "the notebook's pad %d example" % padding
        out, _ = returned(conv_forward_naive(x, w, b, {'stride': 1, 'pad': padding}), ('out', 'cache'), example)
        expect_close('out', out, conv_by_filter_offsets(x, w, b, stride=1, pad=padding), example, FORWARD_TOLERANCE)

    np.random.seed(231)
    x = np.random.randn(2, 3, 7, 6)
    w = np.random.randn(3, 3, 3, 2)
    b = np.random.randn(3,)
    example = "the notebook's stride 2 example (7x6 input, 3x2 filters, pad 1)"
    out, _ = returned(conv_forward_naive(x, w, b, {'stride': 2, 'pad': 1}), ('out', 'cache'), example)
    expect_close('out', out, conv_by_filter_offsets(x, w, b, stride=2, pad=1), example, FORWARD_TOLERANCE)


@public_check('conv_backward_naive')
def check_conv_backward_naive(conv_layers):
    """
    The stride 2 gradient check of ConvolutionalLayers.ipynb (7x6 inputs, 3x2 filters,
    stride 2, pad 1): dx, dw and db against numerical gradients.

    As in the notebook, the numerical gradients are those of your conv_forward_naive.
    When it disagrees with the notebook's independent convolution (or is not written
    yet), they are those of the independent convolution, and the cache is the
    documented (x, w, b, conv_param) if your forward pass raises: a mistake in the
    forward pass then shows in its own score cell only.
    """
    conv_forward_naive, conv_backward_naive = conv_layers.conv_forward_naive, conv_layers.conv_backward_naive
    np.random.seed(231)
    x = np.random.randn(2, 3, 7, 6)
    w = np.random.randn(3, 3, 3, 2)
    b = np.random.randn(3,)
    conv_param = {'stride': 2, 'pad': 1}
    dout = np.random.randn(2, 3, 4, 4)
    example = "the notebook's stride 2 example (7x6 input, 3x2 filters, pad 1)"

    if agrees(lambda: conv_forward_naive(x, w, b, conv_param), conv_by_filter_offsets(x, w, b, stride=2, pad=1)):
        forward = lambda x, w, b: conv_forward_naive(x, w, b, conv_param)[0]
    else:
        forward = lambda x, w, b: conv_by_filter_offsets(x, w, b, stride=2, pad=1)
    dx_num = eval_numerical_gradient_array(lambda x_probe: forward(x_probe, w, b), x, dout)
    dw_num = eval_numerical_gradient_array(lambda w_probe: forward(x, w_probe, b), w, dout)
    db_num = eval_numerical_gradient_array(lambda b_probe: forward(x, w, b_probe), b, dout)

    cache = cache_for_backward(lambda: conv_forward_naive(x, w, b, conv_param), (x, w, b, conv_param))
    dx, dw, db = returned(conv_backward_naive(dout, cache), ('dx', 'dw', 'db'), example)
    expect_gradient('dx', dx, dx_num, example, GRADIENT_TOLERANCE)
    expect_gradient('dw', dw, dw_num, example, GRADIENT_TOLERANCE)
    expect_gradient('db', db, db_num, example, GRADIENT_TOLERANCE)


@public_check('max_pool_forward_naive')
def check_max_pool_forward_naive(conv_layers):
    """
    The forward checks of ConvolutionalLayers.ipynb: the by-hand 4x4 example, then
    non-overlapping 2x2 windows and overlapping 3x3 windows with stride 2, against the
    notebook's independent computations.
    """
    max_pool_forward_naive = conv_layers.max_pool_forward_naive

    x_hand = np.array([[[[1., 5., 2., 0.],
                         [3., 4., 8., 7.],
                         [0., 2., 1., 1.],
                         [6., 1., 3., 9.]]]])
    example = "the notebook's by-hand 4x4 example"
    out, _ = returned(max_pool_forward_naive(x_hand, {'pool_height': 2, 'pool_width': 2, 'stride': 2}),
                      ('out', 'cache'), example)
    expect_close('out', out, np.array([[[[5., 8.], [6., 9.]]]]), example, tolerance=1e-12)

    np.random.seed(231)
    x = np.random.randn(2, 3, 8, 6)
    example = "the notebook's 2x2 stride 2 example"
    out, _ = returned(max_pool_forward_naive(x, {'pool_height': 2, 'pool_width': 2, 'stride': 2}),
                      ('out', 'cache'), example)
    window_maxima = x.reshape(2, 3, 4, 2, 3, 2).max(axis=(3, 5))  # (N, C, H', W')
    expect_close('out', out, window_maxima, example, tolerance=1e-12)

    x = np.random.randn(2, 3, 7, 9)
    example = "the notebook's 3x3 stride 2 example"
    out, _ = returned(max_pool_forward_naive(x, {'pool_height': 3, 'pool_width': 3, 'stride': 2}),
                      ('out', 'cache'), example)
    expect_close('out', out, max_of_all_windows(x, 3, 3, stride=2), example, tolerance=1e-12)


@public_check('max_pool_backward_naive')
def check_max_pool_backward_naive(conv_layers):
    """
    The gradient checks of ConvolutionalLayers.ipynb: non-overlapping 2x2 windows and
    overlapping 3x3 windows with stride 2, dx against the numerical gradient.
    """
    np.random.seed(231)
    x = np.random.randn(3, 2, 8, 8)
    dout = np.random.randn(3, 2, 4, 4)
    check_pool_gradient(conv_layers, x, dout, size=2, example="the notebook's 2x2 stride 2 example")

    x = np.random.randn(2, 2, 7, 9)
    dout = np.random.randn(2, 2, 3, 4)
    check_pool_gradient(conv_layers, x, dout, size=3, example="the notebook's 3x3 stride 2 example")


def check_pool_gradient(conv_layers, x, dout, size, example):
    """
    One gradient check of max_pool_backward_naive, with square windows and stride 2.

    As in the notebook, the numerical gradient is that of your max_pool_forward_naive.
    When it disagrees with the notebook's independent pooling (or is not written yet),
    it is that of the independent pooling, and the cache is the documented
    (x, pool_param) if your forward pass raises.

    Inputs:
    - conv_layers: Your nnl/conv_layers.py
    - x: Input data, of shape (N, C, H, W)
    - dout: Upstream derivatives, of shape (N, C, H', W')
    - size: The windows' height and width
    - example: Which example of the notebook it is
    """
    max_pool_forward_naive = conv_layers.max_pool_forward_naive
    pool_param = {'pool_height': size, 'pool_width': size, 'stride': 2}

    if agrees(lambda: max_pool_forward_naive(x, pool_param), max_of_all_windows(x, size, size, stride=2)):
        forward = lambda x_probe: max_pool_forward_naive(x_probe, pool_param)[0]
    else:
        forward = lambda x_probe: max_of_all_windows(x_probe, size, size, stride=2)
    dx_num = eval_numerical_gradient_array(forward, x, dout)

    cache = cache_for_backward(lambda: max_pool_forward_naive(x, pool_param), (x, pool_param))
    dx = conv_layers.max_pool_backward_naive(dout, cache)
    expect_gradient('dx', dx, dx_num, example, GRADIENT_TOLERANCE)


@public_check('spatial_batchnorm_forward')
def check_spatial_batchnorm_forward(conv_layers):
    """
    The checks of SpatialBatchNorm.ipynb: in training mode, per-channel means and stds
    of the output close to beta and gamma; after 50 training passes, running averages
    close to the data's mean 13 and std 2.3; in test mode, means near 0 and stds near 1.
    """
    spatial_batchnorm_forward = conv_layers.spatial_batchnorm_forward

    np.random.seed(231)
    N, C, H, W = 2, 3, 4, 5
    x = 4 * np.random.randn(N, C, H, W) + 10
    examples = [
        ("the notebook's training-mode example", np.ones(C), np.zeros(C)),
        ("the notebook's training-mode example with gamma (3, 4, 5), beta (6, 7, 8)",
         np.array([3.0, 4.0, 5.0]), np.array([6.0, 7.0, 8.0])),
    ]
    for example, gamma, beta in examples:
        out, _ = returned(spatial_batchnorm_forward(x, gamma, beta, {'mode': 'train'}), ('out', 'cache'), example)
        out = expect_array('out', out, (N, C, H, W), example)
        expect_near('per-channel means of out', out.mean(axis=(0, 2, 3)), beta, 1e-6, example)
        expect_near('per-channel stds of out', out.std(axis=(0, 2, 3)), gamma, 1e-3 * gamma, example)

    np.random.seed(231)
    N, C, H, W = 10, 4, 11, 12
    bn_param = {'mode': 'train'}
    gamma = np.ones(C)
    beta = np.zeros(C)
    for _ in range(50):
        x = 2.3 * np.random.randn(N, C, H, W) + 13
        spatial_batchnorm_forward(x, gamma, beta, bn_param)
    example = "the notebook's 50 training passes (data mean 13, std 2.3)"
    running_mean = expect_array("bn_param['running_mean']", bn_param.get('running_mean'), (C,), example)
    running_var = expect_array("bn_param['running_var']", bn_param.get('running_var'), (C,), example)
    expect_near('running means', running_mean, 13, 0.2, example)
    expect_near('running stds', np.sqrt(np.maximum(running_var, 0)), 2.3, 0.1, example)

    bn_param['mode'] = 'test'
    x = 2.3 * np.random.randn(N, C, H, W) + 13
    example = "the notebook's test-mode example"
    out, _ = returned(spatial_batchnorm_forward(x, gamma, beta, bn_param), ('out', 'cache'), example)
    out = expect_array('out', out, (N, C, H, W), example)
    expect_near('per-channel means of out', out.mean(axis=(0, 2, 3)), 0, 0.2, example)
    expect_near('per-channel stds of out', out.std(axis=(0, 2, 3)), 1, 0.1, example)


@public_check('spatial_batchnorm_backward', forward='spatial_batchnorm_forward')
def check_spatial_batchnorm_backward(conv_layers):
    """
    The gradient check of SpatialBatchNorm.ipynb: dx, dgamma and dbeta against the
    numerical gradients of your spatial_batchnorm_forward, each varying x, gamma or beta alone.
    """
    spatial_batchnorm_forward = conv_layers.spatial_batchnorm_forward
    spatial_batchnorm_backward = conv_layers.spatial_batchnorm_backward
    np.random.seed(231)
    N, C, H, W = 2, 3, 4, 5
    x = 5 * np.random.randn(N, C, H, W) + 12
    gamma = np.random.randn(C)
    beta = np.random.randn(C)
    dout = np.random.randn(N, C, H, W)
    example = "the notebook's gradient check"

    bn_param = {'mode': 'train'}
    fx = lambda x_probe: spatial_batchnorm_forward(x_probe, gamma, beta, bn_param)[0]
    fg = lambda gamma_probe: spatial_batchnorm_forward(x, gamma_probe, beta, bn_param)[0]
    fb = lambda beta_probe: spatial_batchnorm_forward(x, gamma, beta_probe, bn_param)[0]
    dx_num = eval_numerical_gradient_array(fx, x, dout)
    dgamma_num = eval_numerical_gradient_array(fg, gamma, dout)
    dbeta_num = eval_numerical_gradient_array(fb, beta, dout)

    _, cache = returned(spatial_batchnorm_forward(x, gamma, beta, bn_param), ('out', 'cache'), example)
    dx, dgamma, dbeta = returned(spatial_batchnorm_backward(dout, cache), ('dx', 'dgamma', 'dbeta'), example)
    expect_gradient('dx', dx, dx_num, example, GRADIENT_TOLERANCE)
    expect_gradient('dgamma', dgamma, dgamma_num, example, GRADIENT_TOLERANCE)
    expect_gradient('dbeta', dbeta, dbeta_num, example, GRADIENT_TOLERANCE)
