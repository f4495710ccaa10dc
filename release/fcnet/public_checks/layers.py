"""
The checks of nnl/layers.py: those the FullyConnectedNets, BatchNormalization and
Dropout notebooks of the fully connected nets homework show.

Each check repeats cells of those notebooks: the same inputs (the same seeds),
the same hard-coded expected values, the same numerical gradients. The score
cells run them (see utils/public_checks.py); they are not your grade.
"""
import numpy as np

from utils.gradient_check import eval_numerical_gradient, eval_numerical_gradient_array
from utils.public_checks import expect_array, expect_close, expect_gradient, expect_near, public_check, returned

GRADIENT_TOLERANCE = 1e-6  # the notebooks: errors around 1e-8 or less


@public_check('affine_forward')
def check_affine_forward(layers):
    """
    The affine_forward check of FullyConnectedNets.ipynb: inputs of shape (2, 4, 5, 6)
    from np.linspace, and its hard-coded correct_out.
    """
    num_inputs = 2
    input_shape = (4, 5, 6)
    output_dim = 3
    input_size = num_inputs * np.prod(input_shape)
    weight_size = output_dim * np.prod(input_shape)
    x = np.linspace(-0.1, 0.5, num=input_size).reshape(num_inputs, *input_shape)
    w = np.linspace(-0.2, 0.3, num=weight_size).reshape(np.prod(input_shape), output_dim)
    b = np.linspace(-0.3, 0.1, num=output_dim)
    correct_out = np.array([[1.49834967, 1.70660132, 1.91485297],
                            [3.25553199, 3.5141327, 3.77273342]])
    example = "the FullyConnectedNets notebook's linspace example"
    out, _ = returned(layers.affine_forward(x, w, b), ('out', 'cache'), example)
    expect_close('out', out, correct_out, example, tolerance=1e-7)


@public_check('affine_backward', forward='affine_forward')
def check_affine_backward(layers):
    """
    The affine_backward check of FullyConnectedNets.ipynb: dx, dw and db against the
    numerical gradients of your affine_forward, for inputs of shape (10, 2, 3).
    """
    np.random.seed(231)
    x = np.random.randn(10, 2, 3)
    w = np.random.randn(6, 5)
    b = np.random.randn(5)
    dout = np.random.randn(10, 5)
    example = "the FullyConnectedNets notebook's gradient check"

    dx_num = eval_numerical_gradient_array(lambda x_probe: layers.affine_forward(x_probe, w, b)[0], x, dout)
    dw_num = eval_numerical_gradient_array(lambda w_probe: layers.affine_forward(x, w_probe, b)[0], w, dout)
    db_num = eval_numerical_gradient_array(lambda b_probe: layers.affine_forward(x, w, b_probe)[0], b, dout)

    _, cache = returned(layers.affine_forward(x, w, b), ('out', 'cache'), example)
    dx, dw, db = returned(layers.affine_backward(dout, cache), ('dx', 'dw', 'db'), example)
    expect_gradient('dx', dx, dx_num, example, GRADIENT_TOLERANCE)
    expect_gradient('dw', dw, dw_num, example, GRADIENT_TOLERANCE)
    expect_gradient('db', db, db_num, example, GRADIENT_TOLERANCE)


@public_check('relu_forward')
def check_relu_forward(layers):
    """
    The relu_forward check of FullyConnectedNets.ipynb: 12 values from np.linspace and
    the hard-coded correct_out.
    """
    x = np.linspace(-0.5, 0.5, num=12).reshape(3, 4)
    correct_out = np.array([[0., 0., 0., 0.],
                            [0., 0., 0.04545455, 0.13636364],
                            [0.22727273, 0.31818182, 0.40909091, 0.5]])
    example = "the FullyConnectedNets notebook's linspace example"
    out, _ = returned(layers.relu_forward(x), ('out', 'cache'), example)
    expect_close('out', out, correct_out, example, tolerance=1e-6)


@public_check('relu_backward', forward='relu_forward')
def check_relu_backward(layers):
    """
    The relu_backward check of FullyConnectedNets.ipynb: dx against the numerical
    gradient of your relu_forward, for inputs of shape (10, 10).
    """
    np.random.seed(231)
    x = np.random.randn(10, 10)
    dout = np.random.randn(*x.shape)
    example = "the FullyConnectedNets notebook's gradient check"

    dx_num = eval_numerical_gradient_array(lambda x_probe: layers.relu_forward(x_probe)[0], x, dout)
    _, cache = returned(layers.relu_forward(x), ('out', 'cache'), example)
    dx = layers.relu_backward(dout, cache)
    expect_gradient('dx', dx, dx_num, example, GRADIENT_TOLERANCE)


