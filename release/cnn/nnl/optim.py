"""
This file implements various first-order update rules that are commonly used for
training neural networks. Each update rule accepts current weights and the
gradient of the loss with respect to those weights and produces the next set of
weights. Each update rule has the same interface:

def update(w, dw, config=None):

Inputs:
- w: A numpy array giving the current weights.
- dw: A numpy array of the same shape as w giving the gradient of the
    loss with respect to w.
- config: A dictionary containing hyperparameter values such as learning rate,
    momentum, etc. If the update rule requires caching values over many
    iterations, then config will also hold these cached values.

Returns a tuple of:
- next_w: The next point after the update, of the same shape as w.
- config: The config dictionary to be passed to the next iteration of the
    update rule.

NOTE: For most update rules, the default learning rate will probably not perform
well; however the default values of the other hyperparameters should work well
for a variety of different problems.

An update rule must not modify w in place: return a new array next_w.
"""
import numpy as np


def sgd(w, dw, config=None):
    """
    Performs vanilla stochastic gradient descent.

    config format:
    - learning_rate: Scalar learning rate.
    """
    if config is None:
        config = {}
    config.setdefault('learning_rate', 1e-2)

    next_w = None

    # =====
    # YOUR CODE HERE:
    # Implement the vanilla SGD update and store the next weights in next_w.
    # =====
    # YOUR CODE HERE
    raise NotImplementedError()
    # =====
    # END YOUR CODE HERE
    # =====

    return next_w, config


def sgd_momentum(w, dw, config=None):
    """
    Performs stochastic gradient descent with momentum.

    config format:
    - learning_rate: Scalar learning rate.
    - momentum: Scalar between 0 and 1 giving the momentum value.
        Setting momentum = 0 reduces to sgd.
    - velocity: A numpy array of the same shape as w and dw used to store a
        moving average of the gradients.
    """
    if config is None:
        config = {}
    config.setdefault('learning_rate', 1e-2)
    config.setdefault('momentum', 0.9)
    v = config['velocity'] if 'velocity' in config else np.zeros_like(w)  # zeros only when needed

    next_w = None

    # =====
    # YOUR CODE HERE:
    # Implement the momentum update formula. Return the updated weights
    # as next_w, and the updated velocity as v.
    # =====
    # YOUR CODE HERE
    raise NotImplementedError()
    # =====
    # END YOUR CODE HERE
    # =====

    config['velocity'] = v
    return next_w, config


def rmsprop(w, dw, config=None):
    """
    Uses the RMSProp update rule, which uses a moving average of squared
    gradient values to set adaptive per-parameter learning rates.

    config format:
    - learning_rate: Scalar learning rate.
    - decay_rate: Scalar between 0 and 1 giving the decay rate for the squared
        gradient cache.
    - epsilon: Small scalar used for smoothing to avoid dividing by zero.
    - cache: Moving average of second moments of gradients, of the same shape
        as w.
    """
    if config is None:
        config = {}
    config.setdefault('learning_rate', 1e-2)
    config.setdefault('decay_rate', 0.99)
    config.setdefault('epsilon', 1e-8)
    if 'cache' not in config:  # not config.setdefault: that would make the zeros at every call
        config['cache'] = np.zeros_like(w)

    next_w = None

    # =====
    # YOUR CODE HERE:
    # Implement the RMSProp update. Store the next value of w as next_w,
    # and store the new moving average of squared gradients in
    # config['cache'].
    # =====
    # YOUR CODE HERE
    raise NotImplementedError()
    # =====
    # END YOUR CODE HERE
    # =====

    return next_w, config


def adam(w, dw, config=None):
    """
    Uses the Adam update rule, which incorporates moving averages of both the
    gradient and its square and a bias correction term.

    config format:
    - learning_rate: Scalar learning rate.
    - beta1: Decay rate for moving average of first moment of gradient.
    - beta2: Decay rate for moving average of second moment of gradient.
    - epsilon: Small scalar used for smoothing to avoid dividing by zero.
    - m: Moving average of gradient, of the same shape as w.
    - v: Moving average of squared gradient, of the same shape as w.
    - t: Iteration number. It starts at 0; increment it BEFORE using it in the
        bias correction, so that the first update uses t = 1.
    """
    if config is None:
        config = {}
    config.setdefault('learning_rate', 1e-3)
    config.setdefault('beta1', 0.9)
    config.setdefault('beta2', 0.999)
    config.setdefault('epsilon', 1e-8)
    if 'm' not in config:  # not config.setdefault: that would make the zeros at every call
        config['m'] = np.zeros_like(w)
    if 'v' not in config:
        config['v'] = np.zeros_like(w)
    config.setdefault('t', 0)

    next_w = None

    # =====
    # YOUR CODE HERE:
    # Implement the Adam update formula, with bias correction. Store the
    # next value of w as next_w, and store the new m, v and t in config.
    # =====
    # YOUR CODE HERE
    raise NotImplementedError()
    # =====
    # END YOUR CODE HERE
    # =====

    return next_w, config
