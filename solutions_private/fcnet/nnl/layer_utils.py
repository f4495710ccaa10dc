"""
Convenience "sandwich" layers: common sequences of the layers in nnl/layers.py,
wrapped into one forward/backward pair so that networks stay short to write.
"""
from nnl.layers import *


def affine_relu_forward(x, w, b):
    """
    Convenience layer that performs an affine transform followed by a ReLU.

    Inputs:
    - x: Input to the affine layer, of shape (N, d_1, ..., d_k)
    - w: Weights for the affine layer, of shape (D, M)
    - b: Biases for the affine layer, of shape (M,)

    Returns a tuple of:
    - out: Output from the ReLU, of shape (N, M)
    - cache: Object to give to the backward pass
    """
    a, fc_cache = affine_forward(x, w, b)  # (N, M)
    out, relu_cache = relu_forward(a)  # (N, M)
    cache = (fc_cache, relu_cache)
    return out, cache


def affine_relu_backward(dout, cache):
    """
    Backward pass for the affine-relu convenience layer.

    Inputs:
    - dout: Upstream derivatives, of shape (N, M)
    - cache: (fc_cache, relu_cache) from affine_relu_forward

    Returns a tuple of:
    - dx: Gradient with respect to x, of shape (N, d_1, ..., d_k)
    - dw: Gradient with respect to w, of shape (D, M)
    - db: Gradient with respect to b, of shape (M,)
    """
    fc_cache, relu_cache = cache
    da = relu_backward(dout, relu_cache)  # (N, M)
    dx, dw, db = affine_backward(da, fc_cache)
    return dx, dw, db


def affine_bn_relu_forward(x, w, b, gamma, beta, bn_param):
    """
    Convenience layer that performs an affine transform, batch normalization
    and a ReLU.

    Inputs:
    - x: Input to the affine layer, of shape (N, d_1, ..., d_k)
    - w: Weights for the affine layer, of shape (D, M)
    - b: Biases for the affine layer, of shape (M,)
    - gamma: Scale parameter for batch normalization, of shape (M,)
    - beta: Shift parameter for batch normalization, of shape (M,)
    - bn_param: Dictionary of batch normalization parameters, as in
        batchnorm_forward (its running averages are updated in place)

    Returns a tuple of:
    - out: Output from the ReLU, of shape (N, M)
    - cache: Object to give to the backward pass
    """
    a, fc_cache = affine_forward(x, w, b)  # (N, M)
    a_bn, bn_cache = batchnorm_forward(a, gamma, beta, bn_param)  # (N, M)
    out, relu_cache = relu_forward(a_bn)  # (N, M)
    cache = (fc_cache, bn_cache, relu_cache)
    return out, cache


def affine_bn_relu_backward(dout, cache):
    """
    Backward pass for the affine-batchnorm-relu convenience layer.

    Inputs:
    - dout: Upstream derivatives, of shape (N, M)
    - cache: (fc_cache, bn_cache, relu_cache) from affine_bn_relu_forward

    Returns a tuple of:
    - dx: Gradient with respect to x, of shape (N, d_1, ..., d_k)
    - dw: Gradient with respect to w, of shape (D, M)
    - db: Gradient with respect to b, of shape (M,)
    - dgamma: Gradient with respect to gamma, of shape (M,)
    - dbeta: Gradient with respect to beta, of shape (M,)
    """
    fc_cache, bn_cache, relu_cache = cache
    da_bn = relu_backward(dout, relu_cache)  # (N, M)
    da, dgamma, dbeta = batchnorm_backward(da_bn, bn_cache)  # (N, M), (M,), (M,)
    dx, dw, db = affine_backward(da, fc_cache)
    return dx, dw, db, dgamma, dbeta
