"""Convenience "sandwich" layers for convolutional networks (provided, nothing to implement).

Each sandwich chains a few layers and keeps their caches together, so that a
network can use conv - relu - pool (with or without spatial batch
normalization) as a single layer. The convolution and pooling steps use the
fast layers; ReLU and spatial batch normalization use your own layers.
"""
from nnl.layers import *
from nnl.conv_layers import *
from nnl.fast_layers import *


def conv_relu_forward(x, w, b, conv_param):
    """
    A convenience layer that performs a convolution followed by a ReLU.

    Inputs:
    - x: Input to the convolutional layer, of shape (N, C, H, W)
    - w: Filter weights of shape (F, C, HH, WW)
    - b: Biases, of shape (F,)
    - conv_param: Dictionary with the keys 'stride' and 'pad'

    Returns a tuple of:
    - out: Output from the ReLU, of shape (N, F, H', W')
    - cache: Object to give to the backward pass
    """
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)  # (N, F, H', W')
    out, relu_cache = relu_forward(a)  # (N, F, H', W')
    cache = (conv_cache, relu_cache)
    return out, cache


def conv_relu_backward(dout, cache):
    """
    Backward pass for the conv-relu convenience layer.

    Inputs:
    - dout: Upstream derivatives, of shape (N, F, H', W')
    - cache: The cache returned by conv_relu_forward

    Returns a tuple of:
    - dx: Gradient with respect to x, of shape (N, C, H, W)
    - dw: Gradient with respect to w, of shape (F, C, HH, WW)
    - db: Gradient with respect to b, of shape (F,)
    """
    conv_cache, relu_cache = cache
    da = relu_backward(dout, relu_cache)  # (N, F, H', W')
    dx, dw, db = conv_backward_fast(da, conv_cache)
    return dx, dw, db


def conv_relu_pool_forward(x, w, b, conv_param, pool_param):
    """
    Convenience layer that performs a convolution, a ReLU, and a pool.

    Inputs:
    - x: Input to the convolutional layer, of shape (N, C, H, W)
    - w: Filter weights of shape (F, C, HH, WW)
    - b: Biases, of shape (F,)
    - conv_param: Dictionary with the keys 'stride' and 'pad'
    - pool_param: Dictionary with the keys 'pool_height', 'pool_width' and 'stride'

    Returns a tuple of:
    - out: Output from the pooling layer, of shape (N, F, H'', W'')
    - cache: Object to give to the backward pass
    """
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)  # (N, F, H', W')
    s, relu_cache = relu_forward(a)  # (N, F, H', W')
    out, pool_cache = max_pool_forward_fast(s, pool_param)  # (N, F, H'', W'')
    cache = (conv_cache, relu_cache, pool_cache)
    return out, cache


def conv_relu_pool_backward(dout, cache):
    """
    Backward pass for the conv-relu-pool convenience layer.

    Inputs:
    - dout: Upstream derivatives, of shape (N, F, H'', W'')
    - cache: The cache returned by conv_relu_pool_forward

    Returns a tuple of:
    - dx: Gradient with respect to x, of shape (N, C, H, W)
    - dw: Gradient with respect to w, of shape (F, C, HH, WW)
    - db: Gradient with respect to b, of shape (F,)
    """
    conv_cache, relu_cache, pool_cache = cache
    ds = max_pool_backward_fast(dout, pool_cache)  # (N, F, H', W')
    da = relu_backward(ds, relu_cache)  # (N, F, H', W')
    dx, dw, db = conv_backward_fast(da, conv_cache)
    return dx, dw, db


def conv_bn_relu_forward(x, w, b, gamma, beta, conv_param, bn_param):
    """
    Convenience layer that performs a convolution, a spatial batch
    normalization, and a ReLU.

    Inputs:
    - x: Input to the convolutional layer, of shape (N, C, H, W)
    - w: Filter weights of shape (F, C, HH, WW)
    - b: Biases, of shape (F,)
    - gamma: Scale parameter of the spatial batch normalization, of shape (F,)
    - beta: Shift parameter of the spatial batch normalization, of shape (F,)
    - conv_param: Dictionary with the keys 'stride' and 'pad'
    - bn_param: Dictionary of batch normalization parameters, as in
        spatial_batchnorm_forward (its running averages are updated in place)

    Returns a tuple of:
    - out: Output from the ReLU, of shape (N, F, H', W')
    - cache: Object to give to the backward pass
    """
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)  # (N, F, H', W')
    an, bn_cache = spatial_batchnorm_forward(a, gamma, beta, bn_param)  # (N, F, H', W')
    out, relu_cache = relu_forward(an)  # (N, F, H', W')
    cache = (conv_cache, bn_cache, relu_cache)
    return out, cache


