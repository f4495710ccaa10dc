import numpy as np


def affine_forward(x, w, b):
    """
    Computes the forward pass for an affine (fully-connected) layer.

    The input x has shape (N, d_1, ..., d_k) and contains a minibatch of N
    examples, where each example x[i] has shape (d_1, ..., d_k). We will
    reshape each input into a vector of dimension D = d_1 * ... * d_k, and
    then transform it to an output vector of dimension M.

    Inputs:
    - x: A numpy array containing input data, of shape (N, d_1, ..., d_k)
    - w: A numpy array of weights, of shape (D, M)
    - b: A numpy array of biases, of shape (M,)

    Returns a tuple of:
    - out: output, of shape (N, M)
    - cache: (x, w, b)
    """
    N = x.shape[0]
    out = None

    # =====
    # YOUR CODE HERE:
    # Calculate the output of the forward pass. Notice the dimensions
    # of w are D x M, which is the transpose of what we did in earlier
    # assignments.
    # =====
    x_rows = x.reshape(N, -1)  # (N, D)
    out = x_rows @ w + b  # (N, M)
    # =====
    # END YOUR CODE HERE
    # =====

    cache = (x, w, b)
    return out, cache


def affine_backward(dout, cache):
    """
    Computes the backward pass for an affine layer.

    Inputs:
    - dout: Upstream derivative, of shape (N, M)
    - cache: Tuple of:
        - x: Input data, of shape (N, d_1, ..., d_k)
        - w: Weights, of shape (D, M)
        - b: Biases, of shape (M,)

    Returns a tuple of:
    - dx: Gradient with respect to x, of shape (N, d_1, ..., d_k)
    - dw: Gradient with respect to w, of shape (D, M)
    - db: Gradient with respect to b, of shape (M,)
    """
    x, w, b = cache
    N = x.shape[0]
    dx, dw, db = None, None, None

    # =====
    # YOUR CODE HERE:
    # Calculate the gradients for the backward pass.
    # =====
    dx = (dout @ w.T).reshape(x.shape)  # (N, d_1, ..., d_k)
    dw = x.reshape(N, -1).T @ dout  # (D, M)
    db = np.sum(dout, axis=0)  # (M,)
    # =====
    # END YOUR CODE HERE
    # =====

    return dx, dw, db


def relu_forward(x):
    """
    Computes the forward pass for a layer of rectified linear units (ReLUs).

    Inputs:
    - x: Inputs, of any shape

    Returns a tuple of:
    - out: Output, of the same shape as x
    - cache: x
    """
    out = None

    # =====
    # YOUR CODE HERE:
    # Implement the ReLU forward pass.
    # =====
    out = np.maximum(x, 0)  # same shape as x
    # =====
    # END YOUR CODE HERE
    # =====

    cache = x
    return out, cache


def relu_backward(dout, cache):
    """
    Computes the backward pass for a layer of rectified linear units (ReLUs).

    Inputs:
    - dout: Upstream derivatives, of any shape
    - cache: Input x, of the same shape as dout

    Returns:
    - dx: Gradient with respect to x, of the same shape as dout
    """
    x = cache
    dx = None

    # =====
    # YOUR CODE HERE:
    # Implement the ReLU backward pass.
    # =====
    dx = np.where(x > 0, dout, 0)  # gradient flows only where x was positive
    # =====
    # END YOUR CODE HERE
    # =====

    return dx