@public_check('batchnorm_forward')
def check_batchnorm_forward(layers):
    """
    The batchnorm_forward checks of BatchNormalization.ipynb: in training mode, means
    and stds of the output close to beta and gamma; after 50 training passes, test-mode
    outputs with means near 0 and stds near 1.
    """
    np.random.seed(231)
    N, D1, D2, D3 = 200, 50, 60, 3
    X = np.random.randn(N, D1)
    W1 = np.random.randn(D1, D2)
    W2 = np.random.randn(D2, D3)
    a = np.maximum(0, X.dot(W1)).dot(W2)
    examples = [
        ("the BatchNormalization notebook's training-mode example", np.ones(D3), np.zeros(D3)),
        ("the BatchNormalization notebook's training-mode example with gamma (1, 2, 3), beta (11, 12, 13)",
         np.asarray([1.0, 2.0, 3.0]), np.asarray([11.0, 12.0, 13.0])),
    ]
    for example, gamma, beta in examples:
        out, _ = returned(layers.batchnorm_forward(a, gamma, beta, {'mode': 'train'}), ('out', 'cache'), example)
        out = expect_array('out', out, (N, D3), example)
        expect_near('means of out', out.mean(axis=0), beta, 1e-6, example)
        expect_near('stds of out', out.std(axis=0), gamma, 1e-3 * gamma, example)

    np.random.seed(231)
    W1 = np.random.randn(D1, D2)
    W2 = np.random.randn(D2, D3)
    bn_param = {'mode': 'train'}
    gamma = np.ones(D3)
    beta = np.zeros(D3)
    for t in range(50):
        X = np.random.randn(N, D1)
        a = np.maximum(0, X.dot(W1)).dot(W2)
        layers.batchnorm_forward(a, gamma, beta, bn_param)
    bn_param['mode'] = 'test'
    X = np.random.randn(N, D1)
    a = np.maximum(0, X.dot(W1)).dot(W2)
    example = "the BatchNormalization notebook's test-mode example, after 50 training passes"
    out, _ = returned(layers.batchnorm_forward(a, gamma, beta, bn_param), ('out', 'cache'), example)
    out = expect_array('out', out, (N, D3), example)
    expect_near('means of out', out.mean(axis=0), 0, 0.25, example)
    expect_near('stds of out', out.std(axis=0), 1, 0.1, example)


@public_check('batchnorm_backward', forward='batchnorm_forward')
def check_batchnorm_backward(layers):
    """
    The batchnorm_backward check of BatchNormalization.ipynb: dx, dgamma and dbeta
    against the numerical gradients of your batchnorm_forward, for inputs of shape (4, 5).
    """
    np.random.seed(231)
    N, D = 4, 5
    x = 5 * np.random.randn(N, D) + 12
    gamma = np.random.randn(D)
    beta = np.random.randn(D)
    dout = np.random.randn(N, D)
    example = "the BatchNormalization notebook's gradient check"

    bn_param = {'mode': 'train'}
    fx = lambda x_probe: layers.batchnorm_forward(x_probe, gamma, beta, bn_param)[0]
    fg = lambda gamma_probe: layers.batchnorm_forward(x, gamma_probe, beta, bn_param)[0]
    fb = lambda beta_probe: layers.batchnorm_forward(x, gamma, beta_probe, bn_param)[0]
    dx_num = eval_numerical_gradient_array(fx, x, dout)
    dgamma_num = eval_numerical_gradient_array(fg, gamma.copy(), dout)
    dbeta_num = eval_numerical_gradient_array(fb, beta.copy(), dout)

    _, cache = returned(layers.batchnorm_forward(x, gamma, beta, bn_param), ('out', 'cache'), example)
    dx, dgamma, dbeta = returned(layers.batchnorm_backward(dout, cache), ('dx', 'dgamma', 'dbeta'), example)
    expect_gradient('dx', dx, dx_num, example, GRADIENT_TOLERANCE)
    expect_gradient('dgamma', dgamma, dgamma_num, example, GRADIENT_TOLERANCE)
    expect_gradient('dbeta', dbeta, dbeta_num, example, GRADIENT_TOLERANCE)


