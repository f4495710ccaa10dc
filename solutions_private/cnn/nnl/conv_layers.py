"""Convolution, max pooling and spatial batch normalization layers (naive versions).

Each layer is a pair: `*_forward` returns `(out, cache)` and `*_backward` takes
the upstream derivative and that cache and returns the gradients.
"""
import numpy as np

from nnl.layers import *


def conv_forward_naive(x, w, b, conv_param):
    """
    A naive implementation of the forward pass for a convolutional layer.

    The input consists of N data points, each with C channels, height H and
    width W. We convolve each input with F different filters, where each filter
    spans all C channels and has height HH and width WW.

    Inputs:
    - x: Input data of shape (N, C, H, W)
    - w: Filter weights of shape (F, C, HH, WW)
    - b: Biases, of shape (F,)
    - conv_param: A dictionary with the following keys:
        - 'stride': The number of pixels between adjacent receptive fields in the
            horizontal and vertical directions.
        - 'pad': The number of pixels that will be used to zero-pad the input
            on each side (an integer, or a float with an integer value).

    Returns a tuple of:
    - out: Output data, of shape (N, F, H', W') where H' and W' are given by
        H' = 1 + (H + 2 * pad - HH) // stride
        W' = 1 + (W + 2 * pad - WW) // stride
    - cache: (x, w, b, conv_param)
    """
    out = None
    stride = conv_param['stride']
    pad = int(conv_param['pad'])
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape

    # =====
    # YOUR CODE HERE:
    # Implement the forward pass of a convolutional neural network.
    # Store the output as 'out'.
    # Hint: to pad the array, you can use the function np.pad.
    # =====
    out_height = 1 + (H + 2 * pad - HH) // stride
    out_width = 1 + (W + 2 * pad - WW) // stride
    x_padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode='constant')  # (N, C, H + 2*pad, W + 2*pad)
    out = np.zeros((N, F, out_height, out_width), dtype=x.dtype)
    for n in range(N):
        for row in range(out_height):
            for col in range(out_width):
                top, left = row * stride, col * stride
                receptive_field = x_padded[n, :, top:top + HH, left:left + WW]  # (C, HH, WW)
                # one dot product per filter: (F, C, HH, WW) summed over its last three axes
                out[n, :, row, col] = np.sum(receptive_field * w, axis=(1, 2, 3)) + b  # (F,)
    # =====
    # END YOUR CODE HERE
    # =====

    cache = (x, w, b, conv_param)
    return out, cache


def conv_backward_naive(dout, cache):
    """
    A naive implementation of the backward pass for a convolutional layer.

    Inputs:
    - dout: Upstream derivatives, of shape (N, F, H', W')
    - cache: A tuple of (x, w, b, conv_param) as in conv_forward_naive

    Returns a tuple of:
    - dx: Gradient with respect to x, of shape (N, C, H, W)
    - dw: Gradient with respect to w, of shape (F, C, HH, WW)
    - db: Gradient with respect to b, of shape (F,)
    """
    dx, dw, db = None, None, None
    x, w, b, conv_param = cache
    stride = conv_param['stride']
    pad = int(conv_param['pad'])
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    _, _, out_height, out_width = dout.shape

    # =====
    # YOUR CODE HERE:
    # Implement the backward pass of a convolutional neural network.
    # Calculate the gradients: dx, dw, and db.
    # =====
    x_padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode='constant')  # (N, C, H + 2*pad, W + 2*pad)
    dx_padded = np.zeros_like(x_padded)  # (N, C, H + 2*pad, W + 2*pad)
    dw = np.zeros_like(w)  # (F, C, HH, WW)
    # every output pixel of filter f adds b[f] once
    db = np.sum(dout, axis=(0, 2, 3))  # (F,)
    for n in range(N):
        for row in range(out_height):
            for col in range(out_width):
                top, left = row * stride, col * stride
                receptive_field = x_padded[n, :, top:top + HH, left:left + WW]  # (C, HH, WW)
                upstream = dout[n, :, row, col].reshape(F, 1, 1, 1)  # (F, 1, 1, 1)
                dw += upstream * receptive_field  # (F, C, HH, WW)
                # windows overlap when stride < HH: accumulate, never assign
                dx_padded[n, :, top:top + HH, left:left + WW] += np.sum(upstream * w, axis=0)  # (C, HH, WW)
    dx = dx_padded[:, :, pad:pad + H, pad:pad + W]  # strip the padding: (N, C, H, W)
    # =====
    # END YOUR CODE HERE
    # =====

    return dx, dw, db


