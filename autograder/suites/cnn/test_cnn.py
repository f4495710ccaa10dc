"""Hidden tests of ThreeLayerConvNet (nnl/cnn.py): init, scores, loss, regularization, gradients.

Fair isolation: the network calls the student's layers (affine, ReLU,
softmax, batchnorm, spatial batchnorm, and the naive conv/pool layers if the
student built the network from them) through the provided sandwich layers.
The ``loss`` tests run first on the student's network as submitted, its own
layers included; when that fails, they run again with the reference for each
of those graded layer functions (``@pytest.mark.isolates``), so that they
grade the network's own logic: the wiring, the regularization and the
gradient bookkeeping. A layer bug costs points in that layer's tests only.

The plain-network tests build the class with the seed's signature only
(``network_kwargs``): ``use_batchnorm`` is an optional extension, passed only
by the batchnorm tests, so a network without it keeps its plain points.

The ``loss`` tests do not trust the student's ``__init__`` either: the model's
parameters are replaced by the test's own (``model.params = ...``), and a model
whose ``__init__`` raises is built without it (``__new__`` plus the
attributes the provided template code sets), so an init bug costs the init
tests only.

Numerical gradients are sparse (a few large-gradient positions per
parameter) and taken on inputs where the reference's own analytic and
numerical gradients agree to 1e-8, i.e. away from ReLU and max-pool kinks.
"""
import numpy as np
import pytest

from autograder.grading.checks import GradingFailure, as_array, check_close, check_rel_error
from autograder.grading.models import (Network, check_dtype, check_gaussian_weights, check_gradients,
                                       check_initial_values, check_numerical_gradients, check_param_names,
                                       conditioned_case, reference_model, regularization_hint)
from autograder.grading.pytest_plugin import GraderError

OWNER = "ThreeLayerConvNet"
# Every graded layer function the network may call, directly or through the provided sandwich layers.
LAYERS = ("affine_forward", "affine_backward", "relu_forward", "relu_backward", "softmax_loss",
          "batchnorm_forward", "batchnorm_backward", "spatial_batchnorm_forward", "spatial_batchnorm_backward",
          "conv_forward_naive", "conv_backward_naive", "max_pool_forward_naive", "max_pool_backward_naive")
WEIGHTS = ("W1", "W2", "W3")
N = 3

# Small, non-default networks; the second has a non-square input with 2 channels.
CONFIGS = {
    "fs3": dict(input_dim=(3, 8, 8), num_filters=4, filter_size=3, hidden_dim=10, num_classes=5),
    "fs5": dict(input_dim=(2, 8, 6), num_filters=3, filter_size=5, hidden_dim=7, num_classes=4),
}
# Large enough layers for the sample mean and std of each weight matrix to mean something.
STATS_CONFIG = dict(input_dim=(3, 8, 8), num_filters=8, filter_size=5, hidden_dim=32, num_classes=10)

ARCHITECTURE_HINT = ("The network is conv - relu - 2x2 max pool - affine - relu - affine (no ReLU on the scores); "
                     "the hidden affine layer takes the pooled (N, F, H/2, W/2) output; with batchnorm, "
                     "spatial batchnorm follows the conv and batchnorm follows the first affine layer, "
                     "with self.bn_params[0] and self.bn_params[1].")


# ------------------------------------------------------------------------------ helpers

def network_kwargs(cfg: dict, bn: bool, **options) -> dict:
    """The constructor's keywords: the seed's signature, plus ``use_batchnorm=True`` only for batchnorm tests."""
    return {**cfg, **options, **({"use_batchnorm": True} if bn else {})}