@public_check('dropout_forward')
def check_dropout_forward(layers):
    """
    The dropout_forward check of Dropout.ipynb, with p the probability of dropping a unit
    (this course's docstring): in training mode about a fraction p of the outputs is 0 and
    the mean is kept (inverted dropout); in test mode the output is the input. And, as the
    notebook's gradient check needs, the same seed gives the same output.
    """
    np.random.seed(231)
    x = np.random.randn(500, 500) + 10
    for p in [0.25, 0.4, 0.7]:
        example = "the Dropout notebook's example with p = %g" % p
        out, _ = returned(layers.dropout_forward(x, {'mode': 'train', 'p': p}), ('out', 'cache'), example)
        out = expect_array('out', out, x.shape, example)
        expect_near('the fraction of training-mode outputs set to zero', (out == 0).mean(), p, 0.01, example)
        expect_near('the mean of the training-mode output', out.mean(), x.mean(), 0.1, example)

        out_test, _ = returned(layers.dropout_forward(x, {'mode': 'test', 'p': p}), ('out', 'cache'), example)
        expect_close('the test-mode output', out_test, x, example, tolerance=1e-12)

    example = "the Dropout notebook's gradient check parameters (p = 0.2, seed 123)"
    dropout_param = {'mode': 'train', 'p': 0.2, 'seed': 123}
    out, _ = returned(layers.dropout_forward(x, dropout_param), ('out', 'cache'), example)
    out_again, _ = returned(layers.dropout_forward(x, dropout_param), ('out', 'cache'), example)
    expect_close('out of a second call with the same seed', out_again, out, example, tolerance=0)


@public_check('dropout_backward', forward='dropout_forward')
def check_dropout_backward(layers):
    """
    The dropout_backward check of Dropout.ipynb: in training mode, dx against the numerical
    gradient of your dropout_forward with a fixed seed; in test mode, dx is dout.
    """
    np.random.seed(231)
    x = np.random.randn(10, 10) + 10
    dout = np.random.randn(*x.shape)
    example = "the Dropout notebook's gradient check (p = 0.2, seed 123)"

    dropout_param = {'mode': 'train', 'p': 0.2, 'seed': 123}
    _, cache = returned(layers.dropout_forward(x, dropout_param), ('out', 'cache'), example)
    dx = layers.dropout_backward(dout, cache)
    dx_num = eval_numerical_gradient_array(lambda x_probe: layers.dropout_forward(x_probe, dropout_param)[0], x, dout)
    expect_gradient('dx', dx, dx_num, example, GRADIENT_TOLERANCE)

    example = "the Dropout notebook's example in test mode"
    _, cache = returned(layers.dropout_forward(x, {'mode': 'test', 'p': 0.2}), ('out', 'cache'), example)
    expect_close('dx', layers.dropout_backward(dout, cache), dout, example, tolerance=1e-12)


def loss_example():
    """
    The scores and labels of FullyConnectedNets.ipynb's loss checks.

    Returns a tuple of:
    - x: Scores of shape (50, 10), all close to 0
    - y: Labels of shape (50,)
    """
    np.random.seed(231)
    num_classes, num_inputs = 10, 50
    x = 0.001 * np.random.randn(num_inputs, num_classes)
    y = np.random.randint(num_classes, size=num_inputs)
    return x, y


def check_loss(loss_function, expected_loss):
    """
    A loss check of FullyConnectedNets.ipynb: the loss of nearly equal scores, and dx
    against the numerical gradient of your loss.

    Inputs:
    - loss_function: Your svm_loss or softmax_loss
    - expected_loss: What the notebook says the loss should be close to
    """
    x, y = loss_example()
    example = "the FullyConnectedNets notebook's loss check (50 inputs, 10 classes, scores near 0)"
    dx_num = eval_numerical_gradient(lambda x_probe: loss_function(x_probe, y)[0], x, verbose=False)
    loss, dx = returned(loss_function(x, y), ('loss', 'dx'), example)
    loss = expect_array('loss', loss, (), example)  # a scalar
    expect_near('loss', loss, expected_loss, 0.01, example)
    expect_gradient('dx', dx, dx_num, example, GRADIENT_TOLERANCE)


@public_check('svm_loss')
def check_svm_loss(layers):
    """
    The svm_loss check of FullyConnectedNets.ipynb: the loss should be around 9 (each of
    the 9 wrong classes misses the margin of 1 by about 1), and dx passes the gradient check.
    """
    check_loss(layers.svm_loss, 9.0)


@public_check('softmax_loss')
def check_softmax_loss(layers):
    """
    The softmax_loss check of FullyConnectedNets.ipynb: the loss should be close to
    log(10) = 2.3 (10 nearly equal scores), and dx passes the gradient check.
    """
    check_loss(layers.softmax_loss, np.log(10))
