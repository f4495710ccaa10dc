"""Hidden tests of TwoLayerNet and FullyConnectedNet (nnl/fc_net.py): init, scores, loss, gradients.

Fair isolation, as for every network (`autograder.grading.models`): the ``loss`` tests run first on
the student's network as submitted, its own layers included; when that fails, again with the
reference for each graded layer it may call (``@pytest.mark.isolates``), so a layer bug costs only
that layer's tests. The parameters are the test's own (``model.params = ...``), and a model whose
``__init__`` raises is built without it, so an ``__init__`` bug costs the ``__init__`` tests only.

Dropout is random: with a ``seed`` the student's network must give the same loss on every call (the
layer tests grade that the mask follows the seed), so its own loss can be differentiated
numerically; against the reference it is compared with the reference ``dropout_forward`` standing in
(the isolated run), so a correct network whose dropout draws its masks with another generator
still earns full marks.

Keywords: the plain tests pass only what they exercise; ``dropout`` and ``use_batchnorm`` only in
the tests of those options, ``seed`` only with dropout.
"""
import numpy as np
import pytest

from autograder.grading.checks import GradingFailure, as_array, check_close, check_rel_error
from autograder.grading.models import (Network, check_dtype, check_gaussian_weights, check_gradients,
                                       check_initial_values, check_numerical_gradients, check_param_names,
                                       conditioned_case, reference_model, regularization_hint)
from autograder.grading.pytest_plugin import GraderError

# Every graded layer function a network may call, directly or through the provided sandwich layers.
LAYERS = ("affine_forward", "affine_backward", "relu_forward", "relu_backward", "batchnorm_forward",
          "batchnorm_backward", "dropout_forward", "dropout_backward", "softmax_loss")
N = 6
TWO = "TwoLayerNet"
FCN = "FullyConnectedNet"

TWO_CFG = dict(input_dim=12, hidden_dim=7, num_classes=4)
TWO_INPUT = (3, 2, 2)  # (d_1, ..., d_k): the network reshapes (N, 3, 2, 2) to (N, 12)
TWO_HINT = "The network is affine - relu - affine (no ReLU on the scores), with softmax_loss of the scores."

FCN_INPUT = (2, 5)  # input_dim 10
FCN_DEPTHS = {"L2": [6], "L3": [7, 5], "L4": [6, 5, 4]}
FCN_HINT = ("The network is {affine - [batchnorm] - relu - [dropout]} x (L - 1) - affine (no ReLU, batchnorm or "
            "dropout on the scores); batchnorm layer i uses self.bn_params[i - 1], gamma{i} and beta{i}; dropout "
            "uses self.dropout_param after every ReLU.")


# ------------------------------------------------------------------------------ the two networks

def two_shapes(cfg: dict = TWO_CFG) -> dict:
    D, H, C = cfg["input_dim"], cfg["hidden_dim"], cfg["num_classes"]
    return {"W1": (D, H), "b1": (H,), "W2": (H, C), "b2": (C,)}


def fcn_shapes(hidden_dims, bn: bool, input_dim: int = 10, num_classes: int = 4) -> dict:
    sizes = [input_dim, *hidden_dims, num_classes]
    shapes = {}
    for layer in range(1, len(sizes)):
        shapes[f"W{layer}"], shapes[f"b{layer}"] = (sizes[layer - 1], sizes[layer]), (sizes[layer],)
        if bn and layer < len(sizes) - 1:
            shapes[f"gamma{layer}"] = shapes[f"beta{layer}"] = (sizes[layer],)
    return shapes


def weights_of(shapes: dict) -> tuple:
    return tuple(name for name in shapes if name.startswith("W"))


def random_params(rng, shapes: dict) -> dict:
    """Well-scaled parameters (pre-activations of order 1), non-zero biases, gammas away from 0."""
    params = {}
    for name, shape in shapes.items():
        if name.startswith("W"):
            params[name] = rng.normal(size=shape) / np.sqrt(shape[0])
        elif name.startswith("gamma"):
            params[name] = rng.uniform(0.5, 1.5, size=shape)
        else:
            params[name] = 0.1 * rng.normal(size=shape)
    return params


