"""The mutation catalogue of the fully connected networks (nnl/fc_net.py): realistic mistakes in each.

The layers' and optimizers' mistakes are in ``mutations_layers.py`` (shared with the CNN homework).
Each entry edits the reference (`source/fcnet/nnl`) inside one class; `python -m autograder validate
fcnet` grades every mutant and checks that each is caught. Keep the ``mistake`` texts short.
"""
from autograder.grading.mutations import Mutation as M

F = "nnl/fc_net.py"

MUTATIONS = [
    # --- TwoLayerNet ---------------------------------------------------------------------------------
    M("two_layer_reg_without_half", "TwoLayerNet", F,
      (("data_loss + 0.5 * self.reg * (np.sum(W1 * W1) + np.sum(W2 * W2))",
        "data_loss + self.reg * (np.sum(W1 * W1) + np.sum(W2 * W2))"),),
      "the regularization loss lacks the factor 0.5"),
    M("two_layer_no_reg_gradient", "TwoLayerNet", F, (("grads['W1'] = dW1 + self.reg * W1", "grads['W1'] = dW1"),),
      "the regularization gradient of W1 is missing"),
    M("two_layer_random_bias", "TwoLayerNet", F,
      (("self.params['b1'] = np.zeros(hidden_dim)", "self.params['b1'] = weight_scale * np.random.randn(hidden_dim)"),),
      "b1 starts random instead of zero"),
    M("two_layer_relu_on_scores", "TwoLayerNet", F,
      (("scores, scores_cache = affine_forward(hidden, W2, b2)", "scores, scores_cache = affine_relu_forward(hidden, W2, b2)"),
       ("dhidden, dW2, grads['b2'] = affine_backward(dscores, scores_cache)",
        "dhidden, dW2, grads['b2'] = affine_relu_backward(dscores, scores_cache)")),
      "the output layer has a ReLU"),
    M("two_layer_uniform_init", "TwoLayerNet", F,
      (("weight_scale * np.random.randn(input_dim, hidden_dim)", "weight_scale * np.random.rand(input_dim, hidden_dim)"),),
      "W1 is drawn from a uniform distribution, not a Gaussian"),
    M("two_layer_w2_transposed", "TwoLayerNet", F,
      (("weight_scale * np.random.randn(hidden_dim, num_classes)", "weight_scale * np.random.randn(num_classes, hidden_dim)"),),
      "W2 is (num_classes, hidden_dim) instead of (hidden_dim, num_classes)"),
    # --- FullyConnectedNet ---------------------------------------------------------------------------
    M("fcn_reg_on_biases", "FullyConnectedNet", F,
      (("weights = [self.params['W%d' % layer] for layer in range(1, self.num_layers + 1)]",
        "weights = [self.params[name] for name in self.params if name[0] in 'Wb']"),),
      "the biases are regularized too"),
    M("fcn_reg_without_half", "FullyConnectedNet", F,
      (("loss = data_loss + 0.5 * self.reg * sum(", "loss = data_loss + self.reg * sum("),),
      "the regularization loss lacks the factor 0.5"),
    M("fcn_no_reg_gradient", "FullyConnectedNet", F,
      (("grads['W%d' % layer] = dW + self.reg * self.params['W%d' % layer]", "grads['W%d' % layer] = dW"),),
      "the hidden layers' weights get no regularization gradient"),
    M("fcn_batchnorm_after_relu", "FullyConnectedNet", F,
      (("""hidden, block_cache = affine_bn_relu_forward(hidden, W, b, gamma, beta,
                                                             self.bn_params[layer - 1])  # (N, H_layer)""",
        """affine_out, fc_cache = affine_forward(hidden, W, b)
                relu_out, relu_cache = relu_forward(affine_out)
                hidden, bn_cache = batchnorm_forward(relu_out, gamma, beta, self.bn_params[layer - 1])
                block_cache = (fc_cache, bn_cache, relu_cache)"""),),
      "batch normalization comes after the ReLU instead of before it"),
    M("fcn_dropout_in_test_mode", "FullyConnectedNet", F,
      (("self.dropout_param['mode'] = mode", "self.dropout_param['mode'] = 'train'"),),
      "dropout stays on at test time"),
    M("fcn_relu_on_scores", "FullyConnectedNet", F,
      (("scores, scores_cache = affine_forward(hidden, self.params['W%d' % last],",
        "scores, scores_cache = affine_relu_forward(hidden, self.params['W%d' % last],"),
       ("dhidden, dW, grads['b%d' % last] = affine_backward(dscores, scores_cache)",
        "dhidden, dW, grads['b%d' % last] = affine_relu_backward(dscores, scores_cache)")),
      "the last layer has a ReLU"),
    M("fcn_gradient_averaged_twice", "FullyConnectedNet", F,
      (("data_loss, dscores = softmax_loss(scores, y)",
        "data_loss, dscores = softmax_loss(scores, y)\n        dscores = dscores / X.shape[0]"),),
      "the gradient is averaged over the batch twice (softmax_loss already divides by N)"),
    M("fcn_shared_bn_param", "FullyConnectedNet", F,
      (("gamma, beta,\n                                                             self.bn_params[layer - 1])",
        "gamma, beta,\n                                                             self.bn_params[0])"),),
      "every batchnorm layer shares the first layer's bn_param (running averages of the wrong size)"),
    M("fcn_gammas_zero", "FullyConnectedNet", F,
      (("self.params['gamma%d' % layer] = np.ones(fan_out)", "self.params['gamma%d' % layer] = np.zeros(fan_out)"),),
      "the gammas start at 0 instead of 1"),
    M("fcn_unscaled_weights", "FullyConnectedNet", F,
      (("weight_scale * np.random.randn(fan_in, fan_out)", "np.random.randn(fan_in, fan_out)"),),
      "the weights are not scaled by weight_scale"),
    M("fcn_dropout_backward_skipped", "FullyConnectedNet", F,
      (("                dhidden = dropout_backward(dhidden, dropout_cache)\n", "                pass\n"),),
      "the backward pass skips dropout's mask"),
    M("fcn_one_layer_short", "FullyConnectedNet", F,
      (("layer_sizes = [input_dim] + list(hidden_dims) + [num_classes]",
        "layer_sizes = [input_dim] + list(hidden_dims)[:-1] + [num_classes]"),),
      "the last hidden layer is left out of the parameters"),
]
