"""Fast convolution and max pooling layers, in pure numpy (provided, nothing to implement).

They compute exactly what the naive layers of `conv_layers.py` compute, with the
same arguments and output shapes, but without a Python loop over images or
output positions:

- convolution is "im2col": every receptive field of the whole minibatch becomes
  one column of a single matrix of shape (C*HH*WW, N*H'*W'), copied once from a
  strided view of the padded input. Each pass is then ONE large matrix product:
  filters times columns (forward), upstream derivatives times columns (dw), and
  filters times upstream derivatives (the gradient of the columns). That last
  one goes back onto the input ("col2im") one filter offset (i, j) at a time:
  HH * WW strided additions, each covering every receptive field at once, so
  overlapping receptive fields add up.
- max pooling whose windows tile the input (pool_height == pool_width ==
  stride, as the usual 2x2 pooling with stride 2) reshapes the input into
  (N, C, H', pool_height, W', pool_width) tiles and works on one pixel offset
  (i, j) of every window at a time, pool_height * pool_width whole-array
  operations; any other windows (overlapping, or with gaps between them) are
  flattened from a strided view and reduced with np.argmax, as the naive layer
  does, with no loop at all.

Max pooling passes the gradient to the FIRST maximum of each window, in
row-major order (the one np.argmax picks), as the naive layer does, also when
several pixels of a window tie for the maximum (as the zeros of a ReLU often
do). float32 inputs give float32 outputs and gradients. The caches are private
to these functions.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _im2col(x, HH, WW, stride, pad):
    """
    Gathers every receptive field of a minibatch into the columns of one matrix.

    Inputs:
    - x: Input data of shape (N, C, H, W)
    - HH, WW: Height and width of the filters
    - stride: Distance between the corners of adjacent receptive fields
    - pad: Number of zeros added on each side of the height and width

    Returns a tuple of:
    - cols: Array of shape (C*HH*WW, N*H'*W') where row (c, i, j) and column
        (n, row, col) hold x_pad[n, c, row*stride + i, col*stride + j]
    - out_shape: The tuple (H', W'), the number of receptive fields down and across
    """
    N, C, H, W = x.shape
    x_pad = np.zeros((C, N, H + 2 * pad, W + 2 * pad), dtype=x.dtype)  # channels first: (C, N, H + 2*pad, W + 2*pad)
    x_pad[:, :, pad:pad + H, pad:pad + W] = x.transpose(1, 0, 2, 3)
    windows = sliding_window_view(x_pad, (HH, WW), axis=(2, 3))[:, :, ::stride, ::stride]  # (C, N, H', W', HH, WW)
    # the only copy: rows (c, i, j), columns (n, row, col); each copied run is a row of W' pixels
    cols = windows.transpose(0, 4, 5, 1, 2, 3).reshape(C * HH * WW, -1)  # (C*HH*WW, N*H'*W')
    return cols, windows.shape[2:4]


def _col2im(dcols, x_shape, HH, WW, stride, pad, out_height, out_width):
    """
    Sums the gradients of the columns made by _im2col back onto the input.

    Inputs:
    - dcols: Gradient of the columns, of shape (C*HH*WW, N*H'*W')
    - x_shape: Shape (N, C, H, W) of the input the columns were taken from
    - HH, WW, stride, pad: As given to _im2col
    - out_height, out_width: H' and W'

    Returns:
    - dx: Gradient with respect to the input, of shape (N, C, H, W)
    """
    N, C, H, W = x_shape
    dcols = dcols.reshape(C, HH, WW, N, out_height, out_width)  # (C, HH, WW, N, H', W')
    dx_pad = np.zeros((C, N, H + 2 * pad, W + 2 * pad), dtype=dcols.dtype)  # (C, N, H + 2*pad, W + 2*pad)
    for i in range(HH):
        for j in range(WW):
            # pixel (i, j) of every receptive field at once: no two of them the same pixel
            rows = slice(i, i + stride * out_height, stride)
            cols = slice(j, j + stride * out_width, stride)
            dx_pad[:, :, rows, cols] += dcols[:, i, j]  # (C, N, H', W')
    dx = dx_pad[:, :, pad:pad + H, pad:pad + W].transpose(1, 0, 2, 3)  # strip the padding: (N, C, H, W)
    return np.ascontiguousarray(dx)


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

    cols, (out_height, out_width) = _im2col(x, HH, WW, stride, pad)  # (C*HH*WW, N*H'*W')
    filters = w.reshape(F, C * HH * WW)  # (F, C*HH*WW)
    out_cols = filters @ cols  # one matrix product for the whole minibatch: (F, N*H'*W')
    out_cols = out_cols.reshape(F, N, out_height, out_width)  # (F, N, H', W')

    # add the biases while putting the images first again (one pass)
    out = np.empty((N, F, out_height, out_width), dtype=np.result_type(out_cols, b))  # (N, F, H', W')
    np.add(out_cols.transpose(1, 0, 2, 3), b.reshape(F, 1, 1), out=out)

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
    F, C, HH, WW = w.shape
    _, _, out_height, out_width = dout.shape

    # filters first, like the columns: row f, column (n, row, col)
    dout_rows = dout.transpose(1, 0, 2, 3).reshape(F, -1)  # (F, N*H'*W')
    db = dout_rows.sum(axis=1)  # (F,)
    # one matrix product; computed as (cols @ dout_rows.T).T, the same numbers, because the
    # matrix library splits that shape better over the CPU cores than dout_rows @ cols.T
    dw = (cols @ dout_rows.T).T.reshape(F, C, HH, WW)  # (F, C, HH, WW)
    dcols = w.reshape(F, C * HH * WW).T @ dout_rows  # one matrix product: (C*HH*WW, N*H'*W')
    dx = _col2im(dcols, x_shape, HH, WW, stride, pad, out_height, out_width)  # (N, C, H, W)
    return dx, dw, db


def _windows_tile(pool_height, pool_width, stride):
    """Whether pooling windows of this size and stride are side by side, neither overlapping nor with gaps."""
    return pool_height == stride and pool_width == stride


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

    if _windows_tile(pool_height, pool_width, stride):
        # rows and columns that no window covers (when H or W is not a multiple of the stride) are left out
        covered = x[:, :, :out_height * pool_height, :out_width * pool_width]
        tiles = covered.reshape(N, C, out_height, pool_height, out_width, pool_width)
        # The maximum over the two window axes, one pixel offset (i, j) of every window at a time:
        # numpy's own tiles.max(axis=(3, 5)) reduces the short window axes pair by pair and is
        # far slower. first_max, the offset of each window's first maximum (np.argmax's choice
        # when a window ties), is that of the last pixel greater than all before it: offsets grow
        # in row-major order, so it is the largest offset marked by a strictly greater pixel (or 0).
        out = tiles[:, :, :, 0, :, 0].copy()  # pixel (0, 0) of every window: (N, C, H', W')
        offset_type = np.min_scalar_type(pool_height * pool_width - 1)
        first_max = np.zeros(out.shape, dtype=offset_type)
        is_greater = np.empty(out.shape, dtype=bool)
        marked = np.empty(out.shape, dtype=offset_type)
        for i in range(pool_height):
            for j in range(pool_width):
                if (i, j) != (0, 0):
                    pixel = tiles[:, :, :, i, :, j]  # (N, C, H', W')
                    np.greater(pixel, out, out=is_greater)
                    np.multiply(is_greater, offset_type.type(i * pool_width + j), out=marked)
                    np.maximum(first_max, marked, out=first_max)
                    np.maximum(out, pixel, out=out)
    else:
        windows = sliding_window_view(x, (pool_height, pool_width), axis=(2, 3))[:, :, ::stride, ::stride]
        flat_windows = windows.reshape(N, C, out_height, out_width, pool_height * pool_width)  # copies
        first_max = np.argmax(flat_windows, axis=-1)  # (N, C, H', W'): offset i * pool_width + j
        out = np.take_along_axis(flat_windows, first_max[..., np.newaxis], axis=-1)[..., 0]  # (N, C, H', W')
    cache = (x, pool_param, first_max)  # first_max: (N, C, H', W'), the offset i * pool_width + j of each maximum
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
    x, pool_param, _ = cache
    pool_height = pool_param['pool_height']
    pool_width = pool_param['pool_width']
    stride = pool_param['stride']
    if _windows_tile(pool_height, pool_width, stride):
        return _tiled_max_pool_backward(dout, cache)

    N, C, H, W = x.shape
    _, _, first_max = cache
    # where each window's first maximum lies in x
    n, c, row, col = np.indices(dout.shape, sparse=True)  # broadcast to (N, C, H', W')
    max_row = row * stride + first_max // pool_width  # (N, C, H', W')
    max_col = col * stride + first_max % pool_width  # (N, C, H', W')
    flat_index = ((n * C + c) * H + max_row) * W + max_col  # (N, C, H', W')
    dx = np.zeros(N * C * H * W, dtype=dout.dtype)
    # windows overlap when stride < pool size: unbuffered addition, so a pixel gets every window's share
    np.add.at(dx, flat_index.ravel(), dout.ravel())
    return dx.reshape(N, C, H, W)


def _tiled_max_pool_backward(dout, cache):
    """
    max_pool_backward_fast for windows that tile the input (no overlaps, no gaps).

    Inputs:
    - dout: Upstream derivatives, of shape (N, C, H', W')
    - cache: The cache returned by max_pool_forward_fast

    Returns:
    - dx: Gradient with respect to x, of shape (N, C, H, W)
    """
    x, pool_param, first_max = cache
    N, C, H, W = x.shape
    pool_height = pool_param['pool_height']
    pool_width = pool_param['pool_width']
    _, _, out_height, out_width = dout.shape

    covered_height, covered_width = out_height * pool_height, out_width * pool_width
    # (N, C, H', pool_height, W', pool_width): each window's derivative at its first maximum, 0 elsewhere
    dtiles = np.empty((N, C, out_height, pool_height, out_width, pool_width), dtype=dout.dtype)
    for i in range(pool_height):
        for j in range(pool_width):
            # multiplying by the mask moves each value unchanged (x * 1 = x)
            np.multiply(dout, first_max == i * pool_width + j, out=dtiles[:, :, :, i, :, j])

    dx_covered = dtiles.reshape(N, C, covered_height, covered_width)
    if (covered_height, covered_width) == (H, W):
        return dx_covered
    dx = np.zeros((N, C, H, W), dtype=dout.dtype)  # the rows and columns no window covers get no gradient
    dx[:, :, :covered_height, :covered_width] = dx_covered
    return dx