def batch(rng, input_shape, classes: int = 4):
    return rng.normal(size=(N, *input_shape)), rng.integers(classes, size=N)


def fcn_kwargs(hidden_dims, bn=False, dropout=0.0, **options) -> dict:
    """FullyConnectedNet's keywords: the options a test exercises, and nothing else."""
    kwargs = {"hidden_dims": list(hidden_dims), "input_dim": 10, "num_classes": 4, **options}
    if bn:
        kwargs["use_batchnorm"] = True
    if dropout:
        kwargs |= {"dropout": dropout, "seed": 123}
    return kwargs


def two_reference(ref, reg, params):
    return reference_model(lambda: ref.TwoLayerNet(**TWO_CFG, reg=reg), params)


def fcn_reference(ref, hidden_dims, bn, dropout, reg, params):
    return reference_model(lambda: ref.FullyConnectedNet(**fcn_kwargs(hidden_dims, bn, dropout, reg=reg,
                                                                      dtype=np.float64)), params)


def two_model(student, reg, params):
    return Network(student, TWO, TWO_HINT).build({**TWO_CFG, "reg": reg}, params, {"reg": reg})


def fcn_model(student, hidden_dims, bn, dropout, reg, params):
    """The student's FullyConnectedNet (float64) holding ``params``, built without ``__init__`` if that raises."""
    dropout_param = {"mode": "train", "p": dropout, "seed": 123} if dropout else {}
    template = {"use_batchnorm": bn, "use_dropout": dropout > 0, "reg": reg, "num_layers": 1 + len(hidden_dims),
                "dtype": np.float64, "dropout_param": dropout_param,
                "bn_params": [{"mode": "train"} for _ in hidden_dims] if bn else []}
    return Network(student, FCN, FCN_HINT).build(fcn_kwargs(hidden_dims, bn, dropout, reg=reg, dtype=np.float64),
                                                 params, template)


def flat(shapes: dict, bn: bool) -> tuple:
    """The biases that feed a batch normalization: the loss does not depend on them."""
    return tuple(name for name in shapes if bn and name.startswith("b") and f"gamma{name[1:]}" in shapes)


def variant(bn: bool, dropout: float) -> str:
    return "-".join(["batchnorm"] * bn + [f"dropout{dropout:g}"] * bool(dropout)) or "plain"


# ------------------------------------------------------------------------------ TwoLayerNet: __init__

@pytest.mark.grades(TWO)
def test_two_layer_init_param_names_and_shapes(student):
    net = Network(student, TWO)
    what = f"{TWO}(input_dim=12, hidden_dim=7, num_classes=4).params"
    params = net.params(net.new(**TWO_CFG, weight_scale=1e-2), what)
    expected = two_shapes()
    check_param_names(params, expected, what, "the names are W1, b1 (hidden layer) and W2, b2 (output layer).")
    for name, shape in expected.items():
        actual = as_array(params[name], f"{what}['{name}']").shape
        if actual != shape:
            raise GradingFailure(f"{what}['{name}']: shape {actual}, expected {shape}. Hint: W1 is "
                                 "(input_dim, hidden_dim) and W2 is (hidden_dim, num_classes).")


@pytest.mark.grades(TWO)
def test_two_layer_init_weights_and_biases(student, rng):
    student.call_in("numpy.random", "seed", int(rng.integers(2**31)))  # the student's init is random: seed it
    net = Network(student, TWO)
    cfg = dict(input_dim=60, hidden_dim=50, num_classes=40)
    params = net.params(net.new(**cfg, weight_scale=0.05), f"{TWO}.params")
    check_gaussian_weights(params, ("W1", "W2"), 0.05, TWO)
    check_initial_values(params, {"b1": 0.0, "b2": 0.0}, two_shapes(cfg), f"{TWO}.params")


# ------------------------------------------------------------------------------ TwoLayerNet: loss

