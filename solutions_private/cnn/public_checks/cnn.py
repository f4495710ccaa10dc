"""
The checks of nnl/cnn.py that CNN.ipynb shows: the sanity checks of a fresh
ThreeLayerConvNet and the gradient checks of a tiny one, without training.

The score cells run them (see utils/public_checks.py); they are not your grade.
"""
import numpy as np

from utils.gradient_check import eval_numerical_gradient
from utils.public_checks import (CheckFailed, expect_array, expect_gradient, expect_near, expect_parameters, loss_and_grads,
                                 public_check)

GRADIENT_TOLERANCE = 1e-5  # the notebook: errors around 1e-6 (1e-5 with batchnorm) or less


@public_check('ThreeLayerConvNet')
def check_three_layer_conv_net(cnn):
    """
    The checks of CNN.ipynb on ThreeLayerConvNet, on small networks:
    - the initial loss: about log(10) without regularization, more with it;
      test-time scores of shape (N, num_classes);
    - the gradient check of the tiny float64 network (2 inputs of shape (3, 10, 12));
    - with use_batchnorm=True: the parameters gamma1, beta1, gamma2, beta2, gradients of b1
      and b2 that are tiny, and gradient checks of the other parameters (but W2, for time).
    """
    ThreeLayerConvNet = cnn.ThreeLayerConvNet

    np.random.seed(231)
    N, input_dim = 10, (3, 16, 16)
    model = ThreeLayerConvNet(input_dim=input_dim)
    X = np.random.randn(N, *input_dim)
    y = np.random.randint(10, size=N)
    example = 'a fresh ThreeLayerConvNet(input_dim=(3, 16, 16)) (32 7x7 filters, hidden_dim 100)'
    expect_parameters(model, {'W1': (32, 3, 7, 7), 'b1': (32,), 'W2': (32 * 8 * 8, 100), 'b2': (100,),
                              'W3': (100, 10), 'b3': (10,)}, example)
    loss, _ = loss_and_grads(model, X, y, example)
    expect_near('the initial loss without regularization', loss, np.log(10), 0.01, example)
    model.reg = 0.5
    loss_with_reg, _ = loss_and_grads(model, X, y, example)
    if not loss_with_reg > loss:
        raise CheckFailed('the initial loss with reg 0.5 (%.4g) is not above the loss without (%.4g) on %s'
                          % (loss_with_reg, loss, example))
    expect_array('the test-time scores model.loss(X)', model.loss(X), (N, 10), example)

    np.random.seed(231)
    num_inputs = 2
    input_dim = (3, 10, 12)
    num_classes = 10
    X = np.random.randn(num_inputs, *input_dim)
    y = np.random.randint(num_classes, size=num_inputs)
    model = ThreeLayerConvNet(input_dim=input_dim, num_filters=3, filter_size=3, hidden_dim=7,
                              num_classes=num_classes, weight_scale=1e-1, reg=0.1, dtype=np.float64)
    example = "the notebook's gradient check (2 inputs of shape (3, 10, 12), reg 0.1)"
    _, grads = loss_and_grads(model, X, y, example)
    loss_of_params = lambda _: model.loss(X, y)[0]
    for param_name in sorted(grads):
        param_grad_num = eval_numerical_gradient(loss_of_params, model.params[param_name], verbose=False)
        expect_gradient("grads['%s']" % param_name, grads[param_name], param_grad_num, example, GRADIENT_TOLERANCE)

    np.random.seed(231)
    num_inputs = 4
    X = np.random.randn(num_inputs, *input_dim)
    y = np.random.randint(num_classes, size=num_inputs)
    bn_model = ThreeLayerConvNet(input_dim=input_dim, num_filters=3, filter_size=3, hidden_dim=7,
                                 num_classes=num_classes, weight_scale=1e-2, reg=0.1, dtype=np.float64,
                                 use_batchnorm=True)
    example = "the notebook's batchnorm gradient check (4 inputs of shape (3, 10, 12), use_batchnorm=True)"
    expect_parameters(bn_model, {'W1': (3, 3, 3, 3), 'b1': (3,), 'W2': (3 * 5 * 6, 7), 'b2': (7,),
                                 'W3': (7, 10), 'b3': (10,), 'gamma1': (3,), 'beta1': (3,),
                                 'gamma2': (7,), 'beta2': (7,)}, example)
    loss, grads = loss_and_grads(bn_model, X, y, example)
    expect_near('the initial loss with batchnorm', loss, np.log(10), 0.1, example)
    for param_name in ['b1', 'b2']:
        expect_near("the largest of grads['%s'] (b1 and b2 do not change the loss)" % param_name,
                    np.abs(grads[param_name]).max(), 0, 1e-10, example)
    loss_of_bn_params = lambda _: bn_model.loss(X, y)[0]
    for param_name in sorted(set(grads) - {'b1', 'b2', 'W2'}):
        param_grad_num = eval_numerical_gradient(loss_of_bn_params, bn_model.params[param_name], verbose=False, h=1e-6)
        expect_gradient("grads['%s']" % param_name, grads[param_name], param_grad_num, example, GRADIENT_TOLERANCE)
