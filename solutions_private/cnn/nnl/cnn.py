"""A three-layer convolutional network built from the layers of this package."""
import numpy as np

from nnl.layers import *
from nnl.conv_layers import *
from nnl.fast_layers import *
from nnl.layer_utils import *
from nnl.conv_layer_utils import *


class ThreeLayerConvNet(object):
    """
    A three-layer convolutional network with the following architecture:

    conv - relu - 2x2 max pool - affine - relu - affine - softmax

    With batch normalization, a spatial batch normalization follows the conv
    layer and a batch normalization follows the first affine layer:

    conv - spatial batchnorm - relu - 2x2 max pool - affine - batchnorm - relu
    - affine - softmax

    The network operates on minibatches of data that have shape (N, C, H, W)
    consisting of N images, each with height H and width W and with C input
    channels.

    The learnable parameters of the model are stored in the dictionary
    self.params that maps parameter names to numpy arrays.
    """

    def __init__(self, input_dim=(3, 32, 32), num_filters=32, filter_size=7,
                 hidden_dim=100, num_classes=10, weight_scale=1e-3, reg=0.0,
                 dtype=np.float32, use_batchnorm=False):
        """
        Initialize a new network.

        Inputs:
        - input_dim: Tuple (C, H, W) giving size of input data
        - num_filters: Number of filters to use in the convolutional layer
        - filter_size: Size of filters to use in the convolutional layer (an odd
            number, so that the "same" padding keeps the height and width)
        - hidden_dim: Number of units to use in the fully-connected hidden layer
        - num_classes: Number of scores to produce from the final affine layer
        - weight_scale: Scalar giving standard deviation for random initialization
            of weights
        - reg: Scalar giving L2 regularization strength
        - dtype: numpy datatype to use for computation
        - use_batchnorm: Whether to use spatial batch normalization after the
            conv layer and batch normalization after the first affine layer
        """
        self.use_batchnorm = use_batchnorm
        self.params = {}
        self.reg = reg
        self.dtype = dtype
        C, H, W = input_dim

        # =====
        # YOUR CODE HERE:
        # Initialize the weights and biases of a three layer CNN. To initialize:
        # - the biases should be initialized to zeros
        # - the weights should be initialized with entries drawn from a
        #   Gaussian distribution with zero mean and standard deviation
        #   given by weight_scale.
        # Store the conv layer's weights and biases as 'W1' and 'b1' (W1 has
        # shape (num_filters, C, filter_size, filter_size)), the hidden affine
        # layer's as 'W2' and 'b2', and the output affine layer's as 'W3' and
        # 'b3'. The conv layer keeps the height and width; the 2x2 pool halves
        # them.
        # With batchnorm, also store 'gamma1' and 'beta1' (spatial batchnorm
        # after the conv layer, shape (num_filters,)) and 'gamma2' and 'beta2'
        # (batchnorm after the first affine layer, shape (hidden_dim,));
        # gammas start at ones and betas at zeros.
        # =====
        pooled_features = num_filters * (H // 2) * (W // 2)  # inputs to the hidden affine layer
        self.params['W1'] = weight_scale * np.random.randn(num_filters, C, filter_size, filter_size)
        self.params['b1'] = np.zeros(num_filters)
        self.params['W2'] = weight_scale * np.random.randn(pooled_features, hidden_dim)
        self.params['b2'] = np.zeros(hidden_dim)
        self.params['W3'] = weight_scale * np.random.randn(hidden_dim, num_classes)
        self.params['b3'] = np.zeros(num_classes)
        if self.use_batchnorm:
            self.params['gamma1'] = np.ones(num_filters)
            self.params['beta1'] = np.zeros(num_filters)
            self.params['gamma2'] = np.ones(hidden_dim)
            self.params['beta2'] = np.zeros(hidden_dim)
        # =====
        # END YOUR CODE HERE
        # =====

        # One bn_param per batch normalization layer: [spatial batchnorm, batchnorm].
        # They keep each layer's running mean and variance between calls.
        num_batchnorm_layers = 2 if use_batchnorm else 0
        self.bn_params = [{'mode': 'train'} for _ in range(num_batchnorm_layers)]

        for k, v in self.params.items():
            self.params[k] = v.astype(dtype)

    def loss(self, X, y=None):
        """
        Evaluate loss and gradient for the three-layer convolutional network.

        Inputs:
        - X: Input data of shape (N, C, H, W)
        - y: Vector of labels, of shape (N,) where y[i] is the label for X[i] and
            0 <= y[i] < num_classes

        Returns:
        If y is None, then run a test-time forward pass of the model and return:
        - scores: Array of shape (N, num_classes) giving classification scores,
            where scores[i, c] is the classification score for X[i] and class c.

        If y is not None, then run a training-time forward and backward pass and
        return a tuple of:
        - loss: Scalar value giving the loss
        - grads: Dictionary with the same keys as self.params, mapping parameter
            names to gradients of the loss with respect to those parameters.
        """
        X = X.astype(self.dtype)  # compute in the network's dtype (float32 trains twice as fast)
        W1, b1 = self.params['W1'], self.params['b1']
        W2, b2 = self.params['W2'], self.params['b2']
        W3, b3 = self.params['W3'], self.params['b3']

        # pass conv_param to the forward pass for the convolutional layer
        filter_size = W1.shape[2]
        conv_param = {'stride': 1, 'pad': (filter_size - 1) // 2}

        # pass pool_param to the forward pass for the max-pooling layer
        pool_param = {'pool_height': 2, 'pool_width': 2, 'stride': 2}

        # batchnorm behaves differently in training and at test time
        mode = 'test' if y is None else 'train'
        for bn_param in self.bn_params:
            bn_param['mode'] = mode

        scores = None

        # =====
        # YOUR CODE HERE:
        # Implement the forward pass of the three layer CNN. Store the output
        # scores as the variable "scores". With batchnorm, pass
        # self.bn_params[0] to the spatial batchnorm and self.bn_params[1] to
        # the batchnorm.
        # =====
        if self.use_batchnorm:
            gamma1, beta1 = self.params['gamma1'], self.params['beta1']
            gamma2, beta2 = self.params['gamma2'], self.params['beta2']
            pooled, conv_block_cache = conv_bn_relu_pool_forward(
                X, W1, b1, gamma1, beta1, conv_param, self.bn_params[0], pool_param)  # (N, F, H/2, W/2)
            hidden, hidden_block_cache = affine_bn_relu_forward(
                pooled, W2, b2, gamma2, beta2, self.bn_params[1])  # (N, hidden_dim)
        else:
            pooled, conv_block_cache = conv_relu_pool_forward(X, W1, b1, conv_param, pool_param)  # (N, F, H/2, W/2)
            hidden, hidden_block_cache = affine_relu_forward(pooled, W2, b2)  # (N, hidden_dim)
        scores, scores_cache = affine_forward(hidden, W3, b3)  # (N, num_classes)
        # =====
        # END YOUR CODE HERE
        # =====

        if y is None:
            return scores

        loss, grads = 0, {}

        # =====
        # YOUR CODE HERE:
        # Implement the backward pass of the three layer CNN. Store the grads
        # in the grads dictionary, exactly as before (i.e., the "grad" of
        # self.params[k] will be grads[k]). Store the loss as "loss", and
        # don't forget to add L2 regularization 0.5 * reg * sum(W**2) on ALL
        # weight matrices (W1, W2 and W3; not the biases, gammas or betas).
        # =====
        data_loss, dscores = softmax_loss(scores, y)
        weight_norms = np.sum(W1 * W1) + np.sum(W2 * W2) + np.sum(W3 * W3)
        loss = data_loss + 0.5 * self.reg * weight_norms

        dhidden, dW3, grads['b3'] = affine_backward(dscores, scores_cache)
        if self.use_batchnorm:
            dpooled, dW2, grads['b2'], grads['gamma2'], grads['beta2'] = affine_bn_relu_backward(
                dhidden, hidden_block_cache)
            _, dW1, grads['b1'], grads['gamma1'], grads['beta1'] = conv_bn_relu_pool_backward(
                dpooled, conv_block_cache)
        else:
            dpooled, dW2, grads['b2'] = affine_relu_backward(dhidden, hidden_block_cache)
            _, dW1, grads['b1'] = conv_relu_pool_backward(dpooled, conv_block_cache)

        # the derivative of 0.5 * reg * sum(W**2) is reg * W
        grads['W1'] = dW1 + self.reg * W1
        grads['W2'] = dW2 + self.reg * W2
        grads['W3'] = dW3 + self.reg * W3
        # =====
        # END YOUR CODE HERE
        # =====

        return loss, grads