@pytest.mark.grades(TWO)
@pytest.mark.isolates(*LAYERS)
def test_two_layer_scores_match_reference(student, ref, rng):
    params = random_params(rng, two_shapes())
    X, _ = batch(rng, TWO_INPUT)
    what = f"{TWO}.loss(X) scores (y=None, X of shape {X.shape})"
    actual = Network(student, TWO, TWO_HINT).scores(two_model(student, 0.0, params), X, what)
    expected = two_reference(ref, 0.0, params).loss(X)
    hint = TWO_HINT
    if actual.shape == expected.shape and np.allclose(actual, np.maximum(expected, 0), rtol=1e-6, atol=1e-8):
        hint = "your scores equal the right ones with a ReLU applied: no ReLU after the last affine layer."
    check_close(actual, expected, what, hint=hint)


@pytest.mark.grades(TWO)
@pytest.mark.isolates(*LAYERS)
@pytest.mark.parametrize("reg", [0.0, 0.8], ids=["reg0", "reg0.8"])
def test_two_layer_loss_matches_reference(student, ref, rng, reg):
    params = random_params(rng, two_shapes())
    X, y = batch(rng, TWO_INPUT)
    loss, _ = Network(student, TWO, TWO_HINT).loss_and_grads(two_model(student, reg, params), X, y, params)
    expected, _ = two_reference(ref, reg, params).loss(X, y)
    data_loss, _ = two_reference(ref, 0.0, params).loss(X, y)
    hint = regularization_hint(loss, data_loss, reg, params, ("W1", "W2")) if reg else \
        "the loss is softmax_loss(scores, y). " + TWO_HINT
    check_rel_error(loss, expected, f"{TWO}.loss(X, y) loss (reg={reg})", tol=1e-6, hint=hint)


@pytest.mark.grades(TWO)
@pytest.mark.isolates(*LAYERS)
@pytest.mark.parametrize("reg", [0.0, 0.6], ids=["reg0", "reg0.6"])
def test_two_layer_gradients_match_reference(student, ref, rng, reg):
    params = random_params(rng, two_shapes())
    X, y = batch(rng, TWO_INPUT)
    _, grads = Network(student, TWO, TWO_HINT).loss_and_grads(two_model(student, reg, params), X, y, params)
    _, expected = two_reference(ref, reg, params).loss(X, y)
    check_gradients(grads, expected, params, reg=reg, weights=("W1", "W2"), what=f"{TWO}.loss (reg={reg})",
                    source="the reference")


@pytest.mark.grades(TWO)
@pytest.mark.isolates(*LAYERS)
def test_two_layer_gradients_match_numerical(student, ref, rng):
    reg = 0.3

    def draw(rng):
        return (random_params(rng, two_shapes()), *batch(rng, TWO_INPUT))

    try:
        params, X, y, positions = conditioned_case(rng, draw, lambda p: two_reference(ref, reg, p), ("W1", "W2"))
    except RuntimeError as err:
        raise GraderError(str(err)) from None
    check_numerical_gradients(Network(student, TWO, TWO_HINT), two_model(student, reg, params), params, X, y,
                              positions, weights=("W1", "W2"), what=f"{TWO}.loss (reg={reg})")


# ------------------------------------------------------------------------------ FullyConnectedNet: __init__

@pytest.mark.grades(FCN)
@pytest.mark.parametrize("depth,bn,dtype", [("L2", False, np.float64), ("L4", False, np.float32),
                                            ("L3", True, np.float64), ("L4", True, np.float32)],
                         ids=["L2-plain-float64", "L4-plain-float32", "L3-batchnorm-float64",
                              "L4-batchnorm-float32"])
def test_fcn_init_param_names_and_shapes(student, depth, bn, dtype):
    hidden = FCN_DEPTHS[depth]
    net = Network(student, FCN)
    what = f"{FCN}(hidden_dims={hidden}, input_dim=10, num_classes=4{', use_batchnorm=True' if bn else ''}).params"
    params = net.params(net.new(**fcn_kwargs(hidden, bn, weight_scale=1e-2, dtype=dtype)), what)
    expected = fcn_shapes(hidden, bn)
    check_param_names(params, expected, what,
                      f"a network of {len(hidden) + 1} layers has W1, b1 ... W{len(hidden) + 1}, b{len(hidden) + 1}"
                      + (f"; with batchnorm also gamma1, beta1 ... gamma{len(hidden)}, beta{len(hidden)} (not for the "
                         "output layer)" if bn else "; gammas and betas only with use_batchnorm=True") + ".")
    for name, shape in expected.items():
        actual = as_array(params[name], f"{what}['{name}']").shape
        if actual != shape:
            raise GradingFailure(f"{what}['{name}']: shape {actual}, expected {shape}. Hint: W{{i}} is (size of "
                                 "layer i-1, size of layer i), from input_dim through hidden_dims to num_classes; "
                                 "b{i}, gamma{i} and beta{i} have one entry per unit of layer i.")
    if dtype == np.float32:
        check_dtype(params, np.float32, what)