def expected_shapes(cfg: dict, bn: bool) -> dict:
    """The documented parameter shapes of a network built with ``cfg``."""
    C, H, W = cfg["input_dim"]
    F, fs, hidden, classes = cfg["num_filters"], cfg["filter_size"], cfg["hidden_dim"], cfg["num_classes"]
    shapes = {"W1": (F, C, fs, fs), "b1": (F,), "W2": (F * (H // 2) * (W // 2), hidden), "b2": (hidden,),
              "W3": (hidden, classes), "b3": (classes,)}
    if bn:
        shapes |= {"gamma1": (F,), "beta1": (F,), "gamma2": (hidden,), "beta2": (hidden,)}
    return shapes


def random_params(rng, cfg: dict, bn: bool) -> dict:
    """Well-scaled parameters (pre-activations of order 1), non-zero biases, gammas away from 0."""
    shapes = expected_shapes(cfg, bn)
    params = {}
    for name, shape in shapes.items():
        if name.startswith("W"):
            params[name] = rng.normal(size=shape) / np.sqrt(np.prod(shape[1:]) if name == "W1" else shape[0])
        elif name.startswith("gamma"):
            params[name] = rng.uniform(0.5, 1.5, size=shape)
        else:
            params[name] = 0.1 * rng.normal(size=shape)
    return params


def random_batch(rng, cfg: dict):
    return rng.normal(size=(N, *cfg["input_dim"])), rng.integers(cfg["num_classes"], size=N)


def reference(ref, cfg: dict, bn: bool, reg: float, params: dict):
    """The reference network with the given parameters (its own random init is discarded)."""
    return reference_model(lambda: ref.ThreeLayerConvNet(**cfg, reg=reg, use_batchnorm=bn, dtype=np.float64), params)


def network(student) -> Network:
    return Network(student, OWNER, ARCHITECTURE_HINT)


def student_model(student, cfg: dict, bn: bool, reg: float, params: dict):
    """The student's network (float64) holding ``params``, built without ``__init__`` if that raises."""
    template = {"use_batchnorm": bn, "reg": reg, "dtype": np.float64,
                "bn_params": [{"mode": "train"} for _ in range(2 if bn else 0)]}
    return network(student).build(network_kwargs(cfg, bn, reg=reg, dtype=np.float64), params, template)


def flat_params(bn: bool) -> tuple:
    """Parameters the loss does not depend on: the biases feeding a batch normalization."""
    return ("b1", "b2") if bn else ()


def case_id(bn: bool) -> str:
    return "batchnorm" if bn else "plain"


# ------------------------------------------------------------------------------ __init__

@pytest.mark.grades("ThreeLayerConvNet")
@pytest.mark.parametrize("cfg_name,bn,dtype", [("fs3", False, np.float32), ("fs5", True, np.float64),
                                               ("fs5", False, np.float64), ("fs3", True, np.float32)],
                         ids=["fs3-plain-float32", "fs5-batchnorm-float64", "fs5-plain-float64",
                              "fs3-batchnorm-float32"])
def test_init_param_names_and_shapes(student, cfg_name, bn, dtype):
    cfg = CONFIGS[cfg_name]
    net = network(student)
    model = net.new(**network_kwargs(cfg, bn, weight_scale=1e-2, dtype=dtype))
    what = f"{OWNER}(input_dim={cfg['input_dim']}, num_filters={cfg['num_filters']}, " \
           f"filter_size={cfg['filter_size']}, hidden_dim={cfg['hidden_dim']}, num_classes={cfg['num_classes']}, " \
           f"use_batchnorm={bn}).params"
    params = net.params(model, what)
    expected = expected_shapes(cfg, bn)
    check_param_names(params, expected, what,
                      "with use_batchnorm=True the params also hold gamma1, beta1 (num_filters,) and gamma2, beta2 "
                      "(hidden_dim,); without it they do not." if bn or {"gamma1", "gamma2"} & set(params)
                      else "the names are W1, b1 (conv), W2, b2 (hidden affine), W3, b3 (output affine).")
    C, H, W = cfg["input_dim"]
    F = cfg["num_filters"]
    for name, shape in expected.items():
        actual = as_array(params[name], f"{what}['{name}']").shape
        if actual == shape:
            continue
        hint = {"W1": "W1 is (num_filters, C, filter_size, filter_size).",
                "W3": "W3 is (hidden_dim, num_classes)."}.get(name, f"{name} has one entry per unit of its layer.")
        if name == "W2":
            hint = "W2 has one row per value of the pooled conv output: num_filters * (H/2) * (W/2)."
            if actual[0] == F * H * W:
                hint = "the 2x2 max pool halves H and W before the hidden affine layer: W2 has F*(H/2)*(W/2) rows."
        raise GradingFailure(f"{what}['{name}']: shape {actual}, expected {shape}. Hint: {hint}")
    if dtype == np.float32:
        check_dtype(params, np.float32, what)


@pytest.mark.grades("ThreeLayerConvNet")
@pytest.mark.parametrize("weight_scale,bn", [(0.05, False), (0.2, True)], ids=["ws0.05-plain", "ws0.2-batchnorm"])
def test_init_weights_gaussian_with_weight_scale(student, rng, weight_scale, bn):
    student.call_in("numpy.random", "seed", int(rng.integers(2**31)))  # the student's init is random: seed it
    net = network(student)
    model = net.new(**network_kwargs(STATS_CONFIG, bn, weight_scale=weight_scale, dtype=np.float64))
    check_gaussian_weights(net.params(model, f"{OWNER}.params"), WEIGHTS, weight_scale, OWNER)


@pytest.mark.grades("ThreeLayerConvNet")
@pytest.mark.parametrize("bn", [False, True], ids=case_id)
def test_init_biases_zero_gammas_one(student, bn):
    cfg = CONFIGS["fs5"]
    net = network(student)
    model = net.new(**network_kwargs(cfg, bn, weight_scale=0.1, dtype=np.float64))
    starts = {"b1": 0.0, "b2": 0.0, "b3": 0.0}
    if bn:
        starts |= {"gamma1": 1.0, "beta1": 0.0, "gamma2": 1.0, "beta2": 0.0}
    check_initial_values(net.params(model, f"{OWNER}.params"), starts, expected_shapes(cfg, bn),
                         f"{OWNER}(use_batchnorm={bn}).params")


# ------------------------------------------------------------------------------ scores and loss

@pytest.mark.grades("ThreeLayerConvNet")
@pytest.mark.isolates(*LAYERS)
@pytest.mark.parametrize("bn", [False, True], ids=case_id)
@pytest.mark.parametrize("cfg_name", list(CONFIGS))
def test_scores_match_reference(student, ref, rng, cfg_name, bn):
    """loss(X) with y=None returns the scores; with batchnorm, after one training call (running averages)."""
    cfg = CONFIGS[cfg_name]
    params = random_params(rng, cfg, bn)
    net = network(student)
    model, expected_model = student_model(student, cfg, bn, 0.0, params), reference(ref, cfg, bn, 0.0, params)
    what = f"{OWNER}.loss(X) scores (y=None, filter_size={cfg['filter_size']}, use_batchnorm={bn})"
    if bn:  # one training step sets the running averages that test mode must use
        X_train, y_train = random_batch(rng, cfg)
        net.loss(model, X_train, y_train)
        expected_model.loss(X_train, y_train)
        what += " after one training call"
    X, _ = random_batch(rng, cfg)
    actual = net.scores(model, X, what)
    expected = expected_model.loss(X)
    hint = ARCHITECTURE_HINT
    if actual.shape == expected.shape and np.allclose(actual, np.maximum(expected, 0), rtol=1e-6, atol=1e-8):
        hint = "your scores equal the right ones with a ReLU applied: no ReLU after the last affine layer."
    elif bn:
        hint = ("in test mode batchnorm uses the running averages kept in self.bn_params: pass self.bn_params[0] "
                "to the spatial batchnorm and self.bn_params[1] to the batchnorm (the same dicts on every call). "
                + ARCHITECTURE_HINT)
    check_close(actual, expected, what, hint=hint)


@pytest.mark.grades("ThreeLayerConvNet")
@pytest.mark.isolates(*LAYERS)
@pytest.mark.parametrize("bn", [False, True], ids=case_id)
@pytest.mark.parametrize("cfg_name", list(CONFIGS))
def test_loss_matches_reference(student, ref, rng, cfg_name, bn):
    """Data loss with reg=0: softmax loss of the scores."""
    cfg = CONFIGS[cfg_name]
    params = random_params(rng, cfg, bn)
    X, y = random_batch(rng, cfg)
    model = student_model(student, cfg, bn, 0.0, params)
    loss, _ = network(student).loss_and_grads(model, X, y, params)
    expected, _ = reference(ref, cfg, bn, 0.0, params).loss(X, y)
    check_rel_error(loss, expected, f"{OWNER}.loss(X, y) loss (reg=0, filter_size={cfg['filter_size']}, "
                                    f"use_batchnorm={bn})", tol=1e-6,
                    hint="the loss is softmax_loss(scores, y) of the training-mode scores. " + ARCHITECTURE_HINT)


@pytest.mark.grades("ThreeLayerConvNet")
@pytest.mark.isolates(*LAYERS)
@pytest.mark.parametrize("cfg_name,bn,reg", [("fs3", False, 0.37), ("fs5", True, 1.3)],
                         ids=["fs3-plain-reg0.37", "fs5-batchnorm-reg1.3"])
def test_loss_regularization(student, ref, rng, cfg_name, bn, reg):
    cfg = CONFIGS[cfg_name]
    params = random_params(rng, cfg, bn)
    X, y = random_batch(rng, cfg)
    model = student_model(student, cfg, bn, reg, params)
    loss, _ = network(student).loss_and_grads(model, X, y, params)
    expected, _ = reference(ref, cfg, bn, reg, params).loss(X, y)
    data_loss, _ = reference(ref, cfg, bn, 0.0, params).loss(X, y)
    check_rel_error(loss, expected, f"{OWNER}.loss(X, y) loss with reg={reg} (use_batchnorm={bn})", tol=1e-6,
                    hint=regularization_hint(loss, data_loss, reg, params, WEIGHTS))


# ------------------------------------------------------------------------------ gradients

@pytest.mark.grades("ThreeLayerConvNet")
@pytest.mark.isolates(*LAYERS)
@pytest.mark.parametrize("cfg_name,bn,reg", [("fs3", False, 0.0), ("fs5", False, 0.7),
                                             ("fs3", True, 0.7), ("fs5", True, 0.0)],
                         ids=["fs3-plain-reg0", "fs5-plain-reg0.7", "fs3-batchnorm-reg0.7", "fs5-batchnorm-reg0"])
def test_gradients_match_reference(student, ref, rng, cfg_name, bn, reg):
    cfg = CONFIGS[cfg_name]
    params = random_params(rng, cfg, bn)
    X, y = random_batch(rng, cfg)
    model = student_model(student, cfg, bn, reg, params)
    _, grads = network(student).loss_and_grads(model, X, y, params)
    _, expected = reference(ref, cfg, bn, reg, params).loss(X, y)
    check_gradients(grads, expected, params, reg=reg, weights=WEIGHTS, flat=flat_params(bn),
                    what=f"{OWNER}.loss (use_batchnorm={bn}, reg={reg})", source="the reference")


@pytest.mark.grades("ThreeLayerConvNet")
@pytest.mark.isolates(*LAYERS)
@pytest.mark.parametrize("cfg_name,bn,reg", [("fs3", False, 0.4), ("fs5", True, 0.4)],
                         ids=["fs3-plain-reg0.4", "fs5-batchnorm-reg0.4"])
def test_gradients_match_numerical(student, ref, rng, cfg_name, bn, reg):
    """Each parameter's gradient vs. a sparse numerical gradient of the student's own loss.

    The probe positions are where the reference's own analytic and numerical gradients agree to
    1e-8 (away from ReLU and max-pool kinks).
    """
    cfg = CONFIGS[cfg_name]

    def draw(rng):
        return (random_params(rng, cfg, bn), *random_batch(rng, cfg))

    try:
        params, X, y, positions = conditioned_case(rng, draw, lambda p: reference(ref, cfg, bn, reg, p), WEIGHTS,
                                                   flat=flat_params(bn))
    except RuntimeError as err:
        raise GraderError(str(err)) from None
    model = student_model(student, cfg, bn, reg, params)
    check_numerical_gradients(network(student), model, params, X, y, positions, weights=WEIGHTS,
                              flat=flat_params(bn), what=f"{OWNER}.loss (use_batchnorm={bn}, reg={reg})")