def conv_bn_relu_backward(dout, cache):
    """
    Backward pass for the conv-batchnorm-relu convenience layer.

    Inputs:
    - dout: Upstream derivatives, of shape (N, F, H', W')
    - cache: The cache returned by conv_bn_relu_forward

    Returns a tuple of:
    - dx: Gradient with respect to x, of shape (N, C, H, W)
    - dw: Gradient with respect to w, of shape (F, C, HH, WW)
    - db: Gradient with respect to b, of shape (F,)
    - dgamma: Gradient with respect to gamma, of shape (F,)
    - dbeta: Gradient with respect to beta, of shape (F,)
    """
    conv_cache, bn_cache, relu_cache = cache
    dan = relu_backward(dout, relu_cache)  # (N, F, H', W')
    da, dgamma, dbeta = spatial_batchnorm_backward(dan, bn_cache)  # (N, F, H', W'), (F,), (F,)
    dx, dw, db = conv_backward_fast(da, conv_cache)
    return dx, dw, db, dgamma, dbeta


def conv_bn_relu_pool_forward(x, w, b, gamma, beta, conv_param, bn_param, pool_param):
    """
    Convenience layer that performs a convolution, a spatial batch
    normalization, a ReLU, and a pool.

    Inputs:
    - x: Input to the convolutional layer, of shape (N, C, H, W)
    - w: Filter weights of shape (F, C, HH, WW)
    - b: Biases, of shape (F,)
    - gamma: Scale parameter of the spatial batch normalization, of shape (F,)
    - beta: Shift parameter of the spatial batch normalization, of shape (F,)
    - conv_param: Dictionary with the keys 'stride' and 'pad'
    - bn_param: Dictionary of batch normalization parameters, as in
        spatial_batchnorm_forward (its running averages are updated in place)
    - pool_param: Dictionary with the keys 'pool_height', 'pool_width' and 'stride'

    Returns a tuple of:
    - out: Output from the pooling layer, of shape (N, F, H'', W'')
    - cache: Object to give to the backward pass
    """
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)  # (N, F, H', W')
    an, bn_cache = spatial_batchnorm_forward(a, gamma, beta, bn_param)  # (N, F, H', W')
    s, relu_cache = relu_forward(an)  # (N, F, H', W')
    out, pool_cache = max_pool_forward_fast(s, pool_param)  # (N, F, H'', W'')
    cache = (conv_cache, bn_cache, relu_cache, pool_cache)
    return out, cache


def conv_bn_relu_pool_backward(dout, cache):
    """
    Backward pass for the conv-batchnorm-relu-pool convenience layer.

    Inputs:
    - dout: Upstream derivatives, of shape (N, F, H'', W'')
    - cache: The cache returned by conv_bn_relu_pool_forward

    Returns a tuple of:
    - dx: Gradient with respect to x, of shape (N, C, H, W)
    - dw: Gradient with respect to w, of shape (F, C, HH, WW)
    - db: Gradient with respect to b, of shape (F,)
    - dgamma: Gradient with respect to gamma, of shape (F,)
    - dbeta: Gradient with respect to beta, of shape (F,)
    """
    conv_cache, bn_cache, relu_cache, pool_cache = cache
    ds = max_pool_backward_fast(dout, pool_cache)  # (N, F, H', W')
    dan = relu_backward(ds, relu_cache)  # (N, F, H', W')
    da, dgamma, dbeta = spatial_batchnorm_backward(dan, bn_cache)  # (N, F, H', W'), (F,), (F,)
    dx, dw, db = conv_backward_fast(da, conv_cache)
    return dx, dw, db, dgamma, dbeta