@pytest.mark.grades(FCN)
@pytest.mark.parametrize("bn", [False, True], ids=["plain", "batchnorm"])
def test_fcn_init_weights_biases_gammas(student, rng, bn):
    student.call_in("numpy.random", "seed", int(rng.integers(2**31)))  # the student's init is random: seed it
    hidden, scale = [40, 30], 0.07
    net = Network(student, FCN)
    kwargs = fcn_kwargs(hidden, bn, weight_scale=scale, dtype=np.float64) | {"input_dim": 50, "num_classes": 20}
    params = net.params(net.new(**kwargs), f"{FCN}.params")
    shapes = fcn_shapes(hidden, bn, input_dim=50, num_classes=20)
    check_gaussian_weights(params, weights_of(shapes), scale, FCN)
    starts = {name: 1.0 if name.startswith("gamma") else 0.0 for name in shapes if not name.startswith("W")}
    check_initial_values(params, starts, shapes, f"{FCN}(use_batchnorm={bn}).params")


# ------------------------------------------------------------------------------ FullyConnectedNet: scores

SCORE_CASES = [("L2", False, 0.0), ("L4", False, 0.0), ("L3", True, 0.0), ("L3", False, 0.4), ("L3", True, 0.3)]


@pytest.mark.grades(FCN)
@pytest.mark.isolates(*LAYERS)
@pytest.mark.parametrize("depth,bn,dropout", SCORE_CASES, ids=[f"{d}-{variant(b, p)}" for d, b, p in SCORE_CASES])
def test_fcn_scores_match_reference(student, ref, rng, depth, bn, dropout):
    """loss(X) returns test-time scores: no dropout; batchnorm with the running averages of a training call."""
    hidden = FCN_DEPTHS[depth]
    shapes = fcn_shapes(hidden, bn)
    params = random_params(rng, shapes)
    net = Network(student, FCN, FCN_HINT)
    model, expected_model = (fcn_model(student, hidden, bn, dropout, 0.0, params),
                             fcn_reference(ref, hidden, bn, dropout, 0.0, params))
    what = f"{FCN}.loss(X) scores (y=None, hidden_dims={hidden}, {variant(bn, dropout)})"
    if bn or dropout:  # a training call first: running averages to use, and dropout's mode to switch back
        X_train, y_train = batch(rng, FCN_INPUT)
        net.loss(model, X_train, y_train)
        expected_model.loss(X_train, y_train)
        what += " after one training call"
    X, _ = batch(rng, FCN_INPUT)
    actual, expected = net.scores(model, X, what), expected_model.loss(X)
    hint = FCN_HINT
    if actual.shape == expected.shape and np.allclose(actual, np.maximum(expected, 0), rtol=1e-6, atol=1e-8):
        hint = "your scores equal the right ones with a ReLU applied: no ReLU after the last affine layer."
    elif dropout:
        hint = "at test time (y=None) dropout passes its input through: set self.dropout_param['mode'] = 'test'. " \
               + FCN_HINT
    elif bn:
        hint = "in test mode batchnorm uses the running averages kept in self.bn_params[i - 1] (the same dict on " \
               "every call). " + FCN_HINT
    check_close(actual, expected, what, hint=hint)


# ------------------------------------------------------------------------------ FullyConnectedNet: loss

LOSS_CASES = [("L2", False, 0.0, 0.0), ("L4", False, 0.0, 0.9), ("L3", True, 0.0, 0.0), ("L3", True, 0.0, 0.5),
              ("L3", False, 0.25, 0.0)]