def batchnorm_forward(x, gamma, beta, bn_param):
    """
    Forward pass for batch normalization.

    During training the sample mean and (uncorrected) sample variance are
    computed from minibatch statistics and used to normalize the incoming data.
    During training we also keep an exponentially decaying running mean of the
    mean and variance of each feature, and these averages are used to normalize
    data at test-time.

    At each time step we update the running averages for mean and variance using
    an exponential decay based on the momentum parameter:

    running_mean = momentum * running_mean + (1 - momentum) * sample_mean
    running_var = momentum * running_var + (1 - momentum) * sample_var

    Note that the batch normalization paper suggests a different test-time
    behavior: they compute sample mean and variance for each feature using a
    large number of training images rather than using a running average. For
    this implementation we have chosen to use running averages instead since
    they do not require an additional estimation step; the torch implementation
    of batch normalization also uses running averages.

    Inputs:
    - x: Input data of shape (N, D)
    - gamma: Scale parameter of shape (D,)
    - beta: Shift parameter of shape (D,)
    - bn_param: Dictionary with the following keys:
        - mode: 'train' or 'test'; required
        - eps: Constant for numeric stability (default 1e-5)
        - momentum: Constant for running mean / variance (default 0.9).
            momentum=0 means that old information is discarded completely at
            every time step, while momentum=1 means that new information is
            never incorporated.
        - running_mean: Array of shape (D,) giving running mean of features
        - running_var: Array of shape (D,) giving running variance of features

    Returns a tuple of:
    - out: Output of shape (N, D)
    - cache: A tuple of values needed in the backward pass (None in test mode)
    """
    mode = bn_param['mode']
    eps = bn_param.get('eps', 1e-5)
    momentum = bn_param.get('momentum', 0.9)

    N, D = x.shape
    running_mean = bn_param.get('running_mean', np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get('running_var', np.zeros(D, dtype=x.dtype))

    out, cache = None, None

    if mode == 'train':
        # =====
        # YOUR CODE HERE:
        # (1) Calculate the mean and (uncorrected) variance of the minibatch.
        # (2) Normalize the activations with the minibatch mean and variance.
        # (3) Scale and shift the normalized activations with gamma and beta.
        #     Store the result as the variable 'out'.
        # (4) Update running_mean and running_var with the rule above.
        # (5) Store any variables you may need for the backward pass in
        #     the 'cache' variable.
        # =====
        batch_mean = np.mean(x, axis=0)  # (D,)
        batch_var = np.var(x, axis=0)  # (D,) uncorrected: divides by N
        x_centered = x - batch_mean  # (N, D)
        inv_std = 1.0 / np.sqrt(batch_var + eps)  # (D,)
        x_hat = x_centered * inv_std  # (N, D)
        out = gamma * x_hat + beta  # (N, D)

        running_mean = momentum * running_mean + (1 - momentum) * batch_mean
        running_var = momentum * running_var + (1 - momentum) * batch_var

        cache = (x_centered, inv_std, x_hat, gamma)
        # =====
        # END YOUR CODE HERE
        # =====

    elif mode == 'test':
        # =====
        # YOUR CODE HERE:
        # Calculate the testing time normalized activation. Normalize using
        # the running mean and variance, and then scale and shift appropriately.
        # Store the output as 'out'.
        # =====
        x_hat_test = (x - running_mean) / np.sqrt(running_var + eps)  # (N, D)
        out = gamma * x_hat_test + beta  # (N, D)
        # =====
        # END YOUR CODE HERE
        # =====

    else:
        raise ValueError('Invalid forward batchnorm mode "%s"' % mode)

    # Store the updated running means back into bn_param
    bn_param['running_mean'] = running_mean
    bn_param['running_var'] = running_var

    return out, cache


def batchnorm_backward(dout, cache):
    """
    Backward pass for batch normalization.

    For this implementation, you should write out a computation graph for
    batch normalization on paper and propagate gradients backward through
    intermediate nodes.

    Inputs:
    - dout: Upstream derivatives, of shape (N, D)
    - cache: Variable of intermediates from batchnorm_forward (train mode).

    Returns a tuple of:
    - dx: Gradient with respect to inputs x, of shape (N, D)
    - dgamma: Gradient with respect to scale parameter gamma, of shape (D,)
    - dbeta: Gradient with respect to shift parameter beta, of shape (D,)
    """
    N, D = dout.shape
    dx, dgamma, dbeta = None, None, None

    # =====
    # YOUR CODE HERE:
    # Implement the batchnorm backward pass, calculating dx, dgamma, and dbeta.
    # =====
    x_centered, inv_std, x_hat, gamma = cache

    # out = gamma * x_hat + beta
    dbeta = np.sum(dout, axis=0)  # (D,)
    dgamma = np.sum(dout * x_hat, axis=0)  # (D,)
    dx_hat = dout * gamma  # (N, D)

    # x_hat = x_centered * inv_std, and inv_std = (var + eps) ** -0.5
    dinv_std = np.sum(dx_hat * x_centered, axis=0)  # (D,)
    dvar = -0.5 * inv_std ** 3 * dinv_std  # (D,)

    # var = mean(x_centered ** 2) over the batch, so x_centered feeds both paths
    dx_centered = dx_hat * inv_std + dvar * 2.0 * x_centered / N  # (N, D)

    # x_centered = x - mean(x): the mean's share is spread evenly over the batch
    dx = dx_centered - np.mean(dx_centered, axis=0)  # (N, D)
    # =====
    # END YOUR CODE HERE
    # =====

    return dx, dgamma, dbeta


def dropout_forward(x, dropout_param):
    """
    Performs the forward pass for (inverted) dropout.

    Inputs:
    - x: Input data, of any shape
    - dropout_param: A dictionary with the following keys:
        - 'p': Dropout probability. We drop each neuron output with
            probability p, so 0 <= p < 1.
        - 'mode': 'train' or 'test'; if the mode is train, then perform dropout;
            if the mode is test, then just return the input.
        - 'seed': Seed for the random number generator (optional). Passing seed
            makes this function deterministic, which is needed for gradient
            checking but not in real networks.

    Returns a tuple of:
    - out: Array of the same shape as x.
    - cache: A tuple (dropout_param, mask). In training mode, mask is the
        dropout mask that was used to multiply the input; in test mode, mask
        is None.
    """
    p, mode = dropout_param['p'], dropout_param['mode']
    seed = dropout_param.get('seed')
    if seed is not None:
        np.random.seed(seed)

    mask = None
    out = None

    if mode == 'train':
        # =====
        # YOUR CODE HERE:
        # Implement the inverted dropout forward pass during training time.
        # Store the masked and scaled activations in out, and store the
        # dropout mask as the variable mask.
        # =====
        mask = (np.random.rand(*x.shape) >= p) / (1 - p)  # same shape as x; kept units scaled by 1/(1-p)
        out = x * mask  # same shape as x
        # =====
        # END YOUR CODE HERE
        # =====

    elif mode == 'test':
        # =====
        # YOUR CODE HERE:
        # Implement the inverted dropout forward pass during test time.
        # =====
        out = x  # inverted dropout already rescaled at train time
        # =====
        # END YOUR CODE HERE
        # =====

    else:
        raise ValueError('Invalid forward dropout mode "%s"' % mode)

    cache = (dropout_param, mask)
    out = out.astype(x.dtype, copy=False)

    return out, cache


def dropout_backward(dout, cache):
    """
    Performs the backward pass for (inverted) dropout.

    Inputs:
    - dout: Upstream derivatives, of any shape
    - cache: (dropout_param, mask) from dropout_forward.

    Returns:
    - dx: Gradient with respect to x, of the same shape as dout
    """
    dropout_param, mask = cache
    mode = dropout_param['mode']

    dx = None
    if mode == 'train':
        # =====
        # YOUR CODE HERE:
        # Implement the inverted dropout backward pass during training time.
        # =====
        dx = dout * mask  # dropped units get no gradient, kept ones are scaled
        # =====
        # END YOUR CODE HERE
        # =====

    elif mode == 'test':
        # =====
        # YOUR CODE HERE:
        # Implement the inverted dropout backward pass during test time.
        # =====
        dx = dout  # test-time dropout is the identity
        # =====
        # END YOUR CODE HERE
        # =====

    else:
        raise ValueError('Invalid backward dropout mode "%s"' % mode)

    return dx


def svm_loss(x, y):
    """
    Computes the loss and gradient using multiclass SVM classification.

    Inputs:
    - x: Input data, of shape (N, C) where x[i, j] is the score for the jth class
        for the ith input.
    - y: Vector of labels, of shape (N,) where y[i] is the label for x[i] and
        0 <= y[i] < C

    Returns a tuple of:
    - loss: Scalar giving the loss, averaged over the N inputs
    - dx: Gradient of the loss with respect to x, of shape (N, C)
    """
    N, C = x.shape
    loss, dx = None, None

    # =====
    # YOUR CODE HERE:
    # Calculate the multiclass SVM loss (margin 1) and its gradient.
    # =====
    rows = np.arange(N)  # (N,)
    correct_class_scores = x[rows, y][:, np.newaxis]  # (N, 1)
    margins = np.maximum(0, x - correct_class_scores + 1.0)  # (N, C)
    margins[rows, y] = 0
    loss = np.sum(margins) / N

    positive = (margins > 0).astype(x.dtype)  # (N, C)
    positive[rows, y] = -np.sum(positive, axis=1)  # each violated margin pulls the correct score down
    dx = positive / N  # (N, C)
    # =====
    # END YOUR CODE HERE
    # =====

    return loss, dx


def softmax_loss(x, y):
    """
    Computes the loss and gradient for softmax classification.

    Inputs:
    - x: Input data, of shape (N, C) where x[i, j] is the score for the jth class
        for the ith input.
    - y: Vector of labels, of shape (N,) where y[i] is the label for x[i] and
        0 <= y[i] < C

    Returns a tuple of:
    - loss: Scalar giving the loss, averaged over the N inputs
    - dx: Gradient of the loss with respect to x, of shape (N, C)
    """
    N, C = x.shape
    loss, dx = None, None

    # =====
    # YOUR CODE HERE:
    # Calculate the softmax loss and its gradient. Subtract each row's
    # maximum score first so that np.exp cannot overflow.
    # =====
    shifted_logits = x - np.max(x, axis=1, keepdims=True)  # (N, C), each row's max is 0
    log_probs = shifted_logits - np.log(np.sum(np.exp(shifted_logits), axis=1, keepdims=True))  # (N, C)
    loss = -np.sum(log_probs[np.arange(N), y]) / N

    softmax_grad = np.exp(log_probs)  # (N, C) the class probabilities
    softmax_grad[np.arange(N), y] -= 1
    dx = softmax_grad / N  # (N, C)
    # =====
    # END YOUR CODE HERE
    # =====

    return loss, dx
