"""Fast convolution and max pooling layers, in pure numpy (provided, nothing to implement).

They compute exactly what the naive layers of `conv_layers.py` compute, with the
same arguments and output shapes, but without a Python loop over output
positions:

- convolution is "im2col": every receptive field of an image becomes one
  column of a matrix (a strided view of the padded input, copied once), and
  the layer is one matrix product of the filters, one per row, with it;
- max pooling and the backward passes loop only over the offsets inside a
  filter or pooling window (HH * WW of them), handling one strided slice of
  every window at a time, so overlapping windows accumulate correctly.

Max pooling passes the gradient to the first maximum of each window, as the
naive layer does. The caches are private to these functions.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _windows(x, window_height, window_width, stride):
    """
    A read-only view of every window of x, taken stride pixels apart.

    Inputs:
    - x: Input data of shape (N, C, H, W)
    - window_height, window_width: Size of each window
    - stride: Distance between the corners of adjacent windows

    Returns:
    - windows: View of shape (N, C, H', W', window_height, window_width) where
        windows[n, c, i, j] is x[n, c, i*stride:i*stride+window_height,
        j*stride:j*stride+window_width]
    """
    all_windows = sliding_window_view(x, (window_height, window_width), axis=(2, 3))
    return all_windows[:, :, ::stride, ::stride]  # (N, C, H', W', window_height, window_width)


def _add_window_gradients(dwindows, input_shape, stride):
    """
    Sums the gradients of (possibly overlapping) windows back onto their input.

    Inputs:
    - dwindows: Gradient for every window, of shape
        (N, C, H', W', window_height, window_width), as laid out by _windows
    - input_shape: Shape (N, C, H, W) of the input the windows were taken from
    - stride: Distance between the corners of adjacent windows

    Returns:
    - dx: Gradient with respect to the input, of shape (N, C, H, W)
    """
    _, _, out_height, out_width, window_height, window_width = dwindows.shape
    dx = np.zeros(input_shape, dtype=dwindows.dtype)  # (N, C, H, W)
    for i in range(window_height):
        for j in range(window_width):
            # offset (i, j) of every window: one pixel per window, no two the same
            rows = slice(i, i + stride * out_height, stride)
            cols = slice(j, j + stride * out_width, stride)
            dx[:, :, rows, cols] += dwindows[:, :, :, :, i, j]  # (N, C, H', W')
    return dx


def conv_forward_fast(x, w, b, conv_param):
    """
    A fast implementation of the forward pass for a convolutional layer.

    Inputs:
    - x: Input data of shape (N, C, H, W)
    - w: Filter weights of shape (F, C, HH, WW)
    - b: Biases, of shape (F,)
    - conv_param: A dictionary with the keys 'stride' and 'pad', as in
        conv_forward_naive ('pad' may be a float with an integer value)

    Returns a tuple of:
    - out: Output data, of shape (N, F, H', W') where
        H' = 1 + (H + 2 * pad - HH) // stride
        W' = 1 + (W + 2 * pad - WW) // stride
    - cache: Values needed for the backward pass
    """
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    stride = conv_param['stride']
    pad = int(conv_param['pad'])

    no_pad, pad_both_sides = (0, 0), (pad, pad)
    x_pad = np.pad(x, (no_pad, no_pad, pad_both_sides, pad_both_sides))  # (N, C, H + 2*pad, W + 2*pad)
    windows = _windows(x_pad, HH, WW, stride)  # (N, C, H', W', HH, WW)
    _, _, out_height, out_width, _, _ = windows.shape

    # im2col: per image, one row per filter weight (c, i, j) and one column per output pixel
    cols = windows.transpose(0, 1, 4, 5, 2, 3).reshape(N, C * HH * WW, out_height * out_width)
    filters = w.reshape(F, C * HH * WW)  # (F, C*HH*WW)
    out = filters @ cols + b.reshape(F, 1)  # (N, F, H'*W')
    out = out.reshape(N, F, out_height, out_width)  # (N, F, H', W')

    cache = (x.shape, w, cols, stride, pad)
    return out, cache


def conv_backward_fast(dout, cache):
    """
    A fast implementation of the backward pass for a convolutional layer.

    Inputs:
    - dout: Upstream derivatives, of shape (N, F, H', W')
    - cache: The cache returned by conv_forward_fast

    Returns a tuple of:
    - dx: Gradient with respect to x, of shape (N, C, H, W)
    - dw: Gradient with respect to w, of shape (F, C, HH, WW)
    - db: Gradient with respect to b, of shape (F,)
    """
    x_shape, w, cols, stride, pad = cache
    N, C, H, W = x_shape
    F, _, HH, WW = w.shape
    _, _, out_height, out_width = dout.shape

    dout_flat = dout.reshape(N, F, out_height * out_width)  # (N, F, H'*W')
    db = dout_flat.sum(axis=(0, 2))  # (F,)
    # per image, dout times the transposed columns; then summed over the images
    dw_per_image = dout_flat @ cols.transpose(0, 2, 1)  # (N, F, C*HH*WW)
    dw = dw_per_image.sum(axis=0).reshape(F, C, HH, WW)  # (F, C, HH, WW)

    dcols = w.reshape(F, C * HH * WW).T @ dout_flat  # (N, C*HH*WW, H'*W')
    dwindows = dcols.reshape(N, C, HH, WW, out_height, out_width).transpose(0, 1, 4, 5, 2, 3)  # (N, C, H', W', HH, WW)
    padded_shape = (N, C, H + 2 * pad, W + 2 * pad)
    dx_pad = _add_window_gradients(dwindows, padded_shape, stride)  # (N, C, H + 2*pad, W + 2*pad)
    dx = dx_pad[:, :, pad:H + pad, pad:W + pad]  # (N, C, H, W)
    return dx, dw, db


def max_pool_forward_fast(x, pool_param):
    """
    A fast implementation of the forward pass for a max pooling layer.

    Inputs:
    - x: Input data, of shape (N, C, H, W)
    - pool_param: dictionary with the keys 'pool_height', 'pool_width' and
        'stride', as in max_pool_forward_naive

    Returns a tuple of:
    - out: Output data, of shape (N, C, H', W') where
        H' = 1 + (H - pool_height) // stride
        W' = 1 + (W - pool_width) // stride
    - cache: Values needed for the backward pass
    """
    N, C, H, W = x.shape
    pool_height = pool_param['pool_height']
    pool_width = pool_param['pool_width']
    stride = pool_param['stride']
    out_height = 1 + (H - pool_height) // stride
    out_width = 1 + (W - pool_width) // stride

    # Visit the offsets of a window in row-major order, keeping the running
    # maximum of every window and the offset it came from. Only a strictly
    # larger value replaces it, so ties go to the first maximum, as np.argmax
    # does in the naive backward pass.
    out = np.full((N, C, out_height, out_width), -np.inf, dtype=x.dtype)
    winner = np.zeros((N, C, out_height, out_width), dtype=np.intp)  # offset i * pool_width + j of each maximum
    for i in range(pool_height):
        for j in range(pool_width):
            rows = slice(i, i + stride * out_height, stride)
            cols = slice(j, j + stride * out_width, stride)
            candidate = x[:, :, rows, cols]  # pixel (i, j) of every window: (N, C, H', W')
            larger = candidate > out
            np.copyto(out, candidate, where=larger)
            np.copyto(winner, i * pool_width + j, where=larger)

    cache = (x.shape, pool_param, winner)
    return out, cache


def max_pool_backward_fast(dout, cache):
    """
    A fast implementation of the backward pass for a max pooling layer.

    Inputs:
    - dout: Upstream derivatives, of shape (N, C, H', W')
    - cache: The cache returned by max_pool_forward_fast

    Returns:
    - dx: Gradient with respect to x, of shape (N, C, H, W)
    """
    x_shape, pool_param, winner = cache
    pool_height = pool_param['pool_height']
    pool_width = pool_param['pool_width']
    stride = pool_param['stride']

    # one-hot over each window's pixels: the winner gets the upstream derivative
    offsets = np.arange(pool_height * pool_width)  # (pool_height*pool_width,)
    is_winner = winner[..., np.newaxis] == offsets  # (N, C, H', W', pool_height*pool_width)
    dflat = np.where(is_winner, dout[..., np.newaxis], 0.0).astype(dout.dtype, copy=False)
    dwindows = dflat.reshape(dout.shape + (pool_height, pool_width))  # (N, C, H', W', pool_height, pool_width)
    dx = _add_window_gradients(dwindows, x_shape, stride)  # (N, C, H, W)
    return dx