def max_pool_forward_naive(x, pool_param):
    """
    A naive implementation of the forward pass for a max pooling layer.

    Inputs:
    - x: Input data, of shape (N, C, H, W)
    - pool_param: dictionary with the following keys:
        - 'pool_height': The height of each pooling region
        - 'pool_width': The width of each pooling region
        - 'stride': The distance between adjacent pooling regions

    Returns a tuple of:
    - out: Output data, of shape (N, C, H', W') where H' and W' are given by
        H' = 1 + (H - pool_height) // stride
        W' = 1 + (W - pool_width) // stride
    - cache: (x, pool_param)
    """
    out = None
    pool_height = pool_param['pool_height']
    pool_width = pool_param['pool_width']
    stride = pool_param['stride']
    N, C, H, W = x.shape

    # =====
    # YOUR CODE HERE:
    # Implement the max pooling forward pass.
    # =====
    pooled_height = 1 + (H - pool_height) // stride
    pooled_width = 1 + (W - pool_width) // stride
    out = np.zeros((N, C, pooled_height, pooled_width), dtype=x.dtype)
    for row in range(pooled_height):
        for col in range(pooled_width):
            top, left = row * stride, col * stride
            region = x[:, :, top:top + pool_height, left:left + pool_width]  # (N, C, pool_height, pool_width)
            out[:, :, row, col] = np.max(region, axis=(2, 3))  # (N, C)
    # =====
    # END YOUR CODE HERE
    # =====

    cache = (x, pool_param)
    return out, cache


def max_pool_backward_naive(dout, cache):
    """
    A naive implementation of the backward pass for a max pooling layer.

    Inputs:
    - dout: Upstream derivatives, of shape (N, C, H', W')
    - cache: A tuple of (x, pool_param) as in the forward pass.

    Returns:
    - dx: Gradient with respect to x, of shape (N, C, H, W)
    """
    dx = None
    x, pool_param = cache
    pool_height = pool_param['pool_height']
    pool_width = pool_param['pool_width']
    stride = pool_param['stride']
    N, C, H, W = x.shape
    _, _, pooled_height, pooled_width = dout.shape

    # =====
    # YOUR CODE HERE:
    # Implement the max pooling backward pass.
    # =====
    dx = np.zeros_like(x)  # (N, C, H, W)
    for n in range(N):
        for c in range(C):
            for row in range(pooled_height):
                for col in range(pooled_width):
                    top, left = row * stride, col * stride
                    region = x[n, c, top:top + pool_height, left:left + pool_width]  # (pool_height, pool_width)
                    # only the (first) maximum of the region passes the gradient on
                    max_row, max_col = np.unravel_index(np.argmax(region), region.shape)
                    # regions overlap when stride < pool size: accumulate, never assign
                    dx[n, c, top + max_row, left + max_col] += dout[n, c, row, col]
    # =====
    # END YOUR CODE HERE
    # =====

    return dx


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    """
    Computes the forward pass for spatial batch normalization.

    Inputs:
    - x: Input data of shape (N, C, H, W)
    - gamma: Scale parameter, of shape (C,)
    - beta: Shift parameter, of shape (C,)
    - bn_param: Dictionary with the following keys:
        - mode: 'train' or 'test'; required
        - eps: Constant for numeric stability
        - momentum: Constant for running mean / variance. momentum=0 means that
            old information is discarded completely at every time step, while
            momentum=1 means that new information is never incorporated. The
            default of momentum=0.9 should work well in most situations.
        - running_mean: Array of shape (C,) giving running mean of features
        - running_var: Array of shape (C,) giving running variance of features

    Returns a tuple of:
    - out: Output data, of shape (N, C, H, W)
    - cache: Values needed for the backward pass
    """
    out, cache = None, None
    N, C, H, W = x.shape

    # =====
    # YOUR CODE HERE:
    # Implement the spatial batchnorm forward pass.
    # You may find it useful to use the batchnorm forward pass you
    # implemented in HW #4.
    # =====
    # channels last, then one row per (image, pixel): each channel is a batchnorm feature
    x_rows = x.transpose(0, 2, 3, 1).reshape(N * H * W, C)  # (N*H*W, C)
    out_rows, cache = batchnorm_forward(x_rows, gamma, beta, bn_param)  # (N*H*W, C)
    out = out_rows.reshape(N, H, W, C).transpose(0, 3, 1, 2)  # (N, C, H, W)
    # =====
    # END YOUR CODE HERE
    # =====

    return out, cache


def spatial_batchnorm_backward(dout, cache):
    """
    Computes the backward pass for spatial batch normalization.

    Inputs:
    - dout: Upstream derivatives, of shape (N, C, H, W)
    - cache: Values from the forward pass

    Returns a tuple of:
    - dx: Gradient with respect to inputs, of shape (N, C, H, W)
    - dgamma: Gradient with respect to scale parameter, of shape (C,)
    - dbeta: Gradient with respect to shift parameter, of shape (C,)
    """
    dx, dgamma, dbeta = None, None, None
    N, C, H, W = dout.shape

    # =====
    # YOUR CODE HERE:
    # Implement the spatial batchnorm backward pass.
    # You may find it useful to use the batchnorm backward pass you
    # implemented in HW #4.
    # =====
    dout_rows = dout.transpose(0, 2, 3, 1).reshape(N * H * W, C)  # (N*H*W, C)
    dx_rows, dgamma, dbeta = batchnorm_backward(dout_rows, cache)  # (N*H*W, C), (C,), (C,)
    dx = dx_rows.reshape(N, H, W, C).transpose(0, 3, 1, 2)  # (N, C, H, W)
    # =====
    # END YOUR CODE HERE
    # =====

    return dx, dgamma, dbeta