@pytest.mark.grades(FCN)
@pytest.mark.isolates(*LAYERS)
@pytest.mark.parametrize("depth,bn,dropout,reg", LOSS_CASES,
                         ids=[f"{d}-{variant(b, p)}-reg{r:g}" for d, b, p, r in LOSS_CASES])
def test_fcn_loss_matches_reference(student, ref, rng, depth, bn, dropout, reg):
    hidden = FCN_DEPTHS[depth]
    shapes = fcn_shapes(hidden, bn)
    params = random_params(rng, shapes)
    X, y = batch(rng, FCN_INPUT)
    model = fcn_model(student, hidden, bn, dropout, reg, params)
    loss, _ = Network(student, FCN, FCN_HINT).loss_and_grads(model, X, y, params)
    expected, _ = fcn_reference(ref, hidden, bn, dropout, reg, params).loss(X, y)
    data_loss, _ = fcn_reference(ref, hidden, bn, dropout, 0.0, params).loss(X, y)
    hint = regularization_hint(loss, data_loss, reg, params, weights_of(shapes)) if reg else \
        "the loss is softmax_loss of the training-mode scores. " + FCN_HINT
    check_rel_error(loss, expected, f"{FCN}.loss(X, y) loss (hidden_dims={hidden}, {variant(bn, dropout)}, "
                                    f"reg={reg})", tol=1e-6, hint=hint)


GRADIENT_CASES = [("L2", False, 0.0, 0.0), ("L4", False, 0.0, 0.7), ("L3", True, 0.0, 0.4), ("L4", True, 0.0, 0.0),
                  ("L3", False, 0.3, 0.2)]


@pytest.mark.grades(FCN)
@pytest.mark.isolates(*LAYERS)
@pytest.mark.parametrize("depth,bn,dropout,reg", GRADIENT_CASES,
                         ids=[f"{d}-{variant(b, p)}-reg{r:g}" for d, b, p, r in GRADIENT_CASES])
def test_fcn_gradients_match_reference(student, ref, rng, depth, bn, dropout, reg):
    hidden = FCN_DEPTHS[depth]
    shapes = fcn_shapes(hidden, bn)
    params = random_params(rng, shapes)
    X, y = batch(rng, FCN_INPUT)
    model = fcn_model(student, hidden, bn, dropout, reg, params)
    _, grads = Network(student, FCN, FCN_HINT).loss_and_grads(model, X, y, params)
    _, expected = fcn_reference(ref, hidden, bn, dropout, reg, params).loss(X, y)
    check_gradients(grads, expected, params, reg=reg, weights=weights_of(shapes), flat=flat(shapes, bn),
                    what=f"{FCN}.loss (hidden_dims={hidden}, {variant(bn, dropout)}, reg={reg})",
                    source="the reference")


NUMERICAL_CASES = [("L3", False, 0.0, 0.3), ("L3", True, 0.0, 0.3), ("L3", False, 0.3, 0.0)]


@pytest.mark.grades(FCN)
@pytest.mark.isolates(*LAYERS)
@pytest.mark.parametrize("depth,bn,dropout,reg", NUMERICAL_CASES,
                         ids=[f"{d}-{variant(b, p)}-reg{r:g}" for d, b, p, r in NUMERICAL_CASES])
def test_fcn_gradients_match_numerical(student, ref, rng, depth, bn, dropout, reg):
    """Each parameter's gradient vs. a sparse numerical gradient of the student's own loss (dropout seeded)."""
    hidden = FCN_DEPTHS[depth]
    shapes = fcn_shapes(hidden, bn)

    def draw(rng):
        return (random_params(rng, shapes), *batch(rng, FCN_INPUT))

    try:
        params, X, y, positions = conditioned_case(
            rng, draw, lambda p: fcn_reference(ref, hidden, bn, dropout, reg, p), weights_of(shapes),
            flat=flat(shapes, bn))
    except RuntimeError as err:
        raise GraderError(str(err)) from None
    model = fcn_model(student, hidden, bn, dropout, reg, params)
    check_numerical_gradients(Network(student, FCN, FCN_HINT), model, params, X, y, positions,
                              weights=weights_of(shapes), flat=flat(shapes, bn),
                              what=f"{FCN}.loss (hidden_dims={hidden}, {variant(bn, dropout)}, reg={reg})")
